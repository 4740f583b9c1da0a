//! Operating-system limits met by the real binary: a full disk (file-size limit), a low descriptor
//! limit and a full file-descriptor table. None may cost an acknowledged change or stop the service,
//! and no client may be left waiting on nothing.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use common::{ok, Server, TempDir};
use serde_json::{json, Value};

/// Sets a resource limit in the child just before it runs the server.
fn limit(command: &mut std::process::Command, resource: libc::__rlimit_resource_t, value: u64) {
    limits(command, resource, value, value);
}

/// Sets a resource limit's soft and hard values in the child just before it runs the server.
fn limits(command: &mut std::process::Command, resource: libc::__rlimit_resource_t, soft: u64, hard: u64) {
    // SAFETY: between fork and exec only async-signal-safe calls run: setrlimit and signal.
    unsafe {
        command.pre_exec(move || {
            let rlim = libc::rlimit { rlim_cur: soft, rlim_max: hard };
            if libc::setrlimit(resource, &rlim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // A write past the file-size limit then fails with EFBIG instead of killing the process.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
}

/// Makes the server start with descriptors 3 to `end - 1` already open (copies of its stderr, not
/// closed on exec), as under a supervisor that leaks them: its table fills before its cap does.
fn inherit_descriptors(command: &mut std::process::Command, end: i32) {
    // SAFETY: between fork and exec only dup2, which is async-signal-safe, runs. The descriptors it
    // replaces are the child's copies of the test process's, all close-on-exec (replacing them
    // changes nothing in the test process), and std's pipe that reports a failed exec: replaced, it
    // reads as "exec succeeded" in the parent, which it does here.
    unsafe {
        command.pre_exec(move || {
            for fd in 3..end {
                if libc::dup2(2, fd) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Sends a request on a fresh connection and reads the first line back: `true` for the reply,
/// `false` for a `too_many_connections` error line. Silence or anything else fails the test.
fn served_or_refused(stream: &TcpStream) -> bool {
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // A refused connection may be closed already: the write may fail, the error line is still there.
    let _ = (&mut &*stream).write_all(b"{\"action\":\"list_groups\"}\n");
    let mut line = String::new();
    match BufReader::new(stream).read_line(&mut line) {
        Ok(n) if n > 0 => {}
        other => panic!("no answer and no error line: {other:?} {line:?}"),
    }
    let message: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    if message["code"] == "too_many_connections" {
        return false;
    }
    assert_eq!(message["message"], "Not authenticated", "{message}");
    true
}

/// The soft and hard descriptor limits of a running process, from /proc.
fn open_files_limit(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let numbers: Vec<u64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    (numbers[0], numbers[1])
}

#[test]
fn a_failed_log_write_stops_the_server_without_acknowledging() {
    let dir = TempDir::new("disk-full");
    // The log may not grow past 24 KiB: a stand-in for a full disk.
    let mut server = Server::start_with(dir.path(), &[], |command| limit(command, libc::RLIMIT_FSIZE, 24 * 1024));
    let mut alice = server.connect();
    alice.login_as("alice");
    ok(&alice.request("create_group", json!({"group": "g"})));
    let mut acknowledged = Vec::new();
    for i in 0..1000 {
        let description = format!("expense-{i}-{}", "x".repeat(100));
        alice.send_raw(
            format!(
                "{}\n",
                json!({"action": "add_transaction", "data": {"group": "g", "amount": 1, "description": description, "split_between": [], "include_payer": true}})
            )
            .as_bytes(),
        );
        match alice.read_message() {
            Some(reply) => {
                assert_eq!(reply["status"], "ok", "{reply}");
                acknowledged.push(description);
            }
            None => break,
        }
    }
    assert!(!acknowledged.is_empty() && acknowledged.len() < 1000, "the limit was hit ({})", acknowledged.len());
    let code = common::wait_with_deadline(&mut server.child, Duration::from_secs(10));
    assert_eq!(code, Some(1), "the server stops with a failure status");
    assert!(server.stderr_text().contains("FATAL: cannot make the log durable"));
    drop(server);

    // Without the limit, everything acknowledged is there, and nothing else.
    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    alice.login_as("alice");
    let txns = alice.request("view_transactions", json!({"group": "g"}));
    let present: Vec<String> = txns["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["description"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(present, acknowledged);
}

/// CPU time (user + system) the process has used, from /proc.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / per_second.max(1))
}

#[test]
fn running_out_of_file_descriptors_refuses_with_an_error_line_and_recovers() {
    let dir = TempDir::new("emfile");
    // 64 descriptors, 3-44 taken before it starts: the table fills long before the cap (32) does.
    let mut server = Server::start_with(dir.path(), &[], |command| {
        limit(command, libc::RLIMIT_NOFILE, 64);
        inherit_descriptors(command, 45);
    });
    let mut member = server.connect();
    member.login_as("member");
    let flood: Vec<TcpStream> = (0..60).map(|_| TcpStream::connect(server.addr).unwrap()).collect();
    // The kernel completes the handshakes; the server cannot take them all. It must not spin.
    std::thread::sleep(Duration::from_millis(200));
    let before = cpu_time(server.child.id());
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_time(server.child.id()) - before;
    assert!(used < Duration::from_millis(300), "busy loop on EMFILE: {used:?} of CPU in 1 s");
    // Nobody waits on nothing: each one is served or told why not.
    let served = flood.iter().filter(|stream| served_or_refused(stream)).count();
    assert!(served < 30, "the table was really full: {served} of 60 served");
    // Still serving the connection it has.
    ok(&member.request("list_groups", json!({})));
    // Freeing descriptors lets new connections in.
    drop(flood);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !served_or_refused(&TcpStream::connect(server.addr).unwrap()) {
        assert!(Instant::now() < deadline, "never accepted again");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(server.stop(), Some(0));
    assert!(server.stderr_text().contains("out of file descriptors"), "EMFILE was really met");
}

#[test]
fn a_cap_beyond_the_descriptor_limit_is_lowered_and_said() {
    let dir = TempDir::new("fit-cap");
    let mut server = Server::start_with(dir.path(), &["--max-connections", "1000"], |command| {
        limit(command, libc::RLIMIT_NOFILE, 64);
    });
    let flood: Vec<TcpStream> = (0..80).map(|_| TcpStream::connect(server.addr).unwrap()).collect();
    // Every connection past the fitted cap gets an error line, not silence in the accept queue.
    let served = flood.iter().filter(|stream| served_or_refused(stream)).count();
    assert!((1..=40).contains(&served), "cap 32 (+ freed slots): {served} of 80 served");
    drop(flood);
    assert_eq!(server.stop(), Some(0));
    let stderr = server.stderr_text();
    assert!(stderr.contains("descriptor limit 64 (hard limit 64)"), "{stderr}");
    assert!(stderr.contains("--max-connections 1000 lowered to 32"), "{stderr}");
}

#[test]
fn the_soft_descriptor_limit_is_raised_toward_the_hard_one() {
    let mut ours = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes only into the struct it is given.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut ours) }, 0);
    let hard = ours.rlim_max.min(4096);
    assert!(hard > 64, "this test needs a hard descriptor limit above 64, not {hard}");
    let dir = TempDir::new("raise-nofile");
    let mut server = Server::start_with(dir.path(), &[], |command| limits(command, libc::RLIMIT_NOFILE, 64, hard));
    assert_eq!(open_files_limit(server.child.id()), (hard, hard), "raised as far as the hard limit allows");
    let mut client = server.connect();
    client.login_as("alice");
    assert_eq!(server.stop(), Some(0));
    let stderr = server.stderr_text();
    assert!(stderr.contains(&format!("descriptor limit {hard} (raised from 64; hard limit {hard})")), "{stderr}");
    let fits = hard - 32;
    assert!(stderr.contains(&format!("--max-connections 19000 lowered to {fits}")), "{stderr}");
}
