//! `RemoteHandle` and `call_soon_threadsafe`. Tests that start threads are skipped in the
//! guest (it has none); the rest use the remote handle from the loop's own thread, which
//! works on both targets.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use twinloop::{Error, EventLoop};
use wasm_tests::*;

#[test]
#[cfg_attr(target_os = "wasi", ignore = "needs threads: the guest has none")]
fn call_soon_threadsafe_from_a_thread_wakes_a_loop_waiting_on_a_long_timer() {
    let ev = new_loop();
    // Only a one-hour timer: the loop blocks in its poll until the other thread wakes it.
    ev.call_later(Duration::from_secs(3600), |_| {}).unwrap();
    let remote = ev.remote();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let thread = spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        remote
            .call_soon_threadsafe(move |ev| {
                r.store(true, Ordering::SeqCst);
                ev.stop();
            })
            .unwrap();
    });
    let start = ev.time();
    run_forever(&ev).unwrap();
    let waited = ev.time() - start;
    thread.join();
    assert!(ran.load(Ordering::SeqCst));
    assert!(waited < 25.0, "the loop stayed blocked for {waited} s");
}

#[test]
#[cfg_attr(target_os = "wasi", ignore = "needs threads: the guest has none")]
fn remote_stop_from_a_thread_stops_a_blocked_loop() {
    let ev = new_loop();
    ev.call_later(Duration::from_secs(3600), |_| {}).unwrap();
    let remote = ev.remote();
    let thread = spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        remote.stop().unwrap();
    });
    run_forever(&ev).unwrap();
    thread.join();
    assert!(!ev.is_running());
}

#[test]
#[cfg_attr(target_os = "wasi", ignore = "needs threads: the guest has none")]
fn callbacks_from_several_threads_all_run_in_per_thread_order() {
    const THREADS: usize = 4;
    const EACH: usize = 250;
    let ev = new_loop();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (remote, seen, done) = (ev.remote(), seen.clone(), done.clone());
            spawn(move || {
                for i in 0..EACH {
                    let (seen, done) = (seen.clone(), done.clone());
                    remote
                        .call_soon_threadsafe(move |ev| {
                            seen.lock().unwrap().push((t, i));
                            if done.fetch_add(1, Ordering::SeqCst) + 1 == THREADS * EACH {
                                ev.stop();
                            }
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    run_forever(&ev).unwrap();
    for t in threads {
        t.join();
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), THREADS * EACH);
    for t in 0..THREADS {
        let mine: Vec<usize> = seen
            .iter()
            .filter(|(th, _)| *th == t)
            .map(|p| p.1)
            .collect();
        assert_eq!(
            mine,
            (0..EACH).collect::<Vec<_>>(),
            "thread {t} out of order"
        );
    }
}

#[test]
#[cfg_attr(target_os = "wasi", ignore = "needs threads: the guest has none")]
fn waker_from_another_thread_wakes_the_task() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    /// Completes once another thread has set the flag and woken the stored waker.
    struct Signal {
        state: Arc<Mutex<(bool, Option<Waker>)>>,
    }
    impl Future for Signal {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let mut state = self.state.lock().unwrap();
            if state.0 {
                Poll::Ready(())
            } else {
                state.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    let ev = new_loop();
    ev.call_later(Duration::from_secs(3600), |_| {}).unwrap();
    let state = Arc::new(Mutex::new((false, None::<Waker>)));
    let shared = state.clone();
    let thread = spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        let waker = {
            let mut s = shared.lock().unwrap();
            s.0 = true;
            s.1.take()
        };
        waker.expect("the task registered its waker").wake();
    });
    let start = ev.time();
    run_until_complete(&ev, Signal { state }).unwrap();
    thread.join();
    assert!(ev.time() - start < 25.0);
}

#[test]
fn remote_call_soon_threadsafe_on_a_closed_loop_is_loop_closed() {
    let ev = EventLoop::new().unwrap();
    let remote = ev.remote();
    ev.close().unwrap();
    let err = remote.call_soon_threadsafe(|_| {}).unwrap_err();
    assert!(matches!(err, Error::LoopClosed), "got {err:?}");
    assert!(matches!(remote.stop(), Err(Error::LoopClosed)));
}

#[test]
fn remote_call_soon_threadsafe_on_a_dropped_loop_is_loop_closed() {
    let ev = EventLoop::new().unwrap();
    let remote = ev.remote();
    drop(ev);
    assert!(matches!(
        remote.call_soon_threadsafe(|_| {}),
        Err(Error::LoopClosed)
    ));
}

#[test]
fn remote_handle_from_the_loop_thread_runs_callbacks_in_order() {
    let ev = new_loop();
    let remote = ev.remote();
    let seen = Arc::new(Mutex::new(Vec::new()));
    for i in 0..5 {
        let s = seen.clone();
        remote
            .call_soon_threadsafe(move |_| s.lock().unwrap().push(i))
            .unwrap();
    }
    run_once(&ev).unwrap();
    assert_eq!(*seen.lock().unwrap(), [0, 1, 2, 3, 4]);
}

#[test]
fn remote_handle_from_a_callback_runs_on_the_next_iteration() {
    let ev = new_loop();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    ev.call_soon(move |ev| {
        s.lock().unwrap().push("callback");
        let s2 = s.clone();
        ev.remote()
            .call_soon_threadsafe(move |_| s2.lock().unwrap().push("remote"))
            .unwrap();
        ev.stop();
    })
    .unwrap();
    run_forever(&ev).unwrap();
    assert_eq!(*seen.lock().unwrap(), ["callback"]);
    run_once(&ev).unwrap();
    assert_eq!(*seen.lock().unwrap(), ["callback", "remote"]);
}

#[test]
fn remote_handle_keeps_fifo_with_call_soon_on_the_loop_thread() {
    // On the loop's own thread (the only use the guest has) a RemoteHandle "behaves like
    // call_soon", so the order of interleaved calls is kept.
    let ev = new_loop();
    let remote = ev.remote();
    let seen = Arc::new(Mutex::new(Vec::new()));
    for i in 0..3 {
        let s = seen.clone();
        ev.call_soon(move |_| s.lock().unwrap().push(format!("soon {i}")))
            .unwrap();
        let s = seen.clone();
        remote
            .call_soon_threadsafe(move |_| s.lock().unwrap().push(format!("remote {i}")))
            .unwrap();
    }
    run_once(&ev).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        ["soon 0", "remote 0", "soon 1", "remote 1", "soon 2", "remote 2"]
    );
}

#[test]
fn threadsafe_handle_cancelled_before_the_loop_runs_never_runs() {
    let ev = new_loop();
    let remote = ev.remote();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let handle = remote
        .call_soon_threadsafe(move |_| r.store(true, Ordering::SeqCst))
        .unwrap();
    assert!(!handle.cancelled());
    handle.cancel();
    handle.cancel();
    assert!(handle.cancelled());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    remote
        .call_soon_threadsafe(move |_| s.lock().unwrap().push("live"))
        .unwrap();
    run_once(&ev).unwrap();
    run_once(&ev).unwrap();
    assert!(
        !ran.load(Ordering::SeqCst),
        "a cancelled threadsafe callback ran"
    );
    assert_eq!(*seen.lock().unwrap(), ["live"]);
}

#[test]
fn threadsafe_handle_cancel_after_run_is_harmless() {
    let ev = new_loop();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let handle = ev
        .remote()
        .call_soon_threadsafe(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    run_once(&ev).unwrap();
    handle.cancel();
    assert!(handle.cancelled());
    run_once(&ev).unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[test]
fn remote_stop_from_the_loop_thread_stops_the_run() {
    let ev = new_loop();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    ev.call_soon(move |ev| {
        ev.remote().stop().unwrap();
        s.lock().unwrap().push(1);
    })
    .unwrap();
    // Without the remote stop this run would only end at the guard (a test failure).
    run_forever(&ev).unwrap();
    assert_eq!(*seen.lock().unwrap(), [1]);
}

#[test]
fn remote_handle_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<twinloop::RemoteHandle>();
    fn assert_send<T: Send>() {}
    assert_send::<twinloop::ThreadsafeHandle>();
    assert_send::<Error>();
}

#[test]
fn close_drops_threadsafe_callbacks_that_never_ran() {
    struct Flag(Arc<AtomicUsize>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let ev = new_loop();
    let remote = ev.remote();
    let drops = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicBool::new(false));
    let (flag, r) = (Flag(drops.clone()), ran.clone());
    remote
        .call_soon_threadsafe(move |_| {
            let _ = &flag;
            r.store(true, Ordering::SeqCst);
        })
        .unwrap();
    ev.close().unwrap();
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "close() kept the queued callback"
    );
    assert!(!ran.load(Ordering::SeqCst));
}
