//! One connection to splitd (plain TCP, or TLS with `--server tls://host:port`), and the one generic
//! request/reply helper every command uses.
//!
//! Why a reader thread: the server pushes notifications at any moment, between and even while replies
//! are awaited, and the interactive client must show them while the user sits at a prompt. So one
//! thread owns the read half: it splits each line into a *reply* (no `type` key: goes to whoever waits
//! in [`Conn::request`]) or a *pushed message* (has a `type` key: goes to the [`Handler`] at once).
//! Nothing read from the network is trusted: bad lines end the connection with a reason, never a panic.
//!
//! Over TLS the one rustls session is shared by the two threads behind a mutex that is never held
//! across a socket call: the reader thread reads ciphertext from the socket unlocked, then feeds it
//! to the session and takes plaintext out; the caller encrypts its request under the lock and writes
//! the ciphertext after. Only the caller's thread writes to the socket, so records never interleave.

use dial::rustls::{ClientConfig, ClientConnection};
use dial::{Endpoint, Trust};
use serde_json::{json, Map, Value};
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use vocab::{Action, Code};

use crate::term::sanitize;

/// A JSON object as received.
pub type Object = Map<String, Value>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Long enough for a password hash on a busy machine, short enough that a wedged server is noticed.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// A reply bigger than this is not something splitd would send; stop rather than grow without bound.
const MAX_LINE: u64 = 64 << 20;
/// The reason given when the server ended the connection in an orderly way (end of stream).
pub const SERVER_CLOSED: &str = "the server closed the connection";
/// Ciphertext read from the socket at a time: its plaintext always fits rustls's 16 KiB receive
/// buffer, which the reader empties before each read.
const TLS_READ_BYTES: usize = 8 * 1024;

/// Where the server is and how to speak to it: plaintext, or TLS with the trust the flags chose.
#[derive(Clone)]
pub struct Target {
    pub endpoint: Endpoint,
    tls: Option<Arc<ClientConfig>>,
}

impl Target {
    /// From `--server` (`host:port` or `tls://host:port`), `--tls`, `--ca-file` and `--insecure`.
    pub fn parse(server: &str, tls: bool, ca_file: Option<&Path>, insecure: bool) -> Result<Target, String> {
        let endpoint = Endpoint::parse(server, tls)?;
        let trust = match (ca_file, insecure) {
            (Some(_), true) => return Err("--ca-file and --insecure exclude each other".into()),
            (Some(path), false) => Trust::CaFile(path),
            (None, true) => Trust::Insecure,
            (None, false) => Trust::PublicRoots,
        };
        if !endpoint.tls {
            if ca_file.is_some() || insecure {
                return Err("--ca-file and --insecure are for TLS: use --server tls://HOST:PORT or --tls".into());
            }
            return Ok(Target { endpoint, tls: None });
        }
        Ok(Target { endpoint, tls: Some(dial::client_config(trust)?) })
    }

    /// The member at `addr` (`host:port`, as a `not_leader` reply names it), spoken to as this one
    /// is: over TLS with the same trust, the certificate checked against `addr`'s host.
    pub fn with_addr(&self, addr: &str) -> Result<Target, String> {
        if addr.contains("://") {
            return Err(format!("{addr}: a member's address is host:port"));
        }
        let endpoint = Endpoint::parse(addr, self.endpoint.tls)?;
        Ok(Target { endpoint, tls: self.tls.clone() })
    }

    /// A plaintext target (for tests).
    pub fn plain(addr: &str) -> Target {
        Target { endpoint: Endpoint { addr: addr.into(), host: String::new(), tls: false }, tls: None }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.endpoint, f)
    }
}

/// What one line from the server is.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// The answer to the oldest outstanding request (replies never carry `type`).
    Reply(Object),
    /// A notification or settlement pushed by the server (always carries `type`).
    Pushed(Object),
    /// Not a JSON object: the conversation can no longer be trusted.
    Invalid(String),
}

/// Tells a reply from a pushed message by the `type` key, as the protocol defines.
pub fn classify(line: &str) -> Incoming {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(map)) if map.contains_key("type") => Incoming::Pushed(map),
        Ok(Value::Object(map)) => Incoming::Reply(map),
        Ok(_) => Incoming::Invalid("a JSON value that is not an object".into()),
        Err(e) => Incoming::Invalid(format!("not JSON ({e})")),
    }
}

/// Why a request did not get an `ok` reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// No connection could be made (bad address, refused, unreachable, timed out).
    Connect { addr: String, reason: String },
    /// The connection broke, was closed, or the server stopped answering.
    Lost(String),
    /// The server said something that breaks the protocol (wrong id, no status...).
    Protocol(String),
    /// The server answered `{"status":"error"}`; `code` when it is one of the shared codes (another
    /// server may send none, or words of its own). `message` is sanitised: it is only ever shown, and
    /// it may echo what someone typed (`<name> not in group`).
    Server { message: String, code: Option<Code> },
    /// The server answered `conflict`: the `version` sent is not the current one (someone changed the
    /// object meanwhile), nothing changed; `current` is the reply, holding the object as it is now.
    Conflict { message: String, current: Object },
    /// The server answered `not_leader` (cluster mode): the request was not run there; `leader` is
    /// the leader's client address when that member knows it. `crate::follow` acts on it.
    NotLeader { message: String, leader: Option<String> },
}

impl Error {
    /// The process exit code: 1 the server said error, 3 the server could not be reached or talked to.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Server { .. } | Error::Conflict { .. } => 1,
            // No member that serves could be reached: a script may retry later, as for a dead server.
            Error::Connect { .. } | Error::Lost(_) | Error::Protocol(_) | Error::NotLeader { .. } => 3,
        }
    }
}

/// Sanitised: the words may quote what the server sent.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Error::Connect { addr, reason } => format!("cannot connect to {addr}: {reason}"),
            Error::Lost(reason) => format!("connection to the server lost: {reason}"),
            Error::Protocol(what) => format!("unexpected answer from the server: {what}"),
            Error::Server { message, .. } | Error::Conflict { message, .. } => message.clone(),
            Error::NotLeader { message, leader: Some(leader) } => format!("{message} (the leader is {leader})"),
            Error::NotLeader { message, leader: None } => format!("{message} (no leader is known)"),
        };
        f.write_str(&sanitize(&text))
    }
}

impl std::error::Error for Error {}

/// What the reader thread tells the rest of the client outside of replies.
#[derive(Debug)]
pub enum Notice {
    Pushed(Object),
    /// The connection ended without us closing it; the reason in words.
    Lost(String),
}

/// Called on the reader thread for every pushed message and for an unexpected end.
pub type Handler = Box<dyn FnMut(Notice) + Send>;

/// A connected client. Dropping it closes the socket (and so logs out, server side).
pub struct Conn {
    link: Link,
    replies: Receiver<Result<Object, String>>,
    next_id: u64,
    /// Set by us before we shut the socket, so the reader does not report our own close as a loss.
    closing: Arc<AtomicBool>,
    /// Set by the reader when the connection ended.
    ended: Arc<AtomicBool>,
    /// Why this connection cannot be used any more, once it cannot.
    dead: Option<String>,
}

impl Conn {
    /// Connects to `target` (and shakes hands, over TLS) and starts the reader thread.
    pub fn connect(target: &Target, handler: Handler) -> Result<Conn, Error> {
        let addr = target.endpoint.addr.as_str();
        let fail = |reason: String| Error::Connect { addr: target.to_string(), reason };
        let addrs: Vec<_> =
            addr.to_socket_addrs().map_err(|e| fail(format!("cannot resolve the address ({e})")))?.collect();
        let mut last = fail("the address resolves to nothing".into());
        let mut stream = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = fail(e.to_string()),
            }
        }
        let mut stream = stream.ok_or(last)?;
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(REPLY_TIMEOUT));
        let read_socket = stream.try_clone().map_err(|e| fail(e.to_string()))?;
        let end_socket = stream.try_clone().map_err(|e| fail(e.to_string()))?;
        let (link, read_half): (Link, Box<dyn Read + Send>) = match &target.tls {
            None => (Link::Plain(stream), Box::new(read_socket)),
            Some(config) => {
                let session = handshake(&mut stream, config, &target.endpoint).map_err(fail)?;
                let session = Arc::new(Mutex::new(session));
                let reader = TlsReader { socket: read_socket, session: session.clone(), raw: vec![0; TLS_READ_BYTES] };
                (Link::Tls { socket: stream, session }, Box::new(reader))
            }
        };
        let (tx, rx) = mpsc::channel();
        let closing = Arc::new(AtomicBool::new(false));
        let ended = Arc::new(AtomicBool::new(false));
        let (c, e) = (closing.clone(), ended.clone());
        std::thread::Builder::new()
            .name("splitc-reader".into())
            .spawn(move || read_loop(read_half, end_socket, tx, handler, c, e))
            .map_err(|e| fail(format!("cannot start the reader thread ({e})")))?;
        Ok(Conn { link, replies: rx, next_id: 0, closing, ended, dead: None })
    }

    /// False once the connection is known to be closed or broken.
    pub fn is_alive(&self) -> bool {
        self.dead.is_none() && !self.ended.load(Ordering::SeqCst)
    }

    /// Sends one request and waits for its reply: `Ok` with the whole reply object when its status is
    /// `ok`, [`Error::Server`] when it is `error`. `data` is omitted from the request when `None`.
    pub fn request(&mut self, action: Action, data: Option<Value>) -> Result<Object, Error> {
        if let Some(reason) = &self.dead {
            return Err(Error::Lost(reason.clone()));
        }
        self.next_id += 1;
        let id = self.next_id;
        let mut request = json!({ "action": action.as_str(), "id": id });
        if let Some(data) = data {
            request["data"] = data;
        }
        let mut line = request.to_string().into_bytes();
        line.push(b'\n');
        if let Err(e) = self.link.send(&line) {
            return Err(self.die(format!("sending failed ({e})")));
        }
        let reply = match self.replies.recv_timeout(REPLY_TIMEOUT) {
            Ok(Ok(reply)) => reply,
            Ok(Err(reason)) => return Err(self.die(reason)),
            Err(RecvTimeoutError::Timeout) => {
                return Err(self.die(format!("no reply within {} s", REPLY_TIMEOUT.as_secs())))
            }
            Err(RecvTimeoutError::Disconnected) => return Err(self.die("the reader stopped".into())),
        };
        match check_reply(reply, id) {
            Err(Error::Protocol(what)) => {
                // Replies can no longer be matched to requests: this connection is done.
                self.die(what.clone());
                Err(Error::Protocol(what))
            }
            other => other,
        }
    }

    /// Blocks until the connection ends (for `watch`); returns why it ended.
    pub fn wait_closed(&mut self) -> String {
        if let Some(reason) = &self.dead {
            return reason.clone();
        }
        loop {
            match self.replies.recv() {
                Ok(Ok(_unasked_reply)) => continue,
                Ok(Err(reason)) => return reason,
                Err(_) => return "the reader stopped".into(),
            }
        }
    }

    fn die(&mut self, reason: String) -> Error {
        self.closing.store(true, Ordering::SeqCst);
        let _ = self.link.socket().shutdown(Shutdown::Both);
        self.dead = Some(reason.clone());
        Error::Lost(reason)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::SeqCst);
        if self.dead.is_none() {
            self.link.say_goodbye();
        }
        let _ = self.link.socket().shutdown(Shutdown::Both);
    }
}

/// The write side of a connection.
enum Link {
    Plain(TcpStream),
    Tls { socket: TcpStream, session: Arc<Mutex<ClientConnection>> },
}

impl Link {
    /// Sends `bytes` (encrypted under the lock, written after it).
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Link::Plain(stream) => stream.write_all(bytes).and_then(|_| stream.flush()),
            Link::Tls { socket, session } => {
                let mut ciphertext = Vec::with_capacity(bytes.len() + 64);
                {
                    let mut session = lock(session)?;
                    session.writer().write_all(bytes)?;
                    while session.wants_write() {
                        session.write_tls(&mut ciphertext)?;
                    }
                }
                socket.write_all(&ciphertext)
            }
        }
    }

    fn socket(&self) -> &TcpStream {
        match self {
            Link::Plain(stream) | Link::Tls { socket: stream, .. } => stream,
        }
    }

    /// Tells a TLS server `close_notify`, so it sees an orderly end (best effort).
    fn say_goodbye(&mut self) {
        if let Link::Tls { session, .. } = self {
            if let Ok(mut session) = lock(session) {
                session.send_close_notify();
            }
            let _ = self.send(&[]);
        }
    }
}

fn lock(session: &Mutex<ClientConnection>) -> io::Result<MutexGuard<'_, ClientConnection>> {
    session.lock().map_err(|_| io::Error::other("the TLS session was poisoned by a panic"))
}

/// The TLS handshake, blocking, bounded by `CONNECT_TIMEOUT`; verifies the certificate for the
/// endpoint's host.
fn handshake(
    socket: &mut TcpStream,
    config: &Arc<ClientConfig>,
    endpoint: &Endpoint,
) -> Result<ClientConnection, String> {
    let name = endpoint.server_name()?;
    let mut session = ClientConnection::new(Arc::clone(config), name).map_err(|e| format!("TLS: {e}"))?;
    // Rustls buffers what the caller writes; lines are bounded by the caller, not by rustls.
    session.set_buffer_limit(None);
    let _ = socket.set_read_timeout(Some(CONNECT_TIMEOUT));
    while session.is_handshaking() {
        session.complete_io(socket).map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                format!("no TLS handshake within {} s (is it a TLS port?)", CONNECT_TIMEOUT.as_secs())
            }
            io::ErrorKind::UnexpectedEof => "the server closed the connection during the TLS handshake".into(),
            _ => format!("TLS handshake failed: {e}"),
        })?;
    }
    let _ = socket.set_read_timeout(None);
    Ok(session)
}

/// The reader thread's view of a TLS connection: plaintext, read from the shared session.
struct TlsReader {
    socket: TcpStream,
    session: Arc<Mutex<ClientConnection>>,
    raw: Vec<u8>,
}

impl Read for TlsReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match lock(&self.session)?.reader().read(buf) {
                // 0: the server's close_notify.
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            // Blocking, without the lock: the caller may encrypt a request meanwhile.
            let n = self.socket.read(&mut self.raw)?;
            if n == 0 {
                // An end without close_notify: lines are self-delimiting, so a cut one is caught
                // by the line reader and a whole one is whole.
                return Ok(0);
            }
            let mut session = lock(&self.session)?;
            let mut rest = &self.raw[..n];
            while !rest.is_empty() {
                session.read_tls(&mut rest)?;
                session.process_new_packets().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            }
        }
    }
}

/// Checks the echoed id and the status of a reply to request `id`.
fn check_reply(reply: Object, id: u64) -> Result<Object, Error> {
    if let Some(echoed) = reply.get("id") {
        if echoed.as_u64() != Some(id) {
            return Err(Error::Protocol(format!("reply for request {echoed} while waiting for {id}")));
        }
    }
    match reply.get("status").and_then(Value::as_str) {
        Some("ok") => Ok(reply),
        Some("error") if reply.get("code").and_then(Value::as_str) == Some(Code::NotLeader.as_str()) => {
            Err(Error::NotLeader {
                message: sanitize(reply.get("message").and_then(Value::as_str).unwrap_or("not the leader"))
                    .into_owned(),
                leader: reply.get("leader").and_then(Value::as_str).map(str::to_string),
            })
        }
        Some("error") if reply.get("code").and_then(Value::as_str) == Some(Code::Conflict.as_str()) => {
            let message = reply.get("message").and_then(Value::as_str).unwrap_or("changed meanwhile");
            Err(Error::Conflict { message: sanitize(message).into_owned(), current: reply })
        }
        Some("error") => Err(Error::Server {
            message: sanitize(reply.get("message").and_then(Value::as_str).unwrap_or("error (no message)"))
                .into_owned(),
            code: reply.get("code").and_then(Value::as_str).and_then(Code::parse),
        }),
        _ => Err(Error::Protocol(format!("a reply without an ok/error status: {}", Value::Object(reply)))),
    }
}

/// The reader thread: one line at a time, replies to the channel, pushed messages to the handler.
fn read_loop(
    stream: Box<dyn Read + Send>,
    socket: TcpStream,
    replies: Sender<Result<Object, String>>,
    mut handler: Handler,
    closing: Arc<AtomicBool>,
    ended: Arc<AtomicBool>,
) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    // An error the server sent unasked (no request id) just before closing says why it closed
    // (the idle limit, a limit hit): the reason given for the end.
    let mut last_word: Option<String> = None;
    let reason = loop {
        line.clear();
        match (&mut reader).take(MAX_LINE + 1).read_until(b'\n', &mut line) {
            Ok(0) => match last_word.take() {
                Some(word) => break format!("{SERVER_CLOSED}: {}", sanitize(&word)),
                None => break SERVER_CLOSED.to_string(),
            },
            Ok(_) if line.len() as u64 > MAX_LINE => break "the server sent an over-long line".to_string(),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break e.to_string(),
        }
        let Ok(text) = std::str::from_utf8(&line) else {
            break "the server sent invalid UTF-8".to_string();
        };
        if text.trim().is_empty() {
            continue;
        }
        match classify(text) {
            Incoming::Reply(reply) => {
                if !reply.contains_key("id") && reply.get("status").and_then(Value::as_str) == Some("error") {
                    last_word = reply.get("message").and_then(Value::as_str).map(str::to_string);
                }
                if replies.send(Ok(reply)).is_err() {
                    return; // the Conn is gone: nobody to tell
                }
            }
            Incoming::Pushed(message) => handler(Notice::Pushed(message)),
            Incoming::Invalid(what) => break format!("the server sent a line that is {what}"),
        }
    };
    ended.store(true, Ordering::SeqCst);
    let _ = socket.shutdown(Shutdown::Both);
    if !closing.load(Ordering::SeqCst) {
        handler(Notice::Lost(reason.clone()));
    }
    let _ = replies.send(Err(reason));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn obj(text: &str) -> Object {
        match serde_json::from_str(text) {
            Ok(Value::Object(m)) => m,
            _ => panic!("not an object: {text}"),
        }
    }

    #[test]
    fn classifies_by_the_type_key() {
        assert!(matches!(classify(r#"{"status":"ok","groups":[]}"#), Incoming::Reply(_)));
        assert!(matches!(classify(r#"{"status":"error","message":"x","code":"y"}"#), Incoming::Reply(_)));
        assert!(matches!(classify(r#"{"type":"notification","message":"m"}"#), Incoming::Pushed(_)));
        assert!(matches!(classify(r#"{"type":"settlement","data":[]}"#), Incoming::Pushed(_)));
        // A future kind of pushed message is still not mistaken for a reply.
        assert!(matches!(classify(r#"{"type":"payment","message":"m"}"#), Incoming::Pushed(_)));
        // A reply whose data mentions "type" deeper down is still a reply.
        assert!(matches!(classify(r#"{"status":"ok","transaction":{"type":"x"}}"#), Incoming::Reply(_)));
        for bad in ["[1,2]", "\"ok\"", "not json", "{\"status\":", ""] {
            assert!(matches!(classify(bad), Incoming::Invalid(_)), "{bad}");
        }
    }

    #[test]
    fn replies_are_checked_for_status_and_id() {
        assert!(check_reply(obj(r#"{"status":"ok","id":3}"#), 3).is_ok());
        assert!(check_reply(obj(r#"{"status":"ok"}"#), 3).is_ok());
        assert_eq!(
            check_reply(obj(r#"{"status":"error","message":"Group not found","code":"group_not_found"}"#), 1),
            Err(Error::Server { message: "Group not found".into(), code: Some(Code::GroupNotFound) })
        );
        assert_eq!(
            check_reply(obj(r#"{"status":"error","message":"m","code":"not_leader","leader":"127.0.0.1:7"}"#), 1),
            Err(Error::NotLeader { message: "m".into(), leader: Some("127.0.0.1:7".into()) })
        );
        assert_eq!(
            check_reply(obj(r#"{"status":"error","message":"m","code":"not_leader","leader":null}"#), 1),
            Err(Error::NotLeader { message: "m".into(), leader: None })
        );
        let conflict = obj(r#"{"status":"error","message":"changed","code":"conflict","transaction":{"version":2}}"#);
        assert_eq!(
            check_reply(conflict.clone(), 1),
            Err(Error::Conflict { message: "changed".into(), current: conflict })
        );
        assert!(matches!(check_reply(obj(r#"{"status":"ok","id":2}"#), 3), Err(Error::Protocol(_))));
        assert!(matches!(check_reply(obj(r#"{"message":"?"}"#), 3), Err(Error::Protocol(_))));
    }

    #[test]
    fn exit_codes_follow_the_kind_of_failure() {
        assert_eq!(Error::Server { message: "x".into(), code: None }.exit_code(), 1);
        assert_eq!(Error::Connect { addr: "a".into(), reason: "r".into() }.exit_code(), 3);
        assert_eq!(Error::Lost("r".into()).exit_code(), 3);
    }

    /// A fake server that pushes a notification before and between replies, split across writes.
    #[test]
    fn pushed_messages_go_to_the_handler_and_replies_to_the_caller() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut req = String::new();
            r.read_line(&mut req).unwrap();
            let req: Value = serde_json::from_str(&req).unwrap();
            assert_eq!(req["action"], "list_groups");
            assert!(req.get("data").is_none());
            let id = &req["id"];
            s.write_all(b"{\"type\":\"notification\",\"group\":\"trip\",\"mess").unwrap();
            s.flush().unwrap();
            std::thread::sleep(Duration::from_millis(20));
            let reply = format!("age\":\"hi\"}}\n{{\"status\":\"ok\",\"groups\":[\"trip\"],\"id\":{id}}}\n");
            s.write_all(reply.as_bytes()).unwrap();
        });
        let (tx, rx) = mpsc::channel();
        let mut conn = Conn::connect(
            &Target::plain(&addr),
            Box::new(move |n| {
                let _ = tx.send(match n {
                    Notice::Pushed(m) => format!("pushed {}", m["message"]),
                    Notice::Lost(r) => format!("lost {r}"),
                });
            }),
        )
        .unwrap();
        let reply = conn.request(Action::ListGroups, None).unwrap();
        assert_eq!(reply["groups"], json!(["trip"]));
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "pushed \"hi\"");
        server.join().unwrap();
        assert!(rx.recv_timeout(Duration::from_secs(5)).unwrap().starts_with("lost"));
        assert!(matches!(conn.request(Action::ListGroups, None), Err(Error::Lost(_))));
        assert!(!conn.is_alive());
    }

    #[test]
    fn connecting_to_a_closed_port_says_why() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let addr = format!("127.0.0.1:{port}");
        match Conn::connect(&Target::plain(&addr), Box::new(|_| {})) {
            Err(e @ Error::Connect { .. }) => {
                let text = e.to_string();
                assert!(text.contains(&addr) && text.to_lowercase().contains("refused"), "{text}");
            }
            other => panic!("expected a connect error, got {:?}", other.map(|_| ())),
        }
    }
}
