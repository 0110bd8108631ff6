//! `run_in_executor`, the default executor and its shutdown, and name lookups on it.
//!
//! Tests that need threads are skipped in the guest (it has none). There the default
//! executor runs the function on the loop's own thread on the next turn, and a
//! `ThreadPoolExecutor` refuses jobs: the portable tests check both behaviours.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use twinloop::{Error, Executor, Family, ThreadPoolExecutor};
use wasm_tests::*;

/// Waits (up to a generous bound) until `pool` has no live worker thread.
fn wait_for_no_threads(pool: &ThreadPoolExecutor) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while pool.thread_count() > 0 {
        assert!(Instant::now() < deadline, "the pool's threads never exited");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Threads of this process now (Linux), for bounds on how many a burst started.
fn process_threads() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
}

#[test]
fn run_in_executor_returns_the_functions_results() {
    let ev = new_loop();
    let ev2 = ev.clone();
    let results = run_until_complete(&ev, async move {
        let futures: Vec<_> = (0..10u64)
            .map(|i| ev2.run_in_executor(None, move || i * i))
            .collect::<Result<_, _>>()?;
        let mut results = Vec::new();
        for fut in futures {
            results.push(fut.await?);
        }
        Ok::<_, Error>(results)
    })
    .unwrap()
    .unwrap();
    assert_eq!(results, (0..10u64).map(|i| i * i).collect::<Vec<_>>());
}

#[test]
fn the_default_executor_runs_off_the_loop_thread_natively_and_on_the_next_turn_in_the_guest() {
    let ev = new_loop();
    let ev2 = ev.clone();
    let loop_thread = std::thread::current().id();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let (ran_at_once, ran_on) = run_until_complete(&ev, async move {
        let fut = ev2.run_in_executor(None, move || {
            r.store(true, Ordering::SeqCst);
            std::thread::current().id()
        })?;
        let ran_at_once = ran.load(Ordering::SeqCst);
        Ok::<(bool, ThreadId), Error>((ran_at_once, fut.await?))
    })
    .unwrap()
    .unwrap();
    if twinloop::HAS_THREADS {
        assert_ne!(
            ran_on, loop_thread,
            "natively the function runs on a worker"
        );
    } else {
        assert!(
            !ran_at_once,
            "the guest runs the function on a later turn, not inside the call"
        );
        assert_eq!(ran_on, loop_thread, "the guest has only the loop's thread");
    }
}

#[test]
fn a_thread_pool_runs_jobs_natively_and_is_unsupported_in_the_guest() {
    let ev = new_loop();
    let pool = ThreadPoolExecutor::with_options(2, "pool").unwrap();
    let submitted = ev.run_in_executor(Some(&pool), || "done");
    if twinloop::HAS_THREADS {
        assert_eq!(
            run_until_complete(&ev, submitted.unwrap())
                .unwrap()
                .unwrap(),
            "done"
        );
    } else {
        assert!(
            matches!(submitted, Err(Error::Unsupported { what, .. }) if what.contains("ThreadPoolExecutor")),
            "{submitted:?}"
        );
    }
    pool.shutdown(true);
}

#[test]
fn run_in_executor_after_shutdown_default_executor_is_an_error() {
    let ev = new_loop();
    let ev2 = ev.clone();
    let after = run_until_complete(&ev, async move {
        assert_eq!(ev2.run_in_executor(None, || 1)?.await?, 1);
        ev2.shutdown_default_executor(None).await?;
        Ok::<_, Error>(ev2.run_in_executor(None, || 2).map(drop))
    })
    .unwrap()
    .unwrap();
    assert!(matches!(after, Err(Error::InvalidState(_))), "{after:?}");
    // A given executor still works (natively; the guest's is the loop's own turn).
    if twinloop::HAS_THREADS {
        let pool = ThreadPoolExecutor::with_options(1, "given").unwrap();
        let fut = ev.run_in_executor(Some(&pool), || 3).unwrap();
        assert_eq!(run_until_complete(&ev, fut).unwrap().unwrap(), 3);
    }
}

#[test]
fn shutdown_default_executor_before_any_use_returns_and_refuses_later_use() {
    let ev = new_loop();
    run_until_complete(&ev, ev.shutdown_default_executor(None))
        .unwrap()
        .unwrap();
    assert!(matches!(
        ev.run_in_executor(None, || ()),
        Err(Error::InvalidState(_))
    ));
}

#[test]
fn run_in_executor_on_a_closed_loop_is_loop_closed() {
    let ev = new_loop();
    ev.close().unwrap();
    assert!(matches!(
        ev.run_in_executor(None, || ()),
        Err(Error::LoopClosed)
    ));
}

#[test]
#[cfg_attr(target_os = "wasi", ignore = "needs threads: the guest has none")]
fn many_jobs_on_a_bounded_pool_never_run_more_than_max_workers_at_once() {
    const JOBS: usize = 200;
    let pool = ThreadPoolExecutor::with_options(4, "bounded").unwrap();
    let ev = new_loop();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let threads = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let mut futures = Vec::new();
    for i in 0..JOBS {
        let (running, most, threads) = (running.clone(), most.clone(), threads.clone());
        let fut = ev
            .run_in_executor(Some(&pool), move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                threads.lock().unwrap().insert(std::thread::current().id());
                std::thread::sleep(Duration::from_micros(200));
                running.fetch_sub(1, Ordering::SeqCst);
                i
            })
            .unwrap();
        futures.push(fut);
    }
    let results = run_until_complete(&ev, async move {
        let mut results = Vec::new();
        for fut in futures {
            results.push(fut.await?);
        }
        Ok::<_, Error>(results)
    })
    .unwrap()
    .unwrap();
    assert_eq!(results, (0..JOBS).collect::<Vec<_>>());
    let most = most.load(Ordering::SeqCst);
    let distinct = threads.lock().unwrap().len();
    assert!((1..=4).contains(&most), "{most} jobs ran at once");
    assert!((1..=4).contains(&distinct), "{distinct} threads ran jobs");
    assert!(pool.thread_count() <= 4);
}

#[test]
#[cfg_attr(target_os = "wasi", ignore = "needs threads: the guest has none")]
fn the_lazily_created_default_pool_uses_at_most_default_max_workers_threads() {
    let ev = new_loop();
    let names = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let mut futures = Vec::new();
    for _ in 0..200 {
        let names = names.clone();
        futures.push(
            ev.run_in_executor(None, move || {
                let name = std::thread::current().name().map(String::from);
                names.lock().unwrap().insert(name);
                std::thread::sleep(Duration::from_micros(200));
            })
            .unwrap(),
        );
    }
    run_until_complete(&ev, async move {
        for fut in futures {
            fut.await?;
        }
        Ok::<(), Error>(())
    })
    .unwrap()
    .unwrap();
    let names = names.lock().unwrap();
    assert!(
        names.len() <= ThreadPoolExecutor::default_max_workers(),
        "{names:?}"
    );
    assert!(
        names.iter().all(|n| n
            .as_deref()
            .is_some_and(|n| n.starts_with("twinloop-executor-"))),
        "{names:?}"
    );
}

#[test]
#[cfg_attr(
    all(target_os = "wasi", panic = "abort"),
    ignore = "needs unwinding: this guest is built with panic=abort"
)]
fn a_panicking_function_gives_error_panic_and_the_pool_goes_on() {
    let ev = new_loop();
    let ev2 = ev.clone();
    let (panicked, after) = run_until_complete(&ev, async move {
        let panicked = ev2
            .run_in_executor(None, || -> u8 { panic!("boom in a worker") })?
            .await;
        let after = ev2.run_in_executor(None, || 5u8)?.await;
        Ok::<_, Error>((panicked, after))
    })
    .unwrap()
    .unwrap();
    assert!(
        matches!(&panicked, Err(Error::Panic(msg)) if msg.contains("boom in a worker")),
        "{panicked:?}"
    );
    assert_eq!(after.unwrap(), 5);
}

#[test]
#[cfg_attr(target_os = "wasi", ignore = "needs threads: the guest has none")]
fn shutdown_default_executor_waits_for_running_jobs() {
    let ev = new_loop();
    let pool = ThreadPoolExecutor::with_options(2, "waited").unwrap();
    ev.set_default_executor(pool.clone());
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    let ev2 = ev.clone();
    run_until_complete(&ev, async move {
        let _job = ev2.run_in_executor(None, move || {
            std::thread::sleep(Duration::from_millis(100));
            f.store(true, Ordering::SeqCst);
        })?;
        ev2.shutdown_default_executor(None).await
    })
    .unwrap()
    .unwrap();
    assert!(
        finished.load(Ordering::SeqCst),
        "returned before the job finished"
    );
    assert!(pool.is_shutdown());
    assert_eq!(pool.thread_count(), 0);
}

#[test]
#[cfg_attr(target_os = "wasi", ignore = "needs threads: the guest has none")]
fn shutdown_default_executor_stops_waiting_after_the_timeout() {
    let ev = new_loop();
    let pool = ThreadPoolExecutor::with_options(1, "stuck").unwrap();
    ev.set_default_executor(pool.clone());
    let (release, blocked) = mpsc::channel::<()>();
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    let ev2 = ev.clone();
    run_until_complete(&ev, async move {
        let _job = ev2.run_in_executor(None, move || {
            let _ = blocked.recv();
            f.store(true, Ordering::SeqCst);
        })?;
        ev2.shutdown_default_executor(Some(Duration::from_millis(50)))
            .await
    })
    .unwrap()
    .unwrap();
    assert!(
        !finished.load(Ordering::SeqCst),
        "the job cannot have finished"
    );
    assert!(pool.is_shutdown());
    release.send(()).unwrap();
    wait_for_no_threads(&pool);
    assert!(finished.load(Ordering::SeqCst));
}

#[test]
#[cfg_attr(target_os = "wasi", ignore = "needs threads: the guest has none")]
fn close_shuts_the_default_executor_down() {
    let ev = new_loop();
    let pool = ThreadPoolExecutor::with_options(2, "closed").unwrap();
    ev.set_default_executor(pool.clone());
    let fut = ev.run_in_executor(None, || 1).unwrap();
    assert_eq!(run_until_complete(&ev, fut).unwrap().unwrap(), 1);
    assert_eq!(pool.thread_count(), 1);
    ev.close().unwrap();
    assert!(pool.is_shutdown());
    wait_for_no_threads(&pool);
    assert!(matches!(
        ev.run_in_executor(None, || ()),
        Err(Error::LoopClosed)
    ));
}

#[test]
#[cfg_attr(target_os = "wasi", ignore = "needs threads: the guest has none")]
fn cancelling_the_future_before_the_job_starts_means_it_never_runs() {
    let ev = new_loop();
    let pool = ThreadPoolExecutor::with_options(1, "cancel").unwrap();
    let (release, blocked) = mpsc::channel::<()>();
    let blocker = ev
        .run_in_executor(Some(&pool), move || {
            let _ = blocked.recv();
        })
        .unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let cancelled = ev
        .run_in_executor(Some(&pool), move || r.store(true, Ordering::SeqCst))
        .unwrap();
    assert!(cancelled.cancel());
    let ev2 = ev.clone();
    let pool2 = pool.clone();
    let (outcome, third) = run_until_complete(&ev, async move {
        yield_now().await; // the cancellation's done callback runs
        release.send(()).unwrap();
        blocker.await?;
        // FIFO, one worker: the cancelled job was dequeued before this one runs.
        let third = ev2.run_in_executor(Some(&pool2), || 3)?.await?;
        Ok::<_, Error>((cancelled.await, third))
    })
    .unwrap()
    .unwrap();
    assert!(matches!(outcome, Err(Error::Cancelled(_))), "{outcome:?}");
    assert_eq!(third, 3);
    assert!(!ran.load(Ordering::SeqCst), "a cancelled job ran");
}

#[test]
#[cfg_attr(target_os = "wasi", ignore = "needs threads: the guest has none")]
fn a_cancelled_job_finishing_after_close_does_not_call_back_into_the_loop() {
    let ev = new_loop();
    let pool = ThreadPoolExecutor::with_options(1, "late").unwrap();
    ev.set_default_executor(pool.clone());
    let (release, blocked) = mpsc::channel::<()>();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let fut = ev
        .run_in_executor(None, move || {
            s.store(true, Ordering::SeqCst);
            let _ = blocked.recv();
            7
        })
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !started.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the job never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(fut.cancel());
    let shutdown = ev.shutdown_default_executor(Some(Duration::from_millis(10)));
    run_until_complete(&ev, shutdown).unwrap().unwrap();
    ev.close().unwrap();
    release.send(()).unwrap();
    wait_for_no_threads(&pool);
    assert!(fut.cancelled());
    assert!(ev.is_closed());
}

#[test]
#[cfg_attr(target_os = "wasi", ignore = "needs threads: the guest has none")]
fn a_burst_of_lookups_queues_on_the_bounded_default_executor() {
    const LOOKUPS: usize = 10_000; // must not start 10,000 threads
    const WORKERS: usize = 4;
    let ev = new_loop();
    let pool = ThreadPoolExecutor::with_options(WORKERS, "gai-burst").unwrap();
    ev.set_default_executor(pool.clone());
    // Occupy every worker, so that lookups can only wait in the pool's queue.
    let release = Arc::new(Mutex::new(Vec::new()));
    let (started_tx, started) = mpsc::channel();
    let mut blockers = Vec::new();
    for _ in 0..WORKERS {
        let (tx, rx) = mpsc::channel::<()>();
        release.lock().unwrap().push(tx);
        let started_tx = started_tx.clone();
        blockers.push(
            ev.run_in_executor(None, move || {
                started_tx.send(()).unwrap();
                let _ = rx.recv();
            })
            .unwrap(),
        );
    }
    for _ in 0..WORKERS {
        started.recv_timeout(Duration::from_secs(20)).unwrap();
    }
    let before = process_threads();
    let done = Arc::new(AtomicUsize::new(0));
    let mut lookups = Vec::new();
    for _ in 0..LOOKUPS {
        let done = done.clone();
        let lookup = ev.getaddrinfo("localhost", 80, Family::Any);
        lookups.push(
            ev.create_task(async move {
                let addrs = lookup.await;
                done.fetch_add(1, Ordering::SeqCst);
                addrs
            })
            .unwrap(),
        );
    }
    let reverse = ev
        .create_task(ev.getnameinfo("127.0.0.1:80".parse().unwrap(), false))
        .unwrap();
    let ev2 = ev.clone();
    let done2 = done.clone();
    let (done_while_blocked, threads_while_blocked) = run_until_complete(&ev, async move {
        ev2.sleep(Duration::from_millis(200)).await?;
        Ok::<_, Error>((done2.load(Ordering::SeqCst), process_threads()))
    })
    .unwrap()
    .unwrap();
    assert_eq!(
        done_while_blocked, 0,
        "lookups finished while every worker of the default executor was busy"
    );
    if let (Some(before), Some(during)) = (before, threads_while_blocked) {
        assert!(
            during <= before + 64,
            "{LOOKUPS} lookups started threads: {before} before, {during} during"
        );
    }
    assert!(!reverse.done(), "getnameinfo did not wait for the executor");
    for tx in release.lock().unwrap().drain(..) {
        tx.send(()).unwrap();
    }
    let answers = run_until_complete(&ev, async move {
        for blocker in blockers {
            blocker.await?;
        }
        let mut answers = Vec::new();
        for lookup in lookups {
            answers.push(lookup.await?);
        }
        Ok::<_, Error>((answers, reverse.await?))
    })
    .unwrap()
    .unwrap();
    let (answers, reverse) = answers;
    assert_eq!(answers.len(), LOOKUPS);
    for answer in answers {
        let addrs = answer.unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
    assert_eq!(reverse.unwrap().1, "80");
    assert!(pool.thread_count() <= WORKERS);
}
