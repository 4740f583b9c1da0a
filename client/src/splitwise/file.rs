//! The shape of a Splitwise group export, read into rows of exact cents.
//!
//! ```text
//! Date,Description,Category,Cost,Currency,Alice,Bob,Carol
//!
//! 2025-03-01,Dinner,Dining out,90.00,EUR,60.00,-30.00,-30.00
//! 2025-03-02,Bob paid Alice,Payment,30.00,EUR,-30.00,30.00,0.00
//!
//! 2025-03-05,Total balance, , ,EUR,30.00,0.00,-30.00
//! ```
//!
//! Columns are read by position, so translated headers (`Datum,Beschreibung,Kategorie,Kosten,Währung`)
//! read the same; from the sixth on, one column per member, each cell that member's paid minus owed.
//! Blank lines are ignored. The last row with a blank cost is the `Total balance` row (its words are
//! translated too); a payment row is one whose category is `Payment` or a translation of it
//! ([`PAYMENT_WORDS`]). Other categories are not kept: splitd has none yet. A blank member cell is 0.
//!
//! Owns the layout and its checks; every problem is named by the line its row starts on. Does not own
//! what a row means in splitd (`rebuild`) nor how fields split (`csv`) or amounts read (`amount`).

use vocab::{is_currency_code, parse_date, Cents, AMOUNT_CENTS_MAX};

use super::amount::{self, Mark};
use super::csv;

/// A file larger than this is refused before it is read: 64 MiB is hundreds of thousands of rows.
pub const FILE_BYTES_MAX: u64 = 64 << 20;
/// Rows (expenses and payments) in one file at most: each is one request.
pub const ROWS_MAX: usize = 100_000;
/// Member columns at most (far above any group Splitwise allows).
pub const MEMBERS_MAX: usize = 1_000;

/// Categories that mark a payment row, compared without case: English and the languages
/// Splitwise exports in.
pub const PAYMENT_WORDS: [&str; 8] =
    ["payment", "zahlung", "paiement", "pago", "pagamento", "betaling", "płatność", "platba"];

/// The fixed columns before the members' (by position: headers may be translated).
const FIXED_COLUMNS: usize = 5;
const COST: usize = 3;

/// A whole export.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// The member columns' names, as the header writes them (trimmed).
    pub members: Vec<String>,
    pub rows: Vec<Row>,
    /// The `Total balance` row: its line and one balance per member; `None` when the file has none.
    pub total: Option<(usize, Vec<Cents>)>,
    /// The one currency of the rows (`None` when the column is blank).
    pub currency: Option<String>,
    pub mark: Mark,
    /// What is wrong with single rows: (line, why), in file order. Nothing may be imported while
    /// there is any.
    pub problems: Vec<(usize, String)>,
}

/// One expense or payment row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The line of the file it starts on (the header is line 1).
    pub line: usize,
    /// `YYYY-MM-DD`, or empty when the cell is blank.
    pub date: String,
    pub description: String,
    /// Zero for a blank cost cell.
    pub cost: Cents,
    pub payment: bool,
    /// The splitd category its Splitwise category becomes (`category`), if any.
    pub category: Option<&'static str>,
    /// Paid minus owed, one per member column.
    pub cells: Vec<Cents>,
}

/// Reads an export (its text, after the byte-order mark is dropped). A file that is not an export
/// at all is `Err`; the problems of single rows are in [`Export::problems`], every one found, so
/// one correction pass fixes them all.
pub fn read(text: &str) -> Result<Export, Vec<String>> {
    let text = csv::strip_bom(text);
    let separator = csv::separator(text);
    let records = csv::records(text, separator).map_err(|e| vec![e])?;
    let mut records = records.into_iter().filter(|r| !r.is_blank());
    let header = records.next().ok_or_else(|| vec!["the file is empty".to_string()])?;
    let members = members(&header)?;
    let records: Vec<csv::Record> = records.collect();
    if records.len() > ROWS_MAX + 1 {
        return Err(vec![format!("{} rows: at most {ROWS_MAX} in one import", records.len())]);
    }
    let width = FIXED_COLUMNS + members.len();
    let amounts = records.iter().flat_map(|r| r.fields.iter().skip(COST).take(width).enumerate());
    let mark = amount::decimal_mark(amounts.filter(|(i, _)| *i != 1).map(|(_, f)| f.as_str()), separator)
        .map_err(|e| vec![e])?;
    let total_at = records.last().filter(|r| field(r, COST).is_empty()).map(|_| records.len() - 1);
    let mut export = Export { members, rows: Vec::new(), total: None, currency: None, mark, problems: Vec::new() };
    let mut currencies: Vec<(String, usize)> = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let read = shape(record, width).and_then(|()| cells(record, &export.members, mark, Some(i) == total_at));
        match read.and_then(|cells| if Some(i) == total_at { Ok(Err(cells)) } else { row(record, cells, mark).map(Ok) })
        {
            Ok(Ok(row)) => export.rows.push(row),
            Ok(Err(total)) => export.total = Some((record.line, total)),
            Err(e) => export.problems.push((record.line, e)),
        }
        let currency = field(record, 4).to_string();
        if !currency.is_empty() && !currencies.iter().any(|(c, _)| *c == currency) {
            currencies.push((currency, record.line));
        }
    }
    match one_currency(&currencies) {
        Ok(currency) => export.currency = currency,
        Err(problem) => export.problems.push(problem),
    }
    Ok(export)
}

/// The member columns' names: at least one, none blank, none twice.
fn members(header: &csv::Record) -> Result<Vec<String>, Vec<String>> {
    let names: Vec<String> = header.fields.iter().skip(FIXED_COLUMNS).map(|f| f.trim().to_string()).collect();
    let expected = "Date,Description,Category,Cost,Currency and a column per member";
    if names.is_empty() {
        return Err(vec![format!("line {}: not a Splitwise export: the columns must be {expected}", header.line)]);
    }
    if names.len() > MEMBERS_MAX {
        return Err(vec![format!("{} member columns: at most {MEMBERS_MAX}", names.len())]);
    }
    let mut problems = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() {
            problems.push(format!("line {}: column {} has no member name", header.line, FIXED_COLUMNS + i + 1));
        } else if names[..i].contains(name) {
            problems.push(format!("line {}: the member {name:?} has two columns", header.line));
        }
    }
    if problems.is_empty() {
        Ok(names)
    } else {
        Err(problems)
    }
}

fn field(record: &csv::Record, i: usize) -> &str {
    record.fields.get(i).map(|f| f.trim()).unwrap_or("")
}

/// As many cells as the header has columns (extra ones only if blank).
fn shape(record: &csv::Record, width: usize) -> Result<(), String> {
    let n = record.fields.len();
    if n < width || record.fields[width..].iter().any(|f| !f.trim().is_empty()) {
        return Err(format!("{n} cells where the header has {width} columns"));
    }
    Ok(())
}

/// The member cells; in a row (not the total) each at most what one expense can be.
fn cells(record: &csv::Record, members: &[String], mark: Mark, total: bool) -> Result<Vec<Cents>, String> {
    let mut out = Vec::with_capacity(members.len());
    for (i, name) in members.iter().enumerate() {
        let cell = amount::parse(field(record, FIXED_COLUMNS + i), mark).unwrap_or(Ok(Cents::ZERO));
        let cell = cell.map_err(|e| format!("{name}'s cell {e}"))?;
        if !total && cell.0.abs() > AMOUNT_CENTS_MAX {
            return Err(format!("{name}'s cell {cell} is more than any expense can be"));
        }
        out.push(cell);
    }
    Ok(out)
}

/// An expense or payment row from its record and member cells.
fn row(record: &csv::Record, cells: Vec<Cents>, mark: Mark) -> Result<Row, String> {
    let date = field(record, 0).to_string();
    if !date.is_empty() && parse_date(&date).is_err() {
        return Err(format!("the date {date:?} is not a day written YYYY-MM-DD"));
    }
    let cost = match amount::parse(field(record, COST), mark) {
        None => Cents::ZERO,
        Some(cost) => cost.map_err(|e| format!("the cost {e}"))?,
    };
    if cost.0 > AMOUNT_CENTS_MAX {
        return Err(format!("the cost {cost} is above the largest amount, {}", Cents(AMOUNT_CENTS_MAX)));
    }
    let category = field(record, 2).to_lowercase();
    Ok(Row {
        line: record.line,
        date,
        description: field(record, 1).to_string(),
        cost,
        payment: PAYMENT_WORDS.contains(&category.as_str()),
        category: super::category::splitd_category(&category),
        cells,
    })
}

/// The file's currency: one code (splitd groups have one currency and convert nothing).
fn one_currency(seen: &[(String, usize)]) -> Result<Option<String>, (usize, String)> {
    match seen {
        [] => Ok(None),
        [(code, line)] if !is_currency_code(code) => {
            Err((*line, format!("the currency {code:?} is not a code like EUR")))
        }
        [(code, _)] => Ok(Some(code.clone())),
        [(first, _), (other, line), ..] => Err((
            *line,
            format!(
                "the currency {other:?} after {first:?}: a splitd group has one currency, so a file with \
                 several cannot be imported into one"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENGLISH: &str = "\u{FEFF}Date,Description,Category,Cost,Currency,Alice,Bob,Carol\r\n\
        \r\n\
        2025-03-01,\"Dinner, \"\"the good one\"\"\",Dining out,90.00,EUR,60.00,-30.00,-30.00\r\n\
        2025-03-02,Bob paid Alice,Payment,30.00,EUR,-30.00,30.00,0.00\r\n\
        2025-03-03,Free sample,General,0.00,EUR,0.00,0.00,0.00\r\n\
        \r\n\
        2025-03-05,Total balance, , ,EUR,30.00,0.00,-30.00\r\n";

    #[test]
    fn an_english_export() {
        let export = read(ENGLISH).unwrap();
        assert_eq!(export.members, ["Alice", "Bob", "Carol"]);
        assert_eq!(export.currency.as_deref(), Some("EUR"));
        assert_eq!(export.mark, Mark::Point);
        assert_eq!(export.rows.len(), 3);
        let dinner = &export.rows[0];
        assert_eq!((dinner.line, dinner.date.as_str()), (3, "2025-03-01"));
        assert_eq!(dinner.description, "Dinner, \"the good one\"");
        assert_eq!(dinner.cost, Cents(9000));
        assert_eq!(dinner.cells, [Cents(6000), Cents(-3000), Cents(-3000)]);
        assert!(!dinner.payment && export.rows[1].payment);
        assert_eq!(export.rows[2].cost, Cents::ZERO);
        assert_eq!(export.total, Some((7, vec![Cents(3000), Cents(0), Cents(-3000)])));
    }

    #[test]
    fn a_german_export_with_decimal_commas() {
        let text = "Datum;Beschreibung;Kategorie;Kosten;Währung;Anna;Jörg\n\
            2025-03-01;Abendessen;Essen gehen;1.234,50;EUR;617,25;-617,25\n\
            2025-03-02;Jörg hat Anna bezahlt;Zahlung;617,25;EUR;-617,25;617,25\n\
            2025-03-09;Gesamtsaldo;;;EUR;0,00;0,00\n";
        let export = read(text).unwrap();
        assert_eq!(export.members, ["Anna", "Jörg"]);
        assert_eq!(export.mark, Mark::Comma);
        assert_eq!(export.rows[0].cost, Cents(123_450));
        assert_eq!(export.rows[0].cells, [Cents(61_725), Cents(-61_725)]);
        assert!(export.rows[1].payment, "Zahlung is a payment");
        assert_eq!(export.total, Some((4, vec![Cents(0), Cents(0)])));
    }

    #[test]
    fn no_total_row_and_blank_cells() {
        let export =
            read("Date,Description,Category,Cost,Currency,A,B\n2025-01-01,x,y,10,,10,-10\n,z,y,5,,,\n").unwrap();
        assert_eq!(export.total, None, "a last row with a cost is a row");
        assert_eq!(export.rows[1].cells, [Cents(0), Cents(0)]);
        assert_eq!(export.rows[1].date, "");
        assert_eq!(export.currency, None);
    }

    #[test]
    fn every_problem_is_named_by_its_line() {
        let text = "Date,Description,Category,Cost,Currency,A,B\n\
            2025-02-30,bad day,x,10.00,EUR,10.00,-10.00\n\
            2025-01-01,short,x,10.00,EUR,10.00\n\
            2025-01-01,bad cell,x,10.00,EUR,ten,-10.00\n\
            2025-01-01,bad cost,x,1.234,EUR,10.00,-10.00\n\
            2025-01-02,Total balance,,,EUR,1.00,-1.00\n";
        let export = read(text).unwrap();
        let problems: Vec<String> = export.problems.iter().map(|(line, p)| format!("line {line}: {p}")).collect();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("line 2: the date \"2025-02-30\""), "{problems:?}");
        assert!(problems[1].starts_with("line 3: 6 cells where the header has 7"), "{problems:?}");
        assert!(problems[2].starts_with("line 4: A's cell \"ten\" is not an amount"), "{problems:?}");
        assert!(problems[3].starts_with("line 5: the cost \"1.234\": it must have at most 2 decimals"), "{problems:?}");
        assert_eq!(export.rows.len(), 0);
        assert!(export.total.is_some());
        let mixed =
            read("Date,Description,Category,Cost,Currency,A\n2025-01-01,x,y,1.00,EUR,0\n2025-01-01,x,y,1.00,USD,0\n");
        assert_eq!(mixed.unwrap().problems[0].0, 3);
        assert!(read("Date,Description,Category,Cost,Currency\n").unwrap_err()[0].contains("not a Splitwise export"));
        assert!(read("").unwrap_err()[0].contains("empty"));
        assert!(read("D,D,C,C,C,A,A\n").unwrap_err()[0].contains("two columns"));
    }
}
