//! The `futures-io` traits for the streams (`AsyncRead` and `AsyncBufRead` for
//! [`StreamReader`], `AsyncWrite` for [`StreamWriter`]), so the ecosystem's codecs and
//! adapters work over a stream connection.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{StreamReader, StreamWriter};
use crate::error::Error;

/// An [`Error`] as an `io::Error` (for `futures-io`), keeping the OS error's kind.
fn to_io_error(error: Error) -> io::Error {
    match error.io_kind() {
        Some(kind) => io::Error::new(kind, error),
        None => io::Error::other(error),
    }
}

impl futures_io::AsyncRead for StreamReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match futures_io::AsyncBufRead::poll_fill_buf(Pin::new(&mut *this), cx) {
            Poll::Ready(Ok(data)) => {
                let n = data.len().min(out.len());
                out[..n].copy_from_slice(&data[..n]);
                this.consume(n);
                Poll::Ready(Ok(n))
            }
            other => other.map_ok(|_| 0),
        }
    }
}

impl futures_io::AsyncBufRead for StreamReader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        loop {
            this.pull();
            if !this.data().is_empty() {
                return Poll::Ready(Ok(this.data()));
            }
            if let Err(error) = this.check_error() {
                return Poll::Ready(Err(to_io_error(error)));
            }
            if this.ended() {
                return Poll::Ready(Ok(&[]));
            }
            if this.poll_more(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        StreamReader::consume(this, amt.min(this.data().len()));
    }
}

impl futures_io::AsyncWrite for StreamWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.poll_drain(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(error)) => return Poll::Ready(Err(to_io_error(error))),
            Poll::Pending => return Poll::Pending,
        }
        Poll::Ready(self.write(buf).map(|()| buf.len()).map_err(to_io_error))
    }

    /// Waits until everything written has been handed to the socket (or the TLS
    /// session), not only until the transport stops being paused as `drain` does.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.poll_drain(cx) {
            Poll::Ready(Ok(())) => self.transport().inner.poll_flushed(cx).map_err(to_io_error),
            other => other.map_err(to_io_error),
        }
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = if self.can_write_eof() {
            self.write_eof()
        } else {
            self.close();
            Ok(())
        };
        Poll::Ready(result.map_err(to_io_error))
    }
}
