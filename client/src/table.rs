//! Plain-text tables and CSV: the two ways splitc writes rows.
//!
//! Why its own module: every subcommand and the interactive menus print rows the same way, and the
//! rules worth testing (money right-aligned so the decimal points line up, CSV quoting, every cell
//! through [`sanitize`] before it is measured, widths in terminal cells so a CJK or emoji
//! description does not push the next column, long text cut with `…`) live in one place.

use crate::term::sanitize;
use unicode_width::UnicodeWidthStr;

/// The widest a left-aligned text cell is shown, in terminal cells; longer ones end in `…`.
/// (`--json` and `export` keep the whole text.)
pub const CELL_WIDTH_MAX: usize = 40;

/// How many terminal cells `text` takes (a CJK character or an emoji: two).
pub fn display_width(text: &str) -> usize {
    text.width()
}

/// `text` cut to at most `max` cells, ending in `…` when it was cut.
pub fn truncate(text: &str, max: usize) -> String {
    if display_width(text) <= max {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 > max {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// How a column's cells sit in its width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    /// For amounts: right-aligned two-decimal numbers line up on the decimal point.
    Right,
}

/// A table with a header row; rendered with two spaces between columns and a dashed rule.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<String>,
    aligns: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(columns: &[(&str, Align)]) -> Table {
        Table {
            headers: columns.iter().map(|(h, _)| h.to_string()).collect(),
            aligns: columns.iter().map(|(_, a)| *a).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are blank, extra cells are dropped. Cells are sanitised here (they
    /// hold names and descriptions from the server), so widths are those of what will be shown;
    /// text cells longer than [`CELL_WIDTH_MAX`] are cut, except in the last column.
    pub fn push(&mut self, mut row: Vec<String>) {
        row.resize(self.headers.len(), String::new());
        let last = self.headers.len().saturating_sub(1);
        let cells = row.into_iter().zip(&self.aligns).enumerate().map(|(i, (cell, align))| {
            let shown = sanitize(&cell).into_owned();
            // The last column pushes nothing along: it is shown whole.
            if *align == Align::Left && i < last {
                truncate(&shown, CELL_WIDTH_MAX)
            } else {
                shown
            }
        });
        self.rows.push(cells.collect());
    }

    /// Names the currency in the header of the main money column (`AMOUNT`, `BALANCE`, `NET`):
    /// `AMOUNT (EUR)`. Nothing when the currency is not known.
    pub fn label_money(&mut self, currency: Option<&str>) {
        let Some(currency) = currency else { return };
        for (header, align) in self.headers.iter_mut().zip(&self.aligns) {
            if *align == Align::Right && ["AMOUNT", "BALANCE", "NET"].contains(&header.as_str()) {
                *header = format!("{header} ({})", sanitize(currency));
            }
        }
    }

    /// The table as text, each line ending in `\n`. Widths are terminal cells
    /// ([`display_width`]: `₹` is one, `寿` or `🍣` two), so columns line up on a terminal.
    pub fn render(&self) -> String {
        let width = display_width;
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[String]| {
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i > 0 {
                    text.push_str("  ");
                }
                let pad = " ".repeat(widths[i] - width(cell));
                match self.aligns[i] {
                    Align::Left => {
                        text.push_str(cell);
                        text.push_str(&pad);
                    }
                    Align::Right => {
                        text.push_str(&pad);
                        text.push_str(cell);
                    }
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&self.headers);
        line(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>());
        for row in &self.rows {
            line(row);
        }
        out
    }
}

/// One CSV field, sanitised (an export is printed as often as it is saved; the JSON export keeps the
/// exact text), then quoted (RFC 4180) when it holds a comma, a quote or edge spaces.
pub fn csv_field(field: &str) -> String {
    let field = sanitize(field);
    let needs_quotes = field.contains([',', '"']) || field.starts_with(' ') || field.ends_with(' ');
    if needs_quotes {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// One CSV record with its line ending.
pub fn csv_line<S: AsRef<str>>(fields: &[S]) -> String {
    let mut line = fields.iter().map(|f| csv_field(f.as_ref())).collect::<Vec<_>>().join(",");
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_columns_are_right_aligned_and_text_left_aligned() {
        let mut t = Table::new(&[("MEMBER", Align::Left), ("BALANCE", Align::Right)]);
        t.push(vec!["alice".into(), "1060.00".into()]);
        t.push(vec!["bo".into(), "-30.50".into()]);
        t.push(vec!["carol".into(), "0.05".into()]);
        assert_eq!(
            t.render(),
            "MEMBER  BALANCE\n\
             ------  -------\n\
             alice   1060.00\n\
             bo       -30.50\n\
             carol      0.05\n"
        );
    }

    #[test]
    fn widths_count_characters_not_bytes_and_lines_have_no_trailing_spaces() {
        let mut t = Table::new(&[("A", Align::Left), ("B", Align::Left)]);
        t.push(vec!["₹₹".into(), "x".into()]);
        t.push(vec!["abc".into()]);
        assert_eq!(t.render(), "A    B\n---  -\n₹₹   x\nabc\n");
    }

    #[test]
    fn wide_characters_take_two_cells_and_long_text_is_cut() {
        let mut t = Table::new(&[("DESCRIPTION", Align::Left), ("AMOUNT", Align::Right), ("BY", Align::Left)]);
        t.push(vec!["寿司 🍣".into(), "12.00".into()]);
        t.push(vec!["taxi".into(), "3.00".into()]);
        t.push(vec!["x".repeat(50), "1.00".into(), "y".repeat(50)]);
        t.label_money(Some("JPY"));
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("{:<40}  AMOUNT (JPY)  BY", "DESCRIPTION"));
        assert_eq!(lines[2], format!("寿司 🍣{}         12.00", " ".repeat(33)));
        // The amounts end in the same terminal column, after a CJK and emoji description too.
        assert_eq!(display_width(lines[2]), display_width(lines[3]), "{text}");
        assert_eq!(display_width(lines[2]), 40 + 2 + 12, "{text}");
        assert!(lines[4].starts_with(&format!("{}…", "x".repeat(39))), "{text}");
        assert!(lines[4].ends_with(&"y".repeat(50)), "the last column is whole: {text}");
        assert_eq!(truncate("寿司寿司", 5), "寿司…");
    }

    #[test]
    fn an_empty_table_still_has_its_header() {
        let t = Table::new(&[("GROUP", Align::Left)]);
        assert_eq!(t.render(), "GROUP\n-----\n");
    }

    #[test]
    fn cells_are_sanitised_before_they_are_measured() {
        let mut t = Table::new(&[("GROUP", Align::Left), ("N", Align::Right)]);
        t.push(vec!["\x1b]0;pwned\x07\x1b[2Jevil".into(), "1".into()]);
        t.push(vec!["tr\u{200b}ip\nfake row".into(), "2".into()]);
        t.push(vec!["trip".into(), "3".into()]);
        let text = t.render();
        assert!(!text.contains(['\x1b', '\x07', '\u{200b}']), "{text:?}");
        assert_eq!(
            text,
            "GROUP                             N\n\
             --------------------------------  -\n\
             \\u{1b}]0;pwned\\u{7}\\u{1b}[2Jevil  1\n\
             tr\\u{200b}ip\\u{a}fake row         2\n\
             trip                              3\n"
        );
        assert_eq!(csv_line(&["a\x1bb", "x\ny", "\u{202e}z"]), "a\\u{1b}b,x\\u{a}y,\\u{202e}z\n");
    }

    #[test]
    fn csv_quotes_only_what_needs_it() {
        assert_eq!(csv_field("dinner"), "dinner");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field(" padded"), "\" padded\"");
        assert_eq!(csv_field(""), "");
        assert_eq!(csv_line(&["1", "a,b", "x"]), "1,\"a,b\",x\n");
    }
}
