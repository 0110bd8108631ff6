//! Raw file descriptors the program watches with `add_reader` / `add_writer` (Unix only:
//! elsewhere there are no such descriptors to watch, and `FdSource::new` says so).
//!
//! mio reports a descriptor once per readiness edge, while asyncio's `add_reader` calls
//! its callback for as long as the descriptor stays readable. [`FdSource::still_ready`]
//! asks the OS (one `poll(2)` with no wait) after a callback, so the loop can come back
//! while the callback left data unread.

use std::io;

use super::source::{MioFd, MioRegistration, MioSource};
use crate::sys::Interest;

/// A file descriptor number, as the program passes it to `add_reader`.
type RawFd = i32;

/// A descriptor the program owns and the reactor watches; closing it is the program's
/// business (after removing the watch).
pub(crate) struct FdSource {
    fd: MioFd<i32>,
    registration: MioRegistration,
}

impl FdSource {
    /// Checks that `fd` is an open descriptor. Errors: `Unsupported` off Unix; `EBADF`.
    pub(crate) fn new(fd: RawFd) -> io::Result<FdSource> {
        #[cfg(unix)]
        {
            // SAFETY: F_GETFD reads the descriptor's flags and touches no memory.
            if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(FdSource {
                fd: MioFd(fd),
                registration: MioRegistration::default(),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = fd;
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "watching raw file descriptors is available on Unix only",
            ))
        }
    }

    /// The directions of `interest` in which the descriptor is ready now.
    #[cfg(unix)]
    pub(crate) fn still_ready(&self, interest: Interest) -> Interest {
        let mut events = 0;
        if interest.read {
            events |= libc::POLLIN;
        }
        if interest.write {
            events |= libc::POLLOUT;
        }
        let mut pollfd = libc::pollfd {
            fd: self.fd.0,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd, a count of 1 and no wait; the kernel writes `revents`.
        let n = unsafe { libc::poll(&mut pollfd, 1, 0) };
        if n <= 0 {
            return Interest::default();
        }
        // Hang-up and errors count as readable and writable, as select() reports them.
        let trouble = pollfd.revents & (libc::POLLHUP | libc::POLLERR) != 0;
        Interest {
            read: interest.read && (pollfd.revents & libc::POLLIN != 0 || trouble),
            write: interest.write && (pollfd.revents & libc::POLLOUT != 0 || trouble),
        }
    }

    #[cfg(not(unix))]
    pub(crate) fn still_ready(&self, _interest: Interest) -> Interest {
        Interest::default()
    }
}

impl MioSource for FdSource {
    fn mio_parts(&mut self) -> (&mut dyn mio::event::Source, &mut MioRegistration) {
        (&mut self.fd, &mut self.registration)
    }
}
