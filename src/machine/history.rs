//! A group's activity history: who did what and when, newest last in memory, newest first on the wire.
//!
//! Entries are derived in `Machine::apply` from records (never written by `execute` directly), so log
//! replay rebuilds them; snapshots carry them. What leaves the ledger moves into the history (a deleted
//! transaction or payment, the old version of an edited one), so it stays visible. An addition keeps
//! only a summary (id, amount, description, key): the transaction itself is in the ledger, and copying
//! every transaction into the history would double the memory and the snapshot.

use serde::{Deserialize, Serialize};

use super::ledger::{Payment, Transaction, TxnId};
use super::UserId;
use crate::money::Cents;

/// What happened. Externally tagged in snapshots (`{"member_joined":{...}}`): an internally tagged
/// enum makes serde buffer every entry on the way in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    GroupCreated,
    CurrencySet {
        currency: String,
    },
    MemberJoined {
        member: UserId,
    },
    MemberLeft {
        member: UserId,
    },
    TransactionAdded {
        id: TxnId,
        amount: Cents,
        description: String,
        /// The idempotency key it was added with (rebuilds the key index from a snapshot).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    TransactionEdited {
        before: Box<Transaction>,
        after: Box<Transaction>,
    },
    TransactionDeleted {
        txn: Box<Transaction>,
    },
    PaymentRecorded {
        payment: Payment,
    },
    /// `settle` with `record: true`: the whole plan, one entry.
    SettlementRecorded {
        payments: Vec<Payment>,
    },
    PaymentDeleted {
        payment: Payment,
    },
    PasswordChanged {
        has_password: bool,
    },
}

impl Activity {
    /// The wire name of the event (`"transaction_added"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Activity::GroupCreated => "group_created",
            Activity::CurrencySet { .. } => "currency_set",
            Activity::MemberJoined { .. } => "member_joined",
            Activity::MemberLeft { .. } => "member_left",
            Activity::TransactionAdded { .. } => "transaction_added",
            Activity::TransactionEdited { .. } => "transaction_edited",
            Activity::TransactionDeleted { .. } => "transaction_deleted",
            Activity::PaymentRecorded { .. } => "payment_recorded",
            Activity::SettlementRecorded { .. } => "settlement_recorded",
            Activity::PaymentDeleted { .. } => "payment_deleted",
            Activity::PasswordChanged { .. } => "group_password_changed",
        }
    }
}

/// One history entry. `id` is the group's own sequence: 1, 2, 3, ... (its position + 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: u64,
    /// Server time, Unix milliseconds.
    pub at: i64,
    /// Who did it.
    pub by: UserId,
    pub what: Activity,
}

/// A group's history, oldest first.
#[derive(Debug, Default)]
pub struct History {
    entries: Vec<Entry>,
}

impl History {
    pub fn push(&mut self, at: i64, by: UserId, what: Activity) {
        let id = self.entries.len() as u64 + 1;
        self.entries.push(Entry { id, at, by, what });
    }

    /// The entry with id `id` (ids are positions + 1).
    pub fn entry(&self, id: u64) -> Option<&Entry> {
        let position = usize::try_from(id).ok()?.checked_sub(1)?;
        self.entries.get(position)
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Restores entries from a snapshot: ids must be 1, 2, 3, ...
    pub fn restore(entries: Vec<Entry>) -> Option<History> {
        let dense = entries.iter().enumerate().all(|(i, e)| e.id == i as u64 + 1);
        dense.then_some(History { entries })
    }

    /// Up to `limit` entries older than `before` (all when `None`), newest first; and whether older
    /// ones remain.
    pub fn page(&self, before: Option<u64>, limit: usize) -> (Vec<&Entry>, bool) {
        let end = match before {
            Some(before) => (before.saturating_sub(1) as usize).min(self.entries.len()),
            None => self.entries.len(),
        };
        let start = end.saturating_sub(limit);
        (self.entries[start..end].iter().rev().collect(), start > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_newest_first() {
        let mut h = History::default();
        for i in 0..5 {
            h.push(i, 0, Activity::MemberJoined { member: i as UserId });
        }
        let ids = |(page, more): (Vec<&Entry>, bool)| (page.iter().map(|e| e.id).collect::<Vec<_>>(), more);
        assert_eq!(ids(h.page(None, 2)), (vec![5, 4], true));
        assert_eq!(ids(h.page(Some(4), 2)), (vec![3, 2], true));
        assert_eq!(ids(h.page(Some(2), 2)), (vec![1], false));
        assert_eq!(ids(h.page(Some(1), 2)), (vec![], false));
        assert_eq!(ids(h.page(Some(99), 10)), (vec![5, 4, 3, 2, 1], false));
        assert!(History::restore(h.entries().to_vec()).is_some());
        assert!(History::restore(h.entries()[1..].to_vec()).is_none());
    }
}
