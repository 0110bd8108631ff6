//! The loop's settings: task factory, exception handler, debug mode.

use std::time::Duration;

use crate::exception::{self, ExceptionContext, ExceptionHandler};
use crate::task::TaskFactory;
use crate::EventLoop;

impl EventLoop {
    /// asyncio's `loop.set_task_factory`: `factory(loop, future, name)` may wrap every
    /// task's future (to instrument it, say); the loop keeps the name it was given. `None`
    /// restores plain tasks. Example: [`TaskFactory`].
    pub fn set_task_factory(&self, factory: Option<TaskFactory>) {
        *self.inner.task_factory.borrow_mut() = factory;
    }

    /// asyncio's `loop.get_task_factory`: `None` by default.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use twinloop::{EventLoop, TaskFuture};
    /// let ev = EventLoop::new()?;
    /// assert!(ev.get_task_factory().is_none());
    /// ev.set_task_factory(Some(Rc::new(|_: &EventLoop, fut: TaskFuture, _: &str| fut)));
    /// assert!(ev.get_task_factory().is_some());
    /// # Ok::<(), twinloop::Error>(())
    /// ```
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
    /// Example: [`EventLoop::default_exception_handler`].
    pub fn get_exception_handler(&self) -> Option<ExceptionHandler> {
        self.inner.exception_handler.borrow().clone()
    }

    /// asyncio's `loop.default_exception_handler`: logs the context at ERROR level (through
    /// `log`). A custom handler can pass on what it does not handle itself:
    ///
    /// ```
    /// use std::{io::ErrorKind, rc::Rc};
    /// use twinloop::{EventLoop, ExceptionContext};
    /// let ev = EventLoop::new()?;
    /// assert!(ev.get_exception_handler().is_none()); // the default one is in use
    /// ev.set_exception_handler(Some(Rc::new(|ev: &EventLoop, ctx: &ExceptionContext| {
    ///     let kind = ctx.error.as_ref().and_then(|e| e.io_kind());
    ///     if kind != Some(ErrorKind::ConnectionReset) {
    ///         ev.default_exception_handler(ctx);
    ///     }
    /// })));
    /// assert!(ev.get_exception_handler().is_some());
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn default_exception_handler(&self, context: &ExceptionContext) {
        exception::default_handler(context);
    }

    /// asyncio's `loop.call_exception_handler`: hands `context` to the custom handler, or to
    /// the default one. A panicking handler is logged; the loop goes on. Example:
    /// [`EventLoop::set_exception_handler`].
    pub fn call_exception_handler(&self, context: &ExceptionContext) {
        let handler = self.inner.exception_handler.borrow().clone();
        exception::dispatch(self, handler, context);
    }

    /// asyncio's `loop.get_debug`: set from [`DEBUG_ENV_VAR`](crate::DEBUG_ENV_VAR) when
    /// the loop is made, or by [`EventLoop::set_debug`].
    pub fn get_debug(&self) -> bool {
        self.inner.debug.get()
    }

    /// asyncio's `loop.set_debug`: in debug mode callbacks and task steps slower than
    /// [`EventLoop::slow_callback_duration`] are logged (`log::warn!`) with where they were
    /// scheduled, failing callbacks' reports carry that place, and polls over 1 s are logged
    /// at INFO.
    ///
    /// ```
    /// use std::time::Duration;
    /// let ev = twinloop::EventLoop::new()?;
    /// ev.set_debug(true);
    /// ev.set_slow_callback_duration(Duration::from_millis(20));
    /// assert!(ev.get_debug());
    /// assert_eq!(ev.slow_callback_duration(), Duration::from_millis(20));
    /// ev.call_soon(|ev| {
    ///     std::thread::sleep(Duration::from_millis(30)); // logged: "Executing <Handle ...> took 0.030 seconds"
    ///     ev.stop();
    /// })?;
    /// ev.run_forever()?;
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn set_debug(&self, enabled: bool) {
        self.inner.debug.set(enabled);
    }

    /// asyncio's `loop.slow_callback_duration` attribute (default 100 ms). Example:
    /// [`EventLoop::set_debug`].
    pub fn slow_callback_duration(&self) -> Duration {
        self.inner.slow_callback_duration.get()
    }

    /// Sets [`EventLoop::slow_callback_duration`] (asyncio assigns the attribute).
    pub fn set_slow_callback_duration(&self, duration: Duration) {
        self.inner.slow_callback_duration.set(duration);
    }
}
