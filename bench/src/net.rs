//! Client connections over mio: connecting, buffered writes, reading whole lines without copying them
//! (only a line cut by the end of a read is carried over), telling replies from pushed messages, and
//! the set-up runner that plays request scripts on many connections at once.
//!
//! With `--tls` a connection carries a rustls client session, driven as the server drives its own:
//! ciphertext read from the socket goes into the session, plaintext lines come out of it; requests
//! go in through its writer, ciphertext out with `write_tls` while it wants to write. The handshake
//! needs no step of its own: the first flush sends the ClientHello, requests queued meanwhile go once
//! it is done.

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dial::rustls::pki_types::ServerName;
use dial::rustls::{ClientConfig, ClientConnection};
use memchr::memmem;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// How to start each connection's TLS session (`--tls`).
#[derive(Clone)]
pub struct Tls {
    pub config: Arc<ClientConfig>,
    pub name: ServerName<'static>,
}

impl Tls {
    fn session(&self) -> io::Result<Box<ClientConnection>> {
        let mut session = ClientConnection::new(Arc::clone(&self.config), self.name.clone())
            .map_err(|err| io::Error::other(format!("TLS: {err}")))?;
        // The harness bounds what it queues (the pipeline depth); rustls need not bound it again.
        session.set_buffer_limit(None);
        Ok(Box::new(session))
    }
}

/// What a line from the server is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A reply whose status is not "error".
    Ok,
    /// A reply with `"status":"error"`.
    Error,
    /// A pushed message (it has no `status` key; splitd's carry a `type` key).
    Push,
}

/// Classifies lines by looking for the `"status":` key only: replies always have it, pushed messages
/// never do, and inside a JSON string the quotes would be escaped. Tolerates `"status": "ok"` (Python's
/// `json.dumps`). In raw mode (non-JSON servers such as Redis) every line is a reply; `-` starts an
/// error, and so does a JSON `"status":"error"` (splitd answering `bad_json` to a raw `PING`).
pub struct Classifier {
    status: memmem::Finder<'static>,
    raw: bool,
}

impl Classifier {
    pub fn new(raw: bool) -> Classifier {
        Classifier { status: memmem::Finder::new(b"\"status\":"), raw }
    }

    #[inline]
    pub fn classify(&self, line: &[u8]) -> Kind {
        if self.raw {
            let error = line.first() == Some(&b'-') || self.json_status(line) == Some(Kind::Error);
            return if error { Kind::Error } else { Kind::Ok };
        }
        self.json_status(line).unwrap_or(Kind::Push)
    }

    /// `Error` or `Ok` by the value of the `"status":` key; `None` without one.
    #[inline]
    fn json_status(&self, line: &[u8]) -> Option<Kind> {
        match self.status.find(line) {
            None => None,
            Some(at) => {
                let mut rest = &line[at + 9..];
                while let [b' ', tail @ ..] = rest {
                    rest = tail;
                }
                Some(if rest.starts_with(b"\"error\"") { Kind::Error } else { Kind::Ok })
            }
        }
    }
}

/// Reads what is available and calls `on_line` for each complete line (without its `\n`). Returns
/// `Ok(true)` at end of stream. Stops after a short read: with edge-triggered polling, data arriving
/// later raises a new event, so the extra `read` that would return `WouldBlock` is not needed.
#[inline]
pub fn read_lines(
    stream: &mut TcpStream,
    carry: &mut Vec<u8>,
    buf: &mut [u8],
    mut on_line: impl FnMut(&[u8]),
) -> io::Result<bool> {
    loop {
        let n = match stream.read(buf) {
            Ok(0) => return Ok(true),
            Ok(n) => n,
            Err(err) if err.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        split_lines(carry, &buf[..n], &mut on_line)?;
        if n < buf.len() {
            return Ok(false);
        }
    }
}

/// Calls `on_line` for each complete line of `data`, joining the start kept in `carry`.
#[inline]
fn split_lines(carry: &mut Vec<u8>, data: &[u8], on_line: &mut impl FnMut(&[u8])) -> io::Result<()> {
    let mut start = 0;
    for newline in memchr::memchr_iter(b'\n', data) {
        if carry.is_empty() {
            on_line(&data[start..newline]);
        } else {
            carry.extend_from_slice(&data[start..newline]);
            on_line(carry);
            carry.clear();
        }
        start = newline + 1;
    }
    if start < data.len() {
        carry.extend_from_slice(&data[start..]);
        if carry.len() > 1 << 30 {
            return Err(io::Error::new(ErrorKind::InvalidData, "a line from the server passed 1 GiB"));
        }
    }
    Ok(())
}

/// `read_lines` through a TLS session: one socket read into the first half of `buf`, fed to the
/// session, its plaintext taken out through the second half. Whatever the session wants to send in
/// answer (the handshake's last flight) is written at once.
fn read_tls_lines(
    session: &mut ClientConnection,
    stream: &mut TcpStream,
    carry: &mut Vec<u8>,
    buf: &mut [u8],
    mut on_line: impl FnMut(&[u8]),
) -> io::Result<bool> {
    let (cipher, plain) = buf.split_at_mut(buf.len() / 2);
    loop {
        let n = match stream.read(cipher) {
            Ok(0) => return Ok(true),
            Ok(n) => n,
            Err(err) if err.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        let mut rest = &cipher[..n];
        while !rest.is_empty() {
            session.read_tls(&mut rest)?;
            session.process_new_packets().map_err(|err| io::Error::new(ErrorKind::InvalidData, err))?;
            loop {
                match session.reader().read(plain) {
                    Ok(0) => return Ok(true),
                    Ok(got) => split_lines(carry, &plain[..got], &mut on_line)?,
                    Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                    Err(err) => return Err(err),
                }
            }
        }
        send_tls(session, stream)?;
        if n < cipher.len() {
            return Ok(false);
        }
    }
}

/// Writes the session's ciphertext until it has none or the socket is full.
fn send_tls(session: &mut ClientConnection, stream: &mut TcpStream) -> io::Result<()> {
    while session.wants_write() {
        match session.write_tls(stream) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// One client connection and its per-phase accounting.
pub struct Conn {
    pub stream: TcpStream,
    /// The TLS session, with `--tls`.
    pub tls: Option<Box<ClientConnection>>,
    /// Start of a line cut by the end of a read.
    pub carry: Vec<u8>,
    /// Bytes queued for writing; `out[sent..]` is still to go.
    pub out: Vec<u8>,
    pub sent: usize,
    pub closed: bool,
    /// Replies expected in the current set-up script, and received.
    pub expect: usize,
    pub replies: usize,
    pub pushes: u64,
}

impl Conn {
    pub fn new(stream: TcpStream, tls: Option<Box<ClientConnection>>) -> Conn {
        let (carry, out) = (Vec::new(), Vec::new());
        Conn { stream, tls, carry, out, sent: 0, closed: false, expect: 0, replies: 0, pushes: 0 }
    }

    /// Reads what is available (see `read_lines`); `Ok(true)` at end of stream.
    #[inline]
    pub fn read_lines(&mut self, buf: &mut [u8], on_line: impl FnMut(&[u8])) -> io::Result<bool> {
        match &mut self.tls {
            None => read_lines(&mut self.stream, &mut self.carry, buf, on_line),
            Some(session) => read_tls_lines(session, &mut self.stream, &mut self.carry, buf, on_line),
        }
    }

    /// Writes queued bytes until done or `WouldBlock` (then the WRITABLE edge resumes it).
    #[inline]
    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(session) = &mut self.tls {
            if self.sent < self.out.len() {
                session.writer().write_all(&self.out[self.sent..])?;
                self.out.clear();
                self.sent = 0;
            }
            return send_tls(session, &mut self.stream);
        }
        while self.sent < self.out.len() {
            match self.stream.write(&self.out[self.sent..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(err) if err.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        self.out.clear();
        self.sent = 0;
        Ok(())
    }

    pub fn pending(&self) -> bool {
        self.sent < self.out.len() || self.tls.as_ref().is_some_and(|session| session.wants_write())
    }
}

/// Opens a connection: a blocking connect (loopback, bounded by `timeout`), then non-blocking with
/// Nagle off.
pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let stream = std::net::TcpStream::connect_timeout(&addr, timeout).map_err(|err| {
        if err.raw_os_error() == Some(24) {
            io::Error::new(err.kind(), format!("{err}: raise the open-file limit (ulimit -n)"))
        } else {
            err
        }
    })?;
    stream.set_nodelay(true)?;
    stream.set_nonblocking(true)?;
    Ok(TcpStream::from_std(stream))
}

/// Connections registered with one poll; the token is the index.
pub struct Pool {
    pub poll: Poll,
    pub events: Events,
    pub conns: Vec<Conn>,
    pub buf: Vec<u8>,
    pub classifier: Classifier,
    pub addr: SocketAddr,
    pub tls: Option<Tls>,
}

/// One set-up script: bytes to send on a connection (a new one when `conn` is None) and how many
/// replies end it.
pub struct Script {
    pub conn: Option<usize>,
    pub bytes: Vec<u8>,
    pub replies: usize,
}

impl Pool {
    pub fn new(addr: SocketAddr, raw: bool, tls: Option<Tls>) -> io::Result<Pool> {
        Ok(Pool {
            poll: Poll::new()?,
            events: Events::with_capacity(4096),
            conns: Vec::new(),
            buf: vec![0; 256 * 1024],
            classifier: Classifier::new(raw),
            addr,
            tls,
        })
    }

    pub fn open(&mut self) -> io::Result<usize> {
        let mut stream = connect(self.addr, Duration::from_secs(10))?;
        let session = self.tls.as_ref().map(Tls::session).transpose()?;
        let key = self.conns.len();
        self.poll.registry().register(&mut stream, Token(key), Interest::READABLE | Interest::WRITABLE)?;
        self.conns.push(Conn::new(stream, session));
        Ok(key)
    }

    /// Takes the connections out, deregistered (to be registered with another poll).
    pub fn take_conns(&mut self) -> Vec<Conn> {
        let mut conns = std::mem::take(&mut self.conns);
        for conn in conns.iter_mut().filter(|c| !c.closed) {
            let _ = self.poll.registry().deregister(&mut conn.stream);
        }
        conns
    }

    pub fn close(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        if !conn.closed {
            conn.closed = true;
            let _ = self.poll.registry().deregister(&mut conn.stream);
            let _ = conn.stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Plays the scripts, at most `window` at once (new connections are opened as earlier scripts
    /// finish), until every script has its replies. Pushed messages on any connection are read and
    /// counted meanwhile. Returns each script's connection, in order. Any error reply fails set-up.
    pub fn run_scripts(
        &mut self,
        scripts: Vec<Script>,
        window: usize,
        timeout: Duration,
        label: &str,
        quiet: bool,
    ) -> Result<Vec<usize>, String> {
        let total = scripts.len();
        let deadline = Instant::now() + timeout;
        let mut keys = Vec::with_capacity(total);
        let mut queue = scripts.into_iter();
        let mut active = 0usize;
        let mut done = 0usize;
        let mut next_note = Instant::now() + Duration::from_secs(2);
        let started = Instant::now();
        loop {
            while active < window.max(1) {
                let Some(script) = queue.next() else {
                    break;
                };
                let key = match script.conn {
                    Some(key) => key,
                    None => self.open().map_err(|err| format!("{label}: connect to {}: {err}", self.addr))?,
                };
                keys.push(key);
                let conn = &mut self.conns[key];
                conn.expect = script.replies;
                conn.replies = 0;
                conn.out.extend_from_slice(&script.bytes);
                conn.flush().map_err(|err| format!("{label}: write: {err}"))?;
                if script.replies == 0 {
                    done += 1;
                } else {
                    active += 1;
                }
            }
            if done == total {
                return Ok(keys);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("{label}: timed out after {:?} with {done} of {total} scripts done", timeout));
            }
            if !quiet && now >= next_note {
                eprintln!("splitbench: {label}: {done}/{total} done ({:.0} s)", started.elapsed().as_secs_f64());
                next_note = now + Duration::from_secs(2);
            }
            match self.poll.poll(&mut self.events, Some(Duration::from_millis(100))) {
                Ok(()) => {}
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                Err(err) => return Err(format!("poll: {err}")),
            }
            for event in self.events.iter() {
                let key = event.token().0;
                let conn = &mut self.conns[key];
                if conn.closed {
                    continue;
                }
                if event.is_writable() && conn.pending() {
                    conn.flush().map_err(|err| format!("{label}: write: {err}"))?;
                }
                if !(event.is_readable() || event.is_read_closed() || event.is_error()) {
                    continue;
                }
                let classifier = &self.classifier;
                let mut failure: Option<String> = None;
                let (mut replies, mut pushes) = (0usize, 0u64);
                let eof = conn
                    .read_lines(&mut self.buf, |line| match classifier.classify(line) {
                        Kind::Push => pushes += 1,
                        Kind::Ok => replies += 1,
                        Kind::Error => {
                            replies += 1;
                            if failure.is_none() {
                                failure = Some(String::from_utf8_lossy(&line[..line.len().min(300)]).into_owned());
                            }
                        }
                    })
                    .map_err(|err| format!("{label}: read: {err}"))?;
                if let Some(failure) = failure {
                    return Err(format!("{label}: the server answered an error: {failure}"));
                }
                conn.pushes += pushes;
                if replies > 0 {
                    let before = conn.replies;
                    conn.replies += replies;
                    if before < conn.expect && conn.replies >= conn.expect {
                        active -= 1;
                        done += 1;
                    }
                }
                if eof {
                    let waiting = conn.replies < conn.expect;
                    conn.closed = true;
                    let _ = self.poll.registry().deregister(&mut conn.stream);
                    if waiting {
                        return Err(format!("{label}: the server closed a connection during set-up"));
                    }
                }
            }
        }
    }

    /// Reads and discards (counts) whatever arrives until nothing has come for `quiet`, or `max` passed.
    pub fn drain_quiet(&mut self, quiet: Duration, max: Duration) -> io::Result<u64> {
        let end = Instant::now() + max;
        let mut pushes = 0u64;
        loop {
            let now = Instant::now();
            if now >= end {
                return Ok(pushes);
            }
            match self.poll.poll(&mut self.events, Some(quiet.min(end - now))) {
                Ok(()) => {}
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
            if self.events.is_empty() {
                return Ok(pushes);
            }
            for event in self.events.iter() {
                let conn = &mut self.conns[event.token().0];
                if conn.closed {
                    continue;
                }
                if event.is_writable() && conn.pending() {
                    conn.flush()?;
                }
                let eof = conn.read_lines(&mut self.buf, |_| pushes += 1)?;
                if eof {
                    conn.closed = true;
                    let _ = self.poll.registry().deregister(&mut conn.stream);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_replies_and_pushes() {
        let c = Classifier::new(false);
        assert_eq!(c.classify(br#"{"balances":{"a":0.00},"status":"ok"}"#), Kind::Ok);
        assert_eq!(c.classify(br#"{"status": "error", "message": "x"}"#), Kind::Error);
        assert_eq!(c.classify(br#"{"code":"bad_json","message":"m","status":"error"}"#), Kind::Error);
        assert_eq!(c.classify(br#"{"event":"transaction_added","type":"notification"}"#), Kind::Push);
        assert_eq!(c.classify(br#"{"description":"\"status\":\"error\"","type":"notification"}"#), Kind::Push);
        let raw = Classifier::new(true);
        assert_eq!(raw.classify(b"+PONG\r"), Kind::Ok);
        assert_eq!(raw.classify(b"-ERR x\r"), Kind::Error);
        // splitd answering a raw line it cannot read: an error, as the docs say.
        assert_eq!(raw.classify(br#"{"status":"error","code":"bad_json","message":"Invalid JSON"}"#), Kind::Error);
        assert_eq!(raw.classify(br#"{"status":"ok"}"#), Kind::Ok);
    }
}
