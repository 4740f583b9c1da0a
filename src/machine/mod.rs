//! The state machine: users, groups, transactions, balances, settlement.
//!
//! Pure and synchronous: no sockets, files or clocks (the caller passes `now`), so tests and fuzzers
//! drive it directly. `execute` validates a request and either finishes it (`Step::Done`) or, for the
//! deliberately slow password work, hands back a `HashJob` that the caller runs elsewhere and feeds to
//! `resume`. Every change is made by `apply(record)`, the same path recovery replays, and the records
//! are returned so storage can persist them. A rejected request changes nothing.

pub mod groups;
pub mod image;
pub mod ledger;
pub mod record;
pub mod users;

use serde_json::{json, Map, Value};

use crate::money::{split_equal, Cents};
use crate::proto::{Code, Error, Reply, Request, TxnRef};
use crate::settle;

pub use groups::{Group, GroupId};
pub use ledger::{Transaction, TxnId};
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
    /// The pushed message: always has a `type` key.
    pub message: Value,
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

/// Slow password work the machine needs done off the event loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashWork {
    Hash { password: String },
    Verify { password: String, phc: String },
}

/// The result of `HashWork`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashDone {
    Hashed(String),
    Verified(bool),
    /// Hashing itself failed (should not happen); the request gets an error and changes nothing.
    Failed,
}

/// Where a request continues once its password work is done. Holds validated, owned inputs.
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
    },
    JoinGroup {
        group: GroupId,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashJob {
    pub work: HashWork,
    pub resume: Resume,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Done(Outcome),
    Hash(HashJob),
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
}

impl Machine {
    pub fn new() -> Machine {
        Machine { next_txn_id: 1, ..Machine::default() }
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
                Ok(Step::Hash(HashJob { work: HashWork::Hash { password }, resume: Resume::Signup { username } }))
            }
            Request::Login { username, password } => {
                let user = self.users.find(&username);
                let phc = user
                    .and_then(|u| self.users.get(u))
                    .map_or(DUMMY_PASSWORD_HASH.to_string(), |u| u.password_hash.clone());
                Ok(Step::Hash(HashJob { work: HashWork::Verify { password, phc }, resume: Resume::Login { user } }))
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
            Request::CreateGroup { group, password } => {
                groups::validate_group_name(&group).map_err(bad_request)?;
                if self.groups.find(&group).is_some() {
                    return Err(Error::new(Code::GroupExists, "Group already exists"));
                }
                if password.is_empty() {
                    return done(self.create_group(user, group, None, now));
                }
                users::validate_password("password", &password).map_err(bad_request)?;
                Ok(Step::Hash(HashJob { work: HashWork::Hash { password }, resume: Resume::CreateGroup { group } }))
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
                    Some(phc) => Ok(Step::Hash(HashJob {
                        work: HashWork::Verify { password, phc: phc.clone() },
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
            Request::AddTransaction { group, amount, description, split_between, include_payer } => {
                let (id, entry) = self.member_group(user, &group)?;
                if description.chars().count() > DESCRIPTION_CHARS_MAX {
                    return Err(bad_request(format!(
                        "Field 'description' must be at most {DESCRIPTION_CHARS_MAX} characters"
                    )));
                }
                if split_between.len() > SPLIT_NAMES_MAX {
                    return Err(bad_request(format!("Field 'split_between' names more than {SPLIT_NAMES_MAX}")));
                }
                let mut split_ids: Vec<UserId> = Vec::with_capacity(split_between.len());
                for name in &split_between {
                    let member = self.users.find(name).filter(|&m| entry.is_member(m));
                    let member = member.ok_or_else(|| Error::new(Code::NotInGroup, format!("{name} not in group")))?;
                    if !split_ids.contains(&member) {
                        split_ids.push(member);
                    }
                }
                // The payer's own share counts once, even if they also listed themselves.
                let mut participants = split_ids.clone();
                if include_payer && !participants.contains(&user) {
                    participants.push(user);
                }
                let shares = split_equal(amount, participants.len()).ok_or_else(|| {
                    bad_request("Field 'split_between' must name at least one member (or set include_payer)")
                })?;
                let txn = Transaction {
                    id: self.next_txn_id,
                    payer: user,
                    amount,
                    description,
                    split_between: split_ids,
                    include_payer,
                    paid: vec![(user, amount)],
                    owed: participants.into_iter().zip(shares).collect(),
                    created_at: now,
                };
                let record = Record::TransactionAdded { group: id, txn };
                self.apply_own(&record);
                let entry = self.group(id)?;
                let txn = entry.ledger.transactions().last().ok_or_else(internal)?;
                let view = self.transaction_json(txn);
                let message = json!({
                    "type": "notification",
                    "event": "transaction_added",
                    "group": entry.name,
                    "message": format!("{} added ₹{} expense", self.users.name(user), txn.amount),
                    "transaction": view.clone(),
                });
                done(Outcome {
                    reply: Reply::message("Transaction added").with("transaction", view),
                    records: vec![record],
                    events: vec![Event { group: id, message }],
                })
            }
            Request::ViewTransactions { group } => {
                let (_, entry) = self.member_group(user, &group)?;
                let list: Vec<Value> = entry.ledger.transactions().iter().map(|t| self.transaction_json(t)).collect();
                done(Outcome::reply(Reply::ok().with("transactions", list)))
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
                        .position_of(txn_id)
                        .and_then(|p| txns.get(p))
                        .ok_or_else(|| Error::new(Code::TransactionNotFound, "Transaction not found"))?,
                };
                let view = self.transaction_json(txn);
                let message = json!({
                    "type": "notification",
                    "event": "transaction_deleted",
                    "group": entry.name,
                    "message": format!(
                        "{} deleted ₹{} expense '{}' by {}",
                        self.users.name(user), txn.amount, txn.description, self.users.name(txn.payer)
                    ),
                    "transaction": view,
                });
                let record = Record::TransactionDeleted { group: id, txn: txn.id, by: user, at: now };
                self.apply_own(&record);
                done(Outcome {
                    reply: Reply::message("Transaction deleted"),
                    records: vec![record],
                    events: vec![Event { group: id, message }],
                })
            }
            Request::ViewBalances { group } => {
                let (_, entry) = self.member_group(user, &group)?;
                let mut balances = Map::new();
                for (&member, &cents) in entry.members.iter().zip(&entry.ledger.balances) {
                    balances.insert(self.users.name(member).to_string(), cents.to_json());
                }
                done(Outcome::reply(Reply::ok().with("balances", balances)))
            }
            Request::Settle { group, method } => {
                let (id, entry) = self.member_group(user, &group)?;
                // Order by name so ties break by name, as documented.
                let mut named: Vec<(&str, Cents)> =
                    entry.members.iter().zip(&entry.ledger.balances).map(|(&m, &c)| (self.users.name(m), c)).collect();
                named.sort_by(|a, b| a.0.cmp(b.0));
                let net: Vec<i64> = named.iter().map(|(_, c)| c.0).collect();
                let plan = settle::plan(&net, method);
                let settlements: Vec<Value> = plan
                    .transfers
                    .iter()
                    .map(|t| json!({"from": named[t.from].0, "to": named[t.to].0, "amount": Cents(t.amount).to_json()}))
                    .collect();
                let message = json!({
                    "type": "settlement",
                    "event": "settle_requested",
                    "group": entry.name,
                    "by": self.users.name(user),
                    "message": format!("{} asked to settle {}", self.users.name(user), entry.name),
                    "data": settlements.clone(),
                });
                let reply = Reply::ok()
                    .with("settlements", settlements)
                    .with("method", plan.method.as_str())
                    .with("transfers", plan.transfers.len())
                    .with("proven_minimal", plan.proven_minimal)
                    .with("lower_bound", plan.lower_bound);
                done(Outcome { reply, records: Vec::new(), events: vec![Event { group: id, message }] })
            }
            Request::Signup { .. } | Request::Login { .. } | Request::Logout => Err(internal()),
        }
    }

    /// Continues a request after its password work. Re-checks what may have changed meanwhile (two
    /// signups for one name can both be hashing at once).
    pub fn resume(&mut self, session: &mut Session, resume: Resume, done: HashDone, now: Millis) -> Outcome {
        self.resume_inner(session, resume, done, now).unwrap_or_else(Outcome::error)
    }

    fn resume_inner(
        &mut self,
        session: &mut Session,
        resume: Resume,
        done: HashDone,
        now: Millis,
    ) -> Result<Outcome, Error> {
        match (resume, done) {
            (_, HashDone::Failed) => Err(internal()),
            (Resume::Signup { username }, HashDone::Hashed(password_hash)) => {
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
            (Resume::Login { user: Some(user) }, HashDone::Verified(true)) => {
                session.user = Some(user);
                session.failed_logins = 0;
                Ok(Outcome::reply(Reply::message("Login successful")))
            }
            (Resume::Login { .. }, HashDone::Verified(_)) => {
                session.failed_logins = session.failed_logins.saturating_add(1);
                Err(Error::new(Code::InvalidCredentials, "Invalid credentials"))
            }
            (Resume::CreateGroup { group }, HashDone::Hashed(phc)) => match session.user {
                None => Err(Error::new(Code::NotAuthenticated, "Not authenticated")),
                Some(_) if self.groups.find(&group).is_some() => {
                    Err(Error::new(Code::GroupExists, "Group already exists"))
                }
                Some(user) => Ok(self.create_group(user, group, Some(phc), now)),
            },
            (Resume::JoinGroup { group }, HashDone::Verified(ok)) => match session.user {
                None => Err(Error::new(Code::NotAuthenticated, "Not authenticated")),
                Some(_) if !ok => Err(Error::new(Code::InvalidGroupPassword, "Invalid group password")),
                Some(user) if self.group(group)?.is_member(user) => Ok(Outcome::reply(Reply::message("Joined group"))),
                Some(user) => Ok(self.join_group(user, group, now)),
            },
            _ => Err(internal()),
        }
    }

    fn create_group(&mut self, user: UserId, name: String, password_hash: Option<String>, now: Millis) -> Outcome {
        let record = Record::GroupCreated { group: self.groups.next_id(), name, creator: user, password_hash, at: now };
        self.apply_own(&record);
        Outcome { reply: Reply::message("Group created successfully"), records: vec![record], events: Vec::new() }
    }

    fn join_group(&mut self, user: UserId, group: GroupId, now: Millis) -> Outcome {
        let record = Record::MemberJoined { group, user, at: now };
        self.apply_own(&record);
        let name = self.users.name(user);
        let group_name = self.groups.get(group).map_or("", |g| g.name.as_str());
        let message = json!({
            "type": "notification",
            "event": "member_joined",
            "group": group_name,
            "message": format!("{name} joined {group_name}"),
            "member": name,
        });
        Outcome { reply: Reply::message("Joined group"), records: vec![record], events: vec![Event { group, message }] }
    }

    /// Applies a record this machine just produced from a validated request: it fits by construction.
    fn apply_own(&mut self, record: &Record) {
        let applied = self.apply(record);
        debug_assert!(applied.is_ok(), "own record must apply: {applied:?}");
    }

    /// Applies one record: the only way state changes. Used by `execute` and by recovery; a record that
    /// does not fit (unknown ids, duplicate names, unbalanced transaction) changes nothing and is an error.
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
                if !self.groups.insert(*group, name.clone(), password_hash.clone(), *creator, *at) {
                    return fail("group id out of order or name taken");
                }
                return self.apply(&Record::MemberJoined { group: *group, user: *creator, at: *at });
            }
            Record::MemberJoined { group, user, .. } => {
                let (Some(entry), Some(member)) = (self.groups.get_mut(*group), self.users.get_mut(*user)) else {
                    return fail("unknown group or user");
                };
                if !entry.add_member(*user) {
                    return fail("already a member");
                }
                member.groups.push(*group);
            }
            Record::TransactionAdded { group, txn } => {
                let Some(entry) = self.groups.get_mut(*group) else {
                    return fail("unknown group");
                };
                if !entry.ledger.add(txn.clone(), &entry.member_pos) {
                    return fail("transaction unbalanced, out of order or naming a non-member");
                }
                self.next_txn_id = self.next_txn_id.max(txn.id + 1);
            }
            Record::TransactionDeleted { group, txn, .. } => {
                let Some(entry) = self.groups.get_mut(*group) else {
                    return fail("unknown group");
                };
                let Some(position) = entry.ledger.position_of(*txn) else {
                    return fail("unknown transaction");
                };
                entry.ledger.remove(position, &entry.member_pos);
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

    /// The original's transaction shape plus `id` and `created_at`.
    fn transaction_json(&self, txn: &Transaction) -> Value {
        let names: Vec<&str> = txn.split_between.iter().map(|&u| self.users.name(u)).collect();
        json!({
            "id": txn.id,
            "payer": self.users.name(txn.payer),
            "amount": txn.amount.to_json(),
            "description": txn.description,
            "split_between": names,
            "include_payer": txn.include_payer,
            "created_at": txn.created_at,
        })
    }

    /// Checks the invariants every state must keep; for tests, fuzzing and after recovery.
    pub fn check_invariants(&self) -> Result<(), String> {
        for (_, group) in self.groups.iter() {
            if group.ledger.balance_sum() != 0 {
                return Err(format!("balances of group {} do not sum to zero", group.name));
            }
            if group.ledger.balances.len() != group.members.len() {
                return Err(format!("group {} has a balance slot per member mismatch", group.name));
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
