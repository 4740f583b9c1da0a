//! Accepting connections: accept until `WouldBlock`, refuse beyond the connection cap with an error
//! line, and back off on `EMFILE`/`ENFILE` (a timer, never a busy loop on a full descriptor table).
//!
//! Owns admission only. A new connection is registered READABLE and put on the ready list; what
//! happens to its bytes is `service`'s business, and idle unauthenticated connections are closed by
//! the loop's timer in `mod.rs`.

use std::io;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Token};

use super::conn::Conn;
use super::{enqueue, Server};
use crate::log::{self, Limit};
use crate::proto::{self, Code, Error};

/// After EMFILE on accept, wait this long before accepting again (no busy loop on a full table).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

impl Server {
    /// Accepts every pending connection (mio is edge-triggered: no new event comes for those left).
    pub(super) fn accept_all(&mut self) {
        if self.accept_paused_until.is_some() || self.shutting_down {
            return;
        }
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, _peer)) => self.admit(stream),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) if matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    log::limit!(Limit::FileDescriptors, "out of file descriptors on accept ({err}); backing off");
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
                Err(err) => {
                    // ECONNABORTED and friends concern one pending connection only.
                    log::info!("accept failed: {err}");
                    return;
                }
            }
        }
    }

    /// Ends the EMFILE back-off once its time has come, and accepts what waited meanwhile.
    pub(super) fn accept_after_backoff(&mut self) {
        if let Some(until) = self.accept_paused_until {
            if Instant::now() >= until {
                self.accept_paused_until = None;
                self.accept_all();
            }
        }
    }

    /// Takes a new connection into the table, or refuses it when the table is full.
    fn admit(&mut self, mut stream: TcpStream) {
        if self.conns.len() >= self.config.connections_max {
            let connections_max = self.config.connections_max;
            log::limit!(Limit::ConnectionsMax, "connection limit {connections_max} reached; refusing new connections");
            refuse(stream);
            return;
        }
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if self.poll.registry().register(&mut stream, Token(key), Interest::READABLE).is_err() {
            return;
        }
        let _ = stream.set_nodelay(true);
        // The peer's address goes with the session's tokens (`sessions` lists it).
        let peer = stream.peer_addr().ok().map(|addr| addr.ip());
        self.next_serial += 1;
        let conn = entry.insert(Conn::new(stream, self.next_serial, Instant::now()));
        conn.session.peer = peer;
        // Bytes may already be waiting: no edge will announce them again.
        enqueue(&mut self.ready, conn, key);
    }
}

/// Tells a connection beyond the cap why, in one line, and closes it (by dropping it).
fn refuse(mut stream: TcpStream) {
    let mut line = Vec::new();
    proto::write_error(&Error::new(Code::TooManyConnections, "Too many connections"), None, &mut line);
    let _ = io::Write::write(&mut stream, &line);
}
