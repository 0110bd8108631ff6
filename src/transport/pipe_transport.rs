//! `ReadTransport` and `WriteTransport`: the one-way views of a pipe's stream transport
//! (asyncio's interfaces of those names), and `PipeTransport`, either of them.
//!
//! A pipe's transport is a [`Transport`] like any other (its protocol is handed one in
//! `connection_made`, so a [`Protocol`](crate::Protocol) written for TCP reads a pipe
//! unchanged); these views only leave out what the pipe cannot do. On the transport
//! itself, `write` to a read pipe fails with [`Error::InvalidState`](crate::Error), and
//! `write_eof` on a write pipe closes it once the buffer is sent.

use super::{ExtraInfo, Transport};
use crate::error::Result;
use crate::EventLoop;

/// The transport of a pipe's read end: asyncio's `asyncio.ReadTransport`. A handle:
/// clones refer to the same pipe. Example: [`EventLoop::connect_read_pipe`].
#[derive(Clone, Debug)]
pub struct ReadTransport(pub(crate) Transport);

/// The transport of a pipe's write end: asyncio's `asyncio.WriteTransport`. A handle:
/// clones refer to the same pipe. Example: [`EventLoop::connect_write_pipe`].
#[derive(Clone, Debug)]
pub struct WriteTransport(pub(crate) Transport);

/// One of a child process's pipes, as
/// [`SubprocessTransport::get_pipe_transport`](crate::SubprocessTransport::get_pipe_transport)
/// returns them: its stdin is written to, its stdout and stderr are read.
#[derive(Clone, Debug)]
pub enum PipeTransport {
    /// The child's stdout (fd 1) or stderr (fd 2).
    Read(ReadTransport),
    /// The child's stdin (fd 0).
    Write(WriteTransport),
}

impl PipeTransport {
    /// The write transport, for the child's stdin; `None` for a read pipe.
    pub fn as_write(&self) -> Option<&WriteTransport> {
        match self {
            PipeTransport::Write(t) => Some(t),
            PipeTransport::Read(_) => None,
        }
    }

    /// The read transport, for the child's stdout or stderr; `None` for stdin.
    pub fn as_read(&self) -> Option<&ReadTransport> {
        match self {
            PipeTransport::Read(t) => Some(t),
            PipeTransport::Write(_) => None,
        }
    }

    /// The transport underneath, whichever way it goes.
    pub fn transport(&self) -> &Transport {
        match self {
            PipeTransport::Read(t) => &t.0,
            PipeTransport::Write(t) => &t.0,
        }
    }
}

/// What both views have: asyncio's `BaseTransport`.
macro_rules! base_transport {
    ($t:ty) => {
        impl $t {
            /// asyncio's `close`: closes the pipe (a write pipe once its buffer is sent);
            /// `connection_lost(None)` follows. Idempotent.
            pub fn close(&self) {
                self.0.close();
            }

            /// asyncio's `is_closing`.
            pub fn is_closing(&self) -> bool {
                self.0.is_closing()
            }

            /// asyncio's `get_extra_info`: `"pipe"` gives [`ExtraInfo::Pipe`] (the file
            /// descriptor); `None` for other names.
            pub fn get_extra_info(&self, name: &str) -> Option<ExtraInfo> {
                self.0.get_extra_info(name)
            }

            /// The loop this transport runs on.
            pub fn get_loop(&self) -> Result<EventLoop> {
                self.0.get_loop()
            }

            /// The same pipe as a [`Transport`] (what its protocol was handed).
            pub fn transport(&self) -> &Transport {
                &self.0
            }
        }
    };
}

base_transport!(ReadTransport);
base_transport!(WriteTransport);

impl ReadTransport {
    /// asyncio's `pause_reading`.
    pub fn pause_reading(&self) {
        self.0.pause_reading();
    }

    /// asyncio's `resume_reading`.
    pub fn resume_reading(&self) {
        self.0.resume_reading();
    }

    /// asyncio's `is_reading`.
    pub fn is_reading(&self) -> bool {
        self.0.is_reading()
    }
}

impl WriteTransport {
    /// asyncio's `write`: as [`Transport::write`]. A reader that went away closes the
    /// transport: with data still buffered, `connection_lost` gets a `BrokenPipe` error.
    pub fn write(&self, data: &[u8]) -> Result<()> {
        self.0.write(data)
    }

    /// asyncio's `writelines`.
    pub fn writelines<'a>(&self, data: impl IntoIterator<Item = &'a [u8]>) -> Result<()> {
        self.0.writelines(data)
    }

    /// asyncio's `write_eof`: for a pipe, closing it once the buffer is sent.
    pub fn write_eof(&self) -> Result<()> {
        self.0.write_eof()
    }

    /// asyncio's `can_write_eof`: true.
    pub fn can_write_eof(&self) -> bool {
        self.0.can_write_eof()
    }

    /// asyncio's `abort`: close now, dropping what is buffered.
    pub fn abort(&self) {
        self.0.abort();
    }

    /// asyncio's `get_write_buffer_size`.
    pub fn get_write_buffer_size(&self) -> usize {
        self.0.get_write_buffer_size()
    }

    /// asyncio's `get_write_buffer_limits`: `(low, high)`.
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        self.0.get_write_buffer_limits()
    }

    /// asyncio's `set_write_buffer_limits`: as [`Transport::set_write_buffer_limits`].
    pub fn set_write_buffer_limits(&self, high: Option<usize>, low: Option<usize>) -> Result<()> {
        self.0.set_write_buffer_limits(high, low)
    }
}
