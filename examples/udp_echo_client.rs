//! The asyncio page's UDP echo client, made into a checker: it sends `--count` datagrams
//! (`Hello World! N`) one at a time, prints each echo, and counts a datagram as lost when
//! its echo has not come back within a second.
//!
//! `udp_echo_client ADDR [--count N]` prints `ok N datagrams, 0 lost` (exit 0), or how many
//! were lost (exit 1). The same on both targets.

use std::net::SocketAddr;
use std::time::Duration;

use twinloop::{
    BaseProtocol, DatagramOptions, DatagramProtocol, DatagramTransport, Error, EventLoop,
    LoopFuture,
};

/// How long an echo may take before its datagram counts as lost.
const ECHO_TIMEOUT: Duration = Duration::from_secs(1);

/// Hands each echo to whoever waits for it.
struct EchoClientProtocol {
    waiting: Option<LoopFuture<Vec<u8>>>,
}

impl BaseProtocol<DatagramTransport> for EchoClientProtocol {}

impl DatagramProtocol for EchoClientProtocol {
    fn datagram_received(&mut self, data: &[u8], _addr: SocketAddr) {
        match self.waiting.take() {
            Some(waiting) => {
                let _ = waiting.set_result(data.to_vec());
            }
            None => println!("late echo: {:?}", String::from_utf8_lossy(data)),
        }
    }

    fn error_received(&mut self, error: Error) {
        eprintln!("error received: {error}");
    }
}

async fn run(ev: EventLoop, host: String, port: u16, count: usize) -> twinloop::Result<usize> {
    let (transport, client) = ev
        .create_datagram_endpoint(
            || EchoClientProtocol { waiting: None },
            None,
            Some((host.as_str(), port)),
            DatagramOptions::default(),
        )
        .await?;
    let mut lost = 0;
    for i in 0..count {
        let message = format!("Hello World! {i}");
        let echo = ev.create_future::<Vec<u8>>();
        client.with(|c| c.waiting = Some(echo.clone()))?;
        println!("Send: {message}");
        transport.sendto(message.as_bytes(), None)?;
        match twinloop::wait_for(echo, ECHO_TIMEOUT).await {
            Ok(data) if data == message.as_bytes() => {
                println!("Received: {}", String::from_utf8_lossy(&data));
            }
            Ok(data) => {
                println!(
                    "Received something else: {:?}",
                    String::from_utf8_lossy(&data)
                );
                lost += 1;
            }
            Err(Error::Timeout) => {
                println!("Lost: {message}");
                lost += 1;
            }
            Err(e) => return Err(e),
        }
    }
    transport.close();
    Ok(lost)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = || -> ! {
        eprintln!("usage: udp_echo_client HOST:PORT [--count N]");
        std::process::exit(2);
    };
    let addr = args.next().unwrap_or_else(|| usage());
    let Some((host, port)) = addr
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_matches(['[', ']']).to_owned(), p.parse().ok()?)))
    else {
        usage()
    };
    let count = match (args.next().as_deref(), args.next()) {
        (None, _) => 1,
        (Some("--count"), Some(n)) => n.parse().unwrap_or_else(|_| usage()),
        _ => usage(),
    };
    let outcome = twinloop::run(|ev| run(ev, host, port, count));
    match outcome {
        Ok(0) => println!("ok {count} datagrams, 0 lost"),
        Ok(lost) => {
            println!("{lost} of {count} datagrams lost");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("udp_echo_client: {e}");
            std::process::exit(1);
        }
    }
}
