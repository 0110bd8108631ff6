//! The loop's life: running, stopping, closing, nesting, the current loop, debug settings.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use twinloop::{Error, EventLoop};
use wasm_tests::*;

#[test]
fn new_loop_is_neither_running_nor_closed() {
    let ev = EventLoop::new().unwrap();
    assert!(!ev.is_running());
    assert!(!ev.is_closed());
    let other = twinloop::new_event_loop().unwrap();
    assert!(!other.ptr_eq(&ev));
    assert!(ev.ptr_eq(&ev.clone()));
}

#[test]
fn close_is_idempotent() {
    let ev = EventLoop::new().unwrap();
    ev.close().unwrap();
    assert!(ev.is_closed());
    ev.close().unwrap();
    ev.close().unwrap();
    assert!(ev.is_closed());
    assert!(!ev.is_running());
}

#[test]
fn close_drops_pending_callbacks_timers_and_tasks() {
    let ev = new_loop();
    let drops = DropCounter::new();
    let ran = Rc::new(Cell::new(0));
    let t = drops.token();
    let r = ran.clone();
    ev.call_soon(move |_| {
        t.touch();
        r.set(r.get() + 1);
    })
    .unwrap();
    let t = drops.token();
    let r = ran.clone();
    ev.call_later(Duration::from_secs(3600), move |_| {
        t.touch();
        r.set(r.get() + 1);
    })
    .unwrap();
    let t = drops.token();
    let r = ran.clone();
    let task = ev
        .create_task(async move {
            t.touch();
            r.set(r.get() + 1);
        })
        .unwrap();
    assert_eq!(drops.dropped(), 0);
    ev.close().unwrap();
    assert_eq!(
        drops.dropped(),
        3,
        "close() must drop the pending callback, timer and task"
    );
    assert_eq!(ran.get(), 0);
    assert!(!task.done());
}

#[test]
fn close_drops_callbacks_whose_destructors_use_the_loop() {
    // Destructors run during close(); they see a closed loop, not a borrowed one.
    struct Touch(EventLoop, Rc<RefCell<Vec<String>>>);
    impl Drop for Touch {
        fn drop(&mut self) {
            let outcome = self.0.call_soon(|_| {});
            self.1
                .borrow_mut()
                .push(format!("closed={} {:?}", self.0.is_closed(), outcome.err()));
        }
    }
    let ev = new_loop();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let a = Touch(ev.clone(), seen.clone());
    ev.call_soon(move |_| {
        let _ = &a;
    })
    .unwrap();
    let b = Touch(ev.clone(), seen.clone());
    ev.call_later(Duration::from_secs(60), move |_| {
        let _ = &b;
    })
    .unwrap();
    ev.close().unwrap();
    let seen = seen.borrow();
    assert_eq!(seen.len(), 2);
    for line in seen.iter() {
        assert!(line.starts_with("closed=true Some(LoopClosed)"), "{line}");
    }
}

#[test]
fn closed_loop_refuses_new_work() {
    let ev = EventLoop::new().unwrap();
    ev.close().unwrap();
    let drops = DropCounter::new();
    let started = Rc::new(Cell::new(false));

    assert!(matches!(ev.call_soon(|_| {}), Err(Error::LoopClosed)));
    assert!(matches!(
        ev.call_soon_threadsafe(|_| {}),
        Err(Error::LoopClosed)
    ));
    assert!(matches!(
        ev.call_later(Duration::ZERO, |_| {}),
        Err(Error::LoopClosed)
    ));
    assert!(matches!(
        ev.call_at(ev.time(), |_| {}),
        Err(Error::LoopClosed)
    ));
    let (t, s) = (drops.token(), started.clone());
    assert!(matches!(
        ev.create_task(async move {
            t.touch();
            s.set(true);
        }),
        Err(Error::LoopClosed)
    ));
    let (t, s) = (drops.token(), started.clone());
    assert!(matches!(
        ev.create_task_named(
            async move {
                t.touch();
                s.set(true);
            },
            "x"
        ),
        Err(Error::LoopClosed)
    ));
    assert!(matches!(ev.run_forever(), Err(Error::LoopClosed)));
    let (t, s) = (drops.token(), started.clone());
    assert!(matches!(
        ev.run_until_complete(async move {
            t.touch();
            s.set(true);
        }),
        Err(Error::LoopClosed)
    ));
    assert!(matches!(
        ev.remote().call_soon_threadsafe(|_| {}),
        Err(Error::LoopClosed)
    ));
    assert!(!started.get());
    assert_eq!(
        drops.dropped(),
        3,
        "refused futures are dropped, not leaked"
    );
    assert!(!ev.is_running());
}

#[test]
fn sleep_on_a_closed_loop_fails_with_loop_closed() {
    let ev = EventLoop::new().unwrap();
    ev.close().unwrap();
    let fut = ev.sleep(Duration::from_millis(1));
    assert!(fut.done());
    assert!(matches!(fut.result(), Err(Error::LoopClosed)));
}

#[test]
fn close_while_running_fails_and_leaves_the_loop_open() {
    let ev = new_loop();
    let outcome = Rc::new(RefCell::new(None));
    let o = outcome.clone();
    ev.call_soon(move |ev| {
        *o.borrow_mut() = Some((ev.close(), ev.is_closed()));
        ev.stop();
    })
    .unwrap();
    run_forever(&ev).unwrap();
    let (result, closed_inside) = outcome.borrow_mut().take().expect("callback ran");
    assert!(matches!(result, Err(Error::LoopRunning)), "got {result:?}");
    assert!(!closed_inside);
    assert!(!ev.is_closed());
    // Still usable.
    let seen = Recorder::new();
    ev.call_soon(seen.pusher(1)).unwrap();
    run_once(&ev).unwrap();
    assert_eq!(seen.get(), [1]);
    ev.close().unwrap();
    assert!(ev.is_closed());
}

#[test]
fn close_from_inside_a_task_fails_with_loop_running() {
    let ev = new_loop();
    let result = run_until_complete(&ev, async {
        let ev = twinloop::get_running_loop().unwrap();
        ev.close()
    })
    .unwrap();
    assert!(matches!(result, Err(Error::LoopRunning)), "got {result:?}");
    assert!(!ev.is_closed());
}

#[test]
fn stop_before_run_forever_runs_ready_callbacks_and_returns() {
    let ev = new_loop();
    let seen = Recorder::new();
    let hour = Rc::new(Cell::new(false));
    let h = hour.clone();
    ev.call_later(Duration::from_secs(3600), move |_| h.set(true))
        .unwrap();
    ev.call_soon(seen.pusher("a")).unwrap();
    ev.call_soon(seen.pusher("b")).unwrap();
    ev.stop();
    let start = ev.time();
    run_forever(&ev).unwrap();
    assert!(
        ev.time() - start < 20.0,
        "run_forever after stop() waited for the 1-hour timer"
    );
    assert_eq!(seen.get(), ["a", "b"]);
    assert!(!hour.get());
    assert!(!ev.is_running());
}

#[test]
fn stop_before_run_with_nothing_scheduled_returns() {
    // Only a very long timer: stop() then run_forever() must poll with a zero timeout.
    let ev = new_loop();
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    ev.call_later(Duration::from_secs(3600), move |_| f.set(true))
        .unwrap();
    ev.stop();
    run_forever(&ev).unwrap();
    assert!(!fired.get());
}

#[test]
fn call_soon_stop_runs_everything_queued_before_it_exactly_once() {
    let ev = new_loop();
    let seen = Recorder::new();
    for i in 0..5 {
        ev.call_soon(seen.pusher(i)).unwrap();
    }
    ev.call_soon(|ev| ev.stop()).unwrap();
    run_forever(&ev).unwrap();
    assert_eq!(seen.get(), [0, 1, 2, 3, 4]);
    run_once(&ev).unwrap();
    assert_eq!(seen.get(), [0, 1, 2, 3, 4]);
}

#[test]
fn stop_mid_batch_finishes_the_batch_and_defers_new_work() {
    let ev = new_loop();
    let seen = Recorder::new();
    let rec = seen.clone();
    ev.call_soon(move |ev| {
        rec.push("A");
        ev.call_soon(rec.pusher("from A")).unwrap();
    })
    .unwrap();
    let rec = seen.clone();
    ev.call_soon(move |ev| {
        rec.push("B");
        ev.stop();
        ev.call_soon(rec.pusher("from B")).unwrap();
    })
    .unwrap();
    let rec = seen.clone();
    ev.call_soon(move |ev| {
        rec.push("C");
        ev.call_soon(rec.pusher("from C")).unwrap();
    })
    .unwrap();
    run_forever(&ev).unwrap();
    assert_eq!(seen.get(), ["A", "B", "C"], "C must run in B's batch");
    run_once(&ev).unwrap();
    assert_eq!(seen.get(), ["A", "B", "C", "from A", "from B", "from C"]);
}

#[test]
fn stop_twice_then_run_gives_only_one_iteration_each() {
    let ev = new_loop();
    let count = Rc::new(Cell::new(0));
    fn tick(count: Rc<Cell<u32>>) -> impl FnOnce(&EventLoop) {
        move |ev| {
            count.set(count.get() + 1);
            ev.call_soon(tick(count)).unwrap();
        }
    }
    ev.call_soon(tick(count.clone())).unwrap();
    ev.stop();
    ev.stop();
    run_forever(&ev).unwrap();
    assert_eq!(count.get(), 1);
    // The stop flag does not stick around after the run.
    run_once(&ev).unwrap();
    assert_eq!(count.get(), 2);
}

#[test]
fn run_forever_inside_a_callback_of_the_same_loop_is_loop_running() {
    let ev = new_loop();
    let result = Rc::new(RefCell::new(None));
    let r = result.clone();
    ev.call_soon(move |ev| {
        *r.borrow_mut() = Some(ev.run_forever());
        ev.stop();
    })
    .unwrap();
    run_forever(&ev).unwrap();
    let inner = result.borrow_mut().take().expect("callback ran");
    assert!(matches!(inner, Err(Error::LoopRunning)), "got {inner:?}");
    assert!(!ev.is_running());
}

#[test]
fn run_until_complete_inside_the_same_loop_is_loop_running_and_never_starts() {
    let ev = new_loop();
    let started = Rc::new(Cell::new(false));
    let result = Rc::new(RefCell::new(None));
    let (s, r) = (started.clone(), result.clone());
    ev.call_soon(move |ev| {
        let s2 = s.clone();
        *r.borrow_mut() = Some(ev.run_until_complete(async move { s2.set(true) }));
    })
    .unwrap();
    // Let several iterations pass: the inner future must never start.
    ev.call_later(Duration::from_millis(10), |ev| ev.stop())
        .unwrap();
    run_forever(&ev).unwrap();
    let inner = result.borrow_mut().take().expect("callback ran");
    assert!(matches!(inner, Err(Error::LoopRunning)), "got {inner:?}");
    assert!(!started.get(), "the inner future was started");
}

#[test]
fn run_until_complete_inside_a_task_of_the_same_loop_is_loop_running() {
    let ev = new_loop();
    let started = Rc::new(Cell::new(false));
    let s = started.clone();
    let inner = run_until_complete(&ev, async move {
        let ev = twinloop::get_running_loop().unwrap();
        ev.run_until_complete(async move { s.set(true) })
            .map(|_| ())
    })
    .unwrap();
    assert!(matches!(inner, Err(Error::LoopRunning)), "got {inner:?}");
    assert!(!started.get());
}

#[test]
fn another_loop_inside_a_running_loop_is_another_loop_running() {
    let outer = new_loop();
    let inner = EventLoop::new().unwrap();
    let started = Rc::new(Cell::new(false));
    let results = Rc::new(RefCell::new(Vec::new()));
    let (inner2, s, r) = (inner.clone(), started.clone(), results.clone());
    let outer2 = outer.clone();
    outer
        .call_soon(move |ev| {
            inner2.call_soon(|ev| ev.stop()).unwrap();
            let a = inner2.run_forever();
            let s2 = s.clone();
            let b = inner2.run_until_complete(async move { s2.set(true) });
            let still_outer = twinloop::get_running_loop()
                .map(|l| l.ptr_eq(&outer2))
                .unwrap_or(false);
            r.borrow_mut().push(format!("{:?}", a.err()));
            r.borrow_mut().push(format!("{:?}", b.err()));
            r.borrow_mut().push(format!("{still_outer}"));
            r.borrow_mut().push(format!("{}", inner2.is_running()));
            ev.stop();
        })
        .unwrap();
    run_forever(&outer).unwrap();
    assert_eq!(
        *results.borrow(),
        [
            "Some(AnotherLoopRunning)",
            "Some(AnotherLoopRunning)",
            "true",
            "false"
        ]
    );
    assert!(!started.get());
    // The inner loop is intact and can run on its own afterwards.
    let seen = Recorder::new();
    inner.call_soon(seen.pusher("inner")).unwrap();
    run_forever(&inner).unwrap();
    assert_eq!(seen.get(), ["inner"]);
}

#[test]
fn is_running_inside_and_not_after() {
    let ev = new_loop();
    assert!(!ev.is_running());
    let inside = Rc::new(Cell::new(false));
    let i = inside.clone();
    ev.call_soon(move |ev| {
        i.set(ev.is_running());
        ev.stop();
    })
    .unwrap();
    run_forever(&ev).unwrap();
    assert!(inside.get());
    assert!(!ev.is_running());
    let in_task = run_until_complete(&ev, async {
        twinloop::get_running_loop().unwrap().is_running()
    })
    .unwrap();
    assert!(in_task);
    assert!(!ev.is_running());
}

#[test]
fn get_running_loop_inside_and_error_outside() {
    assert!(matches!(
        twinloop::get_running_loop(),
        Err(Error::NoRunningLoop)
    ));
    let ev = new_loop();
    let same = Rc::new(Cell::new(false));
    let (s, expected) = (same.clone(), ev.clone());
    ev.call_soon(move |ev| {
        s.set(twinloop::get_running_loop().is_ok_and(|l| l.ptr_eq(&expected)));
        ev.stop();
    })
    .unwrap();
    run_forever(&ev).unwrap();
    assert!(same.get());
    assert!(matches!(
        twinloop::get_running_loop(),
        Err(Error::NoRunningLoop)
    ));
}

#[test]
fn get_event_loop_and_set_event_loop() {
    twinloop::set_event_loop(None);
    assert!(matches!(
        twinloop::get_event_loop(),
        Err(Error::NoCurrentLoop)
    ));
    let current = EventLoop::new().unwrap();
    twinloop::set_event_loop(Some(&current));
    assert!(twinloop::get_event_loop().unwrap().ptr_eq(&current));
    // Inside a running loop, get_event_loop returns the running one.
    let running = new_loop();
    let inside = Rc::new(Cell::new(false));
    let (i, expected) = (inside.clone(), running.clone());
    running
        .call_soon(move |ev| {
            i.set(twinloop::get_event_loop().is_ok_and(|l| l.ptr_eq(&expected)));
            ev.stop();
        })
        .unwrap();
    run_forever(&running).unwrap();
    assert!(inside.get());
    assert!(twinloop::get_event_loop().unwrap().ptr_eq(&current));
    twinloop::set_event_loop(None);
    assert!(matches!(
        twinloop::get_event_loop(),
        Err(Error::NoCurrentLoop)
    ));
}

#[test]
fn run_until_complete_returns_the_output() {
    let ev = new_loop();
    let answer = run_until_complete(&ev, async { 6 * 7 }).unwrap();
    assert_eq!(answer, 42);
    let text = run_until_complete(&ev, async { String::from("twin") + "loop" }).unwrap();
    assert_eq!(text, "twinloop");
    // The loop is stopped, not closed, afterwards.
    assert!(!ev.is_running() && !ev.is_closed());
}

#[test]
fn run_until_complete_stopped_before_the_future_completes_is_loop_stopped() {
    let ev = new_loop();
    let never = ev.create_future::<u32>();
    ev.call_soon(|ev| ev.stop()).unwrap();
    let waiting = never.clone();
    let result = run_until_complete(&ev, waiting);
    assert!(matches!(result, Err(Error::LoopStopped)), "got {result:?}");
    assert!(!ev.is_running());
    // The loop is reusable afterwards.
    let answer = run_until_complete(&ev, async { 1 }).unwrap();
    assert_eq!(answer, 1);
}

#[test]
fn run_until_complete_with_stop_called_before_is_loop_stopped_for_a_slow_future() {
    let ev = new_loop();
    ev.stop();
    let result = run_until_complete(&ev, twinloop::sleep(Duration::from_secs(3600)));
    assert!(matches!(result, Err(Error::LoopStopped)), "got {result:?}");
}

#[test]
fn loop_runs_again_after_run_forever_returns() {
    let ev = new_loop();
    for round in 0..3 {
        let seen = Recorder::new();
        ev.call_soon(seen.pusher(round)).unwrap();
        ev.call_later(Duration::from_millis(1), |ev| ev.stop())
            .unwrap();
        run_forever(&ev).unwrap();
        assert_eq!(seen.get(), [round]);
    }
}

#[test]
fn debug_mode_round_trips() {
    let ev = EventLoop::new().unwrap();
    let from_env = std::env::var_os(twinloop::DEBUG_ENV_VAR).is_some_and(|v| !v.is_empty());
    assert_eq!(ev.get_debug(), from_env);
    ev.set_debug(true);
    assert!(ev.get_debug());
    ev.set_debug(false);
    assert!(!ev.get_debug());
}

#[test]
fn slow_callback_duration_defaults_to_100ms_and_is_settable() {
    let ev = EventLoop::new().unwrap();
    assert_eq!(ev.slow_callback_duration(), Duration::from_millis(100));
    ev.set_slow_callback_duration(Duration::from_millis(250));
    assert_eq!(ev.slow_callback_duration(), Duration::from_millis(250));
    // Debug mode with a tiny threshold must not disturb callbacks (only logging).
    ev.set_debug(true);
    ev.set_slow_callback_duration(Duration::ZERO);
    let seen = Recorder::new();
    ev.call_soon(seen.pusher(1)).unwrap();
    ev.call_soon(|ev| ev.stop()).unwrap();
    ev.run_forever().unwrap();
    assert_eq!(seen.get(), [1]);
}

#[test]
fn target_constants_match_the_build() {
    let wasi = cfg!(target_os = "wasi");
    assert_eq!(twinloop::HAS_THREADS, !wasi);
    assert_eq!(
        twinloop::TARGET == "wasm32-wasip1",
        wasi,
        "TARGET = {}",
        twinloop::TARGET
    );
}
