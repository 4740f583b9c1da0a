//! Serving one connection's input: read until `WouldBlock`, cut frames, spend the per-turn frame
//! budget, hand each decoded frame to the machine, resume requests whose slow work came back, and
//! deliver the outcome (reply, records to the log, events to fan out, login throttling).
//!
//! Password guesses (`login`, `join_group`) are counted by source before they run (`throttle`): a
//! refused one is answered `rate_limited` without hashing; one that must wait for others in flight
//! is held on its connection and run again shortly.
//!
//! Does not own the meaning of requests (`machine`, `proto`), who receives a notification
//! (`fanout`), when output may leave (`commit`), or the socket's write side (`commit::flush_dirty`).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::conn::{Parked, Received, Waiting};
use super::frame::Next;
use super::throttle::{Charge, Source, Target, Throttled, BUSY_RETRY, SLOW_WORK_RETRY_AFTER, SOURCE_SLOW_JOBS_MAX};
use super::{enqueue, mark_dirty, Server};
use crate::cluster::membership;
use crate::cluster::node as cluster;
use crate::log::{self, Limit};
use crate::machine;
use crate::machine::{Command, Job, Machine, Outcome, Resume, Step, UserId};
use crate::proto::{self, Code, Error};

/// Failed logins on one connection: the n-th failure holds the connection's next frames for
/// `LOGIN_DELAY_BASE * 2^(n-1)`, at most `LOGIN_DELAY_MAX`; at `LOGIN_FAILURES_MAX` it is closed.
/// Online guessing then costs seconds per try and a new connection (and its own hash) per ten.
const LOGIN_DELAY_BASE: Duration = Duration::from_millis(50);
const LOGIN_DELAY_MAX: Duration = Duration::from_secs(1);
pub const LOGIN_FAILURES_MAX: u32 = 10;

/// Carried through the worker pool with a job: which connection asked, where its request resumes,
/// whose slow-work count the job is on, and the password guess it is, if it is one.
pub(super) struct WorkTag {
    key: usize,
    serial: u64,
    source: Source,
    charge: Option<Charge>,
    resume: Resume,
}

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
                if conn.is_parked() && conn.peer_reset() {
                    // Nobody can read the answer: close now, so its slow work is cancelled unrun.
                    self.close(key);
                }
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
            if let Some(Waiting { id, command }) = conn.take_waiting() {
                // A guess that waited for others in flight comes before any later frame.
                frames += 1;
                self.execute_command(key, id, command);
                continue;
            }
            match conn.next_frame(self.config.frame_bytes_max) {
                Next::Frame(bytes) => {
                    frames += 1;
                    let decoded = proto::decode(bytes);
                    // The cluster's own actions are unknown to the decoder: only a frame it did not
                    // make a command of can be one, so the others are not scanned again.
                    let cluster_action = self.cluster.is_some() && decoded.command.is_err();
                    let status = cluster_action && cluster::is_status(bytes);
                    let admin = if cluster_action { membership::parse_admin(bytes) } else { None };
                    if let Some(request) = admin {
                        self.cluster_admin(key, request, decoded.id.as_ref());
                        continue;
                    }
                    let stale = decoded.stale;
                    self.execute(key, decoded, (stale, status));
                }
                Next::TooLong => return self.refuse_too_long(key),
                Next::Incomplete => match conn.read_once(&mut self.scratch) {
                    // A TLS handshake's answer needs a flush though no reply is queued.
                    Received::Bytes if conn.wants_write() => mark_dirty(&mut self.dirty, conn, key),
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

    /// Executes one decoded frame for connection `key`. `(stale, cluster_status)`: what the frame
    /// asks of cluster mode (always `(false, false)` on a single node).
    fn execute(&mut self, key: usize, decoded: proto::Decoded, (stale, status): (bool, bool)) {
        if status {
            return self.cluster_status(key, decoded.id.as_ref());
        }
        if let Ok(command) = &decoded.command {
            if self.cluster_refuses(key, command, stale, decoded.id.as_ref()) {
                return;
            }
        }
        match decoded.command {
            Ok(command) => self.execute_command(key, decoded.id, command),
            Err(error) => self.refuse(key, decoded.id, &error),
        }
    }

    /// Runs one command for connection `key`; a password guess only if its source may guess now.
    fn execute_command(&mut self, key: usize, id: Option<Value>, command: Command) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        // The clock is read only for a guess: most requests are not one.
        let verdict = guess_target(&command).map(|target| {
            let now = Instant::now();
            (now, self.throttle.guesses.attempt(target, conn.source(), now))
        });
        let charge = match verdict {
            None => None,
            Some((_, Ok(charge))) => Some(charge),
            Some((now, Err(Throttled::Busy))) => {
                let until = now + BUSY_RETRY;
                conn.wait(Waiting { id, command }, until);
                self.timers.push(std::cmp::Reverse((until, key, conn.serial())));
                return;
            }
            Some((_, Err(Throttled::Refused(wait)))) => {
                log::limit!(
                    Limit::GuessesThrottled,
                    "throttling password guesses: too many failed logins or group joins from one address"
                );
                let error = Error::rate_limited("Too many failed attempts from this address; try again later", wait);
                return self.refuse(key, id, &error);
            }
        };
        let user_before = conn.session.user;
        conn.session.read_only = self.cluster.as_ref().is_some_and(|node| node.read_only());
        match self.machine.execute(&mut conn.session, command, unix_millis()) {
            Step::Done(outcome) => self.deliver(key, id, user_before, outcome, charge),
            Step::Offload(job) => self.offload(key, id, charge, job),
        }
    }

    /// Hands a request's slow work to the workers and parks the connection until it comes back;
    /// refuses it when its source has the most slow work in flight it may have.
    fn offload(&mut self, key: usize, id: Option<Value>, charge: Option<Charge>, job: Job) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let source = conn.source();
        if !self.throttle.slow_work.start(source) {
            if let Some(charge) = charge {
                self.throttle.guesses.finish(charge, false, Instant::now());
            }
            log::limit!(
                Limit::SlowWorkPerSource,
                "refusing password checks and settlement searches from an address with {SOURCE_SLOW_JOBS_MAX} in flight"
            );
            let error = Error::rate_limited(
                "Too many requests waiting from this address; try again later",
                SLOW_WORK_RETRY_AFTER,
            );
            return self.refuse(key, id, &error);
        }
        let tag = WorkTag { key, serial: conn.serial(), source, charge, resume: job.resume };
        match self.workers.submit(source.lane(), tag, job.work) {
            Some(cancel) => conn.park(Parked { id, cancel }),
            None => {
                self.throttle.slow_work.finish(source);
                if let Some(charge) = charge {
                    self.throttle.guesses.finish(charge, false, Instant::now());
                }
                log::info!("worker threads are gone; closing connection");
                self.close(key);
            }
        }
    }

    /// An error reply to a request that was not executed (or could not be decoded).
    pub(super) fn refuse(&mut self, key: usize, id: Option<Value>, error: &Error) {
        if let Some(conn) = self.conns.get_mut(key) {
            proto::write_error(error, id.as_ref(), conn.output_mut());
            mark_dirty(&mut self.dirty, conn, key);
        }
    }

    /// Jobs handed back by the worker threads: uncount each, and resume the parked request where it
    /// stopped, unless the job was cancelled or its connection is gone (an abandoned guess counts as
    /// failed: whoever made it cannot have been told).
    pub(super) fn finish_offloaded(&mut self) {
        while let Some((tag, done)) = self.workers.try_finished() {
            let WorkTag { key, serial, source, charge, resume } = tag;
            self.throttle.slow_work.finish(source);
            let conn = self.conns.get_mut(key).filter(|c| c.serial() == serial && !c.is_closed());
            // A job is cancelled only when its connection closes, so `done` is `None` only then.
            let (Some(conn), Some(done)) = (conn, done) else {
                if let Some(charge) = charge {
                    self.throttle.guesses.finish(charge, true, Instant::now());
                }
                continue;
            };
            let id = conn.unpark().and_then(|p| p.id);
            let user_before = conn.session.user;
            conn.session.read_only = self.cluster.as_ref().is_some_and(|node| node.read_only());
            let outcome = self.machine.resume(&mut conn.session, resume, done, unix_millis());
            self.deliver(key, id, user_before, outcome, charge);
            if let Some(conn) = self.conns.get_mut(key) {
                // Frames that arrived meanwhile are waiting in its buffer.
                enqueue(&mut self.ready, conn, key);
            }
        }
    }

    /// Queues the reply, hands the records to the log, fans the events out; ends the guess `charge`
    /// (the attempt this was), failed or not.
    fn deliver(
        &mut self,
        key: usize,
        id: Option<Value>,
        user_before: Option<UserId>,
        outcome: Outcome,
        charge: Option<Charge>,
    ) {
        let guess_failed =
            matches!(outcome.answer, Err(machine::Error::InvalidCredentials | machine::Error::InvalidGroupPassword));
        if let Some(charge) = charge {
            self.throttle.guesses.finish(charge, guess_failed, Instant::now());
        }
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
        self.persist_records(&outcome.records);
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

/// What a command guesses at, if it checks a password someone may be guessing: every login (an
/// unknown name is checked against a dummy hash, at the same cost), and every join, which checks the
/// group's password when it has one.
fn guess_target(command: &Command) -> Option<Target<'_>> {
    match command {
        Command::Login(credentials) => Some(Target::Account(&credentials.username)),
        Command::JoinGroup(join) => Some(Target::Group(&join.group)),
        _ => None,
    }
}

/// The loop reads the clock; the machine only receives it.
pub(super) fn unix_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
