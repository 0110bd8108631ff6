//! `TestArgs`: the libtest command line (`cargo test -- ARGS`) as test mode
//! understands it.
//!
//! Test mode does the filtering itself (it runs each test in its own
//! instance), so it reads the options that decide *which* tests run and *how*
//! results are shown, and accepts and ignores the rest of libtest's options
//! so that the usual `cargo test -- --nocapture` style invocations work.

use std::num::NonZeroUsize;

use anyhow::{anyhow, bail, Result};

/// What to do with `#[ignore]`d tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IgnoredMode {
    /// Report them as ignored without running them (libtest's default).
    #[default]
    Skip,
    /// Run only them (`--ignored`).
    Only,
    /// Run them along with the others (`--include-ignored`).
    Include,
}

/// The parsed libtest arguments of a `twinloop-host test` run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestArgs {
    /// Positional filters: a test runs if its name contains one of them (or
    /// equals one, with `--exact`). No filters: every test.
    pub filters: Vec<String>,
    /// `--skip X`: tests whose names contain `X` (equal it, with `--exact`)
    /// do not run.
    pub skip: Vec<String>,
    /// `--exact`: filters and skips match whole names.
    pub exact: bool,
    /// `--ignored` / `--include-ignored`.
    pub ignored: IgnoredMode,
    /// `--test-threads N`: how many guest instances run at once (default: the
    /// host's available parallelism).
    pub test_threads: Option<NonZeroUsize>,
    /// `-q` / `--quiet`: one character per test instead of one line.
    pub quiet: bool,
    /// `--show-output`: print the output of passing tests too.
    pub show_output: bool,
    /// Show the wasm backtrace of trapped tests in the failure report (set by
    /// the command line from `RUST_BACKTRACE`; not a libtest option).
    pub show_backtraces: bool,
    /// `--list`, `--help` or `--bench`: nothing for test mode to do; the
    /// arguments go to one run of the guest unchanged.
    pub pass_through: bool,
    /// The arguments as given, for [`TestArgs::pass_through`].
    pub raw: Vec<String>,
    /// Options that were not recognised and were ignored, to warn about.
    pub unknown: Vec<String>,
}

/// libtest options that take a value and that test mode ignores.
const IGNORED_WITH_VALUE: &[&str] = &["--logfile", "--color", "--format", "-Z", "--shuffle-seed"];

/// libtest flags that test mode ignores (capture is always on per test, and
/// each test runs in its own instance anyway).
const IGNORED_FLAGS: &[&str] = &[
    "--nocapture",
    "--no-capture",
    "--test",
    "--force-run-in-process",
    "--exclude-should-panic",
    "--report-time",
    "--ensure-time",
    "--shuffle",
    "--fail-fast",
];

impl TestArgs {
    /// Parses libtest's arguments (everything after the module path).
    ///
    /// ```
    /// use twinloop_host::{IgnoredMode, TestArgs};
    /// let args: Vec<String> = ["net::", "--skip", "slow", "--include-ignored", "--test-threads=2"]
    ///     .map(String::from).to_vec();
    /// let parsed = TestArgs::parse(&args).unwrap();
    /// assert_eq!(parsed.filters, ["net::"]);
    /// assert_eq!(parsed.ignored, IgnoredMode::Include);
    /// assert!(parsed.matches("net::tcp_echo") && !parsed.matches("net::slow_echo"));
    /// ```
    pub fn parse(args: &[String]) -> Result<TestArgs> {
        let mut parsed = TestArgs {
            raw: args.to_vec(),
            ..TestArgs::default()
        };
        let (mut only_ignored, mut include_ignored) = (false, false);
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
                _ => (arg.as_str(), None),
            };
            let mut value = |what: &str| -> Result<String> {
                match &inline {
                    Some(v) => Ok(v.clone()),
                    None => it
                        .next()
                        .cloned()
                        .ok_or_else(|| anyhow!("libtest option {name} needs {what}")),
                }
            };
            match name {
                "--" => parsed.filters.extend(it.by_ref().cloned()),
                "--exact" => parsed.exact = true,
                "--ignored" => only_ignored = true,
                "--include-ignored" => include_ignored = true,
                "-q" | "--quiet" => parsed.quiet = true,
                "--show-output" => parsed.show_output = true,
                "--list" | "-h" | "--help" | "--bench" => parsed.pass_through = true,
                "--skip" => parsed.skip.push(value("a name")?),
                "--test-threads" => {
                    let v = value("a number")?;
                    let n = v
                        .parse::<NonZeroUsize>()
                        .map_err(|_| anyhow!("--test-threads must be a number > 0, not {v:?}"))?;
                    parsed.test_threads = Some(n);
                }
                n if IGNORED_WITH_VALUE.contains(&n) => {
                    value("a value")?;
                }
                n if n.starts_with("-Z") && n.len() > 2 => {}
                n if IGNORED_FLAGS.contains(&n) => {}
                n if n.starts_with('-') && n.len() > 1 => parsed.unknown.push(arg.clone()),
                _ => parsed.filters.push(arg.clone()),
            }
        }
        parsed.ignored = match (only_ignored, include_ignored) {
            (true, true) => bail!("--ignored and --include-ignored cannot be used together"),
            (true, false) => IgnoredMode::Only,
            (false, true) => IgnoredMode::Include,
            (false, false) => IgnoredMode::Skip,
        };
        Ok(parsed)
    }

    /// Whether a test named `name` passes the filters and skips (ignoring
    /// `#[ignore]`, which [`TestArgs::ignored`] governs).
    pub fn matches(&self, name: &str) -> bool {
        let hit = |pattern: &String| {
            if self.exact {
                name == pattern
            } else {
                name.contains(pattern.as_str())
            }
        };
        (self.filters.is_empty() || self.filters.iter().any(hit)) && !self.skip.iter().any(hit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> TestArgs {
        TestArgs::parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn filters_and_skips() {
        let a = parse(&["tcp", "udp", "--skip", "slow"]);
        assert!(a.matches("net::tcp_echo"));
        assert!(a.matches("net::udp_echo"));
        assert!(!a.matches("net::tcp_slow"));
        assert!(!a.matches("timers::later"));
        let a = parse(&["--exact", "net::tcp"]);
        assert!(a.matches("net::tcp"));
        assert!(!a.matches("net::tcp_echo"));
        let a = parse(&["--exact", "--skip", "a", "--skip=b"]);
        assert!(!a.matches("a") && !a.matches("b") && a.matches("ab"));
        assert!(parse(&[]).matches("anything"));
    }

    #[test]
    fn accepts_libtest_options() {
        let a = parse(&[
            "--nocapture",
            "-q",
            "--test-threads",
            "3",
            "--format",
            "terse",
            "-Z",
            "unstable-options",
            "-Zunstable-options",
            "--color=never",
            "--show-output",
            "--include-ignored",
            "name",
        ]);
        assert_eq!(a.filters, ["name"]);
        assert!(a.quiet && a.show_output && !a.pass_through);
        assert_eq!(a.test_threads, NonZeroUsize::new(3));
        assert_eq!(a.ignored, IgnoredMode::Include);
        assert!(a.unknown.is_empty());
        assert_eq!(parse(&["--ignored"]).ignored, IgnoredMode::Only);
        assert!(parse(&["--list"]).pass_through);
        assert_eq!(parse(&["--frobnicate", "x"]).unknown, ["--frobnicate"]);
        assert_eq!(parse(&["--", "--odd-name"]).filters, ["--odd-name"]);
    }

    #[test]
    fn rejects_bad_values() {
        let bad = |args: &[&str]| {
            TestArgs::parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap_err()
        };
        assert!(bad(&["--test-threads", "0"]).to_string().contains("\"0\""));
        assert!(bad(&["--test-threads", "many"])
            .to_string()
            .contains("many"));
        assert!(bad(&["--skip"]).to_string().contains("--skip"));
        assert!(bad(&["--ignored", "--include-ignored"])
            .to_string()
            .contains("together"));
        assert!(bad(&["--include-ignored", "--ignored"])
            .to_string()
            .contains("together"));
    }
}
