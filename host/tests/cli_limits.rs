//! Limits through the `twinloop-host` binary: each ends the guest with its
//! own exit code and a one-line reason, whatever the guest is doing.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn host() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_twinloop-host"));
    command.env_remove("RUST_BACKTRACE");
    command
}

#[test]
fn a_guest_blocked_on_a_full_stdout_pipe_is_stopped_at_its_time_limit() {
    let guest = common::write_fixture("cli-write-forever.wasm", &common::write_forever());
    let started = Instant::now();
    let mut child = host()
        .args(["run", "--time-limit", "1"])
        .arg(&guest)
        .stdout(Stdio::piped()) // never read: the pipe fills up
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("the host did not stop the blocked guest within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    eprintln!("stopped after {:?}", started.elapsed());
    assert_eq!(status.code(), Some(124), "{stderr}");
    assert!(
        stderr.contains("time limit of 1 s exceeded (--time-limit)"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn an_output_flood_ends_with_122_after_exactly_max_output_bytes() {
    let guest = common::write_fixture("cli-write-forever2.wasm", &common::write_forever());
    let out = host()
        .args(["run", "--max-output", "100000"])
        .arg(&guest)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(122), "{stderr}");
    assert_eq!(out.stdout.len(), 100_000);
    assert!(
        stderr.starts_with("error: output limit exceeded: "),
        "{stderr}"
    );
    assert!(stderr.contains("(--max-output)"), "{stderr}");
}
