//! Smoke test: every scenario for about a second at tiny scale against the real `splitd` binary.
//! It checks that the results are sane (throughput, zero errors, notifications delivered), not fast.
//!
//! The server binary is `$SPLITD_BIN`, else `<workspace>/target/debug/splitd` (built with
//! `cargo build -p splitd --bin splitd` when missing).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn splitd_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("SPLITD_BIN") {
        return PathBuf::from(bin);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace().join("target"));
    let bin = target.join("debug").join("splitd");
    if !bin.exists() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "splitd", "--bin", "splitd"])
            .current_dir(workspace())
            .status()
            .expect("run cargo build for splitd");
        assert!(status.success(), "cargo build -p splitd failed");
    }
    assert!(bin.exists(), "no splitd binary at {}", bin.display());
    bin
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("splitbench-smoke-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(bin: &Path, dir: &Path) -> Server {
    start_server_with(bin, dir, &[])
}

/// A server on a free client port with `extra` arguments (a cluster member's).
fn start_server_with(bin: &Path, dir: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(bin)
        .args(["--listen", "127.0.0.1:0", "--hash-threads", "2"])
        .args(extra)
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start splitd");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("listening line");
    let addr = line.trim().strip_prefix("splitd listening on ").expect("listening line").to_string();
    Server { child, addr }
}

/// Runs splitbench with `args` plus `--json --quiet`; returns its JSON report.
fn bench(args: &[&str]) -> Value {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_splitbench"))
        .args(args)
        .args(["--json", "--quiet"])
        .output()
        .expect("run splitbench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "splitbench {args:?} failed: {}\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("bad JSON {stdout:?}: {e}"));
    eprintln!("{args:?}: {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(report["errors"], 0, "{report}");
    report
}

/// Runs splitbench with `args` plus `--json` (progress on); returns its report and its stderr.
fn bench_loud(args: &[&str]) -> (Value, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_splitbench")).args(args).arg("--json").output().expect("splitbench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("bad JSON {stdout:?}: {e}"));
    (report, String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn raw_errors_are_counted_and_quiet_scenarios_say_what_they_do() {
    let bin = splitd_bin();
    let dir = TempDir::new("loud");
    let server = start_server(&bin, &dir.0);
    let pid = server.child.id().to_string();
    let addr = server.addr.as_str();
    // splitd answers a raw PING with bad_json: every reply is an error, as docs/benchmarks.md says.
    let (raw, _) = bench_loud(&["--addr", addr, "--scenario", "raw", "--connections", "1", "--requests", "20"]);
    assert_eq!(raw["errors"], raw["replies"], "{raw}");
    assert!(raw["errors"].as_u64() > Some(0), "{raw}");
    let idle = ["--addr", addr, "--scenario", "idle", "--connections", "8", "--duration", "0.3", "--pid", &pid];
    let (idle, said) = bench_loud(&idle);
    assert!(said.contains("idle: 8 connections open; holding them 0.3 s"), "{said}");
    assert_eq!(idle["sample_too_small"], true, "{idle}");
    let (_, said) = bench_loud(&["--addr", addr, "--scenario", "settle", "--sizes", "2,3", "--duration", "0.6"]);
    assert!(said.contains("settle: group of 2") && said.contains("settle: group of 3"), "{said}");
}

fn positive(report: &Value, key: &str) -> f64 {
    let value = report[key].as_f64().unwrap_or_else(|| panic!("no {key} in {report}"));
    assert!(value > 0.0, "{key} is {value} in {report}");
    value
}

#[test]
fn every_scenario_runs_against_splitd() {
    let bin = splitd_bin();
    let dir = TempDir::new("server");
    let server = start_server(&bin, &dir.0);
    let pid = server.child.id().to_string();
    let base = ["--addr", server.addr.as_str()];
    let with = |extra: &[&str]| -> Vec<String> { base.iter().chain(extra).map(|s| s.to_string()).collect() };
    let run = |extra: &[&str]| {
        let args = with(extra);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        bench(&refs)
    };

    let read = run(&["--scenario", "read", "--connections", "4", "--duration", "1"]);
    positive(&read, "throughput");
    assert_eq!(read["closed"], 0);

    let write =
        run(&["--scenario", "write", "--connections", "4", "--group-size", "2", "--pipeline", "2", "--duration", "1"]);
    positive(&write, "throughput");
    positive(&write, "pushed"); // the other member of each group is notified

    let mixed = run(&["--scenario", "mixed", "--connections", "3", "--pipeline", "4", "--requests", "300"]);
    assert_eq!(mixed["replies"], 300);
    positive(&mixed, "throughput");

    let raw =
        run(&["--scenario", "raw", "--raw-line", r#"{"action":"logout"}"#, "--connections", "2", "--duration", "0.5"]);
    positive(&raw, "throughput");

    let fanout = run(&["--scenario", "fanout", "--connections", "5", "--duration", "1"]);
    let writes = positive(&fanout, "writes");
    assert_eq!(fanout["deliveries"].as_f64(), Some(writes * 5.0), "{fanout}");
    assert!(fanout["to_last"]["p99_us"].as_f64().unwrap() > 0.0);

    let idle = run(&["--scenario", "idle", "--connections", "20", "--duration", "0.5", "--pid", &pid]);
    assert_eq!(idle["open_after_idle"], 20);
    assert!(idle["bytes_per_connection"].is_number(), "{idle}");

    let settle = run(&["--scenario", "settle", "--sizes", "2,4", "--duration", "1"]);
    let sizes = settle["sizes"].as_array().expect("sizes");
    assert_eq!(sizes.len(), 2);
    for size in sizes {
        assert!(size["throughput"].as_f64().unwrap() > 0.0, "{size}");
        assert!(size["transfers"].as_u64().unwrap() >= 1, "{size}");
    }
    drop(server);

    let scratch = TempDir::new("scratch");
    let scratch_dir = scratch.0.to_string_lossy().to_string();
    let recovery = bench(&[
        "--scenario",
        "recovery",
        "--server-bin",
        bin.to_str().expect("utf-8 path"),
        "--transactions",
        "2000",
        "--connections",
        "2",
        "--data-dir",
        &scratch_dir,
    ]);
    positive(&recovery, "restart_log_secs");
    positive(&recovery, "restart_snapshot_secs");
    assert!(recovery["restart_log_stderr"].as_str().unwrap().contains("2006 log records"), "{recovery}");

    let reconnect = bench(&[
        "--scenario",
        "reconnect",
        "--server-bin",
        bin.to_str().expect("utf-8 path"),
        "--connections",
        "3",
        "--data-dir",
        &scratch_dir,
    ]);
    positive(&reconnect, "login_secs");
    positive(&reconnect, "resume_secs");
    assert_eq!(reconnect["clients"], 3, "{reconnect}");
    assert_eq!(reconnect["errors"], 0, "{reconnect}");

    let probe = bench(&["--scenario", "fsync-probe", "--data-dir", &scratch_dir, "--duration", "0.3"]);
    positive(&probe, "throughput");
}

/// A CA and a server pair for `127.0.0.1` written to `dir`: (ca, cert, key) paths.
fn tls_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key")).expect("CA");
    let key = KeyPair::generate().expect("key");
    let cert =
        CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params").signed_by(&key, &ca).expect("cert");
    let paths = (dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&paths.0, ca.pem()).expect("write");
    std::fs::write(&paths.1, cert.pem()).expect("write");
    std::fs::write(&paths.2, key.serialize_pem()).expect("write");
    paths
}

#[test]
fn read_and_fanout_over_tls() {
    let bin = splitd_bin();
    let dir = TempDir::new("tls");
    let (ca, cert, key) = tls_files(&dir.0);
    let server_args = format!("--tls-cert {} --tls-key {} --hash-threads 2", cert.display(), key.display());
    let bin = bin.to_str().expect("path");
    let ca = ca.to_str().expect("path");
    let common = ["--server-bin", bin, "--server-args", &server_args, "--tls", "--ca-file", ca];
    let read = bench(
        &[&common[..], &["--scenario", "read", "--connections", "4", "--pipeline", "4", "--duration", "1"]].concat(),
    );
    positive(&read, "throughput");
    assert_eq!(read["closed"], 0, "{read}");
    let fanout = bench(&[&common[..], &["--scenario", "fanout", "--connections", "3", "--duration", "1"]].concat());
    let writes = positive(&fanout, "writes");
    assert_eq!(fanout["deliveries"].as_f64(), Some(writes * 3.0), "{fanout}");
}

/// Three cluster members on loopback (clients on free ports, peers on ports picked here).
fn start_cluster(bin: &Path, dir: &Path) -> Vec<Server> {
    let held: Vec<std::net::TcpListener> =
        (0..3).map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind")).collect();
    let ports: Vec<u16> = held.iter().map(|l| l.local_addr().expect("addr").port()).collect();
    drop(held);
    let peers = ports.iter().enumerate().map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1)).collect::<Vec<_>>();
    let peers = peers.join(",");
    (0..3)
        .map(|i| {
            let id = (i + 1).to_string();
            start_server_with(bin, &dir.join(format!("m{i}")), &["--node-id", &id, "--peers", &peers])
        })
        .collect()
}

#[test]
fn a_write_load_aimed_at_any_member_goes_to_the_leader_and_failover_is_timed() {
    let bin = splitd_bin();
    let dir = TempDir::new("cluster");
    let members = start_cluster(&bin, &dir.0);
    // Two of the three are followers, which refuse writes: each run must find the leader.
    let mut loaded = Vec::new();
    for member in &members {
        let write = bench(&["--addr", &member.addr, "--scenario", "write", "--connections", "2", "--duration", "0.5"]);
        positive(&write, "throughput");
        loaded.push(write["addr"].as_str().expect("addr").to_string());
    }
    assert!(loaded.windows(2).all(|w| w[0] == w[1]), "one leader loaded: {loaded:?}");
    assert!(members.iter().any(|m| m.addr == loaded[0]), "a member: {loaded:?}");
    drop(members);

    let scratch = dir.0.join("failover").to_string_lossy().to_string();
    let bin = bin.to_str().expect("path");
    let failover = bench(&["--scenario", "failover", "--server-bin", bin, "--requests", "2", "--data-dir", &scratch]);
    assert_eq!(failover["kills"], 2, "{failover}");
    assert_eq!(failover["failover_secs"].as_array().map(Vec::len), Some(2), "{failover}");
    positive(&failover, "failover_max_secs");
    positive(&failover, "acknowledged");
}
