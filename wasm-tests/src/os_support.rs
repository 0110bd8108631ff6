//! Helpers for the tests of pipes, signals and subprocesses. Their real tests run
//! natively on Unix and are ignored by name elsewhere; one test per file runs only in
//! the guest and on Windows and checks that each call returns `Error::Unsupported`
//! naming itself.

use std::fs::File;
use std::time::Instant;

use twinloop::{Error, Result};

/// Checks that `result` is `Error::Unsupported` naming `what` on this target (the
/// guest, Windows).
pub fn assert_unsupported<T>(result: Result<T>, what: &str) {
    match result {
        Err(Error::Unsupported { what: w, target }) => {
            assert_eq!(w, what, "Unsupported names the call");
            assert_eq!(target, twinloop::TARGET);
        }
        Err(e) => panic!("{what}: expected Unsupported, got {e:?}"),
        Ok(_) => panic!("{what}: expected Unsupported, got Ok"),
    }
}

/// A pipe: (read end, write end); `None` where there are no pipes (the guest).
pub fn pipe() -> Option<(File, File)> {
    #[cfg(unix)]
    {
        use std::os::fd::OwnedFd;
        let (reader, writer) = std::io::pipe().expect("pipe");
        Some((
            File::from(OwnedFd::from(reader)),
            File::from(OwnedFd::from(writer)),
        ))
    }
    #[cfg(not(unix))]
    None
}

/// Where the loop has no pipe transports, a `File` to hand the pipe calls, to check that
/// they refuse: in the guest this instance's stdin (each test runs in a fresh instance;
/// call once per test), on Windows the read end of an anonymous pipe.
pub fn stand_in_file() -> File {
    #[cfg(target_os = "wasi")]
    {
        use std::os::fd::FromRawFd;
        // SAFETY: fd 0 is this instance's stdin, which nothing else in a test owns; the
        // File takes it over once (the call refuses and closes it).
        unsafe { File::from_raw_fd(0) }
    }
    #[cfg(windows)]
    {
        let (reader, _writer) = std::io::pipe().expect("pipe");
        File::from(std::os::windows::io::OwnedHandle::from(reader))
    }
    #[cfg(not(any(target_os = "wasi", windows)))]
    panic!("stand_in_file is for the guest and Windows")
}

/// Whether `pid` is no longer a child waiting to be reaped (`waitpid` says ECHILD):
/// natively, that the loop left no zombie behind.
#[cfg(unix)]
pub fn reaped(pid: u32) -> bool {
    let mut status = 0;
    // SAFETY: `status` is a valid c_int; WNOHANG never blocks.
    let rc = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
    rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD)
}

/// Where there are no processes, nothing is left behind.
#[cfg(not(unix))]
pub fn reaped(_pid: u32) -> bool {
    true
}

/// Sends `signal` to this process (natively; a no-op where there are no signals).
pub fn kill_self(signal: i32) {
    #[cfg(unix)]
    {
        // SAFETY: kill has no memory preconditions.
        let rc = unsafe { libc::kill(libc::getpid(), signal) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
    }
    #[cfg(not(unix))]
    let _ = signal;
}

/// One test of [`run_main_thread_tests`]: its name, its body and, where it is skipped on
/// this target, why (libtest's `#[ignore = "why"]`).
pub struct MainThreadTest {
    pub name: &'static str,
    pub run: fn(),
    pub ignore: Option<&'static str>,
}

/// A minimal libtest for a `harness = false` test binary whose tests must run on the
/// process's main thread (signal handlers): runs them there, one after the other, and
/// prints libtest's lines, so `cargo xtask test` and `twinloop-host test` read it like
/// any other. Understands `--list`, `--exact`, `--ignored`, `--include-ignored` and name
/// filters; other options are accepted and ignored. A test with an `ignore` reason is
/// reported as `ignored, REASON` unless ignored tests are asked for.
pub fn run_main_thread_tests(tests: &[MainThreadTest]) {
    let mut args = std::env::args().skip(1);
    let (mut list, mut exact, mut ignored_only, mut include_ignored) = (false, false, false, false);
    let mut filters = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--list" => list = true,
            "--exact" => exact = true,
            "--ignored" => ignored_only = true,
            "--include-ignored" => include_ignored = true,
            "--skip" | "--test-threads" | "--format" | "--color" | "-Z" => {
                args.next();
            }
            flag if flag.starts_with('-') => {}
            _ => filters.push(arg),
        }
    }
    let chosen: Vec<_> = tests
        .iter()
        .filter(|t| !ignored_only || t.ignore.is_some())
        .filter(|t| {
            filters.is_empty()
                || filters.iter().any(|f| {
                    if exact {
                        t.name == f
                    } else {
                        t.name.contains(f.as_str())
                    }
                })
        })
        .collect();
    if list {
        for t in &chosen {
            println!("{}: test", t.name);
        }
        println!("\n{} tests, 0 benchmarks", chosen.len());
        return;
    }
    let started = Instant::now();
    let (mut passed, mut ignored) = (0, 0);
    println!("\nrunning {} tests", chosen.len());
    for t in &chosen {
        match t.ignore {
            Some(why) if !ignored_only && !include_ignored => {
                println!("test {} ... ignored, {why}", t.name);
                ignored += 1;
            }
            _ => {
                (t.run)();
                println!("test {} ... ok", t.name);
                passed += 1;
            }
        }
    }
    println!(
        "\ntest result: ok. {passed} passed; 0 failed; {ignored} ignored; 0 measured; {} filtered out; finished in {:.2}s\n",
        tests.len() - chosen.len(),
        started.elapsed().as_secs_f64()
    );
}
