//! The listening sockets a [`Server`](super::Server) accepts on, whatever their kind (TCP
//! or Unix domain), and what they say about themselves.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use super::UnixAddr;
use crate::sys;
use crate::transport::{ByteStream, TcpSource, UnixSource};

/// A listening socket of a [`Server`](super::Server) (a copy: closing the server does not
/// change it).
///
/// ```
/// # use twinloop::{BaseProtocol, Protocol, ServerOptions}; struct Quiet; impl BaseProtocol for Quiet {} impl Protocol for Quiet {}
/// # twinloop::EventLoop::new()?.run_until_complete(async { let ev = twinloop::get_running_loop()?;
/// let server = ev.create_server(|| Quiet, "127.0.0.1", 0, ServerOptions::default()).await?;
/// let socket = &server.sockets()[0];
/// let addr = socket.local_addr().expect("a TCP server listens on an IP address");
/// assert_eq!(socket.to_string(), addr.to_string());
/// assert!(socket.unix_addr().is_none());
/// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSocket {
    pub(super) local: ListenAddr,
}

/// Where a listening socket listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum ListenAddr {
    Inet(SocketAddr),
    Unix(UnixAddr),
}

impl ServerSocket {
    /// The IP address a TCP server's socket listens on, with the real port when port 0
    /// was asked for; `None` for a Unix domain socket (see [`ServerSocket::unix_addr`]).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match &self.local {
            ListenAddr::Inet(addr) => Some(*addr),
            ListenAddr::Unix(_) => None,
        }
    }

    /// The path or abstract name a Unix domain socket server listens on; `None` for TCP.
    pub fn unix_addr(&self) -> Option<&UnixAddr> {
        match &self.local {
            ListenAddr::Inet(_) => None,
            ListenAddr::Unix(addr) => Some(addr),
        }
    }
}

/// The address: `127.0.0.1:8888`, `[::1]:8888`, `/run/app.sock` or `@name`.
impl fmt::Display for ServerSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.local, f)
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Inet(addr) => addr.fmt(f),
            ListenAddr::Unix(addr) => addr.fmt(f),
        }
    }
}

/// A bound, listening socket of either kind.
pub(super) enum ListenSocket {
    Tcp(sys::TcpListener),
    Unix(sys::UnixListener),
}

/// A connection as `accept` gave it, before it becomes a byte source.
pub(super) enum Accepted {
    Tcp(sys::TcpStream, SocketAddr),
    Unix(sys::UnixStream, UnixAddr),
}

impl ListenSocket {
    /// Accepts one pending connection; `WouldBlock` when there is none.
    pub(super) fn accept(&mut self) -> io::Result<Accepted> {
        Ok(match self {
            ListenSocket::Tcp(l) => {
                let (stream, peer) = l.accept()?;
                Accepted::Tcp(stream, peer)
            }
            ListenSocket::Unix(l) => {
                let (stream, peer) = l.accept()?;
                Accepted::Unix(stream, peer)
            }
        })
    }

    pub(super) fn local_addr(&self) -> io::Result<ListenAddr> {
        Ok(match self {
            ListenSocket::Tcp(l) => ListenAddr::Inet(l.local_addr()?),
            ListenSocket::Unix(l) => ListenAddr::Unix(l.local_addr()?),
        })
    }
}

impl Accepted {
    /// The byte source of the connection (TCP sets its options here).
    pub(super) fn into_source(self) -> io::Result<Box<dyn ByteStream>> {
        Ok(match self {
            Accepted::Tcp(stream, peer) => Box::new(TcpSource::new(stream, Some(peer))?),
            Accepted::Unix(stream, peer) => Box::new(UnixSource::new(stream, Some(peer))?),
        })
    }
}

impl sys::Watchable for ListenSocket {
    fn as_source(&mut self) -> Option<&mut dyn sys::Source> {
        match self {
            ListenSocket::Tcp(l) => Some(l),
            ListenSocket::Unix(l) => Some(l),
        }
    }
}
