//! What a guest reads of a host error: its message and causes, never the
//! host's own backtrace.
//!
//! wasmtime-wasi answers `wasi:io/error.to-debug-string` with the error's
//! `Debug` text, which includes the backtrace captured where the host created
//! the error when `RUST_BACKTRACE` or `RUST_LIB_BACKTRACE` is set in the
//! host's environment. Symbolizing it cost the host 164 MB on a guest's first
//! peer reset, and would show the guest the host's code paths. The function is
//! defined again here to answer with the message and its causes only.

use wasmtime::component::{Linker, Resource};
use wasmtime::StoreContextMut;
use wasmtime_wasi::p2::IoError;

use crate::run::GuestState;

/// The text a guest gets for `error`: `message: cause: cause`.
pub(crate) fn guest_text(error: &wasmtime::Error) -> String {
    format!("{error:#}")
}

/// Defines `[method]error.to-debug-string` again in `linker` (which already
/// has wasmtime-wasi's) to answer with [`guest_text`].
pub(crate) fn describe_errors_plainly(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.instance("wasi:io/error@0.2.12")?.func_wrap(
        "[method]error.to-debug-string",
        |store: StoreContextMut<'_, GuestState>, (error,): (Resource<IoError>,)| {
            let error = store.data().table.get(&error)?;
            Ok((guest_text(error),))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_text_is_the_message_and_causes_without_a_backtrace() {
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        let error = wasmtime::Error::new(io).context("writing to the socket");
        let text = guest_text(&error);
        assert!(text.starts_with("writing to the socket: "), "{text}");
        assert!(!text.contains('\n'), "{text}");
        assert!(!text.contains("backtrace"), "{text}");
    }
}
