//! The TLS handshake over a byte stream, before any transport exists: the protocol's
//! `connection_made` runs only once it succeeded, as in asyncio.

use std::io;

use rustls::Connection;

use super::TlsSetup;
use crate::error::{Error, Result};
use crate::net::readiness::Watched;
use crate::sys::Interest;
use crate::time_limit::wait_for;
use crate::transport::{
    receive_records, send_records, ByteStream, ExtraInfo, StreamSource, TlsSource,
};
use crate::EventLoop;

/// Sends `plaintext_first` as it is (what was written before `start_tls`), then runs the
/// handshake within the setup's handshake timeout. Dropping the future (a cancelled
/// connect) closes the stream.
pub(crate) async fn handshake(
    ev: &EventLoop,
    stream: Box<dyn ByteStream>,
    setup: &TlsSetup,
    plaintext_first: Vec<u8>,
) -> Result<TlsSource> {
    let peer = stream
        .extra_info()
        .into_iter()
        .find_map(|(key, value)| match value {
            ExtraInfo::Addr(addr) if key == "peername" => Some(addr),
            _ => None,
        });
    let mut conn = setup.connection(peer)?;
    let mut watched = Watched::new(ev, StreamSource(stream));
    let limit = setup.handshake_timeout;
    match wait_for(drive(&mut watched, &mut conn, &plaintext_first), limit).await {
        Ok(()) => {}
        Err(Error::Timeout) => {
            return Err(Error::TlsTimeout {
                phase: "handshake",
                limit,
            })
        }
        Err(e) => return Err(e),
    }
    let stream = watched.into_source().0;
    Ok(TlsSource::new(
        stream,
        conn,
        setup.config.clone(),
        setup.shutdown_timeout,
    ))
}

async fn drive(
    watched: &mut Watched<StreamSource>,
    conn: &mut Connection,
    mut plaintext: &[u8],
) -> Result<()> {
    while !plaintext.is_empty() {
        match watched.source_mut().0.write(plaintext) {
            Ok(n) => plaintext = &plaintext[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                watched.wait(Interest::WRITE).await?
            }
            Err(e) => return Err(e.into()),
        }
    }
    loop {
        match send_records(conn, &mut *watched.source_mut().0) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                watched.wait(Interest::WRITE).await?;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        if !conn.is_handshaking() {
            return Ok(());
        }
        match receive_records(conn, &mut *watched.source_mut().0) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "the peer closed the connection during the TLS handshake",
                )
                .into())
            }
            Ok(_) => {
                if let Err(e) = conn.process_new_packets() {
                    // Tell the peer why (rustls queued an alert), as far as it takes it now.
                    let _ = send_records(conn, &mut *watched.source_mut().0);
                    return Err(Error::Tls(e));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => watched.wait(Interest::READ).await?,
            Err(e) => return Err(e.into()),
        }
    }
}
