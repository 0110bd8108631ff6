//! TLS with rustls (asyncio's `ssl=` arguments): the configurations a connection or a
//! server is given, the rules for `server_hostname`, the handshake, and `start_tls`.
//!
//! A TLS connection is one more byte stream under the same [`Transport`](crate::Transport)
//! (see `transport/tls.rs`): the handshake runs first, over the socket, under
//! `ssl_handshake_timeout`; then the transport is made and the protocol's
//! `connection_made` runs, as in asyncio. The crypto is rustls's `ring` provider on both
//! targets (in the guest, ring's C parts are built with clang; see the README).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig};

mod handshake;
mod setup;
mod start;

pub(crate) use handshake::handshake;
pub(crate) use setup::{client_setup, server_setup, TlsSetup};
pub use start::StartTlsOptions;

use crate::error::{Error, Result};

/// asyncio's `SSL_HANDSHAKE_TIMEOUT`: how long a TLS handshake may take by default.
pub const SSL_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// asyncio's `SSL_SHUTDOWN_TIMEOUT`: how long a closing TLS connection may take to send
/// what is left and its `close_notify` by default.
pub const SSL_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// The client side's TLS configuration: asyncio's client `SSLContext` (the `ssl` of
/// [`ConnectOptions`](crate::ConnectOptions)). It is a rustls [`ClientConfig`] plus
/// whether the server's name is checked, which asyncio keeps in the context too
/// (`check_hostname`).
///
/// ```
/// use std::sync::Arc;
/// use twinloop::rustls::{self, pki_types::PrivateKeyDer, ClientConfig, RootCertStore, ServerConfig};
/// use twinloop::{ClientTls, ConnectOptions, ExtraInfo, ServerOptions, StreamOptions};
/// // A certificate for "localhost" (rcgen here; any PEM/DER certificate will do).
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
/// let key = PrivateKeyDer::try_from(cert.key_pair.serialize_der()).unwrap();
/// let server_config = ServerConfig::builder()
///     .with_no_client_auth()
///     .with_single_cert(vec![cert.cert.der().clone()], key)?;
/// // The client trusts that certificate only, and checks the name "localhost".
/// let mut roots = RootCertStore::empty();
/// roots.add(cert.cert.der().clone())?;
/// let tls = ClientTls::from(ClientConfig::builder().with_root_certificates(roots).with_no_client_auth());
/// assert!(tls.checks_hostname());
///
/// twinloop::run(|ev| async move {
///     let server_opts = ServerOptions { ssl: Some(Arc::new(server_config)), ..Default::default() };
///     let server = ev
///         .start_server(
///             |mut reader, writer| async move {
///                 let line = reader.readline().await?;
///                 writer.write(&line.to_ascii_uppercase())
///             },
///             "127.0.0.1",
///             0,
///             StreamOptions { options: server_opts, ..Default::default() },
///         )
///         .await?;
///     let port = server.sockets()[0].local_addr().unwrap().port();
///     let client_opts = ConnectOptions {
///         ssl: Some(tls),
///         server_hostname: Some("localhost".into()), // the host is an address
///         ..Default::default()
///     };
///     let options = StreamOptions { options: client_opts, ..Default::default() };
///     let (mut reader, writer) = ev.open_connection("127.0.0.1", port, options).await?;
///     writer.write(b"hello\n")?;
///     assert_eq!(reader.readline().await?, b"HELLO\n");
///     assert!(matches!(writer.get_extra_info("cipher"), Some(ExtraInfo::Cipher(_))));
///     Ok(())
/// })?;
/// // asyncio's ssl=True: Mozilla's roots, ALPN as you like.
/// let public = ClientTls::webpki_roots().with_alpn(&[b"h2", b"http/1.1"]);
/// assert_eq!(public.config().alpn_protocols.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    checks_hostname: bool,
}

impl ClientTls {
    /// A configuration that checks the server's certificate against `config`'s verifier,
    /// names included.
    pub fn new(config: Arc<ClientConfig>) -> ClientTls {
        ClientTls {
            config,
            checks_hostname: true,
        }
    }

    /// asyncio's `ssl=True` (`ssl.create_default_context()`): Mozilla's root certificates
    /// as the `webpki-roots` crate carries them, TLS 1.2 and 1.3, ring's crypto. Chosen over
    /// the platform's verifier because it is the same on both targets: a WASI guest has no
    /// platform certificate store to ask.
    pub fn webpki_roots() -> ClientTls {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        ClientTls::new(Arc::new(
            client_builder()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        ))
    }

    /// **Dangerous.** Verifies the server's certificate chain against `roots` but not
    /// that it names the server, so any server holding any certificate those roots signed
    /// can impersonate the one you meant. This is asyncio's `check_hostname = False`, and
    /// the only way to use `server_hostname: Some("")` (no name sent, none checked).
    pub fn dangerous_without_hostname_check(roots: RootCertStore) -> Result<ClientTls> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| Error::invalid_argument(format!("no usable root certificates: {e}")))?;
        let config = client_builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnlyVerifier { chain }))
            .with_no_client_auth();
        Ok(ClientTls {
            config: Arc::new(config),
            checks_hostname: false,
        })
    }

    /// The same configuration offering these ALPN protocols, preferred first.
    pub fn with_alpn(self, protocols: &[&[u8]]) -> ClientTls {
        let mut config = (*self.config).clone();
        config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
        ClientTls {
            config: Arc::new(config),
            ..self
        }
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// Whether the server's certificate must name the server (false only for
    /// [`ClientTls::dangerous_without_hostname_check`]).
    pub fn checks_hostname(&self) -> bool {
        self.checks_hostname
    }
}

impl From<Arc<ClientConfig>> for ClientTls {
    fn from(config: Arc<ClientConfig>) -> ClientTls {
        ClientTls::new(config)
    }
}

impl From<ClientConfig> for ClientTls {
    fn from(config: ClientConfig) -> ClientTls {
        ClientTls::new(Arc::new(config))
    }
}

/// ring's provider with rustls's safe protocol versions (TLS 1.2 and 1.3).
fn client_builder() -> rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier> {
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports rustls's default protocol versions")
}

/// Checks the chain (and the signatures) as webpki does; a certificate that does not name
/// the server is accepted. webpki checks the name last, after the chain, so only that
/// check is skipped.
#[derive(Debug)]
struct ChainOnlyVerifier {
    chain: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnlyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self.chain.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}

/// A TLS configuration of either side: what `start_tls` is given, and what a TLS
/// transport's `get_extra_info("sslcontext")` returns. Two are equal when they share the
/// same rustls configuration.
#[derive(Clone, Debug)]
pub enum TlsConfig {
    /// The client side.
    Client(ClientTls),
    /// The server side (asyncio's `server_side=True`).
    Server(Arc<ServerConfig>),
}

impl PartialEq for TlsConfig {
    fn eq(&self, other: &TlsConfig) -> bool {
        match (self, other) {
            (TlsConfig::Client(a), TlsConfig::Client(b)) => {
                Arc::ptr_eq(&a.config, &b.config) && a.checks_hostname == b.checks_hostname
            }
            (TlsConfig::Server(a), TlsConfig::Server(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for TlsConfig {}

impl From<ClientTls> for TlsConfig {
    fn from(tls: ClientTls) -> TlsConfig {
        TlsConfig::Client(tls)
    }
}

impl From<Arc<ServerConfig>> for TlsConfig {
    fn from(config: Arc<ServerConfig>) -> TlsConfig {
        TlsConfig::Server(config)
    }
}

/// A TLS transport's `get_extra_info("cipher")`: asyncio's 3-tuple.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CipherInfo {
    /// The cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub name: String,
    /// The protocol version, e.g. `TLSv1_3`.
    pub protocol: String,
    /// The secret bits of the cipher (128 or 256).
    pub bits: u32,
}

impl fmt::Display for CipherInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {} bits)", self.name, self.protocol, self.bits)
    }
}
