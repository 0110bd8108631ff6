//! Many callbacks, timers and tasks at once.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use twinloop::TimerHandle;
use wasm_tests::*;

/// Generous: a debug build in an interpreter-free wasm runtime still finishes in seconds.
const SCALE_DEADLINE: Duration = Duration::from_secs(120);

#[test]
fn hundred_thousand_call_soon_callbacks_run_once_in_order() {
    const N: usize = 100_000;
    let ev = new_loop();
    let next = Rc::new(Cell::new(0usize));
    let out_of_order = Rc::new(Cell::new(0usize));
    for i in 0..N {
        let (next, bad) = (next.clone(), out_of_order.clone());
        ev.call_soon(move |_| {
            if next.get() != i {
                bad.set(bad.get() + 1);
            }
            next.set(next.get().max(i) + 1);
        })
        .unwrap();
    }
    ev.call_soon(|ev| ev.stop()).unwrap();
    run_forever_within(&ev, SCALE_DEADLINE).unwrap();
    assert_eq!(out_of_order.get(), 0, "callbacks ran out of order");
    assert_eq!(next.get(), N, "not every callback ran");
    // Nothing runs again.
    run_once(&ev).unwrap();
    assert_eq!(next.get(), N);
}

#[test]
fn hundred_thousand_timers_half_cancelled_fire_exactly_the_live_ones() {
    const N: usize = 100_000;
    let ev = new_loop();
    let mut rng = Lcg::new(0x5eed_2024);
    let fired = Rc::new(RefCell::new(vec![0u8; N]));
    let early = Rc::new(RefCell::new(Vec::new()));
    let whens = Rc::new(RefCell::new(vec![f64::NAN; N]));
    let mut handles: Vec<TimerHandle> = Vec::with_capacity(N);
    for i in 0..N {
        let delay = Duration::from_micros(u64::from(rng.below(50_000)));
        let (f, e, w) = (fired.clone(), early.clone(), whens.clone());
        let handle = ev
            .call_later(delay, move |ev| {
                let now = ev.time();
                f.borrow_mut()[i] += 1;
                let when = w.borrow()[i];
                if now < when {
                    e.borrow_mut().push((i, when, now));
                }
            })
            .unwrap();
        whens.borrow_mut()[i] = handle.when();
        handles.push(handle);
    }
    // Cancel a pseudo-random half (exactly N / 2 of them).
    let mut order: Vec<usize> = (0..N).collect();
    for i in (1..N).rev() {
        let j = rng.below(i as u32 + 1) as usize;
        order.swap(i, j);
    }
    let cancelled: Vec<bool> = {
        let mut c = vec![false; N];
        for &i in &order[..N / 2] {
            c[i] = true;
            handles[i].cancel();
        }
        c
    };
    ev.call_later(Duration::from_millis(80), |ev| ev.stop())
        .unwrap();
    run_forever_within(&ev, SCALE_DEADLINE).unwrap();
    let fired = fired.borrow();
    let live_fired = (0..N).filter(|&i| !cancelled[i] && fired[i] == 1).count();
    let cancelled_fired = (0..N).filter(|&i| cancelled[i] && fired[i] > 0).count();
    let twice = fired.iter().filter(|&&n| n > 1).count();
    assert_eq!(cancelled_fired, 0, "cancelled timers fired");
    assert_eq!(twice, 0, "timers fired more than once");
    assert_eq!(live_fired, N / 2, "not every live timer fired exactly once");
    let early = early.borrow();
    assert!(
        early.is_empty(),
        "{} timers fired early, e.g. (index, when, ran at) {:?}",
        early.len(),
        &early[..early.len().min(5)]
    );
}

#[test]
fn ten_thousand_tasks_complete() {
    const N: usize = 10_000;
    let ev = new_loop();
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            ev.create_task(async move {
                yield_now().await;
                twinloop::sleep(Duration::from_millis((i % 5) as u64))
                    .await
                    .unwrap();
                i
            })
            .unwrap()
        })
        .collect();
    let sum = run_until_complete_within(&ev, SCALE_DEADLINE, async move {
        let mut sum = 0usize;
        for t in tasks {
            sum += t.await.unwrap();
        }
        sum
    })
    .unwrap();
    assert_eq!(sum, N * (N - 1) / 2);
}

#[test]
fn many_timers_at_the_same_deadline_all_fire() {
    const N: usize = 10_000;
    let ev = new_loop();
    let when = ev.time() + 0.005;
    let count = Rc::new(Cell::new(0usize));
    for _ in 0..N {
        let c = count.clone();
        ev.call_at(when, move |_| c.set(c.get() + 1)).unwrap();
    }
    ev.call_at(when + 0.005, |ev| ev.stop()).unwrap();
    run_forever_within(&ev, SCALE_DEADLINE).unwrap();
    assert_eq!(count.get(), N);
}
