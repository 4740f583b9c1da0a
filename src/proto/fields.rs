//! Field rules of request `data`: each field taken out by name and type, so every error names its
//! field; amounts parsed exactly from their text; splits, dates, keys and currencies checked for
//! shape (the machine checks them against the state).

use serde_json::{Map, Value};

use super::error::Error;
use super::{KEY_CHARS_MAX, SHARE_WEIGHT_MAX};
use crate::machine::{Rate, SplitSpec};
use crate::money::{AmountError, Cents};
use vocab::suggest_amount;

/// The `data` object of a request, taken apart field by field so every error names its field.
pub(super) struct Fields {
    pub(super) data: Map<String, Value>,
}

impl Fields {
    pub(super) fn take(&mut self, name: &str) -> Option<Value> {
        match self.data.remove(name) {
            None | Some(Value::Null) => None,
            Some(value) => Some(value),
        }
    }

    pub(super) fn string(&mut self, name: &str) -> Result<String, Error> {
        self.optional_string(name)?.ok_or_else(|| Error::bad_request(format!("Missing field '{name}'")))
    }

    pub(super) fn optional_string(&mut self, name: &str) -> Result<Option<String>, Error> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Error::bad_request(format!("Field '{name}' must be a string"))),
        }
    }

    pub(super) fn optional_bool(&mut self, name: &str) -> Result<Option<bool>, Error> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(Error::bad_request(format!("Field '{name}' must be true or false"))),
        }
    }

    pub(super) fn optional_u64(&mut self, name: &str) -> Result<Option<u64>, Error> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| Error::bad_request(format!("Field '{name}' must be a whole number >= 0"))),
            Some(_) => Err(Error::bad_request(format!("Field '{name}' must be a whole number >= 0"))),
        }
    }

    pub(super) fn u64(&mut self, name: &str) -> Result<u64, Error> {
        self.optional_u64(name)?.ok_or_else(|| Error::bad_request(format!("Missing field '{name}'")))
    }

    pub(super) fn optional_string_list(&mut self, name: &str) -> Result<Option<Vec<String>>, Error> {
        match self.take(name) {
            None => Ok(None),
            Some(value) => names_list(name, value).map(Some),
        }
    }

    /// An amount in a currency with `decimals` decimals, in its minor units (`1234` yen is 1234).
    pub(super) fn optional_amount_in(&mut self, name: &str, decimals: u8) -> Result<Option<Cents>, Error> {
        match self.take(name) {
            None => Ok(None),
            Some(value) => amount_value_in(name, value, decimals).map(Some),
        }
    }

    /// `{"name": amount, ...}`, sorted by name; at least one entry; amounts with `decimals` decimals.
    pub(super) fn optional_amount_map_in(
        &mut self,
        name: &str,
        decimals: u8,
    ) -> Result<Option<Vec<(String, Cents)>>, Error> {
        match self.take(name) {
            None => Ok(None),
            Some(value) => name_map(name, value, |n, v| amount_value_in(n, v, decimals)).map(Some),
        }
    }

    /// An exchange rate (`vocab::rate`): a positive decimal of at most 10 significant digits, from a
    /// JSON number or a decimal string.
    pub(super) fn optional_rate(&mut self, name: &str) -> Result<Option<Rate>, Error> {
        let text = match self.take(name) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s,
            Some(_) => return Err(Error::bad_request(format!("Field '{name}' must be a number"))),
        };
        Rate::parse(&text).map(Some).map_err(|err| Error::bad_request(format!("Field '{name}' {err}")))
    }

    pub(super) fn optional_date(&mut self, name: &str) -> Result<Option<String>, Error> {
        match self.optional_string(name)? {
            None => Ok(None),
            Some(text) => validate_date(name, text).map(Some),
        }
    }

    /// An edit's text field where `""` clears it: `None` keeps it, `Some(None)` clears it.
    pub(super) fn clearable_string(&mut self, name: &str) -> Result<Option<Option<String>>, Error> {
        Ok(self.optional_string(name)?.map(|text| Some(text).filter(|t| !t.is_empty())))
    }

    /// `clearable_string` for a date, checked as `optional_date` checks one.
    pub(super) fn clearable_date(&mut self, name: &str) -> Result<Option<Option<String>>, Error> {
        match self.clearable_string(name)? {
            Some(Some(text)) => Ok(Some(Some(validate_date(name, text)?))),
            kept_or_cleared => Ok(kept_or_cleared),
        }
    }

    pub(super) fn optional_key(&mut self, name: &str) -> Result<Option<String>, Error> {
        match self.optional_string(name)? {
            None => Ok(None),
            Some(key) => {
                let count = key.chars().count();
                if count == 0 || count > KEY_CHARS_MAX || key.chars().any(char::is_control) {
                    return Err(Error::bad_request(format!(
                        "Field '{name}' must be 1-{KEY_CHARS_MAX} printable characters"
                    )));
                }
                Ok(Some(key))
            }
        }
    }

    pub(super) fn optional_currency(&mut self, name: &str) -> Result<Option<String>, Error> {
        match self.optional_string(name)? {
            None => Ok(None),
            Some(code) if vocab::is_currency_code(&code) => Ok(Some(code)),
            Some(_) => Err(Error::bad_request(format!(
                "Field '{name}' must be an ISO 4217 code: 3 uppercase letters, like \"INR\" or \"EUR\""
            ))),
        }
    }

    /// The split of `add_transaction` / `edit_transaction`: `split` (any mode) or the original's
    /// `split_between` + `include_payer`, never both. `None` when neither is given.
    /// An exact split's amounts are in a currency with `decimals` decimals.
    pub(super) fn split_spec_in(&mut self, decimals: u8) -> Result<Option<SplitSpec>, Error> {
        let split = self.take("split");
        let split_between = self.optional_string_list("split_between")?;
        let include_payer = self.optional_bool("include_payer")?;
        match (split, split_between, include_payer) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                Err(Error::bad_request("Give either 'split' or 'split_between' (with 'include_payer'), not both"))
            }
            (Some(value), None, None) => split_object(value, decimals).map(Some),
            (None, Some(members), include_payer) => {
                Ok(Some(SplitSpec::Equal { members: Some(members), include_payer: include_payer.unwrap_or(false) }))
            }
            (None, None, Some(_)) => Err(Error::bad_request("Missing field 'split_between'")),
            (None, None, None) => Ok(None),
        }
    }

    /// A positive amount, from a JSON number or a decimal string, parsed exactly from its text.
    /// Unknown fields are refused rather than ignored: a misspelt optional field would otherwise be
    /// silently dropped (a `"include_payr": true` splitting money wrongly).
    pub(super) fn finish(self) -> Result<(), Error> {
        match self.data.keys().next() {
            Some(extra) => Err(Error::bad_request(format!("Unknown field '{extra}'"))),
            None => Ok(()),
        }
    }
}

/// A positive amount from a JSON number or decimal string, exactly (a string holds the text of a JSON
/// number, nothing else); the error names `name`, and says what was probably meant when it can
/// (`Field 'amount' must be a decimal number: write 12.50 (a point, not a comma)`).
fn amount_value_in(name: &str, value: Value, decimals: u8) -> Result<Cents, Error> {
    let text = match value {
        // arbitrary_precision: the number's own text, so `1e2` is read as written, never via f64.
        Value::Number(n) => n.to_string(),
        Value::String(s) => s,
        _ => return Err(Error::bad_request(format!("Field '{name}' must be a number"))),
    };
    Cents::parse_amount_in(&text, decimals).map_err(|err: AmountError| {
        // The suggestion is itself an amount (digits, '.', 'e'), so it is safe to echo.
        let hint = match err {
            AmountError::NotANumber => suggest_amount(&text).map(|suggestion| format!(": {suggestion}")),
            _ => None,
        };
        Error::bad_request(format!("Field '{name}' {err}{}", hint.unwrap_or_default()))
    })
}

fn names_list(name: &str, value: Value) -> Result<Vec<String>, Error> {
    let wrong = || Error::bad_request(format!("Field '{name}' must be a list of names"));
    match value {
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                _ => Err(wrong()),
            })
            .collect(),
        _ => Err(wrong()),
    }
}

/// `{"member": value, ...}` with each value read by `read` (its errors name `field.member`); sorted by
/// member name; at least one entry.
fn name_map<T>(
    field: &str,
    value: Value,
    read: impl Fn(&str, Value) -> Result<T, Error>,
) -> Result<Vec<(String, T)>, Error> {
    let Value::Object(map) = value else {
        return Err(Error::bad_request(format!("Field '{field}' must be an object of member names to values")));
    };
    if map.is_empty() {
        return Err(Error::bad_request(format!("Field '{field}' must name at least one member")));
    }
    let mut entries = map
        .into_iter()
        .map(|(member, v)| {
            let item = read(&format!("{field}.{member}"), v)?;
            Ok((member, item))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

/// A percentage with at most two decimals, > 0 and <= 100, as basis points.
fn percent_value(name: &str, value: Value) -> Result<u32, Error> {
    let wrong =
        || Error::bad_request(format!("Field '{name}' must be a percentage > 0 and <= 100, at most 2 decimals"));
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s,
        _ => return Err(wrong()),
    };
    // Basis points are "cents of a percent": the exact decimal parser does the work.
    match Cents::parse_amount(&text) {
        Ok(bp) if bp.0 <= 10_000 => Ok(bp.0 as u32),
        _ => Err(wrong()),
    }
}

fn weight_value(name: &str, value: Value) -> Result<u64, Error> {
    match value.as_u64() {
        Some(w) if (1..=SHARE_WEIGHT_MAX).contains(&w) => Ok(w),
        _ => Err(Error::bad_request(format!("Field '{name}' must be a whole number 1-{SHARE_WEIGHT_MAX}"))),
    }
}

/// The `split` object: `{"mode": "equal"|"exact"|"percent"|"shares", ...}`.
fn split_object(value: Value, decimals: u8) -> Result<SplitSpec, Error> {
    let Value::Object(data) = value else {
        return Err(Error::bad_request("Field 'split' must be an object with a 'mode'"));
    };
    let mut fields = Fields { data };
    let mode = fields.optional_string("mode").map_err(|_| Error::bad_request("Field 'split.mode' must be a string"))?;
    let spec = match mode.as_deref() {
        None => return Err(Error::bad_request("Missing field 'split.mode'")),
        Some("equal") => {
            let members = match fields.take("members") {
                None => None,
                Some(v) => Some(names_list("split.members", v)?),
            };
            if members.as_ref().is_some_and(Vec::is_empty) {
                return Err(Error::bad_request("Field 'split.members' must name at least one member"));
            }
            SplitSpec::Equal { members, include_payer: false }
        }
        Some("exact") => SplitSpec::Exact(name_map(
            "split.amounts",
            fields.take("amounts").ok_or_else(|| Error::bad_request("Missing field 'split.amounts'"))?,
            |n, v| amount_value_in(n, v, decimals),
        )?),
        Some("percent") => {
            let percents = name_map(
                "split.percents",
                fields.take("percents").ok_or_else(|| Error::bad_request("Missing field 'split.percents'"))?,
                percent_value,
            )?;
            let total: u64 = percents.iter().map(|(_, bp)| *bp as u64).sum();
            if total != 10_000 {
                return Err(Error::bad_request(format!(
                    "Field 'split.percents' must sum to 100, not {}",
                    Cents(total as i64)
                )));
            }
            SplitSpec::Percent(percents)
        }
        Some("shares") => SplitSpec::Shares(name_map(
            "split.shares",
            fields.take("shares").ok_or_else(|| Error::bad_request("Missing field 'split.shares'"))?,
            weight_value,
        )?),
        Some(other) => {
            return Err(Error::bad_request(format!(
                "Field 'split.mode' must be \"equal\", \"exact\", \"percent\" or \"shares\", not {other:?}"
            )))
        }
    };
    if let Some(extra) = fields.data.keys().next() {
        return Err(Error::bad_request(format!("Unknown field 'split.{extra}'")));
    }
    Ok(spec)
}

/// A calendar date `YYYY-MM-DD` naming a real day (the rule is `vocab::parse_date`, shared with
/// `splitc`); the error names the field and says whether the shape or the day is wrong.
pub fn validate_date(name: &str, text: String) -> Result<String, Error> {
    match vocab::parse_date(&text) {
        Ok(_) => Ok(text),
        Err(why) => Err(Error::bad_request(format!("Field '{name}' {why}"))),
    }
}
