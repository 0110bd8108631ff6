//! `create_unix_connection` and `create_unix_server`: stream transports and servers over
//! Unix domain sockets (paths and Linux abstract names), with TLS where asked. Unix only:
//! in the guest and on Windows both return [`Error::Unsupported`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::listener::ListenSocket;
use super::server_options::DEFAULT_BACKLOG;
use super::{Server, UnixAddr};
use crate::error::{io_context, Error, Result};
use crate::net::connect::unsupported_or;
use crate::net::readiness::Watched;
use crate::protocol::AnyProtocol;
use crate::protocol_handle::ProtocolHandle;
use crate::sys;
use crate::tls::{self, ClientTls};
use crate::transport::{Transport, UnixSource};
use crate::EventLoop;

/// Keyword arguments of `create_unix_connection` (asyncio's names and defaults).
///
/// ```
/// let opts = twinloop::UnixConnectOptions::default();
/// assert!(opts.ssl.is_none());
/// ```
#[derive(Debug, Default)]
pub struct UnixConnectOptions {
    /// An already connected socket to adopt instead of a path (pass
    /// [`UnixAddr::Unnamed`] or `""` as the path).
    #[cfg(unix)]
    pub sock: Option<std::os::unix::net::UnixStream>,
    /// Connect with TLS using this configuration; [`UnixConnectOptions::server_hostname`]
    /// is then required (there is no host name to check the certificate against).
    pub ssl: Option<ClientTls>,
    /// The name the server's certificate must show (and SNI), as
    /// [`ConnectOptions::server_hostname`](crate::ConnectOptions::server_hostname).
    pub server_hostname: Option<String>,
    /// As [`ConnectOptions::ssl_handshake_timeout`](crate::ConnectOptions::ssl_handshake_timeout).
    pub ssl_handshake_timeout: Option<Duration>,
    /// As [`ConnectOptions::ssl_shutdown_timeout`](crate::ConnectOptions::ssl_shutdown_timeout).
    pub ssl_shutdown_timeout: Option<Duration>,
}

/// Keyword arguments of `create_unix_server` (asyncio's names and defaults).
///
/// ```
/// let opts = twinloop::UnixServerOptions::default();
/// assert_eq!(opts.backlog, 100);
/// assert!(opts.start_serving && opts.cleanup_socket);
/// ```
#[derive(Debug)]
pub struct UnixServerOptions {
    /// An already listening socket to serve on instead of a path (pass
    /// [`UnixAddr::Unnamed`] or `""` as the path).
    #[cfg(unix)]
    pub sock: Option<std::os::unix::net::UnixListener>,
    /// `listen()` backlog; also how many connections one readiness report accepts at most.
    pub backlog: u32,
    /// Serve TLS with this configuration, as [`ServerOptions::ssl`](crate::ServerOptions::ssl).
    pub ssl: Option<Arc<rustls::ServerConfig>>,
    /// Default [`SSL_HANDSHAKE_TIMEOUT`](crate::SSL_HANDSHAKE_TIMEOUT); only with `ssl`.
    pub ssl_handshake_timeout: Option<Duration>,
    /// Default [`SSL_SHUTDOWN_TIMEOUT`](crate::SSL_SHUTDOWN_TIMEOUT); only with `ssl`.
    pub ssl_shutdown_timeout: Option<Duration>,
    /// Start accepting at once (default); else call `start_serving` or `serve_forever`.
    pub start_serving: bool,
    /// Remove the socket file when the server closes (default, asyncio 3.13), unless the
    /// file was replaced since the server was made (another inode at the path). Abstract
    /// names have no file: they vanish with the socket.
    pub cleanup_socket: bool,
}

impl Default for UnixServerOptions {
    fn default() -> Self {
        UnixServerOptions {
            #[cfg(unix)]
            sock: None,
            backlog: DEFAULT_BACKLOG,
            ssl: None,
            ssl_handshake_timeout: None,
            ssl_shutdown_timeout: None,
            start_serving: true,
            cleanup_socket: true,
        }
    }
}

impl EventLoop {
    /// asyncio's `loop.create_unix_connection(protocol_factory, path, ...)`: connects to
    /// the Unix domain socket at `path` (a file path, or a Linux abstract name: a string
    /// starting with NUL, or [`UnixAddr::Abstract`]) and returns the transport and a
    /// [`ProtocolHandle`], as [`EventLoop::create_connection`] does (the future is
    /// `'static`; `factory` is called at once). The transport's `peername` and
    /// `sockname` are [`ExtraInfo::Unix`](crate::ExtraInfo::Unix).
    ///
    /// Errors: [`Error::InvalidArgument`] (no path and no `sock`, or both; TLS without
    /// `server_hostname`); the connect error (kind `NotFound` when nothing is at the path,
    /// `ConnectionRefused` when nobody listens there); [`Error::Unsupported`] in the guest
    /// and on Windows, and for abstract names off Linux.
    ///
    /// ```
    /// # use twinloop::{BaseProtocol, Protocol, UnixConnectOptions, UnixServerOptions}; struct Quiet; impl BaseProtocol for Quiet {} impl Protocol for Quiet {}
    /// # twinloop::EventLoop::new()?.run_until_complete(async { let ev = twinloop::get_running_loop()?;
    /// let dir = std::env::temp_dir().join(format!("twinloop-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("echo.sock");
    /// let server = ev.create_unix_server(|| Quiet, &path, UnixServerOptions::default()).await?;
    /// let (transport, _) = ev.create_unix_connection(|| Quiet, &path, UnixConnectOptions::default()).await?;
    /// transport.write(b"hello")?;
    /// transport.close();
    /// server.close(); // removes the socket file
    /// assert!(!path.exists());
    /// # std::fs::remove_dir(&dir)?;
    /// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
    /// ```
    pub fn create_unix_connection<P: AnyProtocol>(
        &self,
        factory: impl FnOnce() -> P,
        path: impl Into<UnixAddr>,
        options: UnixConnectOptions,
    ) -> impl Future<Output = Result<(Transport, ProtocolHandle<P>)>> + 'static {
        connect_unix(self.clone(), factory(), path.into(), options)
    }

    /// asyncio's `loop.create_unix_server(protocol_factory, path, ...)`: listens on the
    /// Unix domain socket `path` (a file path, or a Linux abstract name) and serves each
    /// connection as [`EventLoop::create_server`] does. As in asyncio, a socket file
    /// already at `path` (a server that is gone) is removed first; any other file there is
    /// an `AddrInUse` error. The socket file is removed when the server closes (see
    /// [`UnixServerOptions::cleanup_socket`]). The server's socket reports its address with
    /// [`ServerSocket::unix_addr`](crate::ServerSocket::unix_addr).
    ///
    /// Errors: [`Error::InvalidArgument`] (no path and no `sock`, or both), the bind error
    /// (kind `AddrInUse`, `PermissionDenied`, `InvalidInput` for a path too long),
    /// [`Error::Unsupported`] in the guest and on Windows, and for abstract names off Linux.
    /// Example: [`EventLoop::create_unix_connection`].
    pub fn create_unix_server<P: AnyProtocol>(
        &self,
        factory: impl Fn() -> P + 'static,
        path: impl Into<UnixAddr>,
        options: UnixServerOptions,
    ) -> impl Future<Output = Result<Server>> + 'static {
        let ev = self.clone();
        let path = path.into();
        async move { ev.listen_unix(factory, path, options) }
    }

    fn listen_unix<P: AnyProtocol>(
        &self,
        factory: impl Fn() -> P + 'static,
        path: UnixAddr,
        options: UnixServerOptions,
    ) -> Result<Server> {
        let UnixServerOptions {
            #[cfg(unix)]
            sock,
            backlog,
            ssl,
            ssl_handshake_timeout,
            ssl_shutdown_timeout,
            start_serving,
            cleanup_socket,
        } = options;
        let tls = tls::server_setup(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)?;
        let unsupported = |e| unsupported_or("create_unix_server", e);
        #[cfg(unix)]
        if let Some(sock) = sock {
            if !path.is_unnamed() {
                return Err(Error::invalid_argument(
                    "create_unix_server: path and sock can not be specified at the same time",
                ));
            }
            let listener =
                sys::UnixListener::from_std(sock, cleanup_socket).map_err(unsupported)?;
            let bound = vec![ListenSocket::Unix(listener)];
            return self.serve(factory, bound, tls, backlog, start_serving);
        }
        if path.is_unnamed() {
            return Err(Error::invalid_argument(
                "create_unix_server: path was not specified, and no sock specified",
            ));
        }
        let listener =
            sys::UnixListener::bind(&path, backlog, cleanup_socket).map_err(unsupported)?;
        let bound = vec![ListenSocket::Unix(listener)];
        self.serve(factory, bound, tls, backlog, start_serving)
    }

    async fn connect_unix_path(&self, path: &UnixAddr) -> Result<sys::UnixStream> {
        let failed = |e: std::io::Error| -> Error {
            if e.kind() == std::io::ErrorKind::Unsupported {
                unsupported_or("create_unix_connection", e)
            } else {
                io_context(e, format_args!("connect to {path} failed")).into()
            }
        };
        let sock = sys::UnixStream::connect(path).map_err(failed)?;
        Watched::new(self, sock)
            .connected(sys::UnixStream::finish_connect, failed)
            .await
    }
}

/// The future of [`EventLoop::create_unix_connection`]: owns what it needs.
async fn connect_unix<P: AnyProtocol>(
    ev: EventLoop,
    protocol: P,
    path: UnixAddr,
    options: UnixConnectOptions,
) -> Result<(Transport, ProtocolHandle<P>)> {
    let UnixConnectOptions {
        #[cfg(unix)]
        sock,
        ssl,
        server_hostname,
        ssl_handshake_timeout,
        ssl_shutdown_timeout,
    } = options;
    let tls = tls::client_setup(
        ssl,
        server_hostname.as_deref(),
        "",
        ssl_handshake_timeout,
        ssl_shutdown_timeout,
    )?;
    #[cfg(unix)]
    let adopted = match sock {
        Some(_) if !path.is_unnamed() => {
            return Err(Error::invalid_argument(
                "create_unix_connection: path and sock can not be specified at the same time",
            ))
        }
        Some(sock) => Some(
            sys::UnixStream::from_std(sock)
                .map_err(|e| unsupported_or("create_unix_connection", e))?,
        ),
        None => None,
    };
    #[cfg(not(unix))]
    let adopted: Option<sys::UnixStream> = None;
    let stream = match adopted {
        Some(stream) => stream,
        None if path.is_unnamed() => {
            return Err(Error::invalid_argument(
                "create_unix_connection: no path was specified, and no sock specified",
            ))
        }
        None => ev.connect_unix_path(&path).await?,
    };
    let source = Box::new(UnixSource::new(stream, None)?);
    ev.start_stream_over_tls(source, protocol, tls).await
}
