//! Asking a libtest guest which tests it has, which of them are ignored and
//! why, by running it with `--list` and reading what it prints.

use std::collections::{HashMap, HashSet};

use anyhow::{bail, Result};

use crate::host::Guest;
use crate::policy::SandboxPolicy;
use crate::run::{RunOutcome, Stdio};

/// One test of a libtest guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestCase {
    /// The test's full path, e.g. `net::tcp::echo`.
    pub name: String,
    /// Whether the test is marked `#[ignore]`.
    pub ignored: bool,
}

impl Guest {
    /// Lists the tests of a libtest guest: one run with `--list` for the
    /// names, one with `--list --ignored` to learn which are `#[ignore]`d.
    ///
    /// `Ok(None)` if the guest exited with 0 but did not answer like libtest
    /// (no `N tests, M benchmarks` line), as a `harness = false` test does.
    /// `Err` if it failed to list.
    pub fn list_tests(&self, policy: &SandboxPolicy) -> Result<Option<Vec<TestCase>>> {
        let Some(all) = self.list_names(policy, &[])? else {
            return Ok(None);
        };
        let ignored: HashSet<String> = if all.is_empty() {
            HashSet::new()
        } else {
            self.list_names(policy, &["--ignored"])?
                .unwrap_or_default()
                .into_iter()
                .collect()
        };
        Ok(Some(
            all.into_iter()
                .map(|name| TestCase {
                    ignored: ignored.contains(&name),
                    name,
                })
                .collect(),
        ))
    }

    fn list_names(&self, policy: &SandboxPolicy, extra: &[&str]) -> Result<Option<Vec<String>>> {
        let mut args = vec!["--list".to_owned()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let outcome = self.run(policy, &args, Stdio::Capture)?;
        if !outcome.success() {
            bail!(
                "listing the tests (with {}) failed: {}\n{}",
                args.join(" "),
                describe_end(&outcome),
                String::from_utf8_lossy(&[outcome.stdout, outcome.stderr].concat()).trim_end()
            );
        }
        Ok(parse_list(&String::from_utf8_lossy(&outcome.stdout)))
    }

    /// The reasons given in `#[ignore = "..."]` for the tests `names`
    /// (best effort: one run of the guest with the names as exact filters,
    /// reading libtest's `test NAME ... ignored, REASON` lines).
    pub(crate) fn ignore_reasons(
        &self,
        policy: &SandboxPolicy,
        names: &[&str],
    ) -> HashMap<String, String> {
        if names.is_empty() {
            return HashMap::new();
        }
        let mut args: Vec<String> = ["--exact", "--test-threads", "1"]
            .map(String::from)
            .to_vec();
        args.extend(names.iter().map(|s| s.to_string()));
        match self.run(policy, &args, Stdio::Capture) {
            Ok(outcome) => parse_ignore_reasons(&String::from_utf8_lossy(&outcome.stdout)),
            Err(_) => HashMap::new(),
        }
    }
}

/// "exited with code N" / "trapped: MESSAGE".
pub(crate) fn describe_end(outcome: &RunOutcome) -> String {
    match outcome.trap() {
        Some(trap) => format!("guest trapped: {}", trap.message),
        None => format!("guest exited with code {}", outcome.exit_code()),
    }
}

/// Reads libtest's `--list` output: `NAME: test` lines (and `NAME: bench`,
/// which libtest runs once as a test outside `--bench`), then a summary line
/// `N tests, M benchmarks`. `None` if there is no summary line: the guest is
/// not libtest.
pub(crate) fn parse_list(output: &str) -> Option<Vec<String>> {
    let is_summary = |line: &str| {
        let words: Vec<&str> = line.split_whitespace().collect();
        matches!(
            words.as_slice(),
            [n, "test," | "tests,", m, "benchmark" | "benchmarks"]
                if n.parse::<usize>().is_ok() && m.parse::<usize>().is_ok()
        )
    };
    if !output.lines().any(is_summary) {
        return None;
    }
    Some(
        output
            .lines()
            .filter_map(|line| {
                line.strip_suffix(": test")
                    .or_else(|| line.strip_suffix(": bench"))
            })
            .map(str::to_owned)
            .collect(),
    )
}

/// Reads `test NAME ... ignored, REASON` lines.
pub(crate) fn parse_ignore_reasons(output: &str) -> HashMap<String, String> {
    output
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("test ")?;
            let (name, verdict) = rest.split_once(" ... ")?;
            let reason = verdict.strip_prefix("ignored, ")?;
            Some((name.to_owned(), reason.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_list() {
        let out = "a::b: test\nc: bench\nnoise\nd: test\n\n2 tests, 1 benchmark\n";
        assert_eq!(parse_list(out).unwrap(), ["a::b", "c", "d"]);
        assert!(parse_list("0 tests, 0 benchmarks\n").unwrap().is_empty());
        assert!(parse_list("1 test, 0 benchmarks\n").is_some());
        assert_eq!(parse_list("a: test\n"), None);
        assert_eq!(parse_list("hello from a harness = false test\n"), None);
    }

    #[test]
    fn parses_ignore_reasons() {
        let out = "\nrunning 2 tests\ntest a ... ignored, needs network\ntest b ... ignored\n\n";
        let reasons = parse_ignore_reasons(out);
        assert_eq!(reasons.len(), 1);
        assert_eq!(reasons["a"], "needs network");
    }
}
