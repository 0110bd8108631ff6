//! add_signal_handler / remove_signal_handler. Signal handlers may only be added from
//! the process's main thread, where libtest runs no test: this binary is `harness =
//! false` and runs its tests on the main thread, one after the other (so no two of them
//! touch signals at once). The tests are skipped by name in the guest and on Windows,
//! which have no POSIX signals; there the last test checks that both calls return
//! `Error::Unsupported` naming themselves.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use twinloop::{signal, Error, EventLoop};
use wasm_tests::os_support::{
    assert_unsupported, kill_self, run_main_thread_tests, MainThreadTest,
};
use wasm_tests::{new_loop, run_forever, spawn};

/// The child mode of `remove_restores_the_default_disposition`: handle SIGTERM, undo it
/// (by `remove_signal_handler`, or by closing the loop), then raise it.
const CHILD_MODE: &str = "TWINLOOP_SIGNALS_CHILD";

fn main() {
    if let Ok(mode) = std::env::var(CHILD_MODE) {
        return child(&mode);
    }
    // Where the loop handles signals, the real tests run; elsewhere, the last one.
    let unix = cfg!(unix)
        .then_some("checks the answer of the guest and Windows; on Unix signals are handled");
    let elsewhere =
        (!cfg!(unix)).then_some("signals are Unix-only: WASI and Windows have no POSIX signals");
    let test = |name, run, ignore| MainThreadTest { name, run, ignore };
    run_main_thread_tests(&[
        test(
            "a_signal_wakes_the_loop_blocked_in_poll",
            a_signal_wakes_the_loop_blocked_in_poll,
            elsewhere,
        ),
        test("one_call_per_delivery", one_call_per_delivery, elsewhere),
        test(
            "invalid_and_uncatchable_signals_are_refused",
            invalid_and_uncatchable_signals_are_refused,
            elsewhere,
        ),
        test(
            "remove_says_whether_a_handler_was_there",
            remove_says_whether_a_handler_was_there,
            elsewhere,
        ),
        test(
            "remove_restores_the_default_disposition",
            remove_restores_the_default_disposition,
            elsewhere,
        ),
        test(
            "other_threads_and_closed_loops_are_refused",
            other_threads_and_closed_loops_are_refused,
            elsewhere,
        ),
        test(
            "signals_are_unsupported_in_the_guest_and_on_windows",
            signals_are_unsupported_in_the_guest_and_on_windows,
            unix,
        ),
    ]);
}

fn add(ev: &EventLoop, sig: i32, f: impl FnMut(&EventLoop) + 'static) {
    ev.add_signal_handler(sig, f).unwrap();
}

fn a_signal_wakes_the_loop_blocked_in_poll() {
    let ev = new_loop();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let loop_thread = std::thread::current().id();
    add(&ev, signal::SIGUSR1, move |ev| {
        assert_eq!(std::thread::current().id(), loop_thread, "runs on the loop");
        c.set(c.get() + 1);
        ev.stop();
    });
    // No timer, no I/O: only the signal can end this poll (the guard is 30 s away).
    let sender = spawn(|| {
        std::thread::sleep(Duration::from_millis(100));
        kill_self(signal::SIGUSR1);
    });
    run_forever(&ev).unwrap();
    sender.join();
    assert_eq!(calls.get(), 1);
    assert!(ev.remove_signal_handler(signal::SIGUSR1).unwrap());
    ev.close().unwrap();
}

fn one_call_per_delivery() {
    let ev = new_loop();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    add(&ev, signal::SIGUSR2, move |ev| {
        c.set(c.get() + 1);
        if c.get() == 3 {
            ev.stop();
        }
    });
    let sender = spawn(|| {
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(30));
            kill_self(signal::SIGUSR2);
        }
    });
    run_forever(&ev).unwrap();
    sender.join();
    // Nothing more is queued: one more turn calls nothing.
    ev.call_later(Duration::from_millis(50), |ev| ev.stop())
        .unwrap();
    run_forever(&ev).unwrap();
    assert_eq!(calls.get(), 3);
    ev.close().unwrap();
}

fn invalid_and_uncatchable_signals_are_refused() {
    let ev = new_loop();
    // Not signals: both calls refuse them (asyncio's ValueError).
    for sig in [0, -1, 1000] {
        let added = ev.add_signal_handler(sig, |_| {});
        assert!(
            matches!(added, Err(Error::InvalidArgument(_))),
            "{sig}: {added:?}"
        );
        let removed = ev.remove_signal_handler(sig);
        assert!(
            matches!(removed, Err(Error::InvalidArgument(_))),
            "{sig}: {removed:?}"
        );
    }
    // Signals that cannot be caught (SIGKILL, SIGSTOP), and the faults whose handler
    // could not return to the faulting code (SIGSEGV, SIGILL, SIGFPE).
    for (name, sig) in refused_signals() {
        let added = ev.add_signal_handler(sig, |_| {});
        assert!(
            matches!(added, Err(Error::InvalidArgument(_))),
            "{name}: {added:?}"
        );
    }
    ev.close().unwrap();
}

#[cfg(unix)]
fn refused_signals() -> [(&'static str, i32); 5] {
    [
        ("SIGKILL", libc::SIGKILL),
        ("SIGSTOP", libc::SIGSTOP),
        ("SIGSEGV", libc::SIGSEGV),
        ("SIGILL", libc::SIGILL),
        ("SIGFPE", libc::SIGFPE),
    ]
}

#[cfg(not(unix))]
fn refused_signals() -> [(&'static str, i32); 0] {
    []
}

fn remove_says_whether_a_handler_was_there() {
    let ev = new_loop();
    assert!(!ev.remove_signal_handler(signal::SIGUSR1).unwrap());
    add(&ev, signal::SIGUSR1, |_| {});
    add(&ev, signal::SIGUSR1, |_| {}); // replaces
    assert!(ev.remove_signal_handler(signal::SIGUSR1).unwrap());
    assert!(!ev.remove_signal_handler(signal::SIGUSR1).unwrap());
    ev.close().unwrap();
}

/// In a child process (this binary again): after remove_signal_handler, or after the
/// loop closes, SIGTERM ends the process again; with the handler, it does not.
fn remove_restores_the_default_disposition() {
    let ev = new_loop();
    add(&ev, signal::SIGUSR1, |_| {});
    ev.close().unwrap();
    #[cfg(unix)]
    for (mode, killed) in [("remove", true), ("close", true), ("keep", false)] {
        use std::os::unix::process::ExitStatusExt;
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .env(CHILD_MODE, mode)
            .status()
            .unwrap();
        if killed {
            assert_eq!(status.signal(), Some(signal::SIGTERM), "{mode}: {status}");
        } else {
            assert!(status.success(), "{mode}: {status}");
        }
    }
}

fn child(mode: &str) {
    let ev = EventLoop::new().unwrap();
    let got = Rc::new(Cell::new(false));
    let g = got.clone();
    ev.add_signal_handler(signal::SIGTERM, move |ev| {
        g.set(true);
        ev.stop();
    })
    .unwrap();
    match mode {
        "remove" => assert!(ev.remove_signal_handler(signal::SIGTERM).unwrap()),
        "close" => ev.close().unwrap(),
        _ => {}
    }
    kill_self(signal::SIGTERM);
    // Still here: the handler caught it (mode "keep"); it runs on the loop.
    ev.call_later(Duration::from_secs(10), |ev| ev.stop())
        .unwrap();
    ev.run_forever().unwrap();
    assert!(got.get(), "the handler ran");
}

fn other_threads_and_closed_loops_are_refused() {
    let ev = new_loop();
    ev.close().unwrap();
    let closed = ev.add_signal_handler(signal::SIGUSR1, |_| {});
    assert!(matches!(closed, Err(Error::LoopClosed)), "{closed:?}");
    spawn(|| {
        let ev = EventLoop::new().unwrap();
        let elsewhere = ev.add_signal_handler(signal::SIGUSR1, |_| {});
        assert!(
            matches!(elsewhere, Err(Error::InvalidState(_))),
            "{elsewhere:?}"
        );
    })
    .join();
}

fn signals_are_unsupported_in_the_guest_and_on_windows() {
    let ev = new_loop();
    let added = ev.add_signal_handler(signal::SIGINT, |_| {});
    assert_unsupported(added, "add_signal_handler");
    let removed = ev.remove_signal_handler(signal::SIGINT);
    assert_unsupported(removed, "remove_signal_handler");
}
