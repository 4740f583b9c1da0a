//! The shape of a currency label: an ISO 4217-style code of three uppercase ASCII letters.
//!
//! A label: not checked against the list of real currencies. Also each currency's minor unit (ISO
//! 4217's exponent: how many decimals its amounts have), which the server and `splitc` both read
//! and write amounts by. Conversion between currencies is `rate`.

use crate::money::Cents;

/// The currency a group has until its creator sets another.
pub const DEFAULT_CURRENCY: &str = "INR";

/// An amount in hundredths as the server's messages write it: `₹12.30` for INR (the original's
/// text), else `EUR 12.30`; for clients to write amounts the same way.
pub fn money_text(currency: &str, cents: Cents) -> String {
    money_text_in(currency, cents, 2)
}

/// An amount with `decimals` decimals as messages write it: `₹12.30`, `JPY 1234`, `KWD 1.250` (a
/// group's amounts have its own decimals, `2` for groups made before groups had them).
pub fn money_text_in(currency: &str, amount: Cents, decimals: u8) -> String {
    let number = crate::money::minor_text(amount, decimals);
    if currency == DEFAULT_CURRENCY {
        format!("₹{number}")
    } else {
        format!("{currency} {number}")
    }
}

/// An amount in `currency`'s own minor units as messages write an expense entered in it: `JPY
/// 1234`, `KWD 1.250`, `EUR 12.30`, `₹12.30`.
pub fn entered_text(currency: &str, amount: Cents) -> String {
    money_text_in(currency, amount, minor_units(currency))
}

/// ISO 4217 currencies whose minor unit is not the hundredth, with their number of decimals: the
/// whole units (yen, won, ...) and the thousandths (dinars, rials). Every other code has 2.
const MINOR_UNITS: &[(&str, u8)] = &[
    ("BHD", 3),
    ("BIF", 0),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("IQD", 3),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("PYG", 0),
    ("RWF", 0),
    ("TND", 3),
    ("UGX", 0),
    ("UYI", 0),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
];

/// The most decimals any currency's amounts have (the dinars'): the finest an amount is read in
/// before it is known which currency it is in.
pub const DECIMALS_MAX: u8 = 3;

/// How many decimals amounts in `code` have: 0 for JPY, 3 for KWD, 2 for any other code.
pub fn minor_units(code: &str) -> u8 {
    MINOR_UNITS.iter().find(|(c, _)| *c == code).map_or(2, |&(_, decimals)| decimals)
}

/// `amount` (in `currency`'s minor units) as the wire writes it: `12.30` for INR, `1234` for JPY,
/// `1.250` for KWD.
pub fn amount_text(currency: &str, amount: Cents) -> String {
    crate::money::minor_text(amount, minor_units(currency))
}

/// `INR`, `EUR`, `USD` are; `inr`, `Euro`, `₹` are not.
pub fn is_currency_code(text: &str) -> bool {
    text.len() == 3 && text.bytes().all(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_text_as_messages_write_it() {
        assert_eq!(money_text("INR", Cents(1230)), "₹12.30");
        assert_eq!(money_text("EUR", Cents(5)), "EUR 0.05");
    }

    #[test]
    fn minor_units_follow_iso_4217() {
        assert_eq!(minor_units("JPY"), 0);
        assert_eq!(minor_units("KRW"), 0);
        assert_eq!(minor_units("KWD"), 3);
        assert_eq!(minor_units("EUR"), 2);
        assert_eq!(minor_units("XYZ"), 2);
        assert!(MINOR_UNITS.windows(2).all(|w| w[0].0 < w[1].0), "sorted, each once");
        assert_eq!(amount_text("JPY", Cents(1234)), "1234");
        assert_eq!(amount_text("KWD", Cents(1250)), "1.250");
        assert_eq!(amount_text("EUR", Cents(1250)), "12.50");
        assert_eq!(entered_text("JPY", Cents(1234)), "JPY 1234");
        assert_eq!(entered_text("INR", Cents(1234)), "₹12.34");
        assert_eq!(money_text("JPY", Cents(123_400)), "JPY 1234.00");
        assert_eq!(money_text_in("JPY", Cents(1234), 0), "JPY 1234");
        assert_eq!(money_text_in("INR", Cents(-5), 3), "₹-0.005");
    }

    #[test]
    fn three_uppercase_letters() {
        for good in ["INR", "EUR", "XYZ"] {
            assert!(is_currency_code(good), "{good}");
        }
        for bad in ["", "inr", "Eur", "EURO", "EU", "E1R", "₹", "ÉUR", " EU"] {
            assert!(!is_currency_code(bad), "{bad:?}");
        }
    }
}
