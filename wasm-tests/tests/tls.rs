//! TLS (rustls) on both targets: handshake and a checked 8 MiB echo, ALPN, certificate
//! rejections (wrong name, untrusted, expired), handshake timeouts on both sides,
//! the shutdown timeout, `close_notify` vs a truncated close, 100 connections at once, asyncio's argument
//! rules. `tls_streams.rs` has `start_tls`, the streams and openssl.

use std::time::{Duration, Instant};

use twinloop::rustls::CertificateError;
use twinloop::{
    ClientTls, ConnectOptions, Error, ExtraInfo, Result, ServerOptions, StartTlsOptions, TlsConfig,
    Transport,
};
use wasm_tests::tcp_support::*;
use wasm_tests::tls_support::*;

const NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

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
fn shutdown_timeout_aborts_a_close_the_peer_does_not_read() {
    const LEN: usize = 8 << 20;
    run_tcp(|ev| async move {
        let ca = TestCa::new();
        let srv = serve_with(
            &ev,
            PeerOptions::stalled_sink(),
            tls_server(&ca.server(&NAMES), &[]),
        )
        .await?;
        let limit = Duration::from_millis(300);
        let options = ConnectOptions {
            ssl_shutdown_timeout: Some(limit),
            ..tls_client(&ca.client(&[]), None)
        };
        let (client, log) = connect_tls(&ev, srv.port, options, PeerOptions::default()).await?;
        client.write(&stream_chunk(0, LEN))?; // more than the socket buffers hold
        let started = Instant::now();
        client.close();
        log.until(&ev, "the shutdown timeout", PeerLog::is_lost)
            .await?;
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
        log.get(|l| match &l.lost {
            Some(Some(Error::TlsTimeout { phase, limit: l })) => {
                assert_eq!((*phase, *l), ("shutdown", limit));
            }
            other => panic!("lost with {other:?}, want the shutdown timeout"),
        });
        srv.server.abort_clients(); // the sink still does not read: it would never see the end
        srv.shut_down().await
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

/// The message of the rule "server_hostname is required when there is no host".
const NEEDS_HOSTNAME: &str = "you must set server_hostname when using ssl without a host";

/// An `InvalidArgument` saying the client needs a `server_hostname`; anything else fails.
fn needs_hostname<T>(outcome: Result<T>, what: &str) {
    match outcome {
        Err(Error::InvalidArgument(m)) => assert!(m.contains(NEEDS_HOSTNAME), "{what}: {m}"),
        Err(other) => panic!("{what}: {other:?}"),
        Ok(_) => panic!("{what}: accepted without a server_hostname"),
    }
}

/// asyncio's rule: without a host (`start_tls`, `sock=`, an empty host) the client must
/// be told the server's name, or it could not check the certificate against it. The
/// configuration here skips the name check, so that without the rule each connection
/// would go ahead (and the empty host would fail later, for want of an address).
#[test]
fn tls_without_a_host_needs_server_hostname() {
    run_tcp(|ev| async move {
        let ca = TestCa::new();
        let lax = ClientTls::dangerous_without_hostname_check(ca.roots())?;
        // An empty host and no sock.
        needs_hostname(
            connect_with(&ev, "", 443, tls_client(&lax, None), PeerOptions::default()).await,
            "create_connection with host \"\"",
        );
        // start_tls on a plain connection to a TLS server: refused before the handshake,
        // the transport untouched, so naming the server then works.
        let srv = serve_with(
            &ev,
            PeerOptions::echo(),
            tls_server(&ca.server(&NAMES), &[]),
        )
        .await?;
        let (plain, _) = connect(&ev, srv.port, PeerOptions::default()).await?;
        needs_hostname(
            ev.start_tls(&plain, lax.clone(), StartTlsOptions::default())
                .await,
            "start_tls",
        );
        let named = StartTlsOptions {
            server_hostname: Some("localhost".into()),
            ..StartTlsOptions::default()
        };
        let upgraded = ev.start_tls(&plain, lax, named).await?;
        assert!(matches!(
            upgraded.get_extra_info("cipher"),
            Some(ExtraInfo::Cipher(_))
        ));
        upgraded.close();
        srv.shut_down().await
    });
}

/// The same rule for `create_connection(sock=...)`: natively only, since the guest has
/// no std sockets to adopt.
#[test]
#[cfg_attr(
    target_os = "wasi",
    ignore = "sock= takes a std::net::TcpStream; the guest cannot connect one"
)]
fn tls_over_an_adopted_socket_needs_server_hostname() {
    #[cfg(not(target_os = "wasi"))]
    run_tcp(|ev| async move {
        let ca = TestCa::new();
        let lax = ClientTls::dangerous_without_hostname_check(ca.roots())?;
        let srv = serve_with(
            &ev,
            PeerOptions::echo(),
            tls_server(&ca.server(&NAMES), &[]),
        )
        .await?;
        let adopted = |server_hostname: Option<&str>| -> Result<ConnectOptions> {
            let sock = std::net::TcpStream::connect((LOCALHOST_V4, srv.port))?;
            Ok(ConnectOptions {
                sock: Some(sock),
                ..tls_client(&lax, server_hostname)
            })
        };
        needs_hostname(
            connect_with(&ev, "", 0, adopted(None)?, PeerOptions::default()).await,
            "sock= without server_hostname",
        );
        let (t, _) = connect_with(
            &ev,
            "",
            0,
            adopted(Some("localhost"))?,
            PeerOptions::default(),
        )
        .await?;
        assert!(matches!(
            t.get_extra_info("cipher"),
            Some(ExtraInfo::Cipher(_))
        ));
        t.close();
        srv.shut_down().await
    });
}
