//! TCP servers: wait_closed with open connections, refusing after close, serve_forever
//! cancelled, port 0, all interfaces (dual stack), host lists.

use std::io::ErrorKind;

use twinloop::{Error, EventLoop, Hosts, Result, ServerOptions};
use wasm_tests::tcp_support::*;

/// One byte through an echo connection to `host:port`, then close; both ends finish.
async fn one_byte_echo(ev: &EventLoop, host: &str, port: u16) -> Result<()> {
    let (client, log) = connect_to(ev, host, port, PeerOptions::default()).await?;
    client.write(b"!")?;
    log.until(ev, &format!("the echo from {host}:{port}"), |l| {
        l.received >= 1
    })
    .await?;
    log.get(|l| assert_eq!(l.data, b"!"));
    client.close();
    log.until(ev, "client connection_lost", PeerLog::is_lost)
        .await?;
    Ok(())
}

#[test]
fn wait_closed_waits_for_open_connections() {
    run_tcp(|ev| async move {
        let srv = serve(&ev, PeerOptions::default()).await?;
        let (client, log) = connect(&ev, srv.port, PeerOptions::default()).await?;
        let peer = srv.peer(&ev, 0).await?;
        srv.server.close();
        assert!(!srv.server.is_serving());
        assert!(srv.server.sockets().is_empty());
        let waiting = ev.create_task(srv.server.wait_closed())?;
        turns(&ev, 5).await?;
        assert!(
            !waiting.done(),
            "wait_closed completed while a connection is still open"
        );

        // Closed: a new connection is refused, and the open one still works.
        let err = connect(&ev, srv.port, PeerOptions::default())
            .await
            .err()
            .expect("connected to a closed server");
        assert_eq!(
            err.io_kind(),
            Some(ErrorKind::ConnectionRefused),
            "after close(): {err} ({err:?})"
        );
        client.write(b"still open")?;
        peer.until(&ev, "data on the open connection", |l| l.received >= 10)
            .await?;
        peer.get(|l| assert_eq!(l.data, b"still open"));
        turns(&ev, 3).await?;
        assert!(
            !waiting.done(),
            "wait_closed completed while a connection is still open"
        );

        client.close();
        log.until(&ev, "client connection_lost", PeerLog::is_lost)
            .await?;
        peer.until(&ev, "server connection_lost", PeerLog::is_lost)
            .await?;
        waiting.await??;
        // Once closed and idle, wait_closed returns at once, every time.
        srv.server.wait_closed().await?;
        srv.server.wait_closed().await?;
        Ok(())
    });
}

#[test]
fn wait_closed_after_close_clients() {
    run_tcp(|ev| async move {
        let srv = serve(&ev, PeerOptions::default()).await?;
        let (_client_a, log_a) = connect(&ev, srv.port, PeerOptions::default()).await?;
        let (_client_b, log_b) = connect(&ev, srv.port, PeerOptions::default()).await?;
        srv.peer(&ev, 1).await?;
        srv.server.close();
        let waiting = ev.create_task(srv.server.wait_closed())?;
        turns(&ev, 3).await?;
        assert!(!waiting.done());
        srv.server.close_clients();
        waiting.await??;
        log_a
            .until(&ev, "client A sees the end", PeerLog::is_lost)
            .await?;
        log_b
            .until(&ev, "client B sees the end", PeerLog::is_lost)
            .await?;
        Ok(())
    });
}

#[test]
fn serve_forever_cancelled_closes_the_server() {
    run_tcp(|ev| async move {
        let options = ServerOptions {
            start_serving: false,
            ..ServerOptions::default()
        };
        let srv = serve_with(&ev, PeerOptions::echo(), options).await?;
        assert!(!srv.server.is_serving());
        let forever = ev.create_task(srv.server.serve_forever())?;
        turns(&ev, 2).await?;
        assert!(srv.server.is_serving(), "serve_forever starts serving");
        assert!(!forever.done());
        // It really serves.
        one_byte_echo(&ev, LOCALHOST_V4, srv.port).await?;
        // A second serve_forever is refused while the first runs.
        let err = srv.server.serve_forever().await.unwrap_err();
        assert!(matches!(err, Error::InvalidState(_)), "{err:?}");
        assert!(!forever.done());

        assert!(forever.cancel());
        let outcome = forever.clone().await;
        match outcome {
            Err(Error::Cancelled(_)) => {}
            Ok(inner) => panic!("serve_forever's task was not cancelled: {inner:?}"),
            Err(e) => panic!("serve_forever's task: {e:?}"),
        }
        assert!(forever.cancelled());
        assert!(!srv.server.is_serving(), "closed after cancellation");
        assert!(
            srv.server.sockets().is_empty(),
            "no sockets after cancellation"
        );
        let err = connect(&ev, srv.port, PeerOptions::default())
            .await
            .err()
            .expect("connected after serve_forever was cancelled");
        assert_eq!(err.io_kind(), Some(ErrorKind::ConnectionRefused), "{err:?}");
        // serve_forever on a closed server is an error; start_serving too.
        let err = srv.server.serve_forever().await.unwrap_err();
        assert!(matches!(err, Error::InvalidState(_)), "{err:?}");
        let err = srv.server.start_serving().unwrap_err();
        assert!(matches!(err, Error::InvalidState(_)), "{err:?}");
        srv.server.wait_closed().await?;
        Ok(())
    });
}

#[test]
fn port_0_reports_the_real_port() {
    run_tcp(|ev| async move {
        let srv = serve(&ev, PeerOptions::echo()).await?;
        let sockets = srv.server.sockets();
        assert_eq!(sockets.len(), 1, "{sockets:?}");
        let addr = sockets[0].local_addr().unwrap();
        assert_ne!(addr.port(), 0, "port 0 must be replaced by the real port");
        assert_eq!(addr.ip().to_string(), LOCALHOST_V4);
        assert!(srv.server.is_serving());
        assert!(srv.server.get_loop()?.ptr_eq(&ev));
        one_byte_echo(&ev, LOCALHOST_V4, addr.port()).await?;
        srv.shut_down().await?;
        Ok(())
    });
}

#[test]
fn duplicate_hosts_give_one_socket() {
    run_tcp(|ev| async move {
        let server = ev
            .create_server(
                || Peer::new(Watch::default(), PeerOptions::echo()),
                vec![LOCALHOST_V4, LOCALHOST_V4],
                0,
                ServerOptions::default(),
            )
            .await?;
        let sockets = server.sockets();
        assert_eq!(sockets.len(), 1, "{sockets:?}");
        one_byte_echo(&ev, LOCALHOST_V4, sockets[0].local_addr().unwrap().port()).await?;
        let guard = server.guard();
        drop(guard);
        assert!(!server.is_serving(), "dropping the guard closes the server");
        assert!(server.sockets().is_empty());
        server.wait_closed().await?;
        Ok(())
    });
}

/// Whether this target (and, in the guest, the host's policy) lets a server listen on
/// `host`: probed with twinloop itself, so the answer is the same kind on both targets.
async fn can_listen(ev: &twinloop::EventLoop, host: &str) -> bool {
    match ev
        .create_server(
            || Peer::new(Watch::default(), PeerOptions::echo()),
            host,
            0,
            ServerOptions::default(),
        )
        .await
    {
        Ok(server) => {
            server.close();
            true
        }
        Err(_) => false,
    }
}

#[test]
fn all_interfaces_get_one_socket_per_family() {
    run_tcp(move |ev| async move {
        let v6 = can_listen(&ev, "::").await;
        let loopback_v6 = can_listen(&ev, "::1").await;
        for hosts in [Hosts::All, Hosts::from(""), Hosts::from(None::<&str>)] {
            let server = ev
                .create_server(
                    || Peer::new(Watch::default(), PeerOptions::echo()),
                    hosts.clone(),
                    0,
                    ServerOptions::default(),
                )
                .await?;
            let sockets = server.sockets();
            let ports: Vec<u16> = sockets
                .iter()
                .map(|s| s.local_addr().unwrap().port())
                .collect();
            assert!(ports.iter().all(|&p| p != 0), "{sockets:?}");
            assert!(
                ports.iter().all(|&p| p == ports[0]),
                "one port for all: {sockets:?}"
            );
            assert!(sockets[0].local_addr().unwrap().is_ipv4(), "{sockets:?}");
            assert!(sockets[0].local_addr().unwrap().ip().is_unspecified());
            if v6 {
                assert_eq!(sockets.len(), 2, "{hosts:?}: {sockets:?}");
                assert!(sockets[1].local_addr().unwrap().is_ipv6());
                assert!(sockets[1].local_addr().unwrap().ip().is_unspecified());
            } else {
                assert_eq!(sockets.len(), 1, "no IPv6 here: {sockets:?}");
            }
            let port = ports[0];
            one_byte_echo(&ev, "127.0.0.1", port).await?;
            if v6 && loopback_v6 {
                one_byte_echo(&ev, "::1", port).await?;
                let (client, log) = connect_to(&ev, "::1", port, PeerOptions::default()).await?;
                let peer = client.peername().expect("a TCP peer address");
                assert!(peer.is_ipv6());
                assert_eq!(peer.port(), port);
                client.close();
                log.until(&ev, "::1 client lost", PeerLog::is_lost).await?;
            }
            server.close();
            server.wait_closed().await?;
        }
        Ok(())
    });
}

#[test]
fn server_close_is_idempotent_and_connections_outlive_it() {
    run_tcp(|ev| async move {
        let srv = serve(&ev, PeerOptions::echo()).await?;
        let (client, log) = connect(&ev, srv.port, PeerOptions::default()).await?;
        srv.peer(&ev, 0).await?;
        srv.server.close();
        srv.server.close();
        // The accepted connection still echoes after the server closed.
        client.write(b"after server close")?;
        log.until(&ev, "echo after server close", |l| l.received >= 18)
            .await?;
        log.get(|l| assert_eq!(l.data, b"after server close"));
        client.close();
        srv.server.wait_closed().await?;
        Ok(())
    });
}
