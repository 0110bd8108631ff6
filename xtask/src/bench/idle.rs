//! Idle connections: what a server keeps per open, silent connection (VmRSS before and
//! after `echo_peer idle` opens N of them, divided by N) and the CPU it uses while they
//! stay silent (utime + stime over a few seconds: an event loop with nothing to do
//! should sleep in the poll and use none). Linux only (`/proc`); elsewhere the figures
//! are missing.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::loops::MicroRecord;
use super::measure::process_cpu;
use super::programs::{bench_bin, native_echo_server};
use super::servers::start_server;
use super::Plan;
use crate::process::{self, workspace_root};

/// How long the idle CPU is measured.
const IDLE_WINDOW: Duration = Duration::from_secs(2);
/// How long the client may take to open its connections.
const READY_LIMIT: Duration = Duration::from_secs(60);

/// One server's figures with `conns` idle connections.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Idle {
    pub(super) server: &'static str,
    pub(super) conns: u32,
    /// (VmRSS with the connections - VmRSS before) / conns.
    pub(super) bytes_per_conn: Option<f64>,
    /// CPU ms per second of wall time while they are silent.
    pub(super) cpu_ms_per_s: Option<f64>,
}

/// Measures twinloop's protocol server, tokio's and the bare mio loop, and adds the
/// micro rows `idle_bytes_per_conn` and `idle_cpu_ms_per_s` (twinloop against tokio,
/// then against mio; `notes` says how many connections).
pub(super) fn idle_cases(
    plan: &Plan,
    micro: &mut Vec<MicroRecord>,
    notes: &mut Vec<String>,
    failures: &mut Vec<String>,
) -> Vec<Idle> {
    notes.push(format!(
        "idle_bytes_per_conn, idle_cpu_ms_per_s: {} idle connections (VmRSS growth / \
         connections; utime + stime over {IDLE_WINDOW:?})",
        plan.idle_conns
    ));
    let mut twinloop = Command::new(native_echo_server());
    twinloop.args(["127.0.0.1:0", "--mode", "protocol"]);
    let mut tokio = Command::new(bench_bin("echo_peer"));
    tokio.args(["server", "--rt", "tokio", "127.0.0.1:0"]);
    let mut mio = Command::new(bench_bin("mio_echo"));
    mio.arg("127.0.0.1:0");
    let mut measured = Vec::new();
    for (server, cmd) in [
        ("twinloop-protocol", &mut twinloop),
        ("tokio", &mut tokio),
        ("mio", &mut mio),
    ] {
        match idle_server(cmd, plan.idle_conns) {
            Ok((bytes, cpu)) => measured.push(Idle {
                server,
                conns: plan.idle_conns,
                bytes_per_conn: bytes,
                cpu_ms_per_s: cpu,
            }),
            Err(e) => failures.push(format!("idle connections, {server}: {e}")),
        }
    }
    let find = |name: &str| measured.iter().find(|m| m.server == name);
    if let Some(tw) = find("twinloop-protocol") {
        for peer in ["tokio", "mio"].into_iter().filter_map(find) {
            // vs_peer > 1: twinloop keeps less per connection, or uses less CPU.
            let vs = |a: Option<f64>, b: Option<f64>| {
                a.zip(b)
                    .map(|(a, b)| b / a)
                    .filter(|r| r.is_finite() && *r > 0.0)
            };
            micro.push(MicroRecord {
                name: "idle_bytes_per_conn".into(),
                value: tw.bytes_per_conn,
                unit: "bytes",
                peer: peer.server,
                peer_value: peer.bytes_per_conn,
                vs_peer: vs(tw.bytes_per_conn, peer.bytes_per_conn),
            });
            micro.push(MicroRecord {
                name: "idle_cpu_ms_per_s".into(),
                value: tw.cpu_ms_per_s,
                unit: "ms/s",
                peer: peer.server,
                peer_value: peer.cpu_ms_per_s,
                vs_peer: vs(tw.cpu_ms_per_s, peer.cpu_ms_per_s),
            });
        }
    }
    measured
}

/// Starts a server, opens `conns` idle connections to it and measures it; returns
/// (bytes per connection, CPU ms per s).
fn idle_server(cmd: &mut Command, conns: u32) -> Result<(Option<f64>, Option<f64>), String> {
    let server = start_server(cmd)?;
    let pid = server.child.id();
    let before = settled_rss(pid);
    let mut client = Command::new(bench_bin("echo_peer"));
    client
        .args(["idle", &server.addr, "--conns", &conns.to_string()])
        .current_dir(workspace_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    println!("$ {}", process::describe(&client));
    process::flush();
    let mut child = client.spawn().map_err(|e| format!("idle client: {e}"))?;
    let stdout = child.stdout.take().expect("stdout was piped");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let ready = rx.recv_timeout(READY_LIMIT);
    let outcome = match ready {
        Ok(line) if line.starts_with("ready") => {
            println!("    {line}");
            let after = settled_rss(pid);
            let bytes = before
                .zip(after)
                .map(|(b, a)| (a as f64 - b as f64) / f64::from(conns));
            let start = Instant::now();
            let cpu_before = process_cpu(pid);
            thread::sleep(IDLE_WINDOW);
            let cpu = cpu_before
                .zip(process_cpu(pid))
                .map(|(b, a)| (a - b).max(0.0) * 1e3 / start.elapsed().as_secs_f64());
            Ok((bytes, cpu))
        }
        Ok(line) => Err(format!("idle client said {line:?}, not `ready`")),
        Err(_) => Err(format!(
            "the idle client was not ready within {READY_LIMIT:?}"
        )),
    };
    // Closing its stdin ends the client, and with it the connections.
    drop(child.stdin.take());
    if process::wait_with_timeout(&mut child, Duration::from_secs(10)).is_err() {
        let _ = child.kill();
    }
    let _ = child.kill();
    let _ = child.wait();
    outcome
}

/// The process's VmRSS in bytes once two reads 100 ms apart agree (at most 3 s).
fn settled_rss(pid: u32) -> Option<u64> {
    let mut last = vm_rss(pid)?;
    for _ in 0..30 {
        thread::sleep(Duration::from_millis(100));
        let now = vm_rss(pid)?;
        if now == last {
            break;
        }
        last = now;
    }
    Some(last)
}

fn vm_rss(pid: u32) -> Option<u64> {
    let status =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status")).ok()?;
    rss_from_status(&status)
}

/// `VmRSS:   51804 kB` of a `/proc/PID/status`, in bytes.
fn rss_from_status(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kb: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kb * 1024)
}

/// One line per server.
pub(super) fn print_idle(idle: &[Idle]) {
    if idle.is_empty() {
        return;
    }
    println!(
        "idle connections (open, silent; memory = VmRSS growth / connections, CPU over {:?}):",
        IDLE_WINDOW
    );
    let show = |v: Option<f64>, digits: usize| v.map_or("-".into(), |v| format!("{v:.digits$}"));
    for i in idle {
        println!(
            "  {:<18} {:>5} conns: {:>8} bytes per connection, {:>6} ms CPU per s",
            i.server,
            i.conns,
            show(i.bytes_per_conn, 0),
            show(i.cpu_ms_per_s, 2)
        );
    }
    println!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\techo\nVmPeak:\t  9000 kB\nVmRSS:\t   51804 kB\nThreads:\t1\n";
        assert_eq!(rss_from_status(status), Some(51804 * 1024));
        assert_eq!(rss_from_status("Name:\tx\n"), None);
        #[cfg(target_os = "linux")]
        assert!(vm_rss(std::process::id()).is_some());
    }
}
