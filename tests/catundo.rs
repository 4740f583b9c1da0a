//! Issue 15 items 3 and 5 over real TCP against the real binary: categories (`add_category`,
//! `list_categories`, a transaction's `category`), `stats`, and undo (`restore_transaction`,
//! `restore_payment`); the notifications each change sends; and that all of it survives a clean
//! restart (snapshot) and a crash (log replay).

mod common;

use common::{cents, ok, Client, Server, TempDir};
use serde_json::{json, Value};

/// alice creates `group`, bob joins; the join notification is drained.
fn pair(server: &Server, group: &str) -> (Client, Client) {
    let mut alice = server.connect();
    let mut bob = server.connect();
    alice.login_as("alice");
    bob.login_as("bob");
    ok(&alice.request("create_group", json!({"group": group})));
    ok(&bob.request("join_group", json!({"group": group})));
    assert_eq!(alice.pushed_message()["member"], "bob");
    (alice, bob)
}

/// `stats` by `by` as rows of (key, spent in cents).
fn stats(client: &mut Client, group: &str, by: &str, key: &str) -> (i64, Vec<(String, i64)>) {
    let reply = ok(&client.request("stats", json!({"group": group, "by": by}))).clone();
    let rows = reply["rows"].as_array().unwrap();
    (
        cents(&reply["spending"]),
        rows.iter().map(|r| (r[key].as_str().unwrap().to_string(), cents(&r["spent"]))).collect(),
    )
}

/// What a restart must keep: the categories, the transactions and payments, the totals.
fn observe(client: &mut Client, group: &str) -> Value {
    let mut seen = json!({});
    for action in ["list_categories", "view_transactions", "view_payments", "view_balances"] {
        seen[action] = ok(&client.request(action, json!({"group": group}))).clone();
    }
    for by in ["category", "member", "month"] {
        seen[by] = ok(&client.request("stats", json!({"group": group, "by": by}))).clone();
    }
    seen["history"] = ok(&client.request("history", json!({"group": group, "limit": 50}))).clone();
    seen
}

#[test]
fn categories_and_stats() {
    let dir = TempDir::new("catundo-stats");
    let server = Server::start(dir.path(), &[]);
    let (mut alice, mut bob) = pair(&server, "trip");
    let added = ok(&alice.request("add_category", json!({"group": "trip", "category": "ski"}))).clone();
    assert_eq!(added["message"], "Category added");
    let push = bob.pushed_message();
    assert_eq!(
        (push["event"].as_str(), push["category"].as_str(), push["by"].as_str()),
        (Some("category_added"), Some("ski"), Some("alice"))
    );
    assert_eq!(bob.request("add_category", json!({"group": "trip", "category": "Ski"}))["code"], "category_exists");
    let listed = ok(&bob.request("list_categories", json!({"group": "trip"}))).clone();
    assert_eq!(listed["categories"].as_array().unwrap().last().unwrap(), "ski");

    ok(&alice.request("add_transaction", json!({"group": "trip", "amount": 100, "split_between": ["alice", "bob"], "category": "ski", "date": "2026-01-10"})));
    let push = bob.pushed_message();
    assert_eq!(push["transaction"]["category"], "ski", "the notification shows the category: {push}");
    ok(&bob.request("add_transaction", json!({"group": "trip", "amount": "30.01", "split_between": ["alice"], "category": "food", "date": "2026-02-01"})));
    alice.pushed_message();
    let unknown = alice.request(
        "add_transaction",
        json!({"group": "trip", "amount": 1, "split_between": ["bob"], "category": "boat"}),
    );
    assert_eq!(unknown["code"], "unknown_category");
    assert!(unknown["message"].as_str().unwrap().contains("food, travel, housing"), "{unknown}");

    let (total, rows) = stats(&mut bob, "trip", "category", "category");
    assert_eq!(total, 13_001);
    assert_eq!(rows, [("food".to_string(), 3_001), ("ski".to_string(), 10_000)]);
    let (_, members) = stats(&mut bob, "trip", "member", "member");
    assert_eq!(members, [("alice".to_string(), 8_001), ("bob".to_string(), 5_000)], "consumed, not paid");
    let (_, months) = stats(&mut bob, "trip", "month", "month");
    assert_eq!(months, [("2026-01".to_string(), 10_000), ("2026-02".to_string(), 3_001)]);
    let january = ok(&bob.request("stats", json!({"group": "trip", "by": "category", "to": "2026-01-31"}))).clone();
    assert_eq!(cents(&january["spending"]), 10_000);
    assert_eq!(bob.request("stats", json!({"group": "trip", "by": "week"}))["code"], "bad_request");
    assert_eq!(bob.request("stats", json!({"group": "nope", "by": "month"}))["code"], "group_not_found");

    let before = observe(&mut alice, "trip");
    assert_eq!(server.terminate(), Some(0));
    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    alice.login_as("alice");
    assert_eq!(observe(&mut alice, "trip"), before, "a snapshot keeps categories and totals");
    ok(&alice.request("add_category", json!({"group": "trip", "category": "boat"})));
    let more = observe(&mut alice, "trip");
    server.kill9();
    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    alice.login_as("alice");
    assert_eq!(observe(&mut alice, "trip"), more, "the log replays categories on top of the snapshot");
}

#[test]
fn undo_a_delete() {
    let dir = TempDir::new("catundo-undo");
    let server = Server::start(dir.path(), &[]);
    let (mut alice, mut bob) = pair(&server, "flat");
    let added = ok(&alice.request(
        "add_transaction",
        json!({"group": "flat", "amount": 40, "description": "rent", "split_between": ["bob"]}),
    ))
    .clone();
    let id = added["transaction"]["id"].as_u64().unwrap();
    bob.pushed_message();
    ok(&bob.request("record_payment", json!({"group": "flat", "to": "alice", "amount": 15})));
    let payment = alice.pushed_message()["payment"]["id"].as_u64().unwrap();

    ok(&alice.request("delete_transaction", json!({"group": "flat", "id": id})));
    assert_eq!(bob.pushed_message()["event"], "transaction_deleted");
    let restored = ok(&bob.request("restore_transaction", json!({"group": "flat", "id": id}))).clone();
    assert_eq!(restored["message"], "Transaction restored");
    assert_eq!(
        (restored["transaction"]["id"].as_u64(), restored["transaction"]["version"].as_u64()),
        (Some(id), Some(2))
    );
    let push = alice.pushed_message();
    assert_eq!(push["event"], "transaction_restored");
    assert_eq!(push["message"], "bob restored ₹40.00 expense 'rent' by alice");
    assert_eq!(bob.request("restore_transaction", json!({"group": "flat", "id": id}))["code"], "not_deleted");

    ok(&alice.request("delete_payment", json!({"group": "flat", "id": payment})));
    bob.pushed_message();
    let back = ok(&alice.request("restore_payment", json!({"group": "flat", "id": payment}))).clone();
    assert_eq!(back["message"], "Payment restored");
    let push = bob.pushed_message();
    assert_eq!(push["event"], "payment_restored");
    assert_eq!(cents(&push["payment"]["amount"]), 1_500);
    assert_eq!(alice.request("restore_payment", json!({"group": "flat", "id": 999}))["code"], "payment_not_found");
    let balances = ok(&alice.request("view_balances", json!({"group": "flat"}))).clone();
    assert_eq!((cents(&balances["balances"]["alice"]), cents(&balances["balances"]["bob"])), (2_500, -2_500));

    let before = observe(&mut alice, "flat");
    server.kill9();
    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    alice.login_as("alice");
    let after = observe(&mut alice, "flat");
    assert_eq!(after, before, "restores replay from the log");
    let events: Vec<&str> =
        after["history"]["history"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(&events[..4], ["payment_restored", "payment_deleted", "transaction_restored", "transaction_deleted"]);
    assert_eq!(server.terminate(), Some(0));
    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    alice.login_as("alice");
    assert_eq!(observe(&mut alice, "flat"), before, "and from a snapshot");
}
