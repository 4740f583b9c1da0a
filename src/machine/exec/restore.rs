//! Undo of a delete: `restore_transaction` and `restore_payment` bring a deleted one back with the
//! same id, from the history entry of its deletion (so only while that entry is kept). A transaction
//! comes back one version on (a client holding the deleted version sees a change); a payment, never
//! edited, at its first. Refused while anyone whose balance it moves has left the group (their
//! balance must stay zero), and when it is in the ledger already (never deleted, or restored).
//! History keeps both: the deletion's entry and the restore's.

use crate::machine::groups::Group;
use crate::machine::ledger::{Payment, Transaction};
use crate::machine::{
    misfit, Activity, Answer, ApplyError, Done, Error, KeyKind, Machine, Millis, Outcome, Record, UserId,
};

impl Machine {
    pub(in crate::machine) fn restore_transaction(
        &mut self,
        user: UserId,
        group: &str,
        txn: u64,
        now: Millis,
    ) -> Result<Outcome, Error> {
        let (id, entry) = self.member_group(user, group)?;
        if entry.ledger.transaction(txn).is_some() {
            return Err(Error::NotDeleted(KeyKind::Transaction));
        }
        let deleted = deleted_transaction(entry, txn).ok_or(Error::TransactionNotFound)?;
        self.check_former_untouched(entry, &deleted.effect())?;
        let restored = Transaction { version: deleted.version + 1, ..deleted };
        let answer = Answer::Transaction { done: Done::TransactionRestored, group: id, txn, repeated: false };
        self.commit(id, Record::TransactionRestored { group: id, txn: restored, by: user, at: now, seq: None }, answer)
    }

    pub(in crate::machine) fn restore_payment(
        &mut self,
        user: UserId,
        group: &str,
        payment: u64,
        now: Millis,
    ) -> Result<Outcome, Error> {
        let (id, entry) = self.member_group(user, group)?;
        if entry.ledger.payment(payment).is_some() {
            return Err(Error::NotDeleted(KeyKind::Payment));
        }
        let deleted = deleted_payment(entry, payment).ok_or(Error::PaymentNotFound)?;
        self.check_former_untouched(entry, &[(deleted.from, deleted.amount.0), (deleted.to, -deleted.amount.0)])?;
        let answer = Answer::PaymentRestored { group: id, payment };
        self.commit(id, Record::PaymentRestored { group: id, payment: deleted, by: user, at: now, seq: None }, answer)
    }

    pub(in crate::machine) fn apply_restore(&mut self, record: &Record) -> Result<(), ApplyError> {
        let (next_txn, next_payment) = (self.next_txn_id, self.next_payment_id);
        match record {
            Record::TransactionRestored { group, txn, by, at, .. } => {
                let Some(entry) = self.groups.get_mut(*group) else { return misfit("unknown group") };
                // Only an id the machine handed out comes back; the ledger refuses one it holds.
                if txn.id >= next_txn || !entry.ledger.reinsert(txn, &entry.member_pos) {
                    return misfit("restored transaction present, never issued, unbalanced or naming a non-member");
                }
                entry.history.push(*at, *by, Activity::TransactionRestored { txn: Box::new(txn.clone()) });
            }
            Record::PaymentRestored { group, payment, by, at, .. } => {
                let Some(entry) = self.groups.get_mut(*group) else { return misfit("unknown group") };
                if payment.id >= next_payment || !entry.ledger.reinsert_payment(payment.clone(), &entry.member_pos) {
                    return misfit("restored payment present, never issued, not positive or naming a non-member");
                }
                entry.history.push(*at, *by, Activity::PaymentRestored { payment: Box::new(payment.clone()) });
            }
            _ => return misfit("not a restore record"),
        }
        Ok(())
    }
}

/// Transaction `id` as its newest deletion kept it, if that entry is still in the history.
fn deleted_transaction(entry: &Group, id: u64) -> Option<Transaction> {
    entry.history.entries().iter().rev().find_map(|e| match &e.what {
        Activity::TransactionDeleted { txn } if txn.id == id => Some((**txn).clone()),
        _ => None,
    })
}

/// Payment `id` as its newest deletion kept it, if that entry is still in the history.
fn deleted_payment(entry: &Group, id: u64) -> Option<Payment> {
    entry.history.entries().iter().rev().find_map(|e| match &e.what {
        Activity::PaymentDeleted { payment } if payment.id == id => Some((**payment).clone()),
        _ => None,
    })
}
