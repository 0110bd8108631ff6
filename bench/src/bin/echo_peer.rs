//! One side of the TCP echo benchmark, in its own process so that server and client never
//! share a loop or a thread.
//!
//! - `echo_peer server --rt twinloop|tokio ADDR`: echoes every byte back; prints
//!   `listening on IP:PORT` first, then serves until killed.
//! - `echo_peer client --rt twinloop|tokio ADDR [--conns N] [--size S] [--rounds R]`:
//!   opens N connections (default 50), then on all of them at once sends S bytes
//!   (default 1024) and waits for all S to come back, R times (default 1000); checks the
//!   bytes and prints `result case=tcp_echo ... secs=... rtps=... mbps=...`. The clock
//!   starts after every connection is up.
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
       echo_peer client --rt twinloop|tokio ADDR [--conns N] [--size BYTES] [--rounds R] [--tls true]";

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
        self.received = 0;
        self.rounds_left -= 1;
        if self.rounds_left == 0 {
            self.finish(Ok(()));
        } else if let Some(t) = &self.transport {
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
            let payload = protocol.with(|p| p.payload.clone())?;
            transport.write(&payload)?;
        }
        for (_, _, done) in &peers {
            done.clone().await?;
        }
        let metrics = ev.metrics();
        let turns = metrics.turns - metrics_before.turns;
        let events = metrics.io_events - metrics_before.io_events;
        let measured = Measured {
            wall: start.elapsed(),
            cpu: cpu_time().saturating_sub(cpu),
            events_per_turn: (turns > 0).then(|| events as f64 / turns as f64),
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
) -> std::io::Result<()> {
    let mut back = vec![0u8; payload.len()];
    let (mut reader, mut writer) = tokio::io::split(sock);
    for _ in 0..rounds {
        // Write and read at once: a large payload may not fit in the socket buffers.
        let (wrote, read) = tokio::join!(writer.write_all(&payload), reader.read_exact(&mut back));
        wrote?;
        read?;
        if back != payload {
            return Err(std::io::Error::other("echoed bytes differ from those sent"));
        }
    }
    Ok(())
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
        for task in tasks {
            task.await
                .map_err(|e| format!("client task: {e}"))?
                .map_err(|e| format!("tokio client: {e}"))?;
        }
        Ok(Measured {
            wall: start.elapsed(),
            cpu: cpu_time().saturating_sub(cpu),
            events_per_turn: None,
        })
    })
}
