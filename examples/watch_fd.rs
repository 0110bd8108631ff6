//! The asyncio page's "Watch a file descriptor for read events": a socket pair, a reader
//! on one end, `abc` written to the other. Prints `Received: abc`.
//!
//! `cargo run --example watch_fd`. Unix only: elsewhere (Windows, the wasm guest)
//! `add_reader` returns `Error::Unsupported`, which this prints.

#[cfg(unix)]
fn main() -> twinloop::Result<()> {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    let (mut rsock, mut wsock) = UnixStream::pair()?;
    twinloop::run(|ev| async move {
        let received = ev.create_future::<Vec<u8>>();
        let done = received.clone();
        let fd = rsock.as_raw_fd();
        ev.add_reader(fd, move |ev| {
            let mut data = [0; 100];
            let outcome = rsock.read(&mut data).map(|n| data[..n].to_vec());
            // We are done: unregister the file descriptor.
            let _ = ev.remove_reader(fd);
            let _ = match outcome {
                Ok(data) => done.set_result(data),
                Err(e) => done.set_error(e.into()),
            };
        })?;
        // Simulate the reception of data from the network, a moment later.
        ev.call_later(Duration::from_millis(10), move |_| {
            let _ = wsock.write_all(b"abc");
        })?;
        let data = received.await?;
        println!("Received: {}", String::from_utf8_lossy(&data));
        Ok(())
    })
}

#[cfg(not(unix))]
fn main() {
    let ev = twinloop::EventLoop::new().expect("a loop");
    match ev.add_reader(0, |_| {}) {
        Err(e) => {
            eprintln!("watch_fd: {e}");
            std::process::exit(1);
        }
        Ok(()) => eprintln!("watch_fd: this platform watches descriptors; build for Unix"),
    }
}
