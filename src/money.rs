//! Money as exact integer minor units.
//!
//! `Cents` is the only money type inside splitd: wire amounts are parsed from their decimal text (never
//! through float arithmetic), and formatted back as JSON numbers with at most two decimals. Splits are
//! allocated here so that every transaction's shares sum exactly to its amount.

use std::fmt;

/// An amount in cents (1/100 of the group's currency unit). Signed: balances may be negative.
/// Serde sees the raw integer (for stored records); the wire form is `to_json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Cents(pub i64);

/// The largest amount a single transaction may carry: 10^10 units, i.e. 10^12 cents. Small enough
/// that sums over millions of transactions stay far inside i64.
pub const AMOUNT_CENTS_MAX: i64 = 1_000_000_000_000;

/// Why a wire amount was rejected; `Display` is the human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountError {
    NotANumber,
    TooManyDecimals,
    NotPositive,
    TooLarge,
}

impl fmt::Display for AmountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AmountError::NotANumber => "must be a decimal number",
            AmountError::TooManyDecimals => "must have at most 2 decimals",
            AmountError::NotPositive => "must be greater than zero",
            AmountError::TooLarge => "must be at most 10000000000",
        })
    }
}

impl Cents {
    pub const ZERO: Cents = Cents(0);

    /// Parses a positive wire amount (`12`, `12.5`, `12.50`, `1.25e1`, `"12.50"`) exactly.
    pub fn parse_amount(text: &str) -> Result<Cents, AmountError> {
        let cents = parse_decimal_cents(text.trim())?;
        if cents <= 0 {
            return Err(AmountError::NotPositive);
        }
        if cents > AMOUNT_CENTS_MAX as i128 {
            return Err(AmountError::TooLarge);
        }
        Ok(Cents(cents as i64))
    }

    /// The amount as the JSON number the protocol promises: at most two decimals. The f64 nearest to
    /// `cents / 100` prints (shortest round-trip) as exactly that decimal for |cents| < 2^53.
    pub fn to_json(self) -> serde_json::Value {
        // `to_string` yields a valid JSON number literal (kept as text: serde_json's
        // arbitrary_precision), so this parse cannot fail; the float fallback only keeps it total.
        match self.to_string().parse::<serde_json::Number>() {
            Ok(number) => serde_json::Value::Number(number),
            Err(_) => serde_json::Value::from(self.0 as f64 / 100.0),
        }
    }

    pub fn checked_add(self, other: Cents) -> Option<Cents> {
        self.0.checked_add(other.0).map(Cents)
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

/// Exact decimal text to cents: `[-]digits[.digits][e[+-]digits]`. Any digit below the cent makes it
/// an error (never rounded); the value is bounded before it can overflow.
fn parse_decimal_cents(text: &str) -> Result<i128, AmountError> {
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
    // Anything with more than 15 significant digits after scaling is far above the maximum.
    if digits.len() as i64 + scale > 15 {
        return Err(AmountError::TooLarge);
    }
    let mut value: i128 = digits.parse().map_err(|_| AmountError::NotANumber)?;
    for _ in 0..scale {
        value *= 10;
    }
    Ok(if negative { -value } else { value })
}

/// Splits `total` over `weights.len()` people in proportion to their weights, exactly: every share is
/// the floor of its proportional part, then the leftover cents go one each to the largest fractional
/// remainders, ties to the earlier position (largest-remainder method). With equal weights this gives
/// the first `total % n` people one cent more: 100.00 over 3 is 33.34 / 33.33 / 33.33.
///
/// Returns `None` when the weights are empty, contain a negative, or sum to zero.
pub fn allocate(total: Cents, weights: &[i64]) -> Option<Vec<Cents>> {
    if weights.iter().any(|&w| w < 0) {
        return None;
    }
    let weight_sum: i128 = weights.iter().map(|&w| w as i128).sum();
    if weight_sum == 0 {
        return None;
    }
    let total_wide = total.0 as i128;
    let mut shares = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    let mut allocated: i128 = 0;
    for (position, &weight) in weights.iter().enumerate() {
        let exact = total_wide * weight as i128;
        let share = exact.div_euclid(weight_sum);
        remainders.push((exact.rem_euclid(weight_sum), position));
        allocated += share;
        shares.push(share);
    }
    let mut leftover = total_wide - allocated;
    // Largest remainder first; equal remainders in position order.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, position) in remainders.iter().cycle().take(weights.len() * 2) {
        if leftover == 0 {
            break;
        }
        shares[position] += 1;
        leftover -= 1;
    }
    debug_assert_eq!(leftover, 0);
    Some(shares.into_iter().map(|s| Cents(s as i64)).collect())
}

/// Equal split: `allocate` with weight 1 each.
pub fn split_equal(total: Cents, people: usize) -> Option<Vec<Cents>> {
    allocate(total, &vec![1; people])
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
        assert_eq!(parse("99999999999999999999999999999999"), Err(AmountError::TooLarge));
        assert_eq!(parse("1e-400"), Err(AmountError::TooManyDecimals));
        for bad in ["", ".", "abc", "1.2.3", "NaN", "inf", "1e", "--1", "1,5", "١٢"] {
            assert_eq!(parse(bad), Err(AmountError::NotANumber), "{bad:?}");
        }
    }

    #[test]
    fn formats_two_decimals_and_json_numbers() {
        assert_eq!(Cents(3333).to_string(), "33.33");
        assert_eq!(Cents(-3333).to_string(), "-33.33");
        assert_eq!(Cents(5).to_string(), "0.05");
        assert_eq!(Cents(-5).to_string(), "-0.05");
        assert_eq!(Cents(6667).to_json().to_string(), "66.67");
        assert_eq!(Cents(10_000).to_json().to_string(), "100.00");
        assert_eq!(Cents(-1).to_json().to_string(), "-0.01");
        assert_eq!(serde_json::to_string(&Cents(-1)).unwrap(), "-1");
    }

    #[test]
    fn hundred_over_three() {
        let shares = split_equal(Cents(10_000), 3).unwrap();
        assert_eq!(shares, vec![Cents(3334), Cents(3333), Cents(3333)]);
        assert_eq!(shares.iter().map(|c| c.0).sum::<i64>(), 10_000);
    }

    #[test]
    fn weighted_allocation_uses_largest_remainder() {
        // 10.00 by weights 1:1:1:3 -> exact 1.666.., 1.666.., 1.666.., 5.00
        let shares = allocate(Cents(1000), &[1, 1, 1, 3]).unwrap();
        assert_eq!(shares, vec![Cents(167), Cents(167), Cents(166), Cents(500)]);
        assert_eq!(allocate(Cents(1000), &[]), None);
        assert_eq!(allocate(Cents(1000), &[0, 0]), None);
        assert_eq!(allocate(Cents(1000), &[1, -1]), None);
    }

    #[test]
    fn random_allocations_always_sum_exactly() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..5_000 {
            let total = Cents((next() % AMOUNT_CENTS_MAX as u64) as i64 + 1);
            let people = (next() % 40) as usize + 1;
            let weights: Vec<i64> = (0..people).map(|_| (next() % 1000) as i64 + 1).collect();
            let shares = allocate(total, &weights).unwrap();
            assert_eq!(shares.iter().map(|c| c.0).sum::<i64>(), total.0);
            let equal = split_equal(total, people).unwrap();
            assert_eq!(equal.iter().map(|c| c.0).sum::<i64>(), total.0);
            let max = equal.iter().max().unwrap().0;
            let min = equal.iter().min().unwrap().0;
            assert!(max - min <= 1);
        }
    }
}
