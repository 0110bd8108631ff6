//! `twinloop-host`: the command line over the `twinloop_host` library. Works
//! as a cargo runner for `wasm32-wasip1` (`run` for binaries, `test` for test
//! binaries). The command line itself is parsed by [`twinloop_host::cli`];
//! this file runs what it asks for and turns the result into an exit code.

use std::io;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use twinloop_host::cli::{self, Command, RunArgs, TestRunArgs};
use twinloop_host::{command_component, GuestStatus, Host, RunOutcome, Stdio, TestArgs};

/// The exit code for errors of the host itself (clap uses it for usage
/// errors too).
const HOST_ERROR: u8 = 2;

fn main() -> ExitCode {
    // The host's backtraces are for the host's own panics (RUST_BACKTRACE), not for
    // errors a guest triggers (a peer reset, say): capturing one per error costs time,
    // and symbolizing one cost 60+ MB. RUST_LIB_BACKTRACE set by the user still wins.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // Before any other thread exists: setting the environment is sound here.
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    let command = match cli::parse_args(std::env::args_os()) {
        Ok(command) => command,
        // Usage errors (exit 2), --help and --version (exit 0), in clap's words.
        Err(e) => e.exit(),
    };
    // A panic would exit with 101, which reads as "tests failed"; report it
    // as the host error it is (the panic hook has printed the message).
    let result = std::panic::catch_unwind(move || execute(command)).unwrap_or_else(|_| {
        Err(anyhow!(
            "twinloop-host itself failed (a bug; the panic message is above)"
        ))
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            // One line: the causes joined with ": ".
            eprintln!("error: {e:#}");
            ExitCode::from(HOST_ERROR)
        }
    }
}

fn execute(command: Command) -> Result<ExitCode> {
    match command {
        Command::Run(args) => run(args),
        Command::Test(args) => test(args),
        Command::Component { input, output } => component(&input, &output),
    }
}

/// A host with epoch ticks, whatever the policy's time limit: they are also
/// how a computing guest yields to the I/O driver on its thread (see
/// `Guest::run`).
fn host() -> Result<Host> {
    Host::new()
}

fn run(args: RunArgs) -> Result<ExitCode> {
    let guest = host()?.load_file(&args.module)?;
    if args.instances == 1 {
        let outcome = guest.run(&args.policy, &args.args, Stdio::Inherit)?;
        return Ok(finish_run(&outcome));
    }
    let outcomes = guest.run_instances(&args.policy, &args.args, args.instances, Stdio::Inherit)?;
    let mut code = 0;
    for (i, outcome) in outcomes.iter().enumerate() {
        if outcome.success() {
            continue;
        }
        let reason = match &outcome.status {
            GuestStatus::Exited(c) => format!("exited with code {c}"),
            GuestStatus::Trapped(trap) => format!("trapped: {}", trap.message),
        };
        eprintln!("instance {i}: {reason}");
        if code == 0 {
            code = outcome.exit_code();
        }
    }
    Ok(exit_code(code))
}

fn test(args: TestRunArgs) -> Result<ExitCode> {
    let mut test_args = TestArgs::parse(&args.args)?;
    test_args.show_backtraces = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
    for unknown in &test_args.unknown {
        eprintln!("warning: ignoring unknown libtest option {unknown}");
    }
    let guest = host()?.load_file(&args.module)?;
    if test_args.pass_through {
        let outcome = guest.run(&args.policy, &test_args.raw, Stdio::Inherit)?;
        return Ok(finish_run(&outcome));
    }
    let Some(tests) = guest.list_tests(&args.policy)? else {
        eprintln!(
            "note: {} did not answer `--list` like a libtest binary; running it once with the given arguments",
            args.module.display()
        );
        let outcome = guest.run(&args.policy, &test_args.raw, Stdio::Inherit)?;
        return Ok(finish_run(&outcome));
    };
    let report = guest.run_tests(&args.policy, &tests, &test_args, &mut io::stdout().lock())?;
    Ok(exit_code(report.exit_code()))
}

/// `component MODULE -o OUT`: writes the component `run` would execute.
fn component(input: &Path, output: &Path) -> Result<ExitCode> {
    let bytes = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let component =
        command_component(&bytes).with_context(|| format!("loading {}", input.display()))?;
    std::fs::write(output, &component).with_context(|| format!("writing {}", output.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// Reports a trap on stderr (a limit in one line, any other trap with its wasm
/// backtrace) and turns the outcome into this process's exit code.
fn finish_run(outcome: &RunOutcome) -> ExitCode {
    match &outcome.status {
        GuestStatus::Trapped(trap) if trap.limit.is_some() => eprintln!("error: {}", trap.message),
        GuestStatus::Trapped(trap) => eprintln!("error: guest trapped: {trap}"),
        GuestStatus::Exited(_) => {}
    }
    exit_code(outcome.exit_code())
}

/// Exit codes are 8 bits on every platform cargo runs on.
fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(code as u8)
}
