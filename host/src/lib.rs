//! `twinloop-host`: runs twinloop's `wasm32-wasip1` guests inside wasmtime,
//! under an explicit [`SandboxPolicy`].
//!
//! - [`Host`] owns a wasmtime engine (component model, wasm backtraces, epoch
//!   interruption for time limits and for a computing guest to yield).
//! - [`Host::load`] turns a core `wasm32-wasip1` module into a component with
//!   the preview-1 command adapter (or takes a component as is), compiles it
//!   once and links it against WASI 0.2, giving a [`Guest`].
//! - [`Guest::run`] runs it once in a fresh instance and reports a
//!   [`RunOutcome`]: the exit code, or the trap with its wasm backtrace. The
//!   guest runs on the calling thread, beside the tokio runtime that drives
//!   its sockets and timers on that same thread.
//! - [`Guest::run_tests`] treats the guest as a libtest binary and runs every
//!   test in its own instance, so one failing test does not hide the others
//!   (under `panic=abort`, a panic ends the instance) and no test sees what
//!   another left behind (under `panic=unwind` too).
//! - [`command_component`] gives the `wasi:cli/command` component a guest runs
//!   as, for other WASI 0.2 hosts.
//!
//! The engine enables the WebAssembly exception-handling proposal, so guests
//! built with `panic=unwind` catch their panics as native programs do.
//!
//! ```no_run
//! use twinloop_host::{Host, SandboxPolicy, Stdio};
//!
//! let host = Host::new()?;
//! let guest = host.load_file("target/wasm32-wasip1/release/echo.wasm")?;
//! let outcome = guest.run(&SandboxPolicy::default(), &["--port".into(), "8080".into()], Stdio::Inherit)?;
//! std::process::exit(outcome.exit_code());
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod cli;
mod error_text;
mod exit_code;
mod host;
pub mod limits;
pub mod net_rule;
mod output;
mod policy;
mod run;
mod sockets;
mod test_args;
mod test_list;
mod test_runner;
mod time_limit;

pub use host::{command_component, componentize, is_component, Guest, Host};
pub use limits::{Limit, LimitExceeded};
pub use net_rule::NetRule;
pub use output::FORWARD_WINDOW;
pub use policy::{Preopen, SandboxPolicy};
pub use run::{GuestStatus, GuestTrap, RunOutcome, Stdio, CAPTURE_CAPACITY, TRAP_EXIT_CODE};
pub use test_args::{IgnoredMode, TestArgs};
pub use test_list::TestCase;
pub use test_runner::{TestReport, DEFAULT_TEST_TIME_LIMIT, TEST_FAILURE_EXIT_CODE};
pub use time_limit::{TimeLimitExceeded, TICK};
pub use wasmtime_wasi::sockets::SocketAddrUse;

/// Converts a wasmtime error (which keeps its own error type) into an
/// `anyhow::Error`, keeping the cause chain.
pub(crate) fn wasmtime_err(e: wasmtime::Error) -> anyhow::Error {
    anyhow::Error::from_boxed(e.into_boxed_dyn_error())
}
