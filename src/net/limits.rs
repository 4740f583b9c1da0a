//! The descriptor limit at start: raise the soft `RLIMIT_NOFILE` toward the hard one (as Redis does
//! for `maxclients`), and lower the connection cap when it still does not fit, so that connections
//! never take the descriptors the log, snapshots and the loop need, and the cap the operator sees is
//! the one in force.
//!
//! Owns that arithmetic and the two system calls. Does not log (the caller says what it did) and does
//! not handle running out anyway at run time (`accept` does, with its spare descriptor).

use std::io;

/// Descriptors kept for all that is not a client connection: stdin, stdout, stderr; the data
/// directory's lock; the log segment and the next one; a snapshot being written, read or renamed;
/// the poll instance, the listener, the waker, the signal pipe (three), the spare descriptor of
/// `accept`; pipes of a forked snapshot writer. 12 to 16 are open at once (counted in
/// `/proc/<pid>/fd`); twice that leaves a margin for what a library opens behind our back.
pub const DESCRIPTORS_RESERVED: u64 = 32;

/// What `fit_descriptor_limit` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fitted {
    /// The soft limit now in force.
    pub limit: u64,
    /// The soft limit before, when it was raised.
    pub raised_from: Option<u64>,
    /// The connection cap that fits `limit` (the one asked for, if it fits).
    pub connections_max: usize,
    /// The hard limit, which only a privileged process may raise.
    pub hard: u64,
}

/// The soft limit to ask for: enough for `connections_max` and the reserve, at most `hard`, and
/// never lower than it is.
pub fn soft_limit_wanted(soft: u64, hard: u64, connections_max: usize) -> u64 {
    let needed = (connections_max as u64).saturating_add(DESCRIPTORS_RESERVED);
    soft.max(needed.min(hard))
}

/// The largest connection cap, at most `connections_max`, that leaves the reserve free under `limit`
/// (at least one connection: a server that accepts none would only confuse).
pub fn connections_fitting(limit: u64, connections_max: usize) -> usize {
    let room = limit.saturating_sub(DESCRIPTORS_RESERVED).max(1);
    connections_max.min(usize::try_from(room).unwrap_or(usize::MAX))
}

/// Raises the soft descriptor limit as far as `connections_max` needs and the hard limit allows,
/// and returns the cap that fits the limit then in force. A refused raise is not an error: the cap
/// is fitted to the limit as it is.
pub fn fit_descriptor_limit(connections_max: usize) -> io::Result<Fitted> {
    let (soft, hard) = get_nofile()?;
    let wanted = soft_limit_wanted(soft, hard, connections_max);
    let mut raised_from = None;
    if wanted > soft && set_nofile(wanted, hard).is_ok() {
        raised_from = Some(soft);
    }
    let (limit, hard) = get_nofile()?;
    Ok(Fitted { limit, raised_from, connections_max: connections_fitting(limit, connections_max), hard })
}

fn get_nofile() -> io::Result<(u64, u64)> {
    let mut rlim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes only into the struct it is given, which lives for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rlim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((rlim.rlim_cur, rlim.rlim_max))
}

fn set_nofile(soft: u64, hard: u64) -> io::Result<()> {
    let rlim = libc::rlimit { rlim_cur: soft, rlim_max: hard };
    // SAFETY: setrlimit only reads the struct it is given; raising the soft limit up to the hard one
    // needs no privilege and affects this process alone.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rlim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_raised_only_as_far_as_needed_and_allowed() {
        assert_eq!(soft_limit_wanted(1024, 524_288, 19_000), 19_032, "enough for the cap and the reserve");
        assert_eq!(soft_limit_wanted(64, 4096, 19_000), 4096, "no further than the hard limit");
        assert_eq!(soft_limit_wanted(1024, u64::MAX, 100), 1024, "never lowered");
        assert_eq!(soft_limit_wanted(64, u64::MAX, usize::MAX), u64::MAX, "no overflow");
    }

    #[test]
    fn the_cap_is_lowered_to_leave_the_reserve() {
        assert_eq!(connections_fitting(20_000, 19_000), 19_000, "fits: unchanged");
        assert_eq!(connections_fitting(1024, 19_000), 1024 - DESCRIPTORS_RESERVED as usize);
        assert_eq!(connections_fitting(64, 1000), 32);
        assert_eq!(connections_fitting(10, 1000), 1, "at least one");
        assert_eq!(connections_fitting(u64::MAX, 5), 5);
    }

    #[test]
    fn fitting_the_limit_of_this_process_gives_a_cap_that_fits() {
        let fitted = fit_descriptor_limit(100).expect("getrlimit works");
        assert!(fitted.connections_max as u64 + DESCRIPTORS_RESERVED <= fitted.limit.max(DESCRIPTORS_RESERVED + 1));
        assert!(fitted.limit <= fitted.hard);
    }
}
