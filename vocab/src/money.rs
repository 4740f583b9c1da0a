//! Money as exact integer minor units: the amount grammar every program shares.
//!
//! Owns `Cents`, the bounds of an amount, the decimal text an amount may be written as, and its
//! two-decimal form. Text becomes cents without float arithmetic; any digit below the cent is an
//! error, never rounded. Does not own splitting an amount among people (that is the server's
//! `money::allocate`) nor the JSON shapes around an amount.

use std::fmt;

/// An amount in cents (1/100 of the group's currency unit). Signed: balances may be negative.
/// Serde sees the raw integer (for stored records); the wire form is the two-decimal text of
/// `Display` (as a JSON number: `to_json`, feature `json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Cents(pub i64);

/// The largest amount a single transaction may carry: 10^10 units, i.e. 10^12 cents. Small enough
/// that sums over millions of transactions stay far inside i64.
pub const AMOUNT_CENTS_MAX: i64 = 1_000_000_000_000;

/// An amount has at most this many digits of cents before `parse_amount` calls it too large without
/// computing it: 15 digits is already 1000 times `AMOUNT_CENTS_MAX`.
const AMOUNT_DIGITS_MAX: i64 = 15;

/// Any decimal `parse_decimal` reads: 19 digits of cents is the first length that can leave i64,
/// and stays far inside the i128 the value is computed in.
const DECIMAL_DIGITS_MAX: i64 = 19;

/// Why text is not an amount; `Display` is the human message (the server sends it after the
/// field's name: "Field 'amount' must be a decimal number").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountError {
    /// Not a decimal number at all (`"abc"`, `"1,5"`, `""`).
    NotANumber,
    /// A digit below the cent (`"1.005"`): not a whole number of cents.
    TooManyDecimals,
    /// Zero or negative where an amount must be positive.
    NotPositive,
    /// Above `AMOUNT_CENTS_MAX`.
    TooLarge,
    /// Beyond what i64 cents can hold (only from `parse_decimal`, which has no business maximum).
    OutOfRange,
}

impl fmt::Display for AmountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AmountError::NotANumber => "must be a decimal number",
            AmountError::TooManyDecimals => "must have at most 2 decimals",
            AmountError::NotPositive => "must be greater than zero",
            AmountError::TooLarge => "must be at most 10000000000",
            AmountError::OutOfRange => "is beyond what 64-bit cents can hold",
        })
    }
}

impl std::error::Error for AmountError {}

impl Cents {
    pub const ZERO: Cents = Cents(0);

    /// Parses a positive amount a request carries (`12`, `12.5`, `12.50`, `1.25e1`, ` 7 `) exactly:
    /// at most `AMOUNT_CENTS_MAX`, surrounding whitespace ignored.
    pub fn parse_amount(text: &str) -> Result<Cents, AmountError> {
        let cents = parse_decimal_cents(text.trim(), AMOUNT_DIGITS_MAX)?;
        if cents <= 0 {
            return Err(AmountError::NotPositive);
        }
        if cents > AMOUNT_CENTS_MAX as i128 {
            return Err(AmountError::TooLarge);
        }
        Ok(Cents(cents as i64))
    }

    /// Parses any exact decimal in the same grammar (`-30.5`, `0`, `90.00`): for reading amounts
    /// back, where balances may be zero or negative. Bounded only by i64.
    pub fn parse_decimal(text: &str) -> Result<Cents, AmountError> {
        let cents = match parse_decimal_cents(text.trim(), DECIMAL_DIGITS_MAX) {
            Err(AmountError::TooLarge) => return Err(AmountError::OutOfRange),
            other => other?,
        };
        i64::try_from(cents).map(Cents).map_err(|_| AmountError::OutOfRange)
    }

    /// The amount as the JSON number the protocol promises: its `Display` text, exactly two
    /// decimals (`12.50`, kept as text by serde_json's `arbitrary_precision`).
    #[cfg(feature = "json")]
    pub fn to_json(self) -> serde_json::Value {
        let text = self.to_string();
        // `Display` always yields a valid JSON number literal, so this parse cannot fail; the
        // decimal string (which the server also accepts) only keeps the function total.
        match text.parse::<serde_json::Number>() {
            Ok(number) => serde_json::Value::Number(number),
            Err(_) => serde_json::Value::String(text),
        }
    }
}

impl std::ops::Add for Cents {
    type Output = Cents;
    fn add(self, other: Cents) -> Cents {
        Cents(self.0 + other.0)
    }
}

impl std::ops::Sub for Cents {
    type Output = Cents;
    fn sub(self, other: Cents) -> Cents {
        Cents(self.0 - other.0)
    }
}

impl std::ops::AddAssign for Cents {
    fn add_assign(&mut self, other: Cents) {
        self.0 += other.0;
    }
}

impl std::ops::SubAssign for Cents {
    fn sub_assign(&mut self, other: Cents) {
        self.0 -= other.0;
    }
}

impl std::ops::Neg for Cents {
    type Output = Cents;
    fn neg(self) -> Cents {
        Cents(-self.0)
    }
}

/// Two decimals always: `-33.33`, `0.05`, `100.00`.
impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// Exact decimal text to cents: `[-+]digits[.digits][e[+-]digits]`. Any digit below the cent makes
/// it an error (never rounded); more than `digits_max` digits of cents is `TooLarge` before the value
/// is computed, so it cannot overflow.
fn parse_decimal_cents(text: &str, digits_max: i64) -> Result<i128, AmountError> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) => {
            let exp: i32 = rest[at + 1..].parse().map_err(|_| AmountError::NotANumber)?;
            (&rest[..at], exp)
        }
        None => (rest, 0),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (mantissa, ""),
    };
    if whole.is_empty() && fraction.is_empty() {
        return Err(AmountError::NotANumber);
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AmountError::NotANumber);
    }
    // value = significant * 10^(exponent - fraction.len() + trailing zeros); cents = value * 100.
    let all_digits = format!("{whole}{fraction}");
    let significant_with_zeros = all_digits.trim_start_matches('0');
    let digits = significant_with_zeros.trim_end_matches('0');
    if digits.is_empty() {
        return Ok(0);
    }
    let trailing_zeros = significant_with_zeros.len() - digits.len();
    let scale = exponent as i64 - fraction.len() as i64 + trailing_zeros as i64 + 2;
    if scale < 0 {
        return Err(AmountError::TooManyDecimals);
    }
    if digits.len() as i64 + scale > digits_max {
        return Err(AmountError::TooLarge);
    }
    let mut value: i128 = digits.parse().map_err(|_| AmountError::NotANumber)?;
    for _ in 0..scale {
        value *= 10;
    }
    Ok(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Cents, AmountError> {
        Cents::parse_amount(text)
    }

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(parse("100"), Ok(Cents(10_000)));
        assert_eq!(parse("100.0"), Ok(Cents(10_000)));
        assert_eq!(parse("33.33"), Ok(Cents(3333)));
        assert_eq!(parse("0.05"), Ok(Cents(5)));
        assert_eq!(parse(".5"), Ok(Cents(50)));
        assert_eq!(parse("1.2500"), Ok(Cents(125)));
        assert_eq!(parse("1.25e1"), Ok(Cents(1250)));
        assert_eq!(parse("125e-2"), Ok(Cents(125)));
        assert_eq!(parse("1E2"), Ok(Cents(10_000)));
        assert_eq!(parse(" 7 "), Ok(Cents(700)));
        assert_eq!(parse("10000000000"), Ok(Cents(AMOUNT_CENTS_MAX)));
    }

    #[test]
    fn rejects_what_is_not_an_exact_positive_amount() {
        assert_eq!(parse("0.001"), Err(AmountError::TooManyDecimals));
        assert_eq!(parse("0.1000000000000000001"), Err(AmountError::TooManyDecimals));
        assert_eq!(parse("0"), Err(AmountError::NotPositive));
        assert_eq!(parse("0.00"), Err(AmountError::NotPositive));
        assert_eq!(parse("-5"), Err(AmountError::NotPositive));
        assert_eq!(parse("10000000000.01"), Err(AmountError::TooLarge));
        assert_eq!(parse("1e400"), Err(AmountError::TooLarge));
        assert_eq!(parse("-1e30"), Err(AmountError::TooLarge));
        assert_eq!(parse("99999999999999999999999999999999"), Err(AmountError::TooLarge));
        assert_eq!(parse("1e-400"), Err(AmountError::TooManyDecimals));
        for bad in ["", ".", "abc", "1.2.3", "NaN", "inf", "1e", "--1", "1,5", "١٢"] {
            assert_eq!(parse(bad), Err(AmountError::NotANumber), "{bad:?}");
        }
    }

    #[test]
    fn decimals_read_back_any_sign_within_i64() {
        let read = Cents::parse_decimal;
        assert_eq!(read("-30.5"), Ok(Cents(-3050)));
        assert_eq!(read("0"), Ok(Cents::ZERO));
        assert_eq!(read("-0.0"), Ok(Cents::ZERO));
        assert_eq!(read("00012.10"), Ok(Cents(1210)));
        assert_eq!(read("1.0000000000000000000000000"), Ok(Cents(100)));
        assert_eq!(read("0e99999"), Ok(Cents::ZERO));
        assert_eq!(read("1e-2"), Ok(Cents(1)));
        assert_eq!(read("20000000000"), Ok(Cents(2 * AMOUNT_CENTS_MAX)));
        assert_eq!(read("92233720368547758.07"), Ok(Cents(i64::MAX)));
        assert_eq!(read("-92233720368547758.08"), Ok(Cents(i64::MIN)));
        assert_eq!(read("92233720368547758.08"), Err(AmountError::OutOfRange));
        assert_eq!(read("1e30"), Err(AmountError::OutOfRange));
        assert_eq!(read("0.30000000000000004"), Err(AmountError::TooManyDecimals));
        assert_eq!(read("1,5"), Err(AmountError::NotANumber));
    }

    #[test]
    fn formats_two_decimals() {
        assert_eq!(Cents(3333).to_string(), "33.33");
        assert_eq!(Cents(-3333).to_string(), "-33.33");
        assert_eq!(Cents(5).to_string(), "0.05");
        assert_eq!(Cents(-5).to_string(), "-0.05");
        assert_eq!(Cents(0).to_string(), "0.00");
        assert_eq!(Cents(i64::MIN).to_string(), "-92233720368547758.08");
        assert_eq!(serde_json::to_string(&Cents(-1)).unwrap(), "-1");
        for cents in [1, 99, 100, 1250, 3333, AMOUNT_CENTS_MAX] {
            assert_eq!(Cents::parse_amount(&Cents(cents).to_string()), Ok(Cents(cents)), "{cents}");
        }
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_numbers_have_two_decimals() {
        assert_eq!(Cents(6667).to_json().to_string(), "66.67");
        assert_eq!(Cents(10_000).to_json().to_string(), "100.00");
        assert_eq!(Cents(-1).to_json().to_string(), "-0.01");
    }

    #[test]
    fn arithmetic() {
        let mut total = Cents(1000) + Cents(250) - Cents(50);
        total += Cents(1);
        total -= Cents(2);
        assert_eq!(total, Cents(1199));
        assert_eq!(-total, Cents(-1199));
    }
}
