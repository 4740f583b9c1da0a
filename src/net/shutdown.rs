//! Stopping and snapshots: the signal pipes (SIGINT, SIGTERM; SIGHUP asks for the TLS reload, which
//! is `tls`'s business), the orderly shutdown, and snapshots
//! taken in the background as the log grows (and one last one on the way out).
//!
//! The signal handler only writes a byte to a pipe the poll watches; the loop sets `shutting_down`
//! and, at the end of that turn, calls `shutdown`. Does not decide what a snapshot holds (`store`).

use std::io::{self, Read};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::time::{Duration, Instant};

use mio::net::UnixStream;
use mio::{Events, Interest, Registry, Token};

use super::Server;
use crate::log;

/// On shutdown, how long to keep flushing replies to slow readers.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(2);

/// The signals that stop the server.
pub(super) const STOP_SIGNALS: [libc::c_int; 2] = [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM];

/// The read end of a pipe that each of `signals` writes a byte to, registered with the poll as `token`.
pub(super) fn signal_pipe(registry: &Registry, token: Token, signals: &[libc::c_int]) -> io::Result<UnixStream> {
    let (receiver, sender) = StdUnixStream::pair()?;
    receiver.set_nonblocking(true)?;
    sender.set_nonblocking(true)?;
    for &signal in signals {
        signal_hook::low_level::pipe::register(signal, sender.try_clone()?)?;
    }
    let mut signals = UnixStream::from_std(receiver);
    registry.register(&mut signals, token, Interest::READABLE)?;
    Ok(signals)
}

impl Server {
    pub(super) fn drain_signals(&mut self) {
        if drain(&mut self.signals) {
            self.shutting_down = true;
        }
    }

    /// SIGHUP: the TLS certificate pair is read again (once for any number of signals pending).
    pub(super) fn drain_reload_signals(&mut self) {
        if drain(&mut self.reload_signals) {
            self.reload_tls();
        }
    }

    /// Starts a snapshot when the log has grown past its threshold, and reaps finished ones.
    pub(super) fn snapshot_in_background(&mut self) {
        match self.store.poll_background() {
            Some(Ok((seq, took))) => log::info!("snapshot at record {seq} written in {} ms", took.as_millis()),
            Some(Err(err)) => log::info!("background snapshot failed ({err}); the log is kept and complete"),
            None => {}
        }
        if self.store.snapshot_due() {
            match self.store.start_background_snapshot(&self.machine) {
                Ok(stall) => log::info!("snapshot started; the loop paused {} us for it", stall.as_micros()),
                Err(err) => log::info!("cannot start a snapshot ({err}); the log is kept and complete"),
            }
        }
    }

    fn snapshot(&mut self) {
        match self.store.snapshot(&self.machine) {
            Ok(took) => log::info!("snapshot written in {} ms", took.as_millis()),
            Err(err) => {
                log::info!("snapshot failed ({err}); the log is kept and still complete")
            }
        }
    }

    /// Stop accepting, answer what was already read and committed, flush for a bounded time, snapshot.
    pub(super) fn shutdown(mut self) -> io::Result<()> {
        log::info!("shutting down");
        for mut listener in [self.listener.take(), self.plain_listener.take()].into_iter().flatten() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        // Everything appended becomes durable here, so everything queued may leave (in a cluster:
        // only what is committed).
        self.release_for_shutdown()?;
        let deadline = Instant::now() + SHUTDOWN_FLUSH;
        let mut events = Events::with_capacity(256);
        loop {
            let keys: Vec<usize> = self.conns.iter().filter(|(_, c)| c.output_pending() > 0).map(|(k, _)| k).collect();
            for &key in &keys {
                if let Some(conn) = self.conns.get_mut(key) {
                    if conn.flush().is_err() {
                        conn.close();
                    }
                }
            }
            let waiting = self.conns.iter().any(|(_, c)| !c.is_closed() && c.output_pending() > 0);
            let now = Instant::now();
            if !waiting || now >= deadline {
                break;
            }
            let _ = self.poll.poll(&mut events, Some((deadline - now).min(Duration::from_millis(50))));
        }
        if self.cluster.is_none() {
            self.snapshot();
        }
        Ok(())
    }
}

/// Empties a signal pipe; `true` if any signal had arrived.
fn drain(pipe: &mut UnixStream) -> bool {
    let mut buf = [0u8; 64];
    let mut got = false;
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => return got,
            Ok(_) => got = true,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return got,
        }
    }
}
