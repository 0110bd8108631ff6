//! `Registration`: a source the loop watches (tokio's `Registration`, mio's `IoSource`).
//!
//! It owns a backend source, the token the backend reports it by, and the interest last
//! asked for. Creating one reserves a token in the loop's I/O registry; dropping it (also
//! when the task that held it is cancelled) takes the source out of the reactor and frees
//! the token, in that order. Nothing else in the core calls the backend's `set_interest`
//! or `deregister`.

use std::io;
use std::rc::{Rc, Weak};

use crate::event_loop::LoopInner;
use crate::io_registry::IoHandler;
use crate::sys::{self, Interest};
use crate::EventLoop;

pub(crate) struct Registration<S: sys::Watchable> {
    ev: Weak<LoopInner>,
    token: usize,
    interest: Interest,
    /// `None` only after `into_source`.
    source: Option<S>,
}

impl<S: sys::Watchable> Registration<S> {
    /// Reserves a token for `source`; nothing is reported until [`Registration::set_handler`]
    /// and [`Registration::set_interest`].
    pub(crate) fn new(ev: &EventLoop, source: S) -> Self {
        Registration {
            ev: ev.downgrade(),
            token: ev.reserve_io(),
            interest: Interest::default(),
            source: Some(source),
        }
    }

    /// As `new`, for a source that needs its token to be made.
    pub(crate) fn try_new<E>(
        ev: &EventLoop,
        make: impl FnOnce(usize) -> Result<S, E>,
    ) -> Result<Self, E> {
        let token = ev.reserve_io();
        match make(token) {
            Ok(source) => Ok(Registration {
                ev: ev.downgrade(),
                token,
                interest: Interest::default(),
                source: Some(source),
            }),
            Err(e) => {
                ev.free_io(token);
                Err(e)
            }
        }
    }

    /// The token the loop reports this source by (for a notifier from another thread).
    pub(crate) fn token(&self) -> usize {
        self.token
    }

    /// Who is called when the backend reports this source.
    pub(crate) fn set_handler(&self, handler: Rc<dyn IoHandler>) {
        if let Some(ev) = self.ev() {
            ev.set_io_handler(self.token, handler);
        }
    }

    fn ev(&self) -> Option<EventLoop> {
        self.ev.upgrade().map(EventLoop::from_inner)
    }

    /// The directions reported now.
    pub(crate) fn interest(&self) -> Interest {
        self.interest
    }

    /// Reports the directions of `interest` from now on; a backend call only on change.
    pub(crate) fn set_interest(&mut self, interest: Interest) -> io::Result<()> {
        if interest == self.interest {
            return Ok(());
        }
        let (Some(ev), Some(source)) = (self.ev(), self.source.as_mut()) else {
            return Ok(());
        };
        if let Some(source) = source.as_source() {
            source.set_interest(&ev.reactor(), self.token, interest)?;
        }
        self.interest = interest;
        Ok(())
    }

    /// The source may still be ready after a bounded amount of work: have it reported
    /// again on the next turn. Needed only where the backend is edge-triggered (it would
    /// not report the source again by itself); elsewhere the reactor does it.
    pub(crate) fn report_next_turn(&self, interest: Interest) {
        if sys::EDGE_TRIGGERED {
            if let Some(ev) = self.ev() {
                ev.requeue_io(self.token, interest);
            }
        }
    }

    /// Has the source reported on the next turn whatever the backend: for input a source
    /// holds itself (TLS plaintext), which no reactor knows of.
    pub(crate) fn report_next_turn_always(&self, interest: Interest) {
        if let Some(ev) = self.ev() {
            ev.requeue_io(self.token, interest);
        }
    }

    pub(crate) fn source(&self) -> &S {
        self.source
            .as_ref()
            .expect("source present until into_source")
    }

    pub(crate) fn source_mut(&mut self) -> &mut S {
        self.source
            .as_mut()
            .expect("source present until into_source")
    }

    /// Leaves the loop and hands the source back (a finished connect becomes a transport's).
    pub(crate) fn into_source(mut self) -> S {
        self.release();
        self.source
            .take()
            .expect("source present until into_source")
    }

    fn release(&mut self) {
        let Some(ev) = self.ev() else {
            return;
        };
        if let Some(source) = self.source.as_mut().and_then(|s| s.as_source()) {
            source.deregister(&ev.reactor());
        }
        self.interest = Interest::default();
        ev.free_io(self.token);
    }
}

impl<S: sys::Watchable> Drop for Registration<S> {
    fn drop(&mut self) {
        if self.source.is_some() {
            self.release();
        }
    }
}
