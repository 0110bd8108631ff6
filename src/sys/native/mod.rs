//! The native backend: `mio` (epoll on Linux, kqueue on macOS/BSD, IOCP on Windows).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::Event;

mod lookup;
mod net;
pub(crate) use lookup::{name_info, Lookup};
pub(crate) use net::{TcpListener, TcpStream};

/// Name of this target in `Error::Unsupported`.
pub(crate) const TARGET: &str = std::env::consts::OS;
/// Native targets have threads: `call_soon_threadsafe` can come from elsewhere.
pub(crate) const HAS_THREADS: bool = true;

/// Token reserved for the cross-thread waker.
const WAKER_TOKEN: mio::Token = mio::Token(usize::MAX);

/// The loop's poller: one `mio::Poll` and its event buffer, reused every iteration.
pub(crate) struct Reactor {
    poll: mio::Poll,
    events: mio::Events,
    waker: Waker,
}

/// Wakes a `Reactor` blocked in `poll` from any thread.
#[derive(Clone)]
pub(crate) struct Waker(Arc<mio::Waker>);

impl Waker {
    pub(crate) fn wake(&self) {
        // A failed wake means the poller is gone (loop closed); nothing to wake.
        let _ = self.0.wake();
    }
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Self> {
        let poll = mio::Poll::new()?;
        let waker = Waker(Arc::new(mio::Waker::new(poll.registry(), WAKER_TOKEN)?));
        Ok(Reactor {
            poll,
            events: mio::Events::with_capacity(1024),
            waker,
        })
    }

    pub(crate) fn registry(&self) -> &mio::Registry {
        self.poll.registry()
    }

    pub(crate) fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// One wait. Interruptions by signals count as an empty wake-up.
    pub(crate) fn poll(
        &mut self,
        timeout: Option<Duration>,
        out: &mut Vec<Event>,
    ) -> io::Result<()> {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        for ev in self.events.iter() {
            if ev.token() == WAKER_TOKEN {
                continue;
            }
            out.push(Event {
                token: ev.token().0,
                readable: ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                writable: ev.is_writable() || ev.is_write_closed() || ev.is_error(),
            });
        }
        Ok(())
    }
}
