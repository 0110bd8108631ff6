//! `cargo xtask soak`: the soak tests of the suite (`wasm-tests/tests/soak.rs`) with their
//! long sizes, natively, in release: 10k connections at once with every byte checked,
//! 1 GiB through one connection, 100k connect/close cycles with the descriptor count back
//! where it was, 1M timers while serving. Not part of `cargo xtask test` (minutes, not
//! seconds); the suite runs the short versions of the same tests.

use std::time::Instant;

use crate::process::{self, cargo};

pub fn run() -> bool {
    let started = Instant::now();
    let mut cmd = cargo();
    cmd.args([
        "test",
        "--release",
        "-p",
        "wasm-tests",
        "--test",
        "soak",
        "--",
        "--test-threads=1",
        "--nocapture",
    ])
    .env("TWINLOOP_SOAK", "1");
    process::header("soak tests, long sizes (release)", &cmd);
    let ok = process::run_ok(&mut cmd);
    println!(
        "soak: {} in {}",
        if ok { "passed" } else { "FAILED" },
        process::elapsed(started)
    );
    ok
}
