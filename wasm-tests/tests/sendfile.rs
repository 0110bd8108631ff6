//! loop.sendfile over TCP and TLS: a 64 MiB file checked by hash, with and without the
//! fallback allowed; offset and count; order with writes before and after; the rules while
//! it runs. In the guest the files live in the scratch directory the test runner grants
//! (`wasm_tests::scratch_dir`), and there is no zero-copy path: the fallback sends, and
//! without it sendfile is refused. TLS has no zero-copy path on any target.

/// The tests' bodies, on every target; the tests below say where each runs.
mod bodies {
    use std::fs::File;
    use std::io::{Seek, Write};
    use std::path::PathBuf;
    use std::rc::Rc;

    use twinloop::{
        BaseProtocol, ConnectOptions, Error, EventLoop, LoopFuture, Protocol, Result,
        ServerOptions, Transport,
    };
    use wasm_tests::tcp_support::run_tcp;
    use wasm_tests::tls_support::{tls_client, tls_server, TestCa};

    /// A running hash of a byte stream (SipHash from std: fed in any chunking, the same
    /// bytes give the same hash).
    #[derive(Clone)]
    pub struct StreamHash(std::collections::hash_map::DefaultHasher);

    impl StreamHash {
        pub fn new() -> StreamHash {
            StreamHash(Default::default())
        }
        pub fn update(&mut self, data: &[u8]) {
            std::hash::Hasher::write(&mut self.0, data);
        }
        pub fn of(data: &[u8]) -> u64 {
            let mut h = StreamHash::new();
            h.update(data);
            h.value()
        }
        pub fn value(&self) -> u64 {
            std::hash::Hasher::finish(&self.0)
        }
    }

    /// A file in the scratch directory with `len` bytes of a pattern; removed when dropped.
    pub struct TempFile {
        pub path: PathBuf,
        pub hash: u64,
        pub bytes: Option<Vec<u8>>,
    }

    impl TempFile {
        pub fn new(name: &str, len: usize, keep_bytes: bool) -> TempFile {
            let path = wasm_tests::scratch_path(&format!("sendfile-{name}"));
            let data: Vec<u8> = (0..len).map(|i| (i * 31 + i / 4099) as u8).collect();
            File::create(&path)
                .and_then(|mut f| f.write_all(&data))
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot write {} ({e}); in the guest the runner must grant a \
                         scratch directory: twinloop-host test --dir-rw HOST::{}",
                        path.display(),
                        wasm_tests::GUEST_SCRATCH_DIR
                    )
                });
            TempFile {
                path,
                hash: StreamHash::of(&data),
                bytes: keep_bytes.then_some(data),
            }
        }
        pub fn open(&self) -> File {
            File::open(&self.path).unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    /// The server side: hashes (and keeps, if asked) what arrives; done at the end.
    struct Sink {
        hash: StreamHash,
        len: u64,
        keep: Option<Vec<u8>>,
        done: LoopFuture<(u64, u64, Vec<u8>)>,
    }
    impl BaseProtocol for Sink {
        fn connection_lost(&mut self, _: Option<Error>) {
            let kept = self.keep.take().unwrap_or_default();
            let _ = self.done.set_result((self.hash.value(), self.len, kept));
        }
    }
    impl Protocol for Sink {
        fn data_received(&mut self, data: &[u8]) {
            self.hash.update(data);
            self.len += data.len() as u64;
            if let Some(keep) = &mut self.keep {
                keep.extend_from_slice(data);
            }
        }
    }

    struct Quiet;
    impl BaseProtocol for Quiet {}
    impl Protocol for Quiet {}

    type Received = LoopFuture<(u64, u64, Vec<u8>)>;

    /// What the bytes travel over.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Link {
        Tcp,
        /// TLS over TCP (rustls on both ends, a test CA).
        Tls,
    }

    /// A sink server and a client transport to it, over `link`.
    pub async fn connected(
        ev: &EventLoop,
        keep: bool,
        link: Link,
    ) -> Result<(Transport, Received)> {
        let done: Received = ev.create_future();
        let d = done.clone();
        let sink = move || Sink {
            hash: StreamHash::new(),
            len: 0,
            keep: keep.then(Vec::new),
            done: d.clone(),
        };
        let (server_options, client_options) = match link {
            Link::Tcp => (ServerOptions::default(), ConnectOptions::default()),
            Link::Tls => {
                let ca = TestCa::new();
                let server = tls_server(&ca.server(&["localhost"]), &[]);
                (server, tls_client(&ca.client(&[]), Some("localhost")))
            }
        };
        let server = ev
            .create_server(sink, "127.0.0.1", 0, server_options)
            .await?;
        let port = server.sockets()[0].local_addr().unwrap().port();
        let (t, _) = ev
            .create_connection(|| Quiet, "127.0.0.1", port, client_options)
            .await?;
        server.close();
        Ok((t, done))
    }

    /// Whether the OS has a zero-copy path (`sendfile(2)`) for plain TCP; elsewhere (the
    /// guest too) sendfile without the fallback is refused, as asyncio's selector loop
    /// refuses it. TLS never has one: the bytes must go through the encryption.
    pub const ZERO_COPY: bool = cfg!(any(target_os = "linux", target_os = "android"));

    /// Sends a whole `len`-byte file over `link`; checks what arrived by hash, or that
    /// nothing did and the file did not move where there is no zero-copy path and
    /// `fallback` is false.
    pub fn whole_file(len: usize, link: Link, fallback: bool) {
        let name = format!("whole-{link:?}-{fallback}");
        let file = Rc::new(TempFile::new(&name, len, false));
        let f = file.clone();
        let (sent, position, got) = run_tcp(|ev| async move {
            let (t, received) = connected(&ev, false, link).await?;
            let mut handle = f.open();
            let sent = ev.sendfile(&t, &handle, 0, None, fallback).await;
            let position = handle.stream_position()?;
            t.close();
            Ok((sent, position, received.await?))
        });
        let zero_copy = ZERO_COPY && link == Link::Tcp;
        if !fallback && !zero_copy {
            assert!(
                matches!(sent, Err(Error::SendfileNotAvailable(_))),
                "{sent:?}"
            );
            assert_eq!((position, got.1), (0, 0), "nothing was sent");
            return;
        }
        let sent = sent.expect("sendfile");
        assert_eq!(sent, len as u64);
        assert_eq!(
            position, len as u64,
            "the file position ends after what was sent"
        );
        assert_eq!(
            (got.0, got.1),
            (file.hash, len as u64),
            "the received stream differs"
        );
    }

    fn prefix() -> Vec<u8> {
        (0..16 << 20).map(|i: u32| (i % 251) as u8).collect()
    }

    pub fn offset_count_and_order() {
        let file = Rc::new(TempFile::new("slice", 10_000, true));
        let f = file.clone();
        let (sent, position, refused, got) = run_tcp(|ev| async move {
            let (t, received) = connected(&ev, true, Link::Tcp).await?;
            let mut handle = f.open();
            // A prefix much larger than the socket buffers: most of it waits in the
            // transport, so the sendfile below is still waiting for it to go first.
            t.write(&prefix())?;
            // The order rules are the same for both paths: take the one there is.
            let running = ev.create_task(ev.sendfile(&t, &handle, 1000, Some(100), !ZERO_COPY))?;
            wasm_tests::yield_now().await; // the task takes its first step
            let refused = t.write(b"x").err();
            let sent = running.await??;
            t.write(b"suffix")?;
            let position = handle.stream_position()?;
            t.close();
            Ok((sent, position, refused, received.await?))
        });
        assert_eq!(sent, 100);
        assert_eq!(position, 1100, "offset + count");
        let refused = refused.expect("write during sendfile was accepted");
        assert!(matches!(refused, Error::InvalidState(_)), "{refused:?}");
        let bytes = file.bytes.as_ref().unwrap();
        let mut want = prefix();
        want.extend_from_slice(&bytes[1000..1100]);
        want.extend_from_slice(b"suffix");
        assert_eq!(got.2, want);
    }

    /// sock_sendfile between two sock_sendall calls, from a std listener's point of view.
    #[cfg(not(target_os = "wasi"))]
    pub fn sock_sendfile_in_order(fallback: bool) {
        use std::io::Read;
        use twinloop::{Family, Socket, SocketType};
        let file = Rc::new(TempFile::new(&format!("sock-{fallback}"), 3 << 20, true));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let reader = std::thread::spawn(move || {
            let (mut peer, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            peer.read_to_end(&mut got).unwrap();
            got
        });
        let f = file.clone();
        let (sent, position) = run_tcp(|ev| async move {
            let sock = Socket::new(Family::V4, SocketType::Stream)?;
            ev.sock_connect(&sock, "127.0.0.1", port).await?;
            let mut handle = f.open();
            ev.sock_sendall(&sock, b"head".to_vec()).await?;
            let sent = ev
                .sock_sendfile(&sock, &handle, 3000, Some(2 << 20), fallback)
                .await;
            ev.sock_sendall(&sock, b"tail".to_vec()).await?;
            sock.close();
            Ok((sent, handle.stream_position()?))
        });
        let bytes = file.bytes.as_ref().unwrap();
        let mut want = b"head".to_vec();
        if !fallback && !ZERO_COPY {
            assert!(
                matches!(sent, Err(Error::SendfileNotAvailable(_))),
                "{sent:?}"
            );
            assert_eq!(position, 3000, "the offset, nothing sent");
        } else {
            assert_eq!(sent.expect("sock_sendfile"), 2 << 20);
            assert_eq!(position, 3000 + (2 << 20));
            want.extend_from_slice(&bytes[3000..3000 + (2 << 20)]);
        }
        want.extend_from_slice(b"tail");
        assert!(
            reader.join().unwrap() == want,
            "the peer got something else"
        );
    }

    pub fn sock_sendfile_needs_a_stream_socket() {
        use twinloop::{Family, Socket, SocketType};
        let file = TempFile::new("dgram", 10, false);
        let outcome = run_tcp(|ev| async move {
            let sock = Socket::new(Family::V4, SocketType::Datagram)?;
            Ok(ev.sock_sendfile(&sock, &file.open(), 0, None, true).await)
        });
        assert!(
            matches!(outcome, Err(Error::InvalidArgument(_))),
            "{outcome:?}"
        );
    }

    /// A pipe has no zero-copy path: with the fallback the file goes through reads and
    /// writes; without it, nothing is sent.
    #[cfg(unix)]
    pub fn over_a_pipe(fallback: bool) {
        use std::io::Read;
        use std::os::fd::OwnedFd;
        let file = Rc::new(TempFile::new(&format!("pipe-{fallback}"), 3 << 20, false));
        let (mut pipe_out, pipe_in) = std::io::pipe().unwrap();
        let pipe_in = File::from(OwnedFd::from(pipe_in));
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            pipe_out.read_to_end(&mut got).unwrap();
            got
        });
        let f = file.clone();
        let (outcome, position) = run_tcp(|ev| async move {
            let (wt, _) = ev.connect_write_pipe(|| Quiet, pipe_in).await?;
            let mut handle = f.open();
            let outcome = ev
                .sendfile(wt.transport(), &handle, 0, None, fallback)
                .await;
            let position = handle.stream_position()?;
            wt.close();
            Ok((outcome, position))
        });
        let got = reader.join().unwrap();
        if fallback {
            assert_eq!(outcome.expect("sent through the fallback"), 3 << 20);
            assert_eq!(position, 3 << 20);
            assert!(
                StreamHash::of(&got) == file.hash,
                "the pipe's reader got something else"
            );
        } else {
            assert!(
                matches!(outcome, Err(Error::SendfileNotAvailable(_))),
                "{outcome:?}"
            );
            assert_eq!(position, 0);
            assert!(got.is_empty(), "{} bytes went out", got.len());
        }
    }

    pub fn closing_transport() {
        let file = TempFile::new("closing", 1000, false);
        let outcome = run_tcp(|ev| async move {
            let (t, received) = connected(&ev, false, Link::Tcp).await?;
            t.close();
            let mut handle = file.open();
            let outcome = ev.sendfile(&t, &handle, 0, None, true).await;
            assert_eq!(handle.stream_position()?, 0, "nothing was sent");
            received.await?;
            Ok(outcome)
        });
        assert!(
            matches!(outcome, Err(Error::InvalidState(_))),
            "{outcome:?}"
        );
    }
}

/// The size of the whole-file tests.
const WHOLE: usize = 64 << 20;

#[test]
fn a_64_mib_file_arrives_intact_without_the_fallback() {
    // The guest and non-Linux systems have no zero-copy path: refused, nothing sent.
    bodies::whole_file(WHOLE, bodies::Link::Tcp, false);
}

#[test]
fn a_64_mib_file_arrives_intact_with_the_fallback_allowed() {
    bodies::whole_file(WHOLE, bodies::Link::Tcp, true);
}

#[test]
fn over_tls_the_fallback_sends_a_64_mib_file_intact() {
    bodies::whole_file(WHOLE, bodies::Link::Tls, true);
}

#[test]
fn over_tls_without_the_fallback_sendfile_is_not_available() {
    bodies::whole_file(WHOLE, bodies::Link::Tls, false);
}

#[test]
fn offset_and_count_send_exactly_that_between_the_writes_around_it() {
    bodies::offset_count_and_order();
}

#[test]
fn sendfile_on_a_closing_transport_is_refused() {
    bodies::closing_transport();
}

#[test]
#[cfg_attr(
    target_os = "wasi",
    ignore = "the peer is a std listener on a thread; the guest has neither"
)]
fn sock_sendfile_sends_a_slice_between_sock_sendall_calls() {
    #[cfg(not(target_os = "wasi"))]
    bodies::sock_sendfile_in_order(false);
}

#[test]
#[cfg_attr(
    target_os = "wasi",
    ignore = "the peer is a std listener on a thread; the guest has neither"
)]
fn sock_sendfile_with_the_fallback_allowed_sends_the_same() {
    #[cfg(not(target_os = "wasi"))]
    bodies::sock_sendfile_in_order(true);
}

#[test]
fn sock_sendfile_on_a_datagram_socket_is_refused() {
    bodies::sock_sendfile_needs_a_stream_socket();
}

#[test]
#[cfg_attr(
    target_os = "wasi",
    ignore = "pipes are Unix only: in the guest connect_write_pipe is Unsupported (WASI has no pipes)"
)]
#[cfg_attr(
    windows,
    ignore = "pipes are Unix only: on Windows connect_write_pipe is Unsupported (pipes.rs)"
)]
fn over_a_pipe_the_fallback_reads_and_writes_the_whole_file() {
    #[cfg(unix)]
    bodies::over_a_pipe(true);
}

#[test]
#[cfg_attr(
    target_os = "wasi",
    ignore = "pipes are Unix only: in the guest connect_write_pipe is Unsupported (WASI has no pipes)"
)]
#[cfg_attr(
    windows,
    ignore = "pipes are Unix only: on Windows connect_write_pipe is Unsupported (pipes.rs)"
)]
fn over_a_pipe_without_the_fallback_nothing_is_sent() {
    #[cfg(unix)]
    bodies::over_a_pipe(false);
}
