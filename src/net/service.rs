//! Serving one connection's input: read until `WouldBlock`, cut frames, spend the per-turn frame
//! budget, hand each decoded frame to the machine, resume requests whose slow work came back, and
//! deliver the outcome (reply, records to the log, events to fan out, login throttling).
//!
//! Does not own the meaning of requests (`machine`, `proto`), who receives a notification
//! (`fanout`), when output may leave (`commit`), or the socket's write side (`commit::flush_dirty`).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::conn::{Parked, Received};
use super::frame::Next;
use super::{enqueue, mark_dirty, Server};
use crate::log::{self, Limit};
use crate::machine;
use crate::machine::{Machine, Outcome, Step, UserId};
use crate::proto::{self, Code, Error};

/// Failed logins on one connection: the n-th failure holds the connection's next frames for
/// `LOGIN_DELAY_BASE * 2^(n-1)`, at most `LOGIN_DELAY_MAX`; at `LOGIN_FAILURES_MAX` it is closed.
/// Online guessing then costs seconds per try and a new connection (and its own hash) per ten.
const LOGIN_DELAY_BASE: Duration = Duration::from_millis(50);
const LOGIN_DELAY_MAX: Duration = Duration::from_secs(1);
pub const LOGIN_FAILURES_MAX: u32 = 10;

impl Server {
    /// Services each connection on the ready list once: execute buffered frames, read more, up to the
    /// per-turn frame budget. Connections that still have work go back on the list for the next turn.
    pub(super) fn service_ready(&mut self) {
        let mut pending = std::mem::take(&mut self.ready);
        while let Some(key) = pending.pop_front() {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            conn.clear_queued();
            self.service(key);
        }
        // `service` may have re-queued into `self.ready`; keep `pending`'s allocation for reuse.
        if self.ready.is_empty() {
            self.ready = pending;
        }
    }

    /// Executes connection `key`'s buffered frames and reads more, until its input is drained, it must
    /// wait (parked, delayed, closing, backpressure) or its frame budget for this turn is spent.
    fn service(&mut self, key: usize) {
        let mut frames = 0;
        loop {
            let Some(conn) = self.conns.get_mut(key) else {
                return;
            };
            if !conn.can_execute() {
                return;
            }
            let output_high = self.config.output_bytes_high;
            if conn.output_pending() > output_high {
                // Backpressure: resumes when the flush drains the output (see `flush_dirty`).
                log::limit!(
                    Limit::OutputHigh,
                    "pausing requests from a client whose unread output passed {output_high} bytes, until it reads"
                );
                return;
            }
            if frames >= self.config.frames_per_turn_max {
                enqueue(&mut self.ready, conn, key);
                return;
            }
            match conn.next_frame(self.config.frame_bytes_max) {
                Next::Frame(bytes) => {
                    frames += 1;
                    let decoded = proto::decode(bytes);
                    self.execute(key, decoded);
                }
                Next::TooLong => return self.refuse_too_long(key),
                Next::Incomplete => match conn.read_once(&mut self.scratch) {
                    Received::Bytes => {}
                    Received::Drained => return,
                    Received::Eof => {
                        // A half frame at EOF is never executed.
                        conn.close_after_flush();
                        mark_dirty(&mut self.dirty, conn, key);
                        return;
                    }
                    Received::Failed => return self.close(key),
                },
            }
        }
    }

    /// A request line over `--max-frame-bytes`: an error reply, then the connection closes.
    fn refuse_too_long(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let error = Error::new(
            Code::FrameTooLong,
            format!("Request longer than {} bytes; closing", self.config.frame_bytes_max),
        );
        proto::write_error(&error, None, conn.output_mut());
        conn.close_after_flush();
        mark_dirty(&mut self.dirty, conn, key);
        let frame_max = self.config.frame_bytes_max;
        log::limit!(Limit::FrameTooLong, "closing a client whose request line passed {frame_max} bytes");
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
                conn.park(Parked { id: decoded.id });
                if !self.workers.submit((key, conn.serial(), job.resume), job.work) {
                    log::info!("worker threads are gone; closing connection");
                    self.close(key);
                }
            }
        }
    }

    /// Results from the worker threads: resume each parked request where it stopped.
    pub(super) fn finish_offloaded(&mut self) {
        while let Some(((key, serial, resume), done)) = self.workers.try_finished() {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if conn.serial() != serial || conn.is_closed() {
                continue;
            }
            let id = conn.unpark().and_then(|p| p.id);
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
            self.hold_after_failed_login(key);
        }
        if user_before != user_after {
            self.change_presence(key, user_before, user_after);
        }
        self.store.append(&outcome.records);
        for event in &outcome.events {
            self.fan_out(key, event);
        }
        for user in outcome.records.iter().filter_map(Machine::sessions_ended_by) {
            self.end_revoked_sessions(user);
        }
    }

    /// After a failed login the connection's next frames wait, longer after each failure; at
    /// `LOGIN_FAILURES_MAX` failures it is closed once the reply is out.
    fn hold_after_failed_login(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let failures = conn.session.failed_logins.max(1);
        if failures >= LOGIN_FAILURES_MAX {
            conn.close_after_flush();
            log::limit!(
                Limit::LoginFailuresMax,
                "closing a client after {LOGIN_FAILURES_MAX} failed logins on its connection"
            );
        } else {
            let delay = LOGIN_DELAY_BASE.saturating_mul(1 << (failures - 1).min(16)).min(LOGIN_DELAY_MAX);
            let until = Instant::now() + delay;
            conn.delay(until);
            self.timers.push(std::cmp::Reverse((until, key, conn.serial())));
        }
    }
}

/// The loop reads the clock; the machine only receives it.
fn unix_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
