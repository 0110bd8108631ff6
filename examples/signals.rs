//! The asyncio page's "Set signal handlers for SIGINT and SIGTERM": print the pid, wait;
//! on SIGINT or SIGTERM print `got signal SIGINT: exit` (or SIGTERM) and exit 0.
//!
//! Native (Unix): `cargo run --example signals`, then Ctrl+C or `kill PID`. In the guest
//! (and on Windows) there are no signals: it ends at once with the Unsupported error.

use std::time::Duration;

use twinloop::{signal, EventLoop};

fn ask_exit(name: &str, ev: &EventLoop) {
    println!("got signal {name}: exit");
    ev.stop();
}

fn main() -> twinloop::Result<()> {
    let ev = EventLoop::new()?;
    for (name, number) in [("SIGINT", signal::SIGINT), ("SIGTERM", signal::SIGTERM)] {
        ev.add_signal_handler(number, move |ev| ask_exit(name, ev))?;
    }
    println!("Event loop running for 1 hour, press Ctrl+C to interrupt.");
    println!(
        "pid {}: send SIGINT or SIGTERM to exit.",
        std::process::id()
    );
    ev.call_later(Duration::from_secs(3600), |ev| ev.stop())?;
    ev.run_forever()?;
    ev.close()
}
