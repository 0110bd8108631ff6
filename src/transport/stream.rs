//! `StreamTransport`: the stream layer over any [`ByteStream`] (asyncio's
//! `_SelectorSocketTransport`, uvloop's `UVStream`): the read path, the write buffer and
//! its hard limit, half-close, close and abort, and the I/O readiness handler.
//!
//! Fairness: one readiness report reads at most [`READ_BUDGET`] bytes. A source that may
//! still hold data after that is come back to in a later turn (natively, where readiness
//! is edge-triggered, by queueing a report for it; the guest's reactor reports it again
//! by itself), so one busy connection cannot starve the others.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::rc::{Rc, Weak};

use super::base::{schedule_connection_lost, Teardown, TransportBase};
use super::source::{ByteStream, Direction, StreamSource};
use super::ExtraInfo;
use crate::error::{panic_message, Error, Result};
use crate::event_loop::{bump, ByteCounters};
use crate::handle::TimerHandle;
use crate::io_registry::IoHandler;
use crate::protocol::{ProtocolSlot, SlotKind};
use crate::registration::Registration;
use crate::sys::{self, Interest};
use crate::EventLoop;

/// How much one read asks for (asyncio's `max_size`, 256 KiB).
pub(crate) const READ_CHUNK: usize = 256 * 1024;
/// How much one readiness report may read, in one or more reads, before the transport
/// lets the rest of the loop run.
pub(crate) const READ_BUDGET: usize = 256 * 1024;
/// A write buffer that drained empty keeps at most this much capacity.
const KEEP_CAPACITY: usize = 256 * 1024;

pub(crate) struct StreamTransport {
    pub(crate) base: TransportBase,
    /// `None` once the connection is lost and the source closed.
    source: RefCell<Option<Registration<StreamSource>>>,
    /// asyncio's `_extra`: what `get_extra_info` answers; `"socket"` goes with the source.
    extra: RefCell<Vec<(&'static str, ExtraInfo)>>,
    can_write_eof: std::cell::Cell<bool>,
    /// A pipe end goes one way (asyncio's `ReadTransport` and `WriteTransport`).
    direction: Direction,
    /// A short read empties the source (see `ByteStream::short_read_drains`), until the
    /// backend reports the peer's close.
    short_read_drains: std::cell::Cell<bool>,
    /// Bytes moved by this transport, and by every stream transport of the loop.
    pub(super) bytes: ByteCounters,
    loop_bytes: Rc<ByteCounters>,
    pub(super) state: RefCell<State>,
}

pub(super) struct State {
    write_buf: VecDeque<u8>,
    reading_paused: bool,
    started: bool,
    /// The peer sent EOF and the protocol chose to keep the transport open.
    eof_received: bool,
    /// The turn of the last read: a second report in one turn (the one queued by
    /// `come_back` and the backend's own) says nothing new, and one budget per turn is
    /// the fairness rule.
    read_turn: u64,
    eof_requested: bool,
    eof_sent: bool,
    /// A `sendfile` runs: `write` refuses meanwhile (asyncio's rule).
    pub(super) sendfile_active: bool,
    /// The running `sendfile` waits for writability of the source itself.
    pub(super) sendfile_wants_write: bool,
    /// Writability reports so far (a waiting `sendfile` compares them).
    pub(super) writable_reports: u64,
    /// Tasks waiting for the write side to make progress (`sendfile`).
    progress: Vec<std::task::Waker>,
    /// Aborts a close that takes longer than the source's shutdown timeout.
    shutdown_timer: Option<TimerHandle>,
}

impl StreamTransport {
    /// Registers `stream` with the loop; `connection_made` and reading start on the next
    /// turn.
    pub(crate) fn start(
        ev: &EventLoop,
        stream: Box<dyn ByteStream>,
        protocol: ProtocolSlot,
        on_lost: Option<Box<dyn FnOnce()>>,
    ) -> Rc<StreamTransport> {
        let name = format!("<Transport {}>", stream.describe());
        let extra = stream.extra_info();
        let can_write_eof = stream.can_write_eof();
        let direction = stream.direction();
        let short_read_drains = sys::SHORT_READ_DRAINS && stream.short_read_drains();
        let registration = Registration::new(ev, StreamSource(stream));
        let this = Rc::new(StreamTransport {
            base: TransportBase::new(ev, protocol, name, on_lost),
            source: RefCell::new(None),
            extra: RefCell::new(extra),
            can_write_eof: std::cell::Cell::new(can_write_eof),
            direction,
            short_read_drains: std::cell::Cell::new(short_read_drains),
            bytes: ByteCounters::default(),
            loop_bytes: ev.byte_counters(),
            state: RefCell::new(State {
                write_buf: VecDeque::new(),
                reading_paused: false,
                started: false,
                eof_received: false,
                read_turn: u64::MAX,
                eof_requested: false,
                eof_sent: false,
                sendfile_active: false,
                sendfile_wants_write: false,
                writable_reports: 0,
                progress: Vec::new(),
                shutdown_timer: None,
            }),
        });
        registration.set_handler(this.clone());
        *this.source.borrow_mut() = Some(registration);
        this
    }

    /// Marks the transport started (after `connection_made`) and begins reading.
    pub(crate) fn started(&self) {
        self.state.borrow_mut().started = true;
        self.update_interest();
        self.come_back_if_buffered();
    }

    pub(crate) fn can_write_eof(&self) -> bool {
        self.can_write_eof.get()
    }

    pub(crate) fn extra_info(&self, name: &str) -> Option<ExtraInfo> {
        self.extra
            .borrow()
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    }

    pub(crate) fn write_buffer_size(&self) -> usize {
        self.state.borrow().write_buf.len()
    }

    pub(crate) fn is_reading(&self) -> bool {
        !self.state.borrow().reading_paused && !self.base.is_closing()
    }

    /// asyncio's `pause_reading` / `resume_reading`.
    pub(crate) fn set_reading_paused(&self, paused: bool) {
        if self.base.is_closing() {
            return;
        }
        let changed = std::mem::replace(&mut self.state.borrow_mut().reading_paused, paused);
        if changed != paused {
            self.update_interest();
            if !paused {
                // Data may have arrived while paused, and natively its edge is spent.
                self.state.borrow_mut().read_turn = u64::MAX;
                self.come_back(Interest::READ);
            }
        }
    }

    /// Registers the directions this transport needs now; a backend call only on change.
    pub(super) fn update_interest(&self) {
        let source_wants_write = self
            .source
            .borrow()
            .as_ref()
            .is_some_and(|s| s.source().0.wants_write());
        let wanted = {
            let st = self.state.borrow();
            let closing = self.base.is_closing();
            let reading = match self.direction {
                // A write end is watched for its reader going away.
                Direction::WriteOnly => st.started && !closing,
                _ => st.started && !closing && !st.reading_paused && !st.eof_received,
            };
            Interest {
                read: reading,
                write: !self.base.is_lost()
                    && (!st.write_buf.is_empty()
                        || source_wants_write
                        || closing
                        || (st.eof_requested && !st.eof_sent)
                        || st.sendfile_wants_write),
            }
        };
        let mut source = self.source.borrow_mut();
        if let Some(source) = source.as_mut() {
            if let Err(e) = source.set_interest(wanted) {
                log::debug!("set_interest failed on {}: {e}", self.base.name);
            }
        }
    }

    /// Has this transport reported again on the next turn (see
    /// `Registration::report_next_turn`); on every target when the source holds input no
    /// readiness will announce.
    fn come_back(&self, interest: Interest) {
        if let Some(source) = self.source.borrow().as_ref() {
            if source.source().0.has_buffered_input() {
                source.report_next_turn_always(interest);
            } else {
                source.report_next_turn(interest);
            }
        }
    }

    /// Input the source took in before it was watched (during a TLS handshake) is read
    /// on the next turn.
    fn come_back_if_buffered(&self) {
        if let Some(source) = self.source.borrow().as_ref() {
            if source.source().0.has_buffered_input() {
                source.report_next_turn_always(Interest::READ);
            }
        }
    }

    pub(super) fn with_source<T>(
        &self,
        f: impl FnOnce(&mut dyn ByteStream) -> io::Result<T>,
    ) -> Option<io::Result<T>> {
        let mut source = self.source.borrow_mut();
        source
            .as_mut()
            .map(|registration| f(&mut *registration.source_mut().0))
    }

    pub(crate) fn write(self: &Rc<Self>, data: &[u8]) -> Result<()> {
        self.write_checked(data, true)
    }

    /// `write` for the layers above (a `sendfile` fallback's own writes): the same, but
    /// allowed while a `sendfile` runs.
    pub(super) fn write_data(self: &Rc<Self>, data: &[u8]) -> Result<()> {
        self.write_checked(data, false)
    }

    #[inline]
    fn write_checked(self: &Rc<Self>, data: &[u8], refuse_in_sendfile: bool) -> Result<()> {
        if self.direction == Direction::ReadOnly {
            return Err(Error::invalid_state("cannot write() to a read pipe"));
        }
        let buffered = {
            let st = self.state.borrow();
            if refuse_in_sendfile && st.sendfile_active {
                return Err(Error::invalid_state(
                    "cannot write() while sendfile is in progress",
                ));
            }
            if st.eof_requested {
                return Err(Error::invalid_state("cannot write() after write_eof()"));
            }
            st.write_buf.len()
        };
        if self.base.is_closing() {
            return Err(Error::invalid_state(
                "cannot write() to a closing transport",
            ));
        }
        if data.is_empty() {
            return Ok(());
        }
        let mut rest = data;
        if buffered == 0 {
            match self.with_source(|s| s.write(data)) {
                Some(Ok(n)) => {
                    self.count_written(n);
                    rest = &data[n..];
                }
                Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                Some(Err(e)) => {
                    self.fatal_error(e.into(), "Fatal write error on socket transport");
                    return Ok(());
                }
                None => {}
            }
            if rest.is_empty() {
                // All of it went out and nothing is buffered: no mark was crossed.
                return Ok(());
            }
        }
        let buffered = buffered + rest.len();
        if let Some(error) = self.base.over_max(buffered) {
            // The caller gets the error here and the protocol in connection_lost; what
            // was accepted before is dropped with the connection, as on abort.
            self.force_close(Some(error.clone()));
            return Err(error);
        }
        self.state.borrow_mut().write_buf.extend(rest);
        self.update_interest();
        self.base.maybe_pause_protocol(buffered);
        Ok(())
    }

    pub(crate) fn write_eof(self: &Rc<Self>) -> Result<()> {
        match self.direction {
            Direction::ReadOnly => {
                return Err(Error::invalid_state("cannot write_eof() on a read pipe"))
            }
            // A pipe's end of file is its closing (asyncio's write pipe transport).
            Direction::WriteOnly => {
                self.close();
                return Ok(());
            }
            Direction::Both => {}
        }
        if self.base.is_closing() || self.state.borrow().eof_requested {
            return Ok(());
        }
        self.state.borrow_mut().eof_requested = true;
        self.flush_and_finish();
        Ok(())
    }

    pub(crate) fn close(self: &Rc<Self>) {
        if self.base.start_closing() {
            self.arm_shutdown_timer();
            self.flush_and_finish();
        }
    }

    /// A source with a shutdown timeout (TLS) gets that long to send what is left and say
    /// goodbye; then the connection is aborted with [`Error::TlsTimeout`].
    fn arm_shutdown_timer(self: &Rc<Self>) {
        let limit = self
            .source
            .borrow()
            .as_ref()
            .and_then(|s| s.source().0.shutdown_timeout());
        let (Some(limit), Some(ev)) = (limit, self.base.ev()) else {
            return;
        };
        let this: Weak<StreamTransport> = Rc::downgrade(self);
        let timer = ev.call_later(limit, move |_| {
            if let Some(this) = this.upgrade() {
                this.force_close(Some(Error::TlsTimeout {
                    phase: "shutdown",
                    limit,
                }));
            }
        });
        match timer {
            Ok(timer) => self.state.borrow_mut().shutdown_timer = Some(timer),
            Err(e) => log::debug!("no shutdown timer for {}: {e}", self.base.name),
        }
    }

    pub(crate) fn abort(self: &Rc<Self>) {
        self.force_close(None);
    }

    /// Sends buffered data; once the buffer is empty, performs a pending half-close or
    /// close. Called on writability and after `write_eof`/`close`.
    fn flush_and_finish(self: &Rc<Self>) {
        // What the source itself holds (TLS records) goes out first.
        match self.with_source(|s| if s.wants_write() { s.flush() } else { Ok(()) }) {
            Some(Err(e)) if e.kind() != io::ErrorKind::WouldBlock => {
                self.fatal_error(e.into(), "Fatal write error on socket transport");
                return;
            }
            _ => {}
        }
        loop {
            if self.base.is_lost() {
                return;
            }
            let sent = {
                let st = self.state.borrow();
                let chunk = st.write_buf.as_slices().0;
                if chunk.is_empty() {
                    break;
                }
                match self.with_source(|s| s.write(chunk)) {
                    Some(sent) => sent,
                    None => return,
                }
            };
            match sent {
                Ok(n) => {
                    self.count_written(n);
                    let mut st = self.state.borrow_mut();
                    st.write_buf.drain(..n);
                    if st.write_buf.is_empty() && st.write_buf.capacity() > KEEP_CAPACITY {
                        st.write_buf = VecDeque::new();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    self.fatal_error(e.into(), "Fatal write error on socket transport");
                    return;
                }
            }
        }
        self.base.maybe_resume_protocol(self.write_buffer_size());
        let (empty, eof_pending) = {
            let st = self.state.borrow();
            (st.write_buf.is_empty(), st.eof_requested && !st.eof_sent)
        };
        let closing = self.base.is_closing();
        if empty && (closing || eof_pending) {
            let finished = self.with_source(|s| {
                if closing {
                    s.start_close();
                }
                s.flush()?;
                if !closing {
                    s.shutdown_write()?;
                }
                Ok(())
            });
            match finished.unwrap_or(Ok(())) {
                Ok(()) if closing => {
                    schedule_connection_lost(self, None);
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
        self.update_interest();
    }

    fn may_read(&self) -> bool {
        let st = self.state.borrow();
        !self.base.is_closing() && !st.reading_paused && !st.eof_received && st.started
    }

    /// Reads up to [`READ_BUDGET`] bytes and hands them to the protocol.
    fn read_ready(self: &Rc<Self>, ev: &EventLoop) {
        if self.direction == Direction::WriteOnly {
            self.check_reader();
            return;
        }
        let turn = ev.turn_number();
        if std::mem::replace(&mut self.state.borrow_mut().read_turn, turn) == turn {
            return;
        }
        let mut budget = READ_BUDGET;
        while self.may_read() {
            let Some(protocol) = self.base.protocol() else {
                return;
            };
            if !self.base.protocol_free(&protocol) {
                // Data goes to the protocol after the calls waiting for it, never inside
                // one of its callbacks: it stays in the socket until then.
                self.come_back(Interest::READ);
                return;
            }
            // Protocol code may panic (natively it unwinds): asyncio's rule makes that a
            // fatal error of this transport, reported, and the loop goes on.
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| match &protocol.kind {
                SlotKind::Stream(p) => ev.with_read_buffer(READ_CHUNK, |buf| {
                    let asked = budget.min(READ_CHUNK);
                    let read = self.read_into(&mut buf[..asked]);
                    if let Ok(n) = read {
                        if n > 0 {
                            p.borrow_mut().data_received(&buf[..n]);
                        }
                    }
                    Some(read.map(|n| (n, asked)))
                }),
                SlotKind::Buffered(p) => {
                    let mut p = p.borrow_mut();
                    let buf = p.get_buffer(budget.min(READ_CHUNK));
                    if buf.is_empty() {
                        return None;
                    }
                    let asked = buf.len();
                    let read = self.read_into(buf);
                    if let Ok(n) = read {
                        if n > 0 {
                            p.buffer_updated(n);
                        }
                    }
                    Some(read.map(|n| (n, asked)))
                }
            }));
            let read = match outcome {
                Ok(Some(read)) => read,
                Ok(None) => {
                    let error = Error::invalid_state("get_buffer() returned an empty buffer");
                    self.protocol_failed(ev, error, "get_buffer");
                    return;
                }
                Err(payload) => {
                    let what = match protocol.kind {
                        SlotKind::Stream(_) => "data_received",
                        SlotKind::Buffered(_) => "get_buffer/buffer_updated",
                    };
                    self.protocol_failed(ev, Error::Panic(panic_message(&*payload)), what);
                    return;
                }
            };
            match read {
                Ok((0, _)) => {
                    self.eof(ev, &protocol);
                    return;
                }
                // Emptied: the next report brings more (no read that says WouldBlock).
                Ok((n, asked)) if n < asked && self.short_read_drains.get() => return,
                Ok((n, _)) => {
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        // Maybe more is there: later, after everyone else had a turn.
                        if self.may_read() {
                            self.come_back(Interest::READ);
                        }
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    self.fatal_error(e.into(), "Fatal read error on socket transport");
                    return;
                }
            }
        }
    }

    /// asyncio's write pipe `_read_ready`: the reader is gone, so what is buffered cannot
    /// be sent (BrokenPipe); with nothing buffered the transport just closes.
    fn check_reader(self: &Rc<Self>) {
        if !matches!(self.read_into(&mut []), Ok(0)) {
            return;
        }
        if self.write_buffer_size() > 0 {
            let error = io::Error::from(io::ErrorKind::BrokenPipe);
            self.fatal_error(error.into(), "Fatal error on pipe transport");
        } else {
            self.close();
        }
    }

    fn read_into(&self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self
            .with_source(|s| s.read(buf))
            .unwrap_or_else(|| Err(io::ErrorKind::WouldBlock.into()));
        if let Ok(n) = read {
            bump(&self.bytes.read, n as u64);
            bump(&self.loop_bytes.read, n as u64);
        }
        read
    }

    /// Counts what a source took.
    pub(super) fn count_written(&self, n: usize) {
        bump(&self.bytes.written, n as u64);
        bump(&self.loop_bytes.written, n as u64);
    }

    /// asyncio's "Fatal error: protocol.X() call failed.": report, then close now.
    fn protocol_failed(self: &Rc<Self>, ev: &EventLoop, error: Error, what: &str) {
        let message = format!("Fatal error: protocol.{what}() call failed.");
        self.base.report_fatal(ev, error.clone(), &message);
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
        // A read pipe closes at its end whatever the protocol says (asyncio's read pipe
        // transport): nothing could be written on it.
        if keep_open && self.direction == Direction::Both {
            self.state.borrow_mut().eof_received = true;
            self.update_interest();
        } else {
            self.close();
        }
    }

    /// asyncio's `_fatal_error`: report unless it is an OS error, then close now.
    pub(super) fn fatal_error(self: &Rc<Self>, error: Error, message: &str) {
        self.base.report_unless_os_error(&error, message);
        self.force_close(Some(error));
    }

    /// asyncio's `_force_close`: drop the buffer, stop everything, schedule
    /// `connection_lost(error)`.
    pub(crate) fn force_close(self: &Rc<Self>, error: Option<Error>) {
        if self.base.is_lost() {
            return;
        }
        self.state.borrow_mut().write_buf = VecDeque::new();
        self.base.start_closing();
        schedule_connection_lost(self, error);
    }

    /// Ready once the write buffer is empty (all of it handed to the source: futures-io's
    /// `poll_flush`); an error if the connection is lost first.
    pub(crate) fn poll_flushed(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<()>> {
        if self.write_buffer_size() == 0 {
            return std::task::Poll::Ready(Ok(()));
        }
        if self.base.is_lost() {
            let error = io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the connection was lost before its write buffer was flushed",
            );
            return std::task::Poll::Ready(Err(error.into()));
        }
        self.wait_progress(cx.waker());
        std::task::Poll::Pending
    }

    /// Wakes the tasks waiting for the write side (`sendfile`).
    pub(super) fn wake_progress(&self) {
        let waiters = std::mem::take(&mut self.state.borrow_mut().progress);
        for waker in waiters {
            waker.wake();
        }
    }

    /// Registers a task to wake on the write side's next progress.
    pub(super) fn wait_progress(&self, waker: &std::task::Waker) {
        let mut st = self.state.borrow_mut();
        if !st.progress.iter().any(|w| w.will_wake(waker)) {
            st.progress.push(waker.clone());
        }
    }
}

impl StreamTransport {
    /// `start_tls`, first half: takes the byte stream out of the loop (the transport stays,
    /// with its protocol and buffer, and reads nothing meanwhile). `None` once lost.
    pub(crate) fn take_source(&self) -> Option<Box<dyn ByteStream>> {
        if self.base.is_lost() {
            return None;
        }
        let registration = self.source.borrow_mut().take()?;
        Some(registration.into_source().0)
    }

    /// What `write` buffered and the socket did not take yet: sent before anything the
    /// new source sends.
    pub(crate) fn take_write_buffer(&self) -> Vec<u8> {
        let buffered: Vec<u8> = self.state.borrow_mut().write_buf.drain(..).collect();
        self.base.maybe_resume_protocol(0);
        buffered
    }

    /// `start_tls`, second half: the upgraded stream takes the old one's place.
    pub(crate) fn replace_source(self: &Rc<Self>, ev: &EventLoop, stream: Box<dyn ByteStream>) {
        *self.extra.borrow_mut() = stream.extra_info();
        self.can_write_eof.set(stream.can_write_eof());
        self.short_read_drains
            .set(sys::SHORT_READ_DRAINS && stream.short_read_drains());
        let registration = Registration::new(ev, StreamSource(stream));
        registration.set_handler(self.clone());
        *self.source.borrow_mut() = Some(registration);
        self.state.borrow_mut().read_turn = u64::MAX;
        self.update_interest();
        if self.base.is_closing() {
            self.arm_shutdown_timer();
        }
        self.flush_and_finish();
        self.come_back_if_buffered();
    }
}

impl Teardown for StreamTransport {
    type Protocol = ProtocolSlot;

    fn base(&self) -> &TransportBase {
        &self.base
    }

    fn stop_watching(&self) {
        self.update_interest();
    }

    fn release(&self) {
        let timer = self.state.borrow_mut().shutdown_timer.take();
        if let Some(timer) = timer {
            timer.cancel();
        }
        let source = self.source.borrow_mut().take();
        drop(source);
        self.extra.borrow_mut().retain(|(key, _)| *key != "socket");
        self.base.finish();
        self.wake_progress();
    }
}

impl IoHandler for StreamTransport {
    fn io_event(self: Rc<Self>, ev: &EventLoop, event: &sys::Event) {
        if event.read_closed {
            // What is left ends in EOF or an error, and nothing will report it again.
            self.short_read_drains.set(false);
        }
        self.io_ready(ev, event.readable, event.writable)
    }

    fn io_ready(self: Rc<Self>, ev: &EventLoop, readable: bool, writable: bool) {
        if writable {
            self.state.borrow_mut().writable_reports += 1;
            self.flush_and_finish();
            self.wake_progress();
        }
        if readable {
            self.read_ready(ev);
        }
    }
}
