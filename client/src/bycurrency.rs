//! The `by_currency` parts of `view_balances` and `settle` replies (groups that convert at
//! settlement keep each other currency's balances apart): read in each currency's own decimals
//! (`vocab::currency::minor_units`) and shown as one table per currency under a heading naming it.
//!
//! Does not own the group currency's tables (`view`) nor sending the requests (`actions`).

use serde_json::Value;
use vocab::currency::minor_units;
use vocab::Cents;

use crate::conn::Object;
use crate::term::sanitize;
use crate::view;

/// One currency's balances: (member, amount in its minor units), by name.
pub type Balances = Vec<(String, Cents)>;

/// Each other currency's balances by name, currencies in the reply's (code) order; `{}` or no
/// `by_currency` (an at-entry group, an older server) is none.
pub fn balances(reply: &Object) -> Result<Vec<(String, Balances)>, String> {
    let Some(map) = reply.get("by_currency") else { return Ok(Vec::new()) };
    let map = map.as_object().ok_or("by_currency is not an object")?;
    map.iter()
        .map(|(currency, list)| {
            let list = list.as_object().ok_or_else(|| format!("the {currency} balances are not an object"))?;
            let decimals = minor_units(currency);
            let mut rows = list
                .iter()
                .map(|(name, v)| {
                    let amount =
                        view::value_minor(v, decimals).map_err(|e| format!("{currency} balance of {name}: {e}"))?;
                    Ok((name.clone(), amount))
                })
                .collect::<Result<Vec<_>, String>>()?;
            rows.sort();
            Ok((currency.clone(), rows))
        })
        .collect()
}

/// The tables after the group currency's (no blank line between, so the README can show them):
/// `In JPY:` and that currency's balances.
pub fn balances_text(reply: &Object) -> Result<String, String> {
    let mut text = String::new();
    for (currency, rows) in balances(reply)? {
        let mut table = view::balances_table(&rows, minor_units(&currency));
        table.label_money(Some(&currency));
        text.push_str(&format!("In {}:\n{}", sanitize(&currency), table.render()));
    }
    Ok(text)
}

/// The plans after the group currency's: `In JPY:`, its transfers (or that nobody owes anything in
/// it) and its summary line.
pub fn plans_text(reply: &Object) -> Result<String, String> {
    let Some(map) = reply.get("by_currency") else { return Ok(String::new()) };
    let map = map.as_object().ok_or("by_currency is not an object")?;
    let mut text = String::new();
    for (currency, plan) in map {
        let plan = plan.as_object().ok_or_else(|| format!("the {currency} plan is not an object"))?;
        let list = plan.get("settlements").unwrap_or(&Value::Null);
        let transfers = view::transfers(list, minor_units(currency)).map_err(|e| format!("{currency}: {e}"))?;
        text.push_str(&format!("In {}:\n", sanitize(currency)));
        if transfers.is_empty() {
            text.push_str("Nothing to settle.\n");
        } else {
            let mut table = view::transfers_table(&transfers, minor_units(currency));
            table.label_money(Some(currency));
            text.push_str(&table.render());
        }
        if let Some(summary) = view::settle_summary(plan) {
            text.push_str(&format!("{summary}\n"));
        }
    }
    Ok(text)
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
        assert!(balances(&object(json!({"by_currency": {"JPY": {"bob": 1.5}}}))).is_err(), "a yen has no decimals");
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
}
