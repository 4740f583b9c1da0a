//! Server configuration with defaults: every limit in one place, each with the reason for its value.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// When the write-ahead log is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Every batch of records is fdatasync'ed before any reply or notification about its changes
    /// leaves. The fsync runs on the log's sync thread while the loop goes on; a batch holds
    /// everything appended while the previous one was in flight (pipelined group commit). The default.
    Always,
    /// Never fsync: a crash of the machine (not just the process) can lose acknowledged changes.
    /// For benchmarks only.
    Never,
}

impl std::str::FromStr for FsyncPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "always" => Ok(FsyncPolicy::Always),
            "never" => Ok(FsyncPolicy::Never),
            _ => Err(format!("fsync policy must be 'always' or 'never', not '{s}'")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub fsync: FsyncPolicy,
    /// Longest request line, in bytes (without the newline). Longer: error reply, then close.
    pub frame_bytes_max: usize,
    /// Frames executed per connection per loop turn: one flooding client cannot starve the rest.
    pub frames_per_turn_max: usize,
    /// Connections held at once; beyond it new ones get an error line and are closed.
    pub connections_max: usize,
    /// Pending output above which a connection's reading pauses (backpressure).
    pub output_bytes_high: usize,
    /// Pending output at which a connection is closed: a client that never reads its notifications
    /// may not grow server memory without bound.
    pub output_bytes_max: usize,
    /// Connections that have not logged in within this time are closed.
    pub unauthenticated_idle: Duration,
    /// Threads of the slow-work pool (`workers`, `--hash-threads`): argon2id password hashes and the
    /// exact settlement searches too large to run on the loop. Named for its first job.
    pub hash_threads: usize,
    /// Log bytes after which a snapshot is taken and older log segments are removed.
    pub snapshot_log_bytes: u64,
    /// Cluster mode (`--node-id`, `--peers`): `None` is the single node.
    pub cluster: Option<crate::cluster::node::ClusterConfig>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 5005)),
            data_dir: PathBuf::from("splitd-data"),
            fsync: FsyncPolicy::Always,
            frame_bytes_max: 64 * 1024,
            frames_per_turn_max: 64,
            connections_max: 19_000,
            output_bytes_high: 1024 * 1024,
            output_bytes_max: 16 * 1024 * 1024,
            unauthenticated_idle: Duration::from_secs(60),
            hash_threads: 1,
            snapshot_log_bytes: 256 * 1024 * 1024,
            cluster: None,
        }
    }
}
