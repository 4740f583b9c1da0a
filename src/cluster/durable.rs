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
use raft::eraftpb::{Entry, HardState, Snapshot};

use super::log_store::LogStore;
use super::replica::Persist;
use super::snapshot;
use crate::store::snapshot::{replace, write_synced};
use crate::store::syncer::Syncer;

pub const LOG_FILE: &str = "raft.log";
const LOG_TMP: &str = "raft.log.tmp";
const KIND_ENTRY: u8 = 1;
const KIND_HARD_STATE: u8 = 2;
/// A frame longer than this is corruption (an entry is one command's records, far below it).
const FRAME_BYTES_MAX: u32 = 64 * 1024 * 1024;

/// The loop's side: encodes frames and numbers the writes; the file itself is `LogFile`'s, on the
/// sync thread once `start_syncer` ran (before that, and in tests, each write is done at once).
pub struct DurableLog {
    file: Option<LogFile>,
    syncer: Option<Syncer<Job>>,
    /// The last write handed over, and the last one done without a thread (not yet reported).
    submitted: u64,
    done_here: Option<u64>,
    scratch: Vec<u8>,
}

/// One write for the file, in the order they were asked for.
enum Job {
    /// Frames to append; `sync`: they must be on disk before the write counts as done (an entry,
    /// a vote, a term), unlike a hard state whose only change is the commit index.
    Append { bytes: Vec<u8>, sync: bool },
    /// The whole file anew (compaction behind a snapshot).
    Rewrite(Vec<u8>),
    /// A leader's snapshot to `raft.snap`, then the file anew.
    Install { snapshot: Box<Snapshot>, log: Vec<u8> },
}

/// `raft.log` and its directory: runs the jobs.
struct LogFile {
    file: File,
    dir: PathBuf,
    path: PathBuf,
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
        let file = LogFile { file, dir: dir.to_path_buf(), path };
        let log = DurableLog { file: Some(file), syncer: None, submitted: 0, done_here: None, scratch: Vec::new() };
        Ok(Reopened { log, store, cut_bytes })
    }

    /// Moves the writes to a thread (`store::syncer`); `wake` is called when a batch is done.
    pub fn start_syncer(&mut self, wake: impl Fn() + Send + 'static) -> Result<(), String> {
        let Some(mut file) = self.file.take() else { return Ok(()) };
        let syncer = Syncer::start("splitd-raft-log", move |batch| file.run(batch), wake);
        self.syncer = Some(syncer.map_err(|e| format!("cannot start the raft log thread: {e}"))?);
        Ok(())
    }

    /// The last write known done, if one finished since the last call; an error is fatal.
    pub fn poll_done(&mut self) -> Option<Result<u64, String>> {
        if let Some(number) = self.done_here.take() {
            return Some(Ok(number));
        }
        let (number, result) = self.syncer.as_ref()?.poll()?;
        Some(result.map(|()| number).map_err(not_durable))
    }

    /// Waits until every write handed over is done (tests; the loop never waits).
    pub fn wait_all(&mut self) -> Result<u64, String> {
        let mut done = self.done_here.take().unwrap_or(0);
        while done < self.submitted {
            let Some((number, result)) = self.syncer.as_ref().and_then(|s| s.wait()) else {
                return Err("the raft log thread has stopped".to_string());
            };
            result.map_err(not_durable)?;
            done = number;
        }
        Ok(done)
    }

    /// Hands job `number` to the thread, or does it here.
    fn submit(&mut self, number: u64, job: Job) -> Result<(), String> {
        self.submitted = self.submitted.max(number);
        if let Some(syncer) = &self.syncer {
            return syncer.send(self.submitted, job).map_err(not_durable);
        }
        let Some(file) = self.file.as_mut() else { return Err("the raft log is closed".to_string()) };
        file.run(vec![job]).map_err(not_durable)?;
        self.done_here = Some(self.submitted);
        Ok(())
    }

    /// The frames of every entry after the store's snapshot and its hard state: the whole file.
    fn whole(&mut self, store: &LogStore) -> Result<Vec<u8>, String> {
        self.scratch.clear();
        self.write_entries(store, store.offset() + 1)?;
        self.write_hard_state(store)?;
        Ok(std::mem::take(&mut self.scratch))
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
    /// Queues the entries from `new_from` on and the hard state.
    fn persist(&mut self, store: &LogStore, new_from: Option<u64>, number: u64, sync: bool) -> Result<(), String> {
        self.scratch.clear();
        if let Some(from) = new_from {
            self.write_entries(store, from)?;
        }
        self.write_hard_state(store)?;
        let bytes = std::mem::take(&mut self.scratch);
        self.submit(number, Job::Append { bytes, sync })
    }

    /// Writes the leader's snapshot to `raft.snap`, then the log without what it replaced, and
    /// waits for it (and every write before it).
    fn install(&mut self, store: &LogStore, number: u64) -> Result<(), String> {
        let log = self.whole(store)?;
        let snapshot = Box::new(store.latest_snapshot().clone());
        self.submit(number, Job::Install { snapshot, log })?;
        self.wait_all().map(|_| ())
    }

    /// `raft.snap` is durable already (`snapshot::adopt_taking`): the log without what it covers.
    fn compacted(&mut self, store: &LogStore) -> Result<(), String> {
        let log = self.whole(store)?;
        self.submit(self.submitted, Job::Rewrite(log))
    }
}

impl LogFile {
    /// One batch: appends written, rewrites done, then one `fdatasync` if an append needs it.
    fn run(&mut self, batch: Vec<Job>) -> io::Result<()> {
        let mut unsynced = false;
        for job in batch {
            match job {
                Job::Append { bytes, sync } => {
                    self.file.write_all(&bytes)?;
                    unsynced |= sync;
                }
                // The new file holds what the appends before it wrote (the store had them).
                Job::Rewrite(log) => {
                    self.rewrite(&log)?;
                    unsynced = false;
                }
                Job::Install { snapshot, log } => {
                    snapshot::write(&self.dir, &snapshot).map_err(io::Error::other)?;
                    self.rewrite(&log)?;
                    unsynced = false;
                }
            }
        }
        if unsynced {
            self.file.sync_data()?;
        }
        Ok(())
    }

    /// Replaces the file with `bytes`, atomically, and appends to the new one from now on.
    fn rewrite(&mut self, bytes: &[u8]) -> io::Result<()> {
        write_synced(&self.dir.join(LOG_TMP), &[bytes])?;
        replace(&self.dir, LOG_TMP, LOG_FILE)?;
        self.file = open_append(&self.path).map_err(io::Error::other)?;
        Ok(())
    }
}

/// Why a write failed, for the fatal stop.
fn not_durable(err: io::Error) -> String {
    format!("cannot make {LOG_FILE} durable: {err}")
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
        log.start_syncer(|| {}).expect("the thread writes");
        store.append(&[entry(1, 1, b"a"), entry(2, 1, b"b")]).expect("append");
        log.persist(&store, Some(1), 1, true).expect("persist");
        store.append(&[entry(2, 2, b"c")]).expect("replace");
        store.set_hard_state(HardState { term: 2, vote: 3, commit: 2, ..HardState::default() });
        log.persist(&store, Some(2), 2, true).expect("persist");
        assert_eq!(log.wait_all(), Ok(2), "both writes reported done");
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
        log.persist(&store, Some(1), 1, true).expect("persist");
        store.append(&[entry(2, 1, b"second")]).expect("append");
        log.persist(&store, Some(2), 2, true).expect("persist");
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
        log.start_syncer(|| {}).expect("the thread writes");
        let entries: Vec<Entry> = (1..=5).map(|i| entry(i, 1, &[b'x'; 100])).collect();
        store.append(&entries).expect("append");
        store.set_hard_state(HardState { term: 1, vote: 1, commit: 4, ..HardState::default() });
        log.persist(&store, Some(1), 1, true).expect("persist");
        assert_eq!(log.wait_all(), Ok(1));
        let before = std::fs::metadata(dir.join(LOG_FILE)).expect("stat").len();
        snapshot::write(&dir, &snapshot_at(3, 1)).expect("snapshot durable first");
        store.compact(snapshot_at(3, 1)).expect("compact");
        log.compacted(&store).expect("rewrite");
        assert_eq!(log.wait_all(), Ok(1), "a rewrite reports the last write's number again");
        let after = std::fs::metadata(dir.join(LOG_FILE)).expect("stat").len();
        assert!(after < before / 2, "the rewritten log holds only the tail: {before} -> {after} bytes");
        store.append(&[entry(6, 1, b"six")]).expect("append");
        log.persist(&store, Some(6), 2, true).expect("persist after the rewrite");
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
        log.persist(&store, Some(1), 1, true).expect("persist");
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
        log.persist(&store, Some(1), 1, true).expect("persist");
        store.install(snapshot_at(40, 3));
        log.install(&store, 2).expect("install");
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
