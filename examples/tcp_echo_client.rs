//! The asyncio page's "TCP echo client using streams": connect, send a message, read the
//! echo, close. It exits non-zero when the echo differs, so it doubles as a check.
//!
//! `tcp_echo_client ADDR [MESSAGE]` (default message `Hello World!`), against
//! `echo_server` in any mode. The same on both targets: `cargo run --example
//! tcp_echo_client -- 127.0.0.1:8888`, or in the guest `twinloop-host run --allow-net
//! 127.0.0.1 tcp_echo_client.wasm -- 127.0.0.1:8888`.

use twinloop::Result;

async fn tcp_echo_client(host: &str, port: u16, message: &str) -> Result<bool> {
    let (mut reader, writer) = twinloop::open_connection(host, port, Default::default()).await?;
    println!("Send: {message:?}");
    writer.write(message.as_bytes())?;
    writer.drain().await?;
    let data = reader.readexactly(message.len()).await?;
    let echoed = String::from_utf8_lossy(&data);
    println!("Received: {echoed:?}");
    println!("Close the connection");
    writer.close();
    writer.wait_closed().await?;
    Ok(echoed == message)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(addr) = args.next() else {
        eprintln!("usage: tcp_echo_client HOST:PORT [MESSAGE]");
        std::process::exit(2);
    };
    let message = args.next().unwrap_or_else(|| "Hello World!".to_owned());
    let Some((host, port)) = addr
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_matches(['[', ']']).to_owned(), p.parse().ok()?)))
    else {
        eprintln!("tcp_echo_client: expected HOST:PORT, got {addr:?}");
        std::process::exit(2);
    };
    let outcome = twinloop::run(|_ev| async move { tcp_echo_client(&host, port, &message).await });
    match outcome {
        Ok(true) => {}
        Ok(false) => {
            eprintln!("tcp_echo_client: the echo differs from the message");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("tcp_echo_client: {e}");
            std::process::exit(1);
        }
    }
}
