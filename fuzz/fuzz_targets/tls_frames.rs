//! Arbitrary bytes through the TLS record path into framing, as splitd reads a client: the server
//! side is the code the event loop uses (`net::tls::Acceptor` → `Transport::read` / `write` /
//! `send_pending`, then `FrameBuf::next_frame` and `proto::decode`), over a socket pair; the client
//! is a real rustls client in the same process.
//!
//! The first byte chooses the mode, the second the size of the client's writes, the third the size
//! of the pieces in which ciphertext reaches the server's socket:
//! - raw: the rest is sent as ciphertext with no handshake. No frame may come out of it.
//! - frames: a real handshake, then the rest is the client's plaintext, encrypted in records of the
//!   chosen sizes, then `close_notify`. The server must frame exactly the complete lines sent (a
//!   trailing `\r` stripped), report the end of stream, and its echo of each frame must decrypt on
//!   the client to the same lines.
//! - tampered: a handshake, the first half as plaintext records, then the second half injected into
//!   the socket as raw bytes (records that cannot authenticate). The frames that come out are a
//!   prefix of the lines of the first half.
#![no_main]

use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use splitd::config::TlsFiles;
use splitd::net::frame::{FrameBuf, Next};
use splitd::net::tls::{Acceptor, Filled, Transport};

/// Larger than any input (`-max_len`), so the oracle needs no `TooLong` case.
const FRAME_BYTES_MAX: usize = 1 << 20;
/// Rounds of client ↔ server pumping before the target gives up on progress (a handshake takes 3).
const ROUNDS_MAX: usize = 64;

struct Fixture {
    acceptor: Acceptor,
    client: Arc<ClientConfig>,
}

/// A throwaway CA and a `localhost` certificate it signed, made once per fuzzing process.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::new(vec!["localhost".to_string()]).expect("params").signed_by(&key, &ca);
        let dir = std::env::temp_dir().join(format!("splitd-fuzz-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let files = TlsFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem") };
        std::fs::write(&files.cert, cert.expect("certificate").pem()).expect("write cert");
        std::fs::write(&files.key, key.serialize_pem()).expect("write key");
        let acceptor = Acceptor::load(files).expect("the pair loads");
        let _ = std::fs::remove_dir_all(&dir);
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(ca.pem().as_bytes()).expect("CA PEM")).expect("root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Fixture { acceptor, client: Arc::new(client) }
    })
}

/// The server end of a connection as splitd holds one, and the client's socket.
fn connection() -> (Transport, UnixStream) {
    let (server, client) = UnixStream::pair().expect("socket pair");
    server.set_nonblocking(true).expect("nonblocking");
    client.set_nonblocking(true).expect("nonblocking");
    // SAFETY: the descriptor is a connected stream socket, owned from here on by the TcpStream alone
    // (into_raw_fd gave up the UnixStream's ownership), and closed once when it drops. The TLS path
    // only reads and writes it, which a Unix stream socket does exactly as TCP does; `peer_addr`,
    // which is TCP-specific, is never called here.
    let stream = unsafe { mio::net::TcpStream::from_raw_fd(server.into_raw_fd()) };
    (fixture().acceptor.transport(stream).expect("a session"), client)
}

/// What the server side saw.
#[derive(Default)]
struct Server {
    frames: FrameBuf,
    received: Vec<Vec<u8>>,
    /// Echoes not yet taken by the transport.
    echo: Vec<u8>,
    ended: bool,
    failed: bool,
}

impl Server {
    /// One turn, as the loop runs one: read until `WouldBlock`, frame and decode, echo, flush.
    fn turn(&mut self, transport: &mut Transport, scratch: &mut [u8]) {
        if self.failed {
            return;
        }
        while !self.ended {
            match transport.read(&mut self.frames, scratch) {
                Ok(Filled::Eof) => self.ended = true,
                Ok(Filled::Full | Filled::Short) => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.failed = true;
                    return;
                }
            }
        }
        loop {
            match self.frames.next_frame(FRAME_BYTES_MAX) {
                Next::Frame(bytes) => {
                    let _ = splitd::proto::decode(bytes);
                    self.echo.extend_from_slice(bytes);
                    self.echo.push(b'\n');
                    self.received.push(bytes.to_vec());
                }
                Next::TooLong => panic!("no input is longer than the frame limit"),
                Next::Incomplete => break,
            }
        }
        while !self.echo.is_empty() {
            match transport.write(&self.echo) {
                Ok(n) => drop(self.echo.drain(..n)),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.failed = true;
                    return;
                }
            }
        }
        if let Err(err) = transport.send_pending() {
            self.failed |= err.kind() != io::ErrorKind::WouldBlock;
        }
    }
}

/// The client's side of one exchange: ciphertext out, ciphertext in, plaintext collected. `Err`
/// with the client's verdict on what the server sent (an alert after garbage, in the raw modes).
fn pump(client: &mut ClientConnection, socket: &mut UnixStream, echoed: &mut Vec<u8>) -> Result<bool, String> {
    let mut moved = false;
    while client.wants_write() {
        match client.write_tls(socket) {
            Ok(n) => moved |= n > 0,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) => return Err(format!("client write: {err}")),
        }
    }
    loop {
        match client.read_tls(socket) {
            Ok(0) => break,
            Ok(_) => {
                moved = true;
                client.process_new_packets().map_err(|err| format!("the server's records: {err}"))?;
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) => return Err(format!("client read: {err}")),
        }
    }
    let _ = client.reader().read_to_end(echoed);
    Ok(moved)
}

/// The complete lines of `plaintext` as the framer returns them (no `\n`, a trailing `\r` off).
fn lines(plaintext: &[u8]) -> Vec<Vec<u8>> {
    let mut lines: Vec<Vec<u8>> = plaintext.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    lines.pop();
    for line in &mut lines {
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    lines
}

struct Run {
    transport: Transport,
    socket: UnixStream,
    client: ClientConnection,
    server: Server,
    echoed: Vec<u8>,
    /// The client's complaint about what the server sent, if it had one (then it stops pumping).
    client_failed: Option<String>,
    scratch: Vec<u8>,
}

impl Run {
    fn new() -> Run {
        let (transport, socket) = connection();
        let name = ServerName::try_from("localhost").expect("name");
        let client = ClientConnection::new(Arc::clone(&fixture().client), name).expect("client");
        Run { transport, socket, client, server: Server::default(), echoed: Vec::new(), client_failed: None, scratch: vec![0; 64 * 1024] }
    }

    /// One client pump, unless the client already gave up; whether bytes moved.
    fn pump(&mut self) -> bool {
        if self.client_failed.is_some() {
            return false;
        }
        pump(&mut self.client, &mut self.socket, &mut self.echoed).unwrap_or_else(|err| {
            self.client_failed = Some(err);
            false
        })
    }

    /// Pumps both ends until neither moves (or the round limit).
    fn settle(&mut self) {
        for _ in 0..ROUNDS_MAX {
            let moved = self.pump();
            self.server.turn(&mut self.transport, &mut self.scratch);
            if !moved && !self.transport.wants_write() && self.server.echo.is_empty() {
                return;
            }
        }
    }

    fn handshake(&mut self) {
        self.settle();
        assert!(!self.client.is_handshaking() && !self.transport.is_handshaking(), "the handshake completes");
    }

    /// The client encrypts `plaintext` in writes of `chunk` bytes (a record or more each); the
    /// ciphertext reaches the server in pieces of `piece` bytes, a server turn after each.
    fn send(&mut self, plaintext: &[u8], chunk: usize, piece: usize) {
        for part in plaintext.chunks(chunk) {
            self.client.writer().write_all(part).expect("client plaintext");
        }
        let mut ciphertext = Vec::new();
        while self.client.wants_write() {
            self.client.write_tls(&mut ciphertext).expect("into a Vec");
        }
        self.deliver(&ciphertext, piece);
        self.settle();
    }

    /// Writes `bytes` into the server's socket in pieces, a server turn (and a client read of the
    /// echoes) after each, so the socket never holds more than a piece.
    fn deliver(&mut self, bytes: &[u8], piece: usize) {
        for part in bytes.chunks(piece) {
            self.socket.write_all(part).expect("the server read the previous piece");
            self.server.turn(&mut self.transport, &mut self.scratch);
            self.pump();
        }
    }
}

/// A cut of `len` bytes into pieces of about `1 + cut * 8` bytes, but never more than `count_max`
/// of them (small pieces of a long input cost a syscall each, and the speed of fuzzing with them).
fn piece_bytes(cut: u8, len: usize, count_max: usize) -> usize {
    (1 + cut as usize * 8).max(len.div_ceil(count_max)).max(1)
}

fuzz_target!(|data: &[u8]| {
    let (Some(&mode), Some(&cut), Some(&split)) = (data.first(), data.get(1), data.get(2)) else { return };
    let rest = &data[3..];
    let mut run = Run::new();
    match mode % 3 {
        0 => {
            run.deliver(rest, piece_bytes(split, rest.len(), 64));
            assert!(run.server.received.is_empty(), "plaintext without a handshake");
        }
        1 => {
            run.handshake();
            let chunk = piece_bytes(cut, rest.len(), 256);
            run.send(rest, chunk, piece_bytes(split, rest.len() + 64, 64));
            run.client.send_close_notify();
            run.settle();
            assert!(!run.server.failed, "a valid session failed");
            assert_eq!(run.client_failed, None, "the server's records are valid");
            assert_eq!(run.server.received, lines(rest), "the frames are the lines sent");
            assert!(run.server.ended, "close_notify is the end of stream");
            let echo: Vec<u8> = lines(rest).iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect();
            assert_eq!(run.echoed, echo, "the echo decrypts to the frames");
        }
        _ => {
            let (plaintext, garbage) = rest.split_at(rest.len() / 2);
            run.handshake();
            run.send(plaintext, piece_bytes(cut, plaintext.len(), 256), piece_bytes(split, plaintext.len(), 64));
            run.deliver(garbage, piece_bytes(split, garbage.len(), 64));
            let sent = lines(plaintext);
            assert!(run.server.received.len() <= sent.len(), "more frames than lines sent");
            assert_eq!(run.server.received[..], sent[..run.server.received.len()], "frames are the lines sent");
        }
    }
});
