//! `splitbench`: load-test harness for servers speaking the splitd protocol (newline-delimited JSON over
//! TCP): splitd itself or the original Python server. It sets up its own users and groups under a
//! run-unique prefix, so one command runs against an empty server. Load goes to loopback only, is
//! bounded in time or count, and stops by itself.

mod failover;
mod hist;
mod leader;
mod load;
mod net;
mod proto;
mod report;
mod scenarios;
mod server;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argh::FromArgs;

use scenarios::Ctx;

/// splitbench: load-test harness for servers speaking the splitd protocol.
///
/// Scenarios: read (view_balances), write (add_transaction), mixed (80 % reads), fanout (time from a
/// write to the last member's notification), idle (server RSS per logged-in idle connection), settle
/// (settle over group sizes), recovery (restart time over N transactions; needs --server-bin),
/// reconnect (N clients resume with session tokens after a restart; needs --server-bin),
/// fsync-probe (the disk's fdatasync rate), raw (one raw line per request, e.g. Redis PING),
/// failover (three cluster members from --server-bin; time from SIGKILL of the leader to the next
/// acknowledged write, --requests kills, default 20). Against a cluster member, --addr may be any
/// member: a probe write finds the leader (not_leader names it) and the load goes there.
#[derive(FromArgs)]
struct Args {
    /// server address, loopback only (default 127.0.0.1:5005); tls://127.0.0.1:PORT for TLS
    #[argh(option, default = "String::from(\"127.0.0.1:5005\")")]
    addr: String,
    /// speak TLS (as tls:// in --addr); the certificate must be valid for the address, by --ca-file
    /// or Mozilla's roots
    #[argh(switch)]
    tls: bool,
    /// with --tls: trust only the CA certificates in this PEM file
    #[argh(option)]
    ca_file: Option<PathBuf>,
    /// with --tls, FOR TESTS AND BENCHMARKS ONLY: accept any certificate (encrypted, but the server
    /// is not verified)
    #[argh(switch)]
    insecure: bool,
    /// read, write, mixed, fanout, idle, settle, recovery, memory, reconnect, fsync-probe, raw or
    /// failover
    /// (default read)
    #[argh(option, default = "String::from(\"read\")")]
    scenario: String,
    /// connections (fanout: members online; idle: idle connections; recovery: fill users, at most 8;
    /// reconnect: clients) (default 50)
    #[argh(option, default = "50")]
    connections: usize,
    /// requests in flight per connection (default 1; recovery's fill uses 64 unless given)
    #[argh(option, default = "1")]
    pipeline: usize,
    /// seconds to measure (default 10; idle: seconds to hold; fsync-probe: 2; settle: divided
    /// among the --sizes, at least 0.3 s each; a cap with --requests)
    #[argh(option)]
    duration: Option<f64>,
    /// stop after this many replies instead of a duration (fanout: writes; settle: per size)
    #[argh(option)]
    requests: Option<u64>,
    /// seconds of load before the measured window (default 0)
    #[argh(option, default = "0.0")]
    warmup: f64,
    /// client threads for read/write/mixed/raw (default 1)
    #[argh(option, default = "1")]
    threads: usize,
    /// read/write/mixed: distinct users per group (default 1: one user and group per connection, so
    /// writes push no notifications)
    #[argh(option, default = "1")]
    group_size: usize,
    /// settle: comma-separated group sizes (default 2,5,10,15,20,30,50,100); --duration is shared
    /// among them
    #[argh(option, default = "String::from(\"2,5,10,15,20,30,50,100\")")]
    sizes: String,
    /// recovery, memory: transactions to fill (default 100000; memory: per shape)
    #[argh(option, default = "100000")]
    transactions: u64,
    /// the server's process id, to read its memory (idle)
    #[argh(option)]
    pid: Option<u32>,
    /// start this server binary (splitd) on a free loopback port over a fresh data directory, use it,
    /// stop it at the end (required by recovery)
    #[argh(option)]
    server_bin: Option<PathBuf>,
    /// extra arguments for --server-bin, whitespace-separated, e.g. "--fsync always --hash-threads 2"
    #[argh(option, default = "String::new()")]
    server_args: String,
    /// fsync-probe: directory to probe (default .); --server-bin: parent of its data directory
    /// (default the system temp dir)
    #[argh(option)]
    data_dir: Option<PathBuf>,
    /// talk raw lines, not the JSON protocol (idle, raw): each request is --raw-line plus CRLF
    #[argh(switch)]
    raw: bool,
    /// the raw request line (default PING)
    #[argh(option, default = "String::from(\"PING\")")]
    raw_line: String,
    /// set-up scripts (connections) in progress at once (default 256)
    #[argh(option, default = "256")]
    setup_window: usize,
    /// seconds allowed for set-up (default 1800)
    #[argh(option, default = "1800.0")]
    setup_timeout: f64,
    /// name prefix for users and groups (default unique per run)
    #[argh(option)]
    prefix: Option<String>,
    /// record the throughput of every N replies (e.g. to see a server slow down as its data grows)
    #[argh(option)]
    report_every: Option<u64>,
    /// print the results as one JSON object on stdout (progress still goes to stderr)
    #[argh(switch)]
    json: bool,
    /// no progress lines
    #[argh(switch)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args: Args = argh::from_env();
    match run(args) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(err) => {
            eprintln!("splitbench: {err}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<u64, String> {
    let scenario = args.scenario.as_str();
    let known = [
        "read",
        "write",
        "mixed",
        "raw",
        "fanout",
        "idle",
        "settle",
        "recovery",
        "memory",
        "reconnect",
        "fsync-probe",
        "failover",
    ];
    if !known.contains(&scenario) {
        return Err(format!("unknown scenario '{scenario}' (one of {})", known.join(", ")));
    }
    let endpoint = dial::Endpoint::parse(&args.addr, args.tls)?;
    let mut addr = resolve(&endpoint.addr)?;
    let tls = tls_setup(&endpoint, args.ca_file.as_deref(), args.insecure)?;
    let prefix = args.prefix.clone().unwrap_or_else(unique_prefix);
    if prefix.len() > 20 || !prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err("--prefix: at most 20 letters, digits or '_'".into());
    }
    let sizes = args
        .sizes
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<usize>().map_err(|_| format!("--sizes: bad number '{s}'")))
        .collect::<Result<Vec<_>, _>>()?;
    let server_args: Vec<String> = args.server_args.split_whitespace().map(String::from).collect();
    if args.connections == 0 {
        return Err("--connections must be at least 1".into());
    }
    server::raise_fd_limit(args.connections as u64 + 200);

    // A server of our own, for every scenario that talks to one (recovery starts its own).
    let mut spawned = None;
    let mut data_dir = None;
    let mut pid = args.pid;
    if let (Some(bin), true) =
        (&args.server_bin, !matches!(scenario, "recovery" | "memory" | "reconnect" | "fsync-probe" | "failover"))
    {
        let dir = server::fresh_dir(args.data_dir.as_deref(), &format!("splitbench-{prefix}"))?;
        let server = server::spawn(bin, &dir, &server_args, Duration::from_secs(120))?;
        if !args.quiet {
            eprintln!("splitbench: started {} on {} (pid {})", bin.display(), server.addr, server.pid);
        }
        addr = server.addr;
        pid = Some(server.pid);
        spawned = Some(server);
        data_dir = Some(dir);
    }

    if !matches!(scenario, "raw" | "recovery" | "memory" | "reconnect" | "fsync-probe" | "failover") && !args.raw {
        // A cluster member that does not lead refuses writes and fresh reads: load the leader.
        addr = leader::locate(addr, tls.clone(), args.quiet)?;
    }
    let ctx = Ctx {
        addr,
        tls,
        pid,
        prefix,
        connections: args.connections,
        pipeline: args.pipeline.max(1),
        duration: args.duration,
        requests: args.requests,
        warmup: args.warmup,
        threads: args.threads.max(1),
        group_size: args.group_size.max(1),
        sizes,
        transactions: args.transactions,
        server_bin: args.server_bin.clone(),
        server_args,
        data_dir: args.data_dir.clone(),
        raw: args.raw || scenario == "raw",
        raw_line: args.raw_line.clone(),
        setup_window: args.setup_window.max(1),
        setup_timeout: Duration::from_secs_f64(args.setup_timeout),
        report_every: args.report_every,
        quiet: args.quiet,
    };
    let result = match scenario {
        "read" | "write" | "mixed" | "raw" => scenarios::throughput(&ctx, scenario),
        "fanout" => scenarios::fanout(&ctx),
        "idle" => scenarios::idle(&ctx),
        "settle" => scenarios::settle(&ctx),
        "recovery" => scenarios::recovery(&ctx),
        "memory" => scenarios::memory(&ctx),
        "reconnect" => scenarios::reconnect(&ctx),
        "failover" => failover::failover(&ctx),
        _ => scenarios::fsync_probe(&ctx),
    };
    if let Some(mut server) = spawned {
        let _ = server.terminate(Duration::from_secs(60));
    }
    if let Some(dir) = data_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    let mut report = result?;
    if let Some(server) = &args.server_bin {
        report.set("server_bin", server.display().to_string());
    }
    report.print(args.json);
    Ok(report.json.get("errors").and_then(|v| v.as_u64()).unwrap_or(0))
}

/// The TLS session settings for `--tls`; `None` for plaintext. The name to verify is the host of
/// `--addr` (an IP address needs a certificate with that IP).
fn tls_setup(endpoint: &dial::Endpoint, ca_file: Option<&Path>, insecure: bool) -> Result<Option<net::Tls>, String> {
    let trust = match (ca_file, insecure) {
        (Some(_), true) => return Err("--ca-file and --insecure exclude each other".into()),
        (Some(path), false) => dial::Trust::CaFile(path),
        (None, true) => dial::Trust::Insecure,
        (None, false) => dial::Trust::PublicRoots,
    };
    if !endpoint.tls {
        if ca_file.is_some() || insecure {
            return Err("--ca-file and --insecure are for TLS: add --tls".into());
        }
        return Ok(None);
    }
    Ok(Some(net::Tls { config: dial::client_config(trust)?, name: endpoint.server_name()? }))
}

/// The address, which must be on loopback: this harness never loads another machine.
fn resolve(addr: &str) -> Result<SocketAddr, String> {
    let resolved: Vec<SocketAddr> = addr.to_socket_addrs().map_err(|err| format!("--addr {addr}: {err}"))?.collect();
    let addr = resolved.first().copied().ok_or_else(|| format!("--addr {addr}: no address"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("--addr {addr}: only loopback addresses are allowed"));
    }
    Ok(addr)
}

fn unique_prefix() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mixed = (nanos ^ (u64::from(std::process::id()) << 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("sb{:010x}", mixed >> 24)
}
