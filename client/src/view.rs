//! Turning server replies into typed rows and human text (tables, notification lines, CSV).
//!
//! Why: both the one-shot subcommands and the interactive menus show the same things; reading the
//! reply shapes in one place means a malformed reply becomes one clear error instead of a panic or a
//! silently wrong number, and amounts go through exact cents (`vocab::Cents`, the server's own grammar) on the way.
//!
//! A group's amounts are in its currency's minor unit: whole yen, thousandths of a dinar,
//! hundredths otherwise. A reply says how many decimals they have (`decimals`, absent for two:
//! [`decimals`]); every row read here keeps them, so tables, CSV and text write `1000`, `1.255`,
//! `12.30` as the server did.

use crate::conn::Object;
use crate::table::{csv_line, Align, Table};
use crate::term::sanitize;
use serde_json::Value;
use vocab::Cents;

/// An amount in a reply written with `decimals` decimals (`12.30`, `1234` yen, `-1.250` dinar) as
/// minor units of its currency: a JSON number, exact from its text (serde_json's
/// `arbitrary_precision` keeps it, so never via f64), or a decimal string. Any sign: balances are
/// negative or zero too. A group's amounts have its own decimals ([`decimals`]); amounts kept in
/// another currency than the group's (groups that convert at settlement) have that currency's.
pub(crate) fn value_minor(value: &Value, decimals: u8) -> Result<Cents, String> {
    let parsed = match value {
        Value::Number(n) => Cents::parse_decimal_in(&n.to_string(), decimals),
        Value::String(s) => Cents::parse_decimal_in(s, decimals),
        _ => return Err("not an amount".into()),
    };
    parsed.map_err(|e| e.to_string())
}

/// How many decimals the group amounts of a reply or a pushed message have: its `decimals` (0 for
/// a yen group, 3 for a dinar group); absent is 2, as servers that never send it meant. Anything
/// but 0 to `vocab::currency::DECIMALS_MAX` is an error, not a guess.
pub fn decimals(reply: &Object) -> Result<u8, String> {
    match reply.get("decimals") {
        None => Ok(2),
        Some(value) => value
            .as_u64()
            .filter(|&d| d <= u64::from(vocab::currency::DECIMALS_MAX))
            .map(|d| d as u8)
            .ok_or_else(|| format!("the reply's decimals {value} is not 0 to {}", vocab::currency::DECIMALS_MAX)),
    }
}

/// One transaction as `view_transactions` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Txn {
    /// splitd's stable id (the original server had none).
    pub id: Option<u64>,
    pub payer: String,
    pub amount: Cents,
    pub description: String,
    pub split_between: Vec<String>,
    pub include_payer: bool,
    /// Milliseconds since the Unix epoch.
    pub created_at: Option<i64>,
    /// Who paid what (splitd; by name). Empty from a server that does not say.
    pub paid_by: Vec<(String, Cents)>,
    /// Each person's share (splitd; by name).
    pub shares: Vec<(String, Cents)>,
    /// The split mode (`equal`, `exact`, `percent`, `shares`), when the server says.
    pub mode: Option<String>,
    /// The date the client gave, `YYYY-MM-DD`.
    pub date: Option<String>,
    /// splitd's version (1 when added, +1 per edit): sent back with an edit or delete, so a change
    /// someone made since it was shown is not overwritten (`conflict`).
    pub version: Option<u64>,
    /// Entered in another currency: `JPY 1234 at 0.0061` (`currency::foreign_note`).
    pub foreign: Option<String>,
    /// Kept in another currency than the group's (a group that converts at settlement): every
    /// amount here is in its minor units.
    pub kept_in: Option<String>,
    /// How many decimals every amount here has: `kept_in`'s, else the group's (0 for yen).
    pub decimals: u8,
}

/// `{"name": amount, ...}` as sorted pairs (amounts with `decimals` decimals); absent is empty.
fn amount_map(value: Option<&Value>, what: &str, decimals: u8) -> Result<Vec<(String, Cents)>, String> {
    let Some(value) = value else { return Ok(Vec::new()) };
    let map = value.as_object().ok_or_else(|| format!("{what} is not an object"))?;
    let mut list = map
        .iter()
        .map(|(k, v)| Ok((k.clone(), value_minor(v, decimals).map_err(|e| format!("{what} of {k}: {e}"))?)))
        .collect::<Result<Vec<_>, String>>()?;
    list.sort();
    Ok(list)
}

impl Txn {
    /// A transaction of a reply whose group amounts have `decimals` decimals ([`decimals`]).
    pub fn from_value(value: &Value, decimals: u8) -> Result<Txn, String> {
        let obj = value.as_object().ok_or("a transaction that is not an object")?;
        let amount = obj.get("amount").ok_or("a transaction without an amount")?;
        let foreign = obj.get("foreign");
        // No rate: nothing was converted, the amounts are in that currency.
        let kept_in =
            foreign.filter(|f| f.get("rate").is_none()).and_then(|f| f.get("currency")?.as_str()).map(str::to_string);
        let decimals = kept_in.as_deref().map_or(decimals, vocab::currency::minor_units);
        Ok(Txn {
            id: obj.get("id").and_then(Value::as_u64),
            payer: obj.get("payer").and_then(Value::as_str).ok_or("a transaction without a payer")?.to_string(),
            amount: value_minor(amount, decimals).map_err(|e| format!("transaction amount {amount}: {e}"))?,
            description: obj.get("description").and_then(Value::as_str).unwrap_or("").to_string(),
            split_between: string_list(obj.get("split_between").unwrap_or(&Value::Null))
                .map_err(|e| format!("split_between: {e}"))?,
            include_payer: obj.get("include_payer").and_then(Value::as_bool).unwrap_or(false),
            created_at: obj.get("created_at").and_then(Value::as_i64),
            paid_by: amount_map(obj.get("paid_by"), "paid_by", decimals)?,
            shares: amount_map(obj.get("shares"), "shares", decimals)?,
            mode: obj.get("split").and_then(|s| s.get("mode")).and_then(Value::as_str).map(str::to_string),
            date: obj.get("date").and_then(Value::as_str).map(str::to_string),
            version: obj.get("version").and_then(Value::as_u64),
            foreign: crate::currency::foreign_note(foreign).filter(|_| kept_in.is_none()),
            kept_in,
            decimals,
        })
    }

    /// The amount as a table shows it: `90.00` (or `1000` in a yen group) in the group's
    /// currency, `JPY 1234` when kept in another.
    pub fn amount_text(&self) -> String {
        kept_text(self.kept_in.as_deref(), self.amount, self.decimals)
    }

    /// Who paid, as people read it: the recorder, or the payers when someone else paid
    /// (`bob+carol`).
    pub fn paid_by_text(&self) -> String {
        match self.paid_by.as_slice() {
            [] => self.payer.clone(),
            [(one, _)] if *one == self.payer => self.payer.clone(),
            list => list.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join("+"),
        }
    }

    /// Who shares it, as people read it: `bob, carol + payer`; for the exact, percent and shares
    /// modes, each share: `bob 10.50, carol 4.50`.
    pub fn sharers(&self) -> String {
        if self.mode.as_deref().is_some_and(|m| m != "equal") && !self.shares.is_empty() {
            let share = |c: &Cents| vocab::money::minor_text(*c, self.decimals);
            return self.shares.iter().map(|(n, c)| format!("{n} {}", share(c))).collect::<Vec<_>>().join(", ");
        }
        let mut text = self.split_between.join(", ");
        if self.include_payer {
            text.push_str(if text.is_empty() { "payer" } else { " + payer" });
        }
        text
    }
}

/// `amount` with its `decimals`: in the group's currency (`90.00`, `1000`), or after the code of
/// the one it is kept in (`JPY 1234`).
fn kept_text(kept_in: Option<&str>, amount: Cents, decimals: u8) -> String {
    let number = vocab::money::minor_text(amount, decimals);
    match kept_in {
        Some(currency) => format!("{currency} {number}"),
        None => number,
    }
}

/// One payment as `view_payments` / `export` report it.
#[derive(Debug, Clone, PartialEq)]
pub struct Payment {
    pub id: Option<u64>,
    pub from: String,
    pub to: String,
    pub amount: Cents,
    pub by: String,
    pub created_at: Option<i64>,
    pub date: Option<String>,
    /// In another currency than the group's (a group that converts at settlement): `amount` is in
    /// its minor units.
    pub currency: Option<String>,
    /// How many decimals `amount` has: `currency`'s, else the group's.
    pub decimals: u8,
}

impl Payment {
    /// A payment of a reply whose group amounts have `decimals` decimals ([`decimals`]).
    pub fn from_value(value: &Value, decimals: u8) -> Result<Payment, String> {
        let obj = value.as_object().ok_or("a payment that is not an object")?;
        let field = |k: &str| {
            obj.get(k).and_then(Value::as_str).map(str::to_string).ok_or_else(|| format!("a payment without {k:?}"))
        };
        let amount = obj.get("amount").ok_or("a payment without an amount")?;
        let currency = obj.get("currency").and_then(Value::as_str).map(str::to_string);
        let decimals = currency.as_deref().map_or(decimals, vocab::currency::minor_units);
        Ok(Payment {
            id: obj.get("id").and_then(Value::as_u64),
            from: field("from")?,
            to: field("to")?,
            amount: value_minor(amount, decimals).map_err(|e| format!("payment amount {amount}: {e}"))?,
            by: obj.get("by").and_then(Value::as_str).unwrap_or_default().to_string(),
            created_at: obj.get("created_at").and_then(Value::as_i64),
            date: obj.get("date").and_then(Value::as_str).map(str::to_string),
            currency,
            decimals,
        })
    }

    /// The amount as a table shows it: `20.00` (`1000` in a yen group), `JPY 1234` when in another
    /// currency than the group's.
    pub fn amount_text(&self) -> String {
        kept_text(self.currency.as_deref(), self.amount, self.decimals)
    }
}

/// The payments of a `view_payments` or `export` reply, oldest first.
pub fn payments(reply: &Object) -> Result<Vec<Payment>, String> {
    let decimals = decimals(reply)?;
    let list = reply.get("payments").and_then(Value::as_array).ok_or("the reply has no payments list")?;
    list.iter().map(|p| Payment::from_value(p, decimals)).collect()
}

/// The payment of a `record_payment` (or restore) reply, if it holds one.
pub fn payment(reply: &Object) -> Result<Option<Payment>, String> {
    let decimals = decimals(reply)?;
    reply.get("payment").map(|p| Payment::from_value(p, decimals)).transpose()
}

/// One `history` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub id: u64,
    pub at: i64,
    pub by: String,
    pub event: String,
    pub message: String,
}

/// The entries of a `history` reply, newest first, and the `before` for the next page.
pub fn history(reply: &Object) -> Result<(Vec<HistoryEntry>, Option<u64>), String> {
    let list = reply.get("history").and_then(Value::as_array).ok_or("the reply has no history list")?;
    let entries = list
        .iter()
        .map(|e| {
            let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            Ok(HistoryEntry {
                id: e.get("id").and_then(Value::as_u64).ok_or("a history entry without an id")?,
                at: e.get("at").and_then(Value::as_i64).unwrap_or(0),
                by: text("by"),
                event: text("event"),
                message: text("message"),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((entries, reply.get("next_before").and_then(Value::as_u64)))
}

/// One suggested transfer of `settle`.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    pub from: String,
    pub to: String,
    pub amount: Cents,
}

fn string_list(value: &Value) -> Result<Vec<String>, String> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => {
            items.iter().map(|v| v.as_str().map(str::to_string).ok_or_else(|| format!("{v} is not a name"))).collect()
        }
        other => Err(format!("{other} is not a list")),
    }
}

/// A list of names under `key` (`groups`, `members`).
pub fn names(reply: &Object, key: &str) -> Result<Vec<String>, String> {
    string_list(reply.get(key).ok_or_else(|| format!("the reply has no {key:?}"))?)
}

/// The transactions of a `view_transactions` reply, oldest first.
pub fn transactions(reply: &Object) -> Result<Vec<Txn>, String> {
    let decimals = decimals(reply)?;
    let list = reply.get("transactions").and_then(Value::as_array).ok_or("the reply has no transactions list")?;
    list.iter().map(|t| Txn::from_value(t, decimals)).collect()
}

/// The transaction of an add, edit or restore reply, if it holds one.
pub fn transaction(reply: &Object) -> Result<Option<Txn>, String> {
    transaction_or(reply, 2)
}

/// [`transaction`] where a reply without `decimals` has `fallback`: a `conflict` refusal's
/// transaction as it is now, read in the decimals of the one shown (a group's decimals do not
/// change while it holds transactions).
pub fn transaction_or(reply: &Object, fallback: u8) -> Result<Option<Txn>, String> {
    let decimals = decimals_or(reply, fallback)?;
    reply.get("transaction").map(|t| Txn::from_value(t, decimals)).transpose()
}

/// [`decimals`], with `fallback` when the reply does not say.
fn decimals_or(reply: &Object, fallback: u8) -> Result<u8, String> {
    if reply.contains_key("decimals") {
        decimals(reply)
    } else {
        Ok(fallback)
    }
}

/// The balances of a `view_balances` reply, by name, with the reply's [`decimals`].
pub fn balances(reply: &Object) -> Result<Vec<(String, Cents)>, String> {
    let decimals = decimals(reply)?;
    let map = reply.get("balances").and_then(Value::as_object).ok_or("the reply has no balances")?;
    let mut rows = map
        .iter()
        .map(|(name, v)| Ok((name.clone(), value_minor(v, decimals).map_err(|e| format!("balance of {name}: {e}"))?)))
        .collect::<Result<Vec<_>, String>>()?;
    rows.sort();
    Ok(rows)
}

/// The transfers of a settle reply (`settlements`), of a `pairwise_debts` reply (`debts`) or of a
/// pushed settlement (`data`), with amounts of `decimals` decimals: the reply's ([`decimals`]), or
/// another currency's for its plan.
pub fn transfers(list: &Value, decimals: u8) -> Result<Vec<Transfer>, String> {
    let items = list.as_array().ok_or("settlements are not a list")?;
    items
        .iter()
        .map(|item| {
            let field = |k: &str| {
                item.get(k)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| format!("a settlement without {k:?}"))
            };
            let amount = item.get("amount").ok_or("a settlement without an amount")?;
            Ok(Transfer {
                from: field("from")?,
                to: field("to")?,
                amount: value_minor(amount, decimals).map_err(|e| format!("settlement amount {amount}: {e}"))?,
            })
        })
        .collect()
}

/// The `group_info` reply as a two-column table: currency, creator, created, password, members.
pub fn group_info_table(reply: &Object) -> Result<Table, String> {
    let text = |key: &str| reply.get(key).and_then(Value::as_str).unwrap_or("-").to_string();
    let list = |key: &str| string_list(reply.get(key).unwrap_or(&Value::Null)).map(|l| l.join(", "));
    let created = reply.get("created_at").and_then(Value::as_i64).map(|ms| utc_datetime(ms, false));
    let password = match reply.get("has_password").and_then(Value::as_bool) {
        Some(true) => "needed to join",
        Some(false) => "none",
        None => "-",
    };
    let name = sanitize(&text("group")).into_owned();
    let mut t = Table::new(&[("GROUP", Align::Left), (name.as_str(), Align::Left)]);
    for (key, value) in [
        ("currency", text("currency")),
        ("creator", text("creator")),
        ("created (UTC)", created.unwrap_or_else(|| "-".into())),
        ("password", password.into()),
        ("members", list("members")?),
        ("former members", list("former_members")?),
    ] {
        t.push(vec![key.into(), value]);
    }
    Ok(t)
}

pub fn names_table(header: &str, names: &[String]) -> Table {
    let mut t = Table::new(&[(header, Align::Left)]);
    for n in names {
        t.push(vec![n.clone()]);
    }
    t
}

pub fn transactions_table(txns: &[Txn]) -> Table {
    let mut t = Table::new(&[
        ("ID", Align::Right),
        ("DATE", Align::Left),
        ("PAYER", Align::Left),
        ("AMOUNT", Align::Right),
        ("DESCRIPTION", Align::Left),
        ("SPLIT BETWEEN", Align::Left),
    ]);
    for x in txns {
        t.push(vec![
            x.id.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
            // The day it happened when given (--date), else when it was recorded (UTC).
            x.date.clone().or_else(|| x.created_at.map(|ms| utc_datetime(ms, false))).unwrap_or_default(),
            x.paid_by_text(),
            x.amount_text(),
            match &x.foreign {
                Some(note) => format!("{} ({note})", x.description).trim_start().to_string(),
                None => x.description.clone(),
            },
            x.sharers(),
        ]);
    }
    t
}

pub fn payments_table(payments: &[Payment]) -> Table {
    let mut t = Table::new(&[
        ("ID", Align::Right),
        ("DATE", Align::Left),
        ("FROM", Align::Left),
        ("TO", Align::Left),
        ("AMOUNT", Align::Right),
        ("RECORDED BY", Align::Left),
    ]);
    for p in payments {
        let date = p.date.clone().or_else(|| p.created_at.map(|ms| utc_datetime(ms, false))).unwrap_or_default();
        t.push(vec![
            p.id.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
            date,
            p.from.clone(),
            p.to.clone(),
            p.amount_text(),
            p.by.clone(),
        ]);
    }
    t
}

pub fn history_table(entries: &[HistoryEntry]) -> Table {
    let mut t =
        Table::new(&[("ID", Align::Right), ("WHEN (UTC)", Align::Left), ("BY", Align::Left), ("WHAT", Align::Left)]);
    for e in entries {
        let what = if e.message.is_empty() { e.event.clone() } else { e.message.clone() };
        t.push(vec![e.id.to_string(), utc_datetime(e.at, false), e.by.clone(), what]);
    }
    t
}

/// The `sessions` reply as a table, oldest first (the server's order).
pub fn sessions_table(reply: &Object) -> Result<Table, String> {
    let list = reply.get("sessions").and_then(Value::as_array).ok_or("the reply has no sessions list")?;
    let mut t = Table::new(&[
        ("CREATED (UTC)", Align::Left),
        ("LAST USED (UTC)", Align::Left),
        ("ADDRESS", Align::Left),
        ("", Align::Left),
    ]);
    for s in list {
        let time = |key: &str| s.get(key).and_then(Value::as_i64).ok_or(format!("a session without '{key}'"));
        let address = s.get("address").and_then(Value::as_str).unwrap_or("-").to_string();
        let current = if s.get("current").and_then(Value::as_bool) == Some(true) { "this one" } else { "" };
        t.push(vec![
            utc_datetime(time("created")?, false),
            utc_datetime(time("last_used")?, false),
            address,
            current.into(),
        ]);
    }
    Ok(t)
}

/// Balances with `decimals` decimals (the reply's, or another currency's).
pub fn balances_table(rows: &[(String, Cents)], decimals: u8) -> Table {
    let mut t = Table::new(&[("MEMBER", Align::Left), ("BALANCE", Align::Right), ("STATUS", Align::Left)]);
    for (name, cents) in rows {
        let note = match cents.0.signum() {
            1 => "is owed",
            -1 => "owes",
            _ => "settled",
        };
        t.push(vec![name.clone(), vocab::money::minor_text(*cents, decimals), note.into()]);
    }
    t
}

/// One member's row of a `balance_details` reply.
#[derive(Debug, Clone, PartialEq)]
pub struct BalanceDetail {
    pub member: String,
    pub paid: Cents,
    pub share: Cents,
    pub sent: Cents,
    pub received: Cents,
    pub net: Cents,
}

/// The rows of a `balance_details` reply, in the server's (member) order, with its [`decimals`].
pub fn balance_details(reply: &Object) -> Result<Vec<BalanceDetail>, String> {
    detail_rows(reply.get("members").unwrap_or(&Value::Null), decimals(reply)?)
}

/// The rows of a `members` list of balance details (the reply's, or another currency's under
/// `by_currency`), with amounts of `decimals` decimals.
pub fn detail_rows(list: &Value, decimals: u8) -> Result<Vec<BalanceDetail>, String> {
    let rows = list.as_array().ok_or("the reply has no members list")?;
    rows.iter()
        .map(|row| {
            let member = row.get("member").and_then(Value::as_str).ok_or("a balance detail without a member")?;
            let amount = |k: &str| {
                let v = row.get(k).ok_or_else(|| format!("{k} of {member} is missing"))?;
                value_minor(v, decimals).map_err(|e| format!("{k} of {member}: {e}"))
            };
            Ok(BalanceDetail {
                member: member.to_string(),
                paid: amount("paid")?,
                share: amount("share")?,
                sent: amount("payments_sent")?,
                received: amount("payments_received")?,
                net: amount("net")?,
            })
        })
        .collect()
}

/// Balance details with `decimals` decimals (the reply's).
pub fn balance_details_table(rows: &[BalanceDetail], decimals: u8) -> Table {
    let mut t = Table::new(&[
        ("MEMBER", Align::Left),
        ("PAID", Align::Right),
        ("SHARE", Align::Right),
        ("SENT", Align::Right),
        ("RECEIVED", Align::Right),
        ("NET", Align::Right),
    ]);
    for r in rows {
        t.push(vec![
            r.member.clone(),
            vocab::money::minor_text(r.paid, decimals),
            vocab::money::minor_text(r.share, decimals),
            vocab::money::minor_text(r.sent, decimals),
            vocab::money::minor_text(r.received, decimals),
            vocab::money::minor_text(r.net, decimals),
        ]);
    }
    t
}

/// Transfers with `decimals` decimals (the reply's, or another currency's).
pub fn transfers_table(transfers: &[Transfer], decimals: u8) -> Table {
    let mut t = Table::new(&[("FROM", Align::Left), ("TO", Align::Left), ("AMOUNT", Align::Right)]);
    for x in transfers {
        t.push(vec![x.from.clone(), x.to.clone(), vocab::money::minor_text(x.amount, decimals)]);
    }
    t
}

/// The line under a settle table: `method minimal, 2 transfers (proven minimal)`; `reply` is the
/// settle reply or one of its `by_currency` plans.
pub fn settle_summary(reply: &Object) -> Option<String> {
    let method = reply.get("method").and_then(Value::as_str)?;
    let mut text = format!("method {}", sanitize(method));
    if let Some(n) = reply.get("transfers").and_then(Value::as_u64) {
        text.push_str(&format!(", {n} transfer{}", if n == 1 { "" } else { "s" }));
    }
    match reply.get("proven_minimal").and_then(Value::as_bool) {
        Some(true) => text.push_str(" (proven minimal)"),
        Some(false) => {
            if let Some(lb) = reply.get("lower_bound").and_then(Value::as_u64) {
                text.push_str(&format!(" (at least {lb} needed)"));
            }
        }
        None => {}
    }
    Some(text)
}

/// The group a pushed message is about, if it says.
pub fn pushed_group(message: &Object) -> Option<&str> {
    message.get("group").and_then(Value::as_str)
}

/// A pushed message as one line: `[trip] alice added ₹90.00 expense`. One line indeed: everything
/// in it came from the server, so all of it is sanitised, newlines included.
pub fn notification_line(message: &Object) -> String {
    notification_line_in(message, None)
}

/// [`notification_line`], writing the amounts of a settlement plan in the group's `currency` as the
/// server's messages do (`₹30.00`, `EUR 30.00`, `JPY 333`) when it is known. The rest of the line
/// is the server's `message`, amounts already written; a plan's amounts (`data`) have the
/// message's [`decimals`].
pub fn notification_line_in(message: &Object, currency: Option<&str>) -> String {
    sanitize(&notification_text(message, currency)).into_owned()
}

fn notification_text(message: &Object, currency: Option<&str>) -> String {
    let group = pushed_group(message).map(|g| format!("[{g}] ")).unwrap_or_default();
    let text = message.get("message").and_then(Value::as_str).map(str::to_string);
    let kind = message.get("type").and_then(Value::as_str).unwrap_or("");
    if kind == "settlement" {
        let list = message
            .get("data")
            .map(|d| plan_text(message, d, currency).unwrap_or_else(|e| format!("(unreadable: {e})")))
            .unwrap_or_default();
        let head = text.unwrap_or_else(|| "settlement suggested".into());
        return if list.is_empty() { format!("💸 {group}{head}") } else { format!("💸 {group}{head}: {list}") };
    }
    let event = message.get("event").and_then(Value::as_str).unwrap_or(kind);
    format!("🔔 {group}{}", text.unwrap_or_else(|| event.to_string()))
}

/// A pushed plan's transfers (`data`, in the message's [`decimals`]): `bob → alice ₹30.00, ...`;
/// then each other currency's (`by_currency`).
fn plan_text(message: &Object, data: &Value, currency: Option<&str>) -> Result<String, String> {
    let text = plan_line(data, decimals(message)?, currency)?;
    Ok(text + &crate::bycurrency::pushed_text(message)?)
}

/// Transfers (amounts of `decimals` decimals) in `currency` if known: `bob → alice ₹30.00, ...`,
/// or `nothing to settle`.
pub fn plan_line(data: &Value, decimals: u8, currency: Option<&str>) -> Result<String, String> {
    let money = |amount: Cents| match currency {
        Some(code) => vocab::currency::money_text_in(code, amount, decimals),
        None => vocab::money::minor_text(amount, decimals),
    };
    let list = transfers(data, decimals)?;
    if list.is_empty() {
        return Ok("nothing to settle".to_string());
    }
    Ok(list.iter().map(|t| format!("{} → {} {}", t.from, t.to, money(t.amount))).collect::<Vec<_>>().join(", "))
}

fn pairs_text(list: &[(String, Cents)], decimals: u8) -> String {
    list.iter().map(|(n, c)| format!("{n}={}", vocab::money::minor_text(*c, decimals))).collect::<Vec<_>>().join(";")
}

/// Transactions as CSV with a header row; the original's columns first, then splitd's: lists are
/// joined with `;`, and `paid_by` / `shares` are `name=amount` pairs.
pub fn transactions_csv(txns: &[Txn]) -> String {
    let mut out = csv_line(&[
        "id",
        "created_at",
        "payer",
        "amount",
        "description",
        "split_between",
        "include_payer",
        "date",
        "split",
        "paid_by",
        "shares",
    ]);
    for x in txns {
        out.push_str(&csv_line(&[
            x.id.map(|i| i.to_string()).unwrap_or_default(),
            x.created_at.map(|ms| utc_datetime(ms, true)).unwrap_or_default(),
            x.payer.clone(),
            vocab::money::minor_text(x.amount, x.decimals),
            x.description.clone(),
            x.split_between.join(";"),
            x.include_payer.to_string(),
            x.date.clone().unwrap_or_default(),
            x.mode.clone().unwrap_or_default(),
            pairs_text(&x.paid_by, x.decimals),
            pairs_text(&x.shares, x.decimals),
        ]));
    }
    out
}

/// Payments as CSV with a header row.
pub fn payments_csv(payments: &[Payment]) -> String {
    let mut out = csv_line(&["id", "created_at", "date", "from", "to", "amount", "by"]);
    for p in payments {
        out.push_str(&csv_line(&[
            p.id.map(|i| i.to_string()).unwrap_or_default(),
            p.created_at.map(|ms| utc_datetime(ms, true)).unwrap_or_default(),
            p.date.clone().unwrap_or_default(),
            p.from.clone(),
            p.to.clone(),
            vocab::money::minor_text(p.amount, p.decimals),
            p.by.clone(),
        ]));
    }
    out
}

/// Milliseconds since the epoch as UTC: `2025-11-25 17:20` or, `iso`, `2025-11-25T17:20:00Z`.
pub fn utc_datetime(ms: i64, iso: bool) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    if iso {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}")
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(text: &str) -> Object {
        match serde_json::from_str(text) {
            Ok(Value::Object(m)) => m,
            _ => panic!("not an object: {text}"),
        }
    }

    #[test]
    fn reads_transactions_exactly() {
        let reply = obj(r#"{"status":"ok","transactions":[
              {"id":7,"payer":"alice","amount":90.1,"description":"dinner, \"good\"","split_between":["bob","carol"],"include_payer":true,"created_at":1764090000000},
              {"payer":"bob","amount":5,"split_between":["alice"]}]}"#);
        let txns = transactions(&reply).unwrap();
        assert_eq!(txns[0].amount, Cents(9010));
        assert_eq!(txns[0].id, Some(7));
        assert_eq!(txns[0].sharers(), "bob, carol + payer");
        assert_eq!(
            txns[1],
            Txn {
                id: None,
                payer: "bob".into(),
                amount: Cents(500),
                description: String::new(),
                split_between: vec!["alice".into()],
                include_payer: false,
                created_at: None,
                paid_by: Vec::new(),
                shares: Vec::new(),
                mode: None,
                date: None,
                version: None,
                foreign: None,
                kept_in: None,
                decimals: 2,
            }
        );
        let table = transactions_table(&txns).render();
        assert!(table.contains(" 7  2025-11-25 17:00  alice   90.10  dinner, \"good\"  bob, carol + payer"), "{table}");
        assert!(table.contains(" -                    bob      5.00                  alice"), "{table}");
        assert_eq!(
            transactions_csv(&txns),
            "id,created_at,payer,amount,description,split_between,include_payer,date,split,paid_by,shares\n\
             7,2025-11-25T17:00:00Z,alice,90.10,\"dinner, \"\"good\"\"\",bob;carol,true,,,,\n\
             ,,bob,5.00,,alice,false,,,,\n"
        );
    }

    #[test]
    fn reads_split_modes_payers_payments_and_history() {
        let reply = obj(r#"{"transactions":[
              {"id":3,"payer":"alice","amount":100,"description":"hotel","split_between":["bob","carol"],"include_payer":false,
               "created_at":1764090000000,"date":"2025-11-20","paid_by":{"carol":30,"bob":70},"shares":{"bob":60.00,"carol":40.00},
               "split":{"mode":"percent","percents":{"bob":60,"carol":40}}}]}"#);
        let txns = transactions(&reply).unwrap();
        assert_eq!(txns[0].paid_by, vec![("bob".to_string(), Cents(7000)), ("carol".to_string(), Cents(3000))]);
        assert_eq!(txns[0].paid_by_text(), "bob+carol");
        assert_eq!(txns[0].sharers(), "bob 60.00, carol 40.00");
        let table = transactions_table(&txns).render();
        assert!(table.contains("bob+carol  100.00  hotel        bob 60.00, carol 40.00"), "{table}");
        assert!(transactions_csv(&txns).ends_with(",2025-11-20,percent,bob=70.00;carol=30.00,bob=60.00;carol=40.00\n"));

        let reply = obj(
            r#"{"payments":[{"id":1,"from":"bob","to":"alice","amount":20,"by":"carol","created_at":0,"date":"2025-01-02"},
                                        {"id":2,"from":"carol","to":"alice","amount":0.5,"by":"carol","created_at":0}]}"#,
        );
        let list = payments(&reply).unwrap();
        assert_eq!(
            payments_table(&list).render(),
            "ID  DATE              FROM   TO     AMOUNT  RECORDED BY\n\
             --  ----------------  -----  -----  ------  -----------\n\
             \x201  2025-01-02        bob    alice   20.00  carol\n\
             \x202  1970-01-01 00:00  carol  alice    0.50  carol\n"
        );
        assert_eq!(
            payments_csv(&list),
            "id,created_at,date,from,to,amount,by\n1,1970-01-01T00:00:00Z,2025-01-02,bob,alice,20.00,carol\n\
             2,1970-01-01T00:00:00Z,,carol,alice,0.50,carol\n"
        );
        assert!(payments(&obj(r#"{"payments":[{"from":"a","amount":1}]}"#)).is_err());

        let reply = obj(
            r#"{"history":[{"id":9,"at":0,"by":"bob","event":"payment_recorded","message":"bob paid alice ₹20.00"}],
                           "more":true,"next_before":9}"#,
        );
        let (entries, next) = history(&reply).unwrap();
        assert_eq!(next, Some(9));
        assert_eq!(
            history_table(&entries).render(),
            "ID  WHEN (UTC)        BY   WHAT\n--  ----------------  ---  ---------------------\n\
             \x209  1970-01-01 00:00  bob  bob paid alice ₹20.00\n"
        );
    }

    #[test]
    fn reply_amounts_are_exact_cents_from_the_text() {
        let v: Value =
            serde_json::from_str(r#"[90.0, 33.33, -66.67, "12.50", 1e2, 0.30000000000000004, true]"#).unwrap();
        let parsed: Vec<_> = v.as_array().unwrap().iter().map(|v| value_minor(v, 2)).collect();
        assert_eq!(
            parsed,
            vec![
                Ok(Cents(9000)),
                Ok(Cents(3333)),
                Ok(Cents(-6667)),
                Ok(Cents(1250)),
                Ok(Cents(10000)),
                Err("must have at most 2 decimals".into()),
                Err("not an amount".into())
            ]
        );
        assert_eq!(value_minor(&Cents(1250).to_json(), 2), Ok(Cents(1250)));
        assert_eq!(Cents(1250).to_json().to_string(), "12.50");
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        assert!(transactions(&obj(r#"{"status":"ok"}"#)).is_err());
        assert!(transactions(&obj(r#"{"transactions":[{"payer":"a","amount":"x"}]}"#)).is_err());
        assert!(transactions(&obj(r#"{"transactions":[{"payer":"a","amount":1.001}]}"#)).is_err());
        assert!(transactions(&obj(r#"{"transactions":[{"amount":1}]}"#)).is_err());
        assert!(transactions(&obj(r#"{"transactions":[{"payer":"a","amount":1,"split_between":[1]}]}"#)).is_err());
        assert!(balances(&obj(r#"{"balances":{"a":null}}"#)).is_err());
        assert!(transfers(&serde_json::json!([{"from":"a","amount":1}]), 2).is_err());
        assert!(names(&obj(r#"{"groups":"trip"}"#), "groups").is_err());
    }

    #[test]
    fn balances_are_sorted_and_right_aligned() {
        let rows = balances(&obj(r#"{"balances":{"carol":-30.0,"alice":60,"bob":-30.00,"dan":0}}"#)).unwrap();
        assert_eq!(
            balances_table(&rows, 2).render(),
            "MEMBER  BALANCE  STATUS\n\
             ------  -------  -------\n\
             alice     60.00  is owed\n\
             bob      -30.00  owes\n\
             carol    -30.00  owes\n\
             dan        0.00  settled\n"
        );
    }

    #[test]
    fn settle_output() {
        let reply = obj(
            r#"{"status":"ok","settlements":[{"from":"bob","to":"alice","amount":30.0},{"from":"carol","to":"alice","amount":1030.5}],
                "method":"minimal","transfers":2,"proven_minimal":true,"lower_bound":2}"#,
        );
        let ts = transfers(&reply["settlements"], 2).unwrap();
        assert_eq!(
            transfers_table(&ts, 2).render(),
            "FROM   TO      AMOUNT\n-----  -----  -------\nbob    alice    30.00\ncarol  alice  1030.50\n"
        );
        assert_eq!(settle_summary(&reply).unwrap(), "method minimal, 2 transfers (proven minimal)");
        assert_eq!(settle_summary(&obj(r#"{"settlements":[]}"#)), None);
    }

    #[test]
    fn balance_details_in_member_order() {
        let reply = obj(r#"{"status":"ok","members":[
                {"member":"bob","paid":70.00,"share":90.00,"payments_sent":12.30,"payments_received":0.00,"net":-7.70},
                {"member":"alice","paid":1090,"share":30,"payments_sent":0,"payments_received":12.3,"net":1047.7}]}"#);
        let rows = balance_details(&reply).unwrap();
        assert_eq!(rows[0].net, Cents(-770));
        assert_eq!(
            balance_details_table(&rows, 2).render(),
            "MEMBER     PAID  SHARE   SENT  RECEIVED      NET\n\
             ------  -------  -----  -----  --------  -------\n\
             bob       70.00  90.00  12.30      0.00    -7.70\n\
             alice   1090.00  30.00   0.00     12.30  1047.70\n"
        );
        assert!(balance_details(&obj(r#"{"members":[{"member":"a","paid":1}]}"#)).is_err());
        assert!(balance_details(&obj(r#"{"members":[{"paid":1}]}"#)).is_err());
        assert!(balance_details(&obj(r#"{"debts":[]}"#)).is_err());
    }

    #[test]
    fn notification_lines() {
        let n = obj(
            r#"{"type":"notification","event":"transaction_added","group":"trip","message":"alice added ₹90.00 expense"}"#,
        );
        assert_eq!(notification_line(&n), "🔔 [trip] alice added ₹90.00 expense");
        let s = obj(
            r#"{"type":"settlement","group":"trip","message":"alice asked to settle","data":[{"from":"bob","to":"alice","amount":30}]}"#,
        );
        assert_eq!(notification_line(&s), "💸 [trip] alice asked to settle: bob → alice 30.00");
        assert_eq!(notification_line_in(&s, Some("INR")), "💸 [trip] alice asked to settle: bob → alice ₹30.00");
        assert_eq!(notification_line_in(&s, Some("EUR")), "💸 [trip] alice asked to settle: bob → alice EUR 30.00");
        let bare = obj(r#"{"type":"notification","event":"member_joined"}"#);
        assert_eq!(notification_line(&bare), "🔔 member_joined");
        let hostile =
            obj(r#"{"type":"notification","group":"\u001b]0;pwned\u0007","message":"bob\nfake \u202egnp.exe",
                "event":"x"}"#);
        assert_eq!(notification_line(&hostile), "🔔 [\\u{1b}]0;pwned\\u{7}] bob\\u{a}fake \\u{202e}gnp.exe");
    }

    /// A yen group's reply says `"decimals": 0`, a dinar group's `3`: every amount is read and
    /// written in them; without it, hundredths as before.
    #[test]
    fn a_replys_decimals_read_and_write_its_group_amounts() {
        let yen = obj(r#"{"decimals":0,"transactions":[{"id":1,"payer":"alice","amount":1000,"description":"sushi",
            "split_between":[],"created_at":0,"paid_by":{"alice":1000},"shares":{"alice":334,"bob":333,"carol":333},
            "split":{"mode":"exact"}}],"payments":[{"id":1,"from":"bob","to":"alice","amount":333,"by":"bob","created_at":0}],
            "balances":{"alice":666,"bob":-333,"carol":-333},"settlements":[{"from":"bob","to":"alice","amount":333}]}"#);
        let txns = transactions(&yen).unwrap();
        assert_eq!((txns[0].amount, txns[0].decimals), (Cents(1000), 0));
        assert_eq!(txns[0].sharers(), "alice 334, bob 333, carol 333");
        assert!(
            transactions_table(&txns).render().contains("alice    1000  sushi"),
            "{}",
            transactions_table(&txns).render()
        );
        assert!(transactions_csv(&txns)
            .ends_with(",alice,1000,sushi,,false,,exact,alice=1000,alice=334;bob=333;carol=333\n"));
        let list = payments(&yen).unwrap();
        assert!(
            payments_table(&list).render().ends_with("bob   alice     333  bob\n"),
            "{}",
            payments_table(&list).render()
        );
        assert_eq!(payments_csv(&list).lines().nth(1), Some("1,1970-01-01T00:00:00Z,,bob,alice,333,bob"));
        let rows = balances(&yen).unwrap();
        assert_eq!(rows[1], ("bob".to_string(), Cents(-333)));
        assert!(
            balances_table(&rows, 0).render().contains("bob        -333  owes"),
            "{}",
            balances_table(&rows, 0).render()
        );
        let ts = transfers(&yen["settlements"], decimals(&yen).unwrap()).unwrap();
        assert_eq!(transfers_table(&ts, 0).render(), "FROM  TO     AMOUNT\n----  -----  ------\nbob   alice     333\n");

        let dinar = obj(r#"{"decimals":3,"balances":{"alice":0.836,"bob":-0.418,"carol":"-0.418"},
            "transaction":{"id":2,"payer":"alice","amount":1.255,"shares":{"alice":0.419,"bob":0.418,"carol":0.418},
            "split":{"mode":"exact"}},"payment":{"id":3,"from":"bob","to":"alice","amount":0.418},
            "members":[{"member":"alice","paid":1.255,"share":0.419,"payments_sent":0,"payments_received":0.418,"net":0.418}]}"#);
        let rows = balances(&dinar).unwrap();
        assert_eq!(balances_table(&rows, 3).render().lines().nth(2), Some("alice     0.836  is owed"));
        let txn = transaction(&dinar).unwrap().unwrap();
        assert_eq!(
            (txn.amount, txn.amount_text(), txn.sharers()),
            (Cents(1255), "1.255".into(), "alice 0.419, bob 0.418, carol 0.418".into())
        );
        assert_eq!(payment(&dinar).unwrap().unwrap().amount_text(), "0.418");
        let details = balance_details(&dinar).unwrap();
        assert_eq!(
            balance_details_table(&details, 3).render().lines().nth(2),
            Some("alice   1.255  0.419  0.000     0.418  0.418")
        );

        // No `decimals`: hundredths, so a dinar group's thousandths do not read, and 1000 is 1000.00.
        let old = obj(r#"{"transactions":[{"payer":"alice","amount":1000}],"balances":{"bob":-0.418}}"#);
        assert_eq!(transactions(&old).unwrap()[0].amount_text(), "1000.00");
        assert_eq!(balances(&old), Err("balance of bob: must have at most 2 decimals".into()));
        assert_eq!(
            balances(&obj(r#"{"decimals":0,"balances":{"bob":10.5}}"#)),
            Err("balance of bob: must be a whole number (the currency has no decimals)".into())
        );
        for bad in [r#"{"decimals":4}"#, r#"{"decimals":-1}"#, r#"{"decimals":"0"}"#, r#"{"decimals":null}"#] {
            assert!(decimals(&obj(bad)).is_err(), "{bad}");
            assert!(balances(&obj(&bad.replace('}', r#","balances":{}}"#))).is_err(), "{bad}");
        }
    }

    /// A conflict's transaction comes without `decimals` from a server that only says it on
    /// success: it is read in the decimals of the one shown.
    #[test]
    fn a_conflicts_transaction_reads_in_the_shown_ones_decimals() {
        let current = obj(r#"{"status":"error","code":"conflict","transaction":{"payer":"alice","amount":1000}}"#);
        assert_eq!(transaction_or(&current, 0).unwrap().unwrap().amount_text(), "1000");
        assert_eq!(transaction_or(&current, 2).unwrap().unwrap().amount_text(), "1000.00");
        let said = obj(r#"{"decimals":3,"transaction":{"payer":"alice","amount":1.255}}"#);
        assert_eq!(transaction_or(&said, 0).unwrap().unwrap().amount_text(), "1.255");
    }

    #[test]
    fn a_pushed_plan_reads_in_the_messages_decimals() {
        let yen = obj(r#"{"type":"settlement","group":"g","decimals":0,"message":"alice asked to settle",
            "data":[{"from":"bob","to":"alice","amount":333}]}"#);
        assert_eq!(notification_line(&yen), "💸 [g] alice asked to settle: bob → alice 333");
        assert_eq!(notification_line_in(&yen, Some("JPY")), "💸 [g] alice asked to settle: bob → alice JPY 333");
        let dinar = obj(r#"{"type":"settlement","group":"d","decimals":3,"message":"bob asked to settle",
            "data":[{"from":"carol","to":"alice","amount":0.418}]}"#);
        assert_eq!(notification_line_in(&dinar, Some("KWD")), "💸 [d] bob asked to settle: carol → alice KWD 0.418");
        let added = obj(r#"{"type":"notification","group":"g","decimals":0,"message":"alice added JPY 1000 expense"}"#);
        assert_eq!(notification_line(&added), "🔔 [g] alice added JPY 1000 expense");
        let trip = obj(r#"{"type":"settlement","group":"t","decimals":2,"message":"bob settled up",
            "data":[{"from":"alice","to":"bob","amount":2.00}],
            "by_currency":{"JPY":[{"from":"bob","to":"alice","amount":500}]}}"#);
        assert_eq!(
            notification_line_in(&trip, Some("EUR")),
            "💸 [t] bob settled up: alice → bob EUR 2.00; In JPY: bob → alice JPY 500"
        );
        let bad = obj(r#"{"type":"settlement","decimals":9,"data":[]}"#);
        assert!(notification_line(&bad).contains("(unreadable: the reply's decimals 9 is not 0 to 3)"));
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc_datetime(0, true), "1970-01-01T00:00:00Z");
        assert_eq!(utc_datetime(1_764_090_000_000, false), "2025-11-25 17:00");
        assert_eq!(utc_datetime(951_782_400_000, true), "2000-02-29T00:00:00Z");
        assert_eq!(utc_datetime(-1000, true), "1969-12-31T23:59:59Z");
    }
}
