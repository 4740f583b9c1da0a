//! One client connection: its socket, input frames, pending output and login session.
//!
//! Buffers are allocated lazily and released when empty, so an idle logged-in connection costs little
//! more than this struct. Reading and writing go until `WouldBlock` (mio is edge-triggered), retrying
//! `Interrupted`.

use std::io::{self, Write};
use std::time::Instant;

use mio::net::TcpStream;
use serde_json::Value;

use super::frame::FrameBuf;
use crate::machine::Session;

pub struct Conn {
    pub stream: TcpStream,
    /// Unique for the server's life: results for a closed connection whose slab slot was reused are
    /// recognised and dropped.
    pub serial: u64,
    pub input: FrameBuf,
    output: Vec<u8>,
    /// Bytes of `output` already written.
    written: usize,
    /// Bytes of `output` that may be written: replies and notifications wait until the log batch
    /// holding their changes is durable (see `Server::release_durable`).
    releasable: usize,
    pub session: Session,
    /// Waiting for password work; its further frames wait, in order.
    pub parked: Option<Parked>,
    /// Readable edge seen and not yet drained to `WouldBlock`.
    pub read_ready: bool,
    /// The poller reported the peer's FIN (or a hang-up): reads must go on until they return 0, as
    /// no further edge will announce it.
    pub read_closed_seen: bool,
    /// The peer closed its side: no more input; close once the buffered frames are answered.
    pub eof: bool,
    /// Close after the pending output is flushed (e.g. after a frame-too-long error).
    pub close_after_flush: bool,
    pub closed: bool,
    /// WRITABLE interest registered (only while output is pending).
    pub writable_interest: bool,
    /// On the loop's ready list / flush list already (avoids duplicates).
    pub queued: bool,
    pub dirty: bool,
    /// Since when this connection has had no login (accept time, or the last logout).
    pub unauthenticated_since: Instant,
    /// After a failed login, the connection's further frames wait until this time.
    pub delayed_until: Option<Instant>,
}

/// A request waiting for its password work.
pub struct Parked {
    pub id: Option<Value>,
}

pub enum Flushed {
    /// Everything released is written, and more output waits for its log batch.
    Held,
    /// Everything written.
    All,
    /// The socket is full; wait for WRITABLE.
    Partial,
}

impl Conn {
    pub fn new(stream: TcpStream, serial: u64, now: Instant) -> Conn {
        Conn {
            stream,
            serial,
            input: FrameBuf::default(),
            output: Vec::new(),
            written: 0,
            releasable: 0,
            session: Session::default(),
            parked: None,
            read_ready: true,
            read_closed_seen: false,
            eof: false,
            close_after_flush: false,
            closed: false,
            writable_interest: false,
            queued: false,
            dirty: false,
            unauthenticated_since: now,
            delayed_until: None,
        }
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

    /// Writes released output until done or `WouldBlock`; frees the buffer once it is empty.
    pub fn flush(&mut self) -> io::Result<Flushed> {
        while self.written < self.releasable {
            match self.stream.write(&self.output[self.written..self.releasable]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::Partial),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
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
