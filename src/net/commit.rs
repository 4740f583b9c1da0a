//! The durable hold: a turn's replies and notifications wait until the log batch holding the turn's
//! records is durable (group commit, pipelined on the log's sync thread), then are flushed.
//!
//! Owns the `held` queue, the hand-off to the log thread, and the write side of each socket (flush,
//! WRITABLE interest only while output waits, resuming reads when backpressure clears). Does not
//! write the log itself (`store`) or produce output (`service`, `fanout`).

use std::io;

use super::conn::Flushed;
use super::{enqueue, mark_dirty, Server};
use crate::log;

impl Server {
    /// Group commit, pipelined: this turn's records go to the log's sync thread (in one batch with
    /// everything else appended since the batch in flight, if one is), and this turn's replies and
    /// notifications are held until that batch is durable. Turns without changes release at once
    /// unless earlier changes are still in flight (their replies may show those changes).
    pub(super) fn group_commit(&mut self) -> io::Result<()> {
        if let Err(err) = self.store.start_sync() {
            return Err(fatal(err));
        }
        let (needed, durable) = self.hold_marks();
        for &key in &self.dirty {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if needed <= durable {
                conn.release_all();
            } else {
                self.held.push_back((needed, key, conn.serial(), conn.output_end()));
            }
        }
        Ok(())
    }

    /// Batches the sync thread finished: release what waited for them, start the next batch.
    pub(super) fn finish_syncs(&mut self) -> io::Result<()> {
        while let Some(done) = self.store.poll_done() {
            done.map_err(fatal)?;
        }
        self.release_durable();
        self.store.start_sync().map_err(fatal)
    }

    /// Lets every held reply and notification whose batch is durable be written.
    pub(super) fn release_durable(&mut self) {
        let (_, durable) = self.hold_marks();
        while let Some(&(batch, key, serial, offset)) = self.held.front() {
            if batch > durable {
                break;
            }
            self.held.pop_front();
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if conn.serial() == serial && !conn.is_closed() {
                conn.release_to(offset);
                mark_dirty(&mut self.dirty, conn, key);
            }
        }
    }

    /// Writes each dirty connection's released output; closes it when it asked to close after its
    /// output; lets a connection read again once its output drops below the high-water mark.
    pub(super) fn flush_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for &key in &dirty {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            conn.clear_dirty();
            if conn.is_closed() {
                continue;
            }
            let was_backpressured = conn.output_pending() > self.config.output_bytes_high;
            match conn.flush() {
                Ok(Flushed::All) => {
                    if conn.is_closing() {
                        self.close(key);
                        continue;
                    }
                    conn.want_writable(self.poll.registry(), key, false);
                }
                // The rest waits for its log batch; WRITABLE interest would only spin.
                Ok(Flushed::Held) => conn.want_writable(self.poll.registry(), key, false),
                Ok(Flushed::Partial) => conn.want_writable(self.poll.registry(), key, true),
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
}

/// A failed log write or fsync stops the server: what it would acknowledge might not be on disk, and
/// an fsync is never retried after EIO (the kernel may have dropped the dirty pages). Held replies are
/// never sent.
pub(super) fn fatal(err: io::Error) -> io::Error {
    log::info!("FATAL: cannot make the log durable ({err}); stopping without acknowledging what it held");
    err
}
