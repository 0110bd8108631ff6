//! One turn of the loop (`run_once`) and the plumbing it drives: the I/O registry, the
//! inbox from other threads, task wake-ups.

use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{add_time, bump, LoopInner, CLOCK_RESOLUTION, MAX_POLL_TIMEOUT, SLOW_POLL};
use crate::error::{panic_message, Error, Result};
use crate::exception::ExceptionContext;
use crate::handle::HandleInner;
use crate::io_registry::IoHandler;
use crate::ready_queue::Ready;
use crate::remote::RemoteItem;
use crate::sys;
use crate::task::TaskCore;
use crate::EventLoop;

impl EventLoop {
    /// Runs `f` on the loop's read buffer (allocated on first use, `len` bytes): one
    /// buffer for every read of the loop, as asyncio reads into a fresh `bytes` and uvloop
    /// into one shared buffer. Should `f` reach this again (no caller does), the inner
    /// call gets a buffer of its own.
    #[inline]
    pub(crate) fn with_read_buffer<T>(&self, len: usize, f: impl FnOnce(&mut [u8]) -> T) -> T {
        let mut shared;
        let mut own;
        let buf: &mut [u8] = match self.inner.read_buffer.try_borrow_mut() {
            Ok(buf) => {
                shared = buf;
                if shared.len() != len {
                    *shared = zeroed(len);
                }
                &mut shared
            }
            Err(_) => {
                own = zeroed(len);
                &mut own
            }
        };
        f(buf)
    }

    /// A new token for an I/O source (see `Registration`).
    pub(crate) fn reserve_io(&self) -> usize {
        self.inner.io.borrow_mut().reserve()
    }

    pub(crate) fn set_io_handler(&self, token: usize, handler: Rc<dyn IoHandler>) {
        self.inner.io.borrow_mut().set_handler(token, handler);
    }

    /// Frees a token; reports still queued for it are dropped, also once the slot is reused.
    pub(crate) fn free_io(&self, token: usize) {
        let handler = self.inner.io.borrow_mut().remove(token);
        drop(handler);
    }

    /// Queues a readiness report of `token` for the next turn (through
    /// `Registration::report_next_turn`).
    pub(crate) fn requeue_io(&self, token: usize, interest: sys::Interest) {
        self.inner.ready.borrow_mut().push(Ready::Io(sys::Event {
            token,
            readable: interest.read,
            writable: interest.write,
            read_closed: false,
        }));
    }

    /// The backend's reactor, for sources to set their interest.
    pub(crate) fn reactor(&self) -> std::cell::Ref<'_, sys::Reactor> {
        self.inner.reactor.borrow()
    }

    /// Reports `token` ready from a helper thread (see `sys::Lookup`).
    pub(crate) fn io_notifier(&self, token: usize) -> Box<dyn FnOnce() + Send> {
        self.inner.shared.io_notifier(token)
    }

    /// Schedules one step of `task` unless one is already queued.
    pub(crate) fn schedule_task(&self, task: &Rc<TaskCore>) {
        self.inner.schedule_task(task);
    }

    /// How many turns the loop has begun.
    pub(crate) fn turn_number(&self) -> u64 {
        self.inner.turns.get()
    }

    /// One turn of the loop.
    pub(super) fn run_once(&self) -> Result<()> {
        let inner = &*self.inner;
        inner.turns.set(inner.turns.get() + 1);
        self.take_inbox();
        // Every iteration: drop cancelled timers at the head (and compact if most are).
        let next = if inner.timers.borrow().is_empty() {
            None
        } else {
            inner.timers.borrow_mut().next_deadline()
        };
        let timeout = if !inner.ready.borrow().is_empty() || inner.stopping.get() {
            Some(Duration::ZERO)
        } else {
            next.map(|when| seconds(when - self.time()).min(MAX_POLL_TIMEOUT))
        };

        // Nothing is watched and there is work to do now: no source could be reported, so
        // the look is skipped (libuv does the same). Work from other threads is still
        // taken below, from the inbox.
        let nothing_to_poll = timeout == Some(Duration::ZERO) && inner.io.borrow().is_empty();
        if !nothing_to_poll {
            self.poll_io(timeout)?;
        }
        self.take_inbox();

        // No timers, no clock read.
        if !inner.timers.borrow().is_empty() {
            let end = self.time() + CLOCK_RESOLUTION;
            inner
                .timers
                .borrow_mut()
                .pop_due(end, |h| inner.ready.borrow_mut().push(Ready::Callback(h)));
        }

        let ntodo = inner.ready.borrow().len();
        for _ in 0..ntodo {
            let Some(item) = inner.ready.borrow_mut().pop() else {
                break;
            };
            match item {
                Ready::Callback(handle) => self.run_callback(&handle),
                Ready::TaskStep(task) => {
                    bump(&inner.counters.task_steps, 1);
                    task.step(self)
                }
                Ready::Io(event) => self.dispatch_io(&event),
                Ready::IoBatch => {
                    // Taken out while the handlers run, so none can find it borrowed;
                    // the next poll clears it.
                    let events = std::mem::take(&mut *inner.events.borrow_mut());
                    for event in &events {
                        self.dispatch_io(event);
                    }
                    *inner.events.borrow_mut() = events;
                }
            }
        }
        Ok(())
    }

    /// Waits in the reactor (at most `timeout`); what it reports runs as one
    /// [`Ready::IoBatch`] in this turn, after the work queued before the poll.
    fn poll_io(&self, timeout: Option<Duration>) -> Result<()> {
        let inner = &*self.inner;
        let mut events = std::mem::take(&mut *inner.events.borrow_mut());
        events.clear();
        // With timing on, a poll that may wait is timed (the loop is idle then); one that
        // just looks is not.
        let timed = inner.counters.timing.get() && timeout != Some(Duration::ZERO);
        let started = (timed || inner.debug.get()).then(Instant::now);
        let polled = inner.reactor.borrow_mut().poll(timeout, &mut events);
        if let Some(started) = started {
            let took = started.elapsed();
            if timed {
                add_time(&inner.counters.poll_wait, took);
            }
            if inner.debug.get() && took >= SLOW_POLL {
                log::info!("poll took {:.3} seconds", took.as_secs_f64());
            }
        }
        if !events.is_empty() {
            inner.ready.borrow_mut().push(Ready::IoBatch);
        }
        *inner.events.borrow_mut() = events;
        polled.map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidInput && !sys::HAS_THREADS {
                Error::invalid_state(
                    "the loop would wait forever: nothing is scheduled and there is no I/O to \
                     wait for (call stop() or schedule work before run_forever)",
                )
            } else {
                Error::from(e)
            }
        })
    }

    /// Runs the handler of one readiness report, if its source is still registered.
    fn dispatch_io(&self, event: &sys::Event) {
        let handler = self.inner.io.borrow().get(event.token);
        if let Some(handler) = handler {
            bump(&self.inner.counters.io_events, 1);
            // A safety net: transports catch their protocols' panics themselves; anything
            // else user code does here (a server's protocol factory, say) is reported and
            // the loop goes on.
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| handler.io_event(self, event)));
            if let Err(payload) = outcome {
                let context = ExceptionContext::new("Exception in I/O callback")
                    .with_error(Error::Panic(panic_message(&*payload)));
                self.call_exception_handler(&context);
            }
        }
    }

    fn run_callback(&self, handle: &HandleInner) {
        if handle.is_cancelled() {
            return;
        }
        let started = self.inner.debug.get().then(Instant::now);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| handle.run(self)));
        if let Ok(false) = outcome {
            return; // already ran
        }
        bump(&self.inner.counters.callbacks, 1);
        if let Some(started) = started {
            self.log_if_slow(started, || handle.describe());
        }
        if let Err(payload) = outcome {
            let mut context =
                ExceptionContext::new(format!("Exception in callback {}", handle.describe()))
                    .with_error(Error::Panic(panic_message(&*payload)));
            context.handle = Some(handle.describe());
            if self.get_debug() {
                context.source_traceback = Some(handle.location.to_string());
            }
            self.call_exception_handler(&context);
        }
    }

    pub(crate) fn log_if_slow(&self, started: Instant, what: impl FnOnce() -> String) {
        let took = started.elapsed();
        if took >= self.inner.slow_callback_duration.get() {
            bump(&self.inner.counters.slow_callbacks, 1);
            log::warn!(
                "Executing {} took {:.3} seconds",
                what(),
                took.as_secs_f64()
            );
        }
    }

    /// Moves work sent from other threads into the ready queue, in order.
    #[inline]
    fn take_inbox(&self) {
        // The common case: one atomic load. Work sent meanwhile also wakes the poll.
        if self.inner.shared.has_pending() {
            self.drain_inbox();
        }
    }

    #[cold]
    fn drain_inbox(&self) {
        let inner = &*self.inner;
        let mut inbox = std::mem::take(&mut *inner.inbox.borrow_mut());
        inner.shared.drain_into(&mut inbox);
        for item in inbox.drain(..) {
            match item {
                RemoteItem::Callback {
                    callback,
                    state,
                    location,
                } => {
                    let run = move |ev: &EventLoop| state.run(|| callback(ev));
                    inner
                        .ready
                        .borrow_mut()
                        .push(Ready::Callback(HandleInner::new(run, location)));
                }
                RemoteItem::WakeTask { key, id } => inner.wake_task(key, id),
                RemoteItem::IoReady { token } => {
                    inner.ready.borrow_mut().push(Ready::Io(sys::Event {
                        token,
                        readable: true,
                        writable: false,
                        read_closed: false,
                    }))
                }
                RemoteItem::Stop => inner.stopping.set(true),
            }
        }
        *inner.inbox.borrow_mut() = inbox;
    }
}

impl LoopInner {
    /// Queues a callback handle (threadsafe calls made on the loop's own thread).
    pub(crate) fn push_callback(&self, handle: Rc<HandleInner>) -> Result<()> {
        if self.closed.get() {
            return Err(Error::LoopClosed);
        }
        self.ready.borrow_mut().push(Ready::Callback(handle));
        Ok(())
    }

    pub(crate) fn schedule_task(&self, task: &Rc<TaskCore>) {
        if !task.scheduled.replace(true) {
            self.ready.borrow_mut().push(Ready::TaskStep(task.clone()));
        }
    }

    /// A task's waker fired: schedule that task if it is still alive.
    pub(crate) fn wake_task(&self, key: usize, id: u64) {
        if let Some(task) = self.tasks.borrow().get(key).filter(|t| t.id == id) {
            self.schedule_task(task);
        }
    }
}

/// A fresh zero-filled buffer (off the hot path: the loop's read buffer is made once).
#[cold]
fn zeroed(len: usize) -> Box<[u8]> {
    vec![0; len].into_boxed_slice()
}

/// Non-negative seconds as a `Duration` (NaN and negatives become zero).
fn seconds(s: f64) -> Duration {
    if s > 0.0 {
        Duration::try_from_secs_f64(s).unwrap_or(MAX_POLL_TIMEOUT)
    } else {
        Duration::ZERO
    }
}
