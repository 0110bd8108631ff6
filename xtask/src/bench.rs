//! `cargo xtask bench [--quick] [--no-guest]`: twinloop against tokio's current-thread
//! runtime, in release builds, in the same run, and the ratios. Measurement only: nothing
//! here passes or fails on a number.
//!
//! The programs measured are in `bench/` (`bench_loop`, `echo_peer`; see their docs) and
//! `examples/echo_server.rs`, which is the native twinloop server and, built for
//! wasm32-wasip1 and run in `twinloop-host`, the guest one. Each measurement runs in a
//! fresh process; the echo servers and clients are separate processes, started once and
//! measured in turn (interleaved, so that a busy machine slows every side alike).
//! A guest that cannot be built or started is reported as `guest: unavailable (why)`.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::demo::guest_example;
use crate::process::{self, cargo, host_binary, native_target_dir, workspace_root};
use crate::toolchain::{Detected, GUEST_TARGET};

pub const USAGE: &str = "cargo xtask bench [--quick] [--no-guest]";

/// How long a server may take to print `listening on` (the guest's includes compiling
/// the module).
const LISTEN_LIMIT: Duration = Duration::from_secs(60);
/// How long one measuring process may run.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// The sizes of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Plan {
    callbacks: u64,
    timers: u64,
    /// Repetitions inside `bench_loop` (it reports the median).
    loop_repeat: u32,
    conns: u32,
    /// (payload bytes, round trips per connection)
    echo: [(u32, u32); 2],
    /// Client runs per echo configuration (the median is shown).
    echo_repeat: u32,
}

const FULL: Plan = Plan {
    callbacks: 1_000_000,
    timers: 100_000,
    loop_repeat: 5,
    conns: 50,
    echo: [(1024, 2000), (64 * 1024, 500)],
    echo_repeat: 5,
};

const QUICK: Plan = Plan {
    callbacks: 100_000,
    timers: 10_000,
    loop_repeat: 1,
    conns: 10,
    echo: [(1024, 200), (64 * 1024, 20)],
    echo_repeat: 1,
};

pub fn run(args: &[String]) -> bool {
    let mut plan = FULL;
    let mut guest = true;
    for arg in args {
        match arg.as_str() {
            "--quick" => plan = QUICK,
            "--no-guest" => guest = false,
            other => {
                println!("bench: unknown argument {other:?}\nusage: {USAGE}");
                return false;
            }
        }
    }
    let started = Instant::now();

    let mut cmd = cargo();
    cmd.args([
        "build",
        "--release",
        "-p",
        "bench",
        "-p",
        "twinloop",
        "--bins",
        "--example",
        "echo_server",
    ]);
    process::header("build the benchmark programs (release)", &cmd);
    if !process::run_ok(&mut cmd) {
        println!("bench: FAILED: the benchmark programs did not build");
        return false;
    }
    let guest = if guest {
        build_guest()
    } else {
        Err("--no-guest".to_string())
    };

    println!();
    println!(
        "==> measure ({})",
        if plan == QUICK { "quick" } else { "full" }
    );
    let mut table = Vec::new();
    let mut failures = Vec::new();
    loop_cases(&plan, &mut table, &mut failures);
    let guest_note = echo_cases(&plan, guest, &mut table, &mut failures);

    println!();
    describe(&plan);
    println!();
    print_table(&table);
    if let Some(note) = guest_note {
        println!("guest: unavailable ({note})");
    }
    println!();
    if failures.is_empty() {
        println!("bench: took {}", process::elapsed(started));
        println!("bench: done");
        true
    } else {
        for failure in &failures {
            println!("bench: FAILED: {failure}");
        }
        false
    }
}

/// Builds the guest echo server and the host; the error says why the guest is out.
fn build_guest() -> Result<PathBuf, String> {
    let Some(chain) = Detected::detect().guest() else {
        return Err(format!(
            "no {GUEST_TARGET} tool chain; `cargo xtask setup` installs one"
        ));
    };
    let mut cmd = chain.cargo("build");
    cmd.args(["--release", "-p", "twinloop", "--example", "echo_server"]);
    process::header(
        &format!("build the guest echo server with {}", chain.describe()),
        &cmd,
    );
    if !process::run_ok(&mut cmd) {
        return Err("the guest echo_server did not build".into());
    }
    let mut cmd = cargo();
    cmd.args(["build", "--release", "-p", "twinloop-host"]);
    process::header(
        "build twinloop-host (may take ~5 minutes on a cold machine)",
        &cmd,
    );
    if !process::run_ok(&mut cmd) {
        return Err("twinloop-host did not build".into());
    }
    Ok(guest_example("echo_server", true))
}

fn bench_bin(name: &str) -> PathBuf {
    native_target_dir()
        .join("release")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

fn native_echo_server() -> PathBuf {
    native_target_dir()
        .join("release")
        .join("examples")
        .join(format!("echo_server{}", std::env::consts::EXE_SUFFIX))
}

// ---- the table ----

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// Higher is better; shown divided by `scale`, followed by `unit`.
    Rate { scale: f64, unit: &'static str },
    /// Seconds; lower is better; shown in ms.
    Time,
}

#[derive(Debug)]
struct Row {
    case: String,
    kind: Kind,
    twinloop: Option<f64>,
    tokio: Option<f64>,
    /// CPU seconds for the same work: (twinloop, tokio).
    cpu: Option<(f64, f64)>,
}

impl Kind {
    fn show(self, value: Option<f64>) -> String {
        match (self, value) {
            (_, None) => "failed".into(),
            (Kind::Rate { scale, unit }, Some(v)) => format!("{:.2} {unit}", v / scale),
            (Kind::Time, Some(v)) => format!("{:.1} ms", v * 1e3),
        }
    }

    /// twinloop's speed over tokio's: > 1 when twinloop is faster.
    fn ratio(self, twinloop: f64, tokio: f64) -> Option<f64> {
        let (num, den) = match self {
            Kind::Rate { .. } => (twinloop, tokio),
            Kind::Time => (tokio, twinloop),
        };
        (den > 0.0 && num.is_finite()).then(|| num / den)
    }
}

fn table_lines(rows: &[Row]) -> Vec<String> {
    let mut cells = vec![[
        "case".to_string(),
        "twinloop".into(),
        "tokio".into(),
        "ratio".into(),
        "cpu ratio".into(),
    ]];
    for row in rows {
        let ratio = match (row.twinloop, row.tokio) {
            (Some(a), Some(b)) => row.kind.ratio(a, b),
            _ => None,
        };
        let cpu = row
            .cpu
            .and_then(|(tw, tk)| (tw > 0.0 && tk > 0.0).then(|| tk / tw));
        let show = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.2}"));
        cells.push([
            row.case.clone(),
            row.kind.show(row.twinloop),
            row.kind.show(row.tokio),
            show(ratio),
            show(cpu),
        ]);
    }
    let mut widths = [0; 5];
    for line in &cells {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    cells
        .iter()
        .map(|line| {
            let mut out = format!("{:<w$}", line[0], w = widths[0]);
            for (cell, w) in line.iter().zip(widths).skip(1) {
                out.push_str(&format!("  {cell:>w$}"));
            }
            out.trim_end().to_string()
        })
        .collect()
}

fn print_table(rows: &[Row]) {
    println!(
        "ratio = twinloop speed / tokio speed (> 1: twinloop faster); \
         cpu ratio = tokio CPU time / twinloop CPU time for the same work (> 1: twinloop used less)"
    );
    for line in table_lines(rows) {
        println!("{line}");
    }
}

fn describe(plan: &Plan) {
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let [(small, small_rounds), (large, large_rounds)] = plan.echo;
    let lines = [
        format!(
            "what runs ({cores} cores): every loop single-threaded (tokio = current-thread \
             runtime), each case in its own process"
        ),
        format!(
            "  callbacks chain  {} callbacks, each scheduling the next",
            plan.callbacks
        ),
        "                   twinloop: call_soon from the callback; tokio: each spawn_local \
         task (LocalSet) spawns the next"
            .into(),
        format!(
            "  callbacks batch  {} scheduled up front, then run",
            plan.callbacks
        ),
        "                   twinloop: call_soon; tokio: spawn_local (LocalSet)".into(),
        format!(
            "  timers           {} at pseudo-random delays in 0..100 ms from one start, every \
             other one cancelled once all are pending",
            plan.timers
        ),
        "                   twinloop: call_at + TimerHandle::cancel; tokio: tasks awaiting \
         sleep_until + JoinHandle::abort"
            .into(),
        "                   wall: until the last kept timer fired (~100 ms whatever the loop)"
            .into(),
        format!(
            "  tcp_echo         {} connections at once, each sending S bytes and awaiting their \
             echo, R times ({} KiB x {small_rounds}, {} KiB x {large_rounds})",
            plan.conns,
            small / 1024,
            large / 1024
        ),
        "                   server rows: one tokio client (echo_peer) for every server; twinloop \
         = examples/echo_server,"
            .into(),
        "                   tokio = echo_peer server, wasm guest = examples/echo_server.wasm in \
         twinloop-host; cpu: the server's"
            .into(),
        "                   client row: echo_peer client --rt twinloop vs --rt tokio against the \
         tokio server; cpu: the client's"
            .into(),
    ];
    for line in lines {
        println!("{line}");
    }
}

// ---- loop cases ----

fn loop_cases(plan: &Plan, table: &mut Vec<Row>, failures: &mut Vec<String>) {
    let cases = [
        ("callbacks_chain", plan.callbacks),
        ("callbacks_batch", plan.callbacks),
        ("timers", plan.timers),
    ];
    for (case, n) in cases {
        let mut measured = [None, None];
        for (slot, rt) in measured.iter_mut().zip(["twinloop", "tokio"]) {
            let mut cmd = Command::new(bench_bin("bench_loop"));
            cmd.args([case, "--rt", rt, "--n"])
                .arg(n.to_string())
                .arg("--repeat")
                .arg(plan.loop_repeat.to_string());
            match measure(&mut cmd) {
                Ok(result) => *slot = Some(result),
                Err(e) => failures.push(format!("{case} ({rt}): {e}")),
            }
        }
        let [tw, tk] = measured;
        let field = |r: &Option<Fields>, key: &str| r.as_ref().and_then(|r| r.number(key));
        let cpu = field(&tw, "cpu_secs").zip(field(&tk, "cpu_secs"));
        let rate = |r: &Option<Fields>| field(r, "secs").map(|s| n as f64 / s);
        let label = count_label(n);
        if case == "timers" {
            table.push(Row {
                case: format!("timers {label}, half cancelled: wall"),
                kind: Kind::Time,
                twinloop: field(&tw, "secs"),
                tokio: field(&tk, "secs"),
                cpu,
            });
            table.push(Row {
                case: "timers: schedule all + cancel half".into(),
                kind: Kind::Time,
                twinloop: field(&tw, "setup_secs"),
                tokio: field(&tk, "setup_secs"),
                cpu: None,
            });
            table.push(Row {
                case: "timers: wall past the last deadline".into(),
                kind: Kind::Time,
                twinloop: field(&tw, "late_secs"),
                tokio: field(&tk, "late_secs"),
                cpu: None,
            });
        } else {
            let variant = case.trim_start_matches("callbacks_");
            table.push(Row {
                case: format!("callbacks {label} {variant}"),
                kind: Kind::Rate {
                    scale: 1e6,
                    unit: "M/s",
                },
                twinloop: rate(&tw),
                tokio: rate(&tk),
                cpu,
            });
        }
    }
}

fn count_label(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

// ---- echo cases ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    Twinloop,
    Tokio,
    Guest,
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
}

impl EchoSample {
    fn median(samples: &[EchoSample]) -> EchoSample {
        let m = |f: fn(&EchoSample) -> f64| median_f64(samples.iter().map(f).collect());
        EchoSample {
            mbps: m(|s| s.mbps),
            rtps: m(|s| s.rtps),
            server_cpu: m(|s| s.server_cpu),
            client_cpu: m(|s| s.client_cpu),
        }
    }
}

/// Starts the servers, runs the clients (interleaved, `echo_repeat` times) and adds the
/// rows. Returns a note when the guest is unavailable.
fn echo_cases(
    plan: &Plan,
    guest: Result<PathBuf, String>,
    table: &mut Vec<Row>,
    failures: &mut Vec<String>,
) -> Option<String> {
    let mut tokio_cmd = Command::new(bench_bin("echo_peer"));
    tokio_cmd.args(["server", "--rt", "tokio", "127.0.0.1:0"]);
    let mut twinloop_cmd = Command::new(native_echo_server());
    twinloop_cmd.arg("127.0.0.1:0");
    let mut servers: Vec<(Server, Background)> = Vec::new();
    for (server, cmd) in [
        (Server::Tokio, &mut tokio_cmd),
        (Server::Twinloop, &mut twinloop_cmd),
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
        if guest_ran {
            let guest = get(size, EchoRun::Server(Server::Guest));
            push(format!("{label}: server in wasm guest"), guest, |s| {
                s.server_cpu
            });
        }
        let client = get(size, EchoRun::TwinloopClient);
        push(format!("{label}: client"), client, |s| s.client_cpu);
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
fn listening_address(line: &str) -> Option<&str> {
    let addr = line.trim().strip_prefix("listening on ")?.trim();
    let (host, port) = addr.rsplit_once(':')?;
    (!host.is_empty() && port.parse::<u16>().is_ok()).then_some(addr)
}

// ---- running a measuring program ----

/// The `key=value` fields of a `result ...` line.
#[derive(Debug, Default, PartialEq)]
struct Fields(Vec<(String, String)>);

impl Fields {
    /// The last `result ` line of some output.
    fn from_output(out: &str) -> Option<Fields> {
        let line = out
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("result "))?;
        Some(Fields(
            line.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn number(&self, key: &str) -> Option<f64> {
        self.get(key)?.parse().ok().filter(|v: &f64| v.is_finite())
    }
}

/// Runs one measuring program (stderr shown) and parses its `result` line.
fn measure(cmd: &mut Command) -> Result<Fields, String> {
    cmd.current_dir(workspace_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let shown = process::describe(cmd);
    println!("$ {shown}");
    process::flush();
    let mut child = cmd.spawn().map_err(|e| format!("could not start: {e}"))?;
    let mut stdout = child.stdout.take().expect("stdout was piped");
    let reader = thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let status = process::wait_with_timeout(&mut child, RUN_LIMIT)
        .map_err(|e| format!("waiting for it: {e}"))?;
    let out = reader.join().unwrap_or_default();
    print!("{}", indent(&out));
    match status {
        None => Err(format!("still running after {RUN_LIMIT:?}; killed")),
        Some(status) if !status.success() => Err(format!("exited with {status}")),
        Some(_) => Fields::from_output(&out).ok_or_else(|| "printed no `result` line".into()),
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

/// CPU seconds (user + system, all threads) a process has used, from `/proc` (Linux);
/// `None` elsewhere.
fn process_cpu(pid: u32) -> Option<f64> {
    let stat =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat")).ok()?;
    cpu_from_stat(&stat, clock_ticks())
}

/// `utime + stime` of a `/proc/PID/stat` line, in seconds. The command name (field 2)
/// may contain spaces and parentheses, so fields are counted after its last `)`.
fn cpu_from_stat(stat: &str, ticks_per_sec: f64) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks_per_sec)
}

fn clock_ticks() -> f64 {
    use std::sync::OnceLock;
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        process::output_of("getconf", &["CLK_TCK"])
            .and_then(|s| s.trim().parse().ok())
            .filter(|t: &f64| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// The median of the finite values (the mean of the middle two for an even count);
/// NaN if there are none.
fn median_f64(mut values: Vec<f64>) -> f64 {
    values.retain(|v| v.is_finite());
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines_are_parsed() {
        let out =
            "warming up\nresult case=tcp_echo client_rt=tokio secs=0.5 rtps=100000.0 mbps=x\n";
        let fields = Fields::from_output(out).unwrap();
        assert_eq!(fields.get("case"), Some("tcp_echo"));
        assert_eq!(fields.number("secs"), Some(0.5));
        assert_eq!(fields.number("rtps"), Some(100000.0));
        assert_eq!(fields.number("mbps"), None);
        assert_eq!(fields.number("absent"), None);
        assert_eq!(Fields::from_output("no result here\n"), None);
        let last = Fields::from_output("result a=1\nresult a=2\n").unwrap();
        assert_eq!(last.number("a"), Some(2.0));
    }

    #[test]
    fn proc_stat_gives_cpu_seconds() {
        let stat = "4242 (echo server (x)) S 1 4242 4242 0 -1 4194304 100 0 0 0 \
                    150 50 0 0 20 0 3 0 1000 0 0";
        assert_eq!(cpu_from_stat(stat, 100.0), Some(2.0));
        assert_eq!(cpu_from_stat("garbage", 100.0), None);
        // Our own process: whatever it is, it is a number.
        #[cfg(target_os = "linux")]
        assert!(process_cpu(std::process::id()).is_some());
    }

    #[test]
    fn ratios_say_how_much_faster_twinloop_is() {
        let rate = Kind::Rate {
            scale: 1e6,
            unit: "M/s",
        };
        assert_eq!(rate.ratio(2e6, 1e6), Some(2.0));
        assert_eq!(Kind::Time.ratio(0.5, 1.0), Some(2.0));
        assert_eq!(Kind::Time.ratio(0.0, 1.0), None);
        assert_eq!(rate.show(Some(2.5e6)), "2.50 M/s");
        assert_eq!(Kind::Time.show(Some(0.1234)), "123.4 ms");
        assert_eq!(Kind::Time.show(None), "failed");
    }

    #[test]
    fn table_is_aligned() {
        let rows = [
            Row {
                case: "callbacks 1M chain".into(),
                kind: Kind::Rate {
                    scale: 1e6,
                    unit: "M/s",
                },
                twinloop: Some(3e6),
                tokio: Some(4e6),
                cpu: Some((1.0, 0.5)),
            },
            Row {
                case: "timers".into(),
                kind: Kind::Time,
                twinloop: Some(0.1),
                tokio: None,
                cpu: None,
            },
        ];
        let lines = table_lines(&rows);
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("case "));
        assert!(
            lines[1].ends_with("3.00 M/s  4.00 M/s   0.75       0.50"),
            "{}",
            lines[1]
        );
        assert!(lines[2].contains("failed") && lines[2].ends_with('-'));
    }

    #[test]
    fn medians_and_labels() {
        assert_eq!(median_f64(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_f64(vec![4.0, 1.0, f64::NAN, 2.0, 3.0]), 2.5);
        assert!(median_f64(vec![f64::NAN]).is_nan());
        assert_eq!(count_label(1_000_000), "1M");
        assert_eq!(count_label(100_000), "100k");
        assert_eq!(count_label(1500), "1500");
        assert_eq!(
            listening_address("listening on 127.0.0.1:4000\n"),
            Some("127.0.0.1:4000")
        );
        assert_eq!(listening_address("ready"), None);
    }

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

    #[cfg(unix)]
    #[test]
    fn measure_needs_a_result_line_and_success() {
        let mut ok = Command::new("sh");
        ok.args(["-c", "echo result secs=1.5"]);
        assert_eq!(measure(&mut ok).unwrap().number("secs"), Some(1.5));
        let mut silent = Command::new("true");
        assert!(measure(&mut silent)
            .unwrap_err()
            .contains("no `result` line"));
        let mut fails = Command::new("sh");
        fails.args(["-c", "echo result secs=1; exit 1"]);
        assert!(measure(&mut fails).unwrap_err().contains("exited with"));
    }
}
