//! `call_soon` and `Handle`: FIFO order, exactly-once, batching, cancellation.

use std::cell::Cell;
use std::rc::Rc;

use twinloop::EventLoop;
use wasm_tests::*;

#[test]
fn call_soon_runs_callbacks_in_fifo_order() {
    let ev = new_loop();
    let seen = Recorder::new();
    for i in 0..10 {
        ev.call_soon(seen.pusher(i)).unwrap();
    }
    ev.call_soon(|ev| ev.stop()).unwrap();
    run_forever(&ev).unwrap();
    assert_eq!(seen.get(), (0..10).collect::<Vec<_>>());
}

#[test]
fn call_soon_runs_each_callback_exactly_once() {
    let ev = new_loop();
    let seen = Recorder::new();
    ev.call_soon(seen.pusher("a")).unwrap();
    ev.call_soon(seen.pusher("b")).unwrap();
    run_once(&ev).unwrap();
    assert_eq!(seen.get(), ["a", "b"]);
    // Further iterations never run them again.
    run_once(&ev).unwrap();
    run_once(&ev).unwrap();
    assert_eq!(seen.get(), ["a", "b"]);
}

#[test]
fn call_soon_never_runs_synchronously() {
    let ev = new_loop();
    let ran = Rc::new(Cell::new(false));
    let flag = ran.clone();
    ev.call_soon(move |_| flag.set(true)).unwrap();
    assert!(!ran.get(), "call_soon ran its callback synchronously");
    run_once(&ev).unwrap();
    assert!(ran.get());
}

#[test]
fn callback_scheduled_during_iteration_runs_in_next_one() {
    let ev = new_loop();
    let seen = Recorder::new();
    let rec = seen.clone();
    ev.call_soon(move |ev| {
        rec.push("first");
        ev.call_soon(rec.pusher("scheduled by first")).unwrap();
        ev.stop();
    })
    .unwrap();
    run_forever(&ev).unwrap();
    assert_eq!(
        seen.get(),
        ["first"],
        "a callback scheduled during the batch ran in the same batch"
    );
    run_once(&ev).unwrap();
    assert_eq!(seen.get(), ["first", "scheduled by first"]);
}

#[test]
fn callback_chain_advances_one_step_per_iteration() {
    // A callback that re-schedules itself runs once per iteration: it can never starve the
    // loop (stop() set before the run gives exactly one iteration).
    let ev = new_loop();
    let count = Rc::new(Cell::new(0u32));
    fn again(count: Rc<Cell<u32>>) -> impl FnOnce(&EventLoop) {
        move |ev| {
            count.set(count.get() + 1);
            if count.get() < 100 {
                ev.call_soon(again(count)).unwrap();
            }
        }
    }
    ev.call_soon(again(count.clone())).unwrap();
    run_once(&ev).unwrap();
    assert_eq!(count.get(), 1);
    run_once(&ev).unwrap();
    assert_eq!(count.get(), 2);
}

#[test]
fn callback_receives_its_own_loop() {
    let ev = new_loop();
    let same = Rc::new(Cell::new(false));
    let flag = same.clone();
    let expected = ev.clone();
    ev.call_soon(move |ev| flag.set(ev.ptr_eq(&expected)))
        .unwrap();
    run_once(&ev).unwrap();
    assert!(same.get());
}

#[test]
fn cancelled_handle_never_runs_and_drops_its_callback_at_once() {
    let ev = new_loop();
    let drops = DropCounter::new();
    let ran = Rc::new(Cell::new(false));
    let (token, flag) = (drops.token(), ran.clone());
    let handle = ev
        .call_soon(move |_| {
            token.touch();
            flag.set(true);
        })
        .unwrap();
    assert!(!handle.cancelled());
    assert_eq!(drops.dropped(), 0);
    handle.cancel();
    assert!(handle.cancelled());
    assert_eq!(
        drops.dropped(),
        1,
        "cancel() must drop the callback now, not when its turn comes"
    );
    run_once(&ev).unwrap();
    assert!(!ran.get(), "a cancelled callback ran");
}

#[test]
fn handle_cancel_is_idempotent() {
    let ev = new_loop();
    let drops = DropCounter::new();
    let token = drops.token();
    let handle = ev.call_soon(move |_| token.touch()).unwrap();
    let clone = handle.clone();
    handle.cancel();
    handle.cancel();
    clone.cancel();
    assert!(handle.cancelled() && clone.cancelled());
    assert_eq!(drops.dropped(), 1);
    let seen = Recorder::new();
    ev.call_soon(seen.pusher("after")).unwrap();
    run_once(&ev).unwrap();
    assert_eq!(seen.get(), ["after"]);
}

#[test]
fn handle_cancel_after_run_is_harmless() {
    let ev = new_loop();
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    let handle = ev.call_soon(move |_| c.set(c.get() + 1)).unwrap();
    run_once(&ev).unwrap();
    assert_eq!(count.get(), 1);
    handle.cancel();
    handle.cancel();
    run_once(&ev).unwrap();
    assert_eq!(count.get(), 1);
}

#[test]
fn cancel_from_earlier_callback_in_same_batch_prevents_run() {
    let ev = new_loop();
    let seen = Recorder::new();
    let victim_slot: Rc<Cell<Option<twinloop::Handle>>> = Rc::new(Cell::new(None));
    let slot = victim_slot.clone();
    let rec = seen.clone();
    ev.call_soon(move |_| {
        rec.push("canceller");
        if let Some(h) = slot.take() {
            h.cancel();
        }
    })
    .unwrap();
    let victim = ev.call_soon(seen.pusher("victim")).unwrap();
    victim_slot.set(Some(victim.clone()));
    ev.call_soon(seen.pusher("last")).unwrap();
    run_once(&ev).unwrap();
    assert_eq!(seen.get(), ["canceller", "last"]);
    assert!(victim.cancelled());
}

#[test]
fn handle_location_is_the_call_site() {
    let ev = new_loop();
    let line = line!() + 1;
    let handle = ev.call_soon(|_| {}).unwrap();
    let loc = handle.location();
    assert!(
        loc.file().ends_with("callbacks.rs"),
        "location file is {}",
        loc.file()
    );
    assert_eq!(loc.line(), line);
    let line = line!() + 1;
    let timer = ev.call_later(std::time::Duration::ZERO, |_| {}).unwrap();
    assert_eq!(timer.location().line(), line);
    assert!(timer.location().file().ends_with("callbacks.rs"));
    run_once(&ev).unwrap();
}

#[test]
fn same_thread_call_soon_threadsafe_keeps_fifo_with_call_soon() {
    use std::sync::{Arc, Mutex};
    let ev = new_loop();
    let seen = Arc::new(Mutex::new(Vec::new()));
    for i in 0..4 {
        let s = seen.clone();
        ev.call_soon_threadsafe(move |_| s.lock().unwrap().push(("threadsafe", i)))
            .unwrap();
        let s = seen.clone();
        ev.call_soon(move |_| s.lock().unwrap().push(("soon", i)))
            .unwrap();
    }
    run_once(&ev).unwrap();
    let expected: Vec<_> = (0..4)
        .flat_map(|i| [("threadsafe", i), ("soon", i)])
        .collect();
    assert_eq!(*seen.lock().unwrap(), expected);
}

#[test]
fn callback_destructor_may_use_the_loop_when_cancelled() {
    // The closure's destructor runs inside cancel(); it may schedule on the loop.
    struct Reschedule(EventLoop, Recorder<&'static str>);
    impl Drop for Reschedule {
        fn drop(&mut self) {
            let rec = self.1.clone();
            self.0.call_soon(rec.pusher("from destructor")).unwrap();
        }
    }
    let ev = new_loop();
    let seen = Recorder::new();
    let guard = Reschedule(ev.clone(), seen.clone());
    let handle = ev
        .call_soon(move |_| {
            let _ = &guard;
        })
        .unwrap();
    handle.cancel();
    run_once(&ev).unwrap();
    assert_eq!(seen.get(), ["from destructor"]);
}
