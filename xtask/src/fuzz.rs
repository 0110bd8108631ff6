//! `cargo xtask fuzz [RUNS]`: runs every cargo-fuzz target (`fuzz/fuzz_targets/`) for a
//! fixed number of iterations with the nightly tool chain, installing cargo-fuzz first if
//! it is missing. Without RUNS each target runs its own default (see [`TARGETS`]: the host
//! targets are heavier than the stream reader); with RUNS every target runs that many.
//! Seed inputs kept in git (`fuzz/seeds/TARGET/`) are read along with the target's
//! corpus (`fuzz/corpus/TARGET/`, not kept). Not part of `cargo xtask test`; a crash is
//! saved by libFuzzer under `fuzz/artifacts/` and belongs in the suite as a regression
//! (see `wasm-tests/tests/reader_model.rs`, `host/src/cli.rs`).

use std::process::Command;
use std::time::Instant;

use crate::process::{self, workspace_root};

/// Every target with its default number of runs.
const TARGETS: [(&str, u64); 3] = [
    // StreamReader against its model: cheap, so many runs.
    ("stream_reader", 200_000),
    // The host's command line and option parsers (clap and the policy parsers).
    ("host_cli", 100_000),
    // The host's module loading (WAT parsing, componentizing with the adapter): each
    // valid module costs milliseconds.
    ("host_load", 20_000),
];

pub fn run(args: &[String]) -> bool {
    let runs: Option<u64> = match args {
        [] => None,
        [n] => match n.parse() {
            Ok(n) => Some(n),
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
    let fuzz_dir = workspace_root().join("fuzz");
    for (target, default_runs) in TARGETS {
        let runs = runs.unwrap_or(default_runs);
        let started = Instant::now();
        let mut cmd = Command::new("cargo");
        cmd.current_dir(&fuzz_dir)
            .args(["+nightly", "fuzz", "run", target]);
        // Naming corpus directories replaces the default one, so name it first (new
        // inputs go there), then the seeds.
        let seeds = fuzz_dir.join("seeds").join(target);
        if seeds.is_dir() {
            let corpus = fuzz_dir.join("corpus").join(target);
            if let Err(e) = std::fs::create_dir_all(&corpus) {
                println!("fuzz: FAILED: creating {}: {e}", corpus.display());
                return false;
            }
            cmd.arg(&corpus).arg(&seeds);
        }
        cmd.arg("--").arg(format!("-runs={runs}"));
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
