//! The public face of datagram endpoints: [`DatagramProtocol`], [`DatagramTransport`] and
//! what `get_extra_info("socket")` says of a UDP socket.

use std::cell::RefCell;
use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;

use super::base::ProtocolCallbacks;
use super::datagram::DatagramEngine;
use super::ExtraInfo;
use crate::error::{Error, Result};
use crate::future::LoopFuture;
use crate::protocol::BaseProtocol;
use crate::EventLoop;

/// A datagram protocol: asyncio's `asyncio.DatagramProtocol`. It extends
/// [`BaseProtocol<DatagramTransport>`](BaseProtocol) (`connection_made`,
/// `connection_lost`, `pause_writing`, `resume_writing`) with the datagram callbacks.
/// Every method has a default that does nothing.
///
/// Call order: `connection_made` once; then `datagram_received` and `error_received` any
/// number of times; then `connection_lost` exactly once (with `None` after `close`).
///
/// ```
/// use std::net::SocketAddr;
/// use twinloop::{BaseProtocol, DatagramProtocol, DatagramTransport, Error};
/// /// The asyncio page's UDP echo server protocol.
/// struct EchoServer(Option<DatagramTransport>);
/// impl BaseProtocol<DatagramTransport> for EchoServer {
///     fn connection_made(&mut self, t: DatagramTransport) { self.0 = Some(t); }
/// }
/// impl DatagramProtocol for EchoServer {
///     fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
///         if let Some(t) = &self.0 { let _ = t.sendto(data, Some(addr)); }
///     }
///     fn error_received(&mut self, error: Error) { eprintln!("error: {error}"); }
/// }
/// ```
pub trait DatagramProtocol: BaseProtocol<DatagramTransport> {
    /// A datagram arrived from `addr`. The slice is only valid during the call.
    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        let _ = (data, addr);
    }
    /// A send or receive failed (e.g. `ConnectionRefused`: the peer of a connected
    /// endpoint answered with ICMP port unreachable). The endpoint stays open.
    fn error_received(&mut self, error: Error) {
        let _ = error;
    }
}

/// A datagram transport's protocol, with its type's name for messages.
#[derive(Clone)]
pub(crate) struct DatagramSlot {
    protocol: Rc<RefCell<dyn DatagramProtocol>>,
    name: &'static str,
}

impl DatagramSlot {
    pub(crate) fn new<P: DatagramProtocol>(protocol: Rc<RefCell<P>>) -> DatagramSlot {
        DatagramSlot {
            protocol,
            name: std::any::type_name::<P>(),
        }
    }

    pub(crate) fn get(&self) -> &RefCell<dyn DatagramProtocol> {
        &self.protocol
    }
}

impl ProtocolCallbacks for DatagramSlot {
    fn describe(&self) -> String {
        format!("<Protocol {}>", self.name)
    }
    fn is_busy(&self) -> bool {
        self.protocol.try_borrow_mut().is_err()
    }
    fn connection_lost(&self, error: Option<Error>) {
        self.protocol.borrow_mut().connection_lost(error)
    }
    fn pause_writing(&self) {
        self.protocol.borrow_mut().pause_writing()
    }
    fn resume_writing(&self) {
        self.protocol.borrow_mut().resume_writing()
    }
}

/// What `get_extra_info("socket")` says of a datagram endpoint's socket.
///
/// ```
/// use twinloop::{DatagramSocketInfo, DatagramTransport, ExtraInfo};
/// fn is_connected(t: &DatagramTransport) -> bool {
///     matches!(t.get_extra_info("socket"), Some(ExtraInfo::Datagram(DatagramSocketInfo { peer: Some(_), .. })))
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatagramSocketInfo {
    /// The local address.
    pub local: SocketAddr,
    /// The peer of a connected endpoint (`remote_addr`).
    pub peer: Option<SocketAddr>,
}

/// A datagram transport (UDP): asyncio's `asyncio.DatagramTransport`, made by
/// [`EventLoop::create_datagram_endpoint`]. A handle: clones refer to the same endpoint,
/// so a protocol can keep one and answer from its callbacks.
///
/// ```
/// use std::net::SocketAddr;
/// use twinloop::{BaseProtocol, DatagramOptions, DatagramProtocol, DatagramTransport, LoopFuture};
/// # struct Echo(Option<DatagramTransport>);
/// # impl BaseProtocol<DatagramTransport> for Echo { fn connection_made(&mut self, t: DatagramTransport) { self.0 = Some(t); } }
/// # impl DatagramProtocol for Echo {
/// #     fn datagram_received(&mut self, d: &[u8], a: SocketAddr) { let _ = self.0.as_ref().unwrap().sendto(d, Some(a)); }
/// # }
/// /// Hands over the first datagram it receives.
/// struct First(LoopFuture<Vec<u8>>);
/// impl BaseProtocol<DatagramTransport> for First {}
/// impl DatagramProtocol for First {
///     fn datagram_received(&mut self, data: &[u8], _addr: SocketAddr) {
///         let _ = self.0.set_result(data.to_vec());
///     }
/// }
/// let ev = twinloop::EventLoop::new()?;
/// let reply = ev.run_until_complete(async {
///     let ev = twinloop::get_running_loop()?;
///     let (server, _) = ev // an echo server
///         .create_datagram_endpoint(|| Echo(None), Some(("127.0.0.1", 0)), None, DatagramOptions::default())
///         .await?;
///     let port = server.sockname().port();
///     let reply = ev.create_future();
///     let first = First(reply.clone());
///     let (client, _) = ev
///         .create_datagram_endpoint(move || first, None, Some(("127.0.0.1", port)), DatagramOptions::default())
///         .await?;
///     client.sendto(b"ping", None)?;
///     let reply = reply.await;
///     client.close();
///     server.close();
///     reply
/// })??;
/// assert_eq!(reply, b"ping");
/// # Ok::<(), twinloop::Error>(())
/// ```
#[derive(Clone)]
pub struct DatagramTransport {
    pub(crate) inner: Rc<DatagramEngine>,
}

impl DatagramTransport {
    /// Schedules `connection_made`, then receiving; the future completes once
    /// `connection_made` has run.
    pub(crate) fn start(
        ev: &EventLoop,
        inner: Rc<DatagramEngine>,
    ) -> Result<(DatagramTransport, LoopFuture<()>)> {
        let transport = DatagramTransport { inner };
        let made = transport.clone();
        let started = ev.create_future();
        let done = started.clone();
        ev.call_soon(move |_| {
            if let Some(protocol) = made.inner.base.protocol() {
                protocol.get().borrow_mut().connection_made(made.clone());
            }
            made.inner.started();
            let _ = done.set_result(());
        })?;
        Ok((transport, started))
    }

    /// asyncio's `sendto(data, addr)`: sends one datagram to `addr`, or, with `None`, to
    /// the endpoint's `remote_addr`. An empty `data` sends a zero-length datagram (as
    /// Python 3.13 does). What the socket does not take now is queued, as a copy, and sent
    /// in order when it can be (counted by [`DatagramTransport::get_write_buffer_size`]).
    /// A socket error goes to the protocol's `error_received`; the endpoint stays open.
    /// On a closing endpoint the datagram is dropped silently (logged after 5 of them).
    ///
    /// Errors: [`Error::InvalidArgument`] for an `addr` other than the `remote_addr` of a
    /// connected endpoint, or no `addr` on an endpoint without one;
    /// [`Error::WriteBufferFull`] past the hard limit (the endpoint closes with it, as
    /// [`Transport::write`](crate::Transport::write) does).
    ///
    /// ```
    /// # use twinloop::{BaseProtocol, DatagramOptions, DatagramProtocol, DatagramTransport};
    /// # struct Quiet; impl BaseProtocol<DatagramTransport> for Quiet {} impl DatagramProtocol for Quiet {}
    /// # twinloop::EventLoop::new()?.run_until_complete(async { let ev = twinloop::get_running_loop()?;
    /// let (t, _) = ev
    ///     .create_datagram_endpoint(|| Quiet, None, Some(("127.0.0.1", 9)), DatagramOptions::default())
    ///     .await?;
    /// t.sendto(b"", None)?; // a zero-length datagram to the discard port
    /// let other = "127.0.0.1:10".parse().unwrap();
    /// assert!(matches!(t.sendto(b"x", Some(other)), Err(twinloop::Error::InvalidArgument(_))));
    /// t.close();
    /// t.sendto(b"late", None)?; // dropped silently
    /// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
    /// ```
    pub fn sendto(&self, data: &[u8], addr: Option<SocketAddr>) -> Result<()> {
        self.inner.sendto(data, addr)
    }

    /// asyncio's `close`: stop receiving; once the queued datagrams are sent, close the
    /// socket and call `connection_lost(None)`. Idempotent. Example:
    /// [`DatagramTransport::sendto`].
    pub fn close(&self) {
        self.inner.close();
    }

    /// asyncio's `abort`: close now, dropping queued datagrams; `connection_lost(None)`
    /// follows.
    ///
    /// ```
    /// # use twinloop::{BaseProtocol, DatagramOptions, DatagramProtocol, DatagramTransport};
    /// # struct Quiet; impl BaseProtocol<DatagramTransport> for Quiet {} impl DatagramProtocol for Quiet {}
    /// # twinloop::EventLoop::new()?.run_until_complete(async { let ev = twinloop::get_running_loop()?;
    /// let (t, _) = ev
    ///     .create_datagram_endpoint(|| Quiet, Some(("127.0.0.1", 0)), None, DatagramOptions::default())
    ///     .await?;
    /// t.abort();
    /// assert!(t.is_closing());
    /// assert_eq!(t.get_write_buffer_size(), 0);
    /// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
    /// ```
    pub fn abort(&self) {
        self.inner.force_close(None);
    }

    /// asyncio's `is_closing`: true once `close`, `abort` or a fatal error happened.
    pub fn is_closing(&self) -> bool {
        self.inner.base.is_closing()
    }

    /// asyncio's `get_extra_info`: `"sockname"`, `"peername"` (connected endpoints only)
    /// or `"socket"` ([`ExtraInfo::Datagram`], until the endpoint is lost); `None` for
    /// other names.
    ///
    /// ```
    /// # use twinloop::{BaseProtocol, DatagramOptions, DatagramProtocol, DatagramTransport};
    /// # struct Quiet; impl BaseProtocol<DatagramTransport> for Quiet {} impl DatagramProtocol for Quiet {}
    /// # twinloop::EventLoop::new()?.run_until_complete(async { let ev = twinloop::get_running_loop()?;
    /// use twinloop::{DatagramSocketInfo, ExtraInfo};
    /// let (t, _) = ev
    ///     .create_datagram_endpoint(|| Quiet, Some(("127.0.0.1", 0)), None, DatagramOptions::default())
    ///     .await?;
    /// let local = t.sockname();
    /// assert_eq!(t.get_extra_info("sockname"), Some(ExtraInfo::Addr(local)));
    /// assert_eq!(t.get_extra_info("peername"), None); // not connected
    /// let socket = ExtraInfo::Datagram(DatagramSocketInfo { local, peer: None });
    /// assert_eq!(t.get_extra_info("socket"), Some(socket));
    /// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
    /// ```
    pub fn get_extra_info(&self, name: &str) -> Option<ExtraInfo> {
        match name {
            "sockname" => Some(ExtraInfo::Addr(self.inner.local)),
            "peername" => self.inner.peer.map(ExtraInfo::Addr),
            "socket" if !self.inner.is_lost() => Some(ExtraInfo::Datagram(DatagramSocketInfo {
                local: self.inner.local,
                peer: self.inner.peer,
            })),
            _ => None,
        }
    }

    /// The local address (`get_extra_info("sockname")`). Example:
    /// [`DatagramTransport::get_extra_info`].
    pub fn sockname(&self) -> SocketAddr {
        self.inner.local
    }

    /// The `remote_addr` of a connected endpoint (`get_extra_info("peername")`).
    pub fn peername(&self) -> Option<SocketAddr> {
        self.inner.peer
    }

    /// asyncio's `get_write_buffer_size`: payload bytes of the datagrams queued because
    /// the socket would not take them yet. Example: [`DatagramTransport::abort`].
    pub fn get_write_buffer_size(&self) -> usize {
        self.inner.write_buffer_size()
    }

    /// asyncio's `set_write_buffer_limits`: `pause_writing` is called when the queue goes
    /// over `high`, `resume_writing` when it drains to `low` (same rules and defaults as
    /// [`Transport::set_write_buffer_limits`](crate::Transport::set_write_buffer_limits)).
    ///
    /// ```
    /// # use twinloop::{BaseProtocol, DatagramOptions, DatagramProtocol, DatagramTransport};
    /// # struct Quiet; impl BaseProtocol<DatagramTransport> for Quiet {} impl DatagramProtocol for Quiet {}
    /// # twinloop::EventLoop::new()?.run_until_complete(async { let ev = twinloop::get_running_loop()?;
    /// let (t, _) = ev
    ///     .create_datagram_endpoint(|| Quiet, Some(("127.0.0.1", 0)), None, DatagramOptions::default())
    ///     .await?;
    /// t.set_write_buffer_limits(Some(4096), None)?;
    /// assert_eq!(t.get_write_buffer_limits(), (1024, 4096));
    /// assert!(t.set_write_buffer_limits(Some(1), Some(2)).is_err());
    /// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
    /// ```
    pub fn set_write_buffer_limits(&self, high: Option<usize>, low: Option<usize>) -> Result<()> {
        self.inner.base.set_limits(high, low)?;
        self.inner.limits_changed();
        Ok(())
    }

    /// asyncio's `get_write_buffer_limits`: `(low, high)`.
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        self.inner.base.limits()
    }

    /// The hard limit of the queue (see
    /// [`Transport::set_write_buffer_max`](crate::Transport::set_write_buffer_max)).
    pub fn set_write_buffer_max(&self, max: usize) {
        self.inner.base.set_max(max);
    }

    /// The hard limit of the queue.
    pub fn get_write_buffer_max(&self) -> usize {
        self.inner.base.max()
    }

    /// The loop this endpoint runs on.
    pub fn get_loop(&self) -> Result<EventLoop> {
        self.inner.base.get_loop()
    }
}

impl fmt::Debug for DatagramTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.is_closing() { "closing" } else { "open" };
        let queued = self.get_write_buffer_size();
        write!(
            f,
            "{} ({state}, {queued} bytes queued)",
            self.inner.base.name
        )
    }
}
