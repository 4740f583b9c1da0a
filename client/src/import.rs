//! `splitc import-splitwise GROUP FILE.csv`: the requests and the report of an import.
//!
//! Before connecting, the whole file is read and every row planned (`crate::splitwise`); any problem
//! stops it there (exit 2), all of them named by line. Then: the mapped users must be members of the
//! group and the file's currency the group's; each row is sent in file order with its idempotency key
//! (an expense as `add_transaction` with an exact split and `paid_by`, a payment row as one
//! `record_payment` per receiver), so a run that stops — a refused row (exit 1), a lost connection
//! (exit 3) — can be run again and resumes. Last, the check: every imported transaction and payment
//! is still as sent (`export`), and every member's balance (`view_balances`) is the file's
//! `Total balance` row (members of the group not in the file: 0). Exit 0 only when all match.
//!
//! Owns the order of requests, the member map and the report. Does not own reading the file.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use vocab::{Action, Cents};

use crate::actions::Ctx;
use crate::conn::{Error, Object};
use crate::oneshot::{emit, print_json, shape, Failure};
use crate::splitwise::file::{self, Export};
use crate::splitwise::key::row_keys;
use crate::splitwise::rebuild::{plan, Plan};
use crate::table::{Align, Table};
use crate::term::{sanitize, warn};
use crate::{view, ImportSplitwise};

/// At most this many problems of a file are listed (the count of the rest follows).
const PROBLEMS_SHOWN: usize = 20;
/// A line on stderr after every this many rows, so a long import shows it is moving (each row waits
/// for the server's durable write).
const PROGRESS_EVERY: usize = 1_000;
/// The server's limit on a description, in characters.
const DESCRIPTION_CHARS_MAX: usize = 500;

/// A file read and planned, with the splitd user of each member column.
pub struct Prepared {
    pub export: Export,
    pub plans: Vec<Plan>,
    pub keys: Vec<String>,
    pub users: Vec<String>,
}

/// What the group should hold for one sent change, to check it afterwards.
#[derive(Debug, Clone, PartialEq)]
enum Made {
    Expense { id: u64, paid: Vec<(String, Cents)>, owed: Vec<(String, Cents)> },
    Payment { id: u64, from: String, to: String, amount: Cents },
}

/// What happened to one row.
enum Sent {
    Added(Vec<Made>),
    Already(Vec<Made>),
    Skipped,
}

/// Reads and plans the file and maps its members: everything that needs no server.
pub fn prepare(c: &ImportSplitwise) -> Result<Prepared, Failure> {
    let name = c.file.display();
    let size = std::fs::metadata(&c.file).map_err(|e| Failure::Usage(format!("{name}: {e}")))?.len();
    if size > file::FILE_BYTES_MAX {
        return Err(Failure::Usage(format!(
            "{name}: {size} bytes, more than an import reads ({} MiB)",
            file::FILE_BYTES_MAX >> 20
        )));
    }
    let bytes = std::fs::read(&c.file).map_err(|e| Failure::Usage(format!("{name}: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::Usage(format!("{name}: not UTF-8 text (save the export as CSV UTF-8)")))?;
    let mut export = file::read(&text).map_err(|problems| listed(&name.to_string(), &problems))?;
    let mut problems = std::mem::take(&mut export.problems);
    let plans: Vec<Plan> = export
        .rows
        .iter()
        .map(|row| {
            plan(row).unwrap_or_else(|e| {
                problems.push((row.line, e));
                Plan::ZeroCost
            })
        })
        .collect();
    if !problems.is_empty() {
        problems.sort_by_key(|(line, _)| *line);
        let problems: Vec<String> = problems.iter().map(|(line, p)| format!("line {line}: {p}")).collect();
        return Err(listed(&name.to_string(), &problems));
    }
    let users = map_members(&export.members, &c.map).map_err(Failure::Usage)?;
    let keys = row_keys(&export);
    Ok(Prepared { export, plans, keys, users })
}

/// The problems of a file as one usage message, the first [`PROBLEMS_SHOWN`] of them.
fn listed(name: &str, problems: &[String]) -> Failure {
    let mut text = format!("{name}: nothing imported; fix these and run it again:");
    for problem in problems.iter().take(PROBLEMS_SHOWN) {
        text.push_str(&format!("\n  {problem}"));
    }
    if problems.len() > PROBLEMS_SHOWN {
        text.push_str(&format!("\n  … and {} more", problems.len() - PROBLEMS_SHOWN));
    }
    Failure::Usage(text)
}

/// The splitd user of each member column: from `--map "Name in file=user"`, else the same name.
pub fn map_members(members: &[String], maps: &[String]) -> Result<Vec<String>, String> {
    let mut map = BTreeMap::new();
    for item in maps {
        let (name, user) = item
            .rsplit_once('=')
            .map(|(n, u)| (n.trim(), u.trim()))
            .ok_or_else(|| format!("--map {item:?}: write \"Name in file=user\""))?;
        if !members.iter().any(|m| m == name) {
            return Err(format!(
                "--map {item:?}: the file has no member column {name:?} (it has {})",
                members.join(", ")
            ));
        }
        if map.insert(name.to_string(), user.to_string()).is_some() {
            return Err(format!("--map: {name:?} is mapped twice"));
        }
    }
    let users: Vec<String> = members.iter().map(|m| map.get(m).cloned().unwrap_or_else(|| m.clone())).collect();
    for (i, (member, user)) in members.iter().zip(&users).enumerate() {
        if !is_user_name(user) {
            return Err(format!(
                "{user:?} is not a splitd user name (1-32 of A-Z a-z 0-9 _ . -): add --map \"{member}=USER\""
            ));
        }
        if let Some(other) = users[..i].iter().position(|u| u == user) {
            return Err(format!(
                "{:?} and {member:?} are both {user}: each column must be its own user",
                members[other]
            ));
        }
    }
    Ok(users)
}

fn is_user_name(name: &str) -> bool {
    (1..=32).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// Runs the import on the logged-in connection; the exit code (0: every balance matches the file).
pub fn run(ctx: &mut Ctx, c: &ImportSplitwise) -> Result<i32, Failure> {
    let prepared = prepare(c)?;
    check_group(ctx, &c.group, &prepared)?;
    let mut sent = Vec::with_capacity(prepared.plans.len());
    for i in 0..prepared.plans.len() {
        match send_row(ctx, &c.group, &prepared, i) {
            Ok(row) => sent.push(row),
            Err(e) => return Err(stopped(&prepared, &sent, i, e)),
        }
        if (i + 1) % PROGRESS_EVERY == 0 {
            warn(&format!("splitc: {} of {} rows sent", i + 1, prepared.plans.len()));
        }
    }
    let check = check(ctx, &c.group, &prepared, &sent)?;
    report(c, &prepared, &sent, &check);
    Ok(if check.matches() { 0 } else { 1 })
}

/// The failure of row `i`, after saying what was done and that a new run resumes.
fn stopped(prepared: &Prepared, sent: &[Sent], i: usize, e: Error) -> Failure {
    let line = prepared.export.rows[i].line;
    let done = sent.iter().filter(|s| !matches!(s, Sent::Skipped)).count();
    let resume = format!(
        "{done} rows before line {line} are in the group; run the same command again to go on from there \
         (rows already imported are not added twice)"
    );
    match e {
        Error::Server { message, code } => {
            Failure::Net(Error::Server { message: format!("line {line}: {message}; {resume}"), code })
        }
        other => {
            warn(&format!("splitc: stopped at line {line}: {resume}"));
            Failure::Net(other)
        }
    }
}

/// The error of a check that the server is not to blame for (exit 1, like a refusal).
fn refused(message: String) -> Failure {
    Failure::Net(Error::Server { message, code: None })
}

/// Every mapped user is a member of the group, and the file's currency is the group's.
fn check_group(ctx: &mut Ctx, group: &str, prepared: &Prepared) -> Result<(), Failure> {
    let reply = ctx.conn.request(Action::GetGroupMembers, Some(json!({ "group": group })))?;
    let members = view::names(&reply, "members").map_err(shape)?;
    let missing: Vec<String> = (prepared.export.members.iter().zip(&prepared.users))
        .filter(|(_, user)| !members.contains(user))
        .map(|(name, user)| if name == user { user.clone() } else { format!("{user} (the file's {name:?})") })
        .collect();
    if !missing.is_empty() {
        return Err(refused(format!(
            "not members of {group}: {}; nothing imported (they can join it, or --map \"Name in file=user\" \
             names who they are)",
            missing.join(", ")
        )));
    }
    let reply = ctx.conn.request(Action::GroupInfo, Some(json!({ "group": group })))?;
    let currency = reply.get("currency").and_then(Value::as_str);
    match (&prepared.export.currency, currency) {
        (Some(file), Some(group_currency)) if file != group_currency => Err(refused(format!(
            "the file is in {file} and {group} in {group_currency}; nothing imported (amounts are never \
             converted: `splitc set-group-currency {group} {file}` if the group is meant to be in {file})"
        ))),
        _ => Ok(()),
    }
}

/// A description as the server takes it: one line (characters it refuses become spaces), at most
/// 500 characters.
fn description(text: &str) -> String {
    let line: String = text.chars().map(|c| if vocab::text::unsafe_in_text(c).is_some() { ' ' } else { c }).collect();
    line.trim().chars().take(DESCRIPTION_CHARS_MAX).collect::<String>().trim_end().to_string()
}

/// `{user: amount}` for the wire and for the check.
fn by_user(list: &[(usize, Cents)], users: &[String]) -> Vec<(String, Cents)> {
    let mut out: Vec<(String, Cents)> = list.iter().map(|(i, c)| (users[*i].clone(), *c)).collect();
    out.sort();
    out
}

fn wire(list: &[(String, Cents)]) -> Value {
    Value::Object(list.iter().map(|(user, c)| (user.clone(), c.to_json())).collect::<Map<_, _>>())
}

/// Sends row `i` (nothing for a zero cost).
fn send_row(ctx: &mut Ctx, group: &str, prepared: &Prepared, i: usize) -> Result<Sent, Error> {
    let row = &prepared.export.rows[i];
    let key = &prepared.keys[i];
    let users = &prepared.users;
    let mut made = Vec::new();
    // A row is already there when all it makes was (a run stopped inside a payment row adds the rest).
    let mut duplicate = true;
    match &prepared.plans[i] {
        Plan::ZeroCost => return Ok(Sent::Skipped),
        Plan::Expense { paid, owed } => {
            let (paid, owed) = (by_user(paid, users), by_user(owed, users));
            let mut data = json!({
                "group": group, "amount": row.cost.to_json(), "key": key,
                "split": { "mode": "exact", "amounts": wire(&owed) }, "paid_by": wire(&paid),
            });
            add_common(&mut data, &row.description, &row.date);
            if let Some(category) = row.category {
                data["category"] = json!(category);
            }
            let reply = ctx.conn.request(Action::AddTransaction, Some(data))?;
            duplicate = is_duplicate(&reply);
            made.push(Made::Expense { id: id_of(&reply, "transaction")?, paid, owed });
        }
        Plan::Payments(payments) => {
            for (n, (from, to, amount)) in payments.iter().enumerate() {
                let (from, to) = (users[*from].clone(), users[*to].clone());
                let mut data = json!({
                    "group": group, "from": from, "to": to, "amount": amount.to_json(), "key": format!("{key}-{}", n + 1),
                });
                add_common(&mut data, "", &row.date);
                let reply = ctx.conn.request(Action::RecordPayment, Some(data))?;
                duplicate &= is_duplicate(&reply);
                made.push(Made::Payment { id: id_of(&reply, "payment")?, from, to, amount: *amount });
            }
        }
    }
    Ok(if duplicate { Sent::Already(made) } else { Sent::Added(made) })
}

fn add_common(data: &mut Value, text: &str, date: &str) {
    let text = description(text);
    if !text.is_empty() {
        data["description"] = json!(text);
    }
    if !date.is_empty() {
        data["date"] = json!(date);
    }
}

fn is_duplicate(reply: &Object) -> bool {
    reply.get("duplicate").and_then(Value::as_bool) == Some(true)
}

fn id_of(reply: &Object, what: &str) -> Result<u64, Error> {
    reply
        .get(what)
        .and_then(|o| o.get("id"))
        .and_then(Value::as_u64)
        .ok_or_else(|| Error::Protocol(format!("the reply has no {what} id")))
}

/// What the group holds against what the file says.
struct Check {
    /// Lines of rows whose transaction or payment was deleted or changed since it was imported.
    rows_changed: Vec<usize>,
    /// (member, in the group, in the file) for each balance that differs.
    differences: Vec<(String, Cents, Cents)>,
    /// Lines of skipped rows whose cells are not all zero (the file counts them, the import does not).
    skipped_moving: Vec<usize>,
    /// For each member whose Total balance is not the sum of the file's rows: (member, rows, total).
    file_inconsistent: Vec<(String, Cents, Cents)>,
}

impl Check {
    fn matches(&self) -> bool {
        self.rows_changed.is_empty() && self.differences.is_empty()
    }
}

fn check(ctx: &mut Ctx, group: &str, prepared: &Prepared, sent: &[Sent]) -> Result<Check, Failure> {
    let reply = ctx.conn.request(Action::Export, Some(json!({ "group": group })))?;
    let txns = view::transactions(&reply).map_err(shape)?;
    let payments = view::payments(&reply).map_err(shape)?;
    let holds = |made: &Made| match made {
        Made::Expense { id, paid, owed } => txns.iter().any(|t| {
            let sorted = |l: &[(String, Cents)]| {
                let mut l =
                    l.iter().map(|(u, c)| Some((u.clone(), in_cents(*c, t.decimals)?))).collect::<Option<Vec<_>>>();
                l.iter_mut().for_each(|l| l.sort());
                l
            };
            t.id == Some(*id) && sorted(&t.paid_by).as_ref() == Some(paid) && sorted(&t.shares).as_ref() == Some(owed)
        }),
        Made::Payment { id, from, to, amount } => payments.iter().any(|p| {
            p.id == Some(*id) && p.from == *from && p.to == *to && in_cents(p.amount, p.decimals) == Some(*amount)
        }),
    };
    let rows = &prepared.export.rows;
    let mut rows_changed = Vec::new();
    for (row, sent) in rows.iter().zip(sent) {
        if let Sent::Added(made) | Sent::Already(made) = sent {
            if !made.iter().all(holds) {
                rows_changed.push(row.line);
            }
        }
    }
    let skipped_moving =
        rows.iter().zip(sent).filter(|(r, s)| matches!(s, Sent::Skipped) && r.cells.iter().any(|c| c.0 != 0));
    let skipped_moving = skipped_moving.map(|(r, _)| r.line).collect();
    let (differences, file_inconsistent) = balances(ctx, group, prepared)?;
    Ok(Check { rows_changed, differences, skipped_moving, file_inconsistent })
}

/// A group amount in the group's minor unit (`decimals`: whole yen, thousandths of a dinar) as the
/// file's hundredths, which is what was sent; `None` when it has a digit below the cent.
fn in_cents(amount: Cents, decimals: u8) -> Option<Cents> {
    let cents = match decimals {
        0..=2 => amount.0.checked_mul(10_i64.pow(u32::from(2 - decimals)))?,
        _ => {
            let unit = 10_i64.pow(u32::from(decimals - 2));
            (amount.0 % unit == 0).then_some(amount.0 / unit)?
        }
    };
    Some(Cents(cents))
}

/// The balances that differ from the file's, and where the file's total is not the sum of its rows.
type Differences = (Vec<(String, Cents, Cents)>, Vec<(String, Cents, Cents)>);

fn balances(ctx: &mut Ctx, group: &str, prepared: &Prepared) -> Result<Differences, Failure> {
    let reply = ctx.conn.request(Action::ViewBalances, Some(json!({ "group": group })))?;
    let decimals = view::decimals(&reply).map_err(shape)?;
    let in_group = view::balances(&reply).map_err(shape)?.into_iter().map(|(user, amount)| {
        let cents = in_cents(amount, decimals);
        let text = vocab::money::minor_text(amount, decimals);
        let cents =
            cents.ok_or_else(|| shape(format!("{user}'s balance {text} is not in whole cents, as the file is")))?;
        Ok((user, cents))
    });
    let in_group = in_group.collect::<Result<BTreeMap<String, Cents>, Failure>>()?;
    let export = &prepared.export;
    let sums: Vec<Cents> =
        (0..export.members.len()).map(|m| Cents(export.rows.iter().map(|r| r.cells[m].0).sum())).collect();
    let file_total = export.total.as_ref().map(|(_, t)| t.clone()).unwrap_or_else(|| sums.clone());
    let mut expected: BTreeMap<String, Cents> = in_group.keys().map(|u| (u.clone(), Cents::ZERO)).collect();
    let mut inconsistent = Vec::new();
    for (m, user) in prepared.users.iter().enumerate() {
        expected.insert(user.clone(), file_total[m]);
        if sums[m] != file_total[m] {
            inconsistent.push((user.clone(), sums[m], file_total[m]));
        }
    }
    let differences = expected
        .into_iter()
        .map(|(user, want)| {
            let have = in_group.get(&user).copied().unwrap_or(Cents::ZERO);
            (user, have, want)
        })
        .filter(|(_, have, want)| have != want)
        .collect();
    Ok((differences, inconsistent))
}

/// Prints the outcome: counts, skipped lines, then the check.
fn report(c: &ImportSplitwise, prepared: &Prepared, sent: &[Sent], check: &Check) {
    let lines = |pick: fn(&Sent) -> bool| -> Vec<usize> {
        prepared.export.rows.iter().zip(sent).filter(|(_, s)| pick(s)).map(|(r, _)| r.line).collect()
    };
    let added = lines(|s| matches!(s, Sent::Added(_)));
    let already = lines(|s| matches!(s, Sent::Already(_)));
    let skipped = lines(|s| matches!(s, Sent::Skipped));
    let total_line = prepared.export.total.as_ref().map(|(line, _)| *line);
    if c.json {
        let triple = |list: &[(String, Cents, Cents)], a: &str, b: &str| -> Vec<Value> {
            list.iter().map(|(u, x, y)| json!({ "member": u, a: x.to_json(), b: y.to_json() })).collect()
        };
        let mut reply = Object::new();
        reply.insert("added".into(), json!(added.len()));
        reply.insert("already".into(), json!(already.len()));
        reply.insert("skipped_zero_cost".into(), json!(skipped));
        reply.insert("total_line".into(), json!(total_line));
        reply.insert("balances_match".into(), json!(check.matches()));
        reply.insert("differences".into(), json!(triple(&check.differences, "group", "file")));
        reply.insert("rows_changed".into(), json!(check.rows_changed));
        reply.insert("skipped_moving".into(), json!(check.skipped_moving));
        reply.insert("file_inconsistent".into(), json!(triple(&check.file_inconsistent, "rows", "total")));
        print_json(&reply);
        return;
    }
    let file = sanitize(&c.file.display().to_string()).into_owned();
    let group = sanitize(&c.group).into_owned();
    let mut text = format!(
        "Imported {file} into {group}: {} rows added, {} already there, {} skipped.\n",
        added.len(),
        already.len(),
        skipped.len()
    );
    if !skipped.is_empty() {
        text.push_str(&format!("Skipped (zero cost): {}\n", line_list(&skipped)));
    }
    text.push_str(&check_text(check, total_line));
    emit(&text);
}

/// `line 3`, `lines 3, 7, 9`.
fn line_list(lines: &[usize]) -> String {
    let list: Vec<String> = lines.iter().map(usize::to_string).collect();
    format!("line{} {}", if lines.len() == 1 { "" } else { "s" }, list.join(", "))
}

fn check_text(check: &Check, total_line: Option<usize>) -> String {
    let against = match total_line {
        Some(line) => format!("the file's Total balance row (line {line})"),
        None => "the sum of the file's rows (it has no Total balance row)".to_string(),
    };
    let mut text = String::new();
    if check.matches() {
        text.push_str(&format!("All balances match {against}.\n"));
    } else if check.differences.is_empty() {
        text.push_str(&format!("All balances match {against}, but some rows changed since.\n"));
    } else {
        text.push_str(&format!("Balances that differ from {against}:\n"));
        let mut table = Table::new(&[("MEMBER", Align::Left), ("IN GROUP", Align::Right), ("IN FILE", Align::Right)]);
        for (user, have, want) in &check.differences {
            table.push(vec![user.clone(), have.to_string(), want.to_string()]);
        }
        text.push_str(&table.render());
    }
    if !check.rows_changed.is_empty() {
        text.push_str(&format!(
            "Rows that disagree (their expense or payment was edited or deleted in the group since it was \
             imported): {}\n",
            line_list(&check.rows_changed)
        ));
    }
    if !check.skipped_moving.is_empty() {
        text.push_str(&format!(
            "Rows skipped for their zero cost whose cells are not zero (the file counts them): {}\n",
            line_list(&check.skipped_moving)
        ));
    }
    for (user, rows, total) in &check.file_inconsistent {
        text.push_str(&format!("The file's own rows give {user} {rows}, its Total balance row {total}.\n"));
    }
    let unexplained =
        check.rows_changed.is_empty() && check.skipped_moving.is_empty() && check.file_inconsistent.is_empty();
    if !check.differences.is_empty() && unexplained {
        text.push_str("Every imported row is as imported: the difference is from other changes to the group.\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file's hundredths were sent; a yen or dinar group gives them back in its own unit.
    #[test]
    fn a_groups_amounts_compare_as_the_files_cents() {
        assert_eq!(in_cents(Cents(1000), 0), Some(Cents(100_000)));
        assert_eq!(in_cents(Cents(-333), 0), Some(Cents(-33_300)));
        assert_eq!(in_cents(Cents(1250), 3), Some(Cents(125)));
        assert_eq!(in_cents(Cents(1255), 3), None, "a thousandth is not in the file");
        assert_eq!(in_cents(Cents(1234), 2), Some(Cents(1234)));
        assert_eq!(in_cents(Cents(i64::MAX), 0), None);
    }

    #[test]
    fn members_map_to_users() {
        let members = vec!["Alice Smith".to_string(), "bob".to_string()];
        assert_eq!(map_members(&members, &["Alice Smith=alice".into()]), Ok(vec!["alice".into(), "bob".into()]));
        let unmapped = map_members(&members, &[]).unwrap_err();
        assert!(unmapped.contains("add --map \"Alice Smith=USER\""), "{unmapped}");
        assert!(map_members(&members, &["Carol=carol".into()]).unwrap_err().contains("no member column \"Carol\""));
        assert!(map_members(&members, &["Alice Smith=bob".into()]).unwrap_err().contains("both bob"));
        assert!(map_members(&members, &["alice".into()]).unwrap_err().contains("Name in file=user"));
        assert_eq!(description("two\nlines\t "), "two lines");
        assert_eq!(description(&"x".repeat(600)).chars().count(), 500);
    }
}
