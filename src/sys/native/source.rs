//! `sys::Source` for every native socket type, written once over `mio::event::Source`.

use std::io;

use mio::{Interest as MioInterest, Token};

use super::Reactor;
use crate::sys::{Interest, Source};

/// Whether a source is in the poller: mio cannot register "no interest", so an empty
/// interest deregisters, and the next one registers again.
#[derive(Default)]
pub(super) struct MioRegistration {
    registered: bool,
}

/// A native type the reactor can watch: it hands out its mio source and its registration.
pub(super) trait MioSource {
    fn mio_parts(&mut self) -> (&mut dyn mio::event::Source, &mut MioRegistration);
}

impl<T: MioSource> Source for T {
    fn set_interest(
        &mut self,
        reactor: &Reactor,
        token: usize,
        interest: Interest,
    ) -> io::Result<()> {
        let (source, registration) = self.mio_parts();
        let mio_interest = match (interest.read, interest.write) {
            (true, true) => Some(MioInterest::READABLE | MioInterest::WRITABLE),
            (true, false) => Some(MioInterest::READABLE),
            (false, true) => Some(MioInterest::WRITABLE),
            (false, false) => None,
        };
        let registry = reactor.registry();
        match (mio_interest, registration.registered) {
            (Some(i), false) => {
                registry.register(source, Token(token), i)?;
                registration.registered = true;
            }
            (Some(i), true) => registry.reregister(source, Token(token), i)?,
            (None, true) => {
                registry.deregister(source)?;
                registration.registered = false;
            }
            (None, false) => {}
        }
        Ok(())
    }

    fn deregister(&mut self, reactor: &Reactor) {
        let (source, registration) = self.mio_parts();
        if registration.registered {
            // The socket is about to close, which removes it from the poller anyway.
            let _ = reactor.registry().deregister(source);
            registration.registered = false;
        }
    }
}
