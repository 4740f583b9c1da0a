//! Recovery: load the snapshot, replay the log after it.
//!
//! Rules: a bad or unterminated record at the very end of the last segment is a torn write that was
//! never acknowledged (the fsync covering it never returned): it is cut off with a warning. A bad
//! record with anything valid after it, a gap in sequence numbers, or a record that does not fit the
//! state is corruption: recovery refuses, naming the file and byte offset, and touches nothing.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use super::{snapshot, wal};
use crate::machine::Machine;

pub struct Recovered {
    pub machine: Machine,
    /// The last record's sequence number (the snapshot's if the log adds nothing).
    pub last_seq: u64,
    /// The segment to keep appending to, by its first sequence number (`None`: start a new one).
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

pub fn recover(dir: &Path) -> Result<Recovered, String> {
    let (snapshot_seq, mut machine) = match snapshot::read(dir)? {
        Some((seq, machine)) => (seq, machine),
        None => (0, Machine::new()),
    };
    let segments = segments(dir)?;
    let mut last_seq = snapshot_seq;
    let mut replayed = 0;
    let mut warnings = Vec::new();
    let mut truncate: Option<(PathBuf, u64)> = None;
    for (index, (_, path)) in segments.iter().enumerate() {
        let is_last_segment = index + 1 == segments.len();
        let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut offset = 0usize;
        while offset < bytes.len() {
            let (line, terminated) = match bytes[offset..].iter().position(|&b| b == b'\n') {
                Some(n) => (&bytes[offset..offset + n], true),
                None => (&bytes[offset..], false),
            };
            let next_offset = offset + line.len() + 1;
            let decoded = if terminated { wal::decode_line(line).ok() } else { None };
            let Some((seq, record)) = decoded else {
                let rest = bytes.get(next_offset..).unwrap_or(&[]);
                let valid_after = rest.split(|&b| b == b'\n').any(|l| wal::decode_line(l).is_ok());
                if is_last_segment && !valid_after {
                    warnings.push(format!(
                        "{}: cut a torn final record at byte {offset} ({} bytes); it was never acknowledged",
                        path.display(),
                        bytes.len() - offset
                    ));
                    truncate = Some((path.clone(), offset as u64));
                    break;
                }
                return Err(format!(
                    "{}: corrupt record at byte {offset} followed by more data; refusing to start \
                     (files left untouched)",
                    path.display()
                ));
            };
            if seq > snapshot_seq {
                if seq != last_seq + 1 {
                    return Err(format!(
                        "{}: record at byte {offset} has sequence {seq}, expected {}; refusing to start",
                        path.display(),
                        last_seq + 1
                    ));
                }
                machine.apply(&record).map_err(|e| {
                    format!("{}: record {seq} at byte {offset} does not apply: {e}; refusing to start", path.display())
                })?;
                last_seq = seq;
                replayed += 1;
            }
            offset = next_offset;
        }
    }
    machine.check_invariants().map_err(|e| format!("recovered state is inconsistent: {e}"))?;
    if let Some((path, len)) = truncate {
        let file = OpenOptions::new().write(true).open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        file.set_len(len).and_then(|_| file.sync_all()).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(Recovered {
        machine,
        last_seq,
        open_segment: segments.last().map(|(first, _)| *first),
        records_replayed: replayed,
        warnings,
    })
}
