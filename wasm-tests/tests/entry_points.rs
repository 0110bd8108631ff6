//! The free functions a program starts from: `run`, `wait_for`, `timeout`, `gather`,
//! `sleep`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use twinloop::{Error, EventLoop, Task};
use wasm_tests::*;

const FOREVER: Duration = Duration::from_secs(3600);

/// Records, when dropped, whether a loop was running at that moment.
struct DropProbe(Recorder<bool>);

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.0.push(twinloop::get_running_loop().is_ok());
    }
}

fn probe() -> (DropProbe, Recorder<bool>) {
    let seen = Recorder::new();
    (DropProbe(seen.clone()), seen)
}

fn message(e: &str) -> Error {
    Error::InvalidArgument(e.to_owned())
}

fn is_message(outcome: &twinloop::Result<impl Sized>, text: &str) -> bool {
    matches!(outcome, Err(Error::InvalidArgument(m)) if m == text)
}

#[test]
fn run_returns_the_output_of_main() {
    let out = twinloop::run(|ev| async move {
        ev.sleep(Duration::from_millis(1)).await?;
        Ok(6 * 7)
    });
    assert_eq!(out.unwrap(), 42);
    assert!(twinloop::get_running_loop().is_err());
}

#[test]
fn run_returns_the_error_of_main() {
    let out: twinloop::Result<()> = twinloop::run(|_| async { Err(message("main failed")) });
    assert!(is_message(&out, "main failed"));
}

#[test]
fn run_cancels_the_tasks_left_pending_while_the_loop_still_runs() {
    let (guard, dropped) = probe();
    let left: Rc<RefCell<Option<Task<()>>>> = Rc::default();
    let keep = left.clone();
    let ev_seen: Rc<RefCell<Option<EventLoop>>> = Rc::default();
    let ev_keep = ev_seen.clone();
    twinloop::run(move |ev| async move {
        let forever = ev.create_task(async move {
            let _guard = guard;
            let _ = twinloop::sleep(FOREVER).await;
            unreachable!("the sleep is never over");
        })?;
        *keep.borrow_mut() = Some(forever);
        *ev_keep.borrow_mut() = Some(ev.clone());
        twinloop::sleep(Duration::ZERO).await // the task starts sleeping
    })
    .unwrap();
    let task = left.take().unwrap();
    assert!(task.cancelled(), "the pending task was not cancelled");
    assert_eq!(
        dropped.get(),
        [true],
        "its future was not dropped while the loop ran"
    );
    assert!(ev_seen.take().unwrap().is_closed());
}

#[test]
fn run_inside_a_running_loop_is_an_error() {
    let ev = new_loop();
    let nested = run_until_complete(&ev, async {
        twinloop::run(|_| async { Ok(()) }).map(|_| "ran")
    })
    .unwrap();
    assert!(matches!(nested, Err(Error::AnotherLoopRunning)));
}

#[test]
fn run_makes_its_loop_current_and_restores_the_previous_one() {
    let before = new_loop();
    twinloop::set_event_loop(Some(&before));
    let same =
        twinloop::run(|ev| async move { Ok(twinloop::get_event_loop()?.ptr_eq(&ev)) }).unwrap();
    assert!(same);
    assert!(twinloop::get_event_loop().unwrap().ptr_eq(&before));
    twinloop::set_event_loop(None);
}

#[test]
fn run_shuts_the_default_executor_down() {
    let ev_seen: Rc<RefCell<Option<EventLoop>>> = Rc::default();
    let keep = ev_seen.clone();
    let sum = twinloop::run(move |ev| async move {
        *keep.borrow_mut() = Some(ev.clone());
        ev.run_in_executor(None, || 2 + 2)?.await
    })
    .unwrap();
    assert_eq!(sum, 4);
    let ev = ev_seen.take().unwrap();
    assert!(ev.is_closed());
    assert!(ev.run_in_executor(None, || ()).is_err());
}

#[test]
fn wait_for_returns_the_value_in_time() {
    let ev = new_loop();
    let out = run_until_complete(&ev, async {
        let slow_enough = async {
            twinloop::sleep(Duration::from_millis(1)).await?;
            Ok("value")
        };
        twinloop::wait_for(slow_enough, Duration::from_secs(10)).await
    })
    .unwrap();
    assert_eq!(out.unwrap(), "value");
}

#[test]
fn wait_for_passes_the_inner_error_on() {
    let ev = new_loop();
    let out = run_until_complete(&ev, async {
        twinloop::wait_for(async { Err::<(), _>(message("inner")) }, FOREVER).await
    })
    .unwrap();
    assert!(is_message(&out, "inner"));
}

#[test]
fn wait_for_times_out_and_drops_its_future_at_once() {
    let ev = new_loop();
    let (guard, dropped) = probe();
    let seen = dropped.clone();
    let out = run_until_complete(&ev, async move {
        let started = twinloop::get_running_loop()?.time();
        let outcome = twinloop::wait_for(
            async move {
                let _guard = guard;
                twinloop::sleep(FOREVER).await
            },
            Duration::from_millis(20),
        )
        .await;
        let waited = twinloop::get_running_loop()?.time() - started;
        // Dropped by the time wait_for returns, not later.
        Ok::<_, Error>((outcome, seen.len(), waited))
    })
    .unwrap()
    .unwrap();
    assert!(matches!(out.0, Err(Error::Timeout)), "{:?}", out.0);
    assert_eq!(out.1, 1, "the inner future was not dropped on timeout");
    assert!(out.2 >= 0.02 && out.2 < 5.0, "waited {} s", out.2);
}

#[test]
fn wait_for_cancels_an_inner_task_as_asyncio_does() {
    let ev = new_loop();
    let (guard, dropped) = probe();
    let task = ev
        .create_task(async move {
            let _guard = guard;
            twinloop::sleep(FOREVER).await
        })
        .unwrap();
    let waited = task.clone();
    let out = run_until_complete(&ev, async move {
        let outcome = twinloop::wait_for(waited.clone(), Duration::from_millis(5)).await;
        // The task takes its cancellation on its next step; wait for it to be done.
        let finished = waited.await;
        (outcome, finished)
    })
    .unwrap();
    assert!(matches!(out.0, Err(Error::Timeout)), "{:?}", out.0);
    assert!(matches!(out.1, Err(Error::Cancelled(_))));
    assert!(task.cancelled());
    assert_eq!(dropped.get(), [true]);
}

#[test]
fn wait_for_with_a_zero_timeout_still_takes_a_ready_value() {
    let ev = new_loop();
    let out = run_until_complete(&ev, async {
        let ready = twinloop::wait_for(async { Ok(1) }, Duration::ZERO).await;
        let pending = twinloop::wait_for(twinloop::sleep(FOREVER), Duration::ZERO).await;
        (ready, pending)
    })
    .unwrap();
    assert_eq!(out.0.unwrap(), 1);
    assert!(matches!(out.1, Err(Error::Timeout)));
}

#[test]
fn time_limits_need_a_running_loop() {
    assert!(matches!(
        twinloop::timeout(Duration::from_secs(1)),
        Err(Error::NoRunningLoop)
    ));
    assert!(matches!(
        poll_once(twinloop::wait_for(async { Ok(()) }, FOREVER)),
        std::task::Poll::Ready(Err(Error::NoRunningLoop))
    ));
}

#[test]
fn timeout_scope_expires() {
    let ev = new_loop();
    let out = run_until_complete(&ev, async {
        let ev = twinloop::get_running_loop()?;
        let limit = twinloop::timeout(Duration::from_millis(10))?;
        let when = limit.when().expect("a deadline");
        assert!(when > ev.time() && when <= ev.time() + 0.011);
        let outcome = limit
            .run(async {
                twinloop::sleep(FOREVER).await?;
                Ok("slept")
            })
            .await;
        Ok::<_, Error>((outcome, limit.expired(), ev.time() >= when))
    })
    .unwrap()
    .unwrap();
    assert!(matches!(out.0, Err(Error::Timeout)));
    assert!(out.1, "expired() is false after the deadline passed");
    assert!(out.2, "the scope ended before its deadline");
}

#[test]
fn timeout_scope_that_finishes_in_time_does_not_expire() {
    let ev = new_loop();
    let out = run_until_complete(&ev, async {
        let limit = twinloop::timeout(Duration::from_millis(300))?;
        let value = limit
            .run(async {
                twinloop::sleep(Duration::from_millis(1)).await?;
                Ok(5)
            })
            .await?;
        // Past the old deadline: the finished scope's timer must not fire.
        twinloop::sleep(Duration::from_millis(350)).await?;
        Ok::<_, Error>((value, limit.expired(), limit.reschedule(None).is_err()))
    })
    .unwrap()
    .unwrap();
    assert_eq!(out, (5, false, true));
}

#[test]
fn timeout_reschedule_moves_the_deadline_both_ways() {
    let ev = new_loop();
    let out = run_until_complete(&ev, async {
        let ev = twinloop::get_running_loop()?;
        // Later: a scope that would have expired at 10 ms finishes at 30 ms.
        let later = twinloop::timeout(Duration::from_millis(10))?;
        let pushed = later
            .run(async {
                later.reschedule(ev.time() + 5.0)?;
                twinloop::sleep(Duration::from_millis(30)).await?;
                Ok("finished")
            })
            .await;
        // Earlier: a scope with no deadline gets one in the past.
        let sooner = twinloop::timeout(None)?;
        let cut = sooner
            .run(async {
                sooner.reschedule(ev.time() - 1.0)?;
                twinloop::sleep(FOREVER).await?;
                Ok("finished")
            })
            .await;
        Ok::<_, Error>((pushed, cut, sooner.expired(), later.expired()))
    })
    .unwrap()
    .unwrap();
    assert_eq!(out.0.unwrap(), "finished");
    assert!(matches!(out.1, Err(Error::Timeout)));
    assert!(out.2 && !out.3);
}

#[test]
fn timeout_serves_one_scope() {
    let ev = new_loop();
    let out = run_until_complete(&ev, async {
        let limit = twinloop::timeout(FOREVER)?;
        limit.run(async { Ok(()) }).await?;
        Ok::<_, Error>(limit.run(async { Ok(()) }).await)
    })
    .unwrap()
    .unwrap();
    assert!(matches!(out, Err(Error::InvalidState(_))));
}

/// A future that sleeps `ms` and then gives `outcome`.
async fn after(ms: u64, outcome: twinloop::Result<u32>) -> twinloop::Result<u32> {
    twinloop::sleep(Duration::from_millis(ms)).await?;
    outcome
}

#[test]
fn gather_returns_values_in_the_order_given() {
    let ev = new_loop();
    let out = run_until_complete(&ev, async {
        let started = twinloop::get_running_loop()?.time();
        let values =
            twinloop::gather(vec![after(400, Ok(1)), after(1, Ok(2)), after(300, Ok(3))]).await?;
        let took = twinloop::get_running_loop()?.time() - started;
        Ok::<_, Error>((values, took))
    })
    .unwrap()
    .unwrap();
    assert_eq!(out.0, [1, 2, 3]);
    // One after the other they would take 0.7 s; together, 0.4 s (a generous bound).
    assert!(
        out.1 < 0.65,
        "the futures did not run concurrently: {} s",
        out.1
    );
}

#[test]
fn gather_returns_the_first_error_to_happen() {
    let ev = new_loop();
    let out = run_until_complete(&ev, async {
        twinloop::gather(vec![
            after(1, Ok(1)),
            after(40, Err(message("late"))),
            after(5, Err(message("early"))),
        ])
        .await
    })
    .unwrap();
    assert!(is_message(&out, "early"), "{out:?}");
}

#[test]
fn gather_leaves_tasks_running_after_an_error() {
    let ev = new_loop();
    let still = ev
        .create_task(async {
            let slept = twinloop::sleep(Duration::from_millis(10)).await;
            slept.map(|()| 9)
        })
        .unwrap();
    let doomed = ev
        .create_task(async { twinloop::sleep(FOREVER).await.map(|()| 0) })
        .unwrap();
    let canceller = doomed.clone();
    ev.call_soon(move |_| {
        canceller.cancel();
    })
    .unwrap();
    let s = still.clone();
    let out = run_until_complete(&ev, async move {
        let first = twinloop::gather(vec![s, doomed]).await;
        (first, still.await)
    })
    .unwrap();
    assert!(matches!(out.0, Err(Error::Cancelled(_))), "{:?}", out.0);
    assert_eq!(out.1.unwrap().unwrap(), 9, "the other task did not go on");
}

#[test]
fn gather_all_returns_every_outcome_in_order() {
    let ev = new_loop();
    let out = run_until_complete(&ev, async {
        twinloop::gather_all(vec![
            after(10, Err(message("a"))),
            after(1, Ok(2)),
            after(5, Ok(3)),
        ])
        .await
    })
    .unwrap();
    assert_eq!(out.len(), 3);
    assert!(is_message(&out[0], "a"));
    assert_eq!(out[1].as_ref().unwrap(), &2);
    assert_eq!(out[2].as_ref().unwrap(), &3);
}

#[test]
fn gather_of_nothing_is_an_empty_vec() {
    let ev = new_loop();
    let out = run_until_complete(&ev, async {
        twinloop::gather(Vec::<std::future::Ready<twinloop::Result<u8>>>::new()).await
    })
    .unwrap();
    assert!(out.unwrap().is_empty());
}

#[test]
fn gather_cut_short_by_a_timeout_cancels_the_gathered_tasks() {
    let ev = new_loop();
    let a = ev.create_task(twinloop::sleep(FOREVER)).unwrap();
    let b = ev.create_task(twinloop::sleep(FOREVER)).unwrap();
    let (ta, tb) = (a.clone(), b.clone());
    let out = run_until_complete(&ev, async move {
        let outcome =
            twinloop::wait_for(twinloop::gather(vec![ta, tb]), Duration::from_millis(5)).await;
        let _ = twinloop::gather_all(vec![a.clone(), b.clone()]).await;
        (outcome.map(|_| ()), a.cancelled(), b.cancelled())
    })
    .unwrap();
    assert!(matches!(out.0, Err(Error::Timeout)));
    assert!(
        out.1 && out.2,
        "gathered tasks left running: {:?}",
        (out.1, out.2)
    );
}

#[test]
fn sleep_zero_yields_once_behind_the_ready_callbacks() {
    let ev = new_loop();
    let order = Recorder::new();
    let rec = order.clone();
    run_until_complete(&ev, async move {
        let ev = twinloop::get_running_loop()?;
        let r = rec.clone();
        ev.call_soon(move |ev| {
            r.push("first callback");
            ev.call_soon(r.pusher("callback it scheduled")).unwrap();
        })?;
        twinloop::sleep(Duration::ZERO).await?;
        rec.push("task resumed");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    // asyncio.sleep(0): resumed in the next batch, right behind what was ready then.
    assert_eq!(
        order.get(),
        ["first callback", "task resumed", "callback it scheduled"]
    );
}

struct Quiet;
impl twinloop::BaseProtocol for Quiet {}
impl twinloop::Protocol for Quiet {}

#[test]
fn loop_methods_hand_out_futures_that_own_their_arguments() {
    let ev = new_loop();
    let host = String::from("127.0.0.1");
    let resolving = ev.getaddrinfo(&host, 80, twinloop::Family::Any);
    drop(host); // the future has its own copy
    let addrs = run_until_complete(&ev, resolving).unwrap().unwrap();
    assert_eq!(addrs, ["127.0.0.1:80".parse().unwrap()]);
    let listening = ev.create_server(|| Quiet, "127.0.0.1", 0, Default::default());
    let server = run_until_complete(&ev, listening).unwrap().unwrap();
    let port = server.sockets()[0].local_addr().unwrap().port();
    let connecting = ev
        .create_task(ev.create_connection(|| Quiet, "127.0.0.1", port, Default::default()))
        .unwrap();
    let serving = ev.create_task(server.serve_forever()).unwrap();
    let (transport, _) = run_until_complete(&ev, connecting)
        .unwrap()
        .unwrap()
        .unwrap();
    transport.close();
    server.close();
    run_until_complete(&ev, server.wait_closed())
        .unwrap()
        .unwrap();
    let ended = run_until_complete(&ev, serving).unwrap().unwrap();
    assert!(matches!(ended, Err(Error::Cancelled(_))), "{ended:?}");
    run_until_complete(&ev, ev.shutdown_default_executor(None))
        .unwrap()
        .unwrap();
}
