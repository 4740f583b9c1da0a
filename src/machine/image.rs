//! The whole state as one serialisable image, for snapshots.
//!
//! Written from borrowed views (no copy of a large state), read back into owned values and rebuilt
//! through the same checks as records: ids dense, members known, every transaction balanced. Balances
//! are not stored; they are recomputed from the transactions, so a snapshot cannot carry a wrong one.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::groups::KeyRef;
use super::history::{Activity, Entry, History};
use super::ledger::{Payment, PaymentId, Transaction};
use super::{ApplyError, GroupId, Machine, TxnId, UserId};

#[derive(Serialize)]
struct StateRef<'a> {
    next_txn_id: TxnId,
    next_payment_id: PaymentId,
    users: Vec<UserRef<'a>>,
    groups: Vec<GroupRef<'a>>,
}

#[derive(Serialize)]
struct UserRef<'a> {
    name: &'a str,
    password_hash: &'a str,
    groups: &'a [GroupId],
}

#[derive(Serialize)]
struct GroupRef<'a> {
    name: &'a str,
    password_hash: Option<&'a str>,
    creator: UserId,
    created_at: i64,
    currency: &'a str,
    members: &'a [UserId],
    slots: &'a [UserId],
    transactions: &'a [Transaction],
    payments: &'a [Payment],
    history: &'a [Entry],
}

/// Fields added after the first image format have defaults, so older snapshots still load. Groups
/// are kept as raw JSON text here and parsed apart (`parse_groups`), several at a time.
#[derive(Deserialize)]
struct State<'a> {
    next_txn_id: TxnId,
    #[serde(default = "first_id")]
    next_payment_id: PaymentId,
    users: Vec<UserImage>,
    #[serde(borrow)]
    groups: Vec<&'a RawValue>,
}

/// Parses the groups' images, on up to `available_parallelism` threads when there are several (a
/// snapshot is mostly its groups' transactions, and parsing them is most of a restart). Each thread
/// takes a contiguous run of about the same number of bytes; the result is in the original order.
fn parse_groups(raw: &[&RawValue]) -> Result<Vec<GroupImage>, ApplyError> {
    let parse = |r: &RawValue| {
        serde_json::from_str::<GroupImage>(r.get())
            .map_err(|e| ApplyError(format!("snapshot is not a valid image: {e}")))
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(raw.len());
    if threads <= 1 {
        return raw.iter().map(|r| parse(r)).collect();
    }
    let total: usize = raw.iter().map(|r| r.get().len()).sum();
    let share = total.div_ceil(threads).max(1);
    let mut runs: Vec<&[&RawValue]> = Vec::with_capacity(threads);
    let (mut start, mut bytes) = (0, 0);
    for (i, r) in raw.iter().enumerate() {
        bytes += r.get().len();
        if bytes >= share {
            runs.push(&raw[start..=i]);
            (start, bytes) = (i + 1, 0);
        }
    }
    if start < raw.len() {
        runs.push(&raw[start..]);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            runs.iter().map(|run| scope.spawn(move || run.iter().map(|r| parse(r)).collect::<Vec<_>>())).collect();
        let mut groups = Vec::with_capacity(raw.len());
        for handle in handles {
            let parsed = handle.join().map_err(|_| ApplyError("snapshot: a parsing thread failed".into()))?;
            for group in parsed {
                groups.push(group?);
            }
        }
        Ok(groups)
    })
}

#[derive(Deserialize)]
struct UserImage {
    name: String,
    password_hash: String,
    groups: Vec<GroupId>,
}

#[derive(Deserialize)]
struct GroupImage {
    name: String,
    password_hash: Option<String>,
    creator: UserId,
    created_at: i64,
    #[serde(default = "default_currency")]
    currency: String,
    members: Vec<UserId>,
    /// Empty in older images: then the members are the slots.
    #[serde(default)]
    slots: Vec<UserId>,
    transactions: Vec<Transaction>,
    #[serde(default)]
    payments: Vec<Payment>,
    #[serde(default)]
    history: Vec<Entry>,
}

fn first_id() -> PaymentId {
    1
}

fn default_currency() -> String {
    super::DEFAULT_CURRENCY.to_string()
}

impl Machine {
    /// Serialises the whole state to `out` as one JSON document.
    pub fn write_image(&self, out: &mut impl std::io::Write) -> serde_json::Result<()> {
        let state = StateRef {
            next_txn_id: self.next_txn_id,
            next_payment_id: self.next_payment_id,
            users: self
                .users
                .iter()
                .map(|(_, u)| UserRef { name: &u.name, password_hash: &u.password_hash, groups: &u.groups })
                .collect(),
            groups: self
                .groups
                .iter()
                .map(|(_, g)| GroupRef {
                    name: &g.name,
                    password_hash: g.password_hash.as_deref(),
                    creator: g.creator,
                    created_at: g.created_at,
                    currency: &g.currency,
                    members: &g.members,
                    slots: &g.slots,
                    transactions: g.ledger.transactions(),
                    payments: g.ledger.payments(),
                    history: g.history.entries(),
                })
                .collect(),
        };
        serde_json::to_writer(out, &state)
    }

    /// Rebuilds a machine from `write_image`'s output, checking everything a record would be checked for.
    pub fn read_image(bytes: &[u8]) -> Result<Machine, ApplyError> {
        let state: State =
            serde_json::from_slice(bytes).map_err(|e| ApplyError(format!("snapshot is not a valid image: {e}")))?;
        let groups = parse_groups(&state.groups)?;
        let mut machine = Machine::new();
        for (id, user) in state.users.iter().enumerate() {
            if !machine.users.insert(id as UserId, user.name.clone(), user.password_hash.clone()) {
                return Err(ApplyError(format!("snapshot: duplicate user {}", user.name)));
            }
        }
        for (id, image) in groups.into_iter().enumerate() {
            let id = id as GroupId;
            let known = |u: &UserId| (*u as usize) < state.users.len();
            let slots = if image.slots.is_empty() { image.members.clone() } else { image.slots };
            if !known(&image.creator) || !slots.iter().all(known) {
                return Err(ApplyError(format!("snapshot: group {} names an unknown user", image.name)));
            }
            if !vocab::is_currency_code(&image.currency) {
                return Err(ApplyError(format!("snapshot: group {} has a bad currency", image.name)));
            }
            let inserted = machine.groups.insert(
                id,
                image.name.clone(),
                image.password_hash,
                image.creator,
                image.created_at,
                image.currency,
            );
            if !inserted {
                return Err(ApplyError(format!("snapshot: duplicate group {}", image.name)));
            }
            let group = machine.groups.get_mut(id).ok_or_else(|| ApplyError("snapshot: group vanished".into()))?;
            if !group.restore_members(&slots, &image.members) {
                return Err(ApplyError(format!("snapshot: members of {} do not fit its slots", image.name)));
            }
            for payment in image.payments {
                let payment_id = payment.id;
                if payment_id >= state.next_payment_id.max(1) || !group.ledger.add_payment(payment, &group.member_pos) {
                    return Err(ApplyError(format!(
                        "snapshot: payment {payment_id} does not fit group {}",
                        image.name
                    )));
                }
            }
            group.history = History::restore(image.history)
                .ok_or_else(|| ApplyError(format!("snapshot: history of {} is not numbered 1, 2, 3...", image.name)))?;
            // Idempotency keys, from the entries that made things (deleted ones included).
            let mut keys = Vec::new();
            for entry in group.history.entries() {
                match &entry.what {
                    Activity::TransactionAdded { id, key, .. } => {
                        keys.push((entry.by, key.clone(), KeyRef::Transaction(*id)))
                    }
                    Activity::PaymentRecorded { payment } => {
                        keys.push((payment.by, payment.key.clone(), KeyRef::Payment(payment.id)))
                    }
                    _ => {}
                }
            }
            for (user, key, made) in keys {
                group.note_key(user, key.as_ref(), made);
            }
            for txn in image.transactions {
                let txn_id = txn.id;
                if txn_id >= state.next_txn_id || !group.ledger.add(txn, &group.member_pos) {
                    return Err(ApplyError(format!(
                        "snapshot: transaction {txn_id} does not fit group {}",
                        image.name
                    )));
                }
            }
        }
        // Each user's group list must be exactly the groups that list them, in the user's own order.
        for (id, image) in state.users.into_iter().enumerate() {
            let id = id as UserId;
            let mut listed: Vec<GroupId> = image.groups.clone();
            listed.sort_unstable();
            let mut actual: Vec<GroupId> =
                machine.groups.iter().filter(|(_, g)| g.is_member(id)).map(|(g, _)| g).collect();
            actual.sort_unstable();
            if listed != actual {
                return Err(ApplyError(format!("snapshot: group list of {} does not match membership", image.name)));
            }
            if let Some(user) = machine.users.get_mut(id) {
                user.groups = image.groups;
            }
        }
        machine.next_txn_id = state.next_txn_id.max(1);
        machine.next_payment_id = state.next_payment_id.max(1);
        Ok(machine)
    }
}
