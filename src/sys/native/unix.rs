//! Native Unix domain stream sockets: connect, listen, accept, with paths and Linux
//! abstract names, and a listener that removes its socket file when it goes.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

use socket2::{Domain, SockAddr, Socket, Type};

use super::retry;
use super::source::{MioRegistration, MioSource};
use crate::error::io_context;
use crate::net::UnixAddr;

/// The kernel's form of `addr`: a path, or (Linux) a name after a NUL byte.
fn sock_addr(addr: &UnixAddr) -> io::Result<SockAddr> {
    match addr {
        UnixAddr::Path(path) => SockAddr::unix(path),
        UnixAddr::Abstract(name) if cfg!(any(target_os = "linux", target_os = "android")) => {
            let mut bytes = vec![0];
            bytes.extend_from_slice(name);
            SockAddr::unix(OsStr::from_bytes(&bytes))
        }
        UnixAddr::Abstract(_) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "abstract Unix socket names are a Linux feature",
        )),
        UnixAddr::Unnamed => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a Unix socket address is needed (a path or an abstract name)",
        )),
    }
}

/// What the kernel says an address is.
fn unix_addr(addr: &std::os::unix::net::SocketAddr) -> UnixAddr {
    if let Some(path) = addr.as_pathname() {
        return UnixAddr::Path(path.to_owned());
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        #[cfg(target_os = "android")]
        use std::os::android::net::SocketAddrExt;
        #[cfg(target_os = "linux")]
        use std::os::linux::net::SocketAddrExt;
        if let Some(name) = addr.as_abstract_name() {
            return UnixAddr::abstract_name(name);
        }
    }
    UnixAddr::Unnamed
}

/// A non-blocking Unix domain stream socket (connected, or connecting).
pub(crate) struct UnixStream {
    inner: mio::net::UnixStream,
    registration: MioRegistration,
}

impl UnixStream {
    /// Starts a non-blocking connect to `addr`: as for TCP, completion is reported as
    /// writability, then [`UnixStream::finish_connect`] says how it went.
    pub(crate) fn connect(addr: &UnixAddr) -> io::Result<UnixStream> {
        let target = sock_addr(addr)?;
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        match socket.connect(&target) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            // A full listen backlog: the kernel says EAGAIN, asyncio's BlockingIOError.
            Err(e) => return Err(e),
        }
        let std: std::os::unix::net::UnixStream = socket.into();
        Ok(UnixStream::from_mio(mio::net::UnixStream::from_std(std)))
    }

    /// Adopts an already connected std socket (`sock=`).
    pub(crate) fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        Ok(UnixStream::from_mio(mio::net::UnixStream::from_std(stream)))
    }

    fn from_mio(inner: mio::net::UnixStream) -> UnixStream {
        UnixStream {
            inner,
            registration: MioRegistration::default(),
        }
    }

    /// `Ok(true)` once connected, `Ok(false)` while the connect is in progress, or the
    /// connect's error.
    pub(crate) fn finish_connect(&mut self) -> io::Result<bool> {
        super::net::connect_outcome(socket2::SockRef::from(&self.inner))
    }

    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        retry(|| self.inner.read(buf))
    }

    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        retry(|| self.inner.write(buf))
    }

    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        match self.inner.shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        }
    }

    /// `sendfile(2)` to this socket, as for TCP.
    pub(crate) fn send_file(
        &mut self,
        file: &std::fs::File,
        offset: u64,
        len: usize,
    ) -> io::Result<usize> {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&self.inner);
        super::net::send_file(fd, file, offset, len)
    }

    pub(crate) fn local_addr(&self) -> io::Result<UnixAddr> {
        Ok(unix_addr(&self.inner.local_addr()?))
    }

    pub(crate) fn peer_addr(&self) -> io::Result<UnixAddr> {
        Ok(unix_addr(&self.inner.peer_addr()?))
    }
}

impl MioSource for UnixStream {
    fn mio_parts(&mut self) -> (&mut dyn mio::event::Source, &mut MioRegistration) {
        (&mut self.inner, &mut self.registration)
    }
}

/// The socket file a listener made, known by its inode so that a file put in its place
/// since is left alone.
struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    fn of(addr: &UnixAddr) -> Option<SocketFile> {
        let path = addr.as_path()?;
        let meta = std::fs::metadata(path).ok()?;
        Some(SocketFile {
            path: path.to_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    fn remove_if_unchanged(&self) {
        let unchanged = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino);
        if unchanged {
            if let Err(e) = std::fs::remove_file(&self.path) {
                log::debug!("removing {}: {e}", self.path.display());
            }
        }
    }
}

/// A non-blocking listening Unix domain socket.
pub(crate) struct UnixListener {
    inner: mio::net::UnixListener,
    registration: MioRegistration,
    /// Removed when the listener goes (`cleanup_socket`).
    cleanup: Option<SocketFile>,
}

impl UnixListener {
    /// Binds and listens on `addr`. As asyncio does, a socket file already at a path
    /// (left by a server that is gone) is removed first; any other file there makes the
    /// bind fail with `AddrInUse`. With `cleanup`, the socket file is removed when the
    /// listener is dropped, unless it was replaced meanwhile.
    pub(crate) fn bind(addr: &UnixAddr, backlog: u32, cleanup: bool) -> io::Result<UnixListener> {
        let target = sock_addr(addr)?;
        if let Some(path) = addr.as_path() {
            match std::fs::metadata(path) {
                Ok(meta) if meta.file_type().is_socket() => {
                    if let Err(e) = std::fs::remove_file(path) {
                        log::error!("Unable to remove stale UNIX socket {}: {e}", path.display());
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => log::error!("Unable to check stale UNIX socket {}: {e}", path.display()),
            }
        }
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        socket.bind(&target).map_err(|e| {
            if e.kind() == io::ErrorKind::AddrInUse {
                io::Error::new(e.kind(), format!("Address '{addr}' is already in use"))
            } else {
                io_context(e, format_args!("error while attempting to bind on {addr}"))
            }
        })?;
        socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
        let std: std::os::unix::net::UnixListener = socket.into();
        let mut listener = UnixListener::from_mio(mio::net::UnixListener::from_std(std));
        if cleanup {
            listener.cleanup = SocketFile::of(addr);
        }
        Ok(listener)
    }

    /// Adopts an already listening std socket (`sock=`); `cleanup` as for `bind`.
    pub(crate) fn from_std(
        listener: std::os::unix::net::UnixListener,
        cleanup: bool,
    ) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        let mut listener = UnixListener::from_mio(mio::net::UnixListener::from_std(listener));
        if cleanup {
            listener.cleanup = SocketFile::of(&listener.local_addr()?);
        }
        Ok(listener)
    }

    fn from_mio(inner: mio::net::UnixListener) -> UnixListener {
        UnixListener {
            inner,
            registration: MioRegistration::default(),
            cleanup: None,
        }
    }

    /// Accepts one pending connection; `WouldBlock` when there is none.
    pub(crate) fn accept(&mut self) -> io::Result<(UnixStream, UnixAddr)> {
        loop {
            match self.inner.accept() {
                Ok((stream, addr)) => return Ok((UnixStream::from_mio(stream), unix_addr(&addr))),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<UnixAddr> {
        Ok(unix_addr(&self.inner.local_addr()?))
    }
}

impl Drop for UnixListener {
    fn drop(&mut self) {
        if let Some(file) = &self.cleanup {
            file.remove_if_unchanged();
        }
    }
}

impl MioSource for UnixListener {
    fn mio_parts(&mut self) -> (&mut dyn mio::event::Source, &mut MioRegistration) {
        (&mut self.inner, &mut self.registration)
    }
}
