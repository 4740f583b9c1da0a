//! The write-ahead log: one checksummed record a line, group-committed.
//!
//! Line format: `<crc32c as 8 hex digits> <seq> <record JSON>\n`, the checksum covering `<seq> <json>`.
//! Sequence numbers are contiguous, and a segment file is named after its first one, so recovery
//! detects a gap, a reordering or a missing file (`recover`). `append` only buffers.
//! A batch is everything buffered, written with one `write` and made durable with one `fdatasync`
//! (policy permitting): on the sync thread while the loop goes on (`start_sync`, `poll_done`), or
//! here and now (`commit`: snapshots, shutdown, import, tests).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::binlog;
use super::syncer::Syncer;
use crate::config::FsyncPolicy;
use crate::machine::Record;

/// The log segment file that starts at `first_seq`.
pub fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("wal-{first_seq:020}.log"))
}

/// The first sequence number of a segment, from its file name.
pub fn segment_first_seq(name: &str) -> Option<u64> {
    name.strip_prefix("wal-")?.strip_suffix(".log")?.parse().ok()
}

/// Appends one encoded record line to `out` (`scratch`: a buffer for the binary form, reused).
pub fn encode_line(seq: u64, record: &Record, scratch: &mut Vec<u8>, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(b"00000000 ");
    let body_start = out.len();
    let _ = write!(out, "{seq} ");
    if !binlog::encode(record, scratch, out) {
        // Serialising a record into memory cannot fail (no maps with non-string keys, no I/O).
        let _ = serde_json::to_writer(&mut *out, record);
    }
    let crc = crc32c::crc32c(&out[body_start..]);
    out[start..start + 8].copy_from_slice(format!("{crc:08x}").as_bytes());
    out.push(b'\n');
}

/// Why a line is not a valid record.
#[derive(Debug, PartialEq, Eq)]
pub enum LineError {
    Checksum,
    Malformed(String),
}

/// Decodes one line (without its newline) into `(seq, record)`.
pub fn decode_line(line: &[u8]) -> Result<(u64, Record), LineError> {
    let mut slot = None;
    let seq = decode_line_into(line, &mut slot)?;
    Ok((seq, slot.ok_or_else(|| LineError::Malformed("nothing read".into()))?))
}

/// `decode_line`, the record into `slot` (reusing a transaction's memory where it can: `binlog`).
pub fn decode_line_into(line: &[u8], slot: &mut Option<Record>) -> Result<u64, LineError> {
    let malformed = |why: &str| LineError::Malformed(why.to_string());
    if line.len() < 10 || line[8] != b' ' {
        return Err(malformed("too short"));
    }
    let crc_text = std::str::from_utf8(&line[..8]).map_err(|_| malformed("bad checksum field"))?;
    let crc = u32::from_str_radix(crc_text, 16).map_err(|_| malformed("bad checksum field"))?;
    let body = &line[9..];
    if crc32c::crc32c(body) != crc {
        return Err(LineError::Checksum);
    }
    let space = body.iter().position(|&b| b == b' ').ok_or_else(|| malformed("no sequence number"))?;
    let seq: u64 = std::str::from_utf8(&body[..space])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| malformed("bad sequence number"))?;
    match &body[space + 1..] {
        [binlog::MARK, binary @ ..] => binlog::decode_into(binary, slot).map_err(LineError::Malformed)?,
        json => *slot = Some(serde_json::from_slice(json).map_err(|e| LineError::Malformed(e.to_string()))?),
    }
    Ok(seq)
}

pub struct Wal {
    dir: PathBuf,
    /// The current segment; shared with the sync thread, which writes through `&File`.
    file: Arc<File>,
    fsync: FsyncPolicy,
    pending: Vec<u8>,
    /// Where a record's binary form is built before its base64 goes into `pending`.
    scratch: Vec<u8>,
    next_seq: u64,
    segment_bytes: u64,
    /// Batches of log bytes are numbered 1, 2, 3, ... in the order they are written; `durable` is the
    /// last one known to be on disk, `inflight` the one the sync thread is writing.
    durable: u64,
    inflight: Option<u64>,
    syncer: Option<Syncer<SyncJob>>,
}

/// One batch for the sync thread: the bytes and the segment to append them to.
type SyncJob = (Vec<u8>, Arc<File>);

fn write_batch(file: &File, bytes: &[u8], fsync: FsyncPolicy) -> io::Result<()> {
    let mut writer = file;
    writer.write_all(bytes)?;
    if fsync == FsyncPolicy::Always {
        file.sync_data()?;
    }
    Ok(())
}

impl Wal {
    /// Opens (creating if needed) the segment starting at `first_seq` for appending; `next_seq` is the
    /// sequence number the next record gets.
    pub fn open(dir: &Path, first_seq: u64, next_seq: u64, fsync: FsyncPolicy) -> io::Result<Wal> {
        let (file, segment_bytes) = open_segment(dir, first_seq)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            file,
            fsync,
            pending: Vec::new(),
            scratch: Vec::new(),
            next_seq,
            segment_bytes,
            durable: 0,
            inflight: None,
            syncer: None,
        })
    }

    /// Moves writing and fsyncing to a thread; `wake` is called when a batch is done.
    pub fn start_syncer(&mut self, wake: impl Fn() + Send + 'static) -> io::Result<()> {
        let fsync = self.fsync;
        let work =
            move |batch: Vec<SyncJob>| batch.iter().try_for_each(|(bytes, file)| write_batch(file, bytes, fsync));
        self.syncer = Some(Syncer::start("splitd-wal", work, wake)?);
        Ok(())
    }

    pub fn append(&mut self, record: &Record) {
        encode_line(self.next_seq, record, &mut self.scratch, &mut self.pending);
        self.next_seq += 1;
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The batch that will hold everything appended so far: replies produced now may leave once it
    /// is durable.
    pub fn needed(&self) -> u64 {
        let last_started = self.inflight.unwrap_or(self.durable);
        if self.pending.is_empty() {
            last_started
        } else {
            last_started + 1
        }
    }

    pub fn durable(&self) -> u64 {
        self.durable
    }

    /// Hands the pending bytes to the sync thread if it is idle (without one: writes them here).
    pub fn start_sync(&mut self) -> io::Result<()> {
        if self.pending.is_empty() || self.inflight.is_some() {
            return Ok(());
        }
        let Some(syncer) = &self.syncer else {
            return self.commit();
        };
        let id = self.durable + 1;
        let bytes = std::mem::take(&mut self.pending);
        self.segment_bytes += bytes.len() as u64;
        syncer.send(id, (bytes, Arc::clone(&self.file)))?;
        self.inflight = Some(id);
        Ok(())
    }

    /// A batch the sync thread finished, if any: its id, or the error that must stop the server.
    pub fn poll_done(&mut self) -> Option<io::Result<u64>> {
        let (id, result) = self.syncer.as_ref()?.poll()?;
        Some(self.finished(id, result))
    }

    fn finished(&mut self, id: u64, result: io::Result<()>) -> io::Result<u64> {
        result?;
        self.inflight = None;
        self.durable = id;
        Ok(id)
    }

    /// Writes and syncs everything appended so far, here, waiting for a batch in flight first. On
    /// error the caller must stop without acknowledging: the records may or may not be on disk.
    pub fn commit(&mut self) -> io::Result<()> {
        if self.inflight.is_some() {
            match self.syncer.as_ref().and_then(|s| s.wait()) {
                Some((id, result)) => {
                    self.finished(id, result)?;
                }
                _ => return Err(io::Error::other("the log sync thread has stopped")),
            }
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        write_batch(&self.file, &self.pending, self.fsync)?;
        self.durable += 1;
        self.segment_bytes += self.pending.len() as u64;
        self.pending.clear();
        if self.pending.capacity() > 1 << 20 {
            self.pending = Vec::new();
        }
        Ok(())
    }

    /// The sequence number of the last committed-or-pending record (0 if none ever).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    pub fn segment_bytes(&self) -> u64 {
        self.segment_bytes
    }

    /// Starts a new segment for records after the current last one (after a snapshot).
    pub fn rotate(&mut self) -> io::Result<()> {
        self.commit()?;
        let (file, segment_bytes) = open_segment(&self.dir, self.next_seq)?;
        self.file = file;
        self.segment_bytes = segment_bytes;
        Ok(())
    }
}

fn open_segment(dir: &Path, first_seq: u64) -> io::Result<(Arc<File>, u64)> {
    let path = segment_path(dir, first_seq);
    let created = !path.exists();
    let file = OpenOptions::new().create(true).append(true).open(&path)?;
    if created {
        super::sync_dir(dir)?;
    }
    let bytes = file.metadata()?.len();
    Ok((Arc::new(file), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_detect_damage() {
        let record = Record::MemberJoined { group: 3, user: 4, at: 5, seq: None };
        let mut out = Vec::new();
        encode_line(42, &record, &mut Vec::new(), &mut out);
        assert_eq!(out.last(), Some(&b'\n'));
        let line = &out[..out.len() - 1];
        assert_eq!(decode_line(line), Ok((42, record)));
        let mut damaged = line.to_vec();
        let last = damaged.len() - 2;
        damaged[last] ^= 1;
        assert_eq!(decode_line(&damaged), Err(LineError::Checksum));
        assert!(matches!(decode_line(b"garbage"), Err(LineError::Malformed(_))));
        assert!(matches!(decode_line(&line[..20]), Err(LineError::Checksum)));
    }

    #[test]
    fn segment_names_sort_by_sequence() {
        let dir = Path::new("/d");
        let a = segment_path(dir, 9);
        let b = segment_path(dir, 10);
        assert!(a.file_name() < b.file_name());
        assert_eq!(segment_first_seq("wal-00000000000000000010.log"), Some(10));
        assert_eq!(segment_first_seq("snapshot.json"), None);
    }
}
