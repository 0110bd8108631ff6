//! TCP flow: half-close with write_eof, write-buffer backpressure, abort dropping buffered
//! data, close flushing it.

use std::time::Duration;

use twinloop::{ConnectOptions, Error, ServerOptions, Transport};
use wasm_tests::tcp_support::*;

const HIGH: usize = 64 * 1024;
const LOW: usize = 16 * 1024;
const CHUNK: usize = 64 * 1024;
/// Kernel (or host) socket buffers absorb several MB before the transport's own buffer
/// grows; past this much, a missing pause_writing is a bug.
const PAUSE_LIMIT: u64 = 64 * 1024 * 1024;

/// The server end of the half-close test: on EOF it writes the reversed data back at once,
/// then a trailer from a later loop iteration, then closes.
struct Reverser {
    log: Watch<PeerLog>,
    inner: Peer,
    transport: Option<Transport>,
}

impl twinloop::BaseProtocol for Reverser {
    fn connection_made(&mut self, t: Transport) {
        self.transport = Some(t.clone());
        self.inner.connection_made(t);
    }

    fn connection_lost(&mut self, error: Option<Error>) {
        self.inner.connection_lost(error);
    }
}

impl twinloop::Protocol for Reverser {
    fn data_received(&mut self, data: &[u8]) {
        self.inner.data_received(data);
    }

    fn eof_received(&mut self) -> bool {
        let keep_open = self.inner.eof_received();
        assert!(keep_open, "the options keep the transport open");
        let t = self.transport.clone().expect("connection_made ran");
        let mut reversed = self.log.get(|l| l.data.clone());
        reversed.reverse();
        if let Err(e) = t.write(&reversed) {
            self.log.update(|l| l.write_errors.push(e));
        }
        let log = self.log.clone();
        let later = t.get_loop().and_then(|ev| {
            ev.call_later(Duration::from_millis(5), move |_| {
                if let Err(e) = t.write(b"<bye>") {
                    log.update(|l| l.write_errors.push(e));
                }
                t.close();
            })
        });
        if let Err(e) = later {
            self.log.update(|l| l.write_errors.push(e));
        }
        true
    }
}

#[test]
fn write_eof_half_close_then_peer_replies() {
    const SIZE: usize = 200 * 1024 + 3;
    run_tcp(|ev| async move {
        let logs: Watch<Vec<Watch<PeerLog>>> = Watch::default();
        let registry = logs.clone();
        let server = ev
            .create_server(
                move || {
                    let log = Watch::<PeerLog>::default();
                    registry.update(|v| v.push(log.clone()));
                    let opts = PeerOptions {
                        keep_open_on_eof: true,
                        ..PeerOptions::default()
                    };
                    Reverser {
                        inner: Peer::new(log.clone(), opts),
                        log,
                        transport: None,
                    }
                },
                LOCALHOST_V4,
                0,
                ServerOptions::default(),
            )
            .await?;
        let port = server.sockets()[0].local_addr().unwrap().port();
        let (client, log) = connect(&ev, port, PeerOptions::default()).await?;
        let payload = pattern(SIZE, 42);
        client.write(&payload)?;
        client.write_eof()?;
        assert!(client.can_write_eof());
        assert!(!client.is_closing(), "write_eof only half-closes");
        log.until(&ev, "client connection_lost", PeerLog::is_lost)
            .await?;
        let peer = logs.get(|v| v[0].clone());
        peer.until(&ev, "server connection_lost", PeerLog::is_lost)
            .await?;
        server.close();
        server.wait_closed().await?;

        let mut want = payload.clone();
        want.reverse();
        want.extend_from_slice(b"<bye>");
        peer.get(|l| {
            assert_same_bytes("server received", &l.data, &payload);
            assert_eq!(
                l.received_at_eof,
                Some(SIZE as u64),
                "EOF after all the data"
            );
            assert!(
                l.write_errors.is_empty(),
                "server writes: {:?}",
                l.write_errors
            );
            assert_eq!(l.stream_events(), ["made", "data", "eof", "lost"]);
            assert!(matches!(l.lost, Some(None)), "server lost: {:?}", l.lost);
        });
        log.get(|l| {
            assert_same_bytes("client received", &l.data, &want);
            assert_eq!(l.received_at_eof, Some(want.len() as u64));
            assert_eq!(l.stream_events(), ["made", "data", "eof", "lost"]);
            assert!(matches!(l.lost, Some(None)), "client lost: {:?}", l.lost);
        });
        Ok(())
    });
}

#[test]
fn backpressure_pauses_at_high_and_resumes_at_low() {
    run_tcp(|ev| async move {
        let srv = serve(&ev, PeerOptions::stalled_sink()).await?;
        let (client, log) = connect(&ev, srv.port, PeerOptions::default()).await?;
        let err = client
            .set_write_buffer_limits(Some(LOW), Some(HIGH))
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument(_)),
            "high < low: {err:?}"
        );
        client.set_write_buffer_limits(Some(HIGH), Some(LOW))?;
        assert_eq!(client.get_write_buffer_limits(), (LOW, HIGH));
        let peer = srv.peer(&ev, 0).await?;
        let server_end = peer.get(PeerLog::transport);
        assert!(!server_end.is_reading(), "paused in connection_made");

        let mut written = 0u64;
        write_until_paused(&client, &log, &mut written, CHUNK, PAUSE_LIMIT)?;
        let paused_at = log.get(|l| l.paused_at.clone());
        assert_eq!(paused_at.len(), 1, "one pause_writing: {paused_at:?}");
        assert!(
            paused_at[0] > HIGH && paused_at[0] <= HIGH + CHUNK,
            "pause_writing at {} buffered bytes; high mark {HIGH}, chunk {CHUNK}",
            paused_at[0]
        );
        assert!(client.get_write_buffer_size() > HIGH);
        assert!(client.get_write_buffer_size() as u64 <= written);
        // Nothing changes while the peer does not read.
        turns(&ev, 5).await?;
        log.get(|l| {
            assert!(l.writing_paused);
            assert!(l.resumed_at.is_empty(), "resumed with a stalled peer");
        });
        assert!(client.get_write_buffer_size() as u64 <= written);
        assert_eq!(peer.get(|l| l.received), 0, "the peer does not read");

        server_end.resume_reading();
        assert!(server_end.is_reading());
        log.until(&ev, "resume_writing", |l| !l.resumed_at.is_empty())
            .await?;
        let resumed_at = log.get(|l| l.resumed_at.clone());
        assert_eq!(resumed_at.len(), 1, "{resumed_at:?}");
        assert!(
            resumed_at[0] <= LOW,
            "resume_writing at {} buffered bytes; low mark {LOW}",
            resumed_at[0]
        );

        // Writing goes on while not paused; then the peer must get every byte.
        for _ in 0..4 {
            if log.get(|l| l.writing_paused) {
                break;
            }
            client.write(&stream_chunk(written, CHUNK))?;
            written += CHUNK as u64;
            assert!(client.get_write_buffer_size() as u64 <= written);
        }
        client.close();
        peer.until(&ev, "the peer to receive every byte and EOF", |l| l.eof > 0)
            .await?;
        peer.until(&ev, "server connection_lost", PeerLog::is_lost)
            .await?;
        log.until(&ev, "client connection_lost", PeerLog::is_lost)
            .await?;
        peer.get(|l| {
            assert_eq!(
                l.stream_mismatch, None,
                "bytes differ from what was written"
            );
            assert_eq!(l.received, written, "bytes received");
            assert_eq!(l.received_at_eof, Some(written));
        });
        log.get(|l| {
            assert_eq!(
                l.paused_at.len(),
                l.resumed_at.len() + usize::from(l.writing_paused),
                "pause/resume come in pairs: {:?} / {:?}",
                l.paused_at,
                l.resumed_at
            );
            assert_eq!(l.buffer_at_lost, Some(0));
            assert!(matches!(l.lost, Some(None)), "{:?}", l.lost);
        });
        srv.shut_down().await?;
        Ok(())
    });
}

#[test]
fn lowering_the_high_mark_pauses_at_once() {
    run_tcp(|ev| async move {
        let srv = serve(&ev, PeerOptions::stalled_sink()).await?;
        let (client, log) = connect(&ev, srv.port, PeerOptions::default()).await?;
        let mut written = 0u64;
        // Default limits: 64 KiB high, 16 KiB low.
        assert_eq!(client.get_write_buffer_limits(), (16 * 1024, 64 * 1024));
        write_until_paused(&client, &log, &mut written, CHUNK, PAUSE_LIMIT)?;
        // Raise the marks above what is buffered: resume_writing at once.
        let buffered = client.get_write_buffer_size();
        client.set_write_buffer_limits(Some(buffered * 8), Some(buffered * 2))?;
        log.get(|l| assert_eq!(l.resumed_at.len(), 1, "{:?}", l.events));
        // Lower them below it: pause_writing at once.
        client.set_write_buffer_limits(Some(buffered / 2), None)?;
        assert_eq!(
            client.get_write_buffer_limits(),
            (buffered / 8, buffered / 2)
        );
        log.get(|l| {
            assert_eq!(l.paused_at.len(), 2, "{:?}", l.events);
            assert!(l.writing_paused);
        });
        // low alone makes high four times low.
        client.set_write_buffer_limits(None, Some(1000))?;
        assert_eq!(client.get_write_buffer_limits(), (1000, 4000));
        client.abort();
        log.until(&ev, "client connection_lost", PeerLog::is_lost)
            .await?;
        // The stalled peer sees the end only once it reads again.
        let peer = srv.peer(&ev, 0).await?;
        peer.get(PeerLog::transport).resume_reading();
        srv.shut_down().await?;
        peer.get(|l| assert_eq!(l.stream_mismatch, None));
        Ok(())
    });
}

#[test]
fn abort_drops_buffered_data() {
    run_tcp(|ev| async move {
        let srv = serve(&ev, PeerOptions::stalled_sink()).await?;
        let (client, log) = connect(&ev, srv.port, PeerOptions::default()).await?;
        client.set_write_buffer_limits(Some(HIGH), Some(LOW))?;
        let peer = srv.peer(&ev, 0).await?;
        let mut written = 0u64;
        write_until_paused(&client, &log, &mut written, CHUNK, PAUSE_LIMIT)?;
        let dropped = client.get_write_buffer_size();
        assert!(dropped > HIGH);

        client.abort();
        assert_eq!(
            client.get_write_buffer_size(),
            0,
            "abort empties the buffer"
        );
        assert!(client.is_closing());
        assert!(!client.is_reading());
        client.abort(); // idempotent
        let err = client.write(b"x").unwrap_err();
        assert!(matches!(err, Error::InvalidState(_)), "{err:?}");
        log.until(&ev, "client connection_lost after abort", PeerLog::is_lost)
            .await?;
        log.get(|l| {
            assert!(matches!(l.lost, Some(None)), "abort: {:?}", l.lost);
            assert_eq!(l.lost_count, 1);
        });

        peer.get(PeerLog::transport).resume_reading();
        peer.until(&ev, "the peer to see the connection end", PeerLog::is_lost)
            .await?;
        turns(&ev, 3).await?;
        log.get(|l| assert_eq!(l.lost_count, 1, "connection_lost exactly once"));
        peer.get(|l| {
            assert_eq!(
                l.stream_mismatch, None,
                "what arrived must be a prefix of what was written"
            );
            assert!(
                l.received <= written - dropped as u64,
                "the peer got {} bytes, but {written} were written and {dropped} dropped",
                l.received
            );
        });
        srv.shut_down().await?;
        Ok(())
    });
}

#[test]
fn close_flushes_buffered_data_then_eof() {
    const SIZE: usize = 16 * 1024 * 1024;
    run_tcp(|ev| async move {
        let srv = serve(&ev, PeerOptions::stalled_sink()).await?;
        let (client, log) = connect(&ev, srv.port, PeerOptions::default()).await?;
        let peer = srv.peer(&ev, 0).await?;
        client.write(&stream_chunk(0, SIZE))?;
        client.close();
        assert!(client.is_closing());
        assert!(!client.is_reading(), "close stops reading");
        // Let the loop try to flush while the peer does not read.
        ev.sleep(Duration::from_millis(20)).await?;
        if client.get_write_buffer_size() > 0 {
            assert!(
                !log.get(PeerLog::is_lost),
                "connection_lost before the buffer was flushed"
            );
        }
        peer.get(PeerLog::transport).resume_reading();
        peer.until(&ev, "EOF after the whole payload", |l| l.eof > 0)
            .await?;
        log.until(&ev, "client connection_lost", PeerLog::is_lost)
            .await?;
        peer.until(&ev, "server connection_lost", PeerLog::is_lost)
            .await?;
        peer.get(|l| {
            assert_eq!(l.stream_mismatch, None, "bytes differ");
            assert_eq!(l.received, SIZE as u64);
            assert_eq!(
                l.received_at_eof,
                Some(SIZE as u64),
                "EOF only after every byte"
            );
            assert_eq!(l.stream_events(), ["made", "data", "eof", "lost"]);
        });
        log.get(|l| {
            assert_eq!(l.buffer_at_lost, Some(0), "connection_lost after the flush");
            assert!(matches!(l.lost, Some(None)), "{:?}", l.lost);
            assert_eq!(l.events.first(), Some(&"made"));
            assert_eq!(l.events.last(), Some(&"lost"));
            assert!(l.data.is_empty());
        });
        srv.shut_down().await?;
        Ok(())
    });
}

#[test]
fn pause_reading_in_connection_made_holds_data_until_resumed() {
    run_tcp(|ev| async move {
        let srv = serve(&ev, PeerOptions::echo()).await?;
        let log = Watch::<PeerLog>::default();
        let for_factory = log.clone();
        let opts = PeerOptions {
            pause_reading: true,
            ..PeerOptions::default()
        };
        let (client, _protocol) = ev
            .create_connection(
                move || Peer::new(for_factory, opts),
                LOCALHOST_V4,
                srv.port,
                ConnectOptions::default(),
            )
            .await?;
        assert!(!client.is_reading());
        client.write(b"ping")?;
        let peer = srv.peer(&ev, 0).await?;
        peer.until(&ev, "the server to get ping", |l| l.received >= 4)
            .await?;
        turns(&ev, 5).await?;
        assert_eq!(log.get(|l| l.received), 0, "data arrived while paused");
        client.pause_reading(); // idempotent
        client.resume_reading();
        client.resume_reading();
        assert!(client.is_reading());
        log.until(&ev, "the echo after resume_reading", |l| l.received >= 4)
            .await?;
        log.get(|l| assert_eq!(l.data, b"ping"));
        client.close();
        assert!(!client.is_reading(), "not reading after close");
        log.until(&ev, "client connection_lost", PeerLog::is_lost)
            .await?;
        srv.shut_down().await?;
        Ok(())
    });
}
