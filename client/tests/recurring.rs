//! `splitc recurring add|list|edit|stop` against the real splitd: what each prints, its exit code,
//! what reached the server, and the usage errors caught before connecting.
//!
//! Dates are chosen so that nothing depends on today: a rule started in the past with a `--count`
//! has made all its occurrences by the time `add` answers (the server's catch-up runs in the same
//! turn), and one starting in 2099 has made none.

mod common;

use common::*;
use serde_json::Value;

fn usage_error(run: &Run, words: &str) {
    assert_eq!(run.code, 2, "a usage error exits 2: {run:?}");
    assert!(run.stderr.starts_with("splitc: ") && run.stderr.contains(words), "expected {words:?} in {run:?}");
}

fn refused(run: &Run, words: &str) {
    assert_eq!(run.code, 1, "a refusal exits 1: {run:?}");
    assert!(run.stderr.contains(words), "expected {words:?} in {run:?}");
}

/// alice's monthly rent of 90 shared by the three of them, three months from 31 January 2025.
const RENT: [&str; 15] = [
    "recurring",
    "add",
    "trip",
    "90",
    "--every",
    "month",
    "--start",
    "2025-01-31",
    "--count",
    "3",
    "--split",
    "bob,carol",
    "--include-me",
    "--desc",
    "rent",
];

/// bob's fortnightly milk from 2099, until the end of June that year.
const MILK: [&str; 14] = [
    "recurring",
    "add",
    "trip",
    "3.50",
    "--every",
    "week",
    "--interval",
    "2",
    "--start",
    "2099-01-01",
    "--until",
    "2099-06-30",
    "--split",
    "all",
];

#[test]
fn add_prints_the_rule_as_it_is_once_a_past_start_made_its_occurrences() {
    let server = trip_with_three();
    let run = as_user(&server, "alice", &RENT).ok();
    assert_eq!(
        run.stdout,
        "Recurring expense added\n\
         ID  EVERY  NEXT  AMOUNT (INR)  DESCRIPTION  ENDS\n\
         --  -----  ----  ------------  -----------  -----------\n\
         \x201  month  done         90.00  rent         0 of 3 left\n",
        "{run:?}"
    );
    // The 31st falls on the last day of February; each occurrence is alice's.
    let txns = as_user(&server, "bob", &["transactions", "trip", "--json"]).ok().json();
    let list = txns["transactions"].as_array().expect("a list");
    let dates: Vec<&str> = list.iter().map(|t| t["date"].as_str().unwrap_or("")).collect();
    assert_eq!(dates, ["2025-01-31", "2025-02-28", "2025-03-31"], "{txns}");
    assert!(list.iter().all(|t| t["payer"] == "alice" && t["description"] == "rent"), "{txns}");
    let balances = as_user(&server, "carol", &["balances", "trip", "--json"]).ok().json();
    assert_eq!(cents(&balances["balances"]["alice"]), 18_000);
    assert_eq!(cents(&balances["balances"]["carol"]), -9_000);
    // --json is the server's reply.
    let json = as_user(&server, "bob", &[&MILK[..], &["--json"]].concat()).ok().json();
    assert_eq!((json["rule"]["id"].as_u64(), json["rule"]["interval"].as_u64()), (Some(2), Some(2)), "{json}");
    assert_eq!(json["rule"]["split"]["members"], Value::Null, "--split all is every member: {json}");
}

#[test]
fn add_without_start_starts_today() {
    let server = trip_with_three();
    let args = ["recurring", "add", "trip", "4", "--every", "day", "--count", "2", "--split", "bob", "--json"];
    let rule = as_user(&server, "alice", &args).ok().json();
    let start = rule["rule"]["start"].as_str().expect("a start").to_string();
    let list = as_user(&server, "alice", &["recurring", "list", "trip", "--json"]).ok().json();
    assert_eq!(list["rules"][0]["made"], 1, "today's is made at once: {list}");
    let txns = as_user(&server, "alice", &["transactions", "trip", "--json"]).ok().json();
    assert_eq!(txns["transactions"][0]["date"], start.as_str(), "{txns}");
}

#[test]
fn list_is_a_table_of_the_rules() {
    let server = trip_with_three();
    let empty = as_user(&server, "carol", &["recurring", "list", "trip"]).ok();
    assert_eq!(empty.stdout, "No recurring expenses.\n");
    as_user(&server, "alice", &RENT).ok();
    as_user(&server, "bob", &MILK).ok();
    let run = as_user(&server, "carol", &["recurring", "list", "trip"]).ok();
    assert_eq!(
        run.stdout,
        "ID  EVERY    NEXT        AMOUNT (INR)  DESCRIPTION  ENDS\n\
         --  -------  ----------  ------------  -----------  ----------------\n\
         \x201  month    done               90.00  rent         0 of 3 left\n\
         \x202  2 weeks  2099-01-01          3.50               until 2099-06-30\n",
        "{run:?}"
    );
    let json = as_user(&server, "carol", &["recurring", "list", "trip", "--json"]).ok().json();
    assert_eq!(json["rules"].as_array().map(Vec::len), Some(2), "{json}");
    refused(&as_user(&server, "carol", &["recurring", "list", "nowhere"]), "Group not found");
}

#[test]
fn edit_changes_what_is_to_come() {
    let server = trip_with_three();
    as_user(&server, "bob", &MILK).ok();
    let run = as_user(&server, "alice", &["recurring", "edit", "trip", "1", "--amount", "12.50", "--count", "5"]).ok();
    assert!(run.stdout.starts_with("Recurring expense edited\n"), "{run:?}");
    let row = run.stdout.lines().nth(3).unwrap_or_default().to_string();
    assert!(row.contains("12.50") && row.ends_with("5 of 5 left, until 2099-06-30"), "{run:?}");
    let run = as_user(&server, "alice", &["recurring", "edit", "trip", "1", "--until", "", "--desc", "oat milk"]).ok();
    let row = run.stdout.lines().nth(3).unwrap_or_default().to_string();
    assert!(row.contains("oat milk") && row.ends_with("5 of 5 left"), "--until \"\" removes it: {run:?}");
    let json = as_user(&server, "alice", &["recurring", "edit", "trip", "1", "--count", "0", "--json"]).ok().json();
    assert_eq!(json["rule"].get("count"), None, "--count 0 removes it: {json}");
    refused(
        &as_user(&server, "alice", &["recurring", "edit", "trip", "7", "--amount", "1"]),
        "Recurring rule not found",
    );
    usage_error(&as_user(&server, "alice", &["recurring", "edit", "trip", "1"]), "nothing to change");
    usage_error(
        &as_user(&server, "alice", &["recurring", "edit", "trip", "1", "--until", "2099-6-1"]),
        "--until must be",
    );
}

#[test]
fn stop_ends_a_rule_and_takes_it_off_the_list() {
    let server = trip_with_three();
    as_user(&server, "bob", &MILK).ok();
    as_user(&server, "alice", &RENT).ok();
    let run = as_user(&server, "carol", &["recurring", "stop", "trip", "1"]).ok();
    assert_eq!(run.stdout, "Recurring expense stopped\n");
    let list = as_user(&server, "carol", &["recurring", "list", "trip", "--json"]).ok().json();
    let ids: Vec<u64> = list["rules"].as_array().expect("rules").iter().filter_map(|r| r["id"].as_u64()).collect();
    assert_eq!(ids, [2], "{list}");
    refused(&as_user(&server, "carol", &["recurring", "stop", "trip", "1"]), "Recurring rule not found");
    // What a stopped rule made stays.
    let txns = as_user(&server, "carol", &["transactions", "trip", "--json"]).ok().json();
    assert_eq!(txns["transactions"].as_array().map(Vec::len), Some(3), "{txns}");
}

#[test]
fn usage_errors_are_caught_before_connecting() {
    let server = trip_with_three();
    // The rent with `option` given `value` instead (or as well).
    let with = |option: &str, value: &str| {
        let mut args = RENT.to_vec();
        match args.iter().position(|a| *a == option) {
            Some(at) => args[at + 1] = value,
            None => args.extend([option, value]),
        }
        as_user(&server, "alice", &args)
    };
    usage_error(&with("--every", "monthly"), "--every must be day, week, month or year, not \"monthly\"");
    usage_error(&with("--start", "2025-02-30"), "--start \"2025-02-30\" is not a day in the calendar");
    usage_error(&with("--until", "soon"), "--until must be YYYY-MM-DD");
    usage_error(&with("--paid-by", "alice"), "expected name=value");
    let no_split = ["recurring", "add", "trip", "5", "--every", "day"];
    usage_error(&as_user(&server, "alice", &no_split), "recurring add needs --split");
    let negative = ["recurring", "add", "trip", "-5", "--every", "day", "--split", "bob"];
    usage_error(&as_user(&server, "alice", &negative), "-5: amounts are positive");
    let no_every = ["recurring", "add", "trip", "5", "--split", "bob"];
    usage_error(&as_user(&server, "alice", &no_every), "Run `splitc help recurring add` for usage.");
    usage_error(&splitc(&["recurring", "ad", "trip"], None, ""), "did you mean `recurring add`?");
    usage_error(&splitc(&["recuring", "list", "trip"], None, ""), "did you mean `recurring`?");
    // Options before the action belong to it, as before any subcommand.
    let listed = as_user(&server, "alice", &["--json", "recurring", "list", "trip"]).ok().json();
    assert_eq!(listed["rules"], serde_json::json!([]), "nothing reached the server: {listed}");
    // The server's own refusals exit 1, in its words.
    refused(&with("--interval", "0"), "Field 'interval' must be 1-1000");
    let help = splitc(&["help", "recurring", "add"], None, "").ok().stdout;
    assert!(help.contains("Examples:") && help.contains("recurring add flat 1200 --every month"), "{help}");
    let unreachable = splitc(&["--server", "127.0.0.1:1", "--user", "alice", "recurring", "list", "trip"], None, "");
    assert_eq!(unreachable.code, 3, "{unreachable:?}");
}

#[test]
fn the_interactive_group_menu_lists_the_recurring_expenses() {
    let server = trip_with_three();
    // Login, open trip, list (none), then alice's rent added one-shot, list again.
    let script = "1\nalice\npw-alice-long\n4\n1\n10\n0\n0\n0\n";
    let run = splitc(&["--server", &server.addr], None, script).ok();
    assert!(run.stdout.contains("10. Recurring expenses") && run.stdout.contains("No recurring expenses."), "{run:?}");
    as_user(&server, "alice", &RENT).ok();
    let run = splitc(&["--server", &server.addr], None, script).ok();
    let row = " 1  month  done   90.00  rent         0 of 3 left";
    assert!(run.stdout.contains(row), "{}", run.stdout);
    assert!(run.stdout.contains("`splitc recurring add|edit|stop trip ...`"), "{}", run.stdout);
}

/// `--category`, `--currency` and `--rate` on `recurring add|edit`, as `add` takes them: each
/// occurrence is converted as that expense added by hand would be, and `recurring list` shows them.
#[test]
fn a_rule_takes_a_category_a_currency_and_a_rate() {
    let server = trip_with_three();
    let pass = [
        "recurring",
        "add",
        "trip",
        "1234",
        "--every",
        "month",
        "--start",
        "2025-01-10",
        "--count",
        "2",
        "--split",
        "bob",
        "--include-me",
        "--desc",
        "ski pass",
        "--currency",
        "JPY",
        "--rate",
        "0.61",
        "--category",
        "Travel",
    ];
    let run = as_user(&server, "alice", &pass).ok();
    assert!(run.stdout.starts_with("Recurring expense added\n"), "{run:?}");
    let row = run.stdout.lines().nth(3).unwrap_or_default().to_string();
    assert!(row.contains("JPY 1234  ski pass (at 0.61)") && row.ends_with("travel"), "{run:?}");
    // 1234 yen at 0.61 = INR 752.74, made twice, each as `add` with the same options makes it.
    let by_hand = ["add", "trip", "1234", "--split", "bob", "--include-me", "--desc", "ski pass"];
    let by_hand = [&by_hand[..], &["--currency", "JPY", "--rate", "0.61", "--category", "travel"]].concat();
    as_user(&server, "alice", &by_hand).ok();
    let txns = as_user(&server, "bob", &["transactions", "trip", "--json"]).ok().json();
    let list = txns["transactions"].as_array().expect("a list");
    assert_eq!(list.len(), 3, "{txns}");
    for txn in list {
        assert_eq!(txn["amount"].to_string(), "752.74", "{txn}");
        assert_eq!(txn["foreign"].to_string(), r#"{"amount":1234,"currency":"JPY","rate":0.61}"#, "{txn}");
        assert_eq!(txn["category"], "travel", "{txn}");
    }
    let listed = as_user(&server, "carol", &["recurring", "list", "trip"]).ok();
    assert!(listed.stdout.lines().next().unwrap_or_default().ends_with("ENDS         CATEGORY"), "{listed:?}");
    // Edits: a new rate, the category removed.
    let edit = ["recurring", "edit", "trip", "1", "--rate", "0.6", "--category", "", "--json"];
    let json = as_user(&server, "alice", &edit).ok().json();
    assert_eq!(json["rule"]["foreign"].to_string(), r#"{"amount":1234,"currency":"JPY","rate":0.6}"#, "{json}");
    assert_eq!(json["rule"].get("category"), None, "{json}");
    // Checked before sending: the currency's decimals and code, as `add` checks them.
    let half_yen = ["recurring", "edit", "trip", "1", "--amount", "10.5", "--currency", "JPY"];
    usage_error(&as_user(&server, "alice", &half_yen), "whole number");
    usage_error(&as_user(&server, "alice", &["recurring", "edit", "trip", "1", "--currency", "jpy"]), "--currency");
    // Refused by the server as add_transaction would be: a category the group does not have.
    refused(&as_user(&server, "alice", &["recurring", "edit", "trip", "1", "--category", "yachts"]), "yachts");
}
