//! The command line of `twinloop-host`, parsed with clap: [`parse_args`] turns
//! an argument list into a [`Command`] whose sandbox policy is built and
//! checked, ready to run. The binary only executes it; keeping the parser in
//! the library lets tests and the `host_cli` fuzz target drive it directly.
//!
//! ```text
//! twinloop-host run  [OPTIONS] MODULE [--] [ARGS...]
//! twinloop-host test [OPTIONS] MODULE [LIBTEST-ARGS...]
//! twinloop-host component MODULE -o COMPONENT
//! ```
//!
//! Options come before `MODULE`; everything after it goes to the guest as it
//! is, options included (`run` drops one `--` right after `MODULE`, `test`
//! keeps it). A module path that starts with `-` is therefore read as an
//! unknown option: write `./-name.wasm`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::{NetRule, Preopen, SandboxPolicy, DEFAULT_TEST_TIME_LIMIT};

/// A parsed `twinloop-host` command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `run`: run the guest (once, or `--instances N` times at once).
    Run(RunArgs),
    /// `test`: run a libtest guest one test per fresh instance.
    Test(TestRunArgs),
    /// `component`: write the `wasi:cli/command` component `run` executes.
    Component {
        /// The core module or component to convert.
        input: PathBuf,
        /// Where to write the component (`-o`, `--output`).
        output: PathBuf,
    },
}

/// What `twinloop-host run` was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunArgs {
    /// The sandbox, with [`SandboxPolicy::time_limit`] already resolved
    /// (`--time-limit 0` or none given: `None`).
    pub policy: SandboxPolicy,
    /// The module or component to run.
    pub module: PathBuf,
    /// The guest's arguments (after its name), a leading `--` dropped.
    pub args: Vec<String>,
    /// How many instances to run at once (`--instances`, at least 1).
    pub instances: usize,
}

/// What `twinloop-host test` was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRunArgs {
    /// The sandbox of every test, with [`SandboxPolicy::time_limit`] already
    /// resolved: per test, [`DEFAULT_TEST_TIME_LIMIT`] unless `--time-limit`
    /// says otherwise (`0`: none).
    pub policy: SandboxPolicy,
    /// The libtest binary.
    pub module: PathBuf,
    /// The libtest arguments, exactly as given after the module.
    pub args: Vec<String>,
}

/// Parses a whole command line, the program name first (as
/// [`std::env::args_os`] gives it).
///
/// On a usage error, and for `--help` and `--version`, the error is clap's:
/// [`clap::Error::exit`] prints it in clap's format and exits with 2 (usage
/// errors) or 0 (help, version).
///
/// ```
/// use twinloop_host::cli::{parse_args, Command};
///
/// let Command::Run(run) = parse_args([
///     "twinloop-host", "run", "--allow-net", "127.0.0.1:8080", "--max-output", "1M",
///     "echo.wasm", "--port", "8080",
/// ])
/// .unwrap() else { unreachable!() };
/// assert_eq!(run.policy.allow_net.len(), 1);
/// assert_eq!(run.policy.max_output, Some(1 << 20));
/// assert_eq!(run.module.to_str(), Some("echo.wasm"));
/// assert_eq!(run.args, ["--port", "8080"]);
///
/// let err = parse_args(["twinloop-host", "run", "--bogus", "echo.wasm"]).unwrap_err();
/// assert_eq!(err.exit_code(), 2);
/// ```
pub fn parse_args<I, T>(args: I) -> Result<Command, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut cmd = Cli::command();
    let matches = cmd.try_get_matches_from_mut(args)?;
    let cli = Cli::from_arg_matches(&matches).map_err(|e| e.with_cmd(&cmd))?;
    let (name, sub_matches) = matches
        .subcommand()
        .expect("clap requires a subcommand (subcommand_required)");
    let sub_cmd = cmd
        .find_subcommand_mut(name)
        .expect("the subcommand clap matched exists");
    match cli.command {
        Sub::Run {
            sandbox,
            instances,
            target,
        } => {
            let (module, mut args) = target.split(sub_cmd)?;
            if args.first().is_some_and(|a| a == "--") {
                args.remove(0);
            }
            let mut policy = sandbox.policy(sub_matches);
            policy.time_limit = sandbox.time_limit.filter(|d| !d.is_zero());
            Ok(Command::Run(RunArgs {
                policy,
                module,
                args,
                instances,
            }))
        }
        Sub::Test { sandbox, target } => {
            let (module, args) = target.split(sub_cmd)?;
            let mut policy = sandbox.policy(sub_matches);
            policy.time_limit = match sandbox.time_limit {
                None => Some(DEFAULT_TEST_TIME_LIMIT),
                Some(d) if d.is_zero() => None,
                Some(d) => Some(d),
            };
            Ok(Command::Test(TestRunArgs {
                policy,
                module,
                args,
            }))
        }
        Sub::Component { input, output } => Ok(Command::Component { input, output }),
    }
}

/// Parses a size in bytes as `--max-memory` and `--max-output` take it:
/// `1048576`, `512K`, `64M`, `2G` (1024-based; `B`, `KB`/`KiB`-style endings
/// and lower case accepted, surrounding spaces ignored).
///
/// ```
/// use twinloop_host::cli::parse_size;
///
/// assert_eq!(parse_size("64M"), Ok(64 << 20));
/// assert_eq!(parse_size("3KiB"), Ok(3072));
/// assert!(parse_size("lots").is_err());
/// assert!(parse_size("99999999999G").is_err()); // more than u64 holds
/// ```
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || format!("expected BYTES with an optional K, M or G suffix, got {text:?}");
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, suffix) = t.split_at(digits);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let shift = match suffix.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return Err(bad()),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is more bytes than this host can count"))
}

/// Parses a number of seconds as `--time-limit` takes it: fractions allowed,
/// `0` meaning no limit (the caller decides), negative numbers, NaN and
/// infinities refused.
///
/// ```
/// use std::time::Duration;
/// use twinloop_host::cli::parse_secs;
///
/// assert_eq!(parse_secs("1.5"), Ok(Duration::from_millis(1500)));
/// assert!(parse_secs("-1").is_err());
/// ```
pub fn parse_secs(text: &str) -> Result<Duration, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("expected a number of seconds, got {text:?}"))
}

const ABOUT: &str = "Run twinloop wasm32-wasip1 guests in wasmtime, sandboxed";

const LONG_ABOUT: &str = "\
Run twinloop wasm32-wasip1 guests in wasmtime, sandboxed.

MODULE is a core wasm32-wasip1 module or a wasi:cli/command component (binary, or \
WebAssembly text). Guests built with panic=unwind use the exception-handling proposal, \
which this host enables.

The guest gets nothing but stdout and stderr unless an option of `run` or `test` allows \
more (network, name lookups, environment variables, stdin, directories); see \
`twinloop-host run --help`.";

const AFTER_HELP: &str = "\
Exit codes:
  run:   the guest's own exit code; 134 if it trapped; 124 if it hit --time-limit,
         123 --max-memory, 122 --max-output, 121 --max-sockets
  test:  0 if all tests passed, 101 if any failed
  component: 0 once written
  2 for errors of the host itself (bad option, unreadable or invalid module)

As a cargo runner:
  CARGO_TARGET_WASM32_WASIP1_RUNNER=\"/abs/path/twinloop-host test --allow-net 127.0.0.1\"";

const RUN_LONG_ABOUT: &str = "\
Run the guest once with ARGS and exit with its exit code (with --instances N: N \
instances at once in this one process).

Options come before MODULE; everything after MODULE goes to the guest as it is, \
options included (one `--` right after MODULE is dropped).

By default the guest gets nothing but stdout and stderr: no network, no name lookups, \
no environment variables, no stdin, no files, and no limits beyond the fixed ceilings \
every guest has (100 instances, 100 memories, 100 tables).";

const TEST_LONG_ABOUT: &str = "\
Run a libtest binary one test per fresh instance, in parallel, and report like libtest \
(a test that panics fails alone, whether the guest unwinds or aborts on panics).

LIBTEST-ARGS are filters and libtest options (--exact, --skip X, --ignored, \
--include-ignored, --test-threads N, -q, --show-output, --list; others are accepted and \
ignored). Everything after MODULE is a LIBTEST-ARG, `--` included. RUST_BACKTRACE=1 adds \
the wasm backtrace of trapped tests to the report.

Every test gets the sandbox below; by default nothing but stdout and stderr, and a time \
limit of 120 s.";

const COMPONENT_LONG_ABOUT: &str = "\
Write the wasi:cli/command component that `run` executes for MODULE (a core module \
wrapped with the preview-1 command adapter; a component is written as it is), for any \
WASI 0.2 host, e.g. `wasmtime run -S inherit-network COMPONENT.wasm`.";

const GUEST_AFTER_HELP: &str = "\
Exit codes (run): the guest's own; 134 trap; 124 --time-limit; 123 --max-memory;
122 --max-output; 121 --max-sockets; 2 errors of the host itself.

Examples:
  twinloop-host run --allow-net 127.0.0.1:8080 --max-memory 64M echo.wasm --port 8080
  twinloop-host run --dir ./data::/data --dir-rw /tmp/out::/out tool.wasm
  twinloop-host run --instances 8 --max-output 1M --time-limit 10 worker.wasm
  twinloop-host test --allow-net 127.0.0.1 tests.wasm --exact net::connects
  CARGO_TARGET_WASM32_WASIP1_RUNNER=\"/abs/path/twinloop-host test --allow-net 127.0.0.1\"";

#[derive(Parser, Debug)]
#[command(
    name = "twinloop-host",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    subcommand_required = true,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// Run the guest with ARGS and exit with its exit code
    #[command(
        long_about = RUN_LONG_ABOUT,
        after_help = GUEST_AFTER_HELP,
        override_usage = "twinloop-host run [OPTIONS] <MODULE> [--] [ARGS]..."
    )]
    Run {
        #[command(flatten)]
        sandbox: SandboxArgs,
        /// Run N instances of the guest at once in this process
        ///
        /// Each instance has its own memory, limits (the limits above apply to each
        /// instance) and WASI context; their output interleaves. The exit code is that of
        /// the first instance (in instance order) that did not exit with 0, and for each
        /// such instance one line `instance I: <reason>` goes to stderr.
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        instances: usize,
        #[command(flatten)]
        target: Target,
    },
    /// Run a libtest binary one test per fresh instance, reporting like libtest
    #[command(
        long_about = TEST_LONG_ABOUT,
        after_help = GUEST_AFTER_HELP,
        override_usage = "twinloop-host test [OPTIONS] <MODULE> [LIBTEST-ARGS]..."
    )]
    Test {
        #[command(flatten)]
        sandbox: SandboxArgs,
        #[command(flatten)]
        target: Target,
    },
    /// Write the wasi:cli/command component that `run` executes
    #[command(long_about = COMPONENT_LONG_ABOUT)]
    Component {
        /// The core wasm32-wasip1 module (or component; binary or text) to convert
        #[arg(value_name = "MODULE")]
        input: PathBuf,
        /// The component file to write
        #[arg(short, long, value_name = "COMPONENT")]
        output: PathBuf,
    },
}

/// The options that make up the sandbox policy, shared by `run` and `test`.
#[derive(Args, Debug)]
struct SandboxArgs {
    /// Allow sockets to/from RULE (repeatable, or comma-separated)
    ///
    /// RULE is ADDR[:PORT]: ADDR an IP address, a CIDR network (10.0.0.0/8, ::1/128) or *;
    /// PORT a number or * (default *). IPv6 with a port goes in brackets: [::1]:8080. Any
    /// rule switches TCP and UDP on; connecting and sending need a rule matching address
    /// and port, accepting and receiving one matching the peer's address, binding and
    /// listening one covering the local address (or any, for 0.0.0.0 / ::) and port.
    #[arg(long, value_name = "RULE", value_parser = parse_net_rules)]
    allow_net: Vec<NetRules>,
    /// Allow name lookups (wasi:sockets/ip-name-lookup); the addresses found are still
    /// subject to --allow-net
    #[arg(long)]
    allow_dns: bool,
    /// Set an environment variable in the guest (repeatable); the host's own environment
    /// is never passed through
    #[arg(long, value_name = "K=V", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Let the guest read this process's stdin (otherwise its stdin is closed)
    #[arg(long)]
    inherit_stdin: bool,
    /// Make host directory HOST readable by the guest as GUEST (default: HOST); repeatable
    ///
    /// The guest can list and read files under it but not create, write, rename or
    /// remove any. Nothing else of the host's file system is reachable.
    #[arg(long, value_name = "HOST[::GUEST]", value_parser = Preopen::parse)]
    dir: Vec<Preopen>,
    /// Like --dir, but the guest may also create, write, rename and remove files in it
    #[arg(long, value_name = "HOST[::GUEST]", value_parser = parse_rw_dir)]
    dir_rw: Vec<Preopen>,
    /// Cap the guest's whole memory footprint (suffixes K, M, G: 1024-based)
    ///
    /// Counts all the guest's linear memories together (32- and 64-bit, the preview-1
    /// adapter's included) plus its tables at 8 bytes per element. Growing past it ends
    /// the guest with exit code 123. Independently, every guest may create at most 100
    /// instances, 100 memories and 100 tables, with or without this option.
    #[arg(long, value_name = "BYTES", value_parser = parse_memory_size)]
    max_memory: Option<usize>,
    /// Cap the bytes the guest writes to stdout and stderr together (suffixes as
    /// --max-memory)
    ///
    /// Counts every byte written to either stream, forwarded or captured. Writing past
    /// it ends the guest with exit code 122.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    max_output: Option<u64>,
    /// Cap the sockets the guest has open at once
    ///
    /// Counts TCP and UDP sockets, listening, connected and accepted ones alike, while
    /// they are open. Opening one more ends the guest with exit code 121. Sockets need
    /// --allow-net in the first place.
    #[arg(long, value_name = "N")]
    max_sockets: Option<usize>,
    /// Stop the guest after SECS seconds of wall-clock time (fractions allowed; 0 = no
    /// limit; `test`: per test, default 120)
    ///
    /// Works while the guest computes and while it waits in a host call. Running out
    /// ends the guest with exit code 124.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    time_limit: Option<Duration>,
}

impl SandboxArgs {
    /// The policy these options describe, without the time limit (which
    /// `run` and `test` resolve differently). `matches` orders `--dir` and
    /// `--dir-rw` as they were given.
    fn policy(&self, matches: &ArgMatches) -> SandboxPolicy {
        let positions = |id: &str| -> Vec<usize> {
            matches
                .indices_of(id)
                .map(|i| i.collect())
                .unwrap_or_default()
        };
        let mut preopens: Vec<(usize, Preopen)> = positions("dir")
            .into_iter()
            .zip(self.dir.iter().cloned())
            .chain(
                positions("dir_rw")
                    .into_iter()
                    .zip(self.dir_rw.iter().cloned()),
            )
            .collect();
        preopens.sort_by_key(|(at, _)| *at);
        SandboxPolicy {
            allow_net: self.allow_net.iter().flat_map(|r| r.0.clone()).collect(),
            allow_dns: self.allow_dns,
            env: self.env.clone(),
            max_memory: self.max_memory,
            time_limit: None,
            inherit_stdin: self.inherit_stdin,
            max_output: self.max_output,
            max_sockets: self.max_sockets,
            preopens: preopens.into_iter().map(|(_, p)| p).collect(),
        }
    }
}

/// `MODULE [ARGS...]`, as one list: once its first value (the module) is
/// there, clap takes everything after it as a value, `--` and options
/// included, which is what passing it all to the guest needs. The list takes
/// values starting with `-`, so an unknown option before MODULE lands in it
/// as the "module"; [`Target::split`] reports that as clap would.
#[derive(Args, Debug)]
struct Target {
    /// The guest (a wasm32-wasip1 core module or a wasi:cli/command component, binary or
    /// WebAssembly text), then the arguments it gets, passed as they are
    #[arg(
        value_names = ["MODULE", "ARGS"],
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    module_and_args: Vec<String>,
}

impl Target {
    fn split(self, cmd: &mut clap::Command) -> Result<(PathBuf, Vec<String>), clap::Error> {
        let mut it = self.module_and_args.into_iter();
        let module = it.next().unwrap_or_default();
        if module.starts_with('-') && module.len() > 1 {
            let message = format!(
                "unexpected argument '{module}' found\n\n  \
                 tip: options go before MODULE (a module path starting with '-' \
                 needs a './' in front)"
            );
            return Err(cmd.error(ErrorKind::UnknownArgument, message));
        }
        Ok((PathBuf::from(module), it.collect()))
    }
}

/// The rules of one `--allow-net` value.
#[derive(Clone, Debug)]
struct NetRules(Vec<NetRule>);

fn parse_net_rules(text: &str) -> Result<NetRules, String> {
    text.split(',')
        .filter(|r| !r.trim().is_empty())
        .map(|r| NetRule::parse(r).map_err(|e| format!("{e:#}")))
        .collect::<Result<_, _>>()
        .map(NetRules)
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected K=V with a non-empty K, got {text:?}")),
    }
}

fn parse_rw_dir(text: &str) -> Result<Preopen, String> {
    Ok(Preopen {
        writable: true,
        ..Preopen::parse(text)?
    })
}

fn parse_memory_size(text: &str) -> Result<usize, String> {
    let n = parse_size(text)?;
    usize::try_from(n).map_err(|_| format!("{text:?} is more bytes than this host can address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        parse_args(std::iter::once("twinloop-host").chain(args.iter().copied()))
    }

    fn run(args: &[&str]) -> RunArgs {
        match parse(&[&["run"], args].concat()) {
            Ok(Command::Run(r)) => r,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn test(args: &[&str]) -> TestRunArgs {
        match parse(&[&["test"], args].concat()) {
            Ok(Command::Test(t)) => t,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    /// The error kind and rendered message of a command line clap refuses.
    fn error(args: &[&str]) -> (ErrorKind, String) {
        let e = parse(args).expect_err(&format!("{args:?} parsed"));
        (e.kind(), e.render().to_string())
    }

    #[test]
    fn parses_options_then_module_then_guest_args() {
        let r = run(&[
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
        ]);
        assert_eq!(r.policy.allow_net.len(), 3);
        assert_eq!(r.policy.allow_net[1].to_string(), "::1");
        assert!(r.policy.allow_dns);
        assert_eq!(r.policy.env, [("A".to_owned(), "b=c".to_owned())]);
        assert_eq!(r.policy.max_memory, Some(64 << 20));
        assert_eq!(r.policy.time_limit, Some(Duration::from_millis(1500)));
        assert_eq!(r.module, PathBuf::from("m.wasm"));
        assert_eq!(r.args, ["--allow-dns", "x"]);
        assert_eq!(r.instances, 1);
        let t = test(&["m.wasm", "--", "--exact"]);
        assert_eq!(t.args, ["--", "--exact"]);
    }

    #[test]
    fn the_default_policy_is_stdout_and_stderr_only() {
        let r = run(&["m.wasm"]);
        assert_eq!(r.policy, SandboxPolicy::default());
        assert!(r.args.is_empty());
        let t = test(&["m.wasm"]);
        assert_eq!(
            t.policy,
            SandboxPolicy {
                time_limit: Some(DEFAULT_TEST_TIME_LIMIT),
                ..SandboxPolicy::default()
            }
        );
    }

    #[test]
    fn everything_after_the_module_goes_to_the_guest() {
        let guest = [
            "--exact",
            "--env",
            "X=1",
            "-q",
            "-h",
            "--help",
            "-V",
            "--",
            "--allow-net",
            "*",
        ];
        // An option of the host right after the module is the guest's too.
        for first in ["--env", "--allow-dns", "-h", "--help", "--instances"] {
            let r = run(&["m.wasm", first, "X=1"]);
            assert_eq!(r.args, [first, "X=1"]);
            assert_eq!((r.policy.env.len(), r.instances), (0, 1));
            assert_eq!(test(&["m.wasm", first]).args, [first]);
        }
        let r = run(&[&["--allow-dns", "m.wasm"], &guest[..]].concat());
        assert_eq!(r.args, guest);
        assert_eq!(r.policy.env, []);
        let t = test(&[&["m.wasm"], &guest[..]].concat());
        assert_eq!(t.args, guest);
        // `run` drops one `--` right after the module; `test` keeps it.
        assert_eq!(run(&["m.wasm", "--", "--", "x"]).args, ["--", "x"]);
        assert_eq!(run(&["m.wasm", "--"]).args, Vec::<String>::new());
        assert_eq!(run(&["m.wasm", "a", "--", "b"]).args, ["a", "--", "b"]);
        assert_eq!(test(&["m.wasm", "--"]).args, ["--"]);
        // `--` before the module ends the options.
        let r = run(&["--allow-dns", "--", "m.wasm", "--env", "x"]);
        assert_eq!(r.module.to_str(), Some("m.wasm"));
        assert_eq!(r.args, ["--env", "x"]);
        // A guest argument that is not an option of anyone.
        assert_eq!(run(&["m.wasm", "--frobnicate=3"]).args, ["--frobnicate=3"]);
    }

    #[test]
    fn parses_every_option() {
        let r = run(&[
            "--allow-net",
            "10.0.0.0/8:443,,",
            "--env=K=",
            "--env",
            "P=/a:/b",
            "--inherit-stdin",
            "--dir",
            "/srv/data::/data",
            "--dir-rw",
            "/tmp/out",
            "--dir=/etc",
            "--max-memory=512k",
            "--max-output",
            "2G",
            "--max-sockets",
            "16",
            "--time-limit",
            "0",
            "--instances",
            "3",
            "m.wasm",
        ]);
        let p = &r.policy;
        assert_eq!(p.allow_net, [NetRule::parse("10.0.0.0/8:443").unwrap()]);
        assert!(!p.allow_dns);
        assert_eq!(
            p.env,
            [
                ("K".to_owned(), String::new()),
                ("P".to_owned(), "/a:/b".to_owned())
            ]
        );
        assert!(p.inherit_stdin);
        let dirs: Vec<_> = p
            .preopens
            .iter()
            .map(|d| {
                (
                    d.host_path.to_str().unwrap(),
                    d.guest_path.as_str(),
                    d.writable,
                )
            })
            .collect();
        assert_eq!(
            dirs,
            [
                ("/srv/data", "/data", false),
                ("/tmp/out", "/tmp/out", true),
                ("/etc", "/etc", false)
            ]
        );
        assert_eq!(p.max_memory, Some(512 << 10));
        assert_eq!(p.max_output, Some(2 << 30));
        assert_eq!(p.max_sockets, Some(16));
        assert_eq!(p.time_limit, None, "0 means no time limit");
        assert_eq!(r.instances, 3);
        assert_eq!(
            test(&["--time-limit", "0", "m.wasm"]).policy.time_limit,
            None
        );
        assert_eq!(
            test(&["--time-limit", "2.5", "m.wasm"]).policy.time_limit,
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            run(&["--max-sockets", "0", "m.wasm"]).policy.max_sockets,
            Some(0)
        );
    }

    #[test]
    fn parses_the_component_command() {
        for args in [
            &["component", "m.wasm", "-o", "c.wasm"][..],
            &["component", "-o", "c.wasm", "m.wasm"],
            &["component", "m.wasm", "--output=c.wasm"],
        ] {
            assert_eq!(
                parse(args).unwrap(),
                Command::Component {
                    input: "m.wasm".into(),
                    output: "c.wasm".into()
                },
                "{args:?}"
            );
        }
    }

    #[test]
    fn refuses_bad_command_lines_with_clap_errors() {
        let cases: &[(&[&str], ErrorKind, &str)] = &[
            (&["frobnicate"], ErrorKind::InvalidSubcommand, "frobnicate"),
            (&["run"], ErrorKind::MissingRequiredArgument, "<MODULE>"),
            (
                &["test", "--allow-dns"],
                ErrorKind::MissingRequiredArgument,
                "<MODULE>",
            ),
            (
                &["run", "--bogus", "m.wasm"],
                ErrorKind::UnknownArgument,
                "'--bogus'",
            ),
            (&["run", "-x", "m.wasm"], ErrorKind::UnknownArgument, "'-x'"),
            (&["run", "--bogus"], ErrorKind::UnknownArgument, "'--bogus'"),
            (
                &["run", "--allow-net"],
                ErrorKind::InvalidValue,
                "--allow-net",
            ),
            (
                &["run", "--allow-net", "10.0.0.0/33", "m"],
                ErrorKind::ValueValidation,
                "10.0.0.0/33",
            ),
            (
                &["run", "--allow-net", "1.2.3.4:http", "m"],
                ErrorKind::ValueValidation,
                "1.2.3.4:http",
            ),
            (
                &["run", "--env", "NOEQUALS", "m"],
                ErrorKind::ValueValidation,
                "NOEQUALS",
            ),
            (
                &["run", "--env", "=v", "m"],
                ErrorKind::ValueValidation,
                "non-empty K",
            ),
            (
                &["run", "--max-memory", "lots", "m"],
                ErrorKind::ValueValidation,
                "lots",
            ),
            (
                &["run", "--max-memory", "99999999999999G", "m"],
                ErrorKind::ValueValidation,
                "99999999999999G",
            ),
            (
                &["run", "--max-output", "12X", "m"],
                ErrorKind::ValueValidation,
                "12X",
            ),
            (
                &["run", "--max-sockets", "-1", "m"],
                ErrorKind::ValueValidation,
                "-1",
            ),
            (
                &["run", "--max-sockets", "many", "m"],
                ErrorKind::ValueValidation,
                "many",
            ),
            (
                &["run", "--time-limit", "soon", "m"],
                ErrorKind::ValueValidation,
                "soon",
            ),
            (
                &["run", "--time-limit", "-1", "m"],
                ErrorKind::ValueValidation,
                "-1",
            ),
            (
                &["run", "--time-limit", "inf", "m"],
                ErrorKind::ValueValidation,
                "inf",
            ),
            (
                &["run", "--instances", "0", "m"],
                ErrorKind::ValueValidation,
                "0",
            ),
            (
                &["run", "--instances", "x", "m"],
                ErrorKind::ValueValidation,
                "x",
            ),
            (
                &["test", "--instances", "2", "m"],
                ErrorKind::UnknownArgument,
                "--instances",
            ),
            (
                &["run", "--dir", "", "m"],
                ErrorKind::ValueValidation,
                "HOST_DIR",
            ),
            (
                &["run", "--dir", "/a::", "m"],
                ErrorKind::ValueValidation,
                "/a::",
            ),
            (
                &["run", "--dir-rw", "::/g", "m"],
                ErrorKind::ValueValidation,
                "::/g",
            ),
            (
                &["run", "--allow-dns=yes", "m"],
                ErrorKind::TooManyValues,
                "--allow-dns",
            ),
            (
                &["component", "m.wasm"],
                ErrorKind::MissingRequiredArgument,
                "--output",
            ),
            (
                &["component", "-o", "c.wasm"],
                ErrorKind::MissingRequiredArgument,
                "<MODULE>",
            ),
            (
                &["component", "m.wasm", "-o"],
                ErrorKind::InvalidValue,
                "--output",
            ),
            (
                &["component", "m.wasm", "-o", "c", "--time-limit", "1"],
                ErrorKind::UnknownArgument,
                "--time-limit",
            ),
            (
                &["component", "a.wasm", "b.wasm", "-o", "c"],
                ErrorKind::UnknownArgument,
                "b.wasm",
            ),
        ];
        for (args, kind, needle) in cases {
            let (k, msg) = error(args);
            assert_eq!(k, *kind, "{args:?}: {msg}");
            assert!(msg.starts_with("error: "), "{args:?}: {msg}");
            assert!(
                msg.contains(needle),
                "{args:?}: expected {needle:?} in {msg}"
            );
            assert_eq!(parse(args).unwrap_err().exit_code(), 2, "{args:?}");
        }
        // No arguments at all: the help, as an error (exit code 2).
        let e = parse(&[]).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        );
        assert_eq!(e.exit_code(), 2);
        assert!(e.render().to_string().contains("Usage: twinloop-host"));
        // An unknown option before the module says where options go.
        let (_, msg) = error(&["run", "--exakt", "m.wasm"]);
        assert!(msg.contains("options go before MODULE"), "{msg}");
        assert!(msg.contains("Usage: twinloop-host run"), "{msg}");
    }

    #[test]
    fn help_and_version_are_not_failures() {
        for args in [
            &["--help"][..],
            &["-h"],
            &["help"],
            &["help", "run"],
            &["run", "--help"],
            &["test", "-h"],
            &["component", "--help"],
        ] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::DisplayHelp, "{args:?}");
            assert_eq!(e.exit_code(), 0, "{args:?}");
        }
        for args in [&["-V"][..], &["--version"]] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::DisplayVersion, "{args:?}");
            assert_eq!(e.exit_code(), 0);
            assert_eq!(
                e.render().to_string(),
                format!("twinloop-host {}\n", env!("CARGO_PKG_VERSION"))
            );
        }
    }

    #[test]
    fn help_says_what_each_limit_counts() {
        let help = Cli::command()
            .find_subcommand_mut("run")
            .unwrap()
            .render_long_help()
            .to_string();
        for needle in [
            "--allow-net <RULE>",
            "--dir <HOST[::GUEST]>",
            "--dir-rw <HOST[::GUEST]>",
            "--max-output <BYTES>",
            "--max-sockets <N>",
            "--instances <N>",
            "nothing but stdout and stderr",
            "all the guest's linear memories",
            "instance I: <reason>",
            "134 trap",
            "124 --time-limit",
            "123 --max-memory",
            "122 --max-output",
            "121 --max-sockets",
            "2 errors of the host",
            "CARGO_TARGET_WASM32_WASIP1_RUNNER",
        ] {
            assert!(help.contains(needle), "{needle:?} missing from\n{help}");
        }
        // The numbers in the text are the ones the limits use.
        use crate::limits::{MAX_INSTANCES, MAX_MEMORIES, MAX_TABLES, TABLE_ELEMENT_BYTES};
        assert!(help.contains(&format!("at {TABLE_ELEMENT_BYTES} bytes per element")));
        assert!(help.contains(&format!(
            "{MAX_INSTANCES} instances, {MAX_MEMORIES} memories and {MAX_TABLES} tables"
        )));
        for (limit, code) in [
            (crate::Limit::Time, 124),
            (crate::Limit::Memory, 123),
            (crate::Limit::Output, 122),
            (crate::Limit::Sockets, 121),
        ] {
            assert_eq!(limit.exit_code(), code);
        }
        assert_eq!(crate::TRAP_EXIT_CODE, 134);
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_sizes_and_seconds() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size(" 512k "), Ok(512 << 10));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("3MiB"), Ok(3 << 20));
        assert_eq!(parse_size("7b"), Ok(7));
        assert_eq!(parse_size("17179869183G"), Ok(17179869183 << 30));
        assert!(parse_size("17179869184G").is_err());
        assert!(parse_size("18446744073709551616").is_err());
        for bad in ["lots", "12X", "", "K", "-1", "+1", "1.5M", "1 M", "1MM"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_secs("0"), Ok(Duration::ZERO));
        assert_eq!(parse_secs("120"), Ok(Duration::from_secs(120)));
        for bad in ["-1", "soon", "", "NaN", "inf", "1e30"] {
            assert!(parse_secs(bad).is_err(), "{bad:?}");
        }
    }
}
