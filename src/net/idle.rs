//! Connections that have not logged in: the queue of them, oldest first; closing them after
//! `--login-timeout-secs`; and, near the connection cap, closing the oldest of them to make room, so
//! that a flood of idle connections cannot lock out people who would log in, while a person reading
//! the original client's welcome menu for minutes is not cut off.
//!
//! Owns that queue and the two ways its connections are closed. Does not decide what counts as a
//! login (the machine's session does) or when a connection is accepted (`accept`).

use std::collections::VecDeque;
use std::time::Instant;

use slab::Slab;

use super::conn::Conn;
use super::Server;
use crate::log::{self, Limit};
use crate::proto::{self, Code, Error};

/// Entries looked at past the first to find one to evict: those skipped are waiting for a login to be
/// checked, a few at most (one per connection hashing), so a bound this size is never reached in use.
const EVICT_SCAN_MAX: usize = 64;

/// Stale entries allowed beyond twice the connections, before the queue is compacted: keeps it within
/// a constant factor of the table however fast connections come, log out and go.
const COMPACT_SLACK: usize = 1024;

/// Not-logged-in connections, oldest first: (since, slab key, serial). An entry is stale once its
/// connection has closed, logged in, or restarted its clock at a logout (a later entry stands for it
/// then); stale entries are dropped where they are met, so each costs O(1) amortized.
#[derive(Default)]
pub(super) struct LoginQueue(VecDeque<(Instant, usize, u64)>);

/// What an entry stands for now.
#[derive(Debug, PartialEq, Eq)]
enum Waiting {
    /// Nothing any more: the connection closed, logged in, or has a later entry.
    Stale,
    /// A login or signup of it is being checked on a worker: it is busy logging in.
    Checking,
    /// It is closing already (after too many failed logins): gone once its output is out.
    Closing,
    /// Open and not logged in.
    Idle,
}

fn waiting(conns: &Slab<Conn>, (since, key, serial): (Instant, usize, u64)) -> Waiting {
    let Some(conn) = conns.get(key) else {
        return Waiting::Stale;
    };
    if conn.serial() != serial || conn.login_clock() != Some(since) {
        Waiting::Stale
    } else if conn.is_parked() {
        Waiting::Checking
    } else if conn.is_closing() {
        Waiting::Closing
    } else {
        Waiting::Idle
    }
}

/// Whether a table of `len` connections is near the cap, where idle ones are evicted: the last tenth
/// (at least one slot), so that a connection is always admitted while the evicted wait to be freed.
pub(super) fn near_the_cap(len: usize, connections_max: usize) -> bool {
    len >= connections_max.saturating_sub((connections_max / 10).max(1))
}

impl Server {
    /// Starts watching connection `key`'s login clock (accepted, or logged out).
    pub(super) fn watch_login(&mut self, key: usize) {
        let Some(conn) = self.conns.get(key) else {
            return;
        };
        let Some(since) = conn.login_clock() else {
            return;
        };
        self.login_queue.0.push_back((since, key, conn.serial()));
        if self.login_queue.0.len() > 2 * self.conns.len() + COMPACT_SLACK {
            let conns = &self.conns;
            self.login_queue.0.retain(|&entry| waiting(conns, entry) != Waiting::Stale);
        }
    }

    /// Closes connections that have not logged in within `--login-timeout-secs`, oldest first. One
    /// whose login is being checked is looked at again next tick, and those behind it with it.
    pub(super) fn close_idle_unauthenticated(&mut self, now: Instant) {
        let limit = self.config.unauthenticated_idle;
        while let Some(&entry) = self.login_queue.0.front() {
            let state = waiting(&self.conns, entry);
            if state != Waiting::Stale && (now.duration_since(entry.0) < limit || state == Waiting::Checking) {
                return;
            }
            self.login_queue.0.pop_front();
            if state != Waiting::Stale {
                let error = Error::new(Code::Limit, "Not logged in within the idle limit; closing");
                self.close_with_notice(entry.1, &error);
                let secs = limit.as_secs();
                log::limit!(Limit::LoginTimeout, "closing a client that did not log in within {secs} s");
            }
        }
    }

    /// Near the cap: closes the oldest connection that has not logged in (nor is logging in), with an
    /// error line. `false` if there is none.
    pub(super) fn evict_oldest_unauthenticated(&mut self) -> bool {
        while self.login_queue.0.front().is_some_and(|&entry| waiting(&self.conns, entry) == Waiting::Stale) {
            self.login_queue.0.pop_front();
        }
        let conns = &self.conns;
        let found = self.login_queue.0.iter().take(EVICT_SCAN_MAX).position(|&e| waiting(conns, e) == Waiting::Idle);
        let Some((_, key, _)) = found.and_then(|position| self.login_queue.0.remove(position)) else {
            return false;
        };
        let error = Error::new(Code::TooManyConnections, "Too many connections; closing the oldest not logged in");
        self.close_with_notice(key, &error);
        let connections_max = self.config.connections_max;
        log::limit!(
            Limit::IdleEvicted,
            "near the connection limit {connections_max}: closing the oldest clients that have not logged in"
        );
        true
    }

    /// Writes `error` to the connection (at once, unless earlier output still waits for the log: the
    /// notice is about no change) and closes it.
    fn close_with_notice(&mut self, key: usize, error: &Error) {
        if let Some(conn) = self.conns.get_mut(key) {
            let caught_up = conn.releasable_all();
            proto::write_error(error, None, conn.output_mut());
            if caught_up {
                conn.release_all();
            }
            let _ = conn.flush();
        }
        self.close(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_starts_in_the_last_tenth_and_always_leaves_a_slot() {
        assert!(!near_the_cap(17, 20));
        assert!(near_the_cap(18, 20));
        assert!(!near_the_cap(17_099, 19_000));
        assert!(near_the_cap(17_100, 19_000));
        assert!(!near_the_cap(7, 9), "small caps: the last slot");
        assert!(near_the_cap(8, 9));
        assert!(near_the_cap(0, 1));
    }
}
