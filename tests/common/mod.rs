//! Shared helpers for integration tests: start the real `splitd` binary on port 0 over a fresh data
//! directory, and talk to it over TCP with deadlines (no test can hang).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vocab::Cents;

pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("splitd-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running server; killed on drop.
pub struct Server {
    pub child: Child,
    /// `--listen`'s address (TLS when the server was given a certificate).
    pub addr: SocketAddr,
    /// `--listen-plain`'s address, when it was given.
    pub plain_addr: Option<SocketAddr>,
    pub data_dir: PathBuf,
    pub stderr: Option<std::process::ChildStderr>,
}

impl Server {
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        Server::start_with(data_dir, extra, |_| {})
    }

    /// Starts the server after `configure` has adjusted its command (e.g. resource limits).
    pub fn start_with(data_dir: &Path, extra: &[&str], configure: impl FnOnce(&mut Command)) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_splitd"));
        command
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        configure(&mut command);
        let mut child = command.spawn().expect("spawn splitd");
        let stdout = child.stdout.take().expect("stdout");
        // One line a listener: `--listen` first, then `--listen-plain` if given.
        let listeners = 1 + extra.iter().filter(|&&arg| arg == "--listen-plain").count();
        let mut reader = BufReader::new(stdout);
        let mut addrs = Vec::new();
        for _ in 0..listeners {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read listening line");
            match listening_addr(&line) {
                Some(addr) => addrs.push(addr),
                None => {
                    let mut err = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        let _ = e.read_to_string(&mut err);
                    }
                    panic!("server did not start: stdout {line:?}, stderr {err}");
                }
            }
        }
        let stderr = child.stderr.take();
        Server { child, addr: addrs[0], plain_addr: addrs.get(1).copied(), data_dir: data_dir.to_path_buf(), stderr }
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// alice and bob, logged in, in `group` (in `currency`), which alice creates and bob joins;
    /// alice's notification that bob joined is read.
    pub fn alice_and_bob_in(&self, group: &str, currency: &str) -> (Client, Client) {
        let mut alice = self.connect();
        let mut bob = self.connect();
        alice.login_as("alice");
        bob.login_as("bob");
        ok(&alice.request("create_group", json!({"group": group, "currency": currency})));
        ok(&bob.request("join_group", json!({"group": group})));
        assert_eq!(alice.pushed_message()["member"], "bob");
        (alice, bob)
    }

    /// A client whose side of the connection is `local` (any of 127.0.0.0/8: all of it is loopback),
    /// so that the server sees it come from another address.
    pub fn connect_from(&self, local: Ipv4Addr) -> Client {
        Client::from_stream(connect_from(local, self.addr))
    }

    /// SIGTERM and wait for exit; returns the exit code.
    pub fn terminate(mut self) -> Option<i32> {
        self.stop()
    }

    /// SIGTERM and wait, keeping the handle (to read its stderr afterwards).
    pub fn stop(&mut self) -> Option<i32> {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        wait_with_deadline(&mut self.child, TIMEOUT)
    }

    /// SIGKILL: no shutdown work at all.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Everything the server wrote to stderr (after it exited).
    pub fn stderr_text(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut e) = self.stderr.take() {
            let _ = e.read_to_string(&mut text);
        }
        text
    }
}

/// The address in `splitd listening on ADDR` or `splitd listening on ADDR (tls)`.
pub fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = line.trim().strip_prefix("splitd listening on ")?;
    rest.strip_suffix(" (tls)").unwrap_or(rest).parse().ok()
}

pub fn wait_with_deadline(child: &mut Child, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process did not exit in time");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A line-based JSON client that separates replies from pushed messages (the `type` key), as the
/// original client does.
pub struct Client {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
    pub pushed: Vec<Value>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Client::from_stream(TcpStream::connect(addr).expect("connect"))
    }

    pub fn from_stream(stream: TcpStream) -> Client {
        stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        Client { stream, reader, pushed: Vec::new() }
    }

    /// Closes the connection with a reset (SO_LINGER 0), as a client that gives up abruptly does.
    pub fn reset(self) {
        let linger = libc::linger { l_onoff: 1, l_linger: 0 };
        // SAFETY: a valid descriptor and a `linger` of the size given, only read by the call.
        let set = unsafe {
            libc::setsockopt(
                self.stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(set, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// The next line from the server, parsed; `None` at EOF.
    pub fn read_message(&mut self) -> Option<Value> {
        read_json(&mut self.reader)
    }

    /// The next reply (pushed messages met on the way are kept in `pushed`).
    pub fn reply(&mut self) -> Value {
        let Client { reader, pushed, .. } = self;
        next_reply(pushed, || read_json(reader))
    }

    pub fn request(&mut self, action: &str, data: Value) -> Value {
        self.send_raw(&request_frame(action, data));
        self.reply()
    }

    /// The next pushed message (waiting for it if none is buffered).
    pub fn pushed_message(&mut self) -> Value {
        let Client { reader, pushed, .. } = self;
        next_pushed(pushed, || read_json(reader))
    }

    /// True if nothing arrives within `wait` (used to check a connection got no notification).
    pub fn silent_for(&mut self, wait: Duration) -> bool {
        if !self.pushed.is_empty() {
            return false;
        }
        self.stream.set_read_timeout(Some(wait)).expect("timeout");
        let mut line = String::new();
        let got = self.reader.read_line(&mut line);
        self.stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        match got {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => true,
            Err(e) => panic!("read failed: {e}"),
        }
    }

    /// Signs up (if needed) and logs in.
    pub fn login_as(&mut self, name: &str) {
        let password = format!("pw-{name}-secret");
        let _ = self.request("signup", json!({"username": name, "password": password}));
        let reply = self.request("login", json!({"username": name, "password": password}));
        assert_eq!(reply["message"], "Login successful", "{reply}");
    }
}

/// A TCP connection to `server` from the local address `local` (std cannot bind before connecting).
pub fn connect_from(local: Ipv4Addr, server: SocketAddr) -> TcpStream {
    let SocketAddr::V4(server) = server else { panic!("an IPv4 server address, not {server}") };
    let sockaddr = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(ip).to_be() },
        sin_zero: [0; 8],
    };
    let (here, there) = (sockaddr(local, 0), sockaddr(*server.ip(), server.port()));
    let size = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `socket` returns a fresh descriptor (checked), owned by the `TcpStream` from then on;
    // `bind` and `connect` only read the `sockaddr_in`s, of the size given.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let stream = TcpStream::from_raw_fd(fd);
        let bound = libc::bind(fd, (&here as *const libc::sockaddr_in).cast(), size);
        assert_eq!(bound, 0, "bind {local}: {}", std::io::Error::last_os_error());
        let connected = libc::connect(fd, (&there as *const libc::sockaddr_in).cast(), size);
        assert_eq!(connected, 0, "connect from {local}: {}", std::io::Error::last_os_error());
        stream
    }
}

pub fn ok(reply: &Value) -> &Value {
    assert_eq!(reply["status"], "ok", "expected ok, got {reply}");
    reply
}

/// Exact cents from a wire amount (a JSON number's text or a decimal string), by the shared grammar.
pub fn cents(v: &Value) -> i64 {
    let text = v.to_string();
    Cents::parse_decimal(text.trim_matches('"')).unwrap_or_else(|e| panic!("amount {v}: {e}")).0
}

/// One line from the server, parsed; `None` at the end of the stream.
fn read_json(reader: &mut BufReader<TcpStream>) -> Option<Value> {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) => None,
        Ok(_) => Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad JSON from server {line:?}: {e}"))),
        Err(e) => panic!("read failed: {e}"),
    }
}

/// A request frame: `{"action", "data"}` and its newline.
pub fn request_frame(action: &str, data: Value) -> Vec<u8> {
    let mut frame = json!({"action": action, "data": data}).to_string().into_bytes();
    frame.push(b'\n');
    frame
}

/// The next reply from `read`; pushed messages met on the way are kept in `pushed`.
pub fn next_reply(pushed: &mut Vec<Value>, mut read: impl FnMut() -> Option<Value>) -> Value {
    loop {
        let message = read().expect("connection closed while waiting for a reply");
        if message.get("type").is_some() {
            pushed.push(message);
        } else {
            return message;
        }
    }
}

/// The next pushed message: the first kept in `pushed`, or the next from `read`.
pub fn next_pushed(pushed: &mut Vec<Value>, mut read: impl FnMut() -> Option<Value>) -> Value {
    if !pushed.is_empty() {
        return pushed.remove(0);
    }
    let message = read().expect("connection closed while waiting for a notification");
    assert!(message.get("type").is_some(), "expected a pushed message, got a reply {message}");
    message
}
