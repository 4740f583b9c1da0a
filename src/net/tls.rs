//! TLS inside the loop: the certificate pair (loaded at start, reloaded on SIGHUP), the peer
//! configurations of cluster mode (`PeerTls`: mutual authentication against the peer CA), and the
//! `Transport` a connection reads and writes through — plain TCP, or TCP with a `rustls` session.
//! One `Transport` serves both a client's connection (plaintext into its `FrameBuf`) and a cluster
//! peer's (plaintext into the peer's input buffer; `cluster::transport`), either side of the
//! handshake.
//!
//! The shape is rustls's own mio example: ciphertext read from the socket goes into the session
//! (`read_tls`), `process_new_packets` decrypts it, and the plaintext lands in the connection's
//! `FrameBuf`, where framing and the frame limit apply as for plain TCP. Plaintext output goes into
//! the session (`writer`), and `write_tls` sends ciphertext while the session `wants_write`. No
//! threads, no runtime: the handshake is just bytes in and bytes out on the loop's edges.
//!
//! Bounds. Time: a handshake is an unauthenticated connection, so `--login-timeout-secs` closes one
//! that stalls. Memory: rustls caps a handshake message at 64 KiB and a record at 16 KiB; its
//! outgoing buffers are capped by `SESSION_BUFFER_BYTES` (more output waits in the connection's own
//! buffer, bounded by `--max-output-bytes`); received plaintext is moved into the `FrameBuf` after
//! every record batch, so it never piles up inside the session. The handshake state is dropped by
//! rustls once the handshake ends; an idle session keeps its keys and a 4 KiB read buffer.
//!
//! Does not own framing (`frame`), when output may leave (`commit`), or closing (`mod.rs`).

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig, ServerConnection};

use super::frame::FrameBuf;
use super::Server;
use crate::config::{PeerTlsFiles, TlsFiles};
use crate::log;

/// The most ciphertext (and, during the handshake, plaintext) one session buffers for sending.
/// Output beyond it stays in the connection's own buffer until the socket takes what is queued, so
/// this only bounds the extra copy rustls holds: 64 KiB is a few records, enough to fill a socket
/// buffer in one `writev`.
const SESSION_BUFFER_BYTES: usize = 64 * 1024;

/// The certificate pair in force, and where it came from (to reload it from the same files).
pub struct Acceptor {
    files: TlsFiles,
    config: Arc<ServerConfig>,
}

impl Acceptor {
    /// Reads the certificate chain and key named by `files`; the reason in words if they do not make
    /// a usable pair.
    pub fn load(files: TlsFiles) -> Result<Acceptor, String> {
        let config = server_config(&files)?;
        Ok(Acceptor { files, config })
    }

    /// Reads the files again. A good pair replaces the old one for connections accepted from now on
    /// (open ones keep the pair they shook hands with); a bad one changes nothing.
    pub fn reload(&mut self) -> Result<(), String> {
        self.config = server_config(&self.files)?;
        Ok(())
    }

    /// A TLS transport for a newly accepted socket.
    pub fn transport(&self, stream: TcpStream) -> Result<Transport, String> {
        let session = ServerConnection::new(Arc::clone(&self.config)).map_err(|err| err.to_string())?;
        Ok(Transport::tls(Connection::Server(session), stream, Role::Client))
    }
}

/// Cluster peers over TLS: each member presents its certificate pair (`--tls-cert`, `--tls-key`)
/// on both the connections it accepts and those it dials, and verifies the other end's against the
/// peer CA (`--peer-ca`). A dialled member must be certified for the IP address of its `--peers`
/// entry. Read once at start (SIGHUP reloads only the client listener's pair).
pub struct PeerTls {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

impl PeerTls {
    /// Reads the member's pair and the peer CA; the reason in words if they are unusable.
    pub fn load(files: &PeerTlsFiles) -> Result<PeerTls, String> {
        let (certs, key) = (read_certs(&files.pair.cert)?, read_key(&files.pair.key)?);
        let mut roots = RootCertStore::empty();
        for ca in read_certs(&files.ca)? {
            roots.add(ca).map_err(|err| format!("peer CA {}: {err}", files.ca.display()))?;
        }
        let roots = Arc::new(roots);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::clone(&roots), Arc::clone(&provider))
            .build()
            .map_err(|err| format!("peer CA {}: {err}", files.ca.display()))?;
        let pair_error = |err: rustls::Error| {
            format!("TLS certificate {} with key {}: {err}", files.pair.cert.display(), files.pair.key.display())
        };
        let server = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|err| format!("TLS configuration: {err}"))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs.clone(), key.clone_key())
            .map_err(pair_error)?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| format!("TLS configuration: {err}"))?
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .map_err(pair_error)?;
        Ok(PeerTls { server: Arc::new(server), client: Arc::new(client) })
    }

    /// A TLS transport for a peer's connection accepted on the peer listener.
    pub fn accept(&self, stream: TcpStream) -> Result<Transport, String> {
        let session = ServerConnection::new(Arc::clone(&self.server)).map_err(|err| err.to_string())?;
        Ok(Transport::tls(Connection::Server(session), stream, Role::Peer))
    }

    /// A TLS transport for a connection this member dialled to the peer at `ip`.
    pub fn dial(&self, stream: TcpStream, ip: std::net::IpAddr) -> Result<Transport, String> {
        let name = ServerName::IpAddress(ip.into());
        let session = ClientConnection::new(Arc::clone(&self.client), name).map_err(|err| err.to_string())?;
        Ok(Transport::tls(Connection::Client(session), stream, Role::Peer))
    }
}

/// Builds the server configuration from PEM files: TLS 1.2 and 1.3, rustls's safe defaults, no
/// client certificates (users log in with a password inside the channel).
fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, String> {
    let (certs, key) = (read_certs(&files.cert)?, read_key(&files.key)?);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("TLS configuration: {err}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|err| format!("TLS certificate {} with key {}: {err}", files.cert.display(), files.key.display()))?;
    Ok(Arc::new(config))
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|err| format!("TLS key {}: {}", path.display(), pem_reason(err)))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect())
        .map_err(|err| format!("TLS certificate {}: {}", path.display(), pem_reason(err)))?;
    if certs.is_empty() {
        return Err(format!("TLS certificate {}: no CERTIFICATE block in the file", path.display()));
    }
    Ok(certs)
}

fn pem_reason(err: rustls::pki_types::pem::Error) -> String {
    match err {
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM block of the expected kind in the file".into(),
        rustls::pki_types::pem::Error::Io(err) => err.to_string(),
        other => format!("not valid PEM ({other:?})"),
    }
}

/// How one read from the transport went, when it read anything.
#[derive(Debug, PartialEq, Eq)]
pub enum Filled {
    /// The peer closed its side (TCP end of stream, or TLS `close_notify`).
    Eof,
    /// The read filled the buffer: more may be waiting in the socket.
    Full,
    /// The socket had less than the buffer holds: it is empty now.
    Short,
}

/// Where a transport's plaintext goes: a client's `FrameBuf`, a peer's input buffer.
pub trait Plaintext {
    fn take_plaintext(&mut self, bytes: &[u8]);
}

impl Plaintext for FrameBuf {
    #[inline]
    fn take_plaintext(&mut self, bytes: &[u8]) {
        self.extend(bytes);
    }
}

impl Plaintext for Vec<u8> {
    #[inline]
    fn take_plaintext(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Whose connection a session is, for the one log line about failed sessions of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Peer,
}

/// A connection's byte stream: plain TCP as it always was, or TCP under a rustls session.
pub enum Transport {
    Plain(TcpStream),
    /// Boxed: a session is a few hundred bytes that plaintext connections should not carry.
    Tls(Box<Tls>),
}

pub struct Tls {
    /// The server side for clients and accepted peers, the client side for dialled peers.
    session: Connection,
    stream: TcpStream,
    /// A `close_notify` came with the last bytes: the next read reports the end of stream.
    peer_closed: bool,
    role: Role,
}

impl Transport {
    /// `stream` under `session`, its outgoing buffers bounded by `SESSION_BUFFER_BYTES`.
    fn tls(mut session: Connection, stream: TcpStream, role: Role) -> Transport {
        session.set_buffer_limit(Some(SESSION_BUFFER_BYTES));
        Transport::Tls(Box::new(Tls { session, stream, peer_closed: false, role }))
    }

    /// Whether the TLS handshake is still under way (never for plain TCP).
    pub fn is_handshaking(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(tls) => tls.session.is_handshaking(),
        }
    }

    /// The peer's address (`None` if the peer is already gone).
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            Transport::Plain(stream) => stream.peer_addr().ok(),
            Transport::Tls(tls) => tls.stream.peer_addr().ok(),
        }
    }

    /// The socket, to register with the poll.
    pub fn socket(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(stream) => stream,
            Transport::Tls(tls) => &mut tls.stream,
        }
    }

    /// Reads once from the socket; plaintext goes into `input`. `scratch` is the loop's read buffer.
    /// Errors as the socket's (`WouldBlock`: nothing to read); a TLS failure is `InvalidData`.
    #[inline]
    pub fn read(&mut self, input: &mut impl Plaintext, scratch: &mut [u8]) -> io::Result<Filled> {
        match self {
            Transport::Plain(stream) => match stream.read(scratch)? {
                0 => Ok(Filled::Eof),
                n => {
                    input.take_plaintext(&scratch[..n]);
                    Ok(if n < scratch.len() { Filled::Short } else { Filled::Full })
                }
            },
            Transport::Tls(tls) => tls.read(input, scratch),
        }
    }

    /// Writes from `plaintext`; returns how many of its bytes were taken (for TLS: taken into the
    /// session, whose ciphertext may still wait — see `send_pending`).
    #[inline]
    pub fn write(&mut self, plaintext: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(stream) => stream.write(plaintext),
            Transport::Tls(tls) => tls.write(plaintext),
        }
    }

    /// Bytes of the transport's own wait to be written: a handshake flight, an alert, ciphertext.
    pub fn wants_write(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(tls) => tls.session.wants_write(),
        }
    }

    /// Writes what the transport itself holds; `WouldBlock` if the socket filled first.
    pub fn send_pending(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(_) => Ok(()),
            Transport::Tls(tls) => tls.send_tls(),
        }
    }

    /// On the way out: a TLS peer is told `close_notify`, so it sees an end, not a truncation
    /// (best effort: one non-blocking write).
    pub fn say_goodbye(&mut self) {
        if let Transport::Tls(tls) = self {
            tls.session.send_close_notify();
            let _ = tls.send_tls();
        }
    }
}

impl Tls {
    /// One socket read into the first half of `scratch`, fed to the session a record batch at a
    /// time; the plaintext each batch yields is moved through the second half into `input`.
    fn read(&mut self, input: &mut impl Plaintext, scratch: &mut [u8]) -> io::Result<Filled> {
        if self.peer_closed {
            return Ok(Filled::Eof);
        }
        let (cipher, plain) = scratch.split_at_mut(scratch.len() / 2);
        let n = read_retrying(&mut self.stream, cipher)?;
        if n == 0 {
            return Ok(Filled::Eof);
        }
        let mut rest = &cipher[..n];
        while !rest.is_empty() {
            let taken = self.session.read_tls(&mut rest).map_err(|err| self.fail(err.to_string()))?;
            let state = self.session.process_new_packets().map_err(|err| self.fail(err.to_string()))?;
            if state.plaintext_bytes_to_read() > 0 {
                self.drain_plaintext(input, plain)?;
            }
            if state.peer_has_closed() {
                // Frames before the close are still served; the next read reports the end.
                self.peer_closed = true;
                return Ok(Filled::Full);
            }
            if taken == 0 {
                return Err(self.fail("the TLS session took no bytes".into()));
            }
        }
        Ok(if n < cipher.len() { Filled::Short } else { Filled::Full })
    }

    fn drain_plaintext(&mut self, input: &mut impl Plaintext, plain: &mut [u8]) -> io::Result<()> {
        loop {
            match self.session.reader().read(plain) {
                Ok(0) => return Ok(()),
                Ok(n) => input.take_plaintext(&plain[..n]),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(err) => return Err(self.fail(err.to_string())),
            }
        }
    }

    /// A session that failed (not TLS at all, a bad handshake, a corrupt record): the alert rustls
    /// queued is sent if the socket takes it, and the connection is to be dropped.
    fn fail(&mut self, reason: String) -> io::Error {
        let _ = self.send_tls();
        static CLIENT_LOGGED: AtomicBool = AtomicBool::new(false);
        static PEER_LOGGED: AtomicBool = AtomicBool::new(false);
        let (logged, who) = match self.role {
            Role::Client => (&CLIENT_LOGGED, "client"),
            Role::Peer => (&PEER_LOGGED, "cluster peer"),
        };
        if !logged.swap(true, Ordering::Relaxed) {
            log::info!("dropping a {who} connection whose TLS failed ({reason}); later ones are not logged");
        }
        io::Error::new(io::ErrorKind::InvalidData, reason)
    }

    fn write(&mut self, plaintext: &[u8]) -> io::Result<usize> {
        let mut taken = self.session.writer().write(plaintext)?;
        if taken == 0 && !plaintext.is_empty() {
            // The session's buffer is full: make room (WouldBlock: the socket is full too).
            self.send_tls()?;
            taken = self.session.writer().write(plaintext)?;
            if taken == 0 {
                // Still handshaking, and plaintext queued for after it fills the buffer: the rest
                // waits in the connection's output until the handshake ends.
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
        match self.send_tls() {
            Err(err) if err.kind() != io::ErrorKind::WouldBlock => Err(err),
            _ => Ok(taken),
        }
    }

    fn send_tls(&mut self) -> io::Result<()> {
        while self.session.wants_write() {
            match self.session.write_tls(&mut self.stream) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}

fn read_retrying(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

impl Server {
    /// SIGHUP: reload the certificate pair from its files. Open connections are untouched; a bad
    /// file keeps the pair in force, and the log says why.
    pub(super) fn reload_tls(&mut self) {
        let Some(acceptor) = &mut self.tls else {
            log::info!("SIGHUP: no TLS certificate to reload (the server was started without --tls-cert)");
            return;
        };
        match acceptor.reload() {
            Ok(()) => log::info!(
                "SIGHUP: reloaded the TLS certificate {}; new connections use it",
                acceptor.files.cert.display()
            ),
            Err(err) => log::info!("SIGHUP: keeping the previous TLS certificate: {err}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A self-signed pair for `localhost` written to a fresh directory: (dir, cert, key).
    fn pair(tag: &str) -> (PathBuf, TlsFiles) {
        let dir = std::env::temp_dir().join(format!("splitd-tls-unit-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let files = TlsFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem") };
        std::fs::write(&files.cert, made.cert.pem()).unwrap();
        std::fs::write(&files.key, made.signing_key.serialize_pem()).unwrap();
        (dir, files)
    }

    #[test]
    fn the_peer_configuration_needs_a_pair_and_a_ca_and_names_the_bad_file() {
        let (dir, pair) = pair("peer");
        let ca = dir.join("ca.pem");
        let files = PeerTlsFiles { pair: pair.clone(), ca: ca.clone() };
        let missing = PeerTls::load(&files).err().expect("no CA file");
        assert!(missing.contains("ca.pem"), "{missing}");
        std::fs::write(&ca, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
        let not_a_ca = PeerTls::load(&files).err().expect("a key is no CA certificate");
        assert!(not_a_ca.contains("ca.pem"), "{not_a_ca}");
        // A self-signed certificate may stand as its own CA here: the pair and the CA load.
        std::fs::copy(&pair.cert, &ca).unwrap();
        assert!(PeerTls::load(&files).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_plaintext_connection_does_not_carry_a_session() {
        // The session is boxed: plain connections pay one pointer-sized enum, not ~1.2 KiB.
        assert!(std::mem::size_of::<Transport>() <= 16, "{}", std::mem::size_of::<Transport>());
    }

    #[test]
    fn a_good_pair_loads_and_each_bad_file_is_named() {
        let (dir, files) = pair("load");
        let mut acceptor = Acceptor::load(files.clone()).expect("a good pair");
        let missing = TlsFiles { cert: dir.join("nope.pem"), key: files.key.clone() };
        assert!(Acceptor::load(missing).err().unwrap().contains("nope.pem"));
        std::fs::write(&files.key, "not a key\n").unwrap();
        let bad_key = acceptor.reload().unwrap_err();
        assert!(bad_key.contains("key.pem"), "{bad_key}");
        let (other_dir, other) = pair("load-other");
        std::fs::copy(&other.key, &files.key).unwrap();
        let mismatch = acceptor.reload().unwrap_err();
        assert!(mismatch.contains("cert.pem") && mismatch.contains("key.pem"), "{mismatch}");
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&other_dir);
    }
}
