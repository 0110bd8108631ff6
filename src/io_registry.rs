//! `IoRegistry`: the loop's table of I/O handlers, indexed by the token the backend reports.
//!
//! A token is a slot index tagged with the slot's generation. Freeing a slot bumps its
//! generation, so a readiness report that was queued for a source removed since (in the
//! same turn, say, by a callback that closed it) names a token that no longer matches and
//! is dropped, instead of reaching whichever source reuses the slot.

use std::rc::Rc;

use crate::sys;
use crate::EventLoop;

/// Something the loop calls when the backend reports its token ready: a transport, a
/// server's listener, a pending connect or name lookup.
pub(crate) trait IoHandler {
    fn io_ready(self: Rc<Self>, ev: &EventLoop, readable: bool, writable: bool);

    /// The whole report; handlers that care whether the peer closed override this.
    fn io_event(self: Rc<Self>, ev: &EventLoop, event: &sys::Event) {
        self.io_ready(ev, event.readable, event.writable)
    }
}

/// Bits of a token that hold the slot index; the rest hold the generation. On 32-bit
/// targets (the guest) that leaves 16 million slots and 256 generations per slot.
const INDEX_BITS: u32 = if usize::BITS >= 64 { 32 } else { 24 };
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
const GENERATIONS: usize = 1 << (usize::BITS - INDEX_BITS);

struct Slot {
    generation: usize,
    /// `None` while reserved (the owner is still being built) or free.
    handler: Option<Rc<dyn IoHandler>>,
    in_use: bool,
}

/// Token -> handler. Handlers are `Rc`s, so dispatch clones a pointer and allocates
/// nothing; freed slots are reused (most recently freed first).
pub(crate) struct IoRegistry {
    slots: Vec<Slot>,
    free: Vec<usize>,
}

impl IoRegistry {
    pub(crate) fn new() -> Self {
        IoRegistry {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    fn token(index: usize, generation: usize) -> usize {
        index | (generation << INDEX_BITS)
    }

    fn slot(&self, token: usize) -> Option<&Slot> {
        let slot = self.slots.get(token & INDEX_MASK)?;
        (slot.in_use && slot.generation == token >> INDEX_BITS).then_some(slot)
    }

    /// A token with no handler yet (see [`IoRegistry::set_handler`]); the backend never
    /// reports `usize::MAX` (the native waker's token), which no slot can reach.
    pub(crate) fn reserve(&mut self) -> usize {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                assert!(self.slots.len() < INDEX_MASK, "too many I/O sources");
                self.slots.push(Slot {
                    generation: 0,
                    handler: None,
                    in_use: false,
                });
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[index];
        slot.in_use = true;
        Self::token(index, slot.generation)
    }

    /// Names the handler of a reserved token. Does nothing for a stale token.
    pub(crate) fn set_handler(&mut self, token: usize, handler: Rc<dyn IoHandler>) {
        if self.slot(token).is_some() {
            self.slots[token & INDEX_MASK].handler = Some(handler);
        }
    }

    /// Frees a token; returns its handler (drop it outside the registry's borrow).
    pub(crate) fn remove(&mut self, token: usize) -> Option<Rc<dyn IoHandler>> {
        self.slot(token)?;
        let index = token & INDEX_MASK;
        let slot = &mut self.slots[index];
        slot.in_use = false;
        slot.generation = (slot.generation + 1) % GENERATIONS;
        self.free.push(index);
        slot.handler.take()
    }

    /// Whether no source holds a token (nothing could be reported).
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.len() == self.free.len()
    }

    /// The handler of a live token; `None` for a token freed since it was reported.
    pub(crate) fn get(&self, token: usize) -> Option<Rc<dyn IoHandler>> {
        self.slot(token)?.handler.clone()
    }

    /// Empties the table (on `close`); the caller drops the handlers outside its borrow.
    pub(crate) fn take_all(&mut self) -> Vec<Rc<dyn IoHandler>> {
        let mut handlers = Vec::new();
        for index in 0..self.slots.len() {
            let slot = &self.slots[index];
            if slot.in_use {
                let token = Self::token(index, slot.generation);
                handlers.extend(self.remove(token));
            }
        }
        handlers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nop;
    impl IoHandler for Nop {
        fn io_ready(self: Rc<Self>, _: &EventLoop, _: bool, _: bool) {}
    }

    #[test]
    fn a_reused_slot_does_not_answer_to_the_old_token() {
        let mut reg = IoRegistry::new();
        let old = reg.reserve();
        reg.set_handler(old, Rc::new(Nop));
        assert!(reg.get(old).is_some());
        assert!(reg.remove(old).is_some());
        let new = reg.reserve();
        reg.set_handler(new, Rc::new(Nop));
        assert_eq!(new & INDEX_MASK, old & INDEX_MASK, "the slot is reused");
        assert_ne!(new, old);
        assert!(reg.get(old).is_none());
        assert!(reg.remove(old).is_none(), "a stale token frees nothing");
        assert!(reg.get(new).is_some());
        assert_eq!(reg.take_all().len(), 1);
        assert!(reg.get(new).is_none());
    }
}
