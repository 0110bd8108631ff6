//! The asyncio page's TCP echo server: every byte received is written back. The modes
//! of uvloop's echo benchmark are one flag apart:
//!
//! - `--mode protocol` (the default): a `Protocol` that writes back in `data_received`;
//! - `--mode buffered`: a `BufferedProtocol` that reads into its own buffer;
//! - `--mode streams`: `start_server` with a task per connection, `read` + `write` +
//!   `drain`;
//! - `--mode sock`: a listening `Socket` with `sock_accept`, and a task per connection
//!   with `sock_recv` + `sock_sendall`.
//!
//! Every mode honours flow control: while the write buffer is over the high-water mark
//! (the peer is not reading its echo), it stops reading, so a peer that only sends cannot
//! make it buffer without bound.
//!
//! `echo_server [ADDR] [--mode MODE]` (default `127.0.0.1:8888`; port 0 picks a free
//! port) prints `listening on IP:PORT` as its first line, then serves until killed. The
//! same on both targets: `cargo run --example echo_server -- --mode streams`, or in the
//! guest `twinloop-host run --allow-net 127.0.0.1 echo_server.wasm -- 127.0.0.1:0`.

use std::io::Write;
use std::net::SocketAddr;

use twinloop::{
    BaseProtocol, Buffered, BufferedProtocol, EventLoop, Family, Protocol, ServerOptions, Socket,
    SocketType, StreamReader, StreamWriter, Transport, DEFAULT_BACKLOG,
};

/// The protocol modes: one type is both a `Protocol` (`--mode protocol`) and a
/// `BufferedProtocol` (`--mode buffered`, where reads land in `buf` and are echoed from
/// there).
struct Echo {
    transport: Option<Transport>,
    buf: Vec<u8>,
}

impl Echo {
    fn new(buffer_size: usize) -> Echo {
        Echo {
            transport: None,
            buf: vec![0; buffer_size],
        }
    }

    fn echo(&self, data: &[u8]) {
        if let Some(t) = &self.transport {
            if let Err(e) = t.write(data) {
                eprintln!("echo failed: {e}");
                t.close();
            }
        }
    }
}

impl BaseProtocol for Echo {
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

impl Protocol for Echo {
    fn data_received(&mut self, data: &[u8]) {
        self.echo(data);
    }

    fn eof_received(&mut self) -> bool {
        // Close after the echo of everything received has been sent.
        false
    }
}

impl BufferedProtocol for Echo {
    fn get_buffer(&mut self, _size_hint: usize) -> &mut [u8] {
        &mut self.buf
    }

    fn buffer_updated(&mut self, nbytes: usize) {
        self.echo(&self.buf[..nbytes]);
    }
}

/// The streams mode: one task per connection.
async fn echo_stream(mut reader: StreamReader, writer: StreamWriter) -> twinloop::Result<()> {
    loop {
        let data = reader.read(256 * 1024).await?;
        if data.is_empty() {
            return Ok(()); // EOF: the connection closes once reader and writer are dropped
        }
        writer.write(&data)?;
        writer.drain().await?;
    }
}

/// The sock mode: a listening `Socket`, `sock_accept`, and one task per connection doing
/// `sock_recv` + `sock_sendall` (asyncio's "Working with socket objects directly").
async fn serve_sock(ev: EventLoop, host: &str, port: u16) -> twinloop::Result<()> {
    let addr = ev.getaddrinfo(host, port, Family::Any).await?[0];
    let family = if addr.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    };
    let listener = Socket::new(family, SocketType::Stream)?;
    listener.bind(addr)?;
    listener.listen(DEFAULT_BACKLOG)?;
    announce(&[listener.local_addr()?]);
    loop {
        let (conn, _peer) = ev.sock_accept(&listener).await?;
        let ev2 = ev.clone();
        ev.create_task(async move {
            loop {
                let data = ev2.sock_recv(&conn, 256 * 1024).await?;
                if data.is_empty() {
                    conn.close();
                    return Ok::<(), twinloop::Error>(());
                }
                ev2.sock_sendall(&conn, data).await?;
            }
        })?;
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Protocol,
    Buffered,
    Streams,
    Sock,
}

/// Prints the `listening on IP:PORT` lines (the first line of output).
fn announce(addrs: &[SocketAddr]) {
    for addr in addrs {
        println!("listening on {addr}");
    }
    let _ = std::io::stdout().flush();
}

async fn serve(ev: EventLoop, host: String, port: u16, mode: Mode) -> twinloop::Result<()> {
    let host = host.as_str();
    let server = match mode {
        Mode::Protocol => {
            let factory = || Echo::new(0);
            ev.create_server(factory, host, port, ServerOptions::default())
                .await?
        }
        Mode::Buffered => {
            let factory = || Buffered(Echo::new(256 * 1024));
            ev.create_server(factory, host, port, ServerOptions::default())
                .await?
        }
        Mode::Streams => {
            ev.start_server(echo_stream, host, port, Default::default())
                .await?
        }
        Mode::Sock => return serve_sock(ev, host, port).await,
    };
    let addrs: Vec<SocketAddr> = server
        .sockets()
        .iter()
        .filter_map(|s| s.local_addr())
        .collect();
    announce(&addrs);
    server.serve_forever().await
}

fn parse_args() -> Result<(String, u16, Mode), String> {
    let mut addr = None;
    let mut mode = Mode::Protocol;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--mode" {
            mode = match args.next().as_deref() {
                Some("protocol") => Mode::Protocol,
                Some("buffered") => Mode::Buffered,
                Some("streams") => Mode::Streams,
                Some("sock") => Mode::Sock,
                other => {
                    return Err(format!(
                        "--mode takes protocol, buffered, streams or sock, not {other:?}"
                    ))
                }
            };
        } else if addr.is_none() && !arg.starts_with("--") {
            addr = Some(arg);
        } else {
            return Err(format!(
                "unexpected argument {arg:?}; usage: echo_server [ADDR] [--mode MODE]"
            ));
        }
    }
    let (host, port) = split_addr(addr.as_deref().unwrap_or("127.0.0.1:8888"))?;
    Ok((host, port, mode))
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
    let (host, port, mode) = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("echo_server: {e}");
            std::process::exit(2);
        }
    };
    let outcome = twinloop::run(|ev| serve(ev, host, port, mode));
    if let Err(e) = outcome {
        eprintln!("echo_server: {e}");
        std::process::exit(1);
    }
}
