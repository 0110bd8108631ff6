//! The echo servers run in the background while clients measure them: starting one,
//! reading where it listens, killing it when done.

use std::ffi::OsStr;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use crate::server::{self, Server};

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

/// Starts an echo server (see `server::start`); its output is dropped, its stderr shown.
pub(super) fn start_server(cmd: &mut Command) -> Result<Server, String> {
    server::start(cmd, LISTEN_LIMIT, None)
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
