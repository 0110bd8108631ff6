//! Loop metrics: what a loop has done, counted with plain integer increments on the loop's
//! own thread (no atomics, no locks, no clock read per callback outside debug mode), and
//! read as a snapshot with [`EventLoop::metrics`].

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use crate::EventLoop;

/// What a loop has done since it was made: [`EventLoop::metrics`]. tokio has the like
/// behind an unstable flag; asyncio and uvloop have none.
///
/// ```
/// # use std::time::Duration;
/// let ev = twinloop::EventLoop::new()?;
/// ev.call_soon(|ev| { ev.call_soon(|ev| ev.stop()).unwrap(); })?;
/// ev.run_forever()?;
/// let m = ev.metrics();
/// assert_eq!(m.callbacks, 2);
/// assert!(m.turns >= 2);
/// assert_eq!(m.task_steps, 0);
/// println!("{:.1} I/O events per turn, {:?} waiting in poll", m.io_events_per_turn(), m.poll_wait);
/// # Ok::<(), twinloop::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoopMetrics {
    /// Turns of the loop (one poll each).
    pub turns: u64,
    /// Callbacks run: `call_soon`, due timers, done callbacks, threadsafe calls.
    pub callbacks: u64,
    /// Steps of tasks (polls of their futures).
    pub task_steps: u64,
    /// Readiness reports handed to transports, servers and other I/O sources.
    pub io_events: u64,
    /// Time spent in polls that could wait (nothing was ready to run): the loop's idle
    /// time, plus the system call itself. Timed only while
    /// [`EventLoop::set_metrics_timing`] is on (two clock reads per such poll); zero
    /// otherwise.
    pub poll_wait: Duration,
    /// Time spent running (in `run_forever` / `run_until_complete`) outside `poll_wait`:
    /// callbacks, task steps, I/O dispatch, the loop's own bookkeeping. Only meaningful
    /// with `poll_wait`, so timed only while [`EventLoop::set_metrics_timing`] is on.
    pub busy: Duration,
    /// Callbacks and task steps that took longer than
    /// [`EventLoop::slow_callback_duration`]; counted in debug mode only (outside it,
    /// nothing is timed).
    pub slow_callbacks: u64,
    /// Bytes stream transports read from their sources (TCP, Unix sockets, pipes; TLS:
    /// plaintext).
    pub bytes_read: u64,
    /// Bytes stream transports handed to their sources.
    pub bytes_written: u64,
}

impl LoopMetrics {
    /// Readiness reports per turn: how much each poll brought (0 when no turn ran).
    pub fn io_events_per_turn(&self) -> f64 {
        if self.turns == 0 {
            0.0
        } else {
            self.io_events as f64 / self.turns as f64
        }
    }
}

/// The running counts, in the loop (`LoopInner`).
#[derive(Default)]
pub(crate) struct LoopCounters {
    pub(crate) callbacks: Cell<u64>,
    pub(crate) task_steps: Cell<u64>,
    pub(crate) io_events: Cell<u64>,
    pub(crate) poll_wait: Cell<Duration>,
    pub(crate) running: Cell<Duration>,
    pub(crate) slow_callbacks: Cell<u64>,
    /// `set_metrics_timing`.
    pub(crate) timing: Cell<bool>,
    /// Shared with every stream transport of the loop (one clone per transport).
    pub(crate) bytes: Rc<ByteCounters>,
}

/// Bytes through stream transports: one per transport, one per loop.
#[derive(Default)]
pub(crate) struct ByteCounters {
    pub(crate) read: Cell<u64>,
    pub(crate) written: Cell<u64>,
}

/// What a stream transport has moved: [`Transport::metrics`](crate::Transport::metrics).
///
/// ```
/// # use twinloop::{BaseProtocol, ConnectOptions, Protocol, ServerOptions}; struct Quiet; impl BaseProtocol for Quiet {} impl Protocol for Quiet {}
/// # twinloop::EventLoop::new()?.run_until_complete(async { let ev = twinloop::get_running_loop()?;
/// # let server = ev.create_server(|| Quiet, "127.0.0.1", 0, ServerOptions::default()).await?;
/// # let port = server.sockets()[0].local_addr().unwrap().port();
/// let (t, _) = ev.create_connection(|| Quiet, "127.0.0.1", port, ConnectOptions::default()).await?;
/// t.write(b"hello")?; // five bytes into an empty socket buffer: sent at once
/// assert_eq!(t.metrics().bytes_written, 5);
/// assert_eq!(t.metrics().bytes_read, 0);
/// assert!(ev.metrics().bytes_written >= 5);
/// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportMetrics {
    /// Bytes read from the source (plaintext, for TLS).
    pub bytes_read: u64,
    /// Bytes handed to the source (plaintext, for TLS).
    pub bytes_written: u64,
}

impl ByteCounters {
    pub(crate) fn snapshot(&self) -> TransportMetrics {
        TransportMetrics {
            bytes_read: self.read.get(),
            bytes_written: self.written.get(),
        }
    }
}

/// Adds `n` to a counter.
pub(crate) fn bump(counter: &Cell<u64>, n: u64) {
    counter.set(counter.get().wrapping_add(n));
}

/// Adds `d` to a time counter.
pub(crate) fn add_time(counter: &Cell<Duration>, d: Duration) {
    counter.set(counter.get().saturating_add(d));
}

impl EventLoop {
    /// A snapshot of the loop's metrics (see [`LoopMetrics`]). Example there.
    pub fn metrics(&self) -> LoopMetrics {
        let c = &self.inner.counters;
        LoopMetrics {
            turns: self.inner.turns.get(),
            callbacks: c.callbacks.get(),
            task_steps: c.task_steps.get(),
            io_events: c.io_events.get(),
            poll_wait: c.poll_wait.get(),
            busy: c.running.get().saturating_sub(c.poll_wait.get()),
            slow_callbacks: c.slow_callbacks.get(),
            bytes_read: c.bytes.read.get(),
            bytes_written: c.bytes.written.get(),
        }
    }

    /// Times the loop's polls and runs for [`LoopMetrics::poll_wait`] and
    /// [`LoopMetrics::busy`] (off by default: it costs two clock reads per poll that may
    /// wait, about 150 instructions per message of a one-connection echo server).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let ev = twinloop::EventLoop::new()?;
    /// ev.set_metrics_timing(true);
    /// ev.call_later(Duration::from_millis(20), |ev| ev.stop())?;
    /// ev.run_forever()?;
    /// assert!(ev.metrics().poll_wait >= Duration::from_millis(10));
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn set_metrics_timing(&self, on: bool) {
        self.inner.counters.timing.set(on);
    }

    /// The loop's byte counters, for a new stream transport to share.
    pub(crate) fn byte_counters(&self) -> Rc<ByteCounters> {
        self.inner.counters.bytes.clone()
    }
}
