//! Happy Eyeballs in create_connection: with `happy_eyeballs_delay`, an address that
//! black-holes (a listener whose accept queue is full) is overtaken by the next one after
//! the delay; a refused one is overtaken at once; the stalled loser is closed; the
//! attempts follow the interleaved order.
//!
//! A resolver stub (`EventLoop::set_resolver`) gives the name `dual.test` an IPv6 and an
//! IPv4 loopback address, in the order a test needs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use twinloop::{
    BaseProtocol, ConnectOptions, Error, EventLoop, Family, Protocol, Result, Server,
    ServerOptions, Socket, SocketType,
};
use wasm_tests::tcp_support::run_tcp;

struct Quiet;
impl BaseProtocol for Quiet {}
impl Protocol for Quiet {}

fn loopback(v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }
}

fn family(v6: bool) -> Family {
    if v6 {
        Family::V6
    } else {
        Family::V4
    }
}

/// Makes `dual.test` resolve to `[::1]:port, 127.0.0.1:port` (IPv6 first when
/// `v6_first`), and nothing else.
fn dual_stack_name(ev: &EventLoop, v6_first: bool) {
    ev.set_resolver(Some(Rc::new(move |host: &str, port: u16| {
        let v6 = SocketAddr::new(loopback(true), port);
        let v4 = SocketAddr::new(loopback(false), port);
        (host == "dual.test").then(|| if v6_first { vec![v6, v4] } else { vec![v4, v6] })
    })));
}

/// A listener that never accepts, with its accept queue filled: connecting to it stalls.
/// Returns what must stay open meanwhile, and its address.
async fn black_hole(ev: &EventLoop, v6: bool) -> Result<(Vec<Socket>, SocketAddr)> {
    let listener = Socket::new(family(v6), SocketType::Stream)?;
    listener.bind(SocketAddr::new(loopback(v6), 0))?;
    listener.listen(1)?;
    let addr = listener.local_addr()?;
    let mut keep = vec![listener];
    for _ in 0..64 {
        let filler = Socket::new(family(v6), SocketType::Stream)?;
        let connect = ev.sock_connect(&filler, &addr.ip().to_string(), addr.port());
        match twinloop::wait_for(connect, Duration::from_millis(300)).await {
            Ok(()) => keep.push(filler),
            Err(Error::Timeout) => return Ok((keep, addr)), // the queue is full
            Err(e) => return Err(e),
        }
    }
    panic!("the accept queue of {addr} never filled");
}

/// "dual.test" names the loopback address of `first_v6`'s family first: there, a black
/// hole (a full accept queue, where connects stall); on the other family's loopback, at
/// the same port, a server that accepts.
async fn stalled_then_listening(
    ev: &EventLoop,
    first_v6: bool,
) -> Result<(Vec<Socket>, SocketAddr, Server)> {
    dual_stack_name(ev, first_v6);
    let (hole, addr) = black_hole(ev, first_v6).await?;
    let host = loopback(!first_v6).to_string();
    let server = ev
        .create_server(
            || Quiet,
            host.as_str(),
            addr.port(),
            ServerOptions::default(),
        )
        .await?;
    Ok((hole, addr, server))
}

fn happy(delay: Duration) -> ConnectOptions {
    ConnectOptions {
        happy_eyeballs_delay: Some(delay),
        ..Default::default()
    }
}

#[test]
fn a_stalled_first_address_is_overtaken_after_the_delay() {
    const DELAY: Duration = Duration::from_millis(250);
    run_tcp(|ev| async move {
        let (first_v6, second_v6) = (true, false);
        let (_hole, addr, server) = stalled_then_listening(&ev, first_v6).await?;
        let started = ev.time();
        let (t, _) = ev
            .create_connection(|| Quiet, "dual.test", addr.port(), happy(DELAY))
            .await?;
        let took = ev.time() - started;
        let peer = t.peername().expect("connected");
        assert_eq!(peer.is_ipv6(), second_v6, "connected to {peer}");
        // The second attempt starts only once the delay has passed (the clock's
        // resolution aside); a stalled connect alone would take minutes to fail.
        assert!(
            took >= DELAY.as_secs_f64() - 0.01,
            "connected after {took} s"
        );
        assert!(took < 20.0, "connected after {took} s");
        t.close();
        server.close();
        Ok(())
    });
}

#[test]
fn a_refused_first_address_is_overtaken_at_once() {
    const DELAY: Duration = Duration::from_secs(30);
    run_tcp(|ev| async move {
        let (first_v6, second_v6) = (false, true);
        dual_stack_name(&ev, first_v6);
        // A port with a listener on the second family only: the first is refused.
        let host = loopback(second_v6).to_string();
        let server = ev
            .create_server(|| Quiet, host.as_str(), 0, ServerOptions::default())
            .await?;
        let port = server.sockets()[0].local_addr().unwrap().port();
        let started = ev.time();
        let (t, _) = ev
            .create_connection(|| Quiet, "dual.test", port, happy(DELAY))
            .await?;
        let took = ev.time() - started;
        assert_eq!(t.peername().map(|p| p.is_ipv6()), Some(second_v6));
        assert!(
            took < DELAY.as_secs_f64() / 2.0,
            "waited for the delay ({took} s) after the {} attempt was refused",
            if first_v6 { "IPv6" } else { "IPv4" }
        );
        t.close();
        server.close();
        Ok(())
    });
}

#[test]
fn every_failed_attempt_is_reported() {
    run_tcp(|ev| async move {
        // Nothing listens on this port on either family.
        dual_stack_name(&ev, true);
        let probe = ev
            .create_server(|| Quiet, "127.0.0.1", 0, ServerOptions::default())
            .await?;
        let port = probe.sockets()[0].local_addr().unwrap().port();
        probe.close();
        probe.wait_closed().await?;
        let opts = ConnectOptions {
            all_errors: true,
            ..happy(Duration::from_millis(100))
        };
        let err = match ev
            .create_connection(|| Quiet, "dual.test", port, opts)
            .await
        {
            Ok(_) => panic!("connected to a closed port"),
            Err(e) => e,
        };
        let Error::Multiple(errors) = err else {
            panic!("expected every attempt's error, got {err:?}");
        };
        assert_eq!(errors.len(), 2, "{errors:?}");
        for e in &errors {
            assert_eq!(
                e.io_kind(),
                Some(std::io::ErrorKind::ConnectionRefused),
                "{e:?}"
            );
        }
        Ok(())
    });
}

#[test]
fn the_stalled_attempt_is_closed_once_another_wins() {
    run_tcp(|ev| async move {
        let (first_v6, second_v6) = (true, false);
        let (hole, addr, server) = stalled_then_listening(&ev, first_v6).await?;
        let happy = happy(Duration::from_millis(100));
        let (t, _) = ev
            .create_connection(|| Quiet, "dual.test", addr.port(), happy)
            .await?;
        assert_eq!(t.peername().map(|p| p.is_ipv6()), Some(second_v6));
        // Make room in the black hole's accept queue (take the fillers' connections).
        // A stalled attempt still open would now complete with its next SYN (Linux
        // resends one 1 s after the first, then 3 s) and be accepted too: only fillers
        // may come out within 2.5 s of quiet.
        let (listener, fillers) = hole.split_first().unwrap();
        let fillers: Vec<SocketAddr> = fillers
            .iter()
            .map(Socket::local_addr)
            .collect::<Result<_>>()?;
        loop {
            match twinloop::wait_for(ev.sock_accept(listener), Duration::from_millis(2500)).await {
                Ok((_, peer)) => assert!(
                    fillers.contains(&peer),
                    "{peer} connected to the black hole: the losing attempt was left open"
                ),
                Err(Error::Timeout) => break,
                Err(e) => return Err(e),
            }
        }
        t.close();
        server.close();
        Ok(())
    });
}

/// A socket bound to a free loopback port and not listening: connecting to it is refused.
fn refusing(v6: bool) -> Result<(Socket, SocketAddr)> {
    let sock = Socket::new(family(v6), SocketType::Stream)?;
    sock.bind(SocketAddr::new(loopback(v6), 0))?;
    let addr = sock.local_addr()?;
    Ok((sock, addr))
}

#[test]
fn attempts_follow_the_interleaved_order() {
    run_tcp(|ev| async move {
        // Three IPv6 addresses, then two IPv4 ones, all refused, in the resolver's order.
        let mut keep = Vec::new();
        let mut addrs = Vec::new();
        for v6 in [true, true, true, false, false] {
            let (sock, addr) = refusing(v6)?;
            keep.push(sock);
            addrs.push(addr);
        }
        let table = addrs.clone();
        ev.set_resolver(Some(Rc::new(move |host: &str, _port: u16| {
            (host == "five.test").then(|| table.clone())
        })));
        // The order in which the attempts were made: their errors come back in it, each
        // naming its address (the delay is long, and each is refused at once).
        let tried = |interleave: Option<usize>| {
            let ev = ev.clone();
            let addrs = addrs.clone();
            async move {
                let opts = ConnectOptions {
                    all_errors: true,
                    interleave,
                    ..happy(Duration::from_secs(30))
                };
                let err = match ev.create_connection(|| Quiet, "five.test", 1, opts).await {
                    Ok(_) => panic!("connected to a refusing address"),
                    Err(e) => e,
                };
                let Error::Multiple(errors) = err else {
                    panic!("expected every attempt's error, got {err:?}");
                };
                let order: Vec<usize> = errors
                    .iter()
                    .map(|e| {
                        let text = e.to_string();
                        let named = |a: &SocketAddr| text.contains(&a.to_string());
                        addrs
                            .iter()
                            .position(named)
                            .unwrap_or_else(|| panic!("{text:?} names none of the addresses"))
                    })
                    .collect();
                Ok::<_, Error>(order)
            }
        };
        // Default (1 with a delay): families alternate from the first address's.
        assert_eq!(tried(None).await?, [0, 3, 1, 4, 2]);
        // Two of the first family lead, then they alternate.
        assert_eq!(tried(Some(2)).await?, [0, 1, 3, 2, 4]);
        // 0: the resolver's order.
        assert_eq!(tried(Some(0)).await?, [0, 1, 2, 3, 4]);
        drop(keep);
        Ok(())
    });
}
