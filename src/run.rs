//! `run`: asyncio's `asyncio.run`, the entry point of a program.

use std::future::Future;
use std::time::Duration;

use crate::current;
use crate::error::{Error, Result};
use crate::EventLoop;

/// How long `run` waits for the default executor's threads on the way out (asyncio's
/// `THREAD_JOIN_TIMEOUT`).
const EXECUTOR_JOIN_TIMEOUT: Duration = Duration::from_secs(300);

/// asyncio's `asyncio.run(main())`: runs `main` on a new loop and returns its output.
///
/// `main` receives the new loop, so a program needs no `get_running_loop()`; the future it
/// returns runs as the loop's first task, and its `Result` is `run`'s. Then, as asyncio
/// does, `run` cancels every task still pending and lets them finish their cancellation
/// (their futures are dropped while the loop still runs, so their destructors may use it),
/// shuts the default executor down (waiting up to 300 s for its threads), and closes the
/// loop. While `main` runs, the loop is also the thread's current loop
/// ([`get_event_loop`](crate::get_event_loop)); the previous one is restored afterwards
/// (asyncio leaves none).
///
/// Errors: [`Error::AnotherLoopRunning`] when called while a loop runs on this thread
/// (asyncio's "cannot be called from a running event loop"); `main`'s error;
/// [`Error::LoopStopped`] if `main` stopped the loop before finishing; [`Error::Panic`]
/// natively if `main` panicked.
///
/// ```
/// use std::time::Duration;
/// fn main() -> twinloop::Result<()> {
///     let answer = twinloop::run(|ev| async move {
///         ev.sleep(Duration::from_millis(1)).await?;
///         Ok(6 * 7)
///     })?;
///     assert_eq!(answer, 42);
///     Ok(())
/// }
/// # main().unwrap();
/// ```
pub fn run<F, Fut, T>(main: F) -> Result<T>
where
    F: FnOnce(EventLoop) -> Fut,
    Fut: Future<Output = Result<T>> + 'static,
    T: 'static,
{
    if current::get_running_loop().is_ok() {
        return Err(Error::AnotherLoopRunning);
    }
    let ev = EventLoop::new()?;
    let previous = current::get_event_loop().ok();
    current::set_event_loop(Some(&ev));
    let outcome = ev.run_until_complete(main(ev.clone()));
    let shutdown = shut_down(&ev);
    current::set_event_loop(previous.as_ref());
    let value = outcome??;
    shutdown?;
    Ok(value)
}

impl EventLoop {
    /// asyncio's `loop.shutdown_asyncgens()`, which finalizes the async generators still
    /// suspended. Rust has no async generators for a loop to track: an async block or
    /// `Stream` runs its destructors as soon as it is dropped, so there is nothing to
    /// finalize and this returns `Ok(())` at once, on every target. It is provided so
    /// asyncio code ports line for line; [`run`] needs no such step.
    ///
    /// ```
    /// let ev = twinloop::EventLoop::new()?;
    /// ev.run_until_complete(ev.shutdown_asyncgens())??;
    /// ev.close()?;
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn shutdown_asyncgens(&self) -> impl Future<Output = Result<()>> + 'static {
        std::future::ready(Ok(()))
    }
}

/// The end of `run`: cancel what is left, stop the executor, close.
fn shut_down(ev: &EventLoop) -> Result<()> {
    let cancelled = cancel_all_tasks(ev);
    let joined = ev.run_until_complete(ev.shutdown_default_executor(Some(EXECUTOR_JOIN_TIMEOUT)));
    ev.close()?;
    cancelled?;
    joined?
}

/// asyncio's `_cancel_all_tasks`: cancel every pending task, then run the loop until each
/// has finished its cancellation. A cancelled task ends at its next step (its future is
/// dropped), so one turn finishes every task cancelled before it; the rounds repeat for
/// tasks that the dropped futures' destructors created.
fn cancel_all_tasks(ev: &EventLoop) -> Result<()> {
    loop {
        let pending: Vec<_> = ev
            .inner
            .tasks
            .borrow()
            .iter()
            .map(|(_, task)| task.clone())
            .collect();
        let mut any = false;
        for task in pending {
            any |= task.cancel(None);
        }
        if !any {
            return Ok(());
        }
        ev.stop();
        ev.run_forever()?;
    }
}
