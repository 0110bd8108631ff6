//! Name resolution: `getaddrinfo` and `getnameinfo` as loop methods, never blocking the loop.

use std::future::Future;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::rc::Rc;

use crate::error::{io_context, Error, Result};
use crate::net::readiness::Watched;
use crate::sys::{self, Interest};
use crate::EventLoop;

/// Which address family to ask for (asyncio's `family=`).
///
/// ```
/// use twinloop::Family;
/// assert_eq!(Family::default(), Family::Any);
/// let ev = twinloop::EventLoop::new()?;
/// ev.run_until_complete(async {
///     let ev = twinloop::get_running_loop()?;
///     assert_eq!(ev.getaddrinfo("127.0.0.1", 80, Family::V4).await?.len(), 1);
///     assert!(ev.getaddrinfo("127.0.0.1", 80, Family::V6).await.is_err()); // none of that family
///     Ok::<(), twinloop::Error>(())
/// })??;
/// # Ok::<(), twinloop::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Family {
    /// Any family (`AF_UNSPEC`), the default.
    #[default]
    Any,
    /// IPv4 only (`AF_INET`).
    V4,
    /// IPv6 only (`AF_INET6`).
    V6,
}

impl Family {
    pub(crate) fn admits(self, addr: &SocketAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => addr.is_ipv4(),
            Family::V6 => addr.is_ipv6(),
        }
    }
}

/// A port given as a number or a numeric string (asyncio also takes service names; the
/// guest has no service database, so twinloop takes numbers only on both targets).
///
/// Methods take `impl Into<Port>`: a `u16`, `i32` or `u32`, or a `&str` (`""` is port 0).
/// A port out of range or not a number is refused with [`Error::InvalidArgument`] by the
/// call that uses it.
///
/// ```
/// use twinloop::{Error, Family, Port};
/// assert_eq!(Port::from("8080"), Port::from(8080u16));
/// let ev = twinloop::EventLoop::new()?;
/// let named = ev.run_until_complete(async {
///     twinloop::get_running_loop()?.getaddrinfo("127.0.0.1", "http", Family::Any).await
/// })?;
/// assert!(matches!(named, Err(Error::InvalidArgument(_))));
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port(pub(crate) Result<u16, String>);

impl Port {
    pub(crate) fn get(&self) -> Result<u16> {
        self.0.clone().map_err(Error::InvalidArgument)
    }
}

impl From<u16> for Port {
    fn from(p: u16) -> Port {
        Port(Ok(p))
    }
}

impl From<i32> for Port {
    fn from(p: i32) -> Port {
        Port(u16::try_from(p).map_err(|_| format!("port {p} is out of range 0-65535")))
    }
}

impl From<u32> for Port {
    fn from(p: u32) -> Port {
        Port(u16::try_from(p).map_err(|_| format!("port {p} is out of range 0-65535")))
    }
}

impl From<&str> for Port {
    fn from(p: &str) -> Port {
        if p.is_empty() {
            return Port(Ok(0));
        }
        Port(match p.parse::<u32>() {
            Ok(n) => u16::try_from(n).map_err(|_| format!("port {n} is out of range 0-65535")),
            Err(_) => Err(format!(
                "port {p:?} is not a number (service names are not supported)"
            )),
        })
    }
}

/// `host` as an IP literal (`AI_NUMERICHOST`), brackets allowed: `Ok(None)` if it is not
/// one. An IPv6 literal may carry a scope (`fe80::1%1`, or natively `fe80::1%lo`); a scope
/// that is neither a number nor a known interface is refused.
fn ip_literal(host: &str, port: u16) -> Result<Option<SocketAddr>> {
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(Some(SocketAddr::new(ip, port)));
    }
    let Some((ip, scope)) = literal.split_once('%') else {
        return Ok(None);
    };
    let Ok(ip) = ip.parse::<Ipv6Addr>() else {
        return Ok(None);
    };
    let scope_id = match scope.parse::<u32>() {
        Ok(index) => index,
        Err(_) => sys::interface_index(scope).ok_or_else(|| {
            Error::invalid_argument(format!(
                "getaddrinfo: {host:?}: no network interface named {scope:?} on {} \
                 (give the scope as a number, e.g. %1)",
                sys::TARGET
            ))
        })?,
    };
    Ok(Some(SocketAddr::V6(SocketAddrV6::new(
        ip, port, 0, scope_id,
    ))))
}

/// A name table consulted before the system resolver (see [`EventLoop::set_resolver`]):
/// `Some(addresses)` answers for `(host, port)`, `None` leaves the name to the system.
pub type Resolver = Rc<dyn Fn(&str, u16) -> Option<Vec<SocketAddr>>>;

impl EventLoop {
    /// Installs (or, with `None`, removes) a [`Resolver`] that every name lookup of this
    /// loop asks first: [`EventLoop::getaddrinfo`] and everything that resolves a host
    /// (`create_connection`, `create_server`, `sock_connect`, ...). It is the loop's
    /// "hosts file": a static name table for a sandboxed guest, or a stub that gives a
    /// name the addresses a test needs (asyncio's tests patch `getaddrinfo` for that). IP
    /// literals never reach it.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use twinloop::Family;
    /// let ev = twinloop::EventLoop::new()?;
    /// ev.set_resolver(Some(Rc::new(|host: &str, port: u16| {
    ///     (host == "db.internal").then(|| vec![([10, 0, 0, 7], port).into()])
    /// })));
    /// let addrs = ev.run_until_complete(ev.getaddrinfo("db.internal", 5432, Family::Any))??;
    /// assert_eq!(addrs, ["10.0.0.7:5432".parse().unwrap()]);
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn set_resolver(&self, resolver: Option<Resolver>) {
        *self.inner.resolver.borrow_mut() = resolver;
    }

    /// asyncio's `loop.getaddrinfo(host, port, family=...)`: the socket addresses for a host
    /// name, in the resolver's order, without duplicates (asyncio returns
    /// `(family, type, proto, canonname, sockaddr)` tuples; here only the `sockaddr`s, for
    /// TCP). IP literals skip the resolver, on both targets: `1.2.3.4`, `::1`, `[::1]`,
    /// and scoped IPv6 literals with a numeric scope id (`fe80::1%1`) or, natively on
    /// Unix, an interface name (`fe80::1%lo`). Natively the system resolver runs on the
    /// loop's default executor (see [`EventLoop::run_in_executor`]: a burst of lookups
    /// uses at most its bounded number of threads); in the guest it is
    /// `wasi:sockets/ip-name-lookup` (the host must allow DNS: `twinloop-host
    /// --allow-dns`). The loop keeps running meanwhile. The future owns its arguments
    /// (`'static`), so it can be handed to `run_until_complete` or `create_task` as it is.
    ///
    /// Errors: [`Error::InvalidArgument`] for an empty host, a bad port or a scoped literal
    /// naming an unknown interface; [`Error::Io`] when the name does not resolve or no
    /// address of `family` is found; for a host name, [`Error::InvalidState`] after
    /// [`EventLoop::shutdown_default_executor`], as in asyncio.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use twinloop::Family;
    /// let ev = twinloop::EventLoop::new()?;
    /// let plain = ev.run_until_complete(ev.getaddrinfo("127.0.0.1", 80, Family::Any))??;
    /// let scoped = ev.run_until_complete(ev.getaddrinfo("fe80::1%1", 80, Family::Any))??;
    /// assert_eq!(plain, ["127.0.0.1:80".parse().unwrap()]);
    /// let SocketAddr::V6(v6) = scoped[0] else { panic!("{scoped:?}") };
    /// assert_eq!((v6.ip().segments()[0], v6.scope_id()), (0xfe80, 1));
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn getaddrinfo(
        &self,
        host: &str,
        port: impl Into<Port>,
        family: Family,
    ) -> impl Future<Output = Result<Vec<SocketAddr>>> + 'static {
        getaddrinfo_owned(self.clone(), host.to_owned(), port.into(), family)
    }

    /// [`EventLoop::getaddrinfo`] for a port already checked, borrowing the loop.
    pub(crate) async fn resolve(
        &self,
        host: &str,
        port: u16,
        family: Family,
    ) -> Result<Vec<SocketAddr>> {
        if host.is_empty() {
            return Err(Error::invalid_argument("getaddrinfo: empty host name"));
        }
        let overridden = self
            .inner
            .resolver
            .borrow()
            .clone()
            .and_then(|r| r(host, port));
        let addrs = match (ip_literal(host, port)?, overridden) {
            (Some(addr), _) => vec![addr],
            (None, Some(addrs)) => addrs,
            (None, None) => self.lookup(host, port).await?,
        };
        let mut matching: Vec<SocketAddr> = Vec::with_capacity(addrs.len());
        for addr in addrs.into_iter().filter(|a| family.admits(a)) {
            if !matching.contains(&addr) {
                matching.push(addr);
            }
        }
        if matching.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("getaddrinfo returned no {family:?} addresses for {host:?}"),
            )
            .into());
        }
        Ok(matching)
    }

    async fn lookup(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>> {
        // The token is reserved before the lookup starts: natively the executor's job
        // reports completion by token.
        let executor = self.default_executor()?;
        let mut lookup = Watched::try_new(self, |token| {
            sys::Lookup::start(host, port, self.io_notifier(token), &*executor)
        })?;
        loop {
            if let Some(answer) = lookup.source_mut().take() {
                return answer.map_err(|e| {
                    Error::from(io_context(e, format_args!("failed to resolve {host:?}")))
                });
            }
            lookup.wait(Interest::READ).await?;
        }
    }

    /// asyncio's `loop.getnameinfo(sockaddr, flags)`: `(host, port)` for an address.
    /// `numeric` is `NI_NUMERICHOST`; the port always comes back as a number
    /// (`NI_NUMERICSERV` is always set, where asyncio's default flags give a service name).
    /// Natively runs the system resolver on the loop's default executor (see
    /// [`EventLoop::run_in_executor`]); the guest can only answer numerically
    /// ([`Error::Io`] with kind `Unsupported` otherwise).
    ///
    /// ```
    /// let ev = twinloop::EventLoop::new()?;
    /// let addr = "127.0.0.1:8080".parse().unwrap();
    /// let name = ev.run_until_complete(ev.getnameinfo(addr, true))??;
    /// assert_eq!(name, ("127.0.0.1".to_owned(), "8080".to_owned()));
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn getnameinfo(
        &self,
        addr: SocketAddr,
        numeric: bool,
    ) -> impl Future<Output = Result<(String, String)>> + 'static {
        let ev = self.clone();
        async move {
            if numeric || !sys::HAS_THREADS {
                return Ok(sys::name_info(addr, numeric)?);
            }
            let answer = ev.run_in_executor(None, move || sys::name_info(addr, numeric))?;
            Ok(answer.await??)
        }
    }
}

/// The future of [`EventLoop::getaddrinfo`]: owns what it needs.
async fn getaddrinfo_owned(
    ev: EventLoop,
    host: String,
    port: Port,
    family: Family,
) -> Result<Vec<SocketAddr>> {
    ev.resolve(&host, port.get()?, family).await
}
