//! `splitc` against the real `splitd` for groups that convert at settlement: `create-group
//! --convert`, `set-group-convert`, `add`/`edit --currency` without a rate, `pay --currency`, and
//! `balances` (`--details`) / `settle` (`--record`) / `debts` / `stats` and the interactive screens
//! showing one section per other currency in its own decimals.

mod common;

use common::*;

/// alice's EUR group `trip` that converts at settlement, with bob in it.
fn settling_trip() -> Server {
    let server = Server::start();
    for user in ["alice", "bob"] {
        as_user(&server, user, &["signup"]).ok();
    }
    as_user(&server, "alice", &["create-group", "trip", "--currency", "EUR", "--convert", "at-settlement"]).ok();
    as_user(&server, "bob", &["join", "trip"]).ok();
    server
}

#[test]
fn create_group_and_set_group_convert_name_the_mode() {
    let server = settling_trip();
    let info = as_user(&server, "bob", &["group-info", "trip", "--json"]).ok().json();
    assert_eq!(info["convert"], "at_settlement", "{info}");
    let bad = as_user(&server, "alice", &["create-group", "ski", "--convert", "later"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("--convert must be at-entry or at-settlement"), "{}", bad.stderr);
    as_user(&server, "alice", &["create-group", "ski", "--convert", "at_settlement"]).ok();
    assert_eq!(as_user(&server, "alice", &["group-info", "ski", "--json"]).ok().json()["convert"], "at_settlement");

    let refused = as_user(&server, "bob", &["set-group-convert", "trip", "at-entry"]);
    assert_eq!(refused.code, 1, "only the creator: {refused:?}");
    assert!(refused.stderr.contains("Only the group's creator"), "{}", refused.stderr);
    let set = as_user(&server, "alice", &["set-group-convert", "trip", "at-entry"]).ok();
    assert_eq!(set.stdout, "Group convert setting set\n");
    assert_eq!(as_user(&server, "bob", &["group-info", "trip", "--json"]).ok().json()["convert"], "at_entry");
    assert_eq!(as_user(&server, "alice", &["set-group-convert", "trip", "soon"]).code, 2);
    as_user(&server, "alice", &["add", "trip", "5", "--split", "bob"]).ok();
    let late = as_user(&server, "alice", &["set-group-convert", "trip", "at_settlement"]);
    assert_eq!(late.code, 1, "not once it has transactions: {late:?}");
    assert!(late.stderr.contains("cannot change"), "{}", late.stderr);
}

#[test]
fn expenses_and_payments_in_other_currencies_need_no_rate() {
    let server = settling_trip();
    let added =
        as_user(&server, "alice", &["add", "trip", "1234", "--currency", "JPY", "--split", "bob", "--include-me"])
            .ok()
            .stdout;
    assert!(added.contains(" JPY 1234 "), "the amount in yen, no decimals: {added}");
    let rated =
        as_user(&server, "alice", &["add", "trip", "100", "--currency", "JPY", "--rate", "0.0061", "--split", "bob"]);
    assert_eq!(rated.code, 1, "the server refuses a rate here: {rated:?}");
    assert!(rated.stderr.contains("converts at settlement"), "{}", rated.stderr);
    let tenth = as_user(&server, "alice", &["add", "trip", "10.5", "--currency", "JPY", "--split", "bob"]);
    assert_eq!(tenth.code, 2, "yen have no decimals: {tenth:?}");
    let kwd =
        as_user(&server, "bob", &["add", "trip", "3.000", "--currency", "KWD", "--split", "alice", "--json"]).ok();
    let id = kwd.json()["transaction"]["id"].to_string();
    let edited = as_user(&server, "bob", &["edit", "trip", &id, "--amount", "2.500", "--currency", "KWD"]).ok().stdout;
    assert!(edited.contains(" KWD 2.500 "), "{edited}");

    let paid = as_user(&server, "bob", &["pay", "trip", "alice", "17", "--currency", "JPY"]).ok().stdout;
    assert!(paid.contains(" JPY 17 "), "{paid}");
    let json = as_user(&server, "bob", &["pay", "trip", "alice", "0.500", "--currency", "KWD", "--json"]).ok().json();
    assert_eq!(json["payment"]["currency"], "KWD", "{json}");
    assert_eq!(json["payment"]["amount"].to_string(), "0.500");
    let bad = as_user(&server, "bob", &["pay", "trip", "alice", "1.5", "--currency", "JPY"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    as_user(&server, "alice", &["create-group", "flat", "--currency", "EUR"]).ok();
    as_user(&server, "bob", &["join", "flat"]).ok();
    let at_entry = as_user(&server, "bob", &["pay", "flat", "alice", "5", "--currency", "JPY"]);
    assert_eq!(at_entry.code, 1, "an at-entry group takes payments in its own currency: {at_entry:?}");
    assert!(at_entry.stderr.contains("converts at entry"), "{}", at_entry.stderr);
}

#[test]
fn balances_and_settle_show_one_table_per_currency() {
    let server = settling_trip();
    as_user(&server, "alice", &["add", "trip", "1234", "--currency", "JPY", "--split", "bob", "--include-me"]).ok();
    as_user(&server, "bob", &["add", "trip", "3.000", "--currency", "KWD", "--split", "alice"]).ok();
    as_user(&server, "bob", &["add", "trip", "4", "--split", "alice"]).ok();
    let shown = as_user(&server, "alice", &["balances", "trip"]).ok().stdout;
    let want = "\
MEMBER  BALANCE (EUR)  STATUS
------  -------------  -------
alice           -4.00  owes
bob              4.00  is owed
In JPY:
MEMBER  BALANCE (JPY)  STATUS
------  -------------  -------
alice             617  is owed
bob              -617  owes
In KWD:
MEMBER  BALANCE (KWD)  STATUS
------  -------------  -------
alice          -3.000  owes
bob             3.000  is owed
";
    assert_eq!(shown, want);
    let json = as_user(&server, "alice", &["balances", "trip", "--json"]).ok().json();
    assert_eq!(json["by_currency"]["JPY"]["bob"].to_string(), "-617", "the reply as it came: {json}");

    let plan = as_user(&server, "alice", &["settle", "trip"]).ok().stdout;
    for needle in [
        "FROM   TO   AMOUNT (EUR)\n",
        "alice  bob          4.00\n",
        "In JPY:\nFROM  TO     AMOUNT (JPY)\n",
        "bob   alice           617\n",
        "In KWD:\nFROM   TO   AMOUNT (KWD)\n",
        "alice  bob         3.000\n",
    ] {
        assert!(plan.contains(needle), "{needle:?} in:\n{plan}");
    }
    let recorded = as_user(&server, "bob", &["settle", "trip", "--record"]).ok().stdout;
    assert!(recorded.contains("Recorded 3 payments"), "{recorded}");
    assert!(recorded.contains("In JPY:"), "{recorded}");
    let after = as_user(&server, "alice", &["settle", "trip"]).ok().stdout;
    assert!(after.starts_with("Nothing to settle: everyone is even.\n"), "every currency settled: {after}");
    assert!(!after.contains("In JPY"), "{after}");
    let payments = as_user(&server, "alice", &["payments", "trip"]).ok().stdout;
    assert!(payments.contains(" JPY 617 ") && payments.contains(" KWD 3.000 "), "{payments}");
}

/// The trip of the test above: yen alice paid for both, dinars and euros bob paid for alice.
fn three_currencies() -> Server {
    let server = settling_trip();
    as_user(&server, "alice", &["add", "trip", "1234", "--currency", "JPY", "--split", "bob", "--include-me"]).ok();
    as_user(&server, "bob", &["add", "trip", "3.000", "--currency", "KWD", "--split", "alice"]).ok();
    as_user(&server, "bob", &["add", "trip", "4", "--split", "alice"]).ok();
    server
}

#[test]
fn details_debts_and_stats_show_a_section_per_currency() {
    let server = three_currencies();
    let details = as_user(&server, "alice", &["balances", "trip", "--details"]).ok().stdout;
    for needle in [
        "MEMBER  PAID  SHARE  SENT  RECEIVED  NET (EUR)\n",
        "In JPY:\nMEMBER  PAID  SHARE  SENT  RECEIVED  NET (JPY)\n",
        "alice   1234    617     0         0        617\n",
        "In KWD:\nMEMBER   PAID  SHARE   SENT  RECEIVED  NET (KWD)\n",
        "bob     3.000  0.000  0.000     0.000      3.000\n",
    ] {
        assert!(details.contains(needle), "{needle:?} in:\n{details}");
    }
    let json = as_user(&server, "alice", &["balances", "trip", "--details", "--json"]).ok().json();
    assert_eq!(json["by_currency"]["JPY"]["members"][0]["net"].to_string(), "617", "as it came: {json}");

    let debts = as_user(&server, "bob", &["debts", "trip"]).ok().stdout;
    for needle in ["alice  bob          4.00\n", "In JPY:\nFROM  TO     AMOUNT (JPY)\n", "bob   alice           617\n"]
    {
        assert!(debts.contains(needle), "{needle:?} in:\n{debts}");
    }
    assert!(debts.contains("In KWD:\n") && debts.contains("alice  bob         3.000\n"), "{debts}");

    let stats = as_user(&server, "alice", &["stats", "trip", "--by", "member"]).ok().stdout;
    let yen = stats.split("In JPY:\n").nth(1).unwrap_or_else(|| panic!("no yen section:\n{stats}"));
    assert!(yen.lines().next().is_some_and(|l| l.starts_with("alice") && l.contains("  617  paid 1234")), "{stats}");
    assert!(yen.lines().any(|l| l.starts_with("total") && l.ends_with("  1234")), "{stats}");
    assert!(stats.contains("In KWD:\n") && stats.contains("  3.000"), "{stats}");
    assert!(stats.starts_with("Consumed by member in trip (EUR)"), "{stats}");
}

#[test]
fn the_interactive_balances_and_settle_show_every_currency() {
    let server = three_currencies();
    let script = ["1", "alice", "pw-alice-long", "4", "1", "4", "5", "0", "0", "0"].join("\n") + "\n";
    let out = splitc(&["--server", &server.addr], None, &script).ok().stdout;
    let expect_in_order = [
        "--- GROUP: trip ---",
        "alice     -4.00  owes\n",
        "In JPY:\n",
        "alice             617  is owed\n",
        "In KWD:\n",
        "alice          -3.000  owes\n",
        "alice  bob    4.00\n",
        "In JPY:\n",
        "bob   alice           617\n",
        "In KWD:\n",
        "alice  bob         3.000\n",
        "Goodbye",
    ];
    assert_in_order(&out, &expect_in_order);
}
