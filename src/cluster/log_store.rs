//! The raft log as raft-rs reads it: the latest snapshot (its metadata and the machine's image as
//! of its index), the entries after it, the hard state (term, vote, commit) and the voters, in
//! memory.
//!
//! Owns the `raft::Storage` implementation and the rules of appending (a conflicting suffix is
//! replaced, never a gap), of compaction (entries up to an applied index replaced by a snapshot of
//! the machine there) and of installing a leader's snapshot (the whole log replaced). Does not own
//! durability: whoever persists a `Ready` writes the same entries and snapshot to disk before the
//! messages that depend on them leave (`durable`, or the simulation, where "on disk" is exactly
//! what this store holds).
//!
//! The snapshot's image stays in memory (`Snapshot::data`, shared by reference with the messages
//! that carry it to a follower): its cost is one serialised image of the state.

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};

#[derive(Debug, Clone, Default)]
pub struct LogStore {
    hard: HardState,
    conf: ConfState,
    /// Index 0 (and no data): no snapshot yet, the log starts at 1.
    snapshot: Snapshot,
    /// `entries[i].index == snapshot index + 1 + i`.
    entries: Vec<Entry>,
}

impl LogStore {
    /// A new member of the cluster whose voters are `voters`.
    pub fn new(voters: &[u64]) -> LogStore {
        let conf = ConfState { voters: voters.to_vec(), ..ConfState::default() };
        LogStore { hard: HardState::default(), conf, snapshot: Snapshot::default(), entries: Vec::new() }
    }

    /// Appends `entries` (contiguous), replacing any suffix of the log they overlap: raft only sends
    /// an overlapping append when that suffix was never committed. A gap is a bug in the caller (or,
    /// replaying a file, a lost part of the log). Entries the snapshot already covers are skipped.
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), String> {
        let offset = self.offset();
        let entries = match entries.iter().position(|e| e.index > offset) {
            Some(start) => &entries[start..],
            None => return Ok(()),
        };
        let first = &entries[0];
        let last = self.last();
        if first.index > last + 1 {
            return Err(format!("append at {} leaves a gap after {last}", first.index));
        }
        if first.index <= self.hard.commit {
            return Err(format!(
                "append at {} overwrites committed entries (commit {})",
                first.index, self.hard.commit
            ));
        }
        self.entries.truncate((first.index - offset - 1) as usize);
        self.entries.extend_from_slice(entries);
        Ok(())
    }

    /// The configuration after a committed membership change (raft-rs reads it at start).
    pub fn set_conf_state(&mut self, conf: ConfState) {
        self.conf = conf;
    }

    /// Replaces the entries up to the snapshot's index with `snapshot`, the machine's image at that
    /// index (which must be applied, so committed, and held here).
    pub fn compact(&mut self, snapshot: Snapshot) -> Result<(), String> {
        let (index, term) = (snapshot.get_metadata().index, snapshot.get_metadata().term);
        if index <= self.offset() {
            return Ok(());
        }
        if index > self.hard.commit || self.entry(index).map(|e| e.term) != Some(term) {
            return Err(format!("cannot compact to {index} (term {term}): not a committed entry held here"));
        }
        self.entries.drain(..(index - self.offset()) as usize);
        self.snapshot = snapshot;
        Ok(())
    }

    /// A leader's snapshot replaces the whole log (raft only hands one over when it is ahead of this
    /// member's commit); its index is committed.
    pub fn install(&mut self, snapshot: Snapshot) {
        let meta = snapshot.get_metadata();
        self.hard.commit = self.hard.commit.max(meta.index);
        self.hard.term = self.hard.term.max(meta.term);
        self.conf = meta.get_conf_state().clone();
        self.entries.clear();
        self.snapshot = snapshot;
    }

    /// Restores a snapshot read back from disk, before any entry (`durable`).
    pub fn restore(&mut self, snapshot: Snapshot) {
        self.install(snapshot);
    }

    pub fn set_hard_state(&mut self, hard: HardState) {
        self.hard = hard;
    }

    /// The commit index raft reported after an `advance` (kept with the hard state).
    pub fn set_commit(&mut self, commit: u64) {
        self.hard.commit = commit;
    }

    pub fn hard_state(&self) -> &HardState {
        &self.hard
    }

    pub fn conf_state(&self) -> &ConfState {
        &self.conf
    }

    /// The latest snapshot (index 0: none).
    pub fn latest_snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The snapshot's index: entries up to it are compacted away.
    pub fn offset(&self) -> u64 {
        self.snapshot.get_metadata().index
    }

    pub fn last(&self) -> u64 {
        self.offset() + self.entries.len() as u64
    }

    /// The entry at `index`, if the log holds it (not compacted, not beyond the end).
    pub fn entry(&self, index: u64) -> Option<&Entry> {
        let i = usize::try_from(index.checked_sub(self.offset() + 1)?).ok()?;
        self.entries.get(i)
    }

    /// The term of the entry at `index`, the snapshot's included.
    pub fn term_of(&self, index: u64) -> Option<u64> {
        if index == self.offset() {
            return Some(self.snapshot.get_metadata().term);
        }
        self.entry(index).map(|e| e.term)
    }

    /// The entries after the snapshot through `through` (clamped to the log).
    pub fn tail(&self, through: u64) -> &[Entry] {
        let end = through.saturating_sub(self.offset()).min(self.entries.len() as u64);
        &self.entries[..end as usize]
    }
}

impl Storage for LogStore {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(self.hard.clone(), self.conf.clone()))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low <= self.offset() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last() + 1 || low > high {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let offset = self.offset();
        let mut entries = self.entries[(low - offset - 1) as usize..(high - offset - 1) as usize].to_vec();
        raft::util::limit_size(&mut entries, max_size.into());
        Ok(entries)
    }

    fn term(&self, index: u64) -> raft::Result<u64> {
        if index < self.offset() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        self.term_of(index).ok_or(raft::Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.offset() + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last())
    }

    /// The latest snapshot, for a follower whose next entry was compacted away. Raft asks again
    /// later when there is none yet, or it is older than the follower asked for.
    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        if self.offset() == 0 || self.offset() < request_index {
            return Err(raft::Error::Store(StorageError::SnapshotTemporarilyUnavailable));
        }
        Ok(self.snapshot.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64) -> Entry {
        Entry { index, term, ..Entry::default() }
    }

    fn snapshot(index: u64, term: u64, data: &[u8]) -> Snapshot {
        let mut snapshot = Snapshot { data: data.to_vec().into(), ..Snapshot::default() };
        snapshot.mut_metadata().index = index;
        snapshot.mut_metadata().term = term;
        snapshot
    }

    #[test]
    fn an_overlapping_append_replaces_the_suffix_and_a_gap_is_refused() {
        let mut log = LogStore::new(&[1, 2, 3]);
        log.append(&[entry(1, 1), entry(2, 1), entry(3, 1)]).expect("first append");
        log.append(&[entry(2, 2)]).expect("overlap");
        assert_eq!(log.last(), 2);
        assert_eq!(log.term(2), Ok(2));
        assert!(log.append(&[entry(5, 2)]).is_err());
        log.set_commit(2);
        assert!(log.append(&[entry(2, 3)]).is_err(), "committed entries are never replaced");
    }

    #[test]
    fn compaction_keeps_only_the_tail_and_answers_the_snapshot_term() {
        let mut log = LogStore::new(&[1, 2, 3]);
        log.append(&[entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2)]).expect("append");
        assert_eq!(log.snapshot(0, 2), Err(raft::Error::Store(StorageError::SnapshotTemporarilyUnavailable)));
        log.set_commit(3);
        assert!(log.compact(snapshot(4, 2, b"img")).is_err(), "an uncommitted index is never compacted");
        assert!(log.compact(snapshot(3, 1, b"img")).is_err(), "the snapshot's term must be the entry's");
        log.compact(snapshot(3, 2, b"img")).expect("compact");
        assert_eq!((log.first_index(), log.last_index()), (Ok(4), Ok(4)));
        assert_eq!(log.term(3), Ok(2), "the snapshot's index answers from its metadata");
        assert_eq!(log.term(2), Err(raft::Error::Store(StorageError::Compacted)));
        assert_eq!(
            log.entries(3, 5, None, GetEntriesContext::empty(false)),
            Err(raft::Error::Store(StorageError::Compacted))
        );
        assert_eq!(log.entries(4, 5, None, GetEntriesContext::empty(false)).map(|e| e.len()), Ok(1));
        assert_eq!(log.snapshot(0, 2).map(|s| s.data.to_vec()), Ok(b"img".to_vec()));
        assert!(log.entry(3).is_none() && log.entry(4).is_some());
        assert!(log.tail(10).len() == 1 && log.tail(3).is_empty());
        log.append(&[entry(2, 1), entry(3, 2), entry(4, 2), entry(5, 3)]).expect("covered entries are skipped");
        assert_eq!(log.last(), 5);
    }

    #[test]
    fn an_installed_snapshot_replaces_the_log_and_commits_its_index() {
        let mut log = LogStore::new(&[1, 2, 3]);
        log.append(&[entry(1, 1), entry(2, 1)]).expect("append");
        let mut incoming = snapshot(10, 3, b"leader");
        incoming.mut_metadata().mut_conf_state().voters = vec![1, 2, 3];
        log.install(incoming);
        assert_eq!((log.offset(), log.last(), log.hard_state().commit), (10, 10, 10));
        assert_eq!(log.term(10), Ok(3));
        assert!(log.append(&[entry(12, 3)]).is_err(), "a gap after the snapshot is refused");
        log.append(&[entry(11, 3)]).expect("the next entry follows the snapshot");
    }
}
