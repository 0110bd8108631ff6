//! The one rustls configuration both runtimes' TLS echo uses (`echo_peer --tls true`):
//! the TLS examples' (`examples/tls/certs.rs`: a CA and a server certificate for
//! `localhost`, ring's provider, rustls's default protocol versions, so TLS 1.3, and
//! ALPN `echo`), so twinloop and tokio-rustls run the very same configuration.

use std::sync::Arc;

use twinloop::rustls::{ClientConfig, ServerConfig};

#[path = "../../examples/tls/certs.rs"]
mod certs;

/// The name the server's certificate shows and clients check.
pub const SERVER_NAME: &str = "localhost";

pub fn server_config() -> Result<Arc<ServerConfig>, String> {
    certs::server_config()
}

pub fn client_config() -> Result<Arc<ClientConfig>, String> {
    Ok(certs::client_tls()?.config().clone())
}
