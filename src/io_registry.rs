//! `IoRegistry`: the loop's table of I/O sources, indexed by the token the backend reports.

use std::rc::Rc;

use slab::Slab;

use crate::EventLoop;

/// Something the loop calls when the backend reports its token ready: a transport, a
/// server's listener, a pending connect or name lookup.
pub(crate) trait IoHandler {
    fn io_ready(self: Rc<Self>, ev: &EventLoop, readable: bool, writable: bool);
}

/// Token -> handler. Handlers are `Rc`s, so dispatch clones a pointer and allocates nothing.
pub(crate) struct IoRegistry {
    handlers: Slab<Rc<dyn IoHandler>>,
}

impl IoRegistry {
    pub(crate) fn new() -> Self {
        IoRegistry {
            handlers: Slab::new(),
        }
    }

    pub(crate) fn insert(&mut self, handler: Rc<dyn IoHandler>) -> usize {
        self.handlers.insert(handler)
    }

    pub(crate) fn remove(&mut self, token: usize) -> Option<Rc<dyn IoHandler>> {
        self.handlers.try_remove(token)
    }

    pub(crate) fn get(&self, token: usize) -> Option<Rc<dyn IoHandler>> {
        self.handlers.get(token).cloned()
    }

    /// Empties the table (on `close`); the caller drops the handlers outside its borrow.
    pub(crate) fn take_all(&mut self) -> Vec<Rc<dyn IoHandler>> {
        self.handlers.drain().collect()
    }
}
