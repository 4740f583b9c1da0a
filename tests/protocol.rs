//! The original protocol over real TCP against the real binary: every action's replies, framing,
//! pipelining, `id` echo, and notifications.

mod common;

use std::time::Duration;

use common::{ok, Server, TempDir};
use serde_json::{json, Value};

#[test]
fn a_session_like_the_original_clients() {
    let dir = TempDir::new("session");
    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    let mut bob = server.connect();

    assert_eq!(alice.request("list_groups", json!({}))["message"], "Not authenticated");
    let signup = alice.request("signup", json!({"username": "alice", "password": "alice-pw-1"}));
    assert_eq!(signup, json!({"status": "ok", "message": "Signup successful"}));
    let again = alice.request("signup", json!({"username": "alice", "password": "alice-pw-2"}));
    assert_eq!(again["message"], "Username already exists");
    assert_eq!(again["code"], "user_exists");
    let wrong = alice.request("login", json!({"username": "alice", "password": "nope-nope"}));
    assert_eq!(wrong["message"], "Invalid credentials");
    ok(&alice.request("login", json!({"username": "alice", "password": "alice-pw-1"})));
    bob.login_as("bob");

    assert_eq!(
        alice.request("create_group", json!({"group": "trip", "password": ""}))["message"],
        "Group created successfully"
    );
    assert_eq!(
        bob.request("create_group", json!({"group": "trip", "password": ""}))["message"],
        "Group already exists"
    );
    assert_eq!(bob.request("view_balances", json!({"group": "trip"}))["message"], "Not a member of this group");
    assert_eq!(bob.request("join_group", json!({"group": "nope"}))["message"], "Group not found");
    assert_eq!(bob.request("join_group", json!({"group": "trip"}))["message"], "Joined group");
    assert_eq!(alice.pushed_message()["event"], "member_joined");
    assert_eq!(bob.request("join_group", json!({"group": "trip"}))["message"], "Joined group");

    // `list_groups` is sent with no data at all by the original client.
    alice.send_raw(b"{\"action\": \"list_groups\"}\n");
    assert_eq!(alice.reply(), json!({"status": "ok", "groups": ["trip"]}));
    assert_eq!(alice.request("get_group_members", json!({"group": "trip"}))["members"], json!(["alice", "bob"]));

    let added = alice.request(
        "add_transaction",
        json!({"group": "trip", "amount": 100, "description": "dinner", "split_between": ["bob"], "include_payer": true}),
    );
    assert_eq!(added["message"], "Transaction added");
    assert_eq!(
        bob.request("add_transaction", json!({"group": "trip", "amount": 5, "split_between": ["carol"]}))["message"],
        "carol not in group"
    );
    let list = bob.request("view_transactions", json!({"group": "trip"}));
    let txn = &list["transactions"][0];
    assert_eq!(
        (&txn["payer"], &txn["description"], &txn["include_payer"]),
        (&json!("alice"), &json!("dinner"), &json!(true))
    );
    assert_eq!(txn["split_between"], json!(["bob"]));
    assert_eq!(txn["amount"].to_string(), "100.00");

    let balances = bob.request("view_balances", json!({"group": "trip"}));
    assert_eq!(balances["balances"]["alice"].to_string(), "50.00");
    assert_eq!(balances["balances"]["bob"].to_string(), "-50.00");
    let settle = bob.request("settle", json!({"group": "trip"}));
    // Amounts are JSON numbers written with exactly two decimals.
    assert_eq!(settle["settlements"].to_string(), r#"[{"amount":50.00,"from":"bob","to":"alice"}]"#);
    assert_eq!(settle["transfers"], 1);

    assert_eq!(alice.request("delete_transaction", json!({"group": "trip", "index": 5}))["message"], "Invalid index");
    assert_eq!(
        alice.request("delete_transaction", json!({"group": "trip", "index": 0}))["message"],
        "Transaction deleted"
    );
    let settle = bob.request("settle", json!({"group": "trip"}));
    assert_eq!(settle["settlements"], json!([]));
    assert_eq!(alice.request("logout", json!({}))["message"], "Logged out");
    assert_eq!(alice.request("view_balances", json!({"group": "trip"}))["message"], "Not authenticated");
}

#[test]
fn notifications_reach_other_members_but_not_the_actor() {
    let dir = TempDir::new("notify");
    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    let mut bob_phone = server.connect();
    let mut bob_laptop = server.connect();
    let mut carol = server.connect();
    alice.login_as("alice");
    bob_phone.login_as("bob");
    bob_laptop.login_as("bob");
    carol.login_as("carol");
    ok(&alice.request("create_group", json!({"group": "flat"})));
    ok(&bob_phone.request("join_group", json!({"group": "flat"})));
    // alice hears bob joining; bob's other connection also hears it; the joining connection does not.
    assert_eq!(alice.pushed_message()["member"], "bob");
    assert_eq!(bob_laptop.pushed_message()["event"], "member_joined");

    ok(&bob_phone.request("add_transaction", json!({"group": "flat", "amount": "12.30", "split_between": ["alice"]})));
    for client in [&mut alice, &mut bob_laptop] {
        let push = client.pushed_message();
        assert_eq!(push["type"], "notification");
        assert_eq!(push["event"], "transaction_added");
        assert_eq!(push["group"], "flat");
        assert_eq!(push["message"], "bob added ₹12.30 expense");
        assert_eq!(push["transaction"]["amount"].to_string(), "12.30");
    }
    assert!(bob_phone.silent_for(Duration::from_millis(200)), "the actor's connection gets no notification");
    assert!(carol.silent_for(Duration::from_millis(200)), "a non-member gets no notification");

    ok(&alice.request("settle", json!({"group": "flat"})));
    for client in [&mut bob_phone, &mut bob_laptop] {
        let push = client.pushed_message();
        assert_eq!(push["type"], "settlement");
        assert_eq!(push["data"].to_string(), r#"[{"amount":12.30,"from":"alice","to":"bob"}]"#);
    }
    ok(&alice.request("delete_transaction", json!({"group": "flat", "id": 1})));
    assert_eq!(bob_phone.pushed_message()["event"], "transaction_deleted");
    // Every reply lacks `type`; every pushed message has it (checked by the client's split).
    assert!(alice.pushed.iter().chain(&bob_phone.pushed).all(|m| m.get("type").is_some()));
}

#[test]
fn pipelined_requests_answer_in_order_and_echo_ids() {
    let dir = TempDir::new("pipeline");
    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    alice.login_as("alice");
    ok(&alice.request("create_group", json!({"group": "g"})));
    let mut batch = String::new();
    for i in 0..200 {
        batch.push_str(&json!({"action": "add_transaction", "id": i, "data": {"group": "g", "amount": 1, "split_between": [], "include_payer": true}}).to_string());
        batch.push('\n');
        batch.push_str(&json!({"action": "view_balances", "id": format!("b{i}"), "data": {"group": "g"}}).to_string());
        batch.push_str("\r\n");
    }
    alice.send_raw(batch.as_bytes());
    for i in 0..200 {
        let add = alice.reply();
        assert_eq!(add["id"], i);
        assert_eq!(add["transaction"]["id"], i + 1);
        let view = alice.reply();
        assert_eq!(view["id"], json!(format!("b{i}")));
        assert_eq!(view["status"], "ok");
    }
}

#[test]
fn one_request_split_across_many_writes() {
    let dir = TempDir::new("split");
    let server = Server::start(dir.path(), &[]);
    let mut client = server.connect();
    client.stream.set_nodelay(true).unwrap();
    let frame = b"{\"action\": \"signup\", \"id\": \"x\", \"data\": {\"username\": \"slowpoke\", \"password\": \"pw-slow-1\"}}\n";
    for chunk in frame.chunks(3) {
        client.send_raw(chunk);
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(client.reply(), json!({"status": "ok", "message": "Signup successful", "id": "x"}));
}

#[test]
fn bad_input_gets_errors_and_the_connection_stays_usable() {
    let dir = TempDir::new("bad");
    let server = Server::start(dir.path(), &["--max-frame-bytes", "1024"]);
    let mut client = server.connect();
    let cases: [(&[u8], &str); 8] = [
        (b"not json\n", "bad_json"),
        (b"[1,2,3]\n", "bad_json"),
        (b"\n", "bad_json"),
        (b"\xff\xfe\x00\n", "bad_json"),
        (b"{\"action\":\"frobnicate\"}\n", "unknown_action"),
        (b"{\"action\":\"login\"}\n", "bad_request"),
        (b"{\"action\":\"login\",\"data\":{\"username\":5,\"password\":\"x\"}}\n", "bad_request"),
        (
            b"{\"action\":\"signup\",\"data\":{\"username\":\"a\",\"password\":\"xxxxxxxx\",\"admin\":true}}\n",
            "bad_request",
        ),
    ];
    for (frame, code) in cases {
        client.send_raw(frame);
        let reply = client.reply();
        assert_eq!(reply["status"], "error", "{:?}", String::from_utf8_lossy(frame));
        assert_eq!(reply["code"], code, "{:?}: {reply}", String::from_utf8_lossy(frame));
    }
    let deep = format!("{}\n", "[".repeat(900));
    client.send_raw(deep.as_bytes());
    assert_eq!(client.reply()["code"], "bad_json");
    // Still usable.
    client.login_as("survivor");

    // Over the frame limit: an error, then the server closes this connection only.
    let mut big = server.connect();
    big.send_raw(&vec![b'x'; 5000]);
    let reply = big.reply();
    assert_eq!(reply["code"], "frame_too_long");
    assert!(big.read_message().is_none(), "closed after a too-long frame");
    let mut other = server.connect();
    other.login_as("other");

    // A half frame then EOF: never executed.
    let mut half = server.connect();
    half.send_raw(b"{\"action\":\"signup\",\"data\":{\"username\":\"ghost\",\"password\":\"pw-ghost-1\"}");
    half.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(half.read_message().is_none());
    let taken = other.request("signup", json!({"username": "ghost", "password": "pw-ghost-1"}));
    assert_eq!(taken["message"], "Signup successful", "the half frame must not have signed up ghost");
}

#[test]
fn requests_before_eof_are_still_answered() {
    let dir = TempDir::new("eof");
    let server = Server::start(dir.path(), &[]);
    let mut client = server.connect();
    client.send_raw(b"{\"action\":\"signup\",\"data\":{\"username\":\"last\",\"password\":\"pw-last-1\"}}\n{\"action\":\"list_groups\"}\n");
    client.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(client.reply()["message"], "Signup successful");
    assert_eq!(client.reply()["message"], "Not authenticated");
    assert!(client.read_message().is_none());
}

#[test]
fn sigterm_exits_cleanly_with_replies_flushed() {
    let dir = TempDir::new("sigterm");
    let server = Server::start(dir.path(), &[]);
    let mut client = server.connect();
    client.login_as("alice");
    assert_eq!(server.terminate(), Some(0));
    let _: Option<Value> = client.read_message();
}

#[test]
fn a_short_group_password_works_as_in_the_original() {
    let dir = TempDir::new("short-group-password");
    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    let mut bob = server.connect();
    alice.login_as("alice");
    bob.login_as("bob");
    // The original took a group password of any length; its client sends what was typed.
    let created = alice.request("create_group", json!({"group": "goa", "password": "sea"}));
    assert_eq!(created["message"], "Group created successfully", "{created}");
    assert_eq!(
        bob.request("join_group", json!({"group": "goa", "password": "sun"}))["message"],
        "Invalid group password"
    );
    assert_eq!(bob.request("join_group", json!({"group": "goa", "password": "sea"}))["message"], "Joined group");
    let long = alice.request("set_group_password", json!({"group": "goa", "password": "p".repeat(1025)}));
    assert_eq!(long["message"], "Field 'password' must be at most 1024 bytes long", "{long}");
}

/// A frame that repeats a key says two things; serde_json's map kept the last (`"amount":1,
/// "amount":999` recorded 999.00, `"group":"nope","group":"trip"` acted on trip). Each is refused,
/// naming the key, and nothing is recorded.
#[test]
fn a_repeated_key_is_refused_and_changes_nothing() {
    let dir = TempDir::new("repeated");
    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    alice.login_as("alice");
    ok(&alice.request("create_group", json!({"group": "trip"})));
    let frames: [(&str, &str); 7] = [
        (
            r#"{"action":"add_transaction","data":{"group":"trip","amount":1,"amount":999,"split_between":["alice"]}}"#,
            "amount",
        ),
        (
            r#"{"action":"add_transaction","data":{"group":"nope","group":"trip","amount":1,"split_between":["alice"]}}"#,
            "group",
        ),
        (
            r#"{"action":"add_transaction","data":{"group":"trip","amount":1,"split_between":["alice"]},"action":"settle"}"#,
            "action",
        ),
        (
            r#"{"action":"add_transaction","data":{"group":"trip","amount":2,"split":{"mode":"exact","amounts":{"alice":1,"alice":2}}}}"#,
            "split.amounts.alice",
        ),
        (
            r#"{"action":"add_transaction","data":{"group":"trip","amount":2,"split_between":["alice"],"paid_by":{"alice":2,"alice":2}}}"#,
            "paid_by.alice",
        ),
        (r#"{"action":"view_balances","data":{"group":"nope","\u0067roup":"trip"}}"#, "group"),
        (r#"{"action":"record_payment","data":{"group":"trip","to":"alice","amount":5,"amount":500}}"#, "amount"),
    ];
    for (frame, field) in frames {
        alice.send_raw(format!("{frame}\n").as_bytes());
        let reply = alice.reply();
        assert_eq!(reply["code"], "bad_request", "{frame}: {reply}");
        assert_eq!(reply["message"], format!("Duplicate field '{field}'"), "{frame}: {reply}");
    }
    // The id is echoed, as on any error, unless it is what repeats.
    alice.send_raw(b"{\"action\":\"list_groups\",\"action\":\"logout\",\"id\":\"q\"}\n");
    assert_eq!(alice.reply()["id"], "q");
    alice.send_raw(b"{\"action\":\"list_groups\",\"id\":1,\"id\":2}\n");
    let reply = alice.reply();
    assert_eq!((reply["message"].as_str(), reply.get("id")), (Some("Duplicate field 'id'"), None), "{reply}");
    assert_eq!(ok(&alice.request("view_transactions", json!({"group": "trip"})))["transactions"], json!([]));
    assert_eq!(ok(&alice.request("view_payments", json!({"group": "trip"})))["payments"], json!([]));
}

/// One grammar for an amount, the text of a JSON number: each lenient string the server once took
/// is refused, saying what to write; JSON numbers and strict strings are taken as before.
#[test]
fn lenient_amount_strings_are_refused() {
    let dir = TempDir::new("lenient");
    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    alice.login_as("alice");
    ok(&alice.request("create_group", json!({"group": "trip"})));
    let add = |amount: Value| json!({"group": "trip", "amount": amount, "split_between": ["alice"]});
    for (amount, hint) in [
        (" 1", "write 1 (no spaces)"),
        ("1 ", "write 1 (no spaces)"),
        ("\u{a0}1", "write 1 (no spaces)"),
        ("+1", "write 1 (no plus sign)"),
        ("007", "write 7 (no leading zeros)"),
        ("1.", "write 1 (digits after the point, or no point)"),
        (".5", "write 0.5 (a digit before the point)"),
        ("12,50", "write 12.50 (a point, not a comma)"),
    ] {
        let reply = alice.request("add_transaction", add(json!(amount)));
        assert_eq!(reply["code"], "bad_request", "{amount:?}: {reply}");
        assert_eq!(reply["message"], format!("Field 'amount' must be a decimal number: {hint}"), "{amount:?}: {reply}");
    }
    let reply = alice.request("add_transaction", add(json!("-1")));
    assert_eq!(reply["message"], "Field 'amount' must be greater than zero", "{reply}");
    assert_eq!(ok(&alice.request("view_transactions", json!({"group": "trip"})))["transactions"], json!([]));
    // As before: JSON numbers (the exponent form too, sent as its text) and strings in the grammar.
    for (frame_amount, cents) in [("1e3", 100_000), ("1.25e1", 1250), ("\"1E+2\"", 10_000), ("\"12.50\"", 1250)] {
        let frame = format!(
            "{{\"action\":\"add_transaction\",\"data\":{{\"group\":\"trip\",\"amount\":{frame_amount},\"split_between\":[\"alice\"]}}}}\n"
        );
        alice.send_raw(frame.as_bytes());
        let reply = alice.reply();
        assert_eq!(common::cents(&ok(&reply)["transaction"]["amount"]), cents, "{frame_amount}: {reply}");
    }
}
