//! `create_connection` and `connect_accepted_socket`.

use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{io_context, Error, Result};
use crate::net::happy_eyeballs;
use crate::net::readiness::Watched;
use crate::net::resolve::{Family, Port};
use crate::protocol::AnyProtocol;
use crate::protocol_handle::ProtocolHandle;
use crate::sys;
use crate::tls::{self, ClientTls, TlsSetup};
use crate::transport::{ByteStream, TcpSource, Transport};
use crate::EventLoop;

/// Keyword arguments of `create_connection` (asyncio's names; defaults as asyncio's).
/// asyncio's `proto` and `flags` have no counterpart: the protocol of these stream
/// sockets can only be TCP, and `flags` are `getaddrinfo` hints that neither resolver
/// used (`std`'s natively, `wasi:sockets/ip-name-lookup` in the guest) takes.
///
/// ```
/// let opts = twinloop::ConnectOptions {
///     family: twinloop::Family::V4,
///     all_errors: true,
///     ..Default::default()
/// };
/// assert!(opts.local_addr.is_none());
/// ```
#[derive(Debug, Default)]
pub struct ConnectOptions {
    /// Only addresses of this family are tried.
    pub family: Family,
    /// Bind the local end to this address first (its family must match the remote one).
    pub local_addr: Option<SocketAddr>,
    /// An already connected socket to adopt instead of `host`/`port` (pass an empty host).
    /// Native only: the guest returns [`Error::Unsupported`].
    pub sock: Option<std::net::TcpStream>,
    /// When every attempt fails: `true` returns [`Error::Multiple`] with every attempt's
    /// error; `false` (asyncio's default) returns the single error, or, when the attempts
    /// failed differently, [`Error::Multiple`] as well (asyncio's "Multiple exceptions").
    pub all_errors: bool,
    /// Happy Eyeballs (RFC 8305): when set, the next address is tried once this much time
    /// passed without the previous attempt connecting (or at once when it failed), and
    /// the first to connect wins. RFC 8305 recommends 250 ms. `None` (asyncio's default):
    /// one address after the other.
    pub happy_eyeballs_delay: Option<Duration>,
    /// Alternate address families in the order tried, starting with the first address's
    /// family, leading with this many of its addresses (asyncio's `interleave`). `None`
    /// means 1 when `happy_eyeballs_delay` is set, and the resolver's order otherwise;
    /// `Some(0)` keeps the resolver's order.
    pub interleave: Option<usize>,
    /// asyncio's `ssl`: connect with TLS using this configuration
    /// ([`ClientTls::webpki_roots`] is asyncio's `ssl=True`). The protocol sees plaintext;
    /// `connection_made` runs after the handshake.
    pub ssl: Option<ClientTls>,
    /// The name the server's certificate must show and that is sent (SNI); default `host`.
    /// Required with `ssl` when `host` is empty (`sock=`). `Some("")` sends none and
    /// checks none, which is a hole (anyone with a certificate the roots trust can pose as
    /// the server): it is refused unless `ssl` was made with
    /// [`ClientTls::dangerous_without_hostname_check`]. Only meaningful with `ssl`.
    pub server_hostname: Option<String>,
    /// Default [`SSL_HANDSHAKE_TIMEOUT`](crate::SSL_HANDSHAKE_TIMEOUT) (60 s); past it the
    /// connection is aborted with [`Error::TlsTimeout`]. Only meaningful with `ssl`.
    pub ssl_handshake_timeout: Option<Duration>,
    /// Default [`SSL_SHUTDOWN_TIMEOUT`](crate::SSL_SHUTDOWN_TIMEOUT) (30 s): how long
    /// `close` may take to send what is left and `close_notify`. Only meaningful with `ssl`.
    pub ssl_shutdown_timeout: Option<Duration>,
}

/// Keyword arguments of `connect_accepted_socket` (asyncio's `ssl`,
/// `ssl_handshake_timeout`, `ssl_shutdown_timeout`): the accepted side is the TLS server.
///
/// ```
/// let opts = twinloop::AcceptedOptions::default();
/// assert!(opts.ssl.is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct AcceptedOptions {
    /// Serve TLS on the socket with this configuration.
    pub ssl: Option<Arc<rustls::ServerConfig>>,
    /// As [`ConnectOptions::ssl_handshake_timeout`].
    pub ssl_handshake_timeout: Option<Duration>,
    /// As [`ConnectOptions::ssl_shutdown_timeout`].
    pub ssl_shutdown_timeout: Option<Duration>,
}

impl EventLoop {
    /// asyncio's `loop.create_connection(protocol_factory, host, port, ...)`: resolves
    /// `host`, tries each address in order until one connects, and returns the transport
    /// and a [`ProtocolHandle`] to the protocol (look at it with `with`). The protocol's
    /// `connection_made` has run when this returns. TCP_NODELAY is on.
    ///
    /// The returned future owns what it needs (`'static`): hand it to
    /// [`EventLoop::create_task`] or [`EventLoop::run_until_complete`] as it is. `factory`
    /// is called at once (asyncio calls it once connected), so it may borrow; if the
    /// connection fails, the protocol is dropped without any callback.
    ///
    /// With [`ConnectOptions::ssl`], the TLS handshake follows the connect, and the
    /// transport carries TLS (see [`Transport`]'s extra info `sslcontext`, `peercert`,
    /// `cipher`, `alpn`).
    ///
    /// Errors: [`Error::InvalidArgument`] (empty host without `sock`, host with `sock`, port
    /// out of range, TLS arguments against asyncio's rules); the resolver's [`Error::Io`];
    /// the connect error (e.g. kind `ConnectionRefused`), or [`Error::Multiple`] (see
    /// [`ConnectOptions::all_errors`]); in the guest, `PermissionDenied` when the host's
    /// policy forbids the address; with TLS, [`Error::Tls`] (e.g. an untrusted
    /// certificate), [`Error::TlsTimeout`], or `ConnectionReset` if the peer hung up
    /// during the handshake.
    ///
    /// ```
    /// use twinloop::{BaseProtocol, ConnectOptions, EventLoop, Protocol, Transport};
    /// # use twinloop::ServerOptions; struct Quiet; impl BaseProtocol for Quiet {} impl Protocol for Quiet {}
    /// struct Client { greeted: bool }
    /// impl BaseProtocol for Client {
    ///     fn connection_made(&mut self, t: Transport) { self.greeted = t.write(b"ping").is_ok(); }
    /// }
    /// impl Protocol for Client {}
    /// let ev = EventLoop::new()?;
    /// # let server = ev.run_until_complete(ev.create_server(|| Quiet, "127.0.0.1", 0, ServerOptions::default()))??;
    /// # let port = server.sockets()[0].local_addr().unwrap().port();
    /// // a server listens on 127.0.0.1:port
    /// let connecting = ev.create_connection(|| Client { greeted: false }, "127.0.0.1", port, ConnectOptions::default());
    /// let (transport, client) = ev.run_until_complete(connecting)??;
    /// assert!(client.with(|c| c.greeted)?); // connection_made has run
    /// transport.close();
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn create_connection<P: AnyProtocol>(
        &self,
        factory: impl FnOnce() -> P,
        host: &str,
        port: impl Into<Port>,
        options: ConnectOptions,
    ) -> impl Future<Output = Result<(Transport, ProtocolHandle<P>)>> + 'static {
        connect(
            self.clone(),
            factory(),
            host.to_owned(),
            port.into(),
            options,
        )
    }

    /// asyncio's `loop.connect_accepted_socket(protocol_factory, sock)`: wraps a socket
    /// accepted elsewhere in a transport. Native only ([`Error::Unsupported`] in the guest).
    /// As with [`EventLoop::create_connection`], the future is `'static` and `factory` is
    /// called at once.
    ///
    /// ```
    /// use std::io::Read;
    /// use std::net::{TcpListener, TcpStream};
    /// # use twinloop::{BaseProtocol, Protocol}; struct Quiet; impl BaseProtocol for Quiet {} impl Protocol for Quiet {}
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let mut peer = TcpStream::connect(listener.local_addr()?)?;
    /// let (sock, _) = listener.accept()?;
    /// let ev = twinloop::EventLoop::new()?;
    /// let (transport, _) = ev.run_until_complete(ev.connect_accepted_socket(|| Quiet, sock))??;
    /// assert_eq!(transport.peername(), Some(peer.local_addr()?));
    /// transport.write(b"hi")?; // two bytes into an empty socket buffer: sent at once
    /// let mut buf = [0; 2];
    /// peer.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"hi");
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn connect_accepted_socket<P: AnyProtocol>(
        &self,
        factory: impl FnOnce() -> P,
        sock: std::net::TcpStream,
    ) -> impl Future<Output = Result<(Transport, ProtocolHandle<P>)>> + 'static {
        let ev = self.clone();
        let protocol = factory();
        let stream = sys::TcpStream::from_std(sock)
            .map_err(|e| unsupported_or("connect_accepted_socket", e));
        async move { ev.make_transport(stream?, protocol, None).await }
    }

    /// [`EventLoop::connect_accepted_socket`] with asyncio's keyword arguments: with
    /// [`AcceptedOptions::ssl`], this side runs the TLS handshake as the server first.
    /// Native only.
    ///
    /// ```no_run
    /// # use std::sync::Arc; use twinloop::{AcceptedOptions, BaseProtocol, Protocol};
    /// # struct Quiet; impl BaseProtocol for Quiet {} impl Protocol for Quiet {}
    /// # fn serve(ev: &twinloop::EventLoop, sock: std::net::TcpStream, config: Arc<twinloop::rustls::ServerConfig>) {
    /// let opts = AcceptedOptions { ssl: Some(config), ..Default::default() };
    /// let accepting = ev.connect_accepted_socket_with(|| Quiet, sock, opts);
    /// # drop(accepting); }
    /// ```
    pub fn connect_accepted_socket_with<P: AnyProtocol>(
        &self,
        factory: impl FnOnce() -> P,
        sock: std::net::TcpStream,
        options: AcceptedOptions,
    ) -> impl Future<Output = Result<(Transport, ProtocolHandle<P>)>> + 'static {
        let ev = self.clone();
        let protocol = factory();
        let setup = tls::server_setup(
            options.ssl,
            options.ssl_handshake_timeout,
            options.ssl_shutdown_timeout,
        );
        let stream = sys::TcpStream::from_std(sock)
            .map_err(|e| unsupported_or("connect_accepted_socket", e));
        async move { ev.make_transport(stream?, protocol, setup?).await }
    }

    async fn make_transport<P: AnyProtocol>(
        &self,
        stream: sys::TcpStream,
        protocol: P,
        tls: Option<TlsSetup>,
    ) -> Result<(Transport, ProtocolHandle<P>)> {
        let source = Box::new(TcpSource::new(stream, None)?);
        self.start_stream_over_tls(source, protocol, tls).await
    }

    /// Starts a stream transport over `source`, after the TLS handshake when `tls` is
    /// given (any connected byte source: TCP, a Unix socket).
    pub(crate) async fn start_stream_over_tls<P: AnyProtocol>(
        &self,
        mut source: Box<dyn ByteStream>,
        protocol: P,
        tls: Option<TlsSetup>,
    ) -> Result<(Transport, ProtocolHandle<P>)> {
        if let Some(setup) = tls {
            source = Box::new(tls::handshake(self, source, &setup, Vec::new()).await?);
        }
        self.start_stream(source, Rc::new(RefCell::new(protocol)))
            .await
    }

    /// Starts a stream transport over `source` (TCP, TLS, a pipe end); completes once the
    /// protocol's `connection_made` has run.
    pub(crate) async fn start_stream<P: AnyProtocol>(
        &self,
        source: Box<dyn ByteStream>,
        protocol: Rc<RefCell<P>>,
    ) -> Result<(Transport, ProtocolHandle<P>)> {
        let transport = Transport::start(self, source, P::into_slot(protocol.clone()), None)?;
        // connection_made was scheduled first; this callback runs right after it.
        let made = self.create_future::<()>();
        let done = made.clone();
        self.call_soon(move |_| {
            let _ = done.set_result(());
        })?;
        made.await?;
        Ok((transport, ProtocolHandle::new(protocol)))
    }

    /// Tries each address in order; the first connected stream wins.
    async fn connect_first(
        &self,
        addrs: &[SocketAddr],
        local_addr: Option<SocketAddr>,
    ) -> std::result::Result<sys::TcpStream, Vec<Error>> {
        let mut errors = Vec::new();
        for &addr in addrs {
            match self.connect_attempt(addr, local_addr).await {
                Ok(stream) => return Ok(stream),
                Err(e @ Error::Cancelled(_)) => return Err(vec![e]),
                Err(e) => errors.push(e),
            }
        }
        Err(errors)
    }

    /// One attempt, from `local` when given (whose family must match `addr`'s).
    pub(super) async fn connect_attempt(
        &self,
        addr: SocketAddr,
        local: Option<SocketAddr>,
    ) -> Result<sys::TcpStream> {
        match local {
            Some(l) if l.is_ipv4() != addr.is_ipv4() => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("local address {l} does not match the family of {addr}"),
            )
            .into()),
            _ => self.connect_one(addr, local).await,
        }
    }

    async fn connect_one(
        &self,
        addr: SocketAddr,
        local: Option<SocketAddr>,
    ) -> Result<sys::TcpStream> {
        let with_addr = |e: std::io::Error| -> Error {
            io_context(e, format_args!("connect to {addr} failed")).into()
        };
        let sock = sys::TcpStream::connect(addr, local).map_err(with_addr)?;
        Watched::new(self, sock)
            .connected(sys::TcpStream::finish_connect, with_addr)
            .await
    }
}

/// The future of [`EventLoop::create_connection`]: owns what it needs.
async fn connect<P: AnyProtocol>(
    ev: EventLoop,
    protocol: P,
    host: String,
    port: Port,
    options: ConnectOptions,
) -> Result<(Transport, ProtocolHandle<P>)> {
    let ConnectOptions {
        family,
        local_addr,
        sock,
        all_errors,
        happy_eyeballs_delay,
        interleave,
        ssl,
        server_hostname,
        ssl_handshake_timeout,
        ssl_shutdown_timeout,
    } = options;
    let tls = tls::client_setup(
        ssl,
        server_hostname.as_deref(),
        &host,
        ssl_handshake_timeout,
        ssl_shutdown_timeout,
    )?;
    let stream = match sock {
        Some(_) if !host.is_empty() => {
            return Err(Error::invalid_argument(
                "create_connection: host/port and sock can not be specified at the same time",
            ))
        }
        Some(sock) => sys::TcpStream::from_std(sock)
            .map_err(|e| unsupported_or("create_connection(sock=...)", e))?,
        None if host.is_empty() => {
            return Err(Error::invalid_argument(
                "create_connection: host and port was not specified and no sock specified",
            ))
        }
        None => {
            let mut addrs = ev.resolve(&host, port.get()?, family).await?;
            let interleave = interleave.or(happy_eyeballs_delay.map(|_| 1));
            if let Some(count) = interleave.filter(|&c| c > 0) {
                addrs = happy_eyeballs::interleave(&addrs, count);
            }
            let connected = match happy_eyeballs_delay {
                Some(delay) => ev.connect_staggered(&addrs, local_addr, delay).await,
                None => ev.connect_first(&addrs, local_addr).await,
            };
            connected.map_err(|errors| combine(errors, all_errors))?
        }
    };
    ev.make_transport(stream, protocol, tls).await
}

/// asyncio's rule for several failed attempts.
fn combine(mut errors: Vec<Error>, all_errors: bool) -> Error {
    if let [Error::Cancelled(_)] = errors.as_slice() {
        return errors.remove(0);
    }
    if errors.is_empty() {
        return Error::invalid_argument("no addresses to connect to");
    }
    if all_errors {
        return Error::Multiple(errors);
    }
    if errors.len() == 1 {
        return errors.remove(0);
    }
    let first = errors[0].to_string();
    if errors.iter().all(|e| e.to_string() == first) {
        return errors.remove(0);
    }
    Error::Multiple(errors)
}

/// The backend says `Unsupported` for `sock=` in the guest: name the call.
pub(crate) fn unsupported_or(what: &'static str, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::Unsupported {
        Error::Unsupported {
            what,
            target: sys::TARGET,
        }
    } else {
        e.into()
    }
}
