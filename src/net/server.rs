//! `create_server` and `Server`: listening sockets that make a transport and a protocol for
//! every accepted connection.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Deref;
use std::rc::{Rc, Weak};

use crate::error::{Error, Result};
use crate::future::LoopFuture;
use crate::net::accept::AcceptHandler;
use crate::net::connect::unsupported_or;
use crate::net::listener::{ListenAddr, ListenSocket, ServerSocket};
use crate::net::resolve::{Family, Port};
use crate::net::server_options::{Hosts, ServerOptions};
use crate::protocol::{AnyProtocol, ProtocolSlot};
use crate::registration::Registration;
use crate::sys::{self, Interest, ListenOptions};
use crate::tls::{self, TlsSetup};
use crate::transport::Transport;
use crate::EventLoop;
#[allow(unused_imports)] // doc links
use crate::UnixServerOptions;

pub(super) struct Listener {
    pub(super) registration: Registration<ListenSocket>,
    pub(super) local: ListenAddr,
}

pub(crate) struct ServerInner {
    /// Weak: the loop's I/O registry keeps a serving server alive (as asyncio's selector
    /// does), so a strong reference back would be a cycle.
    ev: Weak<crate::event_loop::LoopInner>,
    pub(super) listeners: RefCell<Vec<Listener>>,
    pub(super) factory: Box<dyn Fn() -> ProtocolSlot>,
    /// Serve TLS: each accepted connection's handshake comes first.
    pub(super) tls: Option<Rc<TlsSetup>>,
    pub(super) backlog: u32,
    pub(super) serving: Cell<bool>,
    closed: Cell<bool>,
    /// Accept ran out of a system resource and that was reported; cleared on success.
    pub(super) exhausted: Cell<bool>,
    pub(super) active: Cell<usize>,
    pub(super) clients: RefCell<Vec<Weak<crate::transport::StreamTransport>>>,
    waiters: RefCell<Vec<LoopFuture<()>>>,
    serving_forever: RefCell<Option<LoopFuture<()>>>,
}

/// A TCP or Unix domain socket server: asyncio's `asyncio.Server`, returned by
/// [`EventLoop::create_server`] and [`EventLoop::create_unix_server`].
/// A handle: clones refer to the same server. Use [`Server::guard`] for asyncio's
/// `async with server:` (close on scope exit).
///
/// ```
/// # use twinloop::{BaseProtocol, Protocol, ServerOptions}; struct Quiet; impl BaseProtocol for Quiet {} impl Protocol for Quiet {}
/// # twinloop::EventLoop::new()?.run_until_complete(async {
/// let ev = twinloop::get_running_loop()?;
/// let server = ev.create_server(|| Quiet, "127.0.0.1", 0, ServerOptions::default()).await?;
/// assert!(server.is_serving() && server.get_loop()?.ptr_eq(&ev));
/// println!("listening on {}", server.sockets()[0]);
/// server.close();
/// assert!(!server.is_serving() && server.sockets().is_empty());
/// server.wait_closed().await?; // no connections were open
/// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
/// ```
#[derive(Clone)]
pub struct Server {
    pub(super) inner: Rc<ServerInner>,
}

/// Closes its [`Server`] when dropped; dereferences to it. Made by [`Server::guard`].
pub struct ServerGuard(Server);

impl Deref for ServerGuard {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.0
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl EventLoop {
    /// asyncio's `loop.create_server(protocol_factory, host, port, ...)`: listens on every
    /// address of `host` (see [`Hosts`]); port 0 picks a free port (shared by all the
    /// sockets when `host` is all interfaces). Each accepted connection gets a new protocol
    /// from `factory` and a [`Transport`]. The future owns its arguments (`'static`).
    ///
    /// Errors: [`Error::InvalidArgument`] (empty host list, host with `sock`, bad port); the
    /// resolver's errors; bind errors such as kind `AddrInUse`; [`Error::Unsupported`] for
    /// options the target lacks (`reuse_port`, `sock` in the guest); in the guest,
    /// `PermissionDenied` when the host's policy forbids the address.
    ///
    /// ```
    /// use twinloop::{BaseProtocol, EventLoop, Protocol, ServerOptions};
    /// struct Nothing;
    /// impl BaseProtocol for Nothing {} impl Protocol for Nothing {}
    /// let ev = EventLoop::new()?;
    /// let server = ev.run_until_complete(ev.create_server(|| Nothing, "127.0.0.1", 0, ServerOptions::default()))??;
    /// assert_ne!(server.sockets()[0].local_addr().unwrap().port(), 0);
    /// server.close();
    /// ev.run_until_complete(server.wait_closed())??;
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn create_server<P: AnyProtocol>(
        &self,
        factory: impl Fn() -> P + 'static,
        host: impl Into<Hosts>,
        port: impl Into<Port>,
        options: ServerOptions,
    ) -> impl Future<Output = Result<Server>> + 'static {
        let ev = self.clone();
        let (hosts, port) = (host.into(), port.into());
        async move { ev.listen(factory, hosts, port.get()?, options).await }
    }

    async fn listen<P: AnyProtocol>(
        &self,
        factory: impl Fn() -> P + 'static,
        hosts: Hosts,
        port: u16,
        options: ServerOptions,
    ) -> Result<Server> {
        let ServerOptions {
            family,
            backlog,
            reuse_address,
            reuse_port,
            sock,
            start_serving,
            ssl,
            ssl_handshake_timeout,
            ssl_shutdown_timeout,
        } = options;
        let tls = tls::server_setup(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)?;
        let listen = ListenOptions {
            backlog,
            reuse_address,
            reuse_port,
            v6_only: true,
        };
        let mut bound: Vec<sys::TcpListener> = Vec::new();
        if let Some(sock) = sock {
            if !hosts.is_empty() && hosts != Hosts::All {
                return Err(Error::invalid_argument(
                    "create_server: host/port and sock can not be specified at the same time",
                ));
            }
            bound.push(
                sys::TcpListener::from_std(sock)
                    .map_err(|e| unsupported_or("create_server(sock=...)", e))?,
            );
        } else {
            let addrs = self.server_addresses(&hosts, port, family).await?;
            let mut chosen_port = port;
            for addr in addrs {
                let addr =
                    SocketAddr::new(addr.ip(), if port == 0 { chosen_port } else { addr.port() });
                match sys::TcpListener::bind(addr, &listen) {
                    Ok(listener) => {
                        if port == 0 && hosts == Hosts::All {
                            chosen_port = listener.local_addr()?.port();
                        }
                        bound.push(listener);
                    }
                    // A machine without IPv6 still serves IPv4 for "all interfaces".
                    Err(e) if hosts == Hosts::All && addr.is_ipv6() && !bound.is_empty() => {
                        log::debug!("create_server: skipping {addr}: {e}");
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                        return Err(Error::Unsupported {
                            what: "create_server(reuse_port=true)",
                            target: sys::TARGET,
                        })
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let bound = bound.into_iter().map(ListenSocket::Tcp).collect();
        self.serve(factory, bound, tls, backlog, start_serving)
    }

    /// A server accepting on `bound` (listening sockets of any kind).
    pub(super) fn serve<P: AnyProtocol>(
        &self,
        factory: impl Fn() -> P + 'static,
        bound: Vec<ListenSocket>,
        tls: Option<TlsSetup>,
        backlog: u32,
        start_serving: bool,
    ) -> Result<Server> {
        let slot_factory = move || P::into_slot(Rc::new(RefCell::new(factory())));
        let inner = Rc::new(ServerInner {
            ev: self.downgrade(),
            listeners: RefCell::new(Vec::new()),
            factory: Box::new(slot_factory),
            tls: tls.map(Rc::new),
            backlog: backlog.max(1),
            serving: Cell::new(false),
            closed: Cell::new(false),
            exhausted: Cell::new(false),
            active: Cell::new(0),
            clients: RefCell::new(Vec::new()),
            waiters: RefCell::new(Vec::new()),
            serving_forever: RefCell::new(None),
        });
        {
            let mut listeners = inner.listeners.borrow_mut();
            for (index, sock) in bound.into_iter().enumerate() {
                let local = sock.local_addr()?;
                let registration = Registration::new(self, sock);
                registration.set_handler(Rc::new(AcceptHandler {
                    server: inner.clone(),
                    index,
                }));
                listeners.push(Listener {
                    registration,
                    local,
                });
            }
        }
        let server = Server { inner };
        if start_serving {
            server.start_serving()?;
        }
        Ok(server)
    }

    async fn server_addresses(
        &self,
        hosts: &Hosts,
        port: u16,
        family: Family,
    ) -> Result<Vec<SocketAddr>> {
        let mut addrs: Vec<SocketAddr> = Vec::new();
        match hosts {
            Hosts::All => {
                let all = [
                    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
                    SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
                ];
                addrs.extend(all.into_iter().filter(|a| family.admits(a)));
            }
            Hosts::List(list) if list.is_empty() => {
                return Err(Error::invalid_argument(
                    "create_server: the host list is empty",
                ));
            }
            Hosts::List(list) => {
                for host in list {
                    for addr in self.resolve(host, port, family).await? {
                        if !addrs.contains(&addr) {
                            addrs.push(addr);
                        }
                    }
                }
            }
        }
        Ok(addrs)
    }
}

impl Server {
    /// asyncio's `Server.get_loop`.
    pub fn get_loop(&self) -> Result<EventLoop> {
        self.inner.ev()
    }

    /// asyncio's `Server.is_serving`.
    pub fn is_serving(&self) -> bool {
        self.inner.serving.get()
    }

    /// asyncio's `Server.sockets`: copies of the listening sockets (empty once closed).
    pub fn sockets(&self) -> Vec<ServerSocket> {
        self.inner
            .listeners
            .borrow()
            .iter()
            .map(|l| ServerSocket {
                local: l.local.clone(),
            })
            .collect()
    }

    /// asyncio's `Server.start_serving`: start accepting. Idempotent;
    /// [`Error::InvalidState`] once closed. Unlike asyncio's, it is not a coroutine: it
    /// takes effect at once.
    ///
    /// ```
    /// # use twinloop::{BaseProtocol, Protocol, ServerOptions}; struct Quiet; impl BaseProtocol for Quiet {} impl Protocol for Quiet {}
    /// # twinloop::EventLoop::new()?.run_until_complete(async { let ev = twinloop::get_running_loop()?;
    /// let opts = ServerOptions { start_serving: false, ..ServerOptions::default() };
    /// let server = ev.create_server(|| Quiet, "127.0.0.1", 0, opts).await?;
    /// assert!(!server.is_serving()); // bound, not accepting yet
    /// server.start_serving()?;
    /// assert!(server.is_serving());
    /// server.close();
    /// assert!(server.start_serving().is_err());
    /// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
    /// ```
    pub fn start_serving(&self) -> Result<()> {
        if self.inner.closed.get() {
            return Err(Error::invalid_state("the server is closed"));
        }
        if self.inner.serving.replace(true) {
            return Ok(());
        }
        for l in self.inner.listeners.borrow_mut().iter_mut() {
            l.registration.set_interest(Interest::READ)?;
        }
        Ok(())
    }

    /// asyncio's `Server.serve_forever`: serve until the server is closed or the task
    /// running this is cancelled; either way the server ends closed, and this returns
    /// [`Error::Cancelled`]. [`Error::InvalidState`] if the server is already closed or
    /// already serving forever. Unlike asyncio's, it does not wait for the open
    /// connections on the way out: await [`Server::wait_closed`] for that. The future holds
    /// its own handle to the server (`'static`): `ev.create_task(server.serve_forever())`.
    ///
    /// ```
    /// # use twinloop::{BaseProtocol, Protocol, ServerOptions}; struct Quiet; impl BaseProtocol for Quiet {} impl Protocol for Quiet {}
    /// # twinloop::EventLoop::new()?.run_until_complete(async { let ev = twinloop::get_running_loop()?;
    /// use std::time::Duration;
    /// let server = ev.create_server(|| Quiet, "127.0.0.1", 0, ServerOptions::default()).await?;
    /// let task = ev.create_task(server.serve_forever())?;
    /// twinloop::sleep(Duration::from_millis(10)).await?; // serving meanwhile
    /// task.cancel();
    /// assert!(task.await.unwrap_err().is_cancelled());
    /// assert!(!server.is_serving() && server.sockets().is_empty()); // closed on the way out
    /// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
    /// ```
    pub fn serve_forever(&self) -> impl Future<Output = Result<()>> + 'static {
        let server = self.clone();
        async move { server.serve_until_closed().await }
    }

    async fn serve_until_closed(&self) -> Result<()> {
        if self.inner.closed.get() {
            return Err(Error::invalid_state("the server is closed"));
        }
        if self.inner.serving_forever.borrow().is_some() {
            return Err(Error::invalid_state("serve_forever is already running"));
        }
        self.start_serving()?;
        let fut = self.inner.ev()?.create_future::<()>();
        *self.inner.serving_forever.borrow_mut() = Some(fut.clone());
        struct CloseOnExit<'a>(&'a Server);
        impl Drop for CloseOnExit<'_> {
            fn drop(&mut self) {
                self.0.inner.serving_forever.borrow_mut().take();
                self.0.close();
            }
        }
        let _close = CloseOnExit(self);
        fut.await
    }

    /// asyncio's `Server.close`: stop listening (new connections are refused); open
    /// connections stay until they close (see [`Server::close_clients`]). A Unix socket
    /// server removes its socket file (see [`UnixServerOptions::cleanup_socket`]).
    /// Idempotent.
    pub fn close(&self) {
        if self.inner.closed.replace(true) {
            return;
        }
        self.inner.serving.set(false);
        // Dropping the registrations takes the sockets out of the reactor.
        let listeners = std::mem::take(&mut *self.inner.listeners.borrow_mut());
        drop(listeners);
        let forever = self.inner.serving_forever.borrow_mut().take();
        if let Some(forever) = forever {
            forever.cancel();
        }
        self.inner.wake_waiters_if_idle();
    }

    /// asyncio's `Server.close_clients` (3.13): close every open connection.
    ///
    /// ```
    /// # use twinloop::{BaseProtocol, ConnectOptions, Error, LoopFuture, Protocol, ServerOptions, Transport};
    /// # struct Accepted(LoopFuture<()>);
    /// # impl BaseProtocol for Accepted { fn connection_made(&mut self, _: Transport) { let _ = self.0.set_result(()); } }
    /// # impl Protocol for Accepted {}
    /// # struct Lost(LoopFuture<Option<Error>>);
    /// # impl BaseProtocol for Lost { fn connection_lost(&mut self, e: Option<Error>) { let _ = self.0.set_result(e); } }
    /// # impl Protocol for Lost {}
    /// # struct Quiet; impl BaseProtocol for Quiet {} impl Protocol for Quiet {}
    /// # twinloop::EventLoop::new()?.run_until_complete(async { let ev = twinloop::get_running_loop()?;
    /// # let accepted = ev.create_future(); let a = accepted.clone();
    /// # let server = ev.create_server(move || Accepted(a.clone()), "127.0.0.1", 0, ServerOptions::default()).await?;
    /// let port = server.sockets()[0].local_addr().unwrap().port();
    /// let lost = ev.create_future();
    /// ev.create_connection(|| Lost(lost.clone()), "127.0.0.1", port, ConnectOptions::default()).await?;
    /// # accepted.await?;
    /// server.close(); // no new connections; the accepted one stays open
    /// let refused = ev.create_connection(|| Quiet, "127.0.0.1", port, ConnectOptions::default());
    /// assert!(refused.await.is_err());
    /// server.close_clients();
    /// server.wait_closed().await?;
    /// assert!(lost.await?.is_none()); // the client saw the server hang up
    /// # Ok::<(), Error>(()) })??; Ok::<(), Error>(())
    /// ```
    pub fn close_clients(&self) {
        for t in self.inner.live_clients() {
            t.close();
        }
    }

    /// asyncio's `Server.abort_clients` (3.13): abort every open connection (as
    /// [`Transport::abort`]: their unsent data is dropped). Used as
    /// [`Server::close_clients`] is.
    pub fn abort_clients(&self) {
        for t in self.inner.live_clients() {
            t.abort();
        }
    }

    /// asyncio's `Server.wait_closed`: completes once the server is closed and every
    /// connection it accepted is gone. The future holds its own handle (`'static`).
    /// Example: [`EventLoop::create_server`].
    pub fn wait_closed(&self) -> impl Future<Output = Result<()>> + 'static {
        let inner = self.inner.clone();
        async move {
            if inner.closed.get() && inner.active.get() == 0 {
                return Ok(());
            }
            let fut = inner.ev()?.create_future();
            inner.waiters.borrow_mut().push(fut.clone());
            fut.await
        }
    }

    /// asyncio's `async with server:`: a guard that closes the server when dropped.
    ///
    /// ```
    /// # use twinloop::{BaseProtocol, Protocol, ServerOptions}; struct Quiet; impl BaseProtocol for Quiet {} impl Protocol for Quiet {}
    /// # twinloop::EventLoop::new()?.run_until_complete(async { let ev = twinloop::get_running_loop()?;
    /// let server = ev.create_server(|| Quiet, "127.0.0.1", 0, ServerOptions::default()).await?;
    /// {
    ///     let server = server.guard();
    ///     println!("serving on {}", server.sockets()[0]);
    /// } // closed here, also on an early return or `?`
    /// assert!(!server.is_serving());
    /// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
    /// ```
    pub fn guard(&self) -> ServerGuard {
        ServerGuard(self.clone())
    }
}

impl ServerInner {
    fn ev(&self) -> Result<EventLoop> {
        self.ev
            .upgrade()
            .map(EventLoop::from_inner)
            .ok_or(Error::LoopClosed)
    }

    fn live_clients(&self) -> Vec<Transport> {
        self.clients
            .borrow()
            .iter()
            .filter_map(Weak::upgrade)
            .map(|inner| Transport { inner })
            .collect()
    }

    pub(super) fn wake_waiters_if_idle(&self) {
        if self.closed.get() && self.active.get() == 0 {
            for waiter in self.waiters.take() {
                let _ = waiter.set_result(());
            }
        }
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("sockets", &self.sockets())
            .field("serving", &self.is_serving())
            .finish()
    }
}
