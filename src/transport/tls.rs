//! The TLS kind of stream transport: a [`ByteStream`] that is a rustls session over another
//! byte stream (TCP), so the stream transport above it, and every protocol, sees plaintext.
//!
//! Readiness is the subtle part. rustls may need to write while the protocol only reads (a
//! session ticket, a key update, an alert): what it could not send at once is reported by
//! [`ByteStream::wants_write`], and the transport watches for writability until it is
//! gone. And rustls may hold decrypted plaintext, or a received `close_notify`, with no
//! readiness left on the socket (the records were already read off it): that is
//! [`ByteStream::has_buffered_input`], and the transport then comes back by itself on the
//! next turn on both targets, not only where readiness is edge-triggered.

use std::io::{self, Read, Write};
use std::time::Duration;

use rustls::Connection;

use super::source::ByteStream;
use super::ExtraInfo;
use crate::sys;
use crate::tls::{CipherInfo, TlsConfig};

/// How much plaintext one `write` hands rustls: more waits in the transport's buffer, so
/// the ciphertext rustls holds stays bounded.
const PLAINTEXT_BATCH: usize = 64 * 1024;

/// A finished TLS session over `inner`.
pub(crate) struct TlsSource {
    inner: Box<dyn ByteStream>,
    conn: Connection,
    context: TlsConfig,
    /// The socket under the session reached its end.
    socket_eof: bool,
    /// Decrypted bytes rustls holds, as of its last report.
    plaintext_pending: usize,
    /// The peer's `close_notify` arrived.
    peer_closed: bool,
    close_notify_sent: bool,
    shutdown_timeout: Duration,
}

/// `inner` as the `Read`/`Write` rustls moves records through.
struct Records<'a>(&'a mut dyn ByteStream);

impl Read for Records<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Records<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A rustls error as the `io::Error` a byte stream returns; `Error::from` turns it back
/// into `Error::Tls`.
fn tls_io_error(error: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

/// Sends what rustls has to send until it is all gone (`WouldBlock`: the socket is full).
pub(crate) fn send_records(conn: &mut Connection, inner: &mut dyn ByteStream) -> io::Result<()> {
    while conn.wants_write() {
        if conn.write_tls(&mut Records(inner))? == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
    }
    Ok(())
}

/// Reads records off the socket into rustls: `Ok(0)` at the socket's end.
pub(crate) fn receive_records(
    conn: &mut Connection,
    inner: &mut dyn ByteStream,
) -> io::Result<usize> {
    conn.read_tls(&mut Records(inner))
}

impl TlsSource {
    /// Wraps a session whose handshake is complete.
    pub(crate) fn new(
        inner: Box<dyn ByteStream>,
        mut conn: Connection,
        context: TlsConfig,
        shutdown_timeout: Duration,
    ) -> TlsSource {
        // The handshake may have brought application data along: count it.
        let (plaintext_pending, peer_closed) = match conn.process_new_packets() {
            Ok(state) => (state.plaintext_bytes_to_read(), state.peer_has_closed()),
            Err(_) => (0, false),
        };
        TlsSource {
            inner,
            conn,
            context,
            socket_eof: false,
            plaintext_pending,
            peer_closed,
            close_notify_sent: false,
            shutdown_timeout,
        }
    }

    /// Sends what rustls holds, as far as the socket takes it now.
    fn send_now(&mut self) -> io::Result<()> {
        match send_records(&mut self.conn, &mut *self.inner) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            other => other,
        }
    }

    fn cipher(&self) -> Option<CipherInfo> {
        let suite = self.conn.negotiated_cipher_suite()?;
        let name = suite.suite().as_str().unwrap_or("unknown").to_owned();
        let protocol = self
            .conn
            .protocol_version()
            .and_then(|v| v.as_str())
            .unwrap_or("unknown")
            .to_owned();
        let bits = if name.contains("AES_128") {
            128
        } else if name.contains("AES_256") || name.contains("CHACHA20") {
            256
        } else {
            0
        };
        Some(CipherInfo {
            name,
            protocol,
            bits,
        })
    }
}

impl ByteStream for TlsSource {
    fn watched(&mut self) -> &mut dyn sys::Source {
        self.inner.watched()
    }

    /// Plaintext, `Ok(0)` after the peer's `close_notify`, and `UnexpectedEof` when the
    /// socket ended without one (a truncation, never a clean end).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => {
                    self.plaintext_pending = self.plaintext_pending.saturating_sub(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if self.socket_eof {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            if receive_records(&mut self.conn, &mut *self.inner)? == 0 {
                self.socket_eof = true;
            }
            match self.conn.process_new_packets() {
                Ok(state) => {
                    self.plaintext_pending = state.plaintext_bytes_to_read();
                    self.peer_closed = state.peer_has_closed();
                }
                Err(e) => {
                    // rustls queued an alert for the peer: try to send it.
                    let _ = self.send_now();
                    return Err(tls_io_error(e));
                }
            }
            // Whatever the records called for (a key update, a ticket ack) goes out.
            self.send_now()?;
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        send_records(&mut self.conn, &mut *self.inner)?;
        let n = self
            .conn
            .writer()
            .write(&buf[..buf.len().min(PLAINTEXT_BATCH)])?;
        self.send_now()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        send_records(&mut self.conn, &mut *self.inner)?;
        self.inner.flush()
    }

    /// TLS has no half-close of its own: `close_notify` ends what this side sends (the
    /// peer reads a clean end of stream) and the socket is half-closed after it.
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.start_close();
        send_records(&mut self.conn, &mut *self.inner)?;
        self.inner.shutdown_write()
    }

    fn can_write_eof(&self) -> bool {
        true
    }

    fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    fn has_buffered_input(&self) -> bool {
        self.plaintext_pending > 0 || (self.peer_closed && !self.socket_eof)
    }

    fn start_close(&mut self) {
        if !std::mem::replace(&mut self.close_notify_sent, true) {
            self.conn.send_close_notify();
        }
    }

    fn shutdown_timeout(&self) -> Option<Duration> {
        Some(self.shutdown_timeout)
    }

    fn extra_info(&self) -> Vec<(&'static str, ExtraInfo)> {
        let mut extra = self.inner.extra_info();
        extra.push(("sslcontext", ExtraInfo::SslContext(self.context.clone())));
        if let Some(cert) = self.conn.peer_certificates().and_then(|c| c.first()) {
            extra.push(("peercert", ExtraInfo::Bytes(cert.as_ref().to_vec())));
        }
        if let Some(cipher) = self.cipher() {
            extra.push(("cipher", ExtraInfo::Cipher(cipher)));
        }
        if let Some(alpn) = self.conn.alpn_protocol() {
            extra.push(("alpn", ExtraInfo::Bytes(alpn.to_vec())));
        }
        extra
    }

    fn describe(&self) -> String {
        format!("{} (TLS)", self.inner.describe())
    }
}
