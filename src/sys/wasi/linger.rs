//! Closing a connection without blocking the guest.
//!
//! wasmtime's `output-stream` drop waits until the stream's pending write has reached the
//! OS socket (`cancel` on its TCP writer). With a peer that does not read, that wait never
//! ends, and when the peer is in the same guest (or is slow) the whole loop freezes in a
//! resource drop (seen: a stalled peer and `abort()`). A connection whose output is
//! not ready when its `TcpStream` drops is therefore parked here instead: its send side
//! is shut down (FIN once the pending data is out), and the next reactor polls include
//! its output pollable; once ready, the stream and then the socket are dropped, which no
//! longer blocks.
//!
//! The list is per thread (the guest has one) rather than per reactor, so that a stream
//! dropped after leaving its loop, or outliving it, is still reaped by whichever loop
//! polls next.

use std::cell::RefCell;

use wasi::io::poll::Pollable;
use wasi::io::streams::{InputStream, OutputStream};
use wasi::sockets::tcp::{ShutdownType, TcpSocket};

/// A connected stream's resources. Field order is drop order: the streams are children
/// of the socket.
pub(super) struct Connected {
    pub(super) input: InputStream,
    pub(super) output: OutputStream,
    pub(super) socket: TcpSocket,
}

/// A closed connection waiting for its last write to leave. Field order is drop order.
pub(super) struct Lingering {
    pub(super) pollable: Pollable,
    _output: OutputStream,
    _socket: TcpSocket,
}

thread_local! {
    static LINGERING: RefCell<Vec<Lingering>> = const { RefCell::new(Vec::new()) };
}

/// Drops a connection now if that cannot block, else parks it until its output is ready.
pub(super) fn close(conn: Connected) {
    // `check-write` is non-zero, or the output is closed or failed, exactly when dropping
    // the output stream does not wait.
    if !matches!(conn.output.check_write(), Ok(0)) {
        return;
    }
    let Connected {
        input,
        output,
        socket,
    } = conn;
    drop(input);
    // FIN after the pending data, without waiting for the guest to poll again. Fails
    // only if already shut down, which changes nothing here.
    let _ = socket.shutdown(ShutdownType::Send);
    let pollable = output.subscribe();
    LINGERING.with_borrow_mut(|list| {
        list.push(Lingering {
            pollable,
            _output: output,
            _socket: socket,
        })
    });
}

pub(super) fn is_empty() -> bool {
    LINGERING.with_borrow(Vec::is_empty)
}

/// Runs `f` with the parked connections (for the reactor's poll).
pub(super) fn with_lingering<R>(f: impl FnOnce(&mut Vec<Lingering>) -> R) -> R {
    LINGERING.with_borrow_mut(f)
}
