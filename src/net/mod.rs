//! The event loop: one thread, one `mio::Poll`, connections in a `Slab` keyed by their `Token`.
//!
//! One turn: poll → accept / read / wake-ups (password results, finished log batches) → execute at
//! most `frames_per_turn_max` frames per connection → hand the turn's records to the log thread and
//! hold the turn's output until that batch is durable → flush released output → close what must
//! close. No reply or notification about a change leaves before that change is durable.
//! This module knows sockets and order of work; the meaning of requests lives in `machine`.

pub mod conn;
pub mod frame;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io::{self, Read};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::net::{TcpListener, UnixStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use serde_json::Value;
use slab::Slab;

use crate::config::Config;
use crate::machine;
use crate::machine::{Event, Machine, Outcome, Resume, Step, UserId};
use crate::proto::{self, Code, Error};
use crate::store::Store;
use crate::workers::Workers;
use conn::{Conn, Flushed, Parked};
use frame::Next;

const LISTENER: Token = Token(usize::MAX);
const WAKER: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);

/// How long poll may sleep when nothing is scheduled: bounds the lag of idle-timeout checks.
const TICK: Duration = Duration::from_millis(500);
/// After EMFILE on accept, wait this long before accepting again (no busy loop on a full table).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// On shutdown, how long to keep flushing replies to slow readers.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(2);
/// Failed logins on one connection: the n-th failure holds the connection's next frames for
/// `LOGIN_DELAY_BASE * 2^(n-1)`, at most `LOGIN_DELAY_MAX`; at `LOGIN_FAILURES_MAX` it is closed.
/// Online guessing then costs seconds per try and a new connection (and its own hash) per ten.
const LOGIN_DELAY_BASE: Duration = Duration::from_millis(50);
const LOGIN_DELAY_MAX: Duration = Duration::from_secs(1);
pub const LOGIN_FAILURES_MAX: u32 = 10;

/// Tag carried through the hash workers: which connection asked and where its request resumes.
type WorkTag = (usize, u64, Resume);

pub struct Server {
    poll: Poll,
    listener: Option<TcpListener>,
    signals: UnixStream,
    conns: Slab<Conn>,
    machine: Machine,
    store: Store,
    workers: Workers<WorkTag>,
    /// Connections logged in as each user (a user may be online on several).
    online: HashMap<UserId, Vec<usize>>,
    /// Connections with input to process next turn (edge-triggered: no new event will come for it).
    ready: VecDeque<usize>,
    /// Connections with output to flush after this turn's commit.
    dirty: Vec<usize>,
    /// Connections to deregister and free at the end of the turn.
    closing: Vec<usize>,
    /// Output waiting for its log batch: (batch, slab key, serial, output offset), in batch order.
    held: VecDeque<(u64, usize, u64, usize)>,
    /// Scratch list of a notification's recipients (reused: fanout allocates nothing per member).
    recipients: Vec<usize>,
    scratch: Vec<u8>,
    config: Config,
    next_serial: u64,
    accept_paused_until: Option<Instant>,
    /// Delayed connections to resume: (when, slab key, serial).
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    shutting_down: bool,
    logged_limits: LoggedOnce,
}

/// Each protective limit is logged the first time it triggers, not per connection.
#[derive(Default)]
struct LoggedOnce {
    connections_max: bool,
    emfile: bool,
    output_max: bool,
}

impl Server {
    /// Binds the listener and installs the signal pipe. `store` and `machine` come from recovery.
    pub fn bind(config: Config, store: Store, machine: Machine) -> io::Result<Server> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(config.listen)?;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let hash_waker = Arc::clone(&waker);
        let workers = Workers::start(config.hash_threads, move || {
            let _ = hash_waker.wake();
        })?;
        let mut store = store;
        store.start_syncer(move || {
            let _ = waker.wake();
        })?;
        // Signals: the handler only writes a byte to this pipe; the loop sees it as a readable event.
        let (receiver, sender) = StdUnixStream::pair()?;
        receiver.set_nonblocking(true)?;
        sender.set_nonblocking(true)?;
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::low_level::pipe::register(signal, sender.try_clone()?)?;
        }
        let mut signals = UnixStream::from_std(receiver);
        poll.registry().register(&mut signals, SIGNALS, Interest::READABLE)?;
        Ok(Server {
            poll,
            listener: Some(listener),
            signals,
            conns: Slab::new(),
            machine,
            store,
            workers,
            online: HashMap::new(),
            ready: VecDeque::new(),
            dirty: Vec::new(),
            closing: Vec::new(),
            recipients: Vec::new(),
            held: VecDeque::new(),
            scratch: vec![0; 64 * 1024],
            config,
            next_serial: 0,
            accept_paused_until: None,
            timers: BinaryHeap::new(),
            shutting_down: false,
            logged_limits: LoggedOnce::default(),
        })
    }

    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        match &self.listener {
            Some(listener) => listener.local_addr(),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Runs until SIGINT/SIGTERM. Returns an error only when storage failed (nothing unacknowledged
    /// was sent) or polling itself failed.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut next_idle_check = Instant::now() + TICK;
        loop {
            let timeout = Some(self.poll_timeout(next_idle_check));
            if let Err(err) = self.poll.poll(&mut events, timeout) {
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    WAKER => {
                        self.finish_offloaded();
                        self.finish_syncs()?;
                    }
                    SIGNALS => self.drain_signals(),
                    Token(key) => {
                        let Some(conn) = self.conns.get_mut(key) else {
                            continue;
                        };
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            conn.read_ready = true;
                            conn.read_closed_seen |= event.is_read_closed() || event.is_error();
                            enqueue(&mut self.ready, conn, key);
                        }
                        if event.is_writable() {
                            mark_dirty(&mut self.dirty, conn, key);
                        }
                    }
                }
            }
            if let Some(until) = self.accept_paused_until {
                if Instant::now() >= until {
                    self.accept_paused_until = None;
                    self.accept_all();
                }
            }
            self.fire_timers(Instant::now());
            self.service_ready()?;
            self.group_commit()?;
            self.flush_dirty();
            let now = Instant::now();
            if now >= next_idle_check {
                self.close_idle_unauthenticated(now);
                next_idle_check = now + TICK;
            }
            self.free_closed();
            if self.shutting_down {
                return self.shutdown();
            }
            self.snapshot_in_background();
        }
    }

    /// Sleep until the earliest scheduled work: a ready connection (none), a timer, the accept
    /// back-off, or the idle check.
    fn poll_timeout(&self, next_idle_check: Instant) -> Duration {
        if !self.ready.is_empty() {
            return Duration::ZERO;
        }
        let mut wake = next_idle_check;
        if let Some(Reverse((at, _, _))) = self.timers.peek() {
            wake = wake.min(*at);
        }
        if let Some(at) = self.accept_paused_until {
            wake = wake.min(at);
        }
        wake.saturating_duration_since(Instant::now())
    }

    /// Resumes connections whose delay has passed.
    fn fire_timers(&mut self, now: Instant) {
        while let Some(Reverse((at, key, serial))) = self.timers.peek().copied() {
            if at > now {
                return;
            }
            self.timers.pop();
            let Some(conn) = self.conns.get_mut(key) else { continue };
            if conn.serial == serial && conn.delayed_until.is_some_and(|until| until <= now) {
                conn.delayed_until = None;
                enqueue(&mut self.ready, conn, key);
            }
        }
    }

    fn accept_all(&mut self) {
        if self.accept_paused_until.is_some() || self.shutting_down {
            return;
        }
        let Some(listener) = &self.listener else {
            return;
        };
        loop {
            match listener.accept() {
                Ok((mut stream, _peer)) => {
                    if self.conns.len() >= self.config.connections_max {
                        if !self.logged_limits.connections_max {
                            self.logged_limits.connections_max = true;
                            eprintln!(
                                "splitd: connection limit {} reached; refusing new connections (--max-connections)",
                                self.config.connections_max
                            );
                        }
                        let mut line = Vec::new();
                        let error = Error::new(Code::TooManyConnections, "Too many connections");
                        proto::write_error(&error, None, &mut line);
                        let _ = io::Write::write(&mut stream, &line);
                        continue;
                    }
                    let entry = self.conns.vacant_entry();
                    let key = entry.key();
                    if self.poll.registry().register(&mut stream, Token(key), Interest::READABLE).is_err() {
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    self.next_serial += 1;
                    let conn = entry.insert(Conn::new(stream, self.next_serial, Instant::now()));
                    // Bytes may already be waiting: no edge will announce them again.
                    enqueue(&mut self.ready, conn, key);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) if matches!(err.raw_os_error(), Some(24 /* EMFILE */) | Some(23 /* ENFILE */)) => {
                    if !self.logged_limits.emfile {
                        self.logged_limits.emfile = true;
                        eprintln!("splitd: out of file descriptors on accept ({err}); backing off");
                    }
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
                Err(err) => {
                    // ECONNABORTED and friends concern one pending connection only.
                    eprintln!("splitd: accept failed: {err}");
                    return;
                }
            }
        }
    }

    /// Services each connection on the ready list once: execute buffered frames, read more, up to the
    /// per-turn frame budget. Connections that still have work go back on the list for the next turn.
    fn service_ready(&mut self) -> io::Result<()> {
        let mut pending = std::mem::take(&mut self.ready);
        while let Some(key) = pending.pop_front() {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            conn.queued = false;
            self.service(key);
        }
        // `service` may have re-queued into `self.ready`; keep `pending`'s allocation for reuse.
        if self.ready.is_empty() {
            self.ready = pending;
        }
        Ok(())
    }

    fn service(&mut self, key: usize) {
        let mut frames = 0;
        loop {
            let Some(conn) = self.conns.get_mut(key) else {
                return;
            };
            if conn.closed || conn.parked.is_some() || conn.close_after_flush || conn.delayed_until.is_some() {
                return;
            }
            if conn.output_pending() > self.config.output_bytes_high {
                // Backpressure: resumes when the flush drains the output (see `flush_dirty`).
                return;
            }
            if frames >= self.config.frames_per_turn_max {
                enqueue(&mut self.ready, conn, key);
                return;
            }
            match conn.input.next_frame(self.config.frame_bytes_max) {
                Next::Frame(bytes) => {
                    frames += 1;
                    let decoded = proto::decode(bytes);
                    self.execute(key, decoded);
                }
                Next::TooLong => {
                    let error = Error::new(
                        Code::FrameTooLong,
                        format!("Request longer than {} bytes; closing", self.config.frame_bytes_max),
                    );
                    proto::write_error(&error, None, conn.output_mut());
                    conn.input.clear();
                    conn.close_after_flush = true;
                    mark_dirty(&mut self.dirty, conn, key);
                    return;
                }
                Next::Incomplete => {
                    if conn.eof {
                        // A half frame at EOF is never executed.
                        conn.input.clear();
                        conn.close_after_flush = true;
                        mark_dirty(&mut self.dirty, conn, key);
                        return;
                    }
                    if !conn.read_ready {
                        conn.input.release_if_empty();
                        return;
                    }
                    match conn.input.read_from(&mut conn.stream, &mut self.scratch) {
                        Ok(0) => {
                            conn.eof = true;
                            conn.read_ready = false;
                        }
                        // A short read emptied the socket's receive queue: bytes arriving later raise
                        // a new edge, so the extra read that would only return WouldBlock is skipped.
                        // Not so for a FIN already reported: read on until it returns 0.
                        Ok(n) if n < self.scratch.len() && !conn.read_closed_seen => conn.read_ready = false,
                        Ok(_) => {}
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                            conn.read_ready = false;
                        }
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => {
                            self.close(key);
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Executes one decoded frame for connection `key`.
    fn execute(&mut self, key: usize, decoded: proto::Decoded) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let command = match decoded.command {
            Ok(command) => command,
            Err(error) => {
                proto::write_error(&error, decoded.id.as_ref(), conn.output_mut());
                mark_dirty(&mut self.dirty, conn, key);
                return;
            }
        };
        let user_before = conn.session.user;
        match self.machine.execute(&mut conn.session, command, unix_millis()) {
            Step::Done(outcome) => self.deliver(key, decoded.id, user_before, outcome),
            Step::Offload(job) => {
                conn.parked = Some(Parked { id: decoded.id });
                if !self.workers.submit((key, conn.serial, job.resume), job.work) {
                    eprintln!("splitd: worker threads are gone; closing connection");
                    self.close(key);
                }
            }
        }
    }

    /// Results from the worker threads: resume each parked request where it stopped.
    fn finish_offloaded(&mut self) {
        while let Some(((key, serial, resume), done)) = self.workers.try_finished() {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if conn.serial != serial || conn.closed {
                continue;
            }
            let id = conn.parked.take().and_then(|p| p.id);
            let user_before = conn.session.user;
            let outcome = self.machine.resume(&mut conn.session, resume, done, unix_millis());
            self.deliver(key, id, user_before, outcome);
            if let Some(conn) = self.conns.get_mut(key) {
                // Frames that arrived meanwhile are waiting in its buffer.
                enqueue(&mut self.ready, conn, key);
            }
        }
    }

    /// Queues the reply, hands the records to the log, fans the events out.
    fn deliver(&mut self, key: usize, id: Option<Value>, user_before: Option<UserId>, outcome: Outcome) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let user_after = conn.session.user;
        let login_failed = outcome.answer == Err(machine::Error::InvalidCredentials);
        proto::write_answer(&self.machine, &outcome.answer, id.as_ref(), conn.output_mut());
        mark_dirty(&mut self.dirty, conn, key);
        if login_failed {
            let failures = conn.session.failed_logins.max(1);
            if failures >= LOGIN_FAILURES_MAX {
                conn.close_after_flush = true;
            } else {
                let delay = LOGIN_DELAY_BASE.saturating_mul(1 << (failures - 1).min(16)).min(LOGIN_DELAY_MAX);
                let until = Instant::now() + delay;
                conn.delayed_until = Some(until);
                self.timers.push(Reverse((until, key, conn.serial)));
            }
        }
        if user_before != user_after {
            if user_after.is_none() {
                conn.unauthenticated_since = Instant::now();
            }
            if let Some(user) = user_before {
                self.go_offline(user, key);
            }
            if let Some(user) = user_after {
                self.online.entry(user).or_default().push(key);
            }
        }
        self.store.append(&outcome.records);
        for event in &outcome.events {
            self.fan_out(key, event);
        }
    }

    /// Queues `event` to every online connection of every member of its group, except the actor's.
    /// The message is rendered (and serialised) once, and only when someone will receive it.
    fn fan_out(&mut self, actor: usize, event: &Event) {
        let recipients = &mut self.recipients;
        recipients.clear();
        for member in self.machine.members(event.group) {
            let Some(keys) = self.online.get(member) else {
                continue;
            };
            recipients.extend(keys.iter().copied().filter(|&key| key != actor));
        }
        if recipients.is_empty() {
            return;
        }
        let mut bytes = Vec::new();
        if !proto::write_event(&self.machine, event, &mut bytes) {
            return;
        }
        bytes.push(b'\n');
        let output_max = self.config.output_bytes_max;
        let mut overflowed = Vec::new();
        for &key in self.recipients.iter() {
            {
                let Some(conn) = self.conns.get_mut(key) else {
                    continue;
                };
                if conn.closed {
                    continue;
                }
                conn.output_mut().extend_from_slice(&bytes);
                if conn.output_pending() > output_max {
                    overflowed.push(key);
                }
                mark_dirty(&mut self.dirty, conn, key);
            }
        }
        for key in overflowed {
            if !self.logged_limits.output_max {
                self.logged_limits.output_max = true;
                eprintln!(
                    "splitd: closing a client whose unread output passed {output_max} bytes (--max-output-bytes)"
                );
            }
            self.close(key);
        }
    }

    fn go_offline(&mut self, user: UserId, key: usize) {
        if let Some(keys) = self.online.get_mut(&user) {
            keys.retain(|&k| k != key);
            if keys.is_empty() {
                self.online.remove(&user);
            }
        }
    }

    /// Group commit, pipelined: this turn's records go to the log's sync thread (in one batch with
    /// everything else appended since the batch in flight, if one is), and this turn's replies and
    /// notifications are held until that batch is durable. Turns without changes release at once
    /// unless earlier changes are still in flight (their replies may show those changes).
    fn group_commit(&mut self) -> io::Result<()> {
        if let Err(err) = self.store.start_sync() {
            return Err(fatal(err));
        }
        let needed = self.store.needed();
        let durable = self.store.durable();
        for &key in &self.dirty {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if needed <= durable {
                conn.release_all();
            } else {
                self.held.push_back((needed, key, conn.serial, conn.output_end()));
            }
        }
        Ok(())
    }

    /// Batches the sync thread finished: release what waited for them, start the next batch.
    fn finish_syncs(&mut self) -> io::Result<()> {
        while let Some(done) = self.store.poll_done() {
            done.map_err(fatal)?;
        }
        self.release_durable();
        self.store.start_sync().map_err(fatal)
    }

    /// Lets every held reply and notification whose batch is durable be written.
    fn release_durable(&mut self) {
        let durable = self.store.durable();
        while let Some(&(batch, key, serial, offset)) = self.held.front() {
            if batch > durable {
                break;
            }
            self.held.pop_front();
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if conn.serial == serial && !conn.closed {
                conn.release_to(offset);
                mark_dirty(&mut self.dirty, conn, key);
            }
        }
    }

    fn flush_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for &key in &dirty {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            conn.dirty = false;
            if conn.closed {
                continue;
            }
            let was_backpressured = conn.output_pending() > self.config.output_bytes_high;
            match conn.flush() {
                Ok(Flushed::All) => {
                    if conn.close_after_flush {
                        self.close(key);
                        continue;
                    }
                    if conn.writable_interest {
                        conn.writable_interest = false;
                        let _ = reregister(self.poll.registry(), conn, key, Interest::READABLE);
                    }
                }
                Ok(Flushed::Held) => {
                    // The rest waits for its log batch; WRITABLE interest would only spin.
                    if conn.writable_interest {
                        conn.writable_interest = false;
                        let _ = reregister(self.poll.registry(), conn, key, Interest::READABLE);
                    }
                }
                Ok(Flushed::Partial) => {
                    if !conn.writable_interest {
                        conn.writable_interest = true;
                        let _ = reregister(self.poll.registry(), conn, key, Interest::READABLE | Interest::WRITABLE);
                    }
                }
                Err(_) => {
                    self.close(key);
                    continue;
                }
            }
            if was_backpressured && conn.output_pending() <= self.config.output_bytes_high {
                enqueue(&mut self.ready, conn, key);
            }
        }
        self.dirty = dirty;
        self.dirty.clear();
    }

    /// Marks a connection closed; it is deregistered and freed at the end of the turn.
    fn close(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.closed {
            return;
        }
        conn.closed = true;
        if let Some(user) = conn.session.user.take() {
            self.go_offline(user, key);
        }
        self.closing.push(key);
    }

    fn free_closed(&mut self) {
        for key in std::mem::take(&mut self.closing) {
            if let Some(mut conn) = self.conns.try_remove(key) {
                let _ = self.poll.registry().deregister(&mut conn.stream);
            }
        }
    }

    /// Connections that never logged in are closed after the configured idle time.
    fn close_idle_unauthenticated(&mut self, now: Instant) {
        let limit = self.config.unauthenticated_idle;
        let idle: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                !c.closed
                    && c.session.user.is_none()
                    && c.parked.is_none()
                    && now.duration_since(c.unauthenticated_since) >= limit
            })
            .map(|(key, _)| key)
            .collect();
        for key in idle {
            if let Some(conn) = self.conns.get_mut(key) {
                let error = Error::new(Code::Limit, "Not logged in within the idle limit; closing");
                let caught_up = conn.releasable_all();
                proto::write_error(&error, None, conn.output_mut());
                // The notice is about no change; it may go at once unless earlier output still waits.
                if caught_up {
                    conn.release_all();
                }
                let _ = conn.flush();
            }
            self.close(key);
        }
    }

    fn drain_signals(&mut self) {
        let mut buf = [0u8; 64];
        loop {
            match self.signals.read(&mut buf) {
                Ok(0) => return,
                Ok(_) => self.shutting_down = true,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            }
        }
    }

    /// Starts a snapshot when the log has grown past its threshold, and reaps finished ones.
    fn snapshot_in_background(&mut self) {
        match self.store.poll_background() {
            Some(Ok((seq, took))) => eprintln!("splitd: snapshot at record {seq} written in {} ms", took.as_millis()),
            Some(Err(err)) => eprintln!("splitd: background snapshot failed ({err}); the log is kept and complete"),
            None => {}
        }
        if self.store.snapshot_due() {
            match self.store.start_background_snapshot(&self.machine) {
                Ok(stall) => eprintln!("splitd: snapshot started; the loop paused {} us for it", stall.as_micros()),
                Err(err) => eprintln!("splitd: cannot start a snapshot ({err}); the log is kept and complete"),
            }
        }
    }

    fn snapshot(&mut self) {
        match self.store.snapshot(&self.machine) {
            Ok(took) => eprintln!("splitd: snapshot written in {} ms", took.as_millis()),
            Err(err) => {
                eprintln!("splitd: snapshot failed ({err}); the log is kept and still complete")
            }
        }
    }

    /// Stop accepting, answer what was already read and committed, flush for a bounded time, snapshot.
    fn shutdown(mut self) -> io::Result<()> {
        eprintln!("splitd: shutting down");
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        // Everything appended becomes durable here, so everything queued may leave.
        self.store.commit().map_err(fatal)?;
        self.held.clear();
        for (_, conn) in self.conns.iter_mut() {
            conn.release_all();
        }
        let deadline = Instant::now() + SHUTDOWN_FLUSH;
        let mut events = Events::with_capacity(256);
        loop {
            let keys: Vec<usize> = self.conns.iter().filter(|(_, c)| c.output_pending() > 0).map(|(k, _)| k).collect();
            for &key in &keys {
                if let Some(conn) = self.conns.get_mut(key) {
                    if conn.flush().is_err() {
                        conn.closed = true;
                    }
                }
            }
            let waiting = self.conns.iter().any(|(_, c)| !c.closed && c.output_pending() > 0);
            let now = Instant::now();
            if !waiting || now >= deadline {
                break;
            }
            let _ = self.poll.poll(&mut events, Some((deadline - now).min(Duration::from_millis(50))));
        }
        self.snapshot();
        Ok(())
    }
}

/// A failed log write or fsync stops the server: what it would acknowledge might not be on disk, and
/// an fsync is never retried after EIO (the kernel may have dropped the dirty pages). Held replies are
/// never sent.
fn fatal(err: io::Error) -> io::Error {
    eprintln!("splitd: FATAL: cannot make the log durable ({err}); stopping without acknowledging what it held");
    err
}

fn enqueue(ready: &mut VecDeque<usize>, conn: &mut Conn, key: usize) {
    if !conn.queued && !conn.closed {
        conn.queued = true;
        ready.push_back(key);
    }
}

fn mark_dirty(dirty: &mut Vec<usize>, conn: &mut Conn, key: usize) {
    if !conn.dirty {
        conn.dirty = true;
        dirty.push(key);
    }
}

fn reregister(registry: &Registry, conn: &mut Conn, key: usize, interest: Interest) -> io::Result<()> {
    registry.reregister(&mut conn.stream, Token(key), interest)
}

/// The loop reads the clock; the machine only receives it.
fn unix_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
