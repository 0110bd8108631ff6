//! Native UDP sockets: a `mio` UDP socket built with `socket2`.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::net::set_reuse_port;
use super::retry;
use super::source::{MioRegistration, MioSource};
use crate::error::io_context;
use crate::sys::UdpOptions;

/// A non-blocking UDP socket, bound, and connected to one peer or not.
pub(crate) struct UdpSocket {
    inner: mio::net::UdpSocket,
    registration: MioRegistration,
}

impl UdpSocket {
    /// A socket of `addr`'s family bound to `addr`. SO_REUSEADDR is never set (asyncio's
    /// rule for UDP); SO_REUSEPORT and SO_BROADCAST only when asked for.
    pub(crate) fn bind(addr: SocketAddr, options: &UdpOptions) -> io::Result<UdpSocket> {
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_nonblocking(true)?;
        if options.reuse_port {
            set_reuse_port(&socket)?;
        }
        if options.allow_broadcast {
            socket.set_broadcast(true)?;
        }
        socket.bind(&SockAddr::from(addr)).map_err(|e| {
            io_context(
                e,
                format_args!("error while attempting to bind on address {addr}"),
            )
        })?;
        Ok(UdpSocket::from_socket(socket))
    }

    /// Adopts a std UDP socket (`create_datagram_endpoint(sock=...)`), made non-blocking.
    pub(crate) fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(UdpSocket::from_socket(socket.into()))
    }

    fn from_socket(socket: Socket) -> UdpSocket {
        UdpSocket {
            inner: mio::net::UdpSocket::from_std(socket.into()),
            registration: MioRegistration::default(),
        }
    }

    /// Limits the socket to one peer: sends without an address go there, and only its
    /// datagrams are received (and its ICMP errors reported).
    pub(crate) fn connect(&mut self, addr: SocketAddr) -> io::Result<()> {
        self.inner.connect(addr)
    }

    /// Sends one datagram (`to`: `None` on a connected socket); `WouldBlock` when the
    /// socket's buffer is full.
    pub(crate) fn send_to(&mut self, buf: &[u8], to: Option<SocketAddr>) -> io::Result<usize> {
        retry(|| match to {
            Some(addr) => self.inner.send_to(buf, addr),
            None => self.inner.send(buf),
        })
    }

    /// Receives one datagram into `buf` (the rest of a longer one is dropped); `WouldBlock`
    /// when none is queued. An ICMP error on a connected socket comes back here.
    pub(crate) fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        retry(|| self.inner.recv_from(buf))
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The peer of a connected socket (`NotConnected` otherwise).
    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }
}

impl MioSource for UdpSocket {
    fn mio_parts(&mut self) -> (&mut dyn mio::event::Source, &mut MioRegistration) {
        (&mut self.inner, &mut self.registration)
    }
}
