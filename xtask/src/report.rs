//! The end of `cargo xtask test`: skipped and failed tests, tests that ran on only one
//! target, failed steps, and the counts. The last three lines are always
//! `native: ...`, `wasm: ...` and the total.
//!
//! Comparison rule: for the test binaries of `twinloop` and `wasm-tests` (not doc
//! tests), a test that ran (passed or failed) on one target must have run or been
//! ignored on the other; ignoring it (`#[cfg_attr(target_os = "wasi", ignore = "why")]`)
//! is the explicit, named way to skip it. Tests are matched by binary crate name,
//! source file and test name.
//!
//! Counting rule: `native:` and `wasm:` count the portable suite, the tests that run on
//! both targets, so the two figures are comparable (equal when all pass). Tests skipped
//! by name on the other target (threads, unwinding in a `panic=abort` guest, the host's
//! sandbox policy) are target-specific: they are counted on their own `native-only` /
//! `wasm-only` lines, and in the total.

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
    /// The native / guest test runs produced output to compare.
    pub native_ran: bool,
    pub wasm_ran: bool,
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
        let native_unit: Vec<&BinaryRun> = self.native.iter().filter(|b| !b.id.doc).collect();
        let doc: Vec<&BinaryRun> = self.native.iter().filter(|b| b.id.doc).collect();
        let native_all: Vec<&BinaryRun> = self.native.iter().chain(&self.host).collect();
        let wasm: Vec<&BinaryRun> = self.wasm.iter().collect();

        for (target, runs) in [("native", &native_all), ("wasm", &wasm)] {
            for run in runs.iter() {
                for test in &run.results {
                    if let Outcome::Ignored(reason) = &test.outcome {
                        lines.push(format!(
                            "skipped on {target}: {} ({})",
                            run.id.test_label(&test.name),
                            reason.as_deref().unwrap_or("no reason given")
                        ));
                    }
                }
            }
        }
        for (target, runs) in [("native", &native_all), ("wasm", &wasm)] {
            for run in runs.iter() {
                for test in &run.results {
                    if test.outcome == Outcome::Failed {
                        lines.push(format!(
                            "failed on {target}: {}",
                            run.id.test_label(&test.name)
                        ));
                    }
                }
                if let Some(why) = run.incomplete() {
                    errors = true;
                    lines.push(format!(
                        "incomplete output on {target}: {}: {why}",
                        binary_label(&run.id)
                    ));
                }
            }
        }

        if self.native_ran && self.wasm_ran {
            let mismatches = compare(&native_unit, &wasm);
            errors |= !mismatches.is_empty();
            lines.extend(mismatches);
        } else {
            let missing = if self.native_ran { "wasm" } else { "native" };
            lines.push(format!(
                "compare: skipped (the {missing} tests did not run; see the failed steps)"
            ));
            errors = true;
        }

        lines.extend(self.notes.iter().cloned());
        for step in &self.failed_steps {
            lines.push(format!("failed step: {step}"));
        }

        let (native, native_only) = split_by_skips(&native_unit, &wasm);
        let (wasm_counts, wasm_only) = split_by_skips(&wasm, &native_unit);
        let host = Counts::of(&self.host);
        let docs = Counts::of(doc.iter().copied());
        let total = native
            .add(native_only)
            .add(wasm_counts)
            .add(wasm_only)
            .add(host)
            .add(docs);
        lines.push(format!("host and tooling tests: {host}"));
        lines.push(format!("doc tests: {docs}"));
        lines.push(format!(
            "native-only tests (skipped by name in the guest): {native_only}"
        ));
        lines.push(format!(
            "wasm-only tests (skipped by name natively): {wasm_only}"
        ));
        lines.push(format!("native: {native}"));
        lines.push(format!("wasm: {wasm_counts}"));
        lines.push(format!("{total}"));

        let success = !errors && self.failed_steps.is_empty() && total.failed == 0;
        (lines, success)
    }
}

/// Counts of the tests that ran in `runs`: those that also belong to the other target's
/// run, and those the other target skipped by name (target-specific).
fn split_by_skips(runs: &[&BinaryRun], other: &[&BinaryRun]) -> (Counts, Counts) {
    let skipped_there: std::collections::BTreeSet<(&BinaryId, &str)> = other
        .iter()
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

/// Tests that ran on one target and neither ran nor were ignored on the other.
fn compare(native: &[&BinaryRun], wasm: &[&BinaryRun]) -> Vec<String> {
    fn index<'a>(runs: &[&'a BinaryRun]) -> BTreeMap<(&'a BinaryId, &'a str), &'a Outcome> {
        runs.iter()
            .flat_map(|run| {
                run.results
                    .iter()
                    .map(move |t| ((&run.id, t.name.as_str()), &t.outcome))
            })
            .collect()
    }
    let native_index = index(native);
    let wasm_index = index(wasm);
    let mut lines = Vec::new();
    for ((id, name), outcome) in &native_index {
        if outcome.ran() && !wasm_index.contains_key(&(*id, *name)) {
            lines.push(format!(
                "missing on wasm: {} (ran natively; not run or ignored in the guest)",
                id.test_label(name)
            ));
        }
    }
    for ((id, name), outcome) in &wasm_index {
        if outcome.ran() && !native_index.contains_key(&(*id, *name)) {
            lines.push(format!(
                "missing on native: {} (ran in the guest; not run or ignored natively)",
                id.test_label(name)
            ));
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

    fn report() -> Report {
        Report {
            native: parse(NATIVE),
            wasm: parse(WASM),
            host: parse(HOST),
            native_ran: true,
            wasm_ran: true,
            ..Report::default()
        }
    }

    #[test]
    fn summary_ends_with_the_three_count_lines() {
        let (lines, success) = report().render();
        assert!(!success);
        let n = lines.len();
        // net::threads ran natively but is skipped by name in the guest: native-only.
        assert_eq!(lines[n - 3], "native: 4 passed, 0 failed");
        assert_eq!(lines[n - 2], "wasm: 3 passed, 1 failed");
        assert_eq!(lines[n - 1], "10 passed, 1 failed");
        assert_eq!(
            lines[n - 5],
            "native-only tests (skipped by name in the guest): 1 passed, 0 failed"
        );
        assert_eq!(
            lines[n - 4],
            "wasm-only tests (skipped by name natively): 0 passed, 0 failed"
        );
        assert_eq!(lines[n - 7], "host and tooling tests: 1 passed, 0 failed");
        assert_eq!(lines[n - 6], "doc tests: 1 passed, 0 failed");
        assert!(lines.contains(&"failed on wasm: twinloop::b".to_string()));
        assert!(lines
            .contains(&"skipped on wasm: net::threads (no threads in WASI preview 1)".to_string()));
        assert!(lines
            .iter()
            .any(|l| l.starts_with("missing on wasm: twinloop::only_native")));
        assert!(lines
            .iter()
            .any(|l| l.starts_with("missing on native: twinloop::only_wasm")));
        assert!(!lines.iter().any(|l| l.contains("net::threads (ran")));
    }

    #[test]
    fn matching_runs_pass_and_failed_steps_fail() {
        let same = Report {
            native: parse(NATIVE),
            // The guest runs no doc tests.
            wasm: parse(
                &NATIVE
                    .split("   Doc-tests")
                    .next()
                    .unwrap()
                    .replace("-0d8739e80b00857f)", "-99.wasm)"),
            ),
            native_ran: true,
            wasm_ran: true,
            ..Report::default()
        };
        let (lines, success) = same.render();
        assert!(success, "{lines:#?}");
        assert_eq!(lines.last().unwrap(), "11 passed, 0 failed");

        let mut failed = same;
        failed.fail_step("fmt");
        let (lines, success) = failed.render();
        assert!(!success);
        assert!(lines.contains(&"failed step: fmt".to_string()));
    }

    #[test]
    fn no_guest_run_means_no_name_by_name_comparison() {
        let mut r = report();
        r.wasm = Vec::new();
        r.wasm_ran = false;
        r.fail_step("tests (wasm)");
        let (lines, success) = r.render();
        assert!(!success);
        assert!(!lines.iter().any(|l| l.starts_with("missing on")));
        assert_eq!(lines[lines.len() - 2], "wasm: 0 passed, 0 failed");
    }
}
