//! Datagram endpoints (`create_datagram_endpoint`): echo with loss accounting, ICMP
//! errors, callback order, the send queue, zero-length datagrams, argument errors.

use std::cell::RefCell;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use twinloop::{
    BaseProtocol, DatagramOptions, DatagramProtocol, DatagramTransport, Error, EventLoop, Family,
    Result,
};
use wasm_tests::tcp_support::*;

/// What a [`Recorder`] endpoint saw, in order.
#[derive(Clone, Debug, PartialEq)]
enum Seen {
    Made,
    Datagram(Vec<u8>, SocketAddr),
    Error(Option<ErrorKind>),
    Lost(bool),
}

/// Records every callback; echoes `reply_prefix + data` to the sender when set.
struct Recorder {
    seen: Watch<Vec<Seen>>,
    transport: Option<DatagramTransport>,
    reply_prefix: Option<&'static [u8]>,
}

impl BaseProtocol<DatagramTransport> for Recorder {
    fn connection_made(&mut self, t: DatagramTransport) {
        self.transport = Some(t);
        self.seen.update(|s| s.push(Seen::Made));
    }
    fn connection_lost(&mut self, error: Option<Error>) {
        self.seen.update(|s| s.push(Seen::Lost(error.is_some())));
    }
}

impl DatagramProtocol for Recorder {
    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        self.seen
            .update(|s| s.push(Seen::Datagram(data.to_vec(), addr)));
        if let (Some(prefix), Some(t)) = (self.reply_prefix, &self.transport) {
            let reply = [prefix, data].concat();
            t.sendto(&reply, Some(addr)).expect("reply");
        }
    }
    fn error_received(&mut self, error: Error) {
        self.seen.update(|s| s.push(Seen::Error(error.io_kind())));
    }
}

fn recorder(
    seen: &Watch<Vec<Seen>>,
    reply_prefix: Option<&'static [u8]>,
) -> impl FnOnce() -> Recorder {
    let seen = seen.clone();
    move || Recorder {
        seen,
        transport: None,
        reply_prefix,
    }
}

fn datagrams(seen: &[Seen]) -> usize {
    seen.iter()
        .filter(|s| matches!(s, Seen::Datagram(..)))
        .count()
}

async fn endpoint(
    ev: &EventLoop,
    seen: &Watch<Vec<Seen>>,
    reply_prefix: Option<&'static [u8]>,
    local: Option<(&str, u16)>,
    remote: Option<(&str, u16)>,
) -> Result<DatagramTransport> {
    let (t, _) = ev
        .create_datagram_endpoint(
            recorder(seen, reply_prefix),
            local,
            remote,
            DatagramOptions::default(),
        )
        .await?;
    Ok(t)
}

/// A server endpoint on 127.0.0.1 and a client endpoint connected to it.
async fn pair(
    ev: &EventLoop,
    server_seen: &Watch<Vec<Seen>>,
    client_seen: &Watch<Vec<Seen>>,
) -> Result<(DatagramTransport, DatagramTransport)> {
    let server = endpoint(ev, server_seen, None, Some((LOCALHOST_V4, 0)), None).await?;
    let port = server.sockname().port();
    let client = endpoint(ev, client_seen, None, None, Some((LOCALHOST_V4, port))).await?;
    Ok((server, client))
}

/// The payloads received, in order.
fn payloads(seen: &[Seen]) -> Vec<Vec<u8>> {
    seen.iter()
        .filter_map(|x| match x {
            Seen::Datagram(d, _) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

/// A UDP port on 127.0.0.1 where nothing listens: bound by an endpoint that is then closed.
async fn dead_port(ev: &EventLoop) -> Result<u16> {
    let seen = Watch::default();
    let t = endpoint(ev, &seen, None, Some((LOCALHOST_V4, 0)), None).await?;
    let port = t.sockname().port();
    t.close();
    seen.until(ev, "the probe endpoint to close", |s| {
        s.contains(&Seen::Lost(false))
    })
    .await?;
    Ok(port)
}

#[test]
fn echo_with_callbacks_in_order() {
    run_tcp(|ev| async move {
        let server_seen = Watch::default();
        let server = endpoint(
            &ev,
            &server_seen,
            Some(b"resp:"),
            Some((LOCALHOST_V4, 0)),
            None,
        )
        .await?;
        let port = server.sockname().port();
        let client_seen = Watch::default();
        let client = endpoint(&ev, &client_seen, None, None, Some((LOCALHOST_V4, port))).await?;
        assert_eq!(client.peername(), Some(server.sockname()));
        client.sendto(b"xxx", None)?;
        client_seen
            .until(&ev, "the echo", |s| datagrams(s) == 1)
            .await?;
        client.close();
        server.close();
        client_seen
            .until(&ev, "client connection_lost", |s| s.len() == 3)
            .await?;
        server_seen
            .until(&ev, "server connection_lost", |s| s.len() == 3)
            .await?;
        let client_addr = client.sockname();
        assert_eq!(
            server_seen.get(|s| s.clone()),
            [
                Seen::Made,
                Seen::Datagram(b"xxx".to_vec(), client_addr),
                Seen::Lost(false)
            ]
        );
        assert_eq!(
            client_seen.get(|s| s.clone()),
            [
                Seen::Made,
                Seen::Datagram(b"resp:xxx".to_vec(), server.sockname()),
                Seen::Lost(false)
            ]
        );
        assert_eq!(
            client.get_extra_info("socket"),
            None,
            "the socket is gone after connection_lost"
        );
        Ok(())
    });
}

/// Counts the echoes of numbered datagrams and keeps a window of them in flight.
struct Pinger {
    transport: Option<DatagramTransport>,
    state: Watch<PingState>,
}

#[derive(Default)]
struct PingState {
    sent: u32,
    received: Vec<bool>,
    echoes: u32,
    corrupt: u32,
}

const PINGS: u32 = 1000;
const WINDOW: u32 = 16;
const PING_SIZE: usize = 512;

fn ping(seq: u32) -> Vec<u8> {
    let mut data = pattern(PING_SIZE, u64::from(seq));
    data[..4].copy_from_slice(&seq.to_be_bytes());
    data
}

impl Pinger {
    fn send_next(&mut self) {
        let t = self.transport.as_ref().expect("connected");
        let seq = self.state.update(|s| {
            s.sent += 1;
            s.sent - 1
        });
        t.sendto(&ping(seq), None).expect("sendto");
    }
}

impl BaseProtocol<DatagramTransport> for Pinger {
    fn connection_made(&mut self, t: DatagramTransport) {
        self.transport = Some(t);
        for _ in 0..WINDOW {
            self.send_next();
        }
    }
}

impl DatagramProtocol for Pinger {
    fn datagram_received(&mut self, data: &[u8], _addr: SocketAddr) {
        let seq = u32::from_be_bytes(data[..4].try_into().expect("4 bytes"));
        let ok = seq < PINGS && data == ping(seq).as_slice();
        let more = self.state.update(|s| {
            if !ok || s.received[seq as usize] {
                s.corrupt += 1;
                return false;
            }
            s.received[seq as usize] = true;
            s.echoes += 1;
            s.sent < PINGS
        });
        if more {
            self.send_next();
        }
    }
}

#[test]
fn echo_of_1000_datagrams_loses_none() {
    let (echoes, corrupt, lost) = run_tcp(|ev| async move {
        let server_seen = Watch::default();
        let server = endpoint(&ev, &server_seen, Some(b""), Some((LOCALHOST_V4, 0)), None).await?;
        let port = server.sockname().port();
        let state = Watch::new(PingState {
            received: vec![false; PINGS as usize],
            ..Default::default()
        });
        let s = state.clone();
        let (client, _) = ev
            .create_datagram_endpoint(
                move || Pinger {
                    transport: None,
                    state: s,
                },
                None,
                Some((LOCALHOST_V4, port)),
                DatagramOptions::default(),
            )
            .await?;
        // Loss accounting: stop waiting once no echo came back for a while.
        let mut last = 0;
        loop {
            ev.sleep(Duration::from_millis(500)).await?;
            let (echoes, sent) = state.get(|s| (s.echoes, s.sent));
            if echoes == PINGS || echoes == last {
                let lost = sent - echoes;
                client.close();
                server.close();
                let corrupt = state.get(|s| s.corrupt);
                return Ok((echoes, corrupt, lost));
            }
            last = echoes;
        }
    });
    assert_eq!(
        (echoes, corrupt, lost),
        (PINGS, 0, 0),
        "echoes, corrupt and lost datagrams"
    );
}

#[test]
fn a_closed_port_on_a_connected_endpoint_reaches_error_received() {
    run_tcp(|ev| async move {
        let port = dead_port(&ev).await?;
        let seen = Watch::default();
        let client = endpoint(&ev, &seen, None, None, Some((LOCALHOST_V4, port))).await?;
        // The ICMP answer comes back asynchronously: send until it is reported.
        for _ in 0..100 {
            client.sendto(b"anyone?", None)?;
            ev.sleep(Duration::from_millis(20)).await?;
            if seen.get(|s| s.iter().any(|x| matches!(x, Seen::Error(_)))) {
                break;
            }
        }
        let errors: Vec<Seen> = seen.get(|s| {
            s.iter()
                .filter(|x| matches!(x, Seen::Error(_)))
                .cloned()
                .collect()
        });
        assert!(
            !errors.is_empty(),
            "no error_received after 100 datagrams to a closed port"
        );
        assert!(
            errors
                .iter()
                .all(|e| *e == Seen::Error(Some(ErrorKind::ConnectionRefused))),
            "{errors:?}"
        );
        assert!(!client.is_closing(), "an ICMP error is not fatal");
        client.sendto(b"still open", None)?;
        client.close();
        seen.until(&ev, "connection_lost", |s| {
            s.last() == Some(&Seen::Lost(false))
        })
        .await?;
        Ok(())
    });
}

#[test]
fn an_unconnected_endpoint_keeps_receiving_after_sending_to_a_closed_port() {
    run_tcp(|ev| async move {
        let port = dead_port(&ev).await?;
        let dead: SocketAddr = SocketAddr::new(LOCALHOST_V4.parse().unwrap(), port);
        let seen = Watch::default();
        let a = endpoint(&ev, &seen, None, Some((LOCALHOST_V4, 0)), None).await?;
        for _ in 0..5 {
            a.sendto(b"nobody", Some(dead))?;
        }
        ev.sleep(Duration::from_millis(50)).await?;
        let b_seen = Watch::default();
        let b = endpoint(
            &ev,
            &b_seen,
            None,
            None,
            Some((LOCALHOST_V4, a.sockname().port())),
        )
        .await?;
        b.sendto(b"hello", None)?;
        seen.until(&ev, "the datagram after the ICMP error", |s| {
            datagrams(s) == 1
        })
        .await?;
        assert!(!a.is_closing());
        a.close();
        b.close();
        Ok(())
    });
}

#[test]
fn zero_length_datagrams_are_sent() {
    run_tcp(|ev| async move {
        let (seen, client_seen) = (Watch::default(), Watch::default());
        let (server, client) = pair(&ev, &seen, &client_seen).await?;
        client.sendto(b"", None)?;
        client.sendto(b"after", None)?;
        seen.until(&ev, "two datagrams", |s| datagrams(s) == 2)
            .await?;
        assert_eq!(seen.get(|s| payloads(s)), [b"".to_vec(), b"after".to_vec()]);
        client.close();
        server.close();
        Ok(())
    });
}

/// A burst sent while the receiver cannot run arrives complete and in order (whatever
/// part of it the socket did not take at once was queued and sent on writability), and
/// `close` waits for the queue. Loopback sockets rarely refuse a datagram (natively the
/// kernel hands it to the receiver within the send), so the burst stays within the
/// receiver's buffer, and how much was queued is printed rather than asserted.
#[test]
fn a_burst_arrives_in_order_and_close_waits_for_the_queue() {
    const COUNT: usize = 50;
    const SIZE: usize = 1000;
    run_tcp(|ev| async move {
        let (seen, client_seen) = (Watch::default(), Watch::default());
        let (server, client) = pair(&ev, &seen, &client_seen).await?;
        let mut max_queued = 0;
        for i in 0..COUNT {
            client.sendto(&pattern(SIZE, i as u64), None)?;
            max_queued = max_queued.max(client.get_write_buffer_size());
        }
        println!("queued at most {max_queued} bytes");
        client.close();
        seen.until(&ev, "every datagram", |s| datagrams(s) == COUNT)
            .await?;
        client_seen
            .until(&ev, "close after the queue drained", |s| {
                s.last() == Some(&Seen::Lost(false))
            })
            .await?;
        assert_eq!(client.get_write_buffer_size(), 0);
        for (i, d) in seen.get(|s| payloads(s)).iter().enumerate() {
            assert_same_bytes(&format!("datagram {i}"), d, &pattern(SIZE, i as u64));
        }
        server.close();
        Ok(())
    });
}

fn quiet() -> Recorder {
    Recorder {
        seen: Watch::default(),
        transport: None,
        reply_prefix: None,
    }
}

async fn try_endpoint(
    ev: &EventLoop,
    local: Option<(&str, u16)>,
    remote: Option<(&str, u16)>,
    options: DatagramOptions,
) -> Result<DatagramTransport> {
    let (t, _) = ev
        .create_datagram_endpoint(quiet, local, remote, options)
        .await?;
    Ok(t)
}

fn assert_invalid(what: &str, outcome: Result<DatagramTransport>) {
    match outcome {
        Err(Error::InvalidArgument(_)) => {}
        other => panic!("{what}: expected InvalidArgument, got {other:?}"),
    }
}

#[test]
fn argument_errors() {
    run_tcp(|ev| async move {
        let local = Some((LOCALHOST_V4, 0));
        assert_invalid(
            "no address",
            try_endpoint(&ev, None, None, DatagramOptions::default()).await,
        );
        let reuse = DatagramOptions {
            reuse_address: true,
            ..Default::default()
        };
        assert_invalid("reuse_address", try_endpoint(&ev, local, None, reuse).await);
        assert_invalid(
            "families differ",
            try_endpoint(&ev, local, Some(("::1", 9)), DatagramOptions::default()).await,
        );
        let v6_only = DatagramOptions {
            family: Family::V6,
            ..Default::default()
        };
        let err = try_endpoint(&ev, local, None, v6_only)
            .await
            .expect_err("an IPv4 literal with family V6");
        assert!(err.io_kind().is_some(), "{err:?}");
        let family_only = DatagramOptions {
            family: Family::V4,
            ..Default::default()
        };
        let unbound = try_endpoint(&ev, None, None, family_only).await?;
        assert!(unbound.sockname().is_ipv4());
        unbound.close();

        let t = try_endpoint(
            &ev,
            None,
            Some((LOCALHOST_V4, 9)),
            DatagramOptions::default(),
        )
        .await?;
        let elsewhere: SocketAddr = "127.0.0.1:10".parse().unwrap();
        assert!(matches!(
            t.sendto(b"x", Some(elsewhere)),
            Err(Error::InvalidArgument(_))
        ));
        t.sendto(b"x", Some(t.peername().unwrap()))?; // the remote_addr itself is fine
        t.close();
        t.sendto(b"dropped", None)?; // after close: dropped silently
        let u = try_endpoint(&ev, local, None, DatagramOptions::default()).await?;
        assert!(
            matches!(u.sendto(b"x", None), Err(Error::InvalidArgument(_))),
            "no address to send to"
        );
        u.close();
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
        let outside = Some(("127.0.0.2", 0));
        let err = try_endpoint(&ev, outside, None, DatagramOptions::default())
            .await
            .expect_err("bound an address the policy does not allow");
        assert_eq!(
            err.io_kind(),
            Some(ErrorKind::PermissionDenied),
            "expected PermissionDenied, got {err} ({err:?})"
        );
        Ok(())
    });
}

#[test]
fn native_only_options_are_unsupported_in_the_guest() {
    run_tcp(|ev| async move {
        let local = Some((LOCALHOST_V4, 0));
        for options in [
            DatagramOptions {
                reuse_port: true,
                ..Default::default()
            },
            DatagramOptions {
                allow_broadcast: true,
                ..Default::default()
            },
        ] {
            // Windows has no SO_REUSEPORT either.
            let refused = cfg!(target_os = "wasi") || (cfg!(windows) && options.reuse_port);
            let outcome = try_endpoint(&ev, local, Some((LOCALHOST_V4, 9)), options).await;
            if refused {
                assert!(
                    matches!(outcome, Err(Error::Unsupported { .. })),
                    "{outcome:?}"
                );
            } else {
                let t = outcome?;
                // allow_broadcast does not connect: the remote is only the default destination.
                t.sendto(b"x", None)?;
                t.close();
            }
        }
        Ok(())
    });
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "SO_REUSEPORT is a Unix option: Unsupported in the guest and on Windows"
)]
fn reuse_port_lets_two_endpoints_share_a_port() {
    run_tcp(|ev| async move {
        let reuse = || DatagramOptions {
            reuse_port: true,
            ..Default::default()
        };
        let first = try_endpoint(&ev, Some((LOCALHOST_V4, 0)), None, reuse()).await?;
        let port = first.sockname().port();
        // Without the option on both, the port is taken.
        let err = try_endpoint(&ev, Some((LOCALHOST_V4, port)), None, Default::default())
            .await
            .expect_err("bound a taken port without reuse_port");
        assert_eq!(err.io_kind(), Some(ErrorKind::AddrInUse), "{err:?}");
        let second = try_endpoint(&ev, Some((LOCALHOST_V4, port)), None, reuse()).await?;
        assert_eq!(second.sockname().port(), port);
        first.close();
        second.close();
        Ok(())
    });
}

#[test]
#[cfg_attr(target_os = "wasi", ignore = "the guest cannot adopt std sockets")]
fn a_std_socket_can_be_adopted() {
    let std_sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = std_sock.local_addr().expect("local_addr");
    let peer = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind peer");
    let peer_addr = peer.local_addr().unwrap();
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    run_tcp(move |ev| async move {
        let seen = Watch::default();
        let options = DatagramOptions {
            sock: Some(std_sock),
            ..Default::default()
        };
        let with_addr = DatagramOptions {
            sock: Some(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()),
            ..Default::default()
        };
        assert_invalid(
            "sock and local_addr",
            try_endpoint(&ev, Some((LOCALHOST_V4, 0)), None, with_addr).await,
        );
        let (t, _) = ev
            .create_datagram_endpoint(recorder(&seen, None), None, None, options)
            .await?;
        assert_eq!(t.sockname(), addr);
        peer.send_to(b"to adopted", addr).expect("send_to");
        seen.until(&ev, "the datagram", |s| datagrams(s) == 1)
            .await?;
        *g.borrow_mut() = Some(seen.get(|s| s[1].clone()));
        t.close();
        Ok(())
    });
    assert_eq!(
        got.take(),
        Some(Seen::Datagram(b"to adopted".to_vec(), peer_addr))
    );
}
