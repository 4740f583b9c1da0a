//! Amounts as a Splitwise export writes them, in the file's locale, into exact cents (never f64).
//!
//! The rule, which leaves no number with two readings:
//! - **One decimal mark per file.** It is the mark (`.` or `,`) that some amount cell of the file
//!   ends with followed by one or two digits (`12.50`, `-3.5`, `12,50`): Splitwise writes two
//!   decimals, so every cell says it. When cells say both, the file is refused. When none says
//!   either (whole numbers only), a file separated by `;` has the comma, any other the point.
//! - **Thousands separators**: the other mark, a space, U+00A0, U+202F or `'`, one kind in a number,
//!   between groups of exactly three digits after a first group of one to three (`1,234.50`,
//!   `1.234,50`, `1 234,50`). Anything else (`1,5.00`, `12.345,6.7`) is refused, not guessed.
//! - A `-` in front for a negative cell; spaces around are ignored; digits below the cent must be
//!   zeros (`12.500` is 12.50; `12.345` is refused), as in the server's amount grammar, whose exact
//!   reader (`vocab::Cents::parse_decimal`) does the arithmetic.
//!
//! Owns only the reading of one amount and the choice of the mark. Does not own which cells are
//! amounts (`file`).

use vocab::Cents;

/// The decimal mark of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Point,
    Comma,
}

impl Mark {
    fn char(self) -> char {
        match self {
            Mark::Point => '.',
            Mark::Comma => ',',
        }
    }
}

/// The mark `cell` ends with, followed by one or two digits, if it does (`12,5` → comma).
fn says(cell: &str) -> Option<Mark> {
    let cell = cell.trim();
    let at = cell.rfind(['.', ','])?;
    let after = &cell[at + 1..];
    let digits = (1..=2).contains(&after.len()) && after.bytes().all(|b| b.is_ascii_digit());
    let before = cell[..at].bytes().last().is_some_and(|b| b.is_ascii_digit());
    (digits && before).then(|| if cell[at..].starts_with(',') { Mark::Comma } else { Mark::Point })
}

/// The decimal mark of a file whose amount cells are `cells` and whose separator is `separator`.
pub fn decimal_mark<'a>(cells: impl IntoIterator<Item = &'a str>, separator: char) -> Result<Mark, String> {
    let (mut point, mut comma) = (None, None);
    for cell in cells {
        match says(cell) {
            Some(Mark::Point) => point = point.or(Some(cell.trim())),
            Some(Mark::Comma) => comma = comma.or(Some(cell.trim())),
            None => {}
        }
    }
    match (point, comma) {
        (Some(p), Some(c)) => {
            Err(format!("the amounts mix decimal marks ({p:?} has a point, {c:?} a comma): one kind per file"))
        }
        (Some(_), None) => Ok(Mark::Point),
        (None, Some(_)) => Ok(Mark::Comma),
        (None, None) if separator == ';' => Ok(Mark::Comma),
        (None, None) => Ok(Mark::Point),
    }
}

/// Characters that may group thousands when `mark` is the decimal mark.
fn is_group_separator(c: char, mark: Mark) -> bool {
    matches!(c, ' ' | '\u{00A0}' | '\u{202F}' | '\'') || (c != mark.char() && matches!(c, '.' | ','))
}

/// The digits of `whole` without its thousands separators, if they group it by the rule.
fn ungrouped(whole: &str, mark: Mark) -> Option<String> {
    let separator = whole.chars().find(|c| is_group_separator(*c, mark));
    let groups: Vec<&str> = match separator {
        Some(s) => whole.split(s).collect(),
        None => vec![whole],
    };
    let digits = |g: &str| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit());
    let first_ok = groups.first().is_some_and(|g| digits(g) && (separator.is_none() || g.len() <= 3));
    let rest_ok = groups.iter().skip(1).all(|g| digits(g) && g.len() == 3);
    (first_ok && rest_ok).then(|| groups.concat())
}

/// Reads one amount cell (signed) by the rule above; `None` for a blank cell.
pub fn parse(cell: &str, mark: Mark) -> Option<Result<Cents, String>> {
    let text = cell.trim();
    if text.is_empty() {
        return None;
    }
    let refused = || format!("{text:?} is not an amount");
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, text),
    };
    let (whole, fraction) = match body.split_once(mark.char()) {
        Some((w, f)) => (w, Some(f)),
        None => (body, None),
    };
    let Some(whole) = ungrouped(whole, mark) else { return Some(Err(refused())) };
    if fraction.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit())) {
        return Some(Err(refused()));
    }
    // The server grammar's whole part has no leading zeros.
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    let canonical = match fraction {
        Some(f) => format!("{}{whole}.{f}", if negative { "-" } else { "" }),
        None => format!("{}{whole}", if negative { "-" } else { "" }),
    };
    Some(Cents::parse_decimal(&canonical).map_err(|e| format!("{text:?}: it {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(cell: &str, mark: Mark) -> Result<i64, String> {
        parse(cell, mark).expect("not blank").map(|c| c.0)
    }

    #[test]
    fn points_commas_and_thousands() {
        assert_eq!(read("12.50", Mark::Point), Ok(1250));
        assert_eq!(read("-30.5", Mark::Point), Ok(-3050));
        assert_eq!(read("12,50", Mark::Comma), Ok(1250));
        assert_eq!(read("-0,01", Mark::Comma), Ok(-1));
        assert_eq!(read("1,234.56", Mark::Point), Ok(123_456));
        assert_eq!(read("1.234,56", Mark::Comma), Ok(123_456));
        assert_eq!(read("1 234,56", Mark::Comma), Ok(123_456));
        assert_eq!(read("1\u{00A0}234\u{00A0}567,00", Mark::Comma), Ok(123_456_700));
        assert_eq!(read("1'234.00", Mark::Point), Ok(123_400));
        assert_eq!(read(" 90 ", Mark::Point), Ok(9000));
        assert_eq!(read("12.500", Mark::Point), Ok(1250), "zeros below the cent are exact");
        assert_eq!(read("1.500", Mark::Comma), Ok(150_000), "in a comma file the point groups thousands");
        assert_eq!(read("0.00", Mark::Point), Ok(0));
        assert_eq!(read("-0.00", Mark::Point), Ok(0));
        assert_eq!(parse("  ", Mark::Point), None);
    }

    #[test]
    fn anything_with_two_readings_is_refused() {
        for bad in
            ["1,5.00", "12.345", "1,23.00", "12,3456.00", "ten", "1.2.3", "12.", ".5", "+5", "1,234 567.00", "€5"]
        {
            assert!(read(bad, Mark::Point).is_err(), "{bad}");
        }
        for bad in ["12,345", "1.23,00", "12,5,0", "1e3"] {
            assert!(read(bad, Mark::Comma).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_file_decides_its_mark_once() {
        assert_eq!(decimal_mark(["90.00", "-30.00", "1,500.00"], ','), Ok(Mark::Point));
        assert_eq!(decimal_mark(["90,00", "-30,5", "1.500,00"], ';'), Ok(Mark::Comma));
        assert_eq!(decimal_mark(["90,00"], ','), Ok(Mark::Comma), "a quoted comma cell in a comma file");
        assert_eq!(decimal_mark(["90", "1.500"], ';'), Ok(Mark::Comma));
        assert_eq!(decimal_mark(["90", "1,500"], ','), Ok(Mark::Point));
        let mixed = decimal_mark(["12.50", "3,25"], ',').unwrap_err();
        assert!(mixed.contains("mix decimal marks"), "{mixed}");
    }
}
