//! The whole state as one serialisable image, for snapshots.
//!
//! Written from borrowed views (no copy of a large state), read back into owned values and rebuilt
//! through the same checks as records: ids dense, members known, every transaction balanced. Balances
//! are not stored; they are recomputed from the transactions, so a snapshot cannot carry a wrong one.

use serde::{Deserialize, Serialize};

use super::ledger::Transaction;
use super::{ApplyError, GroupId, Machine, TxnId, UserId};

#[derive(Serialize)]
struct StateRef<'a> {
    next_txn_id: TxnId,
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
    members: &'a [UserId],
    transactions: &'a [Transaction],
}

#[derive(Deserialize)]
struct State {
    next_txn_id: TxnId,
    users: Vec<UserImage>,
    groups: Vec<GroupImage>,
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
    members: Vec<UserId>,
    transactions: Vec<Transaction>,
}

impl Machine {
    /// Serialises the whole state to `out` as one JSON document.
    pub fn write_image(&self, out: &mut impl std::io::Write) -> serde_json::Result<()> {
        let state = StateRef {
            next_txn_id: self.next_txn_id,
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
                    members: &g.members,
                    transactions: g.ledger.transactions(),
                })
                .collect(),
        };
        serde_json::to_writer(out, &state)
    }

    /// Rebuilds a machine from `write_image`'s output, checking everything a record would be checked for.
    pub fn read_image(bytes: &[u8]) -> Result<Machine, ApplyError> {
        let state: State =
            serde_json::from_slice(bytes).map_err(|e| ApplyError(format!("snapshot is not a valid image: {e}")))?;
        let mut machine = Machine::new();
        for (id, user) in state.users.iter().enumerate() {
            if !machine.users.insert(id as UserId, user.name.clone(), user.password_hash.clone()) {
                return Err(ApplyError(format!("snapshot: duplicate user {}", user.name)));
            }
        }
        for (id, image) in state.groups.into_iter().enumerate() {
            let id = id as GroupId;
            let known = |u: &UserId| (*u as usize) < state.users.len();
            if !known(&image.creator) || !image.members.iter().all(known) {
                return Err(ApplyError(format!("snapshot: group {} names an unknown user", image.name)));
            }
            if !machine.groups.insert(id, image.name.clone(), image.password_hash, image.creator, image.created_at) {
                return Err(ApplyError(format!("snapshot: duplicate group {}", image.name)));
            }
            let group = machine.groups.get_mut(id).ok_or_else(|| ApplyError("snapshot: group vanished".into()))?;
            for &member in &image.members {
                if !group.add_member(member) {
                    return Err(ApplyError(format!("snapshot: {} listed twice in {}", member, image.name)));
                }
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
        Ok(machine)
    }
}
