//! TLS against the real binary: the protocol over TLS, a plaintext listener beside it, clients that
//! do not speak TLS (or stop halfway), and the certificate reload on SIGHUP. Certificates are made
//! here, by a throwaway CA per test (`rcgen`); clients trust only that CA.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{cents, ok, Server, TempDir, TIMEOUT};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::{json, Value};

/// A CA and a server certificate it signed for `localhost` and `127.0.0.1`, as PEM text.
struct Pki {
    ca: String,
    cert: String,
    key: String,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, format!("splitd test CA {name}"));
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key")).expect("CA");
        let key = KeyPair::generate().expect("server key");
        let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("params");
        let cert = params.signed_by(&key, &ca).expect("server certificate");
        Pki { ca: ca.pem(), cert: cert.pem(), key: key.serialize_pem() }
    }

    /// Writes the server's pair to `dir/cert.pem` and `dir/key.pem` (replacing what was there).
    fn install(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, &self.cert).expect("write cert");
        std::fs::write(&key, &self.key).expect("write key");
        (cert, key)
    }

    fn client_config(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.ca.as_bytes()) {
            roots.add(cert.expect("CA PEM")).expect("add CA");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }
}

/// Starts splitd with TLS on `--listen` using `pki`'s pair (files in `tls_dir`), plus `extra`.
fn start_tls(data: &TempDir, tls_dir: &Path, pki: &Pki, extra: &[&str]) -> Server {
    let (cert, key) = pki.install(tls_dir);
    let (cert, key) = (cert.to_str().expect("path"), key.to_str().expect("path"));
    let mut args = vec!["--tls-cert", cert, "--tls-key", key];
    args.extend_from_slice(extra);
    Server::start(data.path(), &args)
}

/// A JSON-lines client over TLS, like `common::Client`.
struct TlsClient {
    reader: BufReader<StreamOwned<ClientConnection, TcpStream>>,
    pushed: Vec<Value>,
}

impl TlsClient {
    /// Connects and completes the handshake, verifying the server as `localhost`.
    fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> Result<TlsClient, String> {
        let mut socket = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        socket.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
        let name = ServerName::try_from("localhost").expect("name");
        let mut session = ClientConnection::new(config, name).map_err(|e| e.to_string())?;
        while session.is_handshaking() {
            session.complete_io(&mut socket).map_err(|e| e.to_string())?;
        }
        Ok(TlsClient { reader: BufReader::new(StreamOwned::new(session, socket)), pushed: Vec::new() })
    }

    fn socket(&mut self) -> &mut TcpStream {
        &mut self.reader.get_mut().sock
    }

    fn request(&mut self, action: &str, data: Value) -> Value {
        self.reader.get_mut().write_all(&common::request_frame(action, data)).expect("write");
        let TlsClient { reader, pushed } = self;
        common::next_reply(pushed, || read_tls_json(reader))
    }

    fn pushed_message(&mut self) -> Value {
        let TlsClient { reader, pushed } = self;
        common::next_pushed(pushed, || read_tls_json(reader))
    }

    fn login_as(&mut self, name: &str) {
        let password = format!("pw-{name}-secret");
        let _ = self.request("signup", json!({"username": name, "password": password}));
        let reply = self.request("login", json!({"username": name, "password": password}));
        assert_eq!(reply["message"], "Login successful", "{reply}");
    }
}

/// Reads from a raw socket until the server closes it; `false` if it is still open at `wait`.
fn closed_within(socket: &mut TcpStream, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    socket.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match socket.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
            Err(_) => return true,
        }
    }
    false
}

/// The server's stderr, collected line by line on a thread, to wait for a log line.
struct LogLines(Arc<Mutex<Vec<String>>>);

impl LogLines {
    fn collect(server: &mut Server) -> LogLines {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let stderr = server.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("log lines").push(line);
            }
        });
        LogLines(lines)
    }

    /// The first line containing `needle`, waiting for it up to `TIMEOUT`.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(line) = self.0.lock().expect("log lines").iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            let seen = self.0.lock().expect("log lines").join("\n");
            assert!(Instant::now() < deadline, "no log line with {needle:?}; stderr so far:\n{seen}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn sighup(server: &Server) {
    let status = Command::new("kill").args(["-HUP", &server.child.id().to_string()]).status().expect("kill");
    assert!(status.success());
}

#[test]
fn the_whole_protocol_over_tls_with_a_plaintext_listener_beside_it() {
    let (data, tls_dir) = (TempDir::new("tls-protocol"), TempDir::new("tls-protocol-pki"));
    let pki = Pki::new("protocol");
    let server = start_tls(&data, tls_dir.path(), &pki, &["--listen-plain", "127.0.0.1:0"]);
    let plain_addr = server.plain_addr.expect("a plaintext listener");
    assert_ne!(server.addr, plain_addr);

    let mut alice = TlsClient::connect(server.addr, pki.client_config()).expect("TLS handshake");
    let mut bob = TlsClient::connect(server.addr, pki.client_config()).expect("TLS handshake");
    let mut carol = common::Client::connect(plain_addr);
    alice.login_as("alice");
    bob.login_as("bob");
    carol.login_as("carol");
    ok(&alice.request("create_group", json!({"group": "trip"})));
    ok(&bob.request("join_group", json!({"group": "trip"})));
    assert_eq!(alice.pushed_message()["member"], "bob");
    ok(&carol.request("join_group", json!({"group": "trip"})));
    assert_eq!(alice.pushed_message()["member"], "carol");
    assert_eq!(bob.pushed_message()["member"], "carol");

    ok(&alice
        .request("add_transaction", json!({"group": "trip", "amount": "90.00", "split_between": ["bob", "carol"]})));
    for push in [bob.pushed_message(), carol.pushed_message()] {
        assert_eq!(push["event"], "transaction_added", "{push}");
    }
    let balances = ok(&bob.request("view_balances", json!({"group": "trip"})))["balances"].clone();
    assert_eq!(cents(&balances["alice"]), 9000, "{balances}");
    assert_eq!(cents(&balances["bob"]), -4500, "{balances}");
    let over_plain = ok(&carol.request("view_balances", json!({"group": "trip"})))["balances"].clone();
    assert_eq!(over_plain, balances, "both listeners see one state");
}

#[test]
fn plaintext_and_garbage_on_the_tls_port_are_dropped_and_nobody_else_notices() {
    let (data, tls_dir) = (TempDir::new("tls-garbage"), TempDir::new("tls-garbage-pki"));
    let pki = Pki::new("garbage");
    let mut server = start_tls(&data, tls_dir.path(), &pki, &[]);
    let log = LogLines::collect(&mut server);
    let mut bystander = TlsClient::connect(server.addr, pki.client_config()).expect("TLS handshake");
    bystander.login_as("bystander");
    ok(&bystander.request("create_group", json!({"group": "g"})));

    // The original client's plaintext, sent to the TLS port: dropped at once (the login timeout is
    // a minute; the deadline here is far shorter).
    let mut plain = TcpStream::connect(server.addr).expect("connect");
    plain.write_all(b"{\"action\":\"login\",\"data\":{\"username\":\"a\",\"password\":\"b\"}}\n").expect("write");
    assert!(closed_within(&mut plain, Duration::from_secs(10)), "plaintext on the TLS port was not dropped");
    log.wait_for("TLS failed");

    // A good handshake, then a record that does not decrypt.
    let mut forger = TlsClient::connect(server.addr, pki.client_config()).expect("TLS handshake");
    let mut record = b"\x17\x03\x03\x00\x20".to_vec();
    record.extend_from_slice(&[0x5a; 32]);
    forger.socket().write_all(&record).expect("write");
    assert!(closed_within(forger.socket(), Duration::from_secs(10)), "a forged record was not dropped");

    // A record header that claims more than any record may hold (64 KiB): refused before its body.
    let mut noise = TcpStream::connect(server.addr).expect("connect");
    noise.write_all(b"\x16\x03\x01\xff\xff").expect("write");
    assert!(closed_within(&mut noise, Duration::from_secs(10)), "an oversized record was not dropped");

    let groups = ok(&bystander.request("list_groups", json!({})))["groups"].clone();
    assert_eq!(groups, json!(["g"]), "the bystander is served as before");
}

#[test]
fn a_handshake_that_stalls_is_dropped_at_the_login_timeout() {
    let (data, tls_dir) = (TempDir::new("tls-stall"), TempDir::new("tls-stall-pki"));
    let pki = Pki::new("stall");
    let server = start_tls(&data, tls_dir.path(), &pki, &["--login-timeout-secs", "1"]);
    // Half a ClientHello, then nothing.
    let mut hello = Vec::new();
    let name = ServerName::try_from("localhost").expect("name");
    let mut session = ClientConnection::new(pki.client_config(), name).expect("session");
    session.write_tls(&mut hello).expect("ClientHello");
    // Taken before connecting, so the server's clock for this connection starts later: a drop
    // caused by the login timeout cannot come sooner than a second after it.
    let started = Instant::now();
    let mut stalled = TcpStream::connect(server.addr).expect("connect");
    stalled.write_all(&hello[..hello.len() / 2]).expect("write");
    assert!(closed_within(&mut stalled, Duration::from_secs(15)), "a stalled handshake was never dropped");
    assert!(started.elapsed() >= Duration::from_secs(1), "dropped before its time: {:?}", started.elapsed());

    // The listener still shakes hands with the next client.
    let mut next = TlsClient::connect(server.addr, pki.client_config()).expect("TLS handshake");
    next.login_as("next");
}

#[test]
fn sighup_reloads_a_good_pair_and_keeps_the_old_one_when_the_new_is_bad() {
    let (data, tls_dir) = (TempDir::new("tls-reload"), TempDir::new("tls-reload-pki"));
    let (first, second) = (Pki::new("first"), Pki::new("second"));
    let mut server = start_tls(&data, tls_dir.path(), &first, &[]);
    let log = LogLines::collect(&mut server);
    let mut old = TlsClient::connect(server.addr, first.client_config()).expect("handshake with the first pair");
    old.login_as("old");
    assert!(
        TlsClient::connect(server.addr, second.client_config()).is_err(),
        "a client trusting only the second CA must not accept the first pair"
    );

    second.install(tls_dir.path());
    sighup(&server);
    log.wait_for("reloaded the TLS certificate");
    let mut new = TlsClient::connect(server.addr, second.client_config()).expect("handshake with the second pair");
    new.login_as("new");
    assert!(TlsClient::connect(server.addr, first.client_config()).is_err(), "new connections use the new pair");
    ok(&old.request("create_group", json!({"group": "still-here"})));

    // A certificate file that is not PEM: the second pair stays.
    std::fs::write(tls_dir.path().join("cert.pem"), "not a certificate\n").expect("write");
    sighup(&server);
    let why = log.wait_for("keeping the previous TLS certificate");
    assert!(why.contains("cert.pem"), "the log names the file: {why}");
    // A key that does not belong to the certificate: the second pair stays too.
    std::fs::write(tls_dir.path().join("cert.pem"), &second.cert).expect("write");
    std::fs::write(tls_dir.path().join("key.pem"), &first.key).expect("write");
    sighup(&server);
    let deadline = Instant::now() + TIMEOUT;
    while log.0.lock().expect("log").iter().filter(|l| l.contains("keeping the previous")).count() < 2 {
        assert!(Instant::now() < deadline, "no log line for the mismatched key");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut after = TlsClient::connect(server.addr, second.client_config()).expect("the second pair is still in force");
    after.login_as("after");
    ok(&old.request("list_groups", json!({})));
    ok(&new.request("list_groups", json!({})));
}

#[test]
fn plaintext_beyond_loopback_refuses_to_start_unless_allowed() {
    let data = TempDir::new("tls-refuse");
    let output = Command::new(env!("CARGO_BIN_EXE_splitd"))
        .args(["--listen", "0.0.0.0:0", "--data-dir"])
        .arg(data.path())
        .output()
        .expect("run splitd");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refusing to listen for plaintext on 0.0.0.0:0"), "{stderr}");
    assert!(stderr.contains("--allow-plaintext-remote") && stderr.contains("--tls-cert"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing listened");
}

/// One line over TLS, parsed; `None` at the end of the stream (or when the session failed).
fn read_tls_json(reader: &mut BufReader<StreamOwned<ClientConnection, TcpStream>>) -> Option<Value> {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad JSON {line:?}: {e}"))),
    }
}
