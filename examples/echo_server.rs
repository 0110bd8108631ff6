//! The asyncio page's TCP echo server, in protocol mode: every byte received is written
//! back. It honours flow control: while its transport's write buffer is over the
//! high-water mark (the peer is not reading its echo), it stops reading, so a peer that
//! only sends cannot make it buffer without bound.
//!
//! `echo_server [ADDR]` (default `127.0.0.1:8888`; port 0 picks a free port) prints
//! `listening on IP:PORT` as its first line, then serves until killed. The same on both
//! targets: `cargo run --example echo_server`, or in the guest
//! `twinloop-host run --allow-net 127.0.0.1 echo_server.wasm -- 127.0.0.1:0`.

use std::io::Write;

use twinloop::{BaseProtocol, Protocol, ServerOptions, Transport};

struct EchoServerProtocol {
    transport: Option<Transport>,
}

impl BaseProtocol for EchoServerProtocol {
    fn connection_made(&mut self, transport: Transport) {
        self.transport = Some(transport);
    }

    fn pause_writing(&mut self) {
        if let Some(t) = &self.transport {
            t.pause_reading();
        }
    }

    fn resume_writing(&mut self) {
        if let Some(t) = &self.transport {
            t.resume_reading();
        }
    }
}

impl Protocol for EchoServerProtocol {
    fn data_received(&mut self, data: &[u8]) {
        if let Some(t) = &self.transport {
            if let Err(e) = t.write(data) {
                eprintln!("echo failed: {e}");
                t.close();
            }
        }
    }

    fn eof_received(&mut self) -> bool {
        // Close after the echo of everything received has been sent.
        false
    }
}

fn split_addr(addr: &str) -> Result<(String, u16), String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("expected HOST:PORT, got {addr:?}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = port.parse().map_err(|_| format!("bad port in {addr:?}"))?;
    Ok((host.to_owned(), port))
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8888".into());
    let (host, port) = match split_addr(&addr) {
        Ok(hp) => hp,
        Err(e) => {
            eprintln!("echo_server: {e}");
            std::process::exit(2);
        }
    };
    let outcome = twinloop::run(|ev| async move {
        let server = ev
            .create_server(
                || EchoServerProtocol { transport: None },
                host.as_str(),
                port,
                ServerOptions::default(),
            )
            .await?;
        for socket in server.sockets() {
            println!("listening on {}", socket.local_addr());
        }
        let _ = std::io::stdout().flush();
        server.serve_forever().await
    });
    if let Err(e) = outcome {
        eprintln!("echo_server: {e}");
        std::process::exit(1);
    }
}
