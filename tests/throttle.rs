//! Throttling an attacker cannot sidestep, against the real binary: password guesses counted per
//! (account or group, address) however many connections carry them, abandoned logins not hashed,
//! and one address unable to fill the worker pool. Other addresses go on as if nothing happened.
//! Clients come from different loopback addresses (all of 127.0.0.0/8 is loopback on Linux).

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::{ok, Client, Server, TempDir};
use serde_json::{json, Value};

const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const OWNER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const FRIEND: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

/// The per-(target, address) limit: a burst of 10, then one every 6 s (`net::throttle`).
fn guesses_allowed(elapsed: Duration) -> u64 {
    10 + elapsed.as_secs() / 6
}

fn frame(action: &str, data: Value) -> String {
    format!("{}\n", json!({"action": action, "data": data}))
}

/// Counts replies by code; every reply must be one of `codes`, and every `rate_limited` one must say
/// when to try again.
fn tally(replies: &[Value], codes: &[&str]) -> Vec<usize> {
    for reply in replies {
        let code = reply["code"].as_str().unwrap_or_else(|| panic!("an error reply: {reply}"));
        assert!(codes.contains(&code), "unexpected {reply}");
        if code == "rate_limited" {
            let wait = reply["retry_after_ms"].as_u64().unwrap_or_else(|| panic!("retry_after_ms: {reply}"));
            assert!((1..=60_000).contains(&wait), "{reply}");
        }
    }
    codes.iter().map(|code| replies.iter().filter(|r| r["code"] == *code).count()).collect()
}

#[test]
fn guessing_over_fifty_connections_gets_ten_tries_and_the_owner_still_logs_in() {
    let dir = TempDir::new("throttle-login");
    let mut server = Server::start(dir.path(), &["--hash-threads", "2"]);
    let mut owner = server.connect_from(OWNER);
    let password = "pw-victim-secret";
    ok(&owner.request("signup", json!({"username": "victim", "password": password})));
    let started = Instant::now();
    let mut guessers: Vec<Client> = (0..50).map(|_| server.connect_from(ATTACKER)).collect();
    for (n, guesser) in guessers.iter_mut().enumerate() {
        let guesses: String = (0..3)
            .map(|i| frame("login", json!({"username": "victim", "password": format!("guess-{n}-{i}")})))
            .collect();
        guesser.send_raw(guesses.as_bytes());
    }
    // While the guesses are in flight, the owner logs in from home.
    let reply = owner.request("login", json!({"username": "victim", "password": password}));
    assert_eq!(reply["message"], "Login successful", "{reply}");
    let replies: Vec<Value> = guessers.iter_mut().flat_map(|g| (0..3).map(|_| g.reply()).collect::<Vec<_>>()).collect();
    let elapsed = started.elapsed();
    let counts = tally(&replies, &["invalid_credentials", "rate_limited"]);
    assert!(counts[0] as u64 <= guesses_allowed(elapsed), "{counts:?} in {elapsed:?}");
    assert!(counts[0] >= 1, "some guesses are checked: {counts:?}");
    assert_eq!(counts[0] + counts[1], 150);
    // The owner was never throttled by someone else's guessing.
    let again = server.connect_from(OWNER).request("login", json!({"username": "victim", "password": password}));
    assert_eq!(again["message"], "Login successful", "{again}");
    assert_eq!(server.stop(), Some(0));
    let log = server.stderr_text();
    assert_eq!(log.matches("throttling password guesses").count(), 1, "logged once: {log}");
}

#[test]
fn many_honest_logins_at_once_from_one_address_all_succeed() {
    let dir = TempDir::new("throttle-honest");
    let server = Server::start(dir.path(), &["--hash-threads", "2"]);
    let password = "pw-shared-secret";
    ok(&server.connect().request("signup", json!({"username": "shared", "password": password})));
    // Twenty devices behind one address log in at once: more than the ten guesses that may be in
    // flight, so some wait for others to finish; none is refused, as none fails.
    let mut devices: Vec<Client> = (0..20).map(|_| server.connect_from(ATTACKER)).collect();
    for device in &mut devices {
        device.send_raw(frame("login", json!({"username": "shared", "password": password})).as_bytes());
    }
    for device in &mut devices {
        assert_eq!(device.reply()["message"], "Login successful");
    }
}

#[test]
fn group_password_guessing_is_throttled_per_address() {
    let dir = TempDir::new("throttle-join");
    let server = Server::start(dir.path(), &["--hash-threads", "2"]);
    let mut creator = server.connect_from(OWNER);
    creator.login_as("creator");
    ok(&creator.request("create_group", json!({"group": "vault", "password": "pw-vault-secret"})));
    let mut attackers: Vec<Client> = (0..3).map(|_| server.connect_from(ATTACKER)).collect();
    for attacker in &mut attackers {
        attacker.login_as("mallory");
    }
    for (n, attacker) in attackers.iter_mut().enumerate() {
        let guesses: String =
            (0..10).map(|i| frame("join_group", json!({"group": "vault", "password": format!("g-{n}-{i}")}))).collect();
        attacker.send_raw(guesses.as_bytes());
    }
    let started = Instant::now();
    let replies: Vec<Value> =
        attackers.iter_mut().flat_map(|a| (0..10).map(|_| a.reply()).collect::<Vec<_>>()).collect();
    let counts = tally(&replies, &["invalid_group_password", "rate_limited"]);
    assert!(counts[0] as u64 <= guesses_allowed(started.elapsed()), "{counts:?}");
    assert!(counts[1] >= 10, "{counts:?}");
    // Throttled means not checked at all, right password or not.
    let right = json!({"group": "vault", "password": "pw-vault-secret"});
    assert_eq!(attackers[0].request("join_group", right.clone())["code"], "rate_limited");
    // Someone else, from another address, joins at once.
    let mut friend = server.connect_from(FRIEND);
    friend.login_as("friend");
    assert_eq!(friend.request("join_group", right)["message"], "Joined group");
}

#[test]
fn abandoned_logins_are_not_hashed_after_their_connections_reset() {
    let dir = TempDir::new("throttle-abandoned");
    let server = Server::start(dir.path(), &["--hash-threads", "2"]);
    let mut owner = server.connect_from(OWNER);
    let password = "pw-owner-secret";
    ok(&owner.request("signup", json!({"username": "owner", "password": password})));
    // 300 wrong-password logins from 150 addresses (two each: no per-address limit is reached), so
    // only cancelling them can spare the owner ~300 hashes of waiting.
    let mut abandoned = Vec::new();
    for n in 0..300u32 {
        let mut c = server.connect_from(Ipv4Addr::new(127, 0, 1 + (n % 150 / 100) as u8, 1 + (n % 150 % 100) as u8));
        c.send_raw(frame("login", json!({"username": "owner", "password": format!("wrong-{n}")})).as_bytes());
        abandoned.push(c);
    }
    // Once a later connection is answered, the server has read (and queued) every login above.
    assert_eq!(server.connect_from(FRIEND).request("list_groups", json!({}))["code"], "not_authenticated");
    for c in abandoned {
        c.reset();
    }
    let started = Instant::now();
    let reply = owner.request("login", json!({"username": "owner", "password": password}));
    let took = started.elapsed();
    assert_eq!(reply["message"], "Login successful", "{reply}");
    assert!(took < Duration::from_secs(1), "the owner's login waited {took:?} behind abandoned work");
}

#[test]
fn one_address_cannot_fill_the_worker_pool() {
    let dir = TempDir::new("throttle-pool");
    let mut server = Server::start(dir.path(), &["--hash-threads", "2"]);
    let mut owner = server.connect_from(OWNER);
    let password = "pw-owner-secret";
    ok(&owner.request("signup", json!({"username": "owner", "password": password})));
    let mut flood: Vec<Client> = (0..300).map(|_| server.connect_from(ATTACKER)).collect();
    for (n, c) in flood.iter_mut().enumerate() {
        c.send_raw(frame("signup", json!({"username": format!("flood{n}"), "password": "pw-flood-secret"})).as_bytes());
    }
    assert_eq!(server.connect_from(FRIEND).request("list_groups", json!({}))["code"], "not_authenticated");
    let started = Instant::now();
    let reply = owner.request("login", json!({"username": "owner", "password": password}));
    let took = started.elapsed();
    assert_eq!(reply["message"], "Login successful", "{reply}");
    assert!(took < Duration::from_secs(1), "the owner's login waited {took:?} behind another address's work");
    // Stop rather than wait for ~256 hashes; what each flooding connection was told is in its socket.
    assert_eq!(server.stop(), Some(0));
    let replies: Vec<Value> = flood.iter_mut().flat_map(|c| std::iter::from_fn(|| c.read_message())).collect();
    let refused: Vec<&Value> = replies.iter().filter(|r| r["code"] == "rate_limited").collect();
    let signed_up = replies.iter().filter(|r| r["message"] == "Signup successful").count();
    assert_eq!(signed_up + refused.len(), replies.len(), "nothing else: {replies:?}");
    // At most 256 were in flight at once; jobs finished meanwhile made room for a few more.
    assert!(refused.len() + signed_up >= 300 - 256, "{} refused, {signed_up} done", refused.len());
    assert!(!refused.is_empty(), "more than the per-address bound was queued");
    assert!(refused.iter().all(|r| r["retry_after_ms"] == 1000), "{refused:?}");
}
