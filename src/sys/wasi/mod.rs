//! The WASI 0.2 backend: `wasi:io/poll` for waiting, `wasi:clocks/monotonic-clock` for the
//! timer, `wasi:sockets` for the network (all through the `wasi` crate's bindings).
//!
//! - `reactor`: the poller (one persistent pollable list, one `poll` per iteration).
//! - `net`: TCP streams and listeners; `linger`: closing them without blocking the guest;
//!   `lookup`: name resolution.
//! - `addr`: address conversions and the guest's `network` resource; `error`: WASI error
//!   codes as `io::Error`s.

mod addr;
mod error;
mod linger;
mod lookup;
mod net;
mod pthread_stubs;
mod reactor;

pub(crate) use lookup::{interface_index, name_info, Lookup};
pub(crate) use net::{TcpListener, TcpStream};
pub(crate) use reactor::{Reactor, Waker};

/// Name of this target in `Error::Unsupported`.
pub(crate) const TARGET: &str = "wasm32-wasip1";
/// The guest is single-threaded: nothing can call into the loop while it is blocked.
pub(crate) const HAS_THREADS: bool = false;
