//! Throttling by where requests come from: failed password guesses per (account or group, source
//! address) and per source address, and slow work (password hashes, settlement searches) in flight
//! per source address. So that opening more connections does not guess faster, one address's
//! guessing never throttles another address, and one address cannot fill the worker pool.
//!
//! Pure: time is passed in, nothing here touches a socket or a clock. Does not decide which requests
//! are guesses or whether one failed (`service` does, from the decoded command and the typed answer).
//!
//! Guesses are counted with token buckets kept as GCRA (one "theoretical arrival time" a bucket) in
//! fixed-size tables: memory is allocated once and stays the same however many names and addresses
//! are tried. A bucket whose time has passed is full again and its slot is free.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Failed guesses at one account (or one group's password) from one source: a burst of this many,
/// then one more every `TARGET_GUESS_INTERVAL` (10 a minute). An honest user who mistypes a few
/// times never meets it; a guesser gets ~14,000 tries a day at one account from one address.
pub const TARGET_GUESSES_BURST: u32 = 10;
pub const TARGET_GUESS_INTERVAL: Duration = Duration::from_secs(6);

/// Failed guesses from one source at any accounts and groups: a burst of this many, then one a
/// second. Bounds guessing many accounts from one address (and how fast one address can fill the
/// target table), with room for many people behind one NAT mistyping now and then.
pub const SOURCE_GUESSES_BURST: u32 = 60;
pub const SOURCE_GUESS_INTERVAL: Duration = Duration::from_secs(1);

/// Slots for (target, source) buckets: 24 bytes each, 1.5 MiB in all. A bucket matters for at most
/// `TARGET_GUESSES_BURST * TARGET_GUESS_INTERVAL` (60 s) after its last failure, and one source
/// charges at most ~120 buckets a minute (its own bucket's burst and refill), so the table holds
/// every bucket of ~500 addresses guessing flat out. Beyond that a new bucket takes the slot, among
/// `WAYS`, with the least debt: the one closest to being forgotten anyway.
pub const TARGET_SLOTS: usize = 1 << 16;

/// Slots for per-source buckets: 24 bytes each, 384 KiB in all; an address's bucket is forgotten a
/// minute after its last failure, so 16,384 addresses may be guessing within any minute before the
/// least indebted are evicted.
pub const SOURCE_SLOTS: usize = 1 << 14;

/// Slots one key may occupy (its set): a lookup, charge or eviction looks at this many slots only.
const WAYS: usize = 8;

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

/// What is being guessed at: an account's password (login) or a group's join password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    Account(&'a str),
    Group(&'a str),
}

/// An attempt let through: in flight until `Guesses::finish` says whether it failed. Attempts in
/// flight count against the limit, so fifty connections guessing at once cannot all pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    target: u64,
    source: u64,
}

/// Why an attempt may not run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    /// Too many failures: refuse it; one more may be tried after this long.
    Refused(Duration),
    /// The failures so far allow it, but not if every attempt in flight fails too: ask again once
    /// some have finished (after `BUSY_RETRY`). Honest clients logging in many times at once wait
    /// here rather than being refused.
    Busy,
}

/// How long an attempt that was `Busy` waits before asking again: about one hash, the time an
/// attempt in flight takes to finish.
pub const BUSY_RETRY: Duration = Duration::from_millis(20);

/// Failed password guesses per (target, source) and per source.
pub struct Guesses {
    /// Keyed SipHash with a random key per process: nobody can choose names that collide or that
    /// fall into one set to evict someone's bucket.
    hasher: RandomState,
    /// Times are kept as milliseconds since this instant.
    epoch: Instant,
    targets: Buckets,
    sources: Buckets,
}

impl Guesses {
    pub fn new(now: Instant) -> Guesses {
        Guesses {
            hasher: RandomState::new(),
            epoch: now,
            targets: Buckets::new(TARGET_SLOTS, TARGET_GUESSES_BURST, TARGET_GUESS_INTERVAL),
            sources: Buckets::new(SOURCE_SLOTS, SOURCE_GUESSES_BURST, SOURCE_GUESS_INTERVAL),
        }
    }

    /// Lets one attempt at `target` from `source` start at `now`, or says why not (then nothing is
    /// counted). A started attempt must be `finish`ed.
    pub fn attempt(&mut self, target: Target, source: Source, now: Instant) -> Result<Charge, Throttled> {
        let now = self.millis(now);
        let charge = Charge {
            target: match target {
                Target::Account(name) => self.hasher.hash_one((0u8, name, source)),
                Target::Group(name) => self.hasher.hash_one((1u8, name, source)),
            },
            source: self.hasher.hash_one((2u8, source)),
        };
        match (self.targets.verdict(charge.target, now), self.sources.verdict(charge.source, now)) {
            (Verdict::Refused(a), Verdict::Refused(b)) => {
                return Err(Throttled::Refused(Duration::from_millis(a.max(b))))
            }
            (Verdict::Refused(wait), _) | (_, Verdict::Refused(wait)) => {
                return Err(Throttled::Refused(Duration::from_millis(wait)))
            }
            (Verdict::Busy, _) | (_, Verdict::Busy) => return Err(Throttled::Busy),
            (Verdict::Go, Verdict::Go) => {}
        }
        self.targets.begin(charge.target, now);
        self.sources.begin(charge.source, now);
        Ok(charge)
    }

    /// An attempt is over: a failed one adds to the debt, one that did not fail (it logged in, joined,
    /// or never ran) costs nothing.
    pub fn finish(&mut self, charge: Charge, failed: bool, now: Instant) {
        let now = self.millis(now);
        self.targets.end(charge.target, failed, now);
        self.sources.end(charge.source, failed, now);
    }

    fn millis(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }
}

/// What a bucket says to one more attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Go,
    Busy,
    /// After this many ms.
    Refused(u64),
}

/// One bucket, as GCRA keeps it: when its failures are paid off, plus the attempts in flight.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    key: u64,
    /// Milliseconds (since `Guesses::epoch`) when the bucket is full again.
    full_at: u64,
    in_flight: u32,
}

impl Slot {
    /// Holds a bucket (not yet full, or with attempts in flight); a slot that does not is free,
    /// whatever its key.
    fn holds(&self, key: u64, now: u64) -> bool {
        self.key == key && (self.full_at > now || self.in_flight > 0)
    }
}

/// A fixed-size, set-associative table of token buckets.
struct Buckets {
    slots: Box<[Slot]>,
    /// Milliseconds of debt one failure adds.
    interval: u64,
    /// Debt a bucket may carry and still let an attempt through: `(burst - 1) * interval`.
    tolerance: u64,
}

impl Buckets {
    fn new(slots: usize, burst: u32, interval: Duration) -> Buckets {
        assert!(slots.is_power_of_two() && slots >= WAYS, "whole sets of WAYS slots");
        let interval = interval.as_millis() as u64;
        Buckets {
            slots: vec![Slot::default(); slots].into_boxed_slice(),
            interval,
            tolerance: u64::from(burst.saturating_sub(1)) * interval,
        }
    }

    /// The `WAYS` slots `key` may live in.
    fn set(&mut self, key: u64) -> &mut [Slot] {
        let sets = self.slots.len() / WAYS;
        let first = (key as usize & (sets - 1)) * WAYS;
        &mut self.slots[first..first + WAYS]
    }

    fn verdict(&mut self, key: u64, now: u64) -> Verdict {
        let (interval, tolerance) = (self.interval, self.tolerance);
        let Some(slot) = self.set(key).iter().find(|s| s.holds(key, now)).copied() else {
            return Verdict::Go;
        };
        let debt = slot.full_at.saturating_sub(now);
        if debt > tolerance {
            Verdict::Refused(debt - tolerance)
        } else if debt + u64::from(slot.in_flight) * interval > tolerance {
            Verdict::Busy
        } else {
            Verdict::Go
        }
    }

    /// `key`'s slot, taking a free one, or else the one with the least debt counting its attempts in
    /// flight (the one closest to being forgotten anyway), for a key not in the table.
    fn slot(&mut self, key: u64, now: u64) -> &mut Slot {
        let interval = self.interval;
        let set = self.set(key);
        let index = match set.iter().position(|s| s.holds(key, now)) {
            Some(index) => index,
            None => {
                let weight = |s: &Slot| s.full_at.max(now) + u64::from(s.in_flight) * interval;
                let (index, _) = set.iter().enumerate().min_by_key(|(_, s)| weight(s)).unwrap_or((0, &set[0]));
                set[index] = Slot { key, full_at: now, in_flight: 0 };
                index
            }
        };
        &mut set[index]
    }

    fn begin(&mut self, key: u64, now: u64) {
        let slot = self.slot(key, now);
        slot.in_flight = slot.in_flight.saturating_add(1);
    }

    fn end(&mut self, key: u64, failed: bool, now: u64) {
        let interval = self.interval;
        if !failed && !self.set(key).iter().any(|s| s.holds(key, now)) {
            return;
        }
        let slot = self.slot(key, now);
        slot.in_flight = slot.in_flight.saturating_sub(1);
        if failed {
            slot.full_at = slot.full_at.max(now).saturating_add(interval);
        }
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
pub struct Throttle {
    pub guesses: Guesses,
    pub slow_work: SlowWork,
}

impl Throttle {
    pub fn new(now: Instant) -> Throttle {
        Throttle { guesses: Guesses::new(now), slow_work: SlowWork::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Source {
        Source::of(Some(SocketAddr::new(text.parse().unwrap(), 4000)))
    }

    /// Attempts at `target` from `from` at `at`, one after the other, all failing: how many ran.
    fn failures(guesses: &mut Guesses, target: Target, from: Source, at: Instant, tries: u32) -> u32 {
        let mut ran = 0;
        for _ in 0..tries {
            if let Ok(charge) = guesses.attempt(target, from, at) {
                guesses.finish(charge, true, at);
                ran += 1;
            }
        }
        ran
    }

    #[test]
    fn ten_failures_then_one_every_six_seconds() {
        let t0 = Instant::now();
        let mut guesses = Guesses::new(t0);
        let (alice, attacker) = (Target::Account("alice"), source("10.0.0.1"));
        assert_eq!(failures(&mut guesses, alice, attacker, t0, 50), TARGET_GUESSES_BURST);
        let wait = guesses.attempt(alice, attacker, t0).unwrap_err();
        assert_eq!(wait, Throttled::Refused(TARGET_GUESS_INTERVAL), "the next try comes one interval later");
        let almost = t0 + TARGET_GUESS_INTERVAL - Duration::from_millis(1);
        assert_eq!(guesses.attempt(alice, attacker, almost), Err(Throttled::Refused(Duration::from_millis(1))));
        assert_eq!(failures(&mut guesses, alice, attacker, t0 + TARGET_GUESS_INTERVAL, 5), 1);
        // An hour later the bucket is full again: the burst, never more at once.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(failures(&mut guesses, alice, attacker, later, 50), TARGET_GUESSES_BURST);
    }

    #[test]
    fn another_address_and_another_account_are_not_affected() {
        let t0 = Instant::now();
        let mut guesses = Guesses::new(t0);
        let attacker = source("10.0.0.1");
        assert_eq!(failures(&mut guesses, Target::Account("alice"), attacker, t0, 50), 10);
        assert!(guesses.attempt(Target::Account("alice"), source("10.0.0.2"), t0).is_ok(), "alice from home");
        assert!(guesses.attempt(Target::Account("bob"), attacker, t0).is_ok(), "another account");
        assert!(guesses.attempt(Target::Group("alice"), attacker, t0).is_ok(), "a group of that name");
        assert!(guesses.attempt(Target::Account("Alice"), attacker, t0).is_ok(), "names are exact");
    }

    #[test]
    fn one_source_guessing_many_accounts_is_bounded_too() {
        let t0 = Instant::now();
        let mut guesses = Guesses::new(t0);
        let attacker = source("10.0.0.1");
        let ran: u32 =
            (0..1000).map(|n| failures(&mut guesses, Target::Account(&format!("user{n}")), attacker, t0, 1)).sum();
        assert_eq!(ran, SOURCE_GUESSES_BURST);
        let wait = guesses.attempt(Target::Account("fresh"), attacker, t0).unwrap_err();
        assert_eq!(wait, Throttled::Refused(SOURCE_GUESS_INTERVAL));
        assert!(guesses.attempt(Target::Account("fresh"), source("10.0.0.2"), t0).is_ok());
    }

    #[test]
    fn attempts_in_flight_count_and_those_that_did_not_fail_cost_nothing() {
        let t0 = Instant::now();
        let mut guesses = Guesses::new(t0);
        let (alice, home) = (Target::Account("alice"), source("192.168.1.9"));
        for _ in 0..100 {
            let charge = guesses.attempt(alice, home, t0).expect("a successful login is never throttled");
            guesses.finish(charge, false, t0);
        }
        // Ten at once may run; the eleventh waits for them rather than being refused.
        let in_flight: Vec<Charge> = (0..10).map(|_| guesses.attempt(alice, home, t0).unwrap()).collect();
        assert_eq!(guesses.attempt(alice, home, t0), Err(Throttled::Busy));
        guesses.finish(in_flight[0], false, t0);
        let eleventh = guesses.attempt(alice, home, t0).expect("room once one has finished");
        // Had they all been guesses: once they fail, what waited is refused.
        for charge in in_flight.into_iter().skip(1).chain([eleventh]) {
            guesses.finish(charge, true, t0);
        }
        assert_eq!(guesses.attempt(alice, home, t0), Err(Throttled::Refused(TARGET_GUESS_INTERVAL)));
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
    fn the_tables_stay_their_size_and_keep_the_most_indebted() {
        let t0 = Instant::now();
        let mut guesses = Guesses::new(t0);
        let attacker = source("10.0.0.1");
        assert_eq!(failures(&mut guesses, Target::Account("victim"), attacker, t0, 20), 10);
        // Four times more one-off failures than the table has slots, each from its own address.
        for n in 0..(4 * TARGET_SLOTS as u32) {
            let from = Source::of(Some(SocketAddr::from(([11, (n >> 16) as u8, (n >> 8) as u8, n as u8], 1))));
            let _ = failures(&mut guesses, Target::Account("victim"), from, t0, 1);
        }
        assert_eq!(guesses.targets.slots.len(), TARGET_SLOTS);
        assert_eq!(guesses.sources.slots.len(), SOURCE_SLOTS);
        // The flood evicted one-off buckets, never the one carrying ten failures.
        assert!(matches!(guesses.attempt(Target::Account("victim"), attacker, t0), Err(Throttled::Refused(_))));
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
