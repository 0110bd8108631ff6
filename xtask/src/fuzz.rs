//! `cargo xtask fuzz [RUNS]`: runs every cargo-fuzz target (`fuzz/fuzz_targets/`) for a
//! fixed number of iterations (default 200000) with the nightly tool chain, installing
//! cargo-fuzz first if it is missing. Not part of `cargo xtask test`; a crash is saved by
//! libFuzzer under `fuzz/artifacts/` and belongs in the suite as a regression (see
//! `wasm-tests/tests/reader_model.rs`).

use std::process::Command;
use std::time::Instant;

use crate::process::{self, workspace_root};

const TARGETS: [&str; 1] = ["stream_reader"];
const DEFAULT_RUNS: u64 = 200_000;

pub fn run(args: &[String]) -> bool {
    let runs = match args {
        [] => DEFAULT_RUNS,
        [n] => match n.parse() {
            Ok(n) => n,
            Err(_) => {
                println!("fuzz: RUNS must be a number, not {n:?}");
                return false;
            }
        },
        _ => {
            println!("usage: cargo xtask fuzz [RUNS]");
            return false;
        }
    };
    if !has_cargo_fuzz() {
        let mut install = Command::new("cargo");
        install.args(["install", "cargo-fuzz", "--locked"]);
        process::header("install cargo-fuzz (once)", &install);
        if !process::run_ok(&mut install) {
            println!("fuzz: FAILED: cargo-fuzz could not be installed");
            return false;
        }
    }
    let mut ok = true;
    for target in TARGETS {
        let started = Instant::now();
        let mut cmd = Command::new("cargo");
        cmd.current_dir(workspace_root().join("fuzz"))
            .args(["+nightly", "fuzz", "run", target, "--"])
            .arg(format!("-runs={runs}"));
        process::header(&format!("fuzz {target}, {runs} runs"), &cmd);
        let passed = process::run_ok(&mut cmd);
        println!(
            "fuzz: {target}: {runs} runs, {} in {}",
            if passed {
                "no crash"
            } else {
                "CRASHED (see fuzz/artifacts/)"
            },
            process::elapsed(started)
        );
        ok &= passed;
    }
    ok
}

fn has_cargo_fuzz() -> bool {
    Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}
