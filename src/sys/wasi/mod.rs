//! The WASI 0.2 backend: `wasi:io/poll` for waiting, `wasi:clocks/monotonic-clock` for the
//! timer, `wasi:sockets` for the network.

use std::io;
use std::time::Duration;

use wasi::clocks::monotonic_clock;
use wasi::io::poll::{self, Pollable};

use super::Event;

mod pthread_stubs;

/// Name of this target in `Error::Unsupported`.
pub(crate) const TARGET: &str = "wasm32-wasip1";
/// The guest is single-threaded: nothing can call into the loop while it is blocked.
pub(crate) const HAS_THREADS: bool = false;

/// The loop's poller. It keeps the pollables of interest in one list, indexed by position,
/// and hands that list plus one clock pollable to a single `poll` call per iteration.
pub(crate) struct Reactor {
    /// Pollables of interest, parallel to `tokens`.
    pollables: Vec<Pollable>,
    tokens: Vec<(usize, bool)>,
}

/// No other thread exists in the guest, so there is never anyone to wake.
#[derive(Clone)]
pub(crate) struct Waker;

impl Waker {
    pub(crate) fn wake(&self) {}
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Self> {
        Ok(Reactor {
            pollables: Vec::new(),
            tokens: Vec::new(),
        })
    }

    pub(crate) fn waker(&self) -> Waker {
        Waker
    }

    /// One `wasi:io/poll.poll` over every pollable of interest and the timer.
    pub(crate) fn poll(
        &mut self,
        timeout: Option<Duration>,
        out: &mut Vec<Event>,
    ) -> io::Result<()> {
        if self.pollables.is_empty() {
            match timeout {
                Some(t) if t.is_zero() => return Ok(()),
                Some(t) => {
                    monotonic_clock::subscribe_duration(duration_ns(t)).block();
                    return Ok(());
                }
                // Nothing can ever become ready: waiting forever would hang the guest.
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "poll with no timeout and nothing to wait for",
                    ))
                }
            }
        }
        let timer = timeout.map(|t| monotonic_clock::subscribe_duration(duration_ns(t)));
        let mut list: Vec<&Pollable> = Vec::with_capacity(self.pollables.len() + 1);
        list.extend(self.pollables.iter());
        if let Some(timer) = &timer {
            list.push(timer);
        }
        let ready = poll::poll(&list);
        for index in ready {
            if let Some(&(token, writable)) = self.tokens.get(index as usize) {
                out.push(Event {
                    token,
                    readable: !writable,
                    writable,
                });
            }
        }
        Ok(())
    }
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
