//! `add_signal_handler` and `remove_signal_handler`: Unix signals as loop callbacks.
//!
//! The process's signal handler only writes the signal's number to the loop's signal
//! pipe (see `sys`); the loop reads it like any other I/O and schedules the callback, so
//! callbacks run on the loop, between other callbacks, with the whole API available, and
//! a signal wakes a loop blocked in its poll.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::io_registry::IoHandler;
use crate::registration::Registration;
use crate::sys::{self, Interest};
use crate::EventLoop;

/// Signal numbers for [`EventLoop::add_signal_handler`], as the platform numbers them
/// (asyncio's `signal.SIGINT` and so on). On targets without signals (the guest,
/// Windows) the numbers are Linux's, and every handler is refused as unsupported.
///
/// ```
/// use twinloop::signal;
/// assert_eq!(signal::SIGINT, 2);
/// assert_ne!(signal::SIGUSR1, signal::SIGUSR2);
/// ```
pub mod signal {
    use crate::sys::signum;
    /// Hangup.
    pub const SIGHUP: i32 = signum::SIGHUP;
    /// Interrupt (Ctrl+C).
    pub const SIGINT: i32 = signum::SIGINT;
    /// Quit (Ctrl+\\).
    pub const SIGQUIT: i32 = signum::SIGQUIT;
    /// Kill: cannot be caught.
    pub const SIGKILL: i32 = signum::SIGKILL;
    /// User-defined signal 1.
    pub const SIGUSR1: i32 = signum::SIGUSR1;
    /// User-defined signal 2.
    pub const SIGUSR2: i32 = signum::SIGUSR2;
    /// Write to a pipe with no reader (ignored by Rust programs unless handled).
    pub const SIGPIPE: i32 = signum::SIGPIPE;
    /// Alarm clock.
    pub const SIGALRM: i32 = signum::SIGALRM;
    /// Termination request.
    pub const SIGTERM: i32 = signum::SIGTERM;
    /// A child stopped or exited.
    pub const SIGCHLD: i32 = signum::SIGCHLD;
    /// The terminal's window size changed.
    pub const SIGWINCH: i32 = signum::SIGWINCH;
}

type SignalCallback = Rc<RefCell<dyn FnMut(&EventLoop)>>;

/// A loop's signal handlers and the pipe their signals arrive on.
pub(crate) struct SignalHandlers {
    pipe: RefCell<Registration<sys::SignalPipe>>,
    handlers: RefCell<HashMap<i32, SignalCallback>>,
}

impl IoHandler for SignalHandlers {
    fn io_ready(self: Rc<Self>, ev: &EventLoop, _readable: bool, _writable: bool) {
        let mut delivered = Vec::new();
        self.pipe.borrow_mut().source_mut().take(&mut delivered);
        for signal in delivered {
            let handler = self.handlers.borrow().get(&signal).cloned();
            if let Some(handler) = handler {
                // One callback per delivery, run as any other callback (a panic in it
                // reaches the exception handler natively).
                let _ = ev.call_soon(move |ev| (handler.borrow_mut())(ev));
            }
        }
    }
}

/// `check_signal`'s verdict as the loop's error, naming the call.
fn checked(signal: i32, what: &'static str) -> Result<()> {
    sys::check_signal(signal).map_err(|e| match e.kind() {
        io::ErrorKind::Unsupported => Error::Unsupported {
            what,
            target: sys::TARGET,
        },
        io::ErrorKind::InvalidInput => Error::InvalidArgument(e.to_string()),
        _ => e.into(),
    })
}

impl EventLoop {
    /// asyncio's `loop.add_signal_handler(signum, callback, *args)`: from now on, each
    /// delivery of `signal` runs `callback` once on this loop (not in the signal handler,
    /// so it may use the whole API), also when the signal arrives while the loop is
    /// blocked waiting. Replaces this loop's earlier handler for `signal`; a signal has
    /// one loop at a time, the last one to add a handler for it. asyncio's `*args` are
    /// what the closure captures. Signal numbers: [`signal`](crate::signal).
    ///
    /// Errors: [`Error::LoopClosed`]; [`Error::InvalidArgument`] for a number that is no
    /// signal, and for those that cannot be caught (SIGKILL, SIGSTOP) or must not be
    /// (SIGILL, SIGFPE, SIGSEGV: signal-hook refuses them); [`Error::InvalidState`] when
    /// called from a thread other than the process's main thread (as asyncio requires);
    /// [`Error::Unsupported`] on Windows and in the guest (no POSIX signals).
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// use twinloop::signal::{SIGKILL, SIGUSR2};
    /// use twinloop::Error;
    /// let ev = twinloop::EventLoop::new()?;
    /// if std::thread::current().name() == Some("main") {
    ///     ev.add_signal_handler(SIGUSR2, |ev| { println!("SIGUSR2"); ev.stop(); })?;
    ///     assert!(ev.remove_signal_handler(SIGUSR2)?);
    /// }
    /// assert!(matches!(ev.add_signal_handler(SIGKILL, |_| {}), Err(Error::InvalidArgument(_))));
    /// # }
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn add_signal_handler(
        &self,
        signal: i32,
        callback: impl FnMut(&EventLoop) + 'static,
    ) -> Result<()> {
        if self.is_closed() {
            return Err(Error::LoopClosed);
        }
        checked(signal, "add_signal_handler")?;
        if !sys::is_main_thread() {
            return Err(Error::invalid_state(
                "add_signal_handler only works in the main thread",
            ));
        }
        let handlers = self.signal_handlers()?;
        let previous = handlers
            .handlers
            .borrow_mut()
            .insert(signal, Rc::new(RefCell::new(callback)));
        if let Err(e) = handlers.pipe.borrow_mut().source_mut().watch(signal) {
            handlers.handlers.borrow_mut().remove(&signal);
            drop(previous);
            return Err(e.into());
        }
        Ok(())
    }

    /// asyncio's `loop.remove_signal_handler(sig)`: removes this loop's handler for
    /// `signal` and gives the signal its default action again (SIGINT ends the process
    /// again, SIGCHLD is ignored, ...). Returns whether there was a handler. Closing the
    /// loop removes all of them.
    ///
    /// Errors: [`Error::InvalidArgument`] as for [`EventLoop::add_signal_handler`];
    /// [`Error::Unsupported`] on Windows and in the guest.
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// let ev = twinloop::EventLoop::new()?;
    /// assert!(!ev.remove_signal_handler(twinloop::signal::SIGHUP)?); // none was there
    /// assert!(ev.remove_signal_handler(0).is_err()); // no such signal
    /// # }
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn remove_signal_handler(&self, signal: i32) -> Result<bool> {
        checked(signal, "remove_signal_handler")?;
        let Some(handlers) = self.inner.signals.borrow().clone() else {
            return Ok(false);
        };
        let removed = handlers.handlers.borrow_mut().remove(&signal);
        if removed.is_some() {
            handlers.pipe.borrow_mut().source_mut().unwatch(signal);
        }
        Ok(removed.is_some())
    }

    /// This loop's signal handlers, set up on first use.
    fn signal_handlers(&self) -> Result<Rc<SignalHandlers>> {
        if let Some(handlers) = self.inner.signals.borrow().clone() {
            return Ok(handlers);
        }
        let mut pipe = Registration::new(self, sys::SignalPipe::new()?);
        pipe.set_interest(Interest::READ)?;
        let handlers = Rc::new(SignalHandlers {
            pipe: RefCell::new(pipe),
            handlers: RefCell::default(),
        });
        handlers.pipe.borrow().set_handler(handlers.clone());
        *self.inner.signals.borrow_mut() = Some(handlers.clone());
        Ok(handlers)
    }
}
