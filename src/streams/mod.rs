//! Streams: asyncio's high-level connection API. [`EventLoop::open_connection`] and
//! [`EventLoop::start_server`] give a [`StreamReader`] and a [`StreamWriter`] per
//! connection instead of a protocol: reading and writing become `.await`s in a task.
//!
//! Underneath, each connection is an ordinary [`Transport`] driven by a stream protocol
//! (`connection`) that feeds the reader and tracks flow control for the writer, as
//! asyncio's `StreamReaderProtocol` does.

use std::future::Future;
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::exception::ExceptionContext;
use crate::net::{ConnectOptions, Hosts, Port, Server, ServerOptions};
use crate::task::Task;
use crate::transport::Transport;
use crate::{current, EventLoop};

mod connection;
mod io_traits;
mod reader;
mod unix;
mod writer;

use connection::{CloseOnDrop, ConnectionState, StreamProtocol};
pub use reader::{StreamFeeder, StreamReader, DEFAULT_LIMIT};
pub use unix::{open_unix_connection, start_unix_server};
pub use writer::StreamWriter;

/// Options of [`EventLoop::open_connection`] and [`EventLoop::start_server`]: the
/// reader's limit and the options of the call underneath (`O` is [`ConnectOptions`] or
/// [`ServerOptions`]).
///
/// ```
/// use twinloop::{ConnectOptions, Family, StreamOptions};
/// let opts = StreamOptions {
///     limit: 1 << 20, // lines up to 1 MiB
///     options: ConnectOptions { family: Family::V4, ..Default::default() },
/// };
/// assert_eq!(StreamOptions::<ConnectOptions>::default().limit, twinloop::DEFAULT_LIMIT);
/// # let _ = opts;
/// ```
#[derive(Debug)]
pub struct StreamOptions<O> {
    /// The readers' limit ([`DEFAULT_LIMIT`] by default): the longest line `readline`
    /// accepts, and half the amount buffered at which reading pauses.
    pub limit: usize,
    /// The options of `create_connection` or `create_server`.
    pub options: O,
}

impl<O: Default> Default for StreamOptions<O> {
    fn default() -> Self {
        StreamOptions {
            limit: DEFAULT_LIMIT,
            options: O::default(),
        }
    }
}

impl EventLoop {
    /// asyncio's `asyncio.open_connection(host, port, limit=..., **kwds)`: connects as
    /// [`EventLoop::create_connection`] does and returns the connection's reader and
    /// writer. The future owns what it needs, so it can be handed to
    /// [`EventLoop::create_task`] directly.
    ///
    /// Errors: those of [`EventLoop::create_connection`]; [`Error::InvalidArgument`] for
    /// a limit of 0.
    ///
    /// ```
    /// # use twinloop::EventLoop;
    /// # let ev = EventLoop::new()?;
    /// # let port = ev.run_until_complete(async {
    /// #     let ev = twinloop::get_running_loop()?;
    /// #     let s = ev.start_server(|_r, w: twinloop::StreamWriter| async move { w.write(b"hi\n") }, "127.0.0.1", 0, Default::default()).await?;
    /// #     Ok::<u16, twinloop::Error>(s.sockets()[0].local_addr().unwrap().port())
    /// # })??;
    /// let (mut reader, _writer) = ev.run_until_complete(ev.open_connection("127.0.0.1", port, Default::default()))??;
    /// assert_eq!(ev.run_until_complete(async move { reader.readline().await })??, b"hi\n");
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn open_connection(
        &self,
        host: &str,
        port: impl Into<Port>,
        options: StreamOptions<ConnectOptions>,
    ) -> impl Future<Output = Result<(StreamReader, StreamWriter)>> + 'static {
        let ev = self.clone();
        let host = host.to_owned();
        let port = port.into();
        async move {
            let client = StreamClient::new(options.limit)?;
            let (transport, _) = ev
                .create_connection(client.factory(), &host, port, options.options)
                .await?;
            Ok(client.into_pair(transport))
        }
    }

    /// asyncio's `asyncio.start_server(client_connected_cb, host, port, limit=...,
    /// **kwds)`: serves as [`EventLoop::create_server`] does, and runs
    /// `client_connected_cb(reader, writer)` as a task for every accepted connection.
    ///
    /// When the callback's future fails, the error goes to the exception handler
    /// ("Unhandled exception in client_connected_cb") and the connection is closed, as
    /// it is when the task is cancelled. When it returns `Ok`, the connection stays as
    /// the callback left it, until both the reader and the writer are dropped: then it is
    /// closed.
    ///
    /// ```
    /// use twinloop::{StreamReader, StreamWriter};
    /// async fn echo(mut reader: StreamReader, writer: StreamWriter) -> twinloop::Result<()> {
    ///     loop {
    ///         let data = reader.read(64 * 1024).await?;
    ///         if data.is_empty() {
    ///             return Ok(()); // EOF: dropping reader and writer closes the connection
    ///         }
    ///         writer.write(&data)?;
    ///         writer.drain().await?;
    ///     }
    /// }
    /// # twinloop::EventLoop::new()?.run_until_complete(async {
    /// let ev = twinloop::get_running_loop()?;
    /// let server = ev.start_server(echo, "127.0.0.1", 0, Default::default()).await?;
    /// println!("listening on {}", server.sockets()[0]);
    /// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
    /// ```
    pub fn start_server<F, Fut>(
        &self,
        client_connected_cb: F,
        host: impl Into<Hosts>,
        port: impl Into<Port>,
        options: StreamOptions<ServerOptions>,
    ) -> impl Future<Output = Result<Server>> + 'static
    where
        F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
        Fut: Future<Output = Result<()>> + 'static,
    {
        let ev = self.clone();
        let hosts = host.into();
        let port = port.into();
        let factory = server_factory(options.limit, client_connected_cb);
        async move {
            ev.create_server(factory?, hosts, port, options.options)
                .await
        }
    }
}

/// The client side of a stream connection before it connects: the reader, the state
/// shared with the writer, and the protocol that will feed them.
struct StreamClient {
    reader: StreamReader,
    state: Rc<ConnectionState>,
}

impl StreamClient {
    fn new(limit: usize) -> Result<StreamClient> {
        Ok(StreamClient {
            reader: StreamReader::new(limit)?,
            state: Rc::new(ConnectionState::default()),
        })
    }

    /// The protocol factory to connect with.
    fn factory(&self) -> impl FnOnce() -> StreamProtocol {
        let (feed, state) = (self.reader.feed_handle(), self.state.clone());
        move || StreamProtocol::new(feed, state, None)
    }

    fn into_pair(self, transport: Transport) -> (StreamReader, StreamWriter) {
        pair(self.reader, transport, self.state)
    }
}

/// The protocol factory of a stream server: each connection runs `client_connected_cb`
/// as a task ([`InvalidArgument`](Error::InvalidArgument) for a zero `limit`).
fn server_factory<F, Fut>(
    limit: usize,
    client_connected_cb: F,
) -> Result<impl Fn() -> StreamProtocol + 'static>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output = Result<()>> + 'static,
{
    StreamReader::new(limit)?;
    let callback = Rc::new(client_connected_cb);
    Ok(move || {
        let reader = StreamReader::new(limit).expect("limit checked above");
        let state = Rc::new(ConnectionState::default());
        let callback = callback.clone();
        let (feed, st) = (reader.feed_handle(), state.clone());
        let on_connect = Box::new(move |transport: Transport| {
            let (reader, writer) = pair(reader, transport.clone(), st);
            run_client(&transport, callback(reader, writer));
        });
        StreamProtocol::new(feed, state, Some(on_connect))
    })
}

/// The reader and writer of a connection, closing it when both are dropped.
fn pair(
    mut reader: StreamReader,
    transport: Transport,
    state: Rc<ConnectionState>,
) -> (StreamReader, StreamWriter) {
    let close_on_drop = Rc::new(CloseOnDrop(transport.clone()));
    reader.attach(close_on_drop.clone());
    let feed = reader.feed_handle();
    let writer = StreamWriter::new(transport, state, Some(feed), close_on_drop);
    (reader, writer)
}

/// Runs a `client_connected_cb` future as a task; on failure, reports it and closes the
/// connection (asyncio's `StreamReaderProtocol` done-callback).
fn run_client(transport: &Transport, fut: impl Future<Output = Result<()>> + 'static) {
    let Ok(ev) = transport.get_loop() else {
        return;
    };
    let task: Task<Result<()>> = match ev.create_task(fut) {
        Ok(task) => task,
        Err(_) => {
            transport.abort();
            return;
        }
    };
    let transport = transport.clone();
    task.add_done_callback(move |done| {
        let error = match done.take_result() {
            Ok(Ok(())) => return,
            Err(Error::Cancelled(_)) => {
                transport.close();
                return;
            }
            Ok(Err(error)) | Err(error) => error,
        };
        if let Ok(ev) = transport.get_loop() {
            let mut context = ExceptionContext::new("Unhandled exception in client_connected_cb")
                .with_error(error);
            context.transport = Some(format!("{transport:?}"));
            ev.call_exception_handler(&context);
        }
        transport.close();
    });
}

/// asyncio's module-level `asyncio.open_connection`: [`EventLoop::open_connection`] on
/// the running loop. Errors: [`Error::NoRunningLoop`] outside a running loop, and those
/// of the method.
///
/// ```
/// # twinloop::EventLoop::new()?.run_until_complete(async {
/// # let server = twinloop::start_server(|_r, w: twinloop::StreamWriter| async move { w.write(b"220 ready\r\n") }, "127.0.0.1", 0, Default::default()).await?;
/// # let port = server.sockets()[0].local_addr().unwrap().port();
/// let (mut reader, writer) = twinloop::open_connection("127.0.0.1", port, Default::default()).await?;
/// let greeting = reader.readline().await?;
/// assert!(greeting.starts_with(b"220"));
/// writer.close();
/// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
/// ```
pub fn open_connection(
    host: &str,
    port: impl Into<Port>,
    options: StreamOptions<ConnectOptions>,
) -> impl Future<Output = Result<(StreamReader, StreamWriter)>> + 'static {
    let started = current::get_running_loop().map(|ev| ev.open_connection(host, port, options));
    async move { started?.await }
}

/// asyncio's module-level `asyncio.start_server`: [`EventLoop::start_server`] on the
/// running loop. Errors: [`Error::NoRunningLoop`] outside a running loop, and those of
/// the method.
///
/// ```
/// # twinloop::EventLoop::new()?.run_until_complete(async {
/// let server = twinloop::start_server(
///     |_reader, writer: twinloop::StreamWriter| async move { writer.write(b"hello\n") },
///     "127.0.0.1",
///     0,
///     Default::default(),
/// )
/// .await?;
/// assert!(server.is_serving());
/// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
/// ```
pub fn start_server<F, Fut>(
    client_connected_cb: F,
    host: impl Into<Hosts>,
    port: impl Into<Port>,
    options: StreamOptions<ServerOptions>,
) -> impl Future<Output = Result<Server>> + 'static
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output = Result<()>> + 'static,
{
    let started = current::get_running_loop()
        .map(|ev| ev.start_server(client_connected_cb, host, port, options));
    async move { started?.await }
}
