//! TLS (rustls) on both targets: handshake and a checked 8 MiB echo, ALPN, certificate
//! rejections (wrong name, untrusted, expired), handshake timeouts on both sides,
//! `start_tls` after a plaintext greeting, `close_notify` vs a truncated close, 100
//! connections at once, asyncio's argument rules, and (natively) interop with openssl.

use std::time::{Duration, Instant};

use twinloop::rustls::{CertificateError, Error as RustlsError};
use twinloop::{
    ClientTls, ConnectOptions, Error, EventLoop, ExtraInfo, Result, ServerOptions, StartTlsOptions,
    StreamOptions, TlsConfig, Transport,
};
use wasm_tests::tcp_support::*;
use wasm_tests::tls_support::{self_signed, Identity, TestCa};

const NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

fn tls_server(identity: &Identity, alpn: &[&[u8]]) -> ServerOptions {
    ServerOptions {
        ssl: Some(identity.server_config(alpn)),
        ..ServerOptions::default()
    }
}

fn tls_client(tls: &ClientTls, server_hostname: Option<&str>) -> ConnectOptions {
    ConnectOptions {
        ssl: Some(tls.clone()),
        server_hostname: server_hostname.map(str::to_owned),
        ..ConnectOptions::default()
    }
}

/// A [`Peer`] client over TLS to 127.0.0.1:`port`.
async fn connect_tls(
    ev: &EventLoop,
    port: u16,
    options: ConnectOptions,
    opts: PeerOptions,
) -> Result<(Transport, Watch<PeerLog>)> {
    connect_with(ev, LOCALHOST_V4, port, options, opts).await
}

/// The error of a TLS connect to 127.0.0.1:`port` that must fail (`why` says why).
async fn refused(ev: &EventLoop, port: u16, options: ConnectOptions, why: &str) -> Error {
    match connect_tls(ev, port, options, PeerOptions::default()).await {
        Ok(_) => panic!("connected, but {why}"),
        Err(e) => e,
    }
}

fn unknown_issuer(e: &CertificateError) -> bool {
    matches!(e, CertificateError::UnknownIssuer)
}

/// Which certificate error a test expects.
type CertCheck = fn(&CertificateError) -> bool;

fn is_certificate_error(error: &Error, want: CertCheck) -> bool {
    matches!(error, Error::Tls(RustlsError::InvalidCertificate(e)) if want(e))
}

#[test]
fn handshake_and_8mib_echo_checked() {
    const LEN: usize = 8 << 20;
    run_tcp(|ev| async move {
        let ca = TestCa::new();
        let server_id = ca.server(&NAMES);
        let srv = serve_with(&ev, PeerOptions::echo(), tls_server(&server_id, &[])).await?;
        let tls = ca.client(&[]);
        let sink = PeerOptions {
            keep_data: false,
            check_stream: true,
            ..PeerOptions::default()
        };
        let (client, log) =
            connect_tls(&ev, srv.port, tls_client(&tls, Some("localhost")), sink).await?;
        assert_eq!(
            client.get_extra_info("peercert"),
            Some(ExtraInfo::Bytes(server_id.cert.to_vec()))
        );
        assert_eq!(
            client.get_extra_info("sslcontext"),
            Some(ExtraInfo::SslContext(TlsConfig::Client(tls)))
        );
        match client.get_extra_info("cipher") {
            Some(ExtraInfo::Cipher(c)) => {
                assert!(c.protocol.starts_with("TLSv1_"), "{c}");
                assert!(c.bits >= 128, "{c}");
            }
            other => panic!("cipher: {other:?}"),
        }
        assert!(matches!(
            client.get_extra_info("peername"),
            Some(ExtraInfo::Addr(_))
        ));
        assert!(client.can_write_eof());
        client.write(&stream_chunk(0, LEN))?;
        client.write_eof()?; // close_notify: the server sees a clean end, echoes, closes
        log.until(
            &ev,
            "the whole echo and the server's close",
            PeerLog::is_lost,
        )
        .await?;
        log.get(|l| {
            assert_eq!(l.received, LEN as u64);
            assert_eq!(l.stream_mismatch, None, "the echo differs");
            assert_eq!(l.eof, 1, "the server's close_notify is a clean end");
            assert!(
                matches!(l.lost, Some(None)),
                "client lost with {:?}",
                l.lost
            );
        });
        let server_peer = srv.peer(&ev, 0).await?;
        server_peer
            .until(&ev, "server-side connection_lost", PeerLog::is_lost)
            .await?;
        server_peer.get(|l| {
            assert_eq!(l.received, LEN as u64);
            assert_eq!(l.stream_events(), ["made", "data", "eof", "lost"]);
            assert!(l.write_errors.is_empty(), "{:?}", l.write_errors);
            let t = l.transport();
            assert_eq!(t.get_extra_info("peercert"), None, "no client certificate");
        });
        srv.shut_down().await
    });
}

#[test]
fn alpn_negotiated() {
    run_tcp(|ev| async move {
        let ca = TestCa::new();
        let server_id = ca.server(&NAMES);
        let srv = serve_with(
            &ev,
            PeerOptions::echo(),
            tls_server(&server_id, &[b"h2", b"http/1.1"]),
        )
        .await?;
        let tls = ca.client(&[b"http/1.1", b"spdy/1"]);
        let (client, _log) = connect_tls(
            &ev,
            srv.port,
            tls_client(&tls, None),
            PeerOptions::default(),
        )
        .await?;
        let alpn = Some(ExtraInfo::Bytes(b"http/1.1".to_vec()));
        assert_eq!(client.get_extra_info("alpn"), alpn);
        let server_peer = srv.peer(&ev, 0).await?;
        assert_eq!(
            server_peer.get(|l| l.transport().get_extra_info("alpn")),
            alpn
        );
        // No protocol in common: rustls's server refuses the handshake.
        let other = ca.client(&[b"imap"]);
        let error = refused(&ev, srv.port, tls_client(&other, None), "no ALPN in common").await;
        assert!(matches!(error, Error::Tls(_)), "{error:?}");
        client.close();
        srv.shut_down().await
    });
}

#[test]
fn wrong_hostname_rejected() {
    run_tcp(|ev| async move {
        let ca = TestCa::new();
        let srv = serve_with(
            &ev,
            PeerOptions::echo(),
            tls_server(&ca.server(&["localhost"]), &[]),
        )
        .await?;
        let tls = ca.client(&[]);
        for hostname in [Some("example.com"), None] {
            // None: the name is the host, 127.0.0.1, which the certificate does not name.
            let options = tls_client(&tls, hostname);
            let error = refused(&ev, srv.port, options, "the certificate names another").await;
            assert!(
                is_certificate_error(&error, |e| matches!(
                    e,
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                )),
                "{hostname:?}: {error:?}"
            );
            assert!(
                error.to_string().contains("certificate verify failed"),
                "{error}"
            );
        }
        turns(&ev, 5).await?;
        assert_eq!(
            srv.peers.get(Vec::len),
            0,
            "no protocol made on the server side"
        );
        // The right name passes.
        let (ok, _) = connect_tls(
            &ev,
            srv.port,
            tls_client(&tls, Some("localhost")),
            PeerOptions::default(),
        )
        .await?;
        ok.close();
        srv.shut_down().await
    });
}

#[test]
fn untrusted_and_expired_certificates_rejected() {
    run_tcp(|ev| async move {
        let ca = TestCa::new();
        let tls = ca.client(&[]);
        let cases: [(Identity, CertCheck); 3] = [
            (self_signed(&NAMES), unknown_issuer),
            (TestCa::new().server(&NAMES), unknown_issuer),
            (ca.expired_server(&NAMES), |e| {
                matches!(
                    e,
                    CertificateError::Expired | CertificateError::ExpiredContext { .. }
                )
            }),
        ];
        for (identity, want) in cases {
            let srv = serve_with(&ev, PeerOptions::echo(), tls_server(&identity, &[])).await?;
            let options = tls_client(&tls, None);
            let error = refused(&ev, srv.port, options, "the certificate is not trusted").await;
            assert!(is_certificate_error(&error, want), "{error:?}");
            turns(&ev, 5).await?;
            assert_eq!(
                srv.peers.get(Vec::len),
                0,
                "no protocol made on the server side"
            );
            srv.shut_down().await?;
        }
        // The default configuration (Mozilla's roots) does not trust the test CA either.
        let srv = serve_with(
            &ev,
            PeerOptions::echo(),
            tls_server(&ca.server(&NAMES), &[]),
        )
        .await?;
        let public = tls_client(&ClientTls::webpki_roots(), None);
        let error = refused(&ev, srv.port, public, "the test CA is not public").await;
        assert!(is_certificate_error(&error, unknown_issuer), "{error:?}");
        srv.shut_down().await
    });
}

#[test]
fn handshake_timeout_against_a_peer_that_never_speaks_tls() {
    run_tcp(|ev| async move {
        let limit = Duration::from_millis(300);
        // Client side: a plain TCP server that reads the ClientHello and says nothing.
        let plain = serve(&ev, PeerOptions::default()).await?;
        let ca = TestCa::new();
        let options = ConnectOptions {
            ssl_handshake_timeout: Some(limit),
            ..tls_client(&ca.client(&[]), None)
        };
        let started = Instant::now();
        let error = refused(&ev, plain.port, options, "the handshake cannot finish").await;
        assert!(
            matches!(error, Error::TlsTimeout { phase: "handshake", limit: l } if l == limit),
            "{error:?}"
        );
        assert!(error.is_timeout());
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
        let silent = plain.peer(&ev, 0).await?;
        silent
            .until(
                &ev,
                "the aborted connection to reach the plain server",
                PeerLog::is_lost,
            )
            .await?;
        plain.shut_down().await?;
        // Server side: a TLS server and a TCP client that never says hello.
        let server = ServerOptions {
            ssl_handshake_timeout: Some(limit),
            ..tls_server(&ca.server(&NAMES), &[])
        };
        let srv = serve_with(&ev, PeerOptions::echo(), server).await?;
        let (_client, log) = connect(&ev, srv.port, PeerOptions::default()).await?;
        log.until(
            &ev,
            "the TLS server to give up on the handshake",
            PeerLog::is_lost,
        )
        .await?;
        assert_eq!(
            srv.peers.get(Vec::len),
            0,
            "no protocol made on the server side"
        );
        srv.shut_down().await
    });
}

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
        let port = server.sockets()[0].local_addr().port();
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

#[test]
fn close_notify_and_truncated_close_are_told_apart() {
    run_tcp(|ev| async move {
        let ca = TestCa::new();
        let srv = serve_with(
            &ev,
            PeerOptions::default(),
            tls_server(&ca.server(&NAMES), &[]),
        )
        .await?;
        let tls = ca.client(&[]);
        // A clean close: the server says goodbye with close_notify.
        let (_clean, clean_log) = connect_tls(
            &ev,
            srv.port,
            tls_client(&tls, None),
            PeerOptions::default(),
        )
        .await?;
        let server_peer = srv.peer(&ev, 0).await?;
        let server_side = server_peer.get(PeerLog::transport);
        server_side.write(b"bye")?;
        server_side.close();
        clean_log
            .until(&ev, "the clean close", PeerLog::is_lost)
            .await?;
        clean_log.get(|l| {
            assert_eq!(l.data, b"bye");
            assert_eq!(l.stream_events(), ["made", "data", "eof", "lost"]);
            assert!(matches!(l.lost, Some(None)), "{:?}", l.lost);
        });
        // A truncated close: the server's socket closes without close_notify.
        let (_cut, cut_log) = connect_tls(
            &ev,
            srv.port,
            tls_client(&tls, None),
            PeerOptions::default(),
        )
        .await?;
        let server_peer = srv.peer(&ev, 1).await?;
        let server_side = server_peer.get(PeerLog::transport);
        server_side.write(b"bye")?; // into an empty socket buffer: sent at once
        server_side.abort();
        cut_log
            .until(&ev, "the truncated close", PeerLog::is_lost)
            .await?;
        cut_log.get(|l| {
            assert_eq!(l.data, b"bye");
            assert_eq!(l.eof, 0, "a truncation is not an end of stream");
            match &l.lost {
                Some(Some(e)) => {
                    assert_eq!(
                        e.io_kind(),
                        Some(std::io::ErrorKind::UnexpectedEof),
                        "{e:?}"
                    )
                }
                other => panic!("lost with {other:?}, want UnexpectedEof"),
            }
        });
        srv.shut_down().await
    });
}

#[test]
fn hundred_concurrent_tls_connections() {
    const CLIENTS: usize = 100;
    const LEN: usize = 4096;
    run_tcp(|ev| async move {
        let ca = TestCa::new();
        let srv = serve_with(
            &ev,
            PeerOptions::echo(),
            tls_server(&ca.server(&NAMES), &[]),
        )
        .await?;
        let tls = ca.client(&[]);
        let mut connecting = Vec::new();
        for _ in 0..CLIENTS {
            let options = tls_client(&tls, None);
            connecting.push(ev.create_task({
                let ev = ev.clone();
                async move { connect_tls(&ev, srv.port, options, PeerOptions::default()).await }
            })?);
        }
        let clients = twinloop::gather(connecting)
            .await?
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
        for (i, (t, _)) in clients.iter().enumerate() {
            t.write(&pattern(LEN, i as u64))?;
        }
        for (i, (t, log)) in clients.iter().enumerate() {
            log.until(&ev, "an echo", |l| l.received >= LEN as u64)
                .await?;
            log.get(|l| assert_same_bytes("echo", &l.data, &pattern(LEN, i as u64)));
            t.close();
        }
        for (_, log) in &clients {
            log.until(&ev, "connection_lost", PeerLog::is_lost).await?;
            log.get(|l| assert!(matches!(l.lost, Some(None)), "{:?}", l.lost));
        }
        assert_eq!(srv.peers.get(Vec::len), CLIENTS);
        srv.shut_down().await
    });
}

#[test]
fn tls_arguments_follow_asyncio_rules() {
    run_tcp(|ev| async move {
        let ca = TestCa::new();
        let tls = ca.client(&[]);
        let invalid = |r: Result<(Transport, Watch<PeerLog>)>, what: &str| match r {
            Err(Error::InvalidArgument(m)) => m,
            other => panic!("{what}: {:?}", other.map(|_| ())),
        };
        let no_ssl = ConnectOptions {
            server_hostname: Some("localhost".into()),
            ..ConnectOptions::default()
        };
        let m = invalid(
            connect_tls(&ev, 1, no_ssl, PeerOptions::default()).await,
            "hostname",
        );
        assert!(m.contains("only meaningful with ssl"), "{m}");
        let no_ssl = ConnectOptions {
            ssl_handshake_timeout: Some(Duration::from_secs(1)),
            ..ConnectOptions::default()
        };
        let m = invalid(
            connect_tls(&ev, 1, no_ssl, PeerOptions::default()).await,
            "timeout",
        );
        assert!(
            m.contains("ssl_handshake_timeout is only meaningful with ssl"),
            "{m}"
        );
        let zero = ConnectOptions {
            ssl_shutdown_timeout: Some(Duration::ZERO),
            ..tls_client(&tls, None)
        };
        let m = invalid(
            connect_tls(&ev, 1, zero, PeerOptions::default()).await,
            "zero",
        );
        assert!(m.contains("positive"), "{m}");
        let no_server_tls = ServerOptions {
            ssl_handshake_timeout: Some(Duration::from_secs(1)),
            ..ServerOptions::default()
        };
        let no_server = serve_with(&ev, PeerOptions::default(), no_server_tls).await;
        assert!(matches!(no_server, Err(Error::InvalidArgument(_))));
        // "" turns name checking off: refused with a checking configuration...
        let srv = serve_with(
            &ev,
            PeerOptions::echo(),
            tls_server(&ca.server(&["localhost"]), &[]),
        )
        .await?;
        let empty = tls_client(&tls, Some(""));
        let m = invalid(
            connect_tls(&ev, srv.port, empty, PeerOptions::default()).await,
            "\"\"",
        );
        assert!(m.contains("dangerous_without_hostname_check"), "{m}");
        // ...accepted with one made for it: the chain is still checked, the name is not.
        let lax = ClientTls::dangerous_without_hostname_check(ca.roots())?;
        let (t, _) = connect_tls(
            &ev,
            srv.port,
            tls_client(&lax, Some("")),
            PeerOptions::default(),
        )
        .await?;
        t.close();
        let other_ca = ClientTls::dangerous_without_hostname_check(TestCa::new().roots())?;
        let options = tls_client(&other_ca, Some(""));
        let error = refused(&ev, srv.port, options, "the chain is still checked").await;
        assert!(is_certificate_error(&error, unknown_issuer), "{error:?}");
        srv.shut_down().await
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
        let port = server.sockets()[0].local_addr().port();
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
/// ways. Skipped, saying why, where `openssl` is missing.
#[test]
#[cfg_attr(
    target_os = "wasi",
    ignore = "the guest cannot start processes; openssl runs natively"
)]
fn interop_with_openssl_both_ways() {
    use std::process::{Command, Stdio};
    if Command::new("openssl").arg("version").output().is_err() {
        println!("skipped: `openssl` is not on PATH (apt-get install openssl)");
        return;
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
        let port = server.sockets()[0].local_addr().port();
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
