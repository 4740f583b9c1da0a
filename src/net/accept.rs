//! Accepting connections: accept until `WouldBlock`; refuse beyond the connection cap with an error
//! line; out of descriptors (`EMFILE`/`ENFILE`), refuse with an error line too, through a spare
//! descriptor kept for that, so no client waits in the accept queue on nothing; and back off (a timer,
//! never a busy loop on a full descriptor table) only when even that fails.
//!
//! Owns admission only: which listener a connection came through decides its transport (TLS on
//! `--listen` when a certificate is configured, else plain). A new connection is registered READABLE
//! and put on the ready list; what happens to its bytes is `service`'s business; connections that do
//! not log in (a TLS handshake among them) are `idle`'s.

use std::fs::File;
use std::io;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Token};

use super::conn::Conn;
use super::tls::Transport;
use super::{enqueue, idle, Server};
use crate::log::{self, Limit};
use crate::proto::{self, Code, Error};

/// Out of descriptors and the spare could not help: wait this long before accepting again (no busy
/// loop on a full table).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Which listener: `--listen` (TLS when a certificate is configured) or `--listen-plain`.
#[derive(Clone, Copy)]
pub(super) enum Door {
    Main,
    Plain,
}

impl Server {
    /// Accepts every pending connection on both listeners (after the EMFILE back-off).
    pub(super) fn accept_all(&mut self) {
        self.accept_from(Door::Main);
        self.accept_from(Door::Plain);
    }

    /// Accepts every pending connection on `door` (mio is edge-triggered: no new event comes for
    /// those left).
    pub(super) fn accept_from(&mut self, door: Door) {
        loop {
            if self.accept_paused_until.is_some() || self.shutting_down {
                return;
            }
            let listener = match door {
                Door::Main => &self.listener,
                Door::Plain => &self.plain_listener,
            };
            let Some(listener) = listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, _peer)) => self.admit(stream, door),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) if matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    log::limit!(
                        Limit::FileDescriptors,
                        "out of file descriptors on accept ({err}); refusing new connections with an error line"
                    );
                    if !self.refuse_with_spare(door) {
                        self.accept_paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                        return;
                    }
                }
                Err(err) => {
                    // ECONNABORTED and friends concern one pending connection only.
                    log::info!("accept failed: {err}");
                    return;
                }
            }
        }
    }

    /// Ends the back-off once its time has come, takes the spare again if it was lost, and accepts what
    /// waited meanwhile.
    pub(super) fn accept_after_backoff(&mut self) {
        if let Some(until) = self.accept_paused_until {
            if Instant::now() >= until {
                self.accept_paused_until = None;
                if self.spare.is_none() {
                    self.spare = open_spare();
                }
                self.accept_all();
            }
        }
    }

    /// Out of descriptors: frees the spare's, accepts one waiting connection into it, tells it why and
    /// closes it, and takes the spare again. `false` when that did not refuse anyone or left no spare
    /// (nothing waited, the freed descriptor was taken by another thread, `/dev/null` could not be
    /// opened): accepting then backs off.
    fn refuse_with_spare(&mut self, door: Door) -> bool {
        let listener = match door {
            Door::Main => &self.listener,
            Door::Plain => &self.plain_listener,
        };
        let Some(listener) = listener else {
            return false;
        };
        if self.spare.take().is_none() {
            return false;
        }
        let plain = matches!(door, Door::Plain) || self.tls.is_none();
        let refused = match listener.accept() {
            Ok((stream, _peer)) => {
                // A TLS client could not read the plaintext line; it sees the connection close.
                if plain {
                    refuse(stream);
                }
                true
            }
            Err(_) => false,
        };
        self.spare = open_spare();
        refused && self.spare.is_some()
    }

    /// Takes a new connection into the table, or refuses it when the table is full. Near the cap, the
    /// oldest connection that has not logged in is closed to make room (`idle`).
    fn admit(&mut self, stream: TcpStream, door: Door) {
        let connections_max = self.config.connections_max;
        if self.conns.len() >= connections_max {
            log::limit!(Limit::ConnectionsMax, "connection limit {connections_max} reached; refusing new connections");
            // A TLS client could not read the plaintext line; it sees the connection close.
            if matches!(door, Door::Plain) || self.tls.is_none() {
                refuse(stream);
            }
            return;
        }
        if idle::near_the_cap(self.conns.len(), connections_max) {
            self.evict_oldest_unauthenticated();
        }
        let _ = stream.set_nodelay(true);
        let mut transport = match (door, &self.tls) {
            (Door::Main, Some(acceptor)) => match acceptor.transport(stream) {
                Ok(transport) => transport,
                Err(err) => return log::info!("cannot start a TLS session ({err}); dropping the connection"),
            },
            _ => Transport::Plain(stream),
        };
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if self.poll.registry().register(transport.socket(), Token(key), Interest::READABLE).is_err() {
            return;
        }
        // The peer's address goes with the session's tokens (`sessions` lists it).
        let peer = transport.peer_addr().map(|addr| addr.ip());
        self.next_serial += 1;
        let conn = entry.insert(Conn::new(transport, self.next_serial, Instant::now()));
        conn.session.peer = peer;
        // Bytes may already be waiting: no edge will announce them again.
        enqueue(&mut self.ready, conn, key);
        self.watch_login(key);
    }
}

/// The spare descriptor: `/dev/null`, opened close-on-exec (as `File::open` does), never read.
pub(super) fn open_spare() -> Option<File> {
    File::open("/dev/null").ok()
}

/// Tells a connection beyond the cap why, in one line, and closes it (by dropping it).
fn refuse(mut stream: TcpStream) {
    let mut line = Vec::new();
    proto::write_error(&Error::new(Code::TooManyConnections, "Too many connections"), None, &mut line);
    let _ = io::Write::write(&mut stream, &line);
}
