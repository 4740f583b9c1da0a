//! Throttling by where requests come from: slow work (password hashes, settlement searches) in
//! flight per source address, so that one address cannot fill the worker pool.
//!
//! Pure: nothing here touches a socket or a clock.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Slow work (hashes, large settlement searches) one source may have queued or running at once;
/// beyond it the request is refused (`rate_limited`). A job holds at most ~1.2 KiB (a password of at
/// most 1024 bytes and a PHC string), so this bounds one address's queued memory to ~300 KiB and,
/// as the worker pool takes addresses in turn, never delays other addresses' work. It also stops an
/// address that opens connections, sends a login and closes them from queueing work without end.
/// High enough for splitbench's 256 set-up connections from one address.
pub const SOURCE_SLOW_JOBS_MAX: u32 = 256;

/// What a request refused for `SOURCE_SLOW_JOBS_MAX` is told to wait before trying again.
pub const SLOW_WORK_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Where requests come from, as throttling counts them: an IPv4 address, or an IPv6 /64 (one host
/// usually holds a whole /64, so counting single IPv6 addresses would let it sidestep every limit).
/// An IPv4-mapped IPv6 address is the IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(u128);

impl Source {
    /// All connections whose peer address could not be read count as one source.
    pub const UNKNOWN: Source = Source(0);

    pub fn of(peer: Option<SocketAddr>) -> Source {
        match peer.map(|p| p.ip()) {
            None => Source::UNKNOWN,
            Some(IpAddr::V4(v4)) => Source(u128::from(v4.to_ipv6_mapped())),
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => Source(u128::from(v4.to_ipv6_mapped())),
                None => Source(u128::from(v6) & !u128::from(u64::MAX)),
            },
        }
    }

    /// The source as a number, for the worker pool's per-source queues.
    pub fn lane(self) -> u128 {
        self.0
    }
}

/// Slow work in flight (queued or running) per source: counted when submitted, uncounted when the
/// worker hands it back (done or cancelled), so a closed connection's work counts until it is gone.
/// One entry per source with work in flight, each at most `SOURCE_SLOW_JOBS_MAX`.
#[derive(Default)]
pub struct SlowWork {
    in_flight: HashMap<Source, u32>,
}

impl SlowWork {
    /// Counts one more job from `source`; `false` (nothing counted) if it has the most it may have.
    pub fn start(&mut self, source: Source) -> bool {
        let count = self.in_flight.entry(source).or_insert(0);
        if *count >= SOURCE_SLOW_JOBS_MAX {
            return false;
        }
        *count += 1;
        true
    }

    /// One of `source`'s jobs came back.
    pub fn finish(&mut self, source: Source) {
        if let Some(count) = self.in_flight.get_mut(&source) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.in_flight.remove(&source);
            }
        }
    }
}

/// Everything the loop throttles by source.
#[derive(Default)]
pub struct Throttle {
    pub slow_work: SlowWork,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Source {
        Source::of(Some(SocketAddr::new(text.parse().unwrap(), 4000)))
    }

    #[test]
    fn ipv6_counts_by_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(source("2001:db8:1:2::1"), source("2001:db8:1:2:ffff:1:2:3"));
        assert_ne!(source("2001:db8:1:2::1"), source("2001:db8:1:3::1"));
        assert_eq!(source("::ffff:10.0.0.1"), source("10.0.0.1"));
        assert_ne!(source("10.0.0.1"), source("10.0.0.2"));
        assert_eq!(Source::of(None), Source::UNKNOWN);
    }

    #[test]
    fn slow_work_is_bounded_per_source() {
        let mut work = SlowWork::default();
        let (busy, other) = (source("10.0.0.1"), source("10.0.0.2"));
        for _ in 0..SOURCE_SLOW_JOBS_MAX {
            assert!(work.start(busy));
        }
        assert!(!work.start(busy));
        assert!(work.start(other));
        work.finish(busy);
        assert!(work.start(busy));
        for _ in 0..SOURCE_SLOW_JOBS_MAX {
            work.finish(busy);
        }
        work.finish(other);
        work.finish(other);
        assert!(work.in_flight.is_empty(), "no entry is kept for a source with nothing in flight");
    }
}
