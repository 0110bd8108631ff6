//! TLS (rustls) over streams and sockets, on both targets: `start_tls` after a
//! plaintext greeting, a slow streams reader, and natively `connect_accepted_socket` with
//! `ssl` and interop with openssl both ways.

use std::time::Duration;

use twinloop::{Error, ExtraInfo, ServerOptions, StartTlsOptions, StreamOptions};
use wasm_tests::tcp_support::*;
use wasm_tests::tls_support::*;

const NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

#[test]
fn start_tls_after_a_plaintext_greeting() {
    run_tcp(|ev| async move {
        let ca = TestCa::new();
        let config = ca.server(&NAMES).server_config(&[]);
        let server = ev
            .start_server(
                move |mut reader, writer| {
                    let config = config.clone();
                    async move {
                        writer.write(b"220 hello\r\n")?;
                        assert_eq!(reader.readline().await?, b"STARTTLS\r\n");
                        writer.write(b"220 go ahead\r\n")?;
                        writer.start_tls(config, StartTlsOptions::default()).await?;
                        let line = reader.readline().await?;
                        writer.write(&line.to_ascii_uppercase())?;
                        writer.drain().await
                    }
                },
                LOCALHOST_V4,
                0,
                StreamOptions::default(),
            )
            .await?;
        let port = server.sockets()[0].local_addr().unwrap().port();
        let (mut reader, writer) = ev
            .open_connection(LOCALHOST_V4, port, StreamOptions::default())
            .await?;
        assert_eq!(reader.readline().await?, b"220 hello\r\n");
        assert_eq!(writer.get_extra_info("cipher"), None, "plaintext so far");
        // Written before start_tls: goes out in plaintext first.
        writer.write(b"STARTTLS\r\n")?;
        assert_eq!(reader.readline().await?, b"220 go ahead\r\n");
        let opts = StartTlsOptions {
            server_hostname: Some("localhost".into()),
            ..StartTlsOptions::default()
        };
        writer.start_tls(ca.client(&[]), opts).await?;
        assert!(matches!(
            writer.get_extra_info("cipher"),
            Some(ExtraInfo::Cipher(_))
        ));
        writer.write(b"now secret\n")?;
        assert_eq!(reader.readline().await?, b"NOW SECRET\n");
        // The client side needs a server_hostname, as asyncio's context does.
        let (_r, plain) = ev
            .open_connection(LOCALHOST_V4, port, StreamOptions::default())
            .await?;
        let refused = plain
            .start_tls(ca.client(&[]), StartTlsOptions::default())
            .await;
        assert!(
            matches!(refused, Err(Error::InvalidArgument(_))),
            "{refused:?}"
        );
        writer.close();
        server.close();
        Ok(())
    });
}

/// A slow reader over TLS: the stream reader pauses the transport while rustls still
/// holds decrypted bytes, and the peer waits for an answer, so no socket readiness will
/// come; resuming must find those bytes on every target.
#[test]
fn streams_over_tls_with_a_slow_reader() {
    const BLOCK: usize = 16 * 1024;
    const BLOCKS: usize = 32;
    run_tcp(|ev| async move {
        let ca = TestCa::new();
        let server_tls = StreamOptions {
            options: tls_server(&ca.server(&NAMES), &[]),
            ..StreamOptions::default()
        };
        let server = ev
            .start_server(
                |mut reader, writer| async move {
                    for i in 0..BLOCKS {
                        writer.write(&stream_chunk((i * BLOCK) as u64, BLOCK))?;
                        writer.drain().await?;
                        assert_eq!(reader.readexactly(1).await?, b"k"); // the ack
                    }
                    writer.close();
                    writer.wait_closed().await
                },
                LOCALHOST_V4,
                0,
                server_tls,
            )
            .await?;
        let port = server.sockets()[0].local_addr().unwrap().port();
        let client_tls = StreamOptions {
            limit: 1024, // pauses reading past 2 KiB buffered
            options: tls_client(&ca.client(&[]), Some("localhost")),
        };
        let (mut reader, writer) = ev.open_connection(LOCALHOST_V4, port, client_tls).await?;
        let mut received = Vec::with_capacity(BLOCK * BLOCKS);
        for _ in 0..BLOCKS {
            let end = received.len() + BLOCK;
            while received.len() < end {
                let chunk = reader.read(700).await?;
                assert!(!chunk.is_empty(), "the stream ended early");
                received.extend_from_slice(&chunk);
                twinloop::sleep(Duration::ZERO).await?;
            }
            writer.write(b"k")?;
        }
        assert_eq!(
            reader.read(-1).await?,
            b"",
            "a clean end after the last block"
        );
        assert_same_bytes(
            "the stream over TLS",
            &received,
            &stream_chunk(0, BLOCK * BLOCKS),
        );
        server.close();
        Ok(())
    });
}

/// Natively: `connect_accepted_socket` with `ssl` serves TLS on a socket accepted
/// elsewhere.
#[test]
#[cfg_attr(target_os = "wasi", ignore = "the guest cannot adopt std sockets")]
fn connect_accepted_socket_serves_tls() {
    run_tcp(|ev| async move {
        let ca = TestCa::new();
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let connecting = ev.create_task({
            let (ev, options) = (ev.clone(), tls_client(&ca.client(&[]), None));
            async move { connect_tls(&ev, port, options, PeerOptions::default()).await }
        })?;
        // Accept without blocking the loop: the client's connect runs on it.
        listener.set_nonblocking(true)?;
        let sock = loop {
            match listener.accept() {
                Ok((sock, _)) => break sock,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    twinloop::sleep(Duration::from_millis(5)).await?;
                }
                Err(e) => return Err(e.into()),
            }
        };
        sock.set_nonblocking(true)?;
        let accepted = twinloop::AcceptedOptions {
            ssl: Some(ca.server(&NAMES).server_config(&[])),
            ..Default::default()
        };
        let server_log = Watch::<PeerLog>::default();
        let for_factory = server_log.clone();
        let (server_side, _) = ev
            .connect_accepted_socket_with(
                move || Peer::new(for_factory, PeerOptions::echo()),
                sock,
                accepted,
            )
            .await?;
        let (client, log) = connecting.await??;
        assert!(matches!(
            server_side.get_extra_info("cipher"),
            Some(ExtraInfo::Cipher(_))
        ));
        client.write(b"over an adopted socket")?;
        log.until(&ev, "the echo", |l| l.received >= 22).await?;
        log.get(|l| assert_eq!(l.data, b"over an adopted socket"));
        client.close();
        server_log
            .until(&ev, "the server side to end", PeerLog::is_lost)
            .await?;
        Ok(())
    });
}

/// Natively: twinloop against a TLS peer no one here wrote, Debian's `openssl`, both
/// ways. It needs `openssl` on PATH and fails, saying so, without it (`cargo xtask
/// setup` installs it).
#[test]
#[cfg_attr(
    target_os = "wasi",
    ignore = "the guest cannot start processes; openssl runs natively"
)]
#[cfg_attr(
    windows,
    ignore = "no openssl under Wine (and it drives s_client through timeout(1)); it runs on Linux"
)]
fn interop_with_openssl_both_ways() {
    use std::process::{Command, Stdio};
    if let Err(e) = Command::new("openssl").arg("version").output() {
        panic!(
            "this test needs Debian's `openssl` on PATH ({e}): `apt-get install openssl`, \
             or `cargo xtask setup` as root"
        );
    }
    let ca = TestCa::new();
    let server_id = ca.server(&NAMES);
    let dir = std::env::temp_dir().join(format!("twinloop-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let file = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write a PEM file");
        path
    };
    let (cert, key, ca_file) = (
        file("server.pem", &server_id.cert_pem),
        file("server.key", &server_id.key_pem),
        file("ca.pem", &ca.identity.cert_pem),
    );

    // 1. twinloop's client against `openssl s_server -www`.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut s_server = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-naccept", "1", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("start openssl s_server");
    let tls = ca.client(&[]);
    let reply = run_tcp(|ev| async move {
        // s_server takes a moment to listen.
        let mut attempts = 0;
        let (t, log) = loop {
            let options = tls_client(&tls, Some("localhost"));
            match connect_tls(&ev, port, options, PeerOptions::default()).await {
                Ok(connected) => break connected,
                Err(e) if attempts < 100 && e.io_kind().is_some() => {
                    attempts += 1;
                    twinloop::sleep(Duration::from_millis(100)).await?;
                }
                Err(e) => return Err(e),
            }
        };
        assert!(matches!(
            t.get_extra_info("cipher"),
            Some(ExtraInfo::Cipher(_))
        ));
        t.write(b"GET / HTTP/1.0\r\n\r\n")?;
        log.until(&ev, "s_server's page and close", PeerLog::is_lost)
            .await?;
        Ok(log.get(|l| (l.data.clone(), l.eof, l.lost.clone())))
    });
    let _ = s_server.kill();
    let _ = s_server.wait();
    let (page, eof, lost) = reply;
    let page = String::from_utf8_lossy(&page);
    assert!(page.starts_with("HTTP/1.0 200 ok"), "{page}");
    assert!(
        matches!(lost, Some(None)),
        "openssl closed with close_notify: {lost:?}"
    );
    assert_eq!(eof, 1);

    // 2. `openssl s_client` against twinloop's server.
    let config = server_id.server_config(&[]);
    let output = run_tcp(|ev| async move {
        let options = StreamOptions {
            options: ServerOptions {
                ssl: Some(config),
                ..ServerOptions::default()
            },
            ..StreamOptions::default()
        };
        let server = ev
            .start_server(
                |mut reader, writer| async move {
                    let line = reader.readline().await?;
                    writer.write(&line.to_ascii_uppercase())?;
                    writer.close();
                    writer.wait_closed().await
                },
                LOCALHOST_V4,
                0,
                options,
            )
            .await?;
        let port = server.sockets()[0].local_addr().unwrap().port();
        let client = move || {
            let mut child = Command::new("timeout")
                .args(["30", "openssl", "s_client", "-quiet", "-ign_eof"])
                .args(["-verify_return_error", "-servername", "localhost"])
                .arg("-CAfile")
                .arg(&ca_file)
                .arg("-connect")
                .arg(format!("127.0.0.1:{port}"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()?;
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("piped")
                .write_all(b"hello from openssl\n")?;
            child.wait_with_output()
        };
        let output = ev.run_in_executor(None, client)?.await?;
        server.close();
        Ok(output)
    });
    let _ = std::fs::remove_dir_all(&dir);
    let output = output.expect("run openssl s_client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("HELLO FROM OPENSSL"),
        "s_client got {stdout:?}; stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
