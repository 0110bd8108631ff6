//! The asyncio page's "Hello World with call_soon()": schedule a callback, print, stop.
//!
//! Native: `cargo run --example hello_world`; guest: `cargo xtask demo`.

use twinloop::EventLoop;

fn main() -> twinloop::Result<()> {
    let ev = EventLoop::new()?;
    ev.call_soon(|ev| {
        println!("Hello World");
        ev.stop();
    })?;
    // Blocked until stop() is called.
    ev.run_forever()?;
    ev.close()
}
