//! Watching file descriptors: asyncio's `add_reader`, `remove_reader`, `add_writer` and
//! `remove_writer`.
//!
//! One watch per descriptor holds its reader and writer callbacks and its registration
//! with the reactor. The callbacks behave as asyncio's do over `select`: called on every
//! turn while the descriptor stays ready (natively the reactor reports an edge once, so
//! after the callbacks the watch asks the OS whether the descriptor is still ready and,
//! if so, comes back on the next turn).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::io_registry::IoHandler;
use crate::net::connect::unsupported_or;
use crate::registration::Registration;
use crate::sys::{self, Interest};
use crate::EventLoop;

/// A file descriptor number (Unix's `RawFd`), as [`EventLoop::add_reader`] takes it.
pub type RawFd = i32;

type Callback = Rc<RefCell<dyn FnMut(&EventLoop)>>;

/// The watched descriptors of a loop.
#[derive(Default)]
pub(crate) struct FdWatchers(HashMap<RawFd, Rc<FdWatch>>);

impl FdWatchers {
    /// Every registration, for `close` to drop once its borrows have ended.
    pub(crate) fn take_all(&mut self) -> Vec<Registration<sys::FdSource>> {
        self.0
            .drain()
            .filter_map(|(_, watch)| watch.registration.borrow_mut().take())
            .collect()
    }
}

pub(crate) struct FdWatch {
    /// `None` once the watch is forgotten: dropping the registration leaves the reactor
    /// and frees the token (whose handler is this watch: the cycle ends here).
    registration: RefCell<Option<Registration<sys::FdSource>>>,
    reader: RefCell<Option<Callback>>,
    writer: RefCell<Option<Callback>>,
}

#[derive(Clone, Copy)]
enum Direction {
    Read,
    Write,
}

impl FdWatch {
    fn slot(&self, direction: Direction) -> &RefCell<Option<Callback>> {
        match direction {
            Direction::Read => &self.reader,
            Direction::Write => &self.writer,
        }
    }

    fn interest(&self) -> Interest {
        Interest {
            read: self.reader.borrow().is_some(),
            write: self.writer.borrow().is_some(),
        }
    }

    fn update_interest(&self) -> Result<()> {
        let interest = self.interest();
        match self.registration.borrow_mut().as_mut() {
            Some(registration) => registration.set_interest(interest).map_err(Error::from),
            None => Ok(()),
        }
    }

    fn run(&self, ev: &EventLoop, direction: Direction) {
        // A clone, so the callback may remove or replace itself.
        let callback = self.slot(direction).borrow().clone();
        if let Some(callback) = callback {
            (callback.borrow_mut())(ev);
        }
    }
}

impl IoHandler for FdWatch {
    fn io_ready(self: Rc<Self>, ev: &EventLoop, readable: bool, writable: bool) {
        if readable {
            self.run(ev, Direction::Read);
        }
        if writable {
            self.run(ev, Direction::Write);
        }
        if sys::EDGE_TRIGGERED {
            let interest = self.interest();
            if let Some(registration) = self.registration.borrow_mut().as_mut() {
                let again = registration.source_mut().still_ready(interest);
                if again.read || again.write {
                    registration.report_next_turn(again);
                }
            }
        }
    }
}

impl EventLoop {
    /// asyncio's `loop.add_reader(fd, callback)`: calls `callback` on the loop whenever
    /// `fd` is readable (on every turn while it stays so), until
    /// [`EventLoop::remove_reader`]. A second `add_reader` for the same descriptor replaces
    /// the callback. The descriptor stays the program's: remove the reader before closing
    /// it.
    ///
    /// Errors: [`Error::LoopClosed`]; [`Error::Io`] for a descriptor that is not open;
    /// [`Error::Unsupported`] where there are no such descriptors to watch (Windows, the
    /// guest).
    ///
    /// The page's example, watching one end of a socket pair:
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// use std::io::{Read, Write};
    /// use std::os::fd::AsRawFd;
    /// use std::os::unix::net::UnixStream;
    /// let (mut rsock, mut wsock) = UnixStream::pair()?;
    /// let ev = twinloop::EventLoop::new()?;
    /// let fd = rsock.as_raw_fd();
    /// ev.add_reader(fd, move |ev| {
    ///     let mut data = [0; 100];
    ///     let n = rsock.read(&mut data).unwrap();
    ///     println!("Received: {}", String::from_utf8_lossy(&data[..n]));
    ///     ev.remove_reader(fd).unwrap();
    ///     ev.stop();
    /// })?;
    /// wsock.write_all(b"abc")?;
    /// ev.run_forever()?;
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_reader(&self, fd: RawFd, callback: impl FnMut(&EventLoop) + 'static) -> Result<()> {
        self.add_watch(
            fd,
            Direction::Read,
            Rc::new(RefCell::new(callback)),
            "add_reader",
        )
    }

    /// asyncio's `loop.add_writer(fd, callback)`: as [`EventLoop::add_reader`], for
    /// writability.
    pub fn add_writer(&self, fd: RawFd, callback: impl FnMut(&EventLoop) + 'static) -> Result<()> {
        self.add_watch(
            fd,
            Direction::Write,
            Rc::new(RefCell::new(callback)),
            "add_writer",
        )
    }

    /// asyncio's `loop.remove_reader(fd)`: stops watching `fd` for reading; true if it was
    /// watched. On a closed loop, false.
    ///
    /// ```
    /// let ev = twinloop::EventLoop::new()?;
    /// assert!(!ev.remove_reader(0)?); // nothing was watching stdin
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn remove_reader(&self, fd: RawFd) -> Result<bool> {
        self.remove_watch(fd, Direction::Read)
    }

    /// asyncio's `loop.remove_writer(fd)`: as [`EventLoop::remove_reader`], for writing.
    pub fn remove_writer(&self, fd: RawFd) -> Result<bool> {
        self.remove_watch(fd, Direction::Write)
    }

    fn add_watch(
        &self,
        fd: RawFd,
        direction: Direction,
        callback: Callback,
        what: &'static str,
    ) -> Result<()> {
        if self.is_closed() {
            return Err(Error::LoopClosed);
        }
        let existing = self.inner.fd_watchers.borrow().0.get(&fd).cloned();
        let watch = match existing {
            Some(watch) => watch,
            None => {
                let source = sys::FdSource::new(fd).map_err(|e| unsupported_or(what, e))?;
                let registration = Registration::new(self, source);
                let watch = Rc::new(FdWatch {
                    registration: RefCell::new(None),
                    reader: RefCell::new(None),
                    writer: RefCell::new(None),
                });
                registration.set_handler(watch.clone());
                *watch.registration.borrow_mut() = Some(registration);
                self.inner
                    .fd_watchers
                    .borrow_mut()
                    .0
                    .insert(fd, watch.clone());
                watch
            }
        };
        let previous = watch.slot(direction).replace(Some(callback));
        if let Err(e) = watch.update_interest() {
            watch.slot(direction).replace(previous);
            self.forget_if_idle(fd, &watch);
            return Err(e);
        }
        Ok(())
    }

    fn remove_watch(&self, fd: RawFd, direction: Direction) -> Result<bool> {
        if self.is_closed() {
            return Ok(false);
        }
        let Some(watch) = self.inner.fd_watchers.borrow().0.get(&fd).cloned() else {
            return Ok(false);
        };
        let removed = watch.slot(direction).borrow_mut().take().is_some();
        if removed {
            if let Err(e) = watch.update_interest() {
                log::debug!("remove watch of fd {fd}: {e}");
            }
            self.forget_if_idle(fd, &watch);
        }
        Ok(removed)
    }

    /// Drops the watch of `fd` (leaving the reactor) once nothing is watched on it.
    fn forget_if_idle(&self, fd: RawFd, watch: &Rc<FdWatch>) {
        let interest = watch.interest();
        if !interest.read && !interest.write {
            let removed = self.inner.fd_watchers.borrow_mut().0.remove(&fd);
            let registration = watch.registration.borrow_mut().take();
            drop((removed, registration));
        }
    }
}
