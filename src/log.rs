//! The server's log: one line a message on stderr, `splitd: <message>`, and every protective limit
//! reported once, the first time it triggers, naming the setting that changes it.
//!
//! Owns the format of log lines and the record of which limits were reported. Does not decide when a
//! limit triggers (the loop does, in `net`). stdout is not used: it carries only the one
//! `splitd listening on <addr>` line that tools and tests read. No levels and no timestamps: the
//! supervisor that collects stderr (systemd, a container runtime) adds those.
//!
//! ```ignore
//! log::info!("shutting down");
//! log::limit!(Limit::FrameTooLong, "closing a client whose request passed {max} bytes");
//! // → splitd: closing a client whose request passed 65536 bytes (--max-frame-bytes), once
//! ```

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

/// A protective limit: a bound that refuses, pauses or closes a client so that no client (nor all of
/// them together) can make the server hold unbounded memory or descriptors, or guess passwords fast.
/// The per-turn frame budget is not one: it only schedules (a client's further frames run next turn).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// A new connection beyond `--max-connections` is refused.
    ConnectionsMax,
    /// `accept` met EMFILE or ENFILE: accepting backs off.
    FileDescriptors,
    /// A client's unread output passed `--max-output-bytes`: it is closed.
    OutputMax,
    /// A client's unread output passed `--output-high-bytes`: its requests wait until it reads.
    OutputHigh,
    /// A request line passed `--max-frame-bytes`: an error, then the connection closes.
    FrameTooLong,
    /// A connection did not log in within `--login-timeout-secs`: it is closed.
    LoginTimeout,
    /// Near `--max-connections`, the oldest connection that had not logged in was closed for room.
    IdleEvicted,
    /// A connection reached the most failed logins it may have: it is closed.
    LoginFailuresMax,
    /// An account or group password had too many failed guesses from one address (or the address
    /// itself did): further guesses get `rate_limited` without a hash.
    GuessesThrottled,
    /// An address had the most slow work (hashes, settlement searches) in flight it may have: its
    /// further slow requests get `rate_limited`.
    SlowWorkPerSource,
}

impl Limit {
    pub const ALL: [Limit; 10] = [
        Limit::ConnectionsMax,
        Limit::FileDescriptors,
        Limit::OutputMax,
        Limit::OutputHigh,
        Limit::FrameTooLong,
        Limit::LoginTimeout,
        Limit::IdleEvicted,
        Limit::LoginFailuresMax,
        Limit::GuessesThrottled,
        Limit::SlowWorkPerSource,
    ];

    /// What an operator changes to move this limit, as shown after its log line.
    pub fn setting(self) -> &'static str {
        match self {
            Limit::ConnectionsMax => "--max-connections",
            Limit::FileDescriptors => "raise the descriptor limit, ulimit -n, or lower --max-connections",
            Limit::OutputMax => "--max-output-bytes",
            Limit::OutputHigh => "--output-high-bytes",
            Limit::FrameTooLong => "--max-frame-bytes",
            Limit::LoginTimeout => "--login-timeout-secs",
            Limit::IdleEvicted => "--max-connections",
            Limit::LoginFailuresMax | Limit::GuessesThrottled | Limit::SlowWorkPerSource => {
                "a fixed limit, not configurable"
            }
        }
    }

    fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// Which limits have been reported: one bit each. Atomic, so any thread may report a limit and it is
/// still reported exactly once.
pub struct Reported(AtomicU32);

impl Reported {
    pub const fn new() -> Reported {
        Reported(AtomicU32::new(0))
    }

    /// `true` the first time it is asked about `limit`, `false` ever after.
    pub fn first(&self, limit: Limit) -> bool {
        self.0.fetch_or(limit.bit(), Ordering::Relaxed) & limit.bit() == 0
    }
}

impl Default for Reported {
    fn default() -> Reported {
        Reported::new()
    }
}

/// The process's record of reported limits.
static REPORTED: Reported = Reported::new();

/// Writes `splitd: <message>` as one line to stderr, in one `write`, so that lines from different
/// threads never interleave. A failed write to stderr is ignored: logging must never stop the server.
pub fn write_line(message: fmt::Arguments) {
    let line = format!("splitd: {message}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Logs `message (setting)` the first time `limit` triggers in this process; later times are silent
/// (the message is not even formatted). Returns whether it logged.
pub fn limit_once(limit: Limit, message: fmt::Arguments) -> bool {
    if !REPORTED.first(limit) {
        return false;
    }
    write_line(format_args!("{message} ({})", limit.setting()));
    true
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log_info {
    ($($arg:tt)*) => {
        $crate::log::write_line(::std::format_args!($($arg)*))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log_limit {
    ($limit:expr, $($arg:tt)*) => {
        $crate::log::limit_once($limit, ::std::format_args!($($arg)*))
    };
}

/// `log::info!("format", args…)`: one line `splitd: <message>` on stderr.
pub use crate::__log_info as info;
/// `log::limit!(Limit::X, "format", args…)`: the first time limit `X` triggers, one line
/// `splitd: <message> (<setting>)` on stderr; nothing after that.
pub use crate::__log_limit as limit;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_is_reported_once_and_independently() {
        let reported = Reported::new();
        for limit in Limit::ALL {
            assert!(reported.first(limit), "{limit:?} reported the first time");
            assert!(!reported.first(limit), "{limit:?} not reported again");
        }
        let fresh = Reported::new();
        assert!(fresh.first(Limit::OutputHigh));
        assert!(fresh.first(Limit::FrameTooLong), "another limit is reported on its own");
    }

    #[test]
    fn every_limit_has_its_own_bit_and_a_setting() {
        let bits: u32 = Limit::ALL.iter().map(|l| l.bit()).fold(0, |all, bit| {
            assert_eq!(all & bit, 0, "two limits share a bit");
            all | bit
        });
        assert_eq!(bits.count_ones() as usize, Limit::ALL.len());
        assert!(Limit::ALL.iter().all(|l| !l.setting().is_empty()));
    }
}
