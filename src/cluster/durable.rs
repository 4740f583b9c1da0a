//! The raft log on disk: one append-only file, `raft.log` in the data directory, holding every
//! entry and hard state a `Ready` produced, made durable (`fdatasync`) before the messages that
//! depend on it leave.
//!
//! Frame format: `<u32 LE body length> <u32 LE crc32c of body> <body>`, the body a kind byte
//! (`1` an entry, `2` a hard state) and the rust-protobuf encoding of it. Replaying in order
//! rebuilds the `LogStore`: a later entry at an index already held replaces that suffix, exactly
//! as the append did. A torn last frame (a crash mid-write) is cut; a bad frame before the end is
//! corruption and refused.
//!
//! Owns the file and its format; does not decide what is written (`replica`).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use protobuf::Message as _;
use raft::eraftpb::{Entry, HardState};

use super::log_store::LogStore;
use super::replica::Persist;

pub const LOG_FILE: &str = "raft.log";
const KIND_ENTRY: u8 = 1;
const KIND_HARD_STATE: u8 = 2;
/// A frame longer than this is corruption (an entry is one command's records, far below it).
const FRAME_BYTES_MAX: u32 = 64 * 1024 * 1024;

pub struct DurableLog {
    file: File,
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
    /// Opens (or creates) `dir/raft.log` and replays it into a store for `voters`.
    pub fn open(dir: &Path, voters: &[u64]) -> Result<Reopened, String> {
        let path = dir.join(LOG_FILE);
        let shown = path.display().to_string();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| format!("cannot open {shown}: {e}"))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let mut store = LogStore::new(voters);
        let good = replay(&bytes, &mut store).map_err(|e| format!("{shown}: {e}"))?;
        let cut_bytes = (bytes.len() - good) as u64;
        if cut_bytes > 0 {
            file.set_len(good as u64).map_err(|e| format!("cannot cut the torn end of {shown}: {e}"))?;
            file.sync_all().map_err(|e| format!("cannot sync {shown}: {e}"))?;
        }
        Ok(Reopened { log: DurableLog { file, path, scratch: Vec::new() }, store, cut_bytes })
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
            for index in from..=store.last() {
                let Some(entry) = store.entry(index) else { break };
                let body = entry.write_to_bytes().map_err(|e| format!("entry {index} does not encode: {e}"))?;
                self.write_frame(KIND_ENTRY, &body);
            }
        }
        let body = store.hard_state().write_to_bytes().map_err(|e| format!("hard state does not encode: {e}"))?;
        self.write_frame(KIND_HARD_STATE, &body);
        let written = self.file.write_all(&self.scratch).and_then(|()| self.file.sync_data());
        written.map_err(|e: io::Error| format!("cannot make {} durable: {e}", self.path.display()))
    }
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
}
