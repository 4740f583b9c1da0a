//! Recurring rules as splitc shows them: a rule read out of a reply (`add_recurring`,
//! `edit_recurring`, `list_recurring`) and the table of rules (`recurring list`, the interactive
//! group menu).
//!
//! Owns only the reading and the showing; what is sent is built in `actions`, and when each
//! occurrence falls is the server's to say (`next_date`), never computed here.

use crate::conn::Object;
use crate::table::{Align, Table};
use crate::view::{decimals, value_minor};
use serde_json::Value;
use vocab::Cents;

/// One recurring rule as the server reports it (the fields `recurring list` shows).
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: u64,
    /// `day`, `week`, `month` or `year`.
    pub every: String,
    /// Every `interval` of them.
    pub interval: u64,
    pub until: Option<String>,
    /// Occurrences in all, when limited.
    pub count: Option<u64>,
    /// Occurrences made so far.
    pub made: u64,
    /// The date of the next occurrence; `None` once the rule has run its course.
    pub next_date: Option<String>,
    pub amount: Cents,
    pub description: String,
    /// How many decimals `amount` has: the group's (0 for yen).
    pub decimals: u8,
}

impl Rule {
    /// A rule of a reply whose group amounts have `decimals` decimals (`view::decimals`).
    pub fn from_value(value: &Value, decimals: u8) -> Result<Rule, String> {
        let obj = value.as_object().ok_or("a recurring rule that is not an object")?;
        let text = |key: &str| obj.get(key).and_then(Value::as_str).map(str::to_string);
        let amount = obj.get("amount").ok_or("a recurring rule without an amount")?;
        Ok(Rule {
            id: obj.get("id").and_then(Value::as_u64).ok_or("a recurring rule without an id")?,
            every: text("every").ok_or("a recurring rule without `every`")?,
            interval: obj.get("interval").and_then(Value::as_u64).unwrap_or(1),
            until: text("until"),
            count: obj.get("count").and_then(Value::as_u64),
            made: obj.get("made").and_then(Value::as_u64).unwrap_or(0),
            next_date: text("next_date"),
            amount: value_minor(amount, decimals).map_err(|e| format!("recurring rule amount {amount}: {e}"))?,
            description: text("description").unwrap_or_default(),
            decimals,
        })
    }

    /// How often: `month`, or `2 weeks` for an interval of 2.
    pub fn every_text(&self) -> String {
        match self.interval {
            1 => self.every.clone(),
            n => format!("{n} {}s", self.every),
        }
    }

    /// When it ends: `3 of 12 left`, `until 2027-06-30`, both, or `when stopped`.
    pub fn ends_text(&self) -> String {
        let mut parts = Vec::new();
        if let Some(count) = self.count {
            parts.push(format!("{} of {count} left", count.saturating_sub(self.made)));
        }
        if let Some(until) = &self.until {
            parts.push(format!("until {until}"));
        }
        if parts.is_empty() {
            "when stopped".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// The rules of a `list_recurring` reply, by id.
pub fn rules(reply: &Object) -> Result<Vec<Rule>, String> {
    let decimals = decimals(reply)?;
    let list = reply.get("rules").and_then(Value::as_array).ok_or("a reply without a list of rules")?;
    list.iter().map(|r| Rule::from_value(r, decimals)).collect()
}

/// The rule of an `add_recurring` / `edit_recurring` reply, if it holds one.
pub fn rule(reply: &Object) -> Result<Option<Rule>, String> {
    let decimals = decimals(reply)?;
    reply.get("rule").map(|r| Rule::from_value(r, decimals)).transpose()
}

pub fn rules_table(rules: &[Rule]) -> Table {
    let mut t = Table::new(&[
        ("ID", Align::Right),
        ("EVERY", Align::Left),
        ("NEXT", Align::Left),
        ("AMOUNT", Align::Right),
        ("DESCRIPTION", Align::Left),
        ("ENDS", Align::Left),
    ]);
    for r in rules {
        t.push(vec![
            r.id.to_string(),
            r.every_text(),
            r.next_date.clone().unwrap_or_else(|| "done".into()),
            vocab::money::minor_text(r.amount, r.decimals),
            r.description.clone(),
            r.ends_text(),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(value: Value) -> Rule {
        Rule::from_value(&value, 2).expect("a rule")
    }

    #[test]
    fn a_rule_reads_and_shows_how_often_and_when_it_ends() {
        let rent = rule(json!({"id": 1, "every": "month", "interval": 1, "start": "2025-09-01", "count": 3,
            "made": 1, "next_date": "2025-10-01", "amount": 1200.00, "description": "rent"}));
        assert_eq!(
            (rent.amount, rent.every_text(), rent.ends_text()),
            (Cents(120_000), "month".into(), "2 of 3 left".into())
        );
        let milk = rule(json!({"id": 2, "every": "week", "interval": 2, "until": "2027-06-30", "made": 0,
            "next_date": null, "amount": "3.50"}));
        assert_eq!((milk.every_text(), milk.ends_text()), ("2 weeks".into(), "until 2027-06-30".into()));
        let table = rules_table(&[rent, milk]).render();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "ID  EVERY    NEXT         AMOUNT  DESCRIPTION  ENDS");
        assert_eq!(lines[2], " 1  month    2025-10-01  1200.00  rent         2 of 3 left");
        assert_eq!(lines[3], " 2  2 weeks  done           3.50               until 2027-06-30");
        let open = rule(json!({"id": 3, "every": "day", "made": 9, "next_date": "2026-01-01", "amount": 1}));
        assert_eq!(open.ends_text(), "when stopped");
        assert!(Rule::from_value(&json!({"id": 4, "every": "day"}), 2).is_err(), "no amount");
        assert!(Rule::from_value(&json!({"every": "day", "amount": 1}), 2).is_err(), "no id");
    }

    #[test]
    fn a_rules_amount_has_its_groups_decimals() {
        let reply = |value: Value| value.as_object().cloned().unwrap_or_default();
        let yen = rules(&reply(json!({"decimals": 0, "rules": [{"id": 1, "every": "month", "next_date": "2026-01-01",
            "amount": 90000, "description": "rent"}]})))
        .unwrap();
        assert_eq!(yen[0].amount, Cents(90_000));
        assert_eq!(
            rules_table(&yen).render().lines().nth(2),
            Some(" 1  month  2026-01-01   90000  rent         when stopped")
        );
        let dinar =
            super::rule(&reply(json!({"decimals": 3, "rule": {"id": 2, "every": "week", "next_date": "2026-01-01",
            "amount": 1.255}})))
            .unwrap()
            .unwrap();
        assert_eq!(
            rules_table(&[dinar]).render().lines().nth(2),
            Some(" 2  week   2026-01-01   1.255               when stopped")
        );
        assert!(rules(&reply(json!({"rules": [{"id": 3, "every": "day", "amount": 1.255}]}))).is_err(), "hundredths");
    }
}
