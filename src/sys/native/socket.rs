//! Native sockets for the `sock_*` methods: any non-blocking socket2 socket (TCP or UDP,
//! made here or adopted from the program), watched through its file descriptor.
//!
//! Readiness comes from the socket's own handle (`SocketSource`: the descriptor on Unix,
//! mio's IOCP socket state on Windows).

use std::io::{self, Read};
use std::mem::MaybeUninit;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, SockAddr, Type};

use super::net::connect_outcome;
use super::retry;
use super::source::{MioRegistration, MioSource, SocketSource};
use crate::error::Error;
use crate::net::SocketType;

/// A non-blocking socket the program drives with `sock_*`.
pub(crate) struct Socket {
    inner: socket2::Socket,
    /// The address family (`SO_DOMAIN` is not available everywhere, so it is kept).
    v6: bool,
    /// Its handle, for the reactor.
    source: SocketSource,
    registration: MioRegistration,
}

/// The longest UDP payload (over IPv4: 65,507 bytes), rounded up.
#[cfg(windows)]
const MAX_DATAGRAM: usize = 64 << 10;

fn addr_of(addr: SockAddr) -> io::Result<SocketAddr> {
    addr.as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IP socket address"))
}

impl Socket {
    /// A new non-blocking TCP or UDP socket for IPv4 (`v6` false) or IPv6.
    pub(crate) fn new(v6: bool, kind: SocketType) -> io::Result<Socket> {
        let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
        let (ty, protocol) = match kind {
            SocketType::Stream => (Type::STREAM, Protocol::TCP),
            SocketType::Datagram => (Type::DGRAM, Protocol::UDP),
        };
        let inner = socket2::Socket::new(domain, ty, Some(protocol))?;
        inner.set_nonblocking(true)?;
        Ok(Socket::adopt(inner, v6))
    }

    fn adopt(inner: socket2::Socket, v6: bool) -> Socket {
        Socket {
            source: SocketSource::of(&inner),
            inner,
            v6,
            registration: MioRegistration::default(),
        }
    }

    /// Adopts a socket of the program's: it must be non-blocking, as asyncio requires (a
    /// blocking one would stall the loop), and an IPv4 or IPv6 TCP or UDP socket. A
    /// Windows socket cannot be asked whether it blocks: there it is made non-blocking.
    pub(crate) fn from_socket2(inner: socket2::Socket) -> Result<Socket, Error> {
        #[cfg(unix)]
        if !inner.nonblocking()? {
            return Err(Error::invalid_argument(
                "the socket must be non-blocking (call set_nonblocking(true) first)",
            ));
        }
        #[cfg(windows)]
        inner.set_nonblocking(true)?;
        let unsupported = || {
            Error::invalid_argument("only IPv4 and IPv6 stream or datagram sockets are supported")
        };
        // The family from the local address (unbound sockets report the unspecified one).
        let Some(local) = inner.local_addr()?.as_socket() else {
            return Err(unsupported());
        };
        if ![Type::STREAM, Type::DGRAM].contains(&inner.r#type()?) {
            return Err(unsupported());
        }
        Ok(Socket::adopt(inner, local.is_ipv6()))
    }

    pub(crate) fn into_socket2(self) -> socket2::Socket {
        self.inner
    }

    pub(crate) fn is_ipv6(&self) -> io::Result<bool> {
        Ok(self.v6)
    }

    pub(crate) fn kind(&self) -> io::Result<SocketType> {
        Ok(if self.inner.r#type()? == Type::DGRAM {
            SocketType::Datagram
        } else {
            SocketType::Stream
        })
    }

    pub(crate) fn bind(&mut self, addr: SocketAddr) -> io::Result<()> {
        self.inner.bind(&addr.into())
    }

    pub(crate) fn listen(&mut self, backlog: u32) -> io::Result<()> {
        self.inner
            .listen(i32::try_from(backlog).unwrap_or(i32::MAX))
    }

    /// Starts a connect; completion is reported as writability, then call
    /// [`Socket::finish_connect`]. A connect already in progress or done is not an error
    /// here (a cancelled `sock_connect` tried again): `finish_connect` tells.
    pub(crate) fn connect(&mut self, addr: SocketAddr) -> io::Result<()> {
        match self.inner.connect(&addr.into()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            #[cfg(unix)]
            Err(e)
                if [libc::EINPROGRESS, libc::EALREADY, libc::EISCONN]
                    .contains(&e.raw_os_error().unwrap_or(0)) =>
            {
                Ok(())
            }
            // WSAEALREADY, WSAEISCONN.
            #[cfg(windows)]
            Err(e) if [10037, 10056].contains(&e.raw_os_error().unwrap_or(0)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `Ok(true)` once connected, `Ok(false)` while the connect is in progress, or the
    /// connect's error.
    pub(crate) fn finish_connect(&mut self) -> io::Result<bool> {
        connect_outcome(socket2::SockRef::from(&self.inner))
    }

    /// One pending connection, as a non-blocking socket; `WouldBlock` when there is none.
    pub(crate) fn accept(&mut self) -> io::Result<(Socket, SocketAddr)> {
        let (conn, peer) = self.source.io(|| retry(|| self.inner.accept()))?;
        conn.set_nonblocking(true)?;
        Ok((Socket::adopt(conn, self.v6), addr_of(peer)?))
    }

    /// `recv(2)`: `Ok(0)` at the end of a stream (or for an empty datagram).
    pub(crate) fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.source.io(|| retry(|| (&self.inner).read(buf)))
    }

    /// `recvfrom(2)`. A datagram longer than `buf` is cut to fit, as on Unix: Windows
    /// refuses it instead (WSAEMSGSIZE), so there a short buffer receives through a
    /// whole-datagram one.
    pub(crate) fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        #[cfg(windows)]
        if buf.len() < MAX_DATAGRAM && self.inner.r#type()? == Type::DGRAM {
            let mut whole = vec![0u8; MAX_DATAGRAM];
            let (n, from) = self.recv_from_fitting(&mut whole)?;
            let n = n.min(buf.len());
            buf[..n].copy_from_slice(&whole[..n]);
            return Ok((n, from));
        }
        self.recv_from_fitting(buf)
    }

    fn recv_from_fitting(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        // SAFETY: not a system call, but the view of `buf` that socket2's `recvfrom` wants:
        // `MaybeUninit<u8>` has `u8`'s layout, and the kernel only writes initialised
        // bytes into it, so `buf` holds valid `u8`s afterwards.
        let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
        let (n, from) = self.source.io(|| retry(|| self.inner.recv_from(uninit)))?;
        Ok((n, addr_of(from)?))
    }

    /// `send(2)` (no SIGPIPE where the flag exists: a closed peer is an `EPIPE` error).
    pub(crate) fn send(&mut self, buf: &[u8]) -> io::Result<usize> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let flags = libc::MSG_NOSIGNAL;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let flags = 0;
        self.source
            .io(|| retry(|| self.inner.send_with_flags(buf, flags)))
    }

    /// `sendfile(2)` from `file` to this socket (see `net::send_file`).
    pub(crate) fn send_file(
        &mut self,
        file: &std::fs::File,
        offset: u64,
        len: usize,
    ) -> io::Result<usize> {
        #[cfg(unix)]
        let fd = self.source.fd();
        #[cfg(not(unix))]
        let fd = -1;
        super::net::send_file(fd, file, offset, len)
    }

    /// `sendto(2)`.
    pub(crate) fn send_to(&mut self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.source
            .io(|| retry(|| self.inner.send_to(buf, &to.into())))
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        addr_of(self.inner.local_addr()?)
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        addr_of(self.inner.peer_addr()?)
    }
}

impl MioSource for Socket {
    fn mio_parts(&mut self) -> (&mut dyn mio::event::Source, &mut MioRegistration) {
        (self.source.mio_source(), &mut self.registration)
    }
}

/// Natively a [`crate::Socket`] can be made from the program's own socket2 socket. It must
/// be non-blocking ([`Error::InvalidArgument`] otherwise: asyncio's "the socket must be
/// non-blocking"), IPv4 or IPv6, TCP or UDP. Windows cannot tell whether a socket blocks:
/// there any socket is taken and made non-blocking.
///
/// ```
/// use twinloop::{Error, Socket};
/// let raw = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
/// assert!(matches!(Socket::try_from(raw.try_clone()?), Err(Error::InvalidArgument(_))));
/// raw.set_nonblocking(true)?;
/// let sock = Socket::try_from(raw)?;
/// let back: socket2::Socket = sock.into_socket2()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl TryFrom<socket2::Socket> for crate::Socket {
    type Error = Error;
    fn try_from(sock: socket2::Socket) -> Result<crate::Socket, Error> {
        let sock = Socket::from_socket2(sock)?;
        let kind = sock.kind()?;
        Ok(crate::Socket::from_sys(sock, kind)?)
    }
}

macro_rules! from_std {
    ($($std:ty),*) => {$(
        /// Natively: the same as from a socket2 socket (it must be non-blocking).
        impl TryFrom<$std> for crate::Socket {
            type Error = Error;
            fn try_from(sock: $std) -> Result<crate::Socket, Error> {
                crate::Socket::try_from(socket2::Socket::from(sock))
            }
        }
    )*};
}
from_std!(
    std::net::TcpStream,
    std::net::TcpListener,
    std::net::UdpSocket
);

impl crate::Socket {
    /// Natively: the socket2 socket back, closing this handle (every clone must be gone,
    /// else [`Error::InvalidState`]). Example: `TryFrom<socket2::Socket>`.
    pub fn into_socket2(self) -> Result<socket2::Socket, Error> {
        if std::rc::Rc::strong_count(&self.inner) > 1 {
            return Err(Error::invalid_state(
                "into_socket2: other handles to this socket are alive",
            ));
        }
        self.inner
            .take_sys()
            .map(Socket::into_socket2)
            .ok_or_else(|| Error::invalid_state("into_socket2: the socket is closed"))
    }
}
