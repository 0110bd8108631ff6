//! Running commands: where, how they are shown, and capturing output while streaming it.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The workspace root (xtask lives one directory below it).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Cargo's target directory for native builds (`CARGO_TARGET_DIR` or `target`).
pub fn native_target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                std::env::current_dir()
                    .unwrap_or_else(|_| workspace_root())
                    .join(dir)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// Guest builds get their own target directory: two compilers must not share one.
pub fn guest_target_dir() -> PathBuf {
    native_target_dir().join("wasm")
}

/// The suite built for Windows (run under Wine), with Wine's prefix inside it.
pub fn windows_target_dir() -> PathBuf {
    native_target_dir().join("windows")
}

/// Cross type-checks (Windows, macOS) get their own target directory too.
pub fn cross_target_dir() -> PathBuf {
    native_target_dir().join("cross")
}

/// The host binary, always built with `cargo build --release -p twinloop-host`.
pub fn host_binary() -> PathBuf {
    native_target_dir()
        .join("release")
        .join(format!("twinloop-host{}", std::env::consts::EXE_SUFFIX))
}

/// Builds `host_binary` (`cargo build --release -p twinloop-host`), with a step header;
/// false if it did not build.
pub fn build_host() -> bool {
    let mut cmd = cargo();
    cmd.args(["build", "--release", "-p", "twinloop-host"]);
    header(
        "build twinloop-host (may take ~5 minutes on a cold machine)",
        &cmd,
    );
    run_ok(&mut cmd)
}

/// `cargo` (the rustup proxy on PATH, so `+toolchain` works), run from the workspace root.
pub fn cargo() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(workspace_root());
    cmd
}

/// A shell-like rendering of a command, with the environment it overrides.
pub fn describe(cmd: &Command) -> String {
    let mut parts = Vec::new();
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => parts.push(format!("{}={}", key.to_string_lossy(), quote(value))),
            None => parts.push(format!("(unset {})", key.to_string_lossy())),
        }
    }
    parts.push(quote(cmd.get_program()));
    parts.extend(cmd.get_args().map(quote));
    parts.join(" ")
}

fn quote(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=+./,:@%".contains(c));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Prints a step header: its title and the exact command.
pub fn header(title: &str, cmd: &Command) {
    println!();
    println!("==> {title}");
    println!("    $ {}", describe(cmd));
}

/// Runs a command with inherited stdio. An error means it could not be started.
pub fn run(cmd: &mut Command) -> Result<ExitStatus, String> {
    flush();
    cmd.status()
        .map_err(|e| format!("could not start {}: {e}", describe(cmd)))
}

/// Runs a command and reports success; failures to start are printed.
pub fn run_ok(cmd: &mut Command) -> bool {
    match run(cmd) {
        Ok(status) => status.success(),
        Err(e) => {
            println!("{e}");
            false
        }
    }
}

/// Runs a command with stdout and stderr merged into one pipe, copying everything to
/// our stdout as it arrives and returning it too (in order, so cargo's `Running` lines
/// sit right before the output of the binary they name).
pub fn run_captured(cmd: &mut Command) -> Result<(ExitStatus, String), String> {
    flush();
    let shown = describe(cmd);
    let start_err = |e: io::Error| format!("could not start {shown}: {e}");
    let (mut reader, writer) = io::pipe().map_err(start_err)?;
    let writer2 = writer.try_clone().map_err(start_err)?;
    cmd.stdout(writer2).stderr(writer);
    let spawned = cmd.spawn();
    // The Command still holds our copies of the write end; drop them so that the pipe
    // reaches end-of-file when the child exits.
    cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
    let mut child = spawned.map_err(start_err)?;

    let mut captured = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut out = io::stdout();
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                // Losing our own echo (closed stdout) must not lose the capture.
                let _ = out.write_all(&buf[..n]).and_then(|()| out.flush());
                captured.extend_from_slice(&buf[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("reading output of {shown}: {e}"));
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for {shown}: {e}"))?;
    Ok((status, String::from_utf8_lossy(&captured).into_owned()))
}

/// Waits for a child for at most `limit`; kills it when the time is up.
/// Returns `None` on timeout.
pub fn wait_with_timeout(child: &mut Child, limit: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Whether we run as root (apt needs it).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Stdout of a quiet command, or `None` if it could not run or failed.
pub fn output_of(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn flush() {
    let _ = io::stdout().flush();
}

/// "12.3s" / "4m 05s".
pub fn elapsed(since: Instant) -> String {
    let secs = since.elapsed().as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = secs as u64;
        format!("{}m {:02}s", whole / 60, whole % 60)
    }
}

/// A child process killed (and reaped) however the code that started it ends: a server
/// a check runs against.
pub struct Background(pub Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_shows_env_and_quotes() {
        let mut cmd = Command::new("cargo");
        cmd.env("RUSTFLAGS", "-C linker=/x --cfg y")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .args(["test", "--allow-net", "[::1]"]);
        assert_eq!(
            describe(&cmd),
            "(unset CARGO_ENCODED_RUSTFLAGS) RUSTFLAGS='-C linker=/x --cfg y' cargo test --allow-net '[::1]'"
        );
    }

    #[test]
    fn captured_output_keeps_stdout_and_stderr_in_order() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo one; echo two >&2; echo three; exit 3"]);
        let (status, out) = run_captured(&mut cmd).unwrap();
        assert_eq!(status.code(), Some(3));
        assert_eq!(out, "one\ntwo\nthree\n");
    }
}
