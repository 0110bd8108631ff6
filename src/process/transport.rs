//! `SubprocessTransport` (asyncio's `asyncio.SubprocessTransport`, after
//! `base_subprocess.py`): a child process, its pipes as pipe transports whose protocols
//! forward to the subprocess protocol, and its exit, watched by the loop.
//!
//! Ownership: the loop's I/O registry holds the [`ExitHandler`] (the child's
//! registration) until the transport is finished (child exited, every pipe closed,
//! `connection_lost` made), and the handler holds the transport's state. So a child is
//! watched, and its protocol called, whether or not the program keeps the transport; and
//! closing the loop drops the handler, whose child, if it still runs, is killed and
//! reaped.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use super::protocol::Calls;
use crate::error::{Error, Result};
use crate::event_loop::LoopInner;
use crate::io_registry::IoHandler;
use crate::protocol::{BaseProtocol, Protocol};
use crate::registration::Registration;
use crate::sys::{self, Interest};
use crate::transport::{PipeTransport, Transport};
use crate::EventLoop;

/// A child process started by [`EventLoop::subprocess_exec`] or
/// [`EventLoop::subprocess_shell`]: asyncio's `asyncio.SubprocessTransport`. A handle:
/// clones refer to the same child. Example: [`EventLoop::subprocess_exec`].
#[derive(Clone)]
pub struct SubprocessTransport {
    pub(crate) inner: Rc<SubprocessInner>,
}

pub(crate) struct SubprocessInner {
    ev: Weak<LoopInner>,
    pid: u32,
    pub(crate) calls: Rc<Calls>,
    exit: RefCell<Weak<ExitHandler>>,
    returncode: Cell<Option<i32>>,
    /// The pipe transports by fd, and which are still open.
    pipes: RefCell<[Option<PipeTransport>; 3]>,
    open: Cell<[bool; 3]>,
    closed: Cell<bool>,
    finished: Cell<bool>,
}

/// What the loop's I/O registry holds for a child: its registration (readiness means it
/// may have exited) and the transport's state.
pub(crate) struct ExitHandler {
    child: RefCell<Option<Registration<sys::Child>>>,
    inner: Rc<SubprocessInner>,
}

impl SubprocessInner {
    pub(crate) fn new(ev: &EventLoop, pid: u32, calls: Rc<Calls>) -> Rc<SubprocessInner> {
        Rc::new(SubprocessInner {
            ev: ev.downgrade(),
            pid,
            calls,
            exit: RefCell::new(Weak::new()),
            returncode: Cell::new(None),
            pipes: RefCell::default(),
            open: Cell::new([false; 3]),
            closed: Cell::new(false),
            finished: Cell::new(false),
        })
    }

    /// Starts watching the child's exit.
    pub(crate) fn watch(self: &Rc<Self>, mut child: Registration<sys::Child>) -> Result<()> {
        child.set_interest(Interest::READ)?;
        let handler = Rc::new(ExitHandler {
            child: RefCell::new(None),
            inner: self.clone(),
        });
        child.set_handler(handler.clone());
        *handler.child.borrow_mut() = Some(child);
        *self.exit.borrow_mut() = Rc::downgrade(&handler);
        Ok(())
    }

    pub(crate) fn add_pipe(&self, fd: usize, pipe: PipeTransport) {
        self.pipes.borrow_mut()[fd] = Some(pipe);
        let mut open = self.open.get();
        open[fd] = true;
        self.open.set(open);
    }

    /// A pipe's transport is gone (its `connection_lost`).
    fn pipe_lost(self: &Rc<Self>, fd: i32, error: Option<Error>) {
        self.calls
            .later(Box::new(move |p| p.pipe_connection_lost(fd, error)));
        let mut open = self.open.get();
        open[fd as usize] = false;
        self.open.set(open);
        self.try_finish();
    }

    /// The child was reaped: its return code, once.
    fn exited(self: &Rc<Self>, returncode: i32) {
        if self.returncode.get().is_some() {
            return;
        }
        self.returncode.set(Some(returncode));
        self.calls.later(Box::new(|p| p.process_exited()));
        self.try_finish();
    }

    /// asyncio's `_try_finish`: once the child has exited and every pipe is closed,
    /// `connection_lost(None)`, then let everything go.
    fn try_finish(self: &Rc<Self>) {
        if self.returncode.get().is_none()
            || self.open.get().contains(&true)
            || self.finished.replace(true)
        {
            return;
        }
        let this = self.clone();
        self.calls.later(Box::new(move |p| {
            p.connection_lost(None);
            // After this call returns (the protocol is borrowed during it).
            if let Some(ev) = this.ev.upgrade().map(EventLoop::from_inner) {
                let _ = ev.call_soon(move |_| this.release());
            }
        }));
    }

    fn release(&self) {
        self.calls.release();
        *self.pipes.borrow_mut() = Default::default();
        let handler = self.exit.borrow().upgrade();
        if let Some(handler) = handler {
            // Frees the token: the registry lets go of the handler, and of this.
            let child = handler.child.borrow_mut().take();
            drop(child);
        }
    }

    fn with_child<T>(&self, f: impl FnOnce(&mut sys::Child) -> std::io::Result<T>) -> Result<T> {
        let handler = self.exit.borrow().upgrade();
        let mut child = handler.as_ref().map(|h| h.child.borrow_mut());
        match child.as_mut().and_then(|c| c.as_mut()) {
            Some(child) if self.returncode.get().is_none() => Ok(f(child.source_mut())?),
            _ => Err(Error::invalid_state("the process has exited")),
        }
    }
}

impl IoHandler for ExitHandler {
    fn io_ready(self: Rc<Self>, _ev: &EventLoop, _readable: bool, _writable: bool) {
        let exited = {
            let mut child = self.child.borrow_mut();
            let Some(child) = child.as_mut() else {
                return;
            };
            match child.source_mut().try_exit() {
                Ok(Some(code)) => {
                    let _ = child.set_interest(Interest::default());
                    Some(code)
                }
                Ok(None) => None, // spurious
                Err(e) => {
                    log::warn!("waiting for child {} failed: {e}", self.inner.pid);
                    None
                }
            }
        };
        if let Some(code) = exited {
            self.inner.exited(code);
        }
    }
}

/// The protocol of one of the child's pipes: forwards to the subprocess protocol.
pub(crate) struct PipeBridge {
    pub(crate) fd: i32,
    pub(crate) inner: Weak<SubprocessInner>,
}

impl BaseProtocol for PipeBridge {
    fn connection_lost(&mut self, error: Option<Error>) {
        if let Some(inner) = self.inner.upgrade() {
            inner.pipe_lost(self.fd, error);
        }
    }
    fn pause_writing(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.calls.later(Box::new(|p| p.pause_writing()));
        }
    }
    fn resume_writing(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.calls.later(Box::new(|p| p.resume_writing()));
        }
    }
}

impl Protocol for PipeBridge {
    fn data_received(&mut self, data: &[u8]) {
        if let Some(inner) = self.inner.upgrade() {
            inner.calls.data(self.fd, data);
        }
    }
}

impl SubprocessTransport {
    /// asyncio's `get_pid`: the child's process id.
    pub fn get_pid(&self) -> u32 {
        self.inner.pid
    }

    /// asyncio's `get_returncode`: `None` while the child runs; then its exit code, or
    /// minus the number of the signal that ended it (`-9` after [`kill`](Self::kill)).
    pub fn get_returncode(&self) -> Option<i32> {
        self.inner.returncode.get()
    }

    /// asyncio's `get_pipe_transport(fd)`: the transport of the child's pipe `fd` (0
    /// stdin, 1 stdout, 2 stderr); `None` if that stream is not a pipe (or, with
    /// `stderr` [`Stdio::Stdout`](crate::Stdio::Stdout), for 2), or once the transport
    /// is finished.
    pub fn get_pipe_transport(&self, fd: i32) -> Option<PipeTransport> {
        let index = usize::try_from(fd).ok()?;
        self.inner.pipes.borrow().get(index)?.clone()
    }

    /// asyncio's `send_signal`: sends `signal` (see [`signal`](crate::signal)) to the
    /// child. [`Error::InvalidState`] once the child has exited (asyncio's
    /// ProcessLookupError).
    pub fn send_signal(&self, signal: i32) -> Result<()> {
        self.inner.with_child(|c| c.send_signal(signal))
    }

    /// asyncio's `terminate`: SIGTERM.
    pub fn terminate(&self) -> Result<()> {
        self.inner.with_child(|c| c.terminate())
    }

    /// asyncio's `kill`: SIGKILL.
    pub fn kill(&self) -> Result<()> {
        self.inner.with_child(|c| c.kill())
    }

    /// asyncio's `close`: closes the child's pipes and, if it still runs, kills it. Its
    /// exit is still reported (`process_exited`, then `connection_lost`). Idempotent.
    pub fn close(&self) {
        if self.inner.closed.replace(true) {
            return;
        }
        let pipes = self.inner.pipes.borrow().clone();
        for pipe in pipes.iter().flatten() {
            pipe.transport().close();
        }
        if self.inner.returncode.get().is_none() {
            let _ = self.kill();
        }
    }

    /// asyncio's `is_closing`: true after [`close`](Self::close).
    pub fn is_closing(&self) -> bool {
        self.inner.closed.get()
    }

    /// The loop this transport runs on.
    pub fn get_loop(&self) -> Result<EventLoop> {
        self.inner
            .ev
            .upgrade()
            .map(EventLoop::from_inner)
            .ok_or(Error::LoopClosed)
    }

    /// The same pipe transport as a plain [`Transport`], for the bridge set-up.
    pub(crate) fn pipe_of(transport: Transport, fd: usize) -> PipeTransport {
        if fd == 0 {
            PipeTransport::Write(crate::transport::WriteTransport(transport))
        } else {
            PipeTransport::Read(crate::transport::ReadTransport(transport))
        }
    }
}

impl std::fmt::Debug for SubprocessTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubprocessTransport")
            .field("pid", &self.inner.pid)
            .field("returncode", &self.inner.returncode.get())
            .field("closing", &self.inner.closed.get())
            .finish()
    }
}
