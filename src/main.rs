//! `splitd`: flags → Config → check the listen addresses are free → recover the data directory →
//! serve.
//!
//! Exit codes (as `splitc`'s, and sysexits' spirit): 0 a clean stop, 1 it could not start or run
//! (the address is taken, the data directory cannot be read...), 2 the command line is wrong.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use argh::FromArgs;

use splitd::cluster::node::ClusterConfig;
use splitd::config::{Config, FsyncPolicy, PeerTlsFiles, TlsFiles};
use splitd::log;
use splitd::net::limits::{self, DESCRIPTORS_RESERVED};
use splitd::net::Server;
use splitd::store::Store;

/// splitd: a real-time, multi-user expense-splitting server.
#[derive(FromArgs)]
struct Args {
    /// address to listen on (default 127.0.0.1:5005; port 0 picks a free port); TLS with --tls-cert.
    /// Plaintext beyond loopback needs --allow-plaintext-remote
    #[argh(option, default = "Config::default().listen")]
    listen: SocketAddr,
    /// TLS certificate chain, PEM (with --tls-key): --listen then speaks TLS. SIGHUP re-reads both files
    #[argh(option)]
    tls_cert: Option<PathBuf>,
    /// TLS private key, PEM (PKCS#8, PKCS#1 or SEC1), for --tls-cert
    #[argh(option)]
    tls_key: Option<PathBuf>,
    /// also listen for plaintext on this address, beside TLS on --listen (for clients without TLS)
    #[argh(option)]
    listen_plain: Option<SocketAddr>,
    /// allow plaintext on an address other than loopback (only when something else encrypts the path)
    #[argh(switch)]
    allow_plaintext_remote: bool,
    /// data directory: write-ahead log and snapshot (default ./splitd-data, created on first start)
    #[argh(option, default = "Config::default().data_dir")]
    data_dir: PathBuf,
    /// when to fsync the log: always (default; an acknowledged change survives power loss) or never
    /// (UNSAFE: for benchmarks only)
    #[argh(option, default = "FsyncPolicy::Always")]
    fsync: FsyncPolicy,
    /// longest request line in bytes (default 65536)
    #[argh(option, default = "Config::default().frame_bytes_max")]
    max_frame_bytes: usize,
    /// connections held at once (default 19000)
    #[argh(option, default = "Config::default().connections_max")]
    max_connections: usize,
    /// unread output at which a client is disconnected, in bytes (default 16 MiB)
    #[argh(option, default = "Config::default().output_bytes_max")]
    max_output_bytes: usize,
    /// pending output above which reading from a client pauses, in bytes (default 1 MiB)
    #[argh(option, default = "Config::default().output_bytes_high")]
    output_high_bytes: usize,
    /// seconds a connection may stay without logging in (default 900: 15 minutes); near
    /// --max-connections the oldest such connections are closed sooner
    #[argh(option, default = "Config::default().unauthenticated_idle.as_secs()")]
    login_timeout_secs: u64,
    /// request frames executed per connection per loop turn (default 64)
    #[argh(option, default = "Config::default().frames_per_turn_max")]
    frames_per_turn: usize,
    /// threads for slow work: password hashes, large settlement searches (default 1)
    #[argh(option, default = "Config::default().hash_threads")]
    hash_threads: usize,
    /// log size in bytes that triggers a snapshot (default 256 MiB)
    #[argh(option, default = "Config::default().snapshot_log_bytes")]
    snapshot_log_bytes: u64,
    /// history entries kept per group, for `history` and catching up after a reconnect; older ones
    /// answer `gap` (default 100000; in cluster mode the whole history is kept)
    #[argh(option, default = "Config::default().history_kept")]
    history_kept: usize,
    /// cluster mode: this node's id in --peers
    #[argh(option)]
    node_id: Option<u64>,
    /// cluster mode: every member's peer address, this one's included, as ID=HOST:PORT,... (without
    /// it, splitd is a single node)
    #[argh(option)]
    peers: Option<String>,
    /// cluster mode: members' client addresses (their --listen) as ID=HOST:PORT,..., for the
    /// leader named in not_leader answers (members also tell each other)
    #[argh(option)]
    peer_clients: Option<String>,
    /// cluster mode: this node is new to a running cluster (it votes once a `splitd cluster add`
    /// for it is committed)
    #[argh(switch)]
    join: bool,
    /// cluster mode: the cluster's name (letters, digits, . _ -; default splitd), written to the
    /// data directory at the first start; peers of another cluster are refused
    #[argh(option)]
    cluster_id: Option<String>,
    /// cluster mode with --tls-cert: the CA (PEM) that signed every member's certificate. Peer
    /// connections are then TLS, each end presenting its --tls-cert and verifying the other's
    #[argh(option)]
    peer_ca: Option<PathBuf>,
    /// cluster mode: applied raft entries after which a member snapshots its state and drops the
    /// log before it (default 10000)
    #[argh(option, default = "splitd::cluster::node::SNAPSHOT_EVERY")]
    raft_snapshot_every: u64,
    #[argh(subcommand)]
    command: Option<Command>,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Command {
    Import(ImportArgs),
    Cluster(ClusterArgs),
    Inspect(InspectArgs),
}

/// Print a data directory's snapshot and log (or one snapshot or log file) as JSON lines.
#[derive(FromArgs)]
#[argh(subcommand, name = "inspect")]
struct InspectArgs {
    /// a data directory, a snapshot.json or a wal-*.log
    #[argh(positional)]
    path: PathBuf,
}

/// Change a running cluster's members (send it to any member; it goes to the leader).
#[derive(FromArgs)]
#[argh(subcommand, name = "cluster")]
struct ClusterArgs {
    #[argh(subcommand)]
    change: ClusterChange,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum ClusterChange {
    Add(ClusterAdd),
    Remove(ClusterRemove),
}

/// Add member ID (started with --join) to the cluster.
#[derive(FromArgs)]
#[argh(subcommand, name = "add")]
struct ClusterAdd {
    /// the new member's id
    #[argh(positional)]
    id: u64,
    /// the new member's peer address, HOST:PORT
    #[argh(option)]
    peer: SocketAddr,
    /// the new member's client address (its --listen), for not_leader answers
    #[argh(option)]
    client: Option<String>,
    /// a member's plaintext client address (default 127.0.0.1:5005)
    #[argh(option, default = "String::from(\"127.0.0.1:5005\")")]
    server: String,
    /// a member's data directory, for its admin.key (default ./splitd-data)
    #[argh(option, default = "Config::default().data_dir")]
    data_dir: PathBuf,
}

/// Remove member ID from the cluster.
#[derive(FromArgs)]
#[argh(subcommand, name = "remove")]
struct ClusterRemove {
    /// the member's id
    #[argh(positional)]
    id: u64,
    /// a member's plaintext client address (default 127.0.0.1:5005)
    #[argh(option, default = "String::from(\"127.0.0.1:5005\")")]
    server: String,
    /// a member's data directory, for its admin.key (default ./splitd-data)
    #[argh(option, default = "Config::default().data_dir")]
    data_dir: PathBuf,
}

/// Convert the original Python server's users.json and data.json into a new data directory.
#[derive(FromArgs)]
#[argh(subcommand, name = "import")]
struct ImportArgs {
    /// the original's users.json
    #[argh(option)]
    users: PathBuf,
    /// the original's data.json
    #[argh(option)]
    data: PathBuf,
    /// the data directory to create (default ./splitd-data); must not exist or be empty
    #[argh(option, default = "Config::default().data_dir")]
    data_dir: PathBuf,
}

/// The command line does not parse or does not make sense.
const EXIT_USAGE: u8 = 2;
/// splitd could not start (or stopped on an error).
const EXIT_FAILED: u8 = 1;

/// The flags, or exit: 0 after `--help`, [`EXIT_USAGE`] for a command line that does not parse.
fn parse_args() -> Args {
    let argv: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    let name = argv.first().map(String::as_str).unwrap_or("splitd");
    let rest: Vec<&str> = argv.iter().skip(1).map(String::as_str).collect();
    match Args::from_args(&[name], &rest) {
        Ok(args) => args,
        Err(early) if early.status.is_ok() => {
            println!("{}", early.output.trim_end());
            std::process::exit(0);
        }
        Err(early) => {
            log::info!("{}; see splitd --help", early.output.trim_end());
            std::process::exit(i32::from(EXIT_USAGE));
        }
    }
}

fn main() -> ExitCode {
    // Each argon2id hash allocates 19 MiB. glibc's adaptive mmap threshold would soon serve such
    // blocks from its arenas and keep them (about 117 MiB per hashing thread was measured); a fixed
    // threshold keeps them mmapped, so they go back to the system after each hash.
    // SAFETY: mallopt only adjusts allocator parameters, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
    let args = parse_args();
    match &args.command {
        Some(Command::Import(import)) => return run_import(import),
        Some(Command::Cluster(cluster)) => return run_cluster(cluster),
        Some(Command::Inspect(inspect)) => return run_inspect(&inspect.path),
        None => {}
    }
    let tls = match (args.tls_cert.clone(), args.tls_key.clone()) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        _ => {
            log::info!("cannot start: --tls-cert and --tls-key go together");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let cluster = match cluster_config(&args, tls.as_ref()) {
        Ok(cluster) => cluster,
        Err(err) => {
            log::info!("cannot start: {err}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let config = Config {
        listen: args.listen,
        tls,
        listen_plain: args.listen_plain,
        allow_plaintext_remote: args.allow_plaintext_remote,
        data_dir: args.data_dir,
        fsync: args.fsync,
        frame_bytes_max: args.max_frame_bytes.max(1),
        frames_per_turn_max: args.frames_per_turn.max(1),
        connections_max: args.max_connections.max(1),
        output_bytes_high: args.output_high_bytes,
        output_bytes_max: args.max_output_bytes.max(1),
        unauthenticated_idle: std::time::Duration::from_secs(args.login_timeout_secs),
        hash_threads: args.hash_threads.max(1),
        snapshot_log_bytes: args.snapshot_log_bytes,
        history_kept: args.history_kept.max(1),
        cluster,
    };
    serve(config)
}

/// `splitd inspect PATH`: JSON lines on stdout; exit status 2 when the path cannot be read.
fn run_inspect(path: &std::path::Path) -> ExitCode {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match splitd::store::inspect::inspect(path, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            log::info!("inspect: {err}");
            ExitCode::from(2)
        }
    }
}

/// `--node-id` with `--peers` (and `--peer-clients`, `--cluster-id`, `--peer-ca`), or neither.
fn cluster_config(args: &Args, tls: Option<&TlsFiles>) -> Result<Option<ClusterConfig>, String> {
    let (id, peers) = match (args.node_id, &args.peers) {
        (None, None) if args.cluster_id.is_some() || args.peer_ca.is_some() => {
            return Err("--cluster-id and --peer-ca are for cluster mode (--node-id, --peers)".to_string())
        }
        (None, None) => return Ok(None),
        (Some(id), Some(peers)) => (id, peers),
        _ => return Err("--node-id and --peers go together".to_string()),
    };
    let peers: Vec<(u64, SocketAddr)> = id_list(peers)?
        .into_iter()
        .map(|(id, addr)| addr.parse().map(|a| (id, a)).map_err(|_| format!("--peers: {addr} is not HOST:PORT")))
        .collect::<Result<_, _>>()?;
    if id == 0 || !peers.iter().any(|&(p, _)| p == id) {
        return Err(format!("--node-id {id} is not one of --peers (ids start at 1)"));
    }
    let peer_clients = match &args.peer_clients {
        Some(list) => id_list(list)?,
        None => Vec::new(),
    };
    // A pair without the CA is refused by `Config::check_listeners`.
    let tls = match (tls, &args.peer_ca) {
        (Some(pair), Some(ca)) => Some(PeerTlsFiles { pair: pair.clone(), ca: ca.clone() }),
        (None, Some(_)) => return Err("--peer-ca needs --tls-cert and --tls-key".to_string()),
        _ => None,
    };
    let snapshot_every = args.raft_snapshot_every.max(1);
    let cluster_id = args.cluster_id.clone();
    Ok(Some(ClusterConfig { id, peers, peer_clients, join: args.join, cluster_id, tls, snapshot_every }))
}

/// `1=a,2=b` → `[(1, "a"), (2, "b")]`.
fn id_list(list: &str) -> Result<Vec<(u64, String)>, String> {
    list.split(',')
        .map(|item| {
            let (id, addr) = item.split_once('=').ok_or_else(|| format!("{item}: expected ID=HOST:PORT"))?;
            let id = id.trim().parse::<u64>().map_err(|_| format!("{item}: the id is not a number"))?;
            Ok((id, addr.trim().to_string()))
        })
        .collect()
}

fn run_cluster(args: &ClusterArgs) -> ExitCode {
    use splitd::cluster::membership::Change;
    let (server, data_dir, change) = match &args.change {
        ClusterChange::Add(add) => {
            (&add.server, &add.data_dir, Change::Add { id: add.id, peer: add.peer, client: add.client.clone() })
        }
        ClusterChange::Remove(remove) => (&remove.server, &remove.data_dir, Change::Remove { id: remove.id }),
    };
    match splitd::cluster::admin::request_change(server, data_dir, &change) {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            log::info!("cluster: {err}");
            ExitCode::from(1)
        }
    }
}

fn run_import(args: &ImportArgs) -> ExitCode {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    match splitd::import::import(&args.users, &args.data, &args.data_dir, now) {
        Ok(report) => {
            println!(
                "imported {} users, {} groups, {} transactions into {}",
                report.users,
                report.groups,
                report.transactions,
                args.data_dir.display()
            );
            for (group, position, original, cents) in &report.rounded {
                println!("  rounded: group {group:?} transaction {position}: {original} -> {cents}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            log::info!("import failed: {err}; nothing was written");
            ExitCode::from(1)
        }
    }
}

fn serve(mut config: Config) -> ExitCode {
    if let Err(err) = config.check_listeners() {
        log::info!("cannot start: {err}");
        return ExitCode::from(EXIT_USAGE);
    }
    // Before the data directory is created or read: a taken address fails with nothing touched.
    if let Err(err) = check_addresses_free(&config) {
        log::info!("cannot start: {err}; the data directory was not touched");
        return ExitCode::from(EXIT_FAILED);
    }
    fit_descriptor_limit(&mut config);
    let started = std::time::Instant::now();
    let mut opened = match Store::open(&config.data_dir, config.fsync, config.snapshot_log_bytes) {
        Ok(opened) => opened,
        Err(err) => {
            log::info!("cannot start: {err}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    for warning in &opened.warnings {
        log::info!("warning: {warning}");
    }
    log::info!(
        "recovered {} users, {} log records from {} in {} ms",
        opened.machine.users().len(),
        opened.records_replayed,
        config.data_dir.display(),
        started.elapsed().as_millis()
    );
    if config.fsync == FsyncPolicy::Never {
        log::info!("WARNING: --fsync never: acknowledged changes can be lost if the machine crashes");
    }
    // After replay (which keeps every entry, so a larger limit keeps what it would have kept). Cluster
    // members rebuild machines from the raft log with the whole history: the limit is a single
    // node's for now.
    if config.cluster.is_none() {
        opened.machine.set_history_kept(config.history_kept);
    }
    let server = match Server::bind(config.clone(), opened.store, opened.machine) {
        Ok(server) => server,
        Err(err) => {
            log::info!("cannot start: {err}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let listening = match server.listening() {
        Ok(listening) => listening,
        Err(err) => {
            log::info!("cannot read the bound address: {err}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    // One line a listener, `--listen` first: tools and tests read these.
    let mut stdout = std::io::stdout();
    for (addr, tls) in listening {
        let _ = writeln!(stdout, "splitd listening on {addr}{}", if tls { " (tls)" } else { "" });
    }
    let _ = stdout.flush();
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            log::info!("stopped: {err}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// Binds each client address (`--listen`, `--listen-plain`) for a moment, to fail before the data
/// directory is touched when one is taken. The server binds them again right after recovery (the
/// sockets set SO_REUSEADDR, so the probe leaves nothing behind); a port 0 is always free.
fn check_addresses_free(config: &Config) -> Result<(), String> {
    for addr in std::iter::once(config.listen).chain(config.listen_plain) {
        if addr.port() == 0 {
            continue;
        }
        std::net::TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    }
    Ok(())
}

/// Raises the soft descriptor limit for `--max-connections` (up to the hard limit) and lowers the cap
/// when it still does not fit, saying so: else clients past the limit would wait on nothing in the
/// accept queue while the flag promised them room.
fn fit_descriptor_limit(config: &mut Config) {
    let asked = config.connections_max;
    let fitted = match limits::fit_descriptor_limit(asked) {
        Ok(fitted) => fitted,
        Err(err) => {
            log::info!("warning: cannot read the descriptor limit ({err}); keeping --max-connections {asked}");
            return;
        }
    };
    let (limit, hard) = (fitted.limit, fitted.hard);
    match fitted.raised_from {
        Some(before) => log::info!("descriptor limit {limit} (raised from {before}; hard limit {hard})"),
        None => log::info!("descriptor limit {limit} (hard limit {hard})"),
    }
    if fitted.connections_max < asked {
        let fits = fitted.connections_max;
        log::info!(
            "warning: --max-connections {asked} lowered to {fits} to fit the descriptor limit {limit} \
             ({DESCRIPTORS_RESERVED} kept for the log, snapshots and the loop); raise the hard limit \
             (ulimit -Hn, systemd LimitNOFILE=) to serve more"
        );
        config.connections_max = fits;
    }
}
