//! The state machine: users, groups, transactions, balances, settlement.
//!
//! Pure and synchronous: no sockets, files, threads or clocks (the caller passes `now`), so tests,
//! fuzzers, recovery and replication drive it directly. It speaks its own language: `Command` in,
//! `Outcome` (a typed `Answer` or `Error`, the records, the events) out; wire formats are the
//! protocol layer's. `execute` validates a command and either finishes it (`Step::Done`) or, for the
//! deliberately slow work (password hashes, large settlement searches), hands back a `Job` that the
//! caller runs elsewhere and feeds to `resume`. Every change is made by `apply(record)`, the same
//! path recovery replays, and the records are returned so storage can persist them. A refused
//! command changes nothing.
//!
//! Each action family has one file under `exec/`: its validation, its execution and the `apply` of
//! its records.
//!
//! A login belongs to a connection (`Session`) and lasts while its session token does (`tokens`: a
//! login issues one, `resume` logs in with it); the token's random bits come from the caller's worker,
//! like every other input.

mod answer;
pub mod calendar;
pub mod categories;
mod command;
mod error;
mod exec;
pub mod explain;
pub mod groups;
pub mod history;
pub mod image;
pub mod ledger;
mod packed;
pub mod record;
pub mod recurring;
pub mod stats;
pub mod tokens;
pub mod users;

use crate::money::Cents;
use crate::settle::Plan;

pub use crate::settle::Method;

pub use answer::{Answer, CurrencyPlan, Done, Event, Notice, Plans, Recorded, Settlement, Transfer};
pub use command::{
    AddRecurring, AddTransaction, Command, CreateGroup, Credentials, EditRecurring, EditTransaction, ForeignSpec,
    History, JoinGroup, RecordPayment, Settle, SplitSpec, Stats, StatsBy, TxnRef, WIRE_DECIMALS,
};
pub use error::{Current, Error, Invalid, KeyKind, Part, Setting, SplitGap, TextField};
pub use groups::{Convert, Group, GroupId, KeyRef, DEFAULT_CURRENCY};
pub use history::Activity;
pub use ledger::{Foreign, Payment, PaymentId, Rate, Split, Transaction, TxnId};
pub use record::Record;
pub use tokens::{Secret, TokenHash};
pub use users::UserId;

/// Descriptions longer than this are refused (they are echoed into every member's notifications).
pub const DESCRIPTION_CHARS_MAX: usize = 500;
/// Names in one list of a split; a group cannot have more members anyway.
pub const SPLIT_NAMES_MAX: usize = groups::GROUP_MEMBERS_MAX;

/// Unix time in milliseconds, read by the caller.
pub type Millis = i64;

/// Per-connection login state. A disconnect drops it; the token it logged in with stays valid.
#[derive(Debug, Default, Clone)]
pub struct Session {
    pub user: Option<UserId>,
    pub failed_logins: u32,
    /// The token this connection logged in with (`login` issued it, or `resume` used it): while it is
    /// revoked, expired or its account deleted, the login is over (`Machine::end_revoked`).
    pub token: Option<TokenHash>,
    /// The peer's address, filled in by the caller that knows it (net); stored with tokens.
    pub peer: Option<std::net::IpAddr>,
    /// Until when the token needs no look-up before a command: its use is not due to be recorded,
    /// so it has not expired either (`touch`) — as long as no token was removed since it was looked
    /// up (`token_removals`, the table's count then).
    pub token_due: Millis,
    pub token_removals: u64,
    /// Set by the caller on a cluster member that is not the leader, which must not write: a `login`
    /// there issues no token and a token's use is not recorded (the leader does both).
    pub read_only: bool,
}

/// What one finished command produced: the answer, the records to persist before the answer
/// leaves, and the notifications to fan out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub answer: Result<Answer, Error>,
    pub records: Vec<Record>,
    pub events: Vec<Event>,
}

impl Outcome {
    fn answer(answer: Answer) -> Outcome {
        Outcome { answer: Ok(answer), records: Vec::new(), events: Vec::new() }
    }

    fn error(error: Error) -> Outcome {
        Outcome { answer: Err(error), records: Vec::new(), events: Vec::new() }
    }

    fn done(done: Done) -> Outcome {
        Outcome::answer(Answer::Done(done))
    }
}

/// Slow work the machine needs done off the event loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    Hash {
        password: String,
    },
    Verify {
        password: String,
        phc: String,
    },
    /// A login's password check; when it matches, the worker also draws the token's secret from the
    /// OS RNG (the machine has no randomness of its own).
    Login {
        password: String,
        phc: String,
    },
    /// `change_password`: `old` checked against `phc`, then `new` hashed.
    Rehash {
        old: String,
        phc: String,
        new: String,
    },
    /// A settlement plan whose search may take milliseconds (`settle::is_slow`).
    Plan {
        net: Vec<i64>,
        method: Method,
    },
}

/// The result of `Work`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkDone {
    Hashed(String),
    Verified(bool),
    /// `Some(secret)`: the password matched, and this is the new token's secret.
    LoginChecked(Option<Secret>),
    /// `Some(phc)`: the old password matched, and this is the new one's hash.
    Rehashed(Option<String>),
    Planned(Plan),
    /// Hashing itself failed (should not happen); the command gets an error and changes nothing.
    Failed,
}

/// Where a command continues once its slow work is done. Holds validated, owned inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    Signup {
        username: String,
    },
    /// `user` is `None` for an unknown name: the work is run against a dummy hash anyway so that an
    /// unknown user and a wrong password take the same time.
    Login {
        user: Option<UserId>,
    },
    /// The caller's own account; the user and token are the session's, checked again on resume.
    ChangePassword,
    DeleteAccount,
    CreateGroup {
        group: String,
        currency: String,
        convert: Convert,
    },
    JoinGroup {
        group: GroupId,
    },
    /// The creator set a new join password; `group` is re-checked (creator, member) on resume.
    SetGroupPassword {
        group: GroupId,
    },
    /// `settle` planned `net` (the members' balances, in `members` order) off the loop; on resume the
    /// plan is used only if the group's balances are still exactly those.
    Settle {
        group: GroupId,
        method: Method,
        record: bool,
        members: Vec<UserId>,
        net: Vec<i64>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub work: Work,
    pub resume: Resume,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Done(Outcome),
    /// Work to run off the loop; its result goes to `Machine::resume`.
    Offload(Job),
}

/// An argon2id hash of a random password nobody knows, verified against when the username is
/// unknown (same parameters as real hashes, so the same cost).
pub const DUMMY_PASSWORD_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$3ojCK2TWH8aIQE2pAXU7VQ$duJIbP5qOd8ULsUsFWLeRDxBupkH6IdIpvwBd712Spo";

/// A record that does not fit the state it is applied to: a corrupt or reordered log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyError(pub String);

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `Err(ApplyError)` saying which record did not fit and why.
fn misfit<T>(what: &str) -> Result<T, ApplyError> {
    Err(ApplyError(format!("record does not fit the state: {what}")))
}

#[derive(Debug, Default)]
pub struct Machine {
    users: users::Users,
    tokens: tokens::Tokens,
    groups: groups::Groups,
    next_txn_id: TxnId,
    next_payment_id: PaymentId,
    /// History entries kept per group (`History::trim`); `usize::MAX` (all) until the server sets
    /// its limit, so replay keeps what a larger limit would have kept.
    history_kept: usize,
    /// Every running recurring rule's next occurrence (derived from the groups' rules).
    due: recurring::DueIndex,
}

impl Machine {
    pub fn new() -> Machine {
        Machine { next_txn_id: 1, next_payment_id: 1, history_kept: usize::MAX, ..Machine::default() }
    }

    /// Keeps about the newest `kept` history entries of each group from now on (and trims now): older
    /// ones answer `gap` to `history {after}` and `subscribe`. Their numbers stay used.
    pub fn set_history_kept(&mut self, kept: usize) {
        self.history_kept = kept.max(1);
        for id in 0..self.groups.next_id() {
            if let Some(group) = self.groups.get_mut(id) {
                group.history.trim(self.history_kept);
            }
        }
    }

    pub fn users(&self) -> &users::Users {
        &self.users
    }

    pub fn groups(&self) -> &groups::Groups {
        &self.groups
    }

    pub fn tokens(&self) -> &tokens::Tokens {
        &self.tokens
    }

    /// Members of `group`, for notification fanout.
    pub fn members(&self, group: GroupId) -> &[UserId] {
        self.groups.get(group).map_or(&[], |g| g.members.as_slice())
    }

    /// Executes one command for the connection whose login state is `session`. A login whose token
    /// was revoked, has expired or whose account is gone ends first; a successful command records the
    /// use of a day-old token (`touch`).
    pub fn execute(&mut self, session: &mut Session, command: Command, now: Millis) -> Step {
        self.end_expired(session, now);
        let result = match command {
            Command::Signup(credentials) => self.signup(credentials),
            Command::Login(credentials) => Ok(self.login(credentials)),
            Command::ResumeSession { secret } => self.resume_session(session, &secret, now).map(Step::Done),
            Command::Logout { all } => self.logout(session, all, now).map(Step::Done),
            Command::Sessions => self.sessions(session).map(Step::Done),
            Command::ChangePassword { old, new } => self.change_password(session, old, new),
            Command::DeleteAccount { password } => self.delete_account(session, password),
            command => match session.user {
                Some(user) => self.execute_as(user, command, now),
                None => Err(Error::NotAuthenticated),
            },
        };
        match result {
            Ok(Step::Done(outcome)) => Step::Done(self.touch(session, outcome, now)),
            Ok(offload) => offload,
            Err(error) => Step::Done(Outcome::error(error)),
        }
    }

    /// A command of a logged-in `user`: one arm per action, each family in its own file.
    fn execute_as(&mut self, user: UserId, command: Command, now: Millis) -> Result<Step, Error> {
        let done = Step::Done;
        Ok(match command {
            Command::Signup(_)
            | Command::Login(_)
            | Command::ResumeSession { .. }
            | Command::Logout { .. }
            | Command::Sessions
            | Command::ChangePassword { .. }
            | Command::DeleteAccount { .. } => return Err(Error::Internal),
            Command::CreateGroup(create) => self.create_group(user, create, now)?,
            Command::JoinGroup(join) => self.join_group(user, join, now)?,
            Command::LeaveGroup { group } => done(self.leave_group(user, &group, now)?),
            Command::SetGroupPassword { group, password } => self.set_group_password(user, &group, password, now)?,
            Command::SetGroupCurrency { group, currency } => {
                done(self.set_group_currency(user, &group, currency, now)?)
            }
            Command::SetGroupConvert { group, convert } => done(self.set_group_convert(user, &group, convert, now)?),
            Command::AddTransaction(add) => done(self.add_transaction(user, add, now)?),
            Command::EditTransaction(edit) => done(self.edit_transaction(user, edit, now)?),
            Command::DeleteTransaction { group, target, version } => {
                done(self.delete_transaction(user, &group, (target, version), now)?)
            }
            Command::RecordPayment(pay) => done(self.record_payment(user, pay, now)?),
            Command::DeletePayment { group, id, version } => {
                done(self.delete_payment(user, &group, (id, version), now)?)
            }
            Command::ListGroups => done(Outcome::answer(Answer::Groups { user })),
            Command::GroupMembers { group } => done(self.read(user, &group, |group| Answer::Members { group })?),
            Command::GroupInfo { group } => done(self.read(user, &group, |group| Answer::GroupInfo { group })?),
            Command::ViewTransactions { group } => {
                done(self.read(user, &group, |group| Answer::Transactions { group })?)
            }
            Command::ViewPayments { group } => done(self.read(user, &group, |group| Answer::Payments { group })?),
            Command::ViewBalances { group } => done(self.read(user, &group, |group| Answer::Balances { group })?),
            Command::Export { group } => done(self.read(user, &group, |group| Answer::Export { group })?),
            Command::History(history) => done(self.history(user, history)?),
            Command::Subscribe(history) => done(self.subscribe(user, history)?),
            Command::Settle(settle) => self.settle(user, settle, now)?,
            Command::BalanceDetails { group } => done(self.balance_details(user, &group)?),
            Command::PairwiseDebts { group } => done(self.pairwise_debts(user, &group)?),
            Command::AddCategory { group, category } => done(self.add_category(user, &group, category, now)?),
            Command::ListCategories { group } => {
                done(self.read(user, &group, |group| Answer::Categories { group, done: None })?)
            }
            Command::Stats(stats) => done(self.stats(user, stats)?),
            Command::RestoreTransaction { group, id } => done(self.restore_transaction(user, &group, id, now)?),
            Command::RestorePayment { group, id } => done(self.restore_payment(user, &group, id, now)?),
            Command::AddRecurring(add) => done(self.add_recurring(user, add, now)?),
            Command::ListRecurring { group } => done(self.read(user, &group, |group| Answer::Rules { group })?),
            Command::EditRecurring(edit) => done(self.edit_recurring(user, edit, now)?),
            Command::StopRecurring { group, id } => done(self.stop_recurring(user, &group, id, now)?),
        })
    }

    /// Continues a command after its slow work. Re-checks what may have changed meanwhile (two
    /// signups for one name can both be hashing at once).
    pub fn resume(&mut self, session: &mut Session, resume: Resume, done: WorkDone, now: Millis) -> Outcome {
        self.end_expired(session, now);
        let result = match (resume, done) {
            (_, WorkDone::Failed) => Err(Error::Internal),
            (Resume::Signup { username }, WorkDone::Hashed(phc)) => self.finish_signup(username, phc),
            (Resume::Login { user }, WorkDone::LoginChecked(secret)) => self.finish_login(session, user, secret, now),
            (Resume::ChangePassword, WorkDone::Rehashed(phc)) => self.finish_change_password(session, phc, now),
            (Resume::DeleteAccount, WorkDone::Verified(ok)) => self.finish_delete_account(session, ok, now),
            (resume, done) => match session.user {
                None => Err(Error::NotAuthenticated),
                Some(user) => self.resume_as(user, resume, done, now),
            },
        };
        match result {
            Ok(outcome) => self.touch(session, outcome, now),
            Err(error) => Outcome::error(error),
        }
    }

    fn resume_as(&mut self, user: UserId, resume: Resume, done: WorkDone, now: Millis) -> Result<Outcome, Error> {
        match (resume, done) {
            (Resume::CreateGroup { group, currency, convert }, WorkDone::Hashed(phc)) => {
                self.finish_create_group(user, group, Some(phc), (currency, convert), now)
            }
            (Resume::JoinGroup { group }, WorkDone::Verified(ok)) => self.finish_join_group(user, group, ok, now),
            (Resume::SetGroupPassword { group }, WorkDone::Hashed(phc)) => {
                self.finish_set_group_password(user, group, phc, now)
            }
            (Resume::Settle { group, method, record, members, net }, WorkDone::Planned(plan)) => {
                self.finish_settle_offloaded(user, group, (method, record), (members, net), plan, now)
            }
            _ => Err(Error::Internal),
        }
    }

    /// Applies `record` (a change to `group` this machine just validated) and builds the outcome:
    /// `answer`, the record to persist, and one notification made from the history entry the record
    /// added, so what members hear and what the history shows are the same thing. The record carries
    /// the number the change gets in the group (`seq`).
    fn commit(&mut self, group: GroupId, mut record: Record, answer: Answer) -> Result<Outcome, Error> {
        record.set_seq(self.group(group)?.history.next_seq());
        self.apply_own(&record)?;
        let entry = self.groups.get(group).and_then(|g| g.history.entries().last()).map(|e| e.id);
        let events = entry.map(|entry| Event { group, notice: Notice::History { entry } }).into_iter().collect();
        Ok(Outcome { answer: Ok(answer), records: vec![record], events })
    }

    /// Applies a record this machine just produced from a validated command. It fits by
    /// construction; should it not (a bug), it changed nothing, the command is refused, and the
    /// record is never handed to storage — checked in release builds too, before the append.
    fn apply_own(&mut self, record: &Record) -> Result<(), Error> {
        let applied = self.apply(record);
        debug_assert!(applied.is_ok(), "own record must apply: {applied:?}");
        applied.map_err(|_| Error::Internal)
    }

    /// Applies one record: the only way state changes. Used by `execute` and by recovery; a record that
    /// does not fit (unknown ids, duplicate names, unbalanced transaction) changes nothing and is an
    /// error. Each change to a group also appends its history entry, so replay rebuilds the history.
    pub fn apply(&mut self, record: &Record) -> Result<(), ApplyError> {
        if self.is_stale_occurrence(record) {
            // Proposed twice (a retry, an old and a new leader): the first made it; this is a no-op.
            return Ok(());
        }
        self.check_seq(record)?;
        self.apply_unchecked(record)?;
        if let Some(group) = record.group().and_then(|g| self.groups.get_mut(g)) {
            group.history.trim(self.history_kept);
        }
        Ok(())
    }

    fn apply_unchecked(&mut self, record: &Record) -> Result<(), ApplyError> {
        match record {
            Record::UserCreated { .. } | Record::PasswordChanged { .. } | Record::AccountDeleted { .. } => {
                self.apply_account(record)
            }
            Record::TokenIssued { .. }
            | Record::TokenUsed { .. }
            | Record::TokenRevoked { .. }
            | Record::TokensRevoked { .. } => self.apply_session(record),
            Record::GroupCreated { .. }
            | Record::MemberJoined { .. }
            | Record::MemberLeft { .. }
            | Record::GroupCurrencySet { .. }
            | Record::GroupConvertSet { .. }
            | Record::GroupPasswordSet { .. } => self.apply_membership(record),
            Record::TransactionAdded { .. } | Record::TransactionEdited { .. } | Record::TransactionDeleted { .. } => {
                self.apply_expense(record)
            }
            Record::PaymentRecorded { .. } | Record::SettlementRecorded { .. } | Record::PaymentDeleted { .. } => {
                self.apply_payment(record)
            }
            Record::CategoryAdded { .. } => self.apply_category(record),
            Record::TransactionRestored { .. } | Record::PaymentRestored { .. } => self.apply_restore(record),
            Record::RuleAdded { .. } | Record::RuleEdited { .. } | Record::RuleStopped { .. } => {
                self.apply_recurring(record)
            }
        }
    }

    /// A record that says which number its change gets in its group must say the next one (a new
    /// group's first change is 1); one that says none (older logs) gets the next as it applies.
    fn check_seq(&self, record: &Record) -> Result<(), ApplyError> {
        let Some((group, seq)) = record.group_seq() else { return Ok(()) };
        let next = match record {
            Record::GroupCreated { .. } => Some(1),
            _ => self.groups.get(group).map(|g| g.history.next_seq()),
        };
        match next {
            Some(next) if next == seq => Ok(()),
            _ => misfit(&format!("seq {seq} is not the next of group {group} ({next:?})")),
        }
    }

    fn group(&self, id: GroupId) -> Result<&Group, Error> {
        self.groups.get(id).ok_or(Error::GroupNotFound)
    }

    /// The group named `name`, if it exists and `user` is a member.
    fn member_group(&self, user: UserId, name: &str) -> Result<(GroupId, &Group), Error> {
        let id = self.groups.find(name).ok_or(Error::GroupNotFound)?;
        let entry = self.group(id)?;
        if !entry.is_member(user) {
            return Err(Error::NotMember);
        }
        Ok((id, entry))
    }

    /// A read of group `name` by a member: the answer `show` makes of the group's id.
    fn read(&self, user: UserId, name: &str, show: impl FnOnce(GroupId) -> Answer) -> Result<Outcome, Error> {
        let (id, _) = self.member_group(user, name)?;
        Ok(Outcome::answer(show(id)))
    }

    /// Checks the invariants every state must keep; for tests, fuzzing and after recovery.
    pub fn check_invariants(&self) -> Result<(), String> {
        if !self.tokens.consistent() {
            return Err("the token table and its indexes disagree".into());
        }
        if let Some((_, token)) = self.tokens.iter().find(|(_, t)| !self.users.is_active(t.user)) {
            return Err(format!("a token of user {} who is unknown or deleted", token.user));
        }
        if let Some((_, user)) = self.users.iter().find(|(_, u)| u.deleted && !u.groups.is_empty()) {
            return Err(format!("deleted account {} is still in a group", user.name));
        }
        for (_, group) in self.groups.iter() {
            if group.ledger.balance_sum() != 0 {
                return Err(format!("balances of group {} do not sum to zero", group.name));
            }
            if let Some(currency) = group.ledger.unbalanced_currency() {
                return Err(format!("the {currency} balances of group {} do not sum to zero", group.name));
            }
            if !group.ledger.others_fit() {
                return Err(format!("group {} has a currency without a balance per slot", group.name));
            }
            if group.convert.is_at_entry() && group.ledger.others().next().is_some() {
                return Err(format!("group {} converts at entry but keeps other currencies", group.name));
            }
            if group.ledger.balances.len() != group.slots.len() || group.member_pos.len() != group.slots.len() {
                return Err(format!("group {} has a balance slot per member mismatch", group.name));
            }
            if group.members.iter().any(|&m| !group.is_member(m)) {
                return Err(format!("group {} lists a member without an active slot", group.name));
            }
            if group.slots.iter().filter(|&&u| group.is_member(u)).count() != group.members.len() {
                return Err(format!("group {} has active slots that are not listed members", group.name));
            }
            if let Some(former) = group.former_members().find(|&u| group.balance(u) != Cents::ZERO) {
                return Err(format!("former member {former} of group {} has a balance", group.name));
            }
            if let Some(txn) = group.ledger.unbalanced() {
                return Err(format!("transaction {txn} is unbalanced"));
            }
        }
        self.check_due_index()?;
        Ok(())
    }
}
