//! `LoopFuture`: results, errors, cancellation, done callbacks, awaiting.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use twinloop::{Error, EventLoop, LoopFuture};
use wasm_tests::*;

#[test]
fn new_future_is_pending() {
    let ev = new_loop();
    let fut = ev.create_future::<u32>();
    assert!(!fut.done());
    assert!(!fut.cancelled());
    assert!(matches!(fut.result(), Err(Error::InvalidState(_))));
    assert!(matches!(fut.error(), Err(Error::InvalidState(_))));
    assert!(matches!(fut.take_result(), Err(Error::InvalidState(_))));
    assert!(fut.get_loop().unwrap().ptr_eq(&ev));
}

#[test]
fn set_result_then_result() {
    let ev = new_loop();
    let fut = ev.create_future::<String>();
    fut.set_result("value".to_owned()).unwrap();
    assert!(fut.done());
    assert!(!fut.cancelled());
    assert_eq!(fut.result().unwrap(), "value");
    // result() does not consume the value.
    assert_eq!(fut.clone().result().unwrap(), "value");
    assert!(matches!(fut.error(), Ok(None)));
}

#[test]
fn set_error_then_result_is_the_error() {
    let ev = new_loop();
    let fut = ev.create_future::<u32>();
    fut.set_error(Error::Timeout).unwrap();
    assert!(fut.done());
    assert!(!fut.cancelled());
    assert!(matches!(fut.result(), Err(Error::Timeout)));
    assert!(matches!(fut.error(), Ok(Some(Error::Timeout))));
}

#[test]
fn completing_a_done_future_again_is_invalid_state() {
    let ev = new_loop();
    let fut = ev.create_future::<u32>();
    fut.set_result(1).unwrap();
    assert!(matches!(fut.set_result(2), Err(Error::InvalidState(_))));
    assert!(matches!(
        fut.set_error(Error::Timeout),
        Err(Error::InvalidState(_))
    ));
    assert!(!fut.cancel());
    assert_eq!(fut.result().unwrap(), 1, "the first result stands");

    let failed = ev.create_future::<u32>();
    failed.set_error(Error::Timeout).unwrap();
    assert!(matches!(failed.set_result(2), Err(Error::InvalidState(_))));
    assert!(matches!(
        failed.set_error(Error::LoopStopped),
        Err(Error::InvalidState(_))
    ));
    assert!(matches!(failed.result(), Err(Error::Timeout)));
}

#[test]
fn cancel_returns_true_then_false() {
    let ev = new_loop();
    let fut = ev.create_future::<u32>();
    assert!(fut.cancel());
    assert!(fut.done());
    assert!(fut.cancelled());
    assert!(!fut.cancel());
    assert!(matches!(fut.result(), Err(Error::Cancelled(None))));
    assert!(matches!(fut.error(), Err(Error::Cancelled(None))));
    assert!(matches!(fut.set_result(1), Err(Error::InvalidState(_))));
}

#[test]
fn cancel_message_is_carried_by_the_cancelled_error() {
    let ev = new_loop();
    let fut = ev.create_future::<u32>();
    assert!(fut.cancel_with_message(Some("shutting down")));
    match fut.result() {
        Err(Error::Cancelled(Some(msg))) => assert_eq!(msg, "shutting down"),
        other => panic!("expected Cancelled(Some(..)), got {other:?}"),
    }
    // An awaiter sees the same message.
    let out = run_until_complete(&ev, fut).unwrap();
    match out {
        Err(Error::Cancelled(Some(msg))) => assert_eq!(msg, "shutting down"),
        other => panic!("expected Cancelled(Some(..)), got {other:?}"),
    }
}

#[test]
fn done_callbacks_run_in_registration_order_once_and_never_synchronously() {
    let ev = new_loop();
    let fut = ev.create_future::<u32>();
    let seen = Recorder::new();
    for i in 0..5 {
        let rec = seen.clone();
        fut.add_done_callback(move |f| rec.push((i, f.result().unwrap())));
    }
    fut.set_result(7).unwrap();
    assert!(
        seen.is_empty(),
        "done callbacks ran synchronously inside set_result"
    );
    run_once(&ev).unwrap();
    assert_eq!(seen.get(), (0..5).map(|i| (i, 7)).collect::<Vec<_>>());
    run_once(&ev).unwrap();
    assert_eq!(seen.len(), 5, "a done callback ran twice");
}

#[test]
fn done_callbacks_are_not_run_synchronously_by_set_error_or_cancel() {
    let ev = new_loop();
    let seen = Recorder::new();
    let failed = ev.create_future::<u32>();
    let cancelled = ev.create_future::<u32>();
    let rec = seen.clone();
    failed.add_done_callback(move |f| rec.push(format!("failed {:?}", f.error().ok().flatten())));
    let rec = seen.clone();
    cancelled.add_done_callback(move |f| rec.push(format!("cancelled {}", f.cancelled())));
    failed.set_error(Error::Timeout).unwrap();
    cancelled.cancel();
    assert!(seen.is_empty());
    run_once(&ev).unwrap();
    assert_eq!(seen.get(), ["failed Some(Timeout)", "cancelled true"]);
}

#[test]
fn remove_done_callback_returns_one_then_zero_and_removed_never_runs() {
    let ev = new_loop();
    let fut = ev.create_future::<u32>();
    let seen = Recorder::new();
    let rec = seen.clone();
    fut.add_done_callback(move |_| rec.push("kept 1"));
    let rec = seen.clone();
    let removed = fut.add_done_callback(move |_| rec.push("removed"));
    let rec = seen.clone();
    fut.add_done_callback(move |_| rec.push("kept 2"));
    assert_eq!(fut.remove_done_callback(removed), 1);
    assert_eq!(fut.remove_done_callback(removed), 0);
    fut.set_result(1).unwrap();
    run_once(&ev).unwrap();
    run_once(&ev).unwrap();
    assert_eq!(seen.get(), ["kept 1", "kept 2"]);
}

#[test]
fn add_done_callback_on_a_done_future_runs_on_the_loop() {
    let ev = new_loop();
    let fut = ev.create_future::<u32>();
    fut.set_result(3).unwrap();
    let seen = Recorder::new();
    let rec = seen.clone();
    fut.add_done_callback(move |f| rec.push(f.result().unwrap()));
    assert!(
        seen.is_empty(),
        "add_done_callback on a done future ran the callback synchronously"
    );
    run_once(&ev).unwrap();
    assert_eq!(seen.get(), [3]);
    run_once(&ev).unwrap();
    assert_eq!(seen.get(), [3]);
}

#[test]
fn done_callback_order_keeps_fifo_with_call_soon() {
    // Done callbacks are scheduled with call_soon when the future completes.
    let ev = new_loop();
    let fut = ev.create_future::<()>();
    let seen = Recorder::new();
    let rec = seen.clone();
    fut.add_done_callback(move |_| rec.push("done callback"));
    ev.call_soon(seen.pusher("before")).unwrap();
    fut.set_result(()).unwrap();
    ev.call_soon(seen.pusher("after")).unwrap();
    run_once(&ev).unwrap();
    assert_eq!(seen.get(), ["before", "done callback", "after"]);
}

#[test]
fn task_awaits_a_future_set_later() {
    let ev = new_loop();
    let fut = ev.create_future::<u32>();
    let setter = fut.clone();
    ev.call_later(Duration::from_millis(5), move |_| {
        setter.set_result(99).unwrap();
    })
    .unwrap();
    let waiting = fut.clone();
    let task = ev
        .create_task(async move { waiting.await.map(|v| v + 1) })
        .unwrap();
    let out = run_until_complete(&ev, task).unwrap().unwrap().unwrap();
    assert_eq!(out, 100);
}

#[test]
fn awaiting_a_failed_future_gives_its_error_to_every_awaiter() {
    let ev = new_loop();
    let fut = ev.create_future::<u32>();
    let a = ev.create_task(fut.clone()).unwrap();
    let b = ev.create_task(fut.clone()).unwrap();
    let setter = fut.clone();
    ev.call_soon(move |_| setter.set_error(Error::Timeout).unwrap())
        .unwrap();
    let both = run_until_complete(&ev, async move { (a.await, b.await) }).unwrap();
    assert!(matches!(both.0, Ok(Err(Error::Timeout))), "{:?}", both.0);
    assert!(matches!(both.1, Ok(Err(Error::Timeout))), "{:?}", both.1);
}

#[test]
fn awaiting_a_cancelled_future_gives_cancelled() {
    let ev = new_loop();
    let fut = ev.create_future::<u32>();
    let canceller = fut.clone();
    ev.call_soon(move |_| {
        canceller.cancel();
    })
    .unwrap();
    let out = run_until_complete(&ev, fut.clone()).unwrap();
    assert!(matches!(out, Err(Error::Cancelled(None))), "got {out:?}");
    assert!(fut.cancelled());
}

#[test]
fn await_moves_the_value_out() {
    let ev = new_loop();
    let fut: LoopFuture<Vec<u8>> = ev.create_future();
    fut.set_result(vec![1, 2, 3]).unwrap();
    let first = run_until_complete(&ev, fut.clone()).unwrap().unwrap();
    assert_eq!(first, [1, 2, 3]);
    assert!(fut.done());
    let second = run_until_complete(&ev, fut.clone()).unwrap();
    assert!(
        matches!(second, Err(Error::InvalidState(_))),
        "got {second:?}"
    );
}

#[test]
fn take_result_moves_the_value_out() {
    let ev = new_loop();
    let fut = ev.create_future::<String>();
    fut.set_result("once".into()).unwrap();
    assert_eq!(fut.take_result().unwrap(), "once");
    assert!(matches!(fut.take_result(), Err(Error::InvalidState(_))));
    assert!(matches!(fut.result(), Err(Error::InvalidState(_))));
}

#[test]
fn future_wakes_every_task_awaiting_it() {
    let ev = new_loop();
    let gate = ev.create_future::<()>();
    let order = Rc::new(RefCell::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..3 {
        let (g, o) = (gate.clone(), order.clone());
        tasks.push(
            ev.create_task(async move {
                // The first awaiter moves the value out and the others get
                // InvalidState; what matters here is that every waiter wakes.
                let _ = g.clone().await;
                o.borrow_mut().push(i);
            })
            .unwrap(),
        );
    }
    let opener = gate.clone();
    ev.call_later(Duration::from_millis(2), move |_| {
        opener.set_result(()).unwrap()
    })
    .unwrap();
    run_until_complete(&ev, async move {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .unwrap();
    let mut seen = order.borrow().clone();
    seen.sort();
    assert_eq!(seen, [0, 1, 2]);
}

#[test]
fn done_callback_sees_a_cancelled_future() {
    let ev = new_loop();
    let fut = ev.create_future::<u32>();
    let saw = Rc::new(Cell::new(false));
    let s = saw.clone();
    fut.add_done_callback(move |f| s.set(f.cancelled() && f.done()));
    fut.cancel();
    run_once(&ev).unwrap();
    assert!(saw.get());
}

#[test]
fn future_outliving_its_loop() {
    let ev = EventLoop::new().unwrap();
    let fut = ev.create_future::<u32>();
    assert!(fut.get_loop().is_ok());
    drop(ev);
    assert!(matches!(fut.get_loop(), Err(Error::LoopClosed)));
    // Completing it still works; its done callbacks have no loop to run on.
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    fut.add_done_callback(move |_| r.set(true));
    fut.set_result(4).unwrap();
    assert_eq!(fut.result().unwrap(), 4);
    assert!(!ran.get());
}

/// Regression: a done callback can read the result even when a task awaits (and so moves
/// out) the same future's value.
#[test]
fn done_callback_sees_the_result_even_when_a_task_awaits_the_future() {
    let ev = new_loop();
    let fut = ev.create_future::<String>();
    let seen = Recorder::new();
    let record = seen.clone();
    let waiter = ev.create_task(fut.clone()).unwrap();
    // Let the task start awaiting first, then register the callback and complete.
    run_once(&ev).unwrap();
    fut.add_done_callback(move |f| record.push(f.result().map_err(|e| e.to_string())));
    fut.set_result("value".to_owned()).unwrap();
    let awaited = run_until_complete(&ev, waiter).unwrap().unwrap();
    assert_eq!(awaited.unwrap(), "value");
    assert_eq!(seen.take(), vec![Ok("value".to_owned())]);
}
