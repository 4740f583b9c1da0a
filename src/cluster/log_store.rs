//! The raft log as raft-rs reads it: entries, the hard state (term, vote, commit) and the voters,
//! in memory, with the whole log kept (no compaction yet, so no raft snapshots are ever needed).
//!
//! Owns the `raft::Storage` implementation and the rules of appending (a conflicting suffix is
//! replaced, never a gap). Does not own durability: whoever persists a `Ready` writes the same
//! entries to disk before the messages that depend on them leave (`durable`, or the simulation,
//! where "on disk" is exactly what this store holds).

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};

#[derive(Debug, Clone, Default)]
pub struct LogStore {
    hard: HardState,
    conf: ConfState,
    /// `entries[i].index == i + 1`: the log starts at 1 and is never compacted.
    entries: Vec<Entry>,
}

impl LogStore {
    /// A new member of the cluster whose voters are `voters`.
    pub fn new(voters: &[u64]) -> LogStore {
        let conf = ConfState { voters: voters.to_vec(), ..ConfState::default() };
        LogStore { hard: HardState::default(), conf, entries: Vec::new() }
    }

    /// Appends `entries` (contiguous), replacing any suffix of the log they overlap: raft only sends
    /// an overlapping append when that suffix was never committed. A gap is a bug in the caller.
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), String> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let last = self.entries.len() as u64;
        if first.index == 0 || first.index > last + 1 {
            return Err(format!("append at {} leaves a gap after {last}", first.index));
        }
        if first.index <= self.hard.commit {
            return Err(format!(
                "append at {} overwrites committed entries (commit {})",
                first.index, self.hard.commit
            ));
        }
        self.entries.truncate((first.index - 1) as usize);
        self.entries.extend_from_slice(entries);
        Ok(())
    }

    /// The configuration after a committed membership change (raft-rs reads it at start).
    pub fn set_conf_state(&mut self, conf: ConfState) {
        self.conf = conf;
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

    pub fn last(&self) -> u64 {
        self.entries.len() as u64
    }

    /// The entry at `index`, if the log holds it.
    pub fn entry(&self, index: u64) -> Option<&Entry> {
        let i = usize::try_from(index.checked_sub(1)?).ok()?;
        self.entries.get(i)
    }

    /// Entries `1..=through` (clamped to the log).
    pub fn prefix(&self, through: u64) -> &[Entry] {
        let end = (through as usize).min(self.entries.len());
        &self.entries[..end]
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
        if low == 0 {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last() + 1 || low > high {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let mut entries = self.entries[(low - 1) as usize..(high - 1) as usize].to_vec();
        raft::util::limit_size(&mut entries, max_size.into());
        Ok(entries)
    }

    fn term(&self, index: u64) -> raft::Result<u64> {
        if index == 0 {
            return Ok(0);
        }
        self.entry(index).map(|e| e.term).ok_or(raft::Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last())
    }

    /// Never needed while the log is never compacted: every follower can be caught up from entries.
    fn snapshot(&self, _request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        Err(raft::Error::Store(StorageError::SnapshotTemporarilyUnavailable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64) -> Entry {
        Entry { index, term, ..Entry::default() }
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
}
