//! The echo server over TLS (rustls): every byte received is decrypted, written back and
//! encrypted again, in streams style. Its certificate is the checked-in example one
//! (`examples/tls/`), for `localhost`, `127.0.0.1` and `::1`; `tls_echo_client` trusts it.
//!
//! `tls_echo_server [ADDR]` (default `127.0.0.1:8443`; port 0 picks a free port) prints
//! `listening on IP:PORT` as its first line, then serves until killed. The same on both
//! targets: `cargo run --example tls_echo_server -- 127.0.0.1:0`, or in the guest
//! `twinloop-host run --allow-net 127.0.0.1 tls_echo_server.wasm -- 127.0.0.1:0`.

use std::io::Write;

use twinloop::{EventLoop, ServerOptions, StreamOptions, StreamReader, StreamWriter};

#[path = "support/server_addr.rs"]
mod server_addr;

#[path = "tls/certs.rs"]
mod certs;

/// One task per connection: read what is there, write it back, wait while the peer is
/// slow to read (drain), until the peer's close_notify.
async fn echo(mut reader: StreamReader, writer: StreamWriter) -> twinloop::Result<()> {
    loop {
        let data = reader.read(64 * 1024).await?;
        if data.is_empty() {
            writer.close();
            return writer.wait_closed().await;
        }
        writer.write(&data)?;
        writer.drain().await?;
    }
}

async fn serve(ev: EventLoop, host: String, port: u16) -> twinloop::Result<()> {
    let config = certs::server_config().map_err(twinloop::Error::InvalidArgument)?;
    let options = StreamOptions {
        options: ServerOptions {
            ssl: Some(config),
            ..ServerOptions::default()
        },
        ..StreamOptions::default()
    };
    let server = ev.start_server(echo, host.as_str(), port, options).await?;
    for socket in server.sockets() {
        println!("listening on {socket}");
    }
    let _ = std::io::stdout().flush();
    server.serve_forever().await
}

fn main() {
    let (host, port) = server_addr::server_addr("tls_echo_server", "127.0.0.1:8443");
    if let Err(e) = twinloop::run(|ev| serve(ev, host, port)) {
        eprintln!("tls_echo_server: {e}");
        std::process::exit(1);
    }
}
