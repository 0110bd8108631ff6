//! The loop's settings: task factory, exception handler, debug mode.

use std::time::Duration;

use crate::exception::{self, ExceptionContext, ExceptionHandler};
use crate::task::TaskFactory;
use crate::EventLoop;

impl EventLoop {
    /// asyncio's `loop.set_task_factory`: `factory(loop, future, name)` may wrap every
    /// task's future (to instrument it, say); the loop keeps the name it was given. `None`
    /// restores plain tasks.
    pub fn set_task_factory(&self, factory: Option<TaskFactory>) {
        *self.inner.task_factory.borrow_mut() = factory;
    }

    /// asyncio's `loop.get_task_factory`: `None` by default.
    pub fn get_task_factory(&self) -> Option<TaskFactory> {
        self.inner.task_factory.borrow().clone()
    }

    /// asyncio's `loop.set_exception_handler`; `None` restores the default handler.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let ev = twinloop::EventLoop::new()?;
    /// let calls = Rc::new(Cell::new(0));
    /// let seen = calls.clone();
    /// ev.set_exception_handler(Some(Rc::new(move |_, _| seen.set(seen.get() + 1))));
    /// ev.call_exception_handler(&twinloop::ExceptionContext::new("oops"));
    /// assert_eq!(calls.get(), 1);
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn set_exception_handler(&self, handler: Option<ExceptionHandler>) {
        *self.inner.exception_handler.borrow_mut() = handler;
    }

    /// asyncio's `loop.get_exception_handler`: `None` when the default handler is in use.
    pub fn get_exception_handler(&self) -> Option<ExceptionHandler> {
        self.inner.exception_handler.borrow().clone()
    }

    /// asyncio's `loop.default_exception_handler`: logs the context at ERROR level.
    pub fn default_exception_handler(&self, context: &ExceptionContext) {
        exception::default_handler(context);
    }

    /// asyncio's `loop.call_exception_handler`: hands `context` to the custom handler, or to
    /// the default one. A panicking handler is logged; the loop goes on.
    pub fn call_exception_handler(&self, context: &ExceptionContext) {
        let handler = self.inner.exception_handler.borrow().clone();
        exception::dispatch(self, handler, context);
    }

    /// asyncio's `loop.get_debug`.
    pub fn get_debug(&self) -> bool {
        self.inner.debug.get()
    }

    /// asyncio's `loop.set_debug`: in debug mode callbacks and task steps slower than
    /// [`EventLoop::slow_callback_duration`] are logged (`log::warn!`) with where they were
    /// scheduled, failing callbacks' reports carry that place, and polls over 1 s are logged
    /// at INFO.
    pub fn set_debug(&self, enabled: bool) {
        self.inner.debug.set(enabled);
    }

    /// asyncio's `loop.slow_callback_duration` (default 100 ms).
    pub fn slow_callback_duration(&self) -> Duration {
        self.inner.slow_callback_duration.get()
    }

    /// Sets [`EventLoop::slow_callback_duration`].
    pub fn set_slow_callback_duration(&self, duration: Duration) {
        self.inner.slow_callback_duration.set(duration);
    }
}
