//! `TransportBase`: what every kind of transport shares (asyncio's `_SelectorTransport`,
//! uvloop's `UVBaseTransport`): the protocol slot, the closing / lost state,
//! `connection_lost` exactly once, write-buffer limits with `pause_writing` /
//! `resume_writing`, fatal-error reporting, and the loop it belongs to.
//!
//! The layer above (the stream transport, the datagram transport) owns the buffer and the
//! source, and tells the base how big its buffer is and when the source is gone
//! (`release`). The base is generic over the kind of protocol it holds
//! ([`ProtocolCallbacks`]): stream protocols and datagram protocols.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use crate::error::{Error, Result};
use crate::event_loop::LoopInner;
use crate::exception::ExceptionContext;
use crate::protocol::ProtocolSlot;
use crate::EventLoop;

/// asyncio's default high-water mark for a transport's write buffer.
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;

/// The default hard limit of a transport's write buffer (see
/// [`Transport::set_write_buffer_max`](crate::Transport::set_write_buffer_max)).
pub const DEFAULT_WRITE_BUFFER_MAX: usize = 64 * 1024 * 1024;

/// What the base needs of a transport's protocol, whatever its kind: the callbacks of
/// asyncio's `BaseProtocol` and a name for messages.
pub(crate) trait ProtocolCallbacks: Clone + 'static {
    /// "<Protocol my::Echo>", for the exception handler's context.
    fn describe(&self) -> String;
    /// True while one of the protocol's callbacks runs (it is borrowed).
    fn is_busy(&self) -> bool;
    fn connection_lost(&self, error: Option<Error>);
    fn pause_writing(&self);
    fn resume_writing(&self);
}

impl ProtocolCallbacks for ProtocolSlot {
    fn describe(&self) -> String {
        ProtocolSlot::describe(self)
    }
    fn is_busy(&self) -> bool {
        ProtocolSlot::is_busy(self)
    }
    fn connection_lost(&self, error: Option<Error>) {
        ProtocolSlot::connection_lost(self, error)
    }
    fn pause_writing(&self) {
        ProtocolSlot::pause_writing(self)
    }
    fn resume_writing(&self) {
        ProtocolSlot::resume_writing(self)
    }
}

pub(crate) struct TransportBase<P: ProtocolCallbacks = ProtocolSlot> {
    pub(crate) ev: Weak<LoopInner>,
    /// `None` after `connection_lost` (breaks the transport <-> protocol cycle).
    protocol: RefCell<Option<P>>,
    /// What the transport is, for messages ("<Transport 127.0.0.1:1 -> 127.0.0.1:2>").
    pub(crate) name: String,
    closing: Cell<bool>,
    /// `connection_lost` is scheduled or done.
    lost: Cell<bool>,
    low: Cell<usize>,
    high: Cell<usize>,
    max: Cell<usize>,
    protocol_paused: Cell<bool>,
    /// Called once after `connection_lost` (a server counting its connections).
    on_lost: RefCell<Option<Box<dyn FnOnce()>>>,
    /// Flow-control calls that found the protocol in use, oldest first: made from the
    /// loop once it is free (see `notify_protocol`).
    waiting: Rc<RefCell<VecDeque<ProtocolCall<P>>>>,
}

/// A call into the protocol, waiting its turn.
type ProtocolCall<P> = fn(&P);

impl<P: ProtocolCallbacks> TransportBase<P> {
    pub(crate) fn new(
        ev: &EventLoop,
        protocol: P,
        name: String,
        on_lost: Option<Box<dyn FnOnce()>>,
    ) -> Self {
        TransportBase {
            ev: ev.downgrade(),
            protocol: RefCell::new(Some(protocol)),
            name,
            closing: Cell::new(false),
            lost: Cell::new(false),
            low: Cell::new(DEFAULT_HIGH_WATER / 4),
            high: Cell::new(DEFAULT_HIGH_WATER),
            max: Cell::new(DEFAULT_WRITE_BUFFER_MAX),
            protocol_paused: Cell::new(false),
            on_lost: RefCell::new(on_lost),
            waiting: Rc::default(),
        }
    }

    pub(crate) fn ev(&self) -> Option<EventLoop> {
        self.ev.upgrade().map(EventLoop::from_inner)
    }

    pub(crate) fn get_loop(&self) -> Result<EventLoop> {
        self.ev().ok_or(Error::LoopClosed)
    }

    pub(crate) fn protocol(&self) -> Option<P> {
        self.protocol.borrow().clone()
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.get()
    }

    /// Marks the transport closing; false if it already was.
    pub(crate) fn start_closing(&self) -> bool {
        !self.closing.replace(true)
    }

    pub(crate) fn is_lost(&self) -> bool {
        self.lost.get()
    }

    /// Marks `connection_lost` as scheduled; false if it already was (exactly once).
    pub(crate) fn start_losing(&self) -> bool {
        !self.lost.replace(true)
    }

    /// asyncio's `_call_connection_lost`, first half: tell the protocol and let it go.
    pub(crate) fn call_connection_lost(&self, error: Option<Error>) {
        let protocol = self.protocol.borrow_mut().take();
        if let Some(protocol) = protocol {
            protocol.connection_lost(error);
        }
    }

    /// The last step of a transport's life: drop the protocol, tell the owner.
    pub(crate) fn finish(&self) {
        self.protocol.borrow_mut().take();
        let on_lost = self.on_lost.borrow_mut().take();
        if let Some(on_lost) = on_lost {
            on_lost();
        }
    }

    pub(crate) fn limits(&self) -> (usize, usize) {
        (self.low.get(), self.high.get())
    }

    /// asyncio's `_set_write_buffer_limits` rules.
    pub(crate) fn set_limits(&self, high: Option<usize>, low: Option<usize>) -> Result<()> {
        let high = match (high, low) {
            (Some(h), _) => h,
            (None, Some(l)) => l.saturating_mul(4),
            (None, None) => DEFAULT_HIGH_WATER,
        };
        let low = low.unwrap_or(high / 4);
        if high < low {
            return Err(Error::invalid_argument(format!(
                "high ({high}) must be >= low ({low})"
            )));
        }
        self.low.set(low);
        self.high.set(high);
        Ok(())
    }

    pub(crate) fn max(&self) -> usize {
        self.max.get()
    }

    pub(crate) fn set_max(&self, max: usize) {
        self.max.set(max);
    }

    /// The error a write past the hard limit closes the transport with.
    pub(crate) fn over_max(&self, buffered: usize) -> Option<Error> {
        let limit = self.max.get();
        (buffered > limit).then_some(Error::WriteBufferFull { buffered, limit })
    }

    /// asyncio's `_maybe_pause_protocol`, given the buffer's size now.
    pub(crate) fn maybe_pause_protocol(&self, buffered: usize) {
        if buffered > self.high.get() && !self.protocol_paused.replace(true) {
            self.notify_protocol(P::pause_writing, "pause_writing");
        }
    }

    /// asyncio's `_maybe_resume_protocol`, given the buffer's size now.
    pub(crate) fn maybe_resume_protocol(&self, buffered: usize) {
        if self.protocol_paused.get() && buffered <= self.low.get() {
            self.protocol_paused.set(false);
            self.notify_protocol(P::resume_writing, "resume_writing");
        }
    }

    /// Calls a flow-control method now, or, when the protocol is in use (it called `write`
    /// from one of its callbacks, or from a `ProtocolHandle::with` closure) or earlier
    /// calls still wait, after them from the loop: the protocol is never re-entered and
    /// sees its callbacks in the order they happened.
    fn notify_protocol(&self, call: ProtocolCall<P>, what: &'static str) {
        let Some(protocol) = self.protocol() else {
            return;
        };
        if self.protocol_free(&protocol) {
            call(&protocol);
            return;
        }
        let first = {
            let mut waiting = self.waiting.borrow_mut();
            waiting.push_back(call);
            waiting.len() == 1
        };
        if first {
            match self.ev() {
                Some(ev) => schedule_waiting(&ev, self.waiting.clone(), protocol),
                None => log::debug!("{what} dropped: loop closed"),
            }
        }
    }

    /// True while protocol calls wait for their turn: the transport's other calls into
    /// the protocol (data, `connection_lost`) wait behind them.
    fn calls_waiting(&self) -> bool {
        !self.waiting.borrow().is_empty()
    }

    /// True when `protocol` may be called now: none of its callbacks runs (it is not
    /// borrowed) and no earlier call waits for its turn.
    pub(crate) fn protocol_free(&self, protocol: &P) -> bool {
        !self.calls_waiting() && !protocol.is_busy()
    }

    /// Runs `call` (a call into the protocol) once the protocol is free: now, or from the
    /// loop after the calls waiting for it, so the protocol is never re-entered and its
    /// callbacks keep their order. Without a loop, now.
    pub(crate) fn when_free(&self, call: impl FnOnce() + 'static) {
        let free = self.protocol().is_none_or(|p| self.protocol_free(&p));
        match self.ev() {
            Some(ev) if !free => {
                let pending: PendingCall = Rc::new(RefCell::new(Some(Box::new(call))));
                run_when_free(&ev, self.waiting.clone(), self.protocol(), pending);
            }
            _ => call(),
        }
    }

    /// Reports a fatal error to the exception handler with asyncio's context keys: the
    /// message, the error, the transport and the protocol.
    pub(crate) fn report_fatal(&self, ev: &EventLoop, error: Error, message: &str) {
        let mut context = ExceptionContext::new(message).with_error(error);
        context.transport = Some(self.name.clone());
        context.protocol = self.protocol().map(|p| p.describe());
        ev.call_exception_handler(&context);
    }

    /// asyncio's `_fatal_error` rule: OS errors (TLS errors too: `ssl.SSLError` is an
    /// `OSError`) close quietly (they reach `connection_lost`); anything else is reported
    /// to the exception handler first.
    pub(crate) fn report_unless_os_error(&self, error: &Error, message: &str) {
        if matches!(error, Error::Io(_) | Error::Tls(_)) {
            log::debug!("{message}: {error} ({})", self.name);
        } else if let Some(ev) = self.ev() {
            self.report_fatal(&ev, error.clone(), message);
        }
    }
}

/// A call for `run_when_free`: taken out when it runs, or run at once if the loop is gone.
type PendingCall = Rc<RefCell<Option<Box<dyn FnOnce()>>>>;

/// What every transport kind tells the base layer so the end of a connection is written
/// once (asyncio's `_force_close` tail and `_call_connection_lost`).
pub(crate) trait Teardown: 'static {
    type Protocol: ProtocolCallbacks;
    fn base(&self) -> &TransportBase<Self::Protocol>;
    /// Stop asking the reactor for readiness (the transport is closing).
    fn stop_watching(&self);
    /// Close the source (leaving the reactor first: the guest's pollables are children of
    /// its streams), then [`TransportBase::finish`].
    fn release(&self);
}

/// Schedules `connection_lost` for the next turn, exactly once (at once if the loop is
/// gone): the protocol is told last, after the calls still waiting for it and once it is
/// free; then the source closes.
pub(crate) fn schedule_connection_lost<T: Teardown>(this: &Rc<T>, error: Option<Error>) {
    if !this.base().start_losing() {
        return;
    }
    this.stop_watching();
    let transport = this.clone();
    let lost = move |_: &EventLoop| {
        let inner = transport.clone();
        transport.base().when_free(move || {
            inner.base().call_connection_lost(error);
            inner.release();
        });
    };
    if this
        .base()
        .ev()
        .is_none_or(|ev| ev.call_soon(lost).is_err())
    {
        this.release();
    }
}

/// Runs `pending` from the loop once `protocol` is free and no flow-control call waits.
fn run_when_free<P: ProtocolCallbacks>(
    ev: &EventLoop,
    waiting: Rc<RefCell<VecDeque<ProtocolCall<P>>>>,
    protocol: Option<P>,
    pending: PendingCall,
) {
    let later = pending.clone();
    let scheduled = ev.call_soon(move |ev| {
        let busy = protocol.as_ref().is_some_and(|p| p.is_busy());
        if busy || !waiting.borrow().is_empty() {
            run_when_free(ev, waiting, protocol, later);
        } else if let Some(call) = later.borrow_mut().take() {
            call();
        }
    });
    if scheduled.is_err() {
        if let Some(call) = pending.borrow_mut().take() {
            call();
        }
    }
}

/// Makes the waiting protocol calls from the loop, in order, once the protocol is free.
fn schedule_waiting<P: ProtocolCallbacks>(
    ev: &EventLoop,
    waiting: Rc<RefCell<VecDeque<ProtocolCall<P>>>>,
    protocol: P,
) {
    let scheduled = ev.call_soon(move |ev| loop {
        if protocol.is_busy() {
            schedule_waiting(ev, waiting, protocol);
            return;
        }
        let Some(call) = waiting.borrow_mut().pop_front() else {
            return;
        };
        call(&protocol);
    });
    if scheduled.is_err() {
        log::debug!("protocol calls dropped: loop closed");
    }
}
