//! The pipe kind of stream transport: one end of a pipe, going one way.

use std::io;

use super::source::{ByteStream, Direction};
use super::ExtraInfo;
use crate::sys;

/// A pipe end adopted by a read or write pipe transport.
pub(crate) struct PipeSource {
    pipe: sys::Pipe,
    direction: Direction,
}

impl PipeSource {
    /// The read end of a pipe (`connect_read_pipe`, a child's stdout or stderr).
    pub(crate) fn reader(pipe: sys::Pipe) -> Self {
        PipeSource {
            pipe,
            direction: Direction::ReadOnly,
        }
    }

    /// The write end of a pipe (`connect_write_pipe`, a child's stdin).
    pub(crate) fn writer(pipe: sys::Pipe) -> Self {
        PipeSource {
            pipe,
            direction: Direction::WriteOnly,
        }
    }
}

impl ByteStream for PipeSource {
    fn watched(&mut self) -> &mut dyn sys::Source {
        &mut self.pipe
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.direction {
            Direction::WriteOnly if self.pipe.reader_gone() => Ok(0),
            Direction::WriteOnly => Err(io::ErrorKind::WouldBlock.into()),
            _ => self.pipe.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pipe.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn can_write_eof(&self) -> bool {
        self.direction == Direction::WriteOnly
    }

    fn extra_info(&self) -> Vec<(&'static str, ExtraInfo)> {
        vec![("pipe", ExtraInfo::Pipe(self.pipe.raw_fd()))]
    }

    fn direction(&self) -> Direction {
        self.direction
    }

    fn describe(&self) -> String {
        let way = match self.direction {
            Direction::WriteOnly => "write",
            _ => "read",
        };
        format!("{way} pipe fd={}", self.pipe.raw_fd())
    }
}
