//! The calendar date rule: `YYYY-MM-DD` naming a real day (years 1000-9999, leap years Gregorian).
//!
//! Owns what a transaction's or payment's `date` may be. Does not own time zones, clocks or
//! timestamps: a date here is a label the person gave, checked, never converted.

use std::fmt;

/// A checked calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

/// Why text is not a date; `Display` is the human message (after the field's name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateError {
    /// Not ten characters `YYYY-MM-DD` of digits and dashes, or a year before 1000.
    Shape,
    /// The right shape, but no such day: month 13, 2025-02-29, 2025-02-30, day 00.
    NoSuchDay,
}

impl fmt::Display for DateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DateError::Shape => "must be a date YYYY-MM-DD",
            DateError::NoSuchDay => "is not a day in the calendar",
        })
    }
}

impl std::error::Error for DateError {}

/// `YYYY-MM-DD`, zero-padded, as it was parsed.
impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Checks `text` is a date `YYYY-MM-DD` that is a real day: 2024-02-29 is, 2025-02-29 is not.
/// Nothing is trimmed: the text is stored as given, so it must already be exact.
pub fn parse_date(text: &str) -> Result<Date, DateError> {
    let bytes = text.as_bytes();
    let shape = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes.iter().enumerate().all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape {
        return Err(DateError::Shape);
    }
    // Only ASCII digits remain in these ranges, so the parses cannot fail.
    let number = |range: std::ops::Range<usize>| text[range].parse::<u16>().unwrap_or(0);
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    if year < 1000 {
        return Err(DateError::Shape);
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(DateError::NoSuchDay);
    }
    Ok(Date { year, month: month as u8, day: day as u8 })
}

/// Days in `month` of `year`; 0 for a month that does not exist.
fn days_in_month(year: u16, month: u16) -> u16 {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_days_only() {
        assert_eq!(parse_date("2024-02-29"), Ok(Date { year: 2024, month: 2, day: 29 }));
        assert_eq!(parse_date("2000-02-29").map(|d| d.to_string()), Ok("2000-02-29".to_string()));
        assert!(parse_date("2025-12-31").is_ok());
        assert!(parse_date("1000-01-01").is_ok());
        assert!(parse_date("9999-12-31").is_ok());
        for no_such_day in
            ["2025-02-29", "2025-02-30", "1900-02-29", "2025-13-01", "2025-00-10", "2025-04-31", "2025-01-00"]
        {
            assert_eq!(parse_date(no_such_day), Err(DateError::NoSuchDay), "{no_such_day}");
        }
    }

    #[test]
    fn the_shape_is_exact() {
        for bad in [
            "",
            "2025-1-01",
            "2025-01-1",
            "28-02-2025",
            "2025/01/01",
            " 2025-01-01",
            "2025-01-01 ",
            "yesterday",
            "0999-01-01",
            "+025-01-01",
            "2025-01-0١",
        ] {
            assert_eq!(parse_date(bad), Err(DateError::Shape), "{bad:?}");
        }
    }
}
