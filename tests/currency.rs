//! Issue 15, item 1, over real TCP against the real binary: an expense entered in another currency
//! (converted once at the user's rate, the entry kept and shown, the notification saying it), each
//! currency's own decimals, the refusals on a connection that stays usable, and the entry surviving
//! a clean restart (snapshot) and a crash (log replay).

mod common;

use common::{cents, ok, Client, Server, TempDir};
use serde_json::{json, Value};

/// alice creates the EUR group `trip`, bob joins; alice's join notification is drained.
fn pair(server: &Server) -> (Client, Client) {
    server.alice_and_bob_in("trip", "EUR")
}

fn transactions(client: &mut Client) -> Vec<Value> {
    ok(&client.request("view_transactions", json!({"group": "trip"})))["transactions"].as_array().unwrap().clone()
}

#[test]
fn a_foreign_expense_over_tcp() {
    let dir = TempDir::new("cur-tcp");
    let server = Server::start(dir.path(), &[]);
    let (mut alice, mut bob) = pair(&server);
    let added = ok(&alice.request(
        "add_transaction",
        json!({"group": "trip", "amount": 1234, "currency": "JPY", "rate": "0.0061", "description": "ramen",
               "split_between": ["alice", "bob"]}),
    ))
    .clone();
    assert_eq!(added["transaction"]["amount"].to_string(), "7.53");
    assert_eq!(added["transaction"]["foreign"].to_string(), r#"{"amount":1234,"currency":"JPY","rate":0.0061}"#);
    let pushed = bob.pushed_message();
    assert_eq!(pushed["message"], "alice added EUR 7.53 (JPY 1234 at 0.0061) expense");
    assert_eq!(pushed["transaction"]["foreign"]["currency"], "JPY");

    // Refusals answer and leave the connection usable.
    let yen = alice.request(
        "add_transaction",
        json!({"group": "trip", "amount": 10.5, "currency": "JPY", "rate": 0.0061, "split_between": ["bob"]}),
    );
    assert_eq!(yen["code"], "bad_request");
    assert_eq!(yen["message"], "Field 'amount' must be a whole number (the currency has no decimals)");
    let zero = alice.request(
        "add_transaction",
        json!({"group": "trip", "amount": 5, "currency": "USD", "rate": 0, "split_between": ["bob"]}),
    );
    assert_eq!(zero["message"], "Field 'rate' must be greater than zero");
    let dinar = ok(&alice.request(
        "add_transaction",
        json!({"group": "trip", "amount": "1.250", "currency": "KWD", "rate": 3.02, "split_between": ["bob"]}),
    ))
    .clone();
    assert_eq!(dinar["transaction"]["foreign"]["amount"].to_string(), "1.250");
    assert_eq!(dinar["transaction"]["amount"].to_string(), "3.78");
    let locked = alice.request("set_group_currency", json!({"group": "trip", "currency": "USD"}));
    assert_eq!(locked["status"], "error");
    // Balances: alice paid 7.53 + 3.78, owes 3.77.
    let balances = ok(&bob.request("view_balances", json!({"group": "trip"})))["balances"].clone();
    assert_eq!((cents(&balances["alice"]), cents(&balances["bob"])), (754, -754));
}

#[test]
fn the_entry_survives_a_restart_and_a_crash() {
    let dir = TempDir::new("cur-restart");
    let server = Server::start(dir.path(), &[]);
    let (mut alice, _bob) = pair(&server);
    ok(&alice.request(
        "add_transaction",
        json!({"group": "trip", "amount": 1000, "currency": "JPY", "rate": 0.006, "split_between": ["bob"]}),
    ));
    let before = transactions(&mut alice);
    assert_eq!(server.terminate(), Some(0));

    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    alice.login_as("alice");
    assert_eq!(transactions(&mut alice), before, "the snapshot keeps the entry");
    ok(&alice.request("edit_transaction", json!({"group": "trip", "id": 1, "rate": 0.007})));
    let edited = transactions(&mut alice);
    assert_eq!(edited[0]["amount"].to_string(), "7.00");
    server.kill9();

    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    alice.login_as("alice");
    assert_eq!(transactions(&mut alice), edited, "the log replays the new rate");
}

/// A group that converts at settlement, over TCP: amounts kept in yen, balances and plans per
/// currency, a recorded plan zeroing every currency, a refused rate on a connection that stays
/// usable, and all of it surviving a crash (log replay, binary payment records with a currency)
/// and a clean restart (snapshot).
#[test]
fn a_group_that_converts_at_settlement_over_tcp() {
    let dir = TempDir::new("cur-settle");
    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    let mut bob = server.connect();
    alice.login_as("alice");
    bob.login_as("bob");
    ok(&alice.request("create_group", json!({"group": "trip", "currency": "EUR", "convert": "at_settlement"})));
    ok(&bob.request("join_group", json!({"group": "trip"})));
    let refused = alice.request(
        "add_transaction",
        json!({"group": "trip", "amount": 1000, "currency": "JPY", "rate": 0.006, "split_between": ["alice", "bob"]}),
    );
    assert_eq!(refused["code"], "bad_request", "{refused}");
    let added = ok(&alice.request(
        "add_transaction",
        json!({"group": "trip", "amount": 1000, "currency": "JPY", "split_between": ["alice", "bob"]}),
    ))
    .clone();
    assert_eq!(added["transaction"]["amount"].to_string(), "1000");
    ok(&bob.request("add_transaction", json!({"group": "trip", "amount": 3, "split_between": ["alice", "bob"]})));
    let balances = ok(&bob.request("view_balances", json!({"group": "trip"}))).clone();
    assert_eq!(balances["balances"]["bob"].to_string(), "1.50");
    assert_eq!(balances["by_currency"]["JPY"]["bob"].to_string(), "-500");
    ok(&bob.request("record_payment", json!({"group": "trip", "to": "alice", "amount": 100, "currency": "JPY"})));
    server.kill9();

    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    alice.login_as("alice");
    let replayed = ok(&alice.request("view_balances", json!({"group": "trip"}))).clone();
    assert_eq!(replayed["by_currency"]["JPY"]["bob"].to_string(), "-400", "the log replays the yen payment");
    let plan = ok(&alice.request("settle", json!({"group": "trip", "record": true}))).clone();
    assert_eq!(plan["by_currency"]["JPY"]["settlements"].to_string(), r#"[{"amount":400,"from":"bob","to":"alice"}]"#);
    assert_eq!(plan["settlements"][0]["amount"].to_string(), "1.50");
    assert_eq!(server.terminate(), Some(0));

    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    alice.login_as("alice");
    let after = ok(&alice.request("view_balances", json!({"group": "trip"}))).clone();
    assert_eq!(after["by_currency"], json!({}), "every currency settled: {after}");
    assert_eq!(cents(&after["balances"]["alice"]), 0);
    let info = ok(&alice.request("group_info", json!({"group": "trip"}))).clone();
    assert_eq!(info["convert"], "at_settlement", "the snapshot keeps the setting");
}

/// A yen group over TCP: whole yen in replies and the pushed notification (which says
/// `decimals`), a fraction of a yen refused on a connection that stays usable, and the group's
/// decimals surviving a crash (log replay) and a clean restart (snapshot).
#[test]
fn a_yen_group_keeps_whole_yen_over_tcp_and_across_restarts() {
    let dir = TempDir::new("cur-yen");
    let server = Server::start(dir.path(), &[]);
    let (mut alice, mut bob) = server.alice_and_bob_in("tokyo", "JPY");
    let added = ok(&alice.request(
        "add_transaction",
        json!({"group": "tokyo", "amount": 1001, "description": "sushi", "split": {"mode": "equal"}}),
    ))
    .clone();
    assert_eq!(added["decimals"], 0);
    assert_eq!(added["transaction"]["shares"].to_string(), r#"{"alice":501,"bob":500}"#);
    let pushed = bob.pushed_message();
    assert_eq!(pushed["message"], "alice added JPY 1001 expense");
    assert_eq!(pushed["decimals"], 0);
    assert_eq!(pushed["amount"].to_string(), "1001");
    let half = alice.request("add_transaction", json!({"group": "tokyo", "amount": 1.5, "split": {"mode": "equal"}}));
    assert_eq!(half["message"], "Field 'amount' must be a whole number of JPY (it has no decimals)");
    let balances =
        |client: &mut Client| ok(&client.request("view_balances", json!({"group": "tokyo"})))["balances"].to_string();
    assert_eq!(balances(&mut alice), r#"{"alice":500,"bob":-500}"#, "the connection stays usable");
    server.kill9();

    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    alice.login_as("alice");
    assert_eq!(balances(&mut alice), r#"{"alice":500,"bob":-500}"#, "the log replays the decimals");
    ok(&alice.request("record_payment", json!({"group": "tokyo", "from": "bob", "to": "alice", "amount": 500})));
    assert_eq!(server.terminate(), Some(0));

    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    alice.login_as("alice");
    assert_eq!(balances(&mut alice), r#"{"alice":0,"bob":0}"#, "the snapshot keeps them");
    assert_eq!(ok(&alice.request("group_info", json!({"group": "tokyo"})))["decimals"], 0);
}
