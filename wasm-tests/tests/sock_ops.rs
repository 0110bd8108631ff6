//! The `sock_*` methods on `twinloop::Socket`: TCP and UDP, cancellation, errors.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use twinloop::{Error, EventLoop, Family, Result, Socket, SocketType};
use wasm_tests::tcp_support::*;
use wasm_tests::yield_now;

fn any_v4() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn tcp_listener() -> Result<Socket> {
    let listener = Socket::new(Family::V4, SocketType::Stream)?;
    listener.bind(any_v4())?;
    listener.listen(16)?;
    Ok(listener)
}

fn udp_bound() -> Result<Socket> {
    let sock = Socket::new(Family::V4, SocketType::Datagram)?;
    sock.bind(any_v4())?;
    Ok(sock)
}

/// A connected pair: (client, accepted).
async fn tcp_pair(ev: &EventLoop) -> Result<(Socket, Socket, Socket)> {
    let listener = tcp_listener()?;
    let client = Socket::new(Family::V4, SocketType::Stream)?;
    let port = listener.local_addr()?.port();
    ev.sock_connect(&client, LOCALHOST_V4, port).await?;
    let (conn, peer) = ev.sock_accept(&listener).await?;
    assert_eq!(peer, client.local_addr()?);
    Ok((client, conn, listener))
}

/// Reads until the end of the stream, with `sock_recv_into` into one reused buffer.
async fn read_to_end(ev: EventLoop, sock: Socket) -> Result<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let (n, back) = ev.sock_recv_into(&sock, buf).await?;
        buf = back;
        if n == 0 {
            return Ok(got);
        }
        got.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn sendall_of_8_mib_arrives_byte_for_byte() {
    run_tcp(|ev| async move {
        let (client, conn, _listener) = tcp_pair(&ev).await?;
        let data = pattern(8 << 20, 7);
        let reader = ev.create_task(read_to_end(ev.clone(), conn))?;
        ev.sock_sendall(&client, data.clone()).await?;
        client.close();
        let got = reader.await??;
        assert_same_bytes("8 MiB through sock_sendall", &got, &data);
        Ok(())
    });
}

#[test]
fn accept_loop_with_recv_into() {
    const CLIENTS: usize = 3;
    run_tcp(|ev| async move {
        let listener = tcp_listener()?;
        let port = listener.local_addr()?.port();
        let l = listener.clone();
        let e = ev.clone();
        let server = ev.create_task(async move {
            let mut messages = Vec::new();
            for _ in 0..CLIENTS {
                let (conn, _peer) = e.sock_accept(&l).await?;
                messages.push(read_to_end(e.clone(), conn).await?);
            }
            Ok::<_, Error>(messages)
        })?;
        for i in 0..CLIENTS {
            let client = Socket::new(Family::V4, SocketType::Stream)?;
            ev.sock_connect(&client, "localhost", port).await?;
            ev.sock_sendall(&client, format!("client {i}").into_bytes())
                .await?;
            client.close();
        }
        let messages = server.await??;
        let want: Vec<Vec<u8>> = (0..CLIENTS)
            .map(|i| format!("client {i}").into_bytes())
            .collect();
        assert_eq!(messages, want);
        Ok(())
    });
}

#[test]
fn recvfrom_and_sendto_echo() {
    run_tcp(|ev| async move {
        let server = udp_bound()?;
        let server_addr = server.local_addr()?;
        let s = server.clone();
        let e = ev.clone();
        let echo = ev.create_task(async move {
            for _ in 0..3 {
                let (data, from) = e.sock_recvfrom(&s, 2048).await?;
                e.sock_sendto(&s, data, from).await?;
            }
            Ok::<_, Error>(())
        })?;
        let client = udp_bound()?;
        for (i, msg) in [&b"one"[..], b"", b"three"].into_iter().enumerate() {
            assert_eq!(
                ev.sock_sendto(&client, msg.to_vec(), server_addr).await?,
                msg.len()
            );
            let nbytes = if i == 2 { 4 } else { 0 };
            let (n, from, buf) = ev.sock_recvfrom_into(&client, [0u8; 16], nbytes).await?;
            assert_eq!(from, server_addr);
            let want = if i == 2 { &msg[..4] } else { msg };
            assert_eq!(&buf[..n], want);
        }
        echo.await??;
        let too_long = ev.sock_recvfrom_into(&client, [0u8; 4], 5).await;
        assert!(
            matches!(too_long, Err(Error::InvalidArgument(_))),
            "{too_long:?}"
        );
        Ok(())
    });
}

#[test]
fn a_cancelled_recv_loses_no_bytes() {
    run_tcp(|ev| async move {
        let (client, conn, _listener) = tcp_pair(&ev).await?;
        let pending = ev.create_task(ev.sock_recv(&conn, 1024))?;
        turns(&ev, 3).await?;
        assert!(!pending.done(), "nothing was sent yet");
        pending.cancel();
        turns(&ev, 1).await?;
        assert!(pending.cancelled());
        ev.sock_sendall(&client, b"for the next recv".to_vec())
            .await?;
        client.close();
        let got = read_to_end(ev.clone(), conn).await?;
        assert_eq!(got, b"for the next recv");
        Ok(())
    });
}

#[test]
fn reads_after_a_short_one_get_what_arrives_later_then_the_end() {
    run_tcp(|ev| async move {
        let (client, conn, _listener) = tcp_pair(&ev).await?;
        // Each read is shorter than asked: natively the next one waits for a report
        // instead of trying, and must still see data, and the end, that come later.
        for word in [&b"one"[..], b"two", b"three"] {
            ev.sock_sendall(&client, word.to_vec()).await?;
            assert_eq!(ev.sock_recv(&conn, 1024).await?, word);
        }
        ev.sock_sendall(&client, b"tail".to_vec()).await?;
        client.close();
        assert_eq!(read_to_end(ev.clone(), conn).await?, b"tail");
        Ok(())
    });
}

#[test]
fn two_queued_datagrams_are_two_recvs() {
    run_tcp(|ev| async move {
        let (a, b) = (udp_bound()?, udp_bound()?);
        let to = a.local_addr()?;
        // The first recv waits (the socket is watched) before both datagrams arrive, so
        // the second recv gets no report of its own.
        let first = ev.create_task(ev.sock_recv(&a, 100))?;
        turns(&ev, 3).await?;
        ev.sock_sendto(&b, b"first".to_vec(), to).await?;
        ev.sock_sendto(&b, b"second".to_vec(), to).await?;
        // A datagram shorter than the buffer says nothing of the next one.
        assert_eq!(first.await??, b"first");
        assert_eq!(ev.sock_recv(&a, 100).await?, b"second");
        Ok(())
    });
}

#[test]
fn a_callback_that_always_reschedules_itself_does_not_hold_back_io() {
    // The loop always has a callback ready, so it never waits in its poll: readiness must
    // still be seen. (In the guest the host drives the sockets on the guest's own thread:
    // a loop that never waits must still give that driver its turns.)
    run_tcp(|ev| async move {
        let (client, conn, _listener) = tcp_pair(&ev).await?;
        let spinning = Rc::new(std::cell::Cell::new(true));
        fn spin(spinning: Rc<std::cell::Cell<bool>>) -> impl FnOnce(&EventLoop) {
            move |ev| {
                if spinning.get() {
                    ev.call_soon(spin(spinning)).unwrap();
                }
            }
        }
        ev.call_soon(spin(spinning.clone()))?;
        for round in 0..20u8 {
            ev.sock_sendall(&client, vec![round; 100]).await?;
            let mut got = Vec::new();
            while got.len() < 100 {
                got.extend(ev.sock_recv(&conn, 100 - got.len()).await?);
            }
            assert_eq!(got, vec![round; 100]);
        }
        spinning.set(false);
        Ok(())
    });
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    run_tcp(|ev| async move {
        let port = {
            let listener = tcp_listener()?;
            let port = listener.local_addr()?.port();
            listener.close();
            port
        };
        let client = Socket::new(Family::V4, SocketType::Stream)?;
        let err = ev
            .sock_connect(&client, LOCALHOST_V4, port)
            .await
            .expect_err("connected to a closed port");
        assert_eq!(err.io_kind(), Some(ErrorKind::ConnectionRefused), "{err:?}");
        Ok(())
    });
}

#[test]
fn a_cancelled_connect_can_be_tried_again() {
    run_tcp(|ev| async move {
        let listener = tcp_listener()?;
        let port = listener.local_addr()?.port();
        let client = Socket::new(Family::V4, SocketType::Stream)?;
        let first = ev.create_task(ev.sock_connect(&client, LOCALHOST_V4, port))?;
        yield_now().await;
        first.cancel();
        let _ = first.await;
        ev.sock_connect(&client, LOCALHOST_V4, port).await?;
        let (conn, _) = ev.sock_accept(&listener).await?;
        ev.sock_sendall(&client, b"connected".to_vec()).await?;
        assert_eq!(ev.sock_recv(&conn, 100).await?, b"connected");
        Ok(())
    });
}

#[test]
fn sendall_of_nothing_completes_at_once() {
    run_tcp(|ev| async move {
        // Not even connected: no system call is made.
        let sock = Socket::new(Family::V4, SocketType::Stream)?;
        ev.sock_sendall(&sock, Vec::new()).await?;
        let closed = Rc::new(Socket::new(Family::V4, SocketType::Stream)?);
        closed.close();
        ev.sock_sendall(&closed, b"").await?;
        let err = ev
            .sock_sendall(&closed, b"x")
            .await
            .expect_err("closed socket");
        assert_eq!(err.io_kind(), Some(ErrorKind::NotConnected));
        Ok(())
    });
}

#[test]
fn family_any_is_refused() {
    assert!(matches!(
        Socket::new(Family::Any, SocketType::Stream),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
#[cfg_attr(target_os = "wasi", ignore = "the guest has no std sockets to adopt")]
fn a_blocking_socket_is_refused() {
    #[cfg(not(target_os = "wasi"))]
    {
        let blocking = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let adopted = Socket::try_from(blocking.try_clone().unwrap());
        if cfg!(windows) {
            // No way to ask a Windows socket whether it blocks: it is made non-blocking.
            let sock = adopted.expect("adopted");
            let mut buf = [0u8; 8];
            let err = blocking.recv(&mut buf).expect_err("made non-blocking");
            assert_eq!(err.kind(), ErrorKind::WouldBlock);
            drop(sock);
            return;
        }
        let err = adopted.expect_err("blocking");
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
        blocking.set_nonblocking(true).unwrap();
        let addr = blocking.local_addr().unwrap();
        let sock = Socket::try_from(blocking).expect("non-blocking");
        assert_eq!(sock.local_addr().unwrap(), addr);
    }
}

#[test]
fn an_accept_that_timed_out_keeps_nothing_alive() {
    run_tcp(|ev| async move {
        let listener = tcp_listener()?;
        let port = listener.local_addr()?.port();
        let waited =
            twinloop::wait_for(ev.sock_accept(&listener), Duration::from_millis(100)).await;
        assert!(
            matches!(waited, Err(Error::Timeout)),
            "{:?}",
            waited.map(|_| ())
        );
        // Nothing registered on the loop keeps the listening socket open: dropping the
        // last handle closes it, and connecting is refused.
        drop(listener);
        let client = Socket::new(Family::V4, SocketType::Stream)?;
        let err = ev
            .sock_connect(&client, LOCALHOST_V4, port)
            .await
            .expect_err("connected to a listener that was closed");
        assert_eq!(err.io_kind(), Some(ErrorKind::ConnectionRefused), "{err:?}");
        Ok(())
    });
}
