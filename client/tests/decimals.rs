//! `splitc` against the real `splitd` for groups whose currency has no decimals (JPY: whole yen)
//! or three (KWD: thousandths of a dinar): an amount typed for the group goes to the server, which
//! judges its digits; `add`, `transactions`, `balances`, `settle`, `pay`, `stats` and `export`
//! show the group's amounts as the server keeps them (`1000`, `1.255`), never as hundredths.

mod common;

use common::*;

/// alice's group `name` in `currency` from its creation, with bob and carol in it.
fn group_in(server: &Server, name: &str, currency: &str) {
    as_user(server, "alice", &["create-group", name, "--currency", currency]).ok();
    as_user(server, "bob", &["join", name]).ok();
    as_user(server, "carol", &["join", name]).ok();
}

fn three() -> Server {
    let server = Server::start();
    for user in ["alice", "bob", "carol"] {
        as_user(&server, user, &["signup"]).ok();
    }
    server
}

#[test]
fn a_yen_group_shows_whole_yen() {
    let server = three();
    group_in(&server, "tokyo", "JPY");
    let added = as_user(&server, "alice", &["add", "tokyo", "1000", "--split", "all", "--desc", "sushi"]).ok().stdout;
    assert!(added.contains("  1000  sushi"), "whole yen, no decimals: {added}");
    let listed = as_user(&server, "bob", &["transactions", "tokyo"]).ok().stdout;
    assert!(listed.contains("AMOUNT (JPY)") && listed.contains("  1000  sushi"), "{listed}");
    let balances = as_user(&server, "bob", &["balances", "tokyo"]).ok().stdout;
    let want = "\
MEMBER  BALANCE (JPY)  STATUS
------  -------------  -------
alice             666  is owed
bob              -333  owes
carol            -333  owes
";
    assert_eq!(balances, want);
    let plan = as_user(&server, "bob", &["settle", "tokyo"]).ok().stdout;
    for line in ["bob    alice           333\n", "carol  alice           333\n"] {
        assert!(plan.contains(line), "{line:?} in:\n{plan}");
    }
    let half = as_user(&server, "alice", &["add", "tokyo", "10.5", "--split", "all"]);
    assert_eq!(half.code, 1, "the server refuses half a yen: {half:?}");
    assert!(half.stderr.contains("must be a whole number of JPY"), "{}", half.stderr);

    let paid = as_user(&server, "bob", &["pay", "tokyo", "alice", "333"]).ok().stdout;
    assert!(paid.contains("alice           333  bob"), "{paid}");
    let details = as_user(&server, "alice", &["balances", "tokyo", "--details"]).ok().stdout;
    assert!(
        details.lines().any(|l| l.starts_with("alice  ") && l.contains(" 1000 ") && l.ends_with(" 333")),
        "{details}"
    );
    let stats = as_user(&server, "alice", &["stats", "tokyo", "--by", "member"]).ok().stdout;
    assert!(stats.contains("334  paid 1000, sent 0, received 333"), "{stats}");
    assert!(stats.lines().any(|l| l.starts_with("total") && l.ends_with(" 1000")), "{stats}");
    assert!(stats.ends_with("payments: 333\n"), "{stats}");
    let csv = as_user(&server, "alice", &["export", "tokyo"]).ok().stdout;
    assert!(csv.contains(",alice,1000,sushi,") && csv.contains("alice=334;bob=333;carol=333"), "{csv}");
}

#[test]
fn a_dinar_group_shows_thousandths() {
    let server = three();
    group_in(&server, "kuwait", "KWD");
    let added = as_user(&server, "alice", &["add", "kuwait", "1.255", "--split", "all", "--desc", "tea"]).ok().stdout;
    assert!(added.contains("  1.255  tea"), "thousandths, sent as typed: {added}");
    let listed = as_user(&server, "bob", &["transactions", "kuwait"]).ok().stdout;
    assert!(listed.contains("  1.255  tea"), "{listed}");
    let balances = as_user(&server, "bob", &["balances", "kuwait"]).ok().stdout;
    let want = "\
MEMBER  BALANCE (KWD)  STATUS
------  -------------  -------
alice           0.836  is owed
bob            -0.418  owes
carol          -0.418  owes
";
    assert_eq!(balances, want);
    let plan = as_user(&server, "carol", &["settle", "kuwait"]).ok().stdout;
    for line in ["bob    alice         0.418\n", "carol  alice         0.418\n"] {
        assert!(plan.contains(line), "{line:?} in:\n{plan}");
    }
    let exact = as_user(&server, "bob", &["add", "kuwait", "0.5", "--split", "exact:alice=0.25,carol=0.250"]).ok();
    assert!(exact.stdout.contains("alice 0.250, carol 0.250"), "{}", exact.stdout);
    let finer = as_user(&server, "alice", &["add", "kuwait", "1.2345", "--split", "all"]);
    assert_eq!(finer.code, 2, "no currency has four decimals: refused before sending: {finer:?}");
    assert!(finer.stderr.contains("at most 3 decimals"), "{}", finer.stderr);
    let stats = as_user(&server, "alice", &["stats", "kuwait"]).ok().stdout;
    assert!(stats.lines().any(|l| l.starts_with("total") && l.ends_with(" 1.755")), "{stats}");
    assert!(stats.ends_with("payments: 0.000\n"), "{stats}");
}
