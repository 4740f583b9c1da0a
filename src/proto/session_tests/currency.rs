//! Expenses entered in another currency: converted once at the user's rate (exact, half-even),
//! amounts read and written with each currency's own decimals, every refusal, edits of the entry,
//! the group's currency locked by them, and replay rebuilding the same state.

use super::*;

/// alice, bob and carol in `trip`, a EUR group.
fn trip() -> (World, Session, Session) {
    let (mut w, mut alice, mut bob, _carol) = World::trio();
    w.ask(&mut alice, "create_group", json!({"group": "trip", "currency": "EUR"}));
    w.ask(&mut bob, "join_group", json!({"group": "trip"}));
    (w, alice, bob)
}

/// `add_transaction` in `trip`, split between alice and bob unless `data` says otherwise.
pub(super) fn add(w: &mut World, who: &mut Session, data: Value) -> Value {
    let mut data = data;
    data["group"] = json!("trip");
    if data.get("split").is_none() && data.get("split_between").is_none() {
        data["split_between"] = json!(["alice", "bob"]);
    }
    w.ask(who, "add_transaction", data)
}

fn only_transaction(w: &mut World, who: &mut Session) -> Value {
    let list = w.ask(who, "view_transactions", json!({"group": "trip"}));
    list["transactions"].as_array().unwrap().last().unwrap().clone()
}

#[test]
fn a_foreign_expense_is_converted_once_and_keeps_what_was_entered() {
    let (mut w, mut alice, mut bob) = trip();
    // 1234 yen at 0.0061 EUR = 7.5274 EUR: 7.53.
    let (reply, events) = w.ask_events(
        &mut alice,
        "add_transaction",
        json!({"group": "trip", "amount": 1234, "currency": "JPY", "rate": 0.0061, "split_between": ["alice", "bob"]}),
    );
    assert_eq!(reply["status"], "ok", "{reply}");
    let txn = only_transaction(&mut w, &mut bob);
    assert_eq!(txn["amount"].to_string(), "7.53");
    assert_eq!(txn["foreign"].to_string(), r#"{"amount":1234,"currency":"JPY","rate":0.0061}"#);
    assert_eq!(txn["foreign"]["amount"].to_string(), "1234", "yen have no decimals");
    assert_eq!(txn["shares"]["alice"].to_string(), "3.77");
    assert_eq!(w.balances(&mut alice, "trip"), balances_of(&[("alice", 376), ("bob", -376)]));
    let message = events.iter().find_map(|e| e["message"].as_str().map(String::from)).unwrap();
    assert_eq!(message, "alice added EUR 7.53 (JPY 1234 at 0.0061) expense");
    // The export shows the entry too.
    let export = w.ask(&mut alice, "export", json!({"group": "trip"}));
    assert!(export.to_string().contains(r#""foreign":{"amount":1234,"currency":"JPY","rate":0.0061}"#), "{export}");
}

#[test]
fn conversion_rounds_half_even_into_the_group_currency() {
    let (mut w, mut alice, mut bob) = trip();
    // 1.00 USD at 0.125 = 0.125 EUR: a tie, to the even 0.12; at 0.135 = 0.135: to 0.14.
    add(&mut w, &mut alice, json!({"amount": 1, "currency": "USD", "rate": "0.125"}));
    assert_eq!(only_transaction(&mut w, &mut bob)["amount"].to_string(), "0.12");
    add(&mut w, &mut alice, json!({"amount": 1, "currency": "USD", "rate": "0.135"}));
    assert_eq!(only_transaction(&mut w, &mut bob)["amount"].to_string(), "0.14");
}

#[test]
fn each_currency_has_its_own_decimals() {
    let (mut w, mut alice, mut bob) = trip();
    let yen = add(&mut w, &mut alice, json!({"amount": 10.5, "currency": "JPY", "rate": 0.0061}));
    assert_eq!(yen["status"], "error");
    assert_eq!(yen["message"], "Field 'amount' must be a whole number (the currency has no decimals)");
    // 1.250 dinar at 3.02 = 3.775 EUR: a tie, to the even 3.78 (8 is even).
    let dinar = add(&mut w, &mut alice, json!({"amount": "1.250", "currency": "KWD", "rate": 3.02}));
    assert_eq!(dinar["status"], "ok", "{dinar}");
    let txn = only_transaction(&mut w, &mut bob);
    assert_eq!(txn["foreign"]["amount"].to_string(), "1.250");
    assert_eq!(txn["amount"].to_string(), "3.78");
    let fils = add(&mut w, &mut alice, json!({"amount": 1.2505, "currency": "KWD", "rate": 3.02}));
    assert_eq!(fils["message"], "Field 'amount' must have at most 3 decimals");
    // Payers and exact shares are in the entry currency too: 10.5 yen is refused there as well.
    let payer = add(&mut w, &mut alice, json!({"amount": 100, "currency": "JPY", "rate": 1, "paid_by": {"bob": 10.5}}));
    assert_eq!(payer["message"], "Field 'paid_by.bob' must be a whole number (the currency has no decimals)");
}

#[test]
fn payers_and_exact_shares_are_converted_in_proportion() {
    let (mut w, mut alice, mut bob) = trip();
    let reply = add(
        &mut w,
        &mut alice,
        json!({"amount": 1234, "currency": "JPY", "rate": 0.0061,
               "split": {"mode": "exact", "amounts": {"alice": 1000, "bob": 234}},
               "paid_by": {"alice": 234, "bob": 1000}}),
    );
    assert_eq!(reply["status"], "ok", "{reply}");
    let txn = only_transaction(&mut w, &mut bob);
    // 7.53 shared 1000:234 = 6.102 : 1.427, the leftover cent to the larger remainder.
    assert_eq!(txn["shares"].to_string(), r#"{"alice":6.10,"bob":1.43}"#);
    assert_eq!(txn["paid_by"].to_string(), r#"{"alice":1.43,"bob":6.10}"#);
    let wrong = add(
        &mut w,
        &mut alice,
        json!({"amount": 1234, "currency": "JPY", "rate": 0.0061, "split": {"mode": "exact", "amounts": {"alice": 1000}}}),
    );
    assert_eq!(wrong["status"], "error");
    assert!(wrong["message"].as_str().unwrap().starts_with("Field 'split.amounts' must sum to the amount"), "{wrong}");
}

#[test]
fn bad_rates_and_currencies_are_refused() {
    let (mut w, mut alice, _bob) = trip();
    let cases = [
        (json!({"amount": 10, "currency": "JPY", "rate": 0}), "Field 'rate' must be greater than zero"),
        (json!({"amount": 10, "currency": "JPY", "rate": -2}), "Field 'rate' must be greater than zero"),
        (json!({"amount": 10, "currency": "JPY", "rate": "abc"}), "Field 'rate' must be a decimal number"),
        (json!({"amount": 10, "currency": "JPY", "rate": true}), "Field 'rate' must be a number"),
        (
            json!({"amount": 10, "currency": "JPY", "rate": 12345678901_u64}),
            "Field 'rate' must have at most 10 significant digits",
        ),
        (
            json!({"amount": 10, "currency": "JPY", "rate": "1.0000000001"}),
            "Field 'rate' must have at most 10 significant digits",
        ),
        (
            json!({"amount": 10, "currency": "jpy", "rate": 1}),
            "Field 'currency' must be an ISO 4217 code: 3 uppercase letters, like \"INR\" or \"EUR\"",
        ),
        (
            json!({"amount": 10, "currency": "EUR", "rate": 1.5}),
            "Field 'rate' must be 1 (or left out) for the group's own currency",
        ),
        (
            json!({"amount": 10, "currency": "JPY"}),
            "Field 'rate' is needed: how many units of the group's currency one JPY is worth",
        ),
        (json!({"amount": 10, "rate": 2}), "Field 'rate' needs 'currency': the currency the amount is in"),
        (
            json!({"amount": 10_000_000_000_u64, "currency": "USD", "rate": 2}),
            "Field 'amount' converted at 'rate' must be at most 10000000000",
        ),
        (
            json!({"amount": 1, "currency": "JPY", "rate": 0.001}),
            "Field 'amount' converted at 'rate' rounds to nothing",
        ),
    ];
    for (data, message) in cases {
        let log_len = w.log.len();
        let reply = add(&mut w, &mut alice, data.clone());
        assert_eq!(reply["status"], "error", "{data}");
        assert_eq!(reply["message"], message, "{data}");
        assert_eq!(w.log.len(), log_len, "a refusal changes nothing: {data}");
    }
    // The group's own currency, with rate 1 or none, is an ordinary expense.
    for data in [json!({"amount": 10, "currency": "EUR", "rate": 1}), json!({"amount": 10, "currency": "EUR"})] {
        assert_eq!(add(&mut w, &mut alice, data)["status"], "ok");
        assert!(only_transaction(&mut w, &mut alice).get("foreign").is_none());
    }
}

#[test]
fn edits_convert_the_entry_again() {
    let (mut w, mut alice, mut bob) = trip();
    add(&mut w, &mut alice, json!({"amount": 1000, "currency": "JPY", "rate": 0.006}));
    let id = only_transaction(&mut w, &mut bob)["id"].clone();
    let edit = |w: &mut World, who: &mut Session, data: Value| {
        let mut data = data;
        data["group"] = json!("trip");
        data["id"] = id.clone();
        w.ask(who, "edit_transaction", data)
    };
    // A new rate converts the kept 1000 yen again: 7.00.
    assert_eq!(edit(&mut w, &mut alice, json!({"rate": 0.007}))["status"], "ok");
    let txn = only_transaction(&mut w, &mut bob);
    assert_eq!((txn["amount"].to_string(), txn["foreign"]["rate"].to_string()), ("7.00".into(), "0.007".into()));
    // A new amount without 'currency' is in the transaction's currency: yen, whole.
    assert_eq!(edit(&mut w, &mut alice, json!({"amount": 2000}))["status"], "ok");
    let txn = only_transaction(&mut w, &mut bob);
    assert_eq!((txn["amount"].to_string(), txn["foreign"]["amount"].to_string()), ("14.00".into(), "2000".into()));
    let half = edit(&mut w, &mut alice, json!({"amount": 10.5}));
    assert_eq!(half["message"], "Field 'amount' must be a whole number of JPY (it has no decimals)");
    // A new rate alone on an amount that is not a multiple of 100 yen (read as is, never rescaled).
    assert_eq!(edit(&mut w, &mut alice, json!({"amount": 1234}))["status"], "ok");
    assert_eq!(edit(&mut w, &mut alice, json!({"rate": 0.0061}))["status"], "ok");
    assert_eq!(only_transaction(&mut w, &mut bob)["amount"].to_string(), "7.53");
    assert_eq!(edit(&mut w, &mut alice, json!({"amount": 2000, "rate": 0.007}))["status"], "ok");
    // A description-only edit keeps the entry.
    assert_eq!(edit(&mut w, &mut alice, json!({"description": "ramen"}))["status"], "ok");
    assert_eq!(only_transaction(&mut w, &mut bob)["foreign"]["amount"].to_string(), "2000");
    // Another currency needs its amount; back to the group's own drops the entry.
    let no_amount = edit(&mut w, &mut alice, json!({"currency": "USD", "rate": 0.9}));
    assert_eq!(no_amount["message"], "Field 'amount' is needed in USD when changing the currency");
    assert_eq!(edit(&mut w, &mut alice, json!({"currency": "EUR", "amount": 12}))["status"], "ok");
    let txn = only_transaction(&mut w, &mut bob);
    assert_eq!(txn["amount"].to_string(), "12.00");
    assert!(txn.get("foreign").is_none(), "{txn}");
    // And an ordinary expense can become a foreign one.
    assert_eq!(edit(&mut w, &mut alice, json!({"currency": "GBP", "rate": 1.2, "amount": 10}))["status"], "ok");
    assert_eq!(only_transaction(&mut w, &mut bob)["amount"].to_string(), "12.00");
    assert_eq!(only_transaction(&mut w, &mut bob)["foreign"]["currency"], "GBP");
    w.machine.check_invariants().unwrap();
}

#[test]
fn the_group_currency_is_locked_by_converted_expenses() {
    let (mut w, mut alice, _bob) = trip();
    add(&mut w, &mut alice, json!({"amount": 5}));
    let set = w.ask(&mut alice, "set_group_currency", json!({"group": "trip", "currency": "CHF"}));
    assert_eq!(set["status"], "ok", "plain expenses do not lock it: {set}");
    add(&mut w, &mut alice, json!({"amount": 5, "currency": "EUR", "rate": 0.95}));
    let locked = w.ask(&mut alice, "set_group_currency", json!({"group": "trip", "currency": "EUR"}));
    assert_eq!(locked["status"], "error");
    assert_eq!(
        locked["message"],
        "Field 'currency' cannot change: the group has expenses converted from other currencies"
    );
}

/// Replay and both snapshot images keep the entry: currency, amount and rate.
#[test]
fn replay_and_images_keep_the_entry() {
    let (mut w, mut alice, _bob) = trip();
    add(&mut w, &mut alice, json!({"amount": 1234, "currency": "JPY", "rate": 0.0061}));
    add(&mut w, &mut alice, json!({"amount": "1.250", "currency": "KWD", "rate": "3.02", "date": "2026-05-01"}));
    w.ask(&mut alice, "edit_transaction", json!({"group": "trip", "id": 1, "rate": 0.0065}));
    let mut image = Vec::new();
    write_image(&w.machine, &mut image).unwrap();
    let restored = replay_and_restore_match(&w.log, &image);
    let group = restored.groups().find("trip").unwrap();
    let kept: Vec<Option<Foreign>> =
        restored.groups().get(group).unwrap().ledger.transactions().map(|t| t.foreign).collect();
    assert_eq!(
        kept,
        vec![
            Some(Foreign { currency: "JPY".into(), amount: Cents(1234), rate: Some(Rate { digits: 65, scale: 4 }) }),
            Some(Foreign { currency: "KWD".into(), amount: Cents(1250), rate: Some(Rate { digits: 302, scale: 2 }) }),
        ]
    );
    let mut json_image = Vec::new();
    write_json_image(&w.machine, &mut json_image).unwrap();
    let from_json = read_image(&json_image).unwrap();
    let mut again = Vec::new();
    write_image(&from_json, &mut again).unwrap();
    assert!(again == image, "the JSON image keeps the entry too");
}

/// A record whose entry is malformed (no currency code, a zero rate) does not apply.
#[test]
fn a_record_with_a_malformed_entry_changes_nothing() {
    let (mut w, mut alice, _bob) = trip();
    add(&mut w, &mut alice, json!({"amount": 1234, "currency": "JPY", "rate": 0.0061}));
    let Some(Record::TransactionAdded { group, txn, .. }) = w.log.last().cloned() else { panic!("an add") };
    for foreign in [
        Foreign { currency: "yen".into(), amount: Cents(1234), rate: Some(Rate { digits: 61, scale: 4 }) },
        Foreign { currency: "JPY".into(), amount: Cents(1234), rate: Some(Rate { digits: 0, scale: 0 }) },
        Foreign { currency: "JPY".into(), amount: Cents(0), rate: None },
    ] {
        let txn = Transaction { id: txn.id + 1, foreign: Some(foreign), ..txn.clone() };
        assert!(w.machine.apply(&Record::TransactionAdded { group, txn, seq: None }).is_err());
    }
    w.machine.check_invariants().unwrap();
}
