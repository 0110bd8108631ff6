//! The guest's stdout and stderr, routed through the host.
//!
//! wasmtime-wasi's inherited stdio writes to the host's descriptor with a
//! blocking write in the middle of the guest's call: a guest writing to a pipe
//! nobody reads would hold its thread forever, out of reach of the time limit.
//! Here the guest only ever queues bytes:
//!
//! - **Forwarded** output ([`Stdio::Inherit`](crate::Stdio::Inherit)) goes to
//!   one [`Forwarder`] per host descriptor, a thread that owns a duplicate of
//!   the descriptor and does the blocking writes. The guest may queue up to
//!   [`FORWARD_WINDOW`] bytes; past that (and after a flush, until the queue
//!   is written) it waits in an async `ready`, where the time limit can stop
//!   it. A forwarder blocked for good on a pipe nobody reads is abandoned with
//!   the guest.
//! - **Captured** output goes to memory.
//!
//! Both count every byte against the run's [`OutputBudget`] (`--max-output`,
//! stdout and stderr together): the bytes up to the limit are forwarded or
//! kept, then the guest ends with [`Limit::Output`].

use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::io::{self, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{ready, Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use tokio::io::AsyncWrite;
use tokio::sync::Notify;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use crate::limits::{format_bytes, Limit, LimitExceeded};

/// How many bytes a guest may have queued for a host descriptor before its
/// writes wait.
pub const FORWARD_WINDOW: usize = 64 << 10;

/// How many bytes one `check_write` admits for captured output.
const CAPTURE_PERMIT: usize = 64 << 10;

/// The host descriptors guest output can be forwarded to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostStream {
    Stdout,
    Stderr,
}

/// The bytes a run may still write to stdout and stderr together.
#[derive(Debug)]
pub(crate) struct OutputBudget {
    limit: Option<u64>,
    /// What reaching `limit` means, for the message.
    limit_name: &'static str,
    written: AtomicU64,
}

impl OutputBudget {
    /// A budget of `limit` bytes (`--max-output`), if any.
    pub(crate) fn new(limit: Option<u64>) -> Arc<OutputBudget> {
        Arc::new(OutputBudget {
            limit,
            limit_name: "(--max-output)",
            written: AtomicU64::new(0),
        })
    }

    /// A budget for captured output: `--max-output` or `capacity`, whichever
    /// is smaller.
    pub(crate) fn for_capture(limit: Option<u64>, capacity: u64) -> Arc<OutputBudget> {
        match limit {
            Some(l) if l <= capacity => OutputBudget::new(Some(l)),
            _ => Arc::new(OutputBudget {
                limit: Some(capacity),
                limit_name: "(the most the host captures; see --max-output)",
                written: AtomicU64::new(0),
            }),
        }
    }

    /// Takes `len` bytes from the budget: how many of them may go out, and
    /// the error to end the guest with if not all of them.
    fn take(&self, len: usize) -> (usize, Option<StreamError>) {
        let before = self.written.fetch_add(len as u64, Ordering::Relaxed);
        let Some(limit) = self.limit else {
            return (len, None);
        };
        let allowed = limit.saturating_sub(before).min(len as u64) as usize;
        if allowed == len {
            return (len, None);
        }
        let exceeded = LimitExceeded::new(
            Limit::Output,
            format!(
                "the guest wrote more than {} {} to stdout and stderr",
                format_bytes(limit),
                self.limit_name
            ),
        );
        (
            allowed,
            Some(StreamError::Trap(wasmtime::Error::new(exceeded))),
        )
    }
}

/// One of the guest's output streams: where its bytes go and the budget they
/// count against. Given to the WASI context as its stdout or stderr.
#[derive(Clone)]
pub(crate) struct GuestOutput {
    sink: Sink,
    budget: Arc<OutputBudget>,
}

#[derive(Clone)]
enum Sink {
    Forward(&'static Forwarder),
    Capture(Arc<Mutex<Vec<u8>>>),
}

impl GuestOutput {
    /// Output forwarded to the host's own stdout or stderr.
    pub(crate) fn forward(to: HostStream, budget: Arc<OutputBudget>) -> GuestOutput {
        GuestOutput {
            sink: Sink::Forward(Forwarder::get(to)),
            budget,
        }
    }

    /// Output kept in `buffer` (two streams may share one).
    pub(crate) fn capture(buffer: Arc<Mutex<Vec<u8>>>, budget: Arc<OutputBudget>) -> GuestOutput {
        GuestOutput {
            sink: Sink::Capture(buffer),
            budget,
        }
    }

    /// Waits until what the guest queued has been written to the host's
    /// descriptor, or until `deadline`; whether it was. Captured output is
    /// always complete.
    pub(crate) fn drain(&self, deadline: Option<Instant>) -> bool {
        match &self.sink {
            Sink::Forward(f) => f.drain(deadline),
            Sink::Capture(_) => true,
        }
    }

    fn stream(&self) -> GuestOutputStream {
        GuestOutputStream {
            output: self.clone(),
            flushing: false,
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        match &self.sink {
            Sink::Forward(f) => match f.stream {
                HostStream::Stdout => io::IsTerminal::is_terminal(&io::stdout()),
                HostStream::Stderr => io::IsTerminal::is_terminal(&io::stderr()),
            },
            Sink::Capture(_) => false,
        }
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.stream())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(GuestAsyncWrite {
            stream: self.stream(),
            waiting: None,
        })
    }
}

/// A `wasi:io/streams.output-stream` over a [`GuestOutput`].
struct GuestOutputStream {
    output: GuestOutput,
    /// A flush was asked for: `ready` waits until the queue is written.
    flushing: bool,
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutputStream {
    async fn ready(&mut self) {
        let Sink::Forward(forwarder) = self.output.sink.clone() else {
            return;
        };
        if self.flushing {
            forwarder.emptied().await;
            self.flushing = false;
        } else {
            forwarder.room().await;
        }
    }
}

impl OutputStream for GuestOutputStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let (allowed, exceeded) = self.output.budget.take(bytes.len());
        let bytes = bytes.slice(..allowed);
        match &self.output.sink {
            Sink::Capture(buffer) => buffer.lock().unwrap().extend_from_slice(&bytes),
            Sink::Forward(f) => f.push(bytes)?,
        }
        match exceeded {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn flush(&mut self) -> StreamResult<()> {
        if let Sink::Forward(f) = &self.output.sink {
            if f.state.lock().unwrap().failed {
                return Err(StreamError::Closed);
            }
            self.flushing = true;
        }
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        match &self.output.sink {
            Sink::Capture(_) => Ok(CAPTURE_PERMIT),
            Sink::Forward(f) => {
                let state = f.state.lock().unwrap();
                if state.failed {
                    return Err(StreamError::Closed);
                }
                if self.flushing && state.queued > 0 {
                    return Ok(0);
                }
                Ok(FORWARD_WINDOW.saturating_sub(state.queued))
            }
        }
    }
}

/// The same stream as a tokio `AsyncWrite`, for WASIp3's stdio.
struct GuestAsyncWrite {
    stream: GuestOutputStream,
    waiting: Option<Pin<Box<dyn Future<Output = ()> + Send + Sync>>>,
}

impl AsyncWrite for GuestAsyncWrite {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            if let Some(waiting) = &mut self.waiting {
                ready!(waiting.as_mut().poll(cx));
                self.waiting = None;
            }
            let permit = self.stream.check_write().map_err(io::Error::other)?;
            if permit > 0 {
                let n = permit.min(buf.len());
                self.stream
                    .write(Bytes::copy_from_slice(&buf[..n]))
                    .map_err(io::Error::other)?;
                return Poll::Ready(Ok(n));
            }
            let Sink::Forward(forwarder) = self.stream.output.sink.clone() else {
                unreachable!("captured output always has room");
            };
            self.waiting = Some(Box::pin(forwarder.room()));
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Sink::Forward(forwarder) = self.stream.output.sink.clone() else {
            return Poll::Ready(Ok(()));
        };
        loop {
            if let Some(waiting) = &mut self.waiting {
                ready!(waiting.as_mut().poll(cx));
                self.waiting = None;
            }
            let state = forwarder.state.lock().unwrap();
            if state.failed {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            if state.queued == 0 {
                return Poll::Ready(Ok(()));
            }
            drop(state);
            self.waiting = Some(Box::pin(forwarder.emptied()));
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

/// A thread that writes queued guest output to one host descriptor.
pub(crate) struct Forwarder {
    stream: HostStream,
    state: Mutex<ForwardState>,
    /// Wakes the writer thread when the queue gets bytes.
    has_bytes: Condvar,
    /// Signalled after every write (or failure): queued bytes went down.
    progress: Notify,
    /// The same for threads that wait without a runtime ([`Forwarder::drain`]).
    progress_sync: Condvar,
}

#[derive(Default)]
struct ForwardState {
    queue: VecDeque<Bytes>,
    /// Bytes in `queue` plus the chunk being written.
    queued: usize,
    /// The descriptor failed (e.g. a closed pipe); nothing more is written.
    failed: bool,
}

impl Forwarder {
    /// The process's forwarder for `stream`, started on first use.
    fn get(stream: HostStream) -> &'static Forwarder {
        static STDOUT: OnceLock<&'static Forwarder> = OnceLock::new();
        static STDERR: OnceLock<&'static Forwarder> = OnceLock::new();
        let cell = match stream {
            HostStream::Stdout => &STDOUT,
            HostStream::Stderr => &STDERR,
        };
        cell.get_or_init(|| Forwarder::start(stream))
    }

    fn start(stream: HostStream) -> &'static Forwarder {
        let forwarder: &'static Forwarder = Box::leak(Box::new(Forwarder {
            stream,
            state: Mutex::new(ForwardState::default()),
            has_bytes: Condvar::new(),
            progress: Notify::new(),
            progress_sync: Condvar::new(),
        }));
        // A duplicate of the descriptor, written without std's stdout lock,
        // so that a writer blocked for good never blocks the host's own
        // messages on the other stream or std's flush at exit.
        let file = match duplicate(stream) {
            Ok(file) => Some(file),
            Err(_) => {
                forwarder.state.lock().unwrap().failed = true;
                None
            }
        };
        if let Some(file) = file {
            let spawned = std::thread::Builder::new()
                .name(format!("twinloop-{stream:?}-forwarder").to_lowercase())
                .spawn(move || forwarder.write_loop(file));
            if spawned.is_err() {
                forwarder.state.lock().unwrap().failed = true;
            }
        }
        forwarder
    }

    fn push(&self, bytes: Bytes) -> StreamResult<()> {
        let mut state = self.state.lock().unwrap();
        if state.failed {
            return Err(StreamError::Closed);
        }
        if !bytes.is_empty() {
            state.queued += bytes.len();
            state.queue.push_back(bytes);
            self.has_bytes.notify_one();
        }
        Ok(())
    }

    fn write_loop(&self, mut file: File) {
        loop {
            let chunk = {
                let mut state = self.state.lock().unwrap();
                loop {
                    if let Some(chunk) = state.queue.pop_front() {
                        break chunk;
                    }
                    state = self.has_bytes.wait(state).unwrap();
                }
            };
            let result = file.write_all(&chunk).and_then(|()| file.flush());
            {
                let mut state = self.state.lock().unwrap();
                state.queued -= chunk.len();
                if result.is_err() {
                    state.failed = true;
                    state.queue.clear();
                    state.queued = 0;
                }
            }
            self.progress.notify_waiters();
            self.progress_sync.notify_all();
            if result.is_err() {
                return;
            }
        }
    }

    /// Resolves once fewer than [`FORWARD_WINDOW`] bytes are queued.
    async fn room(&self) {
        self.wait_until(|s| s.queued < FORWARD_WINDOW || s.failed)
            .await
    }

    /// Resolves once nothing is queued.
    async fn emptied(&self) {
        self.wait_until(|s| s.queued == 0 || s.failed).await
    }

    async fn wait_until(&self, done: impl Fn(&ForwardState) -> bool) {
        loop {
            let notified = self.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if done(&self.state.lock().unwrap()) {
                return;
            }
            notified.await;
        }
    }

    fn drain(&self, deadline: Option<Instant>) -> bool {
        let mut state = self.state.lock().unwrap();
        while state.queued > 0 && !state.failed {
            state = match deadline {
                None => self.progress_sync.wait(state).unwrap(),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.progress_sync.wait_timeout(state, left).unwrap().0
                }
            };
        }
        true
    }
}

/// A `File` on a duplicate of the host's stdout or stderr.
fn duplicate(stream: HostStream) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        let fd = match stream {
            HostStream::Stdout => io::stdout().as_fd().try_clone_to_owned()?,
            HostStream::Stderr => io::stderr().as_fd().try_clone_to_owned()?,
        };
        Ok(File::from(fd))
    }
    #[cfg(windows)]
    {
        use std::os::windows::io::AsHandle;
        let handle = match stream {
            HostStream::Stdout => io::stdout().as_handle().try_clone_to_owned()?,
            HostStream::Stderr => io::stderr().as_handle().try_clone_to_owned()?,
        };
        Ok(File::from(handle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(limit: Option<u64>) -> (GuestOutput, Arc<Mutex<Vec<u8>>>) {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let budget = OutputBudget::for_capture(limit, 1 << 20);
        (GuestOutput::capture(buffer.clone(), budget), buffer)
    }

    #[test]
    fn capture_keeps_bytes_up_to_the_limit_then_traps() {
        let (output, buffer) = captured(Some(10));
        let mut stream = output.stream();
        stream.write(Bytes::from_static(b"hello ")).unwrap();
        let err = stream.write(Bytes::from_static(b"world!")).unwrap_err();
        let StreamError::Trap(e) = err else {
            panic!("expected a trap, got {err:?}")
        };
        let exceeded = e.downcast_ref::<LimitExceeded>().unwrap();
        assert_eq!(exceeded.limit, Limit::Output);
        assert_eq!(
            exceeded.to_string(),
            "output limit exceeded: the guest wrote more than 10 bytes (--max-output) to stdout and stderr"
        );
        assert_eq!(&*buffer.lock().unwrap(), b"hello worl");
    }

    #[test]
    fn capture_without_max_output_is_bounded_by_the_capacity() {
        let (output, _) = captured(None);
        let mut stream = output.stream();
        let mb = Bytes::from(vec![b'x'; 1 << 20]);
        stream.write(mb.clone()).unwrap();
        let err = stream.write(Bytes::from_static(b"y")).unwrap_err();
        assert!(
            err.to_string().contains("the most the host captures"),
            "{err}"
        );
    }

    #[test]
    fn async_write_goes_to_the_same_place() {
        let (output, buffer) = captured(None);
        let mut w = Pin::from(output.async_stream());
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let n = match w.as_mut().poll_write(&mut cx, b"abc") {
            Poll::Ready(Ok(n)) => n,
            other => panic!("{other:?}"),
        };
        assert_eq!(n, 3);
        assert!(w.as_mut().poll_flush(&mut cx).is_ready());
        assert_eq!(&*buffer.lock().unwrap(), b"abc");
    }
}
