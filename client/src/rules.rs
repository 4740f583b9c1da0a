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
use vocab::currency::{entered_text, minor_units};
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
    /// In `currency`'s minor units when the rule names one (as entered), else the group's.
    pub amount: Cents,
    pub description: String,
    /// One of the group's categories.
    pub category: Option<String>,
    /// The currency the amounts are entered in (`foreign.currency`), and the rate each occurrence
    /// is converted at (as the server wrote it).
    pub currency: Option<String>,
    pub rate: Option<String>,
    /// How many decimals `amount` has: its currency's when the rule names one, else the group's
    /// (0 for yen).
    pub decimals: u8,
}

impl Rule {
    /// A rule of a reply whose group amounts have `decimals` decimals (`view::decimals`).
    pub fn from_value(value: &Value, decimals: u8) -> Result<Rule, String> {
        let obj = value.as_object().ok_or("a recurring rule that is not an object")?;
        let text = |key: &str| obj.get(key).and_then(Value::as_str).map(str::to_string);
        let amount = obj.get("amount").ok_or("a recurring rule without an amount")?;
        let foreign = obj.get("foreign");
        let currency = foreign.and_then(|f| f.get("currency")).and_then(Value::as_str).map(str::to_string);
        // As entered in the rule's currency, else in the group's decimals.
        let decimals = currency.as_deref().map_or(decimals, minor_units);
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
            category: text("category"),
            rate: foreign.and_then(|f| f.get("rate")).map(Value::to_string),
            currency,
            decimals,
        })
    }

    /// The amount: `90.00` in the group's currency, `JPY 1234` as entered in another.
    pub fn amount_text(&self) -> String {
        match &self.currency {
            Some(currency) => entered_text(currency, self.amount),
            None => vocab::money::minor_text(self.amount, self.decimals),
        }
    }

    /// The description, and the rate each occurrence converts at: `ski pass (at 0.0061)`.
    pub fn description_text(&self) -> String {
        match &self.rate {
            Some(rate) => format!("{} (at {rate})", self.description).trim_start().to_string(),
            None => self.description.clone(),
        }
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

/// The rules, one a row; a CATEGORY column only when one of them has a category.
pub fn rules_table(rules: &[Rule]) -> Table {
    let categories = rules.iter().any(|r| r.category.is_some());
    let mut columns = vec![
        ("ID", Align::Right),
        ("EVERY", Align::Left),
        ("NEXT", Align::Left),
        ("AMOUNT", Align::Right),
        ("DESCRIPTION", Align::Left),
        ("ENDS", Align::Left),
    ];
    if categories {
        columns.push(("CATEGORY", Align::Left));
    }
    let mut t = Table::new(&columns);
    for r in rules {
        let mut row = vec![
            r.id.to_string(),
            r.every_text(),
            r.next_date.clone().unwrap_or_else(|| "done".into()),
            r.amount_text(),
            r.description_text(),
            r.ends_text(),
        ];
        if categories {
            row.push(r.category.clone().unwrap_or_default());
        }
        t.push(row);
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
        assert_eq!(open.category, None);
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

    #[test]
    fn a_rule_in_another_currency_shows_it_as_entered_with_its_rate_and_category() {
        let pass = rule(json!({"id": 5, "every": "month", "made": 0, "next_date": "2099-01-10", "amount": 1234,
            "description": "ski pass", "category": "travel",
            "foreign": {"amount": 1234, "currency": "JPY", "rate": 0.0061}}));
        assert_eq!(pass.amount, Cents(1234), "yen have no decimals");
        assert_eq!((pass.amount_text(), pass.description_text()), ("JPY 1234".into(), "ski pass (at 0.0061)".into()));
        let rent = rule(json!({"id": 6, "every": "month", "made": 0, "next_date": null, "amount": 90}));
        let table = rules_table(&[pass, rent]).render();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "ID  EVERY  NEXT          AMOUNT  DESCRIPTION           ENDS          CATEGORY");
        assert_eq!(lines[2], " 5  month  2099-01-10  JPY 1234  ski pass (at 0.0061)  when stopped  travel");
        assert_eq!(lines[3], " 6  month  done           90.00                        when stopped");
    }
}
