//! `ByteStream`: the contract between the stream transport and the byte source under it
//! (a TCP stream, a TLS session over one; a Unix socket or a pipe later). A new kind of
//! connection implements this trait and nothing else of the transport.

use std::io;
use std::time::Duration;

use super::ExtraInfo;
use crate::sys;

/// Which way a byte stream's bytes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// A socket: both ways.
    Both,
    /// The read end of a pipe (asyncio's `ReadTransport`): `write` is refused.
    ReadOnly,
    /// The write end of a pipe (asyncio's `WriteTransport`): nothing is read; its
    /// readability means the reader is gone (see [`ByteStream::read`]).
    WriteOnly,
}

/// A non-blocking, watchable source of bytes, both ways or one way.
pub(crate) trait ByteStream {
    /// What the reactor watches for this stream (the socket, for TCP).
    fn watched(&mut self) -> &mut dyn sys::Source;
    /// Reads what is there: `Ok(0)` at end of stream, `WouldBlock` when nothing is yet.
    /// On a write-only stream: `Ok(0)` once the reader is gone, else `WouldBlock`.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes what the source takes now; `WouldBlock` when it takes nothing.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// `Ok` once everything written has left this process; `WouldBlock` until then.
    fn flush(&mut self) -> io::Result<()>;
    /// Half-close after what was written (`WouldBlock`: retry on writability).
    fn shutdown_write(&mut self) -> io::Result<()>;
    /// Whether `shutdown_write` means anything here (asyncio's `can_write_eof`).
    fn can_write_eof(&self) -> bool;
    /// The transport's `get_extra_info` keys for this kind, read once at the start
    /// (asyncio's `_extra`), e.g. `peername` and `sockname` for TCP.
    fn extra_info(&self) -> Vec<(&'static str, ExtraInfo)>;
    /// Which way the bytes go (both, unless a pipe end says otherwise).
    fn direction(&self) -> Direction {
        Direction::Both
    }
    /// Bytes of its own to send that wait for writability (TLS records), besides what the
    /// transport buffers: the transport watches for writability while this is true.
    fn wants_write(&self) -> bool {
        false
    }
    /// Input already taken off the socket and not yet read (TLS plaintext): no readiness
    /// will announce it, so the transport comes back for it by itself.
    fn has_buffered_input(&self) -> bool {
        false
    }
    /// The transport is closing: say goodbye in the stream's own terms (TLS
    /// `close_notify`) before the final `flush`.
    fn start_close(&mut self) {}
    /// How long a closing transport may take to send what is left before it is aborted
    /// (TLS's `ssl_shutdown_timeout`); `None`: as long as it takes.
    fn shutdown_timeout(&self) -> Option<Duration> {
        None
    }
    /// Whether a read that filled less than its buffer emptied the stream (a socket
    /// read straight from the kernel), so the transport waits for the next readiness
    /// report instead of reading again (where `sys::SHORT_READ_DRAINS`). False (the
    /// default) for streams with input of their own (TLS) and for pipes.
    fn short_read_drains(&self) -> bool {
        false
    }
    /// A short name for messages ("127.0.0.1:5000 -> 127.0.0.1:8888").
    fn describe(&self) -> String;
    /// Sends up to `len` bytes of `file` from `offset` without copying them through the
    /// process (`sendfile(2)`); `Unsupported` (the default) where the source has no such
    /// path, and the transport reads and writes instead.
    fn send_file(&mut self, file: &std::fs::File, offset: u64, len: usize) -> io::Result<usize> {
        let _ = (file, offset, len);
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// Any [`ByteStream`], as the one source type a stream transport registers.
pub(crate) struct StreamSource(pub(crate) Box<dyn ByteStream>);

impl sys::Watchable for StreamSource {
    fn as_source(&mut self) -> Option<&mut dyn sys::Source> {
        Some(self.0.watched())
    }
}
