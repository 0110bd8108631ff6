//! The TCP echo matrix: the servers (tokio, native twinloop, twinloop in the wasm guest,
//! and over TLS twinloop and tokio-rustls with the same rustls configuration) run in the
//! background while `echo_peer` clients measure each in turn.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use super::measure::{measure, median_f64, process_cpu};
use super::programs::{bench_bin, native_echo_server};
use super::table::{Kind, Row};
use super::Plan;
use crate::process::{self, host_binary, workspace_root};

/// How long a server may take to print `listening on` (the guest's includes compiling
/// the module).
const LISTEN_LIMIT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    /// `examples/echo_server` in its default protocol mode.
    Twinloop,
    /// The same example in `--mode buffered` (a `BufferedProtocol`).
    TwinloopBuffered,
    /// The same example in `--mode sock` (`sock_accept`, `sock_recv_into`, `sock_sendall`).
    TwinloopSock,
    /// `mio_echo`: a bare mio loop, the floor.
    Mio,
    /// The same example in `--mode streams` (StreamReader/StreamWriter, a task per
    /// connection).
    TwinloopStreams,
    Tokio,
    Guest,
    /// `echo_peer server --rt twinloop --tls true`: twinloop's `ssl=`.
    TlsTwinloop,
    /// `echo_peer server --rt tokio --tls true`: tokio-rustls, the same rustls config.
    TlsTokio,
}

impl Server {
    /// The server's name in the JSON report.
    fn name(self) -> &'static str {
        match self {
            Server::Twinloop => "twinloop-protocol",
            Server::TwinloopBuffered => "twinloop-buffered",
            Server::TwinloopStreams => "twinloop-streams",
            Server::TwinloopSock => "twinloop-sock",
            Server::Mio => "mio",
            Server::Tokio => "tokio",
            Server::Guest => "twinloop-guest",
            Server::TlsTwinloop => "twinloop-tls",
            Server::TlsTokio => "tokio-tls",
        }
    }
}

/// One server's figures at one size, for the JSON report.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct EchoRecord {
    pub(super) server: &'static str,
    pub(super) size: u32,
    pub(super) conns: u32,
    pub(super) msgs_per_s: f64,
    pub(super) mb_per_s: f64,
    pub(super) cpu_us_per_msg: f64,
    /// Against tokio (tokio-rustls for TLS): > 1 is faster.
    pub(super) vs_tokio: Option<f64>,
    /// Against the bare mio loop (plain TCP servers only).
    pub(super) vs_mio: Option<f64>,
    /// The twinloop client's loop: I/O events per turn.
    pub(super) events_per_turn: Option<f64>,
}

impl EchoRun {
    /// The client speaks TLS to this server.
    fn tls(self) -> bool {
        matches!(
            self,
            EchoRun::Server(Server::TlsTwinloop | Server::TlsTokio)
        )
    }
}

/// A measuring client's run against one server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EchoRun {
    /// The tokio client against this server.
    Server(Server),
    /// The twinloop client against the tokio server.
    TwinloopClient,
}

/// A server process, killed when dropped.
struct Background {
    child: Child,
    addr: String,
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One client run: throughput and the CPU each side used (NaN where unknown).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct EchoSample {
    mbps: f64,
    rtps: f64,
    server_cpu: f64,
    client_cpu: f64,
    /// A twinloop client's own view: I/O events per loop turn (NaN otherwise).
    events_per_turn: f64,
}

impl EchoSample {
    fn median(samples: &[EchoSample]) -> EchoSample {
        let m = |f: fn(&EchoSample) -> f64| median_f64(samples.iter().map(f).collect());
        EchoSample {
            mbps: m(|s| s.mbps),
            rtps: m(|s| s.rtps),
            server_cpu: m(|s| s.server_cpu),
            client_cpu: m(|s| s.client_cpu),
            events_per_turn: m(|s| s.events_per_turn),
        }
    }
}

/// Starts the servers, runs the clients (interleaved, `echo_repeat` times) and adds the
/// rows. Returns a note when the guest is unavailable.
pub(super) fn echo_cases(
    plan: &Plan,
    guest: Result<PathBuf, String>,
    table: &mut Vec<Row>,
    records: &mut Vec<EchoRecord>,
    failures: &mut Vec<String>,
) -> Option<String> {
    let mut tokio_cmd = Command::new(bench_bin("echo_peer"));
    tokio_cmd.args(["server", "--rt", "tokio", "127.0.0.1:0"]);
    let mut twinloop_cmd = Command::new(native_echo_server());
    twinloop_cmd.arg("127.0.0.1:0");
    let mut streams_cmd = Command::new(native_echo_server());
    streams_cmd.args(["127.0.0.1:0", "--mode", "streams"]);
    let mut buffered_cmd = Command::new(native_echo_server());
    buffered_cmd.args(["127.0.0.1:0", "--mode", "buffered"]);
    let mut sock_cmd = Command::new(native_echo_server());
    sock_cmd.args(["127.0.0.1:0", "--mode", "sock"]);
    let mut mio_cmd = Command::new(bench_bin("mio_echo"));
    mio_cmd.arg("127.0.0.1:0");
    let mut tls_tokio_cmd = Command::new(bench_bin("echo_peer"));
    tls_tokio_cmd.args(["server", "--rt", "tokio", "127.0.0.1:0", "--tls", "true"]);
    let mut tls_twinloop_cmd = Command::new(bench_bin("echo_peer"));
    tls_twinloop_cmd.args(["server", "--rt", "twinloop", "127.0.0.1:0", "--tls", "true"]);
    let mut servers: Vec<(Server, Background)> = Vec::new();
    for (server, cmd) in [
        (Server::Tokio, &mut tokio_cmd),
        (Server::Twinloop, &mut twinloop_cmd),
        (Server::TwinloopStreams, &mut streams_cmd),
        (Server::TwinloopBuffered, &mut buffered_cmd),
        (Server::TwinloopSock, &mut sock_cmd),
        (Server::Mio, &mut mio_cmd),
        (Server::TlsTokio, &mut tls_tokio_cmd),
        (Server::TlsTwinloop, &mut tls_twinloop_cmd),
    ] {
        match start_server(cmd) {
            Ok(bg) => servers.push((server, bg)),
            Err(e) => failures.push(format!("{server:?} echo server: {e}")),
        }
    }
    let mut guest_note = None;
    match guest {
        Ok(module) => {
            let mut cmd = Command::new(host_binary());
            cmd.args(["run", "--allow-net", "127.0.0.1"])
                .arg(&module)
                .args(["--", "127.0.0.1:0"]);
            match start_server(&mut cmd) {
                Ok(bg) => servers.push((Server::Guest, bg)),
                Err(e) => guest_note = Some(format!("the guest server did not start: {e}")),
            }
        }
        Err(e) => guest_note = Some(e),
    }

    let mut runs: Vec<(EchoRun, &str, &Background)> = servers
        .iter()
        .map(|(s, bg)| (EchoRun::Server(*s), "tokio", bg))
        .collect();
    if let Some((_, bg)) = servers.iter().find(|(s, _)| *s == Server::Tokio) {
        runs.push((EchoRun::TwinloopClient, "twinloop", bg));
    }
    let mut samples: Vec<((u32, EchoRun), Vec<EchoSample>)> = Vec::new();
    let mut broken: Vec<(u32, EchoRun)> = Vec::new();
    for _ in 0..plan.echo_repeat {
        for &(size, rounds) in &plan.echo {
            for &(run, client_rt, bg) in &runs {
                if broken.contains(&(size, run)) {
                    continue;
                }
                let mut cmd = Command::new(bench_bin("echo_peer"));
                cmd.args(["client", "--rt", client_rt, &bg.addr])
                    .args(["--conns", &plan.conns.to_string()])
                    .args(["--size", &size.to_string()])
                    .args(["--rounds", &rounds.to_string()]);
                if run.tls() {
                    cmd.args(["--tls", "true"]);
                }
                let server_cpu = process_cpu(bg.child.id());
                match measure(&mut cmd) {
                    Ok(fields) => {
                        let server_cpu = server_cpu
                            .zip(process_cpu(bg.child.id()))
                            .map_or(f64::NAN, |(before, after)| (after - before).max(0.0));
                        let number = |key| fields.number(key).unwrap_or(f64::NAN);
                        let sample = EchoSample {
                            mbps: number("mbps"),
                            rtps: number("rtps"),
                            server_cpu,
                            client_cpu: number("cpu_secs"),
                            events_per_turn: number("events_per_turn"),
                        };
                        match samples.iter_mut().find(|(k, _)| *k == (size, run)) {
                            Some((_, v)) => v.push(sample),
                            None => samples.push(((size, run), vec![sample])),
                        }
                    }
                    Err(e) => {
                        broken.push((size, run));
                        if run == EchoRun::Server(Server::Guest) {
                            guest_note = Some(format!("the client against it failed: {e}"));
                        } else {
                            failures.push(format!("tcp_echo {size} B, {run:?}: {e}"));
                        }
                    }
                }
            }
        }
    }
    drop(runs);
    drop(servers);

    let get = |size: u32, run: EchoRun| {
        samples
            .iter()
            .find(|(k, _)| *k == (size, run))
            .map(|(_, v)| EchoSample::median(v))
    };
    let guest_ran = guest_note.is_none();
    for &(size, rounds) in &plan.echo {
        let messages = f64::from(plan.conns) * f64::from(rounds);
        let figure_of = |s: &EchoSample| s.rtps;
        for server in [
            Server::Twinloop,
            Server::TwinloopBuffered,
            Server::TwinloopStreams,
            Server::TwinloopSock,
            Server::Guest,
            Server::Mio,
            Server::Tokio,
            Server::TlsTwinloop,
            Server::TlsTokio,
        ] {
            let Some(s) = get(size, EchoRun::Server(server)) else {
                continue;
            };
            let tls = matches!(server, Server::TlsTwinloop | Server::TlsTokio);
            let peer = if tls { Server::TlsTokio } else { Server::Tokio };
            let ratio = |other: Server| {
                get(size, EchoRun::Server(other))
                    .map(|o| figure_of(&s) / figure_of(&o))
                    .filter(|r| r.is_finite())
            };
            records.push(EchoRecord {
                server: server.name(),
                size,
                conns: plan.conns,
                msgs_per_s: s.rtps,
                mb_per_s: s.mbps,
                cpu_us_per_msg: s.server_cpu / messages * 1e6,
                vs_tokio: ratio(peer),
                vs_mio: if tls { None } else { ratio(Server::Mio) },
                events_per_turn: None,
            });
        }
        if let Some(c) = get(size, EchoRun::TwinloopClient) {
            let tokio = get(size, EchoRun::Server(Server::Tokio));
            records.push(EchoRecord {
                server: "twinloop-client",
                size,
                conns: plan.conns,
                msgs_per_s: c.rtps,
                mb_per_s: c.mbps,
                cpu_us_per_msg: c.client_cpu / messages * 1e6,
                vs_tokio: tokio.map(|t| c.rtps / t.rtps).filter(|r| r.is_finite()),
                vs_mio: None,
                events_per_turn: Some(c.events_per_turn).filter(|e| e.is_finite()),
            });
        }
    }
    for &(size, _) in &plan.echo {
        let small = size < 16 * 1024;
        let kind = if small {
            Kind::Rate {
                scale: 1e3,
                unit: "k rt/s",
            }
        } else {
            Kind::Rate {
                scale: 1.0,
                unit: "MB/s",
            }
        };
        let figure = |s: EchoSample| if small { s.rtps } else { s.mbps };
        let label = format!("tcp_echo {} KiB x{}", size / 1024, plan.conns);
        let base = get(size, EchoRun::Server(Server::Tokio));
        let cpu_pair = |other: Option<EchoSample>, f: fn(&EchoSample) -> f64| {
            other
                .zip(base)
                .map(|(o, b)| (f(&o), f(&b)))
                .filter(|(o, b)| o.is_finite() && b.is_finite())
        };
        let mut push = |case: String, other: Option<EchoSample>, f: fn(&EchoSample) -> f64| {
            table.push(Row {
                case,
                kind,
                twinloop: other.map(figure),
                tokio: base.map(figure),
                cpu: cpu_pair(other, f),
            })
        };
        let twinloop = get(size, EchoRun::Server(Server::Twinloop));
        push(format!("{label}: server"), twinloop, |s| s.server_cpu);
        let buffered = get(size, EchoRun::Server(Server::TwinloopBuffered));
        push(format!("{label}: server, buffered mode"), buffered, |s| {
            s.server_cpu
        });
        let streams = get(size, EchoRun::Server(Server::TwinloopStreams));
        push(format!("{label}: server, streams mode"), streams, |s| {
            s.server_cpu
        });
        let sock = get(size, EchoRun::Server(Server::TwinloopSock));
        push(format!("{label}: server, sock mode"), sock, |s| {
            s.server_cpu
        });
        let mio = get(size, EchoRun::Server(Server::Mio));
        push(format!("{label}: bare mio server (floor)"), mio, |s| {
            s.server_cpu
        });
        if guest_ran {
            let guest = get(size, EchoRun::Server(Server::Guest));
            push(format!("{label}: server in wasm guest"), guest, |s| {
                s.server_cpu
            });
        }
        let client = get(size, EchoRun::TwinloopClient);
        push(format!("{label}: client"), client, |s| s.client_cpu);
        let tls_base = get(size, EchoRun::Server(Server::TlsTokio));
        let tls = get(size, EchoRun::Server(Server::TlsTwinloop));
        table.push(Row {
            case: format!("tls_echo {} KiB x{}: server", size / 1024, plan.conns),
            kind,
            twinloop: tls.map(figure),
            tokio: tls_base.map(figure),
            cpu: tls
                .zip(tls_base)
                .map(|(t, b)| (t.server_cpu, b.server_cpu))
                .filter(|(t, b)| t.is_finite() && b.is_finite()),
        });
    }
    guest_note
}

/// Starts a server whose first stdout line is `listening on IP:PORT`; its later output
/// is dropped, its stderr shown.
fn start_server(cmd: &mut Command) -> Result<Background, String> {
    cmd.current_dir(workspace_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    println!("$ {} &", process::describe(cmd));
    process::flush();
    let mut child = cmd.spawn().map_err(|e| format!("could not start: {e}"))?;
    let stdout = child.stdout.take().expect("stdout was piped");
    let mut background = Background {
        child,
        addr: String::new(),
    };
    let (first_tx, first_rx) = mpsc::channel();
    thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(first)) = lines.next() {
            let _ = first_tx.send(first);
        }
        // Keep reading so that the server never blocks on a full pipe.
        for _ in lines.map_while(Result::ok) {}
    });
    let first = match first_rx.recv_timeout(LISTEN_LIMIT) {
        Ok(line) => line,
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let status = process::wait_with_timeout(&mut background.child, Duration::from_secs(5));
            return Err(match status {
                Ok(Some(status)) => format!("exited ({status}) before saying where it listens"),
                _ => "closed its stdout before saying where it listens".into(),
            });
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            return Err(format!("no `listening on` line within {LISTEN_LIMIT:?}"));
        }
    };
    background.addr = listening_address(&first)
        .ok_or_else(|| format!("first line is not `listening on IP:PORT`: {first:?}"))?
        .to_string();
    Ok(background)
}

/// `listening on 127.0.0.1:4000` -> `127.0.0.1:4000`.
pub(super) fn listening_address(line: &str) -> Option<&str> {
    let addr = line.trim().strip_prefix("listening on ")?.trim();
    let (host, port) = addr.rsplit_once(':')?;
    (!host.is_empty() && port.parse::<u16>().is_ok()).then_some(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn servers_that_do_not_listen_are_reported() {
        let mut quits = Command::new("sh");
        quits.args(["-c", "echo oops >&2; exit 3"]);
        let err = start_server(&mut quits).err().unwrap();
        assert!(err.contains("before saying where it listens"), "{err}");

        let mut babbles = Command::new("sh");
        babbles.args(["-c", "echo ready; exec sleep 5"]);
        let err = start_server(&mut babbles).err().unwrap();
        assert!(err.contains("not `listening on IP:PORT`"), "{err}");

        let mut listens = Command::new("sh");
        listens.args(["-c", "echo listening on 127.0.0.1:9; exec sleep 30"]);
        let server = start_server(&mut listens).unwrap();
        assert_eq!(server.addr, "127.0.0.1:9");
        drop(server); // killed, not waited for 30 s
    }
}
