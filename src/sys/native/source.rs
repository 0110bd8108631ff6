//! `sys::Source` for every native socket type, written once over `mio::event::Source`.

use std::io;

use mio::{Interest as MioInterest, Token};

use super::Reactor;
use crate::sys::{Interest, Source};

/// Whether a source is in the poller: mio cannot register "no interest", so an empty
/// interest deregisters, and the next one registers again.
#[derive(Default)]
pub(super) struct MioRegistration {
    registered: bool,
}

/// A native type the reactor can watch: it hands out its mio source and its registration.
pub(super) trait MioSource {
    fn mio_parts(&mut self) -> (&mut dyn mio::event::Source, &mut MioRegistration);
}

impl<T: MioSource> Source for T {
    fn set_interest(
        &mut self,
        reactor: &Reactor,
        token: usize,
        interest: Interest,
    ) -> io::Result<()> {
        let (source, registration) = self.mio_parts();
        registration.set_interest(source, reactor, token, interest)
    }

    fn deregister(&mut self, reactor: &Reactor) {
        let (source, registration) = self.mio_parts();
        registration.deregister(source, reactor);
    }
}

impl MioRegistration {
    /// `Source::set_interest` for `source`, which this registration is the record of.
    pub(super) fn set_interest(
        &mut self,
        source: &mut dyn mio::event::Source,
        reactor: &Reactor,
        token: usize,
        interest: Interest,
    ) -> io::Result<()> {
        let mio_interest = match (interest.read, interest.write) {
            (true, true) => Some(MioInterest::READABLE | MioInterest::WRITABLE),
            (true, false) => Some(MioInterest::READABLE),
            (false, true) => Some(MioInterest::WRITABLE),
            (false, false) => None,
        };
        let registry = reactor.registry();
        match (mio_interest, self.registered) {
            (Some(i), false) => {
                registry.register(source, Token(token), i)?;
                self.registered = true;
            }
            (Some(i), true) => registry.reregister(source, Token(token), i)?,
            (None, true) => {
                registry.deregister(source)?;
                self.registered = false;
            }
            (None, false) => {}
        }
        Ok(())
    }

    /// `Source::deregister` for `source`.
    pub(super) fn deregister(&mut self, source: &mut dyn mio::event::Source, reactor: &Reactor) {
        if self.registered {
            // The socket is about to close, which removes it from the poller anyway.
            let _ = reactor.registry().deregister(source);
            self.registered = false;
        }
    }
}

/// A mio source beside its registration record: a native source that needs nothing else
/// (a pidfd, where there are pidfds).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) struct MioWatched<T> {
    io: T,
    registration: MioRegistration,
}

#[cfg(any(target_os = "linux", target_os = "android"))]
impl<T: mio::event::Source> MioWatched<T> {
    pub(super) fn new(io: T) -> Self {
        MioWatched {
            io,
            registration: MioRegistration::default(),
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
impl<T: mio::event::Source> MioSource for MioWatched<T> {
    fn mio_parts(&mut self) -> (&mut dyn mio::event::Source, &mut MioRegistration) {
        (&mut self.io, &mut self.registration)
    }
}

/// A file descriptor as a mio source: mio's `SourceFd` without the borrow, so a type can
/// keep one next to its registration and implement [`MioSource`]. `T` owns the
/// descriptor (a pipe end, a pidfd) or is the bare number of one the program owns
/// (`add_reader`, `sock_*`). Off Unix there are no such descriptors: every call is
/// `Unsupported`.
pub(super) struct MioFd<T>(pub(super) T);

#[cfg(unix)]
impl<T: std::os::fd::AsRawFd> mio::event::Source for MioFd<T> {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: Token,
        interests: MioInterest,
    ) -> io::Result<()> {
        mio::unix::SourceFd(&self.0.as_raw_fd()).register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: Token,
        interests: MioInterest,
    ) -> io::Result<()> {
        mio::unix::SourceFd(&self.0.as_raw_fd()).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        mio::unix::SourceFd(&self.0.as_raw_fd()).deregister(registry)
    }
}

#[cfg(not(unix))]
impl<T> mio::event::Source for MioFd<T> {
    fn register(&mut self, _: &mio::Registry, _: Token, _: MioInterest) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    fn reregister(&mut self, _: &mio::Registry, _: Token, _: MioInterest) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    fn deregister(&mut self, _: &mio::Registry) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// A socket the program drives with `sock_*`, as a mio source. On Unix it is the bare
/// descriptor (the `socket2::Socket` beside it owns it); on Windows a mio socket over the
/// same handle, since mio's IOCP backend watches any socket handle through its `net`
/// types and has no `SourceFd`. It never closes the socket.
pub(super) struct SocketSource {
    #[cfg(unix)]
    fd: MioFd<i32>,
    /// `Some` until dropped; then handed back without closing the handle.
    #[cfg(windows)]
    stream: Option<mio::net::TcpStream>,
}

impl SocketSource {
    /// The source of `sock`, which must outlive it.
    pub(super) fn of(sock: &socket2::Socket) -> SocketSource {
        #[cfg(unix)]
        {
            SocketSource {
                fd: MioFd(std::os::fd::AsRawFd::as_raw_fd(sock)),
            }
        }
        #[cfg(windows)]
        {
            use std::os::windows::io::{AsRawSocket, FromRawSocket};
            // SAFETY: the handle is a live socket owned by `sock`, which outlives this
            // source; the std stream made here never closes it, since `Drop` gives the
            // handle back with `into_raw_socket`. A stream over a listening or UDP socket
            // is only ever registered, never read or written.
            let std = unsafe { std::net::TcpStream::from_raw_socket(sock.as_raw_socket()) };
            SocketSource {
                stream: Some(mio::net::TcpStream::from_std(std)),
            }
        }
    }

    /// What the poller watches: the descriptor, or the mio socket over the handle.
    pub(super) fn mio_source(&mut self) -> &mut dyn mio::event::Source {
        #[cfg(unix)]
        {
            &mut self.fd
        }
        #[cfg(windows)]
        {
            self.stream.as_mut().expect("only taken when dropped")
        }
    }

    /// Runs one I/O call on the socket. On Windows a `WouldBlock` re-arms the socket in
    /// mio (its IOCP backend reports a socket again only after one; mio's own types do
    /// this in each call), so that a wait after a spurious wake-up is not a wait forever.
    pub(super) fn io<T>(&self, op: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        #[cfg(unix)]
        {
            op()
        }
        #[cfg(windows)]
        {
            match &self.stream {
                Some(stream) => stream.try_io(op),
                None => op(),
            }
        }
    }

    /// The descriptor, for `sendfile(2)`.
    #[cfg(unix)]
    pub(super) fn fd(&self) -> i32 {
        self.fd.0
    }
}

#[cfg(windows)]
impl Drop for SocketSource {
    fn drop(&mut self) {
        if let Some(stream) = self.stream.take() {
            // The socket belongs to the `socket2::Socket` beside this source: release the
            // handle (mio's registration state goes with the stream) without closing it.
            let _ = std::os::windows::io::IntoRawSocket::into_raw_socket(stream);
        }
    }
}
