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
    /// Round trips per connection against asyncio and uvloop, for each `echo` size
    /// (fewer in the full plan: they are several times slower).
    python_rounds: [u32; 2],
    /// Client runs per echo configuration (the median is shown).
    echo_repeat: u32,
    /// Connections of the counted echo runs (instructions, system calls).
    count_conns: [u32; 2],
    /// Round trips per connection of the two counted runs (their difference is counted).
    count_rounds: (u32, u32),
    /// Idle connections opened to measure memory per connection and idle CPU.
    idle_conns: u32,
}

const FULL: Plan = Plan {
    callbacks: 1_000_000,
    timers: 100_000,
    loop_repeat: 5,
    conns: 100,
    echo: [(1024, 2000), (64 * 1024, 500)],
    python_rounds: [500, 125],
    echo_repeat: 5,
    count_conns: [1, 100],
    count_rounds: (100, 600),
    idle_conns: 1000,
};

const QUICK: Plan = Plan {
    callbacks: 100_000,
    timers: 10_000,
    loop_repeat: 1,
    conns: 10,
    echo: [(1024, 200), (64 * 1024, 20)],
    python_rounds: [200, 20],
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
    let guest_note = echo::echo_cases(
        &plan,
        guest,
        &mut table,
        &mut records,
        &mut notes,
        &mut failures,
    );
    let counted = counted_servers(guest_module.filter(|_| guest_note.is_none()));
    let idle = idle::idle_cases(&plan, &mut micro, &mut notes, &mut failures);
    let counts = counts::count_all(&counted, &plan.count_conns, plan.count_rounds, &mut notes);
    notes.push("not measured here: a wstd guest".into());

    println!();
    describe(&plan);
    println!();
    table::print_table(&table);
    for r in records.iter().filter(|r| r.events_per_turn.is_some()) {
        println!(
            "loop view ({}, {} B x {}): {:.2} I/O events per turn",
            r.server,
            r.size,
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

/// The servers whose instructions and system calls per message are counted.
fn counted_servers(guest: Option<std::path::PathBuf>) -> Vec<counts::Counted> {
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
    if let Some(module) = guest {
        servers.push(counts::Counted {
            server: "twinloop-guest",
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

/// twinloop's protocol server against the Python loops, message rates at each size.
fn print_peers(records: &[echo::EchoRecord]) {
    let rate = |server: &str, size: u32| {
        records
            .iter()
            .find(|r| r.server == server && r.size == size)
            .map(|r| r.msgs_per_s)
    };
    for peer in ["uvloop", "asyncio"] {
        let ratios: Vec<String> = records
            .iter()
            .filter(|r| r.server == "twinloop-protocol")
            .filter_map(|r| {
                let ratio = r.msgs_per_s / rate(peer, r.size)?;
                ratio
                    .is_finite()
                    .then(|| format!("{} KiB {ratio:.2}", r.size / 1024))
            })
            .collect();
        if !ratios.is_empty() {
            println!(
                "twinloop-protocol vs {peer} (messages/s, > 1: twinloop faster): {}",
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
         = examples/echo_server (protocol mode; streams mode: --mode streams),"
            .into(),
        "                   tokio = echo_peer server, wasm guest = examples/echo_server.wasm in \
         twinloop-host; cpu: the server's"
            .into(),
        "                   client row: echo_peer client --rt twinloop vs --rt tokio against the \
         tokio server; cpu: the client's"
            .into(),
        format!(
            "                   asyncio, uvloop = bench/probes/asyncio_echo.py [--uvloop] (a python3 \
             with uvloop, else skipped with a note), {} and {} round trips per connection",
            plan.python_rounds[0], plan.python_rounds[1]
        ),
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
        "  tls_echo         the same over TLS 1.3 (handshakes before the clock): echo_peer server \
         --tls true, twinloop's ssl= vs tokio-rustls,"
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
    use super::servers::listening_address;

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
}
