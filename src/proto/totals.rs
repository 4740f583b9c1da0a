//! Replies of the category, stats and undo actions: a group's category list, the `stats` totals
//! (wide exact amounts, one row per category, member or month) and a restored payment. The
//! restored transaction's reply is the usual `transaction` one (`render`).

use super::json::{self, Object};
use super::render::done_text;
use super::view;
use crate::machine::stats::{Key, Totals};
use crate::machine::{Answer, Done, Machine, StatsBy};

/// `ok_fields` for `Answer::Categories`, `Answer::Stats` and `Answer::PaymentRestored`.
pub(super) fn fields(machine: &Machine, answer: &Answer, reply: &mut Object) {
    match answer {
        Answer::Categories { group, done } => {
            let Some(g) = machine.groups().get(*group) else { return };
            if let Some(done) = done {
                reply.str("message", done_text(*done));
            }
            reply.str("group", &g.name);
            let mut list = reply.array("categories");
            g.category_names().for_each(|name| {
                list.str(name);
            });
        }
        Answer::Stats(totals) => stats(machine, totals, reply),
        Answer::PaymentRestored { group, payment } => {
            reply.str("message", done_text(Done::PaymentRestored));
            if let Some((g, payment)) =
                machine.groups().get(*group).and_then(|g| Some((g, g.ledger.payment(*payment)?)))
            {
                view::payment(machine.users(), g.decimals, payment, reply.key("payment"));
            }
        }
        _ => {}
    }
}

/// `{"group", "currency", "by", "from", "to", "spending", "payments", "transactions",
/// "payment_count", "rows": [...]}`, then (a group that converts at settlement) `by_currency`: the
/// same sums and rows per other currency, in its own decimals.
fn stats(machine: &Machine, totals: &Totals, reply: &mut Object) {
    let Some(g) = machine.groups().get(totals.group) else { return };
    reply
        .str("group", &g.name)
        .str("currency", &g.currency)
        .str("by", totals.by.as_str())
        .value("from", &totals.from)
        .value("to", &totals.to);
    sums(machine, (totals, g.decimals), reply);
    if !totals.others.is_empty() {
        let mut by_currency = reply.object("by_currency");
        for (code, totals) in &totals.others {
            sums(machine, (totals, vocab::currency::minor_units(code)), &mut by_currency.object(code));
        }
    }
}

/// The sums and rows of `totals`, with `decimals` decimals.
fn sums(machine: &Machine, (totals, decimals): (&Totals, u8), reply: &mut Object) {
    let users = machine.users();
    let wide = |out: &mut Vec<u8>, amount| json::wide_amount(out, amount, decimals);
    wide(reply.key("spending"), totals.spending);
    wide(reply.key("payments"), totals.payments);
    reply.u64("transactions", totals.transactions).u64("payment_count", totals.payment_count);
    let mut rows = reply.array("rows");
    for row in &totals.rows {
        let mut item = rows.object();
        match &row.key {
            Key::Category(name) => item.str("category", name),
            Key::Member(user) => item.str("member", users.name(*user)),
            Key::Month(month) => item.str("month", month),
        };
        wide(item.key("spent"), row.spent);
        match totals.by {
            StatsBy::Category => {}
            StatsBy::Member => {
                wide(item.key("paid"), row.paid);
                wide(item.key("payments_sent"), row.sent);
                wide(item.key("payments_received"), row.received);
            }
            StatsBy::Month => wide(item.key("payments"), row.sent),
        }
        item.u64("transactions", row.count);
    }
}
