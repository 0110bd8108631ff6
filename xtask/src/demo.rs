//! `cargo xtask demo`: the examples, natively and as guests in `twinloop-host`.
//!
//! Adding an example is one entry in `DEMOS`. A client/server pair is run across
//! targets: the server in the background (its first stdout line must be
//! `listening on IP:PORT`), then the client with `IP:PORT` as its argument, then the
//! server is killed. Examples of what only Unix offers (descriptors, signals, child
//! processes) run natively only, their output checked line by line.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::process::{self, cargo, host_binary, native_target_dir, workspace_root, Background};
use crate::toolchain::{self, Detected, GUEST_TARGET};

/// How long one example may run before it counts as hung.
const RUN_LIMIT: Duration = Duration::from_secs(60);
/// How long a server may take to print its `listening on` line (the guest's includes
/// compiling the module).
const LISTEN_LIMIT: Duration = Duration::from_secs(30);

enum Demo {
    /// Run natively, then in the host.
    Single(&'static str),
    /// Native server + guest client, then guest server + native client.
    ClientServer {
        server: &'static str,
        /// Arguments for the server (port 0: a free port, read from its first line).
        server_args: &'static [&'static str],
        client: &'static str,
        /// Arguments for the client after the server's address.
        client_args: &'static [&'static str],
    },
    /// Run natively only (Unix: the guest and Windows refuse what it shows): it must
    /// print each of `expect` as a whole line and exit 0. With `signal` (a `kill`
    /// option such as `-INT`), the example is sent that signal once it has printed a
    /// line starting `pid `.
    NativeOnly {
        name: &'static str,
        args: &'static [&'static str],
        signal: Option<&'static str>,
        expect: &'static [&'static str],
    },
}

struct Entry {
    demo: Demo,
    /// The entry is shown only when this file exists (for examples not written yet).
    enabled_by: Option<&'static str>,
}

const DEMOS: &[Entry] = &[
    Entry {
        demo: Demo::Single("hello_world"),
        enabled_by: None,
    },
    Entry {
        demo: Demo::Single("display_date"),
        enabled_by: None,
    },
    pair(
        "echo_server",
        &["127.0.0.1:0"],
        "echo_client",
        &["--size", "65536", "--count", "100"],
        "examples/echo_server.rs",
    ),
    pair(
        "echo_server",
        &["127.0.0.1:0", "--mode", "buffered"],
        "echo_client",
        &["--size", "65536", "--count", "100"],
        "examples/echo_server.rs",
    ),
    pair(
        "echo_server",
        &["127.0.0.1:0", "--mode", "sock"],
        "echo_client",
        &["--size", "65536", "--count", "100"],
        "examples/echo_server.rs",
    ),
    pair(
        "echo_server",
        &["127.0.0.1:0", "--mode", "streams"],
        "tcp_echo_client",
        &["Hello World!"],
        "examples/tcp_echo_client.rs",
    ),
    pair(
        "tls_echo_server",
        &["127.0.0.1:0"],
        "tls_echo_client",
        &["--size", "65536", "--count", "100"],
        "examples/tls_echo_server.rs",
    ),
    pair(
        "udp_echo_server",
        &["127.0.0.1:0"],
        "udp_echo_client",
        &["--count", "100"],
        "examples/udp_echo_server.rs",
    ),
    native_only("watch_fd", &[], None, &["Received: abc"]),
    native_only("signals", &[], Some("-INT"), &["got signal SIGINT: exit"]),
    native_only("signals", &[], Some("-TERM"), &["got signal SIGTERM: exit"]),
    native_only(
        "subprocess",
        &["sh", "-c", "echo hi; exit 3"],
        None,
        &["hi", "exit status: 3"],
    ),
];

/// A native-only entry (Unix), shown once `examples/NAME.rs` exists.
const fn native_only(
    name: &'static str,
    args: &'static [&'static str],
    signal: Option<&'static str>,
    expect: &'static [&'static str],
) -> Entry {
    Entry {
        demo: Demo::NativeOnly {
            name,
            args,
            signal,
            expect,
        },
        enabled_by: None,
    }
}

/// A client/server entry, shown once `enabled_by` exists.
const fn pair(
    server: &'static str,
    server_args: &'static [&'static str],
    client: &'static str,
    client_args: &'static [&'static str],
    enabled_by: &'static str,
) -> Entry {
    Entry {
        demo: Demo::ClientServer {
            server,
            server_args,
            client,
            client_args,
        },
        enabled_by: Some(enabled_by),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Native,
    Guest,
}

impl Side {
    pub fn label(self) -> &'static str {
        match self {
            Side::Native => "native",
            Side::Guest => "wasm guest",
        }
    }
}

pub fn run() -> bool {
    let mut det = Detected::detect();
    if det.guest().is_none() {
        println!("demo: no {GUEST_TARGET} tool chain yet; running setup first");
        det = toolchain::setup(false).0;
    }
    let Some(chain) = det.guest() else {
        println!("demo: FAILED: no {GUEST_TARGET} tool chain (see `cargo xtask setup`)");
        return false;
    };

    if !process::build_host() {
        println!("demo: FAILED: twinloop-host did not build");
        return false;
    }
    let mut cmd = cargo();
    cmd.args(["build", "--examples", "-p", "twinloop"]);
    process::header("build examples (native)", &cmd);
    let native_ok = process::run_ok(&mut cmd);
    let mut cmd = chain.cargo("build");
    cmd.args(["--examples", "-p", "twinloop"]);
    process::header("build examples (wasm guest)", &cmd);
    let guest_ok = process::run_ok(&mut cmd);
    if !(native_ok && guest_ok) {
        println!("demo: FAILED: the examples did not build");
        return false;
    }

    let mut failures = Vec::new();
    let mut runs = 0;
    for entry in DEMOS {
        if let Some(file) = entry.enabled_by {
            if !workspace_root().join(file).exists() {
                continue;
            }
        }
        match &entry.demo {
            Demo::Single(name) => {
                for side in [Side::Native, Side::Guest] {
                    runs += 1;
                    let title = format!("{name} ({})", side.label());
                    println!();
                    println!("== {title} ==");
                    if let Err(e) = run_single(name, side) {
                        println!("demo: {title}: FAILED: {e}");
                        failures.push(title);
                    }
                }
            }
            Demo::NativeOnly {
                name,
                args,
                signal,
                expect,
            } => {
                if !cfg!(unix) {
                    continue;
                }
                runs += 1;
                let mut title = format!("{name} {} (native)", args.join(" "));
                if let Some(signal) = signal {
                    title = format!("{title}, kill {signal}");
                }
                println!();
                println!("== {title} ==");
                if let Err(e) = run_checked(name, args, *signal, expect) {
                    println!("demo: {title}: FAILED: {e}");
                    failures.push(title);
                }
            }
            Demo::ClientServer {
                server,
                server_args,
                client,
                client_args,
            } => {
                for (server_side, client_side) in
                    [(Side::Native, Side::Guest), (Side::Guest, Side::Native)]
                {
                    runs += 1;
                    let title = format!(
                        "{server} {} ({}) + {client} ({})",
                        server_args.join(" "),
                        server_side.label(),
                        client_side.label()
                    );
                    println!();
                    println!("== {title} ==");
                    if let Err(e) = run_pair(
                        server,
                        server_args,
                        client,
                        client_args,
                        server_side,
                        client_side,
                    ) {
                        println!("demo: {title}: FAILED: {e}");
                        failures.push(title);
                    }
                }
            }
        }
    }
    println!();
    if failures.is_empty() {
        println!("demo: {runs} runs, all ok");
        true
    } else {
        println!(
            "demo: {} of {runs} runs FAILED: {}",
            failures.len(),
            failures.join("; ")
        );
        false
    }
}

fn example_exists(name: &str) -> bool {
    let examples = workspace_root().join("examples");
    examples.join(format!("{name}.rs")).exists() || examples.join(name).join("main.rs").exists()
}

fn native_example(name: &str) -> PathBuf {
    native_target_dir()
        .join("debug")
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

pub fn guest_example(name: &str, release: bool) -> PathBuf {
    process::guest_target_dir()
        .join(GUEST_TARGET)
        .join(if release { "release" } else { "debug" })
        .join("examples")
        .join(format!("{name}.wasm"))
}

/// The command that runs an example on one side. `allow_net` is a `--allow-net` rule
/// for guests (natively there is no sandbox).
pub fn example_command(side: Side, name: &str, args: &[&str], allow_net: Option<&str>) -> Command {
    let mut cmd = match side {
        Side::Native => {
            let mut cmd = Command::new(native_example(name));
            cmd.args(args);
            cmd
        }
        Side::Guest => {
            let mut cmd = Command::new(host_binary());
            cmd.arg("run");
            if let Some(rule) = allow_net {
                cmd.args(["--allow-net", rule]);
            }
            cmd.arg(guest_example(name, false));
            if !args.is_empty() {
                cmd.arg("--").args(args);
            }
            cmd
        }
    };
    cmd.current_dir(workspace_root()).stdin(Stdio::null());
    cmd
}

fn run_single(name: &str, side: Side) -> Result<(), String> {
    if !example_exists(name) {
        return Err(format!("examples/{name}.rs does not exist"));
    }
    let mut cmd = example_command(side, name, &[], None);
    println!("$ {}", process::describe(&cmd));
    finish(&mut cmd, name)
}

/// Runs a command to completion within `RUN_LIMIT`; non-zero exit is an error.
fn finish(cmd: &mut Command, name: &str) -> Result<(), String> {
    process::flush();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("could not start {name}: {e}"))?;
    match process::wait_with_timeout(&mut child, RUN_LIMIT) {
        Ok(Some(status)) if status.success() => Ok(()),
        Ok(Some(status)) => Err(format!("{name} exited with {status}")),
        Ok(None) => Err(format!("{name} still running after {RUN_LIMIT:?}; killed")),
        Err(e) => Err(format!("waiting for {name}: {e}")),
    }
}

/// Runs a native example, passing its stdout through labelled; with `signal`, sends it
/// that signal (with `kill`) after its `pid ` line. Checks that it printed each line of
/// `expect` and exited 0 within `RUN_LIMIT`.
fn run_checked(
    name: &str,
    args: &[&str],
    signal: Option<&str>,
    expect: &[&str],
) -> Result<(), String> {
    if !example_exists(name) {
        return Err(format!("examples/{name}.rs does not exist"));
    }
    let mut cmd = example_command(Side::Native, name, args, None);
    cmd.stdout(Stdio::piped());
    println!("$ {}", process::describe(&cmd));
    process::flush();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("could not start {name}: {e}"))?;
    let pid = child.id();
    let stdout = child.stdout.take().expect("stdout was piped");
    let mut running = Background(child);
    let (line_tx, line_rx) = mpsc::channel();
    let label = name.to_string();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("[{label}] {line}");
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    if let Some(signal) = signal {
        // Its handlers are in place once it has said where to send the signal.
        loop {
            match line_rx.recv_timeout(LISTEN_LIMIT) {
                Ok(line) if line.starts_with("pid ") => {
                    seen.push(line);
                    break;
                }
                Ok(line) => seen.push(line),
                Err(_) => return Err(format!("{name} printed no `pid ` line")),
            }
        }
        let mut kill = Command::new("kill");
        kill.args([signal, &pid.to_string()]);
        println!("$ {}", process::describe(&kill));
        let status = kill.status().map_err(|e| format!("kill: {e}"))?;
        if !status.success() {
            return Err(format!("kill {signal} {pid} exited with {status}"));
        }
    }
    let status = match process::wait_with_timeout(&mut running.0, RUN_LIMIT) {
        Ok(Some(status)) => status,
        Ok(None) => return Err(format!("{name} still running after {RUN_LIMIT:?}; killed")),
        Err(e) => return Err(format!("waiting for {name}: {e}")),
    };
    let _ = reader.join();
    seen.extend(line_rx.try_iter());
    if !status.success() {
        return Err(format!("{name} exited with {status}"));
    }
    for want in expect {
        if !seen.iter().any(|line| line == want) {
            return Err(format!("{name} did not print the line {want:?}"));
        }
        println!("demo: {name} printed {want:?}, as expected");
    }
    Ok(())
}

fn run_pair(
    server: &'static str,
    server_args: &[&str],
    client: &str,
    client_args: &[&str],
    server_side: Side,
    client_side: Side,
) -> Result<(), String> {
    for name in [server, client] {
        if !example_exists(name) {
            return Err(format!("examples/{name}.rs does not exist"));
        }
    }
    let mut cmd = example_command(server_side, server, server_args, Some("127.0.0.1"));
    // The first line tells the port; all of it is passed through, labelled.
    let background = crate::server::start(&mut cmd, LISTEN_LIMIT, Some(server))
        .map_err(|e| format!("{server}: {e}"))?;
    let addr = background.addr.as_str();

    let mut args = vec![addr];
    args.extend_from_slice(client_args);
    let mut cmd = example_command(client_side, client, &args, Some(host_of(addr)));
    println!("$ {}", process::describe(&cmd));
    let result = finish(&mut cmd, client);
    drop(background);
    result
}

/// `127.0.0.1:4000` -> `127.0.0.1`; `[::1]:4000` -> `[::1]`.
fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(host, _)| host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::listening_address;

    #[test]
    fn listening_line_gives_the_address() {
        assert_eq!(
            listening_address("listening on 127.0.0.1:4000\n"),
            Some("127.0.0.1:4000")
        );
        assert_eq!(listening_address("listening on [::1]:80"), Some("[::1]:80"));
        assert_eq!(listening_address("listening on 127.0.0.1"), None);
        assert_eq!(listening_address("ready"), None);
        assert_eq!(host_of("[::1]:80"), "[::1]");
        assert_eq!(host_of("127.0.0.1:4000"), "127.0.0.1");
    }

    #[test]
    fn guest_command_passes_arguments_after_double_dash() {
        let cmd = example_command(
            Side::Guest,
            "echo_client",
            &["127.0.0.1:9"],
            Some("127.0.0.1"),
        );
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args[..3], ["run", "--allow-net", "127.0.0.1"]);
        assert!(args[3].ends_with("wasm32-wasip1/debug/examples/echo_client.wasm"));
        assert_eq!(args[4..], ["--", "127.0.0.1:9"]);
    }
}
