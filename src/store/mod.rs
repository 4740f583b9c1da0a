//! Durability: the data directory (write-ahead log + snapshot), opened by recovering it.
//!
//! The loop appends each turn's records and starts a sync (`start_sync`); replies wait until
//! `durable()` reaches the batch `needed()` named for them (group commit, pipelined on the log
//! thread). See `wal`, `snapshot` and `recover` for the file formats and rules.

mod binary;
mod binlog;
mod bytes;
pub mod fork;
pub mod inspect;
mod recover;
pub mod snapshot;
pub mod syncer;
mod wal;

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::FsyncPolicy;
use crate::machine::{Machine, Record};

/// The on-disk format this build writes; it refuses data written by a newer one.
pub const FORMAT_VERSION: u32 = 1;
const FORMAT_FILE: &str = "FORMAT";
const LOCK_FILE: &str = "LOCK";

/// fsync a directory so a created, renamed or removed entry is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

pub struct Store {
    dir: PathBuf,
    wal: Wal,
    snapshot_log_bytes: u64,
    background: Option<Background>,
    /// Held for the life of the store: two servers on one directory would interleave their logs.
    _lock: File,
}

use wal::Wal;

/// What opening found, for the start-up log line.
pub struct Opened {
    pub store: Store,
    pub machine: Machine,
    pub records_replayed: u64,
    pub warnings: Vec<String>,
}

impl Store {
    /// Opens `dir` (creating it on first start) and recovers the state in it.
    pub fn open(dir: &Path, fsync: FsyncPolicy, snapshot_log_bytes: u64) -> Result<Opened, String> {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let lock =
            File::create(dir.join(LOCK_FILE)).map_err(|e| format!("cannot open lock in {}: {e}", dir.display()))?;
        lock_with_patience(&lock)
            .map_err(|_| format!("{} is in use by another splitd (LOCK is held)", dir.display()))?;
        check_format(dir)?;
        let recovered = recover::recover(dir)?;
        let first_seq = recovered.open_segment.unwrap_or(recovered.last_seq + 1);
        let wal = Wal::open(dir, first_seq, recovered.last_seq + 1, fsync)
            .map_err(|e| format!("cannot open the log in {}: {e}", dir.display()))?;
        Ok(Opened {
            store: Store { dir: dir.to_path_buf(), wal, snapshot_log_bytes, background: None, _lock: lock },
            machine: recovered.machine,
            records_replayed: recovered.records_replayed,
            warnings: recovered.warnings,
        })
    }

    pub fn append(&mut self, records: &[Record]) {
        for record in records {
            self.wal.append(record);
        }
    }

    pub fn has_pending(&self) -> bool {
        self.wal.has_pending()
    }

    /// One write + one fsync for everything appended so far, here and now (after any batch in flight).
    pub fn commit(&mut self) -> io::Result<()> {
        self.wal.commit()
    }

    /// Moves log writing and fsync to a thread (the running server); `wake` signals a finished batch.
    pub fn start_syncer(&mut self, wake: impl Fn() + Send + 'static) -> io::Result<()> {
        self.wal.start_syncer(wake)
    }

    /// Starts writing what was appended, on the sync thread, unless a batch is in flight already (then
    /// it goes in the next one: group commit across loop turns).
    pub fn start_sync(&mut self) -> io::Result<()> {
        self.wal.start_sync()
    }

    /// The batch number that makes everything appended so far durable.
    pub fn needed(&self) -> u64 {
        self.wal.needed()
    }

    /// The last batch number known durable.
    pub fn durable(&self) -> u64 {
        self.wal.durable()
    }

    /// A finished batch from the sync thread: its number, or the error that must stop the server.
    pub fn poll_done(&mut self) -> Option<io::Result<u64>> {
        self.wal.poll_done()
    }

    /// Whether the log has grown enough that a snapshot should replace it.
    pub fn snapshot_due(&self) -> bool {
        self.wal.segment_bytes() >= self.snapshot_log_bytes
    }

    /// Writes a snapshot of `machine` (which must reflect every appended record) here and now, starts
    /// a new log segment, and removes the segments the snapshot covers. For shutdown and import; the
    /// running server uses `start_background_snapshot`. Returns how long it took.
    pub fn snapshot(&mut self, machine: &Machine) -> io::Result<Duration> {
        let started = Instant::now();
        self.wait_background();
        self.wal.commit()?;
        let seq = self.wal.last_seq();
        let bytes = snapshot::encode(machine, seq)?;
        snapshot::write(&self.dir, &bytes)?;
        self.wal.rotate()?;
        self.remove_segments_through(seq)?;
        Ok(started.elapsed())
    }

    /// Starts writing a snapshot in a forked child process, so the loop is stalled only by the fork
    /// (page-table copy), not by serialising and writing the whole state: the child sees the state
    /// frozen at this instant through copy-on-write memory. The log rotates now; the segments the
    /// snapshot covers are removed once `poll_background` sees the child succeed. Returns the stall.
    pub fn start_background_snapshot(&mut self, machine: &Machine) -> io::Result<Duration> {
        if self.background.is_some() {
            return Ok(Duration::ZERO);
        }
        let started = Instant::now();
        self.wal.commit()?;
        let seq = self.wal.last_seq();
        self.wal.rotate()?;
        let dir = self.dir.clone();
        let pid = fork::spawn(move || {
            snapshot::encode(machine, seq).and_then(|bytes| snapshot::write(&dir, &bytes)).is_ok()
        })?;
        self.background = Some(Background { pid, seq, started });
        Ok(started.elapsed())
    }

    /// Checks on a background snapshot: `None` while none finished; `Some(Ok(seq, total time))` when
    /// one was written and the log it covers removed; `Some(Err(..))` if it failed (the log is kept
    /// whole, so nothing is lost; a later snapshot retries).
    pub fn poll_background(&mut self) -> Option<Result<(u64, Duration), String>> {
        let background = self.background.as_ref()?;
        let written = fork::reap(background.pid)?;
        let Background { seq, started, .. } = self.background.take()?;
        if let Err(status) = written {
            return Some(Err(format!("snapshot child failed (status {status})")));
        }
        match self.remove_segments_through(seq) {
            Ok(()) => Some(Ok((seq, started.elapsed()))),
            Err(err) => Some(Err(format!("snapshot written, but removing old log segments failed: {err}"))),
        }
    }

    /// Waits for a background snapshot to finish (shutdown).
    pub fn wait_background(&mut self) {
        while self.background.is_some() {
            if self.poll_background().is_none() {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    /// Removes the log segments that hold only records up to `seq` (all covered by the snapshot).
    fn remove_segments_through(&self, seq: u64) -> io::Result<()> {
        for (first, path) in recover::segments(&self.dir).map_err(io::Error::other)? {
            if first <= seq {
                fs::remove_file(path)?;
            }
        }
        sync_dir(&self.dir)
    }
}

/// A snapshot being written by a forked child.
struct Background {
    pid: fork::Pid,
    seq: u64,
    started: Instant,
}

/// Takes the directory lock, waiting briefly: a previous server's snapshot child may still be exiting
/// (it dies with its parent, asynchronously).
fn lock_with_patience(lock: &File) -> Result<(), std::fs::TryLockError> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match lock.try_lock() {
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            result => return result,
        }
    }
}

/// Creates the FORMAT file in a new directory; refuses a directory written by a newer format.
fn check_format(dir: &Path) -> Result<(), String> {
    let path = dir.join(FORMAT_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let version = text
                .trim()
                .strip_prefix("splitd-data ")
                .and_then(|v| v.parse::<u32>().ok())
                .ok_or_else(|| format!("{}: not a splitd data directory format line", path.display()))?;
            if version > FORMAT_VERSION {
                return Err(format!(
                    "{} was written by a newer splitd (format {version}; this build reads up to {FORMAT_VERSION})",
                    dir.display()
                ));
            }
            Ok(())
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            fs::write(&path, format!("splitd-data {FORMAT_VERSION}\n"))
                .and_then(|_| File::open(&path)?.sync_all())
                .and_then(|_| sync_dir(dir))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        Err(err) => Err(format!("cannot read {}: {err}", path.display())),
    }
}

#[cfg(test)]
mod tests;
