//! CSV records as spreadsheets write them (RFC 4180 and its habits): fields separated by `,` or `;`
//! (a file saved where the decimal mark is a comma uses `;`), optionally in double quotes, with `""`
//! for a quote and commas, separators and line breaks inside quotes; a UTF-8 byte-order mark at the
//! start; `\n` or `\r\n` line ends. Each record keeps the line it starts on, so a report can name it.
//!
//! Owns only the splitting into fields. Does not own what the fields mean (`file`).

/// One record: its fields and the 1-based line of the file it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub line: usize,
    pub fields: Vec<String>,
}

impl Record {
    /// A record with nothing but blanks (an empty line, or only separators).
    pub fn is_blank(&self) -> bool {
        self.fields.iter().all(|f| f.trim().is_empty())
    }
}

/// The field separator: the one of `,`, `;` and tab that occurs most often outside quotes on the
/// first line (the header names no separator), `,` when none does.
pub fn separator(text: &str) -> char {
    let first = text.lines().next().unwrap_or("");
    let mut quoted = false;
    let mut counts = [(',', 0usize), (';', 0), ('\t', 0)];
    for c in first.chars() {
        if c == '"' {
            quoted = !quoted;
        } else if !quoted {
            if let Some(entry) = counts.iter_mut().find(|(s, _)| *s == c) {
                entry.1 += 1;
            }
        }
    }
    // Ties go to the earlier separator: `,` is the CSV default.
    counts.iter().fold((',', 0), |best, &(s, n)| if n > best.1 { (s, n) } else { best }).0
}

/// Splits `text` (without a byte-order mark: see [`strip_bom`]) into records. An unclosed quote or
/// text after a closing quote is refused with the line it is on.
pub fn records(text: &str, separator: char) -> Result<Vec<Record>, String> {
    let mut out = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let (mut line, mut start) = (1, 1);
    let mut quoted = false;
    let mut after_quote = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => (quoted, after_quote) = (false, true),
                _ => {
                    line += usize::from(c == '\n');
                    field.push(c);
                }
            }
            continue;
        }
        match c {
            '"' if field.trim().is_empty() && !after_quote => (quoted, field) = (true, String::new()),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                out.push(Record { line: start, fields: std::mem::take(&mut fields) });
                line += 1;
                start = line;
                after_quote = false;
            }
            c if c == separator => {
                fields.push(std::mem::take(&mut field));
                after_quote = false;
            }
            c if after_quote && c.is_whitespace() => {}
            _ if after_quote => return Err(format!("line {line}: text after a closing quote")),
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(format!("line {start}: a quote opened here is never closed"));
    }
    if !field.is_empty() || !fields.is_empty() || after_quote {
        fields.push(field);
        out.push(Record { line: start, fields });
    }
    Ok(out)
}

/// `text` without a UTF-8 byte-order mark at its start (spreadsheets on Windows write one).
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{FEFF}').unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str, sep: char) -> Vec<Vec<String>> {
        records(text, sep).unwrap().into_iter().map(|r| r.fields).collect()
    }

    #[test]
    fn quotes_hold_separators_quotes_and_line_breaks() {
        let text = "a,b,c\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\r\nlast,,\n";
        assert_eq!(
            fields(text, ','),
            [vec!["a", "b", "c"], vec!["x, y", "say \"hi\"", "two\nlines"], vec!["last", "", ""]]
        );
        let lines: Vec<usize> = records(text, ',').unwrap().iter().map(|r| r.line).collect();
        assert_eq!(lines, [1, 2, 4], "a record is named by the line it starts on");
        assert_eq!(fields("a;\"1,50\";b", ';'), [vec!["a", "1,50", "b"]]);
        assert_eq!(fields("no end", ','), [vec!["no end"]]);
        assert_eq!(fields("a,\"b\"", ','), [vec!["a", "b"]]);
        assert_eq!(fields("a,\"\"", ','), [vec!["a", ""]]);
    }

    #[test]
    fn blank_lines_bom_and_separators() {
        let recs = records("h1,h2\n\nv1,v2\n", ',').unwrap();
        assert_eq!(recs.len(), 3);
        assert!(recs[1].is_blank() && !recs[2].is_blank());
        assert_eq!(recs[2].line, 3);
        assert_eq!(strip_bom("\u{FEFF}Date,x"), "Date,x");
        assert_eq!(separator("Datum;Beschreibung;Kosten\n1,5;2"), ';');
        assert_eq!(separator("Date,Description,\"a;b\"\n"), ',');
        assert_eq!(separator("Date\tCost"), '\t');
        assert_eq!(separator("Date"), ',');
    }

    #[test]
    fn broken_quotes_are_refused_with_their_line() {
        assert_eq!(records("a\n\"open,b\nc", ','), Err("line 2: a quote opened here is never closed".into()));
        assert_eq!(records("\"a\"b,c", ','), Err("line 1: text after a closing quote".into()));
    }
}
