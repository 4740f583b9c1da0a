//! `splitc import-splitwise` against the real splitd: a Splitwise-shaped export of three members and
//! 40 rows (every row shape the importer must get right), imported, checked against its Total
//! balance row, imported again (nothing added), resumed from a shorter export, and named where the
//! group no longer agrees; then the same money in a German export with decimal commas.

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A file written for one test, in its own temp dir.
fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.0.join(name);
    std::fs::write(&path, text).expect("write the export");
    path
}

/// `12.34` / `-0.05`, with `mark` as the decimal mark; thousands grouped by the other mark
/// (`1,234.50`, `1.234,50`) in half of them, as spreadsheets write them.
fn money(cents: i64, mark: char) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let units = cents.abs() / 100;
    let group = if mark == '.' { ',' } else { '.' };
    let units = if units >= 1000 && cents % 2 == 0 {
        format!("{}{group}{:03}", units / 1000, units % 1000)
    } else {
        units.to_string()
    };
    format!("{sign}{units}{mark}{:02}", cents.abs() % 100)
}

/// One row of the export: (description, category, cost, cells), cents.
type Row = (String, &'static str, i64, [i64; 3]);

/// 40 rows: the shapes the issue names, then generated expenses with one or two payers over a
/// subset of the three.
fn rows() -> Vec<Row> {
    let mut rows: Vec<Row> = vec![
        ("Hotel, two nights \"deluxe\"".into(), "Hotel", 5_000, [-1_000, 3_500, -2_500]), // uneven, one payer
        ("Dinner".into(), "Dining out", 9_000, [2_000, 1_000, -3_000]),                   // two payers, equal
        ("Museum, each their own".into(), "Entertainment", 4_500, [0, 0, 0]),             // everyone for themselves
        ("carol paid alice and bob".into(), "Payment", 3_000, [-1_000, -2_000, 3_000]),   // payment to two
        ("Taxi\nto the airport".into(), "Taxi", 3_000, [1_500, -1_500, 0]),               // a zero cell
        ("bob paid alice".into(), "Payment", 1_234, [-1_234, 1_234, 0]),
        ("Free sample".into(), "General", 0, [0, 0, 0]), // zero cost
    ];
    let mut seed: u64 = 0x5eed;
    let mut next = |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    while rows.len() < 39 {
        let cost = 1 + next(400_000) as i64;
        let sharing: Vec<usize> = (0..3).filter(|_| next(3) != 0).collect();
        let sharing = if sharing.is_empty() { vec![next(3) as usize] } else { sharing };
        let mut cells = [0i64; 3];
        for (k, who) in sharing.iter().enumerate() {
            let n = sharing.len() as i64;
            cells[*who] -= cost / n + i64::from((k as i64) < cost % n);
        }
        let payer = next(3) as usize;
        if next(4) == 0 {
            let other = (payer + 1) % 3;
            let part = cost / 3;
            cells[payer] += cost - part;
            cells[other] += part;
        } else {
            cells[payer] += cost;
        }
        rows.push((format!("expense {}", rows.len() + 1), "General", cost, cells));
    }
    rows.push(("Hand-edited, zero".into(), "General", 0, [0, 0, 0]));
    rows
}

/// How an export is written.
#[derive(Clone, Copy, PartialEq)]
enum Style {
    /// English headers, `,`, decimal points, a byte-order mark.
    English,
    /// German headers, `;`, decimal commas, `Zahlung`.
    German,
    /// English headers, `,`, and decimal commas in quoted cells.
    EnglishCommas,
}

/// The export's text, the file's line of each row, and the totals.
fn export(rows: &[Row], names: [&str; 3], style: Style) -> (String, Vec<usize>, [i64; 3]) {
    let german = style == Style::German;
    let (sep, mark) = match style {
        Style::English => (",", '.'),
        Style::German => (";", ','),
        Style::EnglishCommas => (",", ','),
    };
    let amount = |cents: i64| match money(cents, mark) {
        text if sep == "," && text.contains(',') => format!("\"{text}\""),
        text => text,
    };
    let head = if german {
        "Datum;Beschreibung;Kategorie;Kosten;Währung"
    } else {
        "\u{FEFF}Date,Description,Category,Cost,Currency"
    };
    let mut text = format!("{head}{sep}{}\r\n\r\n", names.join(sep));
    let mut line = 3;
    let mut lines = Vec::new();
    let mut totals = [0i64; 3];
    for (i, (desc, category, cost, cells)) in rows.iter().enumerate() {
        let category = if german && *category == "Payment" { "Zahlung" } else { category };
        let cells: Vec<String> = cells.iter().map(|c| amount(*c)).collect();
        let date = format!("2025-04-{:02}", 1 + i % 28);
        let desc = format!("\"{}\"", desc.replace('"', "\"\""));
        text.push_str(&[date, desc, category.to_string(), amount(*cost), "EUR".into()].join(sep));
        text.push_str(&format!("{sep}{}\r\n", cells.join(sep)));
        lines.push(line);
        line += 1 + rows[i].0.matches('\n').count();
        for (t, c) in totals.iter_mut().zip(rows[i].3) {
            *t += c;
        }
    }
    let total: Vec<String> = totals.iter().map(|c| amount(*c)).collect();
    let words = if german { "Gesamtsaldo" } else { "Total balance" };
    text.push_str(&format!("\r\n2025-04-30{sep}{words}{sep} {sep} {sep}EUR{sep}{}\r\n", total.join(sep)));
    (text, lines, totals)
}

fn balances(server: &Server, group: &str) -> [i64; 3] {
    let reply = as_user(server, "alice", &["balances", group, "--json"]).ok().json();
    ["alice", "bob", "carol"].map(|u| cents(&reply["balances"][u]))
}

fn count(server: &Server, what: &str, group: &str) -> usize {
    let reply = as_user(server, "alice", &[what, group, "--json"]).ok().json();
    reply[what].as_array().map_or(0, Vec::len)
}

fn in_eur(server: &Server, group: &str) {
    as_user(server, "alice", &["set-group-currency", group, "EUR"]).ok();
}

const MAPS: [&str; 4] = ["--map", "Alice A.=alice", "--map", "Carol=carol"];

fn import(server: &Server, group: &str, file: &Path, extra: &[&str]) -> Run {
    let path = file.display().to_string();
    let mut args = vec!["import-splitwise", group, &path];
    args.extend_from_slice(&MAPS);
    args.extend_from_slice(extra);
    as_user(server, "alice", &args)
}

#[test]
fn a_splitwise_export_imports_once_and_matches_its_total_row() {
    let server = trip_with_three();
    in_eur(&server, "trip");
    let dir = TempDir::new("splitwise");
    let rows = rows();
    assert_eq!(rows.len(), 40);
    let (text, lines, totals) = export(&rows, ["Alice A.", "bob", "Carol"], Style::English);
    let file = write(&dir, "trip.csv", &text);

    let run = import(&server, "trip", &file, &[]).ok();
    assert!(run.stdout.contains(": 38 rows added, 0 already there, 2 skipped.\n"), "{run:?}");
    let skipped = format!("Skipped (zero cost): lines {}, {}\n", lines[6], lines[39]);
    assert!(run.stdout.contains(&skipped), "named by their lines ({skipped:?}): {}", run.stdout);
    assert!(run.stdout.contains("All balances match the file's Total balance row (line"), "{}", run.stdout);
    assert_eq!(balances(&server, "trip"), totals);
    // 36 expenses; the payment to two people is two payments, plus the other payment row.
    assert_eq!(count(&server, "transactions", "trip"), 36);
    assert_eq!(count(&server, "payments", "trip"), 3);
    let txns = as_user(&server, "alice", &["transactions", "trip", "--json"]).ok().json();
    let dinner = txns["transactions"].as_array().unwrap().iter().find(|t| t["description"] == "Dinner").unwrap();
    assert_eq!((cents(&dinner["paid_by"]["alice"]), cents(&dinner["paid_by"]["bob"])), (5_000, 4_000));
    let taxi = txns["transactions"].as_array().unwrap().iter().find(|t| t["date"] == "2025-04-05").unwrap();
    assert_eq!(taxi["description"], "Taxi to the airport", "one line, as the server takes it");
    assert_eq!(taxi["shares"].as_object().map(|s| s.len()), Some(2), "carol's zero cell: not in it");
    // Splitwise's categories become splitd's defaults; General stays uncategorised.
    assert_eq!((&dinner["category"], &taxi["category"]), (&json!("food"), &json!("transport")));
    let hotel_row = &txns["transactions"][0];
    assert_eq!(hotel_row["category"], "travel", "{hotel_row}");
    let generated = txns["transactions"].as_array().unwrap().iter().find(|t| t["description"] == "expense 8").unwrap();
    assert_eq!(generated.get("category"), None, "General: no category");

    // A second run adds nothing.
    let again = import(&server, "trip", &file, &["--json"]).ok().json();
    assert_eq!((again["added"].as_u64(), again["already"].as_u64()), (Some(0), Some(38)), "{again}");
    assert_eq!(again["balances_match"], Value::Bool(true));
    assert_eq!(count(&server, "transactions", "trip"), 36);
    assert_eq!(count(&server, "payments", "trip"), 3);

    // Someone deletes an imported expense: the import names its row and the balances that differ.
    let hotel = txns["transactions"][0]["id"].as_u64().unwrap().to_string();
    as_user(&server, "bob", &["delete", "trip", &hotel]).ok();
    let run = import(&server, "trip", &file, &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains(&format!("edited or deleted in the group since it was imported): line {}\n", lines[0])),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Balances that differ from the file's Total balance row"), "{}", run.stdout);
    assert!(run.stdout.contains("\nbob   "), "bob's balance is named: {}", run.stdout);
}

#[test]
fn an_interrupted_import_resumes_and_a_german_export_with_decimal_commas_imports_alike() {
    let server = trip_with_three();
    let rows = rows();
    let dir = TempDir::new("splitwise-de");
    // German: `;`, decimal commas, Zahlung; stopped after 15 rows (an export of what was there then).
    let (first, _, _) = export(&rows[..15], ["Alice A.", "bob", "Carol"], Style::German);
    let (full, _, totals) = export(&rows, ["Alice A.", "bob", "Carol"], Style::German);
    let first = write(&dir, "reise-1.csv", &first);
    let full = write(&dir, "reise.csv", &full);
    let run = import(&server, "trip", &full, &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("the file is in EUR and trip in INR"), "{run:?}");
    in_eur(&server, "trip");
    let run = import(&server, "trip", &first, &[]).ok();
    assert!(run.stdout.contains(": 14 rows added, 0 already there, 1 skipped.\n"), "{run:?}");
    let run = import(&server, "trip", &full, &[]).ok();
    assert!(run.stdout.contains(": 24 rows added, 14 already there, 2 skipped.\n"), "{run:?}");
    assert!(run.stdout.contains("All balances match"), "{run:?}");
    assert_eq!(balances(&server, "trip"), totals);
    assert_eq!(count(&server, "payments", "trip"), 3);

    // The decimal-comma file in English, comma-separated (the amounts quoted): the same keys as
    // the German file's, so it is all there already.
    let quoted = export(&rows, ["Alice A.", "bob", "Carol"], Style::EnglishCommas).0;
    let run = import(&server, "trip", &write(&dir, "comma.csv", &quoted), &[]).ok();
    assert!(run.stdout.contains(": 0 rows added, 38 already there, 2 skipped.\n"), "{run:?}");
}

#[test]
fn files_and_members_that_do_not_fit_are_refused_before_anything_is_added() {
    let server = trip_with_three();
    in_eur(&server, "trip");
    let dir = TempDir::new("splitwise-bad");
    let bad = "Date,Description,Category,Cost,Currency,Alice A.,bob,Carol\n\
        2025-04-01,ok,General,10.00,EUR,10.00,-5.00,-5.00\n\
        2025-04-02,does not sum,General,10.00,EUR,10.00,-5.00,-4.00\n\
        2025-04-03,bad day,General,10.00,EUR,10.00,-5.00,-5.00,7\n";
    let run = import(&server, "trip", &write(&dir, "bad.csv", bad), &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("line 3: the member cells sum to 1.00, not 0.00"), "{run:?}");
    assert!(run.stderr.contains("line 4: 9 cells where the header has 8 columns"), "{run:?}");

    let stranger = "Date,Description,Category,Cost,Currency,Alice A.,bob,Carol,dave\n\
        2025-04-01,ok,General,10.00,EUR,10.00,-5.00,-5.00,0.00\n";
    let run = import(&server, "trip", &write(&dir, "dave.csv", stranger), &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("not members of trip: dave; nothing imported"), "{run:?}");
    assert_eq!(count(&server, "transactions", "trip"), 0);
}

/// A yen group holds whole yen: the file's amounts are sent as they are, and the check reads the
/// group's yen back as the file's numbers.
#[test]
fn an_export_in_yen_imports_into_a_yen_group_and_matches() {
    let server = trip_with_three();
    as_user(&server, "alice", &["create-group", "tokyo", "--currency", "JPY"]).ok();
    for user in ["bob", "carol"] {
        as_user(&server, user, &["join", "tokyo"]).ok();
    }
    let dir = TempDir::new("splitwise-yen");
    let text = "Date,Description,Category,Cost,Currency,Alice A.,bob,Carol\r\n\r\n\
                2025-04-01,Sushi,Dining out,3000,JPY,2000,-1000,-1000\r\n\
                2025-04-02,bob paid alice,Payment,1000,JPY,-1000,1000,0\r\n\
                \r\n2025-04-30,Total balance, , ,JPY,1000,0,-1000\r\n";
    let file = write(&dir, "tokyo.csv", text);
    let run = import(&server, "tokyo", &file, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("All balances match"), "{}", run.stdout);
    let shown = as_user(&server, "alice", &["balances", "tokyo"]).ok().stdout;
    assert!(shown.contains("alice            1000  is owed"), "whole yen: {shown}");
}
