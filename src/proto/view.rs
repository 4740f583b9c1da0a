//! How the machine's objects look on the wire: transactions, payments, history entries. Names,
//! never user ids; amounts as exact JSON numbers with the group's decimals (`Group::decimals`: two
//! for most currencies, `1234` yen, `1.250` dinar; an amount kept in another currency, in a group
//! that converts at settlement: with that currency's decimals); written straight into the outgoing
//! bytes, never built as a `Value` first.

use super::json::{self, Array, Object};
use crate::machine::groups::Group;
use crate::machine::history::{Activity, Entry};
use crate::machine::users::Users;
use crate::machine::{Foreign, Payment, Split, Transaction, UserId};
use crate::money::Cents;

/// One of the group's own amounts as people read it in a message: `₹12.30` for INR (the
/// original's text), else `EUR 12.30`, `JPY 1234`.
pub fn money_text(group: &Group, amount: Cents) -> String {
    vocab::currency::money_text_in(&group.currency, amount, group.decimals)
}

/// An amount in `currency`'s minor units as a JSON number with its decimals (`1234` yen, `1.250`
/// dinar, `12.30` euro).
pub(super) fn minor(out: &mut Vec<u8>, currency: &str, amount: Cents) {
    amount_in(out, vocab::currency::minor_units(currency), amount);
}

/// An amount with `decimals` decimals.
pub(super) fn amount_in(out: &mut Vec<u8>, decimals: u8, amount: Cents) {
    json::amount(out, amount, decimals);
}

/// An added expense's amount as its message writes it: `txn_money`, then what was entered when it
/// was converted (` (JPY 1234 at 0.0061)`); `txn` gone (deleted since): in the group's currency.
pub(super) fn added_money(group: &Group, txn: Option<&Transaction>, amount: Cents) -> String {
    let Some(txn) = txn else { return money_text(group, amount) };
    let note = if txn.settled_in().is_none() { foreign_note(txn) } else { String::new() };
    format!("{}{note}", txn_money(group, txn, amount))
}

/// How many decimals `txn`'s amounts are shown with: its currency's when it is kept in it, else
/// the group's (`decimals`).
pub(super) fn decimals_of(decimals: u8, txn: &Transaction) -> u8 {
    txn.settled_in().map_or(decimals, vocab::currency::minor_units)
}

/// A transaction's amount as a message writes it: in the group's currency (with what was entered,
/// when converted), or in its own when kept in it.
fn txn_money(group: &Group, txn: &Transaction, amount: Cents) -> String {
    match txn.settled_in() {
        Some(currency) => vocab::currency::entered_text(currency, amount),
        None => money_text(group, amount),
    }
}

/// A payment's amount as a message writes it, in its currency.
fn payment_money(group: &Group, payment: &Payment) -> String {
    match &payment.currency {
        Some(currency) => vocab::currency::entered_text(currency, payment.amount),
        None => money_text(group, payment.amount),
    }
}

/// `{name: value, ...}` for a list keyed by user.
fn name_map<T: Copy>(users: &Users, out: &mut Vec<u8>, list: &[(UserId, T)], value: impl Fn(&mut Vec<u8>, T)) {
    let mut map = Object::new(out);
    for &(user, item) in list {
        value(map.key(users.name(user)), item);
    }
}

/// `[name, ...]`.
pub(super) fn names(users: &Users, out: &mut Vec<u8>, list: impl Iterator<Item = UserId>) {
    let mut names = Array::new(out);
    for user in list {
        names.str(users.name(user));
    }
}

/// The original's transaction shape (`payer` is who recorded it) plus `id`, `created_at`,
/// `paid_by` and `shares` (name -> amount), `split` (the rule, in the request's shape), `date` and
/// `version` (what `edit_transaction` and `delete_transaction` may name). `decimals`: the group's.
pub(super) fn transaction(users: &Users, decimals: u8, txn: &Transaction, out: &mut Vec<u8>) {
    let decimals = decimals_of(decimals, txn);
    let amount = |out: &mut Vec<u8>, cents: Cents| amount_in(out, decimals, cents);
    let mut view = Object::new(out);
    view.u64("id", txn.id).str("payer", users.name(txn.payer));
    amount(view.key("amount"), txn.amount);
    view.str("description", &txn.description);
    names(users, view.key("split_between"), txn.split_between.iter().copied());
    view.bool("include_payer", txn.include_payer).i64("created_at", txn.created_at);
    name_map(users, view.key("paid_by"), &txn.paid, amount);
    name_map(users, view.key("shares"), &txn.owed, amount);
    {
        let mut split = view.object("split");
        match &txn.split {
            Split::Equal => {
                split.str("mode", "equal");
                names(users, split.key("members"), txn.owed.iter().map(|&(user, _)| user));
            }
            Split::Exact => {
                split.str("mode", "exact");
                name_map(users, split.key("amounts"), &txn.owed, amount);
            }
            Split::Percent { percents } => {
                split.str("mode", "percent");
                name_map(users, split.key("percents"), percents, |out, bp| json::cents(out, Cents(bp.into())));
            }
            Split::Shares { weights } => {
                split.str("mode", "shares");
                name_map(users, split.key("shares"), weights, json::u64);
            }
        }
    }
    if let Some(date) = &txn.date {
        view.str("date", date);
    }
    if let Some(category) = &txn.category {
        view.str("category", category);
    }
    if let Some(rule) = txn.rule {
        // Made by a recurring rule (`list_recurring`'s `id`).
        view.u64("rule", rule);
    }
    if let Some(foreign) = &txn.foreign {
        foreign_view(foreign, view.object("foreign"));
    }
    view.u64("version", txn.version);
}

/// `{"currency", "amount", "rate"}`: the expense as entered (`amount` with the currency's own
/// decimals: `1234` yen, `1.250` dinar), and the rate it was converted at.
pub(super) fn foreign_view(foreign: &Foreign, mut view: Object) {
    let decimals = vocab::currency::minor_units(&foreign.currency);
    view.str("currency", &foreign.currency);
    // Both texts are JSON numbers: digits, a point, a sign.
    view.key("amount").extend_from_slice(vocab::money::minor_text(foreign.amount, decimals).as_bytes());
    if let Some(rate) = foreign.rate {
        view.key("rate").extend_from_slice(rate.to_string().as_bytes());
    }
}

/// ` (JPY 1234 at 0.0061)` after a message's amount, for an expense entered in another currency.
fn foreign_note(txn: &Transaction) -> String {
    let Some(foreign) = &txn.foreign else { return String::new() };
    let entered = vocab::currency::entered_text(&foreign.currency, foreign.amount);
    match foreign.rate {
        Some(rate) => format!(" ({entered} at {rate})"),
        None => format!(" ({entered})"),
    }
}

/// `decimals`: the group's (a payment in another currency has that one's).
pub(super) fn payment(users: &Users, decimals: u8, payment: &Payment, out: &mut Vec<u8>) {
    let mut view = Object::new(out);
    view.u64("id", payment.id).str("from", users.name(payment.from)).str("to", users.name(payment.to));
    match &payment.currency {
        Some(currency) => {
            minor(view.key("amount"), currency, payment.amount);
            view.str("currency", currency);
        }
        None => {
            view.amount("amount", payment.amount, decimals);
        }
    }
    view.str("by", users.name(payment.by)).i64("created_at", payment.created_at);
    if let Some(date) = &payment.date {
        view.str("date", date);
    }
    view.u64("version", crate::machine::ledger::FIRST_VERSION);
}

/// `[transaction, ...]`.
pub(super) fn transactions(
    users: &Users,
    decimals: u8,
    txns: impl IntoIterator<Item = Transaction>,
    out: &mut Vec<u8>,
) {
    let mut list = Array::new(out);
    for txn in txns {
        transaction(users, decimals, &txn, list.item());
    }
}

/// `[payment, ...]`.
pub(super) fn payments<'a>(
    users: &Users,
    decimals: u8,
    list: impl IntoIterator<Item = &'a Payment>,
    out: &mut Vec<u8>,
) {
    let mut items = Array::new(out);
    for p in list {
        payment(users, decimals, p, items.item());
    }
}

/// A history entry on the wire: `id` (and the same number as `seq`, its notification's), `at`, `by`,
/// then what `activity` says.
pub(super) fn history_entry(users: &Users, group: &Group, entry: &Entry, out: &mut Vec<u8>) {
    let mut view = Object::new(out);
    view.u64("id", entry.id).u64("seq", entry.id).i64("at", entry.at).str("by", users.name(entry.by));
    activity(users, group, entry, &mut view);
}

/// What an entry says: `event`, a human `message`, and the objects concerned.
pub(super) fn activity(users: &Users, group: &Group, entry: &Entry, view: &mut Object) {
    let by = users.name(entry.by);
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
            let member = users.name(*member);
            view.str("message", &format!("{member} joined {}", group.name)).str("member", member);
        }
        Activity::MemberLeft { member } => {
            let member = users.name(*member);
            view.str("message", &format!("{member} left {}", group.name)).str("member", member);
        }
        Activity::TransactionAdded { id, amount } => {
            // As it is now (when notified: as added); gone once deleted (that entry has it).
            let txn = group.ledger.transaction(*id);
            // The original's notification text (an expense in another currency says so after it).
            let shown = added_money(group, txn.as_ref(), *amount);
            view.str("message", &format!("{by} added {shown} expense")).u64("transaction_id", *id);
            let decimals = txn.as_ref().map_or(group.decimals, |t| decimals_of(group.decimals, t));
            amount_in(view.key("amount"), decimals, *amount);
            view.str("description", &group.description_as_added(*id, entry.id));
            if let Some(txn) = txn {
                transaction(users, group.decimals, &txn, view.key("transaction"));
            }
        }
        Activity::TransactionEdited { before, after } => {
            let amounts = if before.amount == after.amount {
                String::new()
            } else {
                let (old, new) = (txn_money(group, before, before.amount), txn_money(group, after, after.amount));
                format!(" ({old} → {new})")
            };
            view.str("message", &format!("{by} edited expense '{}'{amounts}", after.description));
            transaction(users, group.decimals, after, view.key("transaction"));
            transaction(users, group.decimals, before, view.key("before"));
            transaction(users, group.decimals, after, view.key("after"));
        }
        Activity::TransactionDeleted { txn } => {
            let note = if txn.settled_in().is_none() { foreign_note(txn) } else { String::new() };
            let (amount, payer) = (format!("{}{note}", txn_money(group, txn, txn.amount)), users.name(txn.payer));
            view.str("message", &format!("{by} deleted {amount} expense '{}' by {payer}", txn.description));
            transaction(users, group.decimals, txn, view.key("transaction"));
        }
        Activity::TransactionRestored { txn } => {
            let (amount, payer) = (txn_money(group, txn, txn.amount), users.name(txn.payer));
            view.str("message", &format!("{by} restored {amount} expense '{}' by {payer}", txn.description));
            transaction(users, group.decimals, txn, view.key("transaction"));
        }
        _ => payment_activity(users, group, entry, view),
    }
}

/// `activity` for payments and settings.
fn payment_activity(users: &Users, group: &Group, entry: &Entry, view: &mut Object) {
    let by = users.name(entry.by);
    match &entry.what {
        Activity::PaymentRecorded { payment: p } => {
            let paid = format!("{} paid {} {}", users.name(p.from), users.name(p.to), payment_money(group, p));
            let message = if p.by == p.from { paid } else { format!("{by} recorded: {paid}") };
            view.str("message", &message);
            payment(users, group.decimals, p, view.key("payment"));
        }
        Activity::SettlementRecorded { payments: list } => {
            let n = list.len();
            let plural = if n == 1 { "" } else { "s" };
            view.str("message", &format!("{by} recorded the settlement of {}: {n} payment{plural}", group.name));
            payments(users, group.decimals, list, view.key("payments"));
        }
        Activity::PaymentDeleted { payment: p } => {
            let (from, to) = (users.name(p.from), users.name(p.to));
            view.str("message", &format!("{by} deleted the payment {from} → {to} {}", payment_money(group, p)));
            payment(users, group.decimals, p, view.key("payment"));
        }
        Activity::PasswordChanged { has_password } => {
            let message = if *has_password {
                format!("{by} changed the join password of {}", group.name)
            } else {
                format!("{by} removed the join password of {}", group.name)
            };
            view.str("message", &message).bool("has_password", *has_password);
        }
        Activity::PaymentRestored { payment: p } => {
            let (from, to) = (users.name(p.from), users.name(p.to));
            view.str("message", &format!("{by} restored the payment {from} → {to} {}", payment_money(group, p)));
            payment(users, group.decimals, p, view.key("payment"));
        }
        Activity::ConvertSet { convert } => {
            let when = match convert {
                crate::machine::Convert::AtEntry => "at entry",
                crate::machine::Convert::AtSettlement => "at settlement",
            };
            view.str("message", &format!("{by} set {} to convert other currencies {when}", group.name))
                .str("convert", convert.as_str());
        }
        Activity::CategoryAdded { name } => {
            view.str("message", &format!("{by} added the category '{name}' to {}", group.name)).str("category", name);
        }
        _ => super::recurring::rule_activity(users, group, entry, view),
    }
}
