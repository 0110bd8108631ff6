//! The suite on Windows, run under Wine: `twinloop` and `wasm-tests` built for
//! `x86_64-pc-windows-gnu` (mingw's gcc links), each test binary started once by Wine's
//! 64-bit loader through `cargo xtask wine-run`, which bounds its time.
//!
//! Wine 8 (Debian 12) needs two things from us: its loader's path (`/usr/lib/wine/wine64`;
//! plain `wine` wants a 32-bit prefix), and a `bcryptprimitives.dll` exporting
//! `ProcessPrng`, which Rust's std imports and Wine 8 lacks (without it every binary fails
//! to start with status c0000135). That DLL is built here from `xtask/windows/` with
//! mingw's gcc and put next to the test executables.
//!
//! The standard library for the target comes from rustup's `x86_64-pc-windows-gnu` if
//! installed, else from Debian's tool chain (`debweb`) with `-Zbuild-std`, as for the
//! guest.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{self, cargo, windows_target_dir};
use crate::toolchain::{self, CrossChain, DEB_TOOLCHAIN};

pub const WINDOWS_TARGET: &str = "x86_64-pc-windows-gnu";
const WINE64: &str = "/usr/lib/wine/wine64";
const MINGW_GCC: &str = "x86_64-w64-mingw32-gcc";
const APT_PACKAGES: [&str; 2] = ["wine64", "gcc-mingw-w64-x86-64"];
/// How long one test binary may run under Wine (the slowest takes ~20 s).
const BINARY_LIMIT: Duration = Duration::from_secs(300);

/// Profile settings for this build only (its own target directory), to keep the time it
/// adds to `cargo xtask test` small: the workspace optimises rustls and ring even in test
/// builds (the guest's TLS needs it), which here costs ~80 s of a cold build and saves
/// ~1 s of the run; full debug info makes 90 MB executables (line tables keep the file
/// and line in backtraces).
const BUILD_TIME_CONFIG: [&str; 3] = [
    "profile.dev.package.rustls.opt-level=0",
    "profile.dev.package.ring.opt-level=0",
    "profile.dev.debug=\"line-tables-only\"",
];

const SHIM_C: &str = include_str!("../windows/process_prng.c");
const SHIM_DEF: &str = include_str!("../windows/process_prng.def");
const SHIM_DLL: &str = "bcryptprimitives.dll";

/// Wine and the mingw cross compiler: found or not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WineTools {
    pub wine64: bool,
    pub mingw: bool,
}

impl WineTools {
    pub fn detect() -> WineTools {
        WineTools {
            wine64: Path::new(WINE64).exists(),
            mingw: process::output_of(MINGW_GCC, &["--version"]).is_some(),
        }
    }

    pub fn ready(self) -> bool {
        self.wine64 && self.mingw
    }

    /// What is missing, by the Debian package that brings it.
    pub fn missing(self) -> Vec<&'static str> {
        [
            (self.wine64, APT_PACKAGES[0]),
            (self.mingw, APT_PACKAGES[1]),
        ]
        .into_iter()
        .filter(|(found, _)| !found)
        .map(|(_, package)| package)
        .collect()
    }

    pub fn print(self, chain: CrossChain) {
        let yes = |b: bool| if b { "found" } else { "MISSING" };
        println!(
            "setup: Wine's 64-bit loader ({WINE64}): {}",
            yes(self.wine64)
        );
        println!("setup: mingw's gcc ({MINGW_GCC}): {}", yes(self.mingw));
        let std = match chain {
            CrossChain::Rustup => "rustup target".to_string(),
            CrossChain::Debian => format!("`{DEB_TOOLCHAIN}` with -Zbuild-std"),
            CrossChain::Unavailable => "MISSING".to_string(),
        };
        println!("setup: std for {WINDOWS_TARGET} (tests under Wine): {std}");
    }
}

/// Installs Wine and mingw's gcc with apt where we are root; says what to run otherwise.
pub fn install(tools: WineTools, problems: &mut Vec<String>) {
    let missing = tools.missing();
    if missing.is_empty() {
        return;
    }
    let apt_line = format!("apt-get update && apt-get install -y {}", missing.join(" "));
    if !process::is_root() {
        println!("setup: not root, so not installing Wine for the Windows tests; as root:");
        println!("    {apt_line}");
    } else {
        println!("setup: installing Wine and mingw for the Windows tests: {apt_line}");
        if toolchain::apt_install(&missing) {
            return;
        }
    }
    problems.push(format!(
        "no Wine or mingw for the Windows tests (`{apt_line}`)"
    ));
}

fn deps_dir() -> PathBuf {
    windows_target_dir()
        .join(WINDOWS_TARGET)
        .join("debug")
        .join("deps")
}

/// Builds the `ProcessPrng` DLL next to where the test executables will be.
pub fn build_shim() -> Result<(), String> {
    let src = windows_target_dir().join("shim");
    let deps = deps_dir();
    for dir in [&src, &deps] {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let (c, def) = (src.join("process_prng.c"), src.join("process_prng.def"));
    for (path, text) in [(&c, SHIM_C), (&def, SHIM_DEF)] {
        std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    let mut gcc = Command::new(MINGW_GCC);
    gcc.args(["-shared", "-O2", "-o"])
        .arg(deps.join(SHIM_DLL))
        .arg(&c)
        .arg(&def)
        .arg("-ladvapi32");
    let title = format!("build {SHIM_DLL} (ProcessPrng for Wine 8)");
    process::header(&title, &gcc);
    let ok = process::run_ok(&mut gcc);
    println!("<-- {title}: {}", if ok { "ok" } else { "FAILED" });
    if ok {
        Ok(())
    } else {
        Err(format!("{MINGW_GCC} could not build {SHIM_DLL}"))
    }
}

/// `cargo test` of `packages` for Windows, each test binary run under Wine by
/// [`wine_run`] (`runner` is the command line that reaches it).
pub fn test_command(chain: CrossChain, packages: &[&str], runner: &str) -> Option<Command> {
    let mut cmd = cargo();
    match chain {
        CrossChain::Unavailable => return None,
        CrossChain::Rustup => {
            cmd.arg("test");
        }
        CrossChain::Debian => {
            cmd.arg(format!("+{DEB_TOOLCHAIN}"))
                .arg("test")
                .arg("-Zbuild-std=std,panic_unwind")
                .env("RUSTC_BOOTSTRAP", "1");
        }
    }
    let runner_var = format!(
        "CARGO_TARGET_{}_RUNNER",
        WINDOWS_TARGET.replace('-', "_").to_uppercase()
    );
    cmd.env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env(runner_var, runner)
        .env("WINEPREFIX", windows_target_dir().join("wineprefix"))
        .env("WINEDEBUG", "-all")
        // No .NET or HTML engine in the prefix: its first start takes 7 s instead of 12.
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .args(packages)
        .args(BUILD_TIME_CONFIG.iter().flat_map(|c| ["--config", c]))
        .args(["--tests", "--no-fail-fast", "--target", WINDOWS_TARGET])
        .arg("--target-dir")
        .arg(windows_target_dir());
    Some(cmd)
}

/// `cargo xtask wine-run EXE ARGS...`: runs one test binary under Wine, killed (and
/// failed, saying so) if it takes longer than [`BINARY_LIMIT`].
pub fn wine_run(args: &[String]) -> bool {
    let Some((exe, rest)) = args.split_first() else {
        println!("wine-run: no executable given");
        return false;
    };
    let first = wine_attempt(exe, rest);
    let outcome = match first {
        // Wine's own plumbing failed (the client lost its wineserver), not the test:
        // what the binary printed is dropped and it runs once more.
        Attempt::Finished { ok: false, output } if is_wine_failure(&output) => {
            println!("wine-run: Wine failed under {exe} (\"wine client error\"); running it again");
            wine_attempt(exe, rest)
        }
        other => other,
    };
    match outcome {
        Attempt::Finished { ok, output } => {
            print!("{}", output.stdout);
            eprint!("{}", output.stderr);
            process::flush();
            ok
        }
        Attempt::Failed(message) => {
            println!("wine-run: {message}");
            false
        }
    }
}

/// What one run of a test binary under Wine printed.
struct Output {
    stdout: String,
    stderr: String,
}

enum Attempt {
    Finished { ok: bool, output: Output },
    Failed(String),
}

/// Wine's client/server channel broke: the message Wine prints then, with no result.
fn is_wine_failure(output: &Output) -> bool {
    output.stderr.contains("wine client error") && !output.stdout.contains("test result:")
}

/// Runs `exe` once under Wine, its output kept (printed by the caller).
fn wine_attempt(exe: &str, rest: &[String]) -> Attempt {
    use std::io::Read;
    use std::process::Stdio;
    let mut cmd = Command::new(WINE64);
    cmd.arg(exe)
        .args(rest)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Attempt::Failed(format!("could not start {}: {e}", process::describe(&cmd)))
        }
    };
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = process::wait_with_timeout(&mut child, BINARY_LIMIT);
    if !matches!(status, Ok(Some(_))) {
        let _ = child.kill();
        let _ = child.wait();
    }
    let output = Output {
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    };
    match status {
        Ok(Some(status)) => Attempt::Finished {
            ok: status.success(),
            output,
        },
        Ok(None) => {
            print!("{}", output.stdout);
            eprint!("{}", output.stderr);
            Attempt::Failed(format!(
                "{exe} did not finish within {} s under Wine: killed",
                BINARY_LIMIT.as_secs()
            ))
        }
        Err(e) => Attempt::Failed(format!("waiting for {exe}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_wines_own_failures_are_run_again() {
        let out = |stdout: &str, stderr: &str| Output {
            stdout: stdout.into(),
            stderr: stderr.into(),
        };
        assert!(is_wine_failure(&out(
            "",
            "wine client error:0: recvmsg: Connection reset by peer\n"
        )));
        assert!(!is_wine_failure(&out(
            "test result: FAILED. 1 passed; 1 failed",
            ""
        )));
        assert!(!is_wine_failure(&out(
            "test result: ok. 3 passed",
            "wine client error:0: recvmsg"
        )));
        assert!(!is_wine_failure(&out("", "thread 'x' panicked")));
    }

    fn args(cmd: &Command) -> Vec<String> {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn env(cmd: &Command, key: &str) -> Option<String> {
        cmd.get_envs()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v)
            .map(|v| v.to_string_lossy().into_owned())
    }

    #[test]
    fn the_test_command_builds_std_and_runs_binaries_through_wine_run() {
        let suite = ["-p", "twinloop"];
        let cmd = test_command(CrossChain::Debian, &suite, "/x/xtask wine-run").unwrap();
        let a = args(&cmd);
        assert_eq!(a[..3], ["+debweb", "test", "-Zbuild-std=std,panic_unwind"]);
        assert!(a.windows(2).any(|w| w == ["--target", WINDOWS_TARGET]));
        assert!(a.windows(2).any(|w| w == suite));
        assert!(a.last().unwrap().ends_with("windows"), "{a:?}");
        assert_eq!(env(&cmd, "RUSTC_BOOTSTRAP").as_deref(), Some("1"));
        assert_eq!(
            env(&cmd, "CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER").as_deref(),
            Some("/x/xtask wine-run")
        );
        assert_eq!(env(&cmd, "WINEDEBUG").as_deref(), Some("-all"));
        assert!(a
            .windows(2)
            .any(|w| w == ["--config", "profile.dev.debug=\"line-tables-only\""]));
        assert!(env(&cmd, "WINEPREFIX").unwrap().ends_with("wineprefix"));

        let rustup = test_command(CrossChain::Rustup, &suite, "r").unwrap();
        assert_eq!(args(&rustup)[..2], ["test", "-p"]);
        assert_eq!(env(&rustup, "RUSTC_BOOTSTRAP"), None);
        assert!(test_command(CrossChain::Unavailable, &suite, "r").is_none());
    }

    #[test]
    fn missing_tools_are_named_by_their_package() {
        let none = WineTools::default();
        assert!(!none.ready());
        assert_eq!(none.missing(), ["wine64", "gcc-mingw-w64-x86-64"]);
        let wine_only = WineTools {
            wine64: true,
            mingw: false,
        };
        assert_eq!(wine_only.missing(), ["gcc-mingw-w64-x86-64"]);
        assert!(SHIM_DEF.contains("ProcessPrng") && SHIM_C.contains("RtlGenRandom"));
    }
}
