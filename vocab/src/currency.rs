//! The shape of a currency label: an ISO 4217-style code of three uppercase ASCII letters.
//!
//! A label only: not checked against the list of real currencies, and never used for conversion.

/// `INR`, `EUR`, `USD` are; `inr`, `Euro`, `₹` are not.
pub fn is_currency_code(text: &str) -> bool {
    text.len() == 3 && text.bytes().all(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

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
