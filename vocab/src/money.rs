//! Money as exact integer minor units: the amount grammar every program shares.
//!
//! Owns `Cents`, the bounds of an amount, the decimal text an amount may be written as (exactly the
//! text of a JSON number: docs/protocol.md, "Amounts"), its two-decimal form, and the suggestion
//! shown for text that is almost an amount. Text becomes cents without float arithmetic; any digit
//! below the cent is an error, never rounded. Does not own splitting an amount among people (that is
//! the server's `money::allocate`) nor the JSON shapes around an amount.

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
    /// Not in the grammar (`"abc"`, `"1,5"`, `""`, `" 1"`, `"+1"`, `"007"`, `".5"`, `"1."`);
    /// `suggest_amount` may know what was meant.
    NotANumber,
    /// A digit below the cent (`"1.005"`): not a whole number of cents.
    TooManyDecimals,
    /// Zero, or any text with a minus sign, where an amount must be positive.
    NotPositive,
    /// Above `AMOUNT_CENTS_MAX`.
    TooLarge,
    /// Beyond what i64 cents can hold (only from `parse_decimal`, which has no business maximum).
    OutOfRange,
    /// A digit below the minor unit of a currency that does not have 2 decimals (`parse_amount_in`):
    /// `10.5` yen, `1.2345` dinar. The number is that currency's decimals.
    TooManyDecimalsFor(u8),
}

impl fmt::Display for AmountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AmountError::NotANumber => "must be a decimal number",
            AmountError::TooManyDecimals => "must have at most 2 decimals",
            AmountError::NotPositive => "must be greater than zero",
            AmountError::TooLarge => "must be at most 10000000000",
            AmountError::OutOfRange => "is beyond what 64-bit cents can hold",
            AmountError::TooManyDecimalsFor(0) => "must be a whole number (the currency has no decimals)",
            AmountError::TooManyDecimalsFor(1) => "must have at most 1 decimal",
            AmountError::TooManyDecimalsFor(3) => "must have at most 3 decimals",
            AmountError::TooManyDecimalsFor(_) => "has more decimals than the currency",
        })
    }
}

impl std::error::Error for AmountError {}

impl Cents {
    pub const ZERO: Cents = Cents(0);

    /// Parses a positive amount a request carries (`12`, `12.5`, `12.50`, `1.25e1`) exactly: the
    /// grammar of `scan`, nothing around it (no spaces, no `+`), at most `AMOUNT_CENTS_MAX`. Any
    /// minus sign is `NotPositive`, whatever follows it.
    pub fn parse_amount(text: &str) -> Result<Cents, AmountError> {
        let decimal = scan(text).ok_or(AmountError::NotANumber)?;
        if decimal.negative {
            return Err(AmountError::NotPositive);
        }
        let cents = decimal.cents(AMOUNT_DIGITS_MAX)?;
        if cents == 0 {
            return Err(AmountError::NotPositive);
        }
        if cents > AMOUNT_CENTS_MAX as i128 {
            return Err(AmountError::TooLarge);
        }
        Ok(Cents(cents as i64))
    }

    /// `parse_amount` for a currency with `decimals` digits below its unit (ISO 4217's exponent:
    /// 0 for JPY, 3 for KWD; `vocab::currency::minor_units`): the result counts that currency's
    /// minor units (`1234` yen is 1234, `1.250` dinar is 1250), and at most 10^10 units. For 2
    /// decimals this is `parse_amount` exactly, errors included.
    pub fn parse_amount_in(text: &str, decimals: u8) -> Result<Cents, AmountError> {
        if decimals == 2 {
            return Cents::parse_amount(text);
        }
        let decimal = scan(text).ok_or(AmountError::NotANumber)?;
        if decimal.negative {
            return Err(AmountError::NotPositive);
        }
        let minor = match decimal.minor(AMOUNT_DIGITS_MAX - 2 + i64::from(decimals), i64::from(decimals)) {
            Err(AmountError::TooManyDecimals) => return Err(AmountError::TooManyDecimalsFor(decimals)),
            other => other?,
        };
        if minor == 0 {
            return Err(AmountError::NotPositive);
        }
        if minor > amount_minor_max(decimals) as i128 {
            return Err(AmountError::TooLarge);
        }
        Ok(Cents(minor as i64))
    }

    /// Parses any exact decimal in the same grammar (`-30.5`, `0`, `90.00`): for reading amounts
    /// back, where balances may be zero or negative. Bounded only by i64.
    pub fn parse_decimal(text: &str) -> Result<Cents, AmountError> {
        let decimal = scan(text).ok_or(AmountError::NotANumber)?;
        let cents = match decimal.cents(DECIMAL_DIGITS_MAX) {
            Err(AmountError::TooLarge) => return Err(AmountError::OutOfRange),
            other => other?,
        };
        i64::try_from(cents).map(Cents).map_err(|_| AmountError::OutOfRange)
    }

    /// `parse_decimal` for `decimals` digits below the unit (`vocab::currency::minor_units`): the
    /// result counts those minor units (`-1.250` dinar is -1250, `1234` yen is 1234), for reading
    /// back a group's amounts kept in its currency's own unit. Bounded only by i64; for 2 decimals
    /// this is `parse_decimal` exactly, errors included.
    pub fn parse_decimal_in(text: &str, decimals: u8) -> Result<Cents, AmountError> {
        if decimals == 2 {
            return Cents::parse_decimal(text);
        }
        let decimal = scan(text).ok_or(AmountError::NotANumber)?;
        // DECIMAL_DIGITS_MAX digits of minor units, whatever the unit: i64's bound, far inside i128.
        let minor = match decimal.minor(DECIMAL_DIGITS_MAX, i64::from(decimals)) {
            Err(AmountError::TooManyDecimals) => return Err(AmountError::TooManyDecimalsFor(decimals)),
            Err(AmountError::TooLarge) => return Err(AmountError::OutOfRange),
            other => other?,
        };
        i64::try_from(minor).map(Cents).map_err(|_| AmountError::OutOfRange)
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

/// The largest amount in a currency with `decimals` decimals: 10^10 units, in its minor units
/// (`AMOUNT_CENTS_MAX` for 2 decimals). `decimals` is at most 3 (`currency::minor_units`).
pub const fn amount_minor_max(decimals: u8) -> i64 {
    match decimals {
        0 => 10_000_000_000,
        1 => 100_000_000_000,
        2 => AMOUNT_CENTS_MAX,
        _ => 10_000_000_000_000,
    }
}

/// `amount` minor units written with `decimals` decimals, as the wire writes amounts in a currency
/// whose minor unit is not the cent: `1234` (yen, 0), `1.250` (dinar, 3); 2 is `Display`.
pub fn minor_text(amount: Cents, decimals: u8) -> String {
    if decimals == 0 {
        return amount.0.to_string();
    }
    let sign = if amount.0 < 0 { "-" } else { "" };
    let abs = amount.0.unsigned_abs();
    let unit = 10_u64.pow(u32::from(decimals));
    format!("{sign}{}.{:0width$}", abs / unit, abs % unit, width = usize::from(decimals))
}

/// Two decimals always: `-33.33`, `0.05`, `100.00`.
impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// A decimal as the grammar reads it, borrowed from its text.
pub(crate) struct Decimal<'a> {
    pub(crate) negative: bool,
    /// The digits before the point: `0` or no leading zero.
    pub(crate) whole: &'a str,
    /// The digits after the point (none without a point).
    pub(crate) fraction: &'a str,
    /// Saturating at ±i64::MAX: beyond the length of any text, only its sign matters then.
    pub(crate) exponent: i64,
}

/// Reads `text` by the amount grammar, which is the text of a JSON number, whole:
///
/// ```text
/// decimal  = [ "-" ] whole [ "." digits ] [ ( "e" | "E" ) [ "+" | "-" ] digits ]
/// whole    = "0" | "1".."9" { "0".."9" }
/// digits   = "0".."9" { "0".."9" }
/// ```
///
/// `None` for anything else: spaces, `+` in front, leading zeros, `.5`, `5.`, a comma, other digits.
pub(crate) fn scan(text: &str) -> Option<Decimal<'_>> {
    let bytes = text.as_bytes();
    // Every index below sits just after an ASCII byte, so slicing `text` there is on a char boundary.
    let digits_end = |from: usize| from + bytes[from..].iter().take_while(|b| b.is_ascii_digit()).count();
    let negative = bytes.first() == Some(&b'-');
    let mut at = usize::from(negative);
    let end = digits_end(at);
    let whole = &text[at..end];
    if whole.is_empty() || (whole.len() > 1 && whole.starts_with('0')) {
        return None;
    }
    at = end;
    let mut fraction = "";
    if bytes.get(at) == Some(&b'.') {
        let end = digits_end(at + 1);
        fraction = &text[at + 1..end];
        if fraction.is_empty() {
            return None;
        }
        at = end;
    }
    let mut exponent = 0_i64;
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        let exponent_negative = bytes.get(at + 1) == Some(&b'-');
        at += 1 + usize::from(matches!(bytes.get(at + 1), Some(b'+' | b'-')));
        let end = digits_end(at);
        if end == at {
            return None;
        }
        let size =
            bytes[at..end].iter().fold(0_i64, |size, b| size.saturating_mul(10).saturating_add(i64::from(b - b'0')));
        exponent = if exponent_negative { -size } else { size };
        at = end;
    }
    (at == bytes.len()).then_some(Decimal { negative, whole, fraction, exponent })
}

impl Decimal<'_> {
    /// Its exact value in cents. Any digit below the cent makes it `TooManyDecimals` (never
    /// rounded); more than `digits_max` digits of cents is `TooLarge` before the value is computed,
    /// so it cannot overflow.
    fn cents(&self, digits_max: i64) -> Result<i128, AmountError> {
        self.minor(digits_max, 2)
    }

    /// `cents` for a minor unit of 10^-`decimals`.
    fn minor(&self, digits_max: i64, decimals: i64) -> Result<i128, AmountError> {
        // value = digits * 10^(exponent - fraction.len() + trailing zeros); minor = value * 10^decimals.
        let all_digits = format!("{}{}", self.whole, self.fraction);
        let significant_with_zeros = all_digits.trim_start_matches('0');
        let digits = significant_with_zeros.trim_end_matches('0');
        if digits.is_empty() {
            return Ok(0);
        }
        let trailing_zeros = (significant_with_zeros.len() - digits.len()) as i64;
        let scale = self.exponent.saturating_sub(self.fraction.len() as i64).saturating_add(trailing_zeros + decimals);
        if scale < 0 {
            return Err(AmountError::TooManyDecimals);
        }
        if (digits.len() as i64).saturating_add(scale) > digits_max {
            return Err(AmountError::TooLarge);
        }
        let mut value: i128 = digits.parse().map_err(|_| AmountError::NotANumber)?;
        for _ in 0..scale {
            value *= 10;
        }
        Ok(if self.negative { -value } else { value })
    }
}

/// What a person most likely meant by text the grammar refuses, written so that `parse_amount`
/// takes it, and why the original was refused. `Display`: `write 12.50 (a point, not a comma)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmountSuggestion {
    /// The amount to write instead: always one `parse_amount` takes.
    pub text: String,
    /// The habits it drops, `; ` between them: `no spaces`, `no plus sign`, ...
    pub why: String,
}

impl fmt::Display for AmountSuggestion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "write {} ({})", self.text, self.why)
    }
}

/// The amount `text` was almost, when it breaks the grammar only by a habit of hand-written
/// numbers: spaces around it (any Unicode space, such as U+00A0), a `+`, a decimal comma
/// followed by one or two digits (`12,50`), leading zeros (`007`), no digit before the point (`.5`)
/// or none after it (`5.`). `None` when the text is fine already, hopeless (`ten`), or ambiguous:
/// `1,500` may be 1.5 or 1500, so it gets no guess.
pub fn suggest_amount(text: &str) -> Option<AmountSuggestion> {
    let mut why = Vec::new();
    let mut fixed = text.trim();
    if fixed.len() != text.len() {
        why.push("no spaces");
    }
    if let Some(rest) = fixed.strip_prefix('+') {
        fixed = rest;
        why.push("no plus sign");
    }
    let mut fixed = match fixed.split_once(',') {
        Some((whole, cents))
            if (1..=2).contains(&cents.len())
                && !whole.is_empty()
                && whole.bytes().chain(cents.bytes()).all(|b| b.is_ascii_digit()) =>
        {
            why.push("a point, not a comma");
            format!("{whole}.{cents}")
        }
        _ => fixed.to_string(),
    };
    let whole_len = fixed.bytes().take_while(u8::is_ascii_digit).count();
    let zeros = fixed.bytes().take_while(|&b| b == b'0').count().min(whole_len.saturating_sub(1));
    if zeros > 0 {
        fixed.drain(..zeros);
        why.push("no leading zeros");
    }
    if fixed.starts_with('.') {
        fixed.insert(0, '0');
        why.push("a digit before the point");
    }
    if fixed.ends_with('.') {
        fixed.pop();
        why.push("digits after the point, or no point");
    }
    if why.is_empty() || Cents::parse_amount(&fixed).is_err() {
        return None;
    }
    Some(AmountSuggestion { text: fixed, why: why.join("; ") })
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
        assert_eq!(parse("-1e30"), Err(AmountError::NotPositive));
        assert_eq!(parse("99999999999999999999999999999999"), Err(AmountError::TooLarge));
        assert_eq!(parse("1e-400"), Err(AmountError::TooManyDecimals));
        for bad in ["", ".", "abc", "1.2.3", "NaN", "inf", "1e", "--1", "1,5", "١٢"] {
            assert_eq!(parse(bad), Err(AmountError::NotANumber), "{bad:?}");
        }
    }

    /// The grammar is the text of a JSON number and nothing else: each of these was once taken.
    #[test]
    fn lenient_forms_are_refused() {
        for bad in [
            " 1", "1 ", " 7 ", "\u{a0}1", "1\n", "+1", "007", "00.5", "01", "1.", ".5", "-.5", "1.e2", "1e", "1e+",
            "e2", "0x10", "1_000", "1 000", "\u{ff11}", "-", "- 1", "--1", "+-1", "1.5.", "Infinity",
        ] {
            assert_eq!(parse(bad), Err(AmountError::NotANumber), "{bad:?}");
            assert_eq!(Cents::parse_decimal(bad), Err(AmountError::NotANumber), "{bad:?}");
        }
        assert_eq!(parse("-1"), Err(AmountError::NotPositive));
        assert_eq!(parse("-0"), Err(AmountError::NotPositive));
        assert_eq!(parse("-1e400"), Err(AmountError::NotPositive));
        assert_eq!(parse("0.5"), Ok(Cents(50)));
        assert_eq!(parse("0e5"), Err(AmountError::NotPositive));
        assert_eq!(parse("1e+2"), Ok(Cents(10_000)));
        assert_eq!(parse("1e99999999999999999999"), Err(AmountError::TooLarge));
        assert_eq!(parse("1e-99999999999999999999"), Err(AmountError::TooManyDecimals));
    }

    /// Every string of up to 5 characters from the alphabet numbers are made of (and mistaken
    /// for): the grammar takes exactly what JSON takes as a number.
    #[test]
    fn the_grammar_is_the_json_number_grammar() {
        let alphabet = ['0', '1', '9', '.', '-', '+', 'e', 'E', ',', ' ', 'x'];
        let mut texts = vec![String::new()];
        let mut start = 0;
        for _ in 0..5 {
            let end = texts.len();
            for i in start..end {
                for c in alphabet {
                    texts.push(format!("{}{c}", texts[i]));
                }
            }
            start = end;
        }
        let mut numbers = 0;
        for text in &texts {
            let json = text.parse::<serde_json::Number>().is_ok();
            assert_eq!(scan(text).is_some(), json, "{text:?}");
            numbers += usize::from(json);
        }
        assert!(numbers > 1000, "the comparison saw numbers: {numbers}");
    }

    #[test]
    fn refused_forms_suggest_what_was_meant() {
        let suggest = |text: &str| suggest_amount(text).map(|s| s.to_string());
        assert_eq!(suggest("+5").as_deref(), Some("write 5 (no plus sign)"));
        assert_eq!(suggest("12,50").as_deref(), Some("write 12.50 (a point, not a comma)"));
        assert_eq!(suggest("1,5").as_deref(), Some("write 1.5 (a point, not a comma)"));
        assert_eq!(suggest(" 7 ").as_deref(), Some("write 7 (no spaces)"));
        assert_eq!(suggest("\u{a0}1").as_deref(), Some("write 1 (no spaces)"));
        assert_eq!(suggest("007").as_deref(), Some("write 7 (no leading zeros)"));
        assert_eq!(suggest("00.5").as_deref(), Some("write 0.5 (no leading zeros)"));
        assert_eq!(suggest(".5").as_deref(), Some("write 0.5 (a digit before the point)"));
        assert_eq!(suggest("5.").as_deref(), Some("write 5 (digits after the point, or no point)"));
        assert_eq!(
            suggest(" +012,5").as_deref(),
            Some("write 12.5 (no spaces; no plus sign; a point, not a comma; no leading zeros)")
        );
        // No guess where the text is fine, hopeless or ambiguous (1,500: one and a half, or 1500?).
        for none in ["5", "12.50", "ten", "1,500", "1,5,0", "+0", "+-5", "-5", " ", "", "+5.001", "1 000"] {
            assert_eq!(suggest(none), None, "{none:?}");
        }
        // Every suggestion is an amount.
        for text in ["+5", "12,50", " 7 ", "007", ".5", "5."] {
            let suggestion = suggest_amount(text).map(|s| s.text).unwrap_or_default();
            assert!(parse(&suggestion).is_ok(), "{text:?} -> {suggestion:?}");
        }
    }

    #[test]
    fn decimals_read_back_any_sign_within_i64() {
        let read = Cents::parse_decimal;
        assert_eq!(read("-30.5"), Ok(Cents(-3050)));
        assert_eq!(read("0"), Ok(Cents::ZERO));
        assert_eq!(read("-0.0"), Ok(Cents::ZERO));
        assert_eq!(read("12.10"), Ok(Cents(1210)));
        assert_eq!(read("00012.10"), Err(AmountError::NotANumber));
        assert_eq!(read("+1"), Err(AmountError::NotANumber));
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
    fn decimals_read_back_in_a_currencys_own_unit() {
        let read = Cents::parse_decimal_in;
        assert_eq!(read("-333", 0), Ok(Cents(-333)));
        assert_eq!(read("1.2e3", 0), Ok(Cents(1200)));
        assert_eq!(read("0", 0), Ok(Cents::ZERO));
        assert_eq!(read("-0.0", 3), Ok(Cents::ZERO));
        assert_eq!(read("-0.418", 3), Ok(Cents(-418)));
        assert_eq!(read("2.5", 3), Ok(Cents(2500)));
        assert_eq!(read("10.5", 0), Err(AmountError::TooManyDecimalsFor(0)));
        assert_eq!(read("1.2345", 3), Err(AmountError::TooManyDecimalsFor(3)));
        assert_eq!(read("20000000000", 0), Ok(Cents(20_000_000_000)), "beyond one amount's bound: a sum");
        assert_eq!(read("9223372036854775807", 0), Ok(Cents(i64::MAX)));
        assert_eq!(read("-9223372036854775.808", 3), Ok(Cents(i64::MIN)));
        assert_eq!(read("9223372036854775808", 0), Err(AmountError::OutOfRange));
        assert_eq!(read("1e30", 3), Err(AmountError::OutOfRange));
        assert_eq!(read("007", 0), Err(AmountError::NotANumber));
        assert_eq!(read("12.10", 2), Cents::parse_decimal("12.10"));
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

    #[test]
    fn amounts_in_currencies_without_two_decimals() {
        assert_eq!(Cents::parse_amount_in("1234", 0), Ok(Cents(1234)));
        assert_eq!(Cents::parse_amount_in("1.2e3", 0), Ok(Cents(1200)));
        assert_eq!(Cents::parse_amount_in("10.5", 0), Err(AmountError::TooManyDecimalsFor(0)));
        assert_eq!(Cents::parse_amount_in("1.250", 3), Ok(Cents(1250)));
        assert_eq!(Cents::parse_amount_in("1.2505", 3), Err(AmountError::TooManyDecimalsFor(3)));
        assert_eq!(Cents::parse_amount_in("0", 3), Err(AmountError::NotPositive));
        assert_eq!(Cents::parse_amount_in("10000000000", 0), Ok(Cents(10_000_000_000)));
        assert_eq!(Cents::parse_amount_in("10000000001", 0), Err(AmountError::TooLarge));
        assert_eq!(Cents::parse_amount_in("10000000000.001", 3), Err(AmountError::TooLarge));
        assert_eq!(Cents::parse_amount_in("1e400", 3), Err(AmountError::TooLarge));
        assert_eq!(Cents::parse_amount_in("1.005", 2), Err(AmountError::TooManyDecimals));
        assert_eq!(minor_text(Cents(1234), 0), "1234");
        assert_eq!(minor_text(Cents(1250), 3), "1.250");
        assert_eq!(minor_text(Cents(-5), 3), "-0.005");
        assert_eq!(minor_text(Cents(1250), 2), "12.50");
        for (text, decimals) in [("7", 0), ("0.007", 3), ("123.456", 3)] {
            let minor = Cents::parse_amount_in(text, decimals).unwrap();
            assert_eq!(Cents::parse_amount_in(&minor_text(minor, decimals), decimals), Ok(minor));
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
