//! Display safety over real TCP against the real binary: group names that look like another group's
//! are refused (trailing spaces, zero-width characters, other scripts' look-alike letters, another
//! Unicode normalisation form), as are names and descriptions holding terminal escapes, bidi
//! overrides or invisible characters; and data written before these rules still loads, from the log
//! and from a snapshot, and stays usable.

mod common;

use std::path::Path;

use common::{ok, Client, Server, TempDir};
use serde_json::{json, Value};
use splitd::config::FsyncPolicy;
use splitd::machine::{Record, Split, Transaction};
use splitd::money::Cents;
use splitd::store::Store;

fn refused(reply: &Value, code: &str, message: &str) {
    assert_eq!(reply["status"], "error", "{reply}");
    assert_eq!(reply["code"], code, "{reply}");
    assert_eq!(reply["message"], message, "{reply}");
}

fn groups_of(client: &mut Client) -> Vec<String> {
    let reply = ok(&client.request("list_groups", json!({}))).clone();
    reply["groups"].as_array().unwrap().iter().map(|g| g.as_str().unwrap().to_string()).collect()
}

#[test]
fn look_alike_group_names_are_refused() {
    let dir = TempDir::new("names-lookalike");
    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    let mut mallory = server.connect();
    alice.login_as("alice");
    mallory.login_as("mallory");
    ok(&alice.request("create_group", json!({"group": "trip"})));
    ok(&alice.request("create_group", json!({"group": "café"})));

    let exists = "Group already exists";
    let looks_the_same = "A group with a name that looks the same already exists";
    // Edge whitespace is trimmed, so these are `trip` itself.
    refused(&mallory.request("create_group", json!({"group": "trip "})), "group_exists", exists);
    refused(&mallory.request("create_group", json!({"group": "\u{a0}trip"})), "group_exists", exists);
    // NFD `cafe` + COMBINING ACUTE ACCENT is `café` once normalised (NFC).
    refused(&mallory.request("create_group", json!({"group": "cafe\u{301}"})), "group_exists", exists);
    // Cyrillic і (U+0456), a fullwidth ｒ, and `rn` for `m`: different characters, same skeleton.
    refused(&mallory.request("create_group", json!({"group": "tr\u{456}p"})), "group_exists", looks_the_same);
    refused(&mallory.request("create_group", json!({"group": "t\u{ff52}ip"})), "group_exists", looks_the_same);
    ok(&alice.request("create_group", json!({"group": "team"})));
    refused(&mallory.request("create_group", json!({"group": "tearn"})), "group_exists", looks_the_same);
    // Characters that are not shown, or that change what is shown, are refused outright.
    let bad = |field: &str, what: &str, code: u32, at: usize| {
        format!("Field '{field}' must not contain {what} (U+{code:04X} at position {at})")
    };
    refused(
        &mallory.request("create_group", json!({"group": "tr\u{200b}ip"})),
        "bad_request",
        &bad("group", "invisible format characters", 0x200B, 3),
    );
    refused(
        &mallory.request("create_group", json!({"group": "trip\u{1b}]0;pwned\u{7}\u{1b}[2J"})),
        "bad_request",
        &bad("group", "control characters", 0x1B, 5),
    );
    refused(
        &mallory.request("create_group", json!({"group": "\u{202e}pirt"})),
        "bad_request",
        &bad("group", "bidirectional controls", 0x202E, 1),
    );
    refused(
        &mallory.request("create_group", json!({"group": "trip\n"})),
        "bad_request",
        &bad("group", "control characters", 0x0A, 5),
    );
    refused(
        &mallory.request("create_group", json!({"group": "a\u{200d}b"})),
        "bad_request",
        &bad("group", "invisible format characters", 0x200D, 2),
    );
    refused(
        &mallory.request("create_group", json!({"group": "x\u{e000}"})),
        "bad_request",
        &bad("group", "private-use characters", 0xE000, 2),
    );
    // A name of nothing visible: only spaces, or only a HANGUL FILLER (a letter that draws nothing).
    let empty = "Field 'group' must be 1-64 printable characters";
    refused(&mallory.request("create_group", json!({"group": "   "})), "bad_request", empty);
    refused(&mallory.request("create_group", json!({"group": "\u{3164}"})), "bad_request", empty);
    assert!(groups_of(&mut mallory).is_empty(), "nothing was created");

    // Case is visible, so `Trip` is another group; a name is stored as normalised and trimmed.
    ok(&mallory.request("create_group", json!({"group": "Trip"})));
    ok(&mallory.request("create_group", json!({"group": "  goa\u{3000}"})));
    ok(&mallory.request("create_group", json!({"group": "Cre\u{300}me"})));
    assert_eq!(groups_of(&mut mallory), ["Trip", "goa", "Crème"]);
    // Looked up the same way: what the user typed reaches the group it made.
    ok(&mallory.request("view_balances", json!({"group": "goa "})));
    ok(&mallory.request("view_balances", json!({"group": "Cre\u{300}me"})));
    ok(&alice.request("join_group", json!({"group": "  goa"})));
    assert_eq!(groups_of(&mut alice), ["trip", "café", "team", "goa"]);
}

#[test]
fn descriptions_with_escapes_bidi_or_invisible_characters_are_refused() {
    let dir = TempDir::new("names-desc");
    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    let mut bob = server.connect();
    alice.login_as("alice");
    bob.login_as("bob");
    ok(&alice.request("create_group", json!({"group": "trip"})));
    ok(&bob.request("join_group", json!({"group": "trip"})));
    let _ = alice.pushed_message();

    let add = |client: &mut Client, description: &str| {
        client.request(
            "add_transaction",
            json!({"group": "trip", "amount": 10, "description": description, "split_between": ["bob"]}),
        )
    };
    let bad = |what: &str, code: u32, at: usize| {
        format!("Field 'description' must not contain {what} (U+{code:04X} at position {at})")
    };
    refused(&add(&mut alice, "\u{1b}]0;pwned\u{7}\u{1b}[2J"), "bad_request", &bad("control characters", 0x1B, 1));
    refused(&add(&mut alice, "x\u{9b}2J"), "bad_request", &bad("control characters", 0x9B, 2));
    refused(&add(&mut alice, "two\nlines"), "bad_request", &bad("control characters", 0x0A, 4));
    refused(&add(&mut alice, "tab\there"), "bad_request", &bad("control characters", 0x09, 4));
    refused(&add(&mut alice, "invoice\u{202e}gpj.exe"), "bad_request", &bad("bidirectional controls", 0x202E, 8));
    refused(&add(&mut alice, "\u{2066}x\u{2069}"), "bad_request", &bad("bidirectional controls", 0x2066, 1));
    refused(&add(&mut alice, "pa\u{200b}id"), "bad_request", &bad("invisible format characters", 0x200B, 3));
    refused(&add(&mut alice, "a\u{2028}b"), "bad_request", &bad("line or paragraph separators", 0x2028, 2));
    let reply = ok(&alice.request("view_transactions", json!({"group": "trip"}))).clone();
    assert_eq!(reply["transactions"], json!([]), "nothing refused was added");
    assert!(bob.silent_for(std::time::Duration::from_millis(100)), "and nobody was notified");

    // Ordinary text of any script, emoji sequences (joined by ZWJ) and Persian's ZWNJ are fine.
    let fine = "Café ☕ 👨\u{200d}👩\u{200d}👧 می\u{200c}خواهم";
    let added = ok(&add(&mut alice, fine)).clone();
    assert_eq!(added["transaction"]["description"], fine);
    let id = added["transaction"]["id"].clone();
    let edit = |description: &str| json!({"group": "trip", "id": id, "description": description});
    refused(&alice.request("edit_transaction", edit("\u{1b}[2J")), "bad_request", &bad("control characters", 0x1B, 1));
    let reply = ok(&alice.request("view_transactions", json!({"group": "trip"}))).clone();
    assert_eq!(reply["transactions"][0]["description"], fine, "the refused edit changed nothing");
}

/// Appends `records` to the log in `dir` after what is there, as a server from before these rules
/// would have written them (the server must be stopped).
fn append_old_records(dir: &Path, records: &[Record]) {
    // The store writes what it is given: it knows records, not the rules of new requests.
    let mut opened = Store::open(dir, FsyncPolicy::Always, u64::MAX).expect("open the store");
    opened.store.append(records);
    opened.store.commit().expect("commit old records");
}

fn old_transaction(id: u64, payer: u32, other: u32, description: &str) -> Transaction {
    Transaction {
        id,
        payer,
        amount: Cents(1000),
        description: description.to_string(),
        split_between: vec![other],
        include_payer: false,
        paid: vec![(payer, Cents(1000))],
        owed: vec![(other, Cents(1000))],
        created_at: 2,
        split: Split::Equal,
        date: None,
        key: None,
        version: 1,
        foreign: None,
        category: None,
        rule: None,
    }
}

#[test]
fn names_and_descriptions_from_before_the_rules_still_load_and_work() {
    let dir = TempDir::new("names-old");
    let mut server = Server::start(dir.path(), &[]);
    for name in ["alice", "bob"] {
        server.connect().login_as(name);
    }
    server.stop();
    // Old data the new rules would refuse: names that look alike (and one that is only invisible
    // characters away from another), an untrimmed name, escapes in a name and in a description.
    let names = ["tr\u{200b}ip", "trip", "trip ", "\u{1b}]0;pwned\u{7}evil", "cafe\u{301}"];
    let mut records: Vec<Record> = names
        .iter()
        .enumerate()
        .map(|(group, name)| Record::GroupCreated {
            group: group as u32,
            name: name.to_string(),
            creator: 0,
            password_hash: None,
            at: 1,
            seq: None,
        })
        .collect();
    records.push(Record::MemberJoined { group: 0, user: 1, at: 1, seq: None });
    let escape = "\u{1b}[2J\u{202e}gnp.exe";
    records.push(Record::TransactionAdded { group: 0, txn: old_transaction(1, 0, 1, escape), seq: None });
    append_old_records(dir.path(), &records);

    for round in ["log replay", "snapshot"] {
        let server = Server::start(dir.path(), &[]);
        let mut alice = server.connect();
        alice.login_as("alice");
        assert_eq!(groups_of(&mut alice), names, "{round}");
        // Each old group is reached by its exact name, the old text is kept, and it is still usable.
        let reply = ok(&alice.request("view_transactions", json!({"group": "tr\u{200b}ip"}))).clone();
        assert_eq!(reply["transactions"][0]["description"], escape, "{round}");
        ok(&alice.request("view_balances", json!({"group": "\u{1b}]0;pwned\u{7}evil"})));
        ok(&alice.request("view_balances", json!({"group": "trip "})));
        // The NFD name is reached by its NFC spelling too.
        ok(&alice.request("view_balances", json!({"group": "caf\u{e9}"})));
        if round == "log replay" {
            // An edit that leaves the old description alone is accepted; so is a new clean one.
            let reply = alice.request("edit_transaction", json!({"group": "tr\u{200b}ip", "id": 1, "amount": 20}));
            assert_eq!(ok(&reply)["transaction"]["description"], escape);
            let add = json!({"group": "trip", "amount": 5, "description": "ok", "split_between": ["alice"]});
            ok(&alice.request("add_transaction", add));
            // New names are still checked against the old ones.
            let reply = alice.request("create_group", json!({"group": "tr\u{456}p"}));
            assert_eq!(reply["code"], "group_exists", "{reply}");
        }
        // SIGTERM writes a snapshot: the second round loads the old names from it.
        assert_eq!(server.terminate(), Some(0));
    }
}
