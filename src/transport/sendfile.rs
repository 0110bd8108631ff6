//! `sendfile` on a stream transport (asyncio's `loop.sendfile`): the source's zero-copy
//! path (`sendfile(2)` for plain TCP on Linux) when it has one, else, if allowed, reading
//! the file in 256 KiB pieces and writing them through the transport with flow control.
//!
//! While it runs, `write` on the transport is refused; what was written before goes out
//! first, what is written after goes out after.

use std::fs::File;
use std::future::poll_fn;
use std::io::{self, Read, Seek, SeekFrom};
use std::rc::Rc;
use std::task::Poll;

use super::stream::StreamTransport;
use crate::error::{Error, Result};

/// The fallback's piece size (asyncio's `SENDFILE_FALLBACK_READBUFFER_SIZE`, 256 KiB).
pub const SENDFILE_FALLBACK_READBUFFER_SIZE: usize = 256 * 1024;

/// The most one `sendfile(2)` call is asked for, so one transfer does not hold the loop.
const NATIVE_CHUNK: usize = 1 << 20;

/// How much to send next, at most `max`: `None` once `count` bytes were sent.
fn next_piece(count: Option<u64>, sent: u64, max: usize) -> Option<usize> {
    match count {
        Some(count) if sent >= count => None,
        Some(count) => Some((count - sent).min(max as u64) as usize),
        None => Some(max),
    }
}

/// The fallbacks' source: `file` from `offset`, in pieces of at most
/// [`SENDFILE_FALLBACK_READBUFFER_SIZE`], up to `count` bytes.
pub(crate) struct FilePieces<'a> {
    file: &'a File,
    count: Option<u64>,
    buf: Vec<u8>,
}

impl<'a> FilePieces<'a> {
    pub(crate) fn new(file: &'a File, offset: u64, count: Option<u64>) -> io::Result<Self> {
        let mut reader = file;
        reader.seek(SeekFrom::Start(offset))?;
        Ok(FilePieces {
            file,
            count,
            buf: vec![0; SENDFILE_FALLBACK_READBUFFER_SIZE],
        })
    }

    /// The next piece, `sent` bytes having been sent; `None` at the end of the file or
    /// of `count`.
    pub(crate) fn next(&mut self, sent: u64) -> io::Result<Option<&[u8]>> {
        let Some(want) = next_piece(self.count, sent, self.buf.len()) else {
            return Ok(None);
        };
        let mut reader = self.file;
        let n = reader.read(&mut self.buf[..want])?;
        Ok((n > 0).then(|| &self.buf[..n]))
    }
}

/// Clears the transport's "sendfile in progress" mark, also when the future is dropped.
struct Active<'a>(&'a StreamTransport);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        let mut st = self.0.state.borrow_mut();
        st.sendfile_active = false;
        st.sendfile_wants_write = false;
        drop(st);
        self.0.update_interest();
    }
}

impl StreamTransport {
    /// Sends `count` bytes (all, to the end of the file, with `None`) of `file` from
    /// `offset`; the number sent. The file's position is left after what was sent, also
    /// when it fails.
    pub(crate) async fn sendfile(
        self: &Rc<Self>,
        file: &File,
        offset: u64,
        count: Option<u64>,
        fallback: bool,
    ) -> Result<u64> {
        if self.base.is_closing() {
            return Err(Error::invalid_state("sendfile on a closing transport"));
        }
        if std::mem::replace(&mut self.state.borrow_mut().sendfile_active, true) {
            return Err(Error::invalid_state("sendfile is in progress"));
        }
        let _active = Active(self);
        let mut sent = 0;
        let outcome = self.send_native(file, offset, count, &mut sent).await;
        let outcome = match outcome {
            Err(Error::SendfileNotAvailable(_)) if fallback && sent == 0 => {
                self.send_fallback(file, offset, count, &mut sent).await
            }
            other => other,
        };
        let positioned = (&*file).seek(SeekFrom::Start(offset + sent));
        outcome?;
        positioned?;
        Ok(sent)
    }

    /// Waits until `done` says so, or the connection is lost.
    async fn wait_for(&self, done: impl Fn(&StreamTransport) -> bool) -> Result<()> {
        poll_fn(|cx| {
            if self.base.is_lost() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "the connection was lost during sendfile",
                )
                .into()));
            }
            if done(self) {
                return Poll::Ready(Ok(()));
            }
            self.wait_progress(cx.waker());
            Poll::Pending
        })
        .await
    }

    async fn send_native(
        self: &Rc<Self>,
        file: &File,
        offset: u64,
        count: Option<u64>,
        sent: &mut u64,
    ) -> Result<()> {
        // What was written before goes first.
        self.wait_for(|t| t.write_buffer_size() == 0).await?;
        loop {
            let Some(want) = next_piece(count, *sent, NATIVE_CHUNK) else {
                return Ok(());
            };
            let step = self.with_source(|s| s.send_file(file, offset + *sent, want));
            match step.unwrap_or_else(|| Err(io::ErrorKind::NotConnected.into())) {
                Ok(0) => return Ok(()), // the end of the file
                Ok(n) => {
                    self.count_written(n);
                    *sent += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Unsupported && *sent == 0 => {
                    return Err(Error::SendfileNotAvailable(e.to_string()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let seen = {
                        let mut st = self.state.borrow_mut();
                        st.sendfile_wants_write = true;
                        st.writable_reports
                    };
                    self.update_interest();
                    self.wait_for(|t| t.state.borrow().writable_reports != seen)
                        .await?;
                }
                Err(e) => {
                    let error = Error::from(e);
                    self.fatal_error(error.clone(), "Fatal error in sendfile");
                    return Err(error);
                }
            }
        }
    }

    async fn send_fallback(
        self: &Rc<Self>,
        file: &File,
        offset: u64,
        count: Option<u64>,
        sent: &mut u64,
    ) -> Result<()> {
        let mut pieces = FilePieces::new(file, offset, count)?;
        while let Some(piece) = pieces.next(*sent)? {
            self.write_data(piece)?;
            *sent += piece.len() as u64;
            // Flow control, as a protocol honouring pause_writing would.
            let (low, _) = self.base.limits();
            self.wait_for(|t| t.write_buffer_size() <= low).await?;
        }
        Ok(())
    }
}

impl crate::EventLoop {
    /// asyncio's `loop.sendfile(transport, file, offset, count, fallback)`: sends `count`
    /// bytes of `file` from `offset` (`None`: to its end) over `transport` and returns
    /// how many were sent. Plain TCP on Linux uses `sendfile(2)` (no copy through the
    /// process); elsewhere, or when the kernel cannot send from that file, `fallback:
    /// true` reads the file in [`SENDFILE_FALLBACK_READBUFFER_SIZE`] pieces and writes
    /// them with flow control. Bytes written before go out first; `write` fails while it
    /// runs. The file's position ends after what was sent, also on failure (`file` is
    /// duplicated, and a duplicate shares the position). The future owns what it needs,
    /// except in the guest: there `file` cannot be duplicated (WASI has no `dup`), so it
    /// must stay open until the future is done (else its reads fail). The guest has no
    /// zero-copy path: the fallback, or [`Error::SendfileNotAvailable`].
    ///
    /// Errors: [`Error::SendfileNotAvailable`] with `fallback: false` and no zero-copy
    /// path (nothing sent); [`Error::InvalidState`] on a closing transport or while
    /// another `sendfile` runs; kind `ConnectionReset` when the connection is lost
    /// meanwhile; the file's read errors.
    ///
    /// ```
    /// # use twinloop::{BaseProtocol, ConnectOptions, LoopFuture, Protocol, ServerOptions};
    /// # struct Count(usize, LoopFuture<usize>);
    /// # impl BaseProtocol for Count { fn connection_lost(&mut self, _: Option<twinloop::Error>) { let _ = self.1.set_result(self.0); } }
    /// # impl Protocol for Count { fn data_received(&mut self, d: &[u8]) { self.0 += d.len(); } }
    /// # struct Quiet; impl BaseProtocol for Quiet {} impl Protocol for Quiet {}
    /// use std::io::{Seek, Write};
    /// let path = std::env::temp_dir().join(format!("twinloop-sendfile-doc-{}", std::process::id()));
    /// std::fs::File::create(&path)?.write_all(&[7; 100_000])?;
    /// let mut file = std::fs::File::open(&path)?;
    /// let received = twinloop::run(|ev| async move {
    ///     let counted = ev.create_future();
    ///     let c = counted.clone();
    ///     let server = ev.create_server(move || Count(0, c.clone()), "127.0.0.1", 0, ServerOptions::default()).await?;
    ///     let port = server.sockets()[0].local_addr().unwrap().port();
    ///     let (t, _) = ev.create_connection(|| Quiet, "127.0.0.1", port, ConnectOptions::default()).await?;
    ///     let sent = ev.sendfile(&t, &file, 1000, Some(5000), true).await?;
    ///     assert_eq!(sent, 5000);
    ///     assert_eq!(file.stream_position()?, 6000); // offset + count
    ///     t.close();
    ///     counted.await
    /// })?;
    /// assert_eq!(received, 5000);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sendfile(
        &self,
        transport: &super::Transport,
        file: &File,
        offset: u64,
        count: Option<u64>,
        fallback: bool,
    ) -> impl std::future::Future<Output = Result<u64>> + 'static {
        let inner = transport.inner.clone();
        let file = crate::sys::hold_file(file);
        async move {
            let held = file?;
            inner.sendfile(&held, offset, count, fallback).await
        }
    }
}
