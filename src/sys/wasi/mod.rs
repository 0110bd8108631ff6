//! The WASI 0.2 backend: `wasi:io/poll` for waiting, `wasi:clocks/monotonic-clock` for the
//! timer, `wasi:sockets` for the network (all through the `wasi` crate's bindings).
//!
//! - `reactor`: the poller (one persistent pollable list, one `poll` per iteration).
//! - `net`: TCP streams and listeners; `udp`: UDP sockets; `socket`: sockets for the
//!   `sock_*` methods; `linger`: closing TCP streams without blocking the guest;
//!   `lookup`: name resolution.
//! - `addr`: address conversions and the guest's `network` resource; `error`: WASI error
//!   codes as `io::Error`s; `file`: keeping a caller's file for `sendfile`.

mod addr;
mod error;
mod exception_tag;
mod fd;
mod file;

pub(crate) use error::attached_os_code;
mod linger;
mod lookup;
mod net;
mod pthread_stubs;
mod reactor;
mod socket;
mod source;
mod udp;

pub(crate) use fd::FdSource;
pub(crate) use file::hold_file;
pub(crate) use lookup::{interface_index, name_info, Lookup};
pub(crate) use net::{TcpListener, TcpStream};
pub(crate) use reactor::{Reactor, Waker};
pub(crate) use socket::Socket;
pub(crate) use udp::UdpSocket;
// WASI 0.2 has no pipes to adopt, no signals, no processes and no Unix domain sockets.
pub(crate) use super::shell::{
    check_signal, is_main_thread, shell_command, signum, Child, Pipe, SignalPipe, UnixListener,
    UnixStream,
};

/// Name of this target in `Error::Unsupported`.
pub(crate) const TARGET: &str = "wasm32-wasip1";
/// The guest's poll reports a stream for as long as input waits in it.
pub(crate) const SHORT_READ_DRAINS: bool = true;
/// `wasi:io/poll` reports a pollable for as long as it is ready.
pub(crate) const EDGE_TRIGGERED: bool = false;
/// The guest is single-threaded: nothing can call into the loop while it is blocked.
pub(crate) const HAS_THREADS: bool = false;

/// Whether an `accept` failed for want of sockets or memory (`new-socket-limit`,
/// `out-of-memory`, and the `unknown` wasmtime-wasi answers for the host's EMFILE): the
/// server pauses accepting and tries again later.
pub(crate) fn is_out_of_resources(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::OutOfMemory
        || error::is_new_socket_limit(e)
        || error::is_unnamed_accept_failure(e)
}
