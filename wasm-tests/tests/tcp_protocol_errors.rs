//! Protocol code that fails: asyncio makes it a fatal error of that transport, reported to
//! the exception handler; the loop and other connections go on.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use twinloop::{
    BaseProtocol, Buffered, BufferedProtocol, ConnectOptions, Error, EventLoop, ExceptionContext,
    LoopFuture, Protocol, ServerOptions, Transport,
};

/// A loop whose exception handler records every report.
fn recording_loop() -> (EventLoop, Rc<RefCell<Vec<ExceptionContext>>>) {
    let ev = EventLoop::new().expect("new loop");
    let reports = Rc::new(RefCell::new(Vec::new()));
    let seen = reports.clone();
    ev.set_exception_handler(Some(Rc::new(move |_, ctx: &ExceptionContext| {
        seen.borrow_mut().push(ctx.clone());
    })));
    // A hang becomes LoopStopped instead of a stuck test.
    ev.call_later(Duration::from_secs(60), |ev| ev.stop())
        .expect("guard");
    (ev, reports)
}

/// Client side: reports connection_lost.
struct Client {
    lost: Option<LoopFuture<Option<String>>>,
}

impl BaseProtocol for Client {
    fn connection_lost(&mut self, error: Option<Error>) {
        if let Some(lost) = self.lost.take() {
            let _ = lost.set_result(error.map(|e| e.to_string()));
        }
    }
}

impl Protocol for Client {}

/// Connects a `Client` to `port`, writes `data`, and waits until the server drops it.
async fn write_and_wait_for_close(ev: &EventLoop, port: u16, data: &[u8]) -> twinloop::Result<()> {
    let lost = ev.create_future();
    let client = Client {
        lost: Some(lost.clone()),
    };
    let (transport, _client) = ev
        .create_connection(move || client, "127.0.0.1", port, ConnectOptions::default())
        .await?;
    transport.write(data)?;
    lost.await?;
    Ok(())
}

struct Panicking;

impl BaseProtocol for Panicking {}
impl Protocol for Panicking {
    fn data_received(&mut self, _data: &[u8]) {
        panic!("protocol bug");
    }
}

#[test]
#[cfg_attr(
    all(target_os = "wasi", panic = "abort"),
    ignore = "needs unwinding: this guest is built with panic=abort"
)]
fn panicking_data_received_closes_the_transport_and_is_reported() {
    let (ev, reports) = recording_loop();
    let l = ev.clone();
    ev.run_until_complete(async move {
        let server = l
            .create_server(|| Panicking, "127.0.0.1", 0, ServerOptions::default())
            .await?;
        let port = server.sockets()[0].local_addr().unwrap().port();
        write_and_wait_for_close(&l, port, b"boom").await?;
        // The loop goes on: a second connection is served (and fails) the same way.
        write_and_wait_for_close(&l, port, b"again").await?;
        server.close();
        server.wait_closed().await
    })
    .expect("loop ran")
    .expect("connections closed by the server");
    let reports = reports.borrow();
    assert_eq!(
        reports.len(),
        2,
        "one report per failing connection: {reports:?}"
    );
    for report in reports.iter() {
        assert_eq!(
            report.message,
            "Fatal error: protocol.data_received() call failed."
        );
        assert!(matches!(&report.error, Some(Error::Panic(m)) if m.contains("protocol bug")));
        assert!(report.transport.is_some());
        // asyncio's context names the protocol as well as the transport.
        assert!(
            report
                .protocol
                .as_deref()
                .is_some_and(|p| p.contains("Panicking")),
            "{:?}",
            report.protocol
        );
    }
}

struct EmptyBuffer;

impl BaseProtocol for EmptyBuffer {}
impl BufferedProtocol for EmptyBuffer {
    fn get_buffer(&mut self, _size_hint: usize) -> &mut [u8] {
        &mut []
    }
    fn buffer_updated(&mut self, _nbytes: usize) {
        unreachable!("nothing can be read into an empty buffer");
    }
}

#[test]
fn empty_get_buffer_is_a_fatal_error_of_that_transport() {
    let (ev, reports) = recording_loop();
    let l = ev.clone();
    ev.run_until_complete(async move {
        let server = l
            .create_server(
                || Buffered(EmptyBuffer),
                "127.0.0.1",
                0,
                ServerOptions::default(),
            )
            .await?;
        let port = server.sockets()[0].local_addr().unwrap().port();
        write_and_wait_for_close(&l, port, b"data").await?;
        server.close();
        server.wait_closed().await
    })
    .expect("loop ran")
    .expect("connection closed by the server");
    let reports = reports.borrow();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(
        reports[0].message,
        "Fatal error: protocol.get_buffer() call failed."
    );
    assert!(
        matches!(&reports[0].error, Some(Error::InvalidState(m)) if m.contains("empty buffer"))
    );
}

/// The transport handed to `connection_made` is the one `create_connection` returns.
struct Keeper(Rc<RefCell<Option<Transport>>>);

impl BaseProtocol for Keeper {
    fn connection_made(&mut self, transport: Transport) {
        *self.0.borrow_mut() = Some(transport);
    }
}

impl Protocol for Keeper {}

/// A protocol that does nothing (its connections stay open until closed).
struct Quiet;

impl BaseProtocol for Quiet {}
impl Protocol for Quiet {}

#[test]
fn a_failing_connection_leaves_the_others_alone() {
    let (ev, reports) = recording_loop();
    let l = ev.clone();
    let seen = reports.clone();
    ev.run_until_complete(async move {
        let failing = l
            .create_server(
                || Buffered(EmptyBuffer),
                "127.0.0.1",
                0,
                ServerOptions::default(),
            )
            .await?;
        let healthy = l
            .create_server(|| Quiet, "127.0.0.1", 0, ServerOptions::default())
            .await?;
        let healthy_port = healthy.sockets()[0].local_addr().unwrap().port();
        let kept = Rc::new(RefCell::new(None));
        let slot = kept.clone();
        let (idle, _) = l
            .create_connection(
                move || Keeper(slot),
                "127.0.0.1",
                healthy_port,
                ConnectOptions::default(),
            )
            .await?;
        // Another connection fails on the same loop; the idle one stays open.
        write_and_wait_for_close(&l, failing.sockets()[0].local_addr().unwrap().port(), b"x")
            .await?;
        assert!(!idle.is_closing());
        assert!(kept.borrow().is_some());
        assert_eq!(
            seen.borrow().len(),
            1,
            "only the failing connection is reported"
        );
        idle.close();
        for server in [failing, healthy] {
            server.close();
            server.wait_closed().await?;
        }
        Ok::<(), Error>(())
    })
    .expect("loop ran")
    .expect("servers closed");
    assert_eq!(reports.borrow().len(), 1);
}

/// Regression: a server whose every handle was dropped keeps serving (asyncio keeps a
/// serving server alive through the loop); it used to close its sockets silently.
#[test]
fn a_serving_server_outlives_its_dropped_handle() {
    let (ev, reports) = recording_loop();
    let l = ev.clone();
    ev.run_until_complete(async move {
        let port = {
            let server = l
                .create_server(|| Quiet, "127.0.0.1", 0, ServerOptions::default())
                .await?;
            server.sockets()[0].local_addr().unwrap().port()
        };
        let kept = Rc::new(RefCell::new(None));
        let slot = kept.clone();
        let (transport, _) = l
            .create_connection(
                move || Keeper(slot),
                "127.0.0.1",
                port,
                ConnectOptions::default(),
            )
            .await?;
        assert!(kept.borrow().is_some());
        transport.close();
        Ok::<(), Error>(())
    })
    .expect("loop ran")
    .expect("connected to the server whose handle was dropped");
    assert!(reports.borrow().is_empty());
    ev.close().expect("close");
}
