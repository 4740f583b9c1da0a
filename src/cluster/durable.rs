//! The raft log on disk: `raft.log` in the data directory, holding every entry and hard state a
//! `Ready` produced after the latest snapshot (`raft.snap`, see `snapshot`), made durable
//! (`fdatasync`) before the messages that depend on it leave.
//!
//! Frame format: `<u32 LE body length> <u32 LE crc32c of body> <body>`, the body a kind byte
//! (`1` an entry, `2` a hard state) and the rust-protobuf encoding of it. Opening loads the
//! snapshot, then replays the frames in order: a later entry at an index already held replaces
//! that suffix, exactly as the append did; entries the snapshot covers are skipped (a crash may
//! fall between writing a snapshot and rewriting the log). A torn last frame (a crash mid-write) is
//! cut; a bad frame before the end is corruption and refused. So is loss: a log that does not
//! continue the snapshot without a hole, or whose commit index lies beyond its last entry (a
//! deleted `raft.snap`).
//!
//! Compaction: once a snapshot is durable, the file is rewritten holding only the entries after it
//! and the hard state (a temporary file, fsynced, renamed over `raft.log`), so it does not grow
//! forever: it holds about `--raft-snapshot-every` entries at most, plus those written while a
//! snapshot is being taken.
//!
//! Owns the file and its format; does not decide what is written (`replica`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use protobuf::Message as _;
use raft::eraftpb::{Entry, HardState};

use super::log_store::LogStore;
use super::replica::Persist;
use super::snapshot;
use crate::store::snapshot::{replace, write_synced};

pub const LOG_FILE: &str = "raft.log";
const LOG_TMP: &str = "raft.log.tmp";
const KIND_ENTRY: u8 = 1;
const KIND_HARD_STATE: u8 = 2;
/// A frame longer than this is corruption (an entry is one command's records, far below it).
const FRAME_BYTES_MAX: u32 = 64 * 1024 * 1024;

pub struct DurableLog {
    file: File,
    dir: PathBuf,
    path: PathBuf,
    scratch: Vec<u8>,
}

/// What opening found.
pub struct Reopened {
    pub log: DurableLog,
    pub store: LogStore,
    /// Bytes of a torn last frame that were cut off, if any.
    pub cut_bytes: u64,
}

impl DurableLog {
    /// Opens (or creates) `dir/raft.log` and replays the snapshot and it into a store for `voters`.
    pub fn open(dir: &Path, voters: &[u64]) -> Result<Reopened, String> {
        let path = dir.join(LOG_FILE);
        let shown = path.display().to_string();
        let _ = fs::remove_file(dir.join(LOG_TMP));
        let mut file = open_append(&path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let mut store = LogStore::new(voters);
        if let Some(snapshot) = snapshot::read(dir)? {
            store.restore(snapshot);
        }
        let good = replay(&bytes, &mut store).map_err(|e| format!("{shown}: {e}"))?;
        if store.hard_state().commit < store.offset() {
            // A crash between writing a leader's snapshot and rewriting the log: the log's hard
            // state is older than the snapshot, whose index is committed.
            store.set_commit(store.offset());
        }
        if store.hard_state().commit > store.last() {
            return Err(format!(
                "{shown} ends at entry {} before its commit index {}: committed entries are missing \
                 (a deleted or stale {})",
                store.last(),
                store.hard_state().commit,
                snapshot::SNAPSHOT_FILE
            ));
        }
        let cut_bytes = (bytes.len() - good) as u64;
        if cut_bytes > 0 {
            file.set_len(good as u64).map_err(|e| format!("cannot cut the torn end of {shown}: {e}"))?;
            file.sync_all().map_err(|e| format!("cannot sync {shown}: {e}"))?;
        }
        let log = DurableLog { file, dir: dir.to_path_buf(), path, scratch: Vec::new() };
        Ok(Reopened { log, store, cut_bytes })
    }

    /// Rewrites the file to hold only what `store` holds (the entries after its snapshot, the hard
    /// state), atomically, and appends to the new file from now on.
    fn rewrite(&mut self, store: &LogStore) -> Result<(), String> {
        self.scratch.clear();
        self.write_entries(store, store.offset() + 1)?;
        self.write_hard_state(store)?;
        let shown = self.path.display().to_string();
        write_synced(&self.dir.join(LOG_TMP), &[&self.scratch])
            .and_then(|()| replace(&self.dir, LOG_TMP, LOG_FILE))
            .map_err(|e| format!("cannot rewrite {shown}: {e}"))?;
        self.file = open_append(&self.path)?;
        Ok(())
    }

    fn write_entries(&mut self, store: &LogStore, from: u64) -> Result<(), String> {
        for index in from..=store.last() {
            let Some(entry) = store.entry(index) else { break };
            let body = entry.write_to_bytes().map_err(|e| format!("entry {index} does not encode: {e}"))?;
            self.write_frame(KIND_ENTRY, &body);
        }
        Ok(())
    }

    fn write_hard_state(&mut self, store: &LogStore) -> Result<(), String> {
        let body = store.hard_state().write_to_bytes().map_err(|e| format!("hard state does not encode: {e}"))?;
        self.write_frame(KIND_HARD_STATE, &body);
        Ok(())
    }

    fn write_frame(&mut self, kind: u8, body: &[u8]) {
        let start = self.scratch.len();
        self.scratch.extend_from_slice(&[0; 8]);
        self.scratch.push(kind);
        self.scratch.extend_from_slice(body);
        let length = (self.scratch.len() - start - 8) as u32;
        let crc = crc32c::crc32c(&self.scratch[start + 8..]);
        self.scratch[start..start + 4].copy_from_slice(&length.to_le_bytes());
        self.scratch[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    }
}

impl Persist for DurableLog {
    /// Writes the entries from `new_from` on and the hard state, then `fdatasync`.
    fn persist(&mut self, store: &LogStore, new_from: Option<u64>) -> Result<(), String> {
        self.scratch.clear();
        if let Some(from) = new_from {
            self.write_entries(store, from)?;
        }
        self.write_hard_state(store)?;
        let written = self.file.write_all(&self.scratch).and_then(|()| self.file.sync_data());
        written.map_err(|e: io::Error| format!("cannot make {} durable: {e}", self.path.display()))
    }

    /// Writes the leader's snapshot to `raft.snap`, then the log without what it replaced.
    fn install(&mut self, store: &LogStore) -> Result<(), String> {
        snapshot::write(&self.dir, store.latest_snapshot())?;
        self.rewrite(store)
    }

    /// `raft.snap` is durable already (`snapshot::adopt_taking`): the log without what it covers.
    fn compacted(&mut self, store: &LogStore) -> Result<(), String> {
        self.rewrite(store)
    }
}

fn open_append(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))
}

/// Replays frames into `store`; returns how many bytes were whole frames. A bad frame that is not
/// the last is an error.
fn replay(bytes: &[u8], store: &mut LogStore) -> Result<usize, String> {
    let mut at = 0;
    while at < bytes.len() {
        let Some(header) = bytes.get(at..at + 8) else { return Ok(at) };
        let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let end = at + 8 + length as usize;
        if length == 0 || length > FRAME_BYTES_MAX {
            return Err(format!("frame at byte {at} has an impossible length {length}"));
        }
        let Some(body) = bytes.get(at + 8..end) else { return Ok(at) };
        if crc32c::crc32c(body) != crc {
            if end == bytes.len() {
                return Ok(at);
            }
            return Err(format!("frame at byte {at} fails its checksum"));
        }
        apply_frame(body, store).map_err(|e| format!("frame at byte {at}: {e}"))?;
        at = end;
    }
    Ok(at)
}

fn apply_frame(body: &[u8], store: &mut LogStore) -> Result<(), String> {
    match body[0] {
        KIND_ENTRY => {
            let entry = Entry::parse_from_bytes(&body[1..]).map_err(|e| format!("entry does not decode: {e}"))?;
            store.append(&[entry])
        }
        KIND_HARD_STATE => {
            let hard =
                HardState::parse_from_bytes(&body[1..]).map_err(|e| format!("hard state does not decode: {e}"))?;
            store.set_hard_state(hard);
            Ok(())
        }
        kind => Err(format!("unknown frame kind {kind}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64, data: &[u8]) -> Entry {
        Entry { index, term, data: data.to_vec().into(), ..Entry::default() }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("splitd-raftlog-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn what_was_persisted_reopens_with_replaced_suffix_and_hard_state() {
        let dir = temp_dir("reopen");
        let Reopened { mut log, mut store, .. } = DurableLog::open(&dir, &[1, 2, 3]).expect("open");
        store.append(&[entry(1, 1, b"a"), entry(2, 1, b"b")]).expect("append");
        log.persist(&store, Some(1)).expect("persist");
        store.append(&[entry(2, 2, b"c")]).expect("replace");
        store.set_hard_state(HardState { term: 2, vote: 3, commit: 2, ..HardState::default() });
        log.persist(&store, Some(2)).expect("persist");
        drop(log);
        let again = DurableLog::open(&dir, &[1, 2, 3]).expect("reopen");
        assert_eq!(again.store.last(), 2);
        assert_eq!(again.store.entry(2).map(|e| e.data.to_vec()), Some(b"c".to_vec()));
        assert_eq!(again.store.hard_state().vote, 3);
        assert_eq!(again.store.hard_state().commit, 2);
        assert_eq!(again.cut_bytes, 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_last_frame_is_cut_and_damage_before_the_end_is_refused() {
        let dir = temp_dir("torn");
        let Reopened { mut log, mut store, .. } = DurableLog::open(&dir, &[1]).expect("open");
        store.append(&[entry(1, 1, b"first")]).expect("append");
        log.persist(&store, Some(1)).expect("persist");
        store.append(&[entry(2, 1, b"second")]).expect("append");
        log.persist(&store, Some(2)).expect("persist");
        drop(log);
        let path = dir.join(LOG_FILE);
        let whole = std::fs::read(&path).expect("read");
        std::fs::write(&path, &whole[..whole.len() - 3]).expect("tear");
        let torn = DurableLog::open(&dir, &[1]).expect("a torn tail is cut");
        assert_eq!(torn.store.last(), 2, "the torn frame was the last hard state; both entries stay");
        assert!(torn.cut_bytes > 0);
        drop(torn);
        let mut damaged = whole.clone();
        damaged[12] ^= 0xff;
        std::fs::write(&path, &damaged).expect("damage");
        assert!(DurableLog::open(&dir, &[1]).is_err(), "damage before the end is refused");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn snapshot_at(index: u64, term: u64) -> raft::eraftpb::Snapshot {
        let mut snapshot = raft::eraftpb::Snapshot { data: b"image".to_vec().into(), ..Default::default() };
        snapshot.mut_metadata().index = index;
        snapshot.mut_metadata().term = term;
        snapshot.mut_metadata().mut_conf_state().voters = vec![1];
        snapshot
    }

    #[test]
    fn a_compacted_log_is_rewritten_short_and_reopens_as_snapshot_plus_tail() {
        let dir = temp_dir("compact");
        let Reopened { mut log, mut store, .. } = DurableLog::open(&dir, &[1]).expect("open");
        let entries: Vec<Entry> = (1..=5).map(|i| entry(i, 1, &[b'x'; 100])).collect();
        store.append(&entries).expect("append");
        store.set_hard_state(HardState { term: 1, vote: 1, commit: 4, ..HardState::default() });
        log.persist(&store, Some(1)).expect("persist");
        let before = std::fs::metadata(dir.join(LOG_FILE)).expect("stat").len();
        snapshot::write(&dir, &snapshot_at(3, 1)).expect("snapshot durable first");
        store.compact(snapshot_at(3, 1)).expect("compact");
        log.compacted(&store).expect("rewrite");
        let after = std::fs::metadata(dir.join(LOG_FILE)).expect("stat").len();
        assert!(after < before / 2, "the rewritten log holds only the tail: {before} -> {after} bytes");
        store.append(&[entry(6, 1, b"six")]).expect("append");
        log.persist(&store, Some(6)).expect("persist after the rewrite");
        drop(log);
        let again = DurableLog::open(&dir, &[1]).expect("reopen");
        assert_eq!((again.store.offset(), again.store.last()), (3, 6));
        assert_eq!(again.store.latest_snapshot().data.to_vec(), b"image".to_vec());
        assert_eq!(again.store.entry(6).map(|e| e.data.to_vec()), Some(b"six".to_vec()));
        assert_eq!(again.store.hard_state().commit, 4);
        drop(again);
        std::fs::remove_file(dir.join(snapshot::SNAPSHOT_FILE)).expect("lose the snapshot");
        let refused = DurableLog::open(&dir, &[1]).err().unwrap_or_default();
        assert!(refused.contains("gap"), "a log that no longer starts at 1 is refused: {refused}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_crash_between_the_snapshot_and_the_log_rewrite_reopens_at_the_snapshot() {
        let dir = temp_dir("between");
        let Reopened { mut log, mut store, .. } = DurableLog::open(&dir, &[1]).expect("open");
        store.append(&[entry(1, 1, b"old"), entry(2, 1, b"old")]).expect("append");
        log.persist(&store, Some(1)).expect("persist");
        drop(log);
        let mut snapshot = snapshot_at(40, 3);
        let mut image = Vec::new();
        crate::store::snapshot::write_image(&crate::machine::Machine::new(), &mut image).expect("image");
        snapshot.data = image.into();
        snapshot::write(&dir, &snapshot).expect("the snapshot, then the crash");
        let again = DurableLog::open(&dir, &[1]).expect("reopen");
        assert_eq!((again.store.offset(), again.store.last(), again.store.hard_state().commit), (40, 40, 40));
        let (replica, _) =
            super::super::replica::Replica::start(1, again.store, &super::super::discard_logger()).expect("starts");
        assert_eq!(replica.applied(), 40);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_installed_snapshot_survives_a_restart_and_its_loss_is_refused() {
        let dir = temp_dir("install");
        let Reopened { mut log, mut store, .. } = DurableLog::open(&dir, &[1]).expect("open");
        store.append(&[entry(1, 1, b"old")]).expect("append");
        log.persist(&store, Some(1)).expect("persist");
        store.install(snapshot_at(40, 3));
        log.install(&store).expect("install");
        drop(log);
        let again = DurableLog::open(&dir, &[1]).expect("reopen");
        assert_eq!((again.store.offset(), again.store.last(), again.store.hard_state().commit), (40, 40, 40));
        drop(again);
        std::fs::remove_file(dir.join(snapshot::SNAPSHOT_FILE)).expect("lose the snapshot");
        let refused = DurableLog::open(&dir, &[1]).err().unwrap_or_default();
        assert!(refused.contains("commit index 40"), "committed entries gone are refused: {refused}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
