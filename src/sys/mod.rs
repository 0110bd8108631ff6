//! # The platform contract
//!
//! Everything target-specific in twinloop lives below this module; the loop, its timers,
//! futures, tasks, transports and protocols above it are written once. A backend provides:
//!
//! - **`Reactor`**: the one thing the loop blocks in. `Reactor::new()` creates it;
//!   `Reactor::poll(timeout, events)` waits until an I/O source of interest is ready, the
//!   timeout passes (`Some(Duration::ZERO)` means "just look"), or a [`Waker`] fires, and
//!   appends what became ready to `events`. The loop calls `poll` once per iteration,
//!   with the time to its earliest timer as the timeout (and not at all on an iteration
//!   that has work ready while no source is registered: nothing could be reported); a
//!   backend must turn that into exactly one OS/host wait (one
//!   `epoll_wait`/`kevent`/IOCP wait natively, one `wasi:io/poll.poll` call in the guest,
//!   with the timer as one more pollable).
//! - **`Waker`**: `Send + Sync + Clone`; `wake()` makes a concurrent or later `poll`
//!   return promptly. Natively it is a `mio::Waker`; where the target has no threads (the
//!   WASI guest) nothing can run while the loop is blocked, so it is a no-op.
//! - **`TcpStream`**: a non-blocking TCP stream. `connect(addr, local)` starts a connect
//!   whose completion is reported as writability, then `finish_connect()` says
//!   `Ok(true)` (connected), `Ok(false)` (still going) or the error; `read`/`write` move
//!   what the OS takes now and return `WouldBlock` otherwise (`read` gives `Ok(0)` at end of
//!   stream); `flush()` returns `WouldBlock` until everything written has left the process
//!   (the guest's host-side stream buffers, natively always `Ok`); `shutdown_write()`
//!   half-closes (it may return `WouldBlock` until pending output is flushed: retry on
//!   writability); `set_nodelay`, `local_addr`, `peer_addr`; `from_std` adopts a connected
//!   std socket (native only: the guest returns `Unsupported`).
//! - **`TcpListener`**: `bind(addr, &ListenOptions)` binds and listens; `accept()` gives a
//!   `(TcpStream, peer)` or `WouldBlock`; `local_addr`; `from_std` (native only).
//! - **`UdpSocket`**: a non-blocking UDP socket. `bind(addr, &UdpOptions)` makes and binds
//!   it (SO_REUSEADDR never; `reuse_port` and `allow_broadcast` natively, `Unsupported` in
//!   the guest); `connect(addr)` limits it to one peer; `send_to(buf, Option<addr>)` sends
//!   one datagram (zero-length ones too; `None` on a connected socket) and
//!   `recv_from(buf)` receives one (truncated to `buf`), both `WouldBlock` when they
//!   cannot go on now; a connected socket reports the peer's ICMP port unreachable as
//!   `ConnectionRefused` from a later `recv_from` (natively maybe from `send_to`);
//!   `local_addr`, `peer_addr`; `from_std` (native only).
//! - **`Socket`**: a socket the program owns and drives with the loop's `sock_*` methods:
//!   `new(family, kind)` for TCP or UDP, `bind`, `listen(backlog)`, `connect(addr)` (start;
//!   completion is reported as writability, then `finish_connect` as for `TcpStream`),
//!   `accept`, `recv`/`send` (`Ok(0)` from `recv` at a stream's end), `recv_from`/`send_to`,
//!   `local_addr`, `peer_addr`, all `WouldBlock` when they cannot go on now. Natively it
//!   is any non-blocking socket2/std socket (`from_socket2`, `into_socket2`); in the guest
//!   a state machine over `wasi:sockets` `tcp-socket` or `udp-socket`.
//! - **`FdSource`**: a raw file descriptor (`RawFd`) the program owns and watches with
//!   `add_reader` / `add_writer`: `new(fd)` checks it is open (`Unsupported` where there
//!   are no such descriptors: off Unix, and in the guest); `still_ready(interest)` says,
//!   without waiting, in which directions it is ready now (natively one `poll(2)`), so the
//!   core can give `add_reader` asyncio's level-triggered behaviour over an
//!   edge-triggered reactor.
//! - **`Lookup`**: `start(host, port, notify, executor)` resolves a host name without
//!   blocking the loop. Natively the system resolver runs as a job on `executor` (the
//!   loop's default executor, a bounded thread pool), which calls `notify` when done; in
//!   the guest it is `wasi:sockets/ip-name-lookup`, reported through the poller (the
//!   executor goes unused). `take()` returns the answer once there is one.
//!   `name_info(addr, numeric)` is the blocking reverse lookup (the loop runs it on its
//!   executor; numeric only in the guest). `interface_index(name)` maps an interface
//!   name to its index for scoped IPv6 literals (`None` in the guest).
//! - **`Source`**: the one trait for "a thing the reactor can watch" (mio's
//!   `event::Source`), implemented once per backend for every socket type:
//!   `set_interest(&reactor, token, Interest)` and `deregister(&reactor)`. After
//!   `set_interest` the reactor reports `token` when the source may be ready in a direction
//!   of interest. Reports may be spurious, and natively a direction is reported again only
//!   after an operation in it returned `WouldBlock` (edge-triggered), while the guest
//!   reports it for as long as it stays ready (level-triggered). So the core keeps track of
//!   whether a source may still be ready, and drops the interests it does not need (an
//!   idle writer would otherwise spin the guest). `deregister` must be called before a
//!   source is dropped: in the guest, pollables are children of their streams. The core
//!   never calls these two directly: its `Registration` owns a source, its token and its
//!   interest, and deregisters and frees the token when dropped.
//! - **`Pipe`**: one end of a pipe (or a FIFO, a PTY, a socket) adopted from a `File`
//!   (`new` makes it non-blocking; regular files are refused); `read`/`write` as for
//!   `TcpStream`; `reader_gone()` says whether a write end's reader has closed; `raw_fd`.
//! - **`SignalPipe`**: where the signals routed to one loop arrive, as readability:
//!   `watch(signal)` routes a signal to it (installing the process's handler on first
//!   use), `unwatch` gives it back its default action, `take` lists the deliveries since
//!   the last call, one entry each. `check_signal(signal)` refuses (`InvalidInput`) what
//!   is no signal or cannot be caught; `is_main_thread()`; `signum`: signal numbers.
//! - **`Child`**: a child process. `spawn(program, args, options, notify)` starts it
//!   with its standard streams as the options say and hands back our ends of its pipes;
//!   its exit is reported as readability (natively a pidfd on Linux; elsewhere a helper
//!   thread waits and calls `notify`). `try_exit` reaps it and gives asyncio's
//!   `returncode` (the exit code, or minus the signal); `send_signal`, `terminate`,
//!   `kill`; `pid`. Dropping a child that still runs kills and reaps it: no zombie.
//!   `shell_command(cmd)` is the shell's command line (`/bin/sh -c cmd`).
//!
//! - **`UnixStream` / `UnixListener`**: Unix domain stream sockets at a
//!   [`UnixAddr`](crate::UnixAddr) (a path, or a Linux abstract name).
//!   `UnixStream::connect(addr)` starts a connect reported as for `TcpStream`, with
//!   `finish_connect`, `read`, `write`, `shutdown_write`, `send_file`, `local_addr`,
//!   `peer_addr`, `from_std`. `UnixListener::bind(addr, backlog, cleanup)` removes a
//!   stale socket file at the path first (asyncio's rule), binds and listens, and with
//!   `cleanup` removes its socket file when dropped unless the file was replaced since
//!   (same device and inode); `accept()` gives `(UnixStream, peer)`; `from_std`.
//!
//!   Pipes, signals, children and Unix sockets are Unix only: in the guest and on
//!   Windows they come from `shell.rs`, where each constructor returns `Unsupported`.
//! - **`hold_file(file)`**: something that derefs to `file` and may outlive the borrow,
//!   for the `'static` futures of `sendfile` and `sock_sendfile`: natively a duplicate
//!   (sharing the position); in the guest, which cannot duplicate a descriptor, the
//!   caller's own descriptor, which the caller must keep open until the future is done.
//! - **`attached_os_code(error)`**: the OS code a backend attached to an error it made
//!   itself (the guest numbers WASI's socket error codes as wasi-libc's `errno`; natively
//!   `None`: OS errors carry their own), so `Error::raw_os_error` means the same on both.
//! - **`SHORT_READ_DRAINS`**: whether a read that filled less than its buffer may be
//!   taken to have emptied the source, so that the next read waits for the next report
//!   (one `recv` per message instead of two). True where the backend reports new input
//!   again however much was left unread (epoll and kqueue report every arrival; the
//!   guest's poll reports for as long as input waits), unless the report also said the
//!   peer closed ([`Event::read_closed`]); false on Windows, where mio re-arms a source
//!   only after it has seen `WouldBlock`.
//! - **`TARGET`** (a name for error messages, e.g. `"wasm32-wasip1"`), **`HAS_THREADS`**,
//!   and **`EDGE_TRIGGERED`** (natively true: a source that may still be ready after a
//!   bounded amount of work is queued again by the core, since the backend will not
//!   report it again; in the guest false: the reactor reports it again by itself).
//!
//! Backends: `native/` (mio over epoll, kqueue or IOCP; sockets through socket2/libc) and
//! `wasi/` (WASI 0.2 through the `wasi` crate: `wasi:io/poll`, `wasi:clocks`,
//! `wasi:sockets`). One is chosen at compile time with `cfg-if`.

use std::io;

#[cfg(any(target_os = "wasi", windows))]
mod shell;

cfg_if::cfg_if! {
    if #[cfg(target_os = "wasi")] {
        mod wasi;
        pub(crate) use self::wasi::*;
    } else {
        mod native;
        pub(crate) use self::native::*;
    }
}

/// A thing the reactor can watch (mio's `event::Source`): see the platform contract above.
pub(crate) trait Source {
    /// Report `token` for the directions of `interest` from now on; an empty interest
    /// leaves the reactor.
    fn set_interest(
        &mut self,
        reactor: &Reactor,
        token: usize,
        interest: Interest,
    ) -> io::Result<()>;
    /// Leave the reactor; call before dropping the source.
    fn deregister(&mut self, reactor: &Reactor);
}

/// What a `Registration` owns: a [`Source`], or a value that holds one (an enum over
/// socket kinds, a boxed byte stream), or one the reactor never watches (`None`: a helper
/// thread or the loop's inbox reports it instead). The one place a holder says which
/// source is its own; set_interest and deregister are written once, in the backend.
pub(crate) trait Watchable {
    fn as_source(&mut self) -> Option<&mut dyn Source>;
}

impl<S: Source> Watchable for S {
    fn as_source(&mut self) -> Option<&mut dyn Source> {
        Some(self)
    }
}

/// Which directions a source wants reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Interest {
    pub(crate) read: bool,
    pub(crate) write: bool,
}

impl Interest {
    pub(crate) const READ: Interest = Interest {
        read: true,
        write: false,
    };
    pub(crate) const WRITE: Interest = Interest {
        read: false,
        write: true,
    };
}

/// How a listening socket is set up.
#[derive(Clone, Debug)]
pub(crate) struct ListenOptions {
    pub(crate) backlog: u32,
    pub(crate) reuse_address: bool,
    pub(crate) reuse_port: bool,
    /// For IPv6 addresses: accept IPv6 only (set when an IPv4 socket binds the same port).
    pub(crate) v6_only: bool,
}

/// How a UDP socket is set up (asyncio's `create_datagram_endpoint` options).
#[derive(Clone, Debug, Default)]
pub(crate) struct UdpOptions {
    pub(crate) reuse_port: bool,
    pub(crate) allow_broadcast: bool,
}

/// One readiness report from [`Reactor::poll`]: the source's token and its directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) token: usize,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// The report also says the peer closed its end (or the source failed): what is left
    /// to read ends in EOF or an error, and no later report will announce it.
    pub(crate) read_closed: bool,
}
