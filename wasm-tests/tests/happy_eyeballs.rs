//! Happy Eyeballs in create_connection: with `happy_eyeballs_delay`, an address that
//! black-holes (a listener whose accept queue is full) is overtaken by the next one after
//! the delay; a refused one is overtaken at once.
//!
//! A resolver stub (`EventLoop::set_resolver`) gives the name `dual.test` an IPv6 and an
//! IPv4 loopback address, in the order a test needs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use twinloop::{
    BaseProtocol, ConnectOptions, Error, EventLoop, Family, Protocol, Result, ServerOptions,
    Socket, SocketType,
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
        dual_stack_name(&ev, first_v6);
        let (_hole, addr) = black_hole(&ev, first_v6).await?;
        let host = loopback(second_v6).to_string();
        let server = ev
            .create_server(
                || Quiet,
                host.as_str(),
                addr.port(),
                ServerOptions::default(),
            )
            .await?;
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
