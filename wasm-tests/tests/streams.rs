//! Streams: StreamReader's reads across chunk boundaries, its limit and end-of-stream
//! rules, flow control in both directions (a reader that stops reading pauses its peer;
//! drain waits for a slow peer and fails once the peer is gone), the callback of
//! start_server, and a futures-io codec over a stream connection.

use std::cell::Cell;
use std::io::ErrorKind;
use std::rc::Rc;

use futures_util::io::{AsyncBufReadExt, AsyncWriteExt};
use futures_util::StreamExt;
use twinloop::{
    ConnectOptions, Error, EventLoop, LoopFuture, Result, Server, StreamOptions, StreamReader,
    StreamWriter, DEFAULT_LIMIT,
};
use wasm_tests::tcp_support::*;
use wasm_tests::{recording_handler, yield_now};

/// A stream script with lines, a header block, fixed-size records and mixed separators.
const SCRIPT: &[u8] = b"first line\nHost: x\r\nAccept: *\r\n\r\n0123456789tail;END";

/// Reads [`SCRIPT`] back with every kind of read; the data may arrive in any chunking.
async fn read_script(reader: &mut StreamReader) -> Result<()> {
    assert_eq!(reader.readline().await?, b"first line\n");
    assert_eq!(
        reader.readuntil(b"\r\n\r\n").await?,
        b"Host: x\r\nAccept: *\r\n\r\n"
    );
    assert_eq!(reader.readexactly(10).await?, b"0123456789");
    assert_eq!(reader.readuntil_any(&[b"END", b";"]).await?, b"tail;");
    assert_eq!(reader.read(-1).await?, b"END");
    assert!(reader.at_eof());
    assert_eq!(reader.readline().await?, b"");
    Ok(())
}

fn port_of(server: &Server) -> u16 {
    server.sockets()[0].local_addr().unwrap().port()
}

/// Starts a streams server on 127.0.0.1 that runs `cb` per connection, and connects to it.
async fn serve_and_connect<F, Fut>(
    ev: &EventLoop,
    cb: F,
    opts: StreamOptions<ConnectOptions>,
) -> Result<(Server, StreamReader, StreamWriter)>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: std::future::Future<Output = Result<()>> + 'static,
{
    let server = ev
        .start_server(cb, "127.0.0.1", 0, Default::default())
        .await?;
    let (reader, writer) = ev
        .open_connection("127.0.0.1", port_of(&server), opts)
        .await?;
    Ok((server, reader, writer))
}

#[test]
fn reads_across_chunk_boundaries_with_data_arriving_one_byte_at_a_time() {
    run_tcp(|ev| async move {
        // The server sends the script one byte per write, a few loop turns apart (with
        // TCP_NODELAY on, each byte is its own segment), then closes.
        let trickle = |_reader, writer: StreamWriter| async move {
            for byte in SCRIPT {
                writer.write(std::slice::from_ref(byte))?;
                for _ in 0..3 {
                    yield_now().await;
                }
            }
            writer.close();
            Ok(())
        };
        let server = ev
            .start_server(trickle, "127.0.0.1", 0, Default::default())
            .await?;
        let (mut reader, _writer) = ev
            .open_connection("127.0.0.1", port_of(&server), Default::default())
            .await?;
        read_script(&mut reader).await?;
        server.close();
        Ok(())
    });
}

#[test]
fn reads_the_same_when_everything_is_buffered_at_once() {
    run_tcp(|_ev| async move {
        let mut reader = StreamReader::new(DEFAULT_LIMIT)?;
        reader.feed_data(SCRIPT);
        reader.feed_eof();
        read_script(&mut reader).await
    });
}

#[test]
fn limit_overrun_leaves_the_buffer_as_asyncio_does() {
    run_tcp(|_ev| async move {
        // readuntil, no separator within the limit: error, buffer intact.
        let mut reader = StreamReader::new(8)?;
        reader.feed_data(b"0123456789abcdef");
        match reader.readuntil(b"\n").await {
            Err(Error::LimitOverrun { consumed, .. }) => assert!(consumed > 8, "{consumed}"),
            other => panic!("expected LimitOverrun, got {other:?}"),
        }
        assert_eq!(reader.buffered_len(), 16);
        // The separator found, but beyond the limit: error, buffer intact.
        reader.feed_data(b"\nrest");
        match reader.readuntil(b"\n").await {
            Err(Error::LimitOverrun { consumed, .. }) => assert_eq!(consumed, 16),
            other => panic!("expected LimitOverrun, got {other:?}"),
        }
        reader.feed_eof();
        assert_eq!(reader.read(-1).await?, b"0123456789abcdef\nrest");

        // readline drops an overlong line through its separator and keeps the rest.
        let mut reader = StreamReader::new(7)?;
        reader.feed_data(b"12345678\nnext\n");
        assert!(matches!(
            reader.readline().await,
            Err(Error::LimitOverrun { .. })
        ));
        assert_eq!(reader.readline().await?, b"next\n");
        // ...and, with no separator buffered yet, everything buffered.
        reader.feed_data(b"123456789");
        assert!(matches!(
            reader.readline().await,
            Err(Error::LimitOverrun { .. })
        ));
        assert_eq!(reader.buffered_len(), 0);
        // The limit counts the line body: 7 bytes and '\n' fit.
        reader.feed_data(b"1234567\n");
        assert_eq!(reader.readline().await?, b"1234567\n");
        Ok(())
    });
}

#[test]
fn incomplete_read_carries_exactly_the_bytes_that_were_there() {
    run_tcp(|_ev| async move {
        let mut reader = StreamReader::new(DEFAULT_LIMIT)?;
        let data: Vec<u8> = (0..18).collect();
        reader.feed_data(&data);
        reader.feed_eof();
        match reader.readexactly(36).await {
            Err(Error::IncompleteRead { partial, expected }) => {
                assert_eq!(partial, data);
                assert_eq!(expected, Some(36));
            }
            other => panic!("expected IncompleteRead, got {other:?}"),
        }
        assert!(reader.at_eof());

        let mut reader = StreamReader::new(DEFAULT_LIMIT)?;
        reader.feed_data(b"header: no end");
        reader.feed_eof();
        match reader.readuntil(b"\r\n").await {
            Err(Error::IncompleteRead { partial, expected }) => {
                assert_eq!(partial, b"header: no end");
                assert_eq!(expected, None);
            }
            other => panic!("expected IncompleteRead, got {other:?}"),
        }
        assert_eq!(reader.buffered_len(), 0);

        // Surplus stays buffered; readexactly(0) returns nothing.
        let mut reader = StreamReader::new(DEFAULT_LIMIT)?;
        reader.feed_data(b"abcdef");
        assert_eq!(reader.readexactly(0).await?, b"");
        assert_eq!(reader.readexactly(4).await?, b"abcd");
        assert_eq!(reader.buffered_len(), 2);
        Ok(())
    });
}

#[test]
fn a_stream_error_fails_the_reads_after_it() {
    run_tcp(|_ev| async move {
        let mut reader = StreamReader::new(DEFAULT_LIMIT)?;
        reader.feed_data(b"line\n");
        assert_eq!(reader.readline().await?, b"line\n");
        reader.set_exception(std::io::Error::from(ErrorKind::ConnectionReset).into());
        assert_eq!(
            reader.read(10).await.unwrap_err().io_kind(),
            Some(ErrorKind::ConnectionReset)
        );
        assert!(reader.readexactly(1).await.is_err());
        assert!(StreamReader::new(0).is_err());
        Ok(())
    });
}

/// Bytes a server's stream sent, counted as its writes complete.
#[derive(Clone, Default)]
struct Sent(Rc<Cell<u64>>);

/// A server that writes the test stream ([`stream_byte`]) in 64 KiB pieces with `drain`
/// after each, `total` bytes, then closes.
fn streaming_server(
    total: u64,
    sent: Sent,
) -> impl Fn(
    StreamReader,
    StreamWriter,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>>>> {
    move |_reader, writer| {
        let sent = sent.clone();
        Box::pin(async move {
            let mut pos = 0;
            while pos < total {
                let len = (64 * 1024).min(total - pos) as usize;
                writer.write(&stream_chunk(pos, len))?;
                writer.drain().await?;
                pos += len as u64;
                sent.0.set(pos);
            }
            writer.close();
            Ok(())
        })
    }
}

/// Lets the loop run until `sent` stops moving for a while (the writer is blocked).
async fn until_stalled(ev: &EventLoop, sent: &Sent) -> Result<u64> {
    let mut last = u64::MAX;
    let mut still = 0;
    while still < 20 {
        turns(ev, 5).await?;
        ev.sleep(std::time::Duration::from_millis(5)).await?;
        let now = sent.0.get();
        still = if now == last { still + 1 } else { 0 };
        last = now;
    }
    Ok(last)
}

#[test]
fn a_reader_that_stops_reading_pauses_its_peer_with_memory_bounded() {
    const LIMIT: usize = 4096;
    const TOTAL: u64 = 16 << 20;
    run_tcp(|ev| async move {
        let sent = Sent::default();
        let opts = StreamOptions {
            limit: LIMIT,
            ..Default::default()
        };
        let (server, mut reader, writer) =
            serve_and_connect(&ev, streaming_server(TOTAL, sent.clone()), opts).await?;
        // Read nothing: the server's drain must block, with the socket buffers full
        // and at most twice the limit (plus one read) buffered in the reader.
        let stalled_at = until_stalled(&ev, &sent).await?;
        assert!(stalled_at < TOTAL, "the server was never paused");
        assert!(
            !writer.transport().is_reading(),
            "{reader:?} did not pause reading"
        );
        let bound = 2 * LIMIT + 256 * 1024;
        assert!(
            reader.buffered_len() <= bound,
            "{} bytes buffered, bound {bound}",
            reader.buffered_len()
        );
        // Now read everything: the server resumes, every byte arrives in order.
        let mut pos = 0u64;
        loop {
            let data = reader.read(256 * 1024).await?;
            if data.is_empty() {
                break;
            }
            assert_same_bytes("stream", &data, &stream_chunk(pos, data.len()));
            pos += data.len() as u64;
            assert!(reader.buffered_len() <= bound);
        }
        assert_eq!(pos, TOTAL);
        server.close();
        Ok(())
    });
}

/// A server callback that reads only once `go` is set, then counts everything to EOF
/// into `received`.
fn late_reader(
    go: &LoopFuture<()>,
    received: &LoopFuture<u64>,
) -> impl Fn(
    StreamReader,
    StreamWriter,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>>>> {
    let (go, received) = (go.clone(), received.clone());
    move |mut reader, _writer| {
        let (go, received) = (go.clone(), received.clone());
        Box::pin(async move {
            go.await?;
            let mut n = 0;
            loop {
                let data = reader.read(1 << 20).await?;
                if data.is_empty() {
                    break;
                }
                n += data.len() as u64;
            }
            received.set_result(n)
        })
    }
}

#[test]
fn drain_waits_while_the_peer_does_not_read_and_returns_when_it_does() {
    const TOTAL: u64 = 16 << 20;
    run_tcp(|ev| async move {
        let (go, received) = (ev.create_future(), ev.create_future());
        let (server, _reader, writer) =
            serve_and_connect(&ev, late_reader(&go, &received), Default::default()).await?;
        let sent = Sent::default();
        let s = sent.clone();
        let client = ev.create_task(async move {
            let mut pos = 0;
            while pos < TOTAL {
                writer.write(&vec![7; 64 * 1024])?;
                writer.drain().await?;
                pos += 64 * 1024;
                s.0.set(pos);
            }
            writer.close(); // after the buffered data
            writer.wait_closed().await
        })?;
        let stalled_at = until_stalled(&ev, &sent).await?;
        assert!(stalled_at < TOTAL, "drain never blocked");
        assert!(
            !client.done(),
            "the writer finished while its peer was not reading"
        );
        go.set_result(())?;
        assert_eq!(received.await?, TOTAL);
        client.await??;
        server.close();
        Ok(())
    });
}

#[test]
fn drain_after_the_peer_reset_the_connection_fails() {
    run_tcp(|ev| async move {
        let abort = |_reader, writer: StreamWriter| async move {
            writer.transport().abort();
            Ok(())
        };
        let (server, _reader, writer) = serve_and_connect(&ev, abort, Default::default()).await?;
        let mut failure = None;
        for _ in 0..2000 {
            let step = match writer.write(&[1; 64 * 1024]) {
                Ok(()) => writer.drain().await,
                Err(e) => Err(e),
            };
            if let Err(e) = step {
                failure = Some(e);
                break;
            }
            ev.sleep(std::time::Duration::from_millis(1)).await?;
        }
        let failure = failure.expect("writing to a reset connection never failed");
        let connection_error = |e: &Error| {
            matches!(
                e.io_kind(),
                Some(
                    ErrorKind::ConnectionReset
                        | ErrorKind::BrokenPipe
                        | ErrorKind::ConnectionAborted
                )
            )
        };
        assert!(connection_error(&failure), "{failure:?}");
        let again = writer.drain().await.unwrap_err();
        assert!(connection_error(&again), "{again:?}");
        server.close();
        Ok(())
    });
}

#[test]
fn a_futures_io_flush_waits_until_the_write_buffer_is_empty() {
    const TOTAL: usize = 16 << 20;
    run_tcp(|ev| async move {
        let (go, received) = (ev.create_future(), ev.create_future());
        let (server, _reader, mut writer) =
            serve_and_connect(&ev, late_reader(&go, &received), Default::default()).await?;
        // High water above what is written: the transport is never paused, so `drain`
        // would return at once; `flush` must wait for the peer to take it all.
        writer
            .transport()
            .set_write_buffer_limits(Some(4 * TOTAL), None)?;
        writer.write(&vec![7; TOTAL])?;
        assert!(
            writer.transport().get_write_buffer_size() > 0,
            "the socket took it all"
        );
        writer.drain().await?;
        let flushed = Rc::new(Cell::new(false));
        let f = flushed.clone();
        let flushing = ev.create_task(async move {
            AsyncWriteExt::flush(&mut writer)
                .await
                .map_err(Error::from)?;
            f.set(true);
            let left = writer.transport().get_write_buffer_size();
            writer.close();
            Ok::<usize, Error>(left)
        })?;
        turns(&ev, 50).await?;
        assert!(
            !flushed.get(),
            "flush returned while the peer was not reading"
        );
        go.set_result(())?;
        assert_eq!(
            flushing.await??,
            0,
            "flush returned with data still buffered"
        );
        assert_eq!(received.await?, TOTAL as u64);
        server.close();
        Ok(())
    });
}

#[test]
fn a_futures_io_lines_codec_round_trips_over_a_stream() {
    run_tcp(|ev| async move {
        // An echo server written against futures-io only.
        let echo = |reader: StreamReader, mut writer: StreamWriter| async move {
            futures_util::io::copy(reader, &mut writer)
                .await
                .map_err(Error::from)?;
            AsyncWriteExt::close(&mut writer).await.map_err(Error::from)
        };
        let server = ev
            .start_server(echo, "127.0.0.1", 0, Default::default())
            .await?;
        let (reader, mut writer) = ev
            .open_connection("127.0.0.1", port_of(&server), Default::default())
            .await?;
        let lines: Vec<String> = (0..500)
            .map(|i| format!("line {i} {}", "x".repeat(i)))
            .collect();
        for line in &lines {
            writer
                .write_all(line.as_bytes())
                .await
                .map_err(Error::from)?;
            writer.write_all(b"\n").await.map_err(Error::from)?;
        }
        AsyncWriteExt::close(&mut writer)
            .await
            .map_err(Error::from)?; // half-close: the echo ends
        let echoed: Vec<String> = reader.lines().map(|l| l.expect("a line")).collect().await;
        assert_eq!(echoed, lines);
        server.close();
        Ok(())
    });
}

#[test]
fn an_error_from_client_connected_cb_is_reported_and_closes_the_connection() {
    let ev = wasm_tests::new_loop();
    let (handler, seen) = recording_handler();
    ev.set_exception_handler(Some(handler));
    let outcome = wasm_tests::run_until_complete(&ev, {
        let ev = ev.clone();
        async move {
            let failing = |_reader, _writer| async {
                Err::<(), _>(Error::InvalidArgument("bad request".into()))
            };
            let server = ev
                .start_server(failing, "127.0.0.1", 0, Default::default())
                .await?;
            let (mut reader, _writer) = ev
                .open_connection("127.0.0.1", port_of(&server), Default::default())
                .await?;
            let rest = reader.read(-1).await?; // the server closed the connection
            server.close();
            Ok::<_, Error>(rest)
        }
    });
    assert_eq!(outcome.expect("ran").expect("no error"), b"");
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0].message,
        "Unhandled exception in client_connected_cb"
    );
    assert!(matches!(seen[0].error, Some(Error::InvalidArgument(_))));
}

#[test]
fn open_connection_and_start_server_echo_lines() {
    run_tcp(|ev| async move {
        let echo = |mut reader: StreamReader, writer: StreamWriter| async move {
            loop {
                let line = reader.readline().await?;
                if line.is_empty() {
                    return Ok(());
                }
                writer.write(&line)?;
                writer.drain().await?;
            }
        };
        let server = ev
            .start_server(echo, "127.0.0.1", 0, Default::default())
            .await?;
        let (mut reader, writer) =
            twinloop::open_connection("127.0.0.1", port_of(&server), Default::default()).await?;
        for i in 0..100 {
            let line = format!("{i}\n");
            writer.write(line.as_bytes())?;
            assert_eq!(reader.readline().await?, line.as_bytes());
        }
        assert!(writer.can_write_eof());
        writer.write_eof()?;
        assert_eq!(reader.read(-1).await?, b""); // the server dropped reader and writer: closed
        writer.close();
        assert!(writer.is_closing());
        writer.wait_closed().await?;
        assert!(writer.write(b"late").is_err());
        server.close();
        server.wait_closed().await?;
        Ok(())
    });
}
