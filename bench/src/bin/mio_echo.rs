//! `mio_echo ADDR`: the floor of the echo benchmark, a bare mio loop with nothing of an
//! event loop around it: one `Poll`, a slab of connections, a 256 KiB read buffer, and
//! for each readiness report reads until a short read (or `WouldBlock`), writing each
//! chunk straight back and buffering what the socket does not take. Prints
//! `listening on IP:PORT` first, then serves until killed.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);
const READ_CHUNK: usize = 256 * 1024;

struct Conn {
    stream: TcpStream,
    /// What the socket did not take yet.
    pending: VecDeque<u8>,
}

fn main() {
    let addr: SocketAddr = match std::env::args().nth(1).map(|a| a.parse()) {
        Some(Ok(addr)) => addr,
        _ => {
            eprintln!("usage: mio_echo IP:PORT");
            std::process::exit(2);
        }
    };
    if let Err(e) = serve(addr) {
        eprintln!("mio_echo: {e}");
        std::process::exit(1);
    }
}

fn serve(addr: SocketAddr) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(addr)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        match poll.poll(&mut events, None) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => other?,
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                accept_all(&poll, &listener, &mut conns, &mut free)?;
                continue;
            }
            let index = event.token().0;
            let Some(conn) = conns.get_mut(index).and_then(Option::as_mut) else {
                continue;
            };
            let done = (event.is_writable() && flush(conn).is_err())
                || (event.is_readable() && echo(conn, &mut buf, event.is_read_closed()));
            if done {
                let mut conn = conns[index].take().expect("looked up above");
                let _ = poll.registry().deregister(&mut conn.stream);
                free.push(index);
            }
        }
    }
}

fn accept_all(
    poll: &Poll,
    listener: &TcpListener,
    conns: &mut Vec<Option<Conn>>,
    free: &mut Vec<usize>,
) -> io::Result<()> {
    loop {
        let (mut stream, _) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        stream.set_nodelay(true)?;
        let index = free.pop().unwrap_or(conns.len());
        poll.registry().register(
            &mut stream,
            Token(index),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let conn = Conn {
            stream,
            pending: VecDeque::new(),
        };
        if index == conns.len() {
            conns.push(Some(conn));
        } else {
            conns[index] = Some(conn);
        }
    }
}

/// Reads and echoes until a short read (the socket is empty: epoll reports the next
/// arrival) or `WouldBlock`; after the peer's close, until EOF. True when the
/// connection is done.
fn echo(conn: &mut Conn, buf: &mut [u8], read_closed: bool) -> bool {
    loop {
        match conn.stream.read(buf) {
            Ok(0) => return true,
            Ok(n) => {
                if send(conn, &buf[..n]).is_err() {
                    return true;
                }
                if n < buf.len() && !read_closed {
                    return false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}

fn send(conn: &mut Conn, data: &[u8]) -> io::Result<()> {
    if !conn.pending.is_empty() {
        conn.pending.extend(data);
        return flush(conn);
    }
    let mut sent = 0;
    while sent < data.len() {
        match conn.stream.write(&data[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    conn.pending.extend(&data[sent..]);
    Ok(())
}

fn flush(conn: &mut Conn) -> io::Result<()> {
    while !conn.pending.is_empty() {
        let chunk = conn.pending.as_slices().0;
        match conn.stream.write(chunk) {
            Ok(n) => {
                conn.pending.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
