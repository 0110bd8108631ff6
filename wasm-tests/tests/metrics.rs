//! `EventLoop::metrics` and `Transport::metrics`: callbacks, task steps, turns, I/O events,
//! bytes both ways per transport and per loop, time waiting in poll, slow callbacks in
//! debug mode only.

use std::time::Duration;

use twinloop::sleep;
use wasm_tests::tcp_support::{connect, run_tcp, serve, stream_chunk, PeerOptions};
use wasm_tests::{new_loop, run_until_complete};

#[test]
fn a_new_loop_has_done_nothing() {
    let ev = new_loop();
    let m = ev.metrics();
    assert_eq!(m, twinloop::LoopMetrics::default());
    assert_eq!(m.io_events_per_turn(), 0.0);
}

#[test]
fn callbacks_and_task_steps_are_counted() {
    let ev = new_loop();
    for _ in 0..3 {
        ev.call_soon(|_| {}).unwrap();
    }
    let task = ev
        .create_task(async {
            sleep(Duration::ZERO).await?; // one step, then one more
            Ok::<_, twinloop::Error>(7)
        })
        .unwrap();
    assert_eq!(run_until_complete(&ev, task).unwrap().unwrap().unwrap(), 7);
    let m = ev.metrics();
    // run_until_complete's own task and the inner one: two steps each, at least.
    assert!(m.task_steps >= 3, "{m:?}");
    assert!(m.callbacks >= 3, "{m:?}");
    assert!(m.turns >= 2, "{m:?}");
    let before = ev.metrics().callbacks;
    ev.call_soon(|ev| ev.stop()).unwrap();
    ev.run_forever().unwrap();
    assert_eq!(ev.metrics().callbacks, before + 1);
}

#[test]
fn waiting_for_a_timer_is_poll_wait_not_busy() {
    let ev = new_loop();
    ev.call_later(Duration::from_millis(30), |ev| ev.stop())
        .unwrap();
    ev.run_forever().unwrap();
    assert_eq!(
        ev.metrics().poll_wait,
        Duration::ZERO,
        "not timed by default"
    );
    ev.set_metrics_timing(true);
    ev.call_later(Duration::from_millis(30), |ev| ev.stop())
        .unwrap();
    ev.run_forever().unwrap();
    let m = ev.metrics();
    // The loop cannot get past a 30 ms timer without waiting for it (a lower bound only).
    assert!(m.poll_wait >= Duration::from_millis(20), "{m:?}");
    assert!(m.busy < m.poll_wait, "{m:?}");
}

#[test]
fn slow_callbacks_are_counted_in_debug_mode_only() {
    let ev = new_loop();
    ev.set_slow_callback_duration(Duration::from_millis(5));
    let slow = |_: &twinloop::EventLoop| std::thread::sleep(Duration::from_millis(10));
    ev.call_soon(slow).unwrap();
    ev.call_soon(|ev| ev.stop()).unwrap();
    ev.run_forever().unwrap();
    assert_eq!(
        ev.metrics().slow_callbacks,
        0,
        "not timed outside debug mode"
    );
    ev.set_debug(true);
    ev.call_soon(slow).unwrap();
    ev.call_soon(|ev| ev.stop()).unwrap();
    ev.run_forever().unwrap();
    assert_eq!(ev.metrics().slow_callbacks, 1);
}

#[test]
fn bytes_and_io_events_of_an_echo() {
    let sent = run_tcp(|ev| async move {
        let server = serve(&ev, PeerOptions::echo()).await?;
        let (client, log) = connect(&ev, server.port, PeerOptions::default()).await?;
        let data = stream_chunk(0, 100_000);
        client.write(&data)?;
        log.until(&ev, "the echo", |l| l.received == 100_000)
            .await?;
        let m = client.metrics();
        assert_eq!((m.bytes_written, m.bytes_read), (100_000, 100_000));
        let server_side = server.peer(&ev, 0).await?.get(|l| l.transport());
        let s = server_side.metrics();
        assert_eq!((s.bytes_read, s.bytes_written), (100_000, 100_000));
        client.close();
        server.shut_down().await?;
        Ok::<_, twinloop::Error>(ev.metrics())
    });
    // Both ends ran on this loop: each byte was read twice and written twice.
    assert_eq!(sent.bytes_written, 200_000);
    assert_eq!(sent.bytes_read, 200_000);
    assert!(sent.io_events >= 2, "{sent:?}");
    assert!(sent.io_events_per_turn() > 0.0);
}
