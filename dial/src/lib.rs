//! How `splitc` and `splitbench` reach splitd: the address grammar and the TLS client configuration
//! they share, so both verify a server the same way.
//!
//! - [`Endpoint`]: `host:port` (plaintext, unless the caller's `--tls` says otherwise) or
//!   `tls://host:port` (TLS). The host is also the name the certificate must carry (a DNS name, or
//!   an IP address for a certificate with an IP entry).
//! - [`client_config`]: rustls's client configuration, trusting Mozilla's roots (`webpki-roots`) or
//!   only the CAs of `--ca-file`; `--insecure` skips the certificate check, for tests only.
//!
//! Owns no sockets: each client drives its own connection (blocking threads in `splitc`, a mio loop
//! in `splitbench`).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

pub use rustls;

/// Where a server is, and whether it is spoken to over TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port`, as given (without the `tls://`).
    pub addr: String,
    /// The host alone: the name to verify (brackets of an IPv6 literal removed).
    pub host: String,
    pub tls: bool,
}

impl Endpoint {
    /// Parses `host:port` or `tls://host:port`; `tls` forces TLS for the former (a `--tls` flag).
    pub fn parse(text: &str, tls: bool) -> Result<Endpoint, String> {
        let (addr, tls) = match text.split_once("://") {
            Some(("tls", rest)) => (rest, true),
            Some((scheme, _)) => return Err(format!("{text}: unknown scheme '{scheme}://' (use tls://host:port)")),
            None => (text, tls),
        };
        let Some((host, port)) = addr.rsplit_once(':') else {
            return Err(format!("{text}: expected host:port"));
        };
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(format!("{text}: expected host:port with a port number"));
        }
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        Ok(Endpoint { addr: addr.to_string(), host: host.to_string(), tls })
    }

    /// The name the server's certificate must carry.
    pub fn server_name(&self) -> Result<ServerName<'static>, String> {
        ServerName::try_from(self.host.clone()).map_err(|_| format!("{}: not a valid server name", self.host))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tls {
            write!(f, "tls://{}", self.addr)
        } else {
            f.write_str(&self.addr)
        }
    }
}

/// Which certificates a client accepts.
#[derive(Debug, Clone, Copy)]
pub enum Trust<'a> {
    /// Mozilla's root CAs (a public certificate, e.g. from Let's Encrypt).
    PublicRoots,
    /// Only the CA certificates in this PEM file (a private CA, a self-signed server).
    CaFile(&'a Path),
    /// Any certificate at all: for tests only. The channel is encrypted but the server unproven, so
    /// anyone on the path can pose as it.
    Insecure,
}

/// The TLS client configuration for `trust`; the reason in words if the CA file is unusable.
pub fn client_config(trust: Trust<'_>) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("TLS configuration: {err}"))?;
    let config = match trust {
        Trust::PublicRoots => {
            let roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Trust::CaFile(path) => builder.with_root_certificates(ca_roots(path)?).with_no_client_auth(),
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider.signature_verification_algorithms)))
            .with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn ca_roots(path: &Path) -> Result<RootCertStore, String> {
    let fail = |why: String| format!("--ca-file {}: {why}", path.display());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect())
        .map_err(|err| fail(format!("{err:?}")))?;
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(fail("no usable CERTIFICATE in the file".into()));
    }
    Ok(roots)
}

/// `--insecure`: accepts any certificate for any name. The handshake signature is still checked
/// (against the certificate presented), so the session keys are the server's — whoever it is.
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_with_and_without_the_scheme() {
        let plain = Endpoint::parse("127.0.0.1:5005", false).unwrap();
        assert_eq!((plain.addr.as_str(), plain.host.as_str(), plain.tls), ("127.0.0.1:5005", "127.0.0.1", false));
        assert!(Endpoint::parse("127.0.0.1:5005", true).unwrap().tls, "--tls forces TLS");
        let tls = Endpoint::parse("tls://splitd.example.org:443", false).unwrap();
        assert_eq!(
            (tls.addr.as_str(), tls.host.as_str(), tls.tls),
            ("splitd.example.org:443", "splitd.example.org", true)
        );
        assert_eq!(tls.to_string(), "tls://splitd.example.org:443");
        assert_eq!(Endpoint::parse("tls://[::1]:5005", false).unwrap().host, "::1");
        for bad in ["http://x:1", "tls://x", "x:port", ":5005", "tls://:1"] {
            assert!(Endpoint::parse(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_ip_addresses_are_names_to_verify() {
        assert!(Endpoint::parse("tls://localhost:1", false).unwrap().server_name().is_ok());
        assert!(matches!(
            Endpoint::parse("tls://127.0.0.1:1", false).unwrap().server_name(),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(Endpoint::parse("tls://bad_name!:1", false).unwrap().server_name().is_err());
    }

    #[test]
    fn a_missing_or_empty_ca_file_says_so() {
        let missing = client_config(Trust::CaFile(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(missing.contains("/nonexistent/ca.pem"), "{missing}");
        let empty = std::env::temp_dir().join(format!("dial-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "no pem here\n").unwrap();
        let refused = client_config(Trust::CaFile(&empty)).unwrap_err();
        let _ = std::fs::remove_file(&empty);
        assert!(refused.contains("--ca-file"), "{refused}");
        assert!(client_config(Trust::PublicRoots).is_ok() && client_config(Trust::Insecure).is_ok());
    }
}
