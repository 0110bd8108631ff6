//! The `twinloop-host` binary: exit codes, messages, argument errors and test
//! mode, on WAT fixtures.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn host(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twinloop-host"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("running twinloop-host")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn run_passes_output_and_exit_code_through() {
    let hello = common::write_fixture("cli-hello.wasm", &common::hello());
    let out = host(&["run", path(&hello)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(out.stdout, b"hello\n");

    let exit7 = common::write_fixture("cli-exit7.wasm", &common::exit7());
    assert_eq!(host(&["run", path(&exit7)]).status.code(), Some(7));
}

#[test]
fn run_gives_args_after_the_module_to_the_guest() {
    let args = common::write_fixture("cli-args.wasm", &common::print_args());
    let out = host(&["run", "--env", "A=1", path(&args), "--", "--env", "x"]);
    assert_eq!(out.stdout, b"cli-args.wasm\0--env\0x\0");
    let out = host(&["run", path(&args), "a", "--", "b"]);
    assert_eq!(out.stdout, b"cli-args.wasm\0a\0--\0b\0");
}

#[test]
fn run_reports_a_trap_with_its_backtrace() {
    let trap = common::write_fixture("cli-trap.wasm", &common::trap());
    let out = host(&["run", path(&trap)]);
    assert_eq!(out.status.code(), Some(134));
    let err = text(&out.stderr);
    assert!(err.starts_with("error: guest trapped: "), "{err}");
    assert!(err.contains("unreachable"), "{err}");
    assert!(err.contains("deep_inside"), "backtrace missing: {err}");
}

#[test]
fn run_enforces_the_time_limit() {
    let spin = common::write_fixture("cli-spin.wasm", &common::spin());
    let out = host(&["run", "--time-limit", "0.2", path(&spin)]);
    assert_eq!(out.status.code(), Some(124));
    assert!(
        text(&out.stderr).contains("time limit of 0.2 s exceeded"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn run_enforces_max_memory() {
    let grow = common::write_fixture("cli-grow.wasm", &common::grow_10_mib());
    assert_eq!(host(&["run", path(&grow)]).status.code(), Some(0));
    let out = host(&["run", "--max-memory", "4M", path(&grow)]);
    assert_eq!(out.status.code(), Some(123), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("memory limit exceeded: 4 MiB (--max-memory)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn usage_errors_exit_with_2_in_clap_words() {
    let hello = common::write_fixture("cli-hello2.wasm", &common::hello());
    let cases: &[(&[&str], &str)] = &[
        (
            &["run"],
            "the following required arguments were not provided",
        ),
        (&["run"], "<MODULE>"),
        (
            &["frobnicate", "x.wasm"],
            "unrecognized subcommand 'frobnicate'",
        ),
        (
            &["run", "--allow-net", "10.0.0.0/33", path(&hello)],
            "invalid value '10.0.0.0/33' for '--allow-net <RULE>'",
        ),
        (
            &["run", "--allow-net", "127.0.0.1:http", path(&hello)],
            "127.0.0.1:http",
        ),
        (
            &["run", "--allow-net"],
            "a value is required for '--allow-net <RULE>'",
        ),
        (&["run", "--env", "NOEQUALS", path(&hello)], "NOEQUALS"),
        (&["run", "--max-memory", "lots", path(&hello)], "lots"),
        (
            &["run", "--max-output", "lots", path(&hello)],
            "--max-output",
        ),
        (
            &["run", "--max-sockets", "some", path(&hello)],
            "--max-sockets",
        ),
        (&["run", "--time-limit", "soon", path(&hello)], "soon"),
        (&["run", "--instances", "0", path(&hello)], "--instances"),
        (&["run", "--dir", "/a::", path(&hello)], "/a::"),
        (
            &["run", "--bogus", path(&hello)],
            "unexpected argument '--bogus' found",
        ),
        (
            &["component", path(&hello), "--bogus"],
            "unexpected argument '--bogus' found",
        ),
    ];
    for (args, needle) in cases {
        let out = host(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(
            err.contains("For more information, try '--help'."),
            "{args:?}: {err}"
        );
        assert!(
            err.contains(needle),
            "{args:?}: expected {needle:?} in {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // No arguments at all: the help, on stderr, and a usage error's code.
    let out = host(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("Usage: twinloop-host"));
}

#[test]
fn host_errors_exit_with_2_and_say_why_in_one_line() {
    let hello = common::write_fixture("cli-hello6.wasm", &common::hello());
    let not_wasm = common::write_fixture("cli-not-wasm.wasm", b"definitely not wasm");
    let no_memory = common::write_fixture(
        "cli-no-memory.wasm",
        &wat::parse_str(r#"(module (func (export "_start")))"#).unwrap(),
    );
    let no_start = common::write_fixture(
        "cli-no-start.wasm",
        &wat::parse_str(r#"(module (memory (export "memory") 1))"#).unwrap(),
    );
    let truncated = common::write_fixture("cli-truncated.wasm", b"\0asm\x01\0\0\0\x01");
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", path(&no_memory)],
            "exports no memory named `memory`",
        ),
        (&["run", path(&no_start)], "exports no `_start` function"),
        (&["run", path(&truncated)], "unexpected end-of-file"),
        (&["run", "/nonexistent/m.wasm"], "/nonexistent/m.wasm"),
        (&["run", path(&not_wasm)], "not a WebAssembly binary"),
        (
            &["test", path(&hello), "--test-threads", "0"],
            "--test-threads",
        ),
        (
            &["run", "--dir", "/nonexistent/dir", path(&hello)],
            "/nonexistent/dir",
        ),
    ];
    for (args, needle) in cases {
        let out = host(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: expected {needle:?} in {err}"
        );
    }
}

#[test]
fn help_and_version() {
    let out = host(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for needle in [
        "run",
        "test",
        "component",
        "Exit codes",
        "CARGO_TARGET_WASM32_WASIP1_RUNNER",
    ] {
        assert!(help.contains(needle), "{needle:?} missing from {help}");
    }
    let out = host(&["run", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for needle in [
        "--allow-net",
        "--allow-dns",
        "--env",
        "--inherit-stdin",
        "--dir",
        "--dir-rw",
        "--max-memory",
        "--max-output",
        "--max-sockets",
        "--time-limit",
        "--instances",
        "nothing but stdout and stderr",
        "121 --max-sockets",
    ] {
        assert!(help.contains(needle), "{needle:?} missing from {help}");
    }
    let out = host(&["test", "-h"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("LIBTEST-ARGS"));
    for flag in ["--version", "-V"] {
        let out = host(&[flag]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            text(&out.stdout),
            format!("twinloop-host {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn run_dir_gives_the_guest_a_directory() {
    // The fixtures cannot read files, but a preopen of a missing directory is
    // a host error naming it, and an existing one runs.
    let hello = common::write_fixture("cli-hello7.wasm", &common::hello());
    let dir = hello.parent().unwrap();
    let guest_dir = format!("{}::/data", path(dir));
    let out = host(&[
        "run",
        "--dir",
        &guest_dir,
        "--dir-rw",
        path(dir),
        path(&hello),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(out.stdout, b"hello\n");
}

#[test]
fn run_instances_runs_the_guest_n_times_at_once() {
    let hello = common::write_fixture("cli-hello8.wasm", &common::hello());
    let out = host(&["run", "--instances", "3", path(&hello)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(out.stdout, b"hello\nhello\nhello\n");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));

    let exit7 = common::write_fixture("cli-exit7c.wasm", &common::exit7());
    let out = host(&["run", "--instances", "3", path(&exit7)]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    for i in 0..3 {
        assert!(
            err.contains(&format!("instance {i}: exited with code 7\n")),
            "{err}"
        );
    }
    assert_eq!(err.lines().count(), 3, "{err}");

    let trap = common::write_fixture("cli-trap2.wasm", &common::trap());
    let out = host(&["run", "--instances", "2", path(&trap)]);
    assert_eq!(out.status.code(), Some(134), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("instance 1: trapped: "), "{err}");
    assert_eq!(err.lines().count(), 2, "one line per instance: {err}");
}

#[test]
fn test_mode_runs_each_test_in_its_own_instance() {
    let lib = common::write_fixture("cli-fake-libtest.wasm", &common::fake_libtest());
    let out = host(&[
        "test",
        path(&lib),
        "--nocapture",
        "-q",
        "--test-threads",
        "2",
        "--format",
        "pretty",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(101),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let out = host(&["test", path(&lib)]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("running 3 tests"), "{stdout}");
    assert!(stdout.contains("test a::pass ... ok"), "{stdout}");
    assert!(stdout.contains("test b::fail ... FAILED"), "{stdout}");
    assert!(
        stdout.contains("test c::ignored ... ignored, flaky"),
        "{stdout}"
    );
    assert!(
        stdout.contains("---- b::fail stdout ----\nboom\nerror: guest trapped: wasm trap"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out"
        ),
        "{stdout}"
    );
}

#[test]
fn test_mode_filters_like_libtest() {
    let lib = common::write_fixture("cli-fake-libtest2.wasm", &common::fake_libtest());
    let out = host(&["test", path(&lib), "pass"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("running 1 test\n"), "{stdout}");
    assert!(
        stdout
            .contains("test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 2 filtered out"),
        "{stdout}"
    );

    let out = host(&["test", path(&lib), "--skip", "b::", "--include-ignored"]);
    let stdout = text(&out.stdout);
    // The fake runs `c::ignored` as a pass only for the reason query, so
    // running it is a failure: what matters is that it was run.
    assert!(stdout.contains("test c::ignored ... FAILED"), "{stdout}");
    assert!(
        stdout.contains("1 passed; 1 failed; 0 ignored; 0 measured; 1 filtered out"),
        "{stdout}"
    );

    let out = host(&["test", path(&lib), "--exact", "a::pass", "b::fail"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("1 passed; 1 failed; 0 ignored; 0 measured; 1 filtered out"),
        "{stdout}"
    );

    let out = host(&["test", path(&lib), "--ignored"]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("running 1 test\n"), "{stdout}");
    assert!(stdout.contains("2 filtered out"), "{stdout}");
}

#[test]
fn test_mode_passes_list_through() {
    let lib = common::write_fixture("cli-fake-libtest3.wasm", &common::fake_libtest());
    let out = host(&["test", path(&lib), "--list"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "a::pass: test\nb::fail: test\nc::ignored: test\n\n3 tests, 0 benchmarks\n"
    );
}

#[test]
fn test_mode_runs_a_non_libtest_binary_once() {
    let hello = common::write_fixture("cli-hello3.wasm", &common::hello());
    let out = host(&["test", path(&hello), "some-filter"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(out.stdout, b"hello\n");
    assert!(text(&out.stderr).contains("did not answer `--list` like a libtest binary"));
    let exit7 = common::write_fixture("cli-exit7b.wasm", &common::exit7());
    let out = host(&["test", path(&exit7)]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "listing failed: {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("exited with code 7"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn component_writes_what_run_executes() {
    let hello = common::write_fixture("cli-hello4.wasm", &common::hello());
    let out_path = hello.with_file_name("cli-hello4.component.wasm");
    let _ = std::fs::remove_file(&out_path);
    let out = host(&["component", path(&hello), "-o", path(&out_path)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let bytes = std::fs::read(&out_path).expect("the component was written");
    assert!(twinloop_host::is_component(&bytes).unwrap());
    let out = host(&["run", path(&out_path)]);
    assert_eq!(out.stdout, b"hello\n", "{}", text(&out.stderr));
    // A component goes through as it is.
    let again = hello.with_file_name("cli-hello4.again.wasm");
    let out = host(&["component", path(&out_path), "--output", path(&again)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&again).unwrap(), bytes);
}

#[test]
fn component_errors_say_what_is_missing() {
    let hello = common::write_fixture("cli-hello5.wasm", &common::hello());
    for (args, expected) in [
        (vec!["component", path(&hello)], "--output <COMPONENT>"),
        (vec!["component", "-o", "x.wasm"], "<MODULE>"),
        (vec!["component", path(&hello), "-o"], "a value is required"),
        (
            vec!["component", "/nonexistent/m.wasm", "-o", "x.wasm"],
            "error: reading /nonexistent/m.wasm: ",
        ),
        (
            vec!["component", path(&hello), "--time-limit", "1"],
            "unexpected argument '--time-limit'",
        ),
    ] {
        let out = host(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}
