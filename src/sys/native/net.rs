//! Native TCP sockets: `mio` streams and listeners built with `socket2`.

use std::io;
use std::net::{Shutdown, SocketAddr};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::retry;
use super::source::{MioRegistration, MioSource};
use crate::error::io_context;
use crate::sys::ListenOptions;

/// A `recv`/`send` result as `io::Result` (negative: the error in `errno`). Stream reads
/// and writes call these two directly on Linux: one syscall, none of the layers of mio
/// and std around it, on the hot path of every connection.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[inline]
fn cvt(n: libc::ssize_t) -> io::Result<usize> {
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// A non-blocking TCP stream (connected, or connecting).
pub(crate) struct TcpStream {
    inner: mio::net::TcpStream,
    registration: MioRegistration,
}

impl TcpStream {
    /// Starts a non-blocking connect to `addr`, bound first to `local` if given. Completion
    /// is reported as writability; then call [`TcpStream::finish_connect`].
    pub(crate) fn connect(addr: SocketAddr, local: Option<SocketAddr>) -> io::Result<TcpStream> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        if let Some(local) = local {
            socket.bind(&SockAddr::from(local))?;
        }
        match socket.connect(&SockAddr::from(addr)) {
            Ok(()) => {}
            #[cfg(unix)]
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        Ok(TcpStream::from_mio(mio::net::TcpStream::from_std(
            socket.into(),
        )))
    }

    /// Adopts an already connected std socket (`sock=` / `connect_accepted_socket`).
    pub(crate) fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream::from_mio(mio::net::TcpStream::from_std(stream)))
    }

    fn from_mio(inner: mio::net::TcpStream) -> TcpStream {
        TcpStream {
            inner,
            registration: MioRegistration::default(),
        }
    }

    /// `Ok(true)` once connected, `Ok(false)` while the connect is in progress, or the
    /// connect's error.
    pub(crate) fn finish_connect(&mut self) -> io::Result<bool> {
        connect_outcome(socket2::SockRef::from(&self.inner))
    }

    /// Reads into `buf`: `Ok(0)` at end of stream, `WouldBlock` when nothing is there yet.
    #[inline]
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let fd = std::os::fd::AsRawFd::as_raw_fd(&self.inner);
            // SAFETY: `fd` is this stream's open socket, and `buf` is valid for writes of
            // `buf.len()` bytes for the whole call.
            retry(|| cvt(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) }))
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        retry(|| io::Read::read(&mut self.inner, buf))
    }

    /// Writes what the kernel takes now; `WouldBlock` when it takes nothing.
    #[inline]
    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let fd = std::os::fd::AsRawFd::as_raw_fd(&self.inner);
            // SAFETY: `fd` is this stream's open socket, and `buf` is valid for reads of
            // `buf.len()` bytes for the whole call. MSG_NOSIGNAL: a closed peer is an
            // `EPIPE` error, not a SIGPIPE (as std's `TcpStream::write` does it).
            retry(|| {
                cvt(unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) })
            })
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        retry(|| io::Write::write(&mut self.inner, buf))
    }

    /// `sendfile(2)` from `file` to this socket: see [`send_file`] (off Unix there is no
    /// descriptor to give it, and it says `Unsupported`).
    pub(crate) fn send_file(
        &mut self,
        file: &std::fs::File,
        offset: u64,
        len: usize,
    ) -> io::Result<usize> {
        #[cfg(unix)]
        let fd = std::os::fd::AsRawFd::as_raw_fd(&self.inner);
        #[cfg(not(unix))]
        let fd = -1;
        send_file(fd, file, offset, len)
    }

    /// Everything written has left this process's hands (native: always, the kernel has it).
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Half-close: send FIN after what was written.
    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        match self.inner.shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        }
    }

    pub(crate) fn set_nodelay(&mut self, on: bool) -> io::Result<()> {
        self.inner.set_nodelay(on)
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }
}

impl MioSource for TcpStream {
    fn mio_parts(&mut self) -> (&mut dyn mio::event::Source, &mut MioRegistration) {
        (&mut self.inner, &mut self.registration)
    }
}

/// A non-blocking listening TCP socket.
pub(crate) struct TcpListener {
    inner: mio::net::TcpListener,
    registration: MioRegistration,
}

impl TcpListener {
    /// Binds and listens on `addr` with the given options.
    pub(crate) fn bind(addr: SocketAddr, options: &ListenOptions) -> io::Result<TcpListener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        if options.reuse_address {
            socket.set_reuse_address(true)?;
        }
        if options.reuse_port {
            set_reuse_port(&socket)?;
        }
        if addr.is_ipv6() && options.v6_only {
            socket.set_only_v6(true)?;
        }
        socket.bind(&SockAddr::from(addr)).map_err(|e| {
            io_context(
                e,
                format_args!("error while attempting to bind on address {addr}"),
            )
        })?;
        socket.listen(i32::try_from(options.backlog).unwrap_or(i32::MAX))?;
        Ok(TcpListener::from_mio(mio::net::TcpListener::from_std(
            socket.into(),
        )))
    }

    /// Adopts an already listening std socket (`create_server(sock=...)`).
    pub(crate) fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener::from_mio(mio::net::TcpListener::from_std(
            listener,
        )))
    }

    fn from_mio(inner: mio::net::TcpListener) -> TcpListener {
        TcpListener {
            inner,
            registration: MioRegistration::default(),
        }
    }

    /// Accepts one pending connection; `WouldBlock` when there is none.
    pub(crate) fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        loop {
            match self.inner.accept() {
                Ok((stream, addr)) => return Ok((TcpStream::from_mio(stream), addr)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl MioSource for TcpListener {
    fn mio_parts(&mut self) -> (&mut dyn mio::event::Source, &mut MioRegistration) {
        (&mut self.inner, &mut self.registration)
    }
}

/// Where a non-blocking connect stands: `Ok(true)` connected, `Ok(false)` still going, or
/// its error.
pub(super) fn connect_outcome(socket: socket2::SockRef<'_>) -> io::Result<bool> {
    if let Some(e) = socket.take_error()? {
        return Err(e);
    }
    match socket.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
pub(super) fn set_reuse_port(socket: &Socket) -> io::Result<()> {
    socket.set_reuse_port(true)
}

#[cfg(not(all(unix, not(any(target_os = "solaris", target_os = "illumos")))))]
pub(super) fn set_reuse_port(_socket: &Socket) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "reuse_port is not supported on this platform",
    ))
}

/// `sendfile(2)`: up to `len` bytes of `file` from `offset` straight to the socket `fd`,
/// without copying them through the process. `Unsupported` where the kernel has no such
/// call for this pair (off Linux, or a file it cannot send from), so the caller falls back
/// to reading and writing.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn send_file(
    fd: i32,
    file: &std::fs::File,
    offset: u64,
    len: usize,
) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut off = libc::off64_t::try_from(offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset out of range"))?;
    loop {
        // SAFETY: both descriptors stay open for the call (borrowed from live objects);
        // `off` is a valid off64_t the kernel reads and advances.
        let n = unsafe { libc::sendfile64(fd, file.as_raw_fd(), &mut off, len) };
        if let Ok(n) = usize::try_from(n) {
            return Ok(n);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => {
                return Err(io::Error::new(io::ErrorKind::Unsupported, e))
            }
            _ => return Err(e),
        }
    }
}

/// No zero-copy path here: the caller reads and writes.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) fn send_file(
    _fd: i32,
    _file: &std::fs::File,
    _offset: u64,
    _len: usize,
) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}
