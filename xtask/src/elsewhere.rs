//! Guests on another WASI 0.2 host: the components `twinloop-host component` writes for
//! two examples, run by the stock `wasmtime` command-line runner. `hello_world` must
//! print its greeting; `echo_server` must send back every byte of a connection.
//!
//! The runner is not built here (installing `wasmtime-cli` takes long): `cargo xtask
//! test` runs this check when a `wasmtime` is on PATH and says it skipped it otherwise.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use crate::build_guest::write_component;
use crate::demo::guest_example;
use crate::process;
use crate::server;
use crate::toolchain::GuestChain;

/// The major version of the host's wasmtime, which the runner should share.
const HOST_WASMTIME_MAJOR: &str = "48";
/// The bytes sent through the echo server.
const ECHO_BYTES: usize = 256 * 1024;
/// How long a run, or a wait for the server, may take (compiling the component included).
const LIMIT: Duration = Duration::from_secs(60);

/// `wasmtime --version` of the `wasmtime` on PATH, if there is one.
pub fn wasmtime_version() -> Option<String> {
    process::output_of("wasmtime", &["--version"]).map(|v| v.trim().to_string())
}

/// Whether `version` (`wasmtime 48.0.8 (...)`) has the host's major version.
fn same_major(version: &str) -> bool {
    version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').next())
        .is_some_and(|major| major == HOST_WASMTIME_MAJOR)
}

/// `wasmtime run` with the network a twinloop guest needs (WASI 0.2 sockets; TCP is on
/// by default in the runner, its network is not).
pub fn run_command(component: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("wasmtime");
    cmd.args(["run", "-S", "inherit-network"])
        .arg(component)
        .args(args)
        .stdin(Stdio::null());
    cmd
}

/// Builds the two examples' components and runs them under the stock runner. Needs
/// the release `twinloop-host` built. `Err` says what failed.
pub fn check(chain: GuestChain, version: &str) -> Result<(), String> {
    if !same_major(version) {
        println!(
            "note: {version} is not wasmtime {HOST_WASMTIME_MAJOR}.x, the host's; trying anyway"
        );
    }
    let mut cmd = chain.cargo("build");
    cmd.args(["-p", "twinloop", "--example", "hello_world"])
        .args(["--example", "echo_server"]);
    println!("$ {}", process::describe(&cmd));
    if !process::run_ok(&mut cmd) {
        return Err("the examples did not build".into());
    }
    // The default panic strategy's builds are in the guest target directory.
    let hello = write_component(&guest_example("hello_world", false))?;
    let echo = write_component(&guest_example("echo_server", false))?;
    hello_world(&hello)?;
    echo_round_trip(&echo)
}

fn hello_world(component: &Path) -> Result<(), String> {
    let mut cmd = run_command(component, &[]);
    cmd.stdout(Stdio::piped());
    println!("$ {}", process::describe(&cmd));
    let mut child = spawn(&mut cmd)?;
    let mut stdout = child.stdout.take().expect("stdout was piped");
    let reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let status = process::wait_with_timeout(&mut child, LIMIT)
        .map_err(|e| format!("waiting for wasmtime: {e}"))?
        .ok_or_else(|| format!("hello_world still running after {LIMIT:?}; killed"))?;
    let text = reader.join().unwrap_or_default();
    print!("{text}");
    if !status.success() {
        return Err(format!("wasmtime run hello_world exited with {status}"));
    }
    if text != "Hello World\n" {
        return Err(format!(
            "hello_world printed {text:?}, not \"Hello World\\n\""
        ));
    }
    Ok(())
}

fn echo_round_trip(component: &Path) -> Result<(), String> {
    let mut cmd = run_command(component, &["127.0.0.1:0"]);
    let server = server::start(&mut cmd, LIMIT, Some("echo_server"))
        .map_err(|e| format!("echo_server: {e}"))?;
    let addr = server.addr.as_str();

    let sent: Vec<u8> = (0..ECHO_BYTES).map(|i| (i * 7 % 251) as u8).collect();
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connecting to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(LIMIT))
        .map_err(|e| e.to_string())?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let to_send = sent.clone();
    let writing = thread::spawn(move || {
        writer.write_all(&to_send)?;
        writer.shutdown(Shutdown::Write)
    });
    let mut received = Vec::with_capacity(ECHO_BYTES);
    stream
        .read_to_end(&mut received)
        .map_err(|e| format!("reading the echo: {e}"))?;
    writing
        .join()
        .map_err(|_| "the writer thread panicked".to_string())?
        .map_err(|e| format!("sending to the echo server: {e}"))?;
    if received != sent {
        return Err(format!(
            "the echo differs: sent {} bytes, got {} back{}",
            sent.len(),
            received.len(),
            if received.len() == sent.len() {
                " (other bytes)"
            } else {
                ""
            }
        ));
    }
    println!("echo: {} bytes sent and received back intact", sent.len());
    Ok(())
}

fn spawn(cmd: &mut Command) -> Result<Child, String> {
    process::flush();
    cmd.spawn()
        .map_err(|e| format!("could not start {}: {e}", process::describe(cmd)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_check_and_command() {
        assert!(same_major("wasmtime 48.0.8 (1a2b3c 2026-10-01)"));
        assert!(!same_major("wasmtime 50.0.1"));
        assert!(!same_major("garbage"));
        let cmd = run_command(Path::new("/t/echo.component.wasm"), &["127.0.0.1:0"]);
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "run",
                "-S",
                "inherit-network",
                "/t/echo.component.wasm",
                "127.0.0.1:0"
            ]
        );
    }
}
