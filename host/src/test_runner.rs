//! Test mode: the host lists a libtest guest's tests and runs each one in a
//! fresh instance of the once-compiled component, several at a time on host
//! threads, and prints the results the way libtest does. A guest built with
//! `panic=abort` stops at its first failing test, which this makes harmless;
//! one built with `panic=unwind` could report several failures in one
//! instance, but a fresh instance per test still keeps each test from seeing
//! what another left behind (a loop left running, a socket left bound).

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::host::Guest;
use crate::policy::SandboxPolicy;
use crate::run::{RunOutcome, Stdio};
use crate::test_args::{IgnoredMode, TestArgs};
use crate::test_list::{describe_end, TestCase};

/// The time limit `twinloop-host test` gives each test when none is set, so a
/// hanging test fails instead of hanging CI.
pub const DEFAULT_TEST_TIME_LIMIT: Duration = Duration::from_secs(120);

/// The exit code of a test run with failures (libtest's).
pub const TEST_FAILURE_EXIT_CODE: i32 = 101;

/// Counts of a finished test run, as in libtest's `test result:` line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestReport {
    /// Tests that ran and passed.
    pub passed: usize,
    /// Names of the tests that failed, sorted.
    pub failed: Vec<String>,
    /// Tests reported as ignored and not run.
    pub ignored: usize,
    /// Tests left out by the filters, `--skip` or `--ignored`.
    pub filtered_out: usize,
    /// Wall-clock time of the whole run.
    pub elapsed: Duration,
}

impl TestReport {
    /// Whether no test failed.
    pub fn success(&self) -> bool {
        self.failed.is_empty()
    }

    /// 0 if every test passed, [`TEST_FAILURE_EXIT_CODE`] otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.success() {
            0
        } else {
            TEST_FAILURE_EXIT_CODE
        }
    }
}

/// What happened to one test that ran.
struct Finished {
    name: String,
    /// `None` if it passed, else why it failed (besides its output).
    failure: Option<String>,
    output: Vec<u8>,
}

impl Guest {
    /// Runs the `tests` of a libtest guest (as listed by
    /// [`Guest::list_tests`]) that `args` selects, each in its own instance
    /// under `policy`, printing libtest-style progress and results to `out`.
    ///
    /// A test passes if its instance exits with 0 after libtest reported one
    /// passed test; it fails if it exits otherwise (libtest's 101 for a
    /// panic under `panic=unwind`), traps (a panic under `panic=abort`) or
    /// runs out of `policy.time_limit`. The failure
    /// report shows each failed test's stdout and stderr (interleaved) and
    /// the trap message. `Err` only if writing to `out` fails.
    pub fn run_tests(
        &self,
        policy: &SandboxPolicy,
        tests: &[TestCase],
        args: &TestArgs,
        out: &mut dyn Write,
    ) -> Result<TestReport> {
        let start = Instant::now();
        let mut report = TestReport::default();
        let mut to_run: Vec<&TestCase> = Vec::new();
        let mut to_ignore: Vec<&str> = Vec::new();
        for test in tests {
            let wanted =
                args.matches(&test.name) && (test.ignored || args.ignored != IgnoredMode::Only);
            if !wanted {
                report.filtered_out += 1;
            } else if test.ignored && args.ignored == IgnoredMode::Skip {
                to_ignore.push(&test.name);
            } else {
                to_run.push(test);
            }
        }
        let reasons = self.ignore_reasons(policy, &to_ignore);

        let total = to_run.len() + to_ignore.len();
        writeln!(
            out,
            "\nrunning {total} test{}",
            if total == 1 { "" } else { "s" }
        )?;
        let mut progress = Progress {
            quiet: args.quiet,
            done: 0,
            total,
        };
        for name in &to_ignore {
            let line = match reasons.get(*name) {
                Some(reason) => format!("ignored, {reason}"),
                None => "ignored".to_owned(),
            };
            progress.print(out, name, &line, 'i')?;
            report.ignored += 1;
        }

        let threads = args
            .test_threads
            .map(usize::from)
            .or_else(|| thread::available_parallelism().ok().map(usize::from))
            .unwrap_or(1)
            .clamp(1, to_run.len().max(1));
        let mut failures = Vec::new();
        let mut successes = Vec::new();
        let next = AtomicUsize::new(0);
        let (tx, rx) = mpsc::channel::<Finished>();
        thread::scope(|scope| -> Result<()> {
            for _ in 0..threads {
                let tx = tx.clone();
                let (next, to_run) = (&next, &to_run);
                scope.spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(test) = to_run.get(i) else { break };
                    if tx
                        .send(self.run_one(policy, test, args.show_backtraces))
                        .is_err()
                    {
                        break;
                    }
                });
            }
            drop(tx);
            for finished in rx {
                match &finished.failure {
                    None => {
                        progress.print(out, &finished.name, "ok", '.')?;
                        report.passed += 1;
                        successes.push(finished);
                    }
                    Some(_) => {
                        progress.print(out, &finished.name, "FAILED", 'F')?;
                        report.failed.push(finished.name.clone());
                        failures.push(finished);
                    }
                }
            }
            Ok(())
        })?;
        progress.finish(out)?;

        if args.show_output && !successes.is_empty() {
            successes.sort_by(|a, b| a.name.cmp(&b.name));
            write_outputs(out, "successes", &successes)?;
        }
        if !failures.is_empty() {
            failures.sort_by(|a, b| a.name.cmp(&b.name));
            write_outputs(out, "failures", &failures)?;
        }
        report.failed.sort();
        report.elapsed = start.elapsed();
        writeln!(
            out,
            "\ntest result: {}. {} passed; {} failed; {} ignored; 0 measured; {} filtered out; finished in {:.2}s\n",
            if report.success() { "ok" } else { "FAILED" },
            report.passed,
            report.failed.len(),
            report.ignored,
            report.filtered_out,
            report.elapsed.as_secs_f64()
        )?;
        out.flush()?;
        Ok(report)
    }

    /// Runs one test in a fresh instance and judges it.
    fn run_one(&self, policy: &SandboxPolicy, test: &TestCase, show_backtrace: bool) -> Finished {
        let mut args: Vec<String> = vec!["--exact".into(), test.name.clone()];
        if test.ignored {
            args.push("--ignored".into());
        }
        args.extend(["--nocapture", "--test-threads", "1"].map(String::from));
        let (failure, output) = match self.run(policy, &args, Stdio::CaptureMerged) {
            Err(e) => (
                Some(format!("error: the host could not run the test: {e:#}")),
                Vec::new(),
            ),
            Ok(outcome) => (judge(&outcome, show_backtrace), outcome.stdout),
        };
        Finished {
            name: test.name.clone(),
            failure,
            output,
        }
    }
}

/// `None` if the test passed, else what to say about its end.
fn judge(outcome: &RunOutcome, show_backtrace: bool) -> Option<String> {
    let text = String::from_utf8_lossy(&outcome.stdout);
    if outcome.success() {
        if text.contains("test result: ok. 1 passed") {
            return None;
        }
        return Some(
            "note: the guest exited with 0 but libtest did not report the test as passed"
                .to_owned(),
        );
    }
    Some(match outcome.trap() {
        Some(trap) if show_backtrace => format!("error: guest trapped: {trap}"),
        Some(trap) => format!(
            "error: guest trapped: {}{}",
            trap.message,
            if trap.backtrace.is_some() {
                "\nnote: run with `RUST_BACKTRACE=1` to see the wasm backtrace"
            } else {
                ""
            }
        ),
        None => format!("note: {}", describe_end(outcome)),
    })
}

/// Prints a `failures:` (or `successes:`) section like libtest's.
fn write_outputs(out: &mut dyn Write, title: &str, tests: &[Finished]) -> Result<()> {
    writeln!(out, "\n{title}:")?;
    for test in tests {
        writeln!(out, "\n---- {} stdout ----", test.name)?;
        let text = String::from_utf8_lossy(&test.output);
        let text = strip_libtest_chatter(&text, &test.name);
        if !text.is_empty() {
            writeln!(out, "{text}")?;
        }
        if let Some(failure) = &test.failure {
            writeln!(out, "{failure}")?;
        }
    }
    writeln!(out, "\n{title}:")?;
    for test in tests {
        writeln!(out, "    {}", test.name)?;
    }
    Ok(())
}

/// Drops the lines the guest's own libtest wrote around the test's output
/// (`running 1 test`, `test NAME ... `, the final `test result` and, where
/// the guest unwinds and so reports the failure itself, its `FAILED` verdict
/// and `failures:` list), which would only repeat what the host reports.
fn strip_libtest_chatter<'a>(text: &'a str, name: &str) -> &'a str {
    let mut text = text.trim_start_matches('\n');
    text = text.strip_prefix("running 1 test\n").unwrap_or(text);
    let header = format!("test {name} ... ");
    text = text
        .strip_prefix(header.as_str())
        .unwrap_or(text)
        .trim_start_matches('\n');
    if let Some(at) = text.rfind("\ntest result: ") {
        text = &text[..at];
    }
    let own_report = format!("FAILED\n\nfailures:\n\nfailures:\n    {name}");
    text = text.trim_end();
    text = text.strip_suffix(own_report.as_str()).unwrap_or(text);
    text.trim_end()
}

/// libtest-style progress: a line per test, or with `--quiet` a character
/// per test and a count every 88 tests.
struct Progress {
    quiet: bool,
    done: usize,
    total: usize,
}

impl Progress {
    fn print(&mut self, out: &mut dyn Write, name: &str, verdict: &str, mark: char) -> Result<()> {
        self.done += 1;
        if self.quiet {
            write!(out, "{mark}")?;
            if self.done.is_multiple_of(88) {
                writeln!(out, " {}/{}", self.done, self.total)?;
            }
        } else {
            writeln!(out, "test {name} ... {verdict}")?;
        }
        out.flush()?;
        Ok(())
    }

    fn finish(&self, out: &mut dyn Write) -> Result<()> {
        if self.quiet && !self.done.is_multiple_of(88) {
            writeln!(out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_guest_libtest_lines() {
        let out = "\nrunning 1 test\ntest a::b ... hello\nthread 'a::b' panicked at src/lib.rs:3:5:\nboom\n";
        assert_eq!(
            strip_libtest_chatter(out, "a::b"),
            "hello\nthread 'a::b' panicked at src/lib.rs:3:5:\nboom"
        );
        let ok = "\nrunning 1 test\ntest a ... ok\n\ntest result: ok. 1 passed; 0 failed\n\n";
        assert_eq!(strip_libtest_chatter(ok, "a"), "ok");
        // An unwinding guest's libtest reports the failure itself (`--nocapture`).
        let unwound = "\nrunning 1 test\ntest a::b ... \nthread 'main' (1) panicked at t.rs:3:9:\n\
                       boom\nFAILED\n\nfailures:\n\nfailures:\n    a::b\n\n\
                       test result: FAILED. 0 passed; 1 failed\n\n";
        assert_eq!(
            strip_libtest_chatter(unwound, "a::b"),
            "thread 'main' (1) panicked at t.rs:3:9:\nboom"
        );
    }

    #[test]
    fn report_exit_codes() {
        let mut r = TestReport::default();
        assert_eq!(r.exit_code(), 0);
        r.failed.push("x".into());
        assert_eq!(r.exit_code(), 101);
    }
}
