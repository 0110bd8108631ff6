//! The machinery behind a [`Transport`](super::Transport): the write buffer and its
//! flow control, the read path, half-close, close and abort, and the I/O readiness
//! handler.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::rc::{Rc, Weak};

use super::READ_CHUNK;
use crate::error::{panic_message, Error, Result};
use crate::event_loop::LoopInner;
use crate::exception::ExceptionContext;
use crate::io_registry::IoHandler;
use crate::protocol::ProtocolSlot;
use crate::sys::{self, Interest};
use crate::EventLoop;

pub(crate) struct TransportInner {
    pub(super) ev: Weak<LoopInner>,
    pub(super) token: Cell<usize>,
    /// `None` once the connection is lost and the socket closed.
    pub(super) sock: RefCell<Option<sys::TcpStream>>,
    /// `None` after `connection_lost` (breaks the transport <-> protocol cycle).
    pub(super) protocol: RefCell<Option<ProtocolSlot>>,
    pub(super) state: RefCell<State>,
    pub(super) local: SocketAddr,
    pub(super) peer: SocketAddr,
    /// Called once after `connection_lost` (a server counting its connections).
    pub(super) on_lost: RefCell<Option<Box<dyn FnOnce()>>>,
}

pub(super) struct State {
    pub(super) write_buf: VecDeque<u8>,
    pub(super) high: usize,
    pub(super) low: usize,
    pub(super) protocol_paused: bool,
    pub(super) reading_paused: bool,
    pub(super) started: bool,
    /// The peer sent EOF and the protocol chose to keep the transport open.
    pub(super) eof_received: bool,
    pub(super) closing: bool,
    pub(super) eof_requested: bool,
    pub(super) eof_sent: bool,
    /// `connection_lost` is scheduled or done.
    pub(super) lost: bool,
    pub(super) interest: Interest,
}

impl TransportInner {
    pub(super) fn with_loop(&self, f: impl FnOnce(&EventLoop)) {
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
    pub(super) fn update_interest(&self, ev: &EventLoop) {
        let wanted = {
            let st = self.state.borrow();
            Interest {
                read: st.started && !st.closing && !st.reading_paused && !st.eof_received,
                write: !st.lost
                    && (!st.write_buf.is_empty()
                        || st.closing
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

    pub(super) fn write(self: &Rc<Self>, data: &[u8]) -> Result<()> {
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

    pub(super) fn write_eof(self: &Rc<Self>) -> Result<()> {
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

    pub(super) fn close(self: &Rc<Self>) {
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
            let sent = {
                let st = self.state.borrow();
                if st.lost {
                    return;
                }
                let chunk = st.write_buf.as_slices().0;
                if chunk.is_empty() {
                    break;
                }
                match self.sock.borrow_mut().as_mut() {
                    Some(sock) => sock.write(chunk),
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
            // Protocol code may panic (natively it unwinds): asyncio's rule makes that a
            // fatal error of this transport, reported, and the loop goes on.
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| match &protocol {
                ProtocolSlot::Stream(p) => {
                    let mut buf = ev.take_read_buffer(READ_CHUNK);
                    let read = self.sock_read(&mut buf);
                    if let Ok(n) = read {
                        if n > 0 {
                            p.borrow_mut().data_received(&buf[..n]);
                        }
                    }
                    ev.put_read_buffer(buf);
                    Some(read)
                }
                ProtocolSlot::Buffered(p) => {
                    let mut p = p.borrow_mut();
                    let buf = p.get_buffer(READ_CHUNK);
                    if buf.is_empty() {
                        return None;
                    }
                    let read = self.sock_read(buf);
                    if let Ok(n) = read {
                        if n > 0 {
                            p.buffer_updated(n);
                        }
                    }
                    Some(read)
                }
            }));
            let outcome = match outcome {
                Ok(Some(outcome)) => outcome,
                Ok(None) => {
                    let error = Error::invalid_state("get_buffer() returned an empty buffer");
                    self.protocol_failed(ev, error, "get_buffer");
                    return;
                }
                Err(payload) => {
                    let what = match protocol {
                        ProtocolSlot::Stream(_) => "data_received",
                        ProtocolSlot::Buffered(_) => "get_buffer/buffer_updated",
                    };
                    self.protocol_failed(ev, Error::Panic(panic_message(&*payload)), what);
                    return;
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

    /// asyncio's "Fatal error: protocol.X() call failed.": report, then close now.
    fn protocol_failed(self: &Rc<Self>, ev: &EventLoop, error: Error, what: &str) {
        let message = format!("Fatal error: protocol.{what}() call failed.");
        self.report_fatal(ev, error.clone(), &message);
        self.force_close(Some(error));
    }

    fn eof(self: &Rc<Self>, ev: &EventLoop, protocol: &ProtocolSlot) {
        let keep_open = match panic::catch_unwind(AssertUnwindSafe(|| protocol.eof_received())) {
            Ok(keep_open) => keep_open,
            Err(payload) => {
                self.protocol_failed(ev, Error::Panic(panic_message(&*payload)), "eof_received");
                return;
            }
        };
        if keep_open {
            self.state.borrow_mut().eof_received = true;
            self.update_interest(ev);
        } else {
            self.close();
        }
    }

    pub(super) fn maybe_pause_protocol(self: &Rc<Self>) {
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

    pub(super) fn maybe_resume_protocol(self: &Rc<Self>) {
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
    pub(super) fn force_close(self: &Rc<Self>, error: Option<Error>) {
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
