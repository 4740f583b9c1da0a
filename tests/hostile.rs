//! Hostile and careless clients against the real binary: floods, slow readers, password guessing,
//! idle sockets, garbage. The server keeps serving everyone else.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{ok, Server, TempDir};
use serde_json::{json, Value};

#[test]
fn garbage_of_every_kind_gets_an_error_and_others_are_unaffected() {
    let dir = TempDir::new("garbage");
    let server = Server::start(dir.path(), &[]);
    let mut bystander = server.connect();
    bystander.login_as("bystander");
    ok(&bystander.request("create_group", json!({"group": "g"})));
    let mut hostile = server.connect();
    hostile.login_as("hostile");
    let huge = "9".repeat(5000);
    let frames: Vec<Vec<u8>> = vec![
        b"\x00\x00\x00\n".to_vec(),
        b"{\"action\":\"list_groups\"}\x00\n".to_vec(),
        format!("{{\"action\":\"add_transaction\",\"data\":{{\"group\":\"g\",\"amount\":{huge},\"split_between\":[]}}}}\n")
            .into_bytes(),
        b"{\"action\":\"add_transaction\",\"data\":{\"group\":\"g\",\"amount\":1e308,\"split_between\":[]}}\n".to_vec(),
        b"{\"action\":\"add_transaction\",\"data\":{\"group\":{\"a\":{\"b\":[[[[1]]]]}},\"amount\":1,\"split_between\":[]}}\n"
            .to_vec(),
        b"{\"action\":\"view_balances\",\"data\":\"g\"}\n".to_vec(),
        b"{\"action\":[\"login\"]}\n".to_vec(),
        b"{\"action\":\"login\",\"data\":{\"username\":null,\"password\":null}}\n".to_vec(),
        b"{\"action\":\"settle\",\"data\":{\"group\":\"g\"},\"extra\":1}\n".to_vec(),
        b"null\n".to_vec(),
        b"true\n".to_vec(),
        b"\"\xc3\x28\"\n".to_vec(),
        format!("{}{}\n", "{\"a\":".repeat(5000), "}".repeat(5000)).into_bytes(),
        format!("{{\"action\":\"list_groups\",\"id\":{huge}}}\n").into_bytes(),
    ];
    for frame in &frames {
        hostile.send_raw(frame);
        let reply = hostile.reply();
        let shown = String::from_utf8_lossy(&frame[..frame.len().min(60)]).into_owned();
        // The huge id is a valid number and a valid request; everything else is an error.
        if shown.contains("\"id\":999") {
            assert_eq!(reply["status"], "ok", "{shown}: {reply}");
            continue;
        }
        assert_eq!(reply["status"], "error", "{shown}: {reply}");
        assert!(reply["message"].as_str().is_some_and(|m| !m.is_empty()), "{shown}: {reply}");
        assert!(reply["code"].is_string(), "{shown}: {reply}");
    }
    // The hostile connection is still usable, and so is everyone else.
    assert_eq!(hostile.request("list_groups", json!({}))["groups"], json!([]));
    ok(&bystander.request("view_balances", json!({"group": "g"})));
}

#[test]
fn failed_logins_are_slowed_then_the_connection_is_closed() {
    let dir = TempDir::new("guessing");
    let mut server = Server::start(dir.path(), &[]);
    let mut owner = server.connect();
    owner.login_as("victim");
    let mut guesser = server.connect();
    let mut burst = String::new();
    for i in 0..12 {
        burst.push_str(
            &json!({"action": "login", "data": {"username": "victim", "password": format!("guess-{i}")}}).to_string(),
        );
        burst.push('\n');
    }
    guesser.send_raw(burst.as_bytes());
    let started = Instant::now();
    let mut arrivals = Vec::new();
    while let Some(reply) = guesser.read_message() {
        assert_eq!(reply["message"], "Invalid credentials");
        arrivals.push(started.elapsed());
    }
    assert_eq!(arrivals.len(), 10, "closed after the tenth failure; the rest were never tried");
    let gaps: Vec<Duration> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
    // Growing delay: 50 ms, 100 ms, 200 ms, ... capped at 1 s (each gap also includes one hash).
    assert!(gaps[0] >= Duration::from_millis(45), "{gaps:?}");
    assert!(gaps[3] >= Duration::from_millis(390), "{gaps:?}");
    assert!(gaps[8] >= Duration::from_millis(990), "{gaps:?}");
    // Meanwhile the real owner was never slowed down.
    let probe = Instant::now();
    assert_eq!(owner.request("list_groups", json!({}))["status"], "ok");
    assert!(probe.elapsed() < Duration::from_secs(1));
    assert_eq!(server.stop(), Some(0));
    assert_eq!(log_lines(&mut server, "failed logins").len(), 1, "the limit is logged once");
}

#[test]
fn a_login_in_progress_does_not_delay_other_clients() {
    let dir = TempDir::new("parallel-login");
    let server = Server::start(dir.path(), &[]);
    let mut reader = server.connect();
    reader.login_as("reader");
    ok(&reader.request("create_group", json!({"group": "g"})));
    let mut loggers = Vec::new();
    for i in 0..6 {
        let mut c = server.connect();
        let name = format!("logger{i}");
        ok(&c.request("signup", json!({"username": name, "password": "pw-logger-secret"})));
        loggers.push(c);
    }
    // Six logins queue six argon2id hashes on the worker; the reader's request must not wait for them.
    let started = Instant::now();
    for (i, c) in loggers.iter_mut().enumerate() {
        let frame =
            json!({"action": "login", "data": {"username": format!("logger{i}"), "password": "pw-logger-secret"}});
        c.send_raw(format!("{frame}\n").as_bytes());
    }
    reader.send_raw(b"{\"action\":\"view_balances\",\"data\":{\"group\":\"g\"}}\n");
    assert_eq!(reader.reply()["status"], "ok");
    let read_took = started.elapsed();
    let mut last_login = Duration::ZERO;
    for c in &mut loggers {
        assert_eq!(c.reply()["message"], "Login successful");
        last_login = started.elapsed();
    }
    // Were the hashes run on the loop, every reply would leave in the same turn; on the worker, the
    // read answers at once and the logins follow one hash apart.
    assert!(
        read_took * 2 < last_login,
        "view_balances ({read_took:?}) must answer while hashes are still running (last login {last_login:?})"
    );
}

#[test]
fn a_slow_reader_is_disconnected_while_others_are_served() {
    let dir = TempDir::new("slow-reader");
    let server = Server::start(
        dir.path(),
        &["--fsync", "never", "--max-output-bytes", "262144", "--output-high-bytes", "65536"],
    );
    let mut writer = server.connect();
    writer.login_as("writer");
    ok(&writer.request("create_group", json!({"group": "g"})));
    let mut slow = server.connect();
    slow.login_as("slow");
    ok(&slow.request("join_group", json!({"group": "g"})));
    let mut attentive = server.connect();
    attentive.login_as("attentive");
    ok(&attentive.request("join_group", json!({"group": "g"})));
    let _ = writer.pushed_message();
    let _ = writer.pushed_message();
    let _ = slow.pushed_message();

    // The attentive member reads everything on its own thread.
    // ~28 MB of notifications: more than any kernel socket buffering can absorb (tcp_rmem + tcp_wmem
    // maxima are ~10 MB by default), so the server-side limit is what cuts the slow reader off.
    const WRITES: usize = 40_000;
    let attentive_stream = attentive.stream.try_clone().unwrap();
    let counter = std::thread::spawn(move || {
        let mut reader = BufReader::new(attentive_stream);
        let mut line = String::new();
        let mut seen = 0;
        while seen < WRITES {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            if line.contains("transaction_added") {
                seen += 1;
            }
        }
        seen
    });
    let description = "x".repeat(480);
    for batch in 0..(WRITES / 200) {
        let mut frames = String::new();
        for i in 0..200 {
            let request = json!({"action": "add_transaction", "id": batch * 200 + i, "data": {
                "group": "g", "amount": 1, "description": description, "split_between": ["slow", "attentive"]}});
            frames.push_str(&format!("{request}\n"));
        }
        writer.send_raw(frames.as_bytes());
        for _ in 0..200 {
            assert_eq!(writer.reply()["status"], "ok");
        }
    }
    assert_eq!(counter.join().unwrap(), WRITES, "the attentive member got every notification");

    // The slow reader now drains what the kernel buffered, then meets EOF: it was cut off.
    slow.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut bytes = Vec::new();
    let drained = slow.stream.read_to_end(&mut bytes);
    assert!(drained.is_ok(), "expected EOF, got {drained:?}");
    let delivered = bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
    assert!(delivered < WRITES, "the slow reader was disconnected before receiving everything ({delivered})");
    ok(&writer.request("view_balances", json!({"group": "g"})));
}

#[test]
fn a_connection_flood_beyond_the_maximum_leaves_the_server_serving() {
    let dir = TempDir::new("flood");
    let server = Server::start(dir.path(), &["--max-connections", "20"]);
    let mut member = server.connect();
    member.login_as("member");
    // Logged in, as idle connections that have not would be evicted to make room (see tests/idle.rs).
    let mut held: Vec<common::Client> = (0..19)
        .map(|_| {
            let mut held = server.connect();
            held.login_as("member");
            held
        })
        .collect();
    let mut refused = 0;
    for _ in 0..40 {
        let mut extra = TcpStream::connect(server.addr).unwrap();
        extra.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut text = String::new();
        let _ = extra.read_to_string(&mut text);
        let reply: Value = serde_json::from_str(text.trim()).unwrap_or(Value::Null);
        if reply["code"] == "too_many_connections" {
            refused += 1;
        }
    }
    assert_eq!(refused, 40, "every connection beyond the cap gets an error line and is closed");
    ok(&member.request("list_groups", json!({})));
    // Freeing slots lets new clients in again.
    held.truncate(10);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = server.connect();
        let reply = c.request("login", json!({"username": "member", "password": "pw-member-secret"}));
        if reply["message"] == "Login successful" {
            break;
        }
        assert!(Instant::now() < deadline, "slots were never freed: {reply}");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(held);
}

#[test]
fn unauthenticated_idle_connections_are_closed() {
    let dir = TempDir::new("idle");
    let mut server = Server::start(dir.path(), &["--login-timeout-secs", "1"]);
    let mut idle = [server.connect(), server.connect()];
    let mut active = server.connect();
    active.login_as("active");
    let started = Instant::now();
    for idle in &mut idle {
        let reply = idle.read_message().expect("an error line before the close");
        assert_eq!(reply["code"], "limit");
        assert!(idle.read_message().is_none());
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // A logged-in connection is not affected.
    ok(&active.request("list_groups", json!({})));
    assert_eq!(server.stop(), Some(0));
    assert_eq!(log_lines(&mut server, "--login-timeout-secs").len(), 1, "logged once for two connections");
}

#[test]
fn a_limit_hit_twice_logs_once_naming_its_flag() {
    let dir = TempDir::new("log-once");
    let mut server = Server::start(dir.path(), &["--max-frame-bytes", "100"]);
    for _ in 0..2 {
        let mut c = server.connect();
        c.send_raw(format!("{}\n", "x".repeat(200)).as_bytes());
        let reply = c.read_message().expect("an error line before the close");
        assert_eq!(reply["code"], "frame_too_long", "{reply}");
        assert!(c.read_message().is_none(), "closed after the error");
    }
    let mut bystander = server.connect();
    bystander.login_as("bystander");
    assert_eq!(server.stop(), Some(0));
    let lines = log_lines(&mut server, "--max-frame-bytes");
    assert_eq!(lines.len(), 1, "one log line for two connections over the limit: {lines:?}");
    assert!(lines[0].starts_with("splitd: ") && lines[0].contains("100 bytes"), "{lines:?}");
}

/// The server's stderr lines that contain `needle` (after it exited).
fn log_lines(server: &mut Server, needle: &str) -> Vec<String> {
    server.stderr_text().lines().filter(|line| line.contains(needle)).map(str::to_string).collect()
}

#[test]
fn no_plaintext_password_reaches_disk_or_logs() {
    let dir = TempDir::new("plaintext");
    let mut server = Server::start(dir.path(), &[]);
    let account_password = "Zebra-Plaintext-4242";
    let group_password = "Okapi-Plaintext-7373";
    let mut c = server.connect();
    ok(&c.request("signup", json!({"username": "pat", "password": account_password})));
    ok(&c.request("login", json!({"username": "pat", "password": account_password})));
    ok(&c.request("create_group", json!({"group": "g", "password": group_password})));
    let _ = c.request("login", json!({"username": "pat", "password": "Wrong-Plaintext-0000"}));
    let _ = c.request("join_group", json!({"group": "g", "password": "Wrong-Group-1111"}));
    let _ = c.stream.flush();
    let status = server.stop();
    assert_eq!(status, Some(0));
    let logs = server.stderr_text();
    let mut haystack = logs.into_bytes();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        haystack.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let text = String::from_utf8_lossy(&haystack);
    assert!(text.contains("argon2id"), "hashes are stored");
    for secret in [account_password, group_password, "Wrong-Plaintext-0000", "Wrong-Group-1111"] {
        assert!(!text.contains(secret), "{secret} found in the data directory or logs");
    }
}
