//! The end of `cargo xtask test`: skipped and failed tests, tests that ran on one target
//! and not on another, failed steps, and the counts. The last four lines are always
//! `native: ...`, `wasm: ...`, `windows: ...` and the total.
//!
//! Comparison rule: for the test binaries of `twinloop` and `wasm-tests` (not doc
//! tests), a test that ran (passed or failed) on one target must have run or been
//! ignored on each other target; ignoring it (`#[cfg_attr(target_os = "wasi", ignore =
//! "why")]`, `#[cfg_attr(windows, ignore = "why")]`) is the explicit, named way to skip
//! it. Tests are matched by binary crate name, source file and test name. The targets are
//! native (this machine), wasm (the guest) and windows (the Windows build under Wine).
//!
//! Counting rule: `native:`, `wasm:` and `windows:` count the portable suite, the tests
//! that run on every target, so the figures are comparable (equal when all pass). Tests
//! skipped by name on another target (threads natively, unwinding in a `panic=abort` guest, the host's sandbox
//! policy in the guest, Unix-only features) are target-specific: they are counted on
//! their own lines, one per target, and in the total.

use std::collections::BTreeMap;

use crate::libtest::{BinaryId, BinaryRun, Outcome};

#[derive(Debug, Default)]
pub struct Report {
    /// Steps that failed as a whole (lints, docs, builds, a cargo that failed without
    /// a failing test to show for it).
    pub failed_steps: Vec<String>,
    /// Printed above the counts (cross-checks that were skipped, for example).
    pub notes: Vec<String>,
    /// `twinloop` + `wasm-tests` run natively, doc tests included.
    pub native: Vec<BinaryRun>,
    /// The same packages in the guest.
    pub wasm: Vec<BinaryRun>,
    /// `twinloop-host`'s own tests and the tooling's (xtask, bench): native only by nature.
    pub host: Vec<BinaryRun>,
    /// The same packages built for Windows, run under Wine.
    pub windows: Vec<BinaryRun>,
    /// The native / guest / Windows test runs produced output to compare.
    pub native_ran: bool,
    pub wasm_ran: bool,
    pub windows_ran: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
}

impl Counts {
    fn of<'a>(runs: impl IntoIterator<Item = &'a BinaryRun>) -> Counts {
        let mut counts = Counts::default();
        for run in runs {
            counts.passed += run.count(|o| *o == Outcome::Passed);
            counts.failed += run.count(|o| *o == Outcome::Failed);
        }
        counts
    }

    fn add(self, other: Counts) -> Counts {
        Counts {
            passed: self.passed + other.passed,
            failed: self.failed + other.failed,
        }
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)
    }
}

impl Report {
    pub fn fail_step(&mut self, step: impl Into<String>) {
        self.failed_steps.push(step.into());
    }

    /// The summary lines and whether everything passed.
    pub fn render(&self) -> (Vec<String>, bool) {
        let mut lines = Vec::new();
        let mut errors = false;
        let doc: Vec<&BinaryRun> = self.native.iter().filter(|b| b.id.doc).collect();
        let targets = [
            Target {
                name: "native",
                unit: self.native.iter().filter(|b| !b.id.doc).collect(),
                listed: self.native.iter().chain(&self.host).collect(),
                ran: self.native_ran,
            },
            Target {
                name: "wasm",
                unit: self.wasm.iter().collect(),
                listed: self.wasm.iter().collect(),
                ran: self.wasm_ran,
            },
            Target {
                name: "windows",
                unit: self.windows.iter().collect(),
                listed: self.windows.iter().collect(),
                ran: self.windows_ran,
            },
        ];

        for target in &targets {
            for run in &target.listed {
                for test in &run.results {
                    if let Outcome::Ignored(reason) = &test.outcome {
                        lines.push(format!(
                            "skipped on {}: {} ({})",
                            target.name,
                            run.id.test_label(&test.name),
                            reason.as_deref().unwrap_or("no reason given")
                        ));
                    }
                }
            }
        }
        for target in &targets {
            for run in &target.listed {
                for test in &run.results {
                    if test.outcome == Outcome::Failed {
                        lines.push(format!(
                            "failed on {}: {}",
                            target.name,
                            run.id.test_label(&test.name)
                        ));
                    }
                }
                if let Some(why) = run.incomplete() {
                    errors = true;
                    lines.push(format!(
                        "incomplete output on {}: {}: {why}",
                        target.name,
                        binary_label(&run.id)
                    ));
                }
            }
        }

        for (i, a) in targets.iter().enumerate() {
            if !a.ran {
                lines.push(format!(
                    "compare: {} left out (its tests did not run; see the failed steps)",
                    a.name
                ));
                errors = true;
                continue;
            }
            for b in targets[i + 1..].iter().filter(|b| b.ran) {
                let mismatches = compare(a, b);
                errors |= !mismatches.is_empty();
                lines.extend(mismatches);
            }
        }

        lines.extend(self.notes.iter().cloned());
        for step in &self.failed_steps {
            lines.push(format!("failed step: {step}"));
        }

        let host = Counts::of(&self.host);
        let docs = Counts::of(doc.iter().copied());
        lines.push(format!("host and tooling tests: {host}"));
        lines.push(format!("doc tests: {docs}"));
        let mut total = host.add(docs);
        let mut portable = Vec::new();
        for target in &targets {
            let others: Vec<&Target> = targets
                .iter()
                .filter(|t| t.name != target.name && t.ran)
                .collect();
            let (shared, only) = split_by_skips(&target.unit, &others);
            let elsewhere: Vec<&str> = targets
                .iter()
                .filter(|t| t.name != target.name)
                .map(|t| t.name)
                .collect();
            lines.push(format!(
                "{}-specific tests (skipped by name on {}): {only}",
                target.name,
                elsewhere.join(" or ")
            ));
            total = total.add(shared).add(only);
            portable.push(format!("{}: {shared}", target.name));
        }
        lines.extend(portable);
        lines.push(format!("{total}"));

        let success = !errors && self.failed_steps.is_empty() && total.failed == 0;
        (lines, success)
    }
}

/// One target's runs: `unit` (the suite's test binaries, compared and counted) and
/// `listed` (those plus the host's and doc tests, for the skipped and failed lines).
struct Target<'a> {
    name: &'static str,
    unit: Vec<&'a BinaryRun>,
    listed: Vec<&'a BinaryRun>,
    ran: bool,
}

/// Counts of the tests that ran in `runs`: those that belong to every other target's run
/// too, and those some other target skipped by name (target-specific).
fn split_by_skips(runs: &[&BinaryRun], others: &[&Target]) -> (Counts, Counts) {
    let skipped_there: std::collections::BTreeSet<(&BinaryId, &str)> = others
        .iter()
        .flat_map(|target| &target.unit)
        .flat_map(|run| {
            run.results
                .iter()
                .filter(|t| matches!(t.outcome, Outcome::Ignored(_)))
                .map(move |t| (&run.id, t.name.as_str()))
        })
        .collect();
    let (mut shared, mut only) = (Counts::default(), Counts::default());
    for run in runs {
        for test in &run.results {
            let counts = if skipped_there.contains(&(&run.id, test.name.as_str())) {
                &mut only
            } else {
                &mut shared
            };
            match test.outcome {
                Outcome::Passed => counts.passed += 1,
                Outcome::Failed => counts.failed += 1,
                Outcome::Ignored(_) => {}
            }
        }
    }
    (shared, only)
}

fn binary_label(id: &BinaryId) -> String {
    if id.doc {
        format!("{} (doc tests)", id.crate_name)
    } else {
        format!("{} ({})", id.crate_name, id.source)
    }
}

/// Tests that ran on one of `a` and `b` and neither ran nor were ignored on the other.
fn compare(a: &Target, b: &Target) -> Vec<String> {
    fn index<'a>(runs: &[&'a BinaryRun]) -> BTreeMap<(&'a BinaryId, &'a str), &'a Outcome> {
        runs.iter()
            .flat_map(|run| {
                run.results
                    .iter()
                    .map(move |t| ((&run.id, t.name.as_str()), &t.outcome))
            })
            .collect()
    }
    let (a_index, b_index) = (index(&a.unit), index(&b.unit));
    let mut lines = Vec::new();
    for (ran, ran_index, other, other_index) in [
        (a.name, &a_index, b.name, &b_index),
        (b.name, &b_index, a.name, &a_index),
    ] {
        for ((id, name), outcome) in ran_index {
            if outcome.ran() && !other_index.contains_key(&(*id, *name)) {
                lines.push(format!(
                    "missing on {other}: {} (ran on {ran}; neither run nor ignored on {other})",
                    id.test_label(name)
                ));
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libtest::parse;

    const NATIVE: &str = "\
     Running unittests src/lib.rs (target/debug/deps/twinloop-0d8739e80b00857f)
running 3 tests
test a ... ok
test b ... ok
test only_native ... ok
test result: ok.
     Running tests/net.rs (target/debug/deps/net-00aa)
running 2 tests
test tcp ... ok
test threads ... ok
test result: ok.
   Doc-tests twinloop
running 1 test
test src/lib.rs - Loop (line 3) ... ok
test result: ok.
";
    const WASM: &str = "\
     Running unittests src/lib.rs (target/wasm/wasm32-wasip1/debug/deps/twinloop-11.wasm)
running 3 tests
test a ... ok
test b ... FAILED
test only_wasm ... ok
test result: FAILED.
     Running tests/net.rs (target/wasm/wasm32-wasip1/debug/deps/net-22.wasm)
running 2 tests
test tcp ... ok
test threads ... ignored, no threads in WASI preview 1
test result: ok.
";
    const HOST: &str = "\
     Running unittests src/lib.rs (target/release/deps/twinloop_host-33)
running 1 test
test policy::denies ... ok
test result: ok.
";

    // Windows skips `threads` by name like the guest, and runs `only_native` too.
    const WINDOWS: &str = "\
     Running unittests src/lib.rs (target/windows/x86_64-pc-windows-gnu/debug/deps/twinloop-44.exe)
running 3 tests
test a ... ok
test b ... ok
test only_native ... ok
test result: ok.
     Running tests/net.rs (target/windows/x86_64-pc-windows-gnu/debug/deps/net-55.exe)
running 2 tests
test tcp ... ok
test threads ... ignored, Unix only
test result: ok.
";

    fn report() -> Report {
        Report {
            native: parse(NATIVE),
            wasm: parse(WASM),
            windows: parse(WINDOWS),
            host: parse(HOST),
            native_ran: true,
            wasm_ran: true,
            windows_ran: true,
            ..Report::default()
        }
    }

    #[test]
    fn summary_ends_with_the_four_count_lines() {
        let (lines, success) = report().render();
        assert!(!success);
        let n = lines.len();
        // net::threads ran natively but is skipped by name in the guest and on Windows.
        assert_eq!(lines[n - 4], "native: 4 passed, 0 failed");
        assert_eq!(lines[n - 3], "wasm: 3 passed, 1 failed");
        assert_eq!(lines[n - 2], "windows: 4 passed, 0 failed");
        assert_eq!(lines[n - 1], "14 passed, 1 failed");
        assert_eq!(
            lines[n - 7],
            "native-specific tests (skipped by name on wasm or windows): 1 passed, 0 failed"
        );
        assert_eq!(
            lines[n - 6],
            "wasm-specific tests (skipped by name on native or windows): 0 passed, 0 failed"
        );
        assert_eq!(
            lines[n - 5],
            "windows-specific tests (skipped by name on native or wasm): 0 passed, 0 failed"
        );
        assert_eq!(lines[n - 9], "host and tooling tests: 1 passed, 0 failed");
        assert_eq!(lines[n - 8], "doc tests: 1 passed, 0 failed");
        assert!(lines.contains(&"failed on wasm: twinloop::b".to_string()));
        assert!(lines
            .contains(&"skipped on wasm: net::threads (no threads in WASI preview 1)".to_string()));
        assert!(lines.contains(&"skipped on windows: net::threads (Unix only)".to_string()));
        let missing: Vec<&String> = lines.iter().filter(|l| l.starts_with("missing")).collect();
        assert_eq!(
            missing,
            [
                "missing on wasm: twinloop::only_native (ran on native; neither run nor \
                 ignored on wasm)",
                "missing on native: twinloop::only_wasm (ran on wasm; neither run nor \
                 ignored on native)",
                "missing on windows: twinloop::only_wasm (ran on wasm; neither run nor \
                 ignored on windows)",
                "missing on wasm: twinloop::only_native (ran on windows; neither run nor \
                 ignored on wasm)",
            ]
        );
    }

    #[test]
    fn a_test_missing_on_windows_is_named() {
        let mut r = report();
        r.windows = parse(&WINDOWS.replace("test tcp ... ok\n", ""));
        let (lines, _) = r.render();
        assert!(lines.contains(
            &"missing on windows: net::tcp (ran on native; neither run nor ignored on windows)"
                .to_string()
        ));
    }

    #[test]
    fn matching_runs_pass_and_failed_steps_fail() {
        let suite = NATIVE.split("   Doc-tests").next().unwrap();
        let same = Report {
            native: parse(NATIVE),
            // The guest and Windows run no doc tests.
            wasm: parse(&suite.replace("-0d8739e80b00857f)", "-99.wasm)")),
            windows: parse(&suite.replace("-0d8739e80b00857f)", "-99.exe)")),
            native_ran: true,
            wasm_ran: true,
            windows_ran: true,
            ..Report::default()
        };
        let (lines, success) = same.render();
        assert!(success, "{lines:#?}");
        let n = lines.len();
        assert_eq!(
            lines[n - 4..n - 1],
            [
                "native: 5 passed, 0 failed",
                "wasm: 5 passed, 0 failed",
                "windows: 5 passed, 0 failed"
            ]
        );
        assert_eq!(lines.last().unwrap(), "16 passed, 0 failed");

        let mut failed = same;
        failed.fail_step("fmt");
        let (lines, success) = failed.render();
        assert!(!success);
        assert!(lines.contains(&"failed step: fmt".to_string()));
    }

    #[test]
    fn a_target_that_did_not_run_is_left_out_of_the_comparison() {
        let mut r = report();
        r.wasm = Vec::new();
        r.wasm_ran = false;
        r.fail_step("tests (wasm)");
        let (lines, success) = r.render();
        assert!(!success);
        assert!(!lines.iter().any(|l| l.starts_with("missing on")));
        assert!(lines.contains(
            &"compare: wasm left out (its tests did not run; see the failed steps)".to_string()
        ));
        assert_eq!(lines[lines.len() - 3], "wasm: 0 passed, 0 failed");
        // Nothing is skipped by name where nothing ran: only Windows' skip counts.
        assert_eq!(lines[lines.len() - 4], "native: 4 passed, 0 failed");
    }
}
