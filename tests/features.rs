//! Issue 6 ("Beyond the original") over real TCP against the real binary: split modes, several payers,
//! edits, payments and recorded settlements, history, leaving, group settings, idempotency keys,
//! dates, export; the notifications each change sends; and that all of it survives a restart, both
//! a clean one (SIGTERM: snapshot) and a crash (SIGKILL: log replay).

mod common;

use std::time::Duration;

use common::{cents, ok, Client, Server, TempDir};
use serde_json::{json, Value};

/// alice creates `group` (with `extra` create fields), bob and carol join; everyone's join
/// notifications are drained.
fn trio(server: &Server, group: &str, extra: Value) -> (Client, Client, Client) {
    let mut alice = server.connect();
    let mut bob = server.connect();
    let mut carol = server.connect();
    alice.login_as("alice");
    bob.login_as("bob");
    carol.login_as("carol");
    let mut create = json!({"group": group});
    if let Value::Object(fields) = extra {
        create.as_object_mut().unwrap().extend(fields);
    }
    ok(&alice.request("create_group", create));
    ok(&bob.request("join_group", json!({"group": group})));
    assert_eq!(alice.pushed_message()["member"], "bob");
    ok(&carol.request("join_group", json!({"group": group})));
    assert_eq!(alice.pushed_message()["member"], "carol");
    assert_eq!(bob.pushed_message()["member"], "carol");
    (alice, bob, carol)
}

fn balances(client: &mut Client, group: &str) -> Vec<(String, i64)> {
    let reply = ok(&client.request("view_balances", json!({"group": group}))).clone();
    let mut list: Vec<(String, i64)> =
        reply["balances"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), cents(v))).collect();
    list.sort();
    list
}

fn named(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn split_modes_and_several_payers() {
    let dir = TempDir::new("feat-split");
    let server = Server::start(dir.path(), &[]);
    let (mut alice, mut bob, mut carol) = trio(&server, "trip", json!({}));

    let exact = ok(&alice.request(
        "add_transaction",
        json!({"group": "trip", "amount": 15, "description": "snacks",
               "split": {"mode": "exact", "amounts": {"bob": 10.5, "carol": 4.5}}}),
    ))
    .clone();
    assert_eq!(exact["message"], "Transaction added");
    for client in [&mut bob, &mut carol] {
        let push = client.pushed_message();
        assert_eq!((push["type"].as_str(), push["event"].as_str()), (Some("notification"), Some("transaction_added")));
        assert_eq!(push["message"], "alice added ₹15.00 expense");
        assert_eq!(cents(&push["transaction"]["shares"]["bob"]), 1050);
        assert_eq!(push["transaction"]["split"]["mode"], "exact");
    }
    assert_eq!(balances(&mut carol, "trip"), named(&[("alice", 1500), ("bob", -1050), ("carol", -450)]));

    // 100.00 at 60/40 percent, paid by bob 70 and carol 30, recorded by alice.
    let percent = ok(&alice.request(
        "add_transaction",
        json!({"group": "trip", "amount": 100, "split": {"mode": "percent", "percents": {"bob": 60, "carol": 40}},
               "paid_by": {"bob": 70, "carol": 30}, "date": "2025-06-01"}),
    ))
    .clone();
    let txn = &percent["transaction"];
    assert_eq!(txn["payer"], "alice");
    assert_eq!(txn["date"], "2025-06-01");
    assert!(txn["created_at"].as_i64().unwrap() > 1_600_000_000_000, "server time in ms: {txn}");
    assert_eq!((cents(&txn["paid_by"]["bob"]), cents(&txn["paid_by"]["carol"])), (7000, 3000));
    assert_eq!((cents(&txn["shares"]["bob"]), cents(&txn["shares"]["carol"])), (6000, 4000));
    // bob: -10.50 +70 -60 = -0.50; carol: -4.50 +30 -40 = -14.50.
    assert_eq!(balances(&mut bob, "trip"), named(&[("alice", 1500), ("bob", -50), ("carol", -1450)]));

    // 10.00 by shares 2:1 -> 6.67 / 3.33 (largest remainder).
    let shares = ok(&bob.request(
        "add_transaction",
        json!({"group": "trip", "amount": 10, "split": {"mode": "shares", "shares": {"alice": 2, "carol": 1}}}),
    ))
    .clone();
    assert_eq!(
        (cents(&shares["transaction"]["shares"]["alice"]), cents(&shares["transaction"]["shares"]["carol"])),
        (667, 333)
    );
    // The original's fields still work beside the new ones, and the original client's view keeps its keys.
    ok(&carol.request(
        "add_transaction",
        json!({"group": "trip", "amount": 3, "split_between": ["alice", "bob"], "include_payer": true}),
    ));
    let list = ok(&carol.request("view_transactions", json!({"group": "trip"}))).clone();
    for t in list["transactions"].as_array().unwrap() {
        for key in [
            "id",
            "payer",
            "amount",
            "description",
            "split_between",
            "include_payer",
            "created_at",
            "paid_by",
            "shares",
        ] {
            assert!(t.get(key).is_some(), "{key} missing in {t}");
        }
    }
    // bob heard alice's and carol's additions (not his own).
    assert_eq!(bob.pushed_message()["by"], "alice");
    assert_eq!(bob.pushed_message()["by"], "carol");
    // Every balance still sums to exactly zero.
    assert_eq!(balances(&mut carol, "trip").iter().map(|(_, c)| c).sum::<i64>(), 0);

    for (data, code, needle) in [
        (
            json!({"group": "trip", "amount": 10, "split": {"mode": "exact", "amounts": {"bob": 9}}}),
            "bad_request",
            "'split.amounts' must sum",
        ),
        (
            json!({"group": "trip", "amount": 10, "split": {"mode": "percent", "percents": {"bob": 99.99}}}),
            "bad_request",
            "must sum to 100",
        ),
        (
            json!({"group": "trip", "amount": 10, "split": {"mode": "shares", "shares": {"bob": -1}}}),
            "bad_request",
            "'split.shares.bob'",
        ),
        (
            json!({"group": "trip", "amount": 10, "split": {"mode": "equal"}, "paid_by": {"bob": 5}}),
            "bad_request",
            "'paid_by' must sum",
        ),
        (
            json!({"group": "trip", "amount": 10, "split": {"mode": "equal"}, "paid_by": {"dave": 10}}),
            "not_in_group",
            "dave not in group",
        ),
        (
            json!({"group": "trip", "amount": 10, "split_between": ["bob"], "date": "2025-02-29"}),
            "bad_request",
            "'date'",
        ),
    ] {
        let reply = alice.request("add_transaction", data.clone());
        assert_eq!(reply["code"], code, "{data}: {reply}");
        assert!(reply["message"].as_str().unwrap().contains(needle), "{data}: {reply}");
    }
    assert!(bob.silent_for(Duration::from_millis(100)), "rejected requests notify nobody");
}

#[test]
fn edits_update_balances_and_notify_before_and_after() {
    let dir = TempDir::new("feat-edit");
    let server = Server::start(dir.path(), &[]);
    let (mut alice, mut bob, mut carol) = trio(&server, "flat", json!({}));
    let added = ok(&alice.request(
        "add_transaction",
        json!({"group": "flat", "amount": 90, "description": "groceries", "split_between": ["bob", "carol"], "include_payer": true}),
    ))
    .clone();
    let id = added["transaction"]["id"].as_u64().unwrap();
    bob.pushed_message();
    carol.pushed_message();

    let edited = ok(&bob.request(
        "edit_transaction",
        json!({"group": "flat", "id": id, "amount": 120, "description": "groceries+wine"}),
    ))
    .clone();
    assert_eq!(edited["message"], "Transaction edited");
    assert_eq!(edited["transaction"]["id"], id);
    for client in [&mut alice, &mut carol] {
        let push = client.pushed_message();
        assert_eq!(push["event"], "transaction_edited");
        assert_eq!(push["by"], "bob");
        assert_eq!(cents(&push["before"]["amount"]), 9000);
        assert_eq!(cents(&push["after"]["amount"]), 12000);
        assert_eq!(push["before"]["description"], "groceries");
        assert_eq!(push["after"]["description"], "groceries+wine");
        assert_eq!(push["message"], "bob edited expense 'groceries+wine' (₹90.00 → ₹120.00)");
    }
    assert!(bob.silent_for(Duration::from_millis(100)), "the editor's connection is not notified");
    assert_eq!(balances(&mut carol, "flat"), named(&[("alice", 8000), ("bob", -4000), ("carol", -4000)]));

    ok(&carol.request(
        "edit_transaction",
        json!({"group": "flat", "id": id, "split": {"mode": "exact", "amounts": {"alice": 20, "carol": 100}}}),
    ));
    assert_eq!(balances(&mut carol, "flat"), named(&[("alice", 10000), ("bob", 0), ("carol", -10000)]));
    let refused = carol.request("edit_transaction", json!({"group": "flat", "id": id, "amount": 100}));
    assert_eq!(refused["code"], "bad_request");
    assert!(refused["message"].as_str().unwrap().contains("give 'split' too"), "{refused}");
    assert_eq!(
        carol.request("edit_transaction", json!({"group": "flat", "id": 999, "amount": 1}))["code"],
        "transaction_not_found"
    );
    let list = ok(&alice.request("view_transactions", json!({"group": "flat"}))).clone();
    assert_eq!(list["transactions"].as_array().unwrap().len(), 1, "an edit replaces, never adds");
}

#[test]
fn payments_and_a_recorded_settlement() {
    let dir = TempDir::new("feat-pay");
    let server = Server::start(dir.path(), &[]);
    let (mut alice, mut bob, mut carol) = trio(&server, "trip", json!({}));
    ok(&alice.request("add_transaction", json!({"group": "trip", "amount": 90, "split": {"mode": "equal"}})));
    bob.pushed_message();
    carol.pushed_message();

    let paid =
        ok(&bob.request("record_payment", json!({"group": "trip", "to": "alice", "amount": 20, "date": "2025-07-01"})))
            .clone();
    assert_eq!(paid["message"], "Payment recorded");
    let payment = &paid["payment"];
    assert_eq!(
        (payment["from"].as_str(), payment["to"].as_str(), payment["by"].as_str()),
        (Some("bob"), Some("alice"), Some("bob"))
    );
    assert_eq!(payment["date"], "2025-07-01");
    assert!(payment["created_at"].as_i64().unwrap() > 0);
    for client in [&mut alice, &mut carol] {
        let push = client.pushed_message();
        assert_eq!(push["event"], "payment_recorded");
        assert_eq!(push["message"], "bob paid alice ₹20.00");
        assert_eq!(cents(&push["payment"]["amount"]), 2000);
    }
    // from's balance goes up, to's goes down.
    assert_eq!(balances(&mut carol, "trip"), named(&[("alice", 4000), ("bob", -1000), ("carol", -3000)]));

    let settled = ok(&carol.request("settle", json!({"group": "trip", "record": true}))).clone();
    assert_eq!(settled["recorded"], true);
    let plan = settled["settlements"].as_array().unwrap().clone();
    let ids = settled["payment_ids"].as_array().unwrap().clone();
    assert_eq!(plan.len(), 2);
    assert_eq!(ids.len(), 2);
    // The recorded payments are exactly the plan in the same reply.
    for (transfer, payment) in plan.iter().zip(settled["payments"].as_array().unwrap()) {
        assert_eq!((&transfer["from"], &transfer["to"]), (&payment["from"], &payment["to"]));
        assert_eq!(cents(&transfer["amount"]), cents(&payment["amount"]));
    }
    for client in [&mut alice, &mut bob] {
        let push = client.pushed_message();
        assert_eq!(push["type"], "settlement", "the original client prints it as a settlement");
        assert_eq!(push["event"], "settlement_recorded");
        assert_eq!(push["data"], settled["settlements"]);
        assert_eq!(push["payments"].as_array().unwrap().len(), 2);
        assert!(client.silent_for(Duration::from_millis(50)), "one message for the whole plan");
    }
    assert!(balances(&mut alice, "trip").iter().all(|(_, c)| *c == 0));
    let empty = ok(&carol.request("settle", json!({"group": "trip", "record": true}))).clone();
    assert_eq!((empty["settlements"].clone(), empty["payment_ids"].clone()), (json!([]), json!([])));
    alice.pushed_message();
    bob.pushed_message();

    let payments = ok(&alice.request("view_payments", json!({"group": "trip"}))).clone();
    assert_eq!(payments["payments"].as_array().unwrap().len(), 3);
    ok(&alice.request("delete_payment", json!({"group": "trip", "id": ids[0]})));
    assert_eq!(bob.pushed_message()["event"], "payment_deleted");
    assert_eq!(alice.request("delete_payment", json!({"group": "trip", "id": ids[0]}))["code"], "payment_not_found");
    assert_ne!(balances(&mut alice, "trip").iter().filter(|(_, c)| *c != 0).count(), 0);
}

#[test]
fn history_pages_newest_first_and_keeps_what_was_deleted() {
    let dir = TempDir::new("feat-history");
    let server = Server::start(dir.path(), &[]);
    let (mut alice, mut bob, _carol) = trio(&server, "trip", json!({}));
    let t = ok(&alice.request(
        "add_transaction",
        json!({"group": "trip", "amount": 12, "description": "taxi", "split_between": ["bob"]}),
    ))
    .clone();
    let id = t["transaction"]["id"].as_u64().unwrap();
    ok(&bob.request("edit_transaction", json!({"group": "trip", "id": id, "amount": 13})));
    ok(&bob.request("delete_transaction", json!({"group": "trip", "id": id})));
    ok(&bob.request("record_payment", json!({"group": "trip", "to": "alice", "amount": 1})));

    let page = ok(&alice.request("history", json!({"group": "trip"}))).clone();
    let entries = page["history"].as_array().unwrap();
    let events: Vec<&str> = entries.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        [
            "payment_recorded",
            "transaction_deleted",
            "transaction_edited",
            "transaction_added",
            "member_joined",
            "member_joined",
            "group_created"
        ]
    );
    let deleted = &entries[1];
    assert_eq!(deleted["by"], "bob");
    assert_eq!(deleted["transaction"]["description"], "taxi", "a deleted transaction stays visible");
    assert_eq!(cents(&deleted["transaction"]["amount"]), 1300);
    assert!(deleted["at"].as_i64().unwrap() > 0);
    assert_eq!(entries[2]["before"]["amount"].to_string(), "12.00");
    assert_eq!(page["more"], false);

    let first = ok(&alice.request("history", json!({"group": "trip", "limit": 3}))).clone();
    assert_eq!(first["more"], true);
    let next =
        ok(&alice.request("history", json!({"group": "trip", "limit": 3, "before": first["next_before"]}))).clone();
    let ids: Vec<u64> = next["history"].as_array().unwrap().iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [4, 3, 2]);
    assert_eq!(alice.request("history", json!({"group": "trip", "limit": 1000}))["code"], "bad_request");
    let mut eve = server.connect();
    eve.login_as("eve");
    assert_eq!(eve.request("history", json!({"group": "trip"}))["code"], "not_member");
}

#[test]
fn leaving_and_group_settings() {
    let dir = TempDir::new("feat-leave");
    let server = Server::start(dir.path(), &[]);
    let (mut alice, mut bob, mut carol) = trio(&server, "club", json!({"currency": "EUR"}));
    let info = ok(&bob.request("group_info", json!({"group": "club"}))).clone();
    assert_eq!(
        (info["currency"].as_str(), info["creator"].as_str(), info["has_password"].as_bool()),
        (Some("EUR"), Some("alice"), Some(false))
    );
    ok(&alice.request("add_transaction", json!({"group": "club", "amount": 8, "split_between": ["carol"]})));
    assert_eq!(carol.pushed_message()["message"], "alice added EUR 8.00 expense");
    bob.pushed_message();

    let refused = carol.request("leave_group", json!({"group": "club"}));
    assert_eq!(refused["code"], "balance_not_zero");
    assert_eq!(refused["message"], "Settle your balance before leaving");
    ok(&carol.request("record_payment", json!({"group": "club", "to": "alice", "amount": 8})));
    alice.pushed_message();
    bob.pushed_message();
    assert_eq!(ok(&carol.request("leave_group", json!({"group": "club"})))["message"], "Left group");
    for client in [&mut alice, &mut bob] {
        let push = client.pushed_message();
        assert_eq!((push["event"].as_str(), push["member"].as_str()), (Some("member_left"), Some("carol")));
    }
    assert_eq!(alice.request("get_group_members", json!({"group": "club"}))["members"], json!(["alice", "bob"]));
    let b = ok(&alice.request("view_balances", json!({"group": "club"}))).clone();
    assert!(b["balances"].get("carol").is_none(), "{b}");
    assert_eq!(carol.request("view_balances", json!({"group": "club"}))["code"], "not_member");
    ok(&alice.request("add_transaction", json!({"group": "club", "amount": 2, "split_between": ["bob"]})));
    assert!(carol.silent_for(Duration::from_millis(100)), "a former member hears nothing");
    bob.pushed_message();

    // Only the creator changes the password; "" removes it.
    assert_eq!(
        bob.request("set_group_password", json!({"group": "club", "password": "bobs-secret"}))["code"],
        "forbidden"
    );
    assert_eq!(
        ok(&alice.request("set_group_password", json!({"group": "club", "password": "club-secret-1"})))["message"],
        "Group password changed"
    );
    assert_eq!(bob.pushed_message()["event"], "group_password_changed");
    assert_eq!(carol.request("join_group", json!({"group": "club"}))["code"], "invalid_group_password");
    ok(&carol.request("join_group", json!({"group": "club", "password": "club-secret-1"})));
    assert_eq!(
        alice.request("get_group_members", json!({"group": "club"}))["members"],
        json!(["alice", "bob", "carol"])
    );
    assert_eq!(
        ok(&alice.request("set_group_password", json!({"group": "club", "password": ""})))["message"],
        "Group password removed"
    );
    assert_eq!(bob.request("set_group_currency", json!({"group": "club", "currency": "USD"}))["code"], "forbidden");
    assert_eq!(alice.request("create_group", json!({"group": "x", "currency": "Euro"}))["code"], "bad_request");
}

#[test]
fn a_retried_change_with_a_key_happens_once() {
    let dir = TempDir::new("feat-key");
    let server = Server::start(dir.path(), &[]);
    let (mut alice, mut bob, _carol) = trio(&server, "trip", json!({}));
    let add = json!({"group": "trip", "amount": 25, "split_between": ["bob"], "key": "phone-7f3a"});
    let first = ok(&alice.request("add_transaction", add.clone())).clone();
    assert_eq!(bob.pushed_message()["event"], "transaction_added");
    // The connection drops before the reply is read; the client reconnects and retries.
    drop(alice);
    let mut alice = server.connect();
    alice.login_as("alice");
    let again = ok(&alice.request("add_transaction", add)).clone();
    assert_eq!(again["transaction"]["id"], first["transaction"]["id"]);
    assert_eq!(again["duplicate"], true);
    assert!(bob.silent_for(Duration::from_millis(100)), "a repeat notifies nobody");
    let pay = json!({"group": "trip", "to": "alice", "amount": 5, "key": "pay-1"});
    let p1 = ok(&bob.request("record_payment", pay.clone())).clone();
    let p2 = ok(&bob.request("record_payment", pay)).clone();
    assert_eq!(p1["payment"]["id"], p2["payment"]["id"]);
    let list = ok(&alice.request("view_transactions", json!({"group": "trip"}))).clone();
    assert_eq!(list["transactions"].as_array().unwrap().len(), 1);
    assert_eq!(balances(&mut alice, "trip"), named(&[("alice", 2000), ("bob", -2000), ("carol", 0)]));
}

#[test]
fn export_has_transactions_payments_and_currency() {
    let dir = TempDir::new("feat-export");
    let server = Server::start(dir.path(), &[]);
    let (mut alice, mut bob, _carol) = trio(&server, "trip", json!({"currency": "JPY"}));
    ok(&alice.request(
        "add_transaction",
        json!({"group": "trip", "amount": 30, "split": {"mode": "equal"}, "date": "2025-01-31"}),
    ));
    ok(&bob.request("record_payment", json!({"group": "trip", "to": "alice", "amount": 10})));
    let export = ok(&bob.request("export", json!({"group": "trip"}))).clone();
    assert_eq!((export["group"].as_str(), export["currency"].as_str()), (Some("trip"), Some("JPY")));
    assert_eq!(export["transactions"][0]["date"], "2025-01-31");
    assert_eq!(export["payments"][0]["from"], "bob");
}

/// Everything the issue added, as one member sees it: history, balances, transactions, payments,
/// group info, for each group.
fn observe(client: &mut Client, groups: &[&str]) -> Value {
    let mut all = serde_json::Map::new();
    for group in groups {
        let mut seen = serde_json::Map::new();
        for (action, data) in [
            ("history", json!({"group": group, "limit": 500})),
            ("view_balances", json!({"group": group})),
            ("view_transactions", json!({"group": group})),
            ("view_payments", json!({"group": group})),
            ("group_info", json!({"group": group})),
            ("get_group_members", json!({"group": group})),
        ] {
            seen.insert(action.into(), ok(&client.request(action, data)).clone());
        }
        all.insert(group.to_string(), Value::Object(seen));
    }
    Value::Object(all)
}

/// Makes changes of every new record type; returns alice's view of both groups.
fn every_kind_of_change(server: &Server) -> Value {
    let (mut alice, mut bob, mut carol) = trio(server, "trip", json!({}));
    let mut dave = server.connect();
    dave.login_as("dave");
    ok(&alice.request("create_group", json!({"group": "euro", "currency": "EUR", "password": "euro-pass-1"})));
    ok(&dave.request("join_group", json!({"group": "euro", "password": "euro-pass-1"})));
    let t = ok(&alice.request(
        "add_transaction",
        json!({"group": "trip", "amount": 30, "split": {"mode": "shares", "shares": {"bob": 2, "carol": 1}},
               "paid_by": {"alice": 20, "carol": 10}, "date": "2025-05-05", "key": "k1"}),
    ))
    .clone();
    let id = t["transaction"]["id"].as_u64().unwrap();
    ok(&bob.request("edit_transaction", json!({"group": "trip", "id": id, "amount": 33, "paid_by": {"alice": 33}})));
    let gone = ok(&bob.request(
        "add_transaction",
        json!({"group": "trip", "amount": 4, "split": {"mode": "percent", "percents": {"alice": 12.5, "bob": 87.5}}}),
    ))
    .clone();
    ok(&carol.request("delete_transaction", json!({"group": "trip", "id": gone["transaction"]["id"]})));
    ok(&bob.request(
        "record_payment",
        json!({"group": "trip", "to": "alice", "amount": 2, "key": "p1", "date": "2025-05-06"}),
    ));
    ok(&carol.request("settle", json!({"group": "trip", "record": true})));
    ok(&carol.request("delete_payment", json!({"group": "trip", "id": 1})));
    ok(&bob.request("record_payment", json!({"group": "trip", "from": "alice", "to": "bob", "amount": 2})));
    // The settlement zeroed everyone; the deleted payment and the new one were between alice and bob.
    assert_eq!(balances(&mut carol, "trip"), named(&[("alice", 400), ("bob", -400), ("carol", 0)]));
    ok(&carol.request("leave_group", json!({"group": "trip"})));
    ok(&alice.request("set_group_password", json!({"group": "trip", "password": "trip-pass-1"})));
    ok(&alice.request("set_group_currency", json!({"group": "euro", "currency": "GBP"})));
    ok(&dave.request("join_group", json!({"group": "trip", "password": "trip-pass-1"})));
    ok(&dave.request("leave_group", json!({"group": "trip"})));
    ok(&dave.request("join_group", json!({"group": "trip", "password": "trip-pass-1"})));
    observe(&mut alice, &["trip", "euro"])
}

fn after_restart(server: &Server) -> Value {
    let mut alice = server.connect();
    alice.login_as("alice");
    let seen = observe(&mut alice, &["trip", "euro"]);
    // Idempotency keys survived: the retry returns the first transaction and adds nothing.
    let again =
        ok(&alice
            .request("add_transaction", json!({"group": "trip", "amount": 1, "split_between": ["bob"], "key": "k1"})))
        .clone();
    assert_eq!(again["duplicate"], true);
    let mut bob = server.connect();
    bob.login_as("bob");
    let paid =
        ok(&bob.request("record_payment", json!({"group": "trip", "to": "alice", "amount": 9, "key": "p1"}))).clone();
    assert_eq!(paid["duplicate"], true);
    // The new password is the one that works; carol is a former member.
    let mut carol = server.connect();
    carol.login_as("carol");
    assert_eq!(carol.request("join_group", json!({"group": "trip"}))["code"], "invalid_group_password");
    assert_eq!(carol.request("view_balances", json!({"group": "trip"}))["code"], "not_member");
    seen
}

#[test]
fn every_change_survives_a_clean_restart() {
    let dir = TempDir::new("feat-restart");
    let server = Server::start(dir.path(), &[]);
    let before = every_kind_of_change(&server);
    assert_eq!(server.terminate(), Some(0));
    let server = Server::start(dir.path(), &[]);
    let after = after_restart(&server);
    assert_eq!(before, after);
    assert_eq!(after["euro"]["group_info"]["currency"], "GBP");
    assert_eq!(after["trip"]["group_info"]["former_members"], json!(["carol"]));
    // And again after more changes on top of the snapshot.
    let mut alice = server.connect();
    alice.login_as("alice");
    ok(&alice.request("record_payment", json!({"group": "trip", "to": "bob", "amount": 1})));
    let more = observe(&mut alice, &["trip", "euro"]);
    server.kill9();
    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    alice.login_as("alice");
    assert_eq!(observe(&mut alice, &["trip", "euro"]), more);
}

#[test]
fn every_change_survives_a_crash() {
    let dir = TempDir::new("feat-crash");
    let server = Server::start(dir.path(), &[]);
    let before = every_kind_of_change(&server);
    server.kill9();
    let server = Server::start(dir.path(), &[]);
    let after = after_restart(&server);
    assert_eq!(before, after);
    let history = after["trip"]["history"]["history"].as_array().unwrap();
    let events: std::collections::BTreeSet<&str> = history.iter().map(|e| e["event"].as_str().unwrap()).collect();
    for event in [
        "transaction_edited",
        "transaction_deleted",
        "payment_recorded",
        "settlement_recorded",
        "payment_deleted",
        "member_left",
        "group_password_changed",
    ] {
        assert!(events.contains(event), "{event} missing after replay: {events:?}");
    }
}
