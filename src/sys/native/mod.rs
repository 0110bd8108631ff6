//! The native backend: `mio` (epoll on Linux, kqueue on macOS/BSD, IOCP on Windows).
//! Pipes (`pipe`), signals (`signal`), child processes (`process`) and Unix domain
//! sockets (`unix`) on Unix only.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::Event;

mod fd;
mod lookup;
mod net;
mod socket;
mod source;
mod udp;
pub(crate) use fd::FdSource;
pub(crate) use lookup::{name_info, Lookup};
pub(crate) use net::{TcpListener, TcpStream};
pub(crate) use socket::Socket;
pub(crate) use udp::UdpSocket;

cfg_if::cfg_if! {
    if #[cfg(unix)] {
        mod pipe;
        mod process;
        mod signal;
        mod unix;
        pub(crate) use pipe::Pipe;
        pub(crate) use unix::{UnixListener, UnixStream};
        pub(crate) use process::{shell_command, Child};
        pub(crate) use signal::{check_signal, is_main_thread, SignalPipe};

        /// Signal numbers for `twinloop::signal`: the platform's own.
        pub(crate) mod signum {
            pub(crate) use libc::{
                SIGALRM, SIGCHLD, SIGHUP, SIGINT, SIGKILL, SIGPIPE, SIGQUIT, SIGTERM, SIGUSR1,
                SIGUSR2, SIGWINCH,
            };
        }
    } else {
        // Windows: mio watches sockets and named pipes, not the anonymous pipes of
        // `std::process` nor process handles; and there are no POSIX signals.
        pub(crate) use super::shell::{
            check_signal, is_main_thread, shell_command, signum, Child, Pipe, SignalPipe,
            UnixListener, UnixStream,
        };
    }
}

/// `file`, duplicated, for a `'static` future to read from (`sendfile`,
/// `sock_sendfile`); the duplicate shares the file's position.
pub(crate) fn hold_file(file: &std::fs::File) -> io::Result<std::fs::File> {
    file.try_clone()
}

/// Runs a system call again for as long as a signal interrupts it.
pub(super) fn retry<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Name of this target in `Error::Unsupported`.
pub(crate) const TARGET: &str = std::env::consts::OS;
/// epoll and kqueue report every arrival of input; mio's IOCP backend re-arms a socket
/// only after a `WouldBlock` (see the platform contract).
pub(crate) const SHORT_READ_DRAINS: bool = cfg!(not(windows));
/// epoll and kqueue (as mio sets them up) report a direction once per edge.
pub(crate) const EDGE_TRIGGERED: bool = true;
/// Native targets have threads: `call_soon_threadsafe` can come from elsewhere.
pub(crate) const HAS_THREADS: bool = true;

/// The index of the network interface `name` (`if_nametoindex`), for scoped IPv6
/// literals such as `fe80::1%eth0`; `None` if there is no such interface.
#[cfg(unix)]
pub(crate) fn interface_index(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

/// Interface names are not looked up on this platform: numeric scope ids only.
#[cfg(not(unix))]
pub(crate) fn interface_index(_name: &str) -> Option<u32> {
    None
}

/// Token reserved for the cross-thread waker.
const WAKER_TOKEN: mio::Token = mio::Token(usize::MAX);

/// The loop's poller: one `mio::Poll` and its event buffer, reused every iteration.
pub(crate) struct Reactor {
    poll: mio::Poll,
    events: mio::Events,
    waker: Waker,
}

/// Wakes a `Reactor` blocked in `poll` from any thread.
#[derive(Clone)]
pub(crate) struct Waker(Arc<mio::Waker>);

impl Waker {
    pub(crate) fn wake(&self) {
        // A failed wake means the poller is gone (loop closed); nothing to wake.
        let _ = self.0.wake();
    }
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Self> {
        let poll = mio::Poll::new()?;
        let waker = Waker(Arc::new(mio::Waker::new(poll.registry(), WAKER_TOKEN)?));
        Ok(Reactor {
            poll,
            events: mio::Events::with_capacity(1024),
            waker,
        })
    }

    pub(crate) fn registry(&self) -> &mio::Registry {
        self.poll.registry()
    }

    pub(crate) fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// One wait. Interruptions by signals count as an empty wake-up.
    pub(crate) fn poll(
        &mut self,
        timeout: Option<Duration>,
        out: &mut Vec<Event>,
    ) -> io::Result<()> {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        for ev in self.events.iter() {
            if ev.token() == WAKER_TOKEN {
                continue;
            }
            out.push(Event {
                token: ev.token().0,
                readable: ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                writable: ev.is_writable() || ev.is_write_closed() || ev.is_error(),
                read_closed: ev.is_read_closed() || ev.is_error(),
            });
        }
        Ok(())
    }
}

/// Whether an `accept` failed for want of file descriptors or memory (EMFILE, ENFILE,
/// ENOBUFS, ENOMEM): the server pauses accepting and tries again later.
pub(crate) fn is_out_of_resources(e: &io::Error) -> bool {
    #[cfg(unix)]
    const CODES: [i32; 4] = [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM];
    // WSAEMFILE, WSAENOBUFS.
    #[cfg(windows)]
    const CODES: [i32; 2] = [10024, 10055];
    e.kind() == io::ErrorKind::OutOfMemory || e.raw_os_error().is_some_and(|c| CODES.contains(&c))
}

/// Natively every OS error is the OS's own (`io::Error::raw_os_error`): nothing attached.
pub(crate) fn attached_os_code(_: &(dyn std::error::Error + Send + Sync + 'static)) -> Option<i32> {
    None
}
