//! `Task`: results, names, cancellation, awaiting, the task factory, `sleep`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use twinloop::{Error, EventLoop, TaskFactory, TaskFuture};
use wasm_tests::*;

#[test]
fn task_result_is_its_output() {
    let ev = new_loop();
    let task = ev.create_task(async { 21 * 2 }).unwrap();
    assert!(!task.done());
    let out = run_until_complete(&ev, task.clone()).unwrap().unwrap();
    assert_eq!(out, 42);
    assert!(task.done());
    assert!(!task.cancelled());
    assert!(task.get_loop().unwrap().ptr_eq(&ev));
}

#[test]
fn task_result_method_after_completion() {
    let ev = new_loop();
    let task = ev.create_task(async { "ok" }).unwrap();
    assert!(matches!(task.result(), Err(Error::InvalidState(_))));
    ev.call_later(Duration::from_millis(1), |ev| ev.stop())
        .unwrap();
    run_forever(&ev).unwrap();
    assert!(task.done());
    assert_eq!(task.result().unwrap(), "ok");
    assert_eq!(task.as_future().result().unwrap(), "ok");
}

#[test]
fn task_starts_on_the_next_iteration_not_synchronously() {
    let ev = new_loop();
    let seen = Recorder::new();
    let rec = seen.clone();
    ev.call_soon(seen.pusher("callback before")).unwrap();
    let _task = ev.create_task(async move { rec.push("task") }).unwrap();
    assert!(seen.is_empty(), "create_task ran the task synchronously");
    ev.call_soon(seen.pusher("callback after")).unwrap();
    run_once(&ev).unwrap();
    assert_eq!(seen.get(), ["callback before", "task", "callback after"]);
}

#[test]
fn task_default_name_is_task_n() {
    let ev = new_loop();
    let a = ev.create_task(async {}).unwrap();
    let b = ev.create_task(async {}).unwrap();
    let number = |name: &str| -> u64 {
        name.strip_prefix("Task-")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("default name {name:?} is not Task-N"))
    };
    assert!(number(&a.name()) < number(&b.name()));
    assert!(format!("{a:?}").contains(&a.name()));
    run_until_complete(&ev, async move {
        a.await.unwrap();
        b.await.unwrap();
    })
    .unwrap();
}

#[test]
fn task_explicit_name_and_set_name() {
    let ev = new_loop();
    let task = ev.create_task_named(async { 1 }, "worker").unwrap();
    assert_eq!(task.name(), "worker");
    task.set_name("renamed");
    assert_eq!(task.name(), "renamed");
    assert_eq!(task.clone().name(), "renamed");
    assert_eq!(run_until_complete(&ev, task.clone()).unwrap().unwrap(), 1);
    assert_eq!(task.name(), "renamed");
}

#[test]
fn task_cancelled_before_start_never_runs() {
    let ev = new_loop();
    let started = Rc::new(Cell::new(false));
    let drops = DropCounter::new();
    let (s, t) = (started.clone(), drops.token());
    let task = ev
        .create_task(async move {
            t.touch();
            s.set(true);
            5
        })
        .unwrap();
    assert!(task.cancel());
    assert!(task.cancel(), "cancel of a pending task returns true again");
    let out = run_until_complete(&ev, task.clone()).unwrap();
    assert!(matches!(out, Err(Error::Cancelled(None))), "got {out:?}");
    assert!(!started.get(), "a task cancelled before its start ran");
    assert!(task.cancelled() && task.done());
    assert_eq!(
        drops.dropped(),
        1,
        "the cancelled task's future was not dropped"
    );
}

#[test]
fn task_cancel_propagates_into_the_awaited_future() {
    let ev = new_loop();
    let inner = ev.create_future::<u32>();
    let awaited = inner.clone();
    let after_await = Rc::new(Cell::new(false));
    let a = after_await.clone();
    let task = ev
        .create_task(async move {
            let r = awaited.await;
            a.set(true);
            r
        })
        .unwrap();
    let t = task.clone();
    // Cancel once the task is blocked on the future.
    ev.call_later(Duration::from_millis(2), move |_| {
        assert!(t.cancel());
    })
    .unwrap();
    let out = run_until_complete(&ev, task.clone()).unwrap();
    assert!(matches!(out, Err(Error::Cancelled(_))), "got {out:?}");
    assert!(inner.cancelled(), "the awaited future was not cancelled");
    assert!(task.cancelled());
    assert!(!after_await.get(), "the task ran on after being cancelled");
}

#[test]
fn task_cancel_message_reaches_the_result() {
    let ev = new_loop();
    let task = ev
        .create_task(twinloop::sleep(Duration::from_secs(3600)))
        .unwrap();
    let t = task.clone();
    ev.call_soon(move |_| {
        t.cancel_with_message("enough");
    })
    .unwrap();
    match run_until_complete(&ev, task).unwrap() {
        Err(Error::Cancelled(Some(msg))) => assert_eq!(msg, "enough"),
        other => panic!("expected Cancelled(Some(\"enough\")), got {other:?}"),
    }
}

#[test]
fn cancelling_a_task_through_its_future_cancels_the_task() {
    let ev = new_loop();
    let started = Rc::new(Cell::new(false));
    let s = started.clone();
    let task = ev.create_task(async move { s.set(true) }).unwrap();
    assert!(task.as_future().cancel());
    let out = run_until_complete(&ev, task.clone()).unwrap();
    assert!(matches!(out, Err(Error::Cancelled(_))), "got {out:?}");
    assert!(!started.get());
}

#[test]
fn cancel_of_a_done_task_returns_false() {
    let ev = new_loop();
    let task = ev.create_task(async { 3 }).unwrap();
    ev.call_later(Duration::from_millis(1), |ev| ev.stop())
        .unwrap();
    run_forever(&ev).unwrap();
    assert!(task.done());
    assert!(!task.cancel());
    assert!(!task.cancel_with_message("late"));
    assert!(!task.cancelled());
    assert_eq!(task.result().unwrap(), 3, "cancel() changed a done task");
}

#[test]
fn task_awaiting_another_task() {
    let ev = new_loop();
    let inner = ev
        .create_task(async {
            twinloop::sleep(Duration::from_millis(2)).await.unwrap();
            10
        })
        .unwrap();
    let outer = ev
        .create_task(async move { inner.await.unwrap() + 1 })
        .unwrap();
    assert_eq!(run_until_complete(&ev, outer).unwrap().unwrap(), 11);
}

#[test]
fn cancelling_the_outer_task_cancels_the_task_it_awaits() {
    let ev = new_loop();
    let inner = ev
        .create_task(twinloop::sleep(Duration::from_secs(3600)))
        .unwrap();
    let awaited = inner.clone();
    let outer = ev.create_task(awaited).unwrap();
    let o = outer.clone();
    ev.call_later(Duration::from_millis(2), move |_| {
        o.cancel();
    })
    .unwrap();
    let out = run_until_complete(&ev, outer).unwrap();
    assert!(matches!(out, Err(Error::Cancelled(_))), "got {out:?}");
    // Give the inner task the step in which it finishes its cancellation.
    run_once(&ev).unwrap();
    assert!(
        inner.cancelled(),
        "the awaited inner task was not cancelled"
    );
}

#[test]
fn awaiting_a_cancelled_task_gives_cancelled() {
    let ev = new_loop();
    let inner = ev
        .create_task(twinloop::sleep(Duration::from_secs(3600)))
        .unwrap();
    let i = inner.clone();
    let outer = ev
        .create_task(async move {
            let r = i.await;
            matches!(r, Err(Error::Cancelled(_)))
        })
        .unwrap();
    let victim = inner.clone();
    ev.call_later(Duration::from_millis(2), move |_| {
        victim.cancel();
    })
    .unwrap();
    assert!(run_until_complete(&ev, outer).unwrap().unwrap());
}

#[test]
fn task_done_callbacks_run_after_completion() {
    let ev = new_loop();
    let task = ev.create_task(async { 8 }).unwrap();
    let seen = Recorder::new();
    let rec = seen.clone();
    task.add_done_callback(move |f| rec.push(f.result().unwrap()));
    let rec = seen.clone();
    let removed = task.add_done_callback(move |_| rec.push(-1));
    assert_eq!(task.remove_done_callback(removed), 1);
    assert_eq!(task.remove_done_callback(removed), 0);
    // Not awaited here: awaiting would move the value out before the callback reads it.
    ev.call_later(Duration::from_millis(1), |ev| ev.stop())
        .unwrap();
    run_forever(&ev).unwrap();
    assert!(task.done());
    run_once(&ev).unwrap();
    assert_eq!(seen.get(), [8]);
}

#[test]
fn tasks_interleave_at_await_points() {
    let ev = new_loop();
    let seen = Recorder::new();
    let mut tasks = Vec::new();
    for name in ["a", "b"] {
        let rec = seen.clone();
        tasks.push(
            ev.create_task(async move {
                for i in 0..3 {
                    rec.push(format!("{name}{i}"));
                    yield_now().await;
                }
            })
            .unwrap(),
        );
    }
    run_until_complete(&ev, async move {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .unwrap();
    assert_eq!(seen.get(), ["a0", "b0", "a1", "b1", "a2", "b2"]);
}

#[test]
fn task_future_is_dropped_when_the_task_finishes() {
    let ev = new_loop();
    let drops = DropCounter::new();
    let t = drops.token();
    let task = ev
        .create_task(async move {
            yield_now().await;
            t.touch();
        })
        .unwrap();
    run_until_complete(&ev, task.clone()).unwrap().unwrap();
    assert_eq!(drops.dropped(), 1);
}

#[test]
fn task_factory_is_none_by_default() {
    let ev = EventLoop::new().unwrap();
    assert!(ev.get_task_factory().is_none());
}

#[test]
fn task_factory_is_used_by_create_task() {
    let ev = new_loop();
    let names = Rc::new(RefCell::new(Vec::new()));
    let n = names.clone();
    let factory: TaskFactory = Rc::new(move |_ev: &EventLoop, fut: TaskFuture, name: &str| {
        n.borrow_mut().push(name.to_owned());
        fut
    });
    ev.set_task_factory(Some(factory.clone()));
    assert!(ev
        .get_task_factory()
        .is_some_and(|f| Rc::ptr_eq(&f, &factory)));
    let a = ev.create_task_named(async { 1 }, "first").unwrap();
    let b = ev.create_task(async { 2 }).unwrap();
    assert_eq!(a.name(), "first", "the loop keeps the name it was given");
    let b_name = b.name();
    let sum = run_until_complete(&ev, async move { a.await.unwrap() + b.await.unwrap() }).unwrap();
    assert_eq!(sum, 3);
    let names = names.borrow();
    // create_task twice, plus the task run_until_complete wraps its future in.
    assert_eq!(names.len(), 3, "factory calls: {names:?}");
    assert_eq!(names[0], "first");
    assert_eq!(names[1], b_name);
}

#[test]
fn task_factory_can_wrap_the_future() {
    let ev = new_loop();
    let steps = Rc::new(Cell::new(0));
    let s = steps.clone();
    ev.set_task_factory(Some(Rc::new(
        move |_ev: &EventLoop, fut: TaskFuture, _name: &str| -> TaskFuture {
            let s = s.clone();
            Box::pin(async move {
                s.set(s.get() + 1);
                fut.await;
                s.set(s.get() + 10);
            })
        },
    )));
    let task = ev.create_task(async { 5 }).unwrap();
    ev.set_task_factory(None);
    assert_eq!(run_until_complete(&ev, task).unwrap().unwrap(), 5);
    assert_eq!(steps.get(), 11);
}

#[test]
fn setting_no_task_factory_restores_plain_tasks() {
    let ev = new_loop();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    ev.set_task_factory(Some(Rc::new(
        move |_ev: &EventLoop, fut: TaskFuture, _name: &str| {
            c.set(c.get() + 1);
            fut
        },
    )));
    let a = ev.create_task(async { 1 }).unwrap();
    assert_eq!(calls.get(), 1);
    ev.set_task_factory(None);
    assert!(ev.get_task_factory().is_none());
    let b = ev.create_task_named(async { 2 }, "plain").unwrap();
    assert_eq!(b.name(), "plain");
    let sum = run_until_complete(&ev, async move { a.await.unwrap() + b.await.unwrap() }).unwrap();
    assert_eq!(sum, 3);
    assert_eq!(calls.get(), 1, "the factory was used after being removed");
}

#[test]
fn sleep_inside_a_task() {
    let ev = new_loop();
    let task = ev
        .create_task(async {
            let ev = twinloop::get_running_loop().unwrap();
            let start = ev.time();
            twinloop::sleep(Duration::from_millis(20)).await.unwrap();
            twinloop::sleep(Duration::ZERO).await.unwrap();
            ev.time() - start
        })
        .unwrap();
    let slept = run_until_complete(&ev, task).unwrap().unwrap();
    assert!(slept >= 0.020, "sleep(20 ms) took only {slept} s");
    assert!(slept < 25.0);
}

#[test]
fn concurrent_sleeps_finish_in_deadline_order() {
    let ev = new_loop();
    let seen = Recorder::new();
    let mut tasks = Vec::new();
    for (delay, label) in [(30u64, "slow"), (5, "fast"), (15, "medium")] {
        let rec = seen.clone();
        tasks.push(
            ev.create_task(async move {
                twinloop::sleep(Duration::from_millis(delay)).await.unwrap();
                rec.push(label);
            })
            .unwrap(),
        );
    }
    run_until_complete(&ev, async move {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .unwrap();
    assert_eq!(seen.get(), ["fast", "medium", "slow"]);
}

#[test]
fn sleep_outside_a_running_loop_is_no_running_loop() {
    let polled = poll_once(twinloop::sleep(Duration::from_millis(1)));
    match polled {
        std::task::Poll::Ready(Err(Error::NoRunningLoop)) => {}
        other => panic!("expected Ready(Err(NoRunningLoop)), got {other:?}"),
    }
}

#[test]
fn cancelling_a_long_sleep_finishes_promptly() {
    let ev = new_loop();
    let start = ev.time();
    let task = ev
        .create_task(twinloop::sleep(Duration::from_secs(3600)))
        .unwrap();
    let t = task.clone();
    ev.call_later(Duration::from_millis(5), move |_| {
        t.cancel();
    })
    .unwrap();
    let out = run_until_complete(&ev, task).unwrap();
    assert!(matches!(out, Err(Error::Cancelled(_))), "got {out:?}");
    assert!(ev.time() - start < 20.0);
}

#[test]
fn get_running_loop_inside_a_task_is_the_loop() {
    let ev = new_loop();
    let expected = ev.clone();
    let same = run_until_complete(&ev, async move {
        twinloop::get_running_loop().is_ok_and(|l| l.ptr_eq(&expected))
            && twinloop::get_event_loop().is_ok_and(|l| l.ptr_eq(&expected))
    })
    .unwrap();
    assert!(same);
}

#[test]
fn task_runs_to_completion_when_its_handle_is_dropped() {
    let ev = new_loop();
    let seen = Recorder::new();
    let rec = seen.clone();
    drop(
        ev.create_task(async move {
            rec.push("start");
            twinloop::sleep(Duration::from_millis(2)).await.unwrap();
            rec.push("end");
        })
        .unwrap(),
    );
    ev.call_later(Duration::from_millis(20), |ev| ev.stop())
        .unwrap();
    run_forever(&ev).unwrap();
    assert_eq!(seen.get(), ["start", "end"]);
}

#[test]
fn task_cancelling_itself_cancels_the_future_it_then_awaits() {
    // asyncio: Task.cancel() while the task runs sets "must cancel"; when the task then
    // blocks on a future, that future is cancelled (so whoever set it up sees it).
    let ev = new_loop();
    type Slot = Rc<RefCell<Option<twinloop::Task<Result<(), Error>>>>>;
    let slot: Slot = Rc::new(RefCell::new(None));
    let awaited = ev.create_future::<()>();
    let (me, fut) = (slot.clone(), awaited.clone());
    let task = ev
        .create_task(async move {
            let cancelled_now = me.borrow().as_ref().expect("task handle stored").cancel();
            assert!(cancelled_now);
            fut.await
        })
        .unwrap();
    *slot.borrow_mut() = Some(task.clone());
    let out = run_until_complete(&ev, task.clone()).unwrap();
    slot.borrow_mut().take();
    assert!(matches!(out, Err(Error::Cancelled(_))), "got {out:?}");
    assert!(
        awaited.cancelled(),
        "the future the self-cancelled task went on to await was left pending"
    );
}

#[test]
fn task_cancelled_during_its_last_step_ends_cancelled() {
    // Task::cancel returned true, so the task must end as Cancelled (asyncio: a task
    // cancelled right before its coroutine returns is cancelled, not finished).
    let ev = new_loop();
    let slot: Rc<RefCell<Option<twinloop::Task<u32>>>> = Rc::new(RefCell::new(None));
    let me = slot.clone();
    let accepted = Rc::new(Cell::new(false));
    let a = accepted.clone();
    let task = ev
        .create_task(async move {
            a.set(me.borrow().as_ref().expect("task handle stored").cancel());
            7
        })
        .unwrap();
    *slot.borrow_mut() = Some(task.clone());
    ev.call_later(Duration::from_millis(1), |ev| ev.stop())
        .unwrap();
    run_forever(&ev).unwrap();
    slot.borrow_mut().take();
    assert!(
        accepted.get(),
        "cancel() of the running task returned false"
    );
    assert!(task.done());
    assert!(
        task.cancelled(),
        "cancel() returned true but the task finished with {:?}",
        task.result()
    );
}

#[test]
fn task_cancel_message_reaches_the_awaited_future() {
    let ev = new_loop();
    let inner = ev.create_future::<()>();
    let awaited = inner.clone();
    let task = ev.create_task(awaited).unwrap();
    let t = task.clone();
    ev.call_later(Duration::from_millis(2), move |_| {
        t.cancel_with_message("bye");
    })
    .unwrap();
    let out = run_until_complete(&ev, task).unwrap();
    assert!(
        matches!(out, Err(Error::Cancelled(Some(ref m))) if m == "bye"),
        "got {out:?}"
    );
    match inner.result() {
        Err(Error::Cancelled(Some(m))) => assert_eq!(m, "bye"),
        other => panic!("the awaited future got {other:?}"),
    }
}
