//! Plain-text tables and CSV: the two ways splitc writes rows.
//!
//! Why its own module: every subcommand and the interactive menus print rows the same way, and the
//! rules worth testing (money right-aligned so the decimal points line up, CSV quoting) live in one place.

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

    /// Adds a row; missing cells are blank, extra cells are dropped.
    pub fn push(&mut self, mut row: Vec<String>) {
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
    }

    /// The table as text, each line ending in `\n`. Widths count characters (`₹` is one), so
    /// double-width scripts may misalign; names and amounts here are almost always narrow.
    pub fn render(&self) -> String {
        let width = |s: &str| s.chars().count();
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

/// One CSV field, quoted (RFC 4180) when it holds a comma, a quote, a line break, or edge spaces.
pub fn csv_field(field: &str) -> String {
    let needs_quotes = field.contains([',', '"', '\n', '\r']) || field.starts_with(' ') || field.ends_with(' ');
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
    fn an_empty_table_still_has_its_header() {
        let t = Table::new(&[("GROUP", Align::Left)]);
        assert_eq!(t.render(), "GROUP\n-----\n");
    }

    #[test]
    fn csv_quotes_only_what_needs_it() {
        assert_eq!(csv_field("dinner"), "dinner");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("cr\r"), "\"cr\r\"");
        assert_eq!(csv_field(" padded"), "\" padded\"");
        assert_eq!(csv_field(""), "");
        assert_eq!(csv_line(&["1", "a,b", "x"]), "1,\"a,b\",x\n");
    }
}
