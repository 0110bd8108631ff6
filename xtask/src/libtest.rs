//! Parsing of `cargo test` output: which test binary ran, and what each test did.
//!
//! The input is cargo's stdout and stderr merged in order. Rules:
//! - `Running unittests SRC (PATH)` and `Running SRC (PATH)` (cargo's lines, indented)
//!   start a test binary. Its crate name is the file name of PATH without the
//!   extension (`.wasm`, `.exe`) and without cargo's `-<hex hash>` suffix, so the same
//!   binary gets the same identity natively and in the guest.
//! - `Doc-tests CRATE` starts the doc tests of CRATE.
//! - `running N test(s)` records how many tests the binary announced.
//! - `test NAME ... ok`, `... FAILED`, `... ignored` and `... ignored, REASON` are
//!   results; a trailing ` - should panic` is not part of the name. Any other status
//!   (benchmarks) and any other line are ignored.
//! - `test result: ...` closes the binary's output. A binary that announced more tests
//!   than it reported, or never printed its `test result:` line, is incomplete (it
//!   crashed, or the guest aborted).
//!
//! ANSI colour codes are removed first. The host's test mode prints the same shapes.

/// Which test binary a result came from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BinaryId {
    /// Crate name of the binary (`twinloop`, `wasm_tests`, `echo` for `tests/echo.rs`),
    /// or the documented crate for doc tests.
    pub crate_name: String,
    /// `src/lib.rs`, `tests/echo.rs`, ...; empty for doc tests.
    pub source: String,
    /// These are doc tests (`Doc-tests CRATE`).
    pub doc: bool,
}

impl BinaryId {
    fn unknown() -> BinaryId {
        BinaryId {
            crate_name: "(unknown binary)".to_string(),
            source: String::new(),
            doc: false,
        }
    }

    /// How a test of this binary is named in reports.
    pub fn test_label(&self, test: &str) -> String {
        if self.doc {
            format!("{} (doc) {}", self.crate_name, test)
        } else {
            format!("{}::{}", self.crate_name, test)
        }
    }
}

/// What happened to one test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    /// Ignored, with the reason given in `#[ignore = "..."]` if any.
    Ignored(Option<String>),
}

impl Outcome {
    pub fn ran(&self) -> bool {
        !matches!(self, Outcome::Ignored(_))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResult {
    pub name: String,
    pub outcome: Outcome,
}

/// The output of one test binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinaryRun {
    pub id: BinaryId,
    /// `running N tests`, if it was printed.
    pub announced: Option<usize>,
    pub results: Vec<TestResult>,
    /// A `test result:` line was seen.
    pub finished: bool,
}

impl BinaryRun {
    fn new(id: BinaryId) -> BinaryRun {
        BinaryRun {
            id,
            announced: None,
            results: Vec::new(),
            finished: false,
        }
    }

    /// Why the output of this binary looks cut short, if it does.
    pub fn incomplete(&self) -> Option<String> {
        if let Some(n) = self.announced {
            if self.results.len() < n {
                return Some(format!(
                    "announced {n} tests but reported {}",
                    self.results.len()
                ));
            }
        }
        if !self.finished {
            return Some("no `test result:` line (did the binary crash?)".to_string());
        }
        None
    }

    pub fn count(&self, pred: impl Fn(&Outcome) -> bool) -> usize {
        self.results.iter().filter(|r| pred(&r.outcome)).count()
    }
}

/// Parses merged `cargo test` output into one entry per test binary, in order.
pub fn parse(output: &str) -> Vec<BinaryRun> {
    let mut runs: Vec<BinaryRun> = Vec::new();
    for raw in output.lines() {
        let line = strip_ansi(raw);
        let line = line.trim_end();
        let body = line.trim_start();
        if let Some(rest) = body.strip_prefix("Running ") {
            if let Some(id) = parse_running(rest) {
                runs.push(BinaryRun::new(id));
            }
        } else if let Some(krate) = body.strip_prefix("Doc-tests ") {
            runs.push(BinaryRun::new(BinaryId {
                crate_name: krate.trim().to_string(),
                source: String::new(),
                doc: true,
            }));
        } else if let Some(n) = parse_announcement(line) {
            current(&mut runs).announced = Some(n);
        } else if line.starts_with("test result: ") {
            current(&mut runs).finished = true;
        } else if let Some(result) = parse_result(line) {
            current(&mut runs).results.push(result);
        }
    }
    runs
}

fn current(runs: &mut Vec<BinaryRun>) -> &mut BinaryRun {
    if runs.is_empty() {
        runs.push(BinaryRun::new(BinaryId::unknown()));
    }
    runs.last_mut().expect("just ensured non-empty")
}

/// `unittests src/lib.rs (target/debug/deps/twinloop-0123abcd)` or
/// `tests/echo.rs (target/wasm/wasm32-wasip1/debug/deps/echo-0123abcd.wasm)`.
fn parse_running(rest: &str) -> Option<BinaryId> {
    let rest = rest.trim();
    let rest = rest.strip_prefix("unittests ").unwrap_or(rest);
    let (source, path) = match rest.find(" (") {
        Some(i) if rest.ends_with(')') => (&rest[..i], &rest[i + 2..rest.len() - 1]),
        _ => (rest, rest),
    };
    if source.is_empty() || source.contains(char::is_whitespace) {
        return None;
    }
    Some(BinaryId {
        crate_name: crate_name_of(path),
        source: source.replace('\\', "/"),
        doc: false,
    })
}

/// `target/debug/deps/wasm_tests-0123456789abcdef.wasm` -> `wasm_tests`.
fn crate_name_of(path: &str) -> String {
    let file = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let stem = file
        .strip_suffix(".wasm")
        .or_else(|| file.strip_suffix(".exe"))
        .or_else(|| file.strip_suffix(".rs"))
        .unwrap_or(file);
    match stem.rsplit_once('-') {
        Some((name, hash))
            if !name.is_empty()
                && !hash.is_empty()
                && hash.chars().all(|c| c.is_ascii_hexdigit()) =>
        {
            name.to_string()
        }
        _ => stem.to_string(),
    }
}

/// `running 3 tests` / `running 1 test`.
fn parse_announcement(line: &str) -> Option<usize> {
    let rest = line.strip_prefix("running ")?;
    let n = rest
        .strip_suffix(" tests")
        .or_else(|| rest.strip_suffix(" test"))?;
    n.parse().ok()
}

/// `test NAME ... ok|FAILED|ignored|ignored, REASON`.
fn parse_result(line: &str) -> Option<TestResult> {
    let rest = line.strip_prefix("test ")?;
    let (name, status) = rest.rsplit_once(" ... ")?;
    let outcome = match status {
        "ok" => Outcome::Passed,
        "FAILED" => Outcome::Failed,
        "ignored" => Outcome::Ignored(None),
        _ => {
            let reason = status.strip_prefix("ignored, ")?.trim();
            Outcome::Ignored((!reason.is_empty()).then(|| reason.to_string()))
        }
    };
    let name = name.strip_suffix(" - should panic").unwrap_or(name).trim();
    if name.is_empty() {
        return None;
    }
    Some(TestResult {
        name: name.to_string(),
        outcome,
    })
}

/// Removes ANSI escape sequences (`ESC [ ... letter`), in case colour was forced on.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NATIVE: &str = "\
   Compiling twinloop v0.1.0 (/work/main)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.17s
     Running unittests src/lib.rs (target/debug/deps/twinloop-0d8739e80b00857f)

running 2 tests
test timer::tests::unit_ign ... ignored, slow on CI
test timer::tests::unit_ok ... ok

test result: ok. 1 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s

     Running unittests src/lib.rs (target/debug/deps/wasm_tests-1234567890abcdef)

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

     Running tests/foo.rs (target/debug/deps/foo-7fa2b1f698a9f762)

running 5 tests
test foo_ok ... ok
test foo_fail ... FAILED
test foo_panics - should panic ... ok
test foo_threads ... ok
test foo_plain_ignore ... ignored

failures:

---- foo_fail stdout ----

thread 'foo_fail' (8203) panicked at tests/foo.rs:3:25:
assertion `left == right` failed
test this is not a result line
failures:
    foo_fail

test result: FAILED. 3 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.06s

error: test failed, to rerun pass `--test foo`
   Doc-tests twinloop

running 2 tests
test src/lib.rs - add (line 4) ... ok
test src/lib.rs - Loop::run (line 20) ... ignored

test result: ok. 1 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.06s

error: 1 target failed:
    `--test foo`
";

    // What cargo prints around the host's test mode (`twinloop-host test`).
    const GUEST: &str = "\
    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.19s
     Running unittests src/lib.rs (target/wasm/wasm32-wasip1/debug/deps/twinloop-6c1a1ad8bda5608f.wasm)
running 2 tests
test timer::tests::unit_ign ... ignored, slow on CI
test timer::tests::unit_ok ... ok
test result: ok. 1 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.02s
     Running tests/foo.rs (target/wasm/wasm32-wasip1/debug/deps/foo-12686a79eb9122f9.wasm)
running 4 tests
test foo_ok ... ok
test foo_fail ... FAILED
guest aborted: assertion failed
test foo_threads ... ignored, no threads in the guest
";

    fn id(krate: &str, source: &str) -> BinaryId {
        BinaryId {
            crate_name: krate.to_string(),
            source: source.to_string(),
            doc: false,
        }
    }

    #[test]
    fn native_output_names_binaries_and_results() {
        let runs = parse(NATIVE);
        assert_eq!(runs.len(), 4);
        assert_eq!(runs[0].id, id("twinloop", "src/lib.rs"));
        assert_eq!(runs[1].id, id("wasm_tests", "src/lib.rs"));
        assert_eq!(runs[2].id, id("foo", "tests/foo.rs"));
        assert!(runs[3].id.doc);
        assert_eq!(runs[3].id.crate_name, "twinloop");

        assert_eq!(
            runs[0].results,
            vec![
                TestResult {
                    name: "timer::tests::unit_ign".into(),
                    outcome: Outcome::Ignored(Some("slow on CI".into())),
                },
                TestResult {
                    name: "timer::tests::unit_ok".into(),
                    outcome: Outcome::Passed,
                },
            ]
        );
        let foo = &runs[2];
        let names: Vec<&str> = foo.results.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "foo_ok",
                "foo_fail",
                "foo_panics",
                "foo_threads",
                "foo_plain_ignore"
            ]
        );
        assert_eq!(foo.results[1].outcome, Outcome::Failed);
        assert_eq!(foo.results[4].outcome, Outcome::Ignored(None));
        assert_eq!(foo.count(|o| *o == Outcome::Passed), 3);
        assert_eq!(runs[3].results[0].name, "src/lib.rs - add (line 4)");
        assert!(runs.iter().all(|r| r.incomplete().is_none()));
    }

    #[test]
    fn guest_output_has_same_identities_and_detects_abort() {
        let native = parse(NATIVE);
        let guest = parse(GUEST);
        assert_eq!(guest.len(), 2);
        assert_eq!(guest[0].id, native[0].id);
        assert_eq!(guest[1].id, native[2].id);
        assert!(guest[0].incomplete().is_none());
        assert_eq!(
            guest[1].results[2].outcome,
            Outcome::Ignored(Some("no threads in the guest".into()))
        );
        assert!(guest[1].incomplete().is_some(), "3 of 4 and no summary");
    }

    #[test]
    fn results_before_any_binary_line_are_kept() {
        let runs = parse("running 1 test\ntest a ... ok\ntest result: ok.\n");
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].id, BinaryId::unknown());
        assert_eq!(runs[0].announced, Some(1));
        assert!(runs[0].incomplete().is_none());
    }

    #[test]
    fn colour_codes_and_crlf_are_ignored() {
        let out = "\u{1b}[1m\u{1b}[32m     Running\u{1b}[0m tests/a.rs (target\\debug\\deps\\a-00ff.exe)\r\n\
                   test x ... \u{1b}[32mok\u{1b}[0m\r\n";
        let runs = parse(out);
        assert_eq!(runs[0].id, id("a", "tests/a.rs"));
        assert_eq!(runs[0].results[0].outcome, Outcome::Passed);
    }

    #[test]
    fn other_statuses_and_noise_are_not_results() {
        for line in [
            "test bench_x ... bench:         100 ns/iter (+/- 3)",
            "test x has been running for over 60 seconds",
            "test  ... ok",
            "tests ok ... ok",
        ] {
            assert_eq!(parse_result(line), None, "{line}");
        }
    }

    #[test]
    fn crate_names_drop_hash_and_extension() {
        assert_eq!(
            crate_name_of("target/debug/deps/twinloop-0d8739e80b00857f"),
            "twinloop"
        );
        assert_eq!(crate_name_of("deps/wasm_tests-0123abcd.wasm"), "wasm_tests");
        assert_eq!(crate_name_of("deps/no_hash"), "no_hash");
        assert_eq!(crate_name_of("deps/my-crate-zz"), "my-crate-zz");
        assert_eq!(parse_running("src/bin/x.rs"), Some(id("x", "src/bin/x.rs")));
    }
}
