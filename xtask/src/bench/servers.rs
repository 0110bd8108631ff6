//! The echo servers run in the background while clients measure them: starting one,
//! reading where it listens, killing it when done.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::process::{self, workspace_root};

/// How long a server may take to print `listening on` (the guest's includes compiling
/// the module).
const LISTEN_LIMIT: Duration = Duration::from_secs(60);

/// Which core a process of the echo matrix runs on (uvloop's method: the servers on
/// one core, the load client on another).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Core {
    Server,
    Client,
}

/// Whether processes are pinned: `taskset` works and there are at least two cores.
pub(super) fn pinning() -> bool {
    use std::sync::OnceLock;
    static PINNING: OnceLock<bool> = OnceLock::new();
    *PINNING.get_or_init(|| {
        thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
            && Command::new("taskset")
                .args(["-c", "1", "true"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    })
}

/// A command for `program`, under `taskset -c 0` (servers) or `-c 1` (clients) where
/// `pinning()` allows (the process keeps its id: taskset execs it).
pub(super) fn pinned(core: Core, program: impl AsRef<OsStr>) -> Command {
    if !pinning() {
        return Command::new(program);
    }
    let mut cmd = Command::new("taskset");
    cmd.arg("-c")
        .arg(if core == Core::Server { "0" } else { "1" })
        .arg(program);
    cmd
}

/// A server process, killed when dropped.
pub(super) struct Background {
    pub(super) child: Child,
    pub(super) addr: String,
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a server whose first stdout line is `listening on IP:PORT`; its later output
/// is dropped, its stderr shown.
pub(super) fn start_server(cmd: &mut Command) -> Result<Background, String> {
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
