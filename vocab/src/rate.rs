//! Exchange rates a user gives, and the one conversion splitd makes with them.
//!
//! A rate says how many group-currency units one unit of another currency is worth. It is an exact
//! decimal (`digits` × 10^−`scale`), positive, with at most `RATE_DIGITS_MAX` significant digits, in
//! the amount grammar (the text of a JSON number). Converting is exact integer arithmetic (i128),
//! rounded half-even once to the group currency's minor unit. splitd never fetches a rate. Does not
//! own where the rate is stored (the server's `Foreign`) nor which currency has which decimals
//! (`currency::minor_units`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::money::{amount_minor_max, Cents};

/// At most this many significant digits: the "up to 10", enough for any published rate.
pub const RATE_DIGITS_MAX: u32 = 10;

/// The smallest rate is 10^−`RATE_SCALE_MAX`, the largest below 10^`RATE_WHOLE_DIGITS_MAX`: with
/// amounts of at most 10^13 minor units the products stay far inside i128.
const RATE_SCALE_MAX: u8 = 18;
const RATE_WHOLE_DIGITS_MAX: u32 = 12;

/// An exact decimal: `digits` × 10^−`scale`, normalized (no trailing zero in `digits` while
/// `scale` > 0), so equal rates are equal values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    pub digits: u64,
    pub scale: u8,
}

/// Why text is not a rate; `Display` follows the field's name ("Field 'rate' must be ...").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateError {
    /// Not a decimal number.
    NotANumber,
    /// Zero or negative.
    NotPositive,
    /// More than `RATE_DIGITS_MAX` significant digits.
    TooPrecise,
    /// Below 10^−18 or at least 10^12.
    OutOfRange,
}

impl fmt::Display for RateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RateError::NotANumber => "must be a decimal number",
            RateError::NotPositive => "must be greater than zero",
            RateError::TooPrecise => "must have at most 10 significant digits",
            RateError::OutOfRange => "must be between 0.000000000000000001 and 999999999999",
        })
    }
}

impl std::error::Error for RateError {}

/// Why an amount cannot be converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvertError {
    /// The converted amount is above the largest amount of the target currency.
    TooLarge,
    /// It rounds to nothing in the target currency.
    Zero,
}

impl Rate {
    /// The rate 1: what a currency is worth in itself.
    pub const ONE: Rate = Rate { digits: 1, scale: 0 };

    /// Parses a rate exactly from its decimal text (`0.92`, `"156.25"`, `1.1e-2`).
    pub fn parse(text: &str) -> Result<Rate, RateError> {
        let (negative, mut digits, mut exponent) = significand(text).ok_or(RateError::NotANumber)?;
        if negative || digits.is_empty() {
            return Err(RateError::NotPositive);
        }
        if digits.len() > RATE_DIGITS_MAX as usize {
            return Err(RateError::TooPrecise);
        }
        // Whole digits: value = digits × 10^exponent.
        let whole_digits = (digits.len() as i64).saturating_add(exponent);
        if whole_digits > RATE_WHOLE_DIGITS_MAX as i64 || exponent < -(RATE_SCALE_MAX as i64) {
            return Err(RateError::OutOfRange);
        }
        while exponent > 0 {
            digits.push('0');
            exponent -= 1;
        }
        let digits = digits.parse().map_err(|_| RateError::NotANumber)?;
        Ok(Rate { digits, scale: (-exponent) as u8 })
    }

    pub fn is_one(self) -> bool {
        self == Rate::ONE
    }

    /// `amount` minor units of a currency with `from_decimals` decimals, in minor units of one with
    /// `to_decimals`: amount × rate, exact, rounded half-even to the target's minor unit.
    pub fn convert(self, amount: Cents, from_decimals: u8, to_decimals: u8) -> Result<Cents, ConvertError> {
        let pow = |n: u32| 10_i128.checked_pow(n).ok_or(ConvertError::TooLarge);
        let numerator = (amount.0 as i128)
            .checked_mul(self.digits as i128)
            .and_then(|n| n.checked_mul(pow(u32::from(to_decimals)).ok()?))
            .ok_or(ConvertError::TooLarge)?;
        let denominator = pow(u32::from(self.scale) + u32::from(from_decimals))?;
        let converted = half_even(numerator, denominator);
        if converted > amount_minor_max(to_decimals) as i128 {
            return Err(ConvertError::TooLarge);
        }
        if converted <= 0 {
            return Err(ConvertError::Zero);
        }
        Ok(Cents(converted as i64))
    }
}

/// Written as the shortest exact decimal: `0.92`, `156.25`, `1`.
impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.digits.to_string();
        let scale = usize::from(self.scale);
        if scale == 0 {
            return f.write_str(&text);
        }
        let padded = format!("{text:0>width$}", width = scale + 1);
        let (whole, fraction) = padded.split_at(padded.len() - scale);
        write!(f, "{whole}.{fraction}")
    }
}

/// `numerator / denominator` (denominator > 0), rounded to the nearest integer, ties to even.
fn half_even(numerator: i128, denominator: i128) -> i128 {
    let quotient = numerator.div_euclid(denominator);
    let twice_remainder = 2 * numerator.rem_euclid(denominator);
    if twice_remainder > denominator || (twice_remainder == denominator && quotient % 2 != 0) {
        quotient + 1
    } else {
        quotient
    }
}

/// A decimal in the amount grammar as its sign, its significant digits (no leading or trailing
/// zeros; empty for zero) and the power of ten they are scaled by (saturating). `None` outside the
/// grammar.
fn significand(text: &str) -> Option<(bool, String, i64)> {
    let decimal = crate::money::scan(text)?;
    let all = format!("{}{}", decimal.whole, decimal.fraction);
    let trimmed = all.trim_start_matches('0');
    let digits = trimmed.trim_end_matches('0');
    let exponent = decimal
        .exponent
        .saturating_sub(decimal.fraction.len() as i64)
        .saturating_add((trimmed.len() - digits.len()) as i64);
    Some((decimal.negative, digits.to_string(), exponent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_exactly() {
        assert_eq!(Rate::parse("0.92"), Ok(Rate { digits: 92, scale: 2 }));
        assert_eq!(Rate::parse("1"), Ok(Rate::ONE));
        assert_eq!(Rate::parse("1.000"), Ok(Rate::ONE));
        assert_eq!(Rate::parse("156.25"), Ok(Rate { digits: 15625, scale: 2 }));
        assert_eq!(Rate::parse("1.5e2"), Ok(Rate { digits: 150, scale: 0 }));
        assert_eq!(Rate::parse("1.2345678901"), Err(RateError::TooPrecise));
        assert_eq!(Rate::parse("1.234567890"), Ok(Rate { digits: 123_456_789, scale: 8 }));
        assert_eq!(Rate::parse("0.0000012345"), Ok(Rate { digits: 12345, scale: 10 }));
    }

    #[test]
    fn bad_rates_are_refused() {
        assert_eq!(Rate::parse("0"), Err(RateError::NotPositive));
        assert_eq!(Rate::parse("0.000"), Err(RateError::NotPositive));
        assert_eq!(Rate::parse("-1.1"), Err(RateError::NotPositive));
        assert_eq!(Rate::parse("12345678901"), Err(RateError::TooPrecise));
        assert_eq!(Rate::parse("1e12"), Err(RateError::OutOfRange));
        assert_eq!(Rate::parse("1e-19"), Err(RateError::OutOfRange));
        assert_eq!(Rate::parse("1e-99999999999999999999999"), Err(RateError::OutOfRange));
        for bad in ["", "abc", "1,5", " 1", "+1", ".5", "NaN"] {
            assert_eq!(Rate::parse(bad), Err(RateError::NotANumber), "{bad:?}");
        }
    }

    #[test]
    fn rates_write_back_as_they_read() {
        for text in ["0.92", "1", "156.25", "0.0000012345", "150", "9999999999", "99990000000"] {
            assert_eq!(Rate::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn conversion_is_exact_and_half_even() {
        let rate = |t| Rate::parse(t).unwrap();
        // 10.00 EUR at 0.92 = 9.20 (2 -> 2 decimals).
        assert_eq!(rate("0.92").convert(Cents(1000), 2, 2), Ok(Cents(920)));
        // 1234 yen at 0.0061 = 7.5274 -> 7.53.
        assert_eq!(rate("0.0061").convert(Cents(1234), 0, 2), Ok(Cents(753)));
        // Ties to even: 0.125 -> 0.12, 0.135 -> 0.14 (in cents).
        assert_eq!(rate("0.125").convert(Cents(100), 2, 2), Ok(Cents(12)));
        assert_eq!(rate("0.135").convert(Cents(100), 2, 2), Ok(Cents(14)));
        // To dinars (3 decimals): 1.00 EUR at 0.3311 = 0.331 KWD.
        assert_eq!(rate("0.3311").convert(Cents(100), 2, 3), Ok(Cents(331)));
        // To yen (0 decimals): 1.250 KWD at 490.5 = 613.125 -> 613.
        assert_eq!(rate("490.5").convert(Cents(1250), 3, 0), Ok(Cents(613)));
        assert_eq!(rate("0.001").convert(Cents(1), 2, 2), Err(ConvertError::Zero));
        assert_eq!(rate("9999999999").convert(Cents(10_000_000_000_000), 3, 2), Err(ConvertError::TooLarge));
        assert_eq!(rate("1").convert(Cents(5), 2, 2), Ok(Cents(5)));
    }
}
