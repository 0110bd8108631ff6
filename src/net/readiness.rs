//! `Watched`: a source that async code waits on until the backend reports it (a connect in
//! progress, a name lookup).

use std::cell::RefCell;
use std::rc::Rc;

use crate::error::Result;
use crate::future::LoopFuture;
use crate::io_registry::IoHandler;
use crate::registration::Registration;
use crate::sys::{self, Interest};
use crate::EventLoop;

/// An I/O handler that completes the future currently waiting on it.
#[derive(Default)]
struct Readiness {
    waiting: RefCell<Option<LoopFuture<()>>>,
}

impl IoHandler for Readiness {
    fn io_ready(self: Rc<Self>, _ev: &EventLoop, _readable: bool, _writable: bool) {
        if let Some(fut) = self.waiting.borrow_mut().take() {
            let _ = fut.set_result(());
        }
    }
}

/// A registered source with a [`Readiness`] handler. Dropping it (also when the task
/// awaiting it is cancelled) leaves the reactor and frees the token.
pub(crate) struct Watched<S: sys::Watchable> {
    ev: EventLoop,
    registration: Registration<S>,
    readiness: Rc<Readiness>,
}

impl<S: sys::Watchable> Watched<S> {
    pub(crate) fn new(ev: &EventLoop, source: S) -> Self {
        Self::from_registration(ev, Registration::new(ev, source))
    }

    /// As `new`, for a source that needs its token to start (a helper thread reports by it).
    pub(crate) fn try_new<E>(
        ev: &EventLoop,
        make: impl FnOnce(usize) -> std::result::Result<S, E>,
    ) -> std::result::Result<Self, E> {
        Ok(Self::from_registration(
            ev,
            Registration::try_new(ev, make)?,
        ))
    }

    fn from_registration(ev: &EventLoop, registration: Registration<S>) -> Self {
        let readiness = Rc::new(Readiness::default());
        registration.set_handler(readiness.clone());
        Watched {
            ev: ev.clone(),
            registration,
            readiness,
        }
    }

    /// Waits for the next report of this source in the directions of `interest`.
    pub(crate) async fn wait(&mut self, interest: Interest) -> Result<()> {
        self.registration.set_interest(interest)?;
        let fut = self.ev.create_future();
        *self.readiness.waiting.borrow_mut() = Some(fut.clone());
        fut.await
    }

    pub(crate) fn source_mut(&mut self) -> &mut S {
        self.registration.source_mut()
    }

    pub(crate) fn into_source(self) -> S {
        self.registration.into_source()
    }

    /// Waits for a non-blocking connect of the source to end: `finish` says whether it
    /// has (`finish_connect`), `failed` turns its error into the caller's.
    pub(crate) async fn connected(
        mut self,
        finish: fn(&mut S) -> std::io::Result<bool>,
        failed: impl Fn(std::io::Error) -> crate::Error,
    ) -> Result<S> {
        while !finish(self.source_mut()).map_err(&failed)? {
            self.wait(Interest::WRITE).await?;
        }
        Ok(self.into_source())
    }
}
