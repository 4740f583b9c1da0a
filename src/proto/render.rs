//! Answers, errors and events as frames: the machine's typed results rendered from its state,
//! straight into the outgoing buffer (no `Value` tree: it cost ~25 % of a write, d31b014).
//!
//! A reply is `{"status":"ok"|"error", ...fields, "id"?}` and never has a `type` key, so the
//! original client never mistakes it for a pushed message; a pushed message always has one.

use serde_json::Value;

use super::error::{Code, Error};
use super::json::{self, Array, Object};
use super::view;
use crate::machine::explain::Details;
use crate::machine::{self, Answer, Done, Event, Machine, Notice, Plans, Settlement, Transfer, UserId};

/// Appends the reply to a finished command, with the request's `id` echoed, as one frame.
pub fn write_answer(machine: &Machine, answer: &Result<Answer, machine::Error>, id: Option<&Value>, out: &mut Vec<u8>) {
    match answer {
        Ok(answer) => frame(out, br#""status":"ok""#, id, |reply| ok_fields(machine, answer, reply)),
        Err(machine::Error::Conflict(current)) => conflict(machine, *current, id, out),
        Err(error) => write_error(&Error::from(error), id, out),
    }
}

/// A `conflict` error reply with the object as it is now, so the client can show what changed.
fn conflict(machine: &Machine, current: machine::Current, id: Option<&Value>, out: &mut Vec<u8>) {
    let error = Error::from(&machine::Error::Conflict(current));
    let users = machine.users();
    frame(out, br#""status":"error""#, id, |reply| {
        reply.str("message", &error.message).str("code", error.code.as_str());
        match current {
            machine::Current::Transaction { group, txn } => {
                let group = machine.groups().get(group);
                if let Some((g, txn)) = group.and_then(|g| Some((g, g.ledger.transaction(txn)?))) {
                    view::transaction(users, g.decimals, &txn, reply.key("transaction"));
                    decimals_field(g, reply);
                }
            }
            machine::Current::Payment { group, payment } => {
                let group = machine.groups().get(group);
                if let Some((g, payment)) = group.and_then(|g| Some((g, g.ledger.payment(payment)?))) {
                    view::payment(users, g.decimals, payment, reply.key("payment"));
                    decimals_field(g, reply);
                }
            }
        }
    });
}

/// Appends an error reply as one frame.
pub fn write_error(error: &Error, id: Option<&Value>, out: &mut Vec<u8>) {
    frame(out, br#""status":"error""#, id, |reply| {
        reply.str("message", &error.message).str("code", error.code.as_str());
        if let Some(wait_ms) = error.retry_after_ms {
            reply.u64("retry_after_ms", wait_ms);
        }
        if error.code == Code::NotLeader {
            reply.value("leader", &error.leader);
        }
        if let Some(oldest) = error.oldest {
            reply.u64("oldest", oldest);
        }
    });
}

/// One reply frame: `status` (constant JSON text), the fields `fields` writes, the echoed `id`, the
/// newline.
fn frame(out: &mut Vec<u8>, status: &[u8], id: Option<&Value>, fields: impl FnOnce(&mut Object)) {
    {
        let mut reply = Object::with_raw_fields(out, status);
        fields(&mut reply);
        if let Some(id) = id {
            reply.value("id", id);
        }
    }
    out.push(b'\n');
}

/// What a command's words are.
pub(super) fn done_text(done: Done) -> &'static str {
    match done {
        Done::SignedUp => "Signup successful",
        Done::LoggedIn => "Login successful",
        Done::LoggedOut => "Logged out",
        Done::LoggedOutEverywhere => "Logged out of every session",
        Done::AccountPasswordChanged => "Password changed",
        Done::AccountDeleted => "Account deleted",
        Done::GroupCreated => "Group created successfully",
        Done::Joined => "Joined group",
        Done::Left => "Left group",
        Done::PasswordChanged => "Group password changed",
        Done::PasswordRemoved => "Group password removed",
        Done::CurrencySet => "Group currency set",
        Done::ConvertSet => "Group convert setting set",
        Done::TransactionAdded => "Transaction added",
        Done::TransactionEdited => "Transaction edited",
        Done::TransactionUnchanged => "Transaction unchanged",
        Done::TransactionDeleted => "Transaction deleted",
        Done::PaymentRecorded => "Payment recorded",
        Done::PaymentDeleted => "Payment deleted",
        Done::CategoryAdded => "Category added",
        Done::TransactionRestored => "Transaction restored",
        Done::PaymentRestored => "Payment restored",
        Done::RecurringAdded => "Recurring expense added",
        Done::RecurringEdited => "Recurring expense edited",
        Done::RecurringUnchanged => "Recurring expense unchanged",
        Done::RecurringStopped => "Recurring expense stopped",
    }
}

/// The fields of an ok reply after `status`.
fn ok_fields(machine: &Machine, answer: &Answer, reply: &mut Object) {
    let users = machine.users();
    let group = |id| machine.groups().get(id);
    match answer {
        Answer::Done(done) => {
            reply.str("message", done_text(*done));
        }
        Answer::LoggedIn { .. } | Answer::Resumed { .. } | Answer::Sessions { .. } => {
            session_fields(machine, answer, reply)
        }
        Answer::Groups { user } => {
            let mut names = reply.array("groups");
            for g in users.get(*user).iter().flat_map(|u| u.groups.iter()).filter_map(|&g| group(g)) {
                names.str(&g.name);
            }
        }
        Answer::Members { group: id } => {
            let members = group(*id).map_or(&[][..], |g| &g.members);
            view::names(users, reply.key("members"), members.iter().copied());
        }
        Answer::Transactions { group: id } => {
            let decimals = group(*id).map_or(2, |g| g.decimals);
            let txns = group(*id).into_iter().flat_map(|g| g.ledger.transactions());
            view::transactions(users, decimals, txns, reply.key("transactions"));
        }
        Answer::Payments { group: id } => {
            let (decimals, payments) = group(*id).map_or((2, &[][..]), |g| (g.decimals, g.ledger.payments()));
            view::payments(users, decimals, payments, reply.key("payments"));
        }
        Answer::Balances { group: id } => {
            let mut balances = reply.object("balances");
            let decimals = group(*id).map_or(2, |g| g.decimals);
            for (member, cents) in group(*id).into_iter().flat_map(|g| g.member_balances()) {
                balances.amount(users.name(member), cents, decimals);
            }
            drop(balances);
            if let Some(g) = group(*id).filter(|g| !g.convert.is_at_entry()) {
                let mut by_currency = reply.object("by_currency");
                for (currency, list) in g.other_balances() {
                    let mut balances = by_currency.object(currency);
                    for (member, amount) in list {
                        view::minor(balances.key(users.name(member)), currency, amount);
                    }
                }
            }
        }
        _ => group_fields(machine, answer, reply),
    }
    if let Some(g) = shown_group(answer).and_then(group) {
        reply.u64("seq", g.history.seq());
    }
    if let Some(g) = amounts_group(answer).and_then(group) {
        decimals_field(g, reply);
    }
}

/// `"decimals"` for a group whose amounts do not have two (`1234` yen), so a client reads them
/// right without asking `group_info`; absent (two) otherwise, as the original's replies were.
fn decimals_field(group: &machine::Group, reply: &mut Object) {
    if group.decimals != 2 {
        reply.u64("decimals", group.decimals.into());
    }
}

/// The group whose amounts a reply shows (`GroupInfo` writes `decimals` always).
fn amounts_group(answer: &Answer) -> Option<machine::GroupId> {
    match answer {
        Answer::GroupInfo { .. } => None,
        Answer::Transaction { group, .. }
        | Answer::Payment { group, .. }
        | Answer::PaymentRestored { group, .. }
        | Answer::Rule { group, .. } => Some(*group),
        Answer::Settlement(settlement) => Some(settlement.group),
        other => shown_group(other),
    }
}

/// The group a read shows, whose current `seq` its reply carries.
fn shown_group(answer: &Answer) -> Option<machine::GroupId> {
    match answer {
        Answer::Members { group }
        | Answer::GroupInfo { group }
        | Answer::Transactions { group }
        | Answer::Payments { group }
        | Answer::Balances { group }
        | Answer::Export { group }
        | Answer::History { group, .. }
        | Answer::CatchUp { group, .. }
        | Answer::BalanceDetails { group, .. }
        | Answer::Debts { group, .. }
        | Answer::Categories { group, .. }
        | Answer::Rules { group } => Some(*group),
        Answer::Stats(totals) => Some(totals.group),
        _ => None,
    }
}

/// `ok_fields` for logins and the list of one's sessions. The token is shown here, once; a listing
/// never shows a secret or a hash.
fn session_fields(machine: &Machine, answer: &Answer, reply: &mut Object) {
    match answer {
        Answer::LoggedIn { token } => {
            reply.str("message", done_text(Done::LoggedIn));
            if let Some(token) = token {
                reply.str("token", &token.to_text());
            }
        }
        Answer::Resumed { user } => {
            reply.str("message", "Session resumed").str("username", machine.users().name(*user));
        }
        Answer::Sessions { user, current } => {
            let mut tokens: Vec<_> = machine.tokens().of_user(*user).collect();
            tokens.sort_by_key(|(hash, t)| (t.created, *hash));
            let mut list = reply.array("sessions");
            for (hash, token) in tokens {
                list.object()
                    .i64("created", token.created)
                    .i64("last_used", token.last_used)
                    .value("address", &token.address)
                    .bool("current", Some(hash) == *current);
            }
        }
        _ => {}
    }
}

/// `ok_fields` for the answers that show a group's settings, one object, or a computed list.
fn group_fields(machine: &Machine, answer: &Answer, reply: &mut Object) {
    let users = machine.users();
    let group = |id| machine.groups().get(id);
    match answer {
        Answer::GroupInfo { group: id } => {
            let Some(g) = group(*id) else { return };
            reply
                .str("group", &g.name)
                .str("currency", &g.currency)
                .u64("decimals", g.decimals.into())
                .str("convert", g.convert.as_str())
                .str("creator", users.name(g.creator))
                .i64("created_at", g.created_at)
                .bool("has_password", g.password_hash.is_some());
            view::names(users, reply.key("members"), g.members.iter().copied());
            view::names(users, reply.key("former_members"), g.former_members());
            let mut categories = reply.array("categories");
            g.category_names().for_each(|name| {
                categories.str(name);
            });
        }
        Answer::Export { group: id } => {
            let Some(g) = group(*id) else { return };
            reply.str("group", &g.name).str("currency", &g.currency);
            view::transactions(users, g.decimals, g.ledger.transactions(), reply.key("transactions"));
            view::payments(users, g.decimals, g.ledger.payments(), reply.key("payments"));
        }
        Answer::History { group: id, entries, more } => {
            let Some(g) = group(*id) else { return };
            let mut list = reply.array("history");
            for entry in entries.iter().filter_map(|&e| g.history.entry(e)) {
                view::history_entry(users, g, entry, list.item());
            }
            drop(list);
            let next = if *more { entries.last().copied() } else { None };
            reply.bool("more", *more).value("next_before", &next);
        }
        Answer::CatchUp { group: id, entries, more, subscribe } => {
            let Some(g) = group(*id) else { return };
            catch_up_fields(machine, g, entries, (*more, *subscribe), reply);
        }
        Answer::Transaction { done, group: id, txn, repeated } => {
            reply.str("message", done_text(*done));
            if let Some((g, txn)) = group(*id).and_then(|g| Some((g, g.transaction_ever(*txn)?))) {
                view::transaction(users, g.decimals, &txn, reply.key("transaction"));
            }
            if *repeated {
                reply.bool("duplicate", true);
            }
        }
        Answer::Payment { group: id, payment, repeated } => {
            reply.str("message", done_text(Done::PaymentRecorded));
            if let Some((g, payment)) = group(*id).and_then(|g| Some((g, g.payment_ever(*payment)?))) {
                view::payment(users, g.decimals, payment, reply.key("payment"));
            }
            if *repeated {
                reply.bool("duplicate", true);
            }
        }
        Answer::Settlement(settlement) => settlement_fields(machine, settlement, reply),
        Answer::BalanceDetails { .. } | Answer::Debts { .. } => explanation_fields(machine, answer, reply),
        Answer::Categories { .. } | Answer::Stats(_) | Answer::PaymentRestored { .. } => {
            super::totals::fields(machine, answer, reply)
        }
        Answer::Rule { .. } | Answer::Rules { .. } => super::recurring::rule_fields(machine, answer, reply),
        _ => {}
    }
}

/// `ok_fields` for the explanations of balances; wide sums, since they add up many transactions.
/// Each other currency of a group that converts at settlement follows under `by_currency`, in its
/// own decimals.
fn explanation_fields(machine: &Machine, answer: &Answer, reply: &mut Object) {
    let users = machine.users();
    let decimals = |group| machine.groups().get(group).map_or(2, |g| g.decimals);
    match answer {
        Answer::BalanceDetails { group, members, others } => {
            details_list(users, (members, decimals(*group)), reply.key("members"));
            by_currency(reply, (others, "members"), |list, decimals, out| details_list(users, (list, decimals), out));
        }
        Answer::Debts { group, debts, others } => {
            debts_list(users, (debts, decimals(*group)), reply.key("debts"));
            by_currency(reply, (others, "debts"), |list, decimals, out| debts_list(users, (list, decimals), out));
        }
        _ => {}
    }
}

/// `"by_currency": {"JPY": {key: …}, …}` for the other currencies' lists, each written by `write`
/// with that currency's decimals; nothing when there are none.
fn by_currency<T>(reply: &mut Object, (others, key): (&[(String, T)], &str), write: impl Fn(&T, u8, &mut Vec<u8>)) {
    if others.is_empty() {
        return;
    }
    let mut by_currency = reply.object("by_currency");
    for (code, list) in others {
        write(list, vocab::currency::minor_units(code), by_currency.object(code).key(key));
    }
}

/// `[{"member", "paid", "share", "payments_sent", "payments_received", "net"}, ...]`.
fn details_list(users: &machine::users::Users, (members, decimals): (&[(UserId, Details)], u8), out: &mut Vec<u8>) {
    let wide = |out: &mut Vec<u8>, amount| json::wide_amount(out, amount, decimals);
    let mut list = Array::new(out);
    for (member, d) in members {
        let mut item = list.object();
        item.str("member", users.name(*member));
        wide(item.key("paid"), d.paid);
        wide(item.key("share"), d.share);
        wide(item.key("payments_sent"), d.payments_sent);
        wide(item.key("payments_received"), d.payments_received);
        wide(item.key("net"), d.net());
    }
}

/// `[{"from", "to", "amount"}, ...]`: netted debts.
fn debts_list(users: &machine::users::Users, (debts, decimals): (&[(UserId, UserId, i128)], u8), out: &mut Vec<u8>) {
    let mut list = Array::new(out);
    for &(from, to, cents) in debts {
        let mut item = list.object();
        item.str("from", users.name(from)).str("to", users.name(to));
        json::wide_amount(item.key("amount"), cents, decimals);
    }
}

/// `[{"from", "to", "amount"}, ...]`: a plan, in the shape the original client prints, its amounts
/// with `decimals` decimals (the group's).
fn transfers(machine: &Machine, (list, decimals): (&[Transfer], u8), out: &mut Vec<u8>) {
    let users = machine.users();
    let mut items = Array::new(out);
    for t in list {
        items.object().str("from", users.name(t.from)).str("to", users.name(t.to)).amount("amount", t.amount, decimals);
    }
}

fn settlement_fields(machine: &Machine, settlement: &Settlement, reply: &mut Object) {
    let decimals = machine.groups().get(settlement.group).map_or(2, |g| g.decimals);
    transfers(machine, (&settlement.transfers, decimals), reply.key("settlements"));
    reply
        .str("method", settlement.method.as_str())
        .u64("transfers", settlement.transfers.len() as u64)
        .bool("proven_minimal", settlement.proven_minimal)
        .u64("lower_bound", settlement.lower_bound as u64);
    if !settlement.others.is_empty() {
        let mut by_currency = reply.object("by_currency");
        for plan in &settlement.others {
            let mut item = by_currency.object(&plan.currency);
            let mut list = Array::new(item.key("settlements"));
            for t in &plan.transfers {
                let mut transfer = list.object();
                transfer.str("from", machine.users().name(t.from)).str("to", machine.users().name(t.to));
                view::minor(transfer.key("amount"), &plan.currency, t.amount);
            }
            drop(list);
            item.str("method", plan.method.as_str())
                .u64("transfers", plan.transfers.len() as u64)
                .bool("proven_minimal", plan.proven_minimal)
                .u64("lower_bound", plan.lower_bound as u64);
        }
    }
    let Some(recorded) = &settlement.recorded else { return };
    reply.bool("recorded", true);
    {
        let mut ids = reply.array("payment_ids");
        for &id in &recorded.payments {
            json::u64(ids.item(), id);
        }
    }
    let group = machine.groups().get(recorded.group);
    let payments = recorded.payments.iter().filter_map(|&id| group.and_then(|g| g.ledger.payment(id)));
    view::payments(machine.users(), decimals, payments, reply.key("payments"));
}

/// Appends the pushed message an event stands for (one JSON object, no newline): `type`
/// "notification" (or "settlement"), the group's name, `by`, `at`, and what the history entry says.
/// False (nothing appended) if the event names nothing that exists.
pub fn write_event(machine: &Machine, event: &Event, out: &mut Vec<u8>) -> bool {
    let Some(group) = machine.groups().get(event.group) else { return false };
    let (entry, plan) = match &event.notice {
        Notice::History { entry } => (*entry, None),
        Notice::Settled { entry, plans } => (*entry, Some(plans)),
        Notice::SettleRequested { by, plans } => {
            settle_requested(machine, group, *by, plans, out);
            return true;
        }
    };
    let Some(entry) = group.history.entry(entry) else { return false };
    write_entry(machine, group, entry, plan, out);
    true
}

/// A `settlement` message's plans: `data` (the group currency's transfers, the original's list),
/// then `by_currency` (each other currency's, in its decimals) when there are any.
fn plans_fields(machine: &Machine, group: &machine::Group, plans: &Plans, view: &mut Object) {
    transfers(machine, (&plans.transfers, group.decimals), view.key("data"));
    if !plans.others.is_empty() {
        let mut by_currency = view.object("by_currency");
        for (code, list) in &plans.others {
            transfers(machine, (list, vocab::currency::minor_units(code)), by_currency.key(code));
        }
    }
}

/// A history entry in its notification's shape (one JSON object, no newline). `plan`: a recorded
/// settlement's plans, for `data` (the original client prints that list) and `by_currency`.
fn write_entry(
    machine: &Machine,
    group: &machine::Group,
    entry: &machine::history::Entry,
    plan: Option<&Plans>,
    out: &mut Vec<u8>,
) {
    let users = machine.users();
    let mut view = Object::new(out);
    view.str("type", if plan.is_some() { "settlement" } else { "notification" })
        .str("group", &group.name)
        .u64("seq", entry.id)
        .str("by", users.name(entry.by))
        .i64("at", entry.at);
    decimals_field(group, &mut view);
    view::activity(users, group, entry, &mut view);
    if let Some(plans) = plan {
        plans_fields(machine, group, plans, &mut view);
    }
}

/// A catch-up: entries after a `seq`, oldest first, each as its notification was (a recorded
/// settlement's `data` made from its payments, which are its plan), then `more` and, for `history`,
/// `next_after`.
fn catch_up_fields(
    machine: &Machine,
    group: &machine::Group,
    entries: &[u64],
    (more, subscribe): (bool, bool),
    reply: &mut Object,
) {
    {
        let mut list = reply.array(if subscribe { "events" } else { "history" });
        for entry in entries.iter().filter_map(|&e| group.history.entry(e)) {
            let plan = match &entry.what {
                // As notified: the plans are the payments, per currency.
                machine::Activity::SettlementRecorded { payments } => Some(Plans::of_payments(payments)),
                _ => None,
            };
            write_entry(machine, group, entry, plan.as_ref(), list.item());
        }
    }
    reply.bool("more", more);
    if !subscribe {
        let next = if more { entries.last().copied() } else { None };
        reply.value("next_after", &next);
    }
}

/// Someone asked for a plan without recording it: the original's `settlement` message. Not a change:
/// its `seq` is the group's current one, which it does not advance.
fn settle_requested(machine: &Machine, group: &machine::Group, by: UserId, plans: &Plans, out: &mut Vec<u8>) {
    let by = machine.users().name(by);
    let name = &group.name;
    let mut view = Object::new(out);
    view.str("type", "settlement")
        .str("event", "settle_requested")
        .str("group", name)
        .u64("seq", group.history.seq())
        .str("by", by)
        .str("message", &format!("{by} asked to settle {name}"));
    decimals_field(group, &mut view);
    plans_fields(machine, group, plans, &mut view);
}
