//! # twinloop
//!
//! Python's asyncio event loop, in Rust, on two targets: natively (epoll, kqueue or IOCP
//! through `mio`) and compiled to `wasm32-wasip1`, inside the `twinloop-host` wasmtime
//! harness, where it reaches clocks and the network through WASI 0.2. The same program
//! and the same test suite run on both.
//!
//! The reference for the API is the asyncio event-loop page: each method's documentation
//! names the asyncio method it mirrors and says how it differs.
//!
//! ```
//! use std::time::Duration;
//! use twinloop::EventLoop;
//!
//! let ev = EventLoop::new()?;
//! ev.call_soon(|_| println!("Hello World"))?;
//! ev.call_later(Duration::from_millis(10), |ev| ev.stop())?;
//! ev.run_forever()?;
//! ev.close()?;
//! # Ok::<(), twinloop::Error>(())
//! ```
//!
//! ## Targets
//!
//! | | native (Linux; Windows tested under Wine; macOS type-checked) | `wasm32-wasip1` in `twinloop-host` |
//! |---|---|---|
//! | callbacks, timers, futures, tasks | yes | yes |
//! | `call_soon_threadsafe` from other threads | yes | no threads: same-thread only |
//! | `run_in_executor` | on a bounded thread pool | inline on the loop's next turn |
//! | `create_datagram_endpoint` (UDP) | yes | yes; no `reuse_port`, `allow_broadcast`, `sock` (`Unsupported`) |
//! | TLS (rustls + ring): `ssl` on connections and servers, [`EventLoop::start_tls`] | yes | yes |
//! | `sock_*` on a [`Socket`] | yes; also adopts socket2/std sockets | yes, on sockets made with `Socket::new` |
//! | pipes, signals, subprocesses | Unix (Windows: [`Error::Unsupported`]) | [`Error::Unsupported`] |
//! | a panicking callback (or unretrieved task) reaches the exception handler, loop goes on | yes | yes (`panic=unwind` guests, the default); a `panic=abort` guest traps |
//!
//! ## asyncio features not provided, and why
//!
//! | asyncio | why not |
//! |---|---|
//! | `Handle.get_context`; `context=` on `call_soon`, `call_later`, `call_at`, `create_task` | Rust has no `contextvars`: a callback or task carries what its closure captures (or reads a thread-local) |
//! | `create_connection(proto=, flags=)`, `create_server(flags=)` | `proto` can only be TCP for these stream sockets; `flags` are `getaddrinfo`'s `AI_*` hints, which neither resolver used takes (`std`'s natively, `wasi:sockets/ip-name-lookup` in the guest); [`Hosts::All`] is what `AI_PASSIVE` without a host gives |
//! | `get_extra_info("ssl_object")` | rustls has no `SSLObject`; see `peercert`, `cipher`, `alpn`, `sslcontext` ([`Transport::get_extra_info`]) |
//! | `SelectorEventLoop`, `ProactorEventLoop`, custom selectors, policies | one [`EventLoop`], its backend chosen at compile time |
//!
//! [`EventLoop::shutdown_asyncgens`] exists but finalizes nothing: Rust has no async
//! generators for a loop to track.
//!
//! ## Panics
//!
//! Natively, a callback or task that panics is caught and the loop goes on. A callback's
//! panic becomes [`Error::Panic`] in an [`ExceptionContext`] handed to the exception
//! handler. A task's panic becomes the task's result; it reaches the exception handler
//! ("Task exception was never retrieved") only if the task is dropped before anyone
//! retrieved it (awaited the task, or called `result`, `take_result` or `error`).
//!
//! WASI guests behave the same when built with `panic=unwind`, which uses the WebAssembly
//! exception-handling proposal (`cargo xtask build-guest` does this by default; the host
//! must enable the proposal, as `twinloop-host` and the `wasmtime` CLI do). The exception
//! tag this needs, `__cpp_exception`, is defined (weakly) by this crate in such guests, so
//! a program needs nothing more. A guest built with `panic=abort`
//! (`cargo xtask build-guest --panic-abort`, a smaller module) ends at its first panic:
//! the host reports the trap and a non-zero exit.

#![warn(missing_docs)]
// The guest's `__cpp_exception` tag (`sys/wasi/exception_tag.rs`) is assembler; wasm
// assembly is unstable, and a `panic=unwind` guest is built with `-Zbuild-std` anyway.
// `build.rs` sets the cfg for exactly those guests.
#![cfg_attr(twinloop_wasm_exceptions, feature(asm_experimental_arch))]

mod current;
mod error;
mod event_loop;
mod exception;
mod executor;
mod fd_watch;
mod future;
mod gather;
mod handle;
mod io_registry;
mod net;
mod pipes;
mod process;
mod protocol;
mod protocol_handle;
mod ready_queue;
mod registration;
mod remote;
mod run;
mod signals;
mod streams;
mod sys;
mod task;
mod time_limit;
mod timer_heap;
mod tls;
mod transport;

pub use current::{get_event_loop, get_running_loop, new_event_loop, set_event_loop};
pub use error::{Error, Result};
pub use event_loop::{EventLoop, LoopMetrics, TransportMetrics, DEBUG_ENV_VAR};
pub use exception::{ExceptionContext, ExceptionHandler};
pub use executor::{Executor, Job, ThreadPoolExecutor};
pub use fd_watch::RawFd;
pub use future::{CallbackId, LoopFuture};
pub use gather::{gather, gather_all};
pub use handle::{Handle, TimerHandle};
pub use net::{
    AcceptedOptions, ConnectOptions, DatagramOptions, Family, HostPort, Hosts, Port, Resolver,
    Server, ServerGuard, ServerOptions, ServerSocket, Socket, SocketType, UnixAddr,
    UnixConnectOptions, UnixServerOptions, ACCEPT_RETRY_DELAY, DEFAULT_BACKLOG,
};
pub use process::{Stdio, SubprocessOptions, SubprocessProtocol, SubprocessTransport};
pub use protocol::{AnyProtocol, BaseProtocol, Buffered, BufferedProtocol, Protocol, ProtocolSlot};
pub use protocol_handle::ProtocolHandle;
pub use remote::{RemoteHandle, ThreadsafeHandle};
pub use run::run;
pub use rustls;
pub use signals::signal;
pub use streams::{
    open_connection, open_unix_connection, start_server, start_unix_server, StreamFeeder,
    StreamOptions, StreamReader, StreamWriter, DEFAULT_LIMIT,
};
pub use task::{sleep, Task, TaskFactory, TaskFuture};
pub use time_limit::{timeout, timeout_at, wait_for, TimeLimited, Timeout};
pub use tls::{
    CipherInfo, ClientTls, StartTlsOptions, TlsConfig, SSL_HANDSHAKE_TIMEOUT, SSL_SHUTDOWN_TIMEOUT,
};
pub use transport::{
    DatagramProtocol, DatagramSocketInfo, DatagramTransport, ExtraInfo, PipeTransport,
    ReadTransport, SocketInfo, Transport, WriteTransport, DEFAULT_HIGH_WATER,
    DEFAULT_WRITE_BUFFER_MAX, SENDFILE_FALLBACK_READBUFFER_SIZE,
};

/// The target this build of twinloop runs on, as named in [`Error::Unsupported`]
/// (`"linux"`, `"macos"`, `"windows"`, ..., or `"wasm32-wasip1"`).
///
/// ```
/// println!("twinloop on {}", twinloop::TARGET);
/// assert_eq!(twinloop::TARGET == "wasm32-wasip1", !twinloop::HAS_THREADS);
/// ```
pub const TARGET: &str = sys::TARGET;

/// Whether this target has threads (false in the WASI guest), i.e. whether
/// [`RemoteHandle`]s can be used from other threads.
///
/// ```
/// let ev = twinloop::EventLoop::new()?;
/// let remote = ev.remote();
/// if twinloop::HAS_THREADS {
///     std::thread::spawn(move || remote.stop());
/// } else {
///     remote.stop()?;
/// }
/// ev.run_forever()?;
/// # Ok::<(), twinloop::Error>(())
/// ```
pub const HAS_THREADS: bool = sys::HAS_THREADS;
