//! Recovery: load the snapshot, replay the log after it, and refuse a directory that cannot be whole.
//!
//! Rules (docs/operations.md, "Recovery"):
//! - **Torn tail**: an incomplete final line (no newline) at the end of the last segment is a write a
//!   crash interrupted; its fsync never returned, so it was never acknowledged. It is cut off, with a
//!   warning. Nothing else is ever cut.
//! - **Corruption**: a complete (newline-terminated) line that fails its checksum or does not parse —
//!   anywhere, the last line included, since it may have been synced and acknowledged — an incomplete
//!   line ending any other segment, a record whose sequence number is not the next one or not the one
//!   its segment's name and position give, or a record that does not fit the state.
//! - **Loss**: the log must continue the state without a hole. A segment is named after its first
//!   sequence number, so a first segment starting after `snapshot seq + 1` (no snapshot: after 1), or a
//!   segment starting after the previous one ends, means records are missing (a deleted or stale
//!   `snapshot.json`, a deleted segment) — even when that segment is empty, as after a clean stop.
//!
//! Corruption and loss refuse to start, naming the file (and the byte offset), and touch nothing.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use super::{snapshot, wal};
use crate::machine::Machine;

pub struct Recovered {
    pub machine: Machine,
    /// The last record's sequence number (the snapshot's if the log adds nothing).
    pub last_seq: u64,
    /// The segment to keep appending to, by its first sequence number (`None`: start a new one,
    /// because there is none or the last one ends before `last_seq`, all covered by the snapshot).
    pub open_segment: Option<u64>,
    pub records_replayed: u64,
    /// Human-readable warnings (a cut torn tail).
    pub warnings: Vec<String>,
}

/// Log segments in `dir`, sorted by first sequence number.
pub fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        if let Some(first) = entry.file_name().to_str().and_then(wal::segment_first_seq) {
            found.push((first, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Replay in progress: the state and where the log has reached.
struct Replay {
    machine: Machine,
    /// `None` without a snapshot; records up to its sequence number are already in `machine`.
    snapshot_seq: Option<u64>,
    last_seq: u64,
    replayed: u64,
}

/// What one segment held.
struct Scanned {
    /// The sequence number after the segment's last record (its name's if it is empty).
    end_seq: u64,
    /// The byte offset of a torn final line to cut, in the last segment only.
    torn_at: Option<usize>,
}

pub fn recover(dir: &Path) -> Result<Recovered, String> {
    let (snapshot_seq, machine) = match snapshot::read(dir)? {
        Some((seq, machine)) => (Some(seq), machine),
        None => (None, Machine::new()),
    };
    let segments = segments(dir)?;
    let mut replay = Replay { machine, snapshot_seq, last_seq: snapshot_seq.unwrap_or(0), replayed: 0 };
    let mut warnings = Vec::new();
    let mut truncate: Option<(&Path, usize)> = None;
    let mut open_segment = None;
    for (index, (first, path)) in segments.iter().enumerate() {
        replay.check_continues(dir, index, *first, path)?;
        let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let is_last = index + 1 == segments.len();
        let scanned = replay.segment(*first, path, &bytes, is_last)?;
        if let Some(offset) = scanned.torn_at {
            warnings.push(format!(
                "{}: cut a torn final record at byte {offset} ({} bytes, no newline): a write a crash \
                 interrupted, never acknowledged",
                path.display(),
                bytes.len() - offset
            ));
            truncate = Some((path, offset));
        }
        // Keep appending to the last segment only where its next record would be the next one.
        open_segment = (is_last && scanned.end_seq == replay.last_seq + 1).then_some(*first);
    }
    let Replay { machine, last_seq, replayed, .. } = replay;
    machine.check_invariants().map_err(|e| format!("recovered state is inconsistent: {e}"))?;
    if let Some((path, len)) = truncate {
        let file = OpenOptions::new().write(true).open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        file.set_len(len as u64).and_then(|_| file.sync_all()).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(Recovered { machine, last_seq, open_segment, records_replayed: replayed, warnings })
}

impl Replay {
    /// Refuses a segment that starts after the record the state needs next: records are missing.
    fn check_continues(&self, dir: &Path, index: usize, first: u64, path: &Path) -> Result<(), String> {
        let next = self.last_seq + 1;
        if first <= next {
            return Ok(());
        }
        let missing = format!("records {next}..{} are missing", first - 1);
        let snapshot = snapshot::snapshot_path(dir);
        let why = match (index, self.snapshot_seq) {
            (0, None) => format!("there is no snapshot ({} is missing): {missing}", snapshot.display()),
            (0, Some(seq)) => format!("the snapshot ({}) is at sequence {seq}: {missing}", snapshot.display()),
            _ => format!("the previous segment ends at sequence {}: {missing}", self.last_seq),
        };
        Err(format!(
            "{}: the log segment starts at sequence {first}, but {why}; refusing to start (files left \
             untouched; restore the missing files or a backup)",
            path.display()
        ))
    }

    /// Checks and applies one segment's records (those after the snapshot).
    fn segment(&mut self, first: u64, path: &Path, bytes: &[u8], is_last: bool) -> Result<Scanned, String> {
        let corrupt = |offset: usize, why: &str| {
            format!(
                "{}: corrupt record at byte {offset}: {why}; refusing to start (files left untouched)",
                path.display()
            )
        };
        let mut offset = 0usize;
        let mut expected = first;
        // One record read over the last: a transaction's memory is reused from line to line.
        let mut slot = None;
        while offset < bytes.len() {
            let Some(len) = memchr::memchr(b'\n', &bytes[offset..]) else {
                if is_last {
                    return Ok(Scanned { end_seq: expected, torn_at: Some(offset) });
                }
                return Err(corrupt(offset, "an incomplete line ends a segment that is not the last"));
            };
            let seq = wal::decode_line_into(&bytes[offset..offset + len], &mut slot).map_err(|e| match e {
                wal::LineError::Checksum => corrupt(offset, "a complete line fails its checksum"),
                wal::LineError::Malformed(why) => corrupt(offset, &format!("a complete line does not parse ({why})")),
            })?;
            let record = slot.as_ref().ok_or_else(|| corrupt(offset, "nothing read"))?;
            let replays = self.snapshot_seq.is_none_or(|s| seq > s);
            if replays && seq != self.last_seq + 1 {
                return Err(format!(
                    "{}: record at byte {offset} has sequence {seq}, expected {}; refusing to start",
                    path.display(),
                    self.last_seq + 1
                ));
            }
            if seq != expected {
                return Err(format!(
                    "{}: record at byte {offset} has sequence {seq}, but the segment's name and position say \
                     {expected}; refusing to start",
                    path.display()
                ));
            }
            if replays {
                self.machine.apply(record).map_err(|e| {
                    format!("{}: record {seq} at byte {offset} does not apply: {e}; refusing to start", path.display())
                })?;
                self.last_seq = seq;
                self.replayed += 1;
            }
            expected += 1;
            offset += len + 1;
        }
        Ok(Scanned { end_seq: expected, torn_at: None })
    }
}
