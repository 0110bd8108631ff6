//! TCP errors: refused connections, names that do not resolve, bad arguments, the host's
//! sandbox policy, writes to a closed transport.

use std::io::ErrorKind;

use twinloop::{ConnectOptions, Error, EventLoop, Family, Hosts, Result, ServerOptions};
use wasm_tests::tcp_support::*;

/// A port on 127.0.0.1 where nothing listens: bound by a server that is then closed.
async fn dead_port(ev: &EventLoop) -> Result<u16> {
    let srv = serve(ev, PeerOptions::default()).await?;
    let port = srv.port;
    srv.shut_down().await?;
    Ok(port)
}

async fn try_connect(ev: &EventLoop, host: &str, port: impl Into<twinloop::Port>) -> Result<()> {
    let (transport, _protocol) = ev
        .create_connection(
            || Peer::new(Watch::default(), PeerOptions::default()),
            host,
            port,
            ConnectOptions::default(),
        )
        .await?;
    transport.abort();
    Ok(())
}

#[test]
fn connect_to_closed_port_is_refused() {
    run_tcp(|ev| async move {
        let port = dead_port(&ev).await?;
        let err = try_connect(&ev, LOCALHOST_V4, port)
            .await
            .expect_err("connected to a port where nothing listens");
        assert_eq!(
            err.io_kind(),
            Some(ErrorKind::ConnectionRefused),
            "expected ConnectionRefused, got {err} ({err:?})"
        );
        // The same through all_errors: one attempt, one error, in a Multiple.
        let opts = ConnectOptions {
            all_errors: true,
            ..ConnectOptions::default()
        };
        let err = ev
            .create_connection(
                || Peer::new(Watch::default(), PeerOptions::default()),
                LOCALHOST_V4,
                port,
                opts,
            )
            .await
            .expect_err("connected to a port where nothing listens");
        match &err {
            Error::Multiple(errors) => {
                assert_eq!(errors.len(), 1, "{errors:?}");
                assert_eq!(errors[0].io_kind(), Some(ErrorKind::ConnectionRefused));
            }
            other => panic!("all_errors: expected Multiple, got {other:?}"),
        }
        Ok(())
    });
}

#[test]
fn unresolvable_host_is_an_io_error() {
    run_tcp(|ev| async move {
        let err = try_connect(&ev, "no-such-host.invalid", 80)
            .await
            .expect_err("connected to a host that cannot exist");
        assert!(
            matches!(err, Error::Io(_)),
            "expected Error::Io, got {err} ({err:?})"
        );
        assert!(
            !err.to_string().is_empty(),
            "the error should say what went wrong"
        );
        let err = ev
            .getaddrinfo("no-such-host.invalid", 80, Family::Any)
            .await
            .expect_err("resolved a host that cannot exist");
        assert!(matches!(err, Error::Io(_)), "getaddrinfo: {err:?}");
        Ok(())
    });
}

#[test]
fn port_out_of_range_is_invalid_argument() {
    run_tcp(|ev| async move {
        let err = try_connect(&ev, LOCALHOST_V4, 70000u32).await.unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "70000: {err:?}");
        let err = try_connect(&ev, LOCALHOST_V4, -1i32).await.unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "-1: {err:?}");
        let err = try_connect(&ev, LOCALHOST_V4, "65536").await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument(_)),
            "\"65536\": {err:?}"
        );
        let err = try_connect(&ev, LOCALHOST_V4, "http").await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument(_)),
            "\"http\": {err:?}"
        );
        let err = ev
            .create_server(
                || Peer::new(Watch::default(), PeerOptions::default()),
                LOCALHOST_V4,
                70000u32,
                ServerOptions::default(),
            )
            .await
            .expect_err("create_server with port 70000");
        assert!(
            matches!(err, Error::InvalidArgument(_)),
            "server 70000: {err:?}"
        );
        let err = ev
            .create_server(
                || Peer::new(Watch::default(), PeerOptions::default()),
                LOCALHOST_V4,
                -1i32,
                ServerOptions::default(),
            )
            .await
            .expect_err("create_server with port -1");
        assert!(
            matches!(err, Error::InvalidArgument(_)),
            "server -1: {err:?}"
        );
        let err = ev
            .getaddrinfo(LOCALHOST_V4, 70000u32, Family::Any)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument(_)),
            "getaddrinfo: {err:?}"
        );
        Ok(())
    });
}

#[test]
fn empty_host_list_for_create_server_is_invalid_argument() {
    run_tcp(|ev| async move {
        let err = ev
            .create_server(
                || Peer::new(Watch::default(), PeerOptions::default()),
                Vec::<&str>::new(),
                0,
                ServerOptions::default(),
            )
            .await
            .expect_err("create_server with an empty host list");
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
        let err = ev
            .create_server(
                || Peer::new(Watch::default(), PeerOptions::default()),
                Hosts::List(Vec::new()),
                0,
                ServerOptions::default(),
            )
            .await
            .expect_err("create_server with Hosts::List(vec![])");
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
        Ok(())
    });
}

#[test]
fn empty_host_without_sock_is_invalid_argument() {
    run_tcp(|ev| async move {
        let err = try_connect(&ev, "", 80).await.unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
        let err = ev.getaddrinfo("", 80, Family::Any).await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument(_)),
            "getaddrinfo: {err:?}"
        );
        Ok(())
    });
}

#[test]
#[cfg_attr(
    not(target_os = "wasi"),
    ignore = "the host's sandbox policy exists only in the guest"
)]
fn connect_outside_the_policy_is_permission_denied() {
    // The host runs the guest tests with `--allow-net 127.0.0.1 --allow-net [::1]`.
    run_tcp(|ev| async move {
        let err = try_connect(&ev, "127.0.0.2", 9)
            .await
            .expect_err("connected to an address the policy does not allow");
        assert_eq!(
            err.io_kind(),
            Some(ErrorKind::PermissionDenied),
            "expected PermissionDenied, got {err} ({err:?})"
        );
        Ok(())
    });
}

#[test]
#[cfg_attr(
    not(target_os = "wasi"),
    ignore = "the host's sandbox policy exists only in the guest"
)]
fn bind_outside_the_policy_is_permission_denied() {
    // 127.0.0.2 is loopback, but not in the host's `--allow-net` rules.
    run_tcp(|ev| async move {
        let err = ev
            .create_server(
                || Peer::new(Watch::default(), PeerOptions::default()),
                "127.0.0.2",
                0u16,
                ServerOptions::default(),
            )
            .await
            .expect_err("listened on an address the policy does not allow");
        assert_eq!(
            err.io_kind(),
            Some(ErrorKind::PermissionDenied),
            "expected PermissionDenied, got {err} ({err:?})"
        );
        Ok(())
    });
}

#[test]
fn write_after_close_or_write_eof_is_invalid_state() {
    run_tcp(|ev| async move {
        let srv = serve(&ev, PeerOptions::default()).await?;
        let (client, log) = connect(&ev, srv.port, PeerOptions::default()).await?;
        client.write(b"before")?;
        client.write_eof()?;
        assert!(!client.is_closing(), "write_eof does not close");
        let err = client.write(b"after eof").unwrap_err();
        assert!(
            matches!(err, Error::InvalidState(_)),
            "after write_eof: {err:?}"
        );
        client.write_eof()?; // a second write_eof is harmless
        client.close();
        assert!(client.is_closing());
        let err = client.write(b"after close").unwrap_err();
        assert!(
            matches!(err, Error::InvalidState(_)),
            "after close: {err:?}"
        );
        let err = client.writelines([&b"a"[..], b"b"]).unwrap_err();
        assert!(matches!(err, Error::InvalidState(_)), "writelines: {err:?}");
        client.write_eof()?; // write_eof after close is harmless
        client.close(); // and so is a second close
        log.until(&ev, "client connection_lost", PeerLog::is_lost)
            .await?;
        let err = client.write(b"after lost").unwrap_err();
        assert!(matches!(err, Error::InvalidState(_)), "after lost: {err:?}");
        let peer = srv.peer(&ev, 0).await?;
        peer.until(&ev, "server connection_lost", PeerLog::is_lost)
            .await?;
        peer.get(|l| assert_eq!(l.data, b"before"));
        log.get(|l| {
            assert_eq!(l.lost_count, 1);
            assert!(matches!(l.lost, Some(None)), "{:?}", l.lost);
        });
        srv.shut_down().await?;

        // A second connection that only closes: writes after close are refused too.
        let srv = serve(&ev, PeerOptions::default()).await?;
        let (client, log) = connect(&ev, srv.port, PeerOptions::default()).await?;
        client.close();
        let err = client.write(b"x").unwrap_err();
        assert!(matches!(err, Error::InvalidState(_)), "{err:?}");
        assert_eq!(client.get_write_buffer_size(), 0);
        log.until(&ev, "client connection_lost", PeerLog::is_lost)
            .await?;
        srv.shut_down().await?;
        Ok(())
    });
}
