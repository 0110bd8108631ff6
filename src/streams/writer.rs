//! `StreamWriter`: asyncio's `asyncio.StreamWriter`, the writing half of a stream
//! connection, with `drain` for flow control.

use std::fmt;
use std::future::{poll_fn, Future};
use std::rc::Rc;
use std::task::{Context, Poll};

use super::connection::{CloseOnDrop, ConnectionState};
use super::reader::FeedHandle;
use crate::error::Result;
use crate::tls::{StartTlsOptions, TlsConfig};
use crate::transport::{ExtraInfo, Transport};

/// Writes to a stream connection: asyncio's `asyncio.StreamWriter`, made by
/// [`EventLoop::open_connection`](crate::EventLoop::open_connection) and handed to
/// [`EventLoop::start_server`](crate::EventLoop::start_server)'s callback.
///
/// `write` never blocks: what the socket does not take at once is buffered by the
/// transport, and [`StreamWriter::drain`] waits while that buffer is over its high-water
/// mark. Once both the writer and the connection's reader are dropped, the connection is
/// closed if it is still open (asyncio closes an unclosed writer when it is
/// garbage-collected).
///
/// It also implements `futures_io::AsyncWrite` for the ecosystem's codecs: `poll_write`
/// waits while writing is paused, `poll_flush` is `drain`, `poll_close` half-closes
/// (`write_eof`) where the transport can, and closes it otherwise.
///
/// ```
/// use twinloop::{EventLoop, StreamReader, StreamWriter};
/// let ev = EventLoop::new()?;
/// ev.run_until_complete(async {
///     let ev = twinloop::get_running_loop()?;
///     // An upper-casing echo server, in streams style.
///     async fn shout(mut reader: StreamReader, writer: StreamWriter) -> twinloop::Result<()> {
///         let line = reader.readline().await?;
///         writer.write(&line.to_ascii_uppercase())?;
///         writer.drain().await?;
///         writer.close();
///         writer.wait_closed().await
///     }
///     let server = ev.start_server(shout, "127.0.0.1", 0, Default::default()).await?;
///     let port = server.sockets()[0].local_addr().unwrap().port();
///     let (mut reader, writer) = ev.open_connection("127.0.0.1", port, Default::default()).await?;
///     writer.write(b"hello\n")?;
///     assert_eq!(reader.readline().await?, b"HELLO\n");
///     assert_eq!(reader.read(-1).await?, b""); // the server closed
///     Ok::<(), twinloop::Error>(())
/// })??;
/// # Ok::<(), twinloop::Error>(())
/// ```
pub struct StreamWriter {
    transport: Transport,
    _close_on_drop: Rc<CloseOnDrop>,
    state: Rc<ConnectionState>,
    /// The reader of the same connection: `drain` fails with its error.
    feed: Option<FeedHandle>,
}

impl StreamWriter {
    pub(crate) fn new(
        transport: Transport,
        state: Rc<ConnectionState>,
        feed: Option<FeedHandle>,
        close_on_drop: Rc<CloseOnDrop>,
    ) -> StreamWriter {
        StreamWriter {
            transport,
            _close_on_drop: close_on_drop,
            state,
            feed,
        }
    }

    /// asyncio's `StreamWriter.start_tls(sslcontext, server_hostname=...,
    /// ssl_handshake_timeout=..., ssl_shutdown_timeout=...)`: upgrades the connection to
    /// TLS in place (see [`EventLoop::start_tls`](crate::EventLoop::start_tls)); the reader
    /// and this writer carry plaintext over TLS afterwards. Whatever the reader had
    /// buffered from before stays there.
    ///
    /// ```no_run
    /// # async fn f(writer: twinloop::StreamWriter) -> twinloop::Result<()> {
    /// use twinloop::{ClientTls, StartTlsOptions};
    /// writer.write(b"STARTTLS\r\n")?;
    /// // ... read the server's go-ahead, then:
    /// let opts = StartTlsOptions { server_hostname: Some("mail.example.com".into()), ..Default::default() };
    /// writer.start_tls(ClientTls::webpki_roots(), opts).await?;
    /// # Ok(()) }
    /// ```
    pub async fn start_tls(
        &self,
        config: impl Into<TlsConfig>,
        options: StartTlsOptions,
    ) -> Result<()> {
        let ev = self.transport.get_loop()?;
        ev.start_tls(&self.transport, config, options).await?;
        Ok(())
    }

    /// The transport underneath (asyncio's `writer.transport`).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// asyncio's `write`: sends `data`, buffering what the socket does not take now;
    /// follow with [`StreamWriter::drain`] to honour flow control. Errors: the error the
    /// connection was lost with ("Connection lost", kind `ConnectionReset`, after a clean
    /// close); [`Error::InvalidState`](crate::Error::InvalidState) after `write_eof` or `close`.
    pub fn write(&self, data: &[u8]) -> Result<()> {
        if let Some(error) = self.state.lost().flatten() {
            return Err(error);
        }
        self.transport.write(data)
    }

    /// asyncio's `writelines`: the pieces in order, as one write.
    ///
    /// ```
    /// # twinloop::EventLoop::new()?.run_until_complete(async {
    /// # let ev = twinloop::get_running_loop()?;
    /// # let server = ev.start_server(|_r, _w| async { Ok(()) }, "127.0.0.1", 0, Default::default()).await?;
    /// # let port = server.sockets()[0].local_addr().unwrap().port();
    /// let (_reader, writer) = twinloop::open_connection("127.0.0.1", port, Default::default()).await?;
    /// writer.writelines([&b"GET / HTTP/1.0\r\n"[..], b"\r\n"])?;
    /// writer.drain().await?;
    /// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
    /// ```
    pub fn writelines<'a>(&self, data: impl IntoIterator<Item = &'a [u8]>) -> Result<()> {
        if let Some(error) = self.state.lost().flatten() {
            return Err(error);
        }
        self.transport.writelines(data)
    }

    /// asyncio's `write_eof`: half-closes after the buffered data; reading goes on.
    pub fn write_eof(&self) -> Result<()> {
        self.transport.write_eof()
    }

    /// asyncio's `can_write_eof`.
    pub fn can_write_eof(&self) -> bool {
        self.transport.can_write_eof()
    }

    /// asyncio's `close`: closes the connection after the buffered data is sent;
    /// [`StreamWriter::is_closing`] is true at once. Wait with
    /// [`StreamWriter::wait_closed`].
    pub fn close(&self) {
        self.transport.close();
    }

    /// asyncio's `is_closing`.
    pub fn is_closing(&self) -> bool {
        self.transport.is_closing()
    }

    /// asyncio's `get_extra_info`: see [`Transport::get_extra_info`].
    pub fn get_extra_info(&self, name: &str) -> Option<ExtraInfo> {
        self.transport.get_extra_info(name)
    }

    /// asyncio's `drain`: waits while the transport's write buffer is over its high-water
    /// mark, so a program that writes faster than the peer reads does not grow memory
    /// without bound. Returns at once when writing is not paused.
    ///
    /// Errors: the reader's error (see [`StreamReader::exception`](crate::StreamReader::exception));
    /// once the connection is lost, its error, or "Connection lost" (kind
    /// `ConnectionReset`) after a clean close, so a writer whose peer went away fails
    /// instead of writing into the void.
    ///
    /// ```
    /// # twinloop::EventLoop::new()?.run_until_complete(async {
    /// # let ev = twinloop::get_running_loop()?;
    /// # let server = ev.start_server(|mut r: twinloop::StreamReader, _w| async move { r.read(-1).await.map(drop) }, "127.0.0.1", 0, Default::default()).await?;
    /// # let port = server.sockets()[0].local_addr().unwrap().port();
    /// let (_reader, writer) = twinloop::open_connection("127.0.0.1", port, Default::default()).await?;
    /// for _ in 0..64 {
    ///     writer.write(&[0; 64 * 1024])?;
    ///     writer.drain().await?; // waits whenever the peer falls behind
    /// }
    /// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
    /// ```
    pub async fn drain(&self) -> Result<()> {
        if let Some(error) = self.feed.as_ref().and_then(FeedHandle::exception) {
            return Err(error);
        }
        if self.transport.is_closing() {
            // Let a scheduled connection_lost run first, so its error is the one raised.
            yield_now().await;
        }
        poll_fn(|cx| self.poll_drain(cx)).await
    }

    pub(super) fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if let Some(error) = self.state.lost_error() {
            return Poll::Ready(Err(error));
        }
        if !self.state.is_paused() {
            return Poll::Ready(Ok(()));
        }
        self.state.add_waiter(cx.waker());
        Poll::Pending
    }

    /// asyncio's `wait_closed`: waits until the connection is gone. Errors: the error it
    /// was lost with, if any.
    pub async fn wait_closed(&self) -> Result<()> {
        poll_fn(|cx| match self.state.lost() {
            Some(None) => Poll::Ready(Ok(())),
            Some(Some(error)) => Poll::Ready(Err(error)),
            None => {
                self.state.add_waiter(cx.waker());
                Poll::Pending
            }
        })
        .await
    }
}

impl fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<StreamWriter transport={:?}>", self.transport)
    }
}

/// Returns `Pending` once, so callbacks already scheduled run first (asyncio's
/// `sleep(0)`).
fn yield_now() -> impl Future<Output = ()> {
    let mut yielded = false;
    poll_fn(move |cx| {
        if std::mem::replace(&mut yielded, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
}
