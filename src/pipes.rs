//! `connect_read_pipe` and `connect_write_pipe`: a pipe end as a stream transport.

use std::cell::RefCell;
use std::fs::File;
use std::future::Future;
use std::rc::Rc;

use crate::error::Result;
use crate::net::unsupported_or;
use crate::protocol::AnyProtocol;
use crate::protocol_handle::ProtocolHandle;
use crate::sys;
use crate::transport::{PipeSource, ReadTransport, WriteTransport};
use crate::EventLoop;

impl EventLoop {
    /// asyncio's `loop.connect_read_pipe(protocol_factory, pipe)`: reads the pipe `pipe`
    /// (made non-blocking) into a stream protocol: `connection_made`, `data_received` for
    /// what arrives, `eof_received` once every writer has closed, then
    /// `connection_lost(None)` (a read pipe closes at its end whatever `eof_received`
    /// returns). `get_extra_info("pipe")` is the file descriptor.
    ///
    /// `pipe` is any readable descriptor the poller can watch, as a [`File`]: a pipe, a
    /// FIFO, a PTY, a socket (on Unix, `File::from(OwnedFd::from(reader))` for the
    /// reader of [`std::io::pipe`]); a regular file is refused with an I/O error of kind
    /// `InvalidInput`. As with [`EventLoop::create_connection`], the future is `'static`,
    /// `factory` is called at once, and `connection_made` has run when it completes.
    ///
    /// Unix only: [`Error::Unsupported`](crate::Error::Unsupported) on Windows (mio cannot
    /// watch anonymous pipes there) and in the guest (WASI has no pipes to adopt).
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// use std::{fs::File, io::Write, os::fd::OwnedFd};
    /// use twinloop::{BaseProtocol, LoopFuture, Protocol};
    /// /// Collects what the pipe carries; hands it over at the end.
    /// struct Collect(Vec<u8>, LoopFuture<Vec<u8>>);
    /// impl BaseProtocol for Collect {
    ///     fn connection_lost(&mut self, _: Option<twinloop::Error>) {
    ///         let _ = self.1.set_result(std::mem::take(&mut self.0));
    ///     }
    /// }
    /// impl Protocol for Collect {
    ///     fn data_received(&mut self, data: &[u8]) { self.0.extend_from_slice(data); }
    /// }
    /// let (reader, mut writer) = std::io::pipe()?;
    /// let got = twinloop::run(|ev| async move {
    ///     let done = ev.create_future();
    ///     let reader = File::from(OwnedFd::from(reader));
    ///     let (t, _) = ev.connect_read_pipe(|| Collect(Vec::new(), done.clone()), reader).await?;
    ///     assert!(matches!(t.get_extra_info("pipe"), Some(twinloop::ExtraInfo::Pipe(_))));
    ///     writer.write_all(b"through the pipe")?;
    ///     drop(writer); // end of file
    ///     done.await
    /// })?;
    /// assert_eq!(got, b"through the pipe");
    /// # }
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn connect_read_pipe<P: AnyProtocol>(
        &self,
        factory: impl FnOnce() -> P,
        pipe: File,
    ) -> impl Future<Output = Result<(ReadTransport, ProtocolHandle<P>)>> + 'static {
        let ev = self.clone();
        let protocol = factory();
        let pipe = sys::Pipe::new(pipe).map_err(|e| unsupported_or("connect_read_pipe", e));
        async move {
            let (t, p) = ev
                .start_stream(
                    Box::new(PipeSource::reader(pipe?)),
                    Rc::new(RefCell::new(protocol)),
                )
                .await?;
            Ok((ReadTransport(t), p))
        }
    }

    /// asyncio's `loop.connect_write_pipe(protocol_factory, pipe)`: a stream transport
    /// that writes to the pipe `pipe` (made non-blocking), with the write buffer and flow
    /// control of a [`Transport`](crate::Transport). The protocol gets `connection_made`, then
    /// `connection_lost` once the transport closes: after [`WriteTransport::close`] or
    /// `write_eof` and the buffer is sent, or when the reader goes away (`None` with
    /// nothing buffered, a `BrokenPipe` error otherwise). `pipe` is any writable
    /// descriptor the poller can watch, as a [`File`] (see
    /// [`EventLoop::connect_read_pipe`], which also says where this is available).
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// use std::{fs::File, io::Read, os::fd::OwnedFd};
    /// use twinloop::{BaseProtocol, LoopFuture, Protocol};
    /// /// Says when its transport is gone.
    /// struct Lost(LoopFuture<()>);
    /// impl BaseProtocol for Lost {
    ///     fn connection_lost(&mut self, _: Option<twinloop::Error>) { let _ = self.0.set_result(()); }
    /// }
    /// impl Protocol for Lost {}
    /// let (mut reader, writer) = std::io::pipe()?;
    /// twinloop::run(|ev| async move {
    ///     let lost = ev.create_future();
    ///     let writer = File::from(OwnedFd::from(writer));
    ///     let (t, _) = ev.connect_write_pipe(|| Lost(lost.clone()), writer).await?;
    ///     t.write(b"to the other end")?;
    ///     t.write_eof()?; // closes once sent
    ///     lost.await
    /// })?;
    /// let mut got = String::new();
    /// reader.read_to_string(&mut got)?; // the write end is closed: this ends
    /// assert_eq!(got, "to the other end");
    /// # }
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn connect_write_pipe<P: AnyProtocol>(
        &self,
        factory: impl FnOnce() -> P,
        pipe: File,
    ) -> impl Future<Output = Result<(WriteTransport, ProtocolHandle<P>)>> + 'static {
        let ev = self.clone();
        let protocol = factory();
        let pipe = sys::Pipe::new(pipe).map_err(|e| unsupported_or("connect_write_pipe", e));
        async move {
            let (t, p) = ev
                .start_stream(
                    Box::new(PipeSource::writer(pipe?)),
                    Rc::new(RefCell::new(protocol)),
                )
                .await?;
            Ok((WriteTransport(t), p))
        }
    }
}
