//! The TCP echo matrix: the servers (tokio, native twinloop, twinloop in the wasm guest,
//! wstd's echo in the same host, asyncio and uvloop, and over TLS twinloop and
//! tokio-rustls with the same rustls configuration) run in the background while
//! `echo_peer` clients measure each in turn, for each configuration (`EchoCase`: C
//! connections, S bytes) of the plan.

use std::path::PathBuf;

use super::measure::{measure, median_f64, process_cpu};
use super::programs::{bench_bin, native_echo_server};
use super::python;
use super::servers::{pinned, pinning, start_server, Core};
use super::table::{Kind, Row};
use super::{EchoCase, Plan};
use crate::process::host_binary;
use crate::server::Server as Running;

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
    /// `bench/wstd-echo`: wstd's echo, a guest in the same host.
    WstdGuest,
    /// `echo_peer server --rt twinloop --tls true`: twinloop's `ssl=`.
    TlsTwinloop,
    /// `echo_peer server --rt tokio --tls true`: tokio-rustls, the same rustls config.
    TlsTokio,
    /// `bench/probes/asyncio_echo.py`: an `asyncio.Protocol` on asyncio's own loop.
    Asyncio,
    /// The same script with `--uvloop`.
    Uvloop,
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
            Server::WstdGuest => "wstd-guest",
            Server::TlsTwinloop => "twinloop-tls",
            Server::TlsTokio => "tokio-tls",
            Server::Asyncio => "asyncio",
            Server::Uvloop => "uvloop",
        }
    }

    fn python(self) -> bool {
        matches!(self, Server::Asyncio | Server::Uvloop)
    }

    /// Run with fewer round trips in the full plan (`EchoCase::slow_rounds`): the Python
    /// servers, and wstd's guest, whose reactor slows down with the number of connections.
    fn slow(self) -> bool {
        self.python() || self == Server::WstdGuest
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
    /// Round trip of one message (send start to last echoed byte), as the client saw it.
    pub(super) p50_us: f64,
    pub(super) p99_us: f64,
    /// Against tokio (tokio-rustls for TLS): > 1 is faster.
    pub(super) vs_tokio: Option<f64>,
    /// Against the bare mio loop (plain TCP servers only).
    pub(super) vs_mio: Option<f64>,
    /// The twinloop guest against the wstd guest in the same host (its row only).
    pub(super) vs_wstd: Option<f64>,
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

    /// Round trips per connection of this run in `case`: fewer for the slow servers in
    /// the full plan (`Server::slow`).
    fn rounds(self, case: &EchoCase) -> u32 {
        match self {
            EchoRun::Server(s) if s.slow() => case.slow_rounds,
            _ => case.rounds,
        }
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

/// One client run: throughput and the CPU each side used (NaN where unknown).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct EchoSample {
    mbps: f64,
    rtps: f64,
    server_cpu: f64,
    client_cpu: f64,
    /// A twinloop client's own view: I/O events per loop turn (NaN otherwise).
    events_per_turn: f64,
    /// The client's percentiles of one message's round trip, in µs.
    p50: f64,
    p99: f64,
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
            p50: m(|s| s.p50),
            p99: m(|s| s.p99),
        }
    }
}

/// Starts the servers, runs the clients (interleaved, `echo_repeat` times) and adds the
/// rows. Returns a note when the guest is unavailable; says in `notes` why a Python
/// server or the wstd guest was left out.
pub(super) fn echo_cases(
    plan: &Plan,
    guest: Result<PathBuf, String>,
    wstd: Result<PathBuf, String>,
    table: &mut Vec<Row>,
    records: &mut Vec<EchoRecord>,
    notes: &mut Vec<String>,
    failures: &mut Vec<String>,
) -> Option<String> {
    let mut tokio_cmd = pinned(Core::Server, bench_bin("echo_peer"));
    tokio_cmd.args(["server", "--rt", "tokio", "127.0.0.1:0"]);
    let mut twinloop_cmd = pinned(Core::Server, native_echo_server());
    twinloop_cmd.arg("127.0.0.1:0");
    let mut streams_cmd = pinned(Core::Server, native_echo_server());
    streams_cmd.args(["127.0.0.1:0", "--mode", "streams"]);
    let mut buffered_cmd = pinned(Core::Server, native_echo_server());
    buffered_cmd.args(["127.0.0.1:0", "--mode", "buffered"]);
    let mut sock_cmd = pinned(Core::Server, native_echo_server());
    sock_cmd.args(["127.0.0.1:0", "--mode", "sock"]);
    let mut mio_cmd = pinned(Core::Server, bench_bin("mio_echo"));
    mio_cmd.arg("127.0.0.1:0");
    let mut tls_tokio_cmd = pinned(Core::Server, bench_bin("echo_peer"));
    tls_tokio_cmd.args(["server", "--rt", "tokio", "127.0.0.1:0", "--tls", "true"]);
    let mut tls_twinloop_cmd = pinned(Core::Server, bench_bin("echo_peer"));
    tls_twinloop_cmd.args(["server", "--rt", "twinloop", "127.0.0.1:0", "--tls", "true"]);
    let mut servers: Vec<(Server, Running)> = Vec::new();
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
    if !pinning() {
        let note = "echo processes not pinned to cores (no taskset, or one core)".to_string();
        println!("bench: {note}");
        notes.push(note);
    }
    let pythons = python::find();
    for (server, python) in [
        (Server::Asyncio, &pythons.asyncio),
        (Server::Uvloop, &pythons.uvloop),
    ] {
        let python = match python {
            Ok(python) => python,
            Err(note) => {
                if !notes.contains(note) {
                    println!("bench: {note}");
                    notes.push(note.clone());
                }
                continue;
            }
        };
        let mut cmd = pinned(Core::Server, python);
        cmd.arg(python::script()).arg("127.0.0.1:0");
        if server == Server::Uvloop {
            cmd.arg("--uvloop");
        }
        match start_server(&mut cmd) {
            Ok(bg) => servers.push((server, bg)),
            Err(e) => failures.push(format!("{server:?} echo server: {e}")),
        }
    }
    if let Ok(python) = pythons.asyncio.as_ref().or(pythons.uvloop.as_ref()) {
        let note = format!(
            "asyncio and uvloop servers: {python} ({})",
            python::describe(python)
        );
        println!("bench: {note}");
        notes.push(note);
    }
    // Both guests run in the same host; one that cannot be built or started is a note.
    let mut start_guest = |module: Result<PathBuf, String>, server: Server, what: &str| {
        let module = module?;
        let mut cmd = pinned(Core::Server, host_binary());
        cmd.args(["run", "--allow-net", "127.0.0.1"])
            .arg(&module)
            .args(["--", "127.0.0.1:0"]);
        let running =
            start_server(&mut cmd).map_err(|e| format!("the {what} did not start: {e}"))?;
        servers.push((server, running));
        Ok::<(), String>(())
    };
    let mut guest_note = start_guest(guest, Server::Guest, "guest server").err();
    // wstd's echo runs in the same host as twinloop's guest; without it, a note.
    let mut wstd_note = start_guest(wstd, Server::WstdGuest, "wstd guest server").err();
    let fewer: Vec<String> = plan
        .echo
        .iter()
        .filter(|c| c.slow_rounds != c.rounds)
        .map(|c| format!("{}: {} instead of {}", c.label(), c.slow_rounds, c.rounds))
        .collect();
    let slow: Vec<&str> = servers
        .iter()
        .filter(|(s, _)| s.slow())
        .map(|(s, _)| s.name())
        .collect();
    if !slow.is_empty() && !fewer.is_empty() {
        let note = format!(
            "{}: fewer round trips per connection ({}; rates are per second; these servers \
             would take several times longer)",
            slow.join(", "),
            fewer.join(", ")
        );
        println!("bench: {note}");
        notes.push(note);
    }

    let mut runs: Vec<(EchoRun, &str, &Running)> = servers
        .iter()
        .map(|(s, bg)| (EchoRun::Server(*s), "tokio", bg))
        .collect();
    if let Some((_, bg)) = servers.iter().find(|(s, _)| *s == Server::Tokio) {
        runs.push((EchoRun::TwinloopClient, "twinloop", bg));
    }
    // Keyed by the case's index in `plan.echo`.
    let mut samples: Vec<((usize, EchoRun), Vec<EchoSample>)> = Vec::new();
    let mut broken: Vec<(usize, EchoRun)> = Vec::new();
    for _ in 0..plan.echo_repeat {
        for (index, case) in plan.echo.iter().enumerate() {
            for &(run, client_rt, bg) in &runs {
                if broken.contains(&(index, run)) || (run.tls() && !case.tls) {
                    continue;
                }
                let rounds = run.rounds(case);
                let mut cmd = pinned(Core::Client, bench_bin("echo_peer"));
                cmd.args(["client", "--rt", client_rt, &bg.addr])
                    .args(["--conns", &case.conns.to_string()])
                    .args(["--size", &case.size.to_string()])
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
                            p50: number("p50_us"),
                            p99: number("p99_us"),
                        };
                        match samples.iter_mut().find(|(k, _)| *k == (index, run)) {
                            Some((_, v)) => v.push(sample),
                            None => samples.push(((index, run), vec![sample])),
                        }
                    }
                    Err(e) => {
                        broken.push((index, run));
                        let what = case.label();
                        if run == EchoRun::Server(Server::Guest) {
                            guest_note =
                                Some(format!("the client against it failed ({what}): {e}"));
                        } else if run == EchoRun::Server(Server::WstdGuest) {
                            wstd_note = Some(format!(
                                "the client against the wstd guest failed ({what}): {e}"
                            ));
                        } else {
                            failures.push(format!("{what}, {run:?}: {e}"));
                        }
                    }
                }
            }
        }
    }
    drop(runs);
    drop(servers);

    if let Some(note) = wstd_note {
        let note = format!("wstd-guest: skipped ({note})");
        println!("bench: {note}");
        notes.push(note);
    }

    let get = |index: usize, run: EchoRun| {
        samples
            .iter()
            .find(|(k, _)| *k == (index, run))
            .map(|(_, v)| EchoSample::median(v))
    };
    let guest_ran = guest_note.is_none();
    for (index, case) in plan.echo.iter().enumerate() {
        let size = case.size;
        let messages = |run: EchoRun| f64::from(case.conns) * f64::from(run.rounds(case));
        let figure_of = |s: &EchoSample| s.rtps;
        for server in [
            Server::Twinloop,
            Server::TwinloopBuffered,
            Server::TwinloopStreams,
            Server::TwinloopSock,
            Server::Guest,
            Server::WstdGuest,
            Server::Mio,
            Server::Tokio,
            Server::TlsTwinloop,
            Server::TlsTokio,
            Server::Asyncio,
            Server::Uvloop,
        ] {
            let Some(s) = get(index, EchoRun::Server(server)) else {
                continue;
            };
            let tls = matches!(server, Server::TlsTwinloop | Server::TlsTokio);
            let peer = if tls { Server::TlsTokio } else { Server::Tokio };
            let ratio = |other: Server| {
                get(index, EchoRun::Server(other))
                    .map(|o| figure_of(&s) / figure_of(&o))
                    .filter(|r| r.is_finite())
            };
            records.push(EchoRecord {
                server: server.name(),
                size,
                conns: case.conns,
                msgs_per_s: s.rtps,
                mb_per_s: s.mbps,
                cpu_us_per_msg: s.server_cpu / messages(EchoRun::Server(server)) * 1e6,
                p50_us: s.p50,
                p99_us: s.p99,
                vs_tokio: ratio(peer),
                vs_mio: if tls { None } else { ratio(Server::Mio) },
                vs_wstd: if server == Server::Guest {
                    ratio(Server::WstdGuest)
                } else {
                    None
                },
                events_per_turn: None,
            });
        }
        if let Some(c) = get(index, EchoRun::TwinloopClient) {
            let tokio = get(index, EchoRun::Server(Server::Tokio));
            records.push(EchoRecord {
                server: "twinloop-client",
                size,
                conns: case.conns,
                msgs_per_s: c.rtps,
                mb_per_s: c.mbps,
                cpu_us_per_msg: c.client_cpu / messages(EchoRun::TwinloopClient) * 1e6,
                p50_us: c.p50,
                p99_us: c.p99,
                vs_tokio: tokio.map(|t| c.rtps / t.rtps).filter(|r| r.is_finite()),
                vs_mio: None,
                vs_wstd: None,
                events_per_turn: Some(c.events_per_turn).filter(|e| e.is_finite()),
            });
        }
    }
    for (index, case) in plan.echo.iter().enumerate() {
        let small = case.size < 16 * 1024;
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
        // CPU seconds per message (the Python servers may run fewer messages).
        let cpu = |run: EchoRun| {
            let s = get(index, run)?;
            let secs = match run {
                EchoRun::TwinloopClient => s.client_cpu,
                EchoRun::Server(_) => s.server_cpu,
            };
            let messages = f64::from(case.conns) * f64::from(run.rounds(case));
            Some(secs / messages).filter(|c| c.is_finite())
        };
        let latency = |run: EchoRun| {
            get(index, run)
                .map(|s| (s.p50, s.p99))
                .filter(|(p50, p99)| p50.is_finite() && p99.is_finite())
        };
        let row = |name: String, run: EchoRun, base: EchoRun| Row {
            case: name,
            kind,
            twinloop: get(index, run).map(figure),
            tokio: get(index, base).map(figure),
            cpu: cpu(run).zip(cpu(base)),
            latency: [latency(run), latency(base)],
        };
        let label = case.label();
        let tokio = EchoRun::Server(Server::Tokio);
        let mut servers = vec![
            (Server::Twinloop, "server"),
            (Server::TwinloopBuffered, "server, buffered mode"),
            (Server::TwinloopStreams, "server, streams mode"),
            (Server::TwinloopSock, "server, sock mode"),
            (Server::Mio, "bare mio server (floor)"),
        ];
        if guest_ran {
            servers.push((Server::Guest, "server in wasm guest"));
        }
        if get(index, EchoRun::Server(Server::WstdGuest)).is_some() {
            servers.push((Server::WstdGuest, "wstd server in wasm guest"));
        }
        for (server, what) in servers {
            table.push(row(
                format!("{label}: {what}"),
                EchoRun::Server(server),
                tokio,
            ));
        }
        for (server, what) in [(Server::Asyncio, "asyncio"), (Server::Uvloop, "uvloop")] {
            let run = EchoRun::Server(server);
            if get(index, run).is_some() {
                table.push(row(format!("{label}: {what} server"), run, tokio));
            }
        }
        let client = EchoRun::TwinloopClient;
        table.push(row(format!("{label}: client"), client, tokio));
        if case.tls {
            table.push(row(
                format!("{}: server", label.replacen("tcp_echo", "tls_echo", 1)),
                EchoRun::Server(Server::TlsTwinloop),
                EchoRun::Server(Server::TlsTokio),
            ));
        }
    }
    guest_note
}
