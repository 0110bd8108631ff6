//! `cargo xtask test`: format, lints, docs, cross type-checks, then the test suite
//! natively, in the guest (built with panic=unwind where the tool chain allows) and on
//! Windows (under Wine), the exported components under a stock `wasmtime` if one is on
//! PATH, and a comparison of the three targets. Every step runs even when an earlier one
//! failed (where it can), so the summary is complete.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::elsewhere;
use crate::fairness;
use crate::libtest::{self, BinaryRun};
use crate::process::{self, cargo, host_binary};
use crate::report::Report;
use crate::toolchain::{self, Detected, GuestChain, CROSS_TARGETS};
use crate::windows::{self, WINDOWS_TARGET};

/// Where the guest sees its scratch directory (`wasm_tests::GUEST_SCRATCH_DIR`).
const GUEST_SCRATCH: &str = "/tmp";

/// The packages whose tests must agree natively and in the guest.
pub const SUITE: [&str; 4] = ["-p", "twinloop", "-p", "wasm-tests"];

pub fn run() -> bool {
    let started = Instant::now();
    let mut det = Detected::detect();
    if det.complete() {
        match det.guest() {
            Some(chain) => println!(
                "test: guests are built with {}, {}",
                chain.describe(),
                chain.default_panic().name()
            ),
            None => unreachable!("complete() implies a guest tool chain"),
        }
    } else {
        println!("test: something is missing; running setup first");
        let (after, problems) = toolchain::setup(false);
        det = after;
        for problem in problems {
            println!("setup: problem: {problem}");
        }
    }
    let guest = det.guest();
    let mut report = Report::default();

    // 1. Format.
    let mut cmd = cargo();
    cmd.args(["fmt", "--all", "--check"]);
    step(&mut report, "fmt", &mut cmd);

    // 2. Native lints (the whole workspace, host included).
    let mut cmd = cargo();
    cmd.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    step(&mut report, "clippy (native)", &mut cmd);

    // 3. Guest lints.
    match guest {
        Some(chain) if det.guest_clippy() => {
            let mut cmd = chain.cargo("clippy");
            cmd.args(SUITE)
                .args(["--all-targets", "--", "-D", "warnings"]);
            step(&mut report, "clippy (wasm)", &mut cmd);
        }
        Some(_) => unavailable(
            &mut report,
            "clippy (wasm)",
            "no clippy for the guest tool chain",
        ),
        None => unavailable(&mut report, "clippy (wasm)", "no wasm32-wasip1 tool chain"),
    }

    // 4. Docs, natively and for the guest.
    let mut cmd = cargo();
    cmd.args(["doc", "--no-deps", "-p", "twinloop"])
        .env("RUSTDOCFLAGS", "-D warnings");
    step(&mut report, "doc (native)", &mut cmd);
    match guest {
        Some(chain) => {
            let mut cmd = chain.cargo("doc");
            cmd.args(["--no-deps", "-p", "twinloop"])
                .env("RUSTDOCFLAGS", "-D warnings");
            step(&mut report, "doc (wasm)", &mut cmd);
        }
        None => unavailable(&mut report, "doc (wasm)", "no wasm32-wasip1 tool chain"),
    }

    // 5. Type-checks for the operating systems we cannot run here.
    if let Err(e) = toolchain::write_c_stub() {
        println!("cross-check: cannot write the stand-in C tool chain: {e}");
    }
    for target in CROSS_TARGETS {
        let name = format!("cross-check {target}");
        match toolchain::cross_check_command(det.cross(target), target) {
            Some(mut cmd) => {
                step(&mut report, &name, &mut cmd);
            }
            None => {
                let note = format!("cross-check: skipped (no std for {target})");
                println!();
                println!("==> {name}");
                println!("{note}");
                report.notes.push(note);
            }
        }
    }

    // 6. Native tests, then the host's own tests (same profile as the host build), then
    //    the tooling's.
    let mut cmd = cargo();
    cmd.arg("test").args(SUITE).arg("--no-fail-fast");
    if let Some(runs) = test_step(&mut report, "tests (native)", &mut cmd) {
        report.native = runs;
        report.native_ran = true;
    }
    let mut cmd = cargo();
    cmd.args(["test", "--release", "-p", "twinloop-host", "--no-fail-fast"]);
    if let Some(runs) = test_step(&mut report, "tests (host)", &mut cmd) {
        report.host = runs;
    }
    // The tooling's own tests (xtask's parsers, the benchmark's helpers).
    let mut cmd = cargo();
    cmd.args(["test", "-p", "xtask", "-p", "bench", "--no-fail-fast"]);
    if let Some(runs) = test_step(&mut report, "tests (tooling)", &mut cmd) {
        report.host.extend(runs);
    }

    // 7. The host, then the suite in the guest, one fresh instance per test.
    let mut cmd = cargo();
    cmd.args(["build", "--release", "-p", "twinloop-host"]);
    let host_ok = step(
        &mut report,
        "build twinloop-host (may take ~5 minutes on a cold machine)",
        &mut cmd,
    );
    match guest {
        Some(_) if !host_ok => unavailable(&mut report, "tests (wasm)", "the host did not build"),
        Some(chain) => match GuestScratch::create() {
            Ok(scratch) => {
                let mut cmd = guest_test_command(chain, &scratch.0);
                if let Some(runs) = test_step(&mut report, "tests (wasm)", &mut cmd) {
                    report.wasm = runs;
                    report.wasm_ran = true;
                }
            }
            Err(e) => unavailable(
                &mut report,
                "tests (wasm)",
                &format!("no scratch directory for the guests: {e}"),
            ),
        },
        None => unavailable(&mut report, "tests (wasm)", "no wasm32-wasip1 tool chain"),
    }

    // 8. The suite built for Windows, each test binary run once under Wine.
    windows_tests(&mut report, &det);

    // 9. The exported components under the stock wasmtime CLI, if there is one.
    const ELSEWHERE: &str = "components under the stock wasmtime CLI";
    match (guest, elsewhere::wasmtime_version()) {
        (_, None) => {
            let note = format!(
                "{ELSEWHERE}: skipped (no `wasmtime` on PATH; `cargo install wasmtime-cli \
                 --version 48.0.8` provides one)"
            );
            println!();
            println!("==> {ELSEWHERE}");
            println!("{note}");
            report.notes.push(note);
        }
        (None, Some(_)) => unavailable(&mut report, ELSEWHERE, "no wasm32-wasip1 tool chain"),
        (Some(_), Some(_)) if !host_ok => {
            unavailable(&mut report, ELSEWHERE, "the host did not build")
        }
        (Some(chain), Some(version)) => {
            println!();
            println!("==> {ELSEWHERE} ({version})");
            let started = Instant::now();
            let result = elsewhere::check(chain, &version);
            if let Err(e) = &result {
                println!("{ELSEWHERE}: {e}");
                report.fail_step(format!("{ELSEWHERE}: {e}"));
            }
            footer(ELSEWHERE, result.is_ok(), started);
        }
    }

    // 10. The echo server beside a blasting peer, natively and in the guest.
    const FAIRNESS: &str = "echo server beside a blaster (native, guest), accept at the limit";
    if host_ok {
        println!();
        println!("==> {FAIRNESS}");
        let started = Instant::now();
        let result = fairness::check(guest);
        if let Err(e) = &result {
            report.fail_step(format!("{FAIRNESS}: {e}"));
        }
        footer(FAIRNESS, result.is_ok(), started);
    } else {
        unavailable(&mut report, FAIRNESS, "the host did not build");
    }

    // 11. Compare and summarise; the last four lines are the counts.
    let (lines, success) = report.render();
    println!();
    println!("==> summary (took {})", process::elapsed(started));
    for line in lines {
        println!("{line}");
    }
    success
}

/// Builds the suite for Windows and runs it under Wine, or says why it cannot.
fn windows_tests(report: &mut Report, det: &Detected) {
    const NAME: &str = "tests (windows, under Wine)";
    if !det.wine.ready() {
        let why = format!("missing: {}", det.wine.missing().join(", "));
        return unavailable(report, NAME, &why);
    }
    let runner = match std::env::current_exe() {
        Ok(exe) => format!("{} wine-run", exe.display()),
        Err(e) => return unavailable(report, NAME, &format!("no path to xtask: {e}")),
    };
    let Some(mut cmd) = windows::test_command(det.cross(WINDOWS_TARGET), &SUITE, &runner) else {
        return unavailable(report, NAME, &format!("no std for {WINDOWS_TARGET}"));
    };
    if let Err(e) = windows::build_shim() {
        return unavailable(report, NAME, &e);
    }
    if let Some(runs) = test_step(report, NAME, &mut cmd) {
        report.windows = runs;
        report.windows_ran = true;
    }
}

/// A fresh directory the guests may write in (`--dir-rw`), removed when dropped: one per
/// run, so that runs at the same time and earlier runs' leftovers do not meet.
struct GuestScratch(PathBuf);

impl GuestScratch {
    fn create() -> std::io::Result<GuestScratch> {
        let dir =
            std::env::temp_dir().join(format!("twinloop-guest-scratch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(GuestScratch(dir))
    }
}

impl Drop for GuestScratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `cargo test` of the suite for the guest, each test binary handed to the host, which
/// lets it reach the loopback addresses and look names up, and maps `scratch` to the
/// guest's `/tmp` (`wasm_tests::GUEST_SCRATCH_DIR`) for the tests that need files.
/// `--tests`: no doc tests in the guest (cargo skips them for other targets anyway).
fn guest_test_command(chain: GuestChain, scratch: &Path) -> Command {
    let runner = format!(
        "{} test --allow-net 127.0.0.1 --allow-net [::1] --allow-dns --dir-rw {}::{GUEST_SCRATCH}",
        host_binary().display(),
        scratch.display()
    );
    let mut cmd = chain.cargo("test");
    cmd.args(SUITE)
        .args(["--tests", "--no-fail-fast"])
        .env("CARGO_TARGET_WASM32_WASIP1_RUNNER", runner);
    cmd
}

/// Runs one step with a header and a footer; records a failure. Returns success.
fn step(report: &mut Report, name: &str, cmd: &mut Command) -> bool {
    process::header(name, cmd);
    let started = Instant::now();
    let ok = process::run_ok(cmd);
    footer(name, ok, started);
    if !ok {
        report.fail_step(name);
    }
    ok
}

/// Runs a `cargo test`, streaming and parsing its output. Returns the parsed test
/// binaries if there are any (a build failure yields none). A cargo that fails without
/// a failing test or an incomplete binary to show for it is a failed step.
fn test_step(report: &mut Report, name: &str, cmd: &mut Command) -> Option<Vec<BinaryRun>> {
    process::header(name, cmd);
    let started = Instant::now();
    let (status, output) = match process::run_captured(cmd) {
        Ok(done) => done,
        Err(e) => {
            println!("{e}");
            footer(name, false, started);
            report.fail_step(name);
            return None;
        }
    };
    let runs = libtest::parse(&output);
    footer(name, status.success(), started);
    let explained = runs.iter().any(|run| {
        run.incomplete().is_some()
            || run
                .results
                .iter()
                .any(|t| t.outcome == libtest::Outcome::Failed)
    });
    if !status.success() && !explained {
        let code = status
            .code()
            .map_or_else(|| "a signal".to_string(), |c| c.to_string());
        report.fail_step(format!("{name} (cargo exited with {code})"));
    }
    (!runs.is_empty()).then_some(runs)
}

fn unavailable(report: &mut Report, name: &str, why: &str) {
    println!();
    println!("==> {name}");
    println!("<-- {name}: FAILED ({why})");
    report.fail_step(format!("{name} ({why})"));
}

fn footer(name: &str, ok: bool, started: Instant) {
    let verdict = if ok { "ok" } else { "FAILED" };
    println!("<-- {name}: {verdict} ({})", process::elapsed(started));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_get_the_scratch_directory_as_tmp() {
        let cmd = guest_test_command(GuestChain::Debian, Path::new("/scratch/run-1"));
        let runner = cmd
            .get_envs()
            .find(|(k, _)| *k == "CARGO_TARGET_WASM32_WASIP1_RUNNER")
            .and_then(|(_, v)| v)
            .expect("a runner for the guest")
            .to_string_lossy()
            .into_owned();
        assert!(runner.contains(" test --allow-net 127.0.0.1 "), "{runner}");
        assert!(
            runner.ends_with(" --dir-rw /scratch/run-1::/tmp"),
            "{runner}"
        );
    }

    #[test]
    fn each_run_has_a_fresh_scratch_directory_removed_afterwards() {
        let scratch = GuestScratch::create().expect("a scratch directory");
        let dir = scratch.0.clone();
        std::fs::write(dir.join("left-behind"), b"x").unwrap();
        drop(scratch);
        assert!(!dir.exists(), "{} is still there", dir.display());
    }
}
