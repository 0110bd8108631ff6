//! `sys::Source` for every guest socket type, written once over the reactor's
//! `Registration` and the pollables a source hands out.

use std::io;

use wasi::io::poll::Pollable;

use super::reactor::{Direction, Reactor, Registration};
use crate::sys::{Interest, Source};

/// A guest type the reactor can watch: its registration, and a fresh pollable for a
/// direction (`None`: never ready that way).
pub(super) trait PollSource {
    fn registration(&mut self) -> &mut Registration;
    fn pollable(&self, dir: Direction) -> Option<Pollable>;
}

impl<T: PollSource> Source for T {
    fn set_interest(
        &mut self,
        reactor: &Reactor,
        token: usize,
        interest: Interest,
    ) -> io::Result<()> {
        // Subscribe only for directions the reactor does not hold a pollable for yet.
        let mut made: [Option<Pollable>; 2] = [None, None];
        for dir in Direction::BOTH {
            if self.registration().needs(reactor, dir, interest) {
                made[dir as usize] = self.pollable(dir);
            }
        }
        self.registration()
            .set(reactor, token, interest, |dir| made[dir as usize].take());
        Ok(())
    }

    fn deregister(&mut self, _reactor: &Reactor) {
        self.registration().clear();
    }
}
