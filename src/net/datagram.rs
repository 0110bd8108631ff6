//! `create_datagram_endpoint` and its options.

use std::cell::RefCell;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::net::connect::unsupported_or;
use crate::net::resolve::Family;
use crate::protocol_handle::ProtocolHandle;
use crate::sys::{self, UdpOptions};
use crate::transport::{DatagramEngine, DatagramProtocol, DatagramSlot, DatagramTransport};
use crate::EventLoop;

/// Keyword arguments of `create_datagram_endpoint` (asyncio's names; `Default` is
/// asyncio's defaults: nothing set).
///
/// ```
/// let opts = twinloop::DatagramOptions { family: twinloop::Family::V4, ..Default::default() };
/// assert!(!opts.reuse_port && !opts.allow_broadcast && !opts.reuse_address && opts.sock.is_none());
/// ```
#[derive(Debug, Default)]
pub struct DatagramOptions {
    /// Only addresses of this family are used; with neither address given, the family of
    /// the socket (it is bound to the unspecified address of that family, any port).
    pub family: Family,
    /// SO_REUSEPORT: share the port with other sockets that set it too. Native (Unix)
    /// only: [`Error::Unsupported`] in the guest and where the OS lacks it.
    pub reuse_port: bool,
    /// SO_BROADCAST: allow sending to broadcast addresses. The socket is then not
    /// connected to `remote_addr` (it stays the default destination of `sendto`). Native
    /// only: [`Error::Unsupported`] in the guest.
    pub allow_broadcast: bool,
    /// An existing UDP socket to use instead of the addresses (the endpoint takes it
    /// over; `close` closes it). Native only: [`Error::Unsupported`] in the guest.
    pub sock: Option<std::net::UdpSocket>,
    /// Always refused when `true` ([`Error::InvalidArgument`]), as asyncio has done since
    /// 3.8.1: SO_REUSEADDR lets sockets of other users bind the same UDP address and
    /// receive its datagrams at random. Use `reuse_port` instead.
    pub reuse_address: bool,
}

/// A local or remote address as asyncio's `(host, port)`: `host` is an IP literal or a
/// name (resolved with [`EventLoop::getaddrinfo`]).
pub type HostPort<'a> = (&'a str, u16);

impl EventLoop {
    /// asyncio's `loop.create_datagram_endpoint(protocol_factory, local_addr, remote_addr,
    /// ...)`: a UDP socket bound to `local_addr` (by default the unspecified address of
    /// the remote's family, any port) and connected to `remote_addr` if given, with a
    /// [`DatagramTransport`] and a [`ProtocolHandle`] to the protocol from `factory` (look
    /// at it with `with`). The protocol's `connection_made` has run when this
    /// returns. The future owns what it needs (`'static`).
    ///
    /// Both addresses are resolved with [`EventLoop::getaddrinfo`] (IP literals skip the
    /// resolver); the first local/remote pair of one family that binds (and connects) is
    /// used. On a connected endpoint the peer's ICMP port unreachable reaches
    /// `error_received` as `ConnectionRefused`, on both targets.
    ///
    /// Errors: [`Error::InvalidArgument`] with neither address nor `family` nor `sock`,
    /// with `sock` and any of the addresses, `family`, `reuse_port` or `allow_broadcast`,
    /// with `reuse_address`, or when no local and remote address share a family; the
    /// resolver's [`Error::Io`]; the bind error (e.g. kind `AddrInUse`);
    /// [`Error::Unsupported`] for `reuse_port`, `allow_broadcast` and `sock` in the guest.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use twinloop::{BaseProtocol, DatagramOptions, DatagramProtocol, DatagramTransport, Error, Family};
    /// struct Quiet;
    /// impl BaseProtocol<DatagramTransport> for Quiet {}
    /// impl DatagramProtocol for Quiet {}
    /// let ev = twinloop::EventLoop::new()?;
    /// let fut = ev.create_datagram_endpoint(|| Quiet, Some(("127.0.0.1", 0)), None, DatagramOptions::default());
    /// let (t, _) = ev.run_until_complete(fut)??;
    /// assert!(t.sockname().ip().is_loopback() && t.peername().is_none());
    /// let refused = DatagramOptions { reuse_address: true, ..Default::default() };
    /// let fut = ev.create_datagram_endpoint(|| Quiet, Some(("127.0.0.1", 0)), None, refused);
    /// assert!(matches!(ev.run_until_complete(fut)?, Err(Error::InvalidArgument(_))));
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn create_datagram_endpoint<P: DatagramProtocol>(
        &self,
        factory: impl FnOnce() -> P + 'static,
        local_addr: Option<HostPort<'_>>,
        remote_addr: Option<HostPort<'_>>,
        options: DatagramOptions,
    ) -> impl Future<Output = Result<(DatagramTransport, ProtocolHandle<P>)>> + 'static {
        let ev = self.clone();
        let local = local_addr.map(|(host, port)| (host.to_owned(), port));
        let remote = remote_addr.map(|(host, port)| (host.to_owned(), port));
        async move {
            let (socket, peer) = ev.datagram_socket(local, remote, options).await?;
            let protocol = Rc::new(RefCell::new(factory()));
            let slot = DatagramSlot::new(protocol.clone());
            let engine = DatagramEngine::new(&ev, socket, peer, slot)?;
            let (transport, made) = DatagramTransport::start(&ev, engine)?;
            made.await?;
            Ok((transport, ProtocolHandle::new(protocol)))
        }
    }

    /// The socket of a new endpoint and its `remote_addr`.
    async fn datagram_socket(
        &self,
        local: Option<(String, u16)>,
        remote: Option<(String, u16)>,
        options: DatagramOptions,
    ) -> Result<(sys::UdpSocket, Option<SocketAddr>)> {
        let DatagramOptions {
            family,
            reuse_port,
            allow_broadcast,
            sock,
            reuse_address,
        } = options;
        if reuse_address {
            return Err(Error::invalid_argument(
                "create_datagram_endpoint: reuse_address=true is not supported: SO_REUSEADDR \
                 lets sockets of other users bind the same UDP address and receive its \
                 datagrams at random; use reuse_port instead",
            ));
        }
        if let Some(sock) = sock {
            if local.is_some()
                || remote.is_some()
                || family != Family::Any
                || reuse_port
                || allow_broadcast
            {
                return Err(Error::invalid_argument(
                    "create_datagram_endpoint: socket modifier keyword arguments can not be \
                     used when sock is specified (local_addr, remote_addr, family, \
                     reuse_port, allow_broadcast)",
                ));
            }
            let socket = sys::UdpSocket::from_std(sock)
                .map_err(|e| unsupported_or("create_datagram_endpoint(sock=...)", e))?;
            let peer = socket.peer_addr().ok();
            return Ok((socket, peer));
        }
        let udp = UdpOptions {
            reuse_port,
            allow_broadcast,
        };
        let locals = match &local {
            Some((host, port)) => Some(self.getaddrinfo(host, *port, family).await?),
            None => None,
        };
        let remotes = match &remote {
            Some((host, port)) => Some(self.getaddrinfo(host, *port, family).await?),
            None => None,
        };
        let pairs = address_pairs(locals, remotes, family)?;
        let mut last_error = None;
        for (local, remote) in pairs {
            match open(local, remote, &udp) {
                Ok(socket) => return Ok((socket, remote)),
                Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                    let what = if reuse_port {
                        "create_datagram_endpoint(reuse_port=true)"
                    } else {
                        "create_datagram_endpoint(allow_broadcast=true)"
                    };
                    return Err(unsupported_or(what, e));
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.map_or_else(
            || Error::invalid_argument("create_datagram_endpoint: no address to use"),
            Error::from,
        ))
    }
}

/// Binds a socket to `local` and connects it to `remote`, unless it is for broadcasts.
fn open(
    local: SocketAddr,
    remote: Option<SocketAddr>,
    options: &UdpOptions,
) -> std::io::Result<sys::UdpSocket> {
    let mut socket = sys::UdpSocket::bind(local, options)?;
    if let Some(remote) = remote {
        if !options.allow_broadcast {
            socket.connect(remote)?;
        }
    }
    Ok(socket)
}

/// asyncio's pairing of local and remote addresses: for each family in the order found,
/// the first local and the first remote address of it. Without a local address, the
/// unspecified address of the remote's family (any port).
fn address_pairs(
    locals: Option<Vec<SocketAddr>>,
    remotes: Option<Vec<SocketAddr>>,
    family: Family,
) -> Result<Vec<(SocketAddr, Option<SocketAddr>)>> {
    let any = |v4: bool| {
        let ip = if v4 {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        };
        SocketAddr::new(ip, 0)
    };
    let mut pairs = Vec::new();
    match (locals, remotes) {
        (None, None) => match family {
            Family::Any => {
                return Err(Error::invalid_argument(
                    "create_datagram_endpoint: unexpected address family: give local_addr, \
                     remote_addr, family or sock",
                ))
            }
            Family::V4 => pairs.push((any(true), None)),
            Family::V6 => pairs.push((any(false), None)),
        },
        (Some(locals), None) => pairs.extend(locals.into_iter().map(|l| (l, None))),
        (None, Some(remotes)) => {
            pairs.extend(remotes.into_iter().map(|r| (any(r.is_ipv4()), Some(r))));
        }
        (Some(locals), Some(remotes)) => {
            for remote in remotes {
                if let Some(&local) = locals.iter().find(|l| l.is_ipv4() == remote.is_ipv4()) {
                    pairs.push((local, Some(remote)));
                }
            }
            if pairs.is_empty() {
                return Err(Error::invalid_argument(
                    "create_datagram_endpoint: local_addr and remote_addr have no address \
                     family in common",
                ));
            }
        }
    }
    Ok(pairs)
}
