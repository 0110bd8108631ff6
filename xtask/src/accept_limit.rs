//! The guest echo server at the host's file-descriptor limit: `twinloop-host` started
//! with `ulimit -n 64`, then 100 clients at once. Accepting fails once the host is out of
//! descriptors; the guest must pause accepting (asyncio's one-second retry) instead of
//! trying again at once, forever, and serve the waiting clients once descriptors are
//! free. The native side of this is `wasm-tests/tests/tcp_accept_limits.rs`; the guest
//! has no rlimits of its own, so it is checked from outside.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::demo::guest_example;
use crate::process::host_binary;
use crate::server;

const FD_LIMIT: u32 = 64;
const CLIENTS: usize = 100;
/// How long the host may take to say where it listens (compiling the guest included).
const START_LIMIT: Duration = Duration::from_secs(120);
/// How long the host is watched while at the limit.
const AT_LIMIT: Duration = Duration::from_secs(2);
/// CPU the host may use meanwhile: a guest retrying at once burns the whole window.
const MAX_CPU: Duration = Duration::from_millis(500);
/// How long the waiting clients may wait once descriptors are free (one retry is 1 s).
const SERVE_LIMIT: Duration = Duration::from_secs(10);

/// Runs the check against the debug `echo_server` guest (built by the caller).
pub fn check() -> Result<(), String> {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &format!("ulimit -n {FD_LIMIT} && exec \"$@\""), "sh"])
        .arg(host_binary())
        .args(["run", "--allow-net", "127.0.0.1"])
        .arg(guest_example("echo_server", false))
        .args(["--", "127.0.0.1:0"]);
    let server = server::start(&mut cmd, START_LIMIT, None)?;
    let (addr, pid) = (server.addr.as_str(), server.child.id());

    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let mut c = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
        c.write_all(b"x").map_err(|e| e.to_string())?;
        c.set_nonblocking(true).map_err(|e| e.to_string())?;
        clients.push(c);
    }
    thread::sleep(Duration::from_millis(500));
    let cpu_before = cpu_time(pid)?;
    thread::sleep(AT_LIMIT);
    let cpu = cpu_time(pid)?.saturating_sub(cpu_before);
    let (mut answered, mut waiting) = (Vec::new(), Vec::new());
    for mut c in clients {
        let mut byte = [0u8; 1];
        match c.read(&mut byte) {
            Ok(1) => answered.push(c),
            _ => waiting.push(c),
        }
    }
    println!(
        "at the host's limit of {FD_LIMIT} descriptors: {} of {CLIENTS} clients served, {} \
         waiting; host CPU over {AT_LIMIT:?}: {cpu:?}",
        answered.len(),
        waiting.len()
    );
    if waiting.is_empty() {
        return Err(format!(
            "all {CLIENTS} clients were served under `ulimit -n {FD_LIMIT}`: the limit was \
             never reached, so this proves nothing"
        ));
    }
    if cpu > MAX_CPU {
        return Err(format!(
            "the host used {cpu:?} of CPU in {AT_LIMIT:?} at the descriptor limit (bound \
             {MAX_CPU:?}): the guest retries accept at once instead of pausing"
        ));
    }
    drop(answered);
    let freed = Instant::now();
    for (i, mut c) in waiting.into_iter().enumerate() {
        c.set_nonblocking(false).map_err(|e| e.to_string())?;
        let left = SERVE_LIMIT.saturating_sub(freed.elapsed());
        c.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .map_err(|e| e.to_string())?;
        let mut byte = [0u8; 1];
        match c.read(&mut byte) {
            Ok(1) => {}
            Ok(_) => return Err(format!("waiting client {i}: the server closed it")),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!(
                    "waiting client {i} not served {SERVE_LIMIT:?} after descriptors were \
                     freed"
                ))
            }
            Err(e) => return Err(format!("waiting client {i}: {e}")),
        }
    }
    println!(
        "the waiting clients were served {:?} after descriptors were freed",
        freed.elapsed()
    );
    drop(server);
    Ok(())
}

/// User + system CPU time of a process (`/proc/PID/stat`, in clock ticks of 10 ms).
fn cpu_time(pid: u32) -> Result<Duration, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // Fields after the command name (which may hold spaces) are space-separated;
    // utime and stime are the 14th and 15th fields, the 12th and 13th after it.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => Ok(Duration::from_millis((u + s) * 10)),
        _ => Err(format!("cannot read CPU times from /proc/{pid}/stat")),
    }
}
