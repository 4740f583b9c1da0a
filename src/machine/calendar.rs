//! Calendar arithmetic for recurring expenses: UTC days, months that end early, leap days.
//!
//! Owns the day numbering (days since 1970-01-01, UTC: the server's clock in Unix milliseconds maps
//! to one day everywhere) and adding days and months to a date. Does not own what a date may be
//! (`vocab::parse_date`) nor when a rule is due (`recurring`).

use vocab::Date;

use super::Millis;

const DAY_MS: i64 = 86_400_000;

/// Days in `month` of `year` (Gregorian).
pub fn days_in_month(year: i32, month: u32) -> u32 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        _ => 28,
    }
}

/// The day number of `date`: days since 1970-01-01 (negative before). Howard Hinnant's
/// `days_from_civil`.
pub fn day_number(date: Date) -> i64 {
    let (y, m, d) = (i64::from(date.year), i64::from(date.month), i64::from(date.day));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of day number `day`; `None` outside the years `vocab::Date` allows (1000-9999).
pub fn date_of(day: i64) -> Option<Date> {
    let (y, m, d) = civil_from_days(day);
    if !(1000..=9999).contains(&y) {
        return None;
    }
    Some(Date { year: y as u16, month: m as u8, day: d as u8 })
}

/// Year, month and day of day number `day`, in any year (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(day: i64) -> (i64, i64, i64) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The UTC day `now` falls in.
pub fn today(now: Millis) -> i64 {
    now.div_euclid(DAY_MS)
}

/// `date` moved by `months` whole months, on the same day of the month or, when that month is
/// shorter, on its last day (the 31st → 30 April, 28 or 29 February; 29 February → 28 February in a
/// common year). Always counted from `date` itself, so the 31st comes back in March.
pub fn add_months(date: Date, months: i64) -> Option<Date> {
    let index = i64::from(date.year) * 12 + i64::from(date.month) - 1 + months;
    let (year, month) = (index.div_euclid(12), index.rem_euclid(12) + 1);
    if !(1000..=9999).contains(&year) {
        return None;
    }
    let last = days_in_month(year as i32, month as u32);
    let day = u32::from(date.day).min(last);
    Some(Date { year: year as u16, month: month as u8, day: day as u8 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> Date {
        vocab::parse_date(text).expect("a test date")
    }

    #[test]
    fn day_numbers_round_trip_over_four_centuries() {
        assert_eq!(day_number(date("1970-01-01")), 0);
        assert_eq!(day_number(date("2000-03-01")), 11_017);
        for day in (day_number(date("1999-12-01"))..day_number(date("2401-03-02"))).step_by(7) {
            assert_eq!(date_of(day).map(day_number), Some(day));
        }
        assert_eq!(date_of(day_number(date("2024-02-29"))), Some(date("2024-02-29")));
        assert_eq!(today(-1), -1, "a millisecond before 1970 is the day before");
        assert_eq!(today(DAY_MS), 1);
    }

    #[test]
    fn months_end_early_and_leap_days_fall_back() {
        let jan31 = date("2025-01-31");
        let months: Vec<String> = (0..4).filter_map(|n| add_months(jan31, n)).map(|d| d.to_string()).collect();
        assert_eq!(months, ["2025-01-31", "2025-02-28", "2025-03-31", "2025-04-30"]);
        assert_eq!(add_months(date("2024-01-31"), 1), Some(date("2024-02-29")));
        assert_eq!(add_months(date("2024-02-29"), 12), Some(date("2025-02-28")));
        assert_eq!(add_months(date("2024-02-29"), 48), Some(date("2028-02-29")));
        assert_eq!(add_months(date("9999-12-01"), 1), None);
    }
}
