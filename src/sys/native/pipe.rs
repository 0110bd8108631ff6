//! Pipe ends (and any other non-blocking file descriptor: a FIFO, a PTY, a socket) for
//! the pipe transports, watched through mio's `SourceFd`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::retry;
use super::source::{MioFd, MioRegistration, MioSource};

/// One end of a pipe, non-blocking.
pub(crate) struct Pipe {
    file: MioFd<File>,
    registration: MioRegistration,
}

impl Pipe {
    /// Adopts `file` and makes it non-blocking (as asyncio's `connect_*_pipe` do).
    /// Regular files are refused (`InvalidInput`): the poller cannot watch them.
    pub(crate) fn new(file: File) -> io::Result<Pipe> {
        let kind = file.metadata()?.file_type();
        if kind.is_file() || kind.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "pipe transports are for pipes, sockets and character devices only",
            ));
        }
        set_nonblocking(file.as_raw_fd())?;
        Ok(Pipe {
            file: MioFd(file),
            registration: MioRegistration::default(),
        })
    }

    pub(super) fn from_fd(fd: OwnedFd) -> io::Result<Pipe> {
        Pipe::new(File::from(fd))
    }

    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        retry(|| self.file.0.read(buf))
    }

    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        retry(|| self.file.0.write(buf))
    }

    /// For a write end: whether the reader is gone (`poll` says POLLERR or POLLHUP).
    pub(crate) fn reader_gone(&self) -> bool {
        let mut fds = libc::pollfd {
            fd: self.file.0.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: `fds` is one valid pollfd that outlives the call; timeout 0 never blocks.
        let n = unsafe { libc::poll(&mut fds, 1, 0) };
        n > 0 && fds.revents & (libc::POLLERR | libc::POLLHUP) != 0
    }

    /// The descriptor's number (`get_extra_info("pipe")`).
    pub(crate) fn raw_fd(&self) -> i32 {
        self.file.0.as_raw_fd()
    }
}

impl MioSource for Pipe {
    fn mio_parts(&mut self) -> (&mut dyn mio::event::Source, &mut MioRegistration) {
        (&mut self.file, &mut self.registration)
    }
}

pub(super) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor this process owns; F_GETFL/F_SETFL touch only flags.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
