//! A server in the background, for the demo, the benchmark and the checks of `cargo
//! xtask test`: started from the workspace root, asked where it listens (its first
//! stdout line, `listening on IP:PORT`), and killed and reaped when dropped, however the
//! code that started it ends.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::process::{self, workspace_root};

/// A server process and the address it listens on; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` (stdin closed, stdout piped; its stderr as the caller set it) and waits up
/// to `limit` for its `listening on IP:PORT` line. With `label` its stdout is shown, each
/// line as `[label] line`; without, it is read and dropped, so that the server never
/// blocks on a full pipe.
pub fn start(cmd: &mut Command, limit: Duration, label: Option<&str>) -> Result<Server, String> {
    cmd.current_dir(workspace_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    println!("$ {} &", process::describe(cmd));
    process::flush();
    let mut child = cmd.spawn().map_err(|e| format!("could not start: {e}"))?;
    let stdout = child.stdout.take().expect("stdout was piped");
    let mut server = Server {
        child,
        addr: String::new(),
    };
    let label = label.map(str::to_string);
    let (first_tx, first_rx) = mpsc::channel();
    thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        if let Some(first) = lines.next() {
            if let Some(label) = &label {
                println!("[{label}] {first}");
            }
            let _ = first_tx.send(first);
        }
        for line in lines {
            if let Some(label) = &label {
                println!("[{label}] {line}");
            }
        }
    });
    let first = match first_rx.recv_timeout(limit) {
        Ok(line) => line,
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // Its stdout closed: it has exited (or is about to).
            let status = process::wait_with_timeout(&mut server.child, Duration::from_secs(5));
            return Err(match status {
                Ok(Some(status)) => format!("exited ({status}) before saying where it listens"),
                _ => "closed its stdout before saying where it listens".into(),
            });
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            return Err(format!("no `listening on` line within {limit:?}"));
        }
    };
    server.addr = listening_address(&first)
        .ok_or_else(|| format!("first line is not `listening on IP:PORT`: {first:?}"))?
        .to_string();
    Ok(server)
}

/// `listening on 127.0.0.1:4000` -> `127.0.0.1:4000`.
pub fn listening_address(line: &str) -> Option<&str> {
    let addr = line.trim().strip_prefix("listening on ")?.trim();
    let (host, port) = addr.rsplit_once(':')?;
    (!host.is_empty() && port.parse::<u16>().is_ok()).then_some(addr)
}
