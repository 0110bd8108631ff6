//! Holding on to a caller's file for the length of a `'static` future (`sendfile`,
//! `sock_sendfile`). Natively the file is duplicated; wasm32's std cannot duplicate a
//! descriptor (WASI preview 1 has no `dup`), so the guest borrows the caller's.

use std::fs::File;
use std::io;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::os::fd::{AsRawFd, FromRawFd};

/// The caller's file, by its descriptor, never closed from here.
pub(crate) struct HeldFile(ManuallyDrop<File>);

impl Deref for HeldFile {
    type Target = File;

    fn deref(&self) -> &File {
        &self.0
    }
}

/// `file`, for as long as the caller keeps it open (the documented contract of
/// `sendfile` in the guest).
pub(crate) fn hold_file(file: &File) -> io::Result<HeldFile> {
    // SAFETY: the `File` made here is never dropped (`ManuallyDrop`), so the descriptor
    // stays the caller's to close. The guest has one thread, so nothing closes it while
    // a read or seek through it runs; if the caller closes it between two of them, those
    // fail with EBADF (or use whatever then has that number), as the docs of `sendfile`
    // and `sock_sendfile` say.
    Ok(HeldFile(ManuallyDrop::new(unsafe {
        File::from_raw_fd(file.as_raw_fd())
    })))
}
