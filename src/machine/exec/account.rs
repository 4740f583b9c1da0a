//! Accounts: signup, login, changing the password, deleting the account. Password hashes are computed
//! and checked off the loop (`Work`), so these commands come back through `Machine::resume`. A login
//! issues a session token (`exec/sessions.rs` owns what a token does afterwards).

use crate::machine::tokens::TOKEN_TOUCH_MS;
use crate::machine::users::{validate_password, validate_username};
use crate::machine::{
    misfit, Activity, Answer, ApplyError, Credentials, Done, Error, Event, Invalid, Job, Machine, Millis, Notice,
    Outcome, Record, Resume, Secret, Session, Step, UserId, Work, DUMMY_PASSWORD_HASH,
};

impl Machine {
    pub(in crate::machine) fn signup(&self, credentials: Credentials) -> Result<Step, Error> {
        let Credentials { username, password } = credentials;
        validate_username(&username)?;
        validate_password(&password)?;
        if self.users.find(&username).is_some() {
            return Err(Error::UserExists);
        }
        Ok(Step::Offload(Job { work: Work::Hash { password }, resume: Resume::Signup { username } }))
    }

    /// Always a hash check, against a dummy hash for an unknown or deleted name, so all cost the same.
    pub(in crate::machine) fn login(&self, credentials: Credentials) -> Step {
        let user = self.users.find(&credentials.username).filter(|&u| self.users.is_active(u));
        let phc =
            user.and_then(|u| self.users.get(u)).map_or(DUMMY_PASSWORD_HASH.to_string(), |u| u.password_hash.clone());
        let work = Work::Login { password: credentials.password, phc };
        Step::Offload(Job { work, resume: Resume::Login { user } })
    }

    /// The name may have been taken while the password was hashing.
    pub(in crate::machine) fn finish_signup(
        &mut self,
        username: String,
        password_hash: String,
    ) -> Result<Outcome, Error> {
        if self.users.find(&username).is_some() {
            return Err(Error::UserExists);
        }
        let record = Record::UserCreated { user: self.users.next_id(), name: username, password_hash };
        self.apply_own(&record)?;
        Ok(Outcome { answer: Ok(Answer::Done(Done::SignedUp)), records: vec![record], events: Vec::new() })
    }

    /// A matching password (`secret` drawn) logs the session in with a new token. The account may have
    /// been deleted while the password was checked.
    pub(in crate::machine) fn finish_login(
        &mut self,
        session: &mut Session,
        user: Option<UserId>,
        secret: Option<Secret>,
        now: Millis,
    ) -> Result<Outcome, Error> {
        let (Some(user), Some(secret)) = (user.filter(|&u| self.users.is_active(u)), secret) else {
            return Err(Self::failed_password(session));
        };
        session.user = Some(user);
        session.failed_logins = 0;
        if session.read_only {
            session.token = None;
            return Ok(Outcome::answer(Answer::LoggedIn { token: None }));
        }
        let token = secret.hash();
        let record = Record::TokenIssued { user, token, address: session.peer, at: now };
        self.apply_own(&record)?;
        session.token = Some(token);
        session.token_due = now.saturating_add(TOKEN_TOUCH_MS);
        session.token_removals = self.tokens.removals();
        Ok(Outcome { answer: Ok(Answer::LoggedIn { token: Some(secret) }), records: vec![record], events: Vec::new() })
    }

    /// A wrong password, counted on the connection (the caller holds its next frames back).
    fn failed_password(session: &mut Session) -> Error {
        session.failed_logins = session.failed_logins.saturating_add(1);
        Error::InvalidCredentials
    }

    /// The logged-in user's password hash, for checking it again.
    fn own_password_hash(&self, session: &Session) -> Result<(UserId, String), Error> {
        let user = session.user.ok_or(Error::NotAuthenticated)?;
        let account = self.users.get(user).filter(|u| !u.deleted).ok_or(Error::NotAuthenticated)?;
        Ok((user, account.password_hash.clone()))
    }

    pub(in crate::machine) fn change_password(
        &self,
        session: &Session,
        old: String,
        new: String,
    ) -> Result<Step, Error> {
        let (_, phc) = self.own_password_hash(session)?;
        validate_password(&new).map_err(|_| Invalid::NewPassword)?;
        Ok(Step::Offload(Job { work: Work::Rehash { old, phc, new }, resume: Resume::ChangePassword }))
    }

    /// `phc` is the new hash if the old password matched. Every other token of the user is revoked in
    /// the same record; this connection's stays.
    pub(in crate::machine) fn finish_change_password(
        &mut self,
        session: &mut Session,
        phc: Option<String>,
        now: Millis,
    ) -> Result<Outcome, Error> {
        let (user, _) = self.own_password_hash(session)?;
        let Some(password_hash) = phc else { return Err(Self::failed_password(session)) };
        let record = Record::PasswordChanged { user, password_hash, keep: session.token, at: now };
        self.apply_own(&record)?;
        let answer = Ok(Answer::Done(Done::AccountPasswordChanged));
        Ok(Outcome { answer, records: vec![record], events: Vec::new() })
    }

    /// Refused before the password is even checked when a balance is not zero.
    pub(in crate::machine) fn delete_account(&self, session: &Session, password: String) -> Result<Step, Error> {
        let (user, phc) = self.own_password_hash(session)?;
        self.all_balances_zero(user)?;
        Ok(Step::Offload(Job { work: Work::Verify { password, phc }, resume: Resume::DeleteAccount }))
    }

    /// Balances are checked again: they may have moved while the password was checked. Members of
    /// each group left hear it as a `member_left` notification.
    pub(in crate::machine) fn finish_delete_account(
        &mut self,
        session: &mut Session,
        verified: bool,
        now: Millis,
    ) -> Result<Outcome, Error> {
        let (user, _) = self.own_password_hash(session)?;
        if !verified {
            return Err(Self::failed_password(session));
        }
        self.all_balances_zero(user)?;
        let groups = self.users.get(user).map(|u| u.groups.clone()).unwrap_or_default();
        let record = Record::AccountDeleted { user, at: now };
        self.apply_own(&record)?;
        session.user = None;
        session.token = None;
        let events = groups
            .into_iter()
            .filter_map(|group| {
                let entry = self.groups.get(group)?.history.entries().last()?.id;
                Some(Event { group, notice: Notice::History { entry } })
            })
            .collect();
        Ok(Outcome { answer: Ok(Answer::Done(Done::AccountDeleted)), records: vec![record], events })
    }

    /// `user`'s balance is zero in every group they are in (former groups are zero by the invariant).
    fn all_balances_zero(&self, user: UserId) -> Result<(), Error> {
        let groups = self.users.get(user).map_or(&[][..], |u| u.groups.as_slice());
        for &id in groups {
            let group = self.group(id)?;
            if !group.settled_up(user) {
                return Err(Error::AccountBalanceNotZero { group: group.name.clone() });
            }
        }
        Ok(())
    }

    pub(in crate::machine) fn apply_account(&mut self, record: &Record) -> Result<(), ApplyError> {
        match record {
            Record::UserCreated { user, name, password_hash } => {
                if !self.users.insert(*user, name.clone(), password_hash.clone()) {
                    return misfit("user id out of order or name taken");
                }
                Ok(())
            }
            Record::PasswordChanged { user, password_hash, keep, at } => {
                if !self.users.is_active(*user) {
                    return misfit("password change of an unknown or deleted user");
                }
                self.tokens.prune(*at);
                if let Some(account) = self.users.get_mut(*user) {
                    account.password_hash = password_hash.clone();
                }
                self.tokens.revoke_user(*user, *keep);
                Ok(())
            }
            Record::AccountDeleted { user, at } => self.apply_account_deleted(*user, *at),
            _ => misfit("not an account record"),
        }
    }

    /// All or nothing: every group the user is in must let them leave (a zero balance) before any does.
    fn apply_account_deleted(&mut self, user: UserId, at: Millis) -> Result<(), ApplyError> {
        let Some(account) = self.users.get(user).filter(|u| !u.deleted) else {
            return misfit("deleting an unknown or deleted user");
        };
        let groups = account.groups.clone();
        let leaves = |id| self.groups.get(id).is_some_and(|g| g.is_member(user) && g.settled_up(user));
        if !groups.iter().all(|&id| leaves(id)) {
            return misfit("deleting an account with a balance");
        }
        self.tokens.prune(at);
        for &id in &groups {
            if let Some(group) = self.groups.get_mut(id) {
                group.remove_member(user);
                group.history.push(at, user, Activity::MemberLeft { member: user });
            }
        }
        if let Some(account) = self.users.get_mut(user) {
            account.groups.clear();
        }
        self.users.mark_deleted(user);
        self.tokens.revoke_user(user, None);
        Ok(())
    }
}
