//! Categories, `stats` and undo (`restore_transaction`, `restore_payment`), as a user's session:
//! every rule, its error, its notification, and that replay and images rebuild the same state.

use super::*;
use crate::machine::categories::CATEGORIES_ADDED_MAX;

impl World {
    fn add(&mut self, session: &mut Session, data: Value) -> u64 {
        let reply = self.ask(session, "add_transaction", data);
        assert_eq!(reply["status"], "ok", "{reply}");
        reply["transaction"]["id"].as_u64().unwrap()
    }
}

#[test]
fn a_group_has_the_default_categories_and_adds_its_own() {
    let (mut w, mut alice, mut bob, _) = World::trio();
    let defaults = json!(["food", "travel", "housing", "transport", "utilities", "fun", "other"]);
    assert_eq!(w.ask(&mut bob, "list_categories", json!({"group": "g"}))["categories"], defaults);
    let (added, events) = w.ask_events(&mut bob, "add_category", json!({"group": "g", "category": "Ski pass"}));
    assert_eq!(added["message"], "Category added", "{added}");
    assert_eq!(added["categories"].as_array().unwrap().last().unwrap(), "Ski pass");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event"], "category_added");
    assert_eq!(events[0]["category"], "Ski pass");
    assert_eq!(events[0]["seq"], added["seq"]);
    let info = w.ask(&mut alice, "group_info", json!({"group": "g"}));
    assert_eq!(info["categories"].as_array().unwrap().len(), 8, "{info}");
    // Duplicates, in any case, of a default or an added name.
    for dup in ["ski PASS", "FOOD"] {
        let again = w.ask(&mut alice, "add_category", json!({"group": "g", "category": dup}));
        assert_eq!(again["code"], "category_exists", "{again}");
    }
    for bad in ["", " ski", "a\u{1b}[2Jb", &"x".repeat(33), "semi;colon"] {
        let reply = w.ask(&mut alice, "add_category", json!({"group": "g", "category": bad}));
        assert_eq!(reply["code"], "bad_request", "{bad:?}: {reply}");
        assert!(reply["message"].as_str().unwrap().contains("'category'"), "{reply}");
    }
    let mut dave = w.user("dave");
    let outsider = w.ask(&mut dave, "add_category", json!({"group": "g", "category": "mine"}));
    assert_eq!(outsider["code"], "not_member");
    for i in 1..CATEGORIES_ADDED_MAX {
        let reply = w.ask(&mut alice, "add_category", json!({"group": "g", "category": format!("c{i}")}));
        assert_eq!(reply["status"], "ok", "{i}: {reply}");
    }
    let full = w.ask(&mut alice, "add_category", json!({"group": "g", "category": "one more"}));
    assert_eq!(full["code"], "limit", "{full}");
}

#[test]
fn a_transaction_takes_a_category_from_the_list() {
    let (mut w, mut alice, mut bob, _) = World::trio();
    w.ask(&mut alice, "add_category", json!({"group": "g", "category": "ski"}));
    let id = w.add(&mut alice, json!({"group": "g", "amount": 30, "split_between": ["bob"], "category": "Food"}));
    let unknown = w.ask(
        &mut alice,
        "add_transaction",
        json!({"group": "g", "amount": 1, "split_between": ["bob"], "category": "snacks"}),
    );
    assert_eq!(unknown["code"], "unknown_category", "{unknown}");
    let words = unknown["message"].as_str().unwrap();
    assert!(words.contains("\"snacks\"") && words.contains("food, travel") && words.ends_with("other, ski"), "{words}");
    let txns = w.ask(&mut bob, "view_transactions", json!({"group": "g"}));
    assert_eq!(txns["transactions"][0]["category"], "food", "stored in the list's spelling: {txns}");
    let (edited, events) =
        w.ask_events(&mut bob, "edit_transaction", json!({"group": "g", "id": id, "category": "SKI"}));
    assert_eq!(edited["transaction"]["category"], "ski", "{edited}");
    assert_eq!(events[0]["after"]["category"], "ski");
    assert_eq!(events[0]["before"]["category"], "food");
    let wrong = w.ask(&mut bob, "edit_transaction", json!({"group": "g", "id": id, "category": "nope"}));
    assert_eq!(wrong["code"], "unknown_category");
    let cleared = w.ask(&mut bob, "edit_transaction", json!({"group": "g", "id": id, "category": ""}));
    assert!(cleared["transaction"].get("category").is_none(), "{cleared}");
    let export = w.ask(&mut bob, "export", json!({"group": "g"}));
    assert!(export["transactions"][0].get("category").is_none());
    let kept = w.ask(&mut bob, "edit_transaction", json!({"group": "g", "id": id, "category": "fun"}));
    let again = w.ask(&mut bob, "edit_transaction", json!({"group": "g", "id": id, "amount": 31}));
    assert_eq!(again["transaction"]["category"], "fun", "an edit without 'category' keeps it: {kept} {again}");
}

#[test]
fn stats_total_what_each_one_consumed() {
    let (mut w, mut alice, mut bob, mut carol) = World::trio();
    // alice pays 90 shared by all three; bob pays 10 for carol's taxi; one without a category.
    w.add(&mut alice, json!({"group": "g", "amount": 90, "split_between": ["alice", "bob", "carol"], "category": "food", "date": "2025-05-30"}));
    w.add(&mut bob, json!({"group": "g", "amount": "10.01", "split_between": ["carol"], "category": "transport", "date": "2025-06-02"}));
    w.add(
        &mut carol,
        json!({"group": "g", "amount": 5, "split": {"mode": "shares", "shares": {"alice": 1, "bob": 2}}}),
    );
    w.ask(&mut carol, "record_payment", json!({"group": "g", "to": "alice", "amount": 20, "date": "2025-06-03"}));
    let by = |w: &mut World, s: &mut Session, by: &str, extra: Value| {
        let mut data = json!({"group": "g", "by": by});
        data.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let reply = w.ask(s, "stats", data);
        assert_eq!(reply["status"], "ok", "{reply}");
        reply
    };
    let cats = by(&mut w, &mut bob, "category", json!({}));
    assert_eq!(cats["spending"].to_string(), "105.01");
    assert_eq!(cats["payments"].to_string(), "20.00");
    let rows: Vec<(String, String)> = cats["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["category"].as_str().unwrap().to_string(), r["spent"].to_string()))
        .collect();
    let expect = [("food", "90.00"), ("transport", "10.01"), ("other", "5.00")];
    assert_eq!(rows, expect.map(|(c, a)| (c.to_string(), a.to_string())), "uncategorized counts as other");
    let members = by(&mut w, &mut bob, "member", json!({}));
    let row = |name: &str| members["rows"].as_array().unwrap().iter().find(|r| r["member"] == name).unwrap().clone();
    // Consumed, not paid: carol paid 5 but consumed 30 + 10.01.
    assert_eq!(row("carol")["spent"].to_string(), "40.01");
    assert_eq!(row("carol")["paid"].to_string(), "5.00");
    assert_eq!(row("carol")["payments_sent"].to_string(), "20.00");
    assert_eq!(row("alice")["payments_received"].to_string(), "20.00");
    assert_eq!(row("alice")["spent"].to_string(), "31.67", "30 + the 5 shared 1:2 (1.67)");
    assert_eq!(row("bob")["spent"].to_string(), "33.33");
    let sum: i64 = members["rows"].as_array().unwrap().iter().map(|r| signed_cents(&r["spent"])).sum();
    assert_eq!(sum, 10_501, "the members' consumption sums to the spending");
    // By month: the undated one counts on the day it was recorded (1970-01-01 in these tests).
    let months = by(&mut w, &mut bob, "month", json!({}));
    let list: Vec<(String, String, String)> = months["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["month"].as_str().unwrap().into(), r["spent"].to_string(), r["payments"].to_string()))
        .collect();
    let expect = [("1970-01", "5.00", "0.00"), ("2025-05", "90.00", "0.00"), ("2025-06", "10.01", "20.00")];
    assert_eq!(list, expect.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())));
    // from/to are inclusive days.
    let june = by(&mut w, &mut bob, "category", json!({"from": "2025-06-01", "to": "2025-06-02"}));
    assert_eq!(june["spending"].to_string(), "10.01", "{june}");
    assert_eq!(june["payments"].to_string(), "0.00", "the payment on 06-03 is after 'to'");
    assert_eq!(june["from"], "2025-06-01");
    let late = by(&mut w, &mut bob, "member", json!({"from": "2025-05-30"}));
    assert_eq!(late["transactions"], 2);
    for bad in [
        json!({"group": "g"}),
        json!({"group": "g", "by": "year"}),
        json!({"group": "g", "by": "month", "from": "2025-06-02", "to": "2025-06-01"}),
        json!({"group": "g", "by": "month", "to": "2025-02-30"}),
    ] {
        let reply = w.ask(&mut bob, "stats", bad.clone());
        assert_eq!(reply["code"], "bad_request", "{bad}: {reply}");
    }
}

#[test]
fn a_deleted_transaction_comes_back_with_its_id() {
    let (mut w, mut alice, mut bob, mut carol) = World::trio();
    let first = w.add(
        &mut alice,
        json!({"group": "g", "amount": 12, "split_between": ["bob", "carol"], "category": "fun", "key": "k1"}),
    );
    let second = w.add(&mut bob, json!({"group": "g", "amount": 4, "split_between": ["alice"]}));
    let before = w.balances(&mut alice, "g");
    let version = w.ask(&mut alice, "delete_transaction", json!({"group": "g", "id": first}));
    assert_eq!(version["status"], "ok");
    let (restored, events) = w.ask_events(&mut carol, "restore_transaction", json!({"group": "g", "id": first}));
    assert_eq!(restored["message"], "Transaction restored", "{restored}");
    assert_eq!(restored["transaction"]["id"], first);
    assert_eq!(restored["transaction"]["version"], 2, "one version on from the deleted one");
    assert_eq!(restored["transaction"]["category"], "fun");
    assert_eq!(events[0]["event"], "transaction_restored");
    assert_eq!(events[0]["by"], "carol");
    assert_eq!(events[0]["transaction"]["id"], first);
    assert_eq!(w.balances(&mut alice, "g"), before);
    let txns = w.ask(&mut alice, "view_transactions", json!({"group": "g"}));
    let ids: Vec<u64> = txns["transactions"].as_array().unwrap().iter().map(|t| t["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, vec![first, second], "back at its place in id order");
    let history = w.ask(&mut alice, "history", json!({"group": "g", "limit": 3}));
    let kinds: Vec<&str> =
        history["history"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["transaction_restored", "transaction_deleted", "transaction_added"]);
    // Already back, never deleted, never there.
    for (id, code) in [(first, "not_deleted"), (second, "not_deleted"), (99, "transaction_not_found")] {
        let reply = w.ask(&mut bob, "restore_transaction", json!({"group": "g", "id": id}));
        assert_eq!(reply["code"], code, "{id}: {reply}");
    }
    // The key still names it; a stale version conflicts.
    let repeat =
        w.ask(&mut alice, "add_transaction", json!({"group": "g", "amount": 1, "split_between": ["bob"], "key": "k1"}));
    assert_eq!(repeat["transaction"]["id"], first);
    let stale = w.ask(&mut alice, "delete_transaction", json!({"group": "g", "id": first, "version": 1}));
    assert_eq!(stale["code"], "conflict");
    // Deleted and restored again: still fine.
    w.ask(&mut alice, "delete_transaction", json!({"group": "g", "id": first, "version": 2}));
    let again = w.ask(&mut alice, "restore_transaction", json!({"group": "g", "id": first}));
    assert_eq!(again["transaction"]["version"], 3, "{again}");
    let mut dave = w.user("dave");
    let outsider = w.ask(&mut dave, "restore_transaction", json!({"group": "g", "id": first}));
    assert_eq!(outsider["code"], "not_member");
}

#[test]
fn undo_is_refused_while_a_participant_has_left() {
    let (mut w, mut alice, mut bob, mut carol) = World::trio();
    let id = w.add(&mut alice, json!({"group": "g", "amount": 10, "split_between": ["carol"]}));
    w.ask(&mut carol, "record_payment", json!({"group": "g", "to": "alice", "amount": 3}));
    w.ask(&mut alice, "delete_transaction", json!({"group": "g", "id": id}));
    w.ask(&mut bob, "delete_payment", json!({"group": "g", "id": 1}));
    assert_eq!(w.ask(&mut carol, "leave_group", json!({"group": "g"}))["status"], "ok");
    let log = w.log.len();
    for (action, id) in [("restore_transaction", id), ("restore_payment", 1)] {
        let reply = w.ask(&mut bob, action, json!({"group": "g", "id": id}));
        assert_eq!(reply["code"], "not_in_group", "{action}: {reply}");
        assert!(reply["message"].as_str().unwrap().starts_with("carol has left the group"), "{reply}");
    }
    assert_eq!(w.log.len(), log, "a refused restore writes nothing");
    w.ask(&mut carol, "join_group", json!({"group": "g"}));
    assert_eq!(w.ask(&mut bob, "restore_transaction", json!({"group": "g", "id": id}))["status"], "ok");
}

#[test]
fn a_deleted_payment_comes_back() {
    let (mut w, mut alice, mut bob, _) = World::trio();
    w.ask(&mut bob, "record_payment", json!({"group": "g", "to": "alice", "amount": "7.50"}));
    w.ask(&mut bob, "record_payment", json!({"group": "g", "to": "alice", "amount": 1}));
    let before = w.balances(&mut alice, "g");
    w.ask(&mut alice, "delete_payment", json!({"group": "g", "id": 1}));
    let (reply, events) = w.ask_events(&mut alice, "restore_payment", json!({"group": "g", "id": 1}));
    assert_eq!(reply["message"], "Payment restored", "{reply}");
    assert_eq!(reply["payment"]["amount"].to_string(), "7.50");
    assert_eq!(events[0]["event"], "payment_restored");
    assert_eq!(events[0]["payment"]["id"], 1);
    assert_eq!(w.balances(&mut alice, "g"), before);
    let ids: Vec<u64> = w.ask(&mut alice, "view_payments", json!({"group": "g"}))["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2]);
    for (id, code) in [(1, "not_deleted"), (2, "not_deleted"), (3, "payment_not_found")] {
        assert_eq!(w.ask(&mut bob, "restore_payment", json!({"group": "g", "id": id}))["code"], code, "{id}");
    }
}

#[test]
fn the_new_records_survive_replay_and_images() {
    let (mut w, mut alice, mut bob, _) = World::trio();
    w.ask(&mut alice, "add_category", json!({"group": "g", "category": "ski"}));
    let id = w.add(&mut alice, json!({"group": "g", "amount": 9, "split_between": ["bob"], "category": "ski"}));
    w.add(&mut bob, json!({"group": "g", "amount": 2, "split_between": ["alice"]}));
    w.ask(&mut alice, "delete_transaction", json!({"group": "g", "id": id}));
    w.ask(&mut alice, "restore_transaction", json!({"group": "g", "id": id}));
    w.ask(&mut bob, "record_payment", json!({"group": "g", "to": "alice", "amount": 1}));
    w.ask(&mut bob, "delete_payment", json!({"group": "g", "id": 1}));
    w.ask(&mut bob, "restore_payment", json!({"group": "g", "id": 1}));
    let kinds: std::collections::BTreeSet<String> = w.log.iter().map(record_kind).collect();
    for kind in ["category_added", "transaction_restored", "payment_restored"] {
        assert!(kinds.contains(kind), "{kind} missing from {kinds:?}");
    }
    let mut image = Vec::new();
    write_image(&w.machine, &mut image).unwrap();
    let mut restored = replay_and_restore_match(&w.log, &image);
    let mut json = Vec::new();
    write_json_image(&w.machine, &mut json).unwrap();
    let mut from_json = Vec::new();
    write_image(&read_image(&json).unwrap(), &mut from_json).unwrap();
    assert!(from_json == image, "the JSON image keeps the categories and the new history entries");
    // The restored machine knows the added category.
    let alice_id = restored.users().find("alice").unwrap();
    let mut session = Session { user: Some(alice_id), ..Session::default() };
    let (dup, _) = run(
        &mut restored,
        &mut session,
        &frame("add_category", json!({"group": "g", "category": "SKI"})),
        &mut Vec::new(),
    );
    assert_eq!(dup["code"], "category_exists");
    // A record that does not fit changes nothing: a restore of a transaction that is there.
    let txn = restored.groups().get(0).unwrap().ledger.transaction(id).unwrap();
    let record = Record::TransactionRestored { group: 0, txn, by: alice_id, at: 5, seq: None };
    assert!(restored.apply(&record).is_err());
}
