//! `DatagramEngine`: the datagram layer over a UDP socket (asyncio's
//! `_SelectorDatagramTransport`): the receive path, the queue of datagrams the socket
//! could not take yet, close and abort, and the I/O readiness handler. What every
//! transport shares (protocol slot, closing / lost state, flow control) is the
//! [`TransportBase`] under it.
//!
//! Receiving is fair and allocation-free: one readiness report receives at most
//! [`DATAGRAM_BUDGET`] datagrams, each into the loop's shared read buffer, and a socket
//! that may hold more is come back to in a later turn (as the stream transport does).
//! Errors from `recvfrom` (such as an ICMP port unreachable on a connected endpoint) go
//! to the protocol's `error_received` and are not fatal.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use super::base::{schedule_connection_lost, Teardown, TransportBase};
use super::datagram_transport::DatagramSlot;
use super::stream::READ_CHUNK;
use crate::error::{panic_message, Error, Result};
use crate::io_registry::IoHandler;
use crate::registration::Registration;
use crate::sys::{self, Interest};
use crate::EventLoop;

/// How many datagrams one readiness report may receive before the transport lets the rest
/// of the loop run.
pub(crate) const DATAGRAM_BUDGET: usize = 64;
/// After this many `sendto` calls on a closing endpoint, each one is logged (asyncio's
/// `LOG_THRESHOLD_FOR_CONNLOST_WRITES`).
const DROPPED_SENDS_LOGGED_AFTER: usize = 5;

pub(crate) struct DatagramEngine {
    pub(crate) base: TransportBase<DatagramSlot>,
    /// `None` once the endpoint is lost and the socket closed.
    source: RefCell<Option<Registration<sys::UdpSocket>>>,
    pub(crate) local: SocketAddr,
    /// The endpoint's `remote_addr`, where `sendto(data, None)` goes.
    pub(crate) peer: Option<SocketAddr>,
    /// The socket is connected to `peer` (not so with `allow_broadcast`).
    connected: bool,
    state: RefCell<State>,
}

struct State {
    /// Datagrams the socket would not take yet, copied, with their destinations.
    queue: VecDeque<(Box<[u8]>, Option<SocketAddr>)>,
    /// Payload bytes in `queue`.
    buffered: usize,
    started: bool,
    /// The turn of the last receive (see `StreamTransport`: one budget per turn).
    read_turn: u64,
    dropped_sends: usize,
}

impl DatagramEngine {
    /// Registers `socket` with the loop; receiving starts with [`DatagramEngine::started`].
    /// `peer` is the `remote_addr` (the socket is connected to it, or, for broadcasts,
    /// not: then it is only the default destination).
    pub(crate) fn new(
        ev: &EventLoop,
        socket: sys::UdpSocket,
        peer: Option<SocketAddr>,
        protocol: DatagramSlot,
    ) -> io::Result<Rc<DatagramEngine>> {
        let local = socket.local_addr()?;
        let connected = socket.peer_addr().is_ok();
        let name = match peer {
            Some(peer) => format!("<DatagramTransport {local} -> {peer}>"),
            None => format!("<DatagramTransport {local}>"),
        };
        let registration = Registration::new(ev, socket);
        let this = Rc::new(DatagramEngine {
            base: TransportBase::new(ev, protocol, name, None),
            source: RefCell::new(None),
            local,
            peer,
            connected,
            state: RefCell::new(State {
                queue: VecDeque::new(),
                buffered: 0,
                started: false,
                read_turn: u64::MAX,
                dropped_sends: 0,
            }),
        });
        registration.set_handler(this.clone());
        *this.source.borrow_mut() = Some(registration);
        Ok(this)
    }

    /// Marks the endpoint started (after `connection_made`) and begins receiving.
    pub(crate) fn started(&self) {
        self.state.borrow_mut().started = true;
        self.update_interest();
    }

    pub(crate) fn write_buffer_size(&self) -> usize {
        self.state.borrow().buffered
    }

    /// The write-buffer marks changed: pause or resume the protocol as they now say.
    pub(crate) fn limits_changed(&self) {
        let buffered = self.write_buffer_size();
        self.base.maybe_pause_protocol(buffered);
        self.base.maybe_resume_protocol(buffered);
    }

    fn update_interest(&self) {
        let wanted = {
            let st = self.state.borrow();
            Interest {
                read: st.started && !self.base.is_closing(),
                write: !self.base.is_lost() && !st.queue.is_empty(),
            }
        };
        if let Some(source) = self.source.borrow_mut().as_mut() {
            if let Err(e) = source.set_interest(wanted) {
                log::debug!("set_interest failed on {}: {e}", self.base.name);
            }
        }
    }

    fn with_socket<T>(
        &self,
        f: impl FnOnce(&mut sys::UdpSocket) -> io::Result<T>,
    ) -> Option<io::Result<T>> {
        let mut source = self.source.borrow_mut();
        source.as_mut().map(|r| f(r.source_mut()))
    }

    /// asyncio's `sendto`.
    pub(crate) fn sendto(self: &Rc<Self>, data: &[u8], addr: Option<SocketAddr>) -> Result<()> {
        let to = match (self.peer, addr) {
            (Some(peer), Some(addr)) if addr != peer => {
                return Err(Error::invalid_argument(format!(
                    "sendto: invalid address {addr}: this endpoint is connected, so it must \
                     be None or {peer}"
                )))
            }
            (Some(peer), _) => (!self.connected).then_some(peer),
            (None, Some(addr)) => Some(addr),
            (None, None) => {
                return Err(Error::invalid_argument(
                    "sendto: an address is required (the endpoint has no remote_addr)",
                ))
            }
        };
        if self.base.is_closing() {
            let mut st = self.state.borrow_mut();
            st.dropped_sends += 1;
            if st.dropped_sends >= DROPPED_SENDS_LOGGED_AFTER {
                log::warn!(
                    "{}: sendto() on a closing endpoint: dropped",
                    self.base.name
                );
            }
            return Ok(());
        }
        if self.state.borrow().queue.is_empty() {
            match self.with_socket(|s| s.send_to(data, to)) {
                Some(Ok(_)) | None => return Ok(()),
                Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                Some(Err(e)) => {
                    self.error_received(e.into());
                    return Ok(());
                }
            }
        }
        let buffered = self.state.borrow().buffered + data.len();
        if let Some(error) = self.base.over_max(buffered) {
            self.force_close(Some(error.clone()));
            return Err(error);
        }
        {
            let mut st = self.state.borrow_mut();
            st.queue.push_back((data.into(), to));
            st.buffered = buffered;
        }
        self.update_interest();
        self.base.maybe_pause_protocol(buffered);
        Ok(())
    }

    /// Sends queued datagrams in order until the socket would block; a send error is the
    /// protocol's `error_received` (that datagram is dropped), and sending goes on.
    fn send_queued(self: &Rc<Self>) {
        loop {
            let sent = {
                let st = self.state.borrow();
                let Some((data, to)) = st.queue.front() else {
                    break;
                };
                match self.with_socket(|s| s.send_to(data, *to)) {
                    Some(sent) => sent,
                    None => return,
                }
            };
            if matches!(&sent, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
                break;
            }
            {
                let mut st = self.state.borrow_mut();
                if let Some((data, _)) = st.queue.pop_front() {
                    st.buffered -= data.len();
                }
            }
            if let Err(e) = sent {
                self.error_received(e.into());
                if self.base.is_lost() {
                    return;
                }
            }
        }
        let (empty, buffered) = {
            let st = self.state.borrow();
            (st.queue.is_empty(), st.buffered)
        };
        self.base.maybe_resume_protocol(buffered);
        if empty && self.base.is_closing() {
            schedule_connection_lost(self, None);
            return;
        }
        self.update_interest();
    }

    fn may_read(&self) -> bool {
        self.state.borrow().started && !self.base.is_closing()
    }

    /// Receives up to [`DATAGRAM_BUDGET`] datagrams into the loop's read buffer and hands
    /// each to the protocol.
    fn read_ready(self: &Rc<Self>, ev: &EventLoop) {
        let turn = ev.turn_number();
        if std::mem::replace(&mut self.state.borrow_mut().read_turn, turn) == turn {
            return;
        }
        let more = ev.with_read_buffer(READ_CHUNK, |buf| self.receive_batch(buf));
        if more && self.may_read() {
            // Maybe more is queued: later, after everyone else had a turn.
            if let Some(source) = self.source.borrow().as_ref() {
                source.report_next_turn(Interest::READ);
            }
        }
    }

    /// True if the budget ran out before the socket said `WouldBlock`.
    fn receive_batch(self: &Rc<Self>, buf: &mut [u8]) -> bool {
        for _ in 0..DATAGRAM_BUDGET {
            if !self.may_read() {
                return false;
            }
            let Some(protocol) = self.base.protocol() else {
                return false;
            };
            if !self.base.protocol_free(&protocol) {
                // Datagrams go to the protocol after the calls waiting for it, never inside
                // one of its callbacks: they stay in the socket until the next turn.
                return true;
            }
            match self.with_socket(|s| s.recv_from(buf)) {
                Some(Ok((n, addr))) => {
                    let data = &buf[..n];
                    let call = || protocol.get().borrow_mut().datagram_received(data, addr);
                    if !self.call_protocol(call, "datagram_received") {
                        return false;
                    }
                }
                Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Some(Err(e)) => self.error_received(e.into()),
                None => return false,
            }
        }
        true
    }

    /// Runs a protocol callback; a panic is asyncio's "Fatal error: protocol.X() call
    /// failed.": reported, and the endpoint closes. False if it panicked.
    fn call_protocol(self: &Rc<Self>, call: impl FnOnce(), what: &str) -> bool {
        match panic::catch_unwind(AssertUnwindSafe(call)) {
            Ok(()) => true,
            Err(payload) => {
                let error = Error::Panic(panic_message(&*payload));
                if let Some(ev) = self.base.ev() {
                    let message = format!("Fatal error: protocol.{what}() call failed.");
                    self.base.report_fatal(&ev, error.clone(), &message);
                }
                self.force_close(Some(error));
                false
            }
        }
    }

    /// Hands a socket error to the protocol's `error_received`: now, or once the protocol
    /// is free (it called `sendto` from `datagram_received`, say).
    fn error_received(self: &Rc<Self>, error: Error) {
        let this = self.clone();
        self.base.when_free(move || {
            if let Some(protocol) = this.base.protocol() {
                let call = || protocol.get().borrow_mut().error_received(error);
                this.call_protocol(call, "error_received");
            }
        });
    }

    /// asyncio's `close`: stop receiving; once the queue is sent, `connection_lost(None)`.
    pub(crate) fn close(self: &Rc<Self>) {
        if !self.base.start_closing() {
            return;
        }
        if self.state.borrow().queue.is_empty() {
            schedule_connection_lost(self, None);
        } else {
            self.update_interest();
        }
    }

    /// asyncio's `_force_close`: drop the queue, stop everything, schedule
    /// `connection_lost(error)`.
    pub(crate) fn force_close(self: &Rc<Self>, error: Option<Error>) {
        if self.base.is_lost() {
            return;
        }
        {
            let mut st = self.state.borrow_mut();
            st.queue = VecDeque::new();
            st.buffered = 0;
        }
        self.base.start_closing();
        schedule_connection_lost(self, error);
    }

    pub(crate) fn is_lost(&self) -> bool {
        self.base.is_lost()
    }
}

impl Teardown for DatagramEngine {
    type Protocol = DatagramSlot;

    fn base(&self) -> &TransportBase<DatagramSlot> {
        &self.base
    }

    fn stop_watching(&self) {
        self.update_interest();
    }

    fn release(&self) {
        let source = self.source.borrow_mut().take();
        drop(source);
        self.base.finish();
    }
}

impl IoHandler for DatagramEngine {
    fn io_ready(self: Rc<Self>, ev: &EventLoop, readable: bool, writable: bool) {
        if writable {
            self.send_queued();
        }
        if readable {
            self.read_ready(ev);
        }
    }
}
