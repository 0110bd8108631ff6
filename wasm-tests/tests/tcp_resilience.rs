//! TCP under pressure: a busy connection does not starve the others, a write buffer cannot
//! grow without bound, an accept burst is served whole, OS errors keep their codes, a
//! peer's reset in the middle of writing reaches `connection_lost` with its error.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use twinloop::{
    BaseProtocol, ConnectOptions, Error, EventLoop, Protocol, ServerOptions, Transport,
};
use wasm_tests::tcp_support::*;

/// An echo server that honours flow control the way streams do: it stops reading while
/// its own writes are paused.
#[derive(Debug)]
struct FlowEcho(Option<Transport>);

impl BaseProtocol for FlowEcho {
    fn connection_made(&mut self, t: Transport) {
        self.0 = Some(t);
    }
    fn pause_writing(&mut self) {
        if let Some(t) = &self.0 {
            t.pause_reading();
        }
    }
    fn resume_writing(&mut self) {
        if let Some(t) = &self.0 {
            t.resume_reading();
        }
    }
}

impl Protocol for FlowEcho {
    fn data_received(&mut self, data: &[u8]) {
        if let Some(t) = &self.0 {
            let _ = t.write(data);
        }
    }
}

/// Writes as fast as the transport takes it (refilling on every `resume_writing`) and
/// throws away what comes back.
struct Blaster {
    transport: Option<Transport>,
    chunk: Rc<Vec<u8>>,
    sent: Rc<Cell<u64>>,
}

impl Blaster {
    fn fill(&mut self) {
        let Some(t) = &self.transport else { return };
        // Stop at the high-water mark: this peer honours flow control too.
        while t.get_write_buffer_size() <= t.get_write_buffer_limits().1 && !t.is_closing() {
            if t.write(&self.chunk).is_err() {
                return;
            }
            self.sent.set(self.sent.get() + self.chunk.len() as u64);
        }
    }
}

impl BaseProtocol for Blaster {
    fn connection_made(&mut self, t: Transport) {
        self.transport = Some(t);
        self.fill();
    }
    fn resume_writing(&mut self) {
        self.fill();
    }
}

impl Protocol for Blaster {}

/// Sends 100-byte requests one at a time and counts the complete echoes.
struct RoundTrips {
    transport: Option<Transport>,
    pending: usize,
    done: Rc<Cell<usize>>,
}

impl RoundTrips {
    fn send(&mut self) {
        if let Some(t) = &self.transport {
            self.pending = 100;
            let _ = t.write(&[b'r'; 100]);
        }
    }
}

impl BaseProtocol for RoundTrips {
    fn connection_made(&mut self, t: Transport) {
        self.transport = Some(t);
        self.send();
    }
}

impl Protocol for RoundTrips {
    fn data_received(&mut self, data: &[u8]) {
        self.pending = self.pending.saturating_sub(data.len());
        if self.pending == 0 {
            self.done.set(self.done.get() + 1);
            self.send();
        }
    }
}

/// Counts round trips over `window` on a fresh connection to `port`.
async fn round_trips_in(ev: &EventLoop, port: u16, window: Duration) -> twinloop::Result<usize> {
    let done = Rc::new(Cell::new(0));
    let d = done.clone();
    let (t, _) = ev
        .create_connection(
            move || RoundTrips {
                transport: None,
                pending: 0,
                done: d,
            },
            LOCALHOST_V4,
            port,
            ConnectOptions::default(),
        )
        .await?;
    twinloop::sleep(window).await?;
    t.close();
    Ok(done.get())
}

/// Takes everything, looks at every 4th byte (slower than loopback can deliver, so the
/// blasted socket never runs dry), and answers nothing.
struct Sink(u64);
impl BaseProtocol for Sink {}
impl Protocol for Sink {
    fn data_received(&mut self, data: &[u8]) {
        for &b in data.iter().step_by(4) {
            self.0 = std::hint::black_box(self.0.wrapping_mul(31).wrapping_add(u64::from(b)));
        }
    }
}

/// Keeps `port` busy until the returned guard drops: natively a thread writing as fast as
/// loopback takes it (the way another process would); in the guest, which has no threads,
/// a [`Blaster`] on the loop itself. Returns the guard and the byte counter.
async fn start_blaster(
    ev: &EventLoop,
    port: u16,
) -> twinloop::Result<(BlasterGuard, Rc<Cell<u64>>)> {
    let sent = Rc::new(Cell::new(0u64));
    if twinloop::HAS_THREADS {
        #[cfg(not(target_os = "wasi"))]
        {
            use std::io::Write;
            use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
            use std::sync::Arc;
            let stop = Arc::new(AtomicBool::new(false));
            let count = Arc::new(AtomicU64::new(0));
            let mut sock = std::net::TcpStream::connect((LOCALHOST_V4, port))?;
            sock.set_write_timeout(Some(Duration::from_millis(100)))?;
            let (s, c) = (stop.clone(), count.clone());
            let thread = std::thread::spawn(move || {
                let chunk = vec![0x5a; 256 * 1024];
                while !s.load(Ordering::Relaxed) {
                    match sock.write(&chunk) {
                        Ok(n) => {
                            c.fetch_add(n as u64, Ordering::Relaxed);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                        Err(_) => break,
                    }
                }
            });
            // Wait until it is going.
            while count.load(Ordering::Relaxed) < 1 << 20 {
                twinloop::sleep(Duration::from_millis(1)).await?;
            }
            let counter = sent.clone();
            return Ok((
                BlasterGuard(Some(Box::new(move || {
                    stop.store(true, Ordering::Relaxed);
                    let _ = thread.join();
                    counter.set(count.load(Ordering::Relaxed));
                }))),
                sent,
            ));
        }
    }
    let s = sent.clone();
    let chunk = Rc::new(vec![0x5a; 64 * 1024]);
    let (blaster, _) = ev
        .create_connection(
            move || Blaster {
                transport: None,
                chunk,
                sent: s,
            },
            LOCALHOST_V4,
            port,
            ConnectOptions::default(),
        )
        .await?;
    turns(ev, 20).await?;
    Ok((BlasterGuard(Some(Box::new(move || blaster.abort()))), sent))
}

/// Stops a blaster (see [`start_blaster`]).
struct BlasterGuard(Option<Box<dyn FnOnce()>>);

impl Drop for BlasterGuard {
    fn drop(&mut self) {
        if let Some(stop) = self.0.take() {
            stop();
        }
    }
}

#[test]
fn a_blasting_connection_does_not_starve_round_trips_on_another() {
    run_tcp(|ev| async move {
        let sink = ev
            .create_server(|| Sink(0), LOCALHOST_V4, 0, ServerOptions::default())
            .await?;
        let echo = ev
            .create_server(|| FlowEcho(None), LOCALHOST_V4, 0, ServerOptions::default())
            .await?;
        let echo_port = echo.sockets()[0].local_addr().unwrap().port();
        let (blaster, sent) =
            start_blaster(&ev, sink.sockets()[0].local_addr().unwrap().port()).await?;
        let trips = round_trips_in(&ev, echo_port, Duration::from_secs(2)).await?;
        drop(blaster);
        let blasted = sent.get();
        eprintln!("{trips} round trips in 2 s beside a blaster that sent {blasted} bytes");
        sink.close();
        echo.close();
        // Unfair dispatch (draining the busy socket to WouldBlock on every report) gives
        // 0-2 here, as a round trip waits seconds; fair dispatch gives hundreds. The bound
        // is generous: this is a starvation check, not a benchmark.
        assert!(
            trips >= 10,
            "only {trips} round trips completed in 2 s beside a blaster ({blasted} bytes sent)"
        );
        assert!(blasted > 1 << 20, "the blaster only sent {blasted} bytes");
        Ok(())
    });
}

/// Records what `connection_lost` got.
struct LostWith(Rc<RefCell<Option<Option<Error>>>>);

impl BaseProtocol for LostWith {
    fn connection_lost(&mut self, error: Option<Error>) {
        *self.0.borrow_mut() = Some(error);
    }
}

impl Protocol for LostWith {}

#[test]
fn a_write_buffer_past_its_hard_limit_closes_only_that_transport() {
    run_tcp(|ev| async move {
        let sink = serve(&ev, PeerOptions::stalled_sink()).await?;
        let echo = serve(&ev, PeerOptions::echo()).await?;
        let lost = Rc::new(RefCell::new(None));
        let l = lost.clone();
        let (t, _) = ev
            .create_connection(
                move || LostWith(l),
                LOCALHOST_V4,
                sink.port,
                ConnectOptions::default(),
            )
            .await?;
        assert_eq!(t.get_write_buffer_max(), twinloop::DEFAULT_WRITE_BUFFER_MAX);
        t.set_write_buffer_max(1 << 20);
        assert_eq!(t.get_write_buffer_max(), 1 << 20);
        // The peer never reads: a protocol ignoring pause_writing keeps writing.
        let chunk = vec![1u8; 256 * 1024];
        let mut accepted = 0u64;
        let refused = loop {
            match t.write(&chunk) {
                Ok(()) => accepted += chunk.len() as u64,
                Err(e) => break e,
            }
            assert!(accepted < 1 << 30, "the hard limit never applied");
        };
        match &refused {
            Error::WriteBufferFull { buffered, limit } => {
                assert_eq!(*limit, 1 << 20);
                assert!(*buffered > *limit);
            }
            other => panic!("want WriteBufferFull, got {other:?}"),
        }
        assert!(t.is_closing());
        assert!(t.get_write_buffer_size() <= 1 << 20);
        for _ in 0..100 {
            if lost.borrow().is_some() {
                break;
            }
            turns(&ev, 1).await?;
        }
        let got = lost.borrow_mut().take();
        assert!(
            matches!(got, Some(Some(Error::WriteBufferFull { .. }))),
            "connection_lost got {got:?}"
        );
        // The loop and the other connections go on.
        let (client, log) = connect(&ev, echo.port, PeerOptions::default()).await?;
        client.write(b"still here")?;
        log.until(&ev, "the echo", |l| l.data == b"still here")
            .await?;
        client.close();
        sink.server.close();
        echo.server.close();
        Ok(())
    });
}

#[test]
fn an_accept_burst_larger_than_the_backlog_is_served_whole() {
    run_tcp(|ev| async move {
        const BACKLOG: u32 = 10;
        // Bound but not accepting: the connections queue up in the listen backlog.
        let opts = ServerOptions {
            backlog: BACKLOG,
            start_serving: false,
            ..ServerOptions::default()
        };
        let srv = serve_with(&ev, PeerOptions::default(), opts).await?;
        let n = BACKLOG as usize + 1;
        let mut clients = Vec::new();
        for _ in 0..n {
            clients.push(connect(&ev, srv.port, PeerOptions::default()).await?);
        }
        // One readiness report for the whole queue; more than `backlog` are waiting.
        srv.server.start_serving()?;
        srv.peers
            .until(&ev, "every queued connection to be accepted", |p| {
                p.len() == n
            })
            .await?;
        for (t, _) in &clients {
            t.close();
        }
        srv.shut_down().await
    });
}

#[test]
fn os_errors_keep_their_code() {
    run_tcp(|ev| async move {
        let srv = serve(&ev, PeerOptions::default()).await?;
        let taken = ev
            .create_server(
                || FlowEcho(None),
                LOCALHOST_V4,
                srv.port,
                ServerOptions {
                    reuse_address: false,
                    ..ServerOptions::default()
                },
            )
            .await
            .expect_err("the port is taken");
        assert_eq!(taken.io_kind(), Some(std::io::ErrorKind::AddrInUse));
        srv.shut_down().await?;
        let refused = ev
            .create_connection(
                || FlowEcho(None),
                LOCALHOST_V4,
                srv.port,
                ConnectOptions::default(),
            )
            .await
            .expect_err("nobody listens");
        assert_eq!(
            refused.io_kind(),
            Some(std::io::ErrorKind::ConnectionRefused)
        );
        // The OS's own code, as asyncio's OSError.errno (in the guest, WASI's code as
        // wasi-libc numbers it): it maps back to the same kind.
        for (e, kind) in [
            (&taken, std::io::ErrorKind::AddrInUse),
            (&refused, std::io::ErrorKind::ConnectionRefused),
        ] {
            let code = e
                .raw_os_error()
                .unwrap_or_else(|| panic!("no OS code in {e}"));
            assert_eq!(std::io::Error::from_raw_os_error(code).kind(), kind);
        }
        Ok(())
    });
}

#[test]
#[cfg_attr(
    target_os = "wasi",
    ignore = "needs a std socket with SO_LINGER 0 as the peer (the guest makes none)"
)]
fn a_peer_reset_mid_write_reaches_connection_lost_with_its_error() {
    #[cfg(not(target_os = "wasi"))]
    run_tcp(|ev| async move {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let (client, log) = connect(&ev, port, PeerOptions::default()).await?;
        // The handshake is done by the kernel: the connection waits in the queue.
        let (peer, _) = listener.accept()?;
        let chunk = vec![1u8; 64 * 1024];
        client.write(&chunk)?;
        // Reset: close with SO_LINGER 0 while data is unread.
        socket2::SockRef::from(&peer).set_linger(Some(Duration::ZERO))?;
        drop(peer);
        // Keep writing until the transport notices.
        for _ in 0..1000 {
            if client.is_closing() {
                break;
            }
            let _ = client.write(&chunk);
            ev.sleep(Duration::from_millis(1)).await?;
        }
        log.until(&ev, "connection_lost", |l| l.is_lost()).await?;
        let lost = log.get(|l| l.lost.clone()).expect("lost");
        let kind = lost.as_ref().and_then(Error::io_kind);
        assert!(
            matches!(
                kind,
                Some(std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe)
            ),
            "connection_lost carries the reset: {lost:?}"
        );
        Ok::<(), Error>(())
    });
    #[cfg(target_os = "wasi")]
    drop(twinloop::EventLoop::new());
}
