//! Running a guest once: a fresh store and WASI context built from a
//! `SandboxPolicy`, `wasi:cli/run` called, and the result turned into a
//! `RunOutcome` (an exit code or a trap with its wasm backtrace).

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap, WasmBacktrace};
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::host::Guest;
use crate::limits::{limit_of_error, Footprint, Limit};
use crate::output::{GuestOutput, HostStream, OutputBudget};
use crate::policy::SandboxPolicy;
use crate::sockets::SocketCount;
use crate::time_limit::{self, TimeLimitExceeded, GRACE};
use crate::wasmtime_err;

/// The most bytes captured output holds (stdout and stderr together) when
/// the policy sets no smaller `max_output`; a guest writing more ends with
/// [`Limit::Output`].
pub const CAPTURE_CAPACITY: usize = 64 << 20;

/// The exit code `twinloop-host run` uses for a trapped guest, the code a
/// native process killed by `SIGABRT` reports. A guest stopped by a limit of
/// its policy ends with that limit's own code instead ([`Limit::exit_code`]).
pub const TRAP_EXIT_CODE: i32 = 134;

/// Where the guest's stdout and stderr go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stdio {
    /// The host process's own stdout and stderr.
    Inherit,
    /// Two memory buffers, returned in [`RunOutcome::stdout`] and
    /// [`RunOutcome::stderr`].
    Capture,
    /// One memory buffer for both, in the order written, returned in
    /// [`RunOutcome::stdout`] (`stderr` stays empty). This is what test mode
    /// uses to show a failing test's output with the panic message in place.
    CaptureMerged,
}

/// How a guest run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuestStatus {
    /// The guest returned from `main` (0), returned an error from
    /// `wasi:cli/run` (1) or called `exit` / `proc_exit` (its code).
    Exited(i32),
    /// The guest trapped (including a panic under `panic=abort`, which is an
    /// `unreachable` trap, and an exception no handler caught) or was stopped
    /// by a limit of its policy ([`GuestTrap::limit`]).
    Trapped(GuestTrap),
}

/// A guest's trap, ready to show to a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestTrap {
    /// What went wrong, in one line, e.g. "wasm trap: wasm `unreachable`
    /// instruction executed" or "time limit of 120 s exceeded".
    pub message: String,
    /// The wasm backtrace (function names and offsets) if wasmtime recorded
    /// one; a guest stopped while waiting in a host call has none.
    pub backtrace: Option<String>,
    /// The limit of the policy that stopped the guest, if that is what
    /// happened.
    pub limit: Option<Limit>,
}

impl GuestTrap {
    /// Whether the trap is the policy's time limit running out.
    pub fn time_limit_exceeded(&self) -> bool {
        self.limit == Some(Limit::Time)
    }
}

impl fmt::Display for GuestTrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(bt) = &self.backtrace {
            write!(f, "\n{}", bt.trim_end())?;
        }
        Ok(())
    }
}

/// The result of [`Guest::run`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    /// Exit code or trap.
    pub status: GuestStatus,
    /// Captured stdout (both streams for [`Stdio::CaptureMerged`]); empty for
    /// [`Stdio::Inherit`].
    pub stdout: Vec<u8>,
    /// Captured stderr; empty unless [`Stdio::Capture`].
    pub stderr: Vec<u8>,
    /// Wall-clock time from instantiation to the end of the run.
    pub elapsed: Duration,
}

impl RunOutcome {
    /// The exit code a process running this guest should end with: the
    /// guest's own, the limit's ([`Limit::exit_code`]) if a limit stopped
    /// it, or [`TRAP_EXIT_CODE`] for any other trap.
    pub fn exit_code(&self) -> i32 {
        match &self.status {
            GuestStatus::Exited(code) => *code,
            GuestStatus::Trapped(GuestTrap {
                limit: Some(limit), ..
            }) => limit.exit_code(),
            GuestStatus::Trapped(_) => TRAP_EXIT_CODE,
        }
    }

    /// Whether the guest exited with code 0.
    pub fn success(&self) -> bool {
        self.status == GuestStatus::Exited(0)
    }

    /// The trap, if the guest trapped.
    pub fn trap(&self) -> Option<&GuestTrap> {
        match &self.status {
            GuestStatus::Trapped(t) => Some(t),
            GuestStatus::Exited(_) => None,
        }
    }
}

/// The data of a guest's store.
pub(crate) struct GuestState {
    pub(crate) ctx: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limits: Footprint,
    pub(crate) socket_count: SocketCount,
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

impl Guest {
    /// Runs the guest once in a fresh instance under `policy`, with `argv` =
    /// [`Guest::name`] followed by `args`.
    ///
    /// Guest failures (a non-zero exit, a trap, the time limit) are reported
    /// in the [`RunOutcome`]; `Err` means the host could not run the guest at
    /// all (for example a time limit on a host made with
    /// [`Host::without_time_limits`](crate::Host::without_time_limits)).
    ///
    /// Blocks the calling thread. The guest runs as an async wasmtime call
    /// driven by a tokio runtime on this thread (or, on a host without time
    /// limits, wasmtime-wasi's own), so this must not be called from inside an
    /// async task (tokio panics on a nested `block_on`); use `spawn_blocking`
    /// there.
    pub fn run(&self, policy: &SandboxPolicy, args: &[String], stdio: Stdio) -> Result<RunOutcome> {
        if policy.time_limit.is_some() && self.ticker.is_none() {
            bail!("this host was made without time-limit support; create it with Host::new()");
        }
        let mut builder = WasiCtxBuilder::new();
        builder.arg(self.name()).args(args);
        policy.configure(&mut builder)?;
        if policy.inherit_stdin {
            builder.inherit_stdin();
        }
        let captured = |budget: &Arc<OutputBudget>| {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            (GuestOutput::capture(buffer.clone(), budget.clone()), buffer)
        };
        let capacity = CAPTURE_CAPACITY as u64;
        let (forwarded, out, err) = match stdio {
            Stdio::Inherit => {
                let budget = OutputBudget::new(policy.max_output);
                let stdout = GuestOutput::forward(HostStream::Stdout, budget.clone());
                let stderr = GuestOutput::forward(HostStream::Stderr, budget);
                builder.stdout(stdout.clone()).stderr(stderr.clone());
                (vec![stdout, stderr], None, None)
            }
            Stdio::Capture => {
                let budget = OutputBudget::for_capture(policy.max_output, capacity);
                let (stdout, out) = captured(&budget);
                let (stderr, err) = captured(&budget);
                builder.stdout(stdout).stderr(stderr);
                (Vec::new(), Some(out), Some(err))
            }
            Stdio::CaptureMerged => {
                let budget = OutputBudget::for_capture(policy.max_output, capacity);
                let (both, out) = captured(&budget);
                builder.stdout(both.clone()).stderr(both);
                (Vec::new(), Some(out), None)
            }
        };
        let state = GuestState {
            ctx: builder.build(),
            table: ResourceTable::new(),
            limits: Footprint::new(policy.max_memory),
            socket_count: SocketCount::new(policy.max_sockets),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        if self.ticker.is_some() {
            time_limit::arm(&mut store, policy.time_limit);
        }

        let start = Instant::now();
        let status = self.call_run(&mut store, policy.time_limit)?;
        let elapsed = start.elapsed();
        drop(store);
        // What the guest queued for the host's stdout and stderr goes out
        // before the run is over, within what is left of its time limit (a
        // reader that never reads does not hold the host past it).
        let deadline = policy.time_limit.map(|limit| start + limit + GRACE);
        for output in &forwarded {
            output.drain(deadline);
        }
        let take = |buffer: Option<Arc<Mutex<Vec<u8>>>>| {
            buffer
                .map(|b| std::mem::take(&mut *b.lock().unwrap()))
                .unwrap_or_default()
        };
        Ok(RunOutcome {
            status,
            stdout: take(out),
            stderr: take(err),
            elapsed,
        })
    }

    /// Instantiates the guest in `store` and calls `wasi:cli/run`, stopping it
    /// after `limit` (plus [`GRACE`]) even if it is blocked in a host call.
    fn call_run(
        &self,
        store: &mut Store<GuestState>,
        limit: Option<Duration>,
    ) -> Result<GuestStatus> {
        let pre = &self.pre;
        let run = async move {
            let command = match pre.instantiate_async(&mut *store).await {
                Ok(command) => command,
                Err(e) if e.downcast_ref::<Trap>().is_some() || limit_of_error(&e).is_some() => {
                    return Ok(Err(e))
                }
                Err(e) => return Err(wasmtime_err(e)).context("instantiating the guest"),
            };
            Ok(command.wasi_cli_run().call_run(&mut *store).await)
        };
        // One tokio coop budget for a whole guest run would run out after
        // ~128 socket operations between two real waits and make readiness
        // checks report "not ready" spuriously (seen as phantom
        // backpressure and hangs); the guest is its own scheduler.
        let run = tokio::task::unconstrained(run);
        let run = async move {
            match limit {
                None => Ok(run.await),
                Some(limit) => tokio::time::timeout(limit + GRACE, run)
                    .await
                    .map_err(|_| TimeLimitExceeded { limit }),
            }
        };
        let result = if self.ticker.is_some() {
            // The guest and the I/O driver of its sockets on this one thread: a
            // wake-up is the driver's own `epoll_wait` returning, not a worker
            // thread's futex wake and a switch to this thread. A guest that polls
            // without waiting gives the driver a turn (wasmtime-wasi yields on a
            // zero timeout); one that computes yields at every epoch tick
            // (`time_limit::arm`).
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the guest's tokio runtime")?
                .block_on(run)
        } else {
            // Without epoch ticks a computing guest never yields: its I/O is
            // driven by wasmtime-wasi's runtime, on threads of its own.
            wasmtime_wasi::runtime::in_tokio(run)
        };
        Ok(match result {
            Err(exceeded) => GuestStatus::Trapped(GuestTrap {
                message: format!("{exceeded}; the guest was waiting in a host call"),
                backtrace: None,
                limit: Some(Limit::Time),
            }),
            Ok(Err(host_error)) => return Err(host_error),
            Ok(Ok(Ok(Ok(())))) => GuestStatus::Exited(0),
            Ok(Ok(Ok(Err(())))) => GuestStatus::Exited(1),
            Ok(Ok(Err(e))) => status_of_error(&e),
        })
    }
}

/// Classifies the error a run ended with: an exit request or a trap.
fn status_of_error(e: &wasmtime::Error) -> GuestStatus {
    if let Some(exit) = e.downcast_ref::<I32Exit>() {
        return GuestStatus::Exited(exit.0);
    }
    let backtrace = e.downcast_ref::<WasmBacktrace>().map(|bt| bt.to_string());
    if let Some(exceeded) = limit_of_error(e) {
        return GuestStatus::Trapped(GuestTrap {
            message: exceeded.to_string(),
            backtrace,
            limit: Some(exceeded.limit),
        });
    }
    let exceeded = e.downcast_ref::<TimeLimitExceeded>();
    let limit = exceeded.map(|_| Limit::Time);
    let message = match exceeded {
        Some(exceeded) => exceeded.to_string(),
        None => {
            let root = e.root_cause().to_string();
            match e.downcast_ref::<Trap>() {
                Some(_) if !root.starts_with("wasm trap") => format!("wasm trap: {root}"),
                _ => root,
            }
        }
    };
    GuestStatus::Trapped(GuestTrap {
        message,
        backtrace,
        limit,
    })
}

impl Guest {
    /// Runs `count` instances of the guest at once, each in its own store on a
    /// thread of its own, all under `policy` and with the same `args`, and
    /// returns their outcomes in instance order. The compiled component is
    /// shared; each instance has its own memory, limits and WASI context, so
    /// one instance trapping or hitting a limit leaves the others running.
    ///
    /// With [`Stdio::Inherit`] the instances' output interleaves on this
    /// process's stdout and stderr.
    ///
    /// ```no_run
    /// use twinloop_host::{Host, SandboxPolicy, Stdio};
    ///
    /// let host = Host::new()?;
    /// let guest = host.load(b"(module (func (export \"_start\")))")?;
    /// let outcomes = guest.run_instances(&SandboxPolicy::default(), &[], 10, Stdio::Capture)?;
    /// assert!(outcomes.iter().all(|o| o.success()));
    /// # Ok::<(), anyhow::Error>(())
    /// ```
    pub fn run_instances(
        &self,
        policy: &SandboxPolicy,
        args: &[String],
        count: usize,
        stdio: Stdio,
    ) -> Result<Vec<RunOutcome>> {
        std::thread::scope(|scope| {
            let runs: Vec<_> = (0..count)
                .map(|i| {
                    std::thread::Builder::new()
                        .name(format!("twinloop-instance-{i}"))
                        .spawn_scoped(scope, || self.run(policy, args, stdio))
                        .with_context(|| format!("starting a thread for instance {i}"))
                })
                .collect::<Result<_>>()?;
            runs.into_iter()
                .map(|run| match run.join() {
                    Ok(outcome) => outcome,
                    Err(panic) => std::panic::resume_unwind(panic),
                })
                .collect()
        })
    }
}
