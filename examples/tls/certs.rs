//! The TLS examples' certificates: a CA and a server certificate for `localhost`,
//! `127.0.0.1` and `::1` it signed, checked in (made by `generate.sh` beside this file)
//! and embedded, so both examples run the same natively and in the guest with no files.
//! For examples only: the server's key is public.

use std::sync::Arc;

use twinloop::rustls::pki_types::pem::PemObject;
use twinloop::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use twinloop::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use twinloop::ClientTls;

const CA: &[u8] = include_bytes!("ca.pem");
const SERVER_CERT: &[u8] = include_bytes!("server.pem");
const SERVER_KEY: &[u8] = include_bytes!("server.key");

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server's configuration: the example certificate, ALPN `echo`.
#[allow(dead_code)] // each example uses one side
pub fn server_config() -> Result<Arc<ServerConfig>, String> {
    let cert = CertificateDer::from_pem_slice(SERVER_CERT).map_err(|e| e.to_string())?;
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY).map_err(|e| e.to_string())?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"echo".to_vec()];
    Ok(Arc::new(config))
}

/// A client trusting the example CA only, offering ALPN `echo`.
#[allow(dead_code)] // each example uses one side
pub fn client_tls() -> Result<ClientTls, String> {
    let mut roots = RootCertStore::empty();
    let ca = CertificateDer::from_pem_slice(CA).map_err(|e| e.to_string())?;
    roots.add(ca).map_err(|e| e.to_string())?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(ClientTls::from(config).with_alpn(&[b"echo"]))
}
