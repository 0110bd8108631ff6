//! One side of the TCP echo benchmark, in its own process so that server and client never
//! share a loop or a thread.
//!
//! - `echo_peer server --rt twinloop|tokio ADDR`: echoes every byte back; prints
//!   `listening on IP:PORT` first, then serves until killed.
//! - `echo_peer client --rt twinloop|tokio ADDR [--conns N] [--size S] [--rounds R]`:
//!   opens N connections (default 50), then on all of them at once sends S bytes
//!   (default 1024) and waits for all S to come back, R times (default 1000); checks the
//!   bytes and prints `result case=tcp_echo ... secs=... rtps=... mbps=... p50_us=...
//!   p99_us=...`. The clock starts after every connection is up. Each message's round
//!   trip (send start to its last echoed byte) goes into a preallocated `Vec<u32>` of
//!   µs per connection, one `Instant::now()` per send and one per completion; the
//!   percentiles are taken after the clock stops.
//! - `echo_peer idle ADDR [--conns N]`: opens N connections (default 1000, raising its
//!   open-file limit if needed) one after the other, echoes one byte on the last (so the
//!   server has accepted them all), prints `ready conns=N`, then keeps them open and
//!   silent until its stdin closes. `cargo xtask bench` measures the server meanwhile
//!   (memory per idle connection, CPU while idle).
//!
//! With `--tls true` on both sides, the echo runs over TLS: twinloop's `ssl=` against
//! tokio-rustls, with the same rustls configuration (`bench::tls`); the handshakes happen
//! before the clock starts.
//!
//! Both runtimes use TCP_NODELAY and read up to 256 KiB at a time (twinloop's transport
//! reads that much; the tokio side is given the same buffer).

use std::io::Write;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bench::{cpu_time, result_line, secs, split_addr, Cli, Rng, Rt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use twinloop::{
    BaseProtocol, ClientTls, ConnectOptions, EventLoop, LoopFuture, Protocol, ServerOptions,
    Transport,
};

const USAGE: &str = "usage: echo_peer server --rt twinloop|tokio ADDR [--tls true]
       echo_peer client --rt twinloop|tokio ADDR [--conns N] [--size BYTES] [--rounds R] [--tls true]
       echo_peer idle ADDR [--conns N]";

/// Read buffer of the tokio server (twinloop's transport reads 256 KiB at a time).
const READ_CHUNK: usize = 256 * 1024;

struct ClientArgs {
    host: String,
    port: u16,
    conns: usize,
    size: usize,
    rounds: usize,
    tls: bool,
}

/// What a client run measured (connection set-up excluded).
struct Measured {
    wall: Duration,
    cpu: Duration,
    /// twinloop only: the loop's own view of the measured part (I/O events per turn).
    events_per_turn: Option<f64>,
    /// Every message's round trip in µs (connection after connection).
    latencies: Vec<u32>,
}

/// A round trip in whole µs (saturating: 71 minutes fit).
fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// The p50 and p99 (nearest rank) of some round trips, in µs.
fn percentiles(mut latencies: Vec<u32>) -> Option<(u32, u32)> {
    latencies.sort_unstable();
    let rank = |p: usize| {
        let n = latencies.len();
        latencies[(n * p).div_ceil(100).clamp(1, n) - 1]
    };
    (!latencies.is_empty()).then(|| (rank(50), rank(99)))
}

fn main() {
    if let Err(e) = run() {
        eprintln!("echo_peer: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let cli = Cli::parse(std::env::args().skip(1))?;
    let rt: Rt = cli.get("rt", Rt::Tokio)?;
    let (role, addr) = match cli.positional.as_slice() {
        [role, addr] => (role.as_str(), addr.as_str()),
        _ => return Err(format!("expected ROLE ADDR\n{USAGE}")),
    };
    let (host, port) = split_addr(addr)?;
    let tls: bool = cli.get("tls", false)?;
    match role {
        "server" => {
            cli.only(&["rt", "tls"])?;
            match rt {
                Rt::Twinloop => twinloop_server(&host, port, tls),
                Rt::Tokio => tokio_server(&host, port, tls),
            }
        }
        "idle" => {
            cli.only(&["conns"])?;
            idle_client(&host, port, cli.get("conns", 1000)?)
        }
        "client" => {
            cli.only(&["rt", "conns", "size", "rounds", "tls"])?;
            let args = ClientArgs {
                host,
                port,
                conns: cli.get("conns", 50)?,
                size: cli.get("size", 1024)?,
                rounds: cli.get("rounds", 1000)?,
                tls,
            };
            if args.conns == 0 || args.size == 0 || args.rounds == 0 {
                return Err("--conns, --size and --rounds must be at least 1".into());
            }
            let measured = match rt {
                Rt::Twinloop => twinloop_client(&args),
                Rt::Tokio => tokio_client(&args),
            }?;
            let round_trips = (args.conns * args.rounds) as f64;
            let wall = measured.wall.as_secs_f64().max(1e-9);
            let (p50, p99) = percentiles(measured.latencies)
                .map_or(("-".into(), "-".into()), |(a, b)| {
                    (a.to_string(), b.to_string())
                });
            println!(
                "{}",
                result_line(&[
                    ("case", if tls { "tls_echo" } else { "tcp_echo" }.into()),
                    ("client_rt", rt.name().into()),
                    ("conns", args.conns.to_string()),
                    ("size", args.size.to_string()),
                    ("rounds", args.rounds.to_string()),
                    ("round_trips", (args.conns * args.rounds).to_string()),
                    ("secs", secs(measured.wall)),
                    ("cpu_secs", secs(measured.cpu)),
                    ("rtps", format!("{:.1}", round_trips / wall)),
                    // Payload echoed per second, one direction, in 10^6 bytes.
                    (
                        "mbps",
                        format!("{:.3}", round_trips * args.size as f64 / wall / 1e6)
                    ),
                    (
                        "events_per_turn",
                        measured
                            .events_per_turn
                            .map_or("-".into(), |e| format!("{e:.2}"))
                    ),
                    ("p50_us", p50),
                    ("p99_us", p99),
                ])
            );
            Ok(())
        }
        other => Err(format!("unknown role {other:?}\n{USAGE}")),
    }
}

fn listening(addr: impl std::fmt::Display) {
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
}

/// The bytes each connection sends: pseudo-random, different per connection.
fn payload(conn: usize, size: usize) -> Vec<u8> {
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15 ^ conn as u64);
    (0..size).map(|_| (rng.next_u64() >> 56) as u8).collect()
}

// ---- twinloop ----

struct EchoServer {
    transport: Option<Transport>,
}

impl BaseProtocol for EchoServer {
    fn connection_made(&mut self, transport: Transport) {
        self.transport = Some(transport);
    }
}

impl Protocol for EchoServer {
    fn data_received(&mut self, data: &[u8]) {
        if let Some(t) = &self.transport {
            if t.write(data).is_err() {
                t.close();
            }
        }
    }
}

fn twinloop_server(host: &str, port: u16, tls: bool) -> Result<(), String> {
    let ssl = if tls {
        Some(bench::tls::server_config()?)
    } else {
        None
    };
    let ev = EventLoop::new().map_err(|e| e.to_string())?;
    let server_loop = ev.clone();
    let host = host.to_owned();
    let outcome = ev.run_until_complete(async move {
        let server = server_loop
            .create_server(
                || EchoServer { transport: None },
                host.as_str(),
                port,
                ServerOptions {
                    ssl,
                    ..ServerOptions::default()
                },
            )
            .await?;
        for socket in server.sockets() {
            listening(socket.local_addr().expect("a TCP server"));
        }
        server.serve_forever().await
    });
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) | Err(e) => Err(format!("twinloop server: {e}")),
    }
}

/// One client connection: sends its payload, counts and checks the echo, and sends again
/// until `rounds` round trips are done.
struct PingPong {
    transport: Option<Transport>,
    payload: Rc<[u8]>,
    received: usize,
    rounds_left: usize,
    done: Option<LoopFuture<()>>,
    /// When the message in flight was sent.
    sent: Instant,
    /// µs per round trip; preallocated for every round.
    latencies: Vec<u32>,
}

impl PingPong {
    fn finish(&mut self, outcome: Result<(), String>) {
        if let Some(done) = self.done.take() {
            let _ = match outcome {
                Ok(()) => done.set_result(()),
                Err(e) => done.set_error(twinloop::Error::InvalidState(e)),
            };
        }
    }
}

impl BaseProtocol for PingPong {
    fn connection_made(&mut self, transport: Transport) {
        self.transport = Some(transport);
    }

    fn connection_lost(&mut self, error: Option<twinloop::Error>) {
        self.finish(Err(format!("connection lost: {error:?}")));
    }
}

impl Protocol for PingPong {
    fn data_received(&mut self, data: &[u8]) {
        let end = self.received + data.len();
        if end > self.payload.len() || data != &self.payload[self.received..end] {
            self.finish(Err("echoed bytes differ from those sent".into()));
            return;
        }
        self.received = end;
        if end < self.payload.len() {
            return;
        }
        self.latencies.push(micros(self.sent.elapsed()));
        self.received = 0;
        self.rounds_left -= 1;
        if self.rounds_left == 0 {
            self.finish(Ok(()));
        } else if let Some(t) = &self.transport {
            self.sent = Instant::now();
            if let Err(e) = t.write(&self.payload) {
                self.finish(Err(format!("write: {e}")));
            }
        }
    }
}

fn twinloop_client(args: &ClientArgs) -> Result<Measured, String> {
    let tls = match args.tls {
        true => Some(ClientTls::new(bench::tls::client_config()?)),
        false => None,
    };
    let ev = EventLoop::new().map_err(|e| e.to_string())?;
    let client_loop = ev.clone();
    let (host, port, conns, size, rounds) = (
        args.host.clone(),
        args.port,
        args.conns,
        args.size,
        args.rounds,
    );
    let outcome = ev.run_until_complete(async move {
        let ev = client_loop;
        let mut peers = Vec::with_capacity(conns);
        for conn in 0..conns {
            let done = ev.create_future::<()>();
            let protocol = PingPong {
                transport: None,
                payload: payload(conn, size).into(),
                received: 0,
                rounds_left: rounds,
                done: Some(done.clone()),
                sent: Instant::now(),
                latencies: Vec::with_capacity(rounds),
            };
            let options = ConnectOptions {
                server_hostname: tls.as_ref().map(|_| bench::tls::SERVER_NAME.to_owned()),
                ssl: tls.clone(),
                ..ConnectOptions::default()
            };
            let (transport, protocol) = ev
                .create_connection(move || protocol, &host, port, options)
                .await?;
            peers.push((transport, protocol, done));
        }
        let cpu = cpu_time();
        let start = Instant::now();
        let metrics_before = ev.metrics();
        for (transport, protocol, _) in &peers {
            let payload = protocol.with(|p| {
                p.sent = Instant::now();
                p.payload.clone()
            })?;
            transport.write(&payload)?;
        }
        for (_, _, done) in &peers {
            done.clone().await?;
        }
        let (wall, cpu) = (start.elapsed(), cpu_time().saturating_sub(cpu));
        let metrics = ev.metrics();
        let turns = metrics.turns - metrics_before.turns;
        let events = metrics.io_events - metrics_before.io_events;
        let mut latencies = Vec::with_capacity(conns * rounds);
        for (_, protocol, _) in &peers {
            latencies.extend(protocol.with(|p| std::mem::take(&mut p.latencies))?);
        }
        let measured = Measured {
            wall,
            cpu,
            events_per_turn: (turns > 0).then(|| events as f64 / turns as f64),
            latencies,
        };
        for (transport, _, _) in &peers {
            transport.close();
        }
        Ok::<_, twinloop::Error>(measured)
    });
    match outcome {
        Ok(Ok(m)) => Ok(m),
        Ok(Err(e)) | Err(e) => Err(format!("twinloop client: {e}")),
    }
}

// ---- tokio (current-thread runtime) ----

fn tokio_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

/// Echoes until the peer closes (or fails).
async fn tokio_echo(mut sock: impl AsyncRead + AsyncWrite + Unpin) {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match sock.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if sock.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
}

fn tokio_server(host: &str, port: u16, tls: bool) -> Result<(), String> {
    let acceptor = match tls {
        true => Some(tokio_rustls::TlsAcceptor::from(bench::tls::server_config()?)),
        false => None,
    };
    let rt = tokio_runtime()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind((host, port))
            .await
            .map_err(|e| format!("bind {host}:{port}: {e}"))?;
        listening(listener.local_addr().map_err(|e| e.to_string())?);
        loop {
            let (sock, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("echo_peer: accept: {e}");
                    continue;
                }
            };
            let _ = sock.set_nodelay(true);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                match acceptor {
                    None => tokio_echo(sock).await,
                    Some(acceptor) => match acceptor.accept(sock).await {
                        Ok(tls) => tokio_echo(tls).await,
                        Err(e) => eprintln!("echo_peer: TLS handshake: {e}"),
                    },
                }
            });
        }
    })
}

async fn tokio_ping_pong(
    sock: impl AsyncRead + AsyncWrite,
    payload: Vec<u8>,
    rounds: usize,
) -> std::io::Result<Vec<u32>> {
    let mut back = vec![0u8; payload.len()];
    let mut latencies = Vec::with_capacity(rounds);
    let (mut reader, mut writer) = tokio::io::split(sock);
    for _ in 0..rounds {
        // Write and read at once: a large payload may not fit in the socket buffers.
        let sent = Instant::now();
        let (wrote, read) = tokio::join!(writer.write_all(&payload), reader.read_exact(&mut back));
        latencies.push(micros(sent.elapsed()));
        wrote?;
        read?;
        if back != payload {
            return Err(std::io::Error::other("echoed bytes differ from those sent"));
        }
    }
    Ok(latencies)
}

/// A client connection, over TLS or not.
enum TokioConn {
    Plain(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>),
}

fn tokio_client(args: &ClientArgs) -> Result<Measured, String> {
    let connector = match args.tls {
        true => Some(tokio_rustls::TlsConnector::from(
            bench::tls::client_config()?
        )),
        false => None,
    };
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(bench::tls::SERVER_NAME)
        .map_err(|e| e.to_string())?;
    let rt = tokio_runtime()?;
    rt.block_on(async {
        let mut socks = Vec::with_capacity(args.conns);
        for _ in 0..args.conns {
            let sock = tokio::net::TcpStream::connect((args.host.as_str(), args.port))
                .await
                .map_err(|e| format!("connect {}:{}: {e}", args.host, args.port))?;
            sock.set_nodelay(true).map_err(|e| e.to_string())?;
            socks.push(match &connector {
                None => TokioConn::Plain(sock),
                Some(connector) => TokioConn::Tls(Box::new(
                    connector
                        .connect(name.clone(), sock)
                        .await
                        .map_err(|e| format!("TLS handshake: {e}"))?,
                )),
            });
        }
        let cpu = cpu_time();
        let start = Instant::now();
        let tasks: Vec<_> = socks
            .into_iter()
            .enumerate()
            .map(|(conn, sock)| {
                let payload = payload(conn, args.size);
                let rounds = args.rounds;
                tokio::spawn(async move {
                    match sock {
                        TokioConn::Plain(s) => tokio_ping_pong(s, payload, rounds).await,
                        TokioConn::Tls(s) => tokio_ping_pong(s, payload, rounds).await,
                    }
                })
            })
            .collect();
        let mut per_conn = Vec::with_capacity(tasks.len());
        for task in tasks {
            per_conn.push(
                task.await
                    .map_err(|e| format!("client task: {e}"))?
                    .map_err(|e| format!("tokio client: {e}"))?,
            );
        }
        let (wall, cpu) = (start.elapsed(), cpu_time().saturating_sub(cpu));
        Ok(Measured {
            wall,
            cpu,
            events_per_turn: None,
            latencies: per_conn.concat(),
        })
    })
}

// ---- idle connections ----

/// Raises the soft open-file limit to `needed` (at most the hard limit).
#[cfg(unix)]
fn raise_open_files(needed: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid, initialised struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < needed {
            lim.rlim_cur = needed.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

#[cfg(not(unix))]
fn raise_open_files(_needed: u64) {}

fn idle_client(host: &str, port: u16, conns: usize) -> Result<(), String> {
    use std::io::Read;
    if conns == 0 {
        return Err("--conns must be at least 1".into());
    }
    raise_open_files(conns as u64 + 64);
    let mut socks = Vec::with_capacity(conns);
    for i in 0..conns {
        let sock = std::net::TcpStream::connect((host, port))
            .map_err(|e| format!("connect {host}:{port} (connection {}): {e}", i + 1))?;
        socks.push(sock);
    }
    // The server accepts in order: once the last connection echoes, it has them all.
    let last = socks.last_mut().expect("at least one connection");
    last.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut byte = [0u8; 1];
    last.write_all(b"x")
        .and_then(|()| last.read_exact(&mut byte))
        .map_err(|e| format!("echo on the last connection: {e}"))?;
    println!("ready conns={conns}");
    let _ = std::io::stdout().flush();
    // Hold them, silent, until told to stop.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(socks);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(percentiles(vec![]), None);
        assert_eq!(percentiles(vec![7]), Some((7, 7)));
        let hundred: Vec<u32> = (1..=100).rev().collect();
        assert_eq!(percentiles(hundred), Some((50, 99)));
        assert_eq!(percentiles(vec![5, 1, 3, 2, 4]), Some((3, 5)));
        assert_eq!(micros(Duration::from_millis(3)), 3000);
    }
}
