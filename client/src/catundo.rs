//! The subcommands of categories, totals and undo: `categories`, `add-category`, `stats` (the totals
//! drawn as a bar chart) and `restore` / `restore-payment`; and the undo hint a one-shot delete
//! prints. The interactive menu's "undo?" after a delete is in `interactive`.
//!
//! Does not own connecting or logging in (`oneshot`), nor the table rules (`table`).

use argh::FromArgs;
use serde_json::{json, Value};
use vocab::Action;

use crate::actions::Ctx;
use crate::conn::Object;
use crate::oneshot::{emit, print_json, print_message, Failure};
use crate::table::display_width;
use crate::term::sanitize;
use crate::Command;

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "categories", example = "splitc --user alice categories trip")]
/// list a group's categories (the defaults, then the ones it added)
pub struct Categories {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "add-category", example = "splitc --user alice add-category trip ski")]
/// add a category to a group's list (for `add --category`)
pub struct AddCategory {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// the new category's name
    #[argh(positional)]
    pub category: String,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "stats", example = "splitc --user alice stats trip --by member --from 2026-01-01")]
/// exact totals of spending (what each one consumed) and payments, as a bar chart
pub struct Stats {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// category (default), member or month
    #[argh(option, default = "String::from(\"category\")")]
    pub by: String,
    /// the first day counted, YYYY-MM-DD
    #[argh(option)]
    pub from: Option<String>,
    /// the last day counted, YYYY-MM-DD
    #[argh(option)]
    pub to: Option<String>,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "restore", example = "splitc --user alice restore dinner 1")]
/// bring back a deleted transaction (undo `delete`), with its id
pub struct Restore {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// the deleted transaction's id
    #[argh(positional)]
    pub id: u64,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "restore-payment", example = "splitc --user alice restore-payment dinner 3")]
/// bring back a deleted payment (undo `delete-payment`), with its id
pub struct RestorePayment {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// the deleted payment's id
    #[argh(positional)]
    pub id: u64,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

/// Runs one of this file's subcommands.
pub fn execute(ctx: &mut Ctx, command: &Command) -> Result<i32, Failure> {
    match command {
        Command::Categories(c) => {
            let reply = ctx.ask(Action::ListCategories, json!({ "group": c.group }))?;
            print_categories(&reply, c.json);
        }
        Command::AddCategory(c) => {
            let reply = ctx.ask(Action::AddCategory, json!({ "group": c.group, "category": c.category }))?;
            print_categories(&reply, c.json);
        }
        Command::Stats(c) => {
            let mut data = json!({ "group": c.group, "by": c.by });
            for (key, day) in [("from", &c.from), ("to", &c.to)] {
                if let Some(day) = day {
                    vocab::parse_date(day).map_err(|why| Failure::Usage(format!("--{key} {why}")))?;
                    data[key] = json!(day);
                }
            }
            let reply = ctx.ask(Action::Stats, data)?;
            if c.json {
                print_json(&reply);
            } else {
                emit(&chart(&reply).map_err(crate::oneshot::shape)?);
            }
        }
        Command::Restore(c) => {
            let reply = ctx.ask(Action::RestoreTransaction, json!({ "group": c.group, "id": c.id }))?;
            print_message(&reply, c.json);
        }
        Command::RestorePayment(c) => {
            let reply = ctx.ask(Action::RestorePayment, json!({ "group": c.group, "id": c.id }))?;
            print_message(&reply, c.json);
        }
        _ => {}
    }
    Ok(0)
}

/// What a one-shot delete prints after the server's words: how to take it back.
pub fn undo_hint(restore: &str, group: &str, id: u64) -> String {
    format!("Undo: splitc {restore} {} {id}\n", shell_word(group))
}

/// `word` as one shell argument (quoted when it holds anything but plain characters).
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty() && word.chars().all(|c| c.is_alphanumeric() || "-_.,/@".contains(c));
    if plain {
        sanitize(word).into_owned()
    } else {
        format!("'{}'", sanitize(&word.replace('\'', "'\\''")))
    }
}

fn print_categories(reply: &Object, json: bool) {
    if json {
        print_json(reply);
        return;
    }
    if let Some(message) = reply.get("message").and_then(Value::as_str) {
        emit(&format!("{}\n", sanitize(message)));
    }
    let names: Vec<&str> =
        reply.get("categories").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    emit(&format!("{}\n", sanitize(&names.join(", "))));
}

/// The width of a full bar, in terminal cells.
pub const BAR_CELLS: usize = 30;
/// A cell's eighths, for the bar's last cell.
const EIGHTHS: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];

/// `value` out of `max` as a bar of at most `width` cells, in eighths of a cell, padded to `width`.
/// A positive value shows at least a sliver; integer arithmetic only (the values are cents).
pub fn bar(value: i128, max: i128, width: usize) -> String {
    let mut text = String::new();
    if value > 0 && max > 0 {
        let eighths = ((value.min(max) * width as i128 * 8 + max / 2) / max).max(1) as usize;
        text = "█".repeat(eighths / 8) + EIGHTHS[eighths % 8];
    }
    let used = display_width(&text);
    text + &" ".repeat(width.saturating_sub(used))
}

/// A JSON amount (exact decimal text, at most `decimals` decimals: the reply's) in the group's
/// minor units (cents; whole yen, thousandths of a dinar); `None` if it is not one. Wider than
/// i64: totals over a whole group.
fn wide_minor(value: &Value, decimals: u8) -> Option<i128> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest.to_string()),
        None => (false, text.clone()),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((&digits, ""));
    let all_digits = whole.chars().chain(fraction.chars()).all(|c| c.is_ascii_digit());
    if whole.is_empty() || fraction.len() > usize::from(decimals) || !all_digits {
        return None;
    }
    let width = usize::from(decimals);
    let fraction = if width == 0 { 0 } else { format!("{fraction:0<width$}").parse::<i128>().ok()? };
    let minor = whole.parse::<i128>().ok()?.checked_mul(10_i128.pow(u32::from(decimals)))?.checked_add(fraction)?;
    Some(if negative { -minor } else { minor })
}

/// The amount as the server wrote it (exact), with the reply's `decimals` (`12.30`, `1000`, `1.255`).
fn amount_text(value: &Value, decimals: u8) -> String {
    let Some(minor) = wide_minor(value, decimals) else { return "?".into() };
    let (sign, abs, unit) = (if minor < 0 { "-" } else { "" }, minor.unsigned_abs(), 10_u128.pow(u32::from(decimals)));
    match decimals {
        0 => format!("{sign}{abs}"),
        _ => format!("{sign}{}.{:0width$}", abs / unit, abs % unit, width = usize::from(decimals)),
    }
}

/// The `stats` reply as a chart: a title, one line per row (label, bar, exact amount, and for
/// members or months what else they sent and received), then the totals; amounts in the reply's
/// decimals (`view::decimals`). Then each other currency's (`by_currency`), under `In JPY:`.
pub fn chart(reply: &Object) -> Result<String, String> {
    let decimals = crate::view::decimals(reply)?;
    let by = reply.get("by").and_then(Value::as_str).unwrap_or("category");
    let mut text = title(reply, by);
    text.push_str(&chart_body(reply, by, decimals));
    text.push_str(&crate::bycurrency::stats_text(reply, |sums, decimals| chart_body(sums, by, decimals))?);
    Ok(text)
}

/// The rows and totals of a chart (the reply's, or another currency's sums), amounts of `decimals`
/// decimals.
fn chart_body(reply: &Object, by: &str, decimals: u8) -> String {
    let field = |v: &Value, k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    let rows: Vec<Value> = reply.get("rows").and_then(Value::as_array).cloned().unwrap_or_default();
    let label = |row: &Value| sanitize(row.get(by).and_then(Value::as_str).unwrap_or("?")).into_owned();
    let mut text = String::new();
    let label_width = rows.iter().map(|r| display_width(&label(r))).chain([5]).max().unwrap_or(5);
    let amounts: Vec<String> = rows.iter().map(|r| amount_text(&field(r, "spent"), decimals)).collect();
    let total = amount_text(&field(&Value::Object(reply.clone()), "spending"), decimals);
    let amount_width = amounts.iter().chain([&total]).map(|a| a.len()).max().unwrap_or(0);
    let max = rows.iter().filter_map(|r| wide_minor(&field(r, "spent"), decimals)).max().unwrap_or(0);
    for (row, amount) in rows.iter().zip(&amounts) {
        let name = label(row);
        let pad = " ".repeat(label_width - display_width(&name));
        let shown = bar(wide_minor(&field(row, "spent"), decimals).unwrap_or(0), max, BAR_CELLS);
        text.push_str(&format!("{name}{pad}  {shown}  {amount:>amount_width$}{}\n", extra(row, by, decimals)));
    }
    if rows.is_empty() {
        text.push_str("(nothing in this span)\n");
    }
    let blank = " ".repeat(BAR_CELLS);
    text.push_str(&format!("{:<label_width$}  {blank}  {total:>amount_width$}\n", "total"));
    let payments = amount_text(&field(&Value::Object(reply.clone()), "payments"), decimals);
    text.push_str(&format!("payments: {payments}\n"));
    text
}

/// "Spending by category in trip (EUR), 2026-01-01 to 2026-01-31"
fn title(reply: &Object, by: &str) -> String {
    let text = |k: &str| reply.get(k).and_then(Value::as_str).map(|s| sanitize(s).into_owned());
    let group = text("group").unwrap_or_default();
    let currency = text("currency").map(|c| format!(" ({c})")).unwrap_or_default();
    let span = match (text("from"), text("to")) {
        (None, None) => String::new(),
        (from, to) => {
            format!(", {} to {}", from.unwrap_or_else(|| "the start".into()), to.unwrap_or_else(|| "now".into()))
        }
    };
    let what = if by == "member" { "consumed" } else { "spending" };
    format!("{} by {by} in {group}{currency}{span}\n", capitalized(what))
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// After a member's or a month's amount: what else it holds.
fn extra(row: &Value, by: &str, decimals: u8) -> String {
    let amount = |k: &str| amount_text(row.get(k).unwrap_or(&Value::Null), decimals);
    match by {
        "member" => format!(
            "  paid {}, sent {}, received {}",
            amount("paid"),
            amount("payments_sent"),
            amount("payments_received")
        ),
        "month" => format!("  payments {}", amount("payments")),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_proportional_in_eighths() {
        assert_eq!(bar(100, 100, 4), "████");
        assert_eq!(bar(50, 100, 4), "██  ");
        assert_eq!(bar(1, 1_000_000, 4), "▏   ", "a positive value shows a sliver");
        assert_eq!(bar(0, 100, 3), "   ");
        assert_eq!(bar(3, 8, 1), "▍");
        assert_eq!(display_width(&bar(12_345, 99_999, BAR_CELLS)), BAR_CELLS);
    }

    #[test]
    fn the_chart_aligns_labels_and_writes_exact_amounts() {
        let reply: Value = serde_json::from_str(
            r#"{"status":"ok","group":"trip","currency":"EUR","by":"category","from":null,"to":"2026-01-31",
            "spending":105.01,"payments":20.00,"rows":[{"category":"food","spent":90.00},
            {"category":"transport","spent":10.01},{"category":"月","spent":5.00}]}"#,
        )
        .unwrap();
        let text = chart(reply.as_object().unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Spending by category in trip (EUR), the start to 2026-01-31");
        assert!(lines[1].starts_with("food       ██████████████████████████████   90.00"), "{text}");
        assert!(lines[2].starts_with("transport  ███▍") && lines[2].ends_with("  10.01"), "{text}");
        assert!(lines[3].starts_with("月         █▋"), "a wide label is padded by cells: {text}");
        assert!(lines[4].starts_with("total") && lines[4].ends_with("105.01"), "{text}");
        assert_eq!(lines[5], "payments: 20.00");
        let widths: Vec<usize> = lines[1..5].iter().map(|l| display_width(l)).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "every amount ends in one column: {widths:?}");
        assert_eq!(
            wide_minor(&serde_json::from_str("-12345678901234567890.5").unwrap(), 2),
            Some(-1_234_567_890_123_456_789_050)
        );
        assert_eq!(undo_hint("restore", "my trip", 4), "Undo: splitc restore 'my trip' 4\n");
    }

    #[test]
    fn the_chart_writes_the_groups_decimals() {
        let chart_of = |text: &str| chart(serde_json::from_str::<Value>(text).unwrap().as_object().unwrap());
        let yen = chart_of(
            r#"{"group":"tokyo","currency":"JPY","decimals":0,"by":"member","spending":1000,"payments":333,
            "rows":[{"member":"alice","spent":334,"paid":1000,"payments_sent":0,"payments_received":333}]}"#,
        )
        .unwrap();
        let lines: Vec<&str> = yen.lines().collect();
        assert!(lines[1].ends_with("   334  paid 1000, sent 0, received 333"), "{yen}");
        assert!(lines[2].ends_with("  1000"), "{yen}");
        assert_eq!(lines[3], "payments: 333");
        let dinar = chart_of(
            r#"{"group":"kuwait","decimals":3,"by":"category","spending":1.255,"payments":0,
            "rows":[{"category":"food","spent":1.255}]}"#,
        )
        .unwrap();
        assert!(dinar.lines().nth(1).is_some_and(|l| l.ends_with("  1.255")), "{dinar}");
        assert!(dinar.ends_with("payments: 0.000\n"), "{dinar}");
        assert_eq!(wide_minor(&serde_json::from_str("10.5").unwrap(), 0), None, "no fractions of a yen");
        assert!(chart_of(r#"{"decimals":7,"rows":[]}"#).is_err());
    }

    #[test]
    fn each_other_currency_charted_in_its_decimals() {
        let chart_of = |text: &str| chart(serde_json::from_str::<Value>(text).unwrap().as_object().unwrap());
        let trip = chart_of(
            r#"{"group":"trip","currency":"EUR","by":"member","spending":10.00,"payments":0.00,"rows":[
            {"member":"alice","spent":10.00,"paid":10.00,"payments_sent":0.00,"payments_received":0.00}],
            "by_currency":{"JPY":{"spending":1235,"payments":17,"transactions":1,"payment_count":1,"rows":[
            {"member":"alice","spent":618,"paid":1235,"payments_sent":0,"payments_received":17},
            {"member":"bob","spent":617,"paid":0,"payments_sent":17,"payments_received":0}]}}}"#,
        )
        .unwrap();
        let lines: Vec<&str> = trip.lines().collect();
        assert_eq!(lines[3], "payments: 0.00", "{trip}");
        assert_eq!(lines[4], "In JPY:", "{trip}");
        assert!(lines[5].starts_with("alice  ██████████████████████████████   618  paid 1235"), "{trip}");
        assert!(lines[6].starts_with("bob    ██████████████████████████████   617  paid 0, sent 17"), "{trip}");
        assert!(lines[7].starts_with("total") && lines[7].ends_with("  1235"), "{trip}");
        assert_eq!(lines[8], "payments: 17");
        assert_eq!(lines.len(), 9, "{trip}");
        assert!(chart_of(r#"{"rows":[],"by_currency":{"JPY":[]}}"#).is_err(), "a part that is not an object");
    }
}
