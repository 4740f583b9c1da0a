//! Recurring expenses against the real binary: each action over TCP, the notifications the timer's
//! occurrences send to members, and no occurrence made twice across a kill -9 and a restart.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{ok, Client, Server, TempDir, TIMEOUT};
use serde_json::{json, Value};

/// The UTC date `days` days from today, as the server's timer counts days.
fn utc_date(days: i64) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64;
    let today = splitd::machine::calendar::today(now);
    splitd::machine::calendar::date_of(today + days).expect("a date").to_string()
}

fn flat(server: &Server) -> (Client, Client) {
    let mut alice = server.connect();
    let mut bob = server.connect();
    alice.login_as("alice");
    bob.login_as("bob");
    ok(&alice.request("create_group", json!({"group": "flat"})));
    ok(&bob.request("join_group", json!({"group": "flat"})));
    (alice, bob)
}

fn daily_from(start: &str) -> Value {
    json!({"group": "flat", "every": "day", "start": start, "amount": 10, "description": "milk",
        "split_between": ["alice", "bob"]})
}

/// The dates of the group's transactions, once there are `count` (polled, with a deadline).
fn dates_once(client: &mut Client, count: usize) -> Vec<String> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let txns = client.request("view_transactions", json!({"group": "flat"}));
        let dates: Vec<String> = txns["transactions"]
            .as_array()
            .expect("list")
            .iter()
            .map(|t| t["date"].as_str().unwrap_or("").into())
            .collect();
        if dates.len() >= count || Instant::now() > deadline {
            return dates;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn each_action_over_tcp_and_the_occurrences_notify_members() {
    let dir = TempDir::new("recurring-actions");
    let server = Server::start(dir.path(), &[]);
    let (mut alice, mut bob) = flat(&server);
    // A week back: the timer catches up the seven days at once.
    let added = alice.request("add_recurring", daily_from(&utc_date(-6)));
    assert_eq!(added["message"], "Recurring expense added", "{added}");
    assert_eq!(added["rule"]["every"], "day");
    let pushed = bob.pushed_message();
    assert_eq!(pushed["event"], "recurring_added", "{pushed}");
    let mut dates = Vec::new();
    for _ in 0..7 {
        let occurrence = bob.pushed_message();
        assert_eq!(occurrence["event"], "transaction_added", "{occurrence}");
        assert_eq!(occurrence["rule"], 1);
        assert_eq!(occurrence["by"], "alice");
        dates.push(occurrence["date"].as_str().expect("a date").to_string());
    }
    let expected: Vec<String> = (-6..=0).map(utc_date).collect();
    assert_eq!(dates, expected);
    let list = alice.request("list_recurring", json!({"group": "flat"}));
    assert_eq!(list["rules"][0]["made"], 7, "{list}");
    assert_eq!(list["rules"][0]["next_date"], utc_date(1));
    let edited = alice.request("edit_recurring", json!({"group": "flat", "id": 1, "amount": "12.50", "count": 20}));
    assert_eq!(edited["rule"]["amount"].to_string(), "12.50", "{edited}");
    assert_eq!(bob.pushed_message()["event"], "recurring_edited");
    assert_eq!(
        alice.request("stop_recurring", json!({"group": "flat", "id": 1}))["message"],
        "Recurring expense stopped"
    );
    let stopped = bob.pushed_message();
    assert_eq!(stopped["event"], "recurring_stopped");
    assert_eq!(stopped["rule_id"], 1);
    let again = alice.request("stop_recurring", json!({"group": "flat", "id": 1}));
    assert_eq!(again["code"], "rule_not_found");
    let bad = alice.request(
        "add_recurring",
        json!({"group": "flat", "every": "day", "start": "2026-02-30",
        "amount": 1, "split_between": ["bob"]}),
    );
    assert_eq!(bad["message"], "Field 'start' is not a day in the calendar");
    // The connection stays usable after refusals.
    assert_eq!(alice.request("list_recurring", json!({"group": "flat"}))["rules"], json!([]));
}

#[test]
fn no_occurrence_is_made_twice_across_a_kill_and_a_restart() {
    let dir = TempDir::new("recurring-crash");
    let server = Server::start(dir.path(), &[]);
    let (mut alice, _bob) = flat(&server);
    ok(&alice.request("add_recurring", daily_from(&utc_date(-2))));
    // Killed as soon as the occurrences are visible: made, perhaps not yet acknowledged to anyone.
    assert_eq!(dates_once(&mut alice, 3).len(), 3);
    server.kill9();
    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    alice.login_as("alice");
    // The timer has run since the restart (it runs every turn, after the requests above).
    let list = alice.request("list_recurring", json!({"group": "flat"}));
    assert_eq!(list["rules"][0]["made"], 3, "{list}");
    let dates = dates_once(&mut alice, 3);
    let expected: Vec<String> = (-2..=0).map(utc_date).collect();
    assert_eq!(dates, expected, "each date once");
}

/// A rule with a category and a yen amount in a EUR group, over TCP: each occurrence pushed to bob
/// is the expense converted (1234 yen at 0.0061 = EUR 7.53) with its category; a refusal leaves
/// the connection usable; the rule's fields come back from the snapshot a clean stop writes.
#[test]
fn a_rule_in_another_currency_with_a_category_over_tcp_and_across_a_restart() {
    let dir = TempDir::new("recurring-fields");
    let server = Server::start(dir.path(), &[]);
    let (mut alice, mut bob) = server.alice_and_bob_in("flat", "EUR");
    let mut rule = daily_from(&utc_date(-1));
    rule["count"] = json!(2);
    (rule["amount"], rule["currency"]) = (json!(1234), json!("JPY"));
    let refused = alice.request("add_recurring", rule.clone());
    assert_eq!(refused["code"], "bad_request", "yen in a EUR group need a rate: {refused}");
    (rule["rate"], rule["category"]) = (json!("0.0061"), json!("Food"));
    let added = alice.request("add_recurring", rule);
    assert_eq!(added["rule"]["foreign"].to_string(), r#"{"amount":1234,"currency":"JPY","rate":0.0061}"#, "{added}");
    assert_eq!(added["rule"]["category"], "food");
    assert_eq!(bob.pushed_message()["event"], "recurring_added");
    for _ in 0..2 {
        let occurrence = bob.pushed_message();
        assert_eq!(occurrence["message"], "Recurring #1 added EUR 7.53 (JPY 1234 at 0.0061) expense 'milk' for alice");
        let txn = &occurrence["transaction"];
        assert_eq!((txn["amount"].to_string(), &txn["category"]), ("7.53".to_string(), &json!("food")), "{txn}");
        assert_eq!(txn["foreign"]["currency"], "JPY");
    }
    let locked = alice.request("set_group_currency", json!({"group": "flat", "currency": "USD"}));
    assert_eq!(locked["code"], "bad_request", "{locked}");
    assert_eq!(server.terminate(), Some(0));
    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    alice.login_as("alice");
    let list = alice.request("list_recurring", json!({"group": "flat"}));
    assert_eq!(list["rules"][0]["made"], 2, "{list}");
    assert_eq!(list["rules"][0]["category"], "food", "{list}");
    assert_eq!(list["rules"][0]["foreign"].to_string(), r#"{"amount":1234,"currency":"JPY","rate":0.0061}"#);
}
