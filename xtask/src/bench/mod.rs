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
//! Beside twinloop's guest, in the same host, runs `bench/wstd-echo` (wstd's echo server,
//! the WASI 0.2 reactor the guest is compared with); where it cannot be built or run,
//! a note says why and its rows are left out.
//!
//! The echo matrix follows uvloop's method: C connections each sending S bytes and
//! awaiting the whole echo (`EchoCase`; the full plan: 1, 10 and 100 KiB at 100
//! connections, 1 KiB also at 1 and 1000).
//!
//! The echo matrix also runs asyncio's and uvloop's echo servers
//! (`bench/probes/asyncio_echo.py`, `python`), where python3 (with uvloop) is installed,
//! and every echo row has the client's p50/p99 round trip. `idle` measures memory per
//! idle connection and the CPU of an idle server.
//!
//! `programs` builds what is measured, `loops`, `echo` and `idle` measure it (through
//! `measure`, which runs one measuring process and reads its `result` line, and
//! `servers`, which runs the servers in the background), and `table` shows the rows.

mod counts;
mod echo;
mod idle;
mod json;
mod loops;
mod measure;
mod programs;
mod python;
pub(crate) use python::setup_uvloop;
mod servers;
mod table;

use std::thread;
use std::time::Instant;

use crate::process;

pub const USAGE: &str = "cargo xtask bench [--quick] [--no-guest]";

/// One configuration of the echo matrix, uvloop's method: a load client keeps `conns`
/// connections, each sending `size` bytes and awaiting the whole echo, `rounds` times.
#[derive(Clone, Copy, Debug, PartialEq)]
struct EchoCase {
    conns: u32,
    /// Payload bytes per message.
    size: u32,
    /// Round trips per connection.
    rounds: u32,
    /// Round trips per connection against the slow servers, asyncio, uvloop and the
    /// wstd guest (fewer in the full plan: they can be several times slower; wstd's
    /// guest at 1000 connections ~10x).
    slow_rounds: u32,
    /// Whether the TLS servers (`tls_echo`) run in this configuration too.
    tls: bool,
}

impl EchoCase {
    /// `tcp_echo 10 KiB x100`: the case's name in the table.
    fn label(&self) -> String {
        format!("tcp_echo {} x{}", size_label(self.size), self.conns)
    }
}

/// `1 KiB`, `100 KiB`, `300 B`.
fn size_label(size: u32) -> String {
    if size.is_multiple_of(1024) {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// The sizes of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Plan {
    callbacks: u64,
    timers: u64,
    /// Repetitions inside `bench_loop` (it reports the median).
    loop_repeat: u32,
    /// The echo matrix, in the order it is measured and shown.
    echo: &'static [EchoCase],
    /// Client runs per echo configuration (the median is shown).
    echo_repeat: u32,
    /// Connections of the counted echo runs (instructions, system calls).
    count_conns: [u32; 2],
    /// Round trips per connection of the two counted runs (their difference is counted).
    count_rounds: (u32, u32),
    /// Idle connections opened to measure memory per connection and idle CPU.
    idle_conns: u32,
}

/// A configuration of the echo matrix (`EchoCase`), its fields in order.
const fn case(conns: u32, size: u32, rounds: u32, slow_rounds: u32, tls: bool) -> EchoCase {
    EchoCase {
        conns,
        size,
        rounds,
        slow_rounds,
        tls,
    }
}

const KIB: u32 = 1024;

/// uvloop's sizes (1, 10, 100 KiB) at 100 connections, and 1 KiB also at 1 and 1000
/// connections: five of the 3x3 matrix (the whole command ~17 minutes on 2 cores; all
/// nine ~23). Rounds are chosen so that one run of a fast server takes 1-2 s; TLS only
/// at 100 connections.
const FULL_ECHO: [EchoCase; 5] = [
    case(1, KIB, 10_000, 2_500, false),
    case(100, KIB, 2_000, 500, true),
    case(1000, KIB, 200, 20, false),
    case(100, 10 * KIB, 1_000, 250, true),
    case(100, 100 * KIB, 300, 75, true),
];

/// A smoke run: each kind of case once, small.
const QUICK_ECHO: [EchoCase; 3] = [
    case(1, KIB, 500, 500, false),
    case(10, KIB, 200, 200, true),
    case(10, 100 * KIB, 20, 20, true),
];

const FULL: Plan = Plan {
    callbacks: 1_000_000,
    timers: 100_000,
    loop_repeat: 5,
    echo: &FULL_ECHO,
    echo_repeat: 5,
    count_conns: [1, 100],
    count_rounds: (100, 600),
    idle_conns: 1000,
};

const QUICK: Plan = Plan {
    callbacks: 100_000,
    timers: 10_000,
    loop_repeat: 1,
    echo: &QUICK_ECHO,
    echo_repeat: 1,
    count_conns: [1, 10],
    count_rounds: (20, 60),
    idle_conns: 200,
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

    if !programs::build_native() {
        println!("bench: FAILED: the benchmark programs did not build");
        return false;
    }
    let guest = if guest {
        programs::build_guest()
    } else {
        Err("--no-guest".to_string())
    };
    // wstd's echo runs in the host that `build_guest` built.
    let wstd = match &guest {
        Ok(_) => programs::build_wstd_guest(),
        Err(e) => Err(format!("no twinloop guest to run beside ({e})")),
    };

    println!();
    println!(
        "==> measure ({})",
        if plan == QUICK { "quick" } else { "full" }
    );
    let mut table = Vec::new();
    let mut failures = Vec::new();
    let mut micro = Vec::new();
    let mut records = Vec::new();
    let mut notes = Vec::new();
    loops::loop_cases(&plan, &mut table, &mut micro, &mut failures);
    let guest_module = guest.as_ref().ok().cloned();
    let wstd_module = wstd.as_ref().ok().cloned();
    let guest_note = echo::echo_cases(
        &plan,
        guest,
        wstd,
        &mut table,
        &mut records,
        &mut notes,
        &mut failures,
    );
    let wstd_ran = records.iter().any(|r| r.server == "wstd-guest");
    let counted = counted_servers(
        guest_module.filter(|_| guest_note.is_none()),
        wstd_module.filter(|_| wstd_ran),
    );
    let idle = idle::idle_cases(&plan, &mut micro, &mut notes, &mut failures);
    let counts = counts::count_all(&counted, &plan.count_conns, plan.count_rounds, &mut notes);

    println!();
    describe(&plan);
    println!();
    table::print_table(&table);
    for r in records.iter().filter(|r| r.events_per_turn.is_some()) {
        println!(
            "loop view ({}, {} x{}): {:.2} I/O events per turn",
            r.server,
            size_label(r.size),
            r.conns,
            r.events_per_turn.unwrap_or(f64::NAN)
        );
    }
    print_peers(&records);
    println!();
    idle::print_idle(&idle);
    print_counts(&counts);
    if let Some(note) = &guest_note {
        println!("guest: unavailable ({note})");
        notes.push(format!("guest: unavailable ({note})"));
    }
    for note in &notes {
        println!("note: {note}");
    }
    let mode = if plan == QUICK { "quick" } else { "full" };
    let report = json::report(mode, &records, &counts, &micro, &notes);
    let path = json::path();
    let written = serde_json::to_string_pretty(&report)
        .map_err(|e| e.to_string())
        .and_then(|text| std::fs::write(&path, text + "\n").map_err(|e| e.to_string()));
    match written {
        Ok(()) => println!("bench: figures written to {}", path.display()),
        Err(e) => failures.push(format!("writing {}: {e}", path.display())),
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

/// The servers whose instructions and system calls per message are counted (the guests:
/// system calls only).
fn counted_servers(
    guest: Option<std::path::PathBuf>,
    wstd: Option<std::path::PathBuf>,
) -> Vec<counts::Counted> {
    let server = programs::native_echo_server();
    let mode = |name: &'static str, mode: &str| counts::Counted {
        server: name,
        program: server.clone(),
        args: vec!["127.0.0.1:0".into(), "--mode".into(), mode.into()],
        syscalls_only: false,
    };
    let mut servers = vec![
        mode("twinloop-protocol", "protocol"),
        mode("twinloop-buffered", "buffered"),
        mode("twinloop-streams", "streams"),
        mode("twinloop-sock", "sock"),
        counts::Counted {
            server: "tokio",
            program: programs::bench_bin("echo_peer"),
            args: ["server", "--rt", "tokio", "127.0.0.1:0"]
                .map(String::from)
                .to_vec(),
            syscalls_only: false,
        },
        counts::Counted {
            server: "mio",
            program: programs::bench_bin("mio_echo"),
            args: vec!["127.0.0.1:0".into()],
            syscalls_only: false,
        },
    ];
    for (server, module) in [("twinloop-guest", guest), ("wstd-guest", wstd)] {
        let Some(module) = module else { continue };
        servers.push(counts::Counted {
            server,
            program: crate::process::host_binary(),
            args: vec![
                "run".into(),
                "--allow-net".into(),
                "127.0.0.1".into(),
                module.display().to_string(),
                "--".into(),
                "127.0.0.1:0".into(),
            ],
            syscalls_only: true,
        });
    }
    servers
}

/// twinloop's protocol server against the Python loops, and twinloop's guest against
/// wstd's in the same host (issue 11 asks >= 1.5x): message rates in each configuration.
fn print_peers(records: &[echo::EchoRecord]) {
    let rate = |server: &str, size: u32, conns: u32| {
        records
            .iter()
            .find(|r| r.server == server && r.size == size && r.conns == conns)
            .map(|r| r.msgs_per_s)
    };
    for (ours, peer) in [
        ("twinloop-protocol", "uvloop"),
        ("twinloop-protocol", "asyncio"),
        ("twinloop-guest", "wstd-guest"),
    ] {
        let ratios: Vec<String> = records
            .iter()
            .filter(|r| r.server == ours)
            .filter_map(|r| {
                let ratio = r.msgs_per_s / rate(peer, r.size, r.conns)?;
                ratio
                    .is_finite()
                    .then(|| format!("{} x{} {ratio:.2}", size_label(r.size), r.conns))
            })
            .collect();
        if !ratios.is_empty() {
            println!(
                "{ours} vs {peer} (messages/s, > 1: twinloop faster): {}",
                ratios.join(", ")
            );
        }
    }
}

/// The exact counts, one line per server and connection count.
fn print_counts(counts: &[counts::Count]) {
    println!("exact counts per echoed 1 KiB message (difference of two runs):");
    for c in counts {
        let show =
            |v: Option<f64>, digits: usize| v.map_or("-".to_string(), |v| format!("{v:.digits$}"));
        println!(
            "  {:<18} {:>3} conns: {:>6} instructions (user space), {:>5} system calls",
            c.server,
            c.conns,
            show(c.instr_per_msg, 0),
            show(c.syscalls_per_msg, 2)
        );
    }
}

/// What the rows measure, with this plan's sizes.
fn describe(plan: &Plan) {
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let shown = |rounds: fn(&EchoCase) -> u32| {
        plan.echo
            .iter()
            .map(|c| format!("{} x{}: R = {}", size_label(c.size), c.conns, rounds(c)))
            .collect::<Vec<_>>()
            .join(", ")
    };
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
            "  tasks            {} spawned up front, each done at its first poll",
            plan.callbacks
        ),
        "                   twinloop: create_task; tokio: spawn_local (LocalSet)".into(),
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
        "  tcp_echo         S bytes x C: C connections at once, each sending S bytes and \
         awaiting the whole echo, R times (uvloop's method)"
            .into(),
        format!("                   {}", shown(|c| c.rounds)),
        "                   server rows: one tokio client (echo_peer) for every server; twinloop \
         = examples/echo_server (protocol mode; streams mode: --mode streams),"
            .into(),
        "                   tokio = echo_peer server, wasm guest = examples/echo_server.wasm in \
         twinloop-host; cpu: the server's"
            .into(),
        "                   wstd in wasm guest = bench/wstd-echo (wstd's echo: a task per \
         connection, io::copy), the same host and flags"
            .into(),
        "                   client row: echo_peer client --rt twinloop vs --rt tokio against the \
         tokio server; cpu: the client's"
            .into(),
        "                   asyncio, uvloop = bench/probes/asyncio_echo.py [--uvloop] (a python3 \
         with uvloop, else skipped with a note)"
            .into(),
        if plan.echo.iter().any(|c| c.slow_rounds != c.rounds) {
            format!(
                "                   asyncio, uvloop and wstd in wasm guest run fewer round trips \
                 per connection (rates are per second):\n                   {}",
                shown(|c| c.slow_rounds)
            )
        } else {
            "                   asyncio, uvloop and wstd in wasm guest: the same round trips"
                .into()
        },
        format!(
            "                   {}",
            if servers::pinning() {
                "servers pinned to core 0, the client to core 1 (taskset); the runs alternate \
                 between the servers"
            } else {
                "not pinned (no taskset, or one core); the runs alternate between the servers"
            }
        ),
        "                   p50/p99: each message's round trip as the client saw it, median \
         over the runs of each run's percentile"
            .into(),
        "  tls_echo         the same over TLS 1.3 where a row shows it (handshakes before the \
         clock): echo_peer server --tls true, twinloop's ssl= vs tokio-rustls,"
            .into(),
        "                   one rustls config (examples/tls/certs.rs: ring, the example certificate); \
         the tokio echo_peer client --tls true for both"
            .into(),
        format!(
            "  idle             {} connections opened by echo_peer idle and left silent: the \
             server's VmRSS growth per connection, then its CPU over 2 s",
            plan.idle_conns
        ),
    ];
    for line in lines {
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    // Helpers from three of the submodules, tested together as before the split.
    use super::loops::count_label;
    use super::measure::median_f64;
    use crate::server::listening_address;

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

    #[test]
    fn the_full_plan_covers_uvloops_matrix() {
        use super::{size_label, FULL, KIB, QUICK};
        let has = |conns, size| FULL.echo.iter().any(|c| c.conns == conns && c.size == size);
        for size in [KIB, 10 * KIB, 100 * KIB] {
            assert!(has(100, size), "{size} B x100");
        }
        for conns in [1, 1000] {
            assert!(has(conns, KIB), "1 KiB x{conns}");
        }
        for plan in [FULL, QUICK] {
            for c in plan.echo {
                assert!(c.slow_rounds <= c.rounds && c.slow_rounds > 0, "{c:?}");
            }
        }
        assert_eq!(FULL.echo[3].label(), "tcp_echo 10 KiB x100");
        assert_eq!(size_label(300), "300 B");
    }
}
