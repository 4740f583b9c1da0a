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

/// The TLS certificate chain and its private key, PEM files; read at start and again on SIGHUP.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Cluster mode over TLS: the member's pair (the `--tls-cert`/`--tls-key` of the client listener)
/// and the CA that signed every member's certificate (`--peer-ca`).
#[derive(Debug, Clone)]
pub struct PeerTlsFiles {
    pub pair: TlsFiles,
    pub ca: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The main listener: TLS when `tls` is set, else plaintext.
    pub listen: SocketAddr,
    /// With a certificate, `listen` speaks TLS.
    pub tls: Option<TlsFiles>,
    /// A plaintext listener beside the TLS one (for clients without TLS, such as the original
    /// Python client).
    pub listen_plain: Option<SocketAddr>,
    /// Plaintext may listen beyond loopback. Off by default: passwords and balances would cross the
    /// network readable by anyone on the path.
    pub allow_plaintext_remote: bool,
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
    /// Connections that have not logged in within this time are closed. Generous, so that a person
    /// reading the original client's welcome menu is not cut off (that client then dies of a broken
    /// pipe); floods of idle connections are met by eviction near `connections_max` instead.
    pub unauthenticated_idle: Duration,
    /// Threads of the slow-work pool (`workers`, `--hash-threads`): argon2id password hashes and the
    /// exact settlement searches too large to run on the loop. Named for its first job.
    pub hash_threads: usize,
    /// Log bytes after which a snapshot is taken and older log segments are removed.
    pub snapshot_log_bytes: u64,
    /// History entries kept per group (`--history-kept`), for `history` and catch-up after a reconnect
    /// (`history {after}`, `subscribe`); older ones answer `gap`. Bounds each group's memory.
    pub history_kept: usize,
    /// Cluster mode (`--node-id`, `--peers`): `None` is the single node.
    pub cluster: Option<crate::cluster::node::ClusterConfig>,
}

impl Config {
    /// Refuses listener settings that make no sense or send plaintext over a network: a plaintext
    /// listener on an address other than loopback needs `allow_plaintext_remote`, and so do
    /// plaintext peers (cluster mode without TLS) at such an address.
    pub fn check_listeners(&self) -> Result<(), String> {
        self.check_peers()?;
        let plaintext = match (&self.tls, self.listen_plain) {
            (None, Some(_)) => {
                return Err("--listen-plain adds a plaintext listener beside a TLS one: it needs --tls-cert and \
                            --tls-key (without them --listen is plaintext already)"
                    .into())
            }
            (None, None) => Some(self.listen),
            (Some(_), plain) => plain,
        };
        match plaintext {
            Some(addr) if !addr.ip().is_loopback() && !self.allow_plaintext_remote => Err(format!(
                "refusing to listen for plaintext on {addr}: passwords and balances would cross the network \
                 unencrypted. Give --tls-cert and --tls-key, listen for plaintext on loopback (127.0.0.1) only, \
                 or pass --allow-plaintext-remote if something else encrypts the path (a VPN, a TLS proxy)"
            )),
            _ => Ok(()),
        }
    }
}

impl Config {
    /// Cluster mode: TLS for the clients means TLS for the peers (so `--peer-ca` is needed); without
    /// it every peer address must be loopback unless `allow_plaintext_remote`.
    fn check_peers(&self) -> Result<(), String> {
        let Some(cluster) = &self.cluster else { return Ok(()) };
        if self.tls.is_some() != cluster.tls.is_some() {
            return Err("cluster mode with --tls-cert needs --peer-ca (the CA that signed every member's \
                        certificate), and --peer-ca needs --tls-cert and --tls-key"
                .into());
        }
        if cluster.tls.is_some() || self.allow_plaintext_remote {
            return Ok(());
        }
        match cluster.peers.iter().find(|(_, addr)| !addr.ip().is_loopback()) {
            Some((id, addr)) => Err(format!(
                "refusing plaintext peer traffic with member {id} at {addr}: raft messages carry every change \
                 unencrypted and unauthenticated. Give --tls-cert, --tls-key and --peer-ca, keep all --peers on \
                 loopback, or pass --allow-plaintext-remote if something else encrypts the path"
            )),
            None => Ok(()),
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 5005)),
            tls: None,
            listen_plain: None,
            allow_plaintext_remote: false,
            data_dir: PathBuf::from("splitd-data"),
            fsync: FsyncPolicy::Always,
            frame_bytes_max: 64 * 1024,
            frames_per_turn_max: 64,
            connections_max: 19_000,
            output_bytes_high: 1024 * 1024,
            output_bytes_max: 16 * 1024 * 1024,
            unauthenticated_idle: Duration::from_secs(15 * 60),
            hash_threads: 1,
            snapshot_log_bytes: 256 * 1024 * 1024,
            history_kept: 100_000,
            cluster: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(listen: &str, tls: bool, plain: Option<&str>, allow: bool) -> Config {
        let files = TlsFiles { cert: "cert.pem".into(), key: "key.pem".into() };
        Config {
            listen: listen.parse().unwrap(),
            tls: tls.then_some(files),
            listen_plain: plain.map(|p| p.parse().unwrap()),
            allow_plaintext_remote: allow,
            ..Config::default()
        }
    }

    #[test]
    fn plaintext_stays_on_loopback_unless_allowed() {
        assert!(config("127.0.0.1:5005", false, None, false).check_listeners().is_ok());
        assert!(config("[::1]:5005", false, None, false).check_listeners().is_ok());
        let refused = config("0.0.0.0:5005", false, None, false).check_listeners().unwrap_err();
        assert!(refused.contains("0.0.0.0:5005") && refused.contains("--allow-plaintext-remote"), "{refused}");
        assert!(config("0.0.0.0:5005", false, None, true).check_listeners().is_ok());
    }

    #[test]
    fn tls_may_listen_anywhere_and_its_plaintext_sibling_is_checked() {
        assert!(config("0.0.0.0:5005", true, None, false).check_listeners().is_ok());
        assert!(config("0.0.0.0:5005", true, Some("127.0.0.1:5006"), false).check_listeners().is_ok());
        assert!(config("0.0.0.0:5005", true, Some("0.0.0.0:5006"), false).check_listeners().is_err());
        assert!(config("0.0.0.0:5005", true, Some("0.0.0.0:5006"), true).check_listeners().is_ok());
    }

    fn cluster(config: Config, peer: &str, peer_ca: bool) -> Config {
        let files = TlsFiles { cert: "cert.pem".into(), key: "key.pem".into() };
        let cluster = crate::cluster::node::ClusterConfig {
            id: 1,
            peers: vec![(1, "127.0.0.1:6001".parse().unwrap()), (2, peer.parse().unwrap())],
            peer_clients: Vec::new(),
            join: false,
            cluster_id: None,
            snapshot_every: 10_000,
            tls: peer_ca.then(|| PeerTlsFiles { pair: files, ca: "ca.pem".into() }),
        };
        Config { cluster: Some(cluster), ..config }
    }

    #[test]
    fn plaintext_peers_stay_on_loopback_unless_allowed() {
        assert!(cluster(config("127.0.0.1:5005", false, None, false), "127.0.0.2:6002", false)
            .check_listeners()
            .is_ok());
        let refused = cluster(config("127.0.0.1:5005", false, None, false), "10.0.0.2:6002", false)
            .check_listeners()
            .unwrap_err();
        assert!(refused.contains("10.0.0.2:6002") && refused.contains("--peer-ca"), "{refused}");
        assert!(cluster(config("127.0.0.1:5005", false, None, true), "10.0.0.2:6002", false).check_listeners().is_ok());
        assert!(cluster(config("0.0.0.0:5005", true, None, false), "10.0.0.2:6002", true).check_listeners().is_ok());
    }

    #[test]
    fn tls_for_clients_is_tls_for_peers() {
        let without_ca = cluster(config("127.0.0.1:5005", true, None, false), "127.0.0.1:6002", false);
        assert!(without_ca.check_listeners().unwrap_err().contains("--peer-ca"));
        let without_pair = cluster(config("127.0.0.1:5005", false, None, false), "127.0.0.1:6002", true);
        assert!(without_pair.check_listeners().unwrap_err().contains("--peer-ca"));
    }

    #[test]
    fn a_plaintext_sibling_needs_tls() {
        let refused = config("127.0.0.1:5005", false, Some("127.0.0.1:5006"), false).check_listeners().unwrap_err();
        assert!(refused.contains("--tls-cert"), "{refused}");
    }
}
