//! asyncio's rules for the `ssl`, `server_hostname`, `ssl_handshake_timeout` and
//! `ssl_shutdown_timeout` arguments, checked before anything connects, and what they
//! make: a [`TlsSetup`] that starts a rustls session per connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, Connection, ServerConfig, ServerConnection};

use super::{ClientTls, TlsConfig, SSL_HANDSHAKE_TIMEOUT, SSL_SHUTDOWN_TIMEOUT};
use crate::error::{Error, Result};

/// What a TLS connection needs to start, checked.
#[derive(Clone, Debug)]
pub(crate) struct TlsSetup {
    pub(crate) config: TlsConfig,
    /// The name sent and checked (client side); `None`: no name (only with a
    /// configuration that does not check it), the peer's address stands in for rustls.
    server_name: Option<ServerName<'static>>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
}

impl TlsSetup {
    fn new(
        config: TlsConfig,
        server_name: Option<ServerName<'static>>,
        handshake: Option<Duration>,
        shutdown: Option<Duration>,
    ) -> Result<TlsSetup> {
        Ok(TlsSetup {
            config,
            server_name,
            handshake_timeout: timeout("ssl_handshake_timeout", handshake, SSL_HANDSHAKE_TIMEOUT)?,
            shutdown_timeout: timeout("ssl_shutdown_timeout", shutdown, SSL_SHUTDOWN_TIMEOUT)?,
        })
    }

    /// A new session for a connection to (or from) `peer`.
    pub(crate) fn connection(&self, peer: Option<SocketAddr>) -> Result<Connection> {
        match &self.config {
            TlsConfig::Client(tls) => {
                let name = match (&self.server_name, peer) {
                    (Some(name), _) => name.clone(),
                    (None, Some(peer)) => ServerName::IpAddress(peer.ip().into()),
                    (None, None) => {
                        return Err(Error::invalid_argument(
                            "TLS: no server name and no peer address",
                        ))
                    }
                };
                Ok(ClientConnection::new(tls.config().clone(), name)
                    .map_err(Error::Tls)?
                    .into())
            }
            TlsConfig::Server(config) => Ok(ServerConnection::new(config.clone())
                .map_err(Error::Tls)?
                .into()),
        }
    }
}

/// A timeout argument: asyncio's default when not given, and it must be positive.
fn timeout(name: &str, given: Option<Duration>, default: Duration) -> Result<Duration> {
    match given {
        None => Ok(default),
        Some(d) if d.is_zero() => Err(Error::invalid_argument(format!(
            "{name} should be a positive number, got {d:?}"
        ))),
        Some(d) => Ok(d),
    }
}

/// Without `ssl`, the TLS arguments mean nothing: asyncio refuses them.
fn refuse_without_ssl(
    server_hostname: Option<&str>,
    handshake: Option<Duration>,
    shutdown: Option<Duration>,
) -> Result<()> {
    let given = [
        ("server_hostname", server_hostname.is_some()),
        ("ssl_handshake_timeout", handshake.is_some()),
        ("ssl_shutdown_timeout", shutdown.is_some()),
    ];
    match given.iter().find(|(_, present)| *present) {
        Some((name, _)) => Err(Error::invalid_argument(format!(
            "{name} is only meaningful with ssl"
        ))),
        None => Ok(()),
    }
}

/// The client side (`create_connection`, `open_connection`, `start_tls`): the server
/// name defaults to `host`; it must be given when `host` is empty; `""` turns hostname
/// checking off, which only a configuration made to skip it accepts.
pub(crate) fn client_setup(
    ssl: Option<ClientTls>,
    server_hostname: Option<&str>,
    host: &str,
    handshake: Option<Duration>,
    shutdown: Option<Duration>,
) -> Result<Option<TlsSetup>> {
    let Some(tls) = ssl else {
        refuse_without_ssl(server_hostname, handshake, shutdown)?;
        return Ok(None);
    };
    let name = match server_hostname {
        Some(name) => name,
        None if host.is_empty() => {
            return Err(Error::invalid_argument(
                "you must set server_hostname when using ssl without a host",
            ))
        }
        None => host,
    };
    let server_name = if name.is_empty() {
        if tls.checks_hostname() {
            return Err(Error::invalid_argument(
                "server_hostname \"\" turns hostname checking off, so any server with a \
                 certificate the roots trust could pose as this one; if that is really \
                 meant, use a ClientTls made with ClientTls::dangerous_without_hostname_check",
            ));
        }
        None
    } else {
        Some(ServerName::try_from(name.to_owned()).map_err(|_| {
            Error::invalid_argument(format!(
                "server_hostname {name:?} is neither a DNS name nor an IP address"
            ))
        })?)
    };
    TlsSetup::new(TlsConfig::Client(tls), server_name, handshake, shutdown).map(Some)
}

/// The server side (`create_server`, `start_server`, `connect_accepted_socket`).
pub(crate) fn server_setup(
    ssl: Option<Arc<ServerConfig>>,
    handshake: Option<Duration>,
    shutdown: Option<Duration>,
) -> Result<Option<TlsSetup>> {
    let Some(config) = ssl else {
        refuse_without_ssl(None, handshake, shutdown)?;
        return Ok(None);
    };
    TlsSetup::new(TlsConfig::Server(config), None, handshake, shutdown).map(Some)
}
