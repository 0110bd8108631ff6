//! Sockets for the `sock_*` methods in the guest: a state machine over `wasi:sockets`
//! that follows what the program does with a POSIX socket. A TCP socket starts as a
//! `tcp-socket` (bound or not), becomes a stream when connected (`start-connect` /
//! `finish-connect`, as `TcpStream`) or a listener (`start-listen`, as `TcpListener`); a
//! UDP socket is a `UdpSocket` throughout. Readiness is that of the current state's
//! object, so the core deregisters a socket before changing its state (connect, listen).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use wasi::sockets::network::IpAddressFamily;
use wasi::sockets::tcp::TcpSocket;
use wasi::sockets::tcp_create_socket::create_tcp_socket;

use super::addr::from_wasi;
use super::error;
use super::net::{bind as bind_tcp, TcpListener, TcpStream};
use super::udp::UdpSocket;
use crate::net::SocketType;
use crate::sys::{Source, Watchable};

enum State {
    /// A TCP socket neither connected nor listening.
    Tcp(TcpSocket),
    Stream(TcpStream),
    Listener(TcpListener),
    Udp(UdpSocket),
    /// Only while a transition moves the socket between states.
    Gone,
}

/// A socket the program drives with `sock_*`.
pub(crate) struct Socket {
    state: State,
    v6: bool,
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_owned())
}

fn not_connected() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the socket is not connected")
}

impl Socket {
    /// A new TCP or UDP socket for IPv4 (`v6` false) or IPv6.
    pub(crate) fn new(v6: bool, kind: SocketType) -> io::Result<Socket> {
        let family = if v6 {
            IpAddressFamily::Ipv6
        } else {
            IpAddressFamily::Ipv4
        };
        let state = match kind {
            SocketType::Stream => State::Tcp(create_tcp_socket(family).map_err(error::socket)?),
            SocketType::Datagram => State::Udp(UdpSocket::new(family)?),
        };
        Ok(Socket { state, v6 })
    }

    pub(crate) fn is_ipv6(&self) -> io::Result<bool> {
        Ok(self.v6)
    }

    pub(crate) fn kind(&self) -> io::Result<SocketType> {
        Ok(match self.state {
            State::Udp(_) => SocketType::Datagram,
            _ => SocketType::Stream,
        })
    }

    pub(crate) fn bind(&mut self, addr: SocketAddr) -> io::Result<()> {
        let bound = match &mut self.state {
            State::Tcp(socket) => bind_tcp(socket, addr),
            State::Udp(socket) => return socket.bind_to(addr),
            _ => {
                return Err(invalid(
                    "bind: the socket is already connected or listening",
                ))
            }
        };
        bound.map_err(|code| {
            error::socket_while(
                code,
                format_args!("error while attempting to bind on address {addr}"),
            )
        })
    }

    /// Listens, binding to the unspecified address first if needed (as POSIX does).
    pub(crate) fn listen(&mut self, backlog: u32) -> io::Result<()> {
        let State::Tcp(socket) = std::mem::replace(&mut self.state, State::Gone) else {
            return Err(invalid("listen: not a fresh TCP socket"));
        };
        if socket.local_address().is_err() {
            if let Err(code) = bind_tcp(&socket, self.any()) {
                self.state = State::Tcp(socket);
                return Err(error::socket_while(code, "listen"));
            }
        }
        self.state = State::Listener(TcpListener::listen(socket, backlog)?);
        Ok(())
    }

    fn any(&self) -> SocketAddr {
        let ip = if self.v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        SocketAddr::new(ip, 0)
    }

    /// Starts a connect (completion: writability, then `finish_connect`); a connect
    /// already in progress or done is not an error here (`finish_connect` tells).
    pub(crate) fn connect(&mut self, addr: SocketAddr) -> io::Result<()> {
        match std::mem::replace(&mut self.state, State::Gone) {
            State::Tcp(socket) => {
                self.state = State::Stream(TcpStream::start_connect(socket, addr)?);
                Ok(())
            }
            State::Udp(mut socket) => {
                let connected = socket.connect(addr);
                self.state = State::Udp(socket);
                connected
            }
            other => {
                self.state = other;
                match self.state {
                    State::Stream(_) => Ok(()),
                    _ => Err(invalid("connect: the socket is listening")),
                }
            }
        }
    }

    pub(crate) fn finish_connect(&mut self) -> io::Result<bool> {
        match &mut self.state {
            State::Stream(stream) => stream.finish_connect(),
            State::Udp(socket) => socket.peer_addr().map(|_| true),
            _ => Err(not_connected()),
        }
    }

    pub(crate) fn accept(&mut self) -> io::Result<(Socket, SocketAddr)> {
        let State::Listener(listener) = &mut self.state else {
            return Err(invalid("accept: the socket is not listening"));
        };
        let (stream, peer) = listener.accept()?;
        Ok((
            Socket {
                state: State::Stream(stream),
                v6: self.v6,
            },
            peer,
        ))
    }

    pub(crate) fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.state {
            State::Stream(stream) => stream.read(buf),
            State::Udp(socket) => socket.recv_from(buf).map(|(n, _)| n),
            _ => Err(not_connected()),
        }
    }

    pub(crate) fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match &mut self.state {
            State::Udp(socket) => socket.recv_from(buf),
            State::Stream(stream) => {
                let n = stream.read(buf)?;
                Ok((n, stream.peer_addr()?))
            }
            _ => Err(not_connected()),
        }
    }

    /// WASI 0.2 has no zero-copy file-to-socket call: the caller reads and writes.
    pub(crate) fn send_file(
        &mut self,
        _file: &std::fs::File,
        _offset: u64,
        _len: usize,
    ) -> io::Result<usize> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub(crate) fn send(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.state {
            State::Stream(stream) => stream.write(buf),
            State::Udp(socket) => socket.send_to(buf, None),
            _ => Err(not_connected()),
        }
    }

    pub(crate) fn send_to(&mut self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        match &mut self.state {
            State::Udp(socket) => socket.send_to(buf, Some(to)),
            _ => Err(invalid("sendto on a stream socket")),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.state {
            State::Tcp(socket) => socket.local_address().map(from_wasi).map_err(error::socket),
            State::Stream(stream) => stream.local_addr(),
            State::Listener(listener) => listener.local_addr(),
            State::Udp(socket) => socket.local_addr(),
            State::Gone => Err(not_connected()),
        }
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        match &self.state {
            State::Stream(stream) => stream.peer_addr(),
            State::Udp(socket) => socket.peer_addr(),
            _ => Err(not_connected()),
        }
    }
}

impl Watchable for Socket {
    fn as_source(&mut self) -> Option<&mut dyn Source> {
        match &mut self.state {
            State::Stream(stream) => Some(stream),
            State::Listener(listener) => Some(listener),
            State::Udp(socket) => Some(socket),
            // Never ready: operations on it fail at once rather than wait.
            State::Tcp(_) | State::Gone => None,
        }
    }
}
