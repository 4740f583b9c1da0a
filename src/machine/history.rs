//! A group's activity history: who did what and when, newest last in memory, newest first on the wire.
//!
//! Entries are derived in `Machine::apply` from records (never written by `execute` directly), so log
//! replay rebuilds them; snapshots carry them. What leaves the ledger moves into the history (a deleted
//! transaction or payment, the old version of an edited one), so it stays visible. An addition keeps
//! only its id and amount: the transaction itself is in the ledger (its description as added is there,
//! or in the first later entry that changed it: `Group::description_as_added`), and copying every
//! transaction, or even its text, into the history would double the memory and the snapshot. An entry
//! is 48 bytes: every variant holds at most 16 (large payloads are boxed).
//!
//! An entry's `id` is the group's sequence number (`seq` on the wire): 1 for the group's creation,
//! +1 per change, never reused. It is derived here, in apply order, so replay and replication give the
//! same numbers; records made since it existed also carry it, and `Machine::apply` refuses one whose
//! number is not the next. Only the newest `kept` entries are kept (`trim`): older ones are gone for
//! `history` and `subscribe` (the `gap` answer), but their numbers stay used.

use serde::{Deserialize, Serialize};

use super::groups::Convert;
use super::ledger::{Payment, Transaction, TxnId};
use super::recurring::{Rule, RuleId};
use super::UserId;
use crate::money::Cents;

/// What happened. Externally tagged in snapshots (`{"member_joined":{...}}`): an internally tagged
/// enum makes serde buffer every entry on the way in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    GroupCreated,
    CurrencySet {
        currency: Box<str>,
    },
    /// `set_group_convert` (or `create_group` with `convert`).
    ConvertSet {
        convert: Convert,
    },
    MemberJoined {
        member: UserId,
    },
    MemberLeft {
        member: UserId,
    },
    /// Older images also carry the description and the key here; they are ignored on load (the
    /// transaction has both).
    TransactionAdded {
        id: TxnId,
        amount: Cents,
    },
    TransactionEdited {
        before: Box<Transaction>,
        after: Box<Transaction>,
    },
    TransactionDeleted {
        txn: Box<Transaction>,
    },
    PaymentRecorded {
        payment: Box<Payment>,
    },
    /// `settle` with `record: true`: the whole plan, one entry.
    SettlementRecorded {
        payments: Box<[Payment]>,
    },
    PaymentDeleted {
        payment: Box<Payment>,
    },
    PasswordChanged {
        has_password: bool,
    },
    /// `add_category`: the name added.
    CategoryAdded {
        name: Box<str>,
    },
    /// `restore_transaction`: the transaction as it came back (the deleted one, one version on).
    TransactionRestored {
        txn: Box<Transaction>,
    },
    /// `restore_payment`: the payment as it came back.
    PaymentRestored {
        payment: Box<Payment>,
    },
    /// An occurrence of a recurring rule: a transaction the server added (`TransactionAdded`'s
    /// fields, and the rule that made it). Its event is `transaction_added`, with `rule`.
    RecurringAdded {
        occurrence: Box<Occurrence>,
    },
    /// `add_recurring`: the rule as made.
    RuleAdded {
        rule: Box<Rule>,
    },
    /// `edit_recurring`: the rule as it is after the edit.
    RuleEdited {
        rule: Box<Rule>,
    },
    /// `stop_recurring`, or stopped by the server because `missing` is no longer a member.
    RuleStopped {
        rule: RuleId,
        missing: Option<UserId>,
    },
}

/// What an occurrence's history entry keeps (the transaction itself is in the ledger).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occurrence {
    pub id: TxnId,
    pub amount: Cents,
    pub rule: RuleId,
}

impl Activity {
    /// The wire name of the event (`"transaction_added"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Activity::GroupCreated => "group_created",
            Activity::CurrencySet { .. } => "currency_set",
            Activity::ConvertSet { .. } => "convert_set",
            Activity::MemberJoined { .. } => "member_joined",
            Activity::MemberLeft { .. } => "member_left",
            Activity::TransactionAdded { .. } => "transaction_added",
            Activity::TransactionEdited { .. } => "transaction_edited",
            Activity::TransactionDeleted { .. } => "transaction_deleted",
            Activity::PaymentRecorded { .. } => "payment_recorded",
            Activity::SettlementRecorded { .. } => "settlement_recorded",
            Activity::PaymentDeleted { .. } => "payment_deleted",
            Activity::PasswordChanged { .. } => "group_password_changed",
            Activity::CategoryAdded { .. } => "category_added",
            Activity::TransactionRestored { .. } => "transaction_restored",
            Activity::PaymentRestored { .. } => "payment_restored",
            Activity::RecurringAdded { .. } => "transaction_added",
            Activity::RuleAdded { .. } => "recurring_added",
            Activity::RuleEdited { .. } => "recurring_edited",
            Activity::RuleStopped { .. } => "recurring_stopped",
        }
    }
}

/// One history entry. `id` is the group's own sequence: 1, 2, 3, ...
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: u64,
    /// Server time, Unix milliseconds.
    pub at: i64,
    /// Who did it.
    pub by: UserId,
    pub what: Activity,
}

/// A group's history, oldest first: `entries[0]` has id `first` (1 unless trimmed).
#[derive(Debug)]
pub struct History {
    first: u64,
    entries: Vec<Entry>,
}

impl Default for History {
    fn default() -> History {
        History { first: 1, entries: Vec::new() }
    }
}

impl History {
    pub fn push(&mut self, at: i64, by: UserId, what: Activity) {
        let id = self.next_seq();
        self.entries.push(Entry { id, at, by, what });
    }

    /// The group's current sequence number: the id of its newest entry (0 before any).
    pub fn seq(&self) -> u64 {
        self.next_seq() - 1
    }

    /// The id the next entry will get.
    pub fn next_seq(&self) -> u64 {
        self.first + self.entries.len() as u64
    }

    /// The oldest id still kept (`next_seq` when none is).
    pub fn oldest(&self) -> u64 {
        self.first
    }

    /// The entry with id `id`, if it is kept.
    pub fn entry(&self, id: u64) -> Option<&Entry> {
        let position = usize::try_from(id.checked_sub(self.first)?).ok()?;
        self.entries.get(position)
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Keeps at most about `kept` entries (at least one): once more than an eighth over, the oldest are
    /// dropped down to `kept`, so the copy is paid once per `kept / 8` changes, not per change.
    pub fn trim(&mut self, kept: usize) {
        let kept = kept.max(1);
        if self.entries.len() > kept.saturating_add(kept / 8) {
            let drop = self.entries.len() - kept;
            self.entries.drain(..drop);
            self.first += drop as u64;
        }
    }

    /// Restores entries from a snapshot: ids consecutive (1, 2, 3, ..., or from where it was trimmed).
    pub fn restore(entries: Vec<Entry>) -> Option<History> {
        let first = entries.first().map_or(1, |e| e.id);
        let dense = first >= 1 && entries.iter().enumerate().all(|(i, e)| e.id == first + i as u64);
        dense.then_some(History { first, entries })
    }

    /// Up to `limit` entries older than `before` (all when `None`), newest first; and whether older
    /// ones remain.
    pub fn page(&self, before: Option<u64>, limit: usize) -> (Vec<&Entry>, bool) {
        let end = match before {
            Some(before) => (before.saturating_sub(self.first) as usize).min(self.entries.len()),
            None => self.entries.len(),
        };
        let start = end.saturating_sub(limit);
        (self.entries[start..end].iter().rev().collect(), start > 0)
    }

    /// Up to `limit` entries newer than `after`, oldest first, and whether newer ones remain; or, when
    /// some entry newer than `after` is no longer kept, `Err(oldest kept)`.
    pub fn after(&self, after: u64, limit: usize) -> Result<(Vec<&Entry>, bool), u64> {
        if after.saturating_add(1) < self.first {
            return Err(self.first);
        }
        let start = (after.saturating_add(1) - self.first).min(self.entries.len() as u64) as usize;
        let end = start.saturating_add(limit).min(self.entries.len());
        Ok((self.entries[start..end].iter().collect(), end < self.entries.len()))
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
        assert!(History::restore(h.entries()[1..].to_vec()).is_some(), "trimmed: starts at 2");
        assert!(History::restore(vec![h.entries()[0].clone(), h.entries()[2].clone()]).is_none());
    }

    #[test]
    fn after_lists_oldest_first_and_says_gap_once_trimmed() {
        let mut h = History::default();
        for i in 0..20 {
            h.push(i, 0, Activity::MemberJoined { member: i as UserId });
        }
        let ids =
            |r: Result<(Vec<&Entry>, bool), u64>| r.map(|(p, more)| (p.iter().map(|e| e.id).collect::<Vec<_>>(), more));
        assert_eq!(ids(h.after(0, 3)), Ok((vec![1, 2, 3], true)));
        assert_eq!(ids(h.after(18, 5)), Ok((vec![19, 20], false)));
        assert_eq!(ids(h.after(20, 5)), Ok((vec![], false)));
        assert_eq!(ids(h.after(99, 5)), Ok((vec![], false)));
        h.trim(8);
        assert_eq!((h.oldest(), h.seq(), h.entries().len()), (13, 20, 8));
        assert_eq!(ids(h.after(11, 5)), Err(13));
        assert_eq!(ids(h.after(12, 2)), Ok((vec![13, 14], true)));
        assert_eq!(h.entry(12), None);
        assert_eq!(h.entry(13).map(|e| e.id), Some(13));
        assert_eq!(ids(Ok(h.page(Some(15), 10))), Ok((vec![14, 13], false)));
        h.push(20, 0, Activity::GroupCreated);
        assert_eq!(h.seq(), 21, "numbers go on after a trim");
        let restored = History::restore(h.entries().to_vec()).expect("a trimmed history restores");
        assert_eq!((restored.oldest(), restored.seq()), (13, 21));
    }
}
