//! The `by_currency` parts of replies in groups that convert at settlement (each other currency's
//! balances kept apart): `view_balances`, `settle`, `balance_details`, `pairwise_debts`, `stats`
//! and pushed settlements. Each read in its currency's own decimals (`vocab::currency::minor_units`)
//! and shown after the group currency's output, one section per currency under `In JPY:`.
//!
//! Does not own the group currency's tables (`view`), the chart (`catundo`) nor sending the
//! requests (`actions`).

use serde_json::Value;
use vocab::currency::minor_units;
use vocab::Cents;

use crate::conn::Object;
use crate::term::sanitize;
use crate::view;

/// One currency's balances: (member, amount in its minor units), by name.
pub type Balances = Vec<(String, Cents)>;

/// For each other currency under `by_currency`, in the reply's (code) order: `In JPY:` and what
/// `show` writes of its part, given its code and decimals. `{}` or no `by_currency` (an at-entry
/// group, an older server) writes nothing.
fn sections(reply: &Object, show: impl Fn(&str, &Value, u8) -> Result<String, String>) -> Result<String, String> {
    headed(reply, |currency| format!("In {currency}:\n"), show)
}

/// [`sections`] with each currency's heading written by `head` (given its sanitised code).
fn headed(
    reply: &Object,
    head: impl Fn(&str) -> String,
    show: impl Fn(&str, &Value, u8) -> Result<String, String>,
) -> Result<String, String> {
    let Some(map) = reply.get("by_currency") else { return Ok(String::new()) };
    let map = map.as_object().ok_or("by_currency is not an object")?;
    let mut text = String::new();
    for (currency, part) in map {
        let shown = show(currency, part, minor_units(currency)).map_err(|e| format!("{currency}: {e}"))?;
        text.push_str(&head(&sanitize(currency)));
        text.push_str(&shown);
    }
    Ok(text)
}

/// A currency's part of `by_currency` as an object.
fn object(part: &Value) -> Result<&Object, String> {
    part.as_object().ok_or_else(|| "its part is not an object".to_string())
}

/// A currency's balances (`{"alice": 617, ...}`, in its `decimals`), by name.
fn balance_rows(part: &Value, decimals: u8) -> Result<Balances, String> {
    let mut rows = object(part)?
        .iter()
        .map(|(name, v)| {
            Ok((name.clone(), view::value_minor(v, decimals).map_err(|e| format!("balance of {name}: {e}"))?))
        })
        .collect::<Result<Vec<_>, String>>()?;
    rows.sort();
    Ok(rows)
}

/// The tables after the group currency's (no blank line between, so the README can show them):
/// `In JPY:` and that currency's balances.
pub fn balances_text(reply: &Object) -> Result<String, String> {
    sections(reply, |currency, part, decimals| {
        let mut table = view::balances_table(&balance_rows(part, decimals)?, decimals);
        table.label_money(Some(currency));
        Ok(table.render())
    })
}

/// The plans after the group currency's: `In JPY:`, its transfers (or that nobody owes anything in
/// it) and its summary line.
pub fn plans_text(reply: &Object) -> Result<String, String> {
    sections(reply, |currency, part, decimals| {
        let plan = object(part)?;
        let transfers = view::transfers(plan.get("settlements").unwrap_or(&Value::Null), decimals)?;
        let mut text = if transfers.is_empty() {
            "Nothing to settle.\n".to_string()
        } else {
            let mut table = view::transfers_table(&transfers, decimals);
            table.label_money(Some(currency));
            table.render()
        };
        if let Some(summary) = view::settle_summary(plan) {
            text.push_str(&format!("{summary}\n"));
        }
        Ok(text)
    })
}

/// The `balance_details` tables after the group currency's: `In JPY:` and its members' rows.
pub fn details_text(reply: &Object) -> Result<String, String> {
    sections(reply, |currency, part, decimals| {
        let rows = view::detail_rows(object(part)?.get("members").unwrap_or(&Value::Null), decimals)?;
        let mut table = view::balance_details_table(&rows, decimals);
        table.label_money(Some(currency));
        Ok(table.render())
    })
}

/// The `pairwise_debts` tables after the group currency's: `In JPY:` and its debts (or that
/// nobody owes anybody in it).
pub fn debts_text(reply: &Object) -> Result<String, String> {
    sections(reply, |currency, part, decimals| {
        let debts = view::transfers(object(part)?.get("debts").unwrap_or(&Value::Null), decimals)?;
        if debts.is_empty() {
            return Ok("Nobody owes anybody.\n".to_string());
        }
        let mut table = view::transfers_table(&debts, decimals);
        table.label_money(Some(currency));
        Ok(table.render())
    })
}

/// The `stats` charts after the group currency's: `In JPY:` and what `chart` draws of its sums
/// (in its decimals).
pub fn stats_text(reply: &Object, chart: impl Fn(&Object, u8) -> String) -> Result<String, String> {
    sections(reply, |_, part, decimals| Ok(chart(object(part)?, decimals)))
}

/// What a pushed settlement's line says after the group currency's transfers: `; In JPY: bob →
/// alice JPY 500` for each other currency's plan (a list of transfers).
pub fn pushed_text(message: &Object) -> Result<String, String> {
    let head = |currency: &str| format!("; In {currency}: ");
    headed(message, head, |currency, list, decimals| view::plan_line(list, decimals, Some(currency)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Object {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn each_currency_in_its_own_decimals() {
        let reply = object(json!({"balances": {}, "by_currency": {
            "JPY": {"bob": -617, "alice": 617}, "KWD": {"alice": "-1.250", "bob": 1.25}}}));
        let text = balances_text(&reply).unwrap();
        let want = "In JPY:\nMEMBER  BALANCE (JPY)  STATUS\n------  -------------  -------\n\
                    alice             617  is owed\nbob              -617  owes\n\
                    In KWD:\nMEMBER  BALANCE (KWD)  STATUS\n------  -------------  -------\n\
                    alice          -1.250  owes\nbob             1.250  is owed\n";
        assert_eq!(text, want);
        assert_eq!(balances_text(&object(json!({"balances": {}}))).unwrap(), "");
        let fraction = balances_text(&object(json!({"by_currency": {"JPY": {"bob": 1.5}}})));
        assert!(fraction.is_err(), "a yen has no decimals");
    }

    #[test]
    fn each_plan_under_its_currency() {
        let reply = object(json!({"settlements": [], "by_currency": {"JPY": {"settlements":
            [{"from": "bob", "to": "alice", "amount": 500}], "method": "minimal", "transfers": 1,
            "proven_minimal": true, "lower_bound": 1}}}));
        let text = plans_text(&reply).unwrap();
        assert!(text.starts_with("In JPY:\nFROM  TO     AMOUNT (JPY)\n"), "{text}");
        assert!(text.contains("bob   alice           500\n"), "{text}");
        assert!(text.ends_with("method minimal, 1 transfer (proven minimal)\n"), "{text}");
    }

    #[test]
    fn each_currencys_details_and_debts() {
        let reply = object(json!({"members": [], "by_currency": {"JPY": {"members": [{"member": "alice",
            "paid": 1235, "share": 618, "payments_sent": 0, "payments_received": 0, "net": 617}]}}}));
        let text = details_text(&reply).unwrap();
        let want = "In JPY:\nMEMBER  PAID  SHARE  SENT  RECEIVED  NET (JPY)\n\
                    ------  ----  -----  ----  --------  ---------\n\
                    alice   1235    618     0         0        617\n";
        assert_eq!(text, want);
        let dinar = object(json!({"by_currency": {"KWD": {"members": [{"member": "bob", "paid": 1,
            "share": "0.250", "payments_sent": 0, "payments_received": 0, "net": 0.75}]}}}));
        assert!(details_text(&dinar).unwrap().ends_with("bob     1.000  0.250  0.000     0.000      0.750\n"));
        assert_eq!(details_text(&object(json!({"members": []}))).unwrap(), "");
        assert!(details_text(&object(json!({"by_currency": {"JPY": {"members": [{"member": "a"}]}}}))).is_err());

        let debts = object(json!({"debts": [], "by_currency": {
            "JPY": {"debts": [{"from": "bob", "to": "alice", "amount": 617}]}, "KWD": {"debts": []}}}));
        let text = debts_text(&debts).unwrap();
        let want = "In JPY:\nFROM  TO     AMOUNT (JPY)\n----  -----  ------------\nbob   alice           617\n\
                    In KWD:\nNobody owes anybody.\n";
        assert_eq!(text, want);
        assert_eq!(debts_text(&object(json!({"debts": []}))).unwrap(), "");
        let fraction = debts_text(&object(json!({"by_currency": {"JPY": {"debts": [{"from": "a", "to": "b",
            "amount": 0.5}]}}})));
        assert!(fraction.is_err(), "a yen has no decimals");
    }

    #[test]
    fn a_pushed_plan_names_each_currency() {
        let message = object(json!({"by_currency": {"JPY": [{"from": "bob", "to": "alice", "amount": 500}],
            "KWD": [{"from": "alice", "to": "bob", "amount": 1.5}]}}));
        assert_eq!(pushed_text(&message).unwrap(), "; In JPY: bob → alice JPY 500; In KWD: alice → bob KWD 1.500");
        assert_eq!(pushed_text(&object(json!({"data": []}))).unwrap(), "");
    }
}
