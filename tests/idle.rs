//! Connections that do not log in, against the real binary: a person reading the original client's
//! welcome menu is not cut off, those idle past `--login-timeout-secs` are closed with an error line,
//! and near `--max-connections` the oldest of them make room for new ones.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{ok, Client, Server, TempDir};
use serde_json::json;
use splitd::config::Config;

/// Opens a connection and makes one round trip on it without logging in (as the original client's
/// menu would, minus the waiting): the server has accepted it, in order, when this returns.
fn idle_connection(server: &Server) -> Client {
    let mut client = server.connect();
    assert_eq!(client.request("list_groups", json!({}))["message"], "Not authenticated");
    client
}

/// Expects an error line with `code`, then the end of the connection.
fn closed_with(client: &mut Client, code: &str) {
    let line = client.read_message().expect("an error line before the close");
    assert_eq!(line["code"], code, "{line}");
    assert!(client.read_message().is_none(), "closed after the error line");
}

#[test]
fn near_the_cap_the_oldest_idle_connections_make_room() {
    let dir = TempDir::new("evict");
    let mut server = Server::start(dir.path(), &["--max-connections", "20"]);
    let mut idle: Vec<Client> = (0..20).map(|_| idle_connection(&server)).collect();
    // The table is near its cap (the last tenth): a logged-in user still gets in and works.
    let mut user = server.connect();
    user.login_as("alice");
    ok(&user.request("create_group", json!({"group": "trip"})));
    ok(&user.request(
        "add_transaction",
        json!({"group": "trip", "amount": 12, "split_between": [], "include_payer": true}),
    ));
    // Three made room, oldest first: the 19th and 20th connections and the user's.
    for oldest in &mut idle[..3] {
        closed_with(oldest, "too_many_connections");
    }
    for newer in &mut idle[3..] {
        assert_eq!(newer.request("list_groups", json!({}))["message"], "Not authenticated", "still served");
    }
    assert_eq!(server.stop(), Some(0));
    let evictions: Vec<String> = server
        .stderr_text()
        .lines()
        .filter(|line| line.contains("have not logged in (--max-connections)"))
        .map(str::to_string)
        .collect();
    assert_eq!(evictions.len(), 1, "logged once for three: {evictions:?}");
}

#[test]
fn a_logout_starts_the_login_clock_again() {
    let dir = TempDir::new("logout-clock");
    let server = Server::start(dir.path(), &["--login-timeout-secs", "3"]);
    let mut user = server.connect();
    user.login_as("bob");
    let mut stays = server.connect();
    stays.login_as("carol");
    // Logged in for longer than the limit: not closed.
    assert!(stays.silent_for(Duration::from_millis(3500)));
    ok(&user.request("list_groups", json!({})));
    ok(&user.request("logout", json!({})));
    let logged_out = Instant::now();
    closed_with(&mut user, "limit");
    // Counted from the accept (over 3.5 s ago), it would close at the next check (0.5 s at most).
    assert!(logged_out.elapsed() >= Duration::from_secs(2), "the limit counts from the logout");
    ok(&stays.request("list_groups", json!({})));
}

#[test]
fn the_login_timeout_defaults_to_fifteen_minutes() {
    let help = Command::new(env!("CARGO_BIN_EXE_splitd")).arg("--help").output().expect("run splitd --help");
    let text = String::from_utf8_lossy(&help.stdout);
    let (_, described) = text.rsplit_once("--login-timeout-secs").expect("the flag is documented");
    let described = described.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        described.starts_with("seconds a connection may stay without logging in (default 900: 15 minutes)"),
        "{text}"
    );
    // The flag's default is the configuration's, which the help must tell.
    assert_eq!(Config::default().unauthenticated_idle, Duration::from_secs(15 * 60));
}

/// The original client's user reads the welcome menu for two minutes (past the old 60 s limit), then
/// signs up and logs in. Slow: `cargo test -- --ignored`.
#[test]
#[ignore]
fn an_original_client_idle_for_two_minutes_is_still_served() {
    let dir = TempDir::new("menu-reader");
    let server = Server::start(dir.path(), &[]);
    let mut reader = server.connect();
    assert!(reader.silent_for(Duration::from_secs(125)), "nothing arrives while the person reads");
    let signup = reader.request("signup", json!({"username": "slow", "password": "slow-reader-pw"}));
    assert_eq!(signup["message"], "Signup successful", "{signup}");
    let login = reader.request("login", json!({"username": "slow", "password": "slow-reader-pw"}));
    assert_eq!(login["message"], "Login successful", "{login}");
    ok(&reader.request("list_groups", json!({})));
}
