//! `ProtocolHandle`: the program looks at a connection's protocol between awaits, and what
//! its `with` closures (or the protocol's own callbacks) do to the transport reaches the
//! protocol afterwards, in order.

use std::cell::RefCell;
use std::rc::Rc;

use twinloop::{
    BaseProtocol, Buffered, BufferedProtocol, ConnectOptions, Error, EventLoop, Protocol,
    ProtocolHandle, Result, Server, ServerOptions, Transport,
};
use wasm_tests::tcp_support::{run_tcp, stream_chunk, turns, Watch, LOCALHOST_V4};

/// What the server does with each connection: write `send` bytes of the test stream, then
/// close (or, if `stall`, stop reading and keep the connection open).
#[derive(Clone, Copy)]
struct Sender {
    send: usize,
    stall: bool,
}

impl BaseProtocol for Sender {
    fn connection_made(&mut self, t: Transport) {
        if self.stall {
            t.pause_reading();
        }
        t.write(&stream_chunk(0, self.send)).unwrap();
        if !self.stall {
            t.close();
        }
    }
}

impl Protocol for Sender {}

/// The client: reads through a small buffer, records its callbacks.
struct Client {
    transport: Option<Transport>,
    buf: Vec<u8>,
    received: Vec<u8>,
    events: Vec<&'static str>,
    paused: bool,
    /// On the first data: write until the write buffer is over its high-water mark.
    flood_on_first_data: bool,
    /// Its own handle, to try `with` from inside a callback.
    me: Rc<RefCell<Option<ProtocolHandle<Buffered<Client>>>>>,
    inner_with: Vec<Result<()>>,
    lost: Watch<bool>,
}

impl Client {
    fn new(lost: &Watch<bool>) -> Buffered<Client> {
        Buffered(Client {
            transport: None,
            buf: vec![0; 1000],
            received: Vec::new(),
            events: Vec::new(),
            paused: false,
            flood_on_first_data: false,
            me: Rc::default(),
            inner_with: Vec::new(),
            lost: lost.clone(),
        })
    }

    fn event(&mut self, name: &'static str) {
        if name == "data" && self.events.last() == Some(&"data") {
            return;
        }
        self.events.push(name);
    }
}

impl BaseProtocol for Client {
    fn connection_made(&mut self, t: Transport) {
        self.transport = Some(t);
        self.event("made");
    }
    fn connection_lost(&mut self, _: Option<Error>) {
        self.event("lost");
        self.lost.update(|l| *l = true);
    }
    fn pause_writing(&mut self) {
        self.paused = true;
        self.event("pause");
    }
    fn resume_writing(&mut self) {
        self.paused = false;
        self.event("resume");
    }
}

impl BufferedProtocol for Client {
    fn get_buffer(&mut self, _size_hint: usize) -> &mut [u8] {
        &mut self.buf
    }
    fn buffer_updated(&mut self, nbytes: usize) {
        self.received.extend_from_slice(&self.buf[..nbytes]);
        let first = self.events.last() != Some(&"data");
        self.event("data");
        if first && self.flood_on_first_data {
            self.flood_on_first_data = false;
            flood(self.transport.as_ref().unwrap());
        }
        let me = self.me.borrow().clone();
        if let Some(me) = me {
            self.inner_with.push(me.with(|_| ()));
        }
    }
}

/// Writes until the transport's buffer is over its high-water mark (the peer does not
/// read). Returns what was written.
fn flood(t: &Transport) -> usize {
    let (_, high) = t.get_write_buffer_limits();
    let mut written = 0;
    while t.get_write_buffer_size() <= high {
        assert!(written < 512 << 20, "the write buffer never filled");
        t.write(&[0; 64 * 1024]).unwrap();
        written += 64 * 1024;
    }
    written
}

async fn sender(ev: &EventLoop, send: usize, stall: bool) -> Result<(Server, u16)> {
    let factory = move || Sender { send, stall };
    let server = ev
        .create_server(factory, LOCALHOST_V4, 0, ServerOptions::default())
        .await?;
    let port = server.sockets()[0].local_addr().unwrap().port();
    Ok((server, port))
}

async fn client(
    ev: &EventLoop,
    port: u16,
    set_up: impl FnOnce(&mut Client),
) -> Result<(Transport, ProtocolHandle<Buffered<Client>>, Watch<bool>)> {
    let lost = Watch::new(false);
    let mut protocol = Client::new(&lost);
    set_up(&mut protocol.0);
    let (t, handle) = ev
        .create_connection(|| protocol, LOCALHOST_V4, port, ConnectOptions::default())
        .await?;
    Ok((t, handle, lost))
}

#[test]
fn the_protocol_can_be_looked_at_between_awaits_while_data_arrives() {
    const SIZE: usize = 2 << 20; // at least 8 readiness reports (256 KiB each)
    let (looks, received, events) = run_tcp(|ev| async move {
        let (_server, port) = sender(&ev, SIZE, false).await?;
        let (_t, client, lost) = client(&ev, port, |_| {}).await?;
        let mut looks = 0;
        let mut seen = 0;
        while !lost.get(|l| *l) {
            let now = client.with(|c| c.0.received.len())?;
            assert!(now >= seen, "the protocol's data shrank");
            seen = now;
            looks += 1;
            turns(&ev, 1).await?;
        }
        let (received, events) = client.with(|c| (c.0.received.clone(), c.0.events.clone()))?;
        Ok((looks, received, events))
    });
    assert!(looks > 1, "the data arrived before the first look");
    assert_eq!(received, stream_chunk(0, SIZE));
    assert_eq!(events, ["made", "data", "lost"]);
}

#[test]
fn pause_writing_caused_inside_with_arrives_after_it() {
    let (inside, after) = run_tcp(|ev| async move {
        let (server, port) = sender(&ev, 0, true).await?;
        let (t, client, _) = client(&ev, port, |_| {}).await?;
        let inside = client.with(|c| {
            flood(&t);
            (c.0.paused, c.0.events.clone())
        })?;
        turns(&ev, 2).await?;
        let after = client.with(|c| (c.0.paused, c.0.events.clone()))?;
        t.abort();
        server.close();
        Ok((inside, after))
    });
    assert_eq!(
        inside,
        (false, vec!["made"]),
        "pause_writing ran inside the closure"
    );
    assert_eq!(after, (true, vec!["made", "pause"]));
}

#[test]
fn resume_writing_does_not_overtake_a_pause_that_waits() {
    let events = run_tcp(|ev| async move {
        let (server, port) = sender(&ev, 0, true).await?;
        let (t, client, _) = client(&ev, port, |_| {}).await?;
        client.with(|_| flood(&t))?; // pause_writing waits for the closure to end
                                     // The protocol is free now; a resume must still come after the waiting pause.
        t.set_write_buffer_limits(Some(1 << 30), None)?;
        turns(&ev, 2).await?;
        let events = client.with(|c| (c.0.paused, c.0.events.clone()))?;
        t.abort();
        server.close();
        Ok(events)
    });
    assert_eq!(events, (false, vec!["made", "pause", "resume"]));
}

#[test]
fn close_inside_with_gives_connection_lost_last() {
    let events = run_tcp(|ev| async move {
        let (server, port) = sender(&ev, 0, true).await?;
        let (t, client, lost) = client(&ev, port, |_| {}).await?;
        client.with(|_| {
            flood(&t);
            t.abort();
        })?;
        lost.until(&ev, "connection_lost", |l| *l).await?;
        server.close();
        client.with(|c| c.0.events.clone())
    });
    assert_eq!(events, ["made", "pause", "lost"]);
}

#[test]
fn data_waits_behind_a_pause_caused_by_the_protocols_own_callback() {
    const SIZE: usize = 200_000;
    let (events, received) = run_tcp(|ev| async move {
        // The server sends and does not read: the client's flood fills its buffer.
        let (server, port) = sender(&ev, SIZE, true).await?;
        let (t, client, _) = client(&ev, port, |c| c.flood_on_first_data = true).await?;
        while client.with(|c| c.0.received.len())? < SIZE {
            turns(&ev, 1).await?;
        }
        let out = client.with(|c| (c.0.events.clone(), c.0.received.clone()))?;
        t.abort();
        server.close();
        Ok(out)
    });
    // The first buffer_updated wrote past the mark: pause_writing comes next, before any
    // more data (which stays in the socket meanwhile), and no byte is lost or reordered.
    assert_eq!(events, ["made", "data", "pause", "data"]);
    assert_eq!(received, stream_chunk(0, SIZE));
}

#[test]
fn with_from_inside_the_protocols_own_callback_is_an_error_not_a_panic() {
    let (inner, events) = run_tcp(|ev| async move {
        let (_server, port) = sender(&ev, 10, false).await?;
        let me = Rc::new(RefCell::new(None));
        let slot = me.clone();
        let (_t, client, lost) = client(&ev, port, move |c| c.me = slot).await?;
        *me.borrow_mut() = Some(client.clone());
        lost.until(&ev, "connection_lost", |l| *l).await?;
        me.borrow_mut().take(); // the handle inside the protocol: a cycle
        client.with(|c| (std::mem::take(&mut c.0.inner_with), c.0.events.clone()))
    });
    assert!(!inner.is_empty());
    assert!(inner
        .iter()
        .all(|r| matches!(r, Err(Error::InvalidState(_)))));
    assert_eq!(events, ["made", "data", "lost"]);
}
