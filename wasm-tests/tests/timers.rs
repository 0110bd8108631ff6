//! `call_later`, `call_at` and `TimerHandle`: order, never early, cancellation.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use twinloop::{Error, EventLoop, TimerHandle};
use wasm_tests::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Schedules `f` after `delay` and records `(label, handle.when(), ev.time() at run)`.
fn timed(
    ev: &EventLoop,
    delay: Duration,
    label: &'static str,
    rec: &Recorder<(&'static str, f64, f64)>,
) -> TimerHandle {
    let when = Rc::new(Cell::new(f64::NAN));
    let (w, rec) = (when.clone(), rec.clone());
    let handle = ev
        .call_later(delay, move |ev| rec.push((label, w.get(), ev.time())))
        .unwrap();
    when.set(handle.when());
    handle
}

#[test]
fn timers_fire_in_deadline_order() {
    let ev = new_loop();
    let seen = Recorder::new();
    for (delay, label) in [(30, "c"), (10, "a"), (40, "d"), (20, "b"), (0, "zero")] {
        timed(&ev, ms(delay), label, &seen);
    }
    ev.call_later(ms(60), |ev| ev.stop()).unwrap();
    run_forever(&ev).unwrap();
    let order: Vec<_> = seen.get().iter().map(|(l, _, _)| *l).collect();
    assert_eq!(order, ["zero", "a", "b", "c", "d"]);
}

#[test]
fn timers_never_fire_early() {
    let ev = new_loop();
    let seen = Recorder::new();
    for delay in [1, 5, 10, 15, 20, 25, 50] {
        timed(&ev, ms(delay), "t", &seen);
    }
    ev.call_later(ms(60), |ev| ev.stop()).unwrap();
    run_forever(&ev).unwrap();
    let seen = seen.get();
    assert_eq!(seen.len(), 7);
    for (_, when, ran_at) in seen {
        assert!(
            ran_at >= when,
            "timer due at {when} ran early, at {ran_at} ({} s early)",
            when - ran_at
        );
    }
}

#[test]
fn call_later_waits_at_least_its_delay() {
    let ev = new_loop();
    let start = ev.time();
    let fired_at = Rc::new(Cell::new(0.0));
    let f = fired_at.clone();
    ev.call_later(ms(50), move |ev| {
        f.set(ev.time());
        ev.stop();
    })
    .unwrap();
    run_forever(&ev).unwrap();
    let waited = fired_at.get() - start;
    assert!(waited >= 0.050, "waited only {waited} s for a 50 ms timer");
    assert!(waited < 25.0, "waited {waited} s for a 50 ms timer");
}

#[test]
fn zero_delay_timer_runs_next_iteration_not_synchronously() {
    let ev = new_loop();
    let ran = Rc::new(Cell::new(false));
    let flag = ran.clone();
    ev.call_later(Duration::ZERO, move |_| flag.set(true))
        .unwrap();
    assert!(!ran.get(), "a zero-delay timer ran synchronously");
    run_once(&ev).unwrap();
    assert!(
        ran.get(),
        "a zero-delay timer did not run on the next iteration"
    );
}

#[test]
fn past_call_at_runs_next_iteration_not_synchronously() {
    let ev = new_loop();
    let ran = Rc::new(Cell::new(false));
    let flag = ran.clone();
    let handle = ev
        .call_at(ev.time() - 5.0, move |_| flag.set(true))
        .unwrap();
    assert!(!ran.get(), "an overdue call_at ran synchronously");
    assert!(handle.when() < ev.time());
    run_once(&ev).unwrap();
    assert!(ran.get());
}

#[test]
fn overdue_timers_run_in_deadline_order() {
    let ev = new_loop();
    let seen = Recorder::new();
    let now = ev.time();
    // Negative delays, scheduled out of order: -1 s, -3 s, -2 s, 0.
    ev.call_at(now - 1.0, seen.pusher(-1)).unwrap();
    ev.call_at(now - 3.0, seen.pusher(-3)).unwrap();
    ev.call_at(now - 2.0, seen.pusher(-2)).unwrap();
    ev.call_at(now, seen.pusher(0)).unwrap();
    run_once(&ev).unwrap();
    assert_eq!(seen.get(), [-3, -2, -1, 0]);
}

#[test]
fn call_at_fires_at_its_absolute_time() {
    let ev = new_loop();
    let when = ev.time() + 0.03;
    let ran_at = Rc::new(Cell::new(f64::NAN));
    let r = ran_at.clone();
    let handle = ev
        .call_at(when, move |ev| {
            r.set(ev.time());
            ev.stop();
        })
        .unwrap();
    assert_eq!(handle.when(), when);
    run_forever(&ev).unwrap();
    assert!(ran_at.get() >= when, "ran at {} < {when}", ran_at.get());
}

#[test]
fn timer_handle_when_is_the_absolute_deadline() {
    let ev = new_loop();
    let before = ev.time();
    let handle = ev.call_later(Duration::from_secs(2), |_| {}).unwrap();
    let after = ev.time();
    assert!(handle.when() >= before + 2.0 && handle.when() <= after + 2.0);
    assert_eq!(handle.clone().when(), handle.when());
    handle.cancel();
    // when() does not change on cancel.
    assert!(handle.when() >= before + 2.0);
}

#[test]
fn timer_handles_order_by_deadline_and_compare_equal_until_cancelled() {
    let ev = new_loop();
    let at = ev.time() + 100.0;
    let same_place: Vec<TimerHandle> = (0..2).map(|_| ev.call_at(at, |_| {}).unwrap()).collect();
    let later = ev.call_at(at + 1.0, |_| {}).unwrap();
    assert!(
        same_place[0] == same_place[1],
        "same deadline, same place: equal"
    );
    assert!(same_place[0] < later);
    assert!(later > same_place[1]);
    same_place[1].cancel();
    assert!(
        same_place[0] != same_place[1],
        "a cancelled handle is unequal"
    );
    assert!(
        same_place[1] == same_place[1].clone(),
        "a handle equals itself"
    );
    for h in same_place.iter().chain([&later]) {
        h.cancel();
    }
}

#[test]
fn very_long_delay_is_accepted_and_cancellable() {
    let ev = new_loop();
    let drops = DropCounter::new();
    let ran = Rc::new(Cell::new(false));
    let ten_years = Duration::from_secs(10 * 365 * 24 * 3600);
    let (token, flag) = (drops.token(), ran.clone());
    let handle = ev
        .call_later(ten_years, move |_| {
            token.touch();
            flag.set(true);
        })
        .unwrap();
    assert!(handle.when() >= ev.time() + ten_years.as_secs_f64() - 1.0);
    let longest = ev.call_later(Duration::MAX, |_| {}).unwrap();
    assert!(longest.when() > handle.when());
    // The loop runs normally with such timers pending.
    let seen = Recorder::new();
    ev.call_later(ms(5), seen.pusher("short")).unwrap();
    ev.call_later(ms(10), |ev| ev.stop()).unwrap();
    run_forever(&ev).unwrap();
    assert_eq!(seen.get(), ["short"]);
    handle.cancel();
    longest.cancel();
    assert!(handle.cancelled());
    assert_eq!(drops.dropped(), 1);
    run_once(&ev).unwrap();
    assert!(!ran.get());
}

#[test]
fn call_at_nan_is_an_invalid_argument() {
    let ev = new_loop();
    let err = ev.call_at(f64::NAN, |_| {}).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "got {err:?}");
    // Nothing was scheduled: the next iteration runs only what we add.
    let seen = Recorder::new();
    ev.call_soon(seen.pusher(1)).unwrap();
    run_once(&ev).unwrap();
    assert_eq!(seen.get(), [1]);
}

#[test]
fn timer_cancelled_before_firing_never_runs_and_drops_callback_at_once() {
    let ev = new_loop();
    let drops = DropCounter::new();
    let ran = Rc::new(Cell::new(false));
    let (token, flag) = (drops.token(), ran.clone());
    let handle = ev
        .call_later(ms(10), move |_| {
            token.touch();
            flag.set(true);
        })
        .unwrap();
    assert!(!handle.cancelled());
    handle.cancel();
    assert!(handle.cancelled());
    assert_eq!(
        drops.dropped(),
        1,
        "cancelling a timer must drop its callback now, not at the deadline"
    );
    ev.call_later(ms(30), |ev| ev.stop()).unwrap();
    run_forever(&ev).unwrap();
    assert!(!ran.get(), "a cancelled timer fired");
}

#[test]
fn timer_cancel_is_idempotent() {
    let ev = new_loop();
    let drops = DropCounter::new();
    let token = drops.token();
    let handle = ev.call_later(ms(1), move |_| token.touch()).unwrap();
    handle.cancel();
    handle.cancel();
    handle.clone().cancel();
    assert!(handle.cancelled());
    assert_eq!(drops.dropped(), 1);
    let seen = Recorder::new();
    ev.call_later(ms(5), seen.pusher("live")).unwrap();
    ev.call_later(ms(10), |ev| ev.stop()).unwrap();
    run_forever(&ev).unwrap();
    assert_eq!(seen.get(), ["live"]);
}

#[test]
fn timer_cancel_after_firing_is_harmless() {
    let ev = new_loop();
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    let handle = ev
        .call_later(ms(1), move |ev| {
            c.set(c.get() + 1);
            ev.stop();
        })
        .unwrap();
    run_forever(&ev).unwrap();
    assert_eq!(count.get(), 1);
    handle.cancel();
    handle.cancel();
    // Later timers are unaffected.
    let seen = Recorder::new();
    ev.call_later(ms(1), seen.pusher("next")).unwrap();
    ev.call_later(ms(5), |ev| ev.stop()).unwrap();
    run_forever(&ev).unwrap();
    assert_eq!(seen.get(), ["next"]);
    assert_eq!(count.get(), 1);
}

#[test]
fn cancelled_earlier_timer_does_not_block_later_ones() {
    let ev = new_loop();
    let seen = Recorder::new();
    let early = ev.call_later(ms(5), seen.pusher("cancelled")).unwrap();
    ev.call_later(ms(15), seen.pusher("live")).unwrap();
    early.cancel();
    ev.call_later(ms(25), |ev| ev.stop()).unwrap();
    run_forever(&ev).unwrap();
    assert_eq!(seen.get(), ["live"]);
}

#[test]
fn timer_cancelled_by_earlier_callback_in_same_batch_does_not_run() {
    let ev = new_loop();
    let seen = Recorder::new();
    let now = ev.time();
    let victim = ev.call_at(now - 1.0, seen.pusher("victim")).unwrap();
    let v = victim.clone();
    let rec = seen.clone();
    ev.call_at(now - 2.0, move |_| {
        rec.push("canceller");
        v.cancel();
    })
    .unwrap();
    run_once(&ev).unwrap();
    assert_eq!(seen.get(), ["canceller"]);
}

#[test]
fn call_soon_from_a_firing_timer_runs_in_the_next_iteration() {
    let ev = new_loop();
    let seen = Recorder::new();
    let rec = seen.clone();
    ev.call_later(ms(1), move |ev| {
        rec.push("timer");
        ev.call_soon(rec.pusher("soon")).unwrap();
        ev.stop();
    })
    .unwrap();
    run_forever(&ev).unwrap();
    assert_eq!(seen.get(), ["timer"]);
    run_once(&ev).unwrap();
    assert_eq!(seen.get(), ["timer", "soon"]);
}

#[test]
fn loop_time_is_monotonic() {
    let ev = new_loop();
    let mut last = ev.time();
    assert!(last >= 0.0);
    for _ in 0..1000 {
        let now = ev.time();
        assert!(now >= last, "time went backwards: {now} < {last}");
        last = now;
    }
}

#[test]
fn loop_sleep_future_completes_after_the_delay() {
    let ev = new_loop();
    let start = ev.time();
    let fut = ev.sleep(ms(20));
    assert!(!fut.done());
    run_until_complete(&ev, fut).unwrap().unwrap();
    let took = ev.time() - start;
    assert!(took >= 0.020, "sleep(20 ms) returned after {took} s");
}

#[test]
fn infinite_deadline_never_fires_and_does_not_disturb_the_loop() {
    let ev = new_loop();
    let seen = Recorder::new();
    let forever = ev.call_at(f64::INFINITY, seen.pusher("never")).unwrap();
    assert_eq!(forever.when(), f64::INFINITY);
    ev.call_later(ms(5), seen.pusher("short")).unwrap();
    ev.call_later(ms(10), |ev| ev.stop()).unwrap();
    run_forever(&ev).unwrap();
    assert_eq!(seen.get(), ["short"]);
    forever.cancel();
}

#[test]
fn timer_handle_ordering_is_consistent_with_equality() {
    // Rust's PartialOrd contract: a == b exactly when partial_cmp(a, b) == Some(Equal).
    use std::cmp::Ordering;
    let ev = new_loop();
    let at = ev.time() + 100.0;
    let here = ev.call_at(at, |_| {}).unwrap();
    let there = ev.call_at(at, |_| {}).unwrap(); // same deadline, another call site
    let pair: Vec<TimerHandle> = (0..2).map(|_| ev.call_at(at, |_| {}).unwrap()).collect();
    pair[1].cancel(); // same deadline and call site, but one is cancelled
    for (a, b) in [(&here, &there), (&pair[0], &pair[1])] {
        let eq = a == b;
        let cmp_equal = a.partial_cmp(b) == Some(Ordering::Equal);
        assert_eq!(
            eq,
            cmp_equal,
            "a == b is {eq} but partial_cmp(a, b) is {:?} ({:?} vs {:?})",
            a.partial_cmp(b),
            a,
            b
        );
    }
    for h in [&here, &there, &pair[0]] {
        h.cancel();
    }
}
