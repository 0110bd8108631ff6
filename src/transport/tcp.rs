//! The TCP kind of stream transport: options at the start, addresses as extra info.

use std::io;
use std::net::SocketAddr;

use super::source::ByteStream;
use super::{ExtraInfo, SocketInfo};
use crate::sys;

/// A connected TCP stream and its two addresses.
pub(crate) struct TcpSource {
    stream: sys::TcpStream,
    local: SocketAddr,
    peer: SocketAddr,
}

impl TcpSource {
    /// TCP_NODELAY on every TCP connection, as asyncio does; where the target cannot set
    /// it, that is no reason to refuse the connection. `peer` is the address `accept`
    /// gave, if any (no second system call to ask for it).
    pub(crate) fn new(mut stream: sys::TcpStream, peer: Option<SocketAddr>) -> io::Result<Self> {
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr()?;
        let peer = match peer {
            Some(peer) => peer,
            None => stream.peer_addr()?,
        };
        Ok(TcpSource {
            stream,
            local,
            peer,
        })
    }
}

impl ByteStream for TcpSource {
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
        self.stream.flush()
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
            ("peername", ExtraInfo::Addr(self.peer)),
            ("sockname", ExtraInfo::Addr(self.local)),
            (
                "socket",
                ExtraInfo::Socket(SocketInfo {
                    local: self.local,
                    peer: self.peer,
                }),
            ),
        ]
    }

    fn describe(&self) -> String {
        format!("{} -> {}", self.local, self.peer)
    }

    fn send_file(&mut self, file: &std::fs::File, offset: u64, len: usize) -> io::Result<usize> {
        self.stream.send_file(file, offset, len)
    }
}
