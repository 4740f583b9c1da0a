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
/// are kept as raw JSON text here, to be parsed apart (`GroupImage::parse`): the caller may parse
/// them on several threads, the machine itself never starts one.
#[derive(Deserialize)]
struct State<'a> {
    next_txn_id: TxnId,
    #[serde(default = "first_id")]
    next_payment_id: PaymentId,
    users: Vec<UserImage>,
    #[serde(borrow)]
    groups: Vec<&'a RawValue>,
}

/// An image read down to its groups: everything but the groups parsed, each group still its raw JSON
/// text (`raw_groups`). A snapshot is mostly its groups' transactions, so parsing them is most of a
/// restart; this split lets the store do that part in parallel.
pub struct ImageParts<'a> {
    state: State<'a>,
}

impl<'a> ImageParts<'a> {
    /// Each group's JSON text, in group id order: parse each with `GroupImage::parse`, and hand the
    /// results back in the same order to `Machine::from_image_parts`.
    pub fn raw_groups(&self) -> &[&'a RawValue] {
        &self.state.groups
    }
}

#[derive(Deserialize)]
struct UserImage {
    name: String,
    password_hash: String,
    groups: Vec<GroupId>,
}

/// One group as the image holds it: parsed, not yet checked (`Machine::from_image_parts` checks it).
#[derive(Deserialize)]
pub struct GroupImage {
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

impl GroupImage {
    /// Parses one group's raw JSON text (one of `ImageParts::raw_groups`). Pure: safe to call from
    /// any thread.
    pub fn parse(json: &str) -> Result<GroupImage, ApplyError> {
        serde_json::from_str(json).map_err(|e| ApplyError(format!("snapshot is not a valid image: {e}")))
    }
}

fn first_id() -> PaymentId {
    1
}

fn default_currency() -> String {
    crate::proto::DEFAULT_CURRENCY.to_string()
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

    /// Rebuilds a machine from `write_image`'s output, checking everything a record would be checked
    /// for. Parses the groups one after another; the store's snapshot loading parses them in parallel
    /// through the same three steps (`read_image_parts`, `GroupImage::parse`, `from_image_parts`).
    pub fn read_image(bytes: &[u8]) -> Result<Machine, ApplyError> {
        let parts = Machine::read_image_parts(bytes)?;
        let groups = parts.raw_groups().iter().map(|raw| GroupImage::parse(raw.get())).collect::<Result<_, _>>()?;
        Machine::from_image_parts(parts, groups)
    }

    /// Parses an image down to its groups, which stay raw JSON text (see `ImageParts`).
    pub fn read_image_parts(bytes: &[u8]) -> Result<ImageParts<'_>, ApplyError> {
        let state =
            serde_json::from_slice(bytes).map_err(|e| ApplyError(format!("snapshot is not a valid image: {e}")))?;
        Ok(ImageParts { state })
    }

    /// Rebuilds a machine from an image's parts and its parsed groups (`groups[i]` parsed from
    /// `parts.raw_groups()[i]`), checking everything a record would be checked for.
    pub fn from_image_parts(parts: ImageParts<'_>, groups: Vec<GroupImage>) -> Result<Machine, ApplyError> {
        let state = parts.state;
        assert_eq!(groups.len(), state.groups.len(), "one parsed group for each raw group of the image");
        let mut machine = Machine::new();
        for (id, user) in state.users.iter().enumerate() {
            if !machine.users.insert(id as UserId, user.name.clone(), user.password_hash.clone()) {
                return Err(ApplyError(format!("snapshot: duplicate user {}", user.name)));
            }
        }
        for (id, image) in groups.into_iter().enumerate() {
            machine.restore_group(id as GroupId, image, &state)?;
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

    /// Adds group `id` from its image, after the users: members known, payments and transactions
    /// fitting the group and numbered below the image's next ids, history numbered 1, 2, 3...
    fn restore_group(&mut self, id: GroupId, image: GroupImage, state: &State<'_>) -> Result<(), ApplyError> {
        let known = |u: &UserId| (*u as usize) < state.users.len();
        let slots = if image.slots.is_empty() { image.members.clone() } else { image.slots };
        if !known(&image.creator) || !slots.iter().all(known) {
            return Err(ApplyError(format!("snapshot: group {} names an unknown user", image.name)));
        }
        if !crate::proto::validate_currency(&image.currency) {
            return Err(ApplyError(format!("snapshot: group {} has a bad currency", image.name)));
        }
        let inserted = self.groups.insert(
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
        let group = self.groups.get_mut(id).ok_or_else(|| ApplyError("snapshot: group vanished".into()))?;
        if !group.restore_members(&slots, &image.members) {
            return Err(ApplyError(format!("snapshot: members of {} do not fit its slots", image.name)));
        }
        for payment in image.payments {
            let payment_id = payment.id;
            if payment_id >= state.next_payment_id.max(1) || !group.ledger.add_payment(payment, &group.member_pos) {
                return Err(ApplyError(format!("snapshot: payment {payment_id} does not fit group {}", image.name)));
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
                return Err(ApplyError(format!("snapshot: transaction {txn_id} does not fit group {}", image.name)));
            }
        }
        Ok(())
    }
}
