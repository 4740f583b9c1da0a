//! Operating-system limits met by the real binary: a full disk (file-size limit) and a full
//! file-descriptor table. Neither may cost an acknowledged change or stop the service.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use common::{ok, Server, TempDir};
use serde_json::json;

/// Sets a resource limit in the child just before it runs the server.
fn limit(command: &mut std::process::Command, resource: libc::__rlimit_resource_t, value: u64) {
    // SAFETY: between fork and exec only async-signal-safe calls run: setrlimit and signal.
    unsafe {
        command.pre_exec(move || {
            let rlim = libc::rlimit { rlim_cur: value, rlim_max: value };
            if libc::setrlimit(resource, &rlim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // A write past the file-size limit then fails with EFBIG instead of killing the process.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
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
fn running_out_of_file_descriptors_backs_off_and_recovers() {
    let dir = TempDir::new("emfile");
    // 64 descriptors: the log, the lock, poll, pipes and the listener leave room for ~50 clients.
    let mut server = Server::start_with(dir.path(), &[], |command| limit(command, libc::RLIMIT_NOFILE, 64));
    let mut member = server.connect();
    member.login_as("member");
    let mut flood: Vec<TcpStream> = (0..120).map(|_| TcpStream::connect(server.addr).unwrap()).collect();
    // The kernel completes the handshakes; the server cannot accept them all. It must not spin.
    std::thread::sleep(Duration::from_millis(200));
    let before = cpu_time(server.child.id());
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_time(server.child.id()) - before;
    assert!(used < Duration::from_millis(300), "busy loop on EMFILE: {used:?} of CPU in 1 s");
    // Still serving the connection it has.
    ok(&member.request("list_groups", json!({})));
    // Freeing descriptors lets waiting connections in.
    flood.truncate(0);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = server.connect();
        c.stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        c.send_raw(b"{\"action\":\"list_groups\"}\n");
        let mut buf = [0u8; 256];
        if let Ok(n) = c.stream.read(&mut buf) {
            if String::from_utf8_lossy(&buf[..n]).contains("Not authenticated") {
                break;
            }
        }
        assert!(Instant::now() < deadline, "never accepted again");
    }
    assert_eq!(server.stop(), Some(0));
    assert!(server.stderr_text().contains("out of file descriptors"), "EMFILE was really met");
}
