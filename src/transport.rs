//! `Transport`: asyncio's TCP transport (`_SelectorSocketTransport`), one for both targets.
//!
//! Writes go straight to the socket when it takes them; the rest waits in a buffer and is
//! sent, in order, when the socket is writable. Reads are delivered to the protocol as they
//! arrive. Flow control calls the protocol's `pause_writing`/`resume_writing` at the
//! buffer's high and low marks.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};

use crate::error::{Error, Result};
use crate::event_loop::LoopInner;
use crate::exception::ExceptionContext;
use crate::io_registry::IoHandler;
use crate::protocol::ProtocolSlot;
use crate::sys::{self, Interest};
use crate::EventLoop;

/// asyncio's default high-water mark for a transport's write buffer.
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;
/// How much one read asks for.
const READ_CHUNK: usize = 256 * 1024;

/// A stream transport (TCP): asyncio's `asyncio.Transport`. It is a handle: clones refer to
/// the same connection, so a protocol can keep one and write back from its callbacks.
///
/// ```no_run
/// # async fn demo() -> twinloop::Result<()> {
/// use twinloop::{ConnectOptions, Protocol, Transport};
/// struct Hello;
/// impl Protocol for Hello {
///     fn connection_made(&mut self, t: Transport) {
///         let _ = t.write(b"hello\n");
///         let _ = t.write_eof();
///     }
/// }
/// let ev = twinloop::get_running_loop()?;
/// let (transport, _protocol) =
///     ev.create_connection(|| Hello, "127.0.0.1", 8888, ConnectOptions::default()).await?;
/// println!("connected to {:?}", transport.peername());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Transport {
    pub(crate) inner: Rc<TransportInner>,
}

/// What [`Transport::get_extra_info`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtraInfo {
    /// `peername` or `sockname`.
    Addr(SocketAddr),
    /// `socket`: what is known of the underlying socket.
    Socket(SocketInfo),
}

/// A description of a transport's socket (asyncio's `TransportSocket`, without the power
/// to change it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketInfo {
    /// The local address.
    pub local: SocketAddr,
    /// The peer's address.
    pub peer: SocketAddr,
}

pub(crate) struct TransportInner {
    ev: Weak<LoopInner>,
    token: Cell<usize>,
    /// `None` once the connection is lost and the socket closed.
    sock: RefCell<Option<sys::TcpStream>>,
    /// `None` after `connection_lost` (breaks the transport <-> protocol cycle).
    protocol: RefCell<Option<ProtocolSlot>>,
    state: RefCell<State>,
    /// Reused for every read of a plain `Protocol`; moved out during the callback.
    read_buf: RefCell<Box<[u8]>>,
    local: SocketAddr,
    peer: SocketAddr,
    /// Called once after `connection_lost` (a server counting its connections).
    on_lost: RefCell<Option<Box<dyn FnOnce()>>>,
}

struct State {
    write_buf: VecDeque<u8>,
    high: usize,
    low: usize,
    protocol_paused: bool,
    reading_paused: bool,
    started: bool,
    /// The peer sent EOF and the protocol chose to keep the transport open.
    eof_received: bool,
    closing: bool,
    eof_requested: bool,
    eof_sent: bool,
    /// `connection_lost` is scheduled or done.
    lost: bool,
    interest: Interest,
}

impl Transport {
    /// Wraps a connected socket: schedules `connection_made`, then starts reading.
    pub(crate) fn start(
        ev: &EventLoop,
        mut sock: sys::TcpStream,
        protocol: ProtocolSlot,
        on_lost: Option<Box<dyn FnOnce()>>,
    ) -> Result<Transport> {
        // TCP_NODELAY on every TCP connection, as asyncio does; where the target cannot set
        // it, that is no reason to refuse the connection.
        let _ = sock.set_nodelay(true);
        let local = sock.local_addr()?;
        let peer = sock.peer_addr()?;
        let (low, high) = limits(None, None)?;
        let inner = Rc::new(TransportInner {
            ev: ev.downgrade(),
            token: Cell::new(usize::MAX),
            sock: RefCell::new(Some(sock)),
            protocol: RefCell::new(Some(protocol)),
            state: RefCell::new(State {
                write_buf: VecDeque::new(),
                high,
                low,
                protocol_paused: false,
                reading_paused: false,
                started: false,
                eof_received: false,
                closing: false,
                eof_requested: false,
                eof_sent: false,
                lost: false,
                interest: Interest::default(),
            }),
            read_buf: RefCell::new(Box::default()),
            local,
            peer,
            on_lost: RefCell::new(on_lost),
        });
        inner.token.set(ev.register_io(inner.clone()));
        let transport = Transport { inner };
        let made = transport.clone();
        ev.call_soon(move |ev| {
            let protocol = made.inner.protocol.borrow().clone();
            if let Some(protocol) = protocol {
                protocol.connection_made(made.clone());
            }
            made.inner.state.borrow_mut().started = true;
            made.inner.update_interest(ev);
        })?;
        Ok(transport)
    }

    /// asyncio's `write`: sends `data`, buffering what the socket does not take now. Bytes
    /// are never lost or reordered. Errors: [`Error::InvalidState`] after `write_eof` or
    /// `close`. A socket error closes the transport and reaches `connection_lost`.
    pub fn write(&self, data: &[u8]) -> Result<()> {
        self.inner.write(data)
    }

    /// asyncio's `writelines`: writes each buffer in order.
    pub fn writelines<'a>(&self, data: impl IntoIterator<Item = &'a [u8]>) -> Result<()> {
        for chunk in data {
            self.inner.write(chunk)?;
        }
        Ok(())
    }

    /// asyncio's `write_eof`: half-close once the buffered data is sent; reading goes on.
    pub fn write_eof(&self) -> Result<()> {
        self.inner.write_eof()
    }

    /// asyncio's `can_write_eof`: always true for TCP.
    pub fn can_write_eof(&self) -> bool {
        true
    }

    /// asyncio's `close`: stop reading, send what is buffered, then close and call
    /// `connection_lost(None)`. Idempotent.
    pub fn close(&self) {
        self.inner.close();
    }

    /// asyncio's `abort`: close now, dropping buffered data; `connection_lost(None)` follows.
    pub fn abort(&self) {
        self.inner.force_close(None);
    }

    /// asyncio's `is_closing`: true once `close`, `abort` or a fatal error happened.
    pub fn is_closing(&self) -> bool {
        self.inner.state.borrow().closing
    }

    /// asyncio's `get_extra_info`: `"peername"`, `"sockname"` or `"socket"`; `None` for
    /// other names, and for `"socket"` once the connection is lost.
    pub fn get_extra_info(&self, name: &str) -> Option<ExtraInfo> {
        match name {
            "peername" => Some(ExtraInfo::Addr(self.inner.peer)),
            "sockname" => Some(ExtraInfo::Addr(self.inner.local)),
            "socket" if self.inner.sock.borrow().is_some() => Some(ExtraInfo::Socket(SocketInfo {
                local: self.inner.local,
                peer: self.inner.peer,
            })),
            _ => None,
        }
    }

    /// The peer's address (`get_extra_info("peername")`).
    pub fn peername(&self) -> SocketAddr {
        self.inner.peer
    }

    /// The local address (`get_extra_info("sockname")`).
    pub fn sockname(&self) -> SocketAddr {
        self.inner.local
    }

    /// asyncio's `set_write_buffer_limits(high, low)`: defaults 64 KiB and a quarter of
    /// `high`; `low` alone makes `high` four times `low`. [`Error::InvalidArgument`] if
    /// `high < low`. May call `pause_writing`/`resume_writing` at once.
    pub fn set_write_buffer_limits(&self, high: Option<usize>, low: Option<usize>) -> Result<()> {
        let (low, high) = limits(high, low)?;
        {
            let mut st = self.inner.state.borrow_mut();
            st.low = low;
            st.high = high;
        }
        self.inner.maybe_pause_protocol();
        self.inner.maybe_resume_protocol();
        Ok(())
    }

    /// asyncio's `get_write_buffer_limits`: `(low, high)`.
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        let st = self.inner.state.borrow();
        (st.low, st.high)
    }

    /// asyncio's `get_write_buffer_size`: bytes accepted by `write` but not yet sent.
    pub fn get_write_buffer_size(&self) -> usize {
        self.inner.state.borrow().write_buf.len()
    }

    /// asyncio's `pause_reading`: no more `data_received` until `resume_reading`.
    pub fn pause_reading(&self) {
        let changed = {
            let mut st = self.inner.state.borrow_mut();
            !st.closing && !std::mem::replace(&mut st.reading_paused, true)
        };
        if changed {
            self.inner.with_loop(|ev| self.inner.update_interest(ev));
        }
    }

    /// asyncio's `resume_reading`.
    pub fn resume_reading(&self) {
        let changed = {
            let mut st = self.inner.state.borrow_mut();
            !st.closing && std::mem::replace(&mut st.reading_paused, false)
        };
        if changed {
            self.inner.with_loop(|ev| self.inner.update_interest(ev));
        }
    }

    /// asyncio's `is_reading`.
    pub fn is_reading(&self) -> bool {
        let st = self.inner.state.borrow();
        !st.reading_paused && !st.closing
    }

    /// The loop this transport runs on.
    pub fn get_loop(&self) -> Result<EventLoop> {
        self.inner
            .ev
            .upgrade()
            .map(EventLoop::from_inner)
            .ok_or(Error::LoopClosed)
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.state.borrow();
        f.debug_struct("Transport")
            .field("local", &self.inner.local)
            .field("peer", &self.inner.peer)
            .field("closing", &st.closing)
            .field("write_buffer", &st.write_buf.len())
            .finish()
    }
}

/// asyncio's `_set_write_buffer_limits` rules.
fn limits(high: Option<usize>, low: Option<usize>) -> Result<(usize, usize)> {
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
    Ok((low, high))
}

impl TransportInner {
    fn with_loop(&self, f: impl FnOnce(&EventLoop)) {
        if let Some(inner) = self.ev.upgrade() {
            f(&EventLoop::from_inner(inner));
        }
    }

    fn protocol(&self) -> Option<ProtocolSlot> {
        self.protocol.borrow().clone()
    }

    fn describe(&self) -> String {
        format!("<Transport {} -> {}>", self.local, self.peer)
    }

    /// Registers the directions this transport needs now; a syscall only on change.
    fn update_interest(&self, ev: &EventLoop) {
        let wanted = {
            let st = self.state.borrow();
            Interest {
                read: st.started && !st.closing && !st.reading_paused && !st.eof_received,
                write: !st.lost
                    && (!st.write_buf.is_empty()
                        || (st.closing && !st.lost)
                        || (st.eof_requested && !st.eof_sent)),
            }
        };
        let mut st = self.state.borrow_mut();
        if st.interest == wanted {
            return;
        }
        let mut sock = self.sock.borrow_mut();
        let Some(sock) = sock.as_mut() else {
            return;
        };
        match sock.set_interest(&ev.reactor(), self.token.get(), wanted) {
            Ok(()) => st.interest = wanted,
            Err(e) => {
                drop(st);
                log::debug!("set_interest failed on {}: {e}", self.describe());
            }
        }
    }

    fn write(self: &Rc<Self>, data: &[u8]) -> Result<()> {
        {
            let st = self.state.borrow();
            if st.eof_requested {
                return Err(Error::invalid_state("cannot write() after write_eof()"));
            }
            if st.closing {
                return Err(Error::invalid_state(
                    "cannot write() to a closing transport",
                ));
            }
        }
        if data.is_empty() {
            return Ok(());
        }
        let mut rest = data;
        if self.state.borrow().write_buf.is_empty() {
            let sent = match self.sock.borrow_mut().as_mut() {
                Some(sock) => sock.write(data),
                None => Ok(0),
            };
            match sent {
                Ok(n) => rest = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    self.fatal_error(e.into(), "Fatal write error on socket transport");
                    return Ok(());
                }
            }
        }
        if !rest.is_empty() {
            self.state.borrow_mut().write_buf.extend(rest);
            self.with_loop(|ev| self.update_interest(ev));
        }
        self.maybe_pause_protocol();
        Ok(())
    }

    fn write_eof(self: &Rc<Self>) -> Result<()> {
        {
            let mut st = self.state.borrow_mut();
            if st.closing || st.eof_requested {
                return Ok(());
            }
            st.eof_requested = true;
        }
        self.flush_and_finish();
        Ok(())
    }

    fn close(self: &Rc<Self>) {
        {
            let mut st = self.state.borrow_mut();
            if st.closing {
                return;
            }
            st.closing = true;
        }
        self.flush_and_finish();
    }

    /// Sends buffered data; once the buffer is empty, performs a pending half-close or
    /// close. Called on writability and after `write_eof`/`close`.
    fn flush_and_finish(self: &Rc<Self>) {
        loop {
            let chunk_len = {
                let st = self.state.borrow();
                if st.lost {
                    return;
                }
                st.write_buf.as_slices().0.len()
            };
            if chunk_len == 0 {
                break;
            }
            let sent = {
                let st = self.state.borrow();
                let mut sock = self.sock.borrow_mut();
                match sock.as_mut() {
                    Some(sock) => sock.write(st.write_buf.as_slices().0),
                    None => return,
                }
            };
            match sent {
                Ok(n) => {
                    self.state.borrow_mut().write_buf.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    self.fatal_error(e.into(), "Fatal write error on socket transport");
                    return;
                }
            }
        }
        self.maybe_resume_protocol();
        let (empty, closing, eof_pending) = {
            let st = self.state.borrow();
            (
                st.write_buf.is_empty(),
                st.closing,
                st.eof_requested && !st.eof_sent,
            )
        };
        if empty && (closing || eof_pending) {
            let finished = {
                let mut sock = self.sock.borrow_mut();
                match sock.as_mut() {
                    Some(sock) if closing => sock.flush(),
                    Some(sock) => sock.flush().and_then(|()| sock.shutdown_write()),
                    None => Ok(()),
                }
            };
            match finished {
                Ok(()) if closing => {
                    self.schedule_connection_lost(None);
                    return;
                }
                Ok(()) => self.state.borrow_mut().eof_sent = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    self.fatal_error(e.into(), "Fatal error on socket shutdown");
                    return;
                }
            }
        }
        self.with_loop(|ev| self.update_interest(ev));
    }

    fn read_ready(self: &Rc<Self>, ev: &EventLoop) {
        loop {
            {
                let st = self.state.borrow();
                if st.closing || st.reading_paused || st.eof_received || !st.started {
                    return;
                }
            }
            let Some(protocol) = self.protocol() else {
                return;
            };
            let outcome = match &protocol {
                ProtocolSlot::Stream(p) => {
                    let mut buf = std::mem::take(&mut *self.read_buf.borrow_mut());
                    if buf.is_empty() {
                        buf = vec![0; READ_CHUNK].into_boxed_slice();
                    }
                    let read = self.sock_read(&mut buf);
                    if let Ok(n) = read {
                        if n > 0 {
                            p.borrow_mut().data_received(&buf[..n]);
                        }
                    }
                    *self.read_buf.borrow_mut() = buf;
                    read
                }
                ProtocolSlot::Buffered(p) => {
                    let mut p = p.borrow_mut();
                    let buf = p.get_buffer(READ_CHUNK);
                    if buf.is_empty() {
                        drop(p);
                        let error = Error::invalid_state("get_buffer() returned an empty buffer");
                        self.report_fatal(
                            ev,
                            error.clone(),
                            "Fatal error: protocol.get_buffer() call failed.",
                        );
                        self.force_close(Some(error));
                        return;
                    }
                    let read = self.sock_read(buf);
                    if let Ok(n) = read {
                        if n > 0 {
                            p.buffer_updated(n);
                        }
                    }
                    read
                }
            };
            match outcome {
                Ok(0) => {
                    self.eof(ev, &protocol);
                    return;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    self.fatal_error(e.into(), "Fatal read error on socket transport");
                    return;
                }
            }
        }
    }

    fn sock_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self.sock.borrow_mut().as_mut() {
            Some(sock) => sock.read(buf),
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn eof(self: &Rc<Self>, ev: &EventLoop, protocol: &ProtocolSlot) {
        let keep_open = protocol.eof_received();
        if keep_open {
            self.state.borrow_mut().eof_received = true;
            self.update_interest(ev);
        } else {
            self.close();
        }
    }

    fn maybe_pause_protocol(self: &Rc<Self>) {
        let pause = {
            let mut st = self.state.borrow_mut();
            let over = st.write_buf.len() > st.high && !st.protocol_paused;
            if over {
                st.protocol_paused = true;
            }
            over
        };
        if pause {
            self.notify_protocol(ProtocolSlot::pause_writing, "pause_writing");
        }
    }

    fn maybe_resume_protocol(self: &Rc<Self>) {
        let resume = {
            let mut st = self.state.borrow_mut();
            let under = st.protocol_paused && st.write_buf.len() <= st.low;
            if under {
                st.protocol_paused = false;
            }
            under
        };
        if resume {
            self.notify_protocol(ProtocolSlot::resume_writing, "resume_writing");
        }
    }

    /// Calls a flow-control method now, or, when the protocol is in the middle of one of
    /// its own callbacks (it called `write` from `data_received`), right after it.
    fn notify_protocol(self: &Rc<Self>, call: fn(&ProtocolSlot), what: &'static str) {
        let Some(protocol) = self.protocol() else {
            return;
        };
        if !protocol.is_busy() {
            call(&protocol);
            return;
        }
        let Some(ev) = self.ev.upgrade().map(EventLoop::from_inner) else {
            return;
        };
        if ev.call_soon(move |_| call(&protocol)).is_err() {
            log::debug!("{what} dropped: loop closed");
        }
    }

    fn report_fatal(&self, ev: &EventLoop, error: Error, message: &str) {
        let mut context = ExceptionContext::new(message).with_error(error);
        context.transport = Some(self.describe());
        ev.call_exception_handler(&context);
    }

    /// asyncio's `_fatal_error`: OS errors close quietly (they reach `connection_lost`);
    /// anything else is reported to the exception handler first.
    fn fatal_error(self: &Rc<Self>, error: Error, message: &str) {
        if !matches!(error, Error::Io(_)) {
            self.with_loop(|ev| self.report_fatal(ev, error.clone(), message));
        } else {
            log::debug!("{message}: {error} ({})", self.describe());
        }
        self.force_close(Some(error));
    }

    /// asyncio's `_force_close`: drop the buffer, stop everything, schedule
    /// `connection_lost(error)`.
    fn force_close(self: &Rc<Self>, error: Option<Error>) {
        {
            let mut st = self.state.borrow_mut();
            if st.lost {
                return;
            }
            st.write_buf = VecDeque::new();
            st.closing = true;
        }
        self.schedule_connection_lost(error);
    }

    fn schedule_connection_lost(self: &Rc<Self>, error: Option<Error>) {
        {
            let mut st = self.state.borrow_mut();
            if st.lost {
                return;
            }
            st.lost = true;
        }
        let Some(ev) = self.ev.upgrade().map(EventLoop::from_inner) else {
            self.release(None);
            return;
        };
        self.update_interest(&ev);
        let this = self.clone();
        if ev
            .call_soon(move |ev| this.connection_lost(ev, error))
            .is_err()
        {
            self.release(Some(&ev));
        }
    }

    /// asyncio's `_call_connection_lost`: tell the protocol, then close the socket.
    fn connection_lost(self: &Rc<Self>, ev: &EventLoop, error: Option<Error>) {
        let protocol = self.protocol.borrow_mut().take();
        if let Some(protocol) = protocol {
            protocol.connection_lost(error);
        }
        self.release(Some(ev));
        let on_lost = self.on_lost.borrow_mut().take();
        if let Some(on_lost) = on_lost {
            on_lost();
        }
    }

    /// Leaves the reactor and closes the socket (in that order: the guest's pollables are
    /// children of the socket's streams).
    fn release(&self, ev: Option<&EventLoop>) {
        let sock = self.sock.borrow_mut().take();
        if let Some(mut sock) = sock {
            if let Some(ev) = ev {
                sock.deregister(&ev.reactor());
                ev.unregister_io(self.token.get());
            }
            drop(sock);
        }
        self.protocol.borrow_mut().take();
    }
}

impl IoHandler for TransportInner {
    fn io_ready(self: Rc<Self>, ev: &EventLoop, readable: bool, writable: bool) {
        if writable {
            self.flush_and_finish();
        }
        if readable {
            self.read_ready(ev);
        }
    }
}
