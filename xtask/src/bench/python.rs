//! Python's echo servers (`bench/probes/asyncio_echo.py`, on asyncio's loop and with
//! `--uvloop` on uvloop's): which interpreter runs them, or why they are skipped.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::process::{self, workspace_root};
use crate::toolchain::apt_install;

/// The interpreters tried, in order: the first `python3` on PATH, then Debian's (where
/// `apt-get install python3-uvloop` puts uvloop, which a pyenv or venv `python3` earlier
/// on PATH does not see).
const CANDIDATES: [&str; 2] = ["python3", "/usr/bin/python3"];

/// The interpreter each Python server runs on, or why it does not run.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Pythons {
    pub(super) asyncio: Result<String, String>,
    pub(super) uvloop: Result<String, String>,
}

/// The echo server script.
pub(super) fn script() -> PathBuf {
    workspace_root()
        .join("bench")
        .join("probes")
        .join("asyncio_echo.py")
}

/// Finds the interpreters. Both servers run on the same one when it has uvloop, so that
/// asyncio and uvloop are compared on one Python.
pub(super) fn find() -> Pythons {
    let works = |python: &str, code: &str| {
        Command::new(python)
            .args(["-c", code])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let present: Vec<&str> = CANDIDATES
        .into_iter()
        .filter(|p| works(p, "import asyncio"))
        .collect();
    let with_uvloop = present.iter().find(|p| works(p, "import uvloop"));
    choose(&present, with_uvloop.copied())
}

/// "Python 3.11.2, uvloop 0.17.0": what an interpreter runs the servers with.
pub(super) fn describe(python: &str) -> String {
    let code = "import sys\ntry:\n import uvloop; u = ', uvloop ' + uvloop.__version__\n\
                except ImportError:\n u = ''\nprint('Python ' + sys.version.split()[0] + u)";
    process::output_of(python, &["-c", code])
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "version unknown".into())
}

/// `cargo xtask setup`'s part: uvloop for the benchmark's uvloop server, from Debian's
/// `python3-uvloop` when running as root. Returns what is still missing, if anything
/// (not a setup failure: the benchmark then skips uvloop with a note).
pub(crate) fn setup_uvloop() -> Option<String> {
    if find().uvloop.is_ok() {
        return None;
    }
    let apt_line = "apt-get update && apt-get install -y python3-uvloop";
    if !process::is_root() {
        return Some(format!(
            "uvloop is missing (the benchmark skips its server); as root: {apt_line}"
        ));
    }
    println!("setup: installing uvloop for the benchmark: {apt_line}");
    if !apt_install(&["python3-uvloop"]) {
        return Some(format!("`{apt_line}` failed: the benchmark skips uvloop"));
    }
    find().uvloop.err()
}

/// The choice, from the interpreters that run asyncio and the first that has uvloop.
fn choose(present: &[&str], with_uvloop: Option<&str>) -> Pythons {
    let asyncio = match (with_uvloop, present.first().copied()) {
        (Some(p), _) | (None, Some(p)) => Ok(p.to_string()),
        (None, None) => Err("asyncio and uvloop skipped: no python3".to_string()),
    };
    let uvloop = match (with_uvloop, present.is_empty()) {
        (Some(p), _) => Ok(p.to_string()),
        (None, true) => Err("uvloop skipped: no python3".to_string()),
        (None, false) => Err(format!(
            "uvloop skipped: `{} -c 'import uvloop'` fails (as root: apt-get install -y \
             python3-uvloop, or `cargo xtask setup`)",
            present.join("`, `")
        )),
    };
    Pythons { asyncio, uvloop }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_servers_prefer_the_python_with_uvloop() {
        let p = choose(&["python3", "/usr/bin/python3"], Some("/usr/bin/python3"));
        assert_eq!(p.asyncio.as_deref(), Ok("/usr/bin/python3"));
        assert_eq!(p.uvloop.as_deref(), Ok("/usr/bin/python3"));
        let p = choose(&["python3"], None);
        assert_eq!(p.asyncio.as_deref(), Ok("python3"));
        assert!(p.uvloop.unwrap_err().contains("python3-uvloop"));
        let p = choose(&[], None);
        assert!(p.asyncio.is_err() && p.uvloop.is_err());
    }
}
