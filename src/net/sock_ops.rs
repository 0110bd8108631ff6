//! The `sock_*` methods: asyncio's "working with socket objects directly", on
//! [`Socket`]s. Each returns a `'static` future (it owns a clone of the loop and of the
//! socket handle), so it can go straight to `create_task` or `run_until_complete`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::net::resolve::{Family, Port};
use crate::net::socket::{Socket, SocketInner, SocketType};
use crate::sys::{self, Interest};
use crate::transport::READ_CHUNK;
use crate::EventLoop;

impl EventLoop {
    /// asyncio's `loop.sock_recv(sock, nbytes)`: up to `nbytes` bytes, once some are there;
    /// empty at the end of a stream. Cancelling it takes nothing from the socket.
    ///
    /// ```
    /// use twinloop::{Family, Socket, SocketType};
    /// let ev = twinloop::EventLoop::new()?;
    /// let (a, b) = (Socket::new(Family::V4, SocketType::Datagram)?, Socket::new(Family::V4, SocketType::Datagram)?);
    /// a.bind("127.0.0.1:0".parse().unwrap())?;
    /// let sent = ev.sock_sendto(&b, b"hi".to_vec(), a.local_addr()?);
    /// assert_eq!(ev.run_until_complete(sent)??, 2);
    /// assert_eq!(ev.run_until_complete(ev.sock_recv(&a, 100))??, b"hi");
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn sock_recv(
        &self,
        sock: &Socket,
        nbytes: usize,
    ) -> impl Future<Output = Result<Vec<u8>>> + 'static {
        let (ev, sock) = (self.clone(), sock.inner.clone());
        async move {
            if nbytes > READ_CHUNK {
                let (n, mut buf) = ev.sock_recv_into_inner(&sock, vec![0; nbytes]).await?;
                buf.truncate(n);
                return Ok(buf);
            }
            // Into the loop's read buffer, then copied: no zero-filled `nbytes` per call.
            let recv = |s: &mut sys::Socket| {
                ev.with_read_buffer(READ_CHUNK, |buf| {
                    s.recv(&mut buf[..nbytes]).map(|n| buf[..n].to_vec())
                })
            };
            sock.retry_read(&ev, nbytes, recv, Vec::len).await
        }
    }

    /// asyncio's `loop.sock_recv_into(sock, buf)`: receives into `buf` (owned, so that the
    /// future is `'static`; it comes back with the count).
    ///
    /// ```
    /// # use twinloop::{Family, Socket, SocketType};
    /// # let ev = twinloop::EventLoop::new()?;
    /// # let (a, b) = (Socket::new(Family::V4, SocketType::Datagram)?, Socket::new(Family::V4, SocketType::Datagram)?);
    /// # a.bind("127.0.0.1:0".parse().unwrap())?;
    /// ev.run_until_complete(ev.sock_sendto(&b, *b"hello", a.local_addr()?))??;
    /// let (n, buf) = ev.run_until_complete(ev.sock_recv_into(&a, [0u8; 16]))??;
    /// assert_eq!(&buf[..n], b"hello");
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn sock_recv_into<B: AsMut<[u8]> + 'static>(
        &self,
        sock: &Socket,
        buf: B,
    ) -> impl Future<Output = Result<(usize, B)>> + 'static {
        let (ev, sock) = (self.clone(), sock.inner.clone());
        async move { ev.sock_recv_into_inner(&sock, buf).await }
    }

    async fn sock_recv_into_inner<B: AsMut<[u8]>>(
        &self,
        sock: &Rc<SocketInner>,
        mut buf: B,
    ) -> Result<(usize, B)> {
        let asked = buf.as_mut().len();
        let n = sock
            .retry_read(self, asked, |s| s.recv(buf.as_mut()), |n| *n)
            .await?;
        Ok((n, buf))
    }

    /// asyncio's `loop.sock_recvfrom(sock, bufsize)`: one datagram of up to `bufsize`
    /// bytes (the rest of a longer one is dropped) and its sender. Example:
    /// [`EventLoop::sock_sendto`].
    pub fn sock_recvfrom(
        &self,
        sock: &Socket,
        bufsize: usize,
    ) -> impl Future<Output = Result<(Vec<u8>, SocketAddr)>> + 'static {
        let recv = self.sock_recvfrom_into(sock, vec![0; bufsize], 0);
        async move {
            let (n, from, mut buf) = recv.await?;
            buf.truncate(n);
            Ok((buf, from))
        }
    }

    /// asyncio's `loop.sock_recvfrom_into(sock, buf, nbytes)`: one datagram into the first
    /// `nbytes` bytes of `buf` (all of it when `nbytes` is 0); the count, the sender, and
    /// `buf` back. `nbytes` past the buffer's end is [`Error::InvalidArgument`].
    ///
    /// ```
    /// # use twinloop::{Family, Socket, SocketType};
    /// # let ev = twinloop::EventLoop::new()?;
    /// # let (a, b) = (Socket::new(Family::V4, SocketType::Datagram)?, Socket::new(Family::V4, SocketType::Datagram)?);
    /// # a.bind("127.0.0.1:0".parse().unwrap())?;
    /// ev.run_until_complete(ev.sock_sendto(&b, *b"truncated", a.local_addr()?))??;
    /// let (n, from, buf) = ev.run_until_complete(ev.sock_recvfrom_into(&a, vec![0; 64], 5))??;
    /// assert_eq!((&buf[..n], from.port()), (&b"trunc"[..], b.local_addr()?.port())); // b was bound to 0.0.0.0 by its send
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn sock_recvfrom_into<B: AsMut<[u8]> + 'static>(
        &self,
        sock: &Socket,
        mut buf: B,
        nbytes: usize,
    ) -> impl Future<Output = Result<(usize, SocketAddr, B)>> + 'static {
        let (ev, sock) = (self.clone(), sock.inner.clone());
        async move {
            let len = buf.as_mut().len();
            let nbytes = if nbytes == 0 { len } else { nbytes };
            if nbytes > len {
                return Err(Error::invalid_argument(format!(
                    "sock_recvfrom_into: nbytes ({nbytes}) is greater than the length of the \
                     buffer ({len})"
                )));
            }
            let (n, from) = sock
                .retry(&ev, Interest::READ, |s| {
                    s.recv_from(&mut buf.as_mut()[..nbytes])
                })
                .await?;
            Ok((n, from, buf))
        }
    }

    /// asyncio's `loop.sock_sendall(sock, data)`: sends every byte of `data`, waiting for
    /// the socket as often as needed; `Ok` only once all of it went out, else the error
    /// (how much went before it is unknown, as in asyncio). Empty `data` completes at
    /// once, without a system call.
    ///
    /// ```
    /// use twinloop::{Family, Socket, SocketType};
    /// let ev = twinloop::EventLoop::new()?;
    /// let listener = Socket::new(Family::V4, SocketType::Stream)?;
    /// listener.bind("127.0.0.1:0".parse().unwrap())?;
    /// listener.listen(1)?;
    /// let client = Socket::new(Family::V4, SocketType::Stream)?;
    /// let port = listener.local_addr()?.port();
    /// ev.run_until_complete(ev.sock_connect(&client, "127.0.0.1", port))??;
    /// let (conn, _) = ev.run_until_complete(ev.sock_accept(&listener))??;
    /// ev.run_until_complete(ev.sock_sendall(&client, b"all of it".to_vec()))??;
    /// client.close();
    /// let mut got = Vec::new();
    /// loop {
    ///     let chunk = ev.run_until_complete(ev.sock_recv(&conn, 4))??;
    ///     if chunk.is_empty() { break; } // end of stream
    ///     got.extend(chunk);
    /// }
    /// assert_eq!(got, b"all of it");
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn sock_sendall<D: AsRef<[u8]> + 'static>(
        &self,
        sock: &Socket,
        data: D,
    ) -> impl Future<Output = Result<()>> + 'static {
        let (ev, sock) = (self.clone(), sock.inner.clone());
        async move {
            let data = data.as_ref();
            let mut sent = 0;
            while sent < data.len() {
                let n = sock
                    .retry(&ev, Interest::WRITE, |s| s.send(&data[sent..]))
                    .await?;
                if n == 0 {
                    return Err(io::Error::from(io::ErrorKind::WriteZero).into());
                }
                sent += n;
            }
            Ok(())
        }
    }

    /// asyncio's `loop.sock_sendto(sock, data, address)`: sends one datagram (waiting
    /// while the socket cannot take it; sent exactly once); the count sent.
    ///
    /// ```
    /// use twinloop::{Family, Socket, SocketType};
    /// let ev = twinloop::EventLoop::new()?;
    /// let server = Socket::new(Family::V4, SocketType::Datagram)?;
    /// server.bind("127.0.0.1:0".parse().unwrap())?;
    /// let client = Socket::new(Family::V4, SocketType::Datagram)?;
    /// client.bind("127.0.0.1:0".parse().unwrap())?;
    /// ev.run_until_complete(ev.sock_sendto(&client, b"ping".to_vec(), server.local_addr()?))??;
    /// let (data, from) = ev.run_until_complete(ev.sock_recvfrom(&server, 100))??;
    /// assert_eq!((data.as_slice(), from), (&b"ping"[..], client.local_addr()?));
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn sock_sendto<D: AsRef<[u8]> + 'static>(
        &self,
        sock: &Socket,
        data: D,
        address: SocketAddr,
    ) -> impl Future<Output = Result<usize>> + 'static {
        let (ev, sock) = (self.clone(), sock.inner.clone());
        async move {
            sock.retry(&ev, Interest::WRITE, |s| s.send_to(data.as_ref(), address))
                .await
        }
    }

    /// asyncio's `loop.sock_connect(sock, address)`: connects to `host:port`. An IP
    /// literal is used as it is; a name is resolved with [`EventLoop::getaddrinfo`] for
    /// the socket's family, and the first address is used. A cancelled `sock_connect` can
    /// be followed by another on the same socket. Errors: the connect error, e.g. kind
    /// `ConnectionRefused`. Example: [`EventLoop::sock_sendall`].
    pub fn sock_connect(
        &self,
        sock: &Socket,
        host: &str,
        port: impl Into<Port>,
    ) -> impl Future<Output = Result<()>> + 'static {
        let (ev, sock, host, port) = (
            self.clone(),
            sock.inner.clone(),
            host.to_owned(),
            port.into(),
        );
        async move {
            let family = if sock.is_ipv6() {
                Family::V6
            } else {
                Family::V4
            };
            let addr = ev.getaddrinfo(&host, port, family).await?[0];
            sock.changing(|s| s.connect(addr))?;
            while !sock.with(|s| s.finish_connect())? {
                sock.wait(&ev, Interest::WRITE).await?;
            }
            Ok(())
        }
    }

    /// asyncio's `loop.sock_accept(sock)`: the next connection on a listening socket, as a
    /// non-blocking [`Socket`], and the peer's address. Example:
    /// [`EventLoop::sock_sendall`].
    pub fn sock_accept(
        &self,
        sock: &Socket,
    ) -> impl Future<Output = Result<(Socket, SocketAddr)>> + 'static {
        let (ev, sock) = (self.clone(), sock.inner.clone());
        async move {
            let (conn, peer) = sock.retry(&ev, Interest::READ, |s| s.accept()).await?;
            Ok((Socket::from_sys(conn, SocketType::Stream)?, peer))
        }
    }
}
