//! Group sequence numbers (`seq`): carried by records, notifications and reads, the same after
//! replay (with or without the number in the record), refused when out of order.

use super::*;

/// A group's changes of every kind, in two groups, by three members.
fn busy_trio() -> (World, Session, Session, Session) {
    let (mut w, mut alice, mut bob, mut carol) = World::trio();
    w.ask(&mut alice, "create_group", json!({"group": "euro", "currency": "EUR"}));
    w.ask(&mut bob, "join_group", json!({"group": "euro"}));
    let t = w.ask(
        &mut alice,
        "add_transaction",
        json!({"group": "g", "amount": 30, "split_between": ["alice", "bob", "carol"]}),
    );
    let id = t["transaction"]["id"].as_u64().unwrap();
    w.ask(&mut bob, "edit_transaction", json!({"group": "g", "id": id, "amount": 33}));
    w.ask(&mut bob, "add_transaction", json!({"group": "euro", "amount": 8, "split_between": ["alice", "bob"]}));
    w.ask(&mut bob, "record_payment", json!({"group": "g", "to": "alice", "amount": 2}));
    w.ask(&mut carol, "settle", json!({"group": "g", "record": true}));
    w.ask(&mut carol, "delete_payment", json!({"group": "g", "id": 1}));
    w.ask(&mut alice, "delete_transaction", json!({"group": "g", "id": id}));
    w.ask(&mut alice, "set_group_password", json!({"group": "g", "password": "g-pass-123"}));
    w.ask(&mut alice, "set_group_currency", json!({"group": "euro", "currency": "GBP"}));
    (w, alice, bob, carol)
}

/// Each group's records carry 1, 2, 3, ... in log order.
fn seqs_by_group(log: &[Record]) -> HashMap<GroupId, Vec<u64>> {
    let mut seqs: HashMap<GroupId, Vec<u64>> = HashMap::new();
    for record in log {
        if let Some((group, seq)) = record.group_seq() {
            seqs.entry(group).or_default().push(seq);
        }
    }
    seqs
}

fn image_of(machine: &Machine) -> String {
    let mut image = Vec::new();
    write_json_image(machine, &mut image).unwrap();
    String::from_utf8(image).unwrap()
}

#[test]
fn every_group_change_is_numbered_and_replay_gives_the_same_numbers() {
    let (w, ..) = busy_trio();
    let seqs = seqs_by_group(&w.log);
    assert_eq!(seqs.len(), 2);
    for (group, list) in &seqs {
        let expected: Vec<u64> = (1..=list.len() as u64).collect();
        assert_eq!(list, &expected, "group {group}: numbered 1, 2, 3 without gaps");
        let history = &w.machine.groups().get(*group).unwrap().history;
        assert_eq!(history.seq(), list.len() as u64);
    }
    // Replayed through the log's encoding, and from records written before `seq` existed.
    let mut replayed = Machine::new();
    let mut old = Machine::new();
    for record in &w.log {
        let line = serde_json::to_string(record).unwrap();
        replayed.apply(&serde_json::from_str(&line).unwrap()).unwrap();
        let mut value: Value = serde_json::from_str(&line).unwrap();
        if let Some(fields) = value.as_object_mut().and_then(|v| v.values_mut().next()).and_then(Value::as_object_mut) {
            fields.remove("seq");
        }
        let record: Record = serde_json::from_value(value).unwrap();
        assert_eq!(record.group_seq(), None);
        old.apply(&record).unwrap();
    }
    assert_eq!(image_of(&replayed), image_of(&w.machine));
    assert_eq!(image_of(&old), image_of(&w.machine), "numbers derived on replay are the same");
    for (id, group) in w.machine.groups().iter() {
        let ids = |m: &Machine| m.groups().get(id).unwrap().history.entries().iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(ids(&old), ids(&w.machine), "group {}", group.name);
    }
}

#[test]
fn a_record_out_of_sequence_is_refused_and_changes_nothing() {
    let (mut w, mut alice, ..) = World::trio();
    w.ask(&mut alice, "add_transaction", json!({"group": "g", "amount": 3, "split_between": ["alice", "bob"]}));
    let Some(Record::TransactionAdded { txn, .. }) = w.log.last().cloned() else { panic!("{:?}", w.log.last()) };
    let before = image_of(&w.machine);
    let seq = w.machine.groups().get(0).unwrap().history.seq();
    for wrong in [seq, seq + 2, 0] {
        let mut txn = txn.clone();
        txn.id += 1;
        let record = Record::TransactionAdded { group: 0, txn, seq: Some(wrong) };
        assert!(w.machine.apply(&record).is_err(), "seq {wrong} after {seq}");
        assert_eq!(image_of(&w.machine), before);
    }
}

#[test]
fn notifications_and_reads_carry_the_group_and_its_seq() {
    let (mut w, mut alice, mut bob, _) = World::trio();
    let (reply, events) = w.ask_events(
        &mut alice,
        "add_transaction",
        json!({"group": "g", "amount": 3, "split_between": ["alice", "bob"]}),
    );
    assert_eq!(reply["status"], "ok");
    // created, bob joined, carol joined, the expense.
    assert_eq!(events.len(), 1);
    assert_eq!((&events[0]["group"], &events[0]["seq"]), (&json!("g"), &json!(4)), "{}", events[0]);
    for action in [
        "view_transactions",
        "view_balances",
        "view_payments",
        "get_group_members",
        "group_info",
        "export",
        "history",
        "balance_details",
        "pairwise_debts",
    ] {
        let read = w.ask(&mut bob, action, json!({"group": "g"}));
        assert_eq!(read["seq"], 4, "{action}: {read}");
    }
    let (_, events) = w.ask_events(&mut bob, "settle", json!({"group": "g"}));
    assert_eq!(events[0]["seq"], 4, "a plan asked for is not a change: {}", events[0]);
    let history = w.ask(&mut bob, "history", json!({"group": "g", "limit": 1}));
    assert_eq!(history["history"][0]["seq"], 4, "{history}");
}

#[test]
fn a_trimmed_history_keeps_its_numbers_and_keys_through_an_image() {
    let (mut w, mut alice, ..) = World::trio();
    w.machine.set_history_kept(4);
    let first = json!({"group": "g", "amount": 3, "split_between": ["alice", "bob"], "key": "k-1"});
    w.ask(&mut alice, "add_transaction", first.clone());
    for i in 0..10 {
        w.ask(&mut alice, "add_transaction", json!({"group": "g", "amount": 1 + i, "split_between": ["bob"]}));
    }
    let history = &w.machine.groups().get(0).unwrap().history;
    assert_eq!(history.seq(), 14);
    assert!(history.oldest() > 5, "trimmed: the keyed entry (4) is gone, oldest {}", history.oldest());
    let image = image_of(&w.machine);
    let mut restored = read_image(image.as_bytes()).unwrap();
    assert_eq!(image_of(&restored), image, "numbers and keys survive the image");
    let mut log = Vec::new();
    let again = run(&mut restored, &mut alice, &frame("add_transaction", first), &mut log).0;
    assert_eq!(again["duplicate"], true, "the key outlived its trimmed entry: {again}");
    assert!(log.is_empty());
}

#[test]
fn a_stale_version_changes_nothing_and_answers_conflict_with_the_current_transaction() {
    let (mut w, mut alice, mut bob, _) = World::trio();
    let t =
        w.ask(&mut alice, "add_transaction", json!({"group": "g", "amount": 30, "split_between": ["alice", "bob"]}));
    let id = t["transaction"]["id"].as_u64().unwrap();
    assert_eq!(t["transaction"]["version"], 1);
    // Both saw version 1; alice's edit wins, bob's is refused with the transaction as it is now.
    let won = w.ask(&mut alice, "edit_transaction", json!({"group": "g", "id": id, "version": 1, "amount": 40}));
    assert_eq!(won["transaction"]["version"], 2, "{won}");
    let before = image_of(&w.machine);
    let log = w.log.len();
    let lost = w.ask(&mut bob, "edit_transaction", json!({"group": "g", "id": id, "version": 1, "amount": 50}));
    assert_eq!((lost["status"].clone(), lost["code"].clone()), (json!("error"), json!("conflict")), "{lost}");
    assert_eq!(
        (lost["transaction"]["version"].clone(), signed_cents(&lost["transaction"]["amount"])),
        (json!(2), 4000)
    );
    for delete in [json!({"group": "g", "id": id, "version": 1}), json!({"group": "g", "index": 0, "version": 3})] {
        let refused = w.ask(&mut bob, "delete_transaction", delete);
        assert_eq!(refused["code"], "conflict", "{refused}");
    }
    assert_eq!((image_of(&w.machine), w.log.len()), (before, log), "a stale version changes nothing");
    let deleted = w.ask(&mut bob, "delete_transaction", json!({"group": "g", "id": id, "version": 2}));
    assert_eq!(deleted["status"], "ok", "{deleted}");
    // Payments are never edited: version 1 until deleted.
    let p = w.ask(&mut bob, "record_payment", json!({"group": "g", "to": "alice", "amount": 2}));
    let pid = p["payment"]["id"].as_u64().unwrap();
    assert_eq!(p["payment"]["version"], 1);
    let refused = w.ask(&mut alice, "delete_payment", json!({"group": "g", "id": pid, "version": 2}));
    assert_eq!((refused["code"].clone(), refused["payment"]["id"].clone()), (json!("conflict"), json!(pid)));
    assert_eq!(w.ask(&mut alice, "delete_payment", json!({"group": "g", "id": pid, "version": 1}))["status"], "ok");
}

#[test]
fn versions_are_derived_on_replay_from_records_without_them() {
    let (mut w, mut alice, ..) = World::trio();
    let t =
        w.ask(&mut alice, "add_transaction", json!({"group": "g", "amount": 30, "split_between": ["alice", "bob"]}));
    let id = t["transaction"]["id"].as_u64().unwrap();
    for amount in [31, 32, 33] {
        w.ask(&mut alice, "edit_transaction", json!({"group": "g", "id": id, "amount": amount}));
    }
    let mut old = Machine::new();
    for record in &w.log {
        let text = serde_json::to_string(record).unwrap().replace(r#","version":4"#, "").replace(r#","version":3"#, "");
        let text = text.replace(r#","version":2"#, "");
        assert!(!text.contains("\"version\""), "{text}");
        old.apply(&serde_json::from_str(&text).unwrap()).unwrap();
    }
    assert_eq!(old.groups().get(0).unwrap().ledger.transaction(id).unwrap().version, 4);
    assert_eq!(image_of(&old), image_of(&w.machine));
}
