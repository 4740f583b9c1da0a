//! Payments ("settle up"): record one, delete one; and the `apply` of every payment record,
//! including a recorded settlement plan (all its payments or none).

use crate::machine::groups::KeyRef;
use crate::machine::ledger::{Payment, FIRST_VERSION};
use crate::machine::{
    misfit, Activity, Answer, ApplyError, Current, Done, Error, Invalid, KeyKind, Machine, Millis, Outcome, Record,
    RecordPayment, UserId,
};

impl Machine {
    pub(in crate::machine) fn record_payment(
        &mut self,
        user: UserId,
        pay: RecordPayment,
        now: Millis,
    ) -> Result<Outcome, Error> {
        let (id, entry) = self.member_group(user, &pay.group)?;
        if let Some(repeat) = self.repeated_key((id, entry), user, pay.key.as_ref(), KeyKind::Payment)? {
            return Ok(repeat);
        }
        let from = match &pay.from {
            Some(name) => self.resolve_member(entry, name)?,
            None => user,
        };
        let to = self.resolve_member(entry, &pay.to)?;
        if from == to {
            return Err(Invalid::PaysSelf.into());
        }
        let (amount, currency) = super::currency::payment_currency(entry, pay.amount, pay.currency)?;
        let payment = Payment {
            id: self.next_payment_id,
            from,
            to,
            amount,
            by: user,
            created_at: now,
            date: pay.date,
            key: pay.key,
            currency,
        };
        let answer = Answer::Payment { group: id, payment: payment.id, repeated: false };
        self.commit(id, Record::PaymentRecorded { group: id, payment, seq: None }, answer)
    }

    pub(in crate::machine) fn delete_payment(
        &mut self,
        user: UserId,
        group: &str,
        (payment, version): (u64, Option<u64>),
        now: Millis,
    ) -> Result<Outcome, Error> {
        let (id, entry) = self.member_group(user, group)?;
        let found = entry.ledger.payment(payment).ok_or(Error::PaymentNotFound)?;
        // A payment is never edited: it is at its first version until deleted.
        if version.is_some_and(|v| v != FIRST_VERSION) {
            return Err(Error::Conflict(Current::Payment { group: id, payment }));
        }
        let undo = [(found.from, -found.amount.0), (found.to, found.amount.0)];
        self.check_former_untouched(entry, &undo)?;
        let record = Record::PaymentDeleted { group: id, payment, by: user, at: now, seq: None };
        self.commit(id, record, Answer::Done(Done::PaymentDeleted))
    }

    pub(in crate::machine) fn apply_payment(&mut self, record: &Record) -> Result<(), ApplyError> {
        let group = match record {
            Record::PaymentRecorded { group, .. }
            | Record::SettlementRecorded { group, .. }
            | Record::PaymentDeleted { group, .. } => *group,
            _ => return misfit("not a payment record"),
        };
        let Some(entry) = self.groups.get_mut(group) else { return misfit("unknown group") };
        match record {
            Record::PaymentRecorded { payment, .. } => {
                if !entry.ledger.add_payment(payment.clone(), &entry.member_pos) {
                    return misfit("payment out of order, not positive or naming a non-member");
                }
                entry.note_key(payment.by, payment.key.as_ref(), KeyRef::Payment(payment.id));
                let what = Activity::PaymentRecorded { payment: Box::new(payment.clone()) };
                entry.history.push(payment.created_at, payment.by, what);
                self.next_payment_id = self.next_payment_id.max(payment.id + 1);
            }
            Record::SettlementRecorded { payments, by, at, .. } => {
                // All or nothing: check every payment before applying any.
                let mut last = entry.ledger.payments().last().map_or(0, |p| p.id);
                for p in payments {
                    let known = entry.member_pos.contains_key(&p.from) && entry.member_pos.contains_key(&p.to);
                    if p.id <= last || !known || !p.is_valid() {
                        return misfit("settlement payment out of order, not positive or naming a non-member");
                    }
                    last = p.id;
                }
                for p in payments {
                    entry.ledger.add_payment(p.clone(), &entry.member_pos);
                }
                entry.history.push(*at, *by, Activity::SettlementRecorded { payments: payments.as_slice().into() });
                self.next_payment_id = self.next_payment_id.max(last + 1);
            }
            Record::PaymentDeleted { payment, by, at, .. } => {
                let Some(payment) = entry.ledger.remove_payment(*payment, &entry.member_pos) else {
                    return misfit("unknown payment");
                };
                entry.history.push(*at, *by, Activity::PaymentDeleted { payment: Box::new(payment) });
            }
            _ => return misfit("not a payment record"),
        }
        Ok(())
    }
}
