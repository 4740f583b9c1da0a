//! Snapshots: the whole state at a log position, replaced atomically.
//!
//! File format: a header line `splitd-snapshot <format> <seq> <crc32c hex> <body bytes>\n`, then the
//! body (the machine's image): format 2, written now, is the binary image (`binary`: checksummed
//! sections); format 1, from before, is JSON, still read (the next snapshot is binary). The file
//! keeps its name, `snapshot.json`, so an older splitd finds it and refuses format 2 by name instead
//! of reporting it missing. Written to a temporary file, fsynced, renamed over the old one, and the
//! directory fsynced: a crash at any point leaves either the old or the new snapshot whole.
//!
//! The body's encoding is the store's: the machine offers its image as plain types (`Machine::image`,
//! `StateImage`, `Machine::from_image`) and never sees bytes. Loading parses the image's groups on
//! several threads (`parse_groups`); the machine never starts a thread itself. `write_image` and
//! `read_image`/`load_image` are also the image bytes cluster mode ships as raft snapshots; reading
//! tells a binary image from a JSON one by its first bytes.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::value::RawValue;

use super::binary;
use crate::machine::image::{GroupImage, StateImage};
use crate::machine::{ApplyError, Machine};

pub const SNAPSHOT_FILE: &str = "snapshot.json";
/// The snapshot format this build writes: 2, the binary image; it reads 1 (JSON) too.
pub const SNAPSHOT_FORMAT: u32 = 2;
const SNAPSHOT_TMP: &str = "snapshot.json.tmp";

pub fn snapshot_path(dir: &Path) -> PathBuf {
    dir.join(SNAPSHOT_FILE)
}

/// Serialises `machine` as of log position `seq` into snapshot bytes (header + body).
pub fn encode(machine: &Machine, seq: u64) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    write_image(machine, &mut body)?;
    let crc = crc32c::crc32c(&body);
    let mut bytes = format!("splitd-snapshot {SNAPSHOT_FORMAT} {seq} {crc:08x} {}\n", body.len()).into_bytes();
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

/// Durably replaces the snapshot with `bytes`.
pub fn write(dir: &Path, bytes: &[u8]) -> io::Result<()> {
    write_synced(&dir.join(SNAPSHOT_TMP), &[bytes])?;
    replace(dir, SNAPSHOT_TMP, SNAPSHOT_FILE)
}

/// Creates (or truncates) `path` with `parts`, one after another, and fsyncs it: the first half of
/// an atomic replace.
pub fn write_synced(path: &Path, parts: &[&[u8]]) -> io::Result<()> {
    let mut file = File::create(path)?;
    for part in parts {
        file.write_all(part)?;
    }
    file.sync_all()
}

/// Renames `dir/from` over `dir/to` and fsyncs the directory: a crash leaves the old file or the
/// new one, whole (the second half; also used for the raft snapshot, `cluster::snapshot`).
pub fn replace(dir: &Path, from: &str, to: &str) -> io::Result<()> {
    fs::rename(dir.join(from), dir.join(to))?;
    super::sync_dir(dir)
}

/// Loads the snapshot, if there is one: `(seq, machine)`. A damaged snapshot is an error, never
/// silently ignored (the log before it has been removed).
pub fn read(dir: &Path) -> Result<Option<(u64, Machine)>, String> {
    read_file(&snapshot_path(dir))
}

/// `read`, of the snapshot file at `path` (`splitd inspect` reads any).
pub fn read_file(path: &Path) -> Result<Option<(u64, Machine)>, String> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(format!("cannot read {}: {err}", path.display())),
    };
    let bad = |why: &str| format!("{}: {why}", path.display());
    let newline = bytes.iter().position(|&b| b == b'\n').ok_or_else(|| bad("no header line"))?;
    let header = std::str::from_utf8(&bytes[..newline]).map_err(|_| bad("header is not text"))?;
    let fields: Vec<&str> = header.split(' ').collect();
    let [magic, format, seq, crc, len] = fields[..] else {
        return Err(bad("malformed header"));
    };
    if magic != "splitd-snapshot" {
        return Err(bad("not a splitd snapshot"));
    }
    let format: u32 = format.parse().map_err(|_| bad("malformed format version"))?;
    if format > SNAPSHOT_FORMAT {
        return Err(bad(&format!(
            "written by a newer splitd (format {format}, this one reads up to {SNAPSHOT_FORMAT})"
        )));
    }
    let seq: u64 = seq.parse().map_err(|_| bad("malformed sequence number"))?;
    let crc = u32::from_str_radix(crc, 16).map_err(|_| bad("malformed checksum"))?;
    let len: usize = len.parse().map_err(|_| bad("malformed length"))?;
    let body = &bytes[newline + 1..];
    if body.len() != len || crc32c::crc32c(body) != crc {
        return Err(bad("checksum or length mismatch: the snapshot is damaged"));
    }
    let machine = load_image(body).map_err(|e| bad(&e.0))?;
    Ok(Some((seq, machine)))
}

/// Writes the machine's image, binary (`binary`). Cannot fail; `io::Result` for its callers' sake.
pub fn write_image(machine: &Machine, out: &mut Vec<u8>) -> io::Result<()> {
    binary::write(&machine.image(), out);
    Ok(())
}

/// Writes the machine's image as one JSON document: the format-1 body (tests that load an old
/// snapshot, `splitd inspect`).
pub fn write_json_image(machine: &Machine, out: &mut Vec<u8>) -> io::Result<()> {
    serde_json::to_writer(out, &machine.image()).map_err(io::Error::other)
}

/// Rebuilds a machine from `write_image`'s output (or `write_json_image`'s), parsing its groups one
/// after another (for tools and tests; a restart parses them on several threads).
pub fn read_image(body: &[u8]) -> Result<Machine, ApplyError> {
    read_image_on(body, 1)
}

/// `read_image`, with the groups parsed on up to `available_parallelism` threads (a restart, a
/// cluster member installing a snapshot).
pub fn load_image(body: &[u8]) -> Result<Machine, ApplyError> {
    read_image_on(body, std::thread::available_parallelism().map_or(1, |n| n.get()))
}

pub(super) fn read_image_on(body: &[u8], threads: usize) -> Result<Machine, ApplyError> {
    Machine::from_image(image_on(body, threads)?)
}

/// The image in `body`, binary or JSON, parsed (groups on up to `threads` threads), not yet checked.
pub(super) fn image_on(body: &[u8], threads: usize) -> Result<StateImage<GroupImage>, ApplyError> {
    if binary::is_binary(body) {
        let (version, state, groups) = binary::sections(body)?;
        let raw = binary::state(state, groups)?;
        let groups = parse_groups(raw.groups(), threads, |s| s.len(), |s| binary::group(s, version))?;
        return Ok(raw.with_groups(groups));
    }
    let raw: StateImage<&RawValue> = serde_json::from_slice(body).map_err(not_an_image)?;
    let groups = parse_groups(raw.groups(), threads, |r| r.get().len(), |r| parse_group(r))?;
    Ok(raw.with_groups(groups))
}

fn not_an_image(e: serde_json::Error) -> ApplyError {
    ApplyError(format!("snapshot is not a valid image: {e}"))
}

/// One group's raw JSON text parsed (format 1). Pure: safe on any thread.
fn parse_group(raw: &RawValue) -> Result<GroupImage, ApplyError> {
    serde_json::from_str(raw.get()).map_err(not_an_image)
}

/// Parses the groups' images (`raw`, each `size` bytes, read by `parse`) on up to `threads` threads
/// when there are several groups (a snapshot is mostly its groups' transactions, and parsing them is
/// most of a restart). Each thread takes a contiguous run of about the same number of bytes; the
/// result is in the original order. One group holding everything still parses on one thread.
fn parse_groups<R: Sync>(
    raw: &[R],
    threads: usize,
    size: impl Fn(&R) -> usize,
    parse: impl Fn(&R) -> Result<GroupImage, ApplyError> + Sync,
) -> Result<Vec<GroupImage>, ApplyError> {
    let threads = threads.min(raw.len());
    if threads <= 1 {
        return raw.iter().map(&parse).collect();
    }
    let total: usize = raw.iter().map(&size).sum();
    let share = total.div_ceil(threads).max(1);
    let mut runs: Vec<&[R]> = Vec::with_capacity(threads);
    let (mut start, mut bytes) = (0, 0);
    for (i, r) in raw.iter().enumerate() {
        bytes += size(r);
        if bytes >= share {
            runs.push(&raw[start..=i]);
            (start, bytes) = (i + 1, 0);
        }
    }
    if start < raw.len() {
        runs.push(&raw[start..]);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            runs.iter().map(|run| scope.spawn(|| run.iter().map(&parse).collect::<Vec<_>>())).collect();
        let mut groups = Vec::with_capacity(raw.len());
        for handle in handles {
            let parsed = handle.join().map_err(|_| ApplyError("snapshot: a parsing thread failed".into()))?;
            for group in parsed {
                groups.push(group?);
            }
        }
        Ok(groups)
    })
}
