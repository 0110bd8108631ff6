//! `Readiness`: lets async code wait until the backend reports a token (a connect in
//! progress, a name lookup).

use std::cell::RefCell;
use std::rc::Rc;

use crate::error::Result;
use crate::future::LoopFuture;
use crate::io_registry::IoHandler;
use crate::EventLoop;

/// An I/O handler that completes the future currently waiting on it.
#[derive(Default)]
pub(crate) struct Readiness {
    waiting: RefCell<Option<LoopFuture<()>>>,
}

impl IoHandler for Readiness {
    fn io_ready(self: Rc<Self>, _ev: &EventLoop, _readable: bool, _writable: bool) {
        if let Some(fut) = self.waiting.borrow_mut().take() {
            let _ = fut.set_result(());
        }
    }
}

/// A registered [`Readiness`] that leaves the loop's registry when dropped (also when the
/// task awaiting it is cancelled).
pub(crate) struct ReadinessToken {
    ev: EventLoop,
    handler: Rc<Readiness>,
    pub(crate) token: usize,
}

impl ReadinessToken {
    pub(crate) fn new(ev: &EventLoop) -> Self {
        let handler = Rc::new(Readiness::default());
        let token = ev.register_io(handler.clone());
        ReadinessToken {
            ev: ev.clone(),
            handler,
            token,
        }
    }

    /// Waits for the next report of this token.
    pub(crate) async fn wait(&self) -> Result<()> {
        let fut = self.ev.create_future();
        *self.handler.waiting.borrow_mut() = Some(fut.clone());
        fut.await
    }
}

impl Drop for ReadinessToken {
    fn drop(&mut self) {
        self.ev.unregister_io(self.token);
    }
}
