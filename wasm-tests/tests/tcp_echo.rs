//! TCP echo: payloads of every size checked byte for byte, many connections at once, the
//! buffered protocol, callback order, addresses of both ends, name resolution.

use twinloop::{
    BaseProtocol, Buffered, BufferedProtocol, ConnectOptions, Error, ExtraInfo, Family,
    ServerOptions, Transport,
};
use wasm_tests::tcp_support::*;

/// Echoes `len` bytes through a server in the same loop and checks them; then the client
/// closes and both ends see the end of the connection.
fn echo_payload(len: usize, seed: u64) {
    run_tcp(move |ev| async move {
        let srv = serve(&ev, PeerOptions::echo()).await?;
        let (client, log) = connect(&ev, srv.port, PeerOptions::default()).await?;
        let payload = pattern(len, seed);
        client.write(&payload)?;
        log.until(&ev, "the whole echo", |l| l.received >= len as u64)
            .await?;
        log.get(|l| assert_same_bytes("echo", &l.data, &payload));
        let server_peer = srv.peer(&ev, 0).await?;
        server_peer.get(|l| {
            assert_same_bytes("bytes the server received", &l.data, &payload);
            assert!(
                l.write_errors.is_empty(),
                "echo writes failed: {:?}",
                l.write_errors
            );
        });
        client.close();
        log.until(&ev, "client connection_lost", PeerLog::is_lost)
            .await?;
        server_peer
            .until(&ev, "server-side connection_lost", PeerLog::is_lost)
            .await?;
        srv.shut_down().await?;
        log.get(|l| {
            assert!(
                matches!(l.lost, Some(None)),
                "client lost with {:?}",
                l.lost
            );
            assert_eq!(l.received, len as u64, "nothing more than the echo arrives");
        });
        server_peer.get(|l| {
            assert!(
                matches!(l.lost, Some(None)),
                "server lost with {:?}",
                l.lost
            );
            assert_eq!(l.stream_events(), ["made", "data", "eof", "lost"]);
        });
        Ok(())
    });
}

#[test]
fn echo_1_byte() {
    echo_payload(1, 1);
}

#[test]
fn echo_64_kib() {
    echo_payload(64 * 1024, 2);
}

#[test]
fn echo_8_mib() {
    echo_payload(8 * 1024 * 1024, 3);
}

#[test]
fn echo_200_concurrent_connections() {
    const CONNECTIONS: usize = 200;
    const SIZE: usize = 16 * 1024 + 17;
    run_tcp(|ev| async move {
        let options = ServerOptions {
            backlog: 256,
            ..ServerOptions::default()
        };
        let srv = serve_with(&ev, PeerOptions::echo(), options).await?;
        let port = srv.port;
        // Connect every client first, then write on all of them at once.
        let mut connecting = Vec::new();
        for _ in 0..CONNECTIONS {
            let ev2 = ev.clone();
            connecting.push(
                ev.create_task(async move { connect(&ev2, port, PeerOptions::default()).await })?,
            );
        }
        let mut clients = Vec::new();
        for task in connecting {
            clients.push(task.await??);
        }
        let payloads: Vec<Vec<u8>> = (0..CONNECTIONS)
            .map(|i| pattern(SIZE, 1000 + i as u64))
            .collect();
        for ((client, _), payload) in clients.iter().zip(&payloads) {
            client.write(payload)?;
        }
        for (i, (_, log)) in clients.iter().enumerate() {
            log.until(&ev, &format!("the echo on connection {i}"), |l| {
                l.received >= SIZE as u64
            })
            .await?;
        }
        for (i, ((client, log), payload)) in clients.iter().zip(&payloads).enumerate() {
            log.get(|l| assert_same_bytes(&format!("echo on connection {i}"), &l.data, payload));
            client.close();
        }
        for (i, (_, log)) in clients.iter().enumerate() {
            log.until(
                &ev,
                &format!("connection_lost of client {i}"),
                PeerLog::is_lost,
            )
            .await?;
        }
        srv.shut_down().await?;
        assert_eq!(srv.peers.get(Vec::len), CONNECTIONS, "accepted connections");
        for (i, peer) in srv.peers.get(Vec::clone).iter().enumerate() {
            peer.get(|l| {
                assert_eq!(l.received, SIZE as u64, "server peer {i} received");
                assert!(
                    matches!(l.lost, Some(None)),
                    "server peer {i}: {:?}",
                    l.lost
                );
            });
        }
        Ok(())
    });
}

/// A buffered protocol that receives through a small buffer, so that data is split across
/// many `get_buffer`/`buffer_updated` calls; it echoes what it gets when `echo` is set.
struct SmallBuffer {
    buf: Vec<u8>,
    echo: bool,
    transport: Option<Transport>,
    log: Watch<PeerLog>,
}

impl BaseProtocol for SmallBuffer {
    fn connection_made(&mut self, transport: Transport) {
        self.transport = Some(transport.clone());
        self.log.update(|l| {
            l.events.push("made");
            l.made += 1;
            l.transport = Some(transport);
        });
    }

    fn connection_lost(&mut self, error: Option<Error>) {
        self.log.update(|l| {
            l.events.push("lost");
            l.lost_count += 1;
            l.lost = Some(error);
        });
    }
}

impl BufferedProtocol for SmallBuffer {
    fn get_buffer(&mut self, size_hint: usize) -> &mut [u8] {
        assert!(size_hint > 0, "get_buffer size hint {size_hint}");
        &mut self.buf
    }

    fn buffer_updated(&mut self, nbytes: usize) {
        assert!(
            nbytes > 0 && nbytes <= self.buf.len(),
            "buffer_updated({nbytes})"
        );
        let data = &self.buf[..nbytes];
        self.log.update(|l| {
            if l.events.last() != Some(&"data") {
                l.events.push("data");
            }
            l.data.extend_from_slice(data);
            l.received += nbytes as u64;
        });
        if self.echo {
            if let Some(t) = &self.transport {
                if let Err(e) = t.write(data) {
                    self.log.update(|l| l.write_errors.push(e));
                }
            }
        }
    }

    fn eof_received(&mut self) -> bool {
        self.log.update(|l| {
            l.events.push("eof");
            l.eof += 1;
        });
        false
    }
}

#[test]
fn buffered_protocol_echo() {
    const SIZE: usize = 9 * 1024 + 5;
    run_tcp(|ev| async move {
        let server_logs: Watch<Vec<Watch<PeerLog>>> = Watch::default();
        let registry = server_logs.clone();
        let server = ev
            .create_server(
                move || {
                    let log = Watch::<PeerLog>::default();
                    registry.update(|v| v.push(log.clone()));
                    Buffered(SmallBuffer {
                        buf: vec![0; 100],
                        echo: true,
                        transport: None,
                        log,
                    })
                },
                LOCALHOST_V4,
                0,
                ServerOptions::default(),
            )
            .await?;
        let port = server.sockets()[0].local_addr().unwrap().port();
        let log = Watch::<PeerLog>::default();
        let client_log = log.clone();
        let (client, protocol) = ev
            .create_connection(
                move || {
                    Buffered(SmallBuffer {
                        buf: vec![0; 7],
                        echo: false,
                        transport: None,
                        log: client_log,
                    })
                },
                LOCALHOST_V4,
                port,
                ConnectOptions::default(),
            )
            .await?;
        assert_eq!(
            protocol.with(|p| p.0.buf.len())?,
            7,
            "the protocol is the one made"
        );
        let payload = pattern(SIZE, 77);
        client.write(&payload)?;
        log.until(&ev, "the buffered echo", |l| l.received >= SIZE as u64)
            .await?;
        log.get(|l| assert_same_bytes("buffered echo", &l.data, &payload));
        client.close();
        log.until(&ev, "client connection_lost", PeerLog::is_lost)
            .await?;
        server.close();
        server.wait_closed().await?;
        let peer = server_logs.get(|v| v[0].clone());
        peer.get(|l| {
            assert_same_bytes("buffered server received", &l.data, &payload);
            assert!(l.write_errors.is_empty(), "{:?}", l.write_errors);
            assert_eq!(l.stream_events(), ["made", "data", "eof", "lost"]);
        });
        log.get(|l| assert_eq!(l.stream_events(), ["made", "data", "lost"]));
        Ok(())
    });
}

#[test]
fn connection_made_once_before_any_data() {
    run_tcp(|ev| async move {
        let srv = serve(&ev, PeerOptions::echo()).await?;
        // The client writes in connection_made, so the server may get data right away.
        struct Greeter(Watch<PeerLog>, Peer);
        impl twinloop::BaseProtocol for Greeter {
            fn connection_made(&mut self, t: Transport) {
                let _ = t.write(b"hello");
                let _ = t.write_eof();
                self.1.connection_made(t);
            }
            fn connection_lost(&mut self, error: Option<Error>) {
                self.1.connection_lost(error);
            }
        }

        impl twinloop::Protocol for Greeter {
            fn data_received(&mut self, data: &[u8]) {
                self.1.data_received(data);
            }
            fn eof_received(&mut self) -> bool {
                self.1.eof_received()
            }
        }
        let log = Watch::<PeerLog>::default();
        let for_factory = log.clone();
        let (client, protocol) = ev
            .create_connection(
                move || {
                    Greeter(
                        for_factory.clone(),
                        Peer::new(for_factory, PeerOptions::default()),
                    )
                },
                LOCALHOST_V4,
                srv.port,
                ConnectOptions::default(),
            )
            .await?;
        // create_connection returns after connection_made.
        assert_eq!(protocol.with(|p| p.0.get(|l| l.made))?, 1);
        assert!(log.get(|l| l.transport.is_some()));
        log.until(&ev, "client connection_lost", PeerLog::is_lost)
            .await?;
        assert!(client.is_closing());
        let server_peer = srv.peer(&ev, 0).await?;
        server_peer
            .until(&ev, "server connection_lost", PeerLog::is_lost)
            .await?;
        srv.shut_down().await?;
        log.get(|l| {
            assert_eq!(l.made, 1);
            assert_eq!(l.lost_count, 1);
            assert_eq!(l.stream_events(), ["made", "data", "eof", "lost"]);
            assert_eq!(l.data, b"hello");
        });
        server_peer.get(|l| {
            assert_eq!(l.made, 1);
            assert_eq!(l.lost_count, 1);
            assert_eq!(l.stream_events(), ["made", "data", "eof", "lost"]);
            assert_eq!(l.data, b"hello");
        });
        Ok(())
    });
}

fn addr_of(info: Option<ExtraInfo>) -> std::net::SocketAddr {
    match info {
        Some(ExtraInfo::Addr(a)) => a,
        other => panic!("expected an address, got {other:?}"),
    }
}

#[test]
fn peername_and_sockname_match_across_ends() {
    run_tcp(|ev| async move {
        let srv = serve(&ev, PeerOptions::default()).await?;
        let (client, log) = connect(&ev, srv.port, PeerOptions::default()).await?;
        let server_peer = srv.peer(&ev, 0).await?;
        let accepted = server_peer.get(PeerLog::transport);
        let client_peer = addr_of(client.get_extra_info("peername"));
        let client_sock = addr_of(client.get_extra_info("sockname"));
        let server_peer_addr = addr_of(accepted.get_extra_info("peername"));
        let server_sock = addr_of(accepted.get_extra_info("sockname"));
        assert_eq!(
            client_peer, server_sock,
            "client peername = server sockname"
        );
        assert_eq!(
            client_sock, server_peer_addr,
            "client sockname = server peername"
        );
        assert_eq!(client_peer.port(), srv.port);
        assert_eq!(Some(client_peer), srv.server.sockets()[0].local_addr());
        assert!(client_peer.ip().is_loopback() && client_sock.ip().is_loopback());
        assert_ne!(client_sock.port(), 0);
        assert_eq!(client.peername(), Some(client_peer));
        assert_eq!(client.sockname(), Some(client_sock));
        assert_eq!(accepted.peername(), Some(server_peer_addr));
        assert_eq!(accepted.sockname(), Some(server_sock));
        match client.get_extra_info("socket") {
            Some(ExtraInfo::Socket(info)) => {
                assert_eq!(info.local, client_sock);
                assert_eq!(info.peer, client_peer);
            }
            other => panic!("socket info: {other:?}"),
        }
        assert_eq!(client.get_extra_info("no-such-key"), None);
        client.close();
        log.until(&ev, "client connection_lost", PeerLog::is_lost)
            .await?;
        assert_eq!(
            client.get_extra_info("socket"),
            None,
            "no socket once the connection is lost"
        );
        assert_eq!(addr_of(client.get_extra_info("peername")), client_peer);
        srv.shut_down().await?;
        Ok(())
    });
}

#[test]
fn getaddrinfo_localhost_gives_loopback() {
    run_tcp(|ev| async move {
        let addrs = ev.getaddrinfo("localhost", 80, Family::Any).await?;
        assert!(!addrs.is_empty());
        assert!(
            addrs.iter().any(|a| a.ip().is_loopback()),
            "no loopback address for localhost: {addrs:?}"
        );
        assert!(addrs.iter().all(|a| a.port() == 80), "{addrs:?}");
        let v4 = ev.getaddrinfo("127.0.0.1", "8080", Family::V4).await?;
        assert_eq!(v4, ["127.0.0.1:8080".parse().unwrap()]);
        Ok(())
    });
}
