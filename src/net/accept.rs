//! The accept path of a [`Server`]: draining the listen queue in bounded batches, backing
//! off when accept runs out of descriptors or memory, and making a transport and a
//! protocol for each accepted connection.

use std::rc::Rc;

use super::listener::Accepted;
use super::server::{Server, ServerInner};
use crate::error::Error;
use crate::exception::ExceptionContext;
use crate::io_registry::IoHandler;
use crate::sys::{self, Interest};
use crate::tls::{self, TlsSetup};
use crate::transport::{ByteStream, Transport};
use crate::EventLoop;

/// How long a server waits before accepting again after running out of file descriptors
/// or memory (asyncio's `ACCEPT_RETRY_DELAY`).
pub const ACCEPT_RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// Accepts on one listening socket of a server. It holds the server: while listening, a
/// server lives on even when the program dropped every `Server` handle (as in asyncio);
/// `close()` (or closing the loop) lets it go.
pub(super) struct AcceptHandler {
    pub(super) server: Rc<ServerInner>,
    pub(super) index: usize,
}

impl IoHandler for AcceptHandler {
    fn io_ready(self: Rc<Self>, ev: &EventLoop, readable: bool, _writable: bool) {
        if readable {
            Server {
                inner: self.server.clone(),
            }
            .accept_ready(ev, self.index);
        }
    }
}

impl Server {
    /// Accepts up to `backlog` connections per readiness report; if the queue may hold
    /// more, comes back in a later turn (as the read path does), so a burst of connections
    /// is all served without starving the rest of the loop.
    fn accept_ready(&self, ev: &EventLoop, index: usize) {
        for _ in 0..self.inner.backlog {
            if !self.inner.serving.get() {
                return;
            }
            let accepted = match self.inner.listeners.borrow_mut().get_mut(index) {
                Some(l) => l.registration.source_mut().accept(),
                None => return,
            };
            match accepted {
                Ok(accepted) => {
                    self.inner.exhausted.set(false);
                    self.attach(ev, accepted);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                // The peer gave up while queued (asyncio ignores ConnectionAbortedError).
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionAborted => {}
                Err(e) if sys::is_out_of_resources(&e) => {
                    self.pause_accepting(ev, index, e);
                    return;
                }
                Err(e) => {
                    self.report_accept_error(ev, index, "Error on accepting connection", e);
                    return;
                }
            }
        }
        if let Some(l) = self.inner.listeners.borrow().get(index) {
            l.registration.report_next_turn(Interest::READ);
        }
    }

    fn report_accept_error(&self, ev: &EventLoop, index: usize, message: &str, e: std::io::Error) {
        let mut context = ExceptionContext::new(message).with_error(e.into());
        context.socket = self
            .inner
            .listeners
            .borrow()
            .get(index)
            .map(|l| l.local.to_string());
        ev.call_exception_handler(&context);
    }

    /// asyncio's answer to EMFILE, ENFILE, ENOBUFS and ENOMEM from accept: stop accepting
    /// on this socket, say so (once until an accept succeeds again), and try again after
    /// [`ACCEPT_RETRY_DELAY`]. The pending connections stay queued meanwhile.
    fn pause_accepting(&self, ev: &EventLoop, index: usize, e: std::io::Error) {
        if !self.inner.exhausted.replace(true) {
            let message = format!(
                "socket.accept() out of system resource; retrying in {} s",
                ACCEPT_RETRY_DELAY.as_secs_f64()
            );
            self.report_accept_error(ev, index, &message, e);
        }
        if let Some(l) = self.inner.listeners.borrow_mut().get_mut(index) {
            if let Err(e) = l.registration.set_interest(Interest::default()) {
                log::debug!("pausing accept on {}: {e}", l.local);
            }
        }
        let server = Rc::downgrade(&self.inner);
        let retry = ev.call_later(ACCEPT_RETRY_DELAY, move |_| {
            let Some(inner) = server.upgrade() else {
                return;
            };
            if !inner.serving.get() {
                return;
            }
            let mut listeners = inner.listeners.borrow_mut();
            if let Some(l) = listeners.get_mut(index) {
                match l.registration.set_interest(Interest::READ) {
                    // Connections queued meanwhile raise no new readiness edge.
                    Ok(()) => l.registration.report_next_turn(Interest::READ),
                    Err(e) => log::debug!("resuming accept on {}: {e}", l.local),
                }
            }
        });
        if let Err(e) = retry {
            log::debug!("cannot schedule the accept retry: {e}");
        }
    }

    fn attach(&self, ev: &EventLoop, accepted: Accepted) {
        let weak = Rc::downgrade(&self.inner);
        let on_lost: Box<dyn FnOnce()> = Box::new(move || {
            if let Some(server) = weak.upgrade() {
                server.active.set(server.active.get().saturating_sub(1));
                server.clients.borrow_mut().retain(|c| c.strong_count() > 0);
                server.wake_waiters_if_idle();
            }
        });
        let source = match accepted.into_source() {
            Ok(source) => source,
            Err(e) => return report_setup_error(ev, e.into()),
        };
        match self.inner.tls.clone() {
            None => self.start_transport(ev, source, on_lost),
            Some(setup) => self.start_after_handshake(ev, source, setup, on_lost),
        }
    }

    /// TLS: the handshake runs in a task of its own; the connection counts as open (for
    /// `wait_closed`) from the accept on. A failed handshake is logged, not reported
    /// (asyncio's `SSLError` is an `OSError`), and the protocol is never made.
    fn start_after_handshake(
        &self,
        ev: &EventLoop,
        source: Box<dyn ByteStream>,
        setup: Rc<TlsSetup>,
        on_lost: Box<dyn FnOnce()>,
    ) {
        self.inner.active.set(self.inner.active.get() + 1);
        let server = self.clone();
        let peer = source.describe();
        let handshaking = ev.create_task(async move {
            let ev = crate::get_running_loop()?;
            match tls::handshake(&ev, source, &setup, Vec::new()).await {
                Ok(stream) => {
                    let active = &server.inner.active;
                    active.set(active.get().saturating_sub(1));
                    server.start_transport(&ev, Box::new(stream), on_lost);
                }
                Err(e) => {
                    log::debug!("TLS handshake with {peer} failed: {e}");
                    on_lost();
                }
            }
            Ok::<(), Error>(())
        });
        if let Err(e) = handshaking {
            log::debug!("cannot start a TLS handshake: {e}");
        }
    }

    fn start_transport(
        &self,
        ev: &EventLoop,
        source: Box<dyn ByteStream>,
        on_lost: Box<dyn FnOnce()>,
    ) {
        let protocol = (self.inner.factory)();
        match Transport::start(ev, source, protocol, Some(on_lost)) {
            Ok(transport) => {
                self.inner.active.set(self.inner.active.get() + 1);
                self.inner
                    .clients
                    .borrow_mut()
                    .push(Rc::downgrade(&transport.inner));
            }
            Err(e) => report_setup_error(ev, e),
        }
    }
}

fn report_setup_error(ev: &EventLoop, e: Error) {
    let context = ExceptionContext::new("Error setting up an accepted connection").with_error(e);
    ev.call_exception_handler(&context);
}
