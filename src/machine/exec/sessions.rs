//! Sessions: resuming a login with a token, logging out (this token, or every token of the user),
//! listing one's tokens, and keeping a connection's login only while its token stays valid. The table
//! is `machine::tokens`; the secret of a new token comes from the login's worker (`exec/account.rs`).
//!
//! A resume costs a SHA-256 and a table lookup: no password hash, and usually no log write — a use is
//! recorded (`TokenUsed`) only when the recorded last use is a day old (`tokens::TOKEN_TOUCH_MS`), by
//! `touch`, after any successful command of a session holding a token — except on a read-only
//! member (`Session::read_only`), which leaves recording uses to the leader.
//!
//! A session a caller set up with a user and no token (the importer, tests) is taken as it is; only a
//! deleted account ends it.

use crate::machine::tokens::{Token, TOKEN_TOUCH_MS};
use crate::machine::{
    misfit, Answer, ApplyError, Done, Error, Machine, Millis, Outcome, Record, Secret, Session, UserId,
};

impl Machine {
    pub(in crate::machine) fn resume_session(
        &mut self,
        session: &mut Session,
        secret: &Secret,
        now: Millis,
    ) -> Result<Outcome, Error> {
        let hash = secret.hash();
        let usable = |t: &&Token| !t.expired(now) && self.users.is_active(t.user);
        let token = self.tokens.get(&hash).filter(usable).ok_or(Error::InvalidToken)?;
        let user = token.user;
        session.token_due = token.last_used.saturating_add(TOKEN_TOUCH_MS);
        session.token_removals = self.tokens.removals();
        session.user = Some(user);
        session.token = Some(hash);
        session.failed_logins = 0;
        Ok(Outcome::answer(Answer::Resumed { user }))
    }

    /// Without a login there is nothing to revoke: just "Logged out", as before tokens.
    pub(in crate::machine) fn logout(
        &mut self,
        session: &mut Session,
        all: bool,
        now: Millis,
    ) -> Result<Outcome, Error> {
        let record = match (session.user, session.token) {
            (Some(user), _) if all => Record::TokensRevoked { user, at: now },
            (Some(user), Some(token)) => Record::TokenRevoked { user, token, at: now },
            _ => {
                session.user = None;
                return Ok(Outcome::done(Done::LoggedOut));
            }
        };
        self.apply_own(&record)?;
        session.user = None;
        session.token = None;
        let done = if all { Done::LoggedOutEverywhere } else { Done::LoggedOut };
        Ok(Outcome { answer: Ok(Answer::Done(done)), records: vec![record], events: Vec::new() })
    }

    pub(in crate::machine) fn sessions(&self, session: &Session) -> Result<Outcome, Error> {
        let user = session.user.ok_or(Error::NotAuthenticated)?;
        Ok(Outcome::answer(Answer::Sessions { user, current: session.token }))
    }

    /// Adds a `TokenUsed` record to a successful outcome when the session's token was last recorded
    /// as used a day ago or more.
    pub(in crate::machine) fn touch(&mut self, session: &mut Session, mut outcome: Outcome, now: Millis) -> Outcome {
        let Some(token) = session.token.filter(|_| !session.read_only && now >= session.token_due) else {
            return outcome;
        };
        let Some(last_used) = self.tokens.get(&token).map(|t| t.last_used).filter(|_| outcome.answer.is_ok()) else {
            return outcome;
        };
        if now.saturating_sub(last_used) < TOKEN_TOUCH_MS {
            // Another connection with this token recorded a use meanwhile.
            session.token_due = last_used.saturating_add(TOKEN_TOUCH_MS);
            return outcome;
        }
        let record = Record::TokenUsed { token, address: session.peer, at: now };
        if self.apply_own(&record).is_ok() {
            outcome.records.push(record);
            session.token_due = now.saturating_add(TOKEN_TOUCH_MS);
        }
        outcome
    }

    /// Ends `session`'s login if it no longer holds: its token revoked or expired at `now` (when
    /// given), or its account deleted. `true` if it ended.
    fn end_invalid(&self, session: &mut Session, now: Option<Millis>) -> bool {
        let Some(user) = session.user else { return false };
        let token_holds = match session.token {
            None => true,
            Some(hash) => {
                self.tokens.get(&hash).is_some_and(|t| t.user == user && now.is_none_or(|now| !t.expired(now)))
            }
        };
        if token_holds && self.users.is_active(user) {
            return false;
        }
        session.user = None;
        session.token = None;
        true
    }

    /// Before a command: a login whose token has expired, was revoked or whose account is gone ends.
    /// Before `token_due`, and with no token removed since the last look-up, the token still holds:
    /// only the account is looked at (the hot path of every request skips the table).
    pub(in crate::machine) fn end_expired(&self, session: &mut Session, now: Millis) {
        let removals = self.tokens.removals();
        if session.token.is_some() && now < session.token_due && session.token_removals == removals {
            if session.user.is_some_and(|user| !self.users.is_active(user)) {
                session.user = None;
                session.token = None;
            }
            return;
        }
        if !self.end_invalid(session, Some(now)) {
            session.token_removals = removals;
        }
    }

    /// For the caller, after a record that `sessions_ended_by` names a user for, on each connection of
    /// that user: ends the login if its token was revoked or its account deleted (so it hears no
    /// more notifications). `true` if it ended.
    pub fn end_revoked(&self, session: &mut Session) -> bool {
        self.end_invalid(session, None)
    }

    /// The user whose other connections' logins `record` may have ended.
    pub fn sessions_ended_by(record: &Record) -> Option<UserId> {
        match record {
            Record::TokenRevoked { user, .. }
            | Record::TokensRevoked { user, .. }
            | Record::PasswordChanged { user, .. }
            | Record::AccountDeleted { user, .. } => Some(*user),
            _ => None,
        }
    }

    pub(in crate::machine) fn apply_session(&mut self, record: &Record) -> Result<(), ApplyError> {
        match record {
            Record::TokenIssued { user, token, address, at } => {
                if !self.users.is_active(*user) || self.tokens.get(token).is_some() {
                    return misfit("token of an unknown or deleted user, or issued twice");
                }
                self.tokens.prune(*at);
                if let Some(oldest) = self.tokens.over_cap(*user) {
                    self.tokens.remove(&oldest);
                }
                let entry = Token { user: *user, created: *at, last_used: *at, address: *address };
                self.tokens.insert(*token, entry);
                Ok(())
            }
            Record::TokenUsed { token, address, at } => {
                if self.tokens.get(token).is_none_or(|t| t.expired(*at)) {
                    return misfit("use of an unknown or expired token");
                }
                self.tokens.prune(*at);
                self.tokens.touch(token, *at, *address);
                Ok(())
            }
            Record::TokenRevoked { user, token, at } => {
                if self.tokens.get(token).is_none_or(|t| t.user != *user) {
                    return misfit("revoking an unknown token");
                }
                self.tokens.prune(*at);
                self.tokens.remove(token);
                Ok(())
            }
            Record::TokensRevoked { user, at } => {
                if self.users.get(*user).is_none() {
                    return misfit("revoking the tokens of an unknown user");
                }
                self.tokens.prune(*at);
                self.tokens.revoke_user(*user, None);
                Ok(())
            }
            _ => misfit("not a session record"),
        }
    }
}
