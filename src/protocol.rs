//! Protocols: the callbacks a transport drives (asyncio's `asyncio.Protocol` and
//! `asyncio.BufferedProtocol`).

use std::cell::RefCell;
use std::rc::Rc;

use crate::error::Error;
use crate::transport::Transport;

/// What every protocol has: asyncio's `asyncio.BaseProtocol`. [`Protocol`] and
/// [`BufferedProtocol`] extend it; so will the datagram and subprocess protocols. Every
/// method has a default that does nothing, so a protocol implements only what it needs
/// (an empty `impl BaseProtocol for X {}` is fine).
///
/// `T` is the transport the protocol is handed. It defaults to the stream [`Transport`],
/// which is what [`Protocol`] and [`BufferedProtocol`] use; a datagram protocol would
/// extend `BaseProtocol<DatagramTransport>` instead.
///
/// Call order: `connection_made` once, first; then the callbacks of the protocol kind
/// (for a [`Protocol`], `data_received` any number of times, then `eof_received` at most
/// once); then `connection_lost` exactly once, last. `pause_writing` and
/// `resume_writing` come in pairs while the transport's write buffer crosses its marks:
/// each `pause_writing` is followed by one `resume_writing` (unless the connection is
/// lost first), never two pauses in a row.
///
/// ```
/// use twinloop::{BaseProtocol, Error, Protocol, Transport};
/// /// Logs its connection's life; ignores the data.
/// struct Logger;
/// impl BaseProtocol for Logger {
///     fn connection_made(&mut self, t: Transport) { println!("up: {:?}", t.peername()); }
///     fn connection_lost(&mut self, e: Option<Error>) { println!("down: {e:?}"); }
/// }
/// impl Protocol for Logger {}
/// ```
///
/// The loop is one call away in every callback: the transport handed to
/// `connection_made` knows it ([`Transport::get_loop`]), so a protocol keeps what it
/// needs from there, with no `get_running_loop().unwrap()`:
///
/// ```
/// use std::time::Duration;
/// use twinloop::{BaseProtocol, Protocol, TimerHandle, Transport};
/// /// Hangs up on a peer that stays silent for 10 s.
/// struct IdleTimeout { transport: Option<Transport>, timer: Option<TimerHandle> }
/// impl IdleTimeout {
///     fn rearm(&mut self) {
///         if let Some(old) = self.timer.take() { old.cancel(); }
///         let Some(t) = self.transport.clone() else { return };
///         let Ok(ev) = t.get_loop() else { return }; // Err only once the loop is gone
///         self.timer = ev.call_later(Duration::from_secs(10), move |_| t.close()).ok();
///     }
/// }
/// impl BaseProtocol for IdleTimeout {
///     fn connection_made(&mut self, t: Transport) { self.transport = Some(t); self.rearm(); }
///     fn connection_lost(&mut self, _: Option<twinloop::Error>) {
///         if let Some(timer) = self.timer.take() { timer.cancel(); }
///     }
/// }
/// impl Protocol for IdleTimeout {
///     fn data_received(&mut self, _data: &[u8]) { self.rearm(); }
/// }
/// ```
pub trait BaseProtocol<T = Transport>: 'static {
    /// The connection is up; keep the transport to write to it.
    fn connection_made(&mut self, transport: T) {
        let _ = transport;
    }
    /// The connection is gone: `None` after a normal close or EOF, else the error.
    fn connection_lost(&mut self, error: Option<Error>) {
        let _ = error;
    }
    /// The transport's write buffer went over its high-water mark: stop writing.
    fn pause_writing(&mut self) {}
    /// The transport's write buffer drained to its low-water mark: writing may go on.
    fn resume_writing(&mut self) {}
}

/// A stream protocol: asyncio's `asyncio.Protocol`. It extends [`BaseProtocol`], which
/// has `connection_made`, `connection_lost` and the flow-control callbacks (and the call
/// order); this trait adds the data callbacks. Every method has a default that does
/// nothing.
///
/// ```
/// use twinloop::{BaseProtocol, Protocol, Transport};
/// struct Echo(Option<Transport>);
/// impl BaseProtocol for Echo {
///     fn connection_made(&mut self, t: Transport) { self.0 = Some(t); }
/// }
/// impl Protocol for Echo {
///     fn data_received(&mut self, data: &[u8]) {
///         if let Some(t) = &self.0 { let _ = t.write(data); }
///     }
/// }
/// ```
pub trait Protocol: BaseProtocol<Transport> {
    /// Bytes arrived. The slice is only valid during the call.
    fn data_received(&mut self, data: &[u8]) {
        let _ = data;
    }
    /// The peer half-closed. Return true to keep the transport open (to keep writing);
    /// false (the default) closes it.
    fn eof_received(&mut self) -> bool {
        false
    }
}

/// A protocol that receives data straight into its own buffer: asyncio's
/// `asyncio.BufferedProtocol`. It extends [`BaseProtocol`] as [`Protocol`] does, with
/// the same call order (`get_buffer`/`buffer_updated` in place of `data_received`). Use
/// it through [`Buffered`].
///
/// ```
/// use twinloop::{BaseProtocol, BufferedProtocol, Transport};
/// struct Sink { buf: Vec<u8>, total: usize }
/// impl BaseProtocol for Sink {}
/// impl BufferedProtocol for Sink {
///     fn get_buffer(&mut self, _size_hint: usize) -> &mut [u8] { &mut self.buf }
///     fn buffer_updated(&mut self, nbytes: usize) { self.total += nbytes; }
/// }
/// ```
pub trait BufferedProtocol: BaseProtocol<Transport> {
    /// A buffer for the next read; at least one byte long. `size_hint` is how much the
    /// transport would like to read.
    fn get_buffer(&mut self, size_hint: usize) -> &mut [u8];
    /// The first `nbytes` of the last buffer now hold received data.
    fn buffer_updated(&mut self, nbytes: usize);
    /// As [`Protocol::eof_received`].
    fn eof_received(&mut self) -> bool {
        false
    }
}

/// Marks a [`BufferedProtocol`] for the loop's connection methods:
/// `ev.create_connection(|| Buffered(MyProtocol::new()), ...)`.
///
/// ```
/// use twinloop::{BaseProtocol, Buffered, BufferedProtocol, ConnectOptions, LoopFuture, ServerOptions};
/// # use twinloop::Protocol; struct Quiet; impl BaseProtocol for Quiet {} impl Protocol for Quiet {}
/// /// Reads into one fixed buffer; hands over the byte count at the end.
/// struct Counter { buf: [u8; 4096], total: usize, done: LoopFuture<usize> }
/// impl BaseProtocol for Counter {
///     fn connection_lost(&mut self, _: Option<twinloop::Error>) { let _ = self.done.set_result(self.total); }
/// }
/// impl BufferedProtocol for Counter {
///     fn get_buffer(&mut self, _size_hint: usize) -> &mut [u8] { &mut self.buf }
///     fn buffer_updated(&mut self, nbytes: usize) { self.total += nbytes; }
/// }
/// # twinloop::EventLoop::new()?.run_until_complete(async { let ev = twinloop::get_running_loop()?;
/// let done = ev.create_future();
/// let d = done.clone();
/// let factory = move || Buffered(Counter { buf: [0; 4096], total: 0, done: d.clone() });
/// let server = ev.create_server(factory, "127.0.0.1", 0, ServerOptions::default()).await?;
/// let port = server.sockets()[0].local_addr().unwrap().port();
/// let (t, _) = ev.create_connection(|| Quiet, "127.0.0.1", port, ConnectOptions::default()).await?;
/// t.write(&vec![1; 100_000])?;
/// t.close();
/// assert_eq!(done.await?, 100_000);
/// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
/// ```
pub struct Buffered<B>(pub B);

/// What a protocol factory may return: any [`Protocol`], or a [`BufferedProtocol`] wrapped
/// in [`Buffered`]. Implemented by twinloop; not meant to be implemented elsewhere.
pub trait AnyProtocol: 'static {
    #[doc(hidden)]
    fn into_slot(this: Rc<RefCell<Self>>) -> ProtocolSlot;
}

impl<P: Protocol> AnyProtocol for P {
    fn into_slot(this: Rc<RefCell<Self>>) -> ProtocolSlot {
        ProtocolSlot {
            kind: SlotKind::Stream(this),
            name: std::any::type_name::<P>(),
        }
    }
}

impl<B: BufferedProtocol> AnyProtocol for Buffered<B> {
    fn into_slot(this: Rc<RefCell<Self>>) -> ProtocolSlot {
        ProtocolSlot {
            kind: SlotKind::Buffered(this),
            name: std::any::type_name::<B>(),
        }
    }
}

impl<B: BufferedProtocol> BaseProtocol for Buffered<B> {
    fn connection_made(&mut self, transport: Transport) {
        self.0.connection_made(transport)
    }
    fn connection_lost(&mut self, error: Option<Error>) {
        self.0.connection_lost(error)
    }
    fn pause_writing(&mut self) {
        self.0.pause_writing()
    }
    fn resume_writing(&mut self) {
        self.0.resume_writing()
    }
}

impl<B: BufferedProtocol> BufferedProtocol for Buffered<B> {
    fn get_buffer(&mut self, size_hint: usize) -> &mut [u8] {
        self.0.get_buffer(size_hint)
    }
    fn buffer_updated(&mut self, nbytes: usize) {
        self.0.buffer_updated(nbytes)
    }
    fn eof_received(&mut self) -> bool {
        self.0.eof_received()
    }
}

/// A transport's protocol, whichever kind it is, with its type's name for messages.
#[doc(hidden)]
#[derive(Clone)]
pub struct ProtocolSlot {
    pub(crate) kind: SlotKind,
    name: &'static str,
}

#[derive(Clone)]
pub(crate) enum SlotKind {
    Stream(Rc<RefCell<dyn Protocol>>),
    Buffered(Rc<RefCell<dyn BufferedProtocol>>),
}

impl ProtocolSlot {
    /// The protocol's type, for the exception handler's context ("<Protocol my::Echo>").
    pub(crate) fn describe(&self) -> String {
        format!("<Protocol {}>", self.name)
    }

    /// True while some code holds the protocol borrowed (a callback is running).
    pub(crate) fn is_busy(&self) -> bool {
        match &self.kind {
            SlotKind::Stream(p) => p.try_borrow_mut().is_err(),
            SlotKind::Buffered(p) => p.try_borrow_mut().is_err(),
        }
    }

    /// Runs `f` on the protocol as a [`BaseProtocol`], whichever kind it is, holding its
    /// borrow for the call.
    fn with_base<R>(&self, f: impl FnOnce(&mut dyn BaseProtocol) -> R) -> R {
        match &self.kind {
            SlotKind::Stream(p) => f(&mut *p.borrow_mut()),
            SlotKind::Buffered(p) => f(&mut *p.borrow_mut()),
        }
    }

    pub(crate) fn connection_made(&self, transport: Transport) {
        self.with_base(|p| p.connection_made(transport))
    }

    pub(crate) fn eof_received(&self) -> bool {
        match &self.kind {
            SlotKind::Stream(p) => p.borrow_mut().eof_received(),
            SlotKind::Buffered(p) => p.borrow_mut().eof_received(),
        }
    }

    pub(crate) fn connection_lost(&self, error: Option<Error>) {
        self.with_base(|p| p.connection_lost(error))
    }

    pub(crate) fn pause_writing(&self) {
        self.with_base(|p| p.pause_writing())
    }

    pub(crate) fn resume_writing(&self) {
        self.with_base(|p| p.resume_writing())
    }
}
