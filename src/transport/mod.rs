//! `Transport`: asyncio's TCP transport (`_SelectorSocketTransport`), one for both targets.
//!
//! Writes go straight to the socket when it takes them; the rest waits in a buffer and is
//! sent, in order, when the socket is writable. Reads are delivered to the protocol as they
//! arrive. Flow control calls the protocol's `pause_writing`/`resume_writing` at the
//! buffer's high and low marks.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;

mod inner;

use inner::State;
pub(crate) use inner::TransportInner;

use crate::error::{Error, Result};
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
