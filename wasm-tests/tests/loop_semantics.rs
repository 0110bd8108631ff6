//! Loop semantics from the points 13-17: futures of another loop, unretrieved task
//! failures, a failing custom exception handler, `ThreadsafeHandle` cancellation while its
//! callback runs, and scoped IPv6 literals.
//!
//! Tests that make a task or a handler panic need unwinding: they are skipped by name only
//! in a `panic=abort` guest, as in `exceptions.rs`. Tests that start threads are skipped in
//! the guest by name (`#[cfg_attr(target_os = "wasi", ignore = ...)]`), as in `threads.rs`.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

use twinloop::{Error, EventLoop, ExceptionContext, Family, ThreadsafeHandle};
use wasm_tests::*;

/// A generous bound: a refused future is refused in the first iteration, a hang is caught.
const PROMPTLY: Duration = Duration::from_secs(10);

fn is_foreign_loop_error(outcome: &twinloop::Result<impl std::fmt::Debug>) -> bool {
    matches!(outcome, Err(Error::InvalidArgument(msg)) if msg.contains("different event loop"))
}

// 13. A future of another loop.

#[test]
fn run_until_complete_of_another_loops_future_fails_at_once() {
    let ev = new_loop();
    let other = EventLoop::new().unwrap();
    let foreign = other.create_future::<u8>();
    let outcome = run_until_complete_within(&ev, PROMPTLY, foreign.clone()).unwrap();
    assert!(is_foreign_loop_error(&outcome), "got {outcome:?}");
    assert!(!ev.is_running());
    // The future itself is untouched and still works on its own loop.
    assert!(!foreign.done());
    foreign.set_result(5).unwrap();
    assert_eq!(other.run_until_complete(foreign).unwrap().unwrap(), 5);
}

#[test]
fn run_until_complete_of_another_loops_task_fails_at_once() {
    let ev = new_loop();
    let other = EventLoop::new().unwrap();
    let foreign = other.create_task(async { 7 }).unwrap();
    let outcome = run_until_complete_within(&ev, PROMPTLY, foreign.clone()).unwrap();
    assert!(is_foreign_loop_error(&outcome), "got {outcome:?}");
    assert_eq!(other.run_until_complete(foreign).unwrap().unwrap(), 7);
}

#[test]
fn awaiting_another_loops_future_in_a_task_fails_and_the_task_goes_on() {
    let ev = new_loop();
    let other = EventLoop::new().unwrap();
    let foreign = other.create_future::<u8>();
    let (first, after) = run_until_complete_within(&ev, PROMPTLY, async move {
        let first = foreign.await;
        (first, "went on")
    })
    .unwrap();
    assert!(is_foreign_loop_error(&first), "got {first:?}");
    assert_eq!(after, "went on");
}

#[test]
fn own_loops_future_is_still_awaited_normally() {
    let ev = new_loop();
    let fut = ev.create_future::<u8>();
    let setter = fut.clone();
    ev.call_soon(move |_| setter.set_result(3).unwrap())
        .unwrap();
    assert_eq!(run_until_complete(&ev, fut).unwrap().unwrap(), 3);
}

// 14. Only unretrieved task failures are reported.

/// A task that panics on its second step.
fn doomed(ev: &EventLoop, name: &str) -> twinloop::Task<u32> {
    ev.create_task_named(
        async {
            yield_now().await;
            if true {
                panic!("task exploded");
            }
            1
        },
        name,
    )
    .unwrap()
}

#[test]
#[cfg_attr(
    all(target_os = "wasi", panic = "abort"),
    ignore = "needs unwinding: this guest is built with panic=abort"
)]
fn awaited_panicking_task_is_not_reported() {
    let ev = EventLoop::new().unwrap();
    let (handler, seen) = recording_handler();
    ev.set_exception_handler(Some(handler));
    let task = doomed(&ev, "awaited");
    // Awaited by another task (not by run_until_complete itself).
    let outcome = run_until_complete(&ev, async move {
        yield_now().await;
        task.await
    })
    .unwrap();
    assert!(matches!(&outcome, Err(Error::Panic(m)) if m.contains("task exploded")));
    run_once(&ev).unwrap();
    assert!(seen.borrow().is_empty(), "reported: {:?}", seen.borrow());
}

#[test]
#[cfg_attr(
    all(target_os = "wasi", panic = "abort"),
    ignore = "needs unwinding: this guest is built with panic=abort"
)]
fn panicking_task_whose_result_was_read_is_not_reported_when_dropped() {
    let ev = EventLoop::new().unwrap();
    let (handler, seen) = recording_handler();
    ev.set_exception_handler(Some(handler));
    let task = doomed(&ev, "read");
    task.add_done_callback(|f| f.get_loop().unwrap().stop());
    run_forever(&ev).unwrap();
    assert!(matches!(task.result(), Err(Error::Panic(_))));
    drop(task);
    assert!(seen.borrow().is_empty(), "reported: {:?}", seen.borrow());
}

#[test]
#[cfg_attr(
    all(target_os = "wasi", panic = "abort"),
    ignore = "needs unwinding: this guest is built with panic=abort"
)]
fn panicking_task_dropped_unretrieved_is_reported_once() {
    let ev = EventLoop::new().unwrap();
    let (handler, seen) = recording_handler();
    ev.set_exception_handler(Some(handler));
    drop(doomed(&ev, "forgotten"));
    let rec = Recorder::new();
    ev.call_soon(rec.pusher("loop goes on")).unwrap();
    // Turns until the report, then a few more to see it is not repeated. Not a timer: a
    // panic can take longer than a few milliseconds (a backtrace under Wine takes ~1 s).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seen.borrow().is_empty() && std::time::Instant::now() < deadline {
        run_once(&ev).unwrap();
    }
    for _ in 0..3 {
        run_once(&ev).unwrap();
    }
    assert_eq!(rec.get(), ["loop goes on"]);
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1, "contexts: {seen:?}");
    assert_eq!(seen[0].message, "Task exception was never retrieved");
    assert!(matches!(&seen[0].error, Some(Error::Panic(m)) if m.contains("task exploded")));
    assert_eq!(seen[0].task.as_deref(), Some("forgotten"));
}

#[test]
#[cfg_attr(
    all(target_os = "wasi", panic = "abort"),
    ignore = "needs unwinding: this guest is built with panic=abort"
)]
fn panicking_task_is_reported_when_its_last_handle_goes_unretrieved() {
    let ev = EventLoop::new().unwrap();
    let (handler, seen) = recording_handler();
    ev.set_exception_handler(Some(handler));
    let task = doomed(&ev, "held");
    let clone = task.clone();
    task.add_done_callback(|f| f.get_loop().unwrap().stop());
    run_forever(&ev).unwrap();
    assert!(task.done() && !task.cancelled());
    assert!(seen.borrow().is_empty(), "reported too early");
    drop(task);
    assert!(seen.borrow().is_empty(), "a clone is still alive");
    drop(clone);
    assert_eq!(seen.borrow().len(), 1);
    assert_eq!(seen.borrow()[0].task.as_deref(), Some("held"));
}

// 15. A failing custom handler: the log shows the original context too.

#[test]
fn exception_context_display_shows_the_original_context() {
    let mut original = ExceptionContext::new("Exception in callback <Handle>")
        .with_error(Error::Panic("callback exploded".into()));
    original.handle = Some("<Handle>".into());
    let mut report = ExceptionContext::new("Unhandled error in exception handler")
        .with_error(Error::Panic("handler exploded".into()));
    report.context = Some(Box::new(original));
    let text = report.to_string();
    assert!(
        text.starts_with("Unhandled error in exception handler\nerror: panicked: handler"),
        "{text}"
    );
    assert!(
        text.contains("\ncontext: Exception in callback <Handle>"),
        "{text}"
    );
    assert!(text.contains("\n    handle: <Handle>"), "{text}");
    assert!(
        text.ends_with("\n    error: panicked: callback exploded"),
        "{text}"
    );
}

#[test]
#[cfg_attr(
    all(target_os = "wasi", panic = "abort"),
    ignore = "needs unwinding: this guest is built with panic=abort"
)]
fn panicking_custom_handler_logs_its_failure_with_the_original_context() {
    log_capture::start();
    let ev = EventLoop::new().unwrap();
    ev.set_exception_handler(Some(Rc::new(|_: &EventLoop, _: &ExceptionContext| {
        panic!("handler exploded")
    })));
    ev.call_soon(|_| panic!("callback exploded")).unwrap();
    ev.call_soon(|ev| ev.stop()).unwrap();
    run_forever(&ev).unwrap();
    let lines = log_capture::take();
    let report = lines
        .iter()
        .find(|l| l.contains("Unhandled error in exception handler"))
        .unwrap_or_else(|| panic!("no report in the log: {lines:?}"));
    assert!(report.starts_with("ERROR "), "{report}");
    for part in [
        "handler exploded",
        "Exception in callback",
        "callback exploded",
    ] {
        assert!(report.contains(part), "{part:?} missing from {report}");
    }
}

// 16. ThreadsafeHandle::cancel/cancelled while the callback runs.

/// Schedules (from the loop's thread) a callback that signals its start, works for a
/// while, records that it finished and stops the loop; another thread waits for the
/// start and then calls `probe` on the handle, recording whether the callback had
/// finished by the time `probe` returned.
fn probe_while_running(probe: fn(&ThreadsafeHandle)) -> bool {
    let ev = new_loop();
    let (started_tx, started_rx) = mpsc::channel();
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    let handle = ev
        .remote()
        .call_soon_threadsafe(move |ev| {
            started_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(200));
            f.store(true, Ordering::SeqCst);
            ev.stop();
        })
        .unwrap();
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    let thread = spawn(move || {
        started_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the callback never started");
        probe(&handle);
        *s.lock().unwrap() = Some(finished.load(Ordering::SeqCst));
    });
    run_forever(&ev).unwrap();
    thread.join();
    let seen = seen.lock().unwrap().expect("the thread recorded nothing");
    seen
}

#[test]
#[cfg_attr(target_os = "wasi", ignore = "needs threads: the guest has none")]
fn threadsafe_cancel_from_another_thread_waits_for_the_running_callback() {
    assert!(
        probe_while_running(|h| {
            h.cancel();
            assert!(h.cancelled());
        }),
        "cancel() returned while the callback was still running"
    );
}

#[test]
#[cfg_attr(target_os = "wasi", ignore = "needs threads: the guest has none")]
fn threadsafe_cancelled_from_another_thread_waits_for_the_running_callback() {
    assert!(
        probe_while_running(|h| assert!(!h.cancelled())),
        "cancelled() returned while the callback was still running"
    );
}

/// A callback that cancels its own handle (it must not wait for itself) and completes.
fn self_cancelling(
    own: Arc<OnceLock<ThreadsafeHandle>>,
    done: Arc<Mutex<Vec<&'static str>>>,
) -> impl FnOnce(&EventLoop) + Send + 'static {
    move |ev| {
        let me = own.get().expect("handle stored before the loop ran");
        me.cancel();
        done.lock().unwrap().push("cancelled itself");
        if me.cancelled() {
            done.lock().unwrap().push("completed");
        }
        ev.stop();
    }
}

#[test]
fn threadsafe_callback_cancelling_its_own_handle_completes() {
    let ev = new_loop();
    let own = Arc::new(OnceLock::new());
    let done = Arc::new(Mutex::new(Vec::new()));
    let handle = ev
        .remote()
        .call_soon_threadsafe(self_cancelling(own.clone(), done.clone()))
        .unwrap();
    own.set(handle.clone()).unwrap();
    run_forever(&ev).unwrap();
    assert_eq!(*done.lock().unwrap(), ["cancelled itself", "completed"]);
    assert!(handle.cancelled());
}

#[test]
#[cfg_attr(target_os = "wasi", ignore = "needs threads: the guest has none")]
fn threadsafe_callback_sent_from_a_thread_cancelling_its_own_handle_completes() {
    let ev = new_loop();
    let own = Arc::new(OnceLock::new());
    let done = Arc::new(Mutex::new(Vec::new()));
    let remote = ev.remote();
    let (o, d) = (own.clone(), done.clone());
    let thread = spawn(move || {
        let handle = remote
            .call_soon_threadsafe(self_cancelling(o.clone(), d))
            .unwrap();
        o.set(handle).unwrap();
    });
    thread.join(); // the handle is stored before the loop runs the callback
    run_forever(&ev).unwrap();
    assert_eq!(*done.lock().unwrap(), ["cancelled itself", "completed"]);
    assert!(own.get().unwrap().cancelled());
}

// 17. Scoped IPv6 literals.

fn getaddrinfo(host: &'static str, family: Family) -> twinloop::Result<Vec<SocketAddr>> {
    let ev = new_loop();
    run_until_complete(&ev, async move {
        twinloop::get_running_loop()?
            .getaddrinfo(host, 8080, family)
            .await
    })
    .unwrap()
}

fn link_local(scope_id: u32) -> SocketAddr {
    let ip = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    SocketAddr::V6(SocketAddrV6::new(ip, 8080, 0, scope_id))
}

#[test]
fn scoped_ipv6_literal_with_a_numeric_scope_is_a_literal() {
    // In the guest a name lookup of these is refused, so success shows it was skipped.
    assert_eq!(
        getaddrinfo("fe80::1%1", Family::Any).unwrap(),
        [link_local(1)]
    );
    assert_eq!(
        getaddrinfo("[fe80::1%2]", Family::V6).unwrap(),
        [link_local(2)]
    );
    assert!(getaddrinfo("fe80::1%1", Family::V4).is_err());
}

#[test]
fn scoped_ipv6_literal_with_an_unknown_interface_is_refused() {
    let outcome = getaddrinfo("fe80::1%no-such-if9", Family::Any);
    assert!(
        matches!(&outcome, Err(Error::InvalidArgument(m)) if m.contains("no-such-if9")),
        "got {outcome:?}"
    );
}

#[test]
fn scoped_ipv6_literal_with_an_interface_name() {
    let outcome = getaddrinfo("fe80::1%lo", Family::Any);
    if cfg!(target_os = "linux") {
        // The loopback interface exists on every Linux machine, with a non-zero index.
        let addrs = outcome.unwrap();
        assert!(
            matches!(addrs[..], [SocketAddr::V6(a)] if a.scope_id() != 0 && a.port() == 8080),
            "{addrs:?}"
        );
    } else if cfg!(target_os = "wasi") {
        // WASI 0.2 has no interface names: a clear refusal, not a failed lookup.
        assert!(
            matches!(&outcome, Err(Error::InvalidArgument(_))),
            "{outcome:?}"
        );
    }
}
