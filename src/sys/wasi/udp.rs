//! UDP in the guest: a `wasi:sockets/udp` socket and the datagram streams `stream()` gives
//! it, offering the same items and signatures as `native/udp.rs`.
//!
//! Behaviour of wasmtime-wasi 48 that this relies on (read in its source, checked by the
//! `datagram` tests):
//! - A socket must be bound before `stream()`; `stream(Some(peer))` connects it (the host
//!   socket is `connect`ed, so the kernel filters datagrams and reports ICMP errors).
//! - `receive` hands back what the host's pending `recvfrom` got, or its error: on a
//!   connected socket the peer's ICMP port unreachable arrives as `connection-refused`,
//!   once, and the socket goes on. On an unconnected socket the OS reports nothing.
//! - `check-send` permits 16 datagrams while no send is in flight and 0 otherwise, and
//!   every `send` needs a `check-send` of its own (the permit is reset): so each datagram
//!   asks `check-send` first. A send is completed in the background: its error (e.g.
//!   `connection-refused`) is reported by the next `send`.
//! - The input and output pollables are children of the streams, and the streams of the
//!   socket: they are dropped in that order.
//!
//! Unlike natively, every received datagram costs an allocation: the bindings return each
//! datagram's payload in a fresh `Vec`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use wasi::io::poll::Pollable;
use wasi::sockets::network::{ErrorCode, IpAddressFamily};
use wasi::sockets::udp::{
    IncomingDatagramStream, OutgoingDatagram, OutgoingDatagramStream, UdpSocket as WasiUdp,
};
use wasi::sockets::udp_create_socket::create_udp_socket;

use super::addr::{family, from_wasi, to_wasi, with_network};
use super::error;
use super::reactor::{Direction, Registration};
use super::source::PollSource;
use crate::sys::UdpOptions;

fn would_block() -> io::Error {
    io::ErrorKind::WouldBlock.into()
}

fn unsupported(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{what} is not available in WASI 0.2 (wasm32-wasip1)"),
    )
}

/// A non-blocking UDP socket, bound (or not yet, for `sock_*` sockets), and connected to
/// one peer or not.
pub(crate) struct UdpSocket {
    // Pollables (in the reactor) before streams, streams before the socket: field order.
    registration: Registration,
    /// `None` until the socket is bound.
    streams: Option<(IncomingDatagramStream, OutgoingDatagramStream)>,
    socket: WasiUdp,
    peer: Option<SocketAddr>,
    /// The one datagram every `send_to` hands over, kept so that its buffer is reused.
    outgoing: [OutgoingDatagram; 1],
}

impl UdpSocket {
    /// A socket bound to `addr`. The host sets no SO_REUSEADDR on UDP sockets;
    /// `reuse_port` and `allow_broadcast` have no WASI 0.2 equivalent (`Unsupported`).
    pub(crate) fn bind(addr: SocketAddr, options: &UdpOptions) -> io::Result<UdpSocket> {
        if options.reuse_port {
            return Err(unsupported("reuse_port"));
        }
        if options.allow_broadcast {
            return Err(unsupported("allow_broadcast"));
        }
        let mut socket = UdpSocket::new(family(&addr))?;
        socket.bind_to(addr)?;
        Ok(socket)
    }

    /// An unbound socket of `family` (see [`UdpSocket::bind_to`]).
    pub(super) fn new(family: IpAddressFamily) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            registration: Registration::default(),
            streams: None,
            socket: create_udp_socket(family).map_err(error::socket)?,
            peer: None,
            outgoing: [OutgoingDatagram {
                data: Vec::new(),
                remote_address: None,
            }],
        })
    }

    /// Adopting a std socket needs file descriptors the guest does not have.
    pub(crate) fn from_std(_socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        Err(unsupported("adopting a std socket (sock=...)"))
    }

    /// Binds the socket and opens its datagram streams.
    pub(super) fn bind_to(&mut self, addr: SocketAddr) -> io::Result<()> {
        let bound = with_network(|network| self.socket.start_bind(network, to_wasi(addr)))
            .and_then(|()| loop {
                match self.socket.finish_bind() {
                    // wasmtime finishes at once; should a host make it wait, wait here.
                    Err(ErrorCode::WouldBlock) => self.socket.subscribe().block(),
                    other => break other,
                }
            });
        bound.map_err(|code| {
            error::socket_while(
                code,
                format_args!("error while attempting to bind on address {addr}"),
            )
        })?;
        self.open_streams(None)
    }

    /// POSIX binds a socket implicitly on its first send or connect; WASI wants it
    /// explicit: bind to the unspecified address, any port.
    fn ensure_bound(&mut self) -> io::Result<()> {
        if self.streams.is_some() {
            return Ok(());
        }
        let any = match self.socket.address_family() {
            IpAddressFamily::Ipv4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddressFamily::Ipv6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        self.bind_to(SocketAddr::new(any, 0))
    }

    /// (Re)opens the streams, for `peer` or for anyone. The old streams (and the
    /// pollables on them) go first: the host traps if they are still alive.
    fn open_streams(&mut self, peer: Option<SocketAddr>) -> io::Result<()> {
        self.registration.refresh(|_| None);
        self.streams = None;
        let streams = self
            .socket
            .stream(peer.map(to_wasi))
            .map_err(|code| match peer {
                Some(peer) => error::socket_while(code, format_args!("connect to {peer}")),
                None => error::socket(code),
            })?;
        self.streams = Some(streams);
        self.peer = peer;
        let streams = &self.streams;
        self.registration.refresh(|dir| pollable(streams, dir));
        Ok(())
    }

    /// Limits the socket to one peer: sends without an address go there, and only its
    /// datagrams are received (and its ICMP errors reported).
    pub(crate) fn connect(&mut self, addr: SocketAddr) -> io::Result<()> {
        self.ensure_bound()?;
        self.open_streams(Some(addr))
    }

    /// Sends one datagram (`to`: `None` on a connected socket); `WouldBlock` while the
    /// host is still sending the previous one.
    pub(crate) fn send_to(&mut self, buf: &[u8], to: Option<SocketAddr>) -> io::Result<usize> {
        self.ensure_bound()?;
        let Some((_, output)) = &self.streams else {
            return Err(would_block());
        };
        if output.check_send().map_err(error::socket)? == 0 {
            return Err(would_block());
        }
        let datagram = &mut self.outgoing[0];
        datagram.data.clear();
        datagram.data.extend_from_slice(buf);
        datagram.remote_address = to.map(to_wasi);
        match output.send(&self.outgoing) {
            Ok(0) => Err(would_block()),
            Ok(_) => Ok(buf.len()),
            Err(code) => Err(match to {
                Some(to) => error::socket_while(code, format_args!("sendto {to}")),
                None => error::socket(code),
            }),
        }
    }

    /// Receives one datagram into `buf` (the rest of a longer one is dropped); `WouldBlock`
    /// when none is queued. An ICMP error on a connected socket comes back here.
    pub(crate) fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let Some((input, _)) = &self.streams else {
            return Err(would_block());
        };
        let mut received = input.receive(1).map_err(error::socket)?;
        let Some(datagram) = received.pop() else {
            return Err(would_block());
        };
        let n = datagram.data.len().min(buf.len());
        buf[..n].copy_from_slice(&datagram.data[..n]);
        Ok((n, from_wasi(datagram.remote_address)))
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .local_address()
            .map(from_wasi)
            .map_err(error::socket)
    }

    /// The peer of a connected socket (`NotConnected` otherwise).
    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.peer.ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotConnected, "the socket is not connected")
        })
    }
}

impl PollSource for UdpSocket {
    fn registration(&mut self) -> &mut Registration {
        &mut self.registration
    }

    fn pollable(&self, dir: Direction) -> Option<Pollable> {
        pollable(&self.streams, dir)
    }
}

/// Readable: a datagram (or an error) is waiting; writable: `check-send` permits a send.
/// An unbound socket is never ready (it is bound by its first send).
fn pollable(
    streams: &Option<(IncomingDatagramStream, OutgoingDatagramStream)>,
    dir: Direction,
) -> Option<Pollable> {
    let (input, output) = streams.as_ref()?;
    Some(match dir {
        Direction::Read => input.subscribe(),
        Direction::Write => output.subscribe(),
    })
}
