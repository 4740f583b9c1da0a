//! A group whose currency's minor unit is not the hundredth keeps its own amounts in that unit:
//! whole yen, thousandths of a dinar. Requests are read at the finest unit and refused when they
//! have digits the group's currency has not; replies and messages write the currency's decimals;
//! splits share out whole minor units; a group made before groups had decimals keeps hundredths.

use super::*;

/// alice, bob and carol in `g`, whose currency is `currency` from its creation.
fn group_in(currency: &str) -> (World, Session, Session, Session) {
    let mut w = World::new();
    let mut alice = w.user("alice");
    let mut bob = w.user("bob");
    let mut carol = w.user("carol");
    assert_eq!(w.ask(&mut alice, "create_group", json!({"group": "g", "currency": currency}))["status"], "ok");
    w.ask(&mut bob, "join_group", json!({"group": "g"}));
    w.ask(&mut carol, "join_group", json!({"group": "g"}));
    (w, alice, bob, carol)
}

fn add(w: &mut World, who: &mut Session, data: Value) -> Value {
    let mut data = data;
    data["group"] = json!("g");
    if data.get("split").is_none() && data.get("split_between").is_none() {
        data["split"] = json!({"mode": "equal"});
    }
    w.ask(who, "add_transaction", data)
}

/// `view_balances` as the wire writes it: each member's text.
fn balance_texts(w: &mut World, who: &mut Session) -> Vec<(String, String)> {
    let reply = w.ask(who, "view_balances", json!({"group": "g"}));
    let map = reply["balances"].as_object().unwrap();
    map.iter().map(|(k, v)| (k.clone(), v.to_string())).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn a_yen_group_splits_and_writes_whole_yen() {
    let (mut w, mut alice, mut bob, _carol) = group_in("JPY");
    let info = w.ask(&mut bob, "group_info", json!({"group": "g"}));
    assert_eq!(info["decimals"], 0, "{info}");
    let (reply, events) = w.ask_events(
        &mut alice,
        "add_transaction",
        json!({"group": "g", "amount": 1000, "description": "sushi", "split": {"mode": "equal"}}),
    );
    assert_eq!(reply["status"], "ok", "{reply}");
    assert_eq!(reply["decimals"], 0, "a reply with yen amounts says how to read them");
    // 1000 yen three ways: whole yen, 334 + 333 + 333 (the leftover yen to the first member).
    let txn = &reply["transaction"];
    assert_eq!(txn["amount"].to_string(), "1000");
    assert_eq!(txn["shares"].to_string(), r#"{"alice":334,"bob":333,"carol":333}"#);
    let message = events.iter().find_map(|e| e["message"].as_str().map(String::from)).unwrap();
    assert_eq!(message, "alice added JPY 1000 expense");
    assert_eq!(balance_texts(&mut w, &mut bob), pairs(&[("alice", "666"), ("bob", "-333"), ("carol", "-333")]));
    let settle = w.ask(&mut bob, "settle", json!({"group": "g"}));
    assert_eq!(settle["decimals"], 0);
    let amounts: Vec<String> =
        settle["settlements"].as_array().unwrap().iter().map(|t| t["amount"].to_string()).collect();
    assert_eq!(amounts, ["333", "333"]);
    let paid = w.ask(&mut bob, "record_payment", json!({"group": "g", "to": "alice", "amount": 333}));
    assert_eq!(paid["payment"]["amount"].to_string(), "333", "{paid}");
    assert_eq!(balance_texts(&mut w, &mut bob), pairs(&[("alice", "333"), ("bob", "0"), ("carol", "-333")]));
    let details = w.ask(&mut bob, "balance_details", json!({"group": "g"}));
    assert_eq!(details["members"][0]["paid"].to_string(), "1000", "{details}");
    let stats = w.ask(&mut bob, "stats", json!({"group": "g", "by": "member"}));
    assert_eq!(stats["spending"].to_string(), "1000", "{stats}");
}

#[test]
fn a_yen_group_refuses_fractions_of_a_yen_wherever_they_are() {
    let (mut w, mut alice, _bob, _carol) = group_in("JPY");
    let half = add(&mut w, &mut alice, json!({"amount": 10.5}));
    assert_eq!(half["code"], "bad_request");
    assert_eq!(half["message"], "Field 'amount' must be a whole number of JPY (it has no decimals)");
    let payer = add(&mut w, &mut alice, json!({"amount": 100, "paid_by": {"bob": 99.5, "alice": 0.5}}));
    assert_eq!(payer["message"], "Field 'paid_by.alice' must be a whole number of JPY (it has no decimals)");
    let exact = add(&mut w, &mut alice, json!({"amount": 100, "split": {"mode": "exact", "amounts": {"bob": 99.9}}}));
    assert_eq!(exact["message"], "Field 'split.amounts.bob' must be a whole number of JPY (it has no decimals)");
    let sum = add(&mut w, &mut alice, json!({"amount": 100, "split": {"mode": "exact", "amounts": {"bob": 99}}}));
    assert_eq!(sum["message"], "Field 'split.amounts' must sum to the amount 100, not 99");
    let pay = w.ask(&mut alice, "record_payment", json!({"group": "g", "to": "bob", "amount": 0.5}));
    assert_eq!(pay["message"], "Field 'amount' must be a whole number of JPY (it has no decimals)");
    let rule = w.ask(
        &mut alice,
        "add_recurring",
        json!({"group": "g", "every": "month", "start": "2026-01-01", "amount": 0.1, "split": {"mode": "equal"}}),
    );
    assert_eq!(rule["message"], "Field 'amount' must be a whole number of JPY (it has no decimals)");
    assert!(w.log.iter().all(|r| !matches!(r, Record::TransactionAdded { .. } | Record::PaymentRecorded { .. })));
}

#[test]
fn a_dinar_group_keeps_thousandths() {
    let (mut w, mut alice, mut bob, _carol) = group_in("KWD");
    let reply = add(&mut w, &mut alice, json!({"amount": "1.255"}));
    assert_eq!(reply["status"], "ok", "{reply}");
    assert_eq!(reply["transaction"]["shares"].to_string(), r#"{"alice":0.419,"bob":0.418,"carol":0.418}"#);
    assert_eq!(balance_texts(&mut w, &mut bob), pairs(&[("alice", "0.836"), ("bob", "-0.418"), ("carol", "-0.418")]));
    let finer = add(&mut w, &mut alice, json!({"amount": 1.2345}));
    assert_eq!(finer["message"], "Field 'amount' must have at most 3 decimals");
    // Two decimals is still a dinar amount.
    assert_eq!(add(&mut w, &mut alice, json!({"amount": 2.5}))["transaction"]["amount"].to_string(), "2.500");
}

#[test]
fn a_two_decimal_group_refuses_thousandths_in_the_machine() {
    let (mut w, mut alice, mut bob, _carol) = World::trio();
    let reply = add_to(&mut w, &mut alice, "g", json!({"amount": 1.005}));
    assert_eq!(reply["message"], "Field 'amount' must have at most 2 decimals in INR");
    let ok = add_to(&mut w, &mut alice, "g", json!({"amount": "1.500"}));
    assert_eq!(ok["transaction"]["amount"].to_string(), "1.50");
    assert!(ok.get("decimals").is_none(), "two decimals: no field, as the original's replies");
    assert_eq!(w.balances(&mut bob, "g")["alice"], 100);
}

fn add_to(w: &mut World, who: &mut Session, group: &str, data: Value) -> Value {
    let mut data = data;
    data["group"] = json!(group);
    data["split"] = json!({"mode": "equal"});
    w.ask(who, "add_transaction", data)
}

#[test]
fn an_expense_in_euros_converts_into_whole_yen() {
    let (mut w, mut alice, _bob, _carol) = group_in("JPY");
    // 10.01 EUR at 161.5 = 1616.615 yen: 1617.
    let reply = add(&mut w, &mut alice, json!({"amount": 10.01, "currency": "EUR", "rate": 161.5}));
    assert_eq!(reply["transaction"]["amount"].to_string(), "1617", "{reply}");
    assert_eq!(reply["transaction"]["foreign"]["amount"].to_string(), "10.01");
    // A yen amount named as yen in a yen group: read in yen.
    let own = add(&mut w, &mut alice, json!({"amount": 300, "currency": "JPY"}));
    assert_eq!(own["transaction"]["amount"].to_string(), "300", "{own}");
    let edit = w.ask(&mut alice, "edit_transaction", json!({"group": "g", "id": 2, "amount": 301}));
    assert_eq!(edit["transaction"]["amount"].to_string(), "301", "{edit}");
    let edit = w.ask(&mut alice, "edit_transaction", json!({"group": "g", "id": 2, "amount": 301.5}));
    assert_eq!(edit["message"], "Field 'amount' must be a whole number of JPY (it has no decimals)");
    // A conflict shows the transaction as it is now, and how to read its amounts.
    let stale = w.ask(&mut alice, "edit_transaction", json!({"group": "g", "id": 2, "amount": 302, "version": 1}));
    assert_eq!(stale["code"], "conflict", "{stale}");
    assert_eq!((stale["transaction"]["amount"].to_string(), &stale["decimals"]), ("301".to_string(), &json!(0)));
}

#[test]
fn the_decimals_follow_the_currency_until_the_group_holds_amounts() {
    let (mut w, mut alice, _bob, _carol) = World::trio();
    let set = |w: &mut World, alice: &mut Session, currency: &str| {
        w.ask(alice, "set_group_currency", json!({"group": "g", "currency": currency}))
    };
    assert_eq!(set(&mut w, &mut alice, "JPY")["status"], "ok");
    assert_eq!(w.ask(&mut alice, "group_info", json!({"group": "g"}))["decimals"], 0);
    add_to(&mut w, &mut alice, "g", json!({"amount": 900}));
    let refused = set(&mut w, &mut alice, "EUR");
    assert_eq!(
        refused["message"],
        "Field 'currency' cannot be EUR: its amounts have 2 decimals and the group's have 0, and the group has \
         transactions, payments or recurring expenses in them"
    );
    // Another currency without decimals is fine: the numbers keep their meaning.
    assert_eq!(set(&mut w, &mut alice, "KRW")["status"], "ok");
    assert_eq!(w.balances(&mut alice, "g")["alice"], 60_000, "600 won, read as cents by the helper");
    // A deleted expense still holds amounts (it can be restored).
    w.ask(&mut alice, "delete_transaction", json!({"group": "g", "id": 1}));
    assert_eq!(set(&mut w, &mut alice, "EUR")["status"], "error");
}

#[test]
fn a_group_from_before_decimals_keeps_hundredths() {
    // The records an older server wrote for a JPY group with one expense: no `decimals`.
    let (mut w, mut alice, _bob, _carol) = World::trio();
    let old = r#"{"group_currency_set":{"group":0,"currency":"JPY","by":0,"at":5}}"#;
    let record: Record = serde_json::from_str(old).unwrap();
    w.machine.apply(&record).unwrap();
    w.log.push(record);
    let reply = add_to(&mut w, &mut alice, "g", json!({"amount": 12.34}));
    assert_eq!(reply["status"], "ok", "{reply}");
    assert_eq!(reply["transaction"]["amount"].to_string(), "12.34");
    assert_eq!(w.ask(&mut alice, "group_info", json!({"group": "g"}))["decimals"], 2);
    // Setting the same currency again changes nothing while it holds amounts.
    assert_eq!(w.ask(&mut alice, "set_group_currency", json!({"group": "g", "currency": "JPY"}))["status"], "ok");
    assert_eq!(w.ask(&mut alice, "group_info", json!({"group": "g"}))["decimals"], 2);
    let mut image = Vec::new();
    write_image(&w.machine, &mut image).unwrap();
    let restored = replay_and_restore_match(&w.log, &image);
    let g = restored.groups().find("g").unwrap();
    assert_eq!(restored.groups().get(g).unwrap().decimals, 2);
}

#[test]
fn replay_and_images_keep_each_groups_decimals() {
    let (mut w, mut alice, mut bob, _carol) = group_in("JPY");
    add(&mut w, &mut alice, json!({"amount": 1000}));
    w.ask(&mut bob, "create_group", json!({"group": "d", "currency": "KWD"}));
    add_to(&mut w, &mut bob, "d", json!({"amount": "1.255"}));
    for binary in [true, false] {
        let mut image = Vec::new();
        if binary {
            write_image(&w.machine, &mut image).unwrap();
        } else {
            write_json_image(&w.machine, &mut image).unwrap();
        }
        let restored = read_image(&image).unwrap();
        let decimals: Vec<u8> = ["g", "d"]
            .iter()
            .map(|name| restored.groups().get(restored.groups().find(name).unwrap()).unwrap().decimals)
            .collect();
        assert_eq!(decimals, [0, 3], "binary: {binary}");
    }
    let mut image = Vec::new();
    write_image(&w.machine, &mut image).unwrap();
    replay_and_restore_match(&w.log, &image);
}

#[test]
fn a_yen_rule_makes_whole_yen_occurrences() {
    let (mut w, mut alice, mut bob, _carol) = group_in("JPY");
    let rule = json!({"group": "g", "every": "month", "start": "2026-01-31", "count": 2, "amount": 50000,
                      "description": "rent", "split": {"mode": "exact", "amounts": {"bob": 25001, "carol": 24999}}});
    let added = w.ask(&mut alice, "add_recurring", rule);
    assert_eq!(added["rule"]["amount"].to_string(), "50000", "{added}");
    assert_eq!(added["decimals"], 0);
    let pushed = w.due(1_772_323_200_000); // 2026-03-01
    assert_eq!(pushed.len(), 2);
    assert_eq!(pushed[0]["amount"].to_string(), "50000", "{}", pushed[0]);
    assert!(pushed[0]["message"].as_str().unwrap().contains("JPY 50000"), "{}", pushed[0]);
    assert_eq!(balance_texts(&mut w, &mut bob), pairs(&[("alice", "100000"), ("bob", "-50002"), ("carol", "-49998")]));
    let edit = w.ask(&mut alice, "edit_recurring", json!({"group": "g", "id": 1, "amount": 0.5}));
    assert_eq!(edit["message"], "Field 'amount' must be a whole number of JPY (it has no decimals)");
}
