//! End-to-end tests: the real `splitd` binary and the real `splitc` binary, talking over TCP (the
//! harness is `common/`).

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vocab::{Action, Code};
// ---------------------------------------------------------------------------------------------
// One-shot subcommands

#[test]
fn signup_login_and_errors_have_their_exit_codes() {
    let server = Server::start();
    let run = as_user(&server, "alice", &["signup"]).ok();
    assert_eq!(run.stdout.trim(), "Signup successful");
    let run = as_user(&server, "bob", &["signup", "--json"]).ok();
    assert_eq!(run.json()["status"], "ok");
    assert_eq!(run.json()["message"], "Signup successful");
    assert!(run.json().get("id").is_none(), "splitc's request id is not shown");

    // The server says error: exit 1, its message on stderr.
    let run = as_user(&server, "alice", &["signup"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("Username already exists"), "{run:?}");
    let run = splitc(&["--server", &server.addr, "--user", "alice", "groups"], Some("wrong-password"), "");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("Invalid credentials"), "{run:?}");
    let run = as_user(&server, "alice", &["members", "nowhere"]);
    assert_eq!(run.code, 1, "{run:?}");

    // The password from stdin.
    let run =
        splitc(&["--server", &server.addr, "--user", "alice", "--password-stdin", "groups"], None, "pw-alice-long\n");
    assert_eq!(run.code, 0, "{run:?}");

    // Usage: exit 2, before any connection.
    for args in [
        vec!["groups"],                                                      // no --user
        vec!["--user", "alice", "frobnicate"],                               // no such subcommand
        vec!["--user", "alice", "add", "trip", "12.3456", "--split", "bob"], // finer than any currency
        vec!["--user", "alice", "add", "trip", "ten"],                       // not a number
        vec!["--user", "alice", "export", "trip", "--format", "xml"],        // no such format
        vec!["--user", "alice", "delete", "trip", "seven"],                  // not an id
        vec!["--user", "alice", "settle", "trip", "--method", "fastest"],    // no such method
    ] {
        let mut full = vec!["--server", server.addr.as_str()];
        full.extend(args.iter().copied());
        let run = splitc(&full, Some("pw-alice-long"), "");
        assert_eq!(run.code, 2, "{full:?}: {run:?}");
    }
    // No password (and no stored token: bob never logged in) and no terminal: usage, not a hang.
    let run = splitc(&["--server", &server.addr, "--user", "bob", "groups"], None, "");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("SPLITC_PASSWORD"), "{run:?}");

    // Cannot connect: exit 3, with the address and the reason in words.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let run = splitc(&["--server", &closed, "--user", "alice", "groups"], Some("pw-alice-long"), "");
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains(&closed) && run.stderr.to_lowercase().contains("refused"), "{run:?}");
}

#[test]
fn groups_members_add_transactions_balances_settle_export_delete() {
    let server = trip_with_three();

    let run = as_user(&server, "bob", &["groups"]).ok();
    assert_eq!(run.stdout, "GROUP\n-----\ntrip\n");
    assert_eq!(as_user(&server, "bob", &["groups", "--json"]).ok().json()["groups"], serde_json::json!(["trip"]));
    let run = as_user(&server, "carol", &["members", "trip"]).ok();
    assert_eq!(run.stdout, "MEMBER\n------\nalice\nbob\ncarol\n");
    let members = as_user(&server, "carol", &["members", "trip", "--json"]).ok().json();
    assert_eq!(members["members"], serde_json::json!(["alice", "bob", "carol"]));
    let run = as_user(&server, "carol", &["create-group", "trip"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("Group already exists"), "{run:?}");

    // alice pays 90 for all three; bob pays 1000.5 for carol (with an awkward description).
    let run =
        as_user(&server, "alice", &["add", "trip", "90", "--split", "bob,carol", "--include-me", "--desc", "dinner"])
            .ok();
    assert!(run.stdout.starts_with("Transaction added\n"), "{run:?}");
    assert!(run.stdout.contains("AMOUNT (INR)"), "the currency is shown: {}", run.stdout);
    assert!(run.stdout.contains("alice         90.00  dinner       bob, carol + payer"), "{}", run.stdout);
    let added = as_user(
        &server,
        "bob",
        &["add", "trip", "1000.50", "--split", "carol", "--desc", "hotel, \"deluxe\"", "--json"],
    )
    .ok()
    .json();
    assert_eq!(added["message"], "Transaction added");
    assert_eq!(cents(&added["transaction"]["amount"]), 100050);
    let hotel_id = added["transaction"]["id"].as_u64().expect("transaction id");

    let run = as_user(&server, "carol", &["transactions", "trip"]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", run.stdout);
    assert!(lines[0].starts_with("ID") && lines[0].contains("PAYER") && lines[0].contains("AMOUNT"), "{}", run.stdout);
    // Amounts right-aligned: both end in the same column.
    let end = |line: &str, amount: &str| line.find(amount).map(|i| i + amount.len());
    assert_eq!(end(lines[2], "90.00"), end(lines[3], "1000.50"), "{}", run.stdout);
    let txns = as_user(&server, "carol", &["transactions", "trip", "--json"]).ok().json();
    let list = txns["transactions"].as_array().expect("transactions");
    assert_eq!(list.len(), 2);
    assert_eq!(list[1]["description"], "hotel, \"deluxe\"");

    // alice +60, bob -30 +1000.50, carol -30 -1000.50.
    let run = as_user(&server, "carol", &["balances", "trip"]).ok();
    assert_eq!(
        run.stdout,
        "MEMBER  BALANCE (INR)  STATUS\n\
         ------  -------------  -------\n\
         alice           60.00  is owed\n\
         bob            970.50  is owed\n\
         carol        -1030.50  owes\n"
    );
    let balances = as_user(&server, "carol", &["balances", "trip", "--json"]).ok().json();
    assert_eq!(cents(&balances["balances"]["carol"]), -103050);

    let run = as_user(&server, "alice", &["settle", "trip"]).ok();
    assert!(run.stdout.starts_with("FROM   TO     AMOUNT (INR)\n"), "{}", run.stdout);
    assert!(run.stdout.contains("carol  alice         60.00\n"), "{}", run.stdout);
    assert!(run.stdout.contains("carol  bob          970.50\n"), "{}", run.stdout);
    let settle = as_user(&server, "alice", &["settle", "trip", "--method", "greedy", "--json"]).ok().json();
    let transfers = settle["settlements"].as_array().expect("settlements");
    assert_eq!(transfers.len(), 2);
    assert_eq!(transfers.iter().map(|t| cents(&t["amount"])).sum::<i64>(), 103050);
    export_then_delete(&server, hotel_id);
}

/// The rest of the session above: export, delete by id, and an empty settlement.
fn export_then_delete(server: &Server, hotel_id: u64) {
    // Export: CSV with a header row and quoting; JSON as the list of transactions.
    let run = as_user(server, "alice", &["export", "trip"]).ok();
    let csv: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(csv[0], "id,created_at,payer,amount,description,split_between,include_payer,date,split,paid_by,shares");
    assert!(csv[1].contains(",alice,90.00,dinner,bob;carol,true,,equal,alice=90.00,"), "{}", run.stdout);
    assert!(csv[2].starts_with(&format!("{hotel_id},")), "{}", run.stdout);
    assert!(
        csv[2].ends_with(",bob,1000.50,\"hotel, \"\"deluxe\"\"\",carol,false,,equal,bob=1000.50,carol=1000.50"),
        "{}",
        run.stdout
    );
    let exported = as_user(server, "alice", &["export", "trip", "--format", "json"]).ok().json();
    assert_eq!(exported["transactions"].as_array().map(Vec::len), Some(2));
    assert_eq!(exported["payments"], serde_json::json!([]));
    assert_eq!(exported["currency"], "INR");

    // Delete by id; the same id again is an error.
    let id = hotel_id.to_string();
    let undo = format!("Transaction deleted\nUndo: splitc restore trip {id}\n");
    assert_eq!(as_user(server, "carol", &["delete", "trip", &id]).ok().stdout, undo);
    let run = as_user(server, "carol", &["delete", "trip", &id, "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(!run.stderr.is_empty());
    let txns = as_user(server, "carol", &["transactions", "trip", "--json"]).ok().json();
    assert_eq!(txns["transactions"].as_array().map(Vec::len), Some(1));

    // Nothing owed: an empty settlement is said in words.
    as_user(server, "bob", &["add", "trip", "30", "--split", "alice"]).ok();
    as_user(server, "carol", &["add", "trip", "30", "--split", "alice"]).ok();
    let run = as_user(server, "alice", &["settle", "trip"]).ok();
    assert!(run.stdout.starts_with("Nothing to settle"), "{}", run.stdout);
}

#[test]
fn group_passwords_come_from_the_flag() {
    let server = Server::start();
    for user in ["alice", "bob"] {
        as_user(&server, user, &["signup"]).ok();
    }
    let run = as_user(&server, "alice", &["create-group", "secret", "--group-password", "open-sesame", "--json"]).ok();
    assert_eq!(run.json()["message"], "Group created successfully");
    let run = as_user(&server, "bob", &["join", "secret", "--group-password", "wrong-group-pw"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("Invalid group password"), "{run:?}");
    let run = as_user(&server, "bob", &["join", "secret", "--group-password", "open-sesame"]).ok();
    assert_eq!(run.stdout, "Joined group\n");
}

#[test]
fn split_modes_payers_payments_history_edit_leave() {
    let server = trip_with_three();
    // Usage errors are caught before connecting.
    for args in [
        vec!["add", "trip", "10", "--split", "exact:bob"],
        vec!["add", "trip", "10", "--split", "percent:bob=101"],
        vec!["add", "trip", "10", "--split", "shares:bob=1.5"],
        vec!["add", "trip", "10", "--split", "thirds:bob=1"],
        vec!["add", "trip", "10", "--split", "all", "--include-me"],
        vec!["add", "trip", "10", "--split", "bob", "--paid-by", "alice"],
        vec!["add", "trip", "10", "--split", "bob", "--date", "2025-13-01"],
        vec!["edit", "trip", "1"],
        vec!["pay", "trip", "bob", "-5"],
        vec!["history", "trip", "--limit", "0"],
    ] {
        let mut full = vec!["--server", server.addr.as_str(), "--user", "alice"];
        full.extend(args.iter().copied());
        let run = splitc(&full, Some("pw-alice-long"), "");
        assert_eq!(run.code, 2, "{full:?}: {run:?}");
    }

    // 15 split exactly, 100 by percent and paid by bob and carol, 10 by shares.
    let run =
        as_user(&server, "alice", &["add", "trip", "15", "--split", "exact:bob=10.50,carol=4.50", "--desc", "snacks"])
            .ok();
    assert!(run.stdout.contains("bob 10.50, carol 4.50"), "{}", run.stdout);
    let added = as_user(
        &server,
        "alice",
        &[
            "add",
            "trip",
            "100",
            "--split",
            "percent:bob=60,carol=40",
            "--paid-by",
            "bob=70,carol=30",
            "--date",
            "2025-06-01",
            "--json",
        ],
    )
    .ok()
    .json();
    let hotel = added["transaction"]["id"].as_u64().expect("id");
    assert_eq!(cents(&added["transaction"]["paid_by"]["bob"]), 7000);
    assert_eq!(added["transaction"]["date"], "2025-06-01");
    as_user(&server, "bob", &["add", "trip", "10", "--split", "shares:alice=2,carol=1"]).ok();
    let balances = as_user(&server, "carol", &["balances", "trip", "--json"]).ok().json();
    // alice +15 -6.67; bob -10.50 +70 -60 +10; carol -4.50 +30 -40 -3.33.
    assert_eq!(cents(&balances["balances"]["alice"]), 833);
    assert_eq!(cents(&balances["balances"]["bob"]), 950);
    assert_eq!(cents(&balances["balances"]["carol"]), -1783);

    // A key makes a retried add happen once.
    let first =
        as_user(&server, "bob", &["add", "trip", "1", "--split", "alice", "--key", "retry-me", "--json"]).ok().json();
    let again =
        as_user(&server, "bob", &["add", "trip", "1", "--split", "alice", "--key", "retry-me", "--json"]).ok().json();
    assert_eq!(first["transaction"]["id"], again["transaction"]["id"]);
    assert_eq!(again["duplicate"], true);

    // Edit: only what is given changes.
    let id = hotel.to_string();
    let run = as_user(&server, "carol", &["edit", "trip", &id, "--amount", "120", "--paid-by", "bob=120"]).ok();
    assert!(run.stdout.starts_with("Transaction edited\n"), "{}", run.stdout);
    assert!(run.stdout.contains("bob 72.00, carol 48.00"), "{}", run.stdout);
    let run = as_user(&server, "carol", &["edit", "trip", "999", "--desc", "x"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("Transaction not found"), "{run:?}");
    payments_history_and_leave(&server);
}

/// The rest of the session above: payments, a recorded settlement, history, leaving.
fn payments_history_and_leave(server: &Server) {
    // Payments, then a recorded settlement.
    let run = as_user(server, "carol", &["pay", "trip", "bob", "20", "--date", "2025-06-02"]).ok();
    assert!(run.stdout.starts_with("Payment recorded\n"), "{}", run.stdout);
    assert!(run.stdout.contains("2025-06-02  carol  bob         20.00  carol"), "{}", run.stdout);
    as_user(server, "alice", &["pay", "trip", "bob", "1", "--from", "carol"]).ok();
    let run = as_user(server, "alice", &["payments", "trip"]).ok();
    assert_eq!(run.stdout.lines().count(), 4, "{}", run.stdout);
    let run = as_user(server, "alice", &["settle", "trip", "--record"]).ok();
    assert!(run.stdout.contains("Recorded 2 payments: ids 3, 4"), "{}", run.stdout);
    let run = as_user(server, "alice", &["settle", "trip"]).ok();
    assert!(run.stdout.starts_with("Nothing to settle"), "{}", run.stdout);
    let undo = "Payment deleted\nUndo: splitc restore-payment trip 4\n";
    assert_eq!(as_user(server, "alice", &["delete-payment", "trip", "4"]).ok().stdout, undo);
    let csv = as_user(server, "alice", &["export", "trip", "--payments"]).ok().stdout;
    assert!(csv.starts_with("id,created_at,date,from,to,amount,by\n1,"), "{csv}");
    assert_eq!(csv.lines().count(), 4, "{csv}");

    // History, newest first, with paging.
    let run = as_user(server, "bob", &["history", "trip", "--limit", "3"]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("ID") && lines[0].contains("WHAT"), "{}", run.stdout);
    assert!(lines[2].contains("alice deleted the payment"), "{}", run.stdout);
    assert!(lines[3].contains("recorded the settlement of trip: 2 payments"), "{}", run.stdout);
    assert!(run.stdout.contains("(older entries: --before"), "{}", run.stdout);
    let json = as_user(server, "bob", &["history", "trip", "--json"]).ok().json();
    assert_eq!(json["history"][0]["event"], "payment_deleted");

    // Leave: refused with a balance, fine at zero.
    let balances = as_user(server, "carol", &["balances", "trip", "--json"]).ok().json();
    let run = as_user(server, "dave", &["signup"]).ok();
    assert_eq!(run.code, 0);
    as_user(server, "dave", &["join", "trip"]).ok();
    assert_eq!(as_user(server, "dave", &["leave", "trip"]).ok().stdout, "Left group\n");
    if cents(&balances["balances"]["carol"]) != 0 {
        let run = as_user(server, "carol", &["leave", "trip"]);
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.stderr.contains("Settle your balance before leaving"), "{run:?}");
    }
    let members = as_user(server, "alice", &["members", "trip", "--json"]).ok().json();
    assert_eq!(members["members"], serde_json::json!(["alice", "bob", "carol"]));
}

// ---------------------------------------------------------------------------------------------
// watch

#[test]
fn watch_prints_notifications_caused_by_other_clients() {
    let server = trip_with_three();
    let addr = server.addr.clone();
    let human = Live::start(&["--server", &addr, "--user", "alice", "watch", "trip"], Some("pw-alice-long"));
    let json = Live::start(&["--server", &addr, "--user", "carol", "watch", "trip", "--json"], Some("pw-carol-long"));
    human.wait_for("watching trip", 1, true);
    json.wait_for("watching trip", 1, true);

    as_user(&server, "bob", &["add", "trip", "42", "--split", "alice,carol", "--desc", "fuel"]).ok();
    human.wait_for("\n", 1, false);
    json.wait_for("\n", 1, false);
    let line = human.stdout();
    assert!(line.starts_with("🔔 [trip] ") && line.contains("bob"), "{line:?}");
    let pushed: Value = serde_json::from_str(json.stdout().lines().next().unwrap()).expect("one JSON object a line");
    assert_eq!(pushed["type"], "notification");
    assert_eq!(pushed["group"], "trip");
    assert_eq!(pushed["event"], "transaction_added");

    // A change in another group is not printed; a join in this one is.
    as_user(&server, "bob", &["create-group", "other"]).ok();
    as_user(&server, "alice", &["join", "other"]).ok();
    as_user(&server, "dave", &["signup"]).ok();
    as_user(&server, "dave", &["join", "trip"]).ok();
    json.wait_for("\n", 2, false);
    let second: Value = serde_json::from_str(json.stdout().lines().nth(1).unwrap()).expect("JSON");
    assert_eq!(second["event"], "member_joined");
    assert_eq!(second["group"], "trip");

    assert!(!human.stdout().contains("other"), "{}", human.stdout());
    drop((human, json, server));
}

#[test]
fn watch_gives_up_with_the_reason_only_after_give_up_secs_without_a_server() {
    let server = trip_with_three();
    let addr = server.addr.clone();
    let watch =
        Live::start(&["--server", &addr, "--user", "alice", "watch", "trip", "--give-up", "1"], Some("pw-alice-long"));
    watch.wait_for("watching trip", 1, true);
    let gone = Instant::now();
    drop(server);
    let run = watch.finish();
    assert_eq!(run.code, 3, "{run:?}");
    assert!(gone.elapsed() >= Duration::from_secs(1), "gave up too soon: {run:?}");
    assert!(run.stderr.contains("reconnecting") && run.stderr.contains("no server for 1s"), "{run:?}");
}

#[test]
fn watch_survives_a_server_restart_and_misses_nothing() {
    let server = trip_with_three();
    let watch =
        Live::start(&["--server", &server.addr, "--user", "alice", "watch", "trip", "--json"], Some("pw-alice-long"));
    watch.wait_for("watching trip", 1, true);
    as_user(&server, "bob", &["add", "trip", "1", "--split", "alice,carol", "--desc", "before"]).ok();
    watch.wait_for("\n", 1, false);
    let server = server.restart();
    for n in 0..5 {
        as_user(&server, "bob", &["add", "trip", "2", "--split", "alice,carol", "--desc", &format!("after{n}")]).ok();
    }
    watch.wait_for("\n", 6, false);
    watch.wait_for("reconnected", 1, true);
    as_user(&server, "carol", &["add", "trip", "3", "--split", "alice,bob", "--desc", "live"]).ok();
    watch.wait_for("\n", 7, false);
    let lines: Vec<Value> = watch.stdout().lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    let descriptions: Vec<&str> = lines.iter().map(|l| l["description"].as_str().unwrap_or("?")).collect();
    assert_eq!(descriptions, ["before", "after0", "after1", "after2", "after3", "after4", "live"]);
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "in order, none twice: {seqs:?}");
    drop((watch, server));
}

// ---------------------------------------------------------------------------------------------
// Interactive mode

#[test]
fn interactive_session_from_login_to_settle() {
    let server = trip_with_three();
    // A transaction to delete, made beforehand so its id is known.
    let old = as_user(&server, "bob", &["add", "trip", "7", "--split", "alice", "--json"]).ok().json();
    let old_id = old["transaction"]["id"].as_u64().expect("id").to_string();

    let script = [
        "1",
        "alice",
        "pw-alice-long", // welcome → login
        "1",             // view groups
        "4",
        "1", // open group #1 (trip)
        "1",
        "45.50",
        "taxi",
        "bob",
        "y", // add 45.50, alice and bob share
        "2", // view transactions
        "3",
        &old_id, // delete bob's 7.00 by id
        "maybe",
        "y", // confirmed (after an answer that is neither)
        "n", // no undo
        "4", // balances
        "5", // settle
        "0",
        "0",
        "0", // back, logout, exit
    ]
    .join("\n")
        + "\n";
    let run = splitc(&["--server", &server.addr], None, &script).ok();
    let out = &run.stdout;
    let expect_in_order = [
        "--- WELCOME ---",
        "✔ Login successful",
        "--- MAIN MENU (alice) ---",
        "- trip",
        "--- GROUP: trip ---",
        "Members besides you: bob, carol",
        "✔ Transaction added",
        "45.50  taxi",
        "Delete #",
        "Please answer y or n.",
        "✔ Transaction deleted",
        "Undo? Restore #",
        "alice     22.75  is owed",
        "bob      -22.75  owes",
        "carol      0.00  settled",
        "bob   alice   22.75",
        "Logged out",
        "Goodbye",
    ];
    assert_in_order(out, &expect_in_order);
    assert!(!out.contains("pw-alice-long"), "the password is never echoed:\n{out}");
    let txns = as_user(&server, "alice", &["transactions", "trip", "--json"]).ok().json();
    assert_eq!(txns["transactions"].as_array().map(Vec::len), Some(1), "only the taxi is left: {txns}");
    assert_eq!(txns["transactions"][0]["description"], "taxi", "the row with the typed id was deleted");
}

#[test]
fn interactive_payment_history_edit_and_leave() {
    let server = trip_with_three();
    let old =
        as_user(&server, "bob", &["add", "trip", "9", "--split", "alice,carol", "--desc", "cab", "--json"]).ok().json();
    let old_id = old["transaction"]["id"].as_u64().expect("id").to_string();
    as_user(&server, "dave", &["signup"]).ok();
    as_user(&server, "dave", &["join", "trip"]).ok();
    let script = [
        "1",
        "alice",
        "pw-alice-long", // login
        "4",
        "1", // open trip
        "1",
        "ten",
        "30", // asked again after an amount that is not one
        "hotel",
        "percent:bob=50,carol=50", // add with a split mode
        "6",
        "bob",
        "4,50",
        "4.50",
        "", // alice paid bob 4.50, after a comma
        "8",
        &old_id,
        "12",
        "",
        "",  // edit bob's cab: amount 12
        "7", // history
        "0",
        "0",
        "0",
    ]
    .join("\n")
        + "\n";
    let run = splitc(&["--server", &server.addr], None, &script).ok();
    let out = &run.stdout;
    let expect_in_order = [
        "6. Record a payment",
        "7. History",
        "8. Edit transaction",
        "9. Leave group",
        "✘ invalid amount \"ten\": write a positive number like 12.50; try again (empty to cancel)",
        "Amount (empty to cancel): 30",
        "✔ Transaction added: bob 15.00, carol 15.00",
        "write 4.50 (a point, not a comma); try again",
        "✔ Payment recorded (id 1): you paid bob 4.50",
        "✔ Transaction edited",
        "WHEN (UTC)",
        "alice edited expense 'cab' (₹9.00 → ₹12.00)",
        "alice paid bob ₹4.50",
        "alice added ₹30.00 expense",
        "Goodbye",
    ];
    assert_in_order(out, &expect_in_order);
    // dave (balance zero) leaves through the menu.
    let script = "1\ndave\npw-dave-long\n4\n1\n9\ny\n0\n0\n";
    let run = splitc(&["--server", &server.addr], None, script).ok();
    assert!(run.stdout.contains("✔ Left group"), "{}", run.stdout);
    let members = as_user(&server, "alice", &["members", "trip", "--json"]).ok().json();
    assert_eq!(members["members"], serde_json::json!(["alice", "bob", "carol"]));
}

/// No byte that acts on a terminal (ESC, BEL, C1 CSI, a bidi override) in what splitc printed.
fn assert_no_raw_escapes(text: &str, what: &str) {
    let raw = ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}'];
    assert!(!text.contains(raw), "{what} holds a raw escape: {text:?}");
}

#[test]
fn text_from_the_server_never_reaches_the_screen_as_raw_escapes() {
    let server = trip_with_three();
    // The server echoes a name it does not know (`<name> not in group`), as the original did: here it
    // carries a window-title escape, BEL, a clear-screen and a C1 CSI.
    let hostile = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31mbob";
    let shown = "\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{9b}31mbob";
    let script = [
        "1",
        "alice",
        "pw-alice-long", // welcome → login
        "4",
        "1", // open trip
        "1",
        "10",
        "dinner \u{1b}[31mred\u{202e}",
        "bob",
        "n", // a description the server refuses, naming the character
        "1",
        "10",
        "dinner",
        hostile,
        "n", // a split name the server echoes back in its refusal
        "0",
        "0",
        "0",
    ]
    .join("\n")
        + "\n";
    let run = splitc(&["--server", &server.addr], None, &script).ok();
    assert_no_raw_escapes(&run.stdout, "interactive stdout");
    let out = &run.stdout;
    assert!(out.contains("✘ Field 'description' must not contain control characters (U+001B at position 8)"), "{out}");
    assert!(out.contains(&format!("✘ {shown} not in group")), "the refusal is shown, escaped:\n{out}");

    // The same refusal from a one-shot command goes to stderr, escaped too.
    let run = as_user(&server, "alice", &["add", "trip", "10", "--split", hostile]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_no_raw_escapes(&run.stderr, "one-shot stderr");
    assert!(run.stderr.contains(&format!("splitc: {shown} not in group")), "{run:?}");
}

#[test]
fn interactive_end_of_input_exits_cleanly() {
    let server = Server::start();
    let run = splitc(&["--server", &server.addr], None, "2\nerin\npw-erin-long\npw-erin-long\n1\nerin\n").ok();
    assert!(run.stdout.contains("✔ Signup successful. Now log in."), "{}", run.stdout);
    assert!(run.stdout.trim_end().ends_with("Goodbye"), "{}", run.stdout);
    let run = splitc(&["--server", &server.addr], None, "").ok();
    assert!(run.stdout.contains("Goodbye"));
}

#[test]
fn interactive_prints_notifications_at_the_prompt() {
    let server = trip_with_three();
    let mut live = Live::start(&["--server", &server.addr, "--user", "alice"], Some("pw-alice-long"));
    live.send("1\n");
    live.wait_for("--- MAIN MENU (alice) ---", 1, false);
    live.wait_for("Enter choice: ", 2, false);
    // alice now sits at the main menu's prompt; bob adds an expense.
    as_user(&server, "bob", &["add", "trip", "12", "--split", "alice"]).ok();
    live.wait_for("🔔 [trip]", 1, false);
    // The prompt comes back after the notification.
    live.wait_for("Enter choice: ", 3, false);
    let out = live.stdout();
    let after = &out[out.find("🔔 [trip]").unwrap()..];
    assert!(after.lines().nth(1).unwrap_or("").starts_with("Enter choice: "), "{out}");
    live.send("0\n0\n");
    let run = live.finish();
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn interactive_reconnects_and_logs_in_again() {
    let server = trip_with_three();
    let mut live = Live::start(&["--server", &server.addr, "--user", "alice"], Some("pw-alice-long"));
    live.send("1\n");
    live.wait_for("Enter choice: ", 2, false);
    let server = server.restart();
    live.wait_for("connection to the server lost", 1, false);
    live.send("1\n");
    live.wait_for("Reconnected and logged in again.", 1, false);
    live.wait_for("- trip", 1, false);
    live.send("0\n0\n");
    let run = live.finish();
    assert_eq!(run.code, 0, "{run:?}");
    drop(server);
}

/// alice sits in trip's menu: logged in through `--user` and SPLITC_PASSWORD, following the group.
fn alice_in_trip(server: &Server) -> Live {
    let mut live = Live::start(&["--server", &server.addr, "--user", "alice"], Some("pw-alice-long"));
    live.send("1\n4\n1\n");
    live.wait_for("--- GROUP: trip ---", 1, false);
    live.wait_for("· watching trip", 1, false);
    live
}

#[test]
fn interactive_edit_that_conflicts_shows_the_transaction_as_it_is_now_and_asks_again() {
    let server = trip_with_three();
    let cab = as_user(&server, "bob", &["add", "trip", "9", "--split", "alice,carol", "--desc", "cab", "--json"]);
    let id = cab.ok().json()["transaction"]["id"].as_u64().expect("id").to_string();
    let mut live = alice_in_trip(&server);
    live.send(&format!("8\n{id}\n"));
    live.wait_for("New amount (empty = keep): ", 1, false);
    // alice saw version 1; carol changes the description meanwhile (version 2).
    as_user(&server, "carol", &["edit", "trip", &id, "--desc", "night cab"]).ok();
    live.wait_for("🔔 [trip] carol edited", 1, false);
    live.send("12\n\n\n");
    live.wait_for("Someone changed it since it was shown; it is now:", 1, false);
    live.wait_for("New amount (empty = keep): ", 2, false);
    let out = live.stdout();
    let shown = &out[out.find("it is now:").expect("shown")..];
    assert!(shown.contains("9.00  night cab"), "the current transaction is shown: {out}");
    // Asked again: this time it applies, to the version shown.
    live.send("12\n\n\n");
    live.wait_for("✔ Transaction edited", 1, false);
    live.send("3\n");
    live.send(&format!("{id}\n"));
    live.wait_for("Delete #", 1, false);
    as_user(&server, "carol", &["edit", "trip", &id, "--desc", "late cab"]).ok();
    live.wait_for("🔔 [trip] carol edited", 2, false);
    live.send("y\n");
    live.wait_for("Someone changed it since it was shown; it is now:", 2, false);
    live.wait_for("Delete #", 2, false);
    live.send("n\n0\n0\n");
    let run = live.finish();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Nothing deleted."), "{}", run.stdout);
    let txns = as_user(&server, "alice", &["transactions", "trip", "--json"]).ok().json();
    let txn = &txns["transactions"][0];
    assert_eq!((cents(&txn["amount"]), txn["description"].as_str()), (1200, Some("late cab")), "{txns}");
}

#[test]
fn interactive_follows_the_group_on_screen_across_a_server_restart() {
    let server = trip_with_three();
    let mut live = alice_in_trip(&server);
    let sessions =
        || as_user(&server, "alice", &["sessions", "--json"]).ok().json()["sessions"].as_array().map(Vec::len);
    // The menus' login and this command's: the follower resumed the menus' session.
    assert_eq!(sessions(), Some(2));
    as_user(&server, "bob", &["add", "trip", "1.01", "--split", "alice"]).ok();
    live.wait_for("bob added ₹1.01 expense", 1, false);
    let server = server.restart();
    // Made while alice's splitc is disconnected (it reconnects by itself, with backoff).
    for n in 1..=5 {
        as_user(&server, "bob", &["add", "trip", &format!("2.0{n}"), "--split", "alice"]).ok();
    }
    live.wait_for("reconnected; watching trip again", 1, false);
    live.wait_for("bob added ₹2.05 expense", 1, false);
    as_user(&server, "carol", &["add", "trip", "3.03", "--split", "alice"]).ok();
    live.wait_for("carol added ₹3.03 expense", 1, false);
    let sessions = as_user(&server, "alice", &["sessions", "--json"]).ok().json();
    assert_eq!(sessions["sessions"].as_array().map(Vec::len), Some(2), "no session per reconnect: {sessions}");
    live.send("0\n0\n");
    let run = live.finish();
    assert_eq!(run.code, 0, "{run:?}");
    let shown: Vec<&str> = run.stdout.lines().filter(|l| l.contains(" added ₹")).collect();
    let amounts: Vec<&str> = shown.iter().map(|l| l.split('₹').nth(1).unwrap_or("?")).collect();
    let expected: Vec<String> =
        ["1.01", "2.01", "2.02", "2.03", "2.04", "2.05", "3.03"].iter().map(|a| format!("{a} expense")).collect();
    assert_eq!(amounts, expected, "each change once, in order:\n{}", run.stdout);
}

#[test]
fn interactive_gives_up_with_exit_3_when_the_server_stays_away() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let run = splitc(&["--server", &closed], None, "");
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains(&closed), "{run:?}");
}

#[test]
fn balance_details_and_debts() {
    let server = trip_with_three();
    as_user(&server, "alice", &["add", "trip", "90", "--split", "bob,carol", "--include-me"]).ok();
    as_user(&server, "bob", &["pay", "trip", "alice", "12.30"]).ok();

    let run = as_user(&server, "carol", &["balances", "trip", "--details"]).ok();
    assert_eq!(
        run.stdout,
        "MEMBER   PAID  SHARE   SENT  RECEIVED  NET (INR)\n\
         ------  -----  -----  -----  --------  ---------\n\
         alice   90.00  30.00   0.00     12.30      47.70\n\
         bob      0.00  30.00  12.30      0.00     -17.70\n\
         carol    0.00  30.00   0.00      0.00     -30.00\n"
    );
    let details = as_user(&server, "carol", &["balances", "trip", "--details", "--json"]).ok().json();
    let rows = details["members"].as_array().expect("members");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1]["member"], "bob");
    assert_eq!((cents(&rows[1]["payments_sent"]), cents(&rows[1]["net"])), (1230, -1770));
    // Plain balances are unchanged by the new flag's existence.
    let plain = as_user(&server, "carol", &["balances", "trip", "--json"]).ok().json();
    assert_eq!(cents(&plain["balances"]["alice"]), 4770);

    let run = as_user(&server, "bob", &["debts", "trip"]).ok();
    assert_eq!(
        run.stdout,
        "FROM   TO     AMOUNT (INR)\n\
         -----  -----  ------------\n\
         bob    alice         17.70\n\
         carol  alice         30.00\n"
    );
    let debts = as_user(&server, "bob", &["debts", "trip", "--json"]).ok().json();
    assert_eq!(debts["debts"][0]["from"], "bob");
    assert_eq!(cents(&debts["debts"][1]["amount"]), 3000);

    // Settled up: nobody owes anybody.
    as_user(&server, "bob", &["pay", "trip", "alice", "17.70"]).ok();
    as_user(&server, "carol", &["pay", "trip", "alice", "30"]).ok();
    assert_eq!(as_user(&server, "alice", &["debts", "trip"]).ok().stdout, "Nobody owes anybody.\n");

    // Errors: not a member (exit 1), no group (usage, exit 2).
    as_user(&server, "dave", &["signup"]).ok();
    let run = as_user(&server, "dave", &["debts", "trip"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("Not a member of this group"), "{run:?}");
    let run = as_user(&server, "dave", &["balances", "trip", "--details"]);
    assert_eq!(run.code, 1, "{run:?}");
    let run = as_user(&server, "dave", &["debts"]);
    assert_eq!(run.code, 2, "{run:?}");
}

// ---------------------------------------------------------------------------------------------
// Client and server cannot drift: the same text, judged by both

/// A raw connection to the server that sends exactly the JSON a test writes (splitc would refuse or
/// reformat it first).
struct Wire {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Wire {
    fn connect(server: &Server) -> Wire {
        let stream = TcpStream::connect(&server.addr).expect("connect to splitd");
        stream.set_read_timeout(Some(WAIT_DEADLINE)).expect("read timeout");
        Wire { reader: BufReader::new(stream.try_clone().expect("clone the stream")), writer: stream }
    }

    /// Sends one request and returns its reply, skipping pushed messages (they carry a `type`).
    fn request(&mut self, action: &str, data: Value) -> Value {
        let mut line = json!({ "action": action, "data": data }).to_string();
        line.push('\n');
        self.writer.write_all(line.as_bytes()).expect("send to splitd");
        loop {
            let mut text = String::new();
            let read = self.reader.read_line(&mut text).unwrap_or_else(|e| panic!("no reply to {line}: {e}"));
            assert!(read > 0, "splitd closed the connection after {line}");
            let reply: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
            if reply.get("type").is_none() {
                return reply;
            }
        }
    }
}

/// What one side made of an `add` of `amount` (and `date`): recorded as this many cents, or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Takes(i64),
    Refuses,
    /// splitc took it and sent it, and the server refused what it sent: a drift by itself, unless
    /// it has digits only the group's currency can judge (thousandths in a rupee group).
    SentButServerRefused(String),
}

/// splitc's verdict on `add trip AMOUNT [--date DATE]`: refused by its own argument checks (exit 2,
/// with its own message), or sent, and then what the server recorded of what splitc sent.
fn splitc_verdict(server: &Server, amount: &str, date: Option<&str>) -> Verdict {
    let mut args = vec!["add", "--json", "--split", "bob"];
    if let Some(date) = date {
        args.extend(["--date", date]);
    }
    // `--`: an amount like "-4" is the amount, not an unknown flag.
    args.extend(["--", "trip", amount]);
    let run = as_user(server, "alice", &args);
    match run.code {
        0 => Verdict::Takes(cents(&run.json()["transaction"]["amount"])),
        1 => Verdict::SentButServerRefused(run.stderr.trim().to_string()),
        2 => {
            let own_check = if date.is_some() { "--date" } else { "invalid amount" };
            assert!(run.stderr.contains(own_check), "splitc refused {amount:?} {date:?} for another reason: {run:?}");
            Verdict::Refuses
        }
        _ => panic!("splitc {args:?}: {run:?}"),
    }
}

/// The server's verdict on the same text sent as is: `"amount"` as a JSON string, `"date"` verbatim.
fn splitd_verdict(wire: &mut Wire, amount: &str, date: Option<&str>) -> Verdict {
    let mut data = json!({ "group": "trip", "amount": amount, "split_between": ["bob"] });
    if let Some(date) = date {
        data["date"] = json!(date);
    }
    let reply = wire.request(Action::AddTransaction.as_str(), data);
    if reply["status"] == "ok" {
        return Verdict::Takes(cents(&reply["transaction"]["amount"]));
    }
    // Only the input may be what is wrong: any other refusal means the row tests nothing.
    assert_eq!(reply["code"], Code::BadRequest.as_str(), "{amount:?} {date:?}: {reply}");
    Verdict::Refuses
}

#[test]
fn client_and_server_judge_amounts_and_dates_alike() {
    // (text, what the protocol says it is). The rupee sign splitc also strips is left out on purpose:
    // a client-only convenience in front of the shared grammar, not part of it.
    let amounts: &[(&str, Option<i64>)] = &[
        ("12", Some(1200)),
        ("12.5", Some(1250)),
        ("12.50", Some(1250)),
        ("1e3", Some(100_000)),
        ("1.25e1", Some(1250)),
        ("1E+2", Some(10_000)),
        ("0.5", Some(50)),
        ("12.500", Some(1250)),
        // Once taken by the server, now refused by both: the one grammar is the text of a JSON number.
        (" 7 ", None),
        ("7 ", None),
        ("\u{a0}7", None),
        (".5", None),
        ("5.", None),
        ("+5", None),
        ("007", None),
        ("10000000000", Some(1_000_000_000_000)),
        ("12.3456", None),
        ("-4", None),
        ("0", None),
        ("0.00", None),
        ("12,50", None),
        ("abc", None),
        ("", None),
        ("10000000000.01", None),
        ("1e400", None),
    ];
    let dates: &[(&str, bool)] = &[
        ("2024-02-29", true),
        ("2025-12-31", true),
        ("2025-02-29", false),
        ("2025-02-30", false),
        ("2025-04-31", false),
        ("2025-13-01", false),
        ("2025-1-01", false),
        ("", false),
    ];
    let server = trip_with_three();
    let mut wire = Wire::connect(&server);
    let login = wire.request(Action::Login.as_str(), json!({ "username": "alice", "password": "pw-alice-long" }));
    assert_eq!(login["status"], "ok", "{login}");

    let mut drifts = Vec::new();
    let mut judge = |what: String, expected: Verdict, amount: &str, date: Option<&str>| {
        let client = splitc_verdict(&server, amount, date);
        let server = splitd_verdict(&mut wire, amount, date);
        if client != server || server != expected {
            drifts.push(format!("{what}: splitc {client:?}, splitd {server:?}, expected {expected:?}"));
        }
    };
    for &(text, expected) in amounts {
        let expected = expected.map_or(Verdict::Refuses, Verdict::Takes);
        judge(format!("amount {text:?}"), expected, text, None);
    }
    for &(text, real_day) in dates {
        let expected = if real_day { Verdict::Takes(100) } else { Verdict::Refuses };
        judge(format!("date {text:?}"), expected, "1", Some(text));
    }
    // Thousandths are a dinar group's amounts: splitc, which does not know the group's currency,
    // sends them, and this rupee group's server refuses them (in the same words as sent as is).
    for text in ["0.001", "12.345"] {
        let client = splitc_verdict(&server, text, None);
        let server = splitd_verdict(&mut wire, text, None);
        let judged_alike =
            matches!(&client, Verdict::SentButServerRefused(why) if why.contains("at most 2 decimals in INR"));
        if !judged_alike || server != Verdict::Refuses {
            drifts.push(format!("amount {text:?}: splitc {client:?}, splitd {server:?}"));
        }
    }
    assert!(drifts.is_empty(), "client and server disagree:\n{}", drifts.join("\n"));
}

#[test]
fn every_shared_action_is_one_the_server_decodes() {
    let server = Server::start();
    // Not logged in and no data: each action is decoded (or refused for its fields) and nothing happens.
    let mut wire = Wire::connect(&server);
    for action in Action::ALL {
        let reply = wire.request(action.as_str(), json!({}));
        let code = reply["code"].as_str();
        assert_ne!(code, Some(Code::UnknownAction.as_str()), "{action}: {reply}");
        assert!(code.is_none_or(|c| Code::parse(c).is_some()), "{action}: a code vocab does not know: {reply}");
    }
    let reply = wire.request("frobnicate", json!({}));
    assert_eq!(reply["code"], Code::UnknownAction.as_str(), "{reply}");
}

// ---------------------------------------------------------------------------------------------
// TLS

/// Runs a one-shot subcommand as `user` over TLS, trusting the test CA.
fn as_user_tls(server: &Server, ca: &Path, user: &str, args: &[&str]) -> Run {
    let target = format!("tls://{}", server.addr);
    let ca = ca.to_str().expect("path");
    let mut full = vec!["--server", &target, "--ca-file", ca, "--user", user];
    full.extend_from_slice(args);
    splitc(&full, Some(&format!("pw-{user}-long")), "")
}

#[test]
fn one_shot_and_watch_over_tls_with_a_private_ca() {
    let (server, ca) = Server::start_tls();
    for user in ["alice", "bob"] {
        as_user_tls(&server, &ca, user, &["signup"]).ok();
    }
    as_user_tls(&server, &ca, "alice", &["create-group", "trip"]).ok();
    as_user_tls(&server, &ca, "bob", &["join", "trip"]).ok();
    let target = format!("tls://{}", server.addr);
    let ca_arg = ca.to_str().expect("path");
    let watch = Live::start(
        &["--server", &target, "--ca-file", ca_arg, "--user", "alice", "watch", "trip", "--json", "--give-up", "1"],
        Some("pw-alice-long"),
    );
    watch.wait_for("watching trip", 1, true);
    as_user_tls(&server, &ca, "bob", &["add", "trip", "30", "--split", "alice", "--desc", "fuel"]).ok();
    watch.wait_for("\n", 1, false);
    let pushed: Value = serde_json::from_str(watch.stdout().lines().next().expect("a line")).expect("JSON");
    assert_eq!(pushed["event"], "transaction_added", "{pushed}");
    let balances = as_user_tls(&server, &ca, "alice", &["balances", "trip", "--json"]).ok().json();
    assert_eq!(cents(&balances["balances"]["bob"]), 3000, "{balances}");
    assert_eq!(cents(&balances["balances"]["alice"]), -3000, "{balances}");
    drop(server);
    let run = watch.finish();
    assert_eq!(run.code, 3, "watch gives up once the TLS server stays away: {run:?}");
}

#[test]
fn tls_refuses_a_certificate_it_cannot_verify_unless_insecure() {
    let (server, _ca) = Server::start_tls();
    let target = format!("tls://{}", server.addr);
    // Mozilla's roots do not know the test CA.
    let run = splitc(&["--server", &target, "--user", "alice", "signup"], Some("pw-alice-long"), "");
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("invalid peer certificate"), "{run:?}");
    // Another CA's file does not vouch for it either.
    let other = TempDir::new("other-ca");
    let other_files = test_pki(&["localhost"]).write(&other.0);
    let other_ca = other_files.ca.to_str().expect("path");
    let run =
        splitc(&["--server", &target, "--ca-file", other_ca, "--user", "alice", "signup"], Some("pw-alice-long"), "");
    assert_eq!(run.code, 3, "{run:?}");
    // --insecure connects (tests only), and says so in its help.
    splitc(&["--server", &target, "--insecure", "--user", "alice", "signup"], Some("pw-alice-long"), "").ok();
    let help = splitc(&["--help"], None, "");
    assert!(help.stdout.contains("--insecure") && help.stdout.contains("FOR TESTS ONLY"), "{help:?}");
    // TLS flags without TLS are a usage error; plaintext to the TLS port is refused by the server.
    let run = splitc(&["--server", &server.addr, "--insecure", "--user", "alice", "groups"], Some("pw-alice-long"), "");
    assert_eq!(run.code, 2, "{run:?}");
    let run = splitc(&["--server", &server.addr, "--user", "alice", "groups"], Some("pw-alice-long"), "");
    assert_eq!(run.code, 3, "{run:?}");
}

#[test]
fn interactive_mode_over_tls() {
    let (server, ca) = Server::start_tls();
    as_user_tls(&server, &ca, "alice", &["signup"]).ok();
    as_user_tls(&server, &ca, "alice", &["create-group", "trip"]).ok();
    let target = format!("tls://{}", server.addr);
    let script = ["1", "alice", "pw-alice-long", "1", "0", "0"].join("\n") + "\n";
    let run = splitc(&["--server", &target, "--ca-file", ca.to_str().expect("path")], None, &script).ok();
    let out = &run.stdout;
    for needle in [&format!("Connected to {target}") as &str, "✔ Login successful", "- trip", "Goodbye"] {
        assert!(out.contains(needle), "{needle:?} missing from:\n{out}");
    }
}

// ---------------------------------------------------------------------------------------------
// Session tokens

/// The token files splitc keeps under `config`, with their contents.
fn stored_tokens(config: &Path) -> Vec<(PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(config.join("splitc").join("tokens")) else { return Vec::new() };
    entries
        .map(|e| e.expect("a token file").path())
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read a token file");
            (path, text)
        })
        .collect()
}

#[test]
fn one_shot_commands_resume_with_a_stored_token_and_fall_back_to_the_password() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start();
    let config = TempDir::new("config");
    let dana = |args: &[&str], password: Option<&str>| {
        let mut full = vec!["--server", server.addr.as_str(), "--user", "dana"];
        full.extend_from_slice(args);
        splitc_in(&config.0, &full, password)
    };
    let password = Some("pw-dana-long");
    dana(&["signup"], password).ok();
    assert!(stored_tokens(&config.0).is_empty(), "a signup does not log in");

    // A password login stores the token it got, for the owner's eyes only.
    dana(&["groups"], password).ok();
    let stored = stored_tokens(&config.0);
    assert_eq!(stored.len(), 1, "{stored:?}");
    let (path, text) = &stored[0];
    let token = text.trim().to_string();
    assert!(text.ends_with('\n') && token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()), "{text:?}");
    assert_eq!(std::fs::metadata(path).unwrap().permissions().mode() & 0o777, 0o600);
    let dir_mode = std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);

    // The next run needs no password: without the token this is a usage error (exit 2).
    let run = dana(&["groups", "--json"], None).ok();
    assert_eq!(run.json()["groups"], json!([]));
    let run = dana(&["sessions", "--json"], None).ok();
    let sessions = run.json()["sessions"].as_array().cloned().unwrap_or_default();
    assert_eq!(sessions.len(), 1, "{run:?}");
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[0]["address"], "127.0.0.1");

    // Revoked elsewhere: the token is refused, and without a password that is where it ends...
    let mut wire = Wire::connect(&server);
    let resumed = wire.request("resume", json!({ "token": token }));
    assert_eq!(resumed["username"], "dana", "{resumed}");
    assert_eq!(wire.request("logout", json!({}))["status"], "ok");
    let run = dana(&["groups"], None);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(stored_tokens(&config.0).is_empty(), "a refused token is forgotten");
    // ...with one, splitc logs in and keeps the new token.
    dana(&["groups"], password).ok();
    let renewed = stored_tokens(&config.0);
    assert_eq!(renewed.len(), 1);
    assert_ne!(renewed[0].1.trim(), token);

    // `logout` revokes the stored token on the server and forgets it here.
    let last = renewed[0].1.trim().to_string();
    assert_eq!(dana(&["logout"], None).ok().stdout.trim(), "Logged out");
    assert!(stored_tokens(&config.0).is_empty());
    let refused = Wire::connect(&server).request("resume", json!({ "token": last }));
    assert_eq!(refused["code"], Code::InvalidToken.as_str(), "{refused}");
}

// ---------------------------------------------------------------------------------------------
// Cluster mode: splitc follows not_leader and skips dead members

/// Three splitd members on loopback (clients on free ports, peers on ports picked here).
fn cluster() -> Vec<Server> {
    let ports: Vec<u16> = {
        let held: Vec<std::net::TcpListener> =
            (0..3).map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind")).collect();
        held.iter().map(|l| l.local_addr().expect("addr").port()).collect()
    };
    let peers = ports.iter().enumerate().map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1)).collect::<Vec<_>>();
    (0..3)
        .map(|i| {
            let extra = ["--node-id".to_string(), (i + 1).to_string(), "--peers".to_string(), peers.join(",")];
            Server::launch_with("127.0.0.1:0", TempDir::new("member"), &extra)
                .unwrap_or_else(|(why, _)| panic!("{why}"))
        })
        .collect()
}

fn as_user_on(servers: &str, user: &str, args: &[&str]) -> Run {
    let mut full = vec!["--server", servers, "--user", user];
    full.extend_from_slice(args);
    splitc(&full, Some(&format!("pw-{user}-long")), "")
}

#[test]
fn one_shot_commands_reach_the_leader_through_any_member_and_past_a_dead_one() {
    let mut members = cluster();
    // Writes through every member: two of them are followers, which answer not_leader.
    as_user_on(&members[0].addr, "alice", &["signup"]).ok();
    for (i, member) in members.iter().enumerate() {
        let group = format!("g{i}");
        as_user_on(&member.addr, "alice", &["create-group", &group]).ok();
        let run = as_user_on(&member.addr, "alice", &["add", &group, "3", "--split", "alice", "--json"]).ok();
        assert_eq!(run.json()["status"], "ok", "{run:?}");
    }
    let groups = as_user_on(&members[2].addr, "alice", &["groups", "--json"]).ok().json();
    assert_eq!(groups["groups"], json!(["g0", "g1", "g2"]), "{groups}");
    // The first server of the list is dead (perhaps the leader: then the others elect one first).
    members[0].stop();
    let list = format!("{},{},{}", members[0].addr, members[1].addr, members[2].addr);
    let run = as_user_on(&list, "alice", &["add", "g1", "4", "--split", "alice", "--json"]).ok();
    assert_eq!(run.json()["status"], "ok", "{run:?}");
    // With two of three dead there is no leader: a clear error and exit 3, within the follow bound.
    members[1].stop();
    let started = Instant::now();
    let run = as_user_on(&list, "alice", &["add", "g1", "5", "--split", "alice"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(started.elapsed() < Duration::from_secs(30), "bounded: {:?}", started.elapsed());
    assert!(run.stderr.contains("leader") || run.stderr.contains("connect"), "{run:?}");
}

#[test]
fn interactive_mode_writes_through_a_follower() {
    let members = cluster();
    as_user_on(&members[0].addr, "alice", &["signup"]).ok();
    as_user_on(&members[0].addr, "alice", &["create-group", "trip"]).ok();
    let status = cluster_status(&members[0].addr);
    let leader = status["leader_address"].as_str().expect("a leader").to_string();
    let follower = members.iter().map(|m| m.addr.clone()).find(|a| *a != leader).expect("a follower");
    let script = ["1", "alice", "pw-alice-long", "2", "beach", "", "1", "0", "0"].join("\n") + "\n";
    let run = splitc(&["--server", &follower], None, &script).ok();
    assert!(run.stdout.contains(&format!("Connected to {follower}")), "{run:?}");
    assert!(run.stdout.contains("- beach"), "created through the follower: {run:?}");
}

/// `cluster_status` as alice on `addr`.
fn cluster_status(addr: &str) -> Value {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(WAIT_DEADLINE)).expect("timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut out = stream;
    let login = json!({"action": "login", "data": {"username": "alice", "password": "pw-alice-long"}});
    writeln!(out, "{login}\n{}", json!({"action": "cluster_status"})).expect("write");
    let mut line = String::new();
    for _ in 0..2 {
        line.clear();
        reader.read_line(&mut line).expect("read");
    }
    serde_json::from_str(&line).expect("json")
}
