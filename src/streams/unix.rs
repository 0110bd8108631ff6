//! Streams over Unix domain sockets: asyncio's `open_unix_connection` and
//! `start_unix_server` (Unix only; [`Error::Unsupported`](crate::Error::Unsupported) in
//! the guest and on Windows).

use std::future::Future;

use super::{server_factory, StreamClient, StreamOptions, StreamReader, StreamWriter};
use crate::error::Result;
use crate::net::{Server, UnixAddr, UnixConnectOptions, UnixServerOptions};
use crate::{current, EventLoop};

impl EventLoop {
    /// asyncio's `asyncio.open_unix_connection(path, limit=..., **kwds)`: connects as
    /// [`EventLoop::create_unix_connection`] does and returns a reader and a writer, as
    /// [`EventLoop::open_connection`] does.
    ///
    /// ```
    /// use twinloop::{StreamReader, StreamWriter};
    /// # twinloop::EventLoop::new()?.run_until_complete(async { let ev = twinloop::get_running_loop()?;
    /// async fn greet(_reader: StreamReader, writer: StreamWriter) -> twinloop::Result<()> {
    ///     writer.write(b"hello\n")
    /// }
    /// let path = std::env::temp_dir().join(format!("twinloop-streams-doc-{}.sock", std::process::id()));
    /// let server = ev.start_unix_server(greet, &path, Default::default()).await?;
    /// let (mut reader, _writer) = ev.open_unix_connection(&path, Default::default()).await?;
    /// assert_eq!(reader.readline().await?, b"hello\n");
    /// server.close();
    /// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
    /// ```
    pub fn open_unix_connection(
        &self,
        path: impl Into<UnixAddr>,
        options: StreamOptions<UnixConnectOptions>,
    ) -> impl Future<Output = Result<(StreamReader, StreamWriter)>> + 'static {
        let ev = self.clone();
        let path = path.into();
        async move {
            let client = StreamClient::new(options.limit)?;
            let (transport, _) = ev
                .create_unix_connection(client.factory(), path, options.options)
                .await?;
            Ok(client.into_pair(transport))
        }
    }

    /// asyncio's `asyncio.start_unix_server(client_connected_cb, path, limit=..., **kwds)`:
    /// serves as [`EventLoop::create_unix_server`] does, running `client_connected_cb`
    /// as [`EventLoop::start_server`] does. Example: [`EventLoop::open_unix_connection`].
    pub fn start_unix_server<F, Fut>(
        &self,
        client_connected_cb: F,
        path: impl Into<UnixAddr>,
        options: StreamOptions<UnixServerOptions>,
    ) -> impl Future<Output = Result<Server>> + 'static
    where
        F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
        Fut: Future<Output = Result<()>> + 'static,
    {
        let ev = self.clone();
        let path = path.into();
        let factory = server_factory(options.limit, client_connected_cb);
        async move { ev.create_unix_server(factory?, path, options.options).await }
    }
}

/// asyncio's module-level `asyncio.open_unix_connection`: the method on the running loop.
/// Errors: [`Error::NoRunningLoop`](crate::Error::NoRunningLoop) outside a running loop,
/// and those of [`EventLoop::open_unix_connection`].
///
/// ```no_run
/// # twinloop::EventLoop::new()?.run_until_complete(async {
/// let (mut reader, writer) = twinloop::open_unix_connection("/run/app.sock", Default::default()).await?;
/// writer.write(b"PING\n")?;
/// let answer = reader.readline().await?;
/// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
/// ```
pub fn open_unix_connection(
    path: impl Into<UnixAddr>,
    options: StreamOptions<UnixConnectOptions>,
) -> impl Future<Output = Result<(StreamReader, StreamWriter)>> + 'static {
    let started = current::get_running_loop().map(|ev| ev.open_unix_connection(path, options));
    async move { started?.await }
}

/// asyncio's module-level `asyncio.start_unix_server`: the method on the running loop.
///
/// ```no_run
/// # twinloop::EventLoop::new()?.run_until_complete(async {
/// let server = twinloop::start_unix_server(
///     |_reader, writer: twinloop::StreamWriter| async move { writer.write(b"hello\n") },
///     "/run/app.sock",
///     Default::default(),
/// ).await?;
/// server.serve_forever().await
/// # })??; Ok::<(), twinloop::Error>(())
/// ```
pub fn start_unix_server<F, Fut>(
    client_connected_cb: F,
    path: impl Into<UnixAddr>,
    options: StreamOptions<UnixServerOptions>,
) -> impl Future<Output = Result<Server>> + 'static
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output = Result<()>> + 'static,
{
    let started = current::get_running_loop()
        .map(|ev| ev.start_unix_server(client_connected_cb, path, options));
    async move { started?.await }
}
