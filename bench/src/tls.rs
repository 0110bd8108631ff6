//! The one rustls configuration both runtimes' TLS echo uses (`echo_peer --tls true`):
//! the example certificates of `examples/tls/` (a CA and a server certificate for
//! `localhost`), ring's provider, rustls's default protocol versions (TLS 1.3 is
//! negotiated), no ALPN.

use std::sync::Arc;

use twinloop::rustls::pki_types::pem::PemObject;
use twinloop::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use twinloop::rustls::{self, ClientConfig, RootCertStore, ServerConfig};

const CA: &[u8] = include_bytes!("../../examples/tls/ca.pem");
const SERVER_CERT: &[u8] = include_bytes!("../../examples/tls/server.pem");
const SERVER_KEY: &[u8] = include_bytes!("../../examples/tls/server.key");

/// The name the server's certificate shows and clients check.
pub const SERVER_NAME: &str = "localhost";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn server_config() -> Result<Arc<ServerConfig>, String> {
    let cert = CertificateDer::from_pem_slice(SERVER_CERT).map_err(|e| e.to_string())?;
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY).map_err(|e| e.to_string())?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}

pub fn client_config() -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    let ca = CertificateDer::from_pem_slice(CA).map_err(|e| e.to_string())?;
    roots.add(ca).map_err(|e| e.to_string())?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
