//! The JSON the machine shows: transactions, payments, history entries and the notifications made
//! from them. Names, never user ids; amounts as exact two-decimal JSON numbers.

use serde_json::{json, Map, Value};

use super::groups::Group;
use super::history::{Activity, Entry};
use super::ledger::{Payment, PaymentId, Split, Transaction, TxnId};
use super::{Event, Machine, Notice, UserId};
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
    fn name_map<T: Copy>(&self, list: &[(UserId, T)], value: impl Fn(T) -> Value) -> Value {
        let mut map = Map::new();
        for &(user, item) in list {
            map.insert(self.users.name(user).to_string(), value(item));
        }
        Value::Object(map)
    }

    /// The original's transaction shape (`payer` is who recorded it) plus `id`, `created_at`,
    /// `paid_by` and `shares` (name -> amount), `split` (the rule, in the request's shape) and `date`.
    pub(super) fn transaction_json(&self, txn: &Transaction) -> Value {
        let names: Vec<&str> = txn.split_between.iter().map(|&u| self.users.name(u)).collect();
        let split = match &txn.split {
            Split::Equal => {
                let people: Vec<&str> = txn.owed.iter().map(|(u, _)| self.users.name(*u)).collect();
                json!({"mode": "equal", "members": people})
            }
            Split::Exact => json!({"mode": "exact", "amounts": self.name_map(&txn.owed, Cents::to_json)}),
            Split::Percent { percents } => {
                json!({"mode": "percent", "percents": self.name_map(percents, |bp| Cents(bp as i64).to_json())})
            }
            Split::Shares { weights } => json!({"mode": "shares", "shares": self.name_map(weights, Value::from)}),
        };
        let mut view = json!({
            "id": txn.id,
            "payer": self.users.name(txn.payer),
            "amount": txn.amount.to_json(),
            "description": txn.description,
            "split_between": names,
            "include_payer": txn.include_payer,
            "created_at": txn.created_at,
            "paid_by": self.name_map(&txn.paid, Cents::to_json),
            "shares": self.name_map(&txn.owed, Cents::to_json),
            "split": split,
        });
        if let Some(date) = &txn.date {
            view["date"] = Value::from(date.as_str());
        }
        view
    }

    pub(super) fn payment_json(&self, payment: &Payment) -> Value {
        let mut view = json!({
            "id": payment.id,
            "from": self.users.name(payment.from),
            "to": self.users.name(payment.to),
            "amount": payment.amount.to_json(),
            "by": self.users.name(payment.by),
            "created_at": payment.created_at,
        });
        if let Some(date) = &payment.date {
            view["date"] = Value::from(date.as_str());
        }
        view
    }

    /// A deleted transaction as it was when deleted (from the history).
    pub(super) fn deleted_transaction_json(&self, group: &Group, id: TxnId) -> Option<Value> {
        group.history.entries().iter().rev().find_map(|e| match &e.what {
            Activity::TransactionDeleted { txn } if txn.id == id => Some(self.transaction_json(txn)),
            _ => None,
        })
    }

    /// A deleted payment as it was when deleted (from the history).
    pub(super) fn deleted_payment_json(&self, group: &Group, id: PaymentId) -> Option<Value> {
        group.history.entries().iter().rev().find_map(|e| match &e.what {
            Activity::PaymentDeleted { payment } if payment.id == id => Some(self.payment_json(payment)),
            _ => None,
        })
    }

    /// What an entry says: `event`, a human `message`, and the objects concerned.
    fn activity_json(&self, group: &Group, entry: &Entry) -> Map<String, Value> {
        let by = self.users.name(entry.by);
        let money = |cents: Cents| money_text(&group.currency, cents);
        let mut map = Map::new();
        let (message, fields): (String, Vec<(&str, Value)>) = match &entry.what {
            Activity::GroupCreated => (format!("{by} created {}", group.name), Vec::new()),
            Activity::CurrencySet { currency } => (
                format!("{by} set the currency of {} to {currency}", group.name),
                vec![("currency", Value::from(currency.as_str()))],
            ),
            Activity::MemberJoined { member } => {
                let member = self.users.name(*member);
                (format!("{member} joined {}", group.name), vec![("member", Value::from(member))])
            }
            Activity::MemberLeft { member } => {
                let member = self.users.name(*member);
                (format!("{member} left {}", group.name), vec![("member", Value::from(member))])
            }
            Activity::TransactionAdded { id, amount, description, .. } => {
                let mut fields = vec![
                    ("transaction_id", Value::from(*id)),
                    ("amount", amount.to_json()),
                    ("description", Value::from(description.as_str())),
                ];
                // As it is now (when notified: as added); gone once deleted (that entry has it).
                if let Some(txn) = group.ledger.transaction(*id) {
                    fields.push(("transaction", self.transaction_json(txn)));
                }
                // The original's notification text.
                (format!("{by} added {} expense", money(*amount)), fields)
            }
            Activity::TransactionEdited { before, after } => {
                let amounts = if before.amount == after.amount {
                    String::new()
                } else {
                    format!(" ({} → {})", money(before.amount), money(after.amount))
                };
                (
                    format!("{by} edited expense '{}'{amounts}", after.description),
                    vec![
                        ("transaction", self.transaction_json(after)),
                        ("before", self.transaction_json(before)),
                        ("after", self.transaction_json(after)),
                    ],
                )
            }
            Activity::TransactionDeleted { txn } => (
                format!(
                    "{by} deleted {} expense '{}' by {}",
                    money(txn.amount),
                    txn.description,
                    self.users.name(txn.payer)
                ),
                vec![("transaction", self.transaction_json(txn))],
            ),
            Activity::PaymentRecorded { payment } => {
                let paid = format!(
                    "{} paid {} {}",
                    self.users.name(payment.from),
                    self.users.name(payment.to),
                    money(payment.amount)
                );
                let message = if payment.by == payment.from { paid } else { format!("{by} recorded: {paid}") };
                (message, vec![("payment", self.payment_json(payment))])
            }
            Activity::SettlementRecorded { payments } => {
                let list: Vec<Value> = payments.iter().map(|p| self.payment_json(p)).collect();
                let n = payments.len();
                (
                    format!(
                        "{by} recorded the settlement of {}: {n} payment{}",
                        group.name,
                        if n == 1 { "" } else { "s" }
                    ),
                    vec![("payments", Value::from(list))],
                )
            }
            Activity::PaymentDeleted { payment } => (
                format!(
                    "{by} deleted the payment {} → {} {}",
                    self.users.name(payment.from),
                    self.users.name(payment.to),
                    money(payment.amount)
                ),
                vec![("payment", self.payment_json(payment))],
            ),
            Activity::PasswordChanged { has_password } => (
                if *has_password {
                    format!("{by} changed the join password of {}", group.name)
                } else {
                    format!("{by} removed the join password of {}", group.name)
                },
                vec![("has_password", Value::from(*has_password))],
            ),
        };
        map.insert("event".into(), Value::from(entry.what.name()));
        map.insert("message".into(), Value::from(message));
        for (key, value) in fields {
            map.insert(key.into(), value);
        }
        map
    }

    /// A history entry on the wire: `id`, `at`, `by`, then what `activity_json` says.
    pub(super) fn history_json(&self, group: &Group, entry: &Entry) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("id".into(), Value::from(entry.id));
        map.insert("at".into(), Value::from(entry.at));
        map.insert("by".into(), Value::from(self.users.name(entry.by)));
        map.extend(self.activity_json(group, entry));
        map
    }

    /// The pushed message an event stands for: `type` "notification" (or "settlement"), the group's
    /// name, `by`, `at`, and what `activity_json` says about the history entry. `None` if the event
    /// names nothing that exists.
    pub fn render(&self, event: &Event) -> Option<Value> {
        let (entry_id, settlement) = match &event.notice {
            Notice::Message(message) => return Some(message.clone()),
            Notice::History { entry, settlement } => (*entry, settlement),
        };
        let group = self.groups.get(event.group)?;
        // History ids are positions + 1.
        let entry = group.history.entries().get(usize::try_from(entry_id).ok()?.checked_sub(1)?)?;
        let mut map = Map::new();
        map.insert("type".into(), Value::from("notification"));
        map.insert("group".into(), Value::from(group.name.as_str()));
        map.insert("by".into(), Value::from(self.users.name(entry.by)));
        map.insert("at".into(), Value::from(entry.at));
        map.extend(self.activity_json(group, entry));
        if let Some(settlements) = settlement {
            // The original client prints a `settlement` message's `data` list.
            map.insert("type".into(), Value::from("settlement"));
            map.insert("data".into(), Value::from(settlements.clone()));
        }
        Some(Value::Object(map))
    }
}
