//! The harness the end-to-end tests share: the real `splitd` binary and the real `splitc` binary,
//! talking over TCP.
//!
//! The server binary is `$SPLITD_BIN`, else `splitd` next to the `splitc` binary under test (that is
//! `<workspace>/target/debug/splitd`), built with `cargo build -p splitd --bin splitd` if missing.
//! Every child process is killed on drop and every wait has a deadline, so a hung server or client
//! fails a test instead of hanging the run.
// Each test file uses its own part of the harness.
#![allow(dead_code)]
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use vocab::Cents;

pub const SPLITC: &str = env!("CARGO_BIN_EXE_splitc");
pub const RUN_DEADLINE: Duration = Duration::from_secs(60);
pub const WAIT_DEADLINE: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Harness

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "splitc-test-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Waits for `child` until `deadline`, killing it if it is still running then.
pub fn wait_with_deadline(child: &mut Child, deadline: Duration, what: &str) -> i32 {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.code().unwrap_or(-1),
            Ok(None) if start.elapsed() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not finish within {deadline:?}");
            }
        }
    }
}

pub fn splitd_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("SPLITD_BIN") {
            return PathBuf::from(bin);
        }
        let bin = Path::new(SPLITC).with_file_name(format!("splitd{}", std::env::consts::EXE_SUFFIX));
        if !bin.exists() {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut build = Command::new(cargo)
                .args(["build", "-p", "splitd", "--bin", "splitd"])
                .current_dir(workspace)
                .spawn()
                .expect("run cargo build -p splitd");
            let code = wait_with_deadline(&mut build, Duration::from_secs(1200), "cargo build -p splitd");
            assert_eq!(code, 0, "building the server failed; set SPLITD_BIN or fix the server build");
        }
        assert!(bin.exists(), "no server binary at {}", bin.display());
        bin
    })
    .clone()
}

/// A running splitd on a free port with a fresh data directory; killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub data: TempDir,
}

impl Server {
    pub fn start() -> Server {
        Server::launch("127.0.0.1:0", TempDir::new("data")).unwrap_or_else(|(why, _)| panic!("{why}"))
    }

    /// Starts splitd on `listen` with its state in `data`; gives `data` back if it did not start.
    pub fn launch(listen: &str, data: TempDir) -> Result<Server, (String, TempDir)> {
        Server::launch_with(listen, data, &[])
    }

    /// Starts splitd with TLS (a certificate for `localhost` and `127.0.0.1` from a CA made here);
    /// returns the server and the CA's PEM file, for `--ca-file`.
    pub fn start_tls() -> (Server, PathBuf) {
        let data = TempDir::new("tls");
        let pki = test_pki(&["localhost", "127.0.0.1"]);
        let files = pki.write(&data.0);
        let extra = [
            "--tls-cert".to_string(),
            files.cert.display().to_string(),
            "--tls-key".to_string(),
            files.key.display().to_string(),
        ];
        let server = Server::launch_with("127.0.0.1:0", data, &extra).unwrap_or_else(|(why, _)| panic!("{why}"));
        (server, files.ca)
    }

    pub fn launch_with(listen: &str, data: TempDir, extra: &[String]) -> Result<Server, (String, TempDir)> {
        let log = std::fs::File::create(data.0.join("splitd.log")).expect("server log");
        let spawned = Command::new(splitd_bin())
            .arg("--listen")
            .arg(listen)
            .arg("--data-dir")
            .arg(data.0.join("state"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => return Err((format!("cannot start splitd: {e}"), data)),
        };
        let stdout = child.stdout.take().expect("server stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            for _ in lines {} // keep draining so the server never blocks on a full pipe
        });
        let first = rx.recv_timeout(WAIT_DEADLINE);
        let addr = first
            .as_deref()
            .ok()
            .and_then(|l| l.strip_prefix("splitd listening on "))
            .map(|rest| rest.trim().trim_end_matches(" (tls)"));
        match addr {
            Some(addr) => Ok(Server { child, addr: addr.to_string(), data }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(data.0.join("splitd.log")).unwrap_or_default();
                Err((format!("splitd did not print its listening line (got {first:?}); its stderr:\n{log}"), data))
            }
        }
    }

    /// Stops the server and starts a new one on the same address and data directory.
    pub fn restart(mut self) -> Server {
        self.stop();
        let addr = self.addr.clone();
        let mut data = std::mem::replace(&mut self.data, TempDir(PathBuf::new()));
        drop(self);
        let start = Instant::now();
        loop {
            match Server::launch(&addr, data) {
                Ok(server) => return server,
                // The port may linger for a moment after the kill.
                Err((_, back)) if start.elapsed() < Duration::from_secs(10) => {
                    data = back;
                    thread::sleep(Duration::from_millis(200));
                }
                Err((why, _)) => panic!("{why}"),
            }
        }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() && !self.data.0.as_os_str().is_empty() {
            let log = std::fs::read_to_string(self.data.0.join("splitd.log")).unwrap_or_default();
            // The test harness's own output, not splitc's: the print rule of client/clippy.toml is not for it.
            #[allow(clippy::disallowed_macros)]
            {
                eprintln!("--- splitd stderr ---\n{log}");
            }
        }
    }
}

/// The outcome of one finished splitc run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "splitc failed: {self:#?}");
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.stdout))
    }
}

/// Where the splitc runs of this test process keep their session tokens (never the user's own
/// ~/.config): one directory for the process, under Cargo's scratch space for tests.
pub fn config_home() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("splitc-config-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the config dir");
        dir
    })
}

pub fn splitc_command(args: &[&str], password: Option<&str>) -> Command {
    let mut cmd = Command::new(SPLITC);
    cmd.args(args).env_remove("SPLITC_PASSWORD").env_remove("SPLITC_GROUP_PASSWORD");
    cmd.env("XDG_CONFIG_HOME", config_home());
    if let Some(p) = password {
        cmd.env("SPLITC_PASSWORD", p);
    }
    cmd
}

/// Runs splitc to completion with `stdin` as its input.
pub fn splitc(args: &[&str], password: Option<&str>, stdin: &str) -> Run {
    run_to_end(splitc_command(args, password), args, stdin)
}

/// `splitc`, keeping its session tokens in `config` instead of the process's shared directory.
pub fn splitc_in(config: &Path, args: &[&str], password: Option<&str>) -> Run {
    let mut cmd = splitc_command(args, password);
    cmd.env("XDG_CONFIG_HOME", config);
    run_to_end(cmd, args, "")
}

pub fn run_to_end(mut cmd: Command, args: &[&str], stdin: &str) -> Run {
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start splitc");
    let mut input = child.stdin.take().expect("stdin");
    let text = stdin.to_string();
    let writer = thread::spawn(move || {
        let _ = input.write_all(text.as_bytes());
    });
    let out = drain(child.stdout.take().expect("stdout"));
    let err = drain(child.stderr.take().expect("stderr"));
    let code = wait_with_deadline(&mut child, RUN_DEADLINE, &format!("splitc {args:?}"));
    let _ = writer.join();
    Run { code, stdout: finish(out), stderr: finish(err) }
}

/// Runs a one-shot subcommand as `user` (password `pw-<user>-long`) against `server`.
pub fn as_user(server: &Server, user: &str, args: &[&str]) -> Run {
    let mut full = vec!["--server", &server.addr, "--user", user];
    full.extend_from_slice(args);
    splitc(&full, Some(&format!("pw-{user}-long")), "")
}

pub type Shared = Arc<Mutex<String>>;

pub fn drain(stream: impl Read + Send + 'static) -> (Shared, thread::JoinHandle<()>) {
    let text: Shared = Arc::default();
    let sink = text.clone();
    let handle = thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    });
    (text, handle)
}

pub fn finish((text, handle): (Shared, thread::JoinHandle<()>)) -> String {
    let _ = handle.join();
    let text = text.lock().unwrap().clone();
    text
}

/// A splitc that keeps running while the test talks to it (interactive mode, watch).
pub struct Live {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub stdout: (Shared, thread::JoinHandle<()>),
    pub stderr: (Shared, thread::JoinHandle<()>),
}

impl Live {
    pub fn start(args: &[&str], password: Option<&str>) -> Live {
        let mut child = splitc_command(args, password)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start splitc");
        let stdin = child.stdin.take();
        let stdout = drain(child.stdout.take().expect("stdout"));
        let stderr = drain(child.stderr.take().expect("stderr"));
        Live { child, stdin, stdout, stderr }
    }

    pub fn send(&mut self, lines: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(lines.as_bytes()).expect("write to splitc");
        stdin.flush().expect("flush to splitc");
    }

    pub fn stdout(&self) -> String {
        self.stdout.0.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.0.lock().unwrap().clone()
    }

    /// Waits until stdout (or stderr) contains `needle` `times` times.
    pub fn wait_for(&self, needle: &str, times: usize, on_stderr: bool) {
        let start = Instant::now();
        loop {
            let text = if on_stderr { self.stderr() } else { self.stdout() };
            if text.matches(needle).count() >= times {
                return;
            }
            if start.elapsed() > WAIT_DEADLINE {
                panic!(
                    "waited {WAIT_DEADLINE:?} for {needle:?} x{times}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Closes stdin and waits for the exit.
    pub fn finish(mut self) -> Run {
        drop(self.stdin.take());
        let code = wait_with_deadline(&mut self.child, RUN_DEADLINE, "live splitc");
        let stdout = std::mem::replace(&mut self.stdout, (Arc::default(), thread::spawn(|| {})));
        let stderr = std::mem::replace(&mut self.stderr, (Arc::default(), thread::spawn(|| {})));
        Run { code, stdout: finish(stdout), stderr: finish(stderr) }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server with alice (who created `trip`), bob and carol, all members.
pub fn trip_with_three() -> Server {
    let server = Server::start();
    for user in ["alice", "bob", "carol"] {
        as_user(&server, user, &["signup"]).ok();
    }
    as_user(&server, "alice", &["create-group", "trip"]).ok();
    as_user(&server, "bob", &["join", "trip"]).ok();
    as_user(&server, "carol", &["join", "trip"]).ok();
    server
}

pub fn cents(v: &Value) -> i64 {
    // Exact, from the number's text (the test crate shares splitc's arbitrary_precision serde_json).
    let text = v.to_string();
    Cents::parse_decimal(text.trim_matches('"')).unwrap_or_else(|e| panic!("amount {v}: {e}")).0
}

/// A CA and a server certificate it signed for `names`, as PEM text.
pub struct TestPki {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

/// Where `TestPki::write` put the files.
pub struct PkiFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn test_pki(names: &[&str]) -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "splitc test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key")).expect("CA");
    let key = KeyPair::generate().expect("key");
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let cert = CertificateParams::new(names).expect("params").signed_by(&key, &ca).expect("certificate");
    TestPki { ca: ca.pem(), cert: cert.pem(), key: key.serialize_pem() }
}

impl TestPki {
    pub fn write(&self, dir: &Path) -> PkiFiles {
        let files = PkiFiles { ca: dir.join("ca.pem"), cert: dir.join("cert.pem"), key: dir.join("key.pem") };
        std::fs::write(&files.ca, &self.ca).expect("write CA");
        std::fs::write(&files.cert, &self.cert).expect("write cert");
        std::fs::write(&files.key, &self.key).expect("write key");
        files
    }
}

/// Fails unless every one of `needles` is in `out`, in this order (each after the one before).
pub fn assert_in_order(out: &str, needles: &[&str]) {
    let mut from = 0;
    for needle in needles {
        match out[from..].find(needle) {
            Some(at) => from += at + needle.len(),
            None => panic!("{needle:?} missing (in order) from:\n{out}"),
        }
    }
}
