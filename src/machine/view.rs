//! The JSON the machine shows: transactions, payments, history entries and the notifications made
//! from them. Names, never user ids; amounts as exact two-decimal JSON numbers. Written straight
//! into the outgoing bytes (`crate::json`), never built as a `Value` first.

use super::groups::Group;
use super::history::{Activity, Entry};
use super::ledger::{Payment, PaymentId, Split, Transaction, TxnId};
use super::{Event, Machine, Notice, UserId};
use crate::json::{self, Array, Object};
use crate::money::Cents;

/// An amount as people read it in a message: `₹12.30` for INR (the original's text), else
/// `EUR 12.30`.
pub fn money_text(currency: &str, cents: Cents) -> String {
    if currency == "INR" {
        format!("₹{cents}")
    } else {
        format!("{currency} {cents}")
    }
}

impl Machine {
    /// `{name: value, ...}` for a list keyed by user.
    fn write_name_map<T: Copy>(&self, out: &mut Vec<u8>, list: &[(UserId, T)], value: impl Fn(&mut Vec<u8>, T)) {
        let mut map = Object::new(out);
        for &(user, item) in list {
            value(map.key(self.users.name(user)), item);
        }
    }

    /// The original's transaction shape (`payer` is who recorded it) plus `id`, `created_at`,
    /// `paid_by` and `shares` (name -> amount), `split` (the rule, in the request's shape) and `date`.
    pub(super) fn write_transaction(&self, txn: &Transaction, out: &mut Vec<u8>) {
        let mut view = Object::new(out);
        view.u64("id", txn.id)
            .str("payer", self.users.name(txn.payer))
            .cents("amount", txn.amount)
            .str("description", &txn.description);
        {
            let mut names = view.array("split_between");
            for &user in &txn.split_between {
                names.str(self.users.name(user));
            }
        }
        view.bool("include_payer", txn.include_payer).i64("created_at", txn.created_at);
        self.write_name_map(view.key("paid_by"), &txn.paid, json::cents);
        self.write_name_map(view.key("shares"), &txn.owed, json::cents);
        {
            let mut split = view.object("split");
            match &txn.split {
                Split::Equal => {
                    split.str("mode", "equal");
                    let mut people = split.array("members");
                    for &(user, _) in &txn.owed {
                        people.str(self.users.name(user));
                    }
                }
                Split::Exact => {
                    split.str("mode", "exact");
                    self.write_name_map(split.key("amounts"), &txn.owed, json::cents);
                }
                Split::Percent { percents } => {
                    split.str("mode", "percent");
                    self.write_name_map(split.key("percents"), percents, |out, bp| json::cents(out, Cents(bp.into())));
                }
                Split::Shares { weights } => {
                    split.str("mode", "shares");
                    self.write_name_map(split.key("shares"), weights, json::u64);
                }
            }
        }
        if let Some(date) = &txn.date {
            view.str("date", date);
        }
    }

    pub(super) fn write_payment(&self, payment: &Payment, out: &mut Vec<u8>) {
        let mut view = Object::new(out);
        view.u64("id", payment.id)
            .str("from", self.users.name(payment.from))
            .str("to", self.users.name(payment.to))
            .cents("amount", payment.amount)
            .str("by", self.users.name(payment.by))
            .i64("created_at", payment.created_at);
        if let Some(date) = &payment.date {
            view.str("date", date);
        }
    }

    /// `[transaction, ...]`.
    pub(super) fn write_transactions(&self, txns: &[Transaction], out: &mut Vec<u8>) {
        let mut list = Array::new(out);
        for txn in txns {
            self.write_transaction(txn, list.item());
        }
    }

    /// `[payment, ...]`.
    pub(super) fn write_payments(&self, payments: &[Payment], out: &mut Vec<u8>) {
        let mut list = Array::new(out);
        for payment in payments {
            self.write_payment(payment, list.item());
        }
    }

    /// What an entry says: `event`, a human `message`, and the objects concerned.
    fn write_activity(&self, group: &Group, entry: &Entry, view: &mut Object) {
        let by = self.users.name(entry.by);
        let money = |cents: Cents| money_text(&group.currency, cents);
        view.str("event", entry.what.name());
        match &entry.what {
            Activity::GroupCreated => {
                view.str("message", &format!("{by} created {}", group.name));
            }
            Activity::CurrencySet { currency } => {
                view.str("message", &format!("{by} set the currency of {} to {currency}", group.name))
                    .str("currency", currency);
            }
            Activity::MemberJoined { member } => {
                let member = self.users.name(*member);
                view.str("message", &format!("{member} joined {}", group.name)).str("member", member);
            }
            Activity::MemberLeft { member } => {
                let member = self.users.name(*member);
                view.str("message", &format!("{member} left {}", group.name)).str("member", member);
            }
            Activity::TransactionAdded { id, amount, description, .. } => {
                // The original's notification text.
                view.str("message", &format!("{by} added {} expense", money(*amount)))
                    .u64("transaction_id", *id)
                    .cents("amount", *amount)
                    .str("description", description);
                // As it is now (when notified: as added); gone once deleted (that entry has it).
                if let Some(txn) = group.ledger.transaction(*id) {
                    self.write_transaction(txn, view.key("transaction"));
                }
            }
            Activity::TransactionEdited { before, after } => {
                let amounts = if before.amount == after.amount {
                    String::new()
                } else {
                    format!(" ({} → {})", money(before.amount), money(after.amount))
                };
                view.str("message", &format!("{by} edited expense '{}'{amounts}", after.description));
                self.write_transaction(after, view.key("transaction"));
                self.write_transaction(before, view.key("before"));
                self.write_transaction(after, view.key("after"));
            }
            Activity::TransactionDeleted { txn } => {
                let message = format!(
                    "{by} deleted {} expense '{}' by {}",
                    money(txn.amount),
                    txn.description,
                    self.users.name(txn.payer)
                );
                view.str("message", &message);
                self.write_transaction(txn, view.key("transaction"));
            }
            Activity::PaymentRecorded { payment } => {
                let paid = format!(
                    "{} paid {} {}",
                    self.users.name(payment.from),
                    self.users.name(payment.to),
                    money(payment.amount)
                );
                let message = if payment.by == payment.from { paid } else { format!("{by} recorded: {paid}") };
                view.str("message", &message);
                self.write_payment(payment, view.key("payment"));
            }
            Activity::SettlementRecorded { payments } => {
                let n = payments.len();
                let message = format!(
                    "{by} recorded the settlement of {}: {n} payment{}",
                    group.name,
                    if n == 1 { "" } else { "s" }
                );
                view.str("message", &message);
                self.write_payments(payments, view.key("payments"));
            }
            Activity::PaymentDeleted { payment } => {
                let message = format!(
                    "{by} deleted the payment {} → {} {}",
                    self.users.name(payment.from),
                    self.users.name(payment.to),
                    money(payment.amount)
                );
                view.str("message", &message);
                self.write_payment(payment, view.key("payment"));
            }
            Activity::PasswordChanged { has_password } => {
                let message = if *has_password {
                    format!("{by} changed the join password of {}", group.name)
                } else {
                    format!("{by} removed the join password of {}", group.name)
                };
                view.str("message", &message).bool("has_password", *has_password);
            }
        }
    }

    /// A history entry on the wire: `id`, `at`, `by`, then what `write_activity` says.
    pub(super) fn write_history_entry(&self, group: &Group, entry: &Entry, out: &mut Vec<u8>) {
        let mut view = Object::new(out);
        view.u64("id", entry.id).i64("at", entry.at).str("by", self.users.name(entry.by));
        self.write_activity(group, entry, &mut view);
    }

    /// Appends the pushed message an event stands for (one JSON object, no newline): `type`
    /// "notification" (or "settlement"), the group's name, `by`, `at`, and what `write_activity` says
    /// about the history entry. False (nothing appended) if the event names nothing that exists.
    pub fn render(&self, event: &Event, out: &mut Vec<u8>) -> bool {
        let (entry_id, settlement) = match &event.notice {
            Notice::Message(message) => {
                json::value(out, message);
                return true;
            }
            Notice::History { entry, settlement } => (*entry, settlement),
        };
        let Some(group) = self.groups.get(event.group) else { return false };
        // History ids are positions + 1.
        let position = usize::try_from(entry_id).ok().and_then(|id| id.checked_sub(1));
        let Some(entry) = position.and_then(|p| group.history.entries().get(p)) else { return false };
        let mut view = Object::new(out);
        // The original client prints a `settlement` message's `data` list.
        view.str("type", if settlement.is_some() { "settlement" } else { "notification" })
            .str("group", &group.name)
            .str("by", self.users.name(entry.by))
            .i64("at", entry.at);
        self.write_activity(group, entry, &mut view);
        if let Some(settlements) = settlement {
            view.value("data", settlements);
        }
        true
    }
}

/// A deleted transaction as it was when deleted (from the history).
pub(super) fn deleted_transaction(group: &Group, id: TxnId) -> Option<&Transaction> {
    group.history.entries().iter().rev().find_map(|e| match &e.what {
        Activity::TransactionDeleted { txn } if txn.id == id => Some(&**txn),
        _ => None,
    })
}

/// A deleted payment as it was when deleted (from the history).
pub(super) fn deleted_payment(group: &Group, id: PaymentId) -> Option<&Payment> {
    group.history.entries().iter().rev().find_map(|e| match &e.what {
        Activity::PaymentDeleted { payment } if payment.id == id => Some(payment),
        _ => None,
    })
}
