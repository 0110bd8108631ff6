//! Exact counts per echoed message, which the machine's noise does not move: user-space
//! instructions (valgrind's callgrind) and system calls (strace), each server run twice
//! under the counter with a different number of messages, so that start-up and shutdown
//! cancel out: count = (count(B) - count(A)) / (messages(B) - messages(A)). The load is
//! the tokio `echo_peer` client, 1 KiB messages. Skipped, with a note, where the tool is
//! missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use super::measure::measure;
use super::programs::bench_bin;
use crate::process::{self, workspace_root};
use crate::server;

/// One server to count, as `echo.rs` names it in the JSON.
pub(super) struct Counted {
    pub(super) server: &'static str,
    pub(super) program: PathBuf,
    pub(super) args: Vec<String>,
    /// System calls only (the guest: callgrind cannot follow wasmtime's generated code
    /// usefully).
    pub(super) syscalls_only: bool,
}

/// A count for one server, connection count and tool.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Count {
    pub(super) server: &'static str,
    pub(super) conns: u32,
    pub(super) instr_per_msg: Option<f64>,
    pub(super) syscalls_per_msg: Option<f64>,
}

/// Which counter runs the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tool {
    Callgrind,
    Strace,
}

/// How long a server under the counter may take to say where it listens.
const COUNTED_LISTEN_LIMIT: Duration = Duration::from_secs(120);

/// Message size of the counted echo.
const SIZE: u32 = 1024;

/// Counts each server at each connection count with each tool that is installed;
/// `rounds` are the two runs' round trips per connection. Notes say what was skipped.
pub(super) fn count_all(
    servers: &[Counted],
    conns: &[u32],
    rounds: (u32, u32),
    notes: &mut Vec<String>,
) -> Vec<Count> {
    let tools: Vec<Tool> = [Tool::Callgrind, Tool::Strace]
        .into_iter()
        .filter(|tool| {
            let (name, package) = match tool {
                Tool::Callgrind => ("valgrind", "valgrind"),
                Tool::Strace => ("strace", "strace"),
            };
            let present = installed(name);
            if !present {
                notes.push(format!(
                    "{name} is not installed: no {} per message (apt-get install {package})",
                    match tool {
                        Tool::Callgrind => "instructions",
                        Tool::Strace => "system calls",
                    }
                ));
            }
            present
        })
        .collect();
    let mut counts = Vec::new();
    for server in servers {
        for &c in conns {
            let mut count = Count {
                server: server.server,
                conns: c,
                instr_per_msg: None,
                syscalls_per_msg: None,
            };
            for &tool in &tools {
                if server.syscalls_only && tool == Tool::Callgrind {
                    continue;
                }
                match per_message(tool, server, c, rounds) {
                    Ok(value) => match tool {
                        Tool::Callgrind => count.instr_per_msg = Some(value),
                        Tool::Strace => count.syscalls_per_msg = Some(value),
                    },
                    Err(e) => notes.push(format!(
                        "{tool:?} count of {} at {c} connections failed: {e}",
                        server.server
                    )),
                }
            }
            counts.push(count);
        }
    }
    counts
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The difference of two counted runs, per message.
fn per_message(
    tool: Tool,
    server: &Counted,
    conns: u32,
    rounds: (u32, u32),
) -> Result<f64, String> {
    let a = counted_run(tool, server, conns, rounds.0)?;
    let b = counted_run(tool, server, conns, rounds.1)?;
    let messages = f64::from(conns) * f64::from(rounds.1 - rounds.0);
    Ok((b - a) / messages)
}

/// Runs the server under the tool, the client against it, stops the server and reads
/// the tool's total.
fn counted_run(tool: Tool, server: &Counted, conns: u32, rounds: u32) -> Result<f64, String> {
    let dir = workspace_root().join("target").join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let out = dir.join(format!("count-{}-{conns}-{rounds}.out", server.server));
    let _ = std::fs::remove_file(&out);
    let mut cmd = match tool {
        Tool::Callgrind => {
            let mut cmd = Command::new("valgrind");
            cmd.arg("--tool=callgrind")
                .arg(format!("--callgrind-out-file={}", out.display()));
            cmd
        }
        Tool::Strace => {
            let mut cmd = Command::new("strace");
            cmd.args(["-f", "-c", "-o"]).arg(&out);
            cmd
        }
    };
    cmd.arg(&server.program)
        .args(&server.args)
        .stderr(Stdio::null());
    // Its own process group: the tool, its wrapper and the server stop together.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut running = server::start(&mut cmd, COUNTED_LISTEN_LIMIT, None)?;
    let mut client = Command::new(bench_bin("echo_peer"));
    client
        .args(["client", "--rt", "tokio", &running.addr])
        .args(["--conns", &conns.to_string()])
        .args(["--size", &SIZE.to_string()])
        .args(["--rounds", &rounds.to_string()]);
    let outcome = measure(&mut client).map(drop);
    stop_group(running.child.id());
    let _ = process::wait_with_timeout(&mut running.child, Duration::from_secs(60));
    outcome?;
    match tool {
        Tool::Callgrind => callgrind_total(&out),
        Tool::Strace => strace_total(&out),
    }
}

/// SIGTERM to the process group `pgid` (valgrind writes its counts on the way out; strace
/// its table).
fn stop_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", "--", &format!("-{pgid}")])
        .status();
}

/// The `totals:` (or `summary:`) line of a callgrind output file.
fn callgrind_total(path: &Path) -> Result<f64, String> {
    let text = read_when_written(path)?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("no totals in {}", path.display()))
}

/// The `total` row of `strace -c`: its calls column.
fn strace_total(path: &Path) -> Result<f64, String> {
    let text = read_when_written(path)?;
    parse_strace_total(&text).ok_or_else(|| format!("no total row in {}", path.display()))
}

fn parse_strace_total(text: &str) -> Option<f64> {
    let row = text.lines().find(|l| l.trim_end().ends_with("total"))?;
    // % time, seconds, usecs/call, calls, [errors,] total
    let fields: Vec<&str> = row.split_whitespace().collect();
    fields.get(3)?.parse().ok()
}

/// The tool writes its file as it exits: wait a little for it.
fn read_when_written(path: &Path) -> Result<String, String> {
    for _ in 0..100 {
        if let Ok(text) = std::fs::read_to_string(path) {
            if text.contains("total") || text.contains("summary:") {
                return Ok(text);
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
    Err(format!("{} was not written", path.display()))
}

#[cfg(test)]
mod tests {
    use super::parse_strace_total;

    #[test]
    fn strace_tables_are_read() {
        let table = "% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ------------------
 68.38    0.044491           8      5000           sendto
100.00    0.065065           6     10107         3 total
";
        assert_eq!(parse_strace_total(table), Some(10107.0));
        assert_eq!(parse_strace_total("nothing"), None);
    }
}
