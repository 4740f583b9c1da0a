//! What each one-shot subcommand sends and how its answer prints, one small function per
//! subcommand, by family (account, groups, expenses, recurring expenses, payments, reading). Reached from
//! [`crate::oneshot`], which has already checked the command line, connected and logged in.
//!
//! Does not own logging in, exit codes or `watch` (`oneshot`), nor reading reply shapes (`view`).

use serde_json::{json, Value};
use vocab::Action;

use crate::conn::Object;
use crate::currency;
use crate::follow::Client;
use crate::oneshot::{emit, group_password, print_json, print_message, print_table, shape, Failure};
use crate::spec::{self, parse_paid_by, parse_split};
use crate::table::Table;
use crate::term::{json_safe, sanitize};
use crate::tokens::Stored;
use crate::{rules, view, Cli, Command, RecurringCommand};

/// A logged-in one-shot run.
pub struct Ctx<'a> {
    pub cli: &'a Cli,
    pub conn: Client,
    pub user: String,
    pub stored: Option<Stored>,
    /// For `signup`: the password, asked before connecting.
    pub signup_password: Option<String>,
}

type Done = Result<i32, Failure>;

impl Ctx<'_> {
    pub(crate) fn ask(&mut self, action: Action, data: Value) -> Result<Object, Failure> {
        Ok(self.conn.request(action, Some(data))?)
    }

    /// The group's currency code for table headers; `None` when the server does not say.
    fn currency(&mut self, group: &str) -> Option<String> {
        let reply = self.conn.request(Action::GroupInfo, Some(json!({ "group": group }))).ok()?;
        reply.get("currency").and_then(Value::as_str).map(str::to_string)
    }

    /// A table whose money columns name the group's currency (unless `json`: the reply as is).
    fn money_table(&mut self, reply: &Object, json: bool, group: &str, mut table: Table) {
        if !json {
            table.label_money(self.currency(group).as_deref());
        }
        print_table(reply, json, table);
    }
}

/// Runs `command` (anything but `watch`) on the logged-in connection.
pub fn execute(ctx: &mut Ctx, command: &Command) -> Done {
    match command {
        Command::Signup(_)
        | Command::Login(_)
        | Command::Logout(_)
        | Command::Sessions(_)
        | Command::ChangePassword(_)
        | Command::DeleteAccount(_) => account(ctx, command),
        Command::Groups(_)
        | Command::CreateGroup(_)
        | Command::Join(_)
        | Command::Members(_)
        | Command::GroupInfo(_)
        | Command::SetGroupPassword(_)
        | Command::SetGroupCurrency(_)
        | Command::SetGroupConvert(_)
        | Command::Leave(_) => groups(ctx, command),
        Command::Add(_) | Command::Edit(_) | Command::Delete(_) | Command::Transactions(_) => expenses(ctx, command),
        Command::ImportSplitwise(c) => crate::import::run(ctx, c),
        Command::Recurring(c) => recurring(ctx, &c.command),
        Command::Pay(_) | Command::Payments(_) | Command::DeletePayment(_) | Command::Settle(_) => {
            payments(ctx, command)
        }
        Command::Balances(_) | Command::Debts(_) | Command::History(_) | Command::Export(_) | Command::Watch(_) => {
            reading(ctx, command)
        }
        Command::Categories(_)
        | Command::AddCategory(_)
        | Command::Stats(_)
        | Command::Restore(_)
        | Command::RestorePayment(_) => crate::catundo::execute(ctx, command),
    }
}

fn account(ctx: &mut Ctx, command: &Command) -> Done {
    match command {
        Command::Signup(c) => {
            let credentials = json!({ "username": ctx.user, "password": ctx.signup_password });
            print_message(&ctx.ask(Action::Signup, credentials)?, c.json);
        }
        Command::Login(c) => {
            let message = format!("Logged in as {}; the session token is kept for the next commands", ctx.user);
            let mut reply = Object::new();
            reply.insert("status".into(), json!("ok"));
            reply.insert("message".into(), json!(message));
            print_message(&reply, c.json);
        }
        Command::Logout(c) => {
            let reply = ctx.conn.request(Action::Logout, c.all.then(|| json!({ "all": true })))?;
            if let Some(stored) = &ctx.stored {
                stored.forget();
            }
            print_message(&reply, c.json);
        }
        Command::Sessions(c) => {
            let reply = ctx.conn.request(Action::Sessions, None)?;
            let table = view::sessions_table(&reply).map_err(shape)?;
            print_table(&reply, c.json, table);
        }
        Command::ChangePassword(c) => {
            let old = crate::oneshot::password(ctx.cli, &ctx.user)?;
            let new = crate::oneshot::new_password()?;
            let reply = ctx.ask(Action::ChangePassword, json!({ "old": old, "new": new }))?;
            print_message(&reply, c.json);
        }
        Command::DeleteAccount(c) => {
            let password = crate::oneshot::password(ctx.cli, &ctx.user)?;
            let reply = ctx.ask(Action::DeleteAccount, json!({ "password": password }))?;
            if let Some(stored) = &ctx.stored {
                stored.forget();
            }
            print_message(&reply, c.json);
        }
        _ => {}
    }
    Ok(0)
}

fn groups(ctx: &mut Ctx, command: &Command) -> Done {
    match command {
        Command::Groups(c) => {
            let reply = ctx.conn.request(Action::ListGroups, None)?;
            let groups = view::names(&reply, "groups").map_err(shape)?;
            print_table(&reply, c.json, view::names_table("GROUP", &groups));
        }
        Command::CreateGroup(c) => {
            let mut data = json!({ "group": c.group, "password": group_password(&c.group_password) });
            if let Some(currency) = &c.currency {
                data["currency"] = json!(currency);
            }
            if let Some(mode) = &c.convert {
                data["convert"] = json!(currency::convert_mode(mode).map_err(Failure::Usage)?);
            }
            print_message(&ctx.ask(Action::CreateGroup, data)?, c.json);
        }
        Command::Join(c) => {
            let data = json!({ "group": c.group, "password": group_password(&c.group_password) });
            print_message(&ctx.ask(Action::JoinGroup, data)?, c.json);
        }
        Command::Members(c) => {
            let reply = ctx.ask(Action::GetGroupMembers, json!({ "group": c.group }))?;
            let members = view::names(&reply, "members").map_err(shape)?;
            print_table(&reply, c.json, view::names_table("MEMBER", &members));
        }
        Command::GroupInfo(c) => {
            let reply = ctx.ask(Action::GroupInfo, json!({ "group": c.group }))?;
            let table = view::group_info_table(&reply).map_err(shape)?;
            print_table(&reply, c.json, table);
        }
        Command::SetGroupPassword(c) => {
            let data = json!({ "group": c.group, "password": group_password(&c.group_password) });
            print_message(&ctx.ask(Action::SetGroupPassword, data)?, c.json);
        }
        Command::SetGroupCurrency(c) => {
            let data = json!({ "group": c.group, "currency": c.currency });
            print_message(&ctx.ask(Action::SetGroupCurrency, data)?, c.json);
        }
        Command::SetGroupConvert(c) => {
            let mode = currency::convert_mode(&c.mode).map_err(Failure::Usage)?;
            let data = json!({ "group": c.group, "convert": mode });
            print_message(&ctx.ask(Action::SetGroupConvert, data)?, c.json);
        }
        Command::Leave(c) => print_message(&ctx.ask(Action::LeaveGroup, json!({ "group": c.group }))?, c.json),
        _ => {}
    }
    Ok(0)
}

fn expenses(ctx: &mut Ctx, command: &Command) -> Done {
    match command {
        Command::Add(c) => {
            let amount = currency::amount_value(&c.amount, c.currency.as_deref()).map_err(Failure::Usage)?;
            let mut data = json!({ "group": c.group, "amount": amount });
            add_entry(&mut data, (c.currency.as_deref(), c.rate.as_deref()), c.category.as_deref())?;
            parse_split(c.split.as_deref().unwrap_or(""))
                .and_then(|split| split.add_to(&mut data, c.include_me))
                .map_err(Failure::Usage)?;
            add_details(&mut data, &c.paid_by, &c.desc, &c.date)?;
            data["key"] = json!(c.key.clone().unwrap_or_else(spec::fresh_key));
            let reply = ctx.ask(Action::AddTransaction, data)?;
            print_transaction(ctx, &reply, c.json, &c.group, "nothing added")?;
        }
        Command::Edit(c) => {
            let mut data = json!({ "group": c.group, "id": c.id });
            let entry = (c.currency.as_deref(), c.rate.as_deref());
            add_edited_entry(&mut data, (c.amount.as_deref(), entry), c.category.as_deref(), (&c.split, c.include_me))?;
            add_details(&mut data, &c.paid_by, &c.desc, &c.date)?;
            let reply = ctx.ask(Action::EditTransaction, data)?;
            print_transaction(ctx, &reply, c.json, &c.group, "")?;
        }
        Command::Transactions(c) => {
            let reply = ctx.ask(Action::ViewTransactions, json!({ "group": c.group }))?;
            let txns = view::transactions(&reply).map_err(shape)?;
            ctx.money_table(&reply, c.json, &c.group, view::transactions_table(&txns));
        }
        Command::Delete(c) => {
            let reply = ctx.ask(Action::DeleteTransaction, json!({ "group": c.group, "id": c.id }))?;
            print_message(&reply, c.json);
            if !c.json {
                emit(&crate::catundo::undo_hint("restore", &c.group, c.id));
            }
        }
        _ => {}
    }
    Ok(0)
}

/// `--paid-by`, `--desc` and `--date` into a request's data.
fn add_details(
    data: &mut Value,
    paid_by: &Option<String>,
    desc: &Option<String>,
    date: &Option<String>,
) -> Result<(), Failure> {
    if let Some(paid_by) = paid_by {
        data["paid_by"] = parse_paid_by(paid_by).map_err(Failure::Usage)?;
    }
    if let Some(desc) = desc {
        data["description"] = json!(desc);
    }
    if let Some(date) = date {
        data["date"] = json!(date);
    }
    Ok(())
}

/// The reply's message (or, for a repeated `--key`, that nothing was added) and the transaction.
fn print_transaction(ctx: &mut Ctx, reply: &Object, json: bool, group: &str, nothing: &str) -> Result<(), Failure> {
    if json {
        print_json(reply);
        return Ok(());
    }
    let Some(txn) = view::transaction(reply).map_err(shape)? else {
        print_message(reply, false);
        return Ok(());
    };
    say_duplicate(reply, txn.id, nothing);
    let mut table = view::transactions_table(&[txn]);
    table.label_money(ctx.currency(group).as_deref());
    emit(&table.render());
    Ok(())
}

/// The reply's message; for a repeat of an idempotency key, what was recorded then instead.
fn say_duplicate(reply: &Object, id: Option<u64>, nothing: &str) {
    if reply.get("duplicate").and_then(Value::as_bool) == Some(true) {
        let id = id.map(|i| format!(" as #{i}")).unwrap_or_default();
        emit(&format!("Already recorded{id} with this --key: {nothing}\n"));
    } else {
        print_message(reply, false);
    }
}

fn recurring(ctx: &mut Ctx, command: &RecurringCommand) -> Done {
    match command {
        RecurringCommand::Add(c) => {
            let amount = currency::amount_value(&c.amount, c.currency.as_deref()).map_err(Failure::Usage)?;
            let start = c.start.clone().unwrap_or_else(spec::today_utc);
            let mut data = json!({ "group": c.group, "every": c.every, "start": start, "amount": amount });
            add_entry(&mut data, (c.currency.as_deref(), c.rate.as_deref()), c.category.as_deref())?;
            parse_split(c.split.as_deref().unwrap_or(""))
                .and_then(|split| split.add_to(&mut data, c.include_me))
                .map_err(Failure::Usage)?;
            add_details(&mut data, &c.paid_by, &c.desc, &None)?;
            add_schedule_ends(&mut data, &c.until, c.count);
            if let Some(interval) = c.interval {
                data["interval"] = json!(interval);
            }
            let reply = ctx.ask(Action::AddRecurring, data)?;
            print_rule(ctx, &reply, c.json, &c.group)?;
        }
        RecurringCommand::List(c) => {
            let reply = ctx.ask(Action::ListRecurring, json!({ "group": c.group }))?;
            let list = rules::rules(&reply).map_err(shape)?;
            if !c.json && list.is_empty() {
                emit("No recurring expenses.\n");
                return Ok(0);
            }
            ctx.money_table(&reply, c.json, &c.group, rules::rules_table(&list));
        }
        RecurringCommand::Edit(c) => {
            let mut data = json!({ "group": c.group, "id": c.id });
            let entry = (c.currency.as_deref(), c.rate.as_deref());
            add_edited_entry(&mut data, (c.amount.as_deref(), entry), c.category.as_deref(), (&c.split, c.include_me))?;
            add_details(&mut data, &c.paid_by, &c.desc, &None)?;
            add_schedule_ends(&mut data, &c.until, c.count);
            let reply = ctx.ask(Action::EditRecurring, data)?;
            print_rule(ctx, &reply, c.json, &c.group)?;
        }
        RecurringCommand::Stop(c) => {
            let reply = ctx.ask(Action::StopRecurring, json!({ "group": c.group, "id": c.id }))?;
            print_message(&reply, c.json);
        }
    }
    Ok(0)
}

/// `--currency`, `--rate` and `--category` into an expense's or a rule's data (`add`, `edit`,
/// `recurring add|edit`): the currency and rate checked by `currency::add_foreign`.
fn add_entry(
    data: &mut Value,
    (code, rate): (Option<&str>, Option<&str>),
    category: Option<&str>,
) -> Result<(), Failure> {
    currency::add_foreign(data, code, rate).map_err(Failure::Usage)?;
    if let Some(category) = category {
        data["category"] = json!(category);
    }
    Ok(())
}

/// What `edit` and `recurring edit` both change, into the request's data: the amount (in
/// `--currency` when given), the currency, rate and category, and the split.
fn add_edited_entry(
    data: &mut Value,
    (amount, entry): (Option<&str>, (Option<&str>, Option<&str>)),
    category: Option<&str>,
    (split, include_me): (&Option<String>, bool),
) -> Result<(), Failure> {
    if let Some(amount) = amount {
        data["amount"] = currency::amount_value(amount, entry.0).map_err(Failure::Usage)?;
    }
    add_entry(data, entry, category)?;
    if let Some(split) = split {
        parse_split(split).and_then(|s| s.add_to(data, include_me)).map_err(Failure::Usage)?;
    }
    Ok(())
}

/// `--until` and `--count` into a rule's data.
fn add_schedule_ends(data: &mut Value, until: &Option<String>, count: Option<u64>) {
    if let Some(until) = until {
        data["until"] = json!(until);
    }
    if let Some(count) = count {
        data["count"] = json!(count);
    }
}

/// The reply's message and its rule as a one-row table (with `json`: the reply as is).
///
/// Occurrences already due when a rule was added or edited (a start in the past, a larger
/// `--count`) are made by the server right after its reply, in the same turn; so the rule is then
/// shown as `list_recurring` has it now, not as the reply left it.
fn print_rule(ctx: &mut Ctx, reply: &Object, json: bool, group: &str) -> Result<(), Failure> {
    if json {
        print_json(reply);
        return Ok(());
    }
    let Some(mut rule) = rules::rule(reply).map_err(shape)? else {
        print_message(reply, false);
        return Ok(());
    };
    if rule.next_date.as_ref().is_some_and(|next| *next <= spec::today_utc()) {
        let now = ctx.ask(Action::ListRecurring, json!({ "group": group }))?;
        if let Some(found) = rules::rules(&now).map_err(shape)?.into_iter().find(|r| r.id == rule.id) {
            rule = found;
        }
    }
    print_message(reply, false);
    let mut table = rules::rules_table(&[rule]);
    table.label_money(ctx.currency(group).as_deref());
    emit(&table.render());
    Ok(())
}

fn payments(ctx: &mut Ctx, command: &Command) -> Done {
    match command {
        Command::Pay(c) => {
            let amount = currency::amount_value(&c.amount, c.currency.as_deref()).map_err(Failure::Usage)?;
            let mut data = json!({ "group": c.group, "to": c.to, "amount": amount });
            currency::add_foreign(&mut data, c.currency.as_deref(), None).map_err(Failure::Usage)?;
            if let Some(from) = &c.from {
                data["from"] = json!(from);
            }
            if let Some(date) = &c.date {
                data["date"] = json!(date);
            }
            data["key"] = json!(c.key.clone().unwrap_or_else(spec::fresh_key));
            let reply = ctx.ask(Action::RecordPayment, data)?;
            if c.json {
                print_json(&reply);
                return Ok(0);
            }
            let payment = view::payment(&reply).map_err(shape)?;
            say_duplicate(&reply, payment.as_ref().and_then(|p| p.id), "nothing recorded");
            if let Some(payment) = payment {
                let mut table = view::payments_table(&[payment]);
                table.label_money(ctx.currency(&c.group).as_deref());
                emit(&table.render());
            }
        }
        Command::Payments(c) => {
            let reply = ctx.ask(Action::ViewPayments, json!({ "group": c.group }))?;
            let list = view::payments(&reply).map_err(shape)?;
            ctx.money_table(&reply, c.json, &c.group, view::payments_table(&list));
        }
        Command::DeletePayment(c) => {
            let reply = ctx.ask(Action::DeletePayment, json!({ "group": c.group, "id": c.id }))?;
            print_message(&reply, c.json);
            if !c.json {
                emit(&crate::catundo::undo_hint("restore-payment", &c.group, c.id));
            }
        }
        Command::Settle(c) => settle(ctx, c)?,
        _ => {}
    }
    Ok(0)
}

fn settle(ctx: &mut Ctx, c: &crate::Settle) -> Result<(), Failure> {
    let mut data = json!({ "group": c.group });
    if let Some(method) = &c.method {
        data["method"] = json!(method);
    }
    if c.record {
        data["record"] = json!(true);
    }
    let reply = ctx.ask(Action::Settle, data)?;
    let decimals = view::decimals(&reply).map_err(shape)?;
    let transfers = view::transfers(reply.get("settlements").unwrap_or(&Value::Null), decimals).map_err(shape)?;
    if c.json {
        print_json(&reply);
        return Ok(());
    }
    let others = crate::bycurrency::plans_text(&reply).map_err(shape)?;
    if transfers.is_empty() && others.is_empty() {
        emit("Nothing to settle: everyone is even.\n");
    } else if transfers.is_empty() {
        emit("Nothing to settle in the group's currency.\n");
    } else {
        let mut table = view::transfers_table(&transfers, decimals);
        table.label_money(ctx.currency(&c.group).as_deref());
        emit(&table.render());
    }
    if let Some(summary) = view::settle_summary(&reply) {
        emit(&format!("{summary}\n"));
    }
    emit(&others);
    if let Some(ids) = reply.get("payment_ids").and_then(Value::as_array) {
        let ids: Vec<String> = ids.iter().map(|id| sanitize(&id.to_string()).into_owned()).collect();
        match ids.len() {
            0 => emit("Nothing recorded.\n"),
            1 => emit(&format!("Recorded 1 payment: id {}\n", ids[0])),
            n => emit(&format!("Recorded {n} payments: ids {}\n", ids.join(", "))),
        }
    }
    Ok(())
}

fn reading(ctx: &mut Ctx, command: &Command) -> Done {
    match command {
        Command::Balances(c) if c.details => {
            let reply = ctx.ask(Action::BalanceDetails, json!({ "group": c.group }))?;
            let rows = view::balance_details(&reply).map_err(shape)?;
            let decimals = view::decimals(&reply).map_err(shape)?;
            let others = crate::bycurrency::details_text(&reply).map_err(shape)?;
            ctx.money_table(&reply, c.json, &c.group, view::balance_details_table(&rows, decimals));
            if !c.json {
                emit(&others);
            }
        }
        Command::Balances(c) => {
            let reply = ctx.ask(Action::ViewBalances, json!({ "group": c.group }))?;
            let rows = view::balances(&reply).map_err(shape)?;
            let decimals = view::decimals(&reply).map_err(shape)?;
            let others = crate::bycurrency::balances_text(&reply).map_err(shape)?;
            ctx.money_table(&reply, c.json, &c.group, view::balances_table(&rows, decimals));
            if !c.json {
                emit(&others);
            }
        }
        Command::Debts(c) => {
            let reply = ctx.ask(Action::PairwiseDebts, json!({ "group": c.group }))?;
            let decimals = view::decimals(&reply).map_err(shape)?;
            let debts = view::transfers(reply.get("debts").unwrap_or(&Value::Null), decimals).map_err(shape)?;
            let others = crate::bycurrency::debts_text(&reply).map_err(shape)?;
            if c.json {
                print_json(&reply);
                return Ok(0);
            }
            if debts.is_empty() && others.is_empty() {
                emit("Nobody owes anybody.\n");
            } else if debts.is_empty() {
                emit("Nobody owes anybody in the group's currency.\n");
            } else {
                ctx.money_table(&reply, false, &c.group, view::transfers_table(&debts, decimals));
            }
            emit(&others);
        }
        Command::History(c) => history(ctx, c)?,
        Command::Export(c) => export(ctx, c)?,
        _ => {}
    }
    Ok(0)
}

fn history(ctx: &mut Ctx, c: &crate::History) -> Result<(), Failure> {
    let mut data = json!({ "group": c.group });
    if let Some(limit) = c.limit {
        data["limit"] = json!(limit);
    }
    if let Some(before) = c.before {
        data["before"] = json!(before);
    }
    let reply = ctx.ask(Action::History, data)?;
    let (entries, next) = view::history(&reply).map_err(shape)?;
    if c.json {
        print_json(&reply);
        return Ok(());
    }
    emit(&view::history_table(&entries).render());
    if let Some(next) = next {
        emit(&format!("(older entries: --before {next})\n"));
    }
    Ok(())
}

fn export(ctx: &mut Ctx, c: &crate::Export) -> Result<(), Failure> {
    let mut reply = ctx.ask(Action::Export, json!({ "group": c.group }))?;
    let txns = view::transactions(&reply).map_err(shape)?;
    let payments = view::payments(&reply).map_err(shape)?;
    if c.format == "json" {
        reply.remove("status");
        reply.remove("id");
        let all = Value::Object(reply);
        let text = serde_json::to_string_pretty(&all).unwrap_or_else(|_| all.to_string());
        emit(&format!("{}\n", json_safe(&text)));
    } else if c.payments {
        emit(&view::payments_csv(&payments));
    } else {
        emit(&view::transactions_csv(&txns));
    }
    Ok(())
}
