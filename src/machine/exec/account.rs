//! Accounts: signup, login, logout. Password hashes are computed and checked off the loop (`Work`),
//! so these commands come back through `Machine::resume`.

use crate::machine::users::{validate_password, validate_username};
use crate::machine::{
    misfit, ApplyError, Credentials, Done, Error, Job, Machine, Outcome, Record, Resume, Session, Step, UserId, Work,
    DUMMY_PASSWORD_HASH,
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

    /// Always a hash check, against a dummy hash for an unknown name, so both cost the same.
    pub(in crate::machine) fn login(&self, credentials: Credentials) -> Step {
        let user = self.users.find(&credentials.username);
        let phc =
            user.and_then(|u| self.users.get(u)).map_or(DUMMY_PASSWORD_HASH.to_string(), |u| u.password_hash.clone());
        let work = Work::Verify { password: credentials.password, phc };
        Step::Offload(Job { work, resume: Resume::Login { user } })
    }

    pub(in crate::machine) fn logout(session: &mut Session) -> Outcome {
        session.user = None;
        Outcome::done(Done::LoggedOut)
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
        Ok(Outcome {
            answer: Ok(crate::machine::Answer::Done(Done::SignedUp)),
            records: vec![record],
            events: Vec::new(),
        })
    }

    pub(in crate::machine) fn finish_login(
        session: &mut Session,
        user: Option<UserId>,
        verified: bool,
    ) -> Result<Outcome, Error> {
        match user {
            Some(user) if verified => {
                session.user = Some(user);
                session.failed_logins = 0;
                Ok(Outcome::done(Done::LoggedIn))
            }
            _ => {
                session.failed_logins = session.failed_logins.saturating_add(1);
                Err(Error::InvalidCredentials)
            }
        }
    }

    pub(in crate::machine) fn apply_account(&mut self, record: &Record) -> Result<(), ApplyError> {
        let Record::UserCreated { user, name, password_hash } = record else {
            return misfit("not an account record");
        };
        if !self.users.insert(*user, name.clone(), password_hash.clone()) {
            return misfit("user id out of order or name taken");
        }
        Ok(())
    }
}
