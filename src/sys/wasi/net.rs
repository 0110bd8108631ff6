//! TCP in the guest: `wasi:sockets/tcp` sockets with their `wasi:io/streams`, offering the
//! same items and signatures as `native/net.rs`.
//!
//! Behaviour of wasmtime-wasi 48 that this relies on (checked with a probe guest):
//! - `output-stream.write` of more bytes than the last `check-write` allowed traps the
//!   guest ("not permitted to write N bytes"), so every write asks `check-write` first.
//!   `check-write` answers 0 while the previous write is still being handed to the OS and
//!   64 KiB otherwise; `flush` itself does nothing more, so a flush is complete once
//!   `check-write` is non-zero again.
//! - `shutdown(send)` right after a write still delivers that write, then FIN.
//! - The socket's own pollable is ready for good once a connect has finished, and the
//!   output pollable once the output is closed: readiness is level-triggered, so the
//!   stream's pollables replace the socket's when the connect completes.
//! - Dropping a socket while its streams or any pollable of it live traps the guest
//!   ("resource has children"), and dropping an output stream waits for its pending
//!   write (see `linger`).

use std::io;
use std::net::SocketAddr;

use wasi::io::poll::Pollable;
use wasi::io::streams::StreamError;
use wasi::sockets::network::ErrorCode;
use wasi::sockets::tcp::{ShutdownType, TcpSocket};
use wasi::sockets::tcp_create_socket::create_tcp_socket;

use super::addr::{family, from_wasi, to_wasi, with_network};
use super::error;
use super::linger::{self, Connected};
use super::reactor::{Direction, Registration};
use super::source::PollSource;
use crate::sys::ListenOptions;

fn would_block() -> io::Error {
    io::ErrorKind::WouldBlock.into()
}

fn not_connected() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the socket is not connected")
}

/// Runs a `finish-*` step of a socket to completion. Binding and listening finish at once
/// in wasmtime; should a host ever make them wait, this blocks on the socket's pollable.
fn finish(
    socket: &TcpSocket,
    step: fn(&TcpSocket) -> Result<(), ErrorCode>,
) -> Result<(), ErrorCode> {
    loop {
        match step(socket) {
            Err(ErrorCode::WouldBlock) => socket.subscribe().block(),
            other => return other,
        }
    }
}

pub(super) fn bind(socket: &TcpSocket, addr: SocketAddr) -> Result<(), ErrorCode> {
    with_network(|network| socket.start_bind(network, to_wasi(addr)))?;
    finish(socket, TcpSocket::finish_bind)
}

/// Where a stream stands with its connection; every state owns the socket.
enum Connection {
    /// `start-connect` was called; `finish-connect` has not answered yet.
    Connecting(TcpSocket),
    Connected(Connected),
    /// The connect failed with this code (reported again by later calls).
    Failed(TcpSocket, ErrorCode),
    /// Only while `finish_connect` moves the socket between states, and after `drop`.
    Gone,
}

/// A non-blocking TCP stream (connected, or connecting).
pub(crate) struct TcpStream {
    // The pollables (held by the reactor, removed when `registration` is cleared) must go
    // before the streams, and those before the socket: `Drop` sees to it.
    registration: Registration,
    conn: Connection,
    /// A flush was requested and not yet seen complete.
    flushing: bool,
    /// `shutdown_write` went through.
    write_shut: bool,
}

impl Drop for TcpStream {
    /// Pollables first, then the connection, closed without blocking the guest.
    fn drop(&mut self) {
        self.registration.clear();
        if let Connection::Connected(conn) = std::mem::replace(&mut self.conn, Connection::Gone) {
            linger::close(conn);
        }
    }
}

impl TcpStream {
    /// Starts a non-blocking connect to `addr`, bound first to `local` if given. Completion
    /// is reported as writability; then call [`TcpStream::finish_connect`].
    pub(crate) fn connect(addr: SocketAddr, local: Option<SocketAddr>) -> io::Result<TcpStream> {
        let socket = create_tcp_socket(family(&addr)).map_err(error::socket)?;
        if let Some(local) = local {
            bind(&socket, local)
                .map_err(|code| error::socket_while(code, format_args!("bind {local}")))?;
        }
        TcpStream::start_connect(socket, addr)
    }

    /// Starts connecting `socket` (fresh or bound) to `addr`.
    pub(super) fn start_connect(socket: TcpSocket, addr: SocketAddr) -> io::Result<TcpStream> {
        with_network(|network| socket.start_connect(network, to_wasi(addr)))
            .map_err(error::socket)?;
        Ok(TcpStream::new(Connection::Connecting(socket)))
    }

    /// Adopting a std socket needs file descriptors the guest does not have.
    pub(crate) fn from_std(_stream: std::net::TcpStream) -> io::Result<TcpStream> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "adopting a std socket (sock=...) is not supported on wasm32-wasip1",
        ))
    }

    fn new(conn: Connection) -> TcpStream {
        TcpStream {
            registration: Registration::default(),
            conn,
            flushing: false,
            write_shut: false,
        }
    }

    /// `Ok(true)` once connected, `Ok(false)` while the connect is in progress, or the
    /// connect's error.
    pub(crate) fn finish_connect(&mut self) -> io::Result<bool> {
        let socket = match std::mem::replace(&mut self.conn, Connection::Gone) {
            Connection::Connecting(socket) => socket,
            other => {
                let answer = match &other {
                    Connection::Connected(_) => Ok(true),
                    Connection::Failed(_, code) => Err(error::socket(*code)),
                    Connection::Connecting(_) | Connection::Gone => Err(not_connected()),
                };
                self.conn = other;
                return answer;
            }
        };
        match socket.finish_connect() {
            Ok((input, output)) => {
                self.conn = Connection::Connected(Connected {
                    input,
                    output,
                    socket,
                });
                // From now on readiness comes from the streams.
                self.registration
                    .refresh(|dir| stream_pollable(&self.conn, dir));
                Ok(true)
            }
            Err(ErrorCode::WouldBlock) => {
                self.conn = Connection::Connecting(socket);
                Ok(false)
            }
            Err(code) => {
                self.conn = Connection::Failed(socket, code);
                Err(error::socket(code))
            }
        }
    }

    /// The connected streams, finishing the connect if it is done; `WouldBlock` before.
    fn connected(&mut self) -> io::Result<&Connected> {
        if !matches!(self.conn, Connection::Connected(_)) && !self.finish_connect()? {
            return Err(would_block());
        }
        match &self.conn {
            Connection::Connected(conn) => Ok(conn),
            _ => Err(would_block()),
        }
    }

    fn socket(&self) -> io::Result<&TcpSocket> {
        match &self.conn {
            Connection::Connecting(socket) | Connection::Failed(socket, _) => Ok(socket),
            Connection::Connected(conn) => Ok(&conn.socket),
            Connection::Gone => Err(not_connected()),
        }
    }

    /// Reads into `buf`: `Ok(0)` at end of stream, `WouldBlock` when nothing is there yet.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let conn = self.connected()?;
        if buf.is_empty() {
            return Ok(0);
        }
        match conn.input.read(buf.len() as u64) {
            Ok(bytes) if bytes.is_empty() => Err(would_block()),
            Ok(bytes) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                Ok(n)
            }
            Err(StreamError::Closed) => Ok(0),
            Err(StreamError::LastOperationFailed(e)) => Err(error::stream(&e)),
        }
    }

    /// Writes what the host takes now (at most what `check-write` permits); `WouldBlock`
    /// when it takes nothing.
    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.write_shut {
            return Err(error::closed_for_writing());
        }
        let conn = self.connected()?;
        if buf.is_empty() {
            return Ok(0);
        }
        let n = match conn.output.check_write() {
            Ok(0) => return Err(would_block()),
            Ok(permitted) => usize::try_from(permitted)
                .unwrap_or(usize::MAX)
                .min(buf.len()),
            Err(e) => return Err(write_error(e)),
        };
        conn.output.write(&buf[..n]).map_err(write_error)?;
        Ok(n)
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

    /// `WouldBlock` until everything written has been handed to the host's socket: the
    /// first call requests a flush, and `check-write` stays 0 until it has completed.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        let Connection::Connected(conn) = &self.conn else {
            // Nothing can have been written before the connection exists.
            return Ok(());
        };
        if self.write_shut {
            return Ok(());
        }
        if !self.flushing {
            conn.output.flush().map_err(write_error)?;
            self.flushing = true;
        }
        match conn.output.check_write() {
            Ok(0) => Err(would_block()),
            Ok(_) => {
                self.flushing = false;
                Ok(())
            }
            Err(e) => {
                self.flushing = false;
                Err(write_error(e))
            }
        }
    }

    /// Half-close: send FIN after what was written. `WouldBlock` while still connecting or
    /// flushing (retry on writability); a failed connect has nothing to close (`Ok`, as
    /// natively).
    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        if self.write_shut {
            return Ok(());
        }
        match self.conn {
            Connection::Failed(..) | Connection::Gone => return Ok(()),
            Connection::Connecting(_) => {
                if !self.finish_connect()? {
                    return Err(would_block());
                }
            }
            Connection::Connected(_) => {}
        }
        self.flush()?;
        self.socket()?
            .shutdown(ShutdownType::Send)
            .map_err(error::socket)?;
        self.write_shut = true;
        Ok(())
    }

    /// WASI 0.2 has no TCP_NODELAY option (`wasi:sockets/tcp` offers keep-alive, hop
    /// limit and buffer sizes only) and wasmtime leaves the host socket's default (Nagle
    /// on), so this does nothing and says so only here.
    pub(crate) fn set_nodelay(&mut self, _on: bool) -> io::Result<()> {
        Ok(())
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket()?
            .local_address()
            .map(from_wasi)
            .map_err(error::socket)
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        match &self.conn {
            Connection::Connected(conn) => conn
                .socket
                .remote_address()
                .map(from_wasi)
                .map_err(error::socket),
            _ => Err(not_connected()),
        }
    }
}

impl PollSource for TcpStream {
    fn registration(&mut self) -> &mut Registration {
        &mut self.registration
    }

    fn pollable(&self, dir: Direction) -> Option<Pollable> {
        stream_pollable(&self.conn, dir)
    }
}

/// The pollable telling when `dir` may be ready: the streams' once connected, before that
/// the socket's (connect completion, reported in either direction).
fn stream_pollable(conn: &Connection, dir: Direction) -> Option<Pollable> {
    match (conn, dir) {
        (Connection::Connected(conn), Direction::Read) => Some(conn.input.subscribe()),
        (Connection::Connected(conn), Direction::Write) => Some(conn.output.subscribe()),
        (Connection::Connecting(socket) | Connection::Failed(socket, _), _) => {
            Some(socket.subscribe())
        }
        (Connection::Gone, _) => None,
    }
}

fn write_error(e: StreamError) -> io::Error {
    match e {
        StreamError::Closed => error::closed_for_writing(),
        StreamError::LastOperationFailed(e) => error::stream(&e),
    }
}

/// A non-blocking listening TCP socket.
pub(crate) struct TcpListener {
    // The registration (and with it the pollable) drops before the socket.
    registration: Registration,
    socket: TcpSocket,
}

impl TcpListener {
    /// Binds and listens on `addr` with the given options.
    ///
    /// WASI 0.2 has neither SO_REUSEADDR nor IPV6_V6ONLY options: wasmtime sets
    /// SO_REUSEADDR on every bind (as the WASI spec asks) and makes every IPv6 socket
    /// IPv6-only, so `reuse_address` and `v6_only` are both in effect whatever they say.
    /// `reuse_port` is not available (`Unsupported`).
    pub(crate) fn bind(addr: SocketAddr, options: &ListenOptions) -> io::Result<TcpListener> {
        if options.reuse_port {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "reuse_port is not available in WASI 0.2 (wasm32-wasip1)",
            ));
        }
        if !options.reuse_address {
            log::debug!(
                "bind {addr}: reuse_address=false has no effect in WASI 0.2 (the host always \
                 sets SO_REUSEADDR)"
            );
        }
        if addr.is_ipv6() && !options.v6_only {
            log::debug!(
                "bind {addr}: v6_only=false has no effect in WASI 0.2 (IPv6 sockets are \
                 always IPv6-only)"
            );
        }
        let socket = create_tcp_socket(family(&addr)).map_err(error::socket)?;
        bind(&socket, addr).map_err(|code| {
            error::socket_while(
                code,
                format_args!("error while attempting to bind on address {addr}"),
            )
        })?;
        TcpListener::listen(socket, options.backlog)
    }

    /// Listens on a bound `socket`.
    pub(super) fn listen(socket: TcpSocket, backlog: u32) -> io::Result<TcpListener> {
        // wasmtime rejects a backlog of 0, which POSIX listen() accepts.
        socket
            .set_listen_backlog_size(u64::from(backlog.max(1)))
            .map_err(|code| error::socket_while(code, "set listen backlog"))?;
        let on = || socket.local_address().map(from_wasi).ok();
        socket
            .start_listen()
            .and_then(|()| finish(&socket, TcpSocket::finish_listen))
            .map_err(|code| match on() {
                Some(addr) => error::socket_while(code, format_args!("listen on {addr}")),
                None => error::socket_while(code, "listen"),
            })?;
        Ok(TcpListener {
            registration: Registration::default(),
            socket,
        })
    }

    /// Adopting a std socket needs file descriptors the guest does not have.
    pub(crate) fn from_std(_listener: std::net::TcpListener) -> io::Result<TcpListener> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "adopting a std socket (sock=...) is not supported on wasm32-wasip1",
        ))
    }

    /// Accepts one pending connection; `WouldBlock` when there is none.
    pub(crate) fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        match self.socket.accept() {
            Ok((socket, input, output)) => {
                // Into a `TcpStream` at once: it drops the streams before the socket
                // should anything below fail.
                let stream = TcpStream::new(Connection::Connected(Connected {
                    input,
                    output,
                    socket,
                }));
                let peer = stream.peer_addr()?;
                Ok((stream, peer))
            }
            Err(ErrorCode::WouldBlock) => Err(would_block()),
            Err(code) => Err(error::accept(code)),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .local_address()
            .map(from_wasi)
            .map_err(error::socket)
    }
}

impl PollSource for TcpListener {
    fn registration(&mut self) -> &mut Registration {
        &mut self.registration
    }

    /// Readable means a connection is waiting; a listener is never writable.
    fn pollable(&self, dir: Direction) -> Option<Pollable> {
        (dir == Direction::Read).then(|| self.socket.subscribe())
    }
}
