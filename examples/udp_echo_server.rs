//! The asyncio page's UDP echo server: every datagram is sent back to its sender.
//!
//! `udp_echo_server [ADDR]` (default `127.0.0.1:9999`; port 0 picks a free port) prints
//! `listening on IP:PORT` as its first line, then serves until killed. The same on both
//! targets: `cargo run --example udp_echo_server`, or in the guest
//! `twinloop-host run --allow-net 127.0.0.1 udp_echo_server.wasm -- 127.0.0.1:0`.

use std::io::Write;
use std::net::SocketAddr;

use twinloop::{
    BaseProtocol, DatagramOptions, DatagramProtocol, DatagramTransport, Error, EventLoop,
};

#[path = "support/server_addr.rs"]
mod server_addr;

struct EchoServerProtocol {
    transport: Option<DatagramTransport>,
}

impl BaseProtocol<DatagramTransport> for EchoServerProtocol {
    fn connection_made(&mut self, transport: DatagramTransport) {
        self.transport = Some(transport);
    }
}

impl DatagramProtocol for EchoServerProtocol {
    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        if let Some(t) = &self.transport {
            if let Err(e) = t.sendto(data, Some(addr)) {
                eprintln!("echo to {addr} failed: {e}");
            }
        }
    }

    fn error_received(&mut self, error: Error) {
        eprintln!("error received: {error}");
    }
}

fn main() {
    let (host, port) = server_addr::server_addr("udp_echo_server", "127.0.0.1:9999");
    let outcome = EventLoop::new().and_then(|ev| {
        let endpoint = ev.create_datagram_endpoint(
            || EchoServerProtocol { transport: None },
            Some((host.as_str(), port)),
            None,
            DatagramOptions::default(),
        );
        let (transport, _) = ev.run_until_complete(endpoint)??;
        println!("listening on {}", transport.sockname());
        let _ = std::io::stdout().flush();
        ev.run_forever()
    });
    if let Err(e) = outcome {
        eprintln!("udp_echo_server: {e}");
        std::process::exit(1);
    }
}
