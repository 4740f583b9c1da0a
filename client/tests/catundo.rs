//! `splitc` against the real `splitd` for issue 15's categories, totals and undo: `add
//! --category`, `categories`, `add-category`, `stats` (the bar chart and `--json`), `restore`,
//! `restore-payment`, the undo hint after a delete, and the interactive "undo?" after a delete.

mod common;

use common::*;

#[test]
fn categories_stats_and_undo_one_shot() {
    let server = trip_with_three();
    let added = as_user(&server, "alice", &["add-category", "trip", "ski"]).ok();
    assert!(added.stdout.starts_with("Category added\nfood, travel, housing"), "{}", added.stdout);
    assert!(added.stdout.ends_with("other, ski\n"), "{}", added.stdout);
    let listed = as_user(&server, "bob", &["categories", "trip", "--json"]).ok().json();
    assert_eq!(listed["categories"].as_array().map(Vec::len), Some(8));
    as_user(&server, "alice", &["add", "trip", "90", "--split", "all", "--category", "ski", "--date", "2026-01-05"])
        .ok();
    as_user(&server, "bob", &["add", "trip", "30", "--split", "carol", "--category", "Food", "--date", "2026-02-01"])
        .ok();
    let refused = as_user(&server, "bob", &["add", "trip", "1", "--split", "carol", "--category", "boat"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("food, travel"), "the valid names are listed: {}", refused.stderr);

    let chart = as_user(&server, "carol", &["stats", "trip"]).ok().stdout;
    let lines: Vec<&str> = chart.lines().collect();
    assert_eq!(lines[0], "Spending by category in trip (INR)", "{chart}");
    // The list's order: the defaults, then the added ones.
    assert_eq!(lines[1], format!("food   {}{}   30.00", "█".repeat(10), " ".repeat(20)), "{chart}");
    assert_eq!(lines[2], format!("ski    {}   90.00", "█".repeat(30)), "{chart}");
    assert!(lines[3].starts_with("total") && lines[3].ends_with("  120.00"), "{chart}");
    let members = as_user(&server, "carol", &["stats", "trip", "--by", "member", "--from", "2026-02-01"]).ok().stdout;
    assert!(members.contains("carol  ██████████████████████████████  30.00  paid 0.00"), "{members}");
    let json = as_user(&server, "carol", &["stats", "trip", "--by", "month", "--json"]).ok().json();
    assert_eq!(json["rows"][0]["month"], "2026-01");
    assert_eq!(cents(&json["spending"]), 12_000);
    let bad = as_user(&server, "carol", &["stats", "trip", "--from", "2026-13-01"]);
    assert_eq!(bad.code, 2, "a bad date is a usage error: {bad:?}");

    let txns = as_user(&server, "alice", &["transactions", "trip", "--json"]).ok().json();
    let id = txns["transactions"][0]["id"].as_u64().unwrap().to_string();
    let deleted = as_user(&server, "alice", &["delete", "trip", &id]).ok().stdout;
    assert_eq!(deleted, format!("Transaction deleted\nUndo: splitc restore trip {id}\n"));
    assert_eq!(as_user(&server, "alice", &["restore", "trip", &id]).ok().stdout, "Transaction restored\n");
    let again = as_user(&server, "alice", &["restore", "trip", &id]);
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains("not deleted"), "{}", again.stderr);
    as_user(&server, "bob", &["pay", "trip", "alice", "5"]).ok();
    let payments = as_user(&server, "bob", &["payments", "trip", "--json"]).ok().json();
    let pid = payments["payments"][0]["id"].as_u64().unwrap().to_string();
    as_user(&server, "bob", &["delete-payment", "trip", &pid]).ok();
    assert_eq!(as_user(&server, "bob", &["restore-payment", "trip", &pid]).ok().stdout, "Payment restored\n");
    let after = as_user(&server, "alice", &["transactions", "trip", "--json"]).ok().json();
    assert_eq!(after["transactions"].as_array().map(Vec::len), Some(2), "{after}");
}

#[test]
fn interactive_offers_undo_right_after_a_delete() {
    let server = trip_with_three();
    let old = as_user(&server, "bob", &["add", "trip", "7", "--split", "alice", "--json"]).ok().json();
    let old_id = old["transaction"]["id"].as_u64().expect("id").to_string();
    let script = ["1", "alice", "pw-alice-long", "4", "1", "3", &old_id, "y", "y", "0", "0", "0"].join("\n") + "\n";
    let run = splitc(&["--server", &server.addr], None, &script).ok();
    let out = &run.stdout;
    let mut from = 0;
    for needle in ["✔ Transaction deleted", &format!("Undo? Restore #{old_id}"), "✔ Transaction restored", "Goodbye"]
    {
        match out[from..].find(needle) {
            Some(at) => from += at + needle.len(),
            None => panic!("{needle:?} missing (in order) from:\n{out}"),
        }
    }
    let txns = as_user(&server, "alice", &["transactions", "trip", "--json"]).ok().json();
    assert_eq!(txns["transactions"][0]["id"].to_string(), old_id, "undone: it is back");
}
