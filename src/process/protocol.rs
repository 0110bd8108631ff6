//! `SubprocessProtocol` (asyncio's `asyncio.SubprocessProtocol`) and `Calls`, which
//! hands the protocol its callbacks in order, never while it is in use.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use super::transport::SubprocessTransport;
use crate::error::Error;
use crate::event_loop::LoopInner;
use crate::protocol::BaseProtocol;
use crate::EventLoop;

/// The protocol of a child process: asyncio's `asyncio.SubprocessProtocol`. It extends
/// [`BaseProtocol<SubprocessTransport>`](BaseProtocol) with the pipe and exit callbacks;
/// every method has a default that does nothing.
///
/// Call order: `connection_made` first; then, in the order they happen,
/// `pipe_data_received` for each chunk the child writes to a pipe, `pipe_connection_lost`
/// once per pipe as it closes, and `process_exited` exactly once; `connection_lost(None)`
/// last, once the child has exited and all its pipes are closed. `pause_writing` and
/// `resume_writing` follow the stdin pipe's write buffer. fd 1 is stdout (and stderr,
/// with [`Stdio::Stdout`](crate::Stdio::Stdout)), fd 2 stderr; data comes as the pipes
/// deliver it, in chunks of any size.
///
/// ```
/// use twinloop::{BaseProtocol, SubprocessProtocol, SubprocessTransport};
/// /// Prints what the child writes and how it ended.
/// struct Show(Option<SubprocessTransport>);
/// impl BaseProtocol<SubprocessTransport> for Show {
///     fn connection_made(&mut self, t: SubprocessTransport) { self.0 = Some(t); }
/// }
/// impl SubprocessProtocol for Show {
///     fn pipe_data_received(&mut self, fd: i32, data: &[u8]) {
///         println!("fd {fd}: {}", String::from_utf8_lossy(data));
///     }
///     fn process_exited(&mut self) {
///         let code = self.0.as_ref().and_then(|t| t.get_returncode());
///         println!("exited with {code:?}");
///     }
/// }
/// ```
pub trait SubprocessProtocol: BaseProtocol<SubprocessTransport> {
    /// The child wrote `data` to its pipe `fd` (1 or 2).
    fn pipe_data_received(&mut self, fd: i32, data: &[u8]) {
        let _ = (fd, data);
    }
    /// The pipe `fd` (0, 1 or 2) closed: `None` normally, else the error.
    fn pipe_connection_lost(&mut self, fd: i32, error: Option<Error>) {
        let _ = (fd, error);
    }
    /// The child exited; its return code is
    /// [`SubprocessTransport::get_returncode`].
    fn process_exited(&mut self) {}
}

type Call = Box<dyn FnOnce(&mut dyn SubprocessProtocol)>;

/// A subprocess's protocol and the calls waiting for it. Data goes to the protocol at
/// once when nothing waits and the protocol is free; every other call, and data that
/// finds the protocol in use, waits its turn and is made from the loop, in order.
pub(crate) struct Calls {
    ev: Weak<LoopInner>,
    /// `None` after `connection_lost`.
    protocol: RefCell<Option<Rc<RefCell<dyn SubprocessProtocol>>>>,
    waiting: RefCell<VecDeque<Call>>,
}

impl Calls {
    pub(crate) fn new(ev: &EventLoop, protocol: Rc<RefCell<dyn SubprocessProtocol>>) -> Rc<Calls> {
        Rc::new(Calls {
            ev: ev.downgrade(),
            protocol: RefCell::new(Some(protocol)),
            waiting: RefCell::default(),
        })
    }

    /// `pipe_data_received(fd, data)`: now if nothing waits, else copied and queued.
    pub(crate) fn data(self: &Rc<Self>, fd: i32, data: &[u8]) {
        if self.waiting.borrow().is_empty() {
            let protocol = self.protocol.borrow().clone();
            let Some(protocol) = protocol else {
                return;
            };
            if let Ok(mut protocol) = protocol.try_borrow_mut() {
                protocol.pipe_data_received(fd, data);
                return;
            };
        }
        let data = data.to_vec();
        self.later(Box::new(move |p| p.pipe_data_received(fd, &data)));
    }

    /// Queues `call`; it is made from the loop after the calls before it.
    pub(crate) fn later(self: &Rc<Self>, call: Call) {
        let first = {
            let mut waiting = self.waiting.borrow_mut();
            waiting.push_back(call);
            waiting.len() == 1
        };
        if first {
            self.schedule();
        }
    }

    /// Lets the protocol go (after `connection_lost`): breaks the protocol <-> transport
    /// cycle.
    pub(crate) fn release(&self) {
        let protocol = self.protocol.borrow_mut().take();
        drop(protocol);
    }

    fn schedule(self: &Rc<Self>) {
        let Some(ev) = self.ev.upgrade().map(EventLoop::from_inner) else {
            return;
        };
        let this = self.clone();
        if ev.call_soon(move |_| this.run_one()).is_err() {
            log::debug!("subprocess protocol calls dropped: loop closed");
        }
    }

    /// Makes the oldest waiting call (one per callback: a panicking protocol callback,
    /// caught by the loop, leaves the rest scheduled).
    fn run_one(self: &Rc<Self>) {
        let protocol = self.protocol.borrow().clone();
        let Some(protocol) = protocol else {
            self.waiting.borrow_mut().clear();
            return;
        };
        let Ok(mut protocol) = protocol.try_borrow_mut() else {
            self.schedule(); // in use (a `ProtocolHandle::with` closure): after it
            return;
        };
        let call = self.waiting.borrow_mut().pop_front();
        if !self.waiting.borrow().is_empty() {
            self.schedule();
        }
        if let Some(call) = call {
            call(&mut *protocol);
        }
    }
}
