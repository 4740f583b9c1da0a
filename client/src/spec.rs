//! The command-line syntax for amounts, dates, how an expense is split and who paid it, turned into
//! the wire JSON.
//!
//! Why here: `add` and `edit` (one-shot) and the interactive prompts take the same text, so it is
//! parsed and checked once, locally, before anything is sent (a typo is a usage error, exit 2, not a
//! round trip). What an amount or a date is comes from `vocab`, the rules the server applies too, so
//! splitc never refuses what the server would take nor sends what it would refuse whatever the
//! group. Sums, and whether an amount has more decimals than the group's currency (`10.5` yen), are
//! checked by the server, which knows the amount after an edit and the group's currency.
//!
//! - `bob,carol`                  equal among them (the original's `split_between`)
//! - `equal` / `all`              equal among every current member
//! - `equal:bob,carol`            equal among them (`split.members`)
//! - `exact:bob=10,carol=5.50`    each one's amount (up to 3 decimals, as every amount here)
//! - `percent:bob=60,carol=40`    percentages, at most 2 decimals, summing to 100
//! - `shares:bob=2,carol=1`       whole-number weights
//!
//! `--paid-by alice=5,bob=10`: who paid what (summing to the amount).

use serde_json::{json, Map, Number, Value};
use vocab::currency::DECIMALS_MAX;
use vocab::{parse_date, suggest_amount, AmountError, Cents, DateError};

/// Parses an amount a person typed for a group (`12`, `12.5`, `12.50`, `1.255`, `₹12.50`) into the
/// JSON number to send: the server's amount grammar (the text of a JSON number, positive, at most
/// 10000000000), after an optional rupee sign, which the original client printed and people
/// therefore type. At most 3 decimals, the finest any currency has (`DECIMALS_MAX`, a dinar's):
/// whether the group's currency has that many (a yen has none) is the server's to say, as splitc
/// does not know the group's currency before asking. What the server would refuse whatever the
/// currency is refused here, with what to write instead when that is clear (`+5`: write 5; `12,50`:
/// write 12.50). Sent with two decimals unless it has a third (`12.50`, `1000.00`, `1.255`).
pub fn parse_user_amount(text: &str) -> Result<Value, String> {
    let bare = text.strip_prefix('₹').unwrap_or(text);
    let finest = Cents::parse_amount_in(bare, DECIMALS_MAX).map_err(|e| amount_refused(text, bare, e))?;
    let mut wire = vocab::money::minor_text(finest, DECIMALS_MAX);
    while wire.ends_with('0') && wire.split_once('.').is_some_and(|(_, fraction)| fraction.len() > 2) {
        wire.pop();
    }
    wire.parse::<Number>().map(Value::Number).map_err(|_| format!("invalid amount {text:?}"))
}

/// Why `text` (`bare` without its rupee sign) is not an amount, and what to write instead.
fn amount_refused(text: &str, bare: &str, error: AmountError) -> String {
    match error {
        AmountError::NotANumber => match suggest_amount(bare) {
            Some(suggestion) => format!("invalid amount {text:?}: {suggestion}"),
            None if bare.contains(',') => format!(
                "invalid amount {text:?}: write a positive number like 1500 or 12.50 (a point before the cents, no thousands separators)"
            ),
            None => format!("invalid amount {text:?}: write a positive number like 12.50"),
        },
        other => format!("invalid amount {text:?}: it {other}"),
    }
}

/// A parsed `--split`.
#[derive(Debug, Clone, PartialEq)]
pub enum Split {
    /// The original's shape: `split_between` (and `include_payer` from `--include-me`).
    Names(Vec<String>),
    /// `{"mode": ...}`: the value of the `split` field.
    Mode(Value),
}

impl Split {
    /// Adds this split to a request's `data`.
    pub fn add_to(&self, data: &mut Value, include_me: bool) -> Result<(), String> {
        match self {
            Split::Names(names) => {
                data["split_between"] = json!(names);
                data["include_payer"] = json!(include_me);
            }
            Split::Mode(split) if include_me => {
                return Err(format!("--include-me only goes with a plain list of names, not {}", split["mode"]))
            }
            Split::Mode(split) => data["split"] = split.clone(),
        }
        Ok(())
    }
}

fn names(list: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(format!("{name} is named twice"));
        }
    }
    Ok(names)
}

/// `name=value,name=value` with each value read by `read`; at least one pair, no name twice.
fn pairs(list: &str, what: &str, read: impl Fn(&str) -> Result<Value, String>) -> Result<Map<String, Value>, String> {
    let mut map = Map::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, value) = item.split_once('=').ok_or_else(|| format!("{what}: expected name=value, got {item:?}"))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("{what}: a name is missing in {item:?}"));
        }
        let value = read(value.trim()).map_err(|e| format!("{what}: {name}: {e}"))?;
        if map.insert(name.to_string(), value).is_some() {
            return Err(format!("{what}: {name} is named twice"));
        }
    }
    if map.is_empty() {
        return Err(format!("{what}: name at least one member"));
    }
    Ok(map)
}

/// The server's percent rule: an amount grammar number (basis points are hundredths of a percent,
/// read and written like cents), above 0 and at most 100.
fn percent(text: &str) -> Result<Value, String> {
    match Cents::parse_amount(text) {
        Ok(bp) if bp.0 <= 10_000 => Ok(bp.to_json()),
        _ => Err(format!("{text:?} is not a percentage above 0 and at most 100 (2 decimals at most)")),
    }
}

fn weight(text: &str) -> Result<Value, String> {
    match text.parse::<u64>() {
        Ok(w) if (1..=1_000_000).contains(&w) => Ok(json!(w)),
        _ => Err(format!("{text:?} is not a whole number from 1 to 1000000")),
    }
}

/// Parses a `--split` value (see the module docs).
pub fn parse_split(text: &str) -> Result<Split, String> {
    let text = text.trim();
    let (mode, rest) = match text.split_once(':') {
        Some((mode, rest)) => (mode.trim(), rest),
        None if text == "equal" || text == "all" => return Ok(Split::Mode(json!({"mode": "equal"}))),
        None => return Ok(Split::Names(names(text).map_err(|e| format!("--split: {e}"))?)),
    };
    let split = match mode {
        "equal" => {
            let members = names(rest).map_err(|e| format!("--split equal: {e}"))?;
            if members.is_empty() {
                json!({"mode": "equal"})
            } else {
                json!({"mode": "equal", "members": members})
            }
        }
        "exact" => json!({"mode": "exact", "amounts": pairs(rest, "--split exact", parse_user_amount)?}),
        "percent" => json!({"mode": "percent", "percents": pairs(rest, "--split percent", percent)?}),
        "shares" => json!({"mode": "shares", "shares": pairs(rest, "--split shares", weight)?}),
        other => return Err(format!("--split: unknown mode {other:?} (equal, exact, percent or shares)")),
    };
    Ok(Split::Mode(split))
}

/// Parses `--paid-by alice=5,bob=10` into the `paid_by` object.
pub fn parse_paid_by(text: &str) -> Result<Value, String> {
    pairs(text, "--paid-by", parse_user_amount).map(Value::Object)
}

/// Checks a `--date` locally with the server's rule (`vocab::parse_date`): `YYYY-MM-DD`, a real day.
pub fn check_date(text: &str) -> Result<(), String> {
    check_date_of("--date", text)
}

/// [`check_date`] for the option named `option` (`--start`, `--until`).
pub fn check_date_of(option: &str, text: &str) -> Result<(), String> {
    match parse_date(text) {
        Ok(_) => Ok(()),
        Err(DateError::Shape) => Err(format!("{option} must be YYYY-MM-DD, not {text:?}")),
        Err(e @ DateError::NoSuchDay) => Err(format!("{option} {text:?} {e}")),
    }
}

/// Today's date in UTC, `YYYY-MM-DD`: the server's days are UTC days.
pub fn today_utc() -> String {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let mut date = crate::view::utc_datetime(i64::try_from(ms).unwrap_or(i64::MAX), true);
    date.truncate(10);
    date
}

/// A fresh idempotency key: unique enough per client run (time, process, counter).
pub fn fresh_key() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("splitc-{:x}-{:x}-{}", nanos, std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_becomes_the_wire_shape() {
        assert_eq!(parse_split("bob, carol").unwrap(), Split::Names(vec!["bob".into(), "carol".into()]));
        assert_eq!(parse_split("all").unwrap(), Split::Mode(json!({"mode": "equal"})));
        assert_eq!(parse_split("equal:bob").unwrap(), Split::Mode(json!({"mode": "equal", "members": ["bob"]})));
        let Split::Mode(exact) = parse_split("exact:bob=10,carol=5.5").unwrap() else { panic!() };
        assert_eq!(exact.to_string(), r#"{"amounts":{"bob":10.00,"carol":5.50},"mode":"exact"}"#);
        let Split::Mode(percent) = parse_split("percent:bob=60,carol=39.5,dan=0.5").unwrap() else { panic!() };
        assert_eq!(percent["percents"]["carol"].to_string(), "39.50");
        let Split::Mode(shares) = parse_split("shares:bob=2,carol=1").unwrap() else { panic!() };
        assert_eq!(shares, json!({"mode": "shares", "shares": {"bob": 2, "carol": 1}}));
        assert_eq!(parse_paid_by("alice=5,bob=10.25").unwrap().to_string(), r#"{"alice":5.00,"bob":10.25}"#);
    }

    #[test]
    fn user_amounts_follow_the_server_grammar() {
        let sent = |text: &str| parse_user_amount(text).map(|v| v.to_string());
        assert_eq!(sent("12"), Ok("12.00".into()));
        assert_eq!(sent("₹12.5"), Ok("12.50".into()));
        assert_eq!(sent("1.25e1"), Ok("12.50".into()));
        assert_eq!(sent("10000000000"), Ok("10000000000.00".into()));
        for bad in
            ["0", "-5", "12.3456", "ten", "", "12,50", "10000000000.01", "₹", " 12", "₹ 12", "+5", "007", ".5", "5."]
        {
            assert!(parse_user_amount(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_user_amount("ten"), Err(r#"invalid amount "ten": write a positive number like 12.50"#.into()));
        assert_eq!(parse_user_amount("-5"), Err(r#"invalid amount "-5": it must be greater than zero"#.into()));
    }

    /// A group's currency may have 3 decimals (a dinar) or none (a yen): splitc does not know which
    /// before it asks, so it sends up to 3 and the server judges (`10.5` yen is its to refuse).
    #[test]
    fn user_amounts_may_have_a_dinars_thousandths() {
        let sent = |text: &str| parse_user_amount(text).map(|v| v.to_string());
        assert_eq!(sent("1.255"), Ok("1.255".into()));
        assert_eq!(sent("0.001"), Ok("0.001".into()));
        assert_eq!(sent("1.2500"), Ok("1.25".into()), "two decimals when the third is zero, as before");
        assert_eq!(sent("1000"), Ok("1000.00".into()), "a yen amount: the server reads it as 1000 yen");
        assert_eq!(sent("10.5"), Ok("10.50".into()), "a yen group's server refuses it, not splitc");
        assert_eq!(sent("12.3456"), Err(r#"invalid amount "12.3456": it must have at most 3 decimals"#.into()));
        let Split::Mode(exact) = parse_split("exact:bob=1.255,carol=0.5").unwrap() else { panic!() };
        assert_eq!(exact["amounts"].to_string(), r#"{"bob":1.255,"carol":0.50}"#);
        assert_eq!(parse_paid_by("alice=0.418").unwrap().to_string(), r#"{"alice":0.418}"#);
        assert!(parse_split("exact:bob=1.0005").is_err());
    }

    /// What the server refuses is refused here too, saying what to write instead.
    #[test]
    fn lenient_amounts_get_what_to_write() {
        let said = |text: &str| parse_user_amount(text).unwrap_err();
        assert_eq!(said("+5"), r#"invalid amount "+5": write 5 (no plus sign)"#);
        assert_eq!(said("12,50"), r#"invalid amount "12,50": write 12.50 (a point, not a comma)"#);
        assert_eq!(said(" 7 "), r#"invalid amount " 7 ": write 7 (no spaces)"#);
        assert_eq!(said("₹ 7"), r#"invalid amount "₹ 7": write 7 (no spaces)"#);
        assert_eq!(said("007"), r#"invalid amount "007": write 7 (no leading zeros)"#);
        assert_eq!(said(".5"), r#"invalid amount ".5": write 0.5 (a digit before the point)"#);
        assert_eq!(said("5."), r#"invalid amount "5.": write 5 (digits after the point, or no point)"#);
        assert!(said("1,500").contains("no thousands separators"), "{}", said("1,500"));
        assert!(parse_split("exact:bob=+5").is_err());
        assert!(parse_paid_by("alice=.5").is_err());
        assert!(parse_split("percent:bob=+100").is_err());
    }

    #[test]
    fn mistakes_are_caught_before_sending() {
        for bad in [
            "exact:bob",
            "exact:bob=ten",
            "exact:bob=1.0005",
            "exact:=5",
            "exact:",
            "percent:bob=101",
            "percent:bob=0",
            "percent:bob=33.333",
            "shares:bob=1.5",
            "shares:bob=0",
            "thirds:bob=1",
            "bob,bob",
            "shares:bob=1,bob=2",
        ] {
            assert!(parse_split(bad).is_err(), "{bad}");
        }
        assert!(parse_paid_by("alice").is_err());
        assert!(parse_paid_by("").is_err());
        let mut data = json!({});
        assert!(parse_split("all").unwrap().add_to(&mut data, true).is_err());
        assert!(check_date("2025-02-28").is_ok());
        assert!(check_date("2024-02-29").is_ok());
        for bad in ["2025-2-28", "28-02-2025", "2025-13-01", "2025-01-32", "2025-02-29", "2025-02-30", "yesterday"] {
            assert!(check_date(bad).is_err(), "{bad}");
        }
        assert_eq!(check_date("2025-02-30"), Err(r#"--date "2025-02-30" is not a day in the calendar"#.into()));
        assert_ne!(fresh_key(), fresh_key());
        assert_eq!(check_date_of("--until", "2025-1-1"), Err(r#"--until must be YYYY-MM-DD, not "2025-1-1""#.into()));
        assert!(check_date(&today_utc()).is_ok(), "{}", today_utc());
    }
}
