//! `add`/`edit` `--currency` and `--rate`: an expense entered in another currency, at a rate the
//! user gives (splitd never fetches one), checked here by the server's own rules (`vocab`: the
//! currency's decimals, the rate's grammar) before anything is sent; and how a transaction entered
//! so is shown (`JPY 1234 at 0.0061`). Also `--convert` (`create-group`, `set-group-convert`):
//! whether a group converts at entry or keeps other currencies until settlement.
//!
//! Whether a `--currency` needs a `--rate` depends on the group's setting, which splitc does not
//! know before sending: the server says (an at-settlement group takes none).

use serde_json::{Number, Value};
use vocab::currency::{entered_text, minor_units};
use vocab::rate::Rate;
use vocab::{is_currency_code, Cents};

use crate::spec::parse_user_amount;

/// `amount` as typed, in `currency`'s own decimals when one is given (`1234` yen, `1.250` dinar),
/// else in the group's, which the server checks (`parse_user_amount`), as the JSON number to send.
pub fn amount_value(text: &str, currency: Option<&str>) -> Result<Value, String> {
    let Some(currency) = currency else { return parse_user_amount(text) };
    let decimals = minor_units(currency);
    let minor = Cents::parse_amount_in(text, decimals).map_err(|e| format!("invalid amount {text:?}: it {e}"))?;
    number(&vocab::money::minor_text(minor, decimals))
}

/// Checks `--currency` and `--rate` and adds them to a request's `data`.
pub fn add_foreign(data: &mut Value, currency: Option<&str>, rate: Option<&str>) -> Result<(), String> {
    if let Some(currency) = currency {
        if !is_currency_code(currency) {
            return Err(format!("--currency must be an ISO 4217 code (3 capital letters, like JPY), not {currency:?}"));
        }
        data["currency"] = Value::String(currency.to_string());
    }
    if let Some(text) = rate {
        let rate = Rate::parse(text).map_err(|e| format!("--rate {e}"))?;
        data["rate"] = number(&rate.to_string())?;
    }
    Ok(())
}

/// The server's word for a `--convert` mode: `at-entry` or `at_entry`, `at-settlement` or
/// `at_settlement`.
pub fn convert_mode(text: &str) -> Result<&'static str, String> {
    match text {
        "at-entry" | "at_entry" => Ok("at_entry"),
        "at-settlement" | "at_settlement" => Ok("at_settlement"),
        _ => Err(format!("--convert must be at-entry or at-settlement, not {text:?}")),
    }
}

/// Both `add_foreign` checks and the amount's, without a request (the one-shot checks).
pub fn check(amount: Option<&str>, currency: Option<&str>, rate: Option<&str>) -> Result<(), String> {
    add_foreign(&mut Value::Object(Default::default()), currency, rate)?;
    amount.map(|a| amount_value(a, currency)).transpose().map(|_| ())
}

/// ` (JPY 1234 at 0.0061)` for a transaction's `foreign`, as the server's messages write it.
pub fn foreign_note(foreign: Option<&Value>) -> Option<String> {
    let foreign = foreign?;
    let currency = foreign.get("currency")?.as_str()?;
    let text = foreign.get("amount")?.to_string();
    let amount = Cents::parse_amount_in(&text, minor_units(currency)).ok()?;
    let entered = entered_text(currency, amount);
    Some(match foreign.get("rate") {
        Some(rate) => format!("{entered} at {rate}"),
        None => entered,
    })
}

fn number(text: &str) -> Result<Value, String> {
    text.parse::<Number>().map(Value::Number).map_err(|_| format!("{text:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_in_the_currency_given() {
        assert_eq!(amount_value("1234", Some("JPY")).unwrap().to_string(), "1234");
        assert_eq!(amount_value("1.250", Some("KWD")).unwrap().to_string(), "1.250");
        assert_eq!(amount_value("12.5", None).unwrap().to_string(), "12.50");
        assert!(amount_value("10.5", Some("JPY")).unwrap_err().contains("whole number"));
    }

    #[test]
    fn currencies_and_rates_are_checked_before_sending() {
        let mut data = serde_json::json!({});
        add_foreign(&mut data, Some("JPY"), Some("0.00610")).unwrap();
        assert_eq!(data.to_string(), r#"{"currency":"JPY","rate":0.0061}"#);
        assert!(add_foreign(&mut data, Some("jpy"), None).is_err());
        assert_eq!(add_foreign(&mut data, None, Some("0")).unwrap_err(), "--rate must be greater than zero");
        assert!(check(Some("1"), None, Some("12345678901")).is_err());
    }

    #[test]
    fn convert_modes_in_either_spelling() {
        assert_eq!(convert_mode("at-settlement"), Ok("at_settlement"));
        assert_eq!(convert_mode("at_entry"), Ok("at_entry"));
        assert!(convert_mode("later").unwrap_err().contains("at-entry or at-settlement"));
    }

    #[test]
    fn entered_amounts_are_shown_in_their_currency() {
        let foreign = serde_json::json!({"currency": "JPY", "amount": 1234, "rate": 0.0061});
        assert_eq!(foreign_note(Some(&foreign)).as_deref(), Some("JPY 1234 at 0.0061"));
        assert_eq!(foreign_note(None), None);
    }
}
