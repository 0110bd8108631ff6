//! `bench_loop CASE --rt twinloop|tokio [--n N] [--repeat K]`: one loop-only case on one
//! runtime, `K` times (default 3), printing one `result` line with the median.
//!
//! Cases (tokio is always its current-thread runtime, tasks in a `LocalSet`):
//! - `callbacks_chain`: N callbacks, each scheduling the next. twinloop: `call_soon` from
//!   inside the callback; tokio: each `spawn_local` task spawns the next.
//! - `callbacks_batch`: N callbacks scheduled up front, then run. twinloop: N `call_soon`;
//!   tokio: N `spawn_local`.
//! - `tasks`: N tasks spawned up front, each completing at its first poll, then run.
//!   twinloop: N `create_task`; tokio: N `spawn_local` (the same as `callbacks_batch`).
//! - `timers`: N timers at pseudo-random delays in 0..100 ms, every other one cancelled
//!   once all are pending; runs until the rest have fired. Deadlines count from one start
//!   on both sides. twinloop: `call_at` (= `call_later` from that start) +
//!   `TimerHandle::cancel`; tokio: N tasks awaiting `sleep_until`, half of them
//!   `JoinHandle::abort`ed after every sleep is registered.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bench::{cpu_time, median, result_line, secs, Cli, Rng, Rt};
use tokio::task::LocalSet;

const USAGE: &str =
    "usage: bench_loop callbacks_chain|callbacks_batch|tasks|timers --rt twinloop|tokio [--n N] [--repeat K]";

/// Timer delays are spread over `0..TIMER_SPAN`.
const TIMER_SPAN: Duration = Duration::from_millis(100);

/// What one repetition measured.
#[derive(Default)]
struct Sample {
    wall: Duration,
    cpu: Duration,
    /// Timers only: scheduling all and cancelling half.
    setup: Duration,
    /// Timers only: wall time past the last kept timer's deadline.
    late: Duration,
}

type Outcome = Result<Sample, String>;

fn main() {
    if let Err(e) = run() {
        eprintln!("bench_loop: {e}\n{USAGE}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let cli = Cli::parse(std::env::args().skip(1))?;
    cli.only(&["rt", "n", "repeat"])?;
    let [case] = cli.positional.as_slice() else {
        return Err("expected exactly one CASE".into());
    };
    let rt: Rt = cli.get("rt", Rt::Twinloop)?;
    let default_n = if case == "timers" { 100_000 } else { 1_000_000 };
    let n: u64 = cli.get("n", default_n)?;
    let repeat: usize = cli.get("repeat", 3)?;
    if n == 0 || repeat == 0 {
        return Err("--n and --repeat must be at least 1".into());
    }
    let one: fn(u64) -> Outcome = match (case.as_str(), rt) {
        ("callbacks_chain", Rt::Twinloop) => twinloop_chain,
        ("callbacks_chain", Rt::Tokio) => tokio_chain,
        ("callbacks_batch", Rt::Twinloop) => twinloop_batch,
        ("callbacks_batch", Rt::Tokio) => tokio_batch,
        ("tasks", Rt::Twinloop) => twinloop_tasks,
        ("tasks", Rt::Tokio) => tokio_batch,
        ("timers", Rt::Twinloop) => twinloop_timers,
        ("timers", Rt::Tokio) => tokio_timers,
        (other, _) => return Err(format!("unknown case {other:?}")),
    };
    let samples = (0..repeat).map(|_| one(n)).collect::<Result<Vec<_>, _>>()?;
    let pick = |f: fn(&Sample) -> Duration| median(samples.iter().map(f).collect());
    let mut fields = vec![
        ("case", case.clone()),
        ("rt", rt.name().to_owned()),
        ("n", n.to_string()),
        ("repeat", repeat.to_string()),
        ("secs", secs(pick(|s| s.wall))),
        (
            "min_secs",
            secs(samples.iter().map(|s| s.wall).min().unwrap_or_default()),
        ),
        ("cpu_secs", secs(pick(|s| s.cpu))),
    ];
    if case == "timers" {
        fields.push(("setup_secs", secs(pick(|s| s.setup))));
        fields.push(("late_secs", secs(pick(|s| s.late))));
    }
    println!("{}", result_line(&fields));
    Ok(())
}

/// Starts the clocks; `finish` reads them.
struct Clocks {
    wall: Instant,
    cpu: Duration,
}

impl Clocks {
    fn start() -> Clocks {
        Clocks {
            cpu: cpu_time(),
            wall: Instant::now(),
        }
    }

    fn finish(&self) -> Sample {
        Sample {
            wall: self.wall.elapsed(),
            cpu: cpu_time().saturating_sub(self.cpu),
            ..Sample::default()
        }
    }
}

fn check_count(what: &str, got: u64, want: u64) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: {got} ran, expected {want}"))
    }
}

fn tl_err(e: twinloop::Error) -> String {
    format!("twinloop: {e}")
}

// ---- twinloop ----

fn twinloop_chain(n: u64) -> Outcome {
    fn step(ev: &twinloop::EventLoop, left: u64, ran: Rc<Cell<u64>>) {
        ran.set(ran.get() + 1);
        if left == 1 {
            ev.stop();
        } else if let Err(e) = ev.call_soon(move |ev| step(ev, left - 1, ran)) {
            eprintln!("call_soon failed: {e}");
            ev.stop();
        }
    }
    let ev = twinloop::EventLoop::new().map_err(tl_err)?;
    let ran = Rc::new(Cell::new(0));
    let clocks = Clocks::start();
    let counter = ran.clone();
    ev.call_soon(move |ev| step(ev, n, counter))
        .map_err(tl_err)?;
    ev.run_forever().map_err(tl_err)?;
    let sample = clocks.finish();
    ev.close().map_err(tl_err)?;
    check_count("callbacks_chain", ran.get(), n)?;
    Ok(sample)
}

fn twinloop_batch(n: u64) -> Outcome {
    twinloop_up_front("callbacks_batch", n, |ev, ran| {
        ev.call_soon(move |ev| count_one(&ran, n, ev)).map(drop)
    })
}

fn twinloop_tasks(n: u64) -> Outcome {
    twinloop_up_front("tasks", n, |ev, ran| {
        let ev2 = ev.clone();
        ev.create_task(async move { count_one(&ran, n, &ev2) })
            .map(drop)
    })
}

/// `n` units of work scheduled up front by `schedule` (each calls [`count_one`] once),
/// then the loop runs until all of them did.
fn twinloop_up_front(
    case: &str,
    n: u64,
    schedule: impl Fn(&twinloop::EventLoop, Rc<Cell<u64>>) -> twinloop::Result<()>,
) -> Outcome {
    let ev = twinloop::EventLoop::new().map_err(tl_err)?;
    let ran = Rc::new(Cell::new(0u64));
    let clocks = Clocks::start();
    for _ in 0..n {
        schedule(&ev, ran.clone()).map_err(tl_err)?;
    }
    ev.run_forever().map_err(tl_err)?;
    let sample = clocks.finish();
    ev.close().map_err(tl_err)?;
    check_count(case, ran.get(), n)?;
    Ok(sample)
}

/// One unit done; the `n`th stops the loop.
fn count_one(ran: &Cell<u64>, n: u64, ev: &twinloop::EventLoop) {
    ran.set(ran.get() + 1);
    if ran.get() == n {
        ev.stop();
    }
}

fn twinloop_timers(n: u64) -> Outcome {
    let ev = twinloop::EventLoop::new().map_err(tl_err)?;
    let delays = timer_delays(n);
    let kept = n.div_ceil(2);
    let last_kept = delays.iter().step_by(2).max().copied().unwrap_or_default();
    let fired = Rc::new(Cell::new(0u64));
    let clocks = Clocks::start();
    // Deadlines from one start, as on the tokio side (`call_later` would count each
    // delay from its own scheduling).
    let start = ev.time();
    let mut handles = Vec::with_capacity(delays.len());
    for &delay in &delays {
        let fired = fired.clone();
        let handle = ev
            .call_at(start + delay.as_secs_f64(), move |ev| {
                fired.set(fired.get() + 1);
                if fired.get() == kept {
                    ev.stop();
                }
            })
            .map_err(tl_err)?;
        handles.push(handle);
    }
    for handle in handles.iter().skip(1).step_by(2) {
        handle.cancel();
    }
    let setup = clocks.wall.elapsed();
    ev.run_forever().map_err(tl_err)?;
    let mut sample = clocks.finish();
    ev.close().map_err(tl_err)?;
    check_count("timers", fired.get(), kept)?;
    sample.setup = setup;
    sample.late = sample.wall.saturating_sub(last_kept);
    Ok(sample)
}

/// The same pseudo-random delays for both runtimes.
fn timer_delays(n: u64) -> Vec<Duration> {
    let mut rng = Rng::new(0x5EED);
    let span = TIMER_SPAN.as_micros() as u64;
    (0..n)
        .map(|_| Duration::from_micros(rng.below(span)))
        .collect()
}

// ---- tokio ----

/// A one-shot flag a task can await (tokio's `sync` feature is not used).
#[derive(Clone, Default)]
struct Signal(Rc<(Cell<bool>, RefCell<Option<Waker>>)>);

impl Signal {
    fn set(&self) {
        self.0 .0.set(true);
        if let Some(waker) = self.0 .1.borrow_mut().take() {
            waker.wake();
        }
    }

    async fn wait(&self) {
        poll_fn(|cx| {
            if self.0 .0.get() {
                Poll::Ready(())
            } else {
                *self.0 .1.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

fn tokio_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

fn tokio_chain(n: u64) -> Outcome {
    fn spawn_step(left: u64, ran: Rc<Cell<u64>>, done: Signal) {
        tokio::task::spawn_local(async move {
            ran.set(ran.get() + 1);
            if left == 1 {
                done.set();
            } else {
                spawn_step(left - 1, ran, done);
            }
        });
    }
    let rt = tokio_runtime()?;
    let local = LocalSet::new();
    let ran = Rc::new(Cell::new(0));
    let counter = ran.clone();
    let sample = local.block_on(&rt, async move {
        let done = Signal::default();
        let clocks = Clocks::start();
        spawn_step(n, counter, done.clone());
        done.wait().await;
        clocks.finish()
    });
    check_count("callbacks_chain", ran.get(), n)?;
    Ok(sample)
}

fn tokio_batch(n: u64) -> Outcome {
    let rt = tokio_runtime()?;
    let local = LocalSet::new();
    let ran = Rc::new(Cell::new(0u64));
    let counter = ran.clone();
    let sample = local.block_on(&rt, async move {
        let done = Signal::default();
        let clocks = Clocks::start();
        for _ in 0..n {
            let ran = counter.clone();
            let done = done.clone();
            tokio::task::spawn_local(async move {
                ran.set(ran.get() + 1);
                if ran.get() == n {
                    done.set();
                }
            });
        }
        done.wait().await;
        clocks.finish()
    });
    check_count("callbacks_batch", ran.get(), n)?;
    Ok(sample)
}

fn tokio_timers(n: u64) -> Outcome {
    let rt = tokio_runtime()?;
    let local = LocalSet::new();
    let delays = timer_delays(n);
    let kept = n.div_ceil(2);
    let last_kept = delays.iter().step_by(2).max().copied().unwrap_or_default();
    let fired = Rc::new(Cell::new(0u64));
    let counter = fired.clone();
    let sample = local.block_on(&rt, async move {
        let registered = Rc::new(Cell::new(0u64));
        let all_registered = Signal::default();
        let all_fired = Signal::default();
        let clocks = Clocks::start();
        let start = tokio::time::Instant::from_std(clocks.wall);
        let mut handles = Vec::with_capacity(delays.len());
        for (i, &delay) in delays.iter().enumerate() {
            // Odd ones are aborted; one that fires first (during setup) is not counted.
            let keep = i % 2 == 0;
            let fired = counter.clone();
            let registered = registered.clone();
            let all_registered = all_registered.clone();
            let all_fired = all_fired.clone();
            handles.push(tokio::task::spawn_local(async move {
                let sleep = tokio::time::sleep_until(start + delay);
                // The sleep joins the timer wheel on its first poll, which happens right
                // after this count (nothing else runs in between).
                registered.set(registered.get() + 1);
                if registered.get() == n {
                    all_registered.set();
                }
                sleep.await;
                if keep {
                    fired.set(fired.get() + 1);
                    if fired.get() == kept {
                        all_fired.set();
                    }
                }
            }));
        }
        all_registered.wait().await;
        for handle in handles.iter().skip(1).step_by(2) {
            handle.abort();
        }
        let setup = clocks.wall.elapsed();
        all_fired.wait().await;
        let mut sample = clocks.finish();
        sample.setup = setup;
        sample
    });
    drop(local);
    check_count("timers", fired.get(), kept)?;
    let mut sample = sample;
    sample.late = sample.wall.saturating_sub(last_kept);
    Ok(sample)
}
