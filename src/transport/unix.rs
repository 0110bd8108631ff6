//! The Unix domain socket kind of stream transport: its two addresses as extra info.

use std::io;

use super::source::ByteStream;
use super::ExtraInfo;
use crate::net::UnixAddr;
use crate::sys;

/// A connected Unix domain stream socket and its two addresses.
pub(crate) struct UnixSource {
    stream: sys::UnixStream,
    local: UnixAddr,
    peer: UnixAddr,
}

impl UnixSource {
    /// `peer` is the address `accept` gave, if any (no second system call to ask for it).
    pub(crate) fn new(stream: sys::UnixStream, peer: Option<UnixAddr>) -> io::Result<Self> {
        let local = stream.local_addr()?;
        let peer = match peer {
            Some(peer) => peer,
            None => stream.peer_addr()?,
        };
        Ok(UnixSource {
            stream,
            local,
            peer,
        })
    }
}

impl ByteStream for UnixSource {
    fn watched(&mut self) -> &mut dyn sys::Source {
        &mut self.stream
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.shutdown_write()
    }

    fn can_write_eof(&self) -> bool {
        true
    }

    fn short_read_drains(&self) -> bool {
        true
    }

    fn extra_info(&self) -> Vec<(&'static str, ExtraInfo)> {
        vec![
            ("peername", ExtraInfo::Unix(self.peer.clone())),
            ("sockname", ExtraInfo::Unix(self.local.clone())),
        ]
    }

    fn describe(&self) -> String {
        let name = |a: &UnixAddr| match a {
            UnixAddr::Unnamed => "(unnamed)".to_owned(),
            a => a.to_string(),
        };
        format!("{} -> {}", name(&self.local), name(&self.peer))
    }

    fn send_file(&mut self, file: &std::fs::File, offset: u64, len: usize) -> io::Result<usize> {
        self.stream.send_file(file, offset, len)
    }
}
