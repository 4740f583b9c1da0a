//! The state machine: users, groups, transactions, balances, settlement.
//!
//! Pure and synchronous: no sockets, files or clocks (the caller passes `now`), so tests and fuzzers
//! drive it directly. `execute` validates a request and either finishes it (`Step::Done`) or, for the
//! deliberately slow password work, hands back a `Job` that the caller runs elsewhere and feeds to
//! `resume`. Every change is made by `apply(record)`, the same path recovery replays, and the records
//! are returned so storage can persist them. A rejected request changes nothing.

mod expense;
mod explain;
pub mod groups;
pub mod history;
pub mod image;
pub mod ledger;
mod payments;
pub mod record;
pub mod users;
mod view;

use serde_json::Value;

use crate::json;
use crate::money::Cents;
use crate::proto::{Code, Error, Reply, Request, TxnRef, DEFAULT_CURRENCY};
use crate::settle::{Method, Plan};

pub use groups::{Group, GroupId, KeyRef};
pub use history::Activity;
pub use ledger::{Payment, PaymentId, Split, Transaction, TxnId};
pub use record::Record;
pub use users::UserId;

/// Descriptions longer than this are refused (they are echoed into every member's notifications).
pub const DESCRIPTION_CHARS_MAX: usize = 500;
/// Names in one `split_between`; a group cannot have more members anyway.
pub const SPLIT_NAMES_MAX: usize = groups::GROUP_MEMBERS_MAX;

/// Unix time in milliseconds, read by the caller.
pub type Millis = i64;

/// Per-connection login state. A disconnect drops it, which is a logout.
#[derive(Debug, Default, Clone)]
pub struct Session {
    pub user: Option<UserId>,
    pub failed_logins: u32,
}

/// A change to a group that online members should hear about.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub group: GroupId,
    pub notice: Notice,
}

/// What to push. Most changes name the history entry they added, and the message is rendered from
/// it only when someone will receive it (`Machine::render`): building JSON for a notification nobody
/// is online to read was the largest cost of a write.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// The group's history entry `entry`, as a `notification`; with `settlement`, as the original
    /// client's `settlement` message carrying that list as `data`.
    History { entry: u64, settlement: Option<Vec<Value>> },
    /// A message built already (always has a `type` key).
    Message(Value),
}

/// What one finished request produced: the reply, the records to persist before the reply leaves,
/// and the notifications to fan out.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub reply: Reply,
    pub records: Vec<Record>,
    pub events: Vec<Event>,
}

impl Outcome {
    fn reply(reply: Reply) -> Outcome {
        Outcome { reply, records: Vec::new(), events: Vec::new() }
    }

    fn error(error: Error) -> Outcome {
        Outcome::reply(Reply::error(&error))
    }
}

/// Slow work the machine needs done off the event loop (see `crate::workers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    Hash {
        password: String,
    },
    Verify {
        password: String,
        phc: String,
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
    Planned(Plan),
    /// Hashing itself failed (should not happen); the request gets an error and changes nothing.
    Failed,
}

/// Where a request continues once its slow work is done. Holds validated, owned inputs.
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
    CreateGroup {
        group: String,
        currency: String,
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

#[derive(Debug, Clone, PartialEq)]
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

#[derive(Debug, Default)]
pub struct Machine {
    users: users::Users,
    groups: groups::Groups,
    next_txn_id: TxnId,
    next_payment_id: PaymentId,
}

impl Machine {
    pub fn new() -> Machine {
        Machine { next_txn_id: 1, next_payment_id: 1, ..Machine::default() }
    }

    pub fn users(&self) -> &users::Users {
        &self.users
    }

    pub fn groups(&self) -> &groups::Groups {
        &self.groups
    }

    /// Members of `group`, for notification fanout.
    pub fn members(&self, group: GroupId) -> &[UserId] {
        self.groups.get(group).map_or(&[], |g| g.members.as_slice())
    }

    /// Executes one request for the connection whose login state is `session`.
    pub fn execute(&mut self, session: &mut Session, request: Request, now: Millis) -> Step {
        match self.execute_inner(session, request, now) {
            Ok(step) => step,
            Err(error) => Step::Done(Outcome::error(error)),
        }
    }

    fn execute_inner(&mut self, session: &mut Session, request: Request, now: Millis) -> Result<Step, Error> {
        let done = |outcome| Ok(Step::Done(outcome));
        match request {
            Request::Signup { username, password } => {
                users::validate_username(&username).map_err(bad_request)?;
                users::validate_password("password", &password).map_err(bad_request)?;
                if self.users.find(&username).is_some() {
                    return Err(Error::new(Code::UserExists, "Username already exists"));
                }
                Ok(Step::Offload(Job { work: Work::Hash { password }, resume: Resume::Signup { username } }))
            }
            Request::Login { username, password } => {
                let user = self.users.find(&username);
                let phc = user
                    .and_then(|u| self.users.get(u))
                    .map_or(DUMMY_PASSWORD_HASH.to_string(), |u| u.password_hash.clone());
                Ok(Step::Offload(Job { work: Work::Verify { password, phc }, resume: Resume::Login { user } }))
            }
            Request::Logout => {
                session.user = None;
                done(Outcome::reply(Reply::message("Logged out")))
            }
            request => {
                let user = session.user.ok_or_else(|| Error::new(Code::NotAuthenticated, "Not authenticated"))?;
                self.execute_authenticated(user, request, now)
            }
        }
    }

    fn execute_authenticated(&mut self, user: UserId, request: Request, now: Millis) -> Result<Step, Error> {
        let done = |outcome| Ok(Step::Done(outcome));
        match request {
            Request::CreateGroup { group, password, currency } => {
                groups::validate_group_name(&group).map_err(bad_request)?;
                if self.groups.find(&group).is_some() {
                    return Err(Error::new(Code::GroupExists, "Group already exists"));
                }
                let currency = currency.unwrap_or_else(|| DEFAULT_CURRENCY.to_string());
                if password.is_empty() {
                    return done(self.create_group(user, group, None, currency, now));
                }
                users::validate_password("password", &password).map_err(bad_request)?;
                Ok(Step::Offload(Job {
                    work: Work::Hash { password },
                    resume: Resume::CreateGroup { group, currency },
                }))
            }
            Request::JoinGroup { group, password } => {
                let id = self.groups.find(&group).ok_or_else(group_not_found)?;
                let entry = self.group(id)?;
                if entry.is_member(user) {
                    return done(Outcome::reply(Reply::message("Joined group")));
                }
                if entry.members.len() >= groups::GROUP_MEMBERS_MAX {
                    return Err(Error::new(Code::Limit, "Group is full"));
                }
                match &entry.password_hash {
                    None => done(self.join_group(user, id, now)),
                    Some(phc) => Ok(Step::Offload(Job {
                        work: Work::Verify { password, phc: phc.clone() },
                        resume: Resume::JoinGroup { group: id },
                    })),
                }
            }
            Request::ListGroups => {
                let names: Vec<Value> = self
                    .users
                    .get(user)
                    .map(|u| {
                        u.groups
                            .iter()
                            .filter_map(|&g| self.groups.get(g))
                            .map(|g| Value::from(g.name.as_str()))
                            .collect()
                    })
                    .unwrap_or_default();
                done(Outcome::reply(Reply::ok().with("groups", names)))
            }
            Request::GetGroupMembers { group } => {
                let (_, entry) = self.member_group(user, &group)?;
                let names: Vec<Value> = entry.members.iter().map(|&m| Value::from(self.users.name(m))).collect();
                done(Outcome::reply(Reply::ok().with("members", names)))
            }
            Request::AddTransaction { group, amount, description, split, paid_by, date, key } => {
                done(self.add_transaction(user, &group, amount, description, split, paid_by, date, key, now)?)
            }
            Request::EditTransaction { group, id, amount, description, split, paid_by, date } => {
                let change = expense::Change { amount, description, split, paid_by, date };
                done(self.edit_transaction(user, &group, id, change, now)?)
            }
            Request::ViewTransactions { group } => {
                let (_, entry) = self.member_group(user, &group)?;
                let txns = entry.ledger.transactions();
                done(Outcome::reply(Reply::ok().with_json("transactions", |out| self.write_transactions(txns, out))))
            }
            Request::DeleteTransaction { group, target } => {
                let (id, entry) = self.member_group(user, &group)?;
                let txns = entry.ledger.transactions();
                let txn = match target {
                    TxnRef::Index(index) => {
                        txns.get(index).ok_or_else(|| Error::new(Code::InvalidIndex, "Invalid index"))?
                    }
                    TxnRef::Id(txn_id) => entry
                        .ledger
                        .transaction(txn_id)
                        .ok_or_else(|| Error::new(Code::TransactionNotFound, "Transaction not found"))?,
                };
                let undo: Vec<(UserId, i64)> = txn.effect().into_iter().map(|(u, c)| (u, -c)).collect();
                self.check_former_untouched(entry, &undo)?;
                let record = Record::TransactionDeleted { group: id, txn: txn.id, by: user, at: now };
                done(self.commit(id, record, Reply::message("Transaction deleted")))
            }
            Request::ViewBalances { group } => {
                let (_, entry) = self.member_group(user, &group)?;
                let reply = Reply::ok().with_json("balances", |out| {
                    let mut balances = json::Object::new(out);
                    for (member, cents) in entry.member_balances() {
                        balances.cents(self.users.name(member), cents);
                    }
                });
                done(Outcome::reply(reply))
            }
            Request::Settle { group, method, record } => self.settle(user, &group, method, record, now),
            Request::BalanceDetails { group } => done(self.balance_details(user, &group)?),
            Request::PairwiseDebts { group } => done(self.pairwise_debts(user, &group)?),
            Request::RecordPayment { group, from, to, amount, date, key } => {
                done(self.record_payment(user, &group, from, to, amount, date, key, now)?)
            }
            Request::DeletePayment { group, id } => {
                let (gid, entry) = self.member_group(user, &group)?;
                let payment =
                    entry.ledger.payment(id).ok_or_else(|| Error::new(Code::PaymentNotFound, "Payment not found"))?;
                let undo = [(payment.from, -payment.amount.0), (payment.to, payment.amount.0)];
                self.check_former_untouched(entry, &undo)?;
                let record = Record::PaymentDeleted { group: gid, payment: id, by: user, at: now };
                done(self.commit(gid, record, Reply::message("Payment deleted")))
            }
            Request::ViewPayments { group } => {
                let (_, entry) = self.member_group(user, &group)?;
                let payments = entry.ledger.payments();
                done(Outcome::reply(Reply::ok().with_json("payments", |out| self.write_payments(payments, out))))
            }
            Request::Export { group } => {
                let (_, entry) = self.member_group(user, &group)?;
                let reply = Reply::ok()
                    .with("group", entry.name.as_str())
                    .with("currency", entry.currency.as_str())
                    .with_json("transactions", |out| self.write_transactions(entry.ledger.transactions(), out))
                    .with_json("payments", |out| self.write_payments(entry.ledger.payments(), out));
                done(Outcome::reply(reply))
            }
            Request::History { group, before, limit } => {
                let (_, entry) = self.member_group(user, &group)?;
                let (page, more) = entry.history.page(before, limit);
                let next = if more { page.last().map(|e| e.id) } else { None };
                let reply = Reply::ok()
                    .with_json("history", |out| {
                        let mut list = json::Array::new(out);
                        for e in page {
                            self.write_history_entry(entry, e, list.item());
                        }
                    })
                    .with("more", more)
                    .with("next_before", next);
                done(Outcome::reply(reply))
            }
            Request::GroupInfo { group } => {
                let (_, entry) = self.member_group(user, &group)?;
                let names = |it: &mut dyn Iterator<Item = UserId>| -> Vec<Value> {
                    it.map(|m| Value::from(self.users.name(m))).collect()
                };
                let reply = Reply::ok()
                    .with("group", entry.name.as_str())
                    .with("currency", entry.currency.as_str())
                    .with("creator", self.users.name(entry.creator))
                    .with("created_at", entry.created_at)
                    .with("has_password", entry.password_hash.is_some())
                    .with("members", names(&mut entry.members.iter().copied()))
                    .with("former_members", names(&mut entry.former_members()));
                done(Outcome::reply(reply))
            }
            Request::LeaveGroup { group } => {
                let (id, entry) = self.member_group(user, &group)?;
                if entry.balance(user) != Cents::ZERO {
                    return Err(Error::new(Code::BalanceNotZero, "Settle your balance before leaving"));
                }
                let record = Record::MemberLeft { group: id, user, at: now };
                done(self.commit(id, record, Reply::message("Left group")))
            }
            Request::SetGroupPassword { group, password } => {
                let (id, entry) = self.member_group(user, &group)?;
                if entry.creator != user {
                    return Err(Error::new(Code::Forbidden, "Only the group's creator can change its password"));
                }
                if password.is_empty() {
                    let record = Record::GroupPasswordSet { group: id, password_hash: None, by: user, at: now };
                    return done(self.commit(id, record, Reply::message("Group password removed")));
                }
                users::validate_password("password", &password).map_err(bad_request)?;
                Ok(Step::Offload(Job { work: Work::Hash { password }, resume: Resume::SetGroupPassword { group: id } }))
            }
            Request::SetGroupCurrency { group, currency } => {
                let (id, entry) = self.member_group(user, &group)?;
                if entry.creator != user {
                    return Err(Error::new(Code::Forbidden, "Only the group's creator can change its currency"));
                }
                let record = Record::GroupCurrencySet { group: id, currency, by: user, at: now };
                done(self.commit(id, record, Reply::message("Group currency set")))
            }
            Request::Signup { .. } | Request::Login { .. } | Request::Logout => Err(internal()),
        }
    }

    /// Continues a request after its password work. Re-checks what may have changed meanwhile (two
    /// signups for one name can both be hashing at once).
    pub fn resume(&mut self, session: &mut Session, resume: Resume, done: WorkDone, now: Millis) -> Outcome {
        self.resume_inner(session, resume, done, now).unwrap_or_else(Outcome::error)
    }

    fn resume_inner(
        &mut self,
        session: &mut Session,
        resume: Resume,
        done: WorkDone,
        now: Millis,
    ) -> Result<Outcome, Error> {
        match (resume, done) {
            (_, WorkDone::Failed) => Err(internal()),
            (Resume::Signup { username }, WorkDone::Hashed(password_hash)) => {
                if self.users.find(&username).is_some() {
                    Err(Error::new(Code::UserExists, "Username already exists"))
                } else {
                    let record = Record::UserCreated { user: self.users.next_id(), name: username, password_hash };
                    self.apply_own(&record);
                    Ok(Outcome {
                        reply: Reply::message("Signup successful"),
                        records: vec![record],
                        events: Vec::new(),
                    })
                }
            }
            (Resume::Login { user: Some(user) }, WorkDone::Verified(true)) => {
                session.user = Some(user);
                session.failed_logins = 0;
                Ok(Outcome::reply(Reply::message("Login successful")))
            }
            (Resume::Login { .. }, WorkDone::Verified(_)) => {
                session.failed_logins = session.failed_logins.saturating_add(1);
                Err(Error::new(Code::InvalidCredentials, "Invalid credentials"))
            }
            (Resume::CreateGroup { group, currency }, WorkDone::Hashed(phc)) => match session.user {
                None => Err(Error::new(Code::NotAuthenticated, "Not authenticated")),
                Some(_) if self.groups.find(&group).is_some() => {
                    Err(Error::new(Code::GroupExists, "Group already exists"))
                }
                Some(user) => Ok(self.create_group(user, group, Some(phc), currency, now)),
            },
            (Resume::JoinGroup { group }, WorkDone::Verified(ok)) => match session.user {
                None => Err(Error::new(Code::NotAuthenticated, "Not authenticated")),
                Some(_) if !ok => Err(Error::new(Code::InvalidGroupPassword, "Invalid group password")),
                Some(user) if self.group(group)?.is_member(user) => Ok(Outcome::reply(Reply::message("Joined group"))),
                Some(user) => Ok(self.join_group(user, group, now)),
            },
            (Resume::Settle { group, method, record, members, net }, WorkDone::Planned(plan)) => {
                let user = session.user.ok_or_else(|| Error::new(Code::NotAuthenticated, "Not authenticated"))?;
                let entry = self.group(group)?;
                if !entry.is_member(user) {
                    return Err(Error::new(Code::NotMember, "Not a member of this group"));
                }
                Ok(self.resume_settle(user, group, method, record, (members, net), plan, now))
            }
            (Resume::SetGroupPassword { group }, WorkDone::Hashed(phc)) => {
                let user = session.user.ok_or_else(|| Error::new(Code::NotAuthenticated, "Not authenticated"))?;
                let entry = self.group(group)?;
                if !entry.is_member(user) {
                    return Err(Error::new(Code::NotMember, "Not a member of this group"));
                }
                if entry.creator != user {
                    return Err(Error::new(Code::Forbidden, "Only the group's creator can change its password"));
                }
                let record = Record::GroupPasswordSet { group, password_hash: Some(phc), by: user, at: now };
                Ok(self.commit(group, record, Reply::message("Group password changed")))
            }
            _ => Err(internal()),
        }
    }

    fn create_group(
        &mut self,
        user: UserId,
        name: String,
        password_hash: Option<String>,
        currency: String,
        now: Millis,
    ) -> Outcome {
        let group = self.groups.next_id();
        let mut records = vec![Record::GroupCreated { group, name, creator: user, password_hash, at: now }];
        if currency != DEFAULT_CURRENCY {
            records.push(Record::GroupCurrencySet { group, currency, by: user, at: now });
        }
        for record in &records {
            self.apply_own(record);
        }
        Outcome { reply: Reply::message("Group created successfully"), records, events: Vec::new() }
    }

    fn join_group(&mut self, user: UserId, group: GroupId, now: Millis) -> Outcome {
        self.commit(group, Record::MemberJoined { group, user, at: now }, Reply::message("Joined group"))
    }

    /// Applies `record` (a change to `group` this machine just validated) and builds the outcome:
    /// `reply`, the record to persist, and one notification made from the history entry the record
    /// added, so what members hear and what the history shows are the same thing.
    fn commit(&mut self, group: GroupId, record: Record, reply: Reply) -> Outcome {
        self.apply_own(&record);
        let entry = self.groups.get(group).and_then(|g| g.history.entries().last()).map(|e| e.id);
        let events = entry
            .map(|entry| Event { group, notice: Notice::History { entry, settlement: None } })
            .into_iter()
            .collect();
        Outcome { reply, records: vec![record], events }
    }

    /// Applies a record this machine just produced from a validated request: it fits by construction.
    fn apply_own(&mut self, record: &Record) {
        let applied = self.apply(record);
        debug_assert!(applied.is_ok(), "own record must apply: {applied:?}");
    }

    /// Applies one record: the only way state changes. Used by `execute` and by recovery; a record that
    /// does not fit (unknown ids, duplicate names, unbalanced transaction) changes nothing and is an error.
    /// Each change to a group also appends its history entry here, so replay rebuilds the history.
    pub fn apply(&mut self, record: &Record) -> Result<(), ApplyError> {
        let fail = |what: &str| Err(ApplyError(format!("record does not fit the state: {what}")));
        match record {
            Record::UserCreated { user, name, password_hash } => {
                if !self.users.insert(*user, name.clone(), password_hash.clone()) {
                    return fail("user id out of order or name taken");
                }
            }
            Record::GroupCreated { group, name, creator, password_hash, at } => {
                if self.users.get(*creator).is_none() {
                    return fail("unknown creator");
                }
                let currency = DEFAULT_CURRENCY.to_string();
                if !self.groups.insert(*group, name.clone(), password_hash.clone(), *creator, *at, currency) {
                    return fail("group id out of order or name taken");
                }
                let (Some(entry), Some(member)) = (self.groups.get_mut(*group), self.users.get_mut(*creator)) else {
                    return fail("group vanished");
                };
                entry.add_member(*creator);
                member.groups.push(*group);
                entry.history.push(*at, *creator, Activity::GroupCreated);
            }
            Record::MemberJoined { group, user, at } => {
                let (Some(entry), Some(member)) = (self.groups.get_mut(*group), self.users.get_mut(*user)) else {
                    return fail("unknown group or user");
                };
                if !entry.add_member(*user) {
                    return fail("already a member");
                }
                member.groups.push(*group);
                entry.history.push(*at, *user, Activity::MemberJoined { member: *user });
            }
            Record::MemberLeft { group, user, at } => {
                let (Some(entry), Some(member)) = (self.groups.get_mut(*group), self.users.get_mut(*user)) else {
                    return fail("unknown group or user");
                };
                if !entry.remove_member(*user) {
                    return fail("not a member or balance not zero");
                }
                member.groups.retain(|g| g != group);
                entry.history.push(*at, *user, Activity::MemberLeft { member: *user });
            }
            Record::TransactionAdded { group, txn } => {
                let Some(entry) = self.groups.get_mut(*group) else {
                    return fail("unknown group");
                };
                if !entry.ledger.add(txn.clone(), &entry.member_pos) {
                    return fail("transaction unbalanced, out of order or naming a non-member");
                }
                entry.note_key(txn.payer, txn.key.as_ref(), KeyRef::Transaction(txn.id));
                let what = Activity::TransactionAdded {
                    id: txn.id,
                    amount: txn.amount,
                    description: txn.description.clone(),
                    key: txn.key.clone(),
                };
                entry.history.push(txn.created_at, txn.payer, what);
                self.next_txn_id = self.next_txn_id.max(txn.id + 1);
            }
            Record::TransactionEdited { group, txn, by, at } => {
                let Some(entry) = self.groups.get_mut(*group) else {
                    return fail("unknown group");
                };
                let Some(before) = entry.ledger.replace(txn.clone(), &entry.member_pos) else {
                    return fail("unknown transaction, or the new version is unbalanced or names a non-member");
                };
                entry.history.push(
                    *at,
                    *by,
                    Activity::TransactionEdited { before: Box::new(before), after: Box::new(txn.clone()) },
                );
            }
            Record::TransactionDeleted { group, txn, by, at } => {
                let Some(entry) = self.groups.get_mut(*group) else {
                    return fail("unknown group");
                };
                let Some(position) = entry.ledger.position_of(*txn) else {
                    return fail("unknown transaction");
                };
                if let Some(txn) = entry.ledger.remove(position, &entry.member_pos) {
                    entry.history.push(*at, *by, Activity::TransactionDeleted { txn: Box::new(txn) });
                }
            }
            Record::PaymentRecorded { group, payment } => {
                let Some(entry) = self.groups.get_mut(*group) else {
                    return fail("unknown group");
                };
                if !entry.ledger.add_payment(payment.clone(), &entry.member_pos) {
                    return fail("payment out of order, not positive or naming a non-member");
                }
                entry.note_key(payment.by, payment.key.as_ref(), KeyRef::Payment(payment.id));
                entry.history.push(
                    payment.created_at,
                    payment.by,
                    Activity::PaymentRecorded { payment: payment.clone() },
                );
                self.next_payment_id = self.next_payment_id.max(payment.id + 1);
            }
            Record::SettlementRecorded { group, payments, by, at } => {
                let Some(entry) = self.groups.get_mut(*group) else {
                    return fail("unknown group");
                };
                // All or nothing: check every payment before applying any.
                let mut last = entry.ledger.payments().last().map_or(0, |p| p.id);
                for p in payments {
                    let known = entry.member_pos.contains_key(&p.from) && entry.member_pos.contains_key(&p.to);
                    if p.id <= last || !known || !p.is_valid() {
                        return fail("settlement payment out of order, not positive or naming a non-member");
                    }
                    last = p.id;
                }
                for p in payments {
                    entry.ledger.add_payment(p.clone(), &entry.member_pos);
                }
                entry.history.push(*at, *by, Activity::SettlementRecorded { payments: payments.clone() });
                self.next_payment_id = self.next_payment_id.max(last + 1);
            }
            Record::PaymentDeleted { group, payment, by, at } => {
                let Some(entry) = self.groups.get_mut(*group) else {
                    return fail("unknown group");
                };
                let Some(payment) = entry.ledger.remove_payment(*payment, &entry.member_pos) else {
                    return fail("unknown payment");
                };
                entry.history.push(*at, *by, Activity::PaymentDeleted { payment });
            }
            Record::GroupCurrencySet { group, currency, by, at } => {
                let Some(entry) = self.groups.get_mut(*group) else {
                    return fail("unknown group");
                };
                if !crate::proto::validate_currency(currency) {
                    return fail("not a currency code");
                }
                entry.currency = currency.clone();
                entry.history.push(*at, *by, Activity::CurrencySet { currency: currency.clone() });
            }
            Record::GroupPasswordSet { group, password_hash, by, at } => {
                let Some(entry) = self.groups.get_mut(*group) else {
                    return fail("unknown group");
                };
                entry.password_hash = password_hash.clone();
                entry.history.push(*at, *by, Activity::PasswordChanged { has_password: password_hash.is_some() });
            }
        }
        Ok(())
    }

    fn group(&self, id: GroupId) -> Result<&Group, Error> {
        self.groups.get(id).ok_or_else(group_not_found)
    }

    /// The group named `name`, if it exists and `user` is a member.
    fn member_group(&self, user: UserId, name: &str) -> Result<(GroupId, &Group), Error> {
        let id = self.groups.find(name).ok_or_else(group_not_found)?;
        let entry = self.group(id)?;
        if !entry.is_member(user) {
            return Err(Error::new(Code::NotMember, "Not a member of this group"));
        }
        Ok((id, entry))
    }

    /// Checks the invariants every state must keep; for tests, fuzzing and after recovery.
    pub fn check_invariants(&self) -> Result<(), String> {
        for (_, group) in self.groups.iter() {
            if group.ledger.balance_sum() != 0 {
                return Err(format!("balances of group {} do not sum to zero", group.name));
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
            if let Some(txn) = group.ledger.transactions().iter().find(|t| !t.is_balanced()) {
                return Err(format!("transaction {} is unbalanced", txn.id));
            }
        }
        Ok(())
    }
}

fn bad_request(message: impl Into<String>) -> Error {
    Error::new(Code::BadRequest, message)
}

fn group_not_found() -> Error {
    Error::new(Code::GroupNotFound, "Group not found")
}

fn internal() -> Error {
    Error::new(Code::Internal, "Internal server error")
}

#[cfg(test)]
mod tests;
