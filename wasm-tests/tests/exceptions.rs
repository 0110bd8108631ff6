//! The exception handler: defaults, custom handlers, panicking callbacks and tasks.
//!
//! Tests that make a callback, a task or a handler panic need the loop to catch the panic:
//! they run in guests built with `panic=unwind` (the default) and are skipped by name in a
//! `panic=abort` guest.

use std::cell::Cell;
use std::rc::Rc;

use twinloop::{Error, EventLoop, ExceptionContext};
use wasm_tests::*;

#[test]
fn exception_handler_is_none_by_default() {
    let ev = EventLoop::new().unwrap();
    assert!(ev.get_exception_handler().is_none());
}

#[test]
fn set_exception_handler_round_trips() {
    let ev = EventLoop::new().unwrap();
    let (handler, _) = recording_handler();
    ev.set_exception_handler(Some(handler.clone()));
    let got = ev.get_exception_handler().expect("handler set");
    assert!(Rc::ptr_eq(&got, &handler));
    ev.set_exception_handler(None);
    assert!(ev.get_exception_handler().is_none());
}

#[test]
fn call_exception_handler_calls_the_custom_handler() {
    let ev = EventLoop::new().unwrap();
    let (handler, seen) = recording_handler();
    let same_loop = Rc::new(Cell::new(false));
    let (s, expected) = (same_loop.clone(), ev.clone());
    let inner = handler.clone();
    ev.set_exception_handler(Some(Rc::new(
        move |ev: &EventLoop, ctx: &ExceptionContext| {
            s.set(ev.ptr_eq(&expected));
            inner(ev, ctx);
        },
    )));
    ev.call_exception_handler(&ExceptionContext::new("custom report").with_error(Error::Timeout));
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].message, "custom report");
    assert!(matches!(seen[0].error, Some(Error::Timeout)));
    assert!(same_loop.get(), "the handler got another loop");
}

#[test]
fn set_exception_handler_none_restores_the_default() {
    let ev = EventLoop::new().unwrap();
    let (handler, seen) = recording_handler();
    ev.set_exception_handler(Some(handler));
    ev.call_exception_handler(&ExceptionContext::new("one"));
    ev.set_exception_handler(None);
    // The default handler only logs: the old custom handler is not called.
    ev.call_exception_handler(&ExceptionContext::new("two"));
    ev.default_exception_handler(&ExceptionContext::new("three"));
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].message, "one");
}

#[test]
fn exception_context_displays_its_fields() {
    let mut ctx = ExceptionContext::new("it broke").with_error(Error::Panic("boom".into()));
    ctx.task = Some("Task-9".into());
    let text = ctx.to_string();
    assert!(text.starts_with("it broke"), "{text}");
    assert!(text.contains("Task-9"), "{text}");
    assert!(text.contains("boom"), "{text}");
}

#[test]
#[cfg_attr(
    all(target_os = "wasi", panic = "abort"),
    ignore = "needs unwinding: this guest is built with panic=abort"
)]
fn panicking_callback_reaches_the_handler_and_the_loop_goes_on() {
    let ev = EventLoop::new().unwrap();
    let (handler, seen) = recording_handler();
    ev.set_exception_handler(Some(handler));
    let after = Recorder::new();
    ev.call_soon(|_| panic!("callback exploded")).unwrap();
    ev.call_soon(after.pusher("same batch")).unwrap();
    let rec = after.clone();
    ev.call_soon(move |ev| {
        ev.call_soon(rec.pusher("next batch")).unwrap();
    })
    .unwrap();
    ev.call_later(std::time::Duration::from_millis(5), |ev| ev.stop())
        .unwrap();
    run_forever(&ev).unwrap();
    assert_eq!(after.get(), ["same batch", "next batch"]);
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1, "contexts: {seen:?}");
    let ctx = &seen[0];
    assert!(
        ctx.message.starts_with("Exception in callback"),
        "message: {}",
        ctx.message
    );
    match &ctx.error {
        Some(Error::Panic(msg)) => assert!(msg.contains("callback exploded"), "{msg}"),
        other => panic!("expected Error::Panic, got {other:?}"),
    }
    assert!(ctx.handle.is_some(), "the context names the handle");
}

#[test]
#[cfg_attr(
    all(target_os = "wasi", panic = "abort"),
    ignore = "needs unwinding: this guest is built with panic=abort"
)]
fn panicking_timer_callback_reaches_the_handler() {
    let ev = EventLoop::new().unwrap();
    let (handler, seen) = recording_handler();
    ev.set_exception_handler(Some(handler));
    ev.call_later(std::time::Duration::from_millis(1), |_| {
        panic!("timer exploded")
    })
    .unwrap();
    ev.call_later(std::time::Duration::from_millis(5), |ev| ev.stop())
        .unwrap();
    run_forever(&ev).unwrap();
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].message.starts_with("Exception in callback"));
    assert!(matches!(&seen[0].error, Some(Error::Panic(m)) if m.contains("timer exploded")));
}

#[test]
#[cfg_attr(
    all(target_os = "wasi", panic = "abort"),
    ignore = "needs unwinding: this guest is built with panic=abort"
)]
fn panicking_task_result_is_panic_and_once_taken_it_is_not_reported() {
    let ev = EventLoop::new().unwrap();
    let (handler, seen) = recording_handler();
    ev.set_exception_handler(Some(handler));
    let task = ev
        .create_task_named(
            async {
                yield_now().await;
                if true {
                    panic!("task exploded");
                }
                1
            },
            "doomed",
        )
        .unwrap();
    let out = run_until_complete(&ev, task).unwrap();
    match out {
        Err(Error::Panic(msg)) => assert!(msg.contains("task exploded"), "{msg}"),
        other => panic!("expected Err(Panic), got {other:?}"),
    }
    // run_until_complete took the failure: nothing is "never retrieved" (asyncio reports
    // only unretrieved task exceptions; see loop_semantics.rs).
    assert!(seen.borrow().is_empty(), "contexts: {:?}", seen.borrow());
    // The loop goes on.
    assert_eq!(run_until_complete(&ev, async { 2 }).unwrap(), 2);
}

#[test]
#[cfg_attr(
    all(target_os = "wasi", panic = "abort"),
    ignore = "needs unwinding: this guest is built with panic=abort"
)]
fn run_until_complete_of_a_panicking_future_is_panic() {
    let ev = EventLoop::new().unwrap();
    let out = ev.run_until_complete(async {
        if true {
            panic!("top-level exploded");
        }
    });
    match out {
        Err(Error::Panic(msg)) => assert!(msg.contains("top-level exploded"), "{msg}"),
        other => panic!("expected Err(Panic), got {other:?}"),
    }
    assert!(!ev.is_running());
    assert_eq!(ev.run_until_complete(async { 3 }).unwrap(), 3);
}

#[test]
#[cfg_attr(
    all(target_os = "wasi", panic = "abort"),
    ignore = "needs unwinding: this guest is built with panic=abort"
)]
fn panicking_custom_handler_does_not_stop_the_loop() {
    let ev = EventLoop::new().unwrap();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    ev.set_exception_handler(Some(Rc::new(
        move |_ev: &EventLoop, _ctx: &ExceptionContext| {
            c.set(c.get() + 1);
            panic!("handler exploded");
        },
    )));
    let after = Recorder::new();
    ev.call_soon(|_| panic!("callback exploded")).unwrap();
    ev.call_soon(after.pusher("after")).unwrap();
    ev.call_soon(|ev| ev.stop()).unwrap();
    run_forever(&ev).unwrap();
    assert_eq!(calls.get(), 1);
    assert_eq!(after.get(), ["after"]);
    // Called directly too, a panicking handler does not unwind into the caller.
    ev.call_exception_handler(&ExceptionContext::new("direct"));
    assert_eq!(calls.get(), 2);
}

#[test]
#[cfg_attr(
    all(target_os = "wasi", panic = "abort"),
    ignore = "needs unwinding: this guest is built with panic=abort"
)]
fn debug_mode_reports_where_the_failing_callback_was_scheduled() {
    let ev = EventLoop::new().unwrap();
    ev.set_debug(true);
    let (handler, seen) = recording_handler();
    ev.set_exception_handler(Some(handler));
    let line = line!() + 1;
    ev.call_soon(|_| panic!("debug exploded")).unwrap();
    ev.call_soon(|ev| ev.stop()).unwrap();
    run_forever(&ev).unwrap();
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1);
    let tb = seen[0]
        .source_traceback
        .as_deref()
        .expect("debug mode sets source_traceback");
    assert!(
        tb.contains("exceptions.rs") && tb.contains(&format!(":{line}:")),
        "source_traceback {tb:?} should name exceptions.rs:{line}"
    );
}
