//! A cluster member's raft snapshot on disk: `raft.snap` in the data directory, the machine's image
//! as of a committed log index with raft's metadata (index, term, voters). The log before that
//! index is gone from `raft.log` once the snapshot is durable, so a damaged `raft.snap` refuses to
//! start, naming the file; it is never skipped.
//!
//! File format: a header line `splitd-raft-snapshot <format> <crc32c hex> <metadata bytes> <image
//! bytes>\n`, then the rust-protobuf encoding of `SnapshotMetadata`, then the image (the writer of
//! the single node's snapshots, `store::snapshot::write_image`; read back with `load_image`). The
//! checksum covers metadata and image. Written to a temporary file, fsynced, renamed over the old
//! one, directory fsynced (`store::snapshot::{write_synced, replace}`): a crash leaves the old
//! snapshot or the new one, whole; a torn temporary file is removed at start.
//!
//! Two writers: a member's own snapshot is written by a forked child (`write_taking`, then
//! `adopt_taking` in the parent once the child succeeded); a snapshot received from the leader is
//! written by the loop before the member acknowledges it (`write`). Owns the file; not when to
//! snapshot (`node`, `replica`).

use std::fs;
use std::io;
use std::path::Path;

use protobuf::Message as _;
use raft::eraftpb::{Snapshot, SnapshotMetadata};

use crate::machine::Machine;
use crate::store::snapshot::{replace, write_image, write_synced};

pub const SNAPSHOT_FILE: &str = "raft.snap";
/// Where a forked child writes a member's own snapshot.
const TAKING_TMP: &str = "raft.snap.taking";
/// Where a snapshot received from the leader is written.
const INSTALL_TMP: &str = "raft.snap.tmp";
const MAGIC: &str = "splitd-raft-snapshot";
const FORMAT: u32 = 1;

/// The header line and encoded metadata for `image` at `meta`.
fn header(meta: &SnapshotMetadata, image: &[u8]) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let meta = meta.write_to_bytes().map_err(io::Error::other)?;
    let mut crc = crc32c::crc32c(&meta);
    crc = crc32c::crc32c_append(crc, image);
    let line = format!("{MAGIC} {FORMAT} {crc:08x} {} {}\n", meta.len(), image.len());
    Ok((line.into_bytes(), meta))
}

/// In the forked child: the machine's image at `meta`, written and synced to the temporary file.
pub fn write_taking(dir: &Path, machine: &Machine, meta: &SnapshotMetadata) -> io::Result<()> {
    let mut image = Vec::new();
    write_image(machine, &mut image)?;
    let (line, meta) = header(meta, &image)?;
    write_synced(&dir.join(TAKING_TMP), &[&line, &meta, &image])
}

/// In the parent, once the child succeeded: reads the child's file back (checked), makes it
/// `raft.snap`, and returns it. It must be the snapshot asked for at `expected`.
pub fn adopt_taking(dir: &Path, expected: &SnapshotMetadata) -> Result<Snapshot, String> {
    let path = dir.join(TAKING_TMP);
    let bytes = fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let snapshot = decode(bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    if snapshot.get_metadata() != expected {
        return Err(format!("{}: not the snapshot that was asked for", path.display()));
    }
    replace(dir, TAKING_TMP, SNAPSHOT_FILE).map_err(|e| format!("cannot install {}: {e}", path.display()))?;
    Ok(snapshot)
}

/// Removes the child's file (it failed, or a leader's newer snapshot arrived meanwhile).
pub fn discard_taking(dir: &Path) {
    let _ = fs::remove_file(dir.join(TAKING_TMP));
}

/// Durably replaces `raft.snap` with `snapshot` (one received from the leader).
pub fn write(dir: &Path, snapshot: &Snapshot) -> Result<(), String> {
    let (line, meta) = header(snapshot.get_metadata(), &snapshot.data).map_err(|e| e.to_string())?;
    write_synced(&dir.join(INSTALL_TMP), &[&line, &meta, &snapshot.data])
        .and_then(|()| replace(dir, INSTALL_TMP, SNAPSHOT_FILE))
        .map_err(|e| format!("cannot write {}: {e}", dir.join(SNAPSHOT_FILE).display()))
}

/// The snapshot in `dir`, if any. Temporary files a crash left are removed (the snapshot they were
/// to replace is still whole); a damaged `raft.snap` is an error.
pub fn read(dir: &Path) -> Result<Option<Snapshot>, String> {
    discard_taking(dir);
    let _ = fs::remove_file(dir.join(INSTALL_TMP));
    let path = dir.join(SNAPSHOT_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(format!("cannot read {}: {err}", path.display())),
    };
    decode(bytes).map(Some).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses and checks a snapshot file's bytes; the image is shared, not copied.
fn decode(bytes: Vec<u8>) -> Result<Snapshot, String> {
    let newline = bytes.iter().position(|&b| b == b'\n').ok_or("no header line: the snapshot is damaged")?;
    let line = std::str::from_utf8(&bytes[..newline]).map_err(|_| "the header is not text")?;
    let fields: Vec<&str> = line.split(' ').collect();
    let [magic, format, crc, meta_len, image_len] = fields[..] else {
        return Err("malformed header".to_string());
    };
    if magic != MAGIC {
        return Err("not a splitd raft snapshot".to_string());
    }
    if format.parse::<u32>().map_err(|_| "malformed format")? > FORMAT {
        return Err(format!("written by a newer splitd (format {format}; this one reads {FORMAT})"));
    }
    let crc = u32::from_str_radix(crc, 16).map_err(|_| "malformed checksum")?;
    let meta_len: usize = meta_len.parse().map_err(|_| "malformed length")?;
    let image_len: usize = image_len.parse().map_err(|_| "malformed length")?;
    let body = &bytes[newline + 1..];
    if body.len() != meta_len.saturating_add(image_len) || crc32c::crc32c(body) != crc {
        return Err("checksum or length mismatch: the snapshot is damaged".to_string());
    }
    let meta = SnapshotMetadata::parse_from_bytes(&body[..meta_len]).map_err(|e| format!("metadata: {e}"))?;
    let start = newline + 1 + meta_len;
    let mut snapshot = Snapshot { data: bytes.into(), ..Snapshot::default() };
    snapshot.data = snapshot.data.slice(start..);
    snapshot.set_metadata(meta);
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("splitd-raftsnap-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    fn meta(index: u64, term: u64) -> SnapshotMetadata {
        let mut meta = SnapshotMetadata { index, term, ..SnapshotMetadata::default() };
        meta.mut_conf_state().voters = vec![1, 2, 3];
        meta
    }

    #[test]
    fn a_taken_snapshot_is_adopted_and_a_torn_newer_one_leaves_the_previous_whole() {
        let dir = temp_dir("taking");
        let machine = Machine::new();
        write_taking(&dir, &machine, &meta(5, 2)).expect("child writes");
        assert!(adopt_taking(&dir, &meta(6, 2)).is_err(), "only the snapshot asked for is adopted");
        let adopted = adopt_taking(&dir, &meta(5, 2)).expect("adopted");
        let mut image = Vec::new();
        write_image(&machine, &mut image).expect("image");
        assert_eq!(adopted.data.to_vec(), image);
        write_taking(&dir, &machine, &meta(9, 3)).expect("child writes");
        let torn = fs::read(dir.join(TAKING_TMP)).expect("read");
        fs::write(dir.join(TAKING_TMP), &torn[..torn.len() / 2]).expect("tear");
        let read = read(&dir).expect("the torn temporary file is not the snapshot").expect("one");
        assert_eq!(read.get_metadata(), &meta(5, 2), "the previous snapshot is kept");
        assert!(!dir.join(TAKING_TMP).exists(), "the torn file is removed");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_damaged_snapshot_is_refused() {
        let dir = temp_dir("damaged");
        let mut snapshot = Snapshot { data: b"{\"image\": 1}".to_vec().into(), ..Snapshot::default() };
        snapshot.set_metadata(meta(7, 1));
        write(&dir, &snapshot).expect("write");
        assert_eq!(read(&dir).expect("read").map(|s| s.data.to_vec()), Some(snapshot.data.to_vec()));
        let path = dir.join(SNAPSHOT_FILE);
        let mut bytes = fs::read(&path).expect("read");
        let last = bytes.len() - 2;
        bytes[last] ^= 0x20;
        fs::write(&path, &bytes).expect("damage");
        assert!(read(&dir).is_err(), "a flipped bit is refused");
        fs::write(&path, &bytes[..bytes.len() - 3]).expect("cut");
        assert!(read(&dir).is_err(), "a short snapshot is refused");
        let _ = fs::remove_dir_all(&dir);
    }
}
