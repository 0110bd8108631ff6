//! `RemoteHandle`: the one part of a loop that other threads may touch.

use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, ThreadId};

use crate::current;
use crate::error::{Error, Result};
use crate::handle::HandleInner;
use crate::sys;
use crate::EventLoop;

/// A callback sent from another thread.
pub(crate) type RemoteCallback = Box<dyn FnOnce(&EventLoop) + Send>;

/// Work handed to the loop from outside its thread.
pub(crate) enum RemoteItem {
    Callback {
        callback: RemoteCallback,
        state: Arc<ThreadsafeState>,
        location: &'static Location<'static>,
    },
    /// A task's `Waker` was woken on another thread.
    WakeTask {
        key: usize,
        id: u64,
    },
    /// A helper thread finished work for the I/O source `token` (a name lookup).
    IoReady {
        token: usize,
    },
    Stop,
}

/// The `Send + Sync` part of a loop: a locked inbox, a flag that spares the loop's thread
/// the lock when the inbox is empty, and the backend's waker.
pub(crate) struct LoopShared {
    pub(crate) id: u64,
    inbox: Mutex<Vec<RemoteItem>>,
    pending: AtomicBool,
    closed: AtomicBool,
    waker: sys::Waker,
}

impl LoopShared {
    pub(crate) fn new(id: u64, waker: sys::Waker) -> Self {
        LoopShared {
            id,
            inbox: Mutex::new(Vec::new()),
            pending: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            waker,
        }
    }

    pub(crate) fn push(&self, item: RemoteItem) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::LoopClosed);
        }
        self.inbox
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(item);
        // Only the push that makes the inbox pending needs to wake the poller: until the
        // loop drains (`pending` back to false), a wake-up is already on its way. The item
        // is in before the flag is read, so a drain that follows sees it.
        if !self.pending.swap(true, Ordering::AcqRel) {
            self.waker.wake();
        }
        Ok(())
    }

    /// Whether anything was pushed since the last `drain_into` (a hint: it may turn true
    /// right after).
    #[inline]
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Relaxed)
    }

    /// Moves everything in the inbox into `into` (keeping order). Takes the lock only when
    /// something was sent.
    pub(crate) fn drain_into(&self, into: &mut Vec<RemoteItem>) {
        if !self.pending.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::swap(&mut *inbox, into);
    }

    /// A callable for helper threads that reports `token` ready on this loop.
    pub(crate) fn io_notifier(self: &Arc<Self>, token: usize) -> Box<dyn FnOnce() + Send> {
        let shared = self.clone();
        Box::new(move || {
            let _ = shared.push(RemoteItem::IoReady { token });
        })
    }

    pub(crate) fn mark_closed(&self) {
        self.closed.store(true, Ordering::Release);
        let leftover = std::mem::take(&mut *self.inbox.lock().unwrap_or_else(|p| p.into_inner()));
        drop(leftover);
    }
}

/// A `Send + Sync + Clone` handle to a loop for other threads: its only powers are
/// [`RemoteHandle::call_soon_threadsafe`] and [`RemoteHandle::stop`]. Get one with
/// [`EventLoop::remote`].
///
/// On native targets a call wakes the loop if it is blocked waiting for I/O or a timer. On
/// `wasm32-wasip1` the guest has no threads, so a `RemoteHandle` can only be used from the
/// loop's own thread, where it behaves like `call_soon`.
///
/// ```
/// use twinloop::EventLoop;
/// let ev = EventLoop::new()?;
/// let remote = ev.remote();
/// # if twinloop::HAS_THREADS {
/// std::thread::spawn(move || {
///     remote.call_soon_threadsafe(|ev| ev.stop()).unwrap();
/// });
/// ev.run_forever()?; // returns once the other thread's callback ran
/// # }
/// # Ok::<(), twinloop::Error>(())
/// ```
#[derive(Clone)]
pub struct RemoteHandle {
    pub(crate) shared: Arc<LoopShared>,
}

/// A callback scheduled with [`RemoteHandle::call_soon_threadsafe`] (asyncio's `Handle`
/// returned by `call_soon_threadsafe`); it may be cancelled from any thread.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// let ev = twinloop::EventLoop::new()?;
/// let ran = Arc::new(AtomicBool::new(false));
/// let r = ran.clone();
/// let handle = ev.remote().call_soon_threadsafe(move |_| r.store(true, Ordering::SeqCst))?;
/// handle.cancel(); // `handle` is Send: any thread may do this
/// assert!(handle.cancelled());
/// ev.call_soon(|ev| ev.stop())?;
/// ev.run_forever()?;
/// assert!(!ran.load(Ordering::SeqCst));
/// # Ok::<(), twinloop::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ThreadsafeHandle {
    state: Arc<ThreadsafeState>,
}

impl ThreadsafeHandle {
    /// asyncio's `Handle.cancel()`: prevents the callback from running if it has not
    /// started yet. Called from another thread while the callback runs, it waits until the
    /// callback has finished (asyncio 3.13); called by the callback itself, it returns at
    /// once and the callback goes on to its end.
    ///
    /// ```
    /// use std::sync::{Arc, OnceLock};
    /// let ev = twinloop::EventLoop::new()?;
    /// let own: Arc<OnceLock<twinloop::ThreadsafeHandle>> = Arc::default();
    /// let slot = own.clone();
    /// let handle = ev.remote().call_soon_threadsafe(move |ev| {
    ///     let me = slot.get().unwrap();
    ///     me.cancel(); // its own handle: no waiting for itself
    ///     assert!(me.cancelled());
    ///     ev.stop();
    /// })?;
    /// own.set(handle.clone()).unwrap();
    /// ev.run_forever()?;
    /// assert!(handle.cancelled());
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn cancel(&self) {
        self.state.wait_idle().cancelled = true;
    }

    /// asyncio's `Handle.cancelled()`: true once `cancel` was called. Like
    /// [`ThreadsafeHandle::cancel`], from another thread it waits while the callback runs.
    pub fn cancelled(&self) -> bool {
        self.state.wait_idle().cancelled
    }
}

/// What a [`ThreadsafeHandle`] shares with its callback: asyncio 3.13's
/// `_ThreadSafeHandle` lock, held by the callback while it runs.
#[derive(Debug, Default)]
pub(crate) struct ThreadsafeState {
    run: Mutex<RunState>,
    finished: Condvar,
}

#[derive(Debug, Default)]
struct RunState {
    cancelled: bool,
    /// The thread running the callback, while it runs.
    running_on: Option<ThreadId>,
    /// Threads waiting in `wait_idle`: the end of a run wakes them only if there are any
    /// (a wake-up is a system call, and the loop runs these callbacks on its own thread).
    waiting: usize,
}

impl ThreadsafeState {
    fn lock(&self) -> MutexGuard<'_, RunState> {
        self.run.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state once no other thread is running the callback. The thread running it gets
    /// it at once, so that a callback can cancel its own handle.
    fn wait_idle(&self) -> MutexGuard<'_, RunState> {
        let me = thread::current().id();
        let mut run = self.lock();
        while run.running_on.is_some_and(|t| t != me) {
            run.waiting += 1;
            run = self.finished.wait(run).unwrap_or_else(|p| p.into_inner());
            run.waiting -= 1;
        }
        run
    }

    /// Runs `f` unless the handle was cancelled; `cancel()`/`cancelled()` from other
    /// threads wait meanwhile (also if `f` panics: the guard ends the run).
    pub(crate) fn run(&self, f: impl FnOnce()) {
        {
            let mut run = self.lock();
            if run.cancelled {
                return;
            }
            run.running_on = Some(thread::current().id());
        }
        struct Finished<'a>(&'a ThreadsafeState);
        impl Drop for Finished<'_> {
            fn drop(&mut self) {
                let mut run = self.0.lock();
                run.running_on = None;
                if run.waiting > 0 {
                    self.0.finished.notify_all();
                }
            }
        }
        let _finished = Finished(self);
        f();
    }
}

impl RemoteHandle {
    /// asyncio's `loop.call_soon_threadsafe`: queue `f` to run on the loop's thread, in the
    /// order the calls were made, and wake the loop. Fails with [`Error::LoopClosed`] once the
    /// loop is closed.
    ///
    /// ```
    /// let ev = twinloop::EventLoop::new()?;
    /// let remote = ev.remote();
    /// # if twinloop::HAS_THREADS {
    /// let worker = std::thread::spawn(move || {
    ///     let answer = 6 * 7; // work done off the loop's thread
    ///     remote.call_soon_threadsafe(move |ev| {
    ///         println!("the answer is {answer}");
    ///         ev.stop();
    ///     })
    /// });
    /// ev.run_forever()?; // woken by the worker's call
    /// worker.join().unwrap()?;
    /// # }
    /// ev.close()?;
    /// assert!(ev.remote().call_soon_threadsafe(|_| {}).is_err());
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    #[track_caller]
    pub fn call_soon_threadsafe(
        &self,
        f: impl FnOnce(&EventLoop) + Send + 'static,
    ) -> Result<ThreadsafeHandle> {
        let state = Arc::new(ThreadsafeState::default());
        let location = Location::caller();
        if let Some(inner) = current::local_loop(self.shared.id) {
            // On the loop's own thread: straight into the ready queue, FIFO with call_soon.
            let shared = state.clone();
            let run = move |ev: &EventLoop| shared.run(|| f(ev));
            inner.push_callback(HandleInner::new(run, location))?;
        } else {
            self.shared.push(RemoteItem::Callback {
                callback: Box::new(f),
                state: state.clone(),
                location,
            })?;
        }
        Ok(ThreadsafeHandle { state })
    }

    /// asyncio's `loop.call_soon_threadsafe(loop.stop)`: stops the loop, as
    /// [`EventLoop::stop`] would from its own thread, and wakes it. Fails with
    /// [`Error::LoopClosed`] once the loop is closed.
    ///
    /// ```
    /// let ev = twinloop::EventLoop::new()?;
    /// let remote = ev.remote();
    /// # if twinloop::HAS_THREADS {
    /// let stopper = std::thread::spawn(move || remote.stop());
    /// ev.run_forever()?; // returns once the stop arrives
    /// stopper.join().unwrap()?;
    /// # }
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn stop(&self) -> Result<()> {
        self.shared.push(RemoteItem::Stop)
    }
}
