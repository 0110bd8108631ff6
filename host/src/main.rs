//! `twinloop-host`: the command line over the `twinloop_host` library. Works
//! as a cargo runner for `wasm32-wasip1` (`run` for binaries, `test` for test
//! binaries).

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use twinloop_host::{
    command_component, GuestStatus, Host, NetRule, RunOutcome, SandboxPolicy, Stdio, TestArgs,
    DEFAULT_TEST_TIME_LIMIT,
};

const HELP: &str = "\
twinloop-host: run twinloop wasm32-wasip1 guests in wasmtime, sandboxed

USAGE:
    twinloop-host run  [OPTIONS] MODULE.wasm [--] [ARGS...]
    twinloop-host test [OPTIONS] MODULE.wasm [LIBTEST-ARGS...]
    twinloop-host component MODULE.wasm -o COMPONENT.wasm

`run` runs the guest once with ARGS and exits with its exit code.
`test` runs a libtest binary one test per fresh instance, in parallel, and
reports like libtest (a test that panics fails alone, whether the guest
unwinds or aborts on panics). LIBTEST-ARGS are filters and
libtest options (--exact, --skip X, --ignored, --include-ignored,
--test-threads N, -q, --show-output, --list; others are accepted and ignored).
RUST_BACKTRACE=1 adds the wasm backtrace of trapped tests to the report.

`component` writes the wasi:cli/command component that `run` executes for
MODULE (a core module wrapped with the preview-1 command adapter), for any
WASI 0.2 host, e.g. `wasmtime run -S inherit-network COMPONENT.wasm`.

MODULE is a core wasm32-wasip1 module or a wasi:cli/command component
(binary, or WebAssembly text). Guests built with panic=unwind use the
exception-handling proposal, which this host enables.
Options must come before MODULE; everything after it goes to the guest.

OPTIONS (the guest gets nothing but stdout/stderr unless allowed here):
    --allow-net RULE     allow sockets to/from RULE; repeatable or comma-separated.
                         RULE is ADDR[:PORT]: ADDR an IP address, a CIDR
                         (10.0.0.0/8, ::1/128) or *; PORT a number or * (default *).
                         IPv6 with a port in brackets: [::1]:8080
    --allow-dns          allow name lookups (wasi:sockets/ip-name-lookup)
    --env K=V            set an environment variable in the guest; repeatable
    --inherit-stdin      let the guest read this process's stdin
    --max-memory BYTES   cap each linear memory (suffixes K, M, G: 1024-based)
    --time-limit SECS    stop the guest after SECS seconds (fractions allowed;
                         0 = none). `test` default: 120 per test
    -h, --help           this text
    -V, --version        the version

EXIT CODES:
    run:  the guest's exit code; 134 if it trapped or ran out of time
    test: 0 if all tests passed, 101 if any failed
    component: 0 once written
    2 for errors of the host itself (bad option, unreadable or invalid module)

As a cargo runner:
    CARGO_TARGET_WASM32_WASIP1_RUNNER=\"/abs/path/twinloop-host test --allow-net 127.0.0.1\"
";

/// The exit code for errors of the host itself.
const HOST_ERROR: u8 = 2;

#[derive(Debug, PartialEq, Eq)]
enum Mode {
    Run,
    Test,
}

/// A parsed command line.
#[derive(Debug)]
struct Invocation {
    mode: Mode,
    policy: SandboxPolicy,
    /// `--time-limit` as given; `Some(ZERO)` means "none".
    time_limit: Option<Duration>,
    module: PathBuf,
    guest_args: Vec<String>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // A panic would exit with 101, which reads as "tests failed"; report it
    // as the host error it is (the panic hook has printed the message).
    let result = std::panic::catch_unwind(|| real_main(&args)).unwrap_or_else(|_| {
        Err(anyhow!(
            "twinloop-host itself failed (a bug; the panic message is above)"
        ))
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(HOST_ERROR)
        }
    }
}

fn real_main(args: &[String]) -> Result<ExitCode> {
    let invocation = match args.first().map(String::as_str) {
        None | Some("-h" | "--help" | "help") => {
            print!("{HELP}");
            return Ok(if args.is_empty() {
                ExitCode::from(HOST_ERROR)
            } else {
                ExitCode::SUCCESS
            });
        }
        Some("-V" | "--version") => {
            println!("twinloop-host {}", env!("CARGO_PKG_VERSION"));
            return Ok(ExitCode::SUCCESS);
        }
        Some("run") => parse(Mode::Run, &args[1..])?,
        Some("test") => parse(Mode::Test, &args[1..])?,
        Some("component") => return component(&args[1..]),
        Some(other) => {
            bail!(
                "unknown command {other:?}; expected `run`, `test` or `component` \
                 (see twinloop-host --help)"
            )
        }
    };
    match invocation {
        None => {
            print!("{HELP}");
            Ok(ExitCode::SUCCESS)
        }
        Some(inv) if inv.mode == Mode::Run => run(inv),
        Some(inv) => test(inv),
    }
}

fn run(mut inv: Invocation) -> Result<ExitCode> {
    inv.policy.time_limit = inv.time_limit.filter(|d| !d.is_zero());
    let host = if inv.policy.time_limit.is_some() {
        Host::new()?
    } else {
        Host::without_time_limits()?
    };
    let guest = host.load_file(&inv.module)?;
    let outcome = guest.run(&inv.policy, &inv.guest_args, Stdio::Inherit)?;
    Ok(finish_run(&outcome))
}

fn test(mut inv: Invocation) -> Result<ExitCode> {
    inv.policy.time_limit = match inv.time_limit {
        None => Some(DEFAULT_TEST_TIME_LIMIT),
        Some(d) if d.is_zero() => None,
        Some(d) => Some(d),
    };
    let mut test_args = TestArgs::parse(&inv.guest_args)?;
    test_args.show_backtraces = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
    for unknown in &test_args.unknown {
        eprintln!("warning: ignoring unknown libtest option {unknown}");
    }
    let host = if inv.policy.time_limit.is_some() {
        Host::new()?
    } else {
        Host::without_time_limits()?
    };
    let guest = host.load_file(&inv.module)?;
    if test_args.pass_through {
        let outcome = guest.run(&inv.policy, &test_args.raw, Stdio::Inherit)?;
        return Ok(finish_run(&outcome));
    }
    let Some(tests) = guest.list_tests(&inv.policy)? else {
        eprintln!(
            "note: {} did not answer `--list` like a libtest binary; running it once with the given arguments",
            inv.module.display()
        );
        let outcome = guest.run(&inv.policy, &test_args.raw, Stdio::Inherit)?;
        return Ok(finish_run(&outcome));
    };
    let report = guest.run_tests(&inv.policy, &tests, &test_args, &mut io::stdout().lock())?;
    Ok(ExitCode::from(report.exit_code() as u8))
}

/// `component MODULE -o OUT`: writes the component `run` would execute.
fn component(args: &[String]) -> Result<ExitCode> {
    let mut input = None;
    let mut output = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(ExitCode::SUCCESS);
            }
            "-o" | "--output" => match it.next() {
                Some(path) => output = Some(PathBuf::from(path)),
                None => bail!("option {arg} needs a value (the component file to write)"),
            },
            a if a.starts_with("--output=") => output = Some(PathBuf::from(&a[9..])),
            a if a.starts_with('-') && a.len() > 1 => {
                bail!("unknown option {a:?} for `component` (see twinloop-host --help)")
            }
            a if input.is_none() => input = Some(PathBuf::from(a)),
            a => bail!("`component` takes one MODULE.wasm, got a second: {a:?}"),
        }
    }
    let Some(input) = input else {
        bail!("missing MODULE.wasm (usage: twinloop-host component MODULE.wasm -o COMPONENT.wasm)");
    };
    let Some(output) = output else {
        bail!("missing -o COMPONENT.wasm (the file to write)");
    };
    let bytes = std::fs::read(&input).with_context(|| format!("reading {}", input.display()))?;
    let component =
        command_component(&bytes).with_context(|| format!("loading {}", input.display()))?;
    std::fs::write(&output, &component).with_context(|| format!("writing {}", output.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// Reports a trap on stderr and turns the outcome into this process's exit
/// code.
fn finish_run(outcome: &RunOutcome) -> ExitCode {
    if let GuestStatus::Trapped(trap) = &outcome.status {
        eprintln!("error: guest trapped: {trap}");
    }
    // Exit codes are 8 bits on every platform cargo runs on.
    ExitCode::from(outcome.exit_code() as u8)
}

/// Parses `[OPTIONS] MODULE [ARGS...]`; `None` for `--help`.
fn parse(mode: Mode, args: &[String]) -> Result<Option<Invocation>> {
    let mut policy = SandboxPolicy::default();
    let mut time_limit = None;
    let mut it = args.iter();
    let module = loop {
        let Some(arg) = it.next() else {
            bail!("missing MODULE.wasm (see twinloop-host --help)");
        };
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = || -> Result<String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| anyhow!("option {name} needs a value")),
            }
        };
        match name {
            "-h" | "--help" => return Ok(None),
            "--allow-net" => {
                for rule in value()?.split(',').filter(|r| !r.trim().is_empty()) {
                    policy.allow_net.push(NetRule::parse(rule)?);
                }
            }
            "--allow-dns" => policy.allow_dns = true,
            "--inherit-stdin" => policy.inherit_stdin = true,
            "--env" => {
                let kv = value()?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| anyhow!("--env expects K=V, got {kv:?}"))?;
                if k.is_empty() {
                    bail!("--env expects K=V with a non-empty K, got {kv:?}");
                }
                policy.env.push((k.to_owned(), v.to_owned()));
            }
            "--max-memory" => policy.max_memory = Some(parse_bytes(&value()?)?),
            "--time-limit" => time_limit = Some(parse_secs(&value()?)?),
            "--" => match it.next() {
                Some(module) => break module,
                None => bail!("missing MODULE.wasm after `--`"),
            },
            n if n.starts_with('-') && n.len() > 1 => {
                bail!("unknown option {arg:?} (options go before MODULE.wasm; see twinloop-host --help)")
            }
            _ => break arg,
        }
    };
    let mut guest_args: Vec<String> = it.cloned().collect();
    if mode == Mode::Run && guest_args.first().is_some_and(|a| a == "--") {
        guest_args.remove(0);
    }
    Ok(Some(Invocation {
        mode,
        policy,
        time_limit,
        module: PathBuf::from(module),
        guest_args,
    }))
}

/// `1048576`, `512K`, `64M`, `2G` (1024-based; `KiB`/`MB`-style endings
/// accepted).
fn parse_bytes(text: &str) -> Result<usize> {
    let bad =
        || anyhow!("--max-memory expects BYTES with an optional K, M or G suffix, got {text:?}");
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, suffix) = t.split_at(digits);
    let number: usize = number.parse().map_err(|_| bad())?;
    let shift = match suffix.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return Err(bad()),
    };
    number.checked_mul(1 << shift).ok_or_else(bad)
}

/// Seconds, fractions allowed.
fn parse_secs(text: &str) -> Result<Duration> {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| anyhow!("--time-limit expects a number of seconds, got {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_options_then_module_then_guest_args() {
        let inv = parse(
            Mode::Run,
            &strings(&[
                "--allow-net",
                "127.0.0.1:80,[::1]",
                "--allow-net=*:53",
                "--allow-dns",
                "--env",
                "A=b=c",
                "--max-memory",
                "64M",
                "--time-limit",
                "1.5",
                "m.wasm",
                "--",
                "--allow-dns",
                "x",
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(inv.policy.allow_net.len(), 3);
        assert!(inv.policy.allow_dns);
        assert_eq!(inv.policy.env, [("A".to_owned(), "b=c".to_owned())]);
        assert_eq!(inv.policy.max_memory, Some(64 << 20));
        assert_eq!(inv.time_limit, Some(Duration::from_millis(1500)));
        assert_eq!(inv.module, PathBuf::from("m.wasm"));
        assert_eq!(inv.guest_args, ["--allow-dns", "x"]);
        let inv = parse(Mode::Test, &strings(&["m.wasm", "--", "--exact"]))
            .unwrap()
            .unwrap();
        assert_eq!(inv.guest_args, ["--", "--exact"]);
    }

    #[test]
    fn parses_sizes_and_seconds() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("512k").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("2G").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("3MiB").unwrap(), 3 << 20);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("12X").is_err());
        assert!(parse_bytes("").is_err());
        assert_eq!(parse_secs("0").unwrap(), Duration::ZERO);
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("soon").is_err());
    }
}
