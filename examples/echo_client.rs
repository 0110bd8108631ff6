//! The asyncio page's TCP echo client, in protocol mode, made into a checker: it sends
//! `--count` messages of `--size` random bytes, one at a time, and checks that every byte
//! comes back.
//!
//! `echo_client ADDR [--size BYTES] [--count N]` prints `ok N messages`, or exits non-zero
//! saying what differed. The same on both targets.

use twinloop::{BaseProtocol, ConnectOptions, EventLoop, LoopFuture, Protocol};

#[path = "support/echo_args.rs"]
mod echo_args;
use echo_args::{parse_args, Args};

/// xorshift64*: random enough content without a dependency.
fn random_bytes(seed: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *seed ^= *seed >> 12;
            *seed ^= *seed << 25;
            *seed ^= *seed >> 27;
            (seed.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// Receives the echo of the message in flight and reports when it is complete.
struct EchoClientProtocol {
    expected: Vec<u8>,
    received: usize,
    done: Option<LoopFuture<()>>,
    lost: Option<LoopFuture<()>>,
}

impl BaseProtocol for EchoClientProtocol {
    fn connection_lost(&mut self, error: Option<twinloop::Error>) {
        if let Some(done) = self.done.take() {
            let msg = format!(
                "connection lost after {} of {} bytes: {error:?}",
                self.received,
                self.expected.len()
            );
            let _ = done.set_error(twinloop::Error::InvalidState(msg));
        }
        if let Some(lost) = self.lost.take() {
            let _ = lost.set_result(());
        }
    }
}

impl Protocol for EchoClientProtocol {
    fn data_received(&mut self, data: &[u8]) {
        let end = self.received + data.len();
        let outcome = if end > self.expected.len() {
            Err(format!(
                "{} bytes more than were sent",
                end - self.expected.len()
            ))
        } else if let Some(i) =
            (0..data.len()).find(|&i| data[i] != self.expected[self.received + i])
        {
            Err(format!("byte {} differs", self.received + i))
        } else {
            Ok(())
        };
        self.received = end;
        match outcome {
            Ok(()) if end == self.expected.len() => {
                if let Some(done) = self.done.take() {
                    let _ = done.set_result(());
                }
            }
            Ok(()) => {}
            Err(e) => {
                if let Some(done) = self.done.take() {
                    let _ = done.set_error(twinloop::Error::InvalidState(e));
                }
            }
        }
    }
}

async fn run(ev: EventLoop, args: Args) -> twinloop::Result<()> {
    let lost = ev.create_future::<()>();
    let protocol = EchoClientProtocol {
        expected: Vec::new(),
        received: 0,
        done: None,
        lost: Some(lost.clone()),
    };
    let (transport, client) = ev
        .create_connection(
            move || protocol,
            &args.host,
            args.port,
            ConnectOptions::default(),
        )
        .await?;
    let mut seed = 0x9E37_79B9_7F4A_7C15 ^ (ev.time().to_bits() | 1);
    for _ in 0..args.count {
        let message = random_bytes(&mut seed, args.size);
        let done = ev.create_future::<()>();
        client.with(|c| {
            c.expected.clone_from(&message);
            c.received = 0;
            c.done = Some(done.clone());
        })?;
        transport.write(&message)?;
        done.await?;
    }
    transport.close();
    lost.await?;
    Ok(())
}

fn main() {
    let args = match parse_args("echo_client") {
        Ok(a) => a,
        Err(e) => {
            eprintln!("echo_client: {e}");
            std::process::exit(2);
        }
    };
    let count = args.count;
    let outcome = twinloop::run(|ev| run(ev, args));
    match outcome {
        Ok(()) => println!("ok {count} messages"),
        Err(e) => {
            eprintln!("echo_client: {e}");
            std::process::exit(1);
        }
    }
}
