//! Helpers for the TLS tests (`tests/tls.rs`), on both targets: certificates made at run
//! time with rcgen (a test CA, server certificates it signs, a self-signed one, an
//! expired one) and the rustls configurations that use them; TLS servers and clients of
//! the `Peer` protocol of `tcp_support`.

use std::sync::Arc;

use twinloop::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use twinloop::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use twinloop::rustls::{CertificateError, Error as RustlsError};
use twinloop::{ClientTls, ConnectOptions, Error, EventLoop, Result, ServerOptions, Transport};

use crate::tcp_support::{connect_with, PeerLog, PeerOptions, Watch, LOCALHOST_V4};

/// A certificate and its private key.
pub struct Identity {
    /// The certificate, DER.
    pub cert: CertificateDer<'static>,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The PKCS#8 private key, PEM.
    pub key_pem: String,
    key: Vec<u8>,
}

impl Identity {
    /// A server configuration presenting this certificate, offering these ALPN protocols.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Arc<ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()));
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], key)
            .expect("a valid certificate and key");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate authority for tests, and what it signs.
pub struct TestCa {
    /// The CA's own certificate.
    pub identity: Identity,
    issuer: rcgen::Certificate,
    key: rcgen::KeyPair,
}

fn identity(cert: &rcgen::Certificate, key: &rcgen::KeyPair) -> Identity {
    Identity {
        cert: cert.der().clone(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        key: key.serialize_der(),
    }
}

fn params(names: &[&str]) -> rcgen::CertificateParams {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = rcgen::CertificateParams::new(names).expect("valid names");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "twinloop test");
    params
}

impl TestCa {
    /// A new CA with a fresh key.
    pub fn new() -> TestCa {
        let key = rcgen::KeyPair::generate().expect("generate a key");
        // Each CA has a name of its own: webpki finds an issuer by name.
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("no names");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("twinloop test CA {n}"));
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let issuer = params.self_signed(&key).expect("self-sign the CA");
        TestCa {
            identity: identity(&issuer, &key),
            issuer,
            key,
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses), valid now.
    pub fn server(&self, names: &[&str]) -> Identity {
        let key = rcgen::KeyPair::generate().expect("generate a key");
        let cert = params(names)
            .signed_by(&key, &self.issuer, &self.key)
            .expect("sign");
        identity(&cert, &key)
    }

    /// A server certificate for `names` that expired in 2001.
    pub fn expired_server(&self, names: &[&str]) -> Identity {
        let key = rcgen::KeyPair::generate().expect("generate a key");
        let mut params = params(names);
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        let cert = params
            .signed_by(&key, &self.issuer, &self.key)
            .expect("sign");
        identity(&cert, &key)
    }

    /// The roots a client trusting this CA uses.
    pub fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots
            .add(self.identity.cert.clone())
            .expect("the CA certificate parses");
        roots
    }

    /// A client trusting this CA (and nothing else), offering these ALPN protocols.
    pub fn client(&self, alpn: &[&[u8]]) -> ClientTls {
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_root_certificates(self.roots())
            .with_no_client_auth();
        ClientTls::from(config).with_alpn(alpn)
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

/// A self-signed server certificate for `names` (trusted by no one).
pub fn self_signed(names: &[&str]) -> Identity {
    let key = rcgen::KeyPair::generate().expect("generate a key");
    let cert = params(names).self_signed(&key).expect("self-sign");
    identity(&cert, &key)
}

/// Server options serving TLS with `identity`, offering these ALPN protocols.
pub fn tls_server(identity: &Identity, alpn: &[&[u8]]) -> ServerOptions {
    ServerOptions {
        ssl: Some(identity.server_config(alpn)),
        ..ServerOptions::default()
    }
}

/// Connect options with TLS `tls`, and `server_hostname` when given.
pub fn tls_client(tls: &ClientTls, server_hostname: Option<&str>) -> ConnectOptions {
    ConnectOptions {
        ssl: Some(tls.clone()),
        server_hostname: server_hostname.map(str::to_owned),
        ..ConnectOptions::default()
    }
}

/// A [`Peer`](crate::tcp_support::Peer) client over TLS to 127.0.0.1:`port`.
pub async fn connect_tls(
    ev: &EventLoop,
    port: u16,
    options: ConnectOptions,
    opts: PeerOptions,
) -> Result<(Transport, Watch<PeerLog>)> {
    connect_with(ev, LOCALHOST_V4, port, options, opts).await
}

/// The error of a TLS connect to 127.0.0.1:`port` that must fail (`why` says why).
pub async fn refused(ev: &EventLoop, port: u16, options: ConnectOptions, why: &str) -> Error {
    match connect_tls(ev, port, options, PeerOptions::default()).await {
        Ok(_) => panic!("connected, but {why}"),
        Err(e) => e,
    }
}

/// The certificate is signed by no root the client trusts.
pub fn unknown_issuer(e: &CertificateError) -> bool {
    matches!(e, CertificateError::UnknownIssuer)
}

/// Which certificate error a test expects.
pub type CertCheck = fn(&CertificateError) -> bool;

/// `error` is a certificate error `want` accepts.
pub fn is_certificate_error(error: &Error, want: CertCheck) -> bool {
    matches!(error, Error::Tls(RustlsError::InvalidCertificate(e)) if want(e))
}
