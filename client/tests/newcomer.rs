//! splitc as a newcomer meets it (issue 17), against the real binaries: usage errors in splitc's
//! own words with exit code 2, the conventions of a command-line tool (`--version`, `-h`, options
//! after the subcommand, environment variables, "did you mean"), a subcommand for every server
//! action, and tables that show what was entered (the `--date`, the currency, CJK text measured by
//! display width).

mod common;

use common::*;
use unicode_width::UnicodeWidthStr;

/// A one-shot run with `env` set (and no `--user` / `--server` unless `args` give them).
fn with_env(env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = splitc_command(args, None);
    for (key, value) in env {
        cmd.env(key, value);
    }
    run_to_end(cmd, args, "")
}

fn usage_error(run: &Run, words: &str) {
    assert_eq!(run.code, 2, "a usage error exits 2: {run:?}");
    assert!(run.stderr.starts_with("splitc: "), "{run:?}");
    assert!(run.stderr.contains(words), "expected {words:?} in {run:?}");
}

#[test]
fn usage_errors_are_in_the_clients_words_with_exit_2() {
    let server = trip_with_three();
    usage_error(&splitc(&["ad"], None, ""), "did you mean `add`?");
    usage_error(&splitc(&["--user", "alice", "paymnets", "trip"], None, ""), "did you mean `payments`?");
    usage_error(&as_user(&server, "alice", &["add", "trip", "12"]), "add needs --split");
    usage_error(&as_user(&server, "alice", &["pay", "trip", "alice", "3"]), "TO is who received the money");
    usage_error(
        &as_user(&server, "alice", &["add", "trip", "5", "--split", "bob", "--date", "2025-02-29"]),
        "\"2025-02-29\" is not a day in the calendar",
    );
    usage_error(&as_user(&server, "alice", &["add", "trip", "-4", "--split", "bob"]), "-4: amounts are positive");
    usage_error(&as_user(&server, "alice", &["add", "trip", "12,50", "--split", "bob"]), "write 12.50");
    usage_error(&as_user(&server, "alice", &["delete-account"]), "add --yes");
    // The server's amount grammar, shared: 1e3 is a thousand.
    let run = as_user(&server, "alice", &["add", "trip", "1e3", "--split", "bob", "--json"]).ok();
    assert_eq!(cents(&run.json()["transaction"]["amount"]), 100_000);
    // Nothing reached the server from the refused ones.
    let txns = as_user(&server, "alice", &["transactions", "trip", "--json"]).ok().json();
    assert_eq!(txns["transactions"].as_array().map(Vec::len), Some(1), "{txns}");
}

#[test]
fn version_help_and_grouped_commands() {
    let run = splitc(&["--version"], None, "").ok();
    assert_eq!(run.stdout.trim(), format!("splitc {}", env!("CARGO_PKG_VERSION")));
    let help = splitc(&["-h"], None, "").ok().stdout;
    let groups = ["Account:", "Groups:", "Expenses:", "Payments:", "Reading:", "Live:"];
    let mut from = 0;
    for group in groups {
        let at = help[from..].find(group).unwrap_or_else(|| panic!("{group} missing (in order) from:\n{help}"));
        from += at;
    }
    for command in ["group-info", "set-group-password", "set-group-currency", "change-password", "login", "watch"] {
        assert!(help.contains(&format!("    {command} ")), "{command} listed:\n{help}");
    }
    assert_eq!(splitc(&["--help"], None, "").ok().stdout, help);
    assert_eq!(splitc(&["help"], None, "").ok().stdout, help);
    let commands = &help[help.find("Commands").expect("commands")..];
    assert!(commands.lines().all(|l| l.chars().count() <= 100), "wrapped:\n{help}");
    let add = splitc(&["help", "add"], None, "").ok().stdout;
    assert!(add.contains("Examples:") && add.contains("splitc --user alice add dinner 84.50"), "{add}");
    let pay = splitc(&["pay", "-h"], None, "").ok().stdout;
    assert!(pay.contains("Usage: splitc pay"), "{pay}");
}

#[test]
fn global_options_after_the_subcommand_and_from_the_environment() {
    let server = trip_with_three();
    let password = ("SPLITC_PASSWORD", "pw-alice-long");
    let after = with_env(&[password], &["groups", "--user", "alice", "--server", &server.addr, "--json"]).ok();
    assert_eq!(after.json()["groups"], serde_json::json!(["trip"]));
    let json_first = with_env(&[password], &["--json", "--server", &server.addr, "--user", "alice", "groups"]).ok();
    assert_eq!(json_first.json()["groups"], serde_json::json!(["trip"]));
    let env = with_env(&[password, ("SPLITC_USER", "alice"), ("SPLITC_SERVER", &server.addr)], &["groups"]).ok();
    assert!(env.stdout.contains("trip"), "{env:?}");
    // A flag still wins over the environment.
    let flag = with_env(
        &[("SPLITC_USER", "nobody"), ("SPLITC_SERVER", "127.0.0.1:1"), password],
        &["--user", "alice", "--server", &server.addr, "groups"],
    );
    assert!(flag.ok().stdout.contains("trip"));
    let missing = with_env(&[("SPLITC_SERVER", &server.addr)], &["groups"]);
    usage_error(&missing, "--user NAME (or SPLITC_USER)");
}

#[test]
fn a_subcommand_for_every_group_setting() {
    let server = Server::start();
    for user in ["alice", "bob"] {
        as_user(&server, user, &["signup"]).ok();
    }
    let run = as_user(&server, "alice", &["login"]).ok();
    assert!(run.stdout.contains("Logged in as alice"), "{run:?}");
    as_user(&server, "alice", &["create-group", "ski", "--currency", "EUR"]).ok();
    let info = as_user(&server, "alice", &["group-info", "ski"]).ok().stdout;
    assert!(info.contains("currency        EUR") && info.contains("creator         alice"), "{info}");
    as_user(&server, "alice", &["set-group-currency", "ski", "CHF"]).ok();
    as_user(&server, "alice", &["set-group-password", "ski", "--group-password", "s3cret-pw"]).ok();
    let info = as_user(&server, "alice", &["group-info", "ski", "--json"]).ok().json();
    assert_eq!((info["currency"].as_str(), info["has_password"].as_bool()), (Some("CHF"), Some(true)), "{info}");
    assert_eq!(as_user(&server, "bob", &["join", "ski"]).code, 1, "the password is needed now");
    as_user(&server, "bob", &["join", "ski", "--group-password", "s3cret-pw"]).ok();
    let table = as_user(&server, "alice", &["balances", "ski"]).ok().stdout;
    assert!(table.starts_with("MEMBER  BALANCE (CHF)"), "amounts name the currency: {table}");
}

#[test]
fn tables_show_the_date_given_the_currency_and_wide_text_aligned() {
    let server = trip_with_three();
    let sushi = "寿司 🍣 dinner";
    let args = ["add", "trip", "12", "--split", "bob", "--desc", sushi, "--date", "2025-03-04", "--key", "k-1"];
    let run = as_user(&server, "alice", &args).ok();
    assert!(run.stdout.starts_with("Transaction added\n"), "{run:?}");
    let again = as_user(&server, "alice", &args).ok();
    assert!(again.stdout.starts_with("Already recorded as #"), "a repeated --key says so: {again:?}");
    assert!(again.stdout.contains("nothing added"), "{again:?}");
    as_user(&server, "alice", &["add", "trip", "7.50", "--split", "bob", "--desc", "taxi"]).ok();
    let long = "a very long description that goes on and on past any sensible column width";
    as_user(&server, "alice", &["add", "trip", "1", "--split", "bob", "--desc", long]).ok();
    let table = as_user(&server, "alice", &["transactions", "trip"]).ok().stdout;
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].contains("AMOUNT (INR)"), "{table}");
    assert!(lines[2].contains("2025-03-04"), "the --date is the DATE shown: {table}");
    // SPLIT BETWEEN starts in the same terminal column on every row, CJK and emoji included.
    let column = |line: &str| line[..line.rfind("  bob").expect("split column")].width();
    assert_eq!(column(lines[2]), column(lines[3]), "{table}");
    assert_eq!(column(lines[3]), column(lines[4]), "{table}");
    assert!(lines[4].contains('…') && !lines[4].contains("sensible"), "a long description is cut: {table}");
    let json = as_user(&server, "alice", &["transactions", "trip", "--json"]).ok().json();
    assert_eq!(json["transactions"][2]["description"], long, "--json keeps it whole");
    let run = as_user(&server, "bob", &["settle", "trip", "--record"]).ok();
    assert!(run.stdout.contains("Recorded 1 payment: id "), "{run:?}");
}

#[test]
fn interactive_mode_says_why_the_server_closed_the_connection() {
    let data = TempDir::new("idle");
    let extra = ["--login-timeout-secs".to_string(), "1".to_string()];
    let server = Server::launch_with("127.0.0.1:0", data, &extra).unwrap_or_else(|(why, _)| panic!("{why}"));
    let live = Live::start(&["--server", &server.addr], None);
    live.wait_for("Not logged in within the idle limit", 1, false);
    let out = live.stdout();
    assert!(out.contains("the server closed the connection: Not logged in within the idle limit"), "{out}");
    drop(live);
}

#[test]
fn a_settle_plan_in_watch_names_the_currency_as_every_other_line() {
    let server = trip_with_three();
    let watch = Live::start(&["--server", &server.addr, "--user", "alice", "watch", "trip"], Some("pw-alice-long"));
    watch.wait_for("watching trip", 1, true);
    as_user(&server, "bob", &["add", "trip", "30", "--split", "alice"]).ok();
    watch.wait_for("bob added ₹30.00 expense", 1, false);
    as_user(&server, "bob", &["settle", "trip"]).ok();
    watch.wait_for("💸 [trip]", 1, false);
    let out = watch.stdout();
    assert!(out.contains("alice → bob ₹30.00"), "{out}");
    drop(watch);
}
