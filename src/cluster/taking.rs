//! When a member takes its own snapshot: every `--raft-snapshot-every` applied entries a forked
//! child writes the machine's image (`store::fork`, `snapshot::write_taking`); once the child is
//! done the loop adopts the file and compacts the log behind it (`Replica::compact`). The loop pays
//! the fork, reading the file back and rewriting the short `raft.log` tail; the image then stays in
//! memory, to send to a follower that fell behind. A failed snapshot keeps the log whole and waits
//! `RETRY_AFTER` (a full disk is not retried every turn).
//!
//! Owns the schedule and the child; not the file format (`snapshot`) or the log (`durable`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use raft::eraftpb::SnapshotMetadata;

use super::durable::DurableLog;
use super::replica::Replica;
use super::snapshot;
use crate::machine::Machine;
use crate::store::fork;

/// The default `--raft-snapshot-every`: a restart replays at most about this many entries after
/// the snapshot, and `raft.log` (and the in-memory log) holds about this many, some 30 MB of
/// typical entries. Every snapshot serialises the whole state (on a busy leader, after rebuilding
/// it), so a shorter period taxes every write: 10,000 cost a saturating write load ~40 % of its
/// rate on the 2-core benchmark machine, 100,000 about 10 % (docs/benchmarks.md). The single node
/// snapshots after 256 MiB of log, about a million records.
pub const SNAPSHOT_EVERY: u64 = 100_000;

/// A member also snapshots once the entries applied since the last snapshot hold this many bytes,
/// however few they are (a loop turn's commands are one entry): the in-memory log and a restart's
/// replay stay bounded by it as well.
pub const SNAPSHOT_BYTES: u64 = 64 * 1024 * 1024;

/// After a snapshot that failed, the next waits this long.
const RETRY_AFTER: Duration = Duration::from_secs(10);

/// How long a leader holds new commands back so that its machine is the applied state when it
/// forks (no own proposals ahead of the commit): normally one replication round trip. Past it the
/// child rebuilds the applied state from the previous snapshot instead (no quorum, a slow disk).
const DRAIN_AT_MOST: Duration = Duration::from_millis(50);

/// A snapshot being written by a forked child.
struct Child {
    pid: fork::Pid,
    meta: SnapshotMetadata,
    started: Instant,
}

pub struct Taker {
    dir: PathBuf,
    every: u64,
    child: Option<Child>,
    /// No snapshot starts before this (set after a failed one).
    not_before: Instant,
    /// A snapshot is due and the leader's own proposals are still in flight: since when.
    draining: Option<Instant>,
}

impl Taker {
    pub fn new(dir: &Path, every: u64) -> Taker {
        Taker { dir: dir.to_path_buf(), every: every.max(1), child: None, not_before: Instant::now(), draining: None }
    }

    /// Once a turn: adopts a finished snapshot, or starts one when enough entries were applied.
    /// An error is fatal (compacting left the log file in doubt).
    pub fn turn(
        &mut self,
        replica: &mut Replica,
        log: &mut DurableLog,
        machine: &Machine,
        now: Instant,
    ) -> Result<(), String> {
        if let Some(child) = &self.child {
            let Some(done) = fork::reap(child.pid) else { return Ok(()) };
            let Some(child) = self.child.take() else { return Ok(()) };
            return self.adopt(child, done, replica, log, now);
        }
        let due =
            replica.applied_since_snapshot() >= self.every || replica.applied_bytes_since_snapshot() >= SNAPSHOT_BYTES;
        if !due || now < self.not_before {
            // No longer due (a leader's snapshot was installed meanwhile): hold nothing back.
            self.draining = None;
            return Ok(());
        }
        if replica.visible() > replica.applied() {
            // Serialising the machine as it is beats rebuilding the applied state in the child
            // (parsing the previous image, replaying the log): wait for the proposals to commit.
            let since = *self.draining.get_or_insert(now);
            if now < since + DRAIN_AT_MOST {
                return Ok(());
            }
        }
        self.draining = None;
        let meta = replica.snapshot_meta();
        let (dir, member) = (&self.dir, &*replica);
        let spawned = fork::spawn(|| {
            member.image_machine(machine, |m| snapshot::write_taking(dir, m, &meta).is_ok()).unwrap_or(false)
        });
        match spawned {
            Ok(pid) => self.child = Some(Child { pid, meta, started: Instant::now() }),
            Err(err) => {
                crate::log::info!("cannot fork to write a raft snapshot: {err}");
                self.not_before = now + RETRY_AFTER;
            }
        }
        Ok(())
    }

    /// Whether the loop should hold new commands back: a snapshot waits for the leader's
    /// proposals to commit (at most `DRAIN_AT_MOST`).
    pub fn draining(&self) -> bool {
        self.draining.is_some()
    }

    /// A child finished: its snapshot replaces the log before it, unless it failed or a leader's
    /// newer snapshot arrived meanwhile.
    fn adopt(
        &mut self,
        child: Child,
        done: Result<(), i32>,
        replica: &mut Replica,
        log: &mut DurableLog,
        now: Instant,
    ) -> Result<(), String> {
        if let Err(status) = done {
            crate::log::info!("raft snapshot child failed (status {status}); the log is kept whole");
            snapshot::discard_taking(&self.dir);
            self.not_before = now + RETRY_AFTER;
            return Ok(());
        }
        if child.meta.index <= replica.store().offset() {
            snapshot::discard_taking(&self.dir);
            return Ok(());
        }
        let taken = match snapshot::adopt_taking(&self.dir, &child.meta) {
            Ok(taken) => taken,
            Err(err) => {
                crate::log::info!("raft snapshot not adopted: {err}; the log is kept whole");
                snapshot::discard_taking(&self.dir);
                self.not_before = now + RETRY_AFTER;
                return Ok(());
            }
        };
        // A failure here is fatal: the log file may no longer be the one being appended to.
        replica.compact(taken, log)?;
        let took = child.started.elapsed().as_millis();
        crate::log::info!("raft snapshot at {} written in {took} ms; the log before it is dropped", child.meta.index);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::durable::Reopened;

    /// Drives a one-member cluster's raft work as the node's turn does.
    fn settle(replica: &mut Replica, log: &mut DurableLog, machine: &mut Machine) {
        for _ in 0..10 {
            while let Some(done) = log.poll_done() {
                replica.persisted(done.expect("written"));
            }
            replica.handle_ready(machine, log).expect("ready");
        }
    }

    #[test]
    fn a_leader_due_to_snapshot_holds_commands_until_its_proposals_commit() {
        let dir = std::env::temp_dir().join(format!("splitd-taking-drain-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let Reopened { mut log, store, .. } = DurableLog::open(&dir, &[1]).expect("open");
        let (mut replica, mut machine) = Replica::start(1, store, &crate::cluster::discard_logger()).expect("start");
        for _ in 0..40 {
            replica.tick(&mut machine);
            settle(&mut replica, &mut log, &mut machine);
        }
        assert!(replica.serving().is_ok() && replica.applied() >= 1, "the only member leads");
        let mut taker = Taker::new(&dir, 1);
        let (index, _) = replica.propose(&mut machine, Vec::new());
        assert!(index.is_some() && replica.visible() > replica.applied(), "a proposal in flight");
        let now = Instant::now();
        taker.turn(&mut replica, &mut log, &machine, now).expect("turn");
        assert!(taker.draining() && taker.child.is_none(), "no fork while the proposal is ahead");
        taker.every = u64::MAX;
        taker.turn(&mut replica, &mut log, &machine, now).expect("turn");
        assert!(!taker.draining(), "a snapshot no longer due holds nothing back");
        taker.every = 1;
        taker.turn(&mut replica, &mut log, &machine, now).expect("turn");
        assert!(taker.draining(), "due again");
        settle(&mut replica, &mut log, &mut machine);
        assert_eq!(replica.visible(), replica.applied(), "committed");
        taker.turn(&mut replica, &mut log, &machine, now).expect("turn");
        assert!(!taker.draining() && taker.child.is_some(), "forked once the machine is the applied state");
        let deadline = Instant::now() + Duration::from_secs(20);
        while taker.child.is_some() {
            assert!(Instant::now() < deadline, "the snapshot child finishes");
            taker.turn(&mut replica, &mut log, &machine, Instant::now()).expect("adopt");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(replica.store().offset(), replica.applied(), "the log was compacted behind the snapshot");
        assert_eq!(replica.applied_bytes_since_snapshot(), 0, "nothing applied after the snapshot");
        replica.propose(&mut machine, Vec::new());
        settle(&mut replica, &mut log, &mut machine);
        let entry = replica.store().entry(replica.applied()).map(|e| e.data.len() as u64);
        assert_eq!(Some(replica.applied_bytes_since_snapshot()), entry, "the applied entry's bytes are counted");
        let (index, _) = replica.propose(&mut machine, Vec::new());
        assert!(index.is_some() && replica.applied_since_snapshot() >= 1);
        taker.turn(&mut replica, &mut log, &machine, Instant::now()).expect("turn");
        assert!(taker.draining());
        let later = Instant::now() + DRAIN_AT_MOST;
        taker.turn(&mut replica, &mut log, &machine, later).expect("turn");
        assert!(!taker.draining() && taker.child.is_some(), "past the bound it forks anyway (the child rebuilds)");
        while taker.child.is_some() {
            taker.turn(&mut replica, &mut log, &machine, Instant::now()).expect("adopt");
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
