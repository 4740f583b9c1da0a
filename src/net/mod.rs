//! The event loop: one thread, one `mio::Poll`, connections in a `Slab` keyed by their `Token`.
//!
//! One turn: poll → accept / read / wake-ups (slow-work results, finished log batches) → execute at
//! most `frames_per_turn_max` frames per connection → hand the turn's records to the log thread and
//! hold the turn's output until that batch is durable → flush released output → close what must
//! close. No reply or notification about a change leaves before that change is durable.
//! This module knows sockets and order of work; the meaning of requests lives in `machine`.
//!
//! This file owns the `Server` struct, `bind`, the loop (`run`), its poll timeout and timers, and the
//! connection table (closing and freeing slots). Each concern of a turn has its own file:
//! `accept` (new connections), `service` (reading, framing, executing, delivering replies),
//! `fanout` (notifications and who is online), `due` (the recurring-expense timer), `commit` (holding output until durable, flushing),
//! `shutdown` (signals, shutdown, snapshots), `idle` (connections not logged in: the login timeout
//! and eviction near the cap); `conn` and `frame` are one connection and its framing, `tls` its
//! transport (plain TCP or TLS) and the certificate pair; `limits` fits the connection cap to the
//! descriptor limit at start; `throttle` counts password guesses and slow work by source address.

mod accept;
mod cluster;
mod commit;
mod conn;
mod due;
mod fanout;
pub mod frame;
mod idle;
pub mod limits;
mod service;
mod shutdown;
mod throttle;
pub mod tls;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::event::Event as PollEvent;
use mio::net::{TcpListener, UnixStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use crate::config::Config;
use crate::log;
use crate::machine::{Machine, UserId};
use crate::store::Store;
use crate::workers::Workers;
use conn::Conn;
use service::WorkTag;

pub use service::LOGIN_FAILURES_MAX;

const LISTENER: Token = Token(usize::MAX);
const WAKER: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);
const LISTENER_PLAIN: Token = Token(usize::MAX - 3);
const RELOAD: Token = Token(usize::MAX - 4);
/// Cluster mode: the peer listener, and the base of the peer connections' tokens (far above any
/// slab key).
const PEER_LISTENER: Token = Token(usize::MAX - 5);
const PEER_BASE: usize = usize::MAX / 2;

/// Connections the kernel completes and holds before `accept` takes them (capped by
/// `net.core.somaxconn`). mio and std listen with 128, which a reconnect storm overflows — thousands of
/// clients resuming at once after a restart while the loop is busy: the kernel then drops their SYNs
/// and each waits a second to retry.
const ACCEPT_BACKLOG: libc::c_int = 4096;

/// How long poll may sleep when nothing is scheduled: bounds the lag of idle-timeout checks.
const TICK: Duration = Duration::from_millis(500);

pub struct Server {
    poll: Poll,
    /// `--listen`: TLS when `tls` is set, else plaintext.
    listener: Option<TcpListener>,
    /// `--listen-plain`: plaintext beside a TLS `listener`.
    plain_listener: Option<TcpListener>,
    /// The certificate pair for `listener`'s connections, when it speaks TLS.
    tls: Option<tls::Acceptor>,
    signals: UnixStream,
    /// SIGHUP: reload the certificate pair.
    reload_signals: UnixStream,
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
    /// A descriptor held in reserve (`/dev/null`): out of descriptors, `accept` closes it to take one
    /// waiting connection, tell it why and close it, then takes the spare again.
    spare: Option<std::fs::File>,
    /// Connections not logged in, oldest first (`idle`).
    login_queue: idle::LoginQueue,
    /// Delayed connections to resume: (when, slab key, serial).
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    /// Password guesses and slow work counted by source address.
    throttle: throttle::Throttle,
    shutting_down: bool,
    /// More recurring occurrences are due than one turn makes (`due`): poll without sleeping.
    due_backlog: bool,
    /// Cluster mode (`--peers`): this server as a raft member; `None` on a single node.
    cluster: Option<crate::cluster::node::Node>,
}

impl Server {
    /// Loads the certificate pair (with `--tls-cert`), binds the listeners and installs the signal
    /// pipes. `store` and `machine` come from recovery. Errors say which step failed.
    pub fn bind(config: Config, store: Store, machine: Machine) -> io::Result<Server> {
        let poll = Poll::new()?;
        let tls = match &config.tls {
            Some(files) => Some(tls::Acceptor::load(files.clone()).map_err(io::Error::other)?),
            None => None,
        };
        let listener = listen(&poll, config.listen, LISTENER)?;
        let plain_listener = match config.listen_plain {
            Some(addr) => Some(listen(&poll, addr, LISTENER_PLAIN)?),
            None => None,
        };
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let work_waker = Arc::clone(&waker);
        let workers = Workers::start(config.hash_threads, move || {
            let _ = work_waker.wake();
        })?;
        let mut store = store;
        let log_waker = Arc::clone(&waker);
        store.start_syncer(move || {
            let _ = log_waker.wake();
        })?;
        let signals = shutdown::signal_pipe(poll.registry(), SIGNALS, &shutdown::STOP_SIGNALS)?;
        // Registered with or without TLS: a SIGHUP (a supervisor's "reload") never kills the server.
        let reload_signals = shutdown::signal_pipe(poll.registry(), RELOAD, &[signal_hook::consts::SIGHUP])?;
        let (cluster, machine) = cluster::start_member(&config, &poll, &listener, waker, machine)?;
        Ok(Server {
            poll,
            listener: Some(listener),
            plain_listener,
            tls,
            signals,
            reload_signals,
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
            spare: accept::open_spare(),
            login_queue: idle::LoginQueue::default(),
            timers: BinaryHeap::new(),
            throttle: throttle::Throttle::new(Instant::now()),
            shutting_down: false,
            due_backlog: false,
            cluster,
        })
    }

    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        match &self.listener {
            Some(listener) => listener.local_addr(),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Each listener's bound address and whether it speaks TLS: `--listen` first, then
    /// `--listen-plain`.
    pub fn listening(&self) -> io::Result<Vec<(std::net::SocketAddr, bool)>> {
        let mut all = vec![(self.local_addr()?, self.tls.is_some())];
        if let Some(listener) = &self.plain_listener {
            all.push((listener.local_addr()?, false));
        }
        Ok(all)
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
                self.dispatch(event)?;
            }
            self.accept_after_backoff();
            self.fire_timers(Instant::now());
            if !self.cluster_holds_commands() {
                self.service_ready();
            }
            self.run_due();
            self.cluster_turn()?;
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

    /// One poll event: the listener, a wake-up (slow work or a log batch done), a signal, or a
    /// connection's readiness, which only queues it (the work happens in `service_ready`, `flush_dirty`).
    fn dispatch(&mut self, event: &PollEvent) -> io::Result<()> {
        match event.token() {
            LISTENER => self.accept_from(accept::Door::Main),
            LISTENER_PLAIN => self.accept_from(accept::Door::Plain),
            RELOAD => self.drain_reload_signals(),
            WAKER => {
                self.finish_offloaded();
                self.finish_syncs()?;
            }
            SIGNALS => self.drain_signals(),
            token if self.cluster.as_ref().is_some_and(|node| node.owns(token)) => self.cluster_event(token),
            Token(key) => {
                let Some(conn) = self.conns.get_mut(key) else {
                    return Ok(());
                };
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    conn.note_readable(event.is_read_closed() || event.is_error());
                    enqueue(&mut self.ready, conn, key);
                }
                if event.is_writable() {
                    mark_dirty(&mut self.dirty, conn, key);
                }
            }
        }
        Ok(())
    }

    /// Sleep until the earliest scheduled work: a ready connection (none), a timer, the accept
    /// back-off, or the idle check.
    fn poll_timeout(&self, next_idle_check: Instant) -> Duration {
        if (!self.ready.is_empty() || self.due_backlog) && !self.cluster_holds_commands() {
            return Duration::ZERO;
        }
        let mut wake = next_idle_check;
        if let Some(Reverse((at, _, _))) = self.timers.peek() {
            wake = wake.min(*at);
        }
        if let Some(at) = self.accept_paused_until {
            wake = wake.min(at);
        }
        if let Some(at) = self.cluster_wake() {
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
            if conn.serial() == serial && conn.delay_over(now) {
                enqueue(&mut self.ready, conn, key);
            }
        }
    }

    /// Marks a connection closed; it is deregistered and freed at the end of the turn.
    fn close(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if !conn.close() {
            return;
        }
        if let Some(user) = conn.session.user.take() {
            self.go_offline(user, key);
        }
        self.closing.push(key);
    }

    fn free_closed(&mut self) {
        for key in std::mem::take(&mut self.closing) {
            if let Some(mut conn) = self.conns.try_remove(key) {
                conn.deregister(self.poll.registry());
            }
        }
    }
}

/// Binds a listener on `addr` and registers it as `token`.
fn listen(poll: &Poll, addr: std::net::SocketAddr, token: Token) -> io::Result<TcpListener> {
    let mut listener =
        TcpListener::bind(addr).map_err(|err| io::Error::new(err.kind(), format!("cannot listen on {addr}: {err}")))?;
    widen_backlog(&listener);
    poll.registry().register(&mut listener, token, Interest::READABLE)?;
    Ok(listener)
}

/// Raises the listener's accept queue to `ACCEPT_BACKLOG` (on Linux a second `listen` resizes it);
/// on failure the queue stays as it was.
fn widen_backlog(listener: &TcpListener) {
    use std::os::fd::AsRawFd;
    // SAFETY: `listen` on a descriptor `listener` owns and keeps open for the whole call; it touches
    // no memory of ours.
    if unsafe { libc::listen(listener.as_raw_fd(), ACCEPT_BACKLOG) } != 0 {
        log::info!("cannot widen the accept queue: {}", io::Error::last_os_error());
    }
}

/// Puts a connection on the ready list, once, unless it is closed.
fn enqueue(ready: &mut VecDeque<usize>, conn: &mut Conn, key: usize) {
    if conn.mark_queued() {
        ready.push_back(key);
    }
}

/// Puts a connection on the list to flush after this turn's commit, once.
fn mark_dirty(dirty: &mut Vec<usize>, conn: &mut Conn, key: usize) {
    if conn.mark_dirty() {
        dirty.push(key);
    }
}
