//! `start_tls`: upgrading a live plaintext connection in place (STARTTLS).

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use super::{client_setup, handshake, server_setup, TlsConfig};
use crate::error::{Error, Result};
use crate::transport::{StreamTransport, Transport};
use crate::EventLoop;

/// Keyword arguments of [`EventLoop::start_tls`] (asyncio's names and defaults).
///
/// ```
/// let opts = twinloop::StartTlsOptions { server_hostname: Some("localhost".into()), ..Default::default() };
/// assert!(opts.ssl_handshake_timeout.is_none()); // SSL_HANDSHAKE_TIMEOUT
/// ```
#[derive(Clone, Debug, Default)]
pub struct StartTlsOptions {
    /// The name the server's certificate must show (client side; required there, as
    /// asyncio's context requires it). `Some("")`: see
    /// [`ClientTls::dangerous_without_hostname_check`](crate::ClientTls::dangerous_without_hostname_check).
    pub server_hostname: Option<String>,
    /// Default [`SSL_HANDSHAKE_TIMEOUT`](crate::SSL_HANDSHAKE_TIMEOUT).
    pub ssl_handshake_timeout: Option<Duration>,
    /// Default [`SSL_SHUTDOWN_TIMEOUT`](crate::SSL_SHUTDOWN_TIMEOUT).
    pub ssl_shutdown_timeout: Option<Duration>,
}

/// Closes the transport if the upgrade is dropped half-way: its socket went with it.
struct CloseIfAbandoned(Option<Rc<StreamTransport>>);

impl Drop for CloseIfAbandoned {
    fn drop(&mut self) {
        if let Some(inner) = self.0.take() {
            inner.force_close(Some(Error::Cancelled(Some(
                "start_tls was cancelled".into(),
            ))));
        }
    }
}

impl EventLoop {
    /// asyncio's `loop.start_tls(transport, protocol, sslcontext, server_side=...,
    /// server_hostname=..., ssl_handshake_timeout=..., ssl_shutdown_timeout=...)`: runs a
    /// TLS handshake over a connected plaintext transport and returns it upgraded. Unlike
    /// asyncio, the upgrade is in place: the returned [`Transport`] is `transport` itself,
    /// with the same protocol (no second `connection_made`); `config`'s side is asyncio's
    /// `server_side`. What was written before the call goes out as plaintext first. While
    /// the handshake runs, nothing is read and writes are buffered.
    ///
    /// Errors: [`Error::InvalidArgument`] for the `server_hostname` and timeout rules of
    /// `create_connection`; [`Error::InvalidState`] on a closing transport; the handshake's
    /// [`Error::Tls`], [`Error::TlsTimeout`] or I/O error, after which the transport is
    /// closed with that error. Dropping the future closes the transport.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use twinloop::{ClientTls, StartTlsOptions};
    /// # fn upgrade(ev: &twinloop::EventLoop, transport: twinloop::Transport, roots: twinloop::rustls::RootCertStore) {
    /// let tls = ClientTls::from(
    ///     twinloop::rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth(),
    /// );
    /// let opts = StartTlsOptions { server_hostname: Some("localhost".into()), ..Default::default() };
    /// let upgrading = ev.start_tls(&transport, tls, opts); // await it on the loop
    /// # drop(upgrading); }
    /// ```
    pub fn start_tls(
        &self,
        transport: &Transport,
        config: impl Into<TlsConfig>,
        options: StartTlsOptions,
    ) -> impl Future<Output = Result<Transport>> + 'static {
        let ev = self.clone();
        let transport = transport.clone();
        let config = config.into();
        async move {
            let StartTlsOptions {
                server_hostname,
                ssl_handshake_timeout,
                ssl_shutdown_timeout,
            } = options;
            let setup = match config {
                TlsConfig::Client(tls) => client_setup(
                    Some(tls),
                    server_hostname.as_deref(),
                    "",
                    ssl_handshake_timeout,
                    ssl_shutdown_timeout,
                )?,
                TlsConfig::Server(config) => {
                    if server_hostname.is_some() {
                        return Err(Error::invalid_argument(
                            "server_hostname is only meaningful on the client side",
                        ));
                    }
                    server_setup(Some(config), ssl_handshake_timeout, ssl_shutdown_timeout)?
                }
            }
            .expect("ssl was given");
            let inner = transport.inner.clone();
            if inner.base.is_closing() {
                return Err(Error::invalid_state("start_tls: the transport is closing"));
            }
            let plaintext = inner.take_write_buffer();
            let stream = inner
                .take_source()
                .ok_or_else(|| Error::invalid_state("start_tls: the transport is closed"))?;
            let mut guard = CloseIfAbandoned(Some(inner.clone()));
            let upgraded = handshake(&ev, stream, &setup, plaintext).await;
            guard.0 = None;
            match upgraded {
                Ok(_) if inner.base.is_lost() => Err(Error::invalid_state(
                    "start_tls: the transport was closed during the handshake",
                )),
                Ok(tls) => {
                    inner.replace_source(&ev, Box::new(tls));
                    Ok(transport)
                }
                Err(e) => {
                    inner.force_close(Some(e.clone()));
                    Err(e)
                }
            }
        }
    }
}
