//! A group that converts at settlement: amounts kept in their own currency (JPY, KWD minor units),
//! balances and settlement plans per currency (each summing to zero), leaving and deleting an
//! account refused while any currency's balance is not zero, edits/deletes/restores moving the
//! right currency, the setting's own rules, and replay and both images rebuilding the same state.

use super::currency::add;
use super::*;

/// alice and bob in `trip`, a EUR group that converts at settlement.
fn trip() -> (World, Session, Session) {
    let (mut w, mut alice, mut bob, _carol) = World::trio();
    let made =
        w.ask(&mut alice, "create_group", json!({"group": "trip", "currency": "EUR", "convert": "at_settlement"}));
    assert_eq!(made["status"], "ok", "{made}");
    w.ask(&mut bob, "join_group", json!({"group": "trip"}));
    (w, alice, bob)
}

/// `view_balances`' `by_currency`, as the text of each amount.
fn by_currency(w: &mut World, who: &mut Session) -> Value {
    w.ask(who, "view_balances", json!({"group": "trip"}))["by_currency"].clone()
}

/// The sum of a currency's balances in its minor units.
fn sum_minor(map: &Value, decimals: u8) -> i64 {
    map.as_object().unwrap().values().map(|v| signed_minor(v, decimals)).sum()
}

#[test]
fn amounts_stay_in_their_currency_and_balances_are_kept_per_currency() {
    let (mut w, mut alice, mut bob) = trip();
    assert_eq!(w.ask(&mut bob, "group_info", json!({"group": "trip"}))["convert"], "at_settlement");
    assert_eq!(add(&mut w, &mut alice, json!({"amount": 1235, "currency": "JPY"}))["status"], "ok");
    let kwd = json!({"amount": "1.250", "currency": "KWD", "split": {"mode": "exact", "amounts": {"alice": "0.250", "bob": "1.000"}}});
    assert_eq!(add(&mut w, &mut bob, kwd)["status"], "ok");
    add(&mut w, &mut alice, json!({"amount": 10}));
    // The group's currency: today's field, only the EUR expense.
    assert_eq!(w.balances(&mut alice, "trip"), balances_of(&[("alice", 500), ("bob", -500)]));
    let others = by_currency(&mut w, &mut alice);
    assert_eq!(others["JPY"]["alice"].to_string(), "617", "1235 yen, bob owes 617 (alice's share 618)");
    assert_eq!(others["JPY"]["bob"].to_string(), "-617");
    assert_eq!(others["KWD"]["bob"].to_string(), "0.250");
    assert_eq!(others["KWD"]["alice"].to_string(), "-0.250");
    assert_eq!(sum_minor(&others["JPY"], 0), 0);
    assert_eq!(sum_minor(&others["KWD"], 3), 0);
    // The transaction itself is in yen: amount, shares and payers, with the yen's decimals.
    let list = w.ask(&mut bob, "view_transactions", json!({"group": "trip"}));
    let yen = &list["transactions"][0];
    assert_eq!(yen["amount"].to_string(), "1235");
    assert_eq!(yen["paid_by"]["alice"].to_string(), "1235");
    assert_eq!(yen["foreign"].to_string(), r#"{"amount":1235,"currency":"JPY"}"#, "no rate: nothing converted");
    assert_eq!(list["transactions"][1]["shares"]["bob"].to_string(), "1.000");
    // stats counts the group's currency, then each other one apart, in its own decimals.
    let stats = w.ask(&mut alice, "stats", json!({"group": "trip", "by": "member", "from": "1970-01-01"}));
    assert_eq!(stats["transactions"], 1, "{stats}");
    assert_eq!(stats["spending"].to_string(), "10.00");
    let yen = &stats["by_currency"]["JPY"];
    assert_eq!((yen["spending"].to_string(), &yen["transactions"]), ("1235".to_string(), &json!(1)), "{stats}");
    let spent: Vec<String> = yen["rows"].as_array().unwrap().iter().map(|r| r["spent"].to_string()).collect();
    assert_eq!(spent, ["618", "617"], "alice's and bob's shares of the yen");
    assert_eq!(stats["by_currency"]["KWD"]["rows"][1]["spent"].to_string(), "1.000");
    // So do balance_details and pairwise_debts; each currency's nets are its balances.
    let details = w.ask(&mut bob, "balance_details", json!({"group": "trip"}));
    assert_eq!(details["members"][1]["net"].to_string(), "-5.00", "{details}");
    let nets: Vec<String> =
        details["by_currency"]["JPY"]["members"].as_array().unwrap().iter().map(|m| m["net"].to_string()).collect();
    assert_eq!(nets, [others["JPY"]["alice"].to_string(), others["JPY"]["bob"].to_string()]);
    assert_eq!(details["by_currency"]["KWD"]["members"][0]["paid"].to_string(), "0.000");
    let debts = w.ask(&mut bob, "pairwise_debts", json!({"group": "trip"}));
    assert_eq!(debts["debts"].to_string(), r#"[{"amount":5.00,"from":"bob","to":"alice"}]"#, "{debts}");
    assert_eq!(debts["by_currency"]["JPY"]["debts"].to_string(), r#"[{"amount":617,"from":"bob","to":"alice"}]"#);
    assert_eq!(debts["by_currency"]["KWD"]["debts"].to_string(), r#"[{"amount":0.250,"from":"alice","to":"bob"}]"#);
    w.machine.check_invariants().unwrap();
}

#[test]
fn settle_plans_each_currency_and_recording_them_zeroes_every_currency() {
    let (mut w, mut alice, mut bob) = trip();
    add(&mut w, &mut alice, json!({"amount": 1000, "currency": "JPY"}));
    add(&mut w, &mut bob, json!({"amount": "3.000", "currency": "KWD"}));
    add(&mut w, &mut bob, json!({"amount": 4}));
    let (plan, asked) = w.ask_events(&mut alice, "settle", json!({"group": "trip"}));
    assert_eq!(plan["settlements"].to_string(), r#"[{"amount":2.00,"from":"alice","to":"bob"}]"#, "{plan}");
    // The settle_requested notification shows every currency's plan too.
    assert_eq!(asked[0]["data"].to_string(), r#"[{"amount":2.00,"from":"alice","to":"bob"}]"#);
    assert_eq!(asked[0]["by_currency"]["JPY"].to_string(), r#"[{"amount":500,"from":"bob","to":"alice"}]"#);
    let jpy = &plan["by_currency"]["JPY"];
    assert_eq!(jpy["settlements"].to_string(), r#"[{"amount":500,"from":"bob","to":"alice"}]"#);
    let kwd = &plan["by_currency"]["KWD"];
    assert_eq!(kwd["settlements"].to_string(), r#"[{"amount":1.500,"from":"alice","to":"bob"}]"#);
    assert_eq!(kwd["transfers"], 1);
    // Alice may not leave, nor delete her account, with a yen balance alone.
    let (recorded, pushed) = w.ask_events(&mut alice, "settle", json!({"group": "trip", "record": true}));
    assert_eq!(recorded["payments"].as_array().unwrap().len(), 3, "{recorded}");
    let kwd_plan = r#"[{"amount":1.500,"from":"alice","to":"bob"}]"#;
    assert_eq!(pushed[0]["type"], "settlement");
    assert_eq!(pushed[0]["by_currency"]["KWD"].to_string(), kwd_plan, "{}", pushed[0]);
    // A catch-up shows the recorded settlement as it was notified, every currency's plan with it.
    let caught = w.ask(&mut bob, "history", json!({"group": "trip", "after": 0}));
    let settled = caught["history"].as_array().unwrap().iter().find(|e| e["type"] == "settlement").unwrap();
    assert_eq!(settled["by_currency"], pushed[0]["by_currency"]);
    assert_eq!(settled["data"], pushed[0]["data"]);
    assert_eq!(recorded["payments"][1]["currency"], "JPY");
    assert_eq!(recorded["payments"][1]["amount"].to_string(), "500");
    assert!(w.balances(&mut alice, "trip").values().all(|&v| v == 0));
    assert_eq!(by_currency(&mut w, &mut alice), json!({}), "every currency settled");
    assert_eq!(w.ask(&mut alice, "settle", json!({"group": "trip"}))["by_currency"], Value::Null);
    w.machine.check_invariants().unwrap();
}

#[test]
fn leaving_and_deleting_an_account_need_every_currency_at_zero() {
    let (mut w, mut alice, mut bob) = trip();
    add(&mut w, &mut alice, json!({"amount": 100, "currency": "JPY"}));
    assert_eq!(w.balances(&mut bob, "trip"), balances_of(&[("alice", 0), ("bob", 0)]));
    let leave = w.ask(&mut bob, "leave_group", json!({"group": "trip"}));
    assert_eq!(leave["code"], "balance_not_zero", "{leave}");
    w.ask(&mut bob, "leave_group", json!({"group": "g"}));
    let delete = w.ask(&mut bob, "delete_account", json!({"password": "password1"}));
    assert_eq!(delete["code"], "balance_not_zero", "{delete}");
    // Paid back in yen (a payment in its currency), bob can go.
    let paid =
        w.ask(&mut bob, "record_payment", json!({"group": "trip", "to": "alice", "amount": 50, "currency": "JPY"}));
    assert_eq!(paid["payment"]["amount"].to_string(), "50", "{paid}");
    assert_eq!(w.ask(&mut bob, "leave_group", json!({"group": "trip"}))["status"], "ok");
}

#[test]
fn delete_edit_and_restore_move_the_right_currency() {
    let (mut w, mut alice, mut bob) = trip();
    add(&mut w, &mut alice, json!({"amount": 1000, "currency": "JPY"}));
    add(&mut w, &mut alice, json!({"amount": 2}));
    // An edit's amount without `currency` is in the transaction's (yen), and stays there.
    w.ask(&mut alice, "edit_transaction", json!({"group": "trip", "id": 1, "amount": 3000}));
    assert_eq!(by_currency(&mut w, &mut bob)["JPY"]["bob"].to_string(), "-1500");
    assert_eq!(w.balances(&mut bob, "trip")["bob"], -100);
    // Into KWD: the yen balances go, the dinar ones come.
    let edit = json!({"group": "trip", "id": 1, "amount": "0.500", "currency": "KWD"});
    assert_eq!(w.ask(&mut alice, "edit_transaction", edit)["status"], "ok");
    let others = by_currency(&mut w, &mut bob);
    assert_eq!(others.get("JPY"), None, "{others}");
    assert_eq!(others["KWD"]["bob"].to_string(), "-0.250");
    w.ask(&mut alice, "delete_transaction", json!({"group": "trip", "id": 1}));
    assert_eq!(by_currency(&mut w, &mut bob), json!({}));
    assert_eq!(w.balances(&mut bob, "trip")["bob"], -100, "the group's currency untouched");
    w.ask(&mut alice, "restore_transaction", json!({"group": "trip", "id": 1}));
    assert_eq!(by_currency(&mut w, &mut bob)["KWD"]["alice"].to_string(), "0.250");
    // A payment in yen, deleted and restored, moves yen.
    let paid =
        w.ask(&mut bob, "record_payment", json!({"group": "trip", "to": "alice", "amount": 7, "currency": "JPY"}));
    let id = paid["payment"]["id"].clone();
    assert_eq!(by_currency(&mut w, &mut bob)["JPY"]["bob"].to_string(), "7");
    w.ask(&mut bob, "delete_payment", json!({"group": "trip", "id": id}));
    assert_eq!(by_currency(&mut w, &mut bob).get("JPY"), None);
    w.ask(&mut bob, "restore_payment", json!({"group": "trip", "id": id}));
    assert_eq!(by_currency(&mut w, &mut bob)["JPY"]["alice"].to_string(), "-7");
    w.machine.check_invariants().unwrap();
}

#[test]
fn the_setting_and_its_refusals() {
    let (mut w, mut alice, mut bob) = trip();
    let rate = add(&mut w, &mut alice, json!({"amount": 100, "currency": "JPY", "rate": 0.0061}));
    assert_eq!(
        rate["message"],
        "Field 'rate' is not taken: the group converts at settlement (amounts stay in their currency)"
    );
    assert_eq!(add(&mut w, &mut alice, json!({"amount": 100, "currency": "JPY", "rate": 1}))["status"], "ok");
    let bad = w.ask(&mut alice, "create_group", json!({"group": "x", "convert": "later"}));
    assert_eq!(bad["message"], r#"Field 'convert' must be "at_entry" or "at_settlement""#);
    let not_creator = w.ask(&mut bob, "set_group_convert", json!({"group": "trip", "convert": "at_entry"}));
    assert_eq!(not_creator["code"], "forbidden");
    let locked = w.ask(&mut alice, "set_group_convert", json!({"group": "trip", "convert": "at_entry"}));
    assert_eq!(
        locked["message"],
        "Field 'convert' cannot change: the group has transactions or payments (or deleted ones)"
    );
    // The group's currency is locked by an amount kept in another.
    let other = w.ask(&mut alice, "set_group_currency", json!({"group": "trip", "currency": "CHF"}));
    assert_eq!(other["code"], "bad_request");
    w.ask(&mut alice, "delete_transaction", json!({"group": "trip", "id": 1}));
    let deleted = w.ask(&mut alice, "set_group_convert", json!({"group": "trip", "convert": "at_entry"}));
    assert_eq!(deleted["code"], "bad_request", "a deleted one could be restored: {deleted}");
    // A fresh group changes freely; a payment in another currency is refused at entry.
    assert_eq!(
        w.ask(&mut alice, "set_group_convert", json!({"group": "g", "convert": "at_settlement"}))["status"],
        "ok"
    );
    assert_eq!(w.ask(&mut alice, "group_info", json!({"group": "g"}))["convert"], "at_settlement");
    w.ask(&mut alice, "set_group_convert", json!({"group": "g", "convert": "at_entry"}));
    let pay = w.ask(&mut alice, "record_payment", json!({"group": "g", "to": "bob", "amount": 5, "currency": "JPY"}));
    assert_eq!(pay["message"], "Field 'currency' must be the group's: it converts at entry (set_group_convert)");
    let history = w.ask(&mut alice, "history", json!({"group": "g"}));
    assert!(history.to_string().contains("set g to convert other currencies at settlement"), "{history}");
}

#[test]
fn replay_and_both_images_rebuild_the_same_state() {
    let (mut w, mut alice, mut bob) = trip();
    add(&mut w, &mut alice, json!({"amount": 1234, "currency": "JPY"}));
    add(&mut w, &mut bob, json!({"amount": "2.500", "currency": "KWD"}));
    add(&mut w, &mut bob, json!({"amount": 3}));
    w.ask(&mut bob, "record_payment", json!({"group": "trip", "to": "alice", "amount": 17, "currency": "JPY"}));
    w.ask(&mut alice, "delete_transaction", json!({"group": "trip", "id": 2}));
    w.ask(&mut alice, "restore_transaction", json!({"group": "trip", "id": 2}));
    let mut image = Vec::new();
    write_image(&w.machine, &mut image).unwrap();
    let restored = replay_and_restore_match(&w.log, &image);
    let id = restored.groups().find("trip").unwrap();
    let group = restored.groups().get(id).unwrap();
    assert_eq!(group.convert, Convert::AtSettlement);
    assert_eq!(group.ledger.payments()[0].currency.as_deref(), Some("JPY"));
    let others: Vec<(String, Vec<(UserId, Cents)>)> =
        group.other_balances().into_iter().map(|(c, l)| (c.to_string(), l)).collect();
    let live = w.machine.groups().get(id).unwrap().other_balances();
    let live: Vec<(String, Vec<(UserId, Cents)>)> = live.into_iter().map(|(c, l)| (c.to_string(), l)).collect();
    assert_eq!(others, live, "the image rebuilds each currency's balances");
    assert_eq!(others.len(), 2);
    let mut json_image = Vec::new();
    write_json_image(&w.machine, &mut json_image).unwrap();
    let from_json = read_image(&json_image).unwrap();
    from_json.check_invariants().unwrap();
    let mut again = Vec::new();
    write_image(&from_json, &mut again).unwrap();
    assert!(again == image, "the JSON image keeps the setting and the currencies too");
}
