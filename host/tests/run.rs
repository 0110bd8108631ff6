//! `Guest::run` through the public API, on WAT fixtures.

mod common;

use std::time::{Duration, Instant};

use twinloop_host::{GuestStatus, Host, SandboxPolicy, Stdio, TRAP_EXIT_CODE};

fn run(bytes: &[u8], policy: &SandboxPolicy, args: &[&str]) -> twinloop_host::RunOutcome {
    let host = Host::new().unwrap();
    let guest = host.load(bytes).unwrap();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    guest.run(policy, &args, Stdio::Capture).unwrap()
}

#[test]
fn captures_stdout() {
    let outcome = run(&common::hello(), &SandboxPolicy::default(), &[]);
    assert_eq!(outcome.status, GuestStatus::Exited(0));
    assert_eq!(outcome.stdout, b"hello\n");
    assert!(outcome.stderr.is_empty());
}

#[test]
fn separates_or_merges_stderr() {
    let host = Host::new().unwrap();
    let guest = host.load(&common::interleaved()).unwrap();
    let policy = SandboxPolicy::default();
    let split = guest.run(&policy, &[], Stdio::Capture).unwrap();
    assert_eq!(split.stdout, b"out\nout\n");
    assert_eq!(split.stderr, b"err\n");
    let merged = guest.run(&policy, &[], Stdio::CaptureMerged).unwrap();
    assert_eq!(merged.stdout, b"out\nerr\nout\n");
    assert!(merged.stderr.is_empty());
}

#[test]
fn proc_exit_code_is_the_exit_code() {
    let outcome = run(&common::exit7(), &SandboxPolicy::default(), &[]);
    assert_eq!(outcome.status, GuestStatus::Exited(7));
    assert_eq!(outcome.exit_code(), 7);
    assert!(!outcome.success());
}

#[test]
fn trap_reports_message_and_backtrace() {
    let outcome = run(&common::trap(), &SandboxPolicy::default(), &[]);
    let trap = outcome.trap().expect("a trap");
    assert!(trap.message.contains("unreachable"), "{trap:?}");
    assert!(!trap.time_limit_exceeded());
    let backtrace = trap.backtrace.as_deref().expect("a wasm backtrace");
    assert!(backtrace.contains("deep_inside"), "{backtrace}");
    assert_eq!(outcome.exit_code(), TRAP_EXIT_CODE);
}

#[test]
fn guests_throw_and_catch_wasm_exceptions() {
    let outcome = run(&common::catches_exception(), &SandboxPolicy::default(), &[]);
    assert_eq!(outcome.status, GuestStatus::Exited(0), "{outcome:?}");
    assert_eq!(outcome.stdout, b"caught 42\n");
}

#[test]
fn an_uncaught_exception_is_a_trap() {
    let outcome = run(
        &common::uncaught_exception(),
        &SandboxPolicy::default(),
        &[],
    );
    let trap = outcome.trap().expect("a trap");
    assert!(trap.message.contains("exception"), "{trap:?}");
    assert_eq!(outcome.exit_code(), TRAP_EXIT_CODE);
}

#[test]
fn argv_starts_with_the_guest_name() {
    let host = Host::new().unwrap();
    let guest = host.load(&common::print_args()).unwrap();
    assert_eq!(guest.name(), "guest.wasm");
    let guest = guest.with_name("prog.wasm");
    let args = ["a".to_string(), "b c".to_string()];
    let outcome = guest
        .run(&SandboxPolicy::default(), &args, Stdio::Capture)
        .unwrap();
    assert_eq!(outcome.stdout, b"prog.wasm\0a\0b c\0");
}

#[test]
fn load_file_names_argv0_after_the_file() {
    let path = common::write_fixture("print-args.wasm", &common::print_args());
    let guest = Host::new().unwrap().load_file(&path).unwrap();
    assert_eq!(guest.name(), "print-args.wasm");
}

#[test]
fn environment_is_only_what_the_policy_says() {
    let none = run(&common::print_env(), &SandboxPolicy::default(), &[]);
    assert!(
        none.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&none.stdout)
    );
    let policy = SandboxPolicy {
        env: vec![("K".into(), "V".into()), ("X".into(), "1=2".into())],
        ..SandboxPolicy::default()
    };
    let some = run(&common::print_env(), &policy, &[]);
    assert_eq!(some.stdout, b"K=V\0X=1=2\0");
}

#[test]
fn time_limit_stops_a_spinning_guest() {
    let policy = SandboxPolicy {
        time_limit: Some(Duration::from_millis(300)),
        ..SandboxPolicy::default()
    };
    let start = Instant::now();
    let outcome = run(&common::spin(), &policy, &[]);
    assert!(start.elapsed() < Duration::from_secs(10));
    let trap = outcome.trap().expect("a trap");
    assert!(trap.time_limit_exceeded());
    assert!(
        trap.message.contains("time limit of 0.3 s exceeded"),
        "{trap:?}"
    );
    assert!(
        trap.backtrace.is_some(),
        "a spinning guest is caught in wasm: {trap:?}"
    );
}

#[test]
fn time_limit_stops_a_guest_blocked_in_the_host() {
    let policy = SandboxPolicy {
        time_limit: Some(Duration::from_millis(300)),
        ..SandboxPolicy::default()
    };
    let start = Instant::now();
    let outcome = run(&common::sleep_an_hour(), &policy, &[]);
    assert!(start.elapsed() < Duration::from_secs(10));
    let trap = outcome.trap().expect("a trap");
    assert!(trap.time_limit_exceeded());
    assert!(
        trap.message.contains("time limit of 0.3 s exceeded"),
        "{trap:?}"
    );
}

#[test]
fn max_memory_traps_on_growth() {
    let unlimited = run(&common::grow_10_mib(), &SandboxPolicy::default(), &[]);
    assert_eq!(unlimited.status, GuestStatus::Exited(0));
    let policy = SandboxPolicy {
        max_memory: Some(4 << 20),
        ..SandboxPolicy::default()
    };
    let limited = run(&common::grow_10_mib(), &policy, &[]);
    let trap = limited.trap().expect("a trap");
    assert!(trap.message.contains("memory"), "{trap:?}");
}

#[test]
fn a_time_limit_needs_a_host_with_time_limits() {
    let host = Host::without_time_limits().unwrap();
    assert!(!host.supports_time_limits());
    let guest = host.load(&common::hello()).unwrap();
    let ok = guest
        .run(&SandboxPolicy::default(), &[], Stdio::Capture)
        .unwrap();
    assert_eq!(ok.stdout, b"hello\n");
    let policy = SandboxPolicy {
        time_limit: Some(Duration::from_secs(1)),
        ..SandboxPolicy::default()
    };
    let err = guest.run(&policy, &[], Stdio::Capture).unwrap_err();
    assert!(err.to_string().contains("time-limit"), "{err}");
}

#[test]
fn components_load_as_is() {
    let component = twinloop_host::componentize(&common::hello()).unwrap();
    assert!(twinloop_host::is_component(&component).unwrap());
    assert!(!twinloop_host::is_component(&common::hello()).unwrap());
    let outcome = run(&component, &SandboxPolicy::default(), &[]);
    assert_eq!(outcome.stdout, b"hello\n");
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let host = Host::new().unwrap();
    let err = host.load(b"hello").err().expect("not wasm");
    assert!(
        format!("{err:#}").contains("not a WebAssembly binary"),
        "{err:#}"
    );
    // WebAssembly text is parsed; broken text says where it is wrong.
    let err = host.load(b"(module (func").err().expect("broken text");
    assert!(format!("{err:#}").contains("WebAssembly text"), "{err:#}");
    // A valid module that is not a command (no `_start`).
    let err = host
        .load(&wat::parse_str("(module)").unwrap())
        .err()
        .expect("no _start");
    assert!(!format!("{err:#}").is_empty());
    let err = host
        .load_file("/nonexistent/x.wasm")
        .err()
        .expect("missing file");
    assert!(
        format!("{err:#}").contains("/nonexistent/x.wasm"),
        "{err:#}"
    );
}

#[test]
fn one_guest_runs_on_many_threads() {
    let host = Host::new().unwrap();
    let guest = host.load(&common::hello()).unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    guest
                        .run(&SandboxPolicy::default(), &[], Stdio::Capture)
                        .unwrap()
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap().stdout, b"hello\n");
        }
    });
}

#[test]
fn readiness_checks_do_not_run_out_of_tokio_budget() {
    // Regression: the whole guest ran as one tokio task poll, so its coop
    // budget ran out after ~128 readiness checks and `ready()` (and socket
    // readiness) answered "not ready" until the guest blocked.
    let outcome = run(&common::ready_1000_times(), &SandboxPolicy::default(), &[]);
    assert_eq!(outcome.status, GuestStatus::Exited(0));
}

#[test]
fn webassembly_text_is_accepted_as_a_module() {
    let host = Host::new().unwrap();
    let guest = host
        .load(br#"(module (memory (export "memory") 1) (func (export "_start")))"#)
        .expect("a text command module loads");
    let outcome = guest
        .run(&SandboxPolicy::default(), &[], Stdio::Capture)
        .unwrap();
    assert_eq!(outcome.exit_code(), 0);
}
