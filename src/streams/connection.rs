//! The protocol behind a stream connection (asyncio's `StreamReaderProtocol` with its
//! `FlowControlMixin`): it feeds the reader, and tells the writer when writing is paused
//! and when the connection is gone.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::task::Waker;

use super::reader::FeedHandle;
use crate::error::Error;
use crate::protocol::{BaseProtocol, Protocol};
use crate::transport::Transport;

/// What the writer needs to know about the connection.
#[derive(Default)]
pub(crate) struct ConnectionState {
    /// The transport asked the protocol to stop writing.
    paused: Cell<bool>,
    /// `Some` once `connection_lost` ran: `None` inside for a clean close.
    lost: RefCell<Option<Option<Error>>>,
    /// Tasks in `drain`, `wait_closed` or a pending `futures-io` write: woken on
    /// `resume_writing` and `connection_lost`.
    waiters: RefCell<Vec<Waker>>,
}

impl ConnectionState {
    pub(crate) fn is_paused(&self) -> bool {
        self.paused.get()
    }

    /// `None` while connected; else the error the connection ended with (`None` inside
    /// for a clean close).
    pub(crate) fn lost(&self) -> Option<Option<Error>> {
        self.lost.borrow().clone()
    }

    /// The error `drain` and writes raise once the connection is gone (asyncio's
    /// `_drain_helper`: the connection's error, else "Connection lost").
    pub(crate) fn lost_error(&self) -> Option<Error> {
        self.lost().map(|error| {
            error.unwrap_or_else(|| {
                io::Error::new(io::ErrorKind::ConnectionReset, "Connection lost").into()
            })
        })
    }

    pub(crate) fn add_waiter(&self, waker: &Waker) {
        let mut waiters = self.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
    }

    fn wake_all(&self) {
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for waker in waiters {
            waker.wake();
        }
    }
}

/// Closes the connection when the last of its reader and writer is dropped (asyncio
/// closes an unclosed writer when it is garbage-collected).
pub(crate) struct CloseOnDrop(pub(crate) Transport);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        if !self.0.is_closing() {
            log::debug!("closing a stream connection whose reader and writer were dropped");
            self.0.close();
        }
    }
}

/// Runs once the transport is up (the server side starts the client's callback here).
pub(crate) type OnConnect = Box<dyn FnOnce(Transport)>;

/// The protocol of a stream connection.
pub(crate) struct StreamProtocol {
    feed: FeedHandle,
    state: Rc<ConnectionState>,
    on_connect: Option<OnConnect>,
}

impl StreamProtocol {
    pub(crate) fn new(
        feed: FeedHandle,
        state: Rc<ConnectionState>,
        on_connect: Option<OnConnect>,
    ) -> StreamProtocol {
        StreamProtocol {
            feed,
            state,
            on_connect,
        }
    }
}

impl BaseProtocol for StreamProtocol {
    fn connection_made(&mut self, transport: Transport) {
        self.feed.set_transport(transport.clone());
        if let Some(on_connect) = self.on_connect.take() {
            on_connect(transport);
        }
    }

    fn connection_lost(&mut self, error: Option<Error>) {
        match &error {
            None => self.feed.feed_eof(),
            Some(error) => self.feed.set_exception(error.clone()),
        }
        self.feed.forget_transport();
        *self.state.lost.borrow_mut() = Some(error);
        self.state.paused.set(false);
        self.state.wake_all();
    }

    fn pause_writing(&mut self) {
        self.state.paused.set(true);
    }

    fn resume_writing(&mut self) {
        self.state.paused.set(false);
        self.state.wake_all();
    }
}

impl Protocol for StreamProtocol {
    fn data_received(&mut self, data: &[u8]) {
        self.feed.feed_data(data);
    }

    /// Keeps the transport open after the peer's EOF, so the writer can still send. Over
    /// TLS too, unlike asyncio's `StreamReaderProtocol` (which returns False there because
    /// asyncio's SSL transport cannot half-close): twinloop's TLS transport can, its
    /// `write_eof` sends close_notify, so a peer that half-closed still gets the answer.
    fn eof_received(&mut self) -> bool {
        self.feed.feed_eof();
        true
    }
}
