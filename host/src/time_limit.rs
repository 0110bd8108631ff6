//! Wall-clock time limits for guests.
//!
//! Two mechanisms together stop a guest that runs too long, whatever it is
//! doing when the limit passes:
//!
//! - **Computing.** The engine is built with epoch interruption and an
//!   [`EpochTicker`] thread advances the epoch every [`TICK`]. At each tick
//!   the store's epoch callback compares the clock with the deadline and, once
//!   it has passed, returns [`TimeLimitExceeded`], which traps the guest with
//!   a wasm backtrace of where it was spinning.
//! - **Waiting in a host call** (a `poll` with nothing ready, a blocking read):
//!   no wasm runs, so no epoch check happens. The guest runs as an async
//!   wasmtime call, and the runner wraps it in a tokio timeout slightly longer
//!   than the limit; when that fires the call is dropped, which ends the
//!   instance.

use std::fmt;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use wasmtime::{Engine, Store, UpdateDeadline};

use crate::policy::format_secs;

/// How often the ticker advances the engine's epoch: the resolution of time
/// limits on computing guests.
pub const TICK: Duration = Duration::from_millis(10);

/// Extra time given to the host-side timeout, so that a computing guest is
/// normally caught by the epoch callback (which yields a backtrace) first.
pub(crate) const GRACE: Duration = Duration::from_millis(50);

/// The error a guest is stopped with when its time limit passes. Its message
/// is "time limit of N s exceeded (--time-limit)".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeLimitExceeded {
    /// The limit that was exceeded.
    pub limit: Duration,
}

impl fmt::Display for TimeLimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "time limit of {} s exceeded (--time-limit)",
            format_secs(self.limit)
        )
    }
}

impl std::error::Error for TimeLimitExceeded {}

/// A thread that advances an engine's epoch every [`TICK`] until the last
/// handle to it is dropped.
pub(crate) struct EpochTicker {
    // Dropping the sender disconnects the channel, which ends the thread.
    _stop: Sender<()>,
}

impl EpochTicker {
    /// Starts the ticker thread for `engine`.
    pub(crate) fn start(engine: &Engine) -> Result<Arc<EpochTicker>> {
        let (stop, stopped) = mpsc::channel::<()>();
        let engine = engine.clone();
        thread::Builder::new()
            .name("twinloop-epoch-ticker".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                    engine.increment_epoch();
                }
            })
            .context("starting the epoch ticker thread")?;
        Ok(Arc::new(EpochTicker { _stop: stop }))
    }
}

/// Arms `store` (on an engine with epoch interruption) to trap with
/// [`TimeLimitExceeded`] once `limit` has passed, or never if `limit` is
/// `None`; until then the guest yields to the host's executor at every
/// [`TICK`] it spends computing.
///
/// The guest runs on the host's thread beside the tokio runtime that drives
/// its sockets, timers and background writes (see `Guest::run`). A guest
/// polls with a zero timeout when it has work ready, and wasmtime-wasi yields
/// to that runtime then; a guest computing without any host call would
/// otherwise hold it up (and, with it, the host's time-limit timer and the
/// output queued to sockets) until it made one.
pub(crate) fn arm<T: 'static>(store: &mut Store<T>, limit: Option<Duration>) {
    store.set_epoch_deadline(1);
    let deadline = limit.map(|limit| (Instant::now() + limit, limit));
    store.epoch_deadline_callback(move |_| match deadline {
        Some((deadline, limit)) if Instant::now() >= deadline => {
            Err(wasmtime::Error::new(TimeLimitExceeded { limit }))
        }
        _ => Ok(UpdateDeadline::Yield(1)),
    });
}
