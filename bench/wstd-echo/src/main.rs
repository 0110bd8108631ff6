//! The `wstd-guest` server of `cargo xtask bench`: a TCP echo server written with wstd
//! (the async std for WASI 0.2), as wstd's own `tcp_echo_server` example writes it: an
//! accept loop that spawns a task per connection copying the connection's input stream
//! to its output stream.
//!
//! `wstd-echo.wasm ADDR` (default `127.0.0.1:0`) prints `listening on IP:PORT`, as every
//! echo server of the benchmark does, then echoes each connection until its peer closes.
//! Built for wasm32-wasip1 and run in `twinloop-host run --allow-net 127.0.0.1`.
//!
//! Built with the guest tool chain's `panic=unwind` flags, like twinloop's guests, it
//! needs the `__cpp_exception` tag that twinloop supplies for them (see twinloop's
//! `src/sys/wasi/exception_tag.rs`; Debian's wasi-libc has no compiler-rt to define it):
//! the same weak definition is here, and with it the unstable feature wasm assembly needs
//! (the guest chain builds with `RUSTC_BOOTSTRAP=1` anyway).

#![cfg_attr(
    all(target_arch = "wasm32", panic = "unwind"),
    feature(asm_experimental_arch)
)]

use wstd::io;
use wstd::iter::AsyncIterator;
use wstd::net::TcpListener;

#[cfg(all(target_arch = "wasm32", panic = "unwind"))]
// SAFETY: assembler directives only, no code: one exception tag whose payload is one
// pointer, as twinloop's guests declare it.
core::arch::global_asm!(
    ".weak __cpp_exception",
    ".tagtype __cpp_exception i32",
    "__cpp_exception:",
);

#[wstd::main]
async fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);

    let mut incoming = listener.incoming();
    while let Some(stream) = incoming.next().await {
        let stream = match stream {
            Ok(stream) => stream,
            // Out of sockets, or a connection reset before it was accepted: keep serving.
            Err(e) => {
                eprintln!("wstd-echo: accept: {e}");
                continue;
            }
        };
        wstd::runtime::spawn(async move {
            // The peer closing (or resetting) the connection ends the copy.
            let _ = io::copy(&stream, &stream).await;
        })
        .detach();
    }
    Ok(())
}
