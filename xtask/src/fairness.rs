//! The echo server under a blaster, natively and as a guest in `twinloop-host`: what the
//! suite cannot show in the guest, where a blasting peer would run on the server's own
//! loop and be paced by it. Here the peers are threads of this process, free of the
//! server's loop, as in `bench/probes/fairness.py`.
//!
//! - Fairness: while one connection writes as fast as loopback takes it (and reads its
//!   echo), 100-byte round trips on a second connection keep completing.
//! - Memory: a blaster that never reads its echo makes the server stop reading from it
//!   (flow control); the server process's peak resident memory grows by a bounded amount
//!   while the blaster offers far more than that, and round trips still complete.
//!
//! - Accept at the host's descriptor limit (guest only): `accept_limit.rs`.
//!
//! Bounds are generous (they catch starvation and runaway buffering, not speed); the
//! figures are printed for the record.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::demo::{example_command, Side};
use crate::process;
use crate::server;
use crate::toolchain::GuestChain;

/// How long to wait for a server to listen (compiling a guest included).
const START_LIMIT: Duration = Duration::from_secs(120);
/// One measuring window.
const WINDOW: Duration = Duration::from_secs(2);
/// Round trips that must complete in a window beside a blaster (a starved connection
/// makes one or none: the bug this guards against held one for 10.7 s).
const MIN_ROUND_TRIPS: usize = 10;
/// The slowest round trip allowed beside a blaster.
const MAX_LATENCY: Duration = Duration::from_secs(1);
/// How much the server's peak memory may grow while a blaster that never reads offers
/// at least `NOT_READ_OFFERED` bytes.
const MAX_GROWTH_KIB: u64 = 256 * 1024;
const BLAST_CHUNK: usize = 256 * 1024;

/// `cargo xtask fairness`: the check on its own (the host must be built: `setup` does).
pub fn run() -> bool {
    let chain = crate::toolchain::Detected::detect().guest();
    match check(chain) {
        Ok(()) => {
            println!("fairness: ok");
            true
        }
        Err(e) => {
            println!("fairness: FAILED: {e}");
            false
        }
    }
}

/// Builds `echo_server` natively and (with a tool chain) as a guest and checks each. `Err` says what failed; the figures
/// are printed either way.
pub fn check(chain: Option<GuestChain>) -> Result<(), String> {
    let mut cmd = process::cargo();
    cmd.args(["build", "-p", "twinloop", "--example", "echo_server"]);
    println!("$ {}", process::describe(&cmd));
    if !process::run_ok(&mut cmd) {
        return Err("echo_server did not build".into());
    }
    let mut sides = vec![Side::Native];
    if let Some(chain) = chain {
        let mut cmd = chain.cargo("build");
        cmd.args(["-p", "twinloop", "--example", "echo_server"]);
        println!("$ {}", process::describe(&cmd));
        if !process::run_ok(&mut cmd) {
            return Err("the echo_server guest did not build".into());
        }
        sides.push(Side::Guest);
    }
    let mut failures = Vec::new();
    for side in sides {
        let checked = check_side(side).and_then(|()| match side {
            Side::Guest => crate::accept_limit::check(),
            Side::Native => Ok(()),
        });
        if let Err(e) = checked {
            println!("{}: {e}", side.label());
            failures.push(format!("{}: {e}", side.label()));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

fn check_side(side: Side) -> Result<(), String> {
    let mut cmd = example_command(side, "echo_server", &["127.0.0.1:0"], Some("127.0.0.1"));
    cmd.stderr(Stdio::inherit());
    let server = server::start(&mut cmd, START_LIMIT, None)?;
    let (addr, pid) = (server.addr.clone(), server.child.id());

    let alone = round_trips(&addr, WINDOW)?;
    println!("{}: alone: {}", side.label(), alone.summary());

    let blaster = Blaster::start(&addr, true)?;
    thread::sleep(Duration::from_millis(300));
    let beside = round_trips(&addr, WINDOW)?;
    let blasted = blaster.stop();
    println!(
        "{}: beside a blaster ({} MiB written): {}",
        side.label(),
        blasted >> 20,
        beside.summary()
    );
    beside.within_bounds("beside a blaster")?;

    let before = peak_kib(pid);
    let sender = Blaster::start(&addr, false)?;
    thread::sleep(Duration::from_millis(300));
    let beside_sender = round_trips(&addr, WINDOW)?;
    let offered = sender.stop();
    let after = peak_kib(pid);
    let growth = match (before, after) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b)),
        _ => None,
    };
    println!(
        "{}: beside a blaster that never reads ({} MiB taken by the kernel and the \
         server): {}; server peak memory {} KiB -> {} KiB",
        side.label(),
        offered >> 20,
        beside_sender.summary(),
        before.map_or("?".into(), |k| k.to_string()),
        after.map_or("?".into(), |k| k.to_string()),
    );
    beside_sender.within_bounds("beside a blaster that never reads")?;
    if let Some(growth) = growth {
        if growth > MAX_GROWTH_KIB {
            return Err(format!(
                "the server's peak memory grew by {growth} KiB beside a blaster that never \
                 reads (bound {MAX_GROWTH_KIB} KiB): flow control did not hold"
            ));
        }
    }
    drop(server);
    Ok(())
}

/// A process's peak resident memory (`VmHWM`), where /proc has it.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

struct RoundTrips {
    count: usize,
    max: Duration,
    median: Duration,
}

impl RoundTrips {
    fn summary(&self) -> String {
        format!(
            "{} round trips of 100 bytes in {WINDOW:?}, median {:?}, max {:?}",
            self.count, self.median, self.max
        )
    }

    fn within_bounds(&self, when: &str) -> Result<(), String> {
        if self.count < MIN_ROUND_TRIPS || self.max > MAX_LATENCY {
            return Err(format!(
                "{when}: {} (bounds: at least {MIN_ROUND_TRIPS}, none slower than \
                 {MAX_LATENCY:?}): a busy connection starves the others",
                self.summary()
            ));
        }
        Ok(())
    }
}

/// 100-byte round trips on a fresh connection for `window`.
fn round_trips(addr: &str, window: Duration) -> Result<RoundTrips, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let msg = [b'r'; 100];
    let mut answer = [0u8; 100];
    let mut latencies = Vec::new();
    let end = Instant::now() + window;
    while Instant::now() < end {
        let t0 = Instant::now();
        s.write_all(&msg)
            .and_then(|()| s.read_exact(&mut answer))
            .map_err(|e| format!("a round trip failed after {:?}: {e}", t0.elapsed()))?;
        latencies.push(t0.elapsed());
    }
    latencies.sort();
    Ok(RoundTrips {
        count: latencies.len(),
        max: latencies.last().copied().unwrap_or_default(),
        median: latencies
            .get(latencies.len() / 2)
            .copied()
            .unwrap_or_default(),
    })
}

/// Writes 256 KiB chunks as fast as the connection takes them; with `read`, reads and
/// drops the echo, else never reads.
struct Blaster {
    stop: Arc<AtomicBool>,
    written: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl Blaster {
    fn start(addr: &str, read: bool) -> Result<Blaster, String> {
        let stream = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
        for timeout in [
            stream.set_read_timeout(Some(Duration::from_millis(200))),
            stream.set_write_timeout(Some(Duration::from_millis(200))),
        ] {
            timeout.map_err(|e| e.to_string())?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
        let (s, w) = (stop.clone(), written.clone());
        threads.push(thread::spawn(move || {
            let chunk = vec![0x5a; BLAST_CHUNK];
            while !s.load(Ordering::Relaxed) {
                match writer.write(&chunk) {
                    Ok(n) => {
                        w.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => break,
                }
            }
        }));
        if read {
            let mut reader = stream;
            let s = stop.clone();
            threads.push(thread::spawn(move || {
                let mut buf = vec![0; BLAST_CHUNK];
                while !s.load(Ordering::Relaxed) {
                    match reader.read(&mut buf) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e)
                            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                        Err(_) => break,
                    }
                }
            }));
        }
        Ok(Blaster {
            stop,
            written,
            threads,
        })
    }

    /// Stops the threads (the connection closes with them); the bytes written.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        self.written.load(Ordering::Relaxed)
    }
}
