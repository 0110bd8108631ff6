//! Raw file descriptors: WASI 0.2 has no pollable for a program's own descriptors, so
//! `add_reader` / `add_writer` are not available in the guest.

use std::io;

use crate::sys::{Interest, Source, Watchable};

/// A file descriptor number, as the program passes it to `add_reader`.
type RawFd = i32;

/// Never made in the guest: [`FdSource::new`] returns `Unsupported`.
pub(crate) struct FdSource(());

impl FdSource {
    pub(crate) fn new(_fd: RawFd) -> io::Result<FdSource> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "WASI 0.2 cannot watch raw file descriptors",
        ))
    }

    pub(crate) fn still_ready(&self, _interest: Interest) -> Interest {
        Interest::default()
    }
}

impl Watchable for FdSource {
    fn as_source(&mut self) -> Option<&mut dyn Source> {
        None
    }
}
