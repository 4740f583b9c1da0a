//! One client connection: its transport (plain TCP or TLS, `tls::Transport`), input frames, pending
//! output, login session, and where it is in its life (`Phase`).
//!
//! Owns the transport's reads and writes and the bookkeeping the loop keeps per connection (on the
//! ready list, on the flush list, WRITABLE interest). Does not decide what to do with a frame
//! (`service`) or when output may leave (`commit` releases it).
//!
//! Buffers are allocated lazily and released when empty, so an idle logged-in connection costs little
//! more than this struct. Reading and writing go until `WouldBlock` (mio is edge-triggered), retrying
//! `Interrupted`.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::{Interest, Registry, Token};
use serde_json::Value;

use super::frame::{FrameBuf, Next};
use super::throttle::Source;
use super::tls::{Filled, Transport};
use crate::machine::{Command, Session};
use crate::workers::Cancel;

pub struct Conn {
    transport: Transport,
    /// Unique for the server's life: results for a closed connection whose slab slot was reused are
    /// recognised and dropped.
    serial: u64,
    /// The peer's address, read once at accept (`None` if the peer was already gone): what the
    /// throttles count by.
    peer: Option<SocketAddr>,
    input: FrameBuf,
    output: Vec<u8>,
    /// Bytes of `output` already written.
    written: usize,
    /// Bytes of `output` that may be written: replies and notifications wait until the log batch
    /// holding their changes is durable (see `Server::release_durable`).
    releasable: usize,
    /// The machine's login state for this connection; the loop only carries it.
    pub session: Session,
    phase: Phase,
    /// Readable edge seen and not yet drained to `WouldBlock`.
    read_ready: bool,
    /// The poller reported the peer's FIN (or a hang-up): reads must go on until they return 0, as
    /// no further edge will announce it.
    read_closed_seen: bool,
    /// WRITABLE interest registered (only while output is pending).
    writable_interest: bool,
    /// On the loop's ready list already (avoids duplicates).
    queued: bool,
    /// On the loop's flush list already (avoids duplicates).
    dirty: bool,
    /// Since when this connection has had no login (accept time, or the last logout).
    unauthenticated_since: Instant,
    /// A guess to run again, before any further frame, once the delay it waits in is over.
    waiting: Option<Waiting>,
}

/// Where a connection is in its life. One value, so that states which exclude each other cannot be
/// set together, and "may its next frame run?" is one question.
#[derive(Debug)]
enum Phase {
    /// Executes its frames as they come.
    Open,
    /// Waiting for slow work (a password hash, a large settlement search); its further frames wait,
    /// in order.
    Parked(Parked),
    /// After a failed login, its further frames wait until this time.
    Delayed(Instant),
    /// Closes once its pending output is written (request too long, end of input, too many failed
    /// logins). Reads and executes nothing more.
    Closing,
    /// Closed: deregistered and freed at the end of the turn; late results and events for it are
    /// dropped.
    Closed,
}

/// A password guess waiting for others in flight from its source to finish (`Throttled::Busy`).
#[derive(Debug)]
pub struct Waiting {
    pub id: Option<Value>,
    pub command: Command,
}

/// A request waiting for its slow work.
#[derive(Debug)]
pub struct Parked {
    pub id: Option<Value>,
    /// Cancels the slow work if the connection closes before a worker starts it.
    pub cancel: Cancel,
}

pub enum Flushed {
    /// Everything released is written, and more output waits for its log batch.
    Held,
    /// Everything written.
    All,
    /// The socket is full; wait for WRITABLE.
    Partial,
}

/// What one read found.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Bytes arrived (or the read was interrupted): look for frames, then read again.
    Bytes,
    /// Nothing more until the socket's next readable edge.
    Drained,
    /// The peer closed its side: no more input.
    Eof,
    /// The socket failed.
    Failed,
}

impl Conn {
    pub fn new(transport: Transport, serial: u64, now: Instant) -> Conn {
        Conn {
            peer: transport.peer_addr(),
            transport,
            serial,
            input: FrameBuf::default(),
            output: Vec::new(),
            written: 0,
            releasable: 0,
            session: Session::default(),
            phase: Phase::Open,
            read_ready: true,
            read_closed_seen: false,
            writable_interest: false,
            queued: false,
            dirty: false,
            unauthenticated_since: now,
            waiting: None,
        }
    }

    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// Where it comes from, as the throttles count it.
    pub fn source(&self) -> Source {
        Source::of(self.peer)
    }

    // Phase: the lifecycle.

    /// Whether its next frame may run now (not parked, delayed, closing or closed).
    pub fn can_execute(&self) -> bool {
        matches!(self.phase, Phase::Open)
    }

    pub fn is_parked(&self) -> bool {
        matches!(self.phase, Phase::Parked(_))
    }

    /// Whether it closes once its output is written.
    pub fn is_closing(&self) -> bool {
        matches!(self.phase, Phase::Closing)
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// Holds its further frames while `parked` waits for slow work.
    pub fn park(&mut self, parked: Parked) {
        debug_assert!(self.can_execute(), "only an open connection executes, so only it parks: {:?}", self.phase);
        if self.can_execute() {
            self.phase = Phase::Parked(parked);
        }
    }

    /// The request that waited, if one did; the connection executes again.
    pub fn unpark(&mut self) -> Option<Parked> {
        match std::mem::replace(&mut self.phase, Phase::Open) {
            Phase::Parked(parked) => Some(parked),
            other => {
                self.phase = other;
                None
            }
        }
    }

    /// Holds its further frames until `until` (see `delay_over`).
    pub fn delay(&mut self, until: Instant) {
        if self.can_execute() {
            self.phase = Phase::Delayed(until);
        }
    }

    /// Holds `waiting` and its further frames until `until`; `take_waiting` then gives it back.
    pub fn wait(&mut self, waiting: Waiting, until: Instant) {
        if self.can_execute() {
            self.waiting = Some(waiting);
            self.phase = Phase::Delayed(until);
        }
    }

    /// The request that waited, to run before any further frame.
    pub fn take_waiting(&mut self) -> Option<Waiting> {
        self.waiting.take()
    }

    /// Ends a delay that is due at `now`; `true` if one ended (the connection may execute again).
    pub fn delay_over(&mut self, now: Instant) -> bool {
        match self.phase {
            Phase::Delayed(until) if until <= now => {
                self.phase = Phase::Open;
                true
            }
            _ => false,
        }
    }

    /// Reads and executes nothing more; closes once its pending output is written. Buffered input
    /// is dropped (a half frame, or frames after the last answered one, is never executed).
    pub fn close_after_flush(&mut self) {
        if !self.is_closed() {
            self.phase = Phase::Closing;
            self.input.clear();
        }
    }

    /// Marks it closed for good, cancelling the slow work it waits for; `false` if it already was.
    pub fn close(&mut self) -> bool {
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Closed => false,
            Phase::Parked(parked) => {
                parked.cancel.cancel();
                true
            }
            _ => true,
        }
    }

    /// Whether the peer reset the connection (an error is pending on the socket after the poller
    /// reported a hang-up): nobody can read an answer any more. A peer that only shut down its
    /// sending side is not reset, and still gets the answers to what it sent.
    pub fn peer_reset(&mut self) -> bool {
        self.read_closed_seen && matches!(self.transport.socket().take_error(), Ok(Some(_)))
    }

    /// Since when it has been open without a login (accept, or its last logout); `None` once logged
    /// in or closed.
    pub fn login_clock(&self) -> Option<Instant> {
        (!self.is_closed() && self.session.user.is_none()).then_some(self.unauthenticated_since)
    }

    /// Starts the time-to-log-in clock again (after a logout).
    pub fn restart_login_clock(&mut self, now: Instant) {
        self.unauthenticated_since = now;
    }

    // The loop's lists and registration.

    /// Marks it as on the ready list; `false` if it already is, or is closed (then it must not be).
    pub fn mark_queued(&mut self) -> bool {
        if self.queued || self.is_closed() {
            return false;
        }
        self.queued = true;
        true
    }

    /// Taken off the ready list.
    pub fn clear_queued(&mut self) {
        self.queued = false;
    }

    /// Marks it as on the flush list; `false` if it already is.
    pub fn mark_dirty(&mut self) -> bool {
        !std::mem::replace(&mut self.dirty, true)
    }

    /// Taken off the flush list.
    pub fn clear_dirty(&mut self) {
        self.dirty = false;
    }

    /// Registers WRITABLE interest only while output waits for the socket (else it would only spin).
    pub fn want_writable(&mut self, registry: &Registry, key: usize, wanted: bool) {
        if self.writable_interest == wanted {
            return;
        }
        self.writable_interest = wanted;
        let interest = if wanted { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
        let _ = registry.reregister(self.transport.socket(), Token(key), interest);
    }

    /// Leaves the poll; a TLS peer is told `close_notify` on the way (best effort).
    pub fn deregister(&mut self, registry: &Registry) {
        self.transport.say_goodbye();
        let _ = registry.deregister(self.transport.socket());
    }

    // Input.

    /// A readable edge (or the peer's FIN, or an error) was reported for the socket.
    pub fn note_readable(&mut self, read_closed: bool) {
        self.read_ready = true;
        self.read_closed_seen |= read_closed;
    }

    /// Takes the next complete frame, if any (see `FrameBuf::next_frame`).
    pub fn next_frame(&mut self, max_bytes: usize) -> Next<'_> {
        self.input.next_frame(max_bytes)
    }

    /// Reads once into the input buffer (through `scratch`) unless the socket is known drained.
    pub fn read_once(&mut self, scratch: &mut [u8]) -> Received {
        if !self.read_ready {
            self.input.release_if_empty();
            return Received::Drained;
        }
        match self.transport.read(&mut self.input, scratch) {
            Ok(Filled::Eof) => {
                self.read_ready = false;
                Received::Eof
            }
            // A short read emptied the socket's receive queue: bytes arriving later raise a new
            // edge, so the extra read that would only return WouldBlock is skipped. Not so for a
            // FIN already reported: read on until it returns 0.
            Ok(Filled::Short) if !self.read_closed_seen => {
                self.read_ready = false;
                Received::Bytes
            }
            Ok(_) => Received::Bytes,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                self.read_ready = false;
                self.input.release_if_empty();
                Received::Drained
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => Received::Bytes,
            Err(_) => Received::Failed,
        }
    }

    // Output.

    /// The transport has bytes of its own to send (a TLS handshake flight, an alert): the
    /// connection needs a flush even if no reply is queued.
    pub fn wants_write(&self) -> bool {
        self.transport.wants_write()
    }

    /// Output queued and not yet written.
    pub fn output_pending(&self) -> usize {
        self.output.len() - self.written
    }

    /// The buffer to append replies and notifications to.
    pub fn output_mut(&mut self) -> &mut Vec<u8> {
        &mut self.output
    }

    /// Output written so far and output queued since, as an offset to release up to later.
    pub fn output_end(&self) -> usize {
        self.output.len()
    }

    /// Lets the output up to `offset` (from `output_end`) be written.
    pub fn release_to(&mut self, offset: usize) {
        self.releasable = self.releasable.max(offset.min(self.output.len()));
    }

    /// Whether all queued output is released already.
    pub fn releasable_all(&self) -> bool {
        self.releasable == self.output.len()
    }

    pub fn release_all(&mut self) {
        self.releasable = self.output.len();
    }

    /// Writes released output (and what the transport holds) until done or `WouldBlock`; frees the
    /// buffer once it is empty.
    pub fn flush(&mut self) -> io::Result<Flushed> {
        while self.written < self.releasable {
            match self.transport.write(&self.output[self.written..self.releasable]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::Partial),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
        }
        match self.transport.send_pending() {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::Partial),
            other => other?,
        }
        if self.written < self.output.len() {
            return Ok(Flushed::Held);
        }
        self.output = Vec::new();
        self.written = 0;
        self.releasable = 0;
        Ok(Flushed::All)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write;
    use std::time::Duration;

    /// A connection over loopback, and the peer's end of it.
    fn conn() -> (Conn, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (ours, _) = listener.accept().unwrap();
        ours.set_nonblocking(true).unwrap();
        (Conn::new(Transport::Plain(mio::net::TcpStream::from_std(ours)), 1, Instant::now()), peer)
    }

    #[test]
    fn a_parked_connection_waits_and_gets_its_request_back() {
        let (mut conn, _peer) = conn();
        assert!(conn.can_execute());
        conn.park(Parked { id: Some(json!(7)), cancel: Cancel::default() });
        assert!(conn.is_parked() && !conn.can_execute());
        assert_eq!(conn.unpark().and_then(|p| p.id), Some(json!(7)));
        assert!(conn.can_execute());
        assert!(conn.unpark().is_none(), "nothing waits twice");
    }

    #[test]
    fn a_delay_ends_only_when_due() {
        let (mut conn, _peer) = conn();
        let now = Instant::now();
        conn.delay(now + Duration::from_millis(50));
        assert!(!conn.can_execute());
        assert!(!conn.delay_over(now));
        assert!(conn.delay_over(now + Duration::from_millis(50)));
        assert!(conn.can_execute());
        assert!(!conn.delay_over(now + Duration::from_secs(1)), "an open connection has no delay to end");
        conn.wait(
            Waiting { id: Some(json!(1)), command: Command::Logout { all: false } },
            now + Duration::from_millis(20),
        );
        assert!(!conn.can_execute());
        assert!(conn.delay_over(now + Duration::from_millis(20)));
        let waited = conn.take_waiting().expect("the request that waited");
        assert_eq!((waited.id, waited.command), (Some(json!(1)), Command::Logout { all: false }));
        assert!(conn.take_waiting().is_none());
    }

    #[test]
    fn closing_and_closed_never_reopen() {
        let (mut conn, _peer) = conn();
        conn.close_after_flush();
        assert!(conn.is_closing() && !conn.can_execute());
        conn.delay(Instant::now());
        assert!(!conn.delay_over(Instant::now() + Duration::from_secs(1)));
        assert!(conn.is_closing());
        assert!(conn.close());
        assert!(!conn.close(), "closing twice is a no-op");
        conn.close_after_flush();
        assert!(conn.is_closed() && !conn.is_closing());
        assert!(conn.unpark().is_none() && conn.is_closed());
        assert!(!conn.mark_queued(), "a closed connection never goes on the ready list");
    }

    #[test]
    fn a_parked_connection_closes_and_its_late_result_finds_it_closed() {
        let (mut conn, _peer) = conn();
        let cancel = Cancel::default();
        conn.park(Parked { id: None, cancel: cancel.clone() });
        assert!(!cancel.is_cancelled());
        assert!(conn.close());
        assert!(cancel.is_cancelled(), "closing cancels the work it waited for");
        assert!(conn.is_closed() && !conn.is_parked());
        assert_eq!(conn.login_clock(), None, "a closed connection waits for no login");
    }

    #[test]
    fn it_knows_where_it_comes_from() {
        let (conn, peer) = conn();
        assert_eq!(conn.source(), Source::of(Some(peer.local_addr().unwrap())));
        assert_ne!(conn.source(), Source::UNKNOWN);
    }

    #[test]
    fn a_reset_is_told_from_a_half_close() {
        let (mut half, half_peer) = conn();
        half_peer.shutdown(std::net::Shutdown::Write).unwrap();
        let (mut reset, reset_peer) = conn();
        // SO_LINGER 0: closing sends a reset instead of a FIN.
        let linger = libc::linger { l_onoff: 1, l_linger: 0 };
        // SAFETY: a valid descriptor and a `linger` of the size given, read by the call only.
        let set = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&reset_peer),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(set, 0);
        drop(reset_peer);
        let deadline = Instant::now() + Duration::from_secs(10);
        half.note_readable(true);
        reset.note_readable(true);
        while !reset.peer_reset() {
            assert!(Instant::now() < deadline, "the reset was never seen");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(!half.peer_reset(), "a peer that only stopped sending may still read its answers");
    }

    #[test]
    fn reads_end_at_the_peers_close() {
        let (mut conn, mut peer) = conn();
        let mut scratch = vec![0; 1024];
        peer.write_all(b"{\"a\":1}\n").unwrap();
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        conn.note_readable(true);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        while seen.last() != Some(&Received::Eof) {
            assert!(Instant::now() < deadline, "no EOF: {seen:?}");
            match conn.read_once(&mut scratch) {
                Received::Drained => conn.note_readable(true),
                other => seen.push(other),
            }
        }
        assert_eq!(conn.next_frame(100), Next::Frame(b"{\"a\":1}"));
    }
}
