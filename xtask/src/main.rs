//! `cargo xtask ...`: the project's commands (setup, test, demo, build-guest, bench,
//! soak, fuzz). The standard library and serde_json, so it builds in seconds on a fresh machine.

mod accept_limit;
mod bench;
mod build_guest;
mod demo;
mod elsewhere;
mod fairness;
mod fuzz;
mod guest_cargo;
mod libtest;
mod process;
mod report;
mod server;
mod soak;
mod test;
mod toolchain;
mod windows;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask COMMAND

commands:
  setup        find (as root: install) the wasm32-wasip1 tool chain, rustfmt and
               clippy, Wine and mingw (the Windows tests), openssl (the TLS
               interop test), uvloop (for the bench), then build twinloop-host
               (release; ~5 minutes when cold)
  test         fmt, clippy (native and wasm), docs, Windows/macOS type-checks, the
               test suite natively, in the guest and on Windows under Wine, and a
               comparison of the three; with a `wasmtime` on PATH, also runs
               exported components under it
  demo         run the examples natively and as guests in twinloop-host
  build-guest  build for wasm32-wasip1 and print the .wasm paths:
               cargo xtask build-guest [--release] [--panic-abort] [--component]
                                       [--example NAME | -p PKG]...
               guests unwind on panics (wasm exceptions); --panic-abort makes them
               trap instead (smaller); --component also writes NAME.component.wasm,
               a wasi:cli/command component that any WASI 0.2 host runs
  bench        twinloop vs tokio (current-thread) in release: callbacks, timers, TCP
               echo (native and wasm-guest servers); prints a table of ratios:
               cargo xtask bench [--quick] [--no-guest]; the figures also go to
               target/bench/latest.json
  fuzz         every cargo-fuzz target for a fixed number of runs (nightly):
               cargo xtask fuzz [RUNS]
  fairness     the echo server beside a blasting peer, natively and as a guest:
               round trips on another connection keep completing, and a blaster
               that never reads leaves the server's memory bounded, and the guest
               pauses accepting at the host's descriptor limit (also a step of
               `test`; prints latencies, peak memory and CPU)
  soak         the soak tests with their long sizes (10k connections, 1 GiB, 100k
               connect/close cycles, 1M timers), natively in release
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        print!("{USAGE}");
        return ExitCode::FAILURE;
    };
    let rest = &args[1..];
    let no_args = |name: &str| {
        if rest.is_empty() {
            true
        } else {
            println!("{name} takes no arguments (got {rest:?})\n\n{USAGE}");
            false
        }
    };
    let ok = match command.as_str() {
        "setup" => no_args("setup") && setup(),
        "test" => no_args("test") && test::run(),
        "demo" => no_args("demo") && demo::run(),
        "build-guest" => build_guest::run(rest),
        "bench" => bench::run(rest),
        "soak" => no_args("soak") && soak::run(),
        "fairness" => no_args("fairness") && fairness::run(),
        "fuzz" => fuzz::run(rest),
        // The runner `cargo xtask test` gives cargo for the Windows test binaries.
        "wine-run" => windows::wine_run(rest),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            true
        }
        other => {
            println!("unknown command {other:?}\n\n{USAGE}");
            false
        }
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn setup() -> bool {
    let (_, problems) = toolchain::setup(true);
    if let Some(missing) = bench::setup_uvloop() {
        println!("setup: note: {missing}");
    }
    if problems.is_empty() {
        println!("setup: done");
        true
    } else {
        for problem in &problems {
            println!("setup: problem: {problem}");
        }
        false
    }
}
