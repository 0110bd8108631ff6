//! `sock_sendfile`: a file to a connected stream [`Socket`], with `sendfile(2)` where the
//! platform has it and `sock_sendall` of 256 KiB pieces otherwise (asyncio's fallback).

use std::fs::File;
use std::future::Future;
use std::io::{Seek, SeekFrom};
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::net::socket::{Socket, SocketInner, SocketType};
use crate::sys::Interest;
use crate::transport::FilePieces;
use crate::EventLoop;

/// The most one `sendfile(2)` call is asked for.
const NATIVE_CHUNK: u64 = 1 << 20;

/// How much to send next: `None` once `count` bytes were sent.
fn next_piece(count: Option<u64>, sent: u64) -> Option<usize> {
    let left = count.map_or(NATIVE_CHUNK, |c| c.saturating_sub(sent));
    (left > 0).then(|| left.min(NATIVE_CHUNK) as usize)
}

impl EventLoop {
    /// asyncio's `loop.sock_sendfile(sock, file, offset, count, fallback)`: sends `count`
    /// bytes of `file` from `offset` (`None`: to its end) on a connected stream socket and
    /// returns how many were sent; `file`'s position ends after them, also on failure.
    /// Natively on Linux with `sendfile(2)`; elsewhere (or for a file the kernel cannot
    /// send from) with `fallback: true`, reads of [`SENDFILE_FALLBACK_READBUFFER_SIZE`](crate::SENDFILE_FALLBACK_READBUFFER_SIZE)
    /// sent with `sock_sendall`. In the guest (no zero-copy path, and no way to duplicate
    /// `file`), `file` must stay open until the future is done.
    ///
    /// Errors: [`Error::InvalidArgument`] for a datagram socket ("only SOCK_STREAM");
    /// [`Error::SendfileNotAvailable`] with `fallback: false` and no zero-copy path
    /// (nothing sent); the socket's and the file's errors.
    ///
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// use std::io::{Read, Write};
    /// use twinloop::{Family, Socket, SocketType};
    /// let path = std::env::temp_dir().join(format!("twinloop-sock-sendfile-doc-{}", std::process::id()));
    /// std::fs::File::create(&path)?.write_all(&[1; 3000])?;
    /// let file = std::fs::File::open(&path)?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let port = listener.local_addr()?.port();
    /// let ev = twinloop::EventLoop::new()?;
    /// let sock = Socket::new(Family::V4, SocketType::Stream)?;
    /// ev.run_until_complete(ev.sock_connect(&sock, "127.0.0.1", port))??;
    /// let (mut peer, _) = listener.accept()?;
    /// let sent = ev.run_until_complete(ev.sock_sendfile(&sock, &file, 1000, Some(2000), true))??;
    /// assert_eq!(sent, 2000);
    /// sock.close();
    /// let mut got = Vec::new();
    /// peer.read_to_end(&mut got)?;
    /// assert_eq!(got.len(), 2000);
    /// # std::fs::remove_file(&path)?;
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sock_sendfile(
        &self,
        sock: &Socket,
        file: &File,
        offset: u64,
        count: Option<u64>,
        fallback: bool,
    ) -> impl Future<Output = Result<u64>> + 'static {
        let (ev, sock, file) = (
            self.clone(),
            sock.inner.clone(),
            crate::sys::hold_file(file),
        );
        async move {
            let held = file?;
            let mut file: &File = &held;
            if sock.with(|s| s.kind())? != SocketType::Stream {
                return Err(Error::invalid_argument(
                    "sock_sendfile: only SOCK_STREAM sockets are supported",
                ));
            }
            let mut sent = 0;
            let outcome = match send_native(&ev, &sock, file, offset, count, &mut sent).await {
                Err(Error::SendfileNotAvailable(_)) if fallback && sent == 0 => {
                    send_fallback(&ev, &sock, file, offset, count, &mut sent).await
                }
                other => other,
            };
            let positioned = file.seek(SeekFrom::Start(offset + sent));
            outcome?;
            positioned?;
            Ok(sent)
        }
    }
}

async fn send_native(
    ev: &EventLoop,
    sock: &Rc<SocketInner>,
    file: &File,
    offset: u64,
    count: Option<u64>,
    sent: &mut u64,
) -> Result<()> {
    while let Some(want) = next_piece(count, *sent) {
        let at = offset + *sent;
        match sock
            .retry(ev, Interest::WRITE, |s| s.send_file(file, at, want))
            .await
        {
            Ok(0) => break, // the end of the file
            Ok(n) => *sent += n as u64,
            Err(e) if e.io_kind() == Some(std::io::ErrorKind::Unsupported) && *sent == 0 => {
                return Err(Error::SendfileNotAvailable(e.to_string()));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn send_fallback(
    ev: &EventLoop,
    sock: &Rc<SocketInner>,
    file: &File,
    offset: u64,
    count: Option<u64>,
    sent: &mut u64,
) -> Result<()> {
    let mut pieces = FilePieces::new(file, offset, count)?;
    let socket = Socket {
        inner: sock.clone(),
    };
    while let Some(piece) = pieces.next(*sent)? {
        let n = piece.len();
        ev.sock_sendall(&socket, piece.to_vec()).await?;
        *sent += n as u64;
    }
    Ok(())
}
