//! The shape of a currency label: an ISO 4217-style code of three uppercase ASCII letters.
//!
//! A label only: not checked against the list of real currencies, and never used for conversion.

use crate::money::Cents;

/// The currency a group has until its creator sets another.
pub const DEFAULT_CURRENCY: &str = "INR";

/// An amount as the server's messages write it: `₹12.30` for INR (the original's text), else
/// `EUR 12.30`; for clients to write amounts the same way.
pub fn money_text(currency: &str, cents: Cents) -> String {
    if currency == DEFAULT_CURRENCY {
        format!("₹{cents}")
    } else {
        format!("{currency} {cents}")
    }
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
    fn three_uppercase_letters() {
        for good in ["INR", "EUR", "XYZ"] {
            assert!(is_currency_code(good), "{good}");
        }
        for bad in ["", "inr", "Eur", "EURO", "EU", "E1R", "₹", "ÉUR", " EU"] {
            assert!(!is_currency_code(bad), "{bad:?}");
        }
    }
}
