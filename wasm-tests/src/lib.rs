//! Shared helpers for the twinloop loop test suite.
//!
//! The tests in `tests/*.rs` are compiled twice: natively and for `wasm32-wasip1`, where
//! `twinloop-host test` runs each one in a fresh guest instance. Everything here works on
//! both targets.
//!
//! Two rules the helpers enforce:
//!
//! - **No hangs.** [`run_forever`] and [`run_until_complete`] put a guard timer on the
//!   loop ([`DEADLINE`] by default) that stops it; if the guard fired, the helper panics
//!   with a clear message instead of letting the test hang.
//! - **No silently swallowed assertions.** Natively, the loop catches a panic in a
//!   callback or task and hands it to the exception handler, so an `assert!` inside a
//!   callback would not fail the test. [`new_loop`] installs a handler that records every
//!   report, and the run helpers fail the test if anything was reported. (In the guest a
//!   panic aborts the instance, which fails the test anyway.) Tests prefer recording
//!   values in callbacks and asserting after the run.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

pub use twinloop;
use twinloop::{EventLoop, ExceptionContext, Result};

/// How long a run helper lets the loop run before declaring it hung.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A shared, append-only log of values, for recording what callbacks saw.
///
/// Clones share the same log.
pub struct Recorder<T>(Rc<RefCell<Vec<T>>>);

impl<T> Clone for Recorder<T> {
    fn clone(&self) -> Self {
        Recorder(self.0.clone())
    }
}

impl<T> Default for Recorder<T> {
    fn default() -> Self {
        Recorder(Rc::new(RefCell::new(Vec::new())))
    }
}

impl<T> Recorder<T> {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `value`.
    pub fn push(&self, value: T) {
        self.0.borrow_mut().push(value);
    }

    /// How many values were recorded.
    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }

    /// True if nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }

    /// Moves everything recorded so far out of the log.
    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.0.borrow_mut())
    }

    /// Runs `f` on the recorded values.
    pub fn with<R>(&self, f: impl FnOnce(&[T]) -> R) -> R {
        f(&self.0.borrow())
    }
}

impl<T: Clone> Recorder<T> {
    /// A copy of everything recorded so far.
    pub fn get(&self) -> Vec<T> {
        self.0.borrow().clone()
    }
}

impl<T: 'static> Recorder<T> {
    /// A loop callback that records `value` when it runs.
    pub fn pusher(&self, value: T) -> impl FnOnce(&EventLoop) + 'static {
        let rec = self.clone();
        move |_| rec.push(value)
    }
}

/// Counts how many [`DropToken`]s made from it were dropped: put a token in a closure to
/// observe when the closure itself is dropped.
#[derive(Clone, Default)]
pub struct DropCounter(Rc<Cell<usize>>);

impl DropCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// A token that bumps this counter when dropped.
    pub fn token(&self) -> DropToken {
        DropToken(self.0.clone())
    }

    /// How many tokens were dropped so far.
    pub fn dropped(&self) -> usize {
        self.0.get()
    }
}

/// See [`DropCounter`].
pub struct DropToken(Rc<Cell<usize>>);

impl DropToken {
    /// Does nothing; call it in a closure so that the closure captures the token by move.
    pub fn touch(&self) {}
}

impl Drop for DropToken {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

thread_local! {
    static UNHANDLED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// A new loop whose exception handler records every report, so that the run helpers can
/// fail the test when a callback or task panicked (natively the loop catches panics).
pub fn new_loop() -> EventLoop {
    let ev = EventLoop::new().expect("EventLoop::new");
    ev.set_exception_handler(Some(Rc::new(|_: &EventLoop, ctx: &ExceptionContext| {
        UNHANDLED.with(|u| u.borrow_mut().push(ctx.to_string()));
    })));
    ev
}

/// An exception handler that records every context it is given, and the record. For tests
/// of what reaches the handler (as opposed to [`new_loop`], whose handler fails the test).
pub fn recording_handler() -> (
    twinloop::ExceptionHandler,
    Rc<RefCell<Vec<ExceptionContext>>>,
) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let handler: twinloop::ExceptionHandler =
        Rc::new(move |_ev: &EventLoop, ctx: &ExceptionContext| {
            s.borrow_mut().push(ctx.clone());
        });
    (handler, seen)
}

/// Fails the test if a loop made by [`new_loop`] reported anything to its exception
/// handler (typically an assertion that failed inside a callback).
pub fn assert_no_unhandled() {
    let reports = UNHANDLED.with(|u| std::mem::take(&mut *u.borrow_mut()));
    assert!(
        reports.is_empty(),
        "the loop reported errors to its exception handler:\n{}",
        reports.join("\n---\n")
    );
}

/// Schedules the hang guard: a timer that records that it fired and stops the loop.
fn guard(ev: &EventLoop, limit: Duration) -> Result<(twinloop::TimerHandle, Rc<Cell<bool>>)> {
    let fired = Rc::new(Cell::new(false));
    let flag = fired.clone();
    let timer = ev.call_later(limit, move |ev| {
        flag.set(true);
        ev.stop();
    })?;
    Ok((timer, fired))
}

/// `ev.run_forever()` that fails the test instead of hanging (after `limit`), and fails it
/// if anything reached a [`new_loop`] exception handler.
pub fn run_forever_within(ev: &EventLoop, limit: Duration) -> Result<()> {
    let (timer, fired) = guard(ev, limit)?;
    let outcome = ev.run_forever();
    timer.cancel();
    assert!(
        !fired.get(),
        "run_forever did not return within {limit:?}: the loop hung"
    );
    assert_no_unhandled();
    outcome
}

/// [`run_forever_within`] with the default [`DEADLINE`].
pub fn run_forever(ev: &EventLoop) -> Result<()> {
    run_forever_within(ev, DEADLINE)
}

/// `ev.run_until_complete(fut)` that fails the test instead of hanging (after `limit`), and
/// fails it if anything reached a [`new_loop`] exception handler.
pub fn run_until_complete_within<F>(ev: &EventLoop, limit: Duration, fut: F) -> Result<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let (timer, fired) = guard(ev, limit)?;
    let outcome = ev.run_until_complete(fut);
    timer.cancel();
    assert!(
        !fired.get(),
        "run_until_complete did not return within {limit:?}: the loop hung"
    );
    assert_no_unhandled();
    outcome
}

/// [`run_until_complete_within`] with the default [`DEADLINE`].
pub fn run_until_complete<F>(ev: &EventLoop, fut: F) -> Result<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    run_until_complete_within(ev, DEADLINE, fut)
}

/// Runs exactly one batch: `stop()` then `run_forever()` (asyncio's `_run_once` from the
/// outside). Guarded like [`run_forever`].
pub fn run_once(ev: &EventLoop) -> Result<()> {
    ev.stop();
    run_forever(ev)
}

/// A deterministic pseudo-random sequence (Knuth's MMIX LCG), so that "random" tests are
/// the same on every run and on both targets.
pub struct Lcg(u64);

impl Lcg {
    /// A sequence starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Lcg(seed)
    }

    /// The next 32 pseudo-random bits.
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 32) as u32
    }

    /// A value in `0..bound` (`bound > 0`).
    pub fn below(&mut self, bound: u32) -> u32 {
        self.next_u32() % bound
    }
}

/// Polls `fut` once outside any loop, with a no-op waker.
pub fn poll_once<F: Future>(fut: F) -> std::task::Poll<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    fut.as_mut().poll(&mut cx)
}

/// A future that returns `Pending` once, waking its task at once: the task gives the loop
/// a turn and is stepped again on the next iteration.
pub fn yield_now() -> YieldNow {
    YieldNow(false)
}

/// See [`yield_now`].
pub struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

/// Where the guest's scratch directory appears to it: the test runner grants one
/// (`twinloop-host test --dir-rw HOST::/tmp`, a fresh directory per run: see
/// `xtask/src/test.rs`).
pub const GUEST_SCRATCH_DIR: &str = "/tmp";

/// A directory tests may create files in: natively the system's temporary directory, in
/// the guest [`GUEST_SCRATCH_DIR`] (wasm32's `std::env::temp_dir` panics).
pub fn scratch_dir() -> std::path::PathBuf {
    if cfg!(target_os = "wasi") {
        #[cfg(target_os = "wasi")]
        find_preopens();
        GUEST_SCRATCH_DIR.into()
    } else {
        std::env::temp_dir()
    }
}

/// Makes wasi-libc learn the guest's directories if it has not. It learns them in a C
/// constructor, and guests built with Debian's tool chain never run constructors: its
/// wasi-libc's `_start` (2022) leaves that to the linker, which with today's rustc (which
/// exports `__main_void`) wraps only the export, not the call from `_start`. Every path
/// then fails with ENOTCAPABLE (76) although the host granted the directory. Running the
/// constructors once, only when that is what happened, does what `_start` should have.
#[cfg(target_os = "wasi")]
fn find_preopens() {
    use std::sync::Once;
    extern "C" {
        /// The constructors, as the linker gathers them.
        fn __wasm_call_ctors();
    }
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        const ENOTCAPABLE: i32 = 76;
        let probe = std::fs::metadata(GUEST_SCRATCH_DIR);
        if probe.is_err_and(|e| e.raw_os_error() == Some(ENOTCAPABLE)) {
            // SAFETY: the constructors have not run (the lookup above would have found
            // the directory); they only set up wasi-libc's state, once.
            unsafe { __wasm_call_ctors() };
        }
    });
}

/// `scratch_dir()/twinloop-NAME-ID`: a file name no other test process uses at the same
/// time (ID is the process id natively; in the guest, where there is none, `guest`: the
/// runner's directory is fresh for each run, so NAME alone must differ between tests).
pub fn scratch_path(name: &str) -> std::path::PathBuf {
    let id = if cfg!(target_os = "wasi") {
        "guest".to_string()
    } else {
        std::process::id().to_string()
    };
    scratch_dir().join(format!("twinloop-{name}-{id}"))
}

/// A thread started by [`spawn`].
pub struct Thread {
    #[cfg(not(target_os = "wasi"))]
    handle: std::thread::JoinHandle<()>,
}

/// `std::thread::spawn` for tests that are ignored in the guest. The guest has no threads
/// (and Debian's wasi-libc lacks the pthread symbols `std::thread::spawn` links against),
/// so there this fails the test instead of being compiled in.
pub fn spawn(f: impl FnOnce() + Send + 'static) -> Thread {
    #[cfg(not(target_os = "wasi"))]
    {
        Thread {
            handle: std::thread::spawn(f),
        }
    }
    #[cfg(target_os = "wasi")]
    {
        drop(f);
        panic!("this test needs threads; the wasm32-wasip1 guest has none");
    }
}

impl Thread {
    /// Waits for the thread; fails the test if it panicked.
    pub fn join(self) {
        #[cfg(not(target_os = "wasi"))]
        self.handle.join().expect("the spawned thread panicked");
    }
}

pub mod log_capture;
pub mod os_support;
pub mod reader_model;
pub mod tcp_support;
pub mod tls_support;
