//! README.md as a newcomer pastes it: every command of the `splitc` walkthrough run in order through
//! a shell (every `splitc` block, in order), its output compared with what the README shows
//! (timestamps aside); the raw-protocol
//! transcript sent line by line from two connections, each reply and notification compared as JSON
//! (tokens and times aside); and the bash fallback for `nc`.
//!
//! The blocks tested are the ones after a `<!-- readme-test: WHO -->` line. The walkthrough runs
//! against a server on a free port through `SPLITC_SERVER`, with `splitc` on `PATH`, so the commands
//! are exactly the README's.

mod common;

use common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The README's tested blocks, in order: (who, lines).
fn blocks() -> Vec<(String, Vec<String>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&path).expect("README.md");
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(who) = line.strip_prefix("<!-- readme-test: ").and_then(|l| l.strip_suffix(" -->")) else {
            continue;
        };
        assert_eq!(lines.next(), Some("```text"), "a fenced text block follows the marker for {who}");
        let body: Vec<String> = lines.by_ref().take_while(|l| *l != "```").map(str::to_string).collect();
        blocks.push((who.to_string(), body));
    }
    assert!(blocks.len() >= 6, "the README's tested blocks: {blocks:?}");
    blocks
}

/// `text` with every UTC time (`2026-11-25 19:16`, `2026-11-25T19:16:40Z`) written as `<time>`.
fn without_times(text: &str) -> String {
    let shape = |s: &[u8], pattern: &[u8]| {
        s.len() >= pattern.len()
            && pattern.iter().zip(s).all(|(p, c)| if *p == b'9' { c.is_ascii_digit() } else { p == c })
    };
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        if shape(&bytes[i..], b"9999-99-99T99:99:99Z") {
            out.push_str("<time>");
            i += 20;
        } else if shape(&bytes[i..], b"9999-99-99 99:99") {
            out.push_str("<time>");
            i += 16;
        } else {
            let c = text[i..].chars().next().expect("a char");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The walkthrough as (command, expected output) pairs.
fn commands(lines: &[String]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for line in lines {
        match line.strip_prefix("$ ") {
            Some(command) => pairs.push((command.to_string(), String::new())),
            None if line.is_empty() => {}
            None => {
                let (_, output) = pairs.last_mut().expect("output after a command");
                output.push_str(line);
                output.push('\n');
            }
        }
    }
    pairs
}

#[test]
fn the_splitc_walkthrough_runs_as_pasted() {
    let server = Server::start();
    let config = TempDir::new("readme-config");
    let bin_dir = Path::new(SPLITC).parent().expect("the binary's directory");
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    // The walkthrough's blocks, one after the other (the dinner, then the rent), in one shell session.
    let lines: Vec<String> = blocks().into_iter().filter(|(who, _)| who == "splitc").flat_map(|(_, l)| l).collect();
    assert!(lines.iter().any(|l| l.contains("splitc --user alice add dinner")), "the walkthrough: {lines:?}");
    let mut exports = String::new();
    for (command, expected) in commands(&lines) {
        if command.starts_with("export ") {
            exports.push_str(&command);
            exports.push_str("; ");
            continue;
        }
        let script = format!("{exports}{command}");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &script]).env("PATH", &path).env("SPLITC_SERVER", &server.addr);
        cmd.env("XDG_CONFIG_HOME", &config.0).env_remove("SPLITC_PASSWORD").env_remove("SPLITC_USER");
        let run = run_to_end(cmd, &[command.as_str()], "");
        assert_eq!(run.code, 0, "`{command}` failed: {run:?}");
        assert_eq!(without_times(&run.stdout), without_times(&expected), "the output of `{command}`");
    }
}

/// Values that differ from run to run (tokens, times) as `null`, everywhere in `value`.
fn without_volatile(mut value: Value) -> Value {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if ["token", "at", "created_at"].contains(&key.as_str()) {
                        *v = Value::Null;
                    } else {
                        walk(v);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

fn json(line: &str) -> Value {
    without_volatile(serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
}

/// One terminal of the transcript: a connection whose lines are read with a deadline.
struct Terminal {
    stream: TcpStream,
    lines: mpsc::Receiver<String>,
}

impl Terminal {
    fn open(addr: &str) -> Terminal {
        let stream = TcpStream::connect(addr).expect("connect");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Terminal { stream, lines }
    }

    fn next(&self) -> String {
        self.lines.recv_timeout(WAIT_DEADLINE).expect("a line from the server")
    }
}

#[test]
fn the_raw_protocol_transcript_is_what_the_server_sends() {
    let server = Server::start();
    let mut terminals: HashMap<String, Terminal> = HashMap::new();
    for (who, lines) in blocks().into_iter().filter(|(who, _)| who != "splitc") {
        let (name, pushed) = match who.strip_suffix(" pushed") {
            Some(name) => (name.to_string(), true),
            None => (who.clone(), false),
        };
        let terminal = terminals.entry(name).or_insert_with(|| Terminal::open(&server.addr));
        if pushed {
            for line in &lines {
                assert_eq!(json(&terminal.next()), json(line), "{who} received");
            }
            continue;
        }
        for pair in lines.chunks(2) {
            let [request, reply] = pair else { panic!("{who}: a request without its reply: {pair:?}") };
            writeln!(terminal.stream, "{request}").expect("send");
            assert_eq!(json(&terminal.next()), json(reply), "{who}: the reply to {request}");
        }
    }
}

#[test]
fn the_bash_fallback_for_nc_talks_to_the_server() {
    let server = Server::start();
    let (host, port) = server.addr.rsplit_once(':').expect("host:port");
    let script = format!("exec 3<>/dev/tcp/{host}/{port}; cat <&3 & cat >&3");
    let mut child = Command::new("bash")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("bash");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, r#"{{"action":"signup","data":{{"username":"alice","password":"alice-secret"}}}}"#).expect("type");
    let reply = rx.recv_timeout(Duration::from_secs(20)).expect("a reply");
    assert_eq!(json(&reply), json(r#"{"status":"ok","message":"Signup successful"}"#));
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    drop(server); // ends the connection, and with it the background cat
}

#[test]
fn times_are_masked_and_nothing_else() {
    assert_eq!(without_times(" 1  2026-11-25 19:16  alice"), " 1  <time>  alice");
    assert_eq!(without_times("1,2026-11-25T19:16:40Z,alice,84.50"), "1,<time>,alice,84.50");
    assert_eq!(without_times("₹ 2026-11-2 19:16"), "₹ 2026-11-2 19:16");
}
