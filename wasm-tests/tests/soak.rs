//! Hard days, bounded: many connections at once with every byte checked, a large transfer
//! through one connection checked end to end, connect/close cycles that leave no
//! descriptor behind, and a storm of timers while serving. The sizes here keep the suite
//! short; `cargo xtask soak` runs the same tests with the long sizes (10k connections,
//! 1 GiB, 100k cycles, 1M timers) by setting `TWINLOOP_SOAK=1`.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use twinloop::{EventLoop, Result};
use wasm_tests::tcp_support::{connect, run_tcp, serve, stream_chunk, PeerOptions};

/// One soak test at a time: they are heavy, and one counts the process's descriptors.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The long sizes, when `cargo xtask soak` asks for them (natively only: the guest sees
/// no environment unless its host passes it).
fn soak() -> bool {
    std::env::var_os("TWINLOOP_SOAK").is_some_and(|v| !v.is_empty())
}

/// `short` in the suite, `long` under `cargo xtask soak`.
fn size(short: usize, long: usize) -> usize {
    if soak() {
        long
    } else {
        short
    }
}

/// Lets this process open `want` descriptors if its hard limit allows; returns how many
/// connections (two descriptors each, both ends live here) fit.
fn connections_that_fit(want: usize) -> usize {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit with a valid, initialised struct for this process.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
                let need = (2 * want + 64) as libc::rlim_t;
                if lim.rlim_cur < need {
                    lim.rlim_cur = need.min(lim.rlim_max);
                    libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
                    libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
                }
            }
        }
        want.min((lim.rlim_cur as usize).saturating_sub(64) / 2)
    }
    #[cfg(not(unix))]
    want
}

/// Descriptors open in this process, where the OS tells (Linux's /proc; not under Wine,
/// where /proc shows Wine's own descriptors, which come and go).
fn open_fds() -> Option<usize> {
    if !cfg!(unix) {
        return None;
    }
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count())
}

#[test]
fn many_connections_at_once_every_byte_checked() {
    let _serial = one_at_a_time();
    let want = if cfg!(target_os = "wasi") {
        100
    } else {
        size(1000, 10_000)
    };
    let conns = connections_that_fit(want);
    assert!(
        conns >= want.min(400),
        "only {conns} connections fit the fd limit"
    );
    const EACH: usize = 4096;
    let verified = run_tcp(move |ev| async move {
        let server = serve(&ev, PeerOptions::echo()).await?;
        let check = PeerOptions {
            check_stream: true,
            keep_data: false,
            ..PeerOptions::default()
        };
        let mut clients = Vec::with_capacity(conns);
        for _ in 0..conns {
            let (t, log) = connect(&ev, server.port, check).await?;
            t.write(&stream_chunk(0, EACH))?;
            clients.push((t, log));
        }
        let mut verified = 0u64;
        for (t, log) in &clients {
            log.until(&ev, "every echo", |l| l.received == EACH as u64)
                .await?;
            assert_eq!(log.get(|l| l.stream_mismatch), None);
            verified += log.get(|l| l.received);
            t.close();
        }
        server.shut_down().await?;
        Ok::<_, twinloop::Error>(verified)
    });
    assert_eq!(verified, (conns * EACH) as u64);
}

#[test]
fn a_large_transfer_through_one_connection_arrives_intact() {
    let _serial = one_at_a_time();
    let total = if cfg!(target_os = "wasi") {
        4 << 20
    } else {
        size(32 << 20, 1 << 30)
    };
    const CHUNK: usize = 256 * 1024;
    let received = run_tcp(move |ev| async move {
        let server = serve(&ev, PeerOptions::echo()).await?;
        let check = PeerOptions {
            check_stream: true,
            keep_data: false,
            ..PeerOptions::default()
        };
        let (t, log) = connect(&ev, server.port, check).await?;
        let mut sent = 0usize;
        while sent < total {
            // Flow control: keep at most a few chunks in flight.
            log.until(&ev, "the echo to catch up", |l| {
                sent as u64 - l.received <= 4 * CHUNK as u64
            })
            .await?;
            let n = CHUNK.min(total - sent);
            t.write(&stream_chunk(sent as u64, n))?;
            sent += n;
        }
        log.until(&ev, "the whole echo", |l| l.received == total as u64)
            .await?;
        assert_eq!(log.get(|l| l.stream_mismatch), None, "every byte as sent");
        t.close();
        server.shut_down().await?;
        Ok::<_, twinloop::Error>(log.get(|l| l.received))
    });
    assert_eq!(received, total as u64);
}

#[test]
fn connect_close_cycles_leave_no_descriptor_behind() {
    let _serial = one_at_a_time();
    let cycles = if cfg!(target_os = "wasi") {
        200
    } else {
        size(2000, 100_000)
    };
    // In batches of at most 2000, each on a loop of its own within the suite's time
    // limit; the descriptors are the process's, counted before the first and after the
    // last.
    let batch = |n: usize, count: bool| {
        run_tcp(move |ev| async move {
            let server = serve(&ev, PeerOptions::echo()).await?;
            // Warm up (the loop's own descriptors, the resolver), then count.
            let (t, _) = connect(&ev, server.port, PeerOptions::default()).await?;
            t.close();
            settle(&ev).await?;
            let before = open_fds().filter(|_| count);
            for _ in 0..n {
                let (t, log) = connect(&ev, server.port, PeerOptions::default()).await?;
                t.close();
                log.until(&ev, "the close", |l| l.is_lost()).await?;
            }
            settle(&ev).await?;
            let after = open_fds().filter(|_| count);
            server.shut_down().await?;
            Ok::<_, twinloop::Error>((before, after))
        })
    };
    let mut left = cycles;
    let (before, mut after) = (batch(0, true).0, None);
    while left > 0 {
        let n = left.min(2000);
        left -= n;
        after = batch(n, true).1;
    }
    if let (Some(before), Some(after)) = (before, after) {
        assert_eq!(after, before, "descriptors after {cycles} cycles");
    }
}

/// Lets accepted connections see their peers' close (the server side of the last cycles).
async fn settle(ev: &EventLoop) -> Result<()> {
    for _ in 0..20 {
        ev.sleep(Duration::from_millis(5)).await?;
    }
    Ok(())
}

#[test]
fn a_timer_storm_while_serving() {
    let _serial = one_at_a_time();
    let timers = if cfg!(target_os = "wasi") {
        50_000
    } else {
        size(200_000, 1_000_000)
    };
    let fired = Rc::new(Cell::new(0usize));
    let counted = fired.clone();
    run_tcp(move |ev| async move {
        let server = serve(&ev, PeerOptions::echo()).await?;
        let (t, log) = connect(&ev, server.port, PeerOptions::default()).await?;
        for i in 0..timers {
            let fired = counted.clone();
            // Spread over 0..200 ms, every third one cancelled.
            let delay = Duration::from_micros((i as u64 * 7919) % 200_000);
            let handle = ev.call_later(delay, move |_| fired.set(fired.get() + 1))?;
            if i % 3 == 0 {
                handle.cancel();
            }
        }
        // Round trips go on while the timers fire.
        for round in 1..=50u64 {
            t.write(&[7u8; 100])?;
            log.until(&ev, "a round trip", |l| l.received == round * 100)
                .await?;
        }
        ev.sleep(Duration::from_millis(250)).await?;
        t.close();
        server.shut_down().await?;
        Ok::<_, twinloop::Error>(())
    });
    let live = timers - timers.div_ceil(3);
    assert_eq!(fired.get(), live, "every live timer fired once");
}
