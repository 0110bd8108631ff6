//! # The platform contract
//!
//! Everything target-specific in twinloop lives below this module; the loop, its timers,
//! futures, tasks, transports and protocols above it are written once. A backend provides:
//!
//! - **`Reactor`**: the one thing the loop blocks in. `Reactor::new()` creates it;
//!   `Reactor::poll(timeout, events)` waits until an I/O source of interest is ready, the
//!   timeout passes (`Some(Duration::ZERO)` means "just look"), or a [`Waker`] fires, and
//!   appends what became ready to `events`. The loop calls `poll` exactly once per
//!   iteration, with the time to its earliest timer as the timeout; a backend must turn
//!   that into exactly one OS/host wait (one `epoll_wait`/`kevent`/IOCP wait natively, one
//!   `wasi:io/poll.poll` call in the guest, with the timer as one more pollable).
//! - **`Waker`**: `Send + Sync + Clone`; `wake()` makes a concurrent or later `poll`
//!   return promptly. Natively it is a `mio::Waker`; where the target has no threads (the
//!   WASI guest) nothing can run while the loop is blocked, so it is a no-op.
//! - **`TARGET`** (a name for error messages, e.g. `"wasm32-wasip1"`) and **`HAS_THREADS`**.
//!
//! Backends: `native/` (mio over epoll, kqueue or IOCP; sockets through socket2/libc) and
//! `wasi/` (WASI 0.2 through the `wasi` crate: `wasi:io/poll`, `wasi:clocks`,
//! `wasi:sockets`). One is chosen at compile time with `cfg-if`.

cfg_if::cfg_if! {
    if #[cfg(target_os = "wasi")] {
        mod wasi;
        pub(crate) use self::wasi::*;
    } else {
        mod native;
        pub(crate) use self::native::*;
    }
}

/// One readiness report from [`Reactor::poll`]: the source's token and its directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) token: usize,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
}
