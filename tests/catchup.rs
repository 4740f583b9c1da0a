//! Issue 16 over real TCP: numbered group events, catching up after a disconnect (`subscribe`,
//! `history {after}`) with no gap and no duplicate at the seam to live notifications, and `gap` once
//! the history kept no longer reaches back far enough.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{ok, Client, Server, TempDir};
use serde_json::{json, Value};

/// alice creates `g`, bob joins; alice's join notification is drained. Returns the group's seq.
fn pair(server: &Server) -> (Client, Client, u64) {
    let mut alice = server.connect();
    let mut bob = server.connect();
    alice.login_as("alice");
    bob.login_as("bob");
    ok(&alice.request("create_group", json!({"group": "g"})));
    ok(&bob.request("join_group", json!({"group": "g"})));
    assert_eq!(alice.pushed_message()["member"], "bob");
    let seq = ok(&bob.request("view_transactions", json!({"group": "g"})))["seq"].as_u64().unwrap();
    (alice, bob, seq)
}

fn add(client: &mut Client, n: u64) -> u64 {
    let reply = client.request(
        "add_transaction",
        json!({"group": "g", "amount": n + 1, "description": format!("n{n}"), "split_between": ["alice", "bob"]}),
    );
    ok(&reply)["transaction"]["id"].as_u64().unwrap()
}

fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

#[test]
fn a_member_back_after_100_changes_gets_exactly_those_in_order_then_live_ones() {
    let dir = TempDir::new("catchup-100");
    let server = Server::start(dir.path(), &[]);
    let (mut alice, bob, seen) = pair(&server);
    drop(bob);
    for n in 0..100 {
        add(&mut alice, n);
    }
    let mut bob = server.connect();
    bob.login_as("bob");
    let reply = ok(&bob.request("subscribe", json!({"group": "g", "after": seen, "limit": 500}))).clone();
    let events = reply["events"].as_array().unwrap();
    assert_eq!(seqs(events), (seen + 1..=seen + 100).collect::<Vec<_>>());
    let descriptions: Vec<&str> = events.iter().map(|e| e["description"].as_str().unwrap()).collect();
    assert_eq!(descriptions, (0..100).map(|n| format!("n{n}")).collect::<Vec<_>>());
    assert!(events
        .iter()
        .all(|e| e["type"] == "notification" && e["event"] == "transaction_added" && e["group"] == "g"));
    assert_eq!((reply["more"].clone(), reply["seq"].clone()), (json!(false), json!(seen + 100)));
    for n in 100..103 {
        add(&mut alice, n);
    }
    let live: Vec<Value> = (0..3).map(|_| bob.pushed_message()).collect();
    assert_eq!(seqs(&live), vec![seen + 101, seen + 102, seen + 103], "live ones follow, none twice");
    // The same catch-up, paged, through history {after}.
    let page = ok(&bob.request("history", json!({"group": "g", "after": seen, "limit": 60}))).clone();
    assert_eq!(seqs(page["history"].as_array().unwrap()), (seen + 1..=seen + 60).collect::<Vec<_>>());
    assert_eq!((page["more"].clone(), page["next_after"].clone()), (json!(true), json!(seen + 60)));
    assert_eq!(page["history"][0], events[0], "an entry has its notification's shape");
}

#[test]
fn subscribing_while_changes_keep_coming_leaves_no_gap_and_no_duplicate_at_the_seam() {
    let dir = TempDir::new("catchup-seam");
    let server = Server::start(dir.path(), &[]);
    let (mut alice, bob, seen) = pair(&server);
    drop(bob);
    for n in 0..100 {
        add(&mut alice, n);
    }
    // About 50 changes a second while bob comes back.
    let writer = thread::spawn(move || {
        for n in 100..200 {
            add(&mut alice, n);
            thread::sleep(Duration::from_millis(20));
        }
    });
    thread::sleep(Duration::from_millis(300));
    let mut bob = server.connect();
    bob.login_as("bob");
    let reply = ok(&bob.request("subscribe", json!({"group": "g", "after": seen, "limit": 500}))).clone();
    let caught = seqs(reply["events"].as_array().unwrap());
    let through = *caught.last().unwrap();
    assert_eq!(caught, (seen + 1..=through).collect::<Vec<_>>(), "the catch-up is whole");
    assert!(through > seen + 100, "some changes landed during the test before the subscribe: {through}");
    assert_eq!(reply["seq"], through);
    // What arrived before the reply is covered by it; what follows starts right after it.
    assert!(bob.pushed.iter().all(|p| p["seq"].as_u64().unwrap() <= through), "{:?}", bob.pushed);
    bob.pushed.clear();
    let last = seen + 200;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut live = Vec::new();
    while live.last().copied().unwrap_or(through) < last && Instant::now() < deadline {
        live.push(bob.pushed_message()["seq"].as_u64().unwrap());
    }
    writer.join().unwrap();
    assert_eq!(live, (through + 1..=last).collect::<Vec<_>>(), "no gap, no duplicate");
}

#[test]
fn a_catch_up_past_the_history_kept_answers_gap_with_the_oldest_seq() {
    let dir = TempDir::new("catchup-gap");
    let server = Server::start(dir.path(), &["--history-kept", "10"]);
    let (mut alice, mut bob, seen) = pair(&server);
    for n in 0..30 {
        add(&mut alice, n);
    }
    for action in ["subscribe", "history"] {
        let refused = bob.request(action, json!({"group": "g", "after": seen}));
        assert_eq!((refused["status"].clone(), refused["code"].clone()), (json!("error"), json!("gap")), "{refused}");
        let oldest = refused["oldest"].as_u64().unwrap();
        assert!(oldest > seen + 1 && oldest <= seen + 21, "{refused}");
        let resumed = ok(&bob.request(action, json!({"group": "g", "after": oldest - 1, "limit": 500}))).clone();
        let list = resumed[if action == "subscribe" { "events" } else { "history" }].as_array().unwrap().clone();
        assert_eq!(seqs(&list), (oldest..=seen + 30).collect::<Vec<_>>());
    }
    let current = ok(&bob.request("view_balances", json!({"group": "g"})))["seq"].as_u64().unwrap();
    assert_eq!(current, seen + 30, "a reload gives the seq to continue from");
    let none = ok(&bob.request("subscribe", json!({"group": "g", "after": current}))).clone();
    assert_eq!(none["events"], json!([]));
}

#[test]
fn two_members_editing_the_same_version_one_wins_the_other_gets_conflict_and_the_current_one() {
    let dir = TempDir::new("versions");
    let server = Server::start(dir.path(), &[]);
    let (mut alice, mut bob, _) = pair(&server);
    let id = add(&mut alice, 9);
    let seen = ok(&bob.request("view_transactions", json!({"group": "g"})))["transactions"][0]["version"].clone();
    assert_eq!(seen, 1);
    let edit = |amount: u64| json!({"group": "g", "id": id, "version": seen, "amount": amount});
    // Both send at once, each from version 1.
    alice.send_raw(&common::request_frame("edit_transaction", edit(11)));
    bob.send_raw(&common::request_frame("edit_transaction", edit(12)));
    let (a, b) = (alice.reply(), bob.reply());
    let (won, lost) = if a["status"] == "ok" { (a, b) } else { (b, a) };
    assert_eq!(won["transaction"]["version"], 2, "{won}");
    assert_eq!((lost["code"].clone(), lost["transaction"].clone()), (json!("conflict"), won["transaction"].clone()));
    // A delete from the stale screen changes nothing.
    let refused = bob.request("delete_transaction", json!({"group": "g", "id": id, "version": 1}));
    assert_eq!(refused["code"], "conflict", "{refused}");
    let after = ok(&bob.request("view_transactions", json!({"group": "g"}))).clone();
    assert_eq!(after["transactions"].as_array().unwrap().len(), 1);
    assert_eq!(after["transactions"][0], won["transaction"]);
}
