//! Money as integer cents.
//!
//! Why: splitd keeps exact cents and writes amounts as JSON numbers with at most two decimals. Turning
//! those into `f64` and back would print `33.33` as `33.329999…` somewhere or round a sum differently
//! than the server did. So the client parses the number's *text* (serde_json's `arbitrary_precision`
//! keeps it) straight into an `i64` of cents, and formats cents with integer arithmetic only.

use serde_json::Value;
use std::fmt;

/// An amount in hundredths of the currency unit.
pub type Cents = i64;

/// Why a piece of text is not an amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyError {
    /// Not a decimal number at all (`"abc"`, `"1.2.3"`, `""`).
    NotANumber,
    /// More than two non-zero decimals (`"1.005"`): not a whole number of cents.
    TooManyDecimals,
    /// Does not fit in cents as an `i64`.
    TooLarge,
    /// The JSON value is neither a number nor a string.
    NotAnAmount,
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MoneyError::NotANumber => "not a number",
            MoneyError::TooManyDecimals => "more than two decimals",
            MoneyError::TooLarge => "amount too large",
            MoneyError::NotAnAmount => "not an amount",
        })
    }
}

impl std::error::Error for MoneyError {}

/// Parses decimal text as JSON writes numbers (`90`, `-30.5`, `33.330`, `1.5e2`) into exact cents.
///
/// Trailing zero decimals beyond the second are accepted (`1.500` is 150 cents); anything that is not a
/// whole number of cents is an error rather than silently rounded.
pub fn parse_cents(text: &str) -> Result<Cents, MoneyError> {
    let text = text.trim();
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) => (&rest[..at], parse_exponent(&rest[at + 1..])?),
        None => (rest, 0),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_part.is_empty() && frac_part.is_empty()
        || !all_digits(int_part)
        || !all_digits(frac_part)
        || mantissa.ends_with('.')
    {
        return Err(MoneyError::NotANumber);
    }
    // The value is DIGITS × 10^(exponent − frac_len); in cents that is DIGITS × 10^(shift).
    let digits: String = format!("{int_part}{frac_part}");
    let shift = exponent + 2 - frac_part.len() as i64;
    let kept = if shift < 0 {
        let drop = shift.unsigned_abs() as usize;
        let cut = digits.len().saturating_sub(drop);
        if digits[cut..].bytes().any(|b| b != b'0') {
            return Err(MoneyError::TooManyDecimals);
        }
        &digits[..cut]
    } else {
        &digits[..]
    };
    let significant = kept.trim_start_matches('0');
    if significant.len() > 19 {
        return Err(MoneyError::TooLarge);
    }
    let mut value: i128 =
        if significant.is_empty() { 0 } else { significant.parse().map_err(|_| MoneyError::TooLarge)? };
    if value != 0 {
        for _ in 0..shift.max(0) {
            value = value.checked_mul(10).filter(|v| *v <= i64::MAX as i128).ok_or(MoneyError::TooLarge)?;
        }
    }
    let value = if negative { -value } else { value };
    i64::try_from(value).map_err(|_| MoneyError::TooLarge)
}

fn parse_exponent(text: &str) -> Result<i64, MoneyError> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MoneyError::NotANumber);
    }
    // Anything past a few dozen is either zero cents or far beyond i64; cap to keep the loops small.
    let magnitude: i64 = digits.trim_start_matches('0').parse().unwrap_or(0).min(1000);
    Ok(if text.starts_with('-') { -magnitude } else { magnitude })
}

/// Cents from a JSON value: a number (exact, from its text) or a decimal string.
pub fn value_cents(value: &Value) -> Result<Cents, MoneyError> {
    match value {
        Value::Number(n) => parse_cents(&n.to_string()),
        Value::String(s) => parse_cents(s),
        _ => Err(MoneyError::NotAnAmount),
    }
}

/// Parses an amount a person typed (`12`, `12.5`, `₹12.50`): positive, at most two decimals, no exponent.
pub fn parse_user_amount(text: &str) -> Result<Cents, String> {
    let t = text.trim();
    let t = t.strip_prefix('₹').unwrap_or(t).trim();
    if t.is_empty() || t.contains(['e', 'E', '+', '-']) {
        return Err(format!("invalid amount {text:?}: write a positive number like 12.50"));
    }
    match parse_cents(t) {
        Ok(c) if c > 0 => Ok(c),
        Ok(_) => Err(format!("invalid amount {text:?}: it must be greater than zero")),
        Err(e) => Err(format!("invalid amount {text:?}: {e}")),
    }
}

/// Formats cents with exactly two decimals: `-3050` → `-30.50`, `5` → `0.05`.
pub fn format_cents(cents: Cents) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// The JSON number to send for an amount: its two-decimal text, so the server sees exactly that.
pub fn to_json(cents: Cents) -> Value {
    match format_cents(cents).parse::<serde_json::Number>() {
        Ok(n) => Value::Number(n),
        // Cannot happen for our own formatting; a decimal string is also accepted by the server.
        Err(_) => Value::String(format_cents(cents)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_decimal_text() {
        assert_eq!(parse_cents("90"), Ok(9000));
        assert_eq!(parse_cents("90.0"), Ok(9000));
        assert_eq!(parse_cents("33.33"), Ok(3333));
        assert_eq!(parse_cents("-30.5"), Ok(-3050));
        assert_eq!(parse_cents("0.05"), Ok(5));
        assert_eq!(parse_cents("0"), Ok(0));
        assert_eq!(parse_cents("-0.0"), Ok(0));
        assert_eq!(parse_cents(".5"), Ok(50));
        assert_eq!(parse_cents("00012.10"), Ok(1210));
        assert_eq!(parse_cents("10000000000"), Ok(1_000_000_000_000));
    }

    #[test]
    fn extra_zero_decimals_are_fine_but_fractions_of_cents_are_not() {
        assert_eq!(parse_cents("1.500"), Ok(150));
        assert_eq!(parse_cents("1.0000000000000000000000000"), Ok(100));
        assert_eq!(parse_cents("1.005"), Err(MoneyError::TooManyDecimals));
        assert_eq!(parse_cents("0.001"), Err(MoneyError::TooManyDecimals));
        // The classic float trap: never rounded into 0.30.
        assert_eq!(parse_cents("0.30000000000000004"), Err(MoneyError::TooManyDecimals));
    }

    #[test]
    fn exponents_shift_the_point() {
        assert_eq!(parse_cents("1e2"), Ok(10000));
        assert_eq!(parse_cents("1.5E1"), Ok(1500));
        assert_eq!(parse_cents("125e-2"), Ok(125));
        assert_eq!(parse_cents("1e-2"), Ok(1));
        assert_eq!(parse_cents("1e-3"), Err(MoneyError::TooManyDecimals));
        assert_eq!(parse_cents("0e99999"), Ok(0));
        assert_eq!(parse_cents("1e30"), Err(MoneyError::TooLarge));
    }

    #[test]
    fn rejects_garbage_and_overflow() {
        for bad in ["", "-", ".", "1.", "abc", "1.2.3", "1,5", "--1", "1e", "1e+", "0x10", " 1 2"] {
            assert!(parse_cents(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(parse_cents("92233720368547758.07"), Ok(i64::MAX));
        assert_eq!(parse_cents("92233720368547758.08"), Err(MoneyError::TooLarge));
        assert_eq!(parse_cents("99999999999999999999999"), Err(MoneyError::TooLarge));
    }

    #[test]
    fn formats_with_two_decimals() {
        assert_eq!(format_cents(9000), "90.00");
        assert_eq!(format_cents(5), "0.05");
        assert_eq!(format_cents(-3050), "-30.50");
        assert_eq!(format_cents(-1), "-0.01");
        assert_eq!(format_cents(0), "0.00");
        assert_eq!(format_cents(i64::MIN), "-92233720368547758.08");
    }

    #[test]
    fn json_values_round_trip_exactly() {
        let v: Value = serde_json::from_str(r#"[90.0, 33.33, -66.67, "12.50", 1e2, true]"#).unwrap();
        let parsed: Vec<_> = v.as_array().unwrap().iter().map(value_cents).collect();
        assert_eq!(parsed, vec![Ok(9000), Ok(3333), Ok(-6667), Ok(1250), Ok(10000), Err(MoneyError::NotAnAmount)]);
        assert_eq!(to_json(1250).to_string(), "12.50".parse::<serde_json::Number>().unwrap().to_string());
        assert_eq!(value_cents(&to_json(1250)), Ok(1250));
    }

    #[test]
    fn user_amounts_are_positive_plain_decimals() {
        assert_eq!(parse_user_amount("12"), Ok(1200));
        assert_eq!(parse_user_amount(" ₹12.5 "), Ok(1250));
        assert!(parse_user_amount("0").is_err());
        assert!(parse_user_amount("-5").is_err());
        assert!(parse_user_amount("1e3").is_err());
        assert!(parse_user_amount("12.345").is_err());
        assert!(parse_user_amount("ten").is_err());
    }
}
