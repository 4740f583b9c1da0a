//! Throttling an attacker cannot sidestep, against the real binary: abandoned logins not hashed, and
//! one address unable to fill the worker pool. Other addresses go on as if nothing happened.
//! Clients come from different loopback addresses (all of 127.0.0.0/8 is loopback on Linux).

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::{ok, Client, Server, TempDir};
use serde_json::{json, Value};

const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const OWNER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const FRIEND: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

fn frame(action: &str, data: Value) -> String {
    format!("{}\n", json!({"action": action, "data": data}))
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
