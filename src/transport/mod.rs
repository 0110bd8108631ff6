//! Transports, layered as in asyncio and uvloop:
//!
//! - `base`: what every transport kind shares (protocol, closing / lost state,
//!   `connection_lost` exactly once, write-buffer limits and flow control, fatal errors);
//! - `stream`: the stream layer over any `ByteStream` (`source`): reads, the write
//!   buffer, half-close, pause/resume reading;
//! - per kind (`tcp`, `unix`, `tls`, `pipe`): a `ByteStream` that sets its options and names its
//!   extra info; `tls` is a rustls session over another `ByteStream`; `pipe_transport`
//!   has the one-way views of a pipe's transport.
//!
//! [`Transport`] is the public handle of a stream transport, the same type whatever the
//! byte source, so a protocol written for TCP runs unchanged over any other stream.

use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;

mod base;
mod datagram;
mod datagram_transport;
mod pipe;
mod pipe_transport;
mod sendfile;
mod source;
mod stream;
mod tcp;
mod tls;
mod unix;

pub use base::{DEFAULT_HIGH_WATER, DEFAULT_WRITE_BUFFER_MAX};
pub(crate) use datagram::DatagramEngine;
pub(crate) use datagram_transport::DatagramSlot;
pub use datagram_transport::{DatagramProtocol, DatagramSocketInfo, DatagramTransport};
pub(crate) use pipe::PipeSource;
pub use pipe_transport::{PipeTransport, ReadTransport, WriteTransport};
pub(crate) use sendfile::FilePieces;
pub use sendfile::SENDFILE_FALLBACK_READBUFFER_SIZE;
pub(crate) use source::{ByteStream, StreamSource};
pub(crate) use stream::{StreamTransport, READ_CHUNK};
pub(crate) use tcp::TcpSource;
pub(crate) use tls::{receive_records, send_records, TlsSource};
pub(crate) use unix::UnixSource;

#[allow(unused_imports)] // doc links
use crate::error::{Error, Result};
use crate::event_loop::TransportMetrics;
use crate::net::UnixAddr;
use crate::protocol::ProtocolSlot;
use crate::tls::{CipherInfo, TlsConfig};
use crate::EventLoop;

/// A stream transport (TCP, TLS over TCP, or a pipe end: the protocol sees plaintext
/// bytes either way): asyncio's `asyncio.Transport`. It is a handle: clones refer to the
/// same connection, so a protocol can keep one and write back from its callbacks.
///
/// ```
/// use twinloop::{BaseProtocol, ConnectOptions, LoopFuture, Protocol, ServerOptions, Transport};
/// # struct Echo(Option<Transport>);
/// # impl BaseProtocol for Echo {
/// #     fn connection_made(&mut self, t: Transport) { self.0 = Some(t); }
/// # }
/// # impl Protocol for Echo {
/// #     fn data_received(&mut self, d: &[u8]) { let _ = self.0.as_ref().unwrap().write(d); }
/// # }
/// /// Says hello, half-closes, and hands over the reply once the connection is gone.
/// struct Hello(Vec<u8>, LoopFuture<Vec<u8>>);
/// impl BaseProtocol for Hello {
///     fn connection_made(&mut self, t: Transport) {
///         let _ = t.write(b"hello\n");
///         let _ = t.write_eof();
///     }
///     fn connection_lost(&mut self, _: Option<twinloop::Error>) {
///         let _ = self.1.set_result(std::mem::take(&mut self.0));
///     }
/// }
/// impl Protocol for Hello {
///     fn data_received(&mut self, data: &[u8]) { self.0.extend_from_slice(data); }
/// }
/// let reply = twinloop::run(|ev| async move {
///     let server = ev.create_server(|| Echo(None), "127.0.0.1", 0, ServerOptions::default()).await?;
///     let addr = server.sockets()[0].local_addr().unwrap(); // an echo server
///     let done = ev.create_future();
///     let (transport, _protocol) = ev
///         .create_connection(|| Hello(Vec::new(), done.clone()), "127.0.0.1", addr.port(), ConnectOptions::default())
///         .await?;
///     println!("connected to {:?}", transport.peername());
///     done.await
/// })?;
/// assert_eq!(reply, b"hello\n");
/// # Ok::<(), twinloop::Error>(())
/// ```
#[derive(Clone)]
pub struct Transport {
    pub(crate) inner: Rc<StreamTransport>,
}

/// What [`Transport::get_extra_info`] returns.
///
/// ```
/// use twinloop::{BaseProtocol, ExtraInfo, Protocol, Transport};
/// struct LogPeer;
/// impl BaseProtocol for LogPeer {
///     fn connection_made(&mut self, t: Transport) {
///         if let Some(ExtraInfo::Addr(peer)) = t.get_extra_info("peername") {
///             println!("connection from {peer}");
///         }
///     }
/// }
/// impl Protocol for LogPeer {}
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtraInfo {
    /// `peername` or `sockname` of a TCP transport.
    Addr(SocketAddr),
    /// `peername` or `sockname` of a Unix domain socket transport.
    Unix(UnixAddr),
    /// `socket`: what is known of the underlying socket.
    Socket(SocketInfo),
    /// `socket` of a [`DatagramTransport`].
    Datagram(DatagramSocketInfo),
    /// `pipe` of a pipe transport: the pipe's file descriptor.
    Pipe(i32),
    /// `sslcontext` of a TLS transport: the configuration it was made with.
    SslContext(TlsConfig),
    /// `cipher` of a TLS transport.
    Cipher(CipherInfo),
    /// Bytes: `peercert` of a TLS transport (the peer's certificate, DER; absent when
    /// the peer sent none), `alpn` (the negotiated protocol; absent when none was).
    Bytes(Vec<u8>),
}

/// A description of a transport's socket (asyncio's `TransportSocket`, without the power
/// to change it).
///
/// ```
/// use twinloop::{ExtraInfo, SocketInfo, Transport};
/// fn describe(t: &Transport) -> String {
///     match t.get_extra_info("socket") {
///         Some(ExtraInfo::Socket(SocketInfo { local, peer })) => format!("{local} -> {peer}"),
///         _ => "closed".to_owned(),
///     }
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketInfo {
    /// The local address.
    pub local: SocketAddr,
    /// The peer's address.
    pub peer: SocketAddr,
}

impl Transport {
    /// Wraps a connected byte stream (TCP, a TLS session once its handshake is done, a
    /// pipe end): schedules `connection_made`, then starts reading.
    pub(crate) fn start(
        ev: &EventLoop,
        stream: Box<dyn ByteStream>,
        protocol: ProtocolSlot,
        on_lost: Option<Box<dyn FnOnce()>>,
    ) -> Result<Transport> {
        let inner = StreamTransport::start(ev, stream, protocol, on_lost);
        let transport = Transport { inner };
        let made = transport.clone();
        ev.call_soon(move |_| {
            if let Some(protocol) = made.inner.base.protocol() {
                protocol.connection_made(made.clone());
            }
            made.inner.started();
        })?;
        Ok(transport)
    }

    /// asyncio's `write`: sends `data`, buffering what the socket does not take now. Bytes
    /// are never lost or reordered. Errors: [`Error::InvalidState`] after `write_eof` or
    /// `close` (asyncio raises only after `write_eof`; after `close` it drops such writes
    /// or, while the buffer drains, still sends them). A socket error is not returned: it
    /// closes the transport and reaches `connection_lost`.
    ///
    /// ```
    /// # use twinloop::{BaseProtocol, ConnectOptions, LoopFuture, Protocol, ServerOptions};
    /// # struct Collect(Vec<u8>, LoopFuture<Vec<u8>>);
    /// # impl BaseProtocol for Collect {
    /// #     fn connection_lost(&mut self, _: Option<twinloop::Error>) { let _ = self.1.set_result(std::mem::take(&mut self.0)); }
    /// # }
    /// # impl Protocol for Collect {
    /// #     fn data_received(&mut self, d: &[u8]) { self.0.extend_from_slice(d) }
    /// # }
    /// # struct Quiet; impl BaseProtocol for Quiet {} impl Protocol for Quiet {}
    /// # twinloop::EventLoop::new()?.run_until_complete(async {
    /// # let ev = twinloop::get_running_loop()?;
    /// # let received = ev.create_future::<Vec<u8>>();
    /// # let rx = received.clone();
    /// # let server = ev.create_server(move || Collect(Vec::new(), rx.clone()), "127.0.0.1", 0, ServerOptions::default()).await?;
    /// # let port = server.sockets()[0].local_addr().unwrap().port();
    /// let (t, _) = ev.create_connection(|| Quiet, "127.0.0.1", port, ConnectOptions::default()).await?;
    /// let data = vec![7u8; 1 << 20];
    /// t.write(&data)?; // what the socket does not take now waits in the buffer
    /// println!("{} bytes buffered", t.get_write_buffer_size());
    /// t.close(); // the buffer is still sent
    /// assert_eq!(received.await?, data);
    /// # Ok::<(), twinloop::Error>(()) })??;
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn write(&self, data: &[u8]) -> Result<()> {
        self.inner.write(data)
    }

    /// asyncio's `writelines`: writes each buffer in order.
    ///
    /// ```
    /// # use twinloop::{BaseProtocol, ConnectOptions, LoopFuture, Protocol, ServerOptions};
    /// # struct Collect(Vec<u8>, LoopFuture<Vec<u8>>);
    /// # impl BaseProtocol for Collect {
    /// #     fn connection_lost(&mut self, _: Option<twinloop::Error>) { let _ = self.1.set_result(std::mem::take(&mut self.0)); }
    /// # }
    /// # impl Protocol for Collect {
    /// #     fn data_received(&mut self, d: &[u8]) { self.0.extend_from_slice(d) }
    /// # }
    /// # struct Quiet; impl BaseProtocol for Quiet {} impl Protocol for Quiet {}
    /// # twinloop::EventLoop::new()?.run_until_complete(async {
    /// # let ev = twinloop::get_running_loop()?;
    /// # let received = ev.create_future::<Vec<u8>>();
    /// # let rx = received.clone();
    /// # let server = ev.create_server(move || Collect(Vec::new(), rx.clone()), "127.0.0.1", 0, ServerOptions::default()).await?;
    /// # let port = server.sockets()[0].local_addr().unwrap().port();
    /// let (t, _) = ev.create_connection(|| Quiet, "127.0.0.1", port, ConnectOptions::default()).await?;
    /// let request: [&[u8]; 3] = [b"GET / HTTP/1.0\r\n", b"Host: localhost\r\n", b"\r\n"];
    /// t.writelines(request)?;
    /// t.close();
    /// assert_eq!(received.await?, request.concat());
    /// # Ok::<(), twinloop::Error>(()) })??;
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn writelines<'a>(&self, data: impl IntoIterator<Item = &'a [u8]>) -> Result<()> {
        for (i, chunk) in data.into_iter().enumerate() {
            // A socket error during an earlier chunk closed the transport and goes to
            // `connection_lost`, as it does for `write`; the rest is not sent.
            if i > 0 && self.is_closing() {
                break;
            }
            self.inner.write(chunk)?;
        }
        Ok(())
    }

    /// asyncio's `write_eof`: half-close once the buffered data is sent; reading goes on.
    /// Does nothing if already called or closing; [`Transport::write`] fails afterwards.
    ///
    /// ```
    /// # use twinloop::{BaseProtocol, ConnectOptions, LoopFuture, Protocol, ServerOptions, Transport};
    /// # struct Collect(Vec<u8>, LoopFuture<Vec<u8>>);
    /// # impl BaseProtocol for Collect {
    /// #     fn connection_lost(&mut self, _: Option<twinloop::Error>) { let _ = self.1.set_result(std::mem::take(&mut self.0)); }
    /// # }
    /// # impl Protocol for Collect {
    /// #     fn data_received(&mut self, d: &[u8]) { self.0.extend_from_slice(d) }
    /// # }
    /// /// Counts bytes until EOF, then answers (its transport stays writable).
    /// struct Count(usize, Option<Transport>);
    /// impl BaseProtocol for Count {
    ///     fn connection_made(&mut self, t: Transport) { self.1 = Some(t); }
    /// }
    /// impl Protocol for Count {
    ///     fn data_received(&mut self, data: &[u8]) { self.0 += data.len(); }
    ///     fn eof_received(&mut self) -> bool {
    ///         let _ = self.1.as_ref().unwrap().write(format!("{} bytes", self.0).as_bytes());
    ///         false // close once the answer is sent
    ///     }
    /// }
    /// # twinloop::EventLoop::new()?.run_until_complete(async {
    /// # let ev = twinloop::get_running_loop()?;
    /// # let server = ev.create_server(|| Count(0, None), "127.0.0.1", 0, ServerOptions::default()).await?;
    /// # let port = server.sockets()[0].local_addr().unwrap().port();
    /// let reply = ev.create_future();
    /// let (t, _) = ev
    ///     .create_connection(|| Collect(Vec::new(), reply.clone()), "127.0.0.1", port, ConnectOptions::default())
    ///     .await?;
    /// t.write(b"ping")?;
    /// assert!(t.can_write_eof());
    /// t.write_eof()?;
    /// assert!(t.write(b"more").is_err());
    /// assert_eq!(reply.await?, b"4 bytes"); // still reading after the half-close
    /// # Ok::<(), twinloop::Error>(()) })??;
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn write_eof(&self) -> Result<()> {
        self.inner.write_eof()
    }

    /// asyncio's `can_write_eof`: whether [`Transport::write_eof`] is possible on this
    /// kind of connection (true for TCP).
    pub fn can_write_eof(&self) -> bool {
        self.inner.can_write_eof()
    }

    /// asyncio's `close`: stop reading, send what is buffered, then close and call
    /// `connection_lost(None)`. Idempotent.
    ///
    /// ```
    /// # use twinloop::{BaseProtocol, ConnectOptions, LoopFuture, Protocol, ServerOptions};
    /// # struct Collect(Vec<u8>, LoopFuture<Vec<u8>>);
    /// # impl BaseProtocol for Collect {
    /// #     fn connection_lost(&mut self, _: Option<twinloop::Error>) { let _ = self.1.set_result(std::mem::take(&mut self.0)); }
    /// # }
    /// # impl Protocol for Collect {
    /// #     fn data_received(&mut self, d: &[u8]) { self.0.extend_from_slice(d) }
    /// # }
    /// # struct Quiet; impl BaseProtocol for Quiet {} impl Protocol for Quiet {}
    /// # twinloop::EventLoop::new()?.run_until_complete(async {
    /// # let ev = twinloop::get_running_loop()?;
    /// # let received = ev.create_future::<Vec<u8>>();
    /// # let rx = received.clone();
    /// # let server = ev.create_server(move || Collect(Vec::new(), rx.clone()), "127.0.0.1", 0, ServerOptions::default()).await?;
    /// # let port = server.sockets()[0].local_addr().unwrap().port();
    /// let (t, _) = ev.create_connection(|| Quiet, "127.0.0.1", port, ConnectOptions::default()).await?;
    /// t.write(b"last words")?;
    /// t.close();
    /// assert!(t.is_closing());
    /// assert!(t.write(b"more").is_err());
    /// assert_eq!(received.await?, b"last words");
    /// # Ok::<(), twinloop::Error>(()) })??;
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn close(&self) {
        self.inner.close();
    }

    /// asyncio's `abort`: close now, dropping buffered data; `connection_lost(None)` follows.
    ///
    /// ```
    /// # use twinloop::{BaseProtocol, ConnectOptions, Error, LoopFuture, Protocol, ServerOptions};
    /// # struct Quiet; impl BaseProtocol for Quiet {} impl Protocol for Quiet {}
    /// /// Hands over what `connection_lost` was given.
    /// struct Lost(LoopFuture<Option<Error>>);
    /// impl BaseProtocol for Lost {
    ///     fn connection_lost(&mut self, error: Option<Error>) { let _ = self.0.set_result(error); }
    /// }
    /// impl Protocol for Lost {}
    /// # twinloop::EventLoop::new()?.run_until_complete(async {
    /// # let ev = twinloop::get_running_loop()?;
    /// # let server = ev.create_server(|| Quiet, "127.0.0.1", 0, ServerOptions::default()).await?;
    /// # let port = server.sockets()[0].local_addr().unwrap().port();
    /// let lost = ev.create_future();
    /// let (t, _) = ev.create_connection(|| Lost(lost.clone()), "127.0.0.1", port, ConnectOptions::default()).await?;
    /// t.abort();
    /// assert!(t.is_closing());
    /// assert!(lost.await?.is_none());
    /// # Ok::<(), Error>(()) })??;
    /// # Ok::<(), Error>(())
    /// ```
    pub fn abort(&self) {
        self.inner.abort();
    }

    /// asyncio's `is_closing`: true once `close`, `abort` or a fatal error happened.
    pub fn is_closing(&self) -> bool {
        self.inner.base.is_closing()
    }

    /// asyncio's `get_extra_info`: `"peername"`, `"sockname"` or `"socket"`, and over TLS
    /// also `"sslcontext"` ([`ExtraInfo::SslContext`]), `"peercert"` (the peer's
    /// certificate, DER, when it sent one), `"cipher"` ([`ExtraInfo::Cipher`]) and
    /// `"alpn"` (when a protocol was negotiated); `None` for other names, and for
    /// `"socket"` once the connection is lost. There is no `"ssl_object"` (rustls has no
    /// `SSLObject`; the keys above carry what it would tell). asyncio's `default`
    /// argument is `Option::unwrap_or` here.
    ///
    /// ```
    /// # use twinloop::{BaseProtocol, ConnectOptions, Protocol, ServerOptions}; struct Quiet; impl BaseProtocol for Quiet {} impl Protocol for Quiet {}
    /// # twinloop::EventLoop::new()?.run_until_complete(async { let ev = twinloop::get_running_loop()?;
    /// # let server = ev.create_server(|| Quiet, "127.0.0.1", 0, ServerOptions::default()).await?;
    /// # let port = server.sockets()[0].local_addr().unwrap().port();
    /// use twinloop::ExtraInfo;
    /// let (t, _) = ev.create_connection(|| Quiet, "127.0.0.1", port, ConnectOptions::default()).await?;
    /// let peer = t.peername().expect("TCP has a peer address");
    /// assert_eq!(t.get_extra_info("peername"), Some(ExtraInfo::Addr(peer)));
    /// assert_eq!(t.get_extra_info("sockname"), t.sockname().map(ExtraInfo::Addr));
    /// assert_eq!(peer.port(), port);
    /// assert!(matches!(t.get_extra_info("socket"), Some(ExtraInfo::Socket(_))));
    /// assert_eq!(t.get_extra_info("sslcontext"), None);
    /// assert!(t.get_loop()?.ptr_eq(&ev));
    /// # Ok::<(), twinloop::Error>(()) })??;
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn get_extra_info(&self, name: &str) -> Option<ExtraInfo> {
        self.inner.extra_info(name)
    }

    /// What this transport has read and written so far (see [`TransportMetrics`]).
    pub fn metrics(&self) -> TransportMetrics {
        self.inner.bytes.snapshot()
    }

    /// The peer's address (`get_extra_info("peername")`), for connections that have one.
    pub fn peername(&self) -> Option<SocketAddr> {
        match self.get_extra_info("peername") {
            Some(ExtraInfo::Addr(addr)) => Some(addr),
            _ => None,
        }
    }

    /// The local address (`get_extra_info("sockname")`), for connections that have one.
    pub fn sockname(&self) -> Option<SocketAddr> {
        match self.get_extra_info("sockname") {
            Some(ExtraInfo::Addr(addr)) => Some(addr),
            _ => None,
        }
    }

    /// asyncio's `set_write_buffer_limits(high, low)`: defaults 64 KiB and a quarter of
    /// `high`; `low` alone makes `high` four times `low`. [`Error::InvalidArgument`] if
    /// `high < low`. May call `pause_writing`/`resume_writing` at once.
    ///
    /// ```
    /// # use twinloop::{BaseProtocol, ConnectOptions, Protocol, ServerOptions}; struct Quiet; impl BaseProtocol for Quiet {} impl Protocol for Quiet {}
    /// # twinloop::EventLoop::new()?.run_until_complete(async { let ev = twinloop::get_running_loop()?;
    /// # let server = ev.create_server(|| Quiet, "127.0.0.1", 0, ServerOptions::default()).await?;
    /// # let port = server.sockets()[0].local_addr().unwrap().port();
    /// use twinloop::DEFAULT_HIGH_WATER;
    /// let (t, _) = ev.create_connection(|| Quiet, "127.0.0.1", port, ConnectOptions::default()).await?;
    /// assert_eq!(t.get_write_buffer_limits(), (DEFAULT_HIGH_WATER / 4, DEFAULT_HIGH_WATER));
    /// t.set_write_buffer_limits(Some(1024), None)?;
    /// assert_eq!(t.get_write_buffer_limits(), (256, 1024));
    /// t.set_write_buffer_limits(None, Some(100))?;
    /// assert_eq!(t.get_write_buffer_limits(), (100, 400));
    /// assert!(t.set_write_buffer_limits(Some(1), Some(2)).is_err());
    /// assert_eq!(t.get_write_buffer_size(), 0);
    /// # Ok::<(), twinloop::Error>(()) })??;
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn set_write_buffer_limits(&self, high: Option<usize>, low: Option<usize>) -> Result<()> {
        self.inner.base.set_limits(high, low)?;
        let buffered = self.inner.write_buffer_size();
        self.inner.base.maybe_pause_protocol(buffered);
        self.inner.base.maybe_resume_protocol(buffered);
        Ok(())
    }

    /// asyncio's `get_write_buffer_limits`: `(low, high)`.
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        self.inner.base.limits()
    }

    /// asyncio's `get_write_buffer_size`: bytes accepted by `write` but not yet sent.
    pub fn get_write_buffer_size(&self) -> usize {
        self.inner.write_buffer_size()
    }

    /// The hard limit of the write buffer (no asyncio equivalent; default
    /// [`DEFAULT_WRITE_BUFFER_MAX`], 64 MiB). A [`Transport::write`] that would buffer
    /// more fails with [`Error::WriteBufferFull`](crate::Error::WriteBufferFull), and the
    /// transport closes with that error (its `connection_lost` gets it): a protocol that
    /// ignores `pause_writing` while its peer does not read loses its connection, not the
    /// process. The loop and every other connection go on.
    ///
    /// ```
    /// # use twinloop::{BaseProtocol, ConnectOptions, Protocol, ServerOptions}; struct Quiet; impl BaseProtocol for Quiet {} impl Protocol for Quiet {}
    /// # twinloop::EventLoop::new()?.run_until_complete(async { let ev = twinloop::get_running_loop()?;
    /// # let server = ev.create_server(|| Quiet, "127.0.0.1", 0, ServerOptions::default()).await?;
    /// # let port = server.sockets()[0].local_addr().unwrap().port();
    /// use twinloop::{Error, DEFAULT_WRITE_BUFFER_MAX};
    /// let (t, _) = ev.create_connection(|| Quiet, "127.0.0.1", port, ConnectOptions::default()).await?;
    /// assert_eq!(t.get_write_buffer_max(), DEFAULT_WRITE_BUFFER_MAX);
    /// t.set_write_buffer_max(1 << 20);
    /// // The peer never reads: past what the socket buffers take, 1 MiB more is refused.
    /// let chunk = vec![0u8; 1 << 20];
    /// let refused = loop {
    ///     if let Err(e) = t.write(&chunk) { break e; }
    /// };
    /// assert!(matches!(refused, Error::WriteBufferFull { .. }));
    /// assert!(t.is_closing());
    /// # Ok::<(), twinloop::Error>(()) })??;
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn set_write_buffer_max(&self, max: usize) {
        self.inner.base.set_max(max);
    }

    /// The hard limit of the write buffer (see [`Transport::set_write_buffer_max`]).
    pub fn get_write_buffer_max(&self) -> usize {
        self.inner.base.max()
    }

    /// asyncio's `pause_reading`: no more `data_received` until `resume_reading`. Does
    /// nothing on a closing transport.
    ///
    /// ```
    /// # use twinloop::{BaseProtocol, ConnectOptions, Protocol, ServerOptions}; struct Quiet; impl BaseProtocol for Quiet {} impl Protocol for Quiet {}
    /// # twinloop::EventLoop::new()?.run_until_complete(async { let ev = twinloop::get_running_loop()?;
    /// # let server = ev.create_server(|| Quiet, "127.0.0.1", 0, ServerOptions::default()).await?;
    /// # let port = server.sockets()[0].local_addr().unwrap().port();
    /// let (t, _) = ev.create_connection(|| Quiet, "127.0.0.1", port, ConnectOptions::default()).await?;
    /// t.pause_reading();
    /// assert!(!t.is_reading());
    /// t.resume_reading();
    /// assert!(t.is_reading());
    /// t.close();
    /// assert!(!t.is_reading());
    /// # Ok::<(), twinloop::Error>(()) })??;
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn pause_reading(&self) {
        self.inner.set_reading_paused(true);
    }

    /// asyncio's `resume_reading`.
    pub fn resume_reading(&self) {
        self.inner.set_reading_paused(false);
    }

    /// asyncio's `is_reading`.
    pub fn is_reading(&self) -> bool {
        self.inner.is_reading()
    }

    /// The loop this transport runs on.
    pub fn get_loop(&self) -> Result<EventLoop> {
        self.inner.base.get_loop()
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("name", &self.inner.base.name)
            .field("closing", &self.inner.base.is_closing())
            .field("write_buffer", &self.inner.write_buffer_size())
            .finish()
    }
}
