//! A rule's `category`, `currency` and `rate` (issue 15, "the fields of add_transaction"): each
//! occurrence made as the same hand-entered expense would be (category in the list's spelling,
//! converted at the rule's rate, exactly), every refusal add_transaction makes, edits of them, and
//! the group's currency locked by a rule that names one.

use super::*;

/// alice and bob in `trip`, a EUR group that converts at entry.
fn trip() -> (World, Session, Session) {
    let mut w = World::new();
    let mut alice = w.user("alice");
    let mut bob = w.user("bob");
    w.ask(&mut alice, "create_group", json!({"group": "trip", "currency": "EUR"}));
    w.ask(&mut bob, "join_group", json!({"group": "trip"}));
    (w, alice, bob)
}

/// A monthly rule in `trip` from 2026-01-10, three times, with `fields` added.
fn monthly(fields: Value) -> Value {
    let mut data = json!({"group": "trip", "every": "month", "start": "2026-01-10", "count": 3,
        "description": "ski pass", "split_between": ["alice", "bob"]});
    for (key, value) in fields.as_object().unwrap() {
        data[key] = value.clone();
    }
    data
}

fn transactions(w: &mut World, who: &mut Session) -> Vec<Value> {
    let list = w.ask(who, "view_transactions", json!({"group": "trip"}));
    list["transactions"].as_array().unwrap().clone()
}

/// What a transaction says apart from its identity, its time and its rule's date.
fn expense_part(txn: &Value) -> Value {
    let mut txn = txn.clone();
    for key in ["id", "created_at", "date", "rule"] {
        txn.as_object_mut().unwrap().remove(key);
    }
    txn
}

#[test]
fn the_category_is_kept_on_each_occurrence_in_the_lists_spelling() {
    let (mut w, mut alice, mut bob) = trip();
    let added = w.ask(&mut alice, "add_recurring", monthly(json!({"amount": 30, "category": "HOUSING"})));
    assert_eq!(added["status"], "ok", "{added}");
    assert_eq!(added["rule"]["category"], "housing", "the list's spelling");
    assert_eq!(w.due(at("2026-02-10", 0)).len(), 2);
    let txns = transactions(&mut w, &mut bob);
    assert_eq!(txns.len(), 2);
    assert!(txns.iter().all(|t| t["category"] == "housing"), "{txns:?}");
    let stats = w.ask(&mut bob, "stats", json!({"group": "trip", "by": "category"}));
    assert!(stats.to_string().contains("housing"), "{stats}");
    // `null` clears it: the next occurrence has none.
    let cleared = w.ask(&mut bob, "edit_recurring", json!({"group": "trip", "id": 1, "category": null}));
    assert_eq!(cleared["message"], "Recurring expense edited", "{cleared}");
    assert_eq!(cleared["rule"].get("category"), None);
    assert_eq!(w.due(at("2026-03-10", 0)).len(), 1);
    assert_eq!(transactions(&mut w, &mut bob)[2].get("category"), None);
    // Set again by an edit, without regard to case.
    let set = w.ask(&mut bob, "edit_recurring", json!({"group": "trip", "id": 1, "category": "Fun", "count": 4}));
    assert_eq!(set["rule"]["category"], "fun", "{set}");
    let list = w.ask(&mut alice, "list_recurring", json!({"group": "trip"}));
    assert_eq!(list["rules"][0]["category"], "fun");
}

#[test]
fn a_yen_rule_in_a_euro_group_converts_each_occurrence_as_a_hand_entered_expense() {
    let (mut w, mut alice, mut bob) = trip();
    let fields = json!({"amount": 1234, "currency": "JPY", "rate": "0.0061", "category": "travel"});
    let added = w.ask(&mut alice, "add_recurring", monthly(fields.clone()));
    assert_eq!(added["status"], "ok", "{added}");
    assert_eq!(added["rule"]["amount"].to_string(), "1234", "as entered: yen have no decimals");
    assert_eq!(added["rule"]["foreign"].to_string(), r#"{"amount":1234,"currency":"JPY","rate":0.0061}"#);
    let pushed = w.due(at("2026-03-10", 0));
    assert_eq!(pushed.len(), 3);
    // The same expense entered by hand: 1234 yen at 0.0061 EUR = 7.5274: EUR 7.53.
    let mut by_hand = fields;
    by_hand["group"] = json!("trip");
    by_hand["description"] = json!("ski pass");
    by_hand["split_between"] = json!(["alice", "bob"]);
    assert_eq!(w.ask(&mut alice, "add_transaction", by_hand)["status"], "ok");
    let txns = transactions(&mut w, &mut bob);
    let hand = expense_part(&txns[3]);
    assert_eq!(hand["amount"].to_string(), "7.53");
    for occurrence in &txns[..3] {
        assert_eq!(expense_part(occurrence), hand, "an occurrence is the hand-entered expense");
    }
    assert_eq!(w.balances(&mut alice, "trip"), balances_of(&[("alice", 4 * 376), ("bob", -4 * 376)]));
    assert!(pushed[0]["message"].as_str().unwrap().contains("(JPY 1234 at 0.0061)"), "{}", pushed[0]);
    let list = w.ask(&mut bob, "list_recurring", json!({"group": "trip"}));
    assert_eq!(list["rules"][0]["foreign"]["currency"], "JPY");
}

#[test]
fn a_rule_refuses_what_add_transaction_refuses() {
    let (mut w, mut alice, _) = trip();
    let mut refused = |fields: Value| {
        let reply = w.ask(&mut alice, "add_recurring", monthly(fields.clone()));
        assert_eq!(reply["status"], "error", "{fields}: {reply}");
        reply
    };
    let unknown = refused(json!({"amount": 10, "category": "yachts"}));
    assert_eq!(unknown["code"], "unknown_category");
    let rate = refused(json!({"amount": 1234, "currency": "JPY"}));
    assert_eq!(
        rate["message"], "Field 'rate' is needed: how many units of the group's currency one JPY is worth",
        "{rate}"
    );
    let own = refused(json!({"amount": 10, "currency": "EUR", "rate": 2}));
    assert_eq!(own["message"], "Field 'rate' must be 1 (or left out) for the group's own currency");
    let alone = refused(json!({"amount": 10, "rate": 2}));
    assert_eq!(alone["message"], "Field 'rate' needs 'currency': the currency the amount is in");
    let decimals = refused(json!({"amount": 10.5, "currency": "JPY", "rate": "0.0061"}));
    assert_eq!(decimals["message"], "Field 'amount' must be a whole number (the currency has no decimals)");
    let zero = refused(json!({"amount": 1, "currency": "JPY", "rate": "0.0001"}));
    assert_eq!(zero["message"], "Field 'amount' converted at 'rate' rounds to nothing");
    assert_eq!(w.ask(&mut alice, "list_recurring", json!({"group": "trip"}))["rules"], json!([]));
    assert!(w.log.iter().all(|r| !matches!(r, Record::RuleAdded { .. })), "no refusal made a record");
    // In a group that converts at settlement, no rate: the occurrences stay in yen.
    w.ask(&mut alice, "create_group", json!({"group": "hut", "currency": "EUR", "convert": "at_settlement"}));
    let mut hut = monthly(json!({"group": "hut", "amount": 1000, "currency": "JPY", "rate": "0.0061"}));
    hut["split_between"] = json!(["alice"]);
    let at_settlement = w.ask(&mut alice, "add_recurring", hut.clone());
    assert_eq!(at_settlement["code"], "bad_request", "{at_settlement}");
    hut.as_object_mut().unwrap().remove("rate");
    assert_eq!(w.ask(&mut alice, "add_recurring", hut)["status"], "ok");
    assert_eq!(w.due(at("2026-01-10", 0)).len(), 1);
    let list = w.ask(&mut alice, "view_transactions", json!({"group": "hut"}));
    assert_eq!(list["transactions"][0]["foreign"].to_string(), r#"{"amount":1000,"currency":"JPY"}"#);
}

#[test]
fn edits_change_the_currency_and_rate_and_amounts_follow_the_rules_currency() {
    let (mut w, mut alice, mut bob) = trip();
    w.ask(&mut alice, "add_recurring", monthly(json!({"amount": 1234, "currency": "JPY", "rate": "0.0061"})));
    let edit = |data: Value| {
        let mut data = data;
        data["group"] = json!("trip");
        data["id"] = json!(1);
        data
    };
    // An amount without a currency is in the rule's: 2000 yen, still at 0.0061.
    let amount = w.ask(&mut bob, "edit_recurring", edit(json!({"amount": 2000})));
    assert_eq!(amount["rule"]["foreign"].to_string(), r#"{"amount":2000,"currency":"JPY","rate":0.0061}"#, "{amount}");
    let half = w.ask(&mut bob, "edit_recurring", edit(json!({"amount": 2000.5})));
    assert_eq!(half["message"], "Field 'amount' must be a whole number of JPY (it has no decimals)", "{half}");
    let rate = w.ask(&mut bob, "edit_recurring", edit(json!({"rate": "0.0062"})));
    assert_eq!(rate["rule"]["foreign"]["rate"].to_string(), "0.0062", "{rate}");
    let needed = w.ask(&mut bob, "edit_recurring", edit(json!({"currency": "USD", "rate": "0.92"})));
    assert_eq!(needed["message"], "Field 'amount' is needed in USD when changing the currency", "{needed}");
    let no_rate = w.ask(&mut bob, "edit_recurring", edit(json!({"currency": "USD", "amount": 10})));
    assert_eq!(no_rate["message"], "Field 'rate' is needed: how many units of the group's currency one USD is worth");
    let unknown = w.ask(&mut bob, "edit_recurring", edit(json!({"category": "yachts"})));
    assert_eq!(unknown["code"], "unknown_category");
    let dollars = w.ask(&mut bob, "edit_recurring", edit(json!({"currency": "USD", "amount": 10, "rate": "0.92"})));
    assert_eq!(dollars["rule"]["amount"].to_string(), "10.00", "{dollars}");
    assert_eq!(w.due(at("2026-01-10", 0)).len(), 1);
    // 10 USD at 0.92 = EUR 9.20.
    assert_eq!(transactions(&mut w, &mut bob)[0]["amount"].to_string(), "9.20");
    // While a rule names a currency, the group's cannot change (its rate is relative to it).
    let locked = w.ask(&mut alice, "set_group_currency", json!({"group": "trip", "currency": "GBP"}));
    assert_eq!(
        locked["message"],
        "Field 'currency' cannot change: recurring rule #1 has amounts in a named currency (stop it first)",
        "{locked}"
    );
}
