//! Helpers for the TCP tests (`tests/tcp_*.rs`), on both targets.
//!
//! - [`run_tcp`] runs one test body on a fresh loop ([`crate::new_loop`]) under a hang guard
//!   ([`TCP_DEADLINE`]); when the guard fires, the panic names what the test was waiting
//!   for (see [`Watch::until`]).
//! - [`Watch`] is a shared value that protocol callbacks update and the test body awaits
//!   conditions on, without polling.
//! - [`Peer`] is a configurable recording protocol (echo or not, keep the transport open on
//!   EOF or not, pause reading from the start), whose [`PeerLog`] says what happened in
//!   which order; [`serve`] and [`connect`] make servers and clients of it.
//! - [`stream_byte`] and [`pattern`] make payloads that are checked byte for byte.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use twinloop::{
    BaseProtocol, ConnectOptions, Error, EventLoop, LoopFuture, Protocol, Result, Server,
    ServerOptions, Transport,
};

use crate::{assert_no_unhandled, new_loop, Lcg};

/// How long a TCP test may run before it is declared hung.
pub const TCP_DEADLINE: Duration = Duration::from_secs(60);

/// The loopback address every test server listens on.
pub const LOCALHOST_V4: &str = "127.0.0.1";

thread_local! {
    /// What the test body is waiting for right now (for the hang report).
    static WAITING_FOR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `test(ev)` to completion on a new loop made by [`crate::new_loop`] and returns its
/// value. Fails the test when the body returns an error, panics, when anything reached the
/// exception handler, or when it did not finish within [`TCP_DEADLINE`] (naming what it
/// was waiting for). Closes the loop afterwards.
pub fn run_tcp<T, Fut>(test: impl FnOnce(EventLoop) -> Fut) -> T
where
    Fut: Future<Output = Result<T>> + 'static,
    T: 'static,
{
    WAITING_FOR.with(|w| w.borrow_mut().clear());
    let ev = new_loop();
    let fired = Rc::new(Cell::new(false));
    let flag = fired.clone();
    let guard = ev
        .call_later(TCP_DEADLINE, move |ev| {
            flag.set(true);
            ev.stop();
        })
        .expect("schedule the hang guard");
    let outcome = ev.run_until_complete(test(ev.clone()));
    guard.cancel();
    if fired.get() {
        let waiting = WAITING_FOR.with(|w| w.borrow().clone());
        panic!(
            "the test did not finish within {TCP_DEADLINE:?}: the loop hung while waiting for {}",
            if waiting.is_empty() {
                "(nothing recorded)"
            } else {
                waiting.as_str()
            }
        );
    }
    let value = match outcome {
        Ok(Ok(value)) => value,
        Ok(Err(e)) => panic!("the test body failed: {e} ({e:?})"),
        Err(e) => panic!("run_until_complete failed: {e} ({e:?})"),
    };
    assert_no_unhandled();
    ev.close().expect("close the loop");
    value
}

/// A shared value that callbacks update ([`Watch::update`]) and tasks wait on
/// ([`Watch::until`]). Clones share the value.
pub struct Watch<T>(Rc<WatchInner<T>>);

struct WatchInner<T> {
    value: RefCell<T>,
    waiters: RefCell<Vec<LoopFuture<()>>>,
}

impl<T> Clone for Watch<T> {
    fn clone(&self) -> Self {
        Watch(self.0.clone())
    }
}

impl<T: Default> Default for Watch<T> {
    fn default() -> Self {
        Watch::new(T::default())
    }
}

impl<T> Watch<T> {
    /// A watch holding `value`.
    pub fn new(value: T) -> Self {
        Watch(Rc::new(WatchInner {
            value: RefCell::new(value),
            waiters: RefCell::new(Vec::new()),
        }))
    }

    /// Changes the value and wakes every waiter (they re-check their condition).
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let r = f(&mut self.0.value.borrow_mut());
        for waiter in self.0.waiters.take() {
            let _ = waiter.set_result(());
        }
        r
    }

    /// Looks at the value.
    pub fn get<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.0.value.borrow())
    }

    /// Waits until `cond` holds. `what` names the condition in the hang report.
    pub async fn until(&self, ev: &EventLoop, what: &str, cond: impl Fn(&T) -> bool) -> Result<()> {
        WAITING_FOR.with(|w| *w.borrow_mut() = what.to_owned());
        loop {
            if self.get(&cond) {
                WAITING_FOR.with(|w| w.borrow_mut().clear());
                return Ok(());
            }
            let wake = ev.create_future::<()>();
            self.0.waiters.borrow_mut().push(wake.clone());
            wake.await?;
        }
    }
}

/// Lets the loop run `turns` iterations (at least), for "nothing happens meanwhile" checks.
pub async fn turns(ev: &EventLoop, turns: usize) -> Result<()> {
    for _ in 0..turns {
        ev.sleep(Duration::ZERO).await?;
    }
    Ok(())
}

/// Byte number `pos` of the endless test stream (deterministic, not periodic in any small
/// period, so that lost, duplicated or reordered chunks show).
pub fn stream_byte(pos: u64) -> u8 {
    let x = pos.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((x >> 29) ^ (x >> 47) ^ pos) as u8
}

/// Bytes `start..start + len` of the test stream.
pub fn stream_chunk(start: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| stream_byte(start + i)).collect()
}

/// `len` pseudo-random bytes from `seed` (different seeds, different payloads).
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Lcg::new(seed ^ 0x5DEE_CE66_D1CE_4E5B);
    let mut out = Vec::with_capacity(len + 4);
    while out.len() < len {
        out.extend_from_slice(&rng.next_u32().to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Asserts that `got == want` without printing megabytes: says the lengths and the first
/// differing offset.
#[track_caller]
pub fn assert_same_bytes(what: &str, got: &[u8], want: &[u8]) {
    if got == want {
        return;
    }
    let first = got.iter().zip(want).position(|(a, b)| a != b);
    match first {
        Some(i) => panic!(
            "{what}: byte {i} differs (got {:#04x}, want {:#04x}); got {} bytes, want {}",
            got[i],
            want[i],
            got.len(),
            want.len()
        ),
        None => panic!(
            "{what}: got {} bytes, want {} (the shorter is a prefix of the longer)",
            got.len(),
            want.len()
        ),
    }
}

/// What a [`Peer`] saw.
#[derive(Default)]
pub struct PeerLog {
    /// The transport, from `connection_made` on.
    pub transport: Option<Transport>,
    /// Every callback in order; consecutive `"data"` entries are collapsed into one.
    pub events: Vec<&'static str>,
    /// How many times `connection_made` ran.
    pub made: usize,
    /// The bytes received (only when [`PeerOptions::keep_data`]).
    pub data: Vec<u8>,
    /// How many bytes were received.
    pub received: u64,
    /// The first offset where received data differed from [`stream_byte`] (only when
    /// [`PeerOptions::check_stream`]).
    pub stream_mismatch: Option<u64>,
    /// How many times `eof_received` ran.
    pub eof: usize,
    /// `received` when `eof_received` ran.
    pub received_at_eof: Option<u64>,
    /// How many times `connection_lost` ran.
    pub lost_count: usize,
    /// The argument of `connection_lost` (`Some(None)`: lost without error).
    pub lost: Option<Option<Error>>,
    /// The transport's write buffer size when `connection_lost` ran.
    pub buffer_at_lost: Option<usize>,
    /// `get_write_buffer_size()` at each `pause_writing`.
    pub paused_at: Vec<usize>,
    /// `get_write_buffer_size()` at each `resume_writing`.
    pub resumed_at: Vec<usize>,
    /// Is writing paused now (between `pause_writing` and `resume_writing`)?
    pub writing_paused: bool,
    /// Errors that `write` returned while echoing.
    pub write_errors: Vec<Error>,
}

impl PeerLog {
    fn event(&mut self, name: &'static str) {
        if name == "data" && self.events.last() == Some(&"data") {
            return;
        }
        self.events.push(name);
    }

    /// [`PeerLog::events`] without the flow-control callbacks (`pause`/`resume` come
    /// whenever the write buffer crosses its marks, which depends on how much the
    /// kernel or host takes at once): the stream callbacks in order, data collapsed.
    pub fn stream_events(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for &e in &self.events {
            if e == "pause" || e == "resume" || (e == "data" && out.last() == Some(&"data")) {
                continue;
            }
            out.push(e);
        }
        out
    }

    /// True once `connection_lost` ran.
    pub fn is_lost(&self) -> bool {
        self.lost.is_some()
    }

    /// The transport (panics before `connection_made`).
    pub fn transport(&self) -> Transport {
        self.transport.clone().expect("connection_made has run")
    }
}

/// How a [`Peer`] behaves.
#[derive(Clone, Copy, Debug)]
pub struct PeerOptions {
    /// Write every received byte back.
    pub echo: bool,
    /// What `eof_received` returns (true: keep the transport open).
    pub keep_open_on_eof: bool,
    /// Call `pause_reading()` in `connection_made`.
    pub pause_reading: bool,
    /// Keep the received bytes in [`PeerLog::data`].
    pub keep_data: bool,
    /// Check the received bytes against [`stream_byte`].
    pub check_stream: bool,
}

impl Default for PeerOptions {
    fn default() -> Self {
        PeerOptions {
            echo: false,
            keep_open_on_eof: false,
            pause_reading: false,
            keep_data: true,
            check_stream: false,
        }
    }
}

impl PeerOptions {
    /// An echo server: writes back what it receives, closes on EOF.
    pub fn echo() -> Self {
        PeerOptions {
            echo: true,
            ..Self::default()
        }
    }

    /// A sink that does not read until resumed, checks the stream and keeps no data.
    pub fn stalled_sink() -> Self {
        PeerOptions {
            pause_reading: true,
            keep_data: false,
            check_stream: true,
            ..Self::default()
        }
    }
}

/// A recording protocol; see [`PeerOptions`] and [`PeerLog`].
pub struct Peer {
    log: Watch<PeerLog>,
    opts: PeerOptions,
    transport: Option<Transport>,
}

impl Peer {
    /// A peer recording into `log`.
    pub fn new(log: Watch<PeerLog>, opts: PeerOptions) -> Self {
        Peer {
            log,
            opts,
            transport: None,
        }
    }
}

impl BaseProtocol for Peer {
    fn connection_made(&mut self, transport: Transport) {
        if self.opts.pause_reading {
            transport.pause_reading();
        }
        self.transport = Some(transport.clone());
        self.log.update(|l| {
            l.event("made");
            l.made += 1;
            l.transport = Some(transport);
        });
    }

    fn connection_lost(&mut self, error: Option<Error>) {
        let buffered = self
            .transport
            .as_ref()
            .map(Transport::get_write_buffer_size);
        self.log.update(|l| {
            l.event("lost");
            l.lost_count += 1;
            l.lost = Some(error);
            l.buffer_at_lost = buffered;
        });
    }

    fn pause_writing(&mut self) {
        let size = self
            .transport
            .as_ref()
            .map_or(0, Transport::get_write_buffer_size);
        self.log.update(|l| {
            l.event("pause");
            l.paused_at.push(size);
            l.writing_paused = true;
        });
    }

    fn resume_writing(&mut self) {
        let size = self
            .transport
            .as_ref()
            .map_or(0, Transport::get_write_buffer_size);
        self.log.update(|l| {
            l.event("resume");
            l.resumed_at.push(size);
            l.writing_paused = false;
        });
    }
}

impl Protocol for Peer {
    fn data_received(&mut self, data: &[u8]) {
        let opts = self.opts;
        self.log.update(|l| {
            l.event("data");
            if opts.check_stream && l.stream_mismatch.is_none() {
                if let Some(i) =
                    (0..data.len()).find(|&i| data[i] != stream_byte(l.received + i as u64))
                {
                    l.stream_mismatch = Some(l.received + i as u64);
                }
            }
            l.received += data.len() as u64;
            if opts.keep_data {
                l.data.extend_from_slice(data);
            }
        });
        if opts.echo {
            if let Some(t) = &self.transport {
                if let Err(e) = t.write(data) {
                    self.log.update(|l| l.write_errors.push(e));
                }
            }
        }
    }

    fn eof_received(&mut self) -> bool {
        self.log.update(|l| {
            l.event("eof");
            l.eof += 1;
            l.received_at_eof = Some(l.received);
        });
        self.opts.keep_open_on_eof
    }
}

/// A server of [`Peer`]s and the logs of the connections it accepted, in order.
pub struct PeerServer {
    /// The server.
    pub server: Server,
    /// The port of its first socket.
    pub port: u16,
    /// One log per accepted connection, in accept order.
    pub peers: Watch<Vec<Watch<PeerLog>>>,
}

impl PeerServer {
    /// Waits for the `n`th accepted connection (0-based) to be made, and returns its log.
    pub async fn peer(&self, ev: &EventLoop, n: usize) -> Result<Watch<PeerLog>> {
        self.peers
            .until(ev, &format!("the server to accept connection #{n}"), |p| {
                p.len() > n
            })
            .await?;
        let log = self.peers.get(|p| p[n].clone());
        log.until(ev, &format!("connection_made of server peer #{n}"), |l| {
            l.made > 0
        })
        .await?;
        Ok(log)
    }

    /// Closes the server and waits for every connection to end.
    pub async fn shut_down(&self) -> Result<()> {
        self.server.close();
        WAITING_FOR.with(|w| *w.borrow_mut() = "server.wait_closed()".into());
        self.server.wait_closed().await
    }
}

/// A server of [`Peer`]s with `opts` on 127.0.0.1, port 0.
pub async fn serve(ev: &EventLoop, opts: PeerOptions) -> Result<PeerServer> {
    serve_with(ev, opts, ServerOptions::default()).await
}

/// [`serve`] with explicit server options.
pub async fn serve_with(
    ev: &EventLoop,
    opts: PeerOptions,
    server_options: ServerOptions,
) -> Result<PeerServer> {
    let peers: Watch<Vec<Watch<PeerLog>>> = Watch::default();
    let registry = peers.clone();
    let server = ev
        .create_server(
            move || {
                let log = Watch::<PeerLog>::default();
                registry.update(|p| p.push(log.clone()));
                Peer::new(log, opts)
            },
            LOCALHOST_V4,
            0,
            server_options,
        )
        .await?;
    let port = server.sockets()[0].local_addr().unwrap().port();
    Ok(PeerServer {
        server,
        port,
        peers,
    })
}

/// A [`Peer`] client connected to `host:port`, with its log.
pub async fn connect_to(
    ev: &EventLoop,
    host: &str,
    port: u16,
    opts: PeerOptions,
) -> Result<(Transport, Watch<PeerLog>)> {
    connect_with(ev, host, port, ConnectOptions::default(), opts).await
}

/// [`connect_to`] with explicit connect options (TLS, say).
pub async fn connect_with(
    ev: &EventLoop,
    host: &str,
    port: u16,
    options: ConnectOptions,
    opts: PeerOptions,
) -> Result<(Transport, Watch<PeerLog>)> {
    let log = Watch::<PeerLog>::default();
    let for_factory = log.clone();
    let (transport, _protocol) = ev
        .create_connection(move || Peer::new(for_factory, opts), host, port, options)
        .await?;
    Ok((transport, log))
}

/// A [`Peer`] client connected to 127.0.0.1:`port`, with its log.
pub async fn connect(
    ev: &EventLoop,
    port: u16,
    opts: PeerOptions,
) -> Result<(Transport, Watch<PeerLog>)> {
    connect_to(ev, LOCALHOST_V4, port, opts).await
}

/// Writes the test stream ([`stream_byte`]) in `chunk`-byte writes from offset `*written`
/// until `pause_writing` fires on `log`'s peer, checking after every write that the write
/// buffer never holds more than was written. Fails after `limit` bytes without a pause.
pub fn write_until_paused(
    transport: &Transport,
    log: &Watch<PeerLog>,
    written: &mut u64,
    chunk: usize,
    limit: u64,
) -> Result<()> {
    let start = *written;
    while !log.get(|l| l.writing_paused) {
        if *written - start >= limit {
            panic!(
                "pause_writing never fired after {limit} bytes written to a peer that does not \
                 read (write buffer: {} bytes, limits {:?})",
                transport.get_write_buffer_size(),
                transport.get_write_buffer_limits()
            );
        }
        transport.write(&stream_chunk(*written, chunk))?;
        *written += chunk as u64;
        let buffered = transport.get_write_buffer_size() as u64;
        assert!(
            buffered <= *written,
            "write buffer holds {buffered} bytes but only {written} were ever written"
        );
    }
    Ok(())
}
