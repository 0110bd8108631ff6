//! `StreamReader`: asyncio's `asyncio.StreamReader`, a buffer the connection's protocol
//! fills and a program reads with coroutines (or through `futures-io`).

use std::cell::RefCell;
use std::fmt;
use std::future::{poll_fn, Future};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::connection::CloseOnDrop;
use crate::error::{Error, Result};
use crate::transport::Transport;

/// The default limit of a [`StreamReader`] (asyncio's `_DEFAULT_LIMIT`, 64 KiB): the
/// longest line [`StreamReader::readline`] and [`StreamReader::readuntil`] accept, and
/// half the buffered amount at which reading from the transport pauses.
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// What the protocol side hands to the reader: bytes not yet moved into the reader's own
/// buffer, the end of the stream or its error, and the transport to pause and resume.
pub(crate) struct Feed {
    /// Bytes fed since the reader last looked; swapped into the reader's buffer (no copy)
    /// when that is empty.
    inbox: Vec<u8>,
    /// Bytes buffered in all: the inbox plus the reader's unread bytes.
    buffered: usize,
    eof: bool,
    error: Option<Error>,
    /// The task waiting for more data, if any.
    waker: Option<Waker>,
    transport: Option<Transport>,
    /// The reader paused the transport's reading (more than twice the limit buffered).
    paused: bool,
    limit: usize,
}

/// The protocol's end of a reader (shared with the [`StreamReader`]).
#[derive(Clone)]
pub(crate) struct FeedHandle(Rc<RefCell<Feed>>);

/// Feeds a [`StreamReader`] from elsewhere: made by [`StreamReader::feeder`]. Clones feed
/// the same reader.
#[derive(Clone)]
pub struct StreamFeeder(FeedHandle);

impl StreamFeeder {
    /// As [`StreamReader::feed_data`].
    pub fn feed_data(&self, data: &[u8]) {
        self.0.feed_data(data);
    }

    /// As [`StreamReader::feed_eof`].
    pub fn feed_eof(&self) {
        self.0.feed_eof();
    }

    /// As [`StreamReader::set_exception`].
    pub fn set_exception(&self, error: Error) {
        self.0.set_exception(error);
    }
}

impl std::fmt::Debug for StreamFeeder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamFeeder")
    }
}

impl FeedHandle {
    pub(crate) fn set_transport(&self, transport: Transport) {
        self.0.borrow_mut().transport = Some(transport);
    }

    pub(crate) fn exception(&self) -> Option<Error> {
        self.0.borrow().error.clone()
    }

    pub(crate) fn feed_data(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let (waker, pause) = {
            let mut feed = self.0.borrow_mut();
            feed.inbox.extend_from_slice(data);
            feed.buffered += data.len();
            let pause = feed.transport.is_some() && !feed.paused && feed.buffered > 2 * feed.limit;
            if pause {
                feed.paused = true;
            }
            (
                feed.waker.take(),
                pause.then(|| feed.transport.clone()).flatten(),
            )
        };
        if let Some(transport) = pause {
            transport.pause_reading();
        }
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    pub(crate) fn feed_eof(&self) {
        let waker = {
            let mut feed = self.0.borrow_mut();
            feed.eof = true;
            feed.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    pub(crate) fn set_exception(&self, error: Error) {
        let waker = {
            let mut feed = self.0.borrow_mut();
            feed.error = Some(error);
            feed.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The connection is gone: let the transport go (it holds the protocol, which holds
    /// this feed).
    pub(crate) fn forget_transport(&self) {
        self.0.borrow_mut().transport = None;
    }
}

/// Reads from a stream connection: asyncio's `asyncio.StreamReader`, made by
/// [`EventLoop::open_connection`](crate::EventLoop::open_connection) and handed to
/// [`EventLoop::start_server`](crate::EventLoop::start_server)'s callback.
///
/// The methods are asyncio's, with its rules for the end of the stream and the limit.
/// Reads take `&mut self`, so one task reads at a time (asyncio raises "already waiting"
/// at run time); dropping a read's future before it completes consumes nothing.
/// Reading is flow-controlled: once more than twice the limit is buffered, the transport
/// stops reading until the program catches up, so a fast peer cannot grow memory without
/// bound.
///
/// It also implements `futures_io::AsyncRead` and `AsyncBufRead`, for the ecosystem's
/// codecs. `new` makes a reader not attached to any connection, fed by hand with
/// [`StreamReader::feed_data`] and [`StreamReader::feed_eof`] (as in asyncio's tests).
///
/// ```
/// # twinloop::EventLoop::new()?.run_until_complete(async {
/// let mut reader = twinloop::StreamReader::new(twinloop::DEFAULT_LIMIT)?;
/// reader.feed_data(b"GET / HTTP/1.0\r\nHost: x\r\n\r\nbody");
/// reader.feed_eof();
/// assert_eq!(reader.readline().await?, b"GET / HTTP/1.0\r\n");
/// assert_eq!(reader.readuntil(b"\r\n\r\n").await?, b"Host: x\r\n\r\n");
/// assert_eq!(reader.read(-1).await?, b"body");
/// assert!(reader.at_eof());
/// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
/// ```
pub struct StreamReader {
    feed: FeedHandle,
    /// Bytes moved out of the feed; `buf[pos..]` is unread.
    buf: Vec<u8>,
    pos: usize,
    /// Shared with the connection's writer: the last one dropped closes the connection.
    close_on_drop: Option<Rc<CloseOnDrop>>,
}

impl StreamReader {
    /// A reader with `limit` (use [`DEFAULT_LIMIT`] for asyncio's default), not attached
    /// to a connection. Errors: [`Error::InvalidArgument`] for a limit of 0.
    ///
    /// ```
    /// assert!(twinloop::StreamReader::new(0).is_err());
    /// ```
    pub fn new(limit: usize) -> Result<StreamReader> {
        if limit == 0 {
            return Err(Error::invalid_argument("StreamReader limit must be > 0"));
        }
        let feed = Feed {
            inbox: Vec::new(),
            buffered: 0,
            eof: false,
            error: None,
            waker: None,
            transport: None,
            paused: false,
            limit,
        };
        Ok(StreamReader {
            feed: FeedHandle(Rc::new(RefCell::new(feed))),
            buf: Vec::new(),
            pos: 0,
            close_on_drop: None,
        })
    }

    /// Ties the reader to its connection (see [`CloseOnDrop`]).
    pub(crate) fn attach(&mut self, close_on_drop: Rc<CloseOnDrop>) {
        self.close_on_drop = Some(close_on_drop);
    }

    pub(crate) fn feed_handle(&self) -> FeedHandle {
        self.feed.clone()
    }

    /// The limit given when the reader was made.
    pub fn limit(&self) -> usize {
        self.feed.0.borrow().limit
    }

    /// How many bytes are buffered, not yet read.
    pub fn buffered_len(&self) -> usize {
        self.feed.0.borrow().buffered
    }

    /// asyncio's `feed_data`: appends bytes as if they had arrived (empty data changes
    /// nothing).
    pub fn feed_data(&self, data: &[u8]) {
        self.feed.feed_data(data);
    }

    /// asyncio's `feed_eof`: the stream ends after what is buffered.
    pub fn feed_eof(&self) {
        self.feed.feed_eof();
    }

    /// A handle that feeds this reader from elsewhere (a protocol of your own, a test)
    /// while a task awaits its reads: in Python both hold the same object; here the
    /// reads need `&mut StreamReader`, so the feeding side holds this.
    ///
    /// ```
    /// # twinloop::EventLoop::new()?.run_until_complete(async {
    /// let mut reader = twinloop::StreamReader::new(twinloop::DEFAULT_LIMIT)?;
    /// let feeder = reader.feeder();
    /// let ev = twinloop::get_running_loop()?;
    /// ev.call_soon(move |_| {
    ///     feeder.feed_data(b"hello\n");
    ///     feeder.feed_eof();
    /// })?;
    /// assert_eq!(reader.readline().await?, b"hello\n"); // waits for the feed
    /// assert!(reader.read(-1).await?.is_empty() && reader.at_eof());
    /// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
    /// ```
    pub fn feeder(&self) -> StreamFeeder {
        StreamFeeder(self.feed.clone())
    }

    /// asyncio's `set_exception`: every later read fails with `error` (also one waiting
    /// now).
    pub fn set_exception(&self, error: Error) {
        self.feed.set_exception(error);
    }

    /// asyncio's `exception`: the error reads fail with, if any.
    pub fn exception(&self) -> Option<Error> {
        self.feed.exception()
    }

    /// asyncio's `at_eof`: the stream ended and everything was read.
    pub fn at_eof(&self) -> bool {
        let feed = self.feed.0.borrow();
        feed.eof && feed.buffered == 0
    }

    /// Moves what the protocol fed into `buf` (a swap when `buf` is drained).
    pub(super) fn pull(&mut self) {
        let mut feed = self.feed.0.borrow_mut();
        if feed.inbox.is_empty() {
            return;
        }
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            std::mem::swap(&mut self.buf, &mut feed.inbox);
        } else {
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            self.buf.extend_from_slice(&feed.inbox);
            feed.inbox.clear();
        }
    }

    pub(super) fn data(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Marks `n` unread bytes read; resumes the transport once the buffer is back at the
    /// limit (asyncio's `_maybe_resume_transport`).
    pub(super) fn consume(&mut self, n: usize) {
        self.pos += n;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.release(n);
    }

    /// Counts `n` bytes as gone from the buffer, and resumes the transport once it is
    /// back at the limit.
    fn release(&mut self, n: usize) {
        let resume = {
            let mut feed = self.feed.0.borrow_mut();
            feed.buffered -= n;
            let resume = feed.paused && feed.buffered <= feed.limit;
            if resume {
                feed.paused = false;
            }
            resume.then(|| feed.transport.clone()).flatten()
        };
        if let Some(transport) = resume {
            transport.resume_reading();
        }
    }

    /// Takes the first `n` unread bytes.
    fn take(&mut self, n: usize) -> Vec<u8> {
        if self.pos == 0 && n == self.buf.len() && self.buf.capacity() <= 2 * n {
            // All of a buffer that holds little more than them: the buffer itself, not a
            // copy; a new one of the same size takes its place.
            let out = std::mem::replace(&mut self.buf, Vec::with_capacity(n));
            self.release(n);
            return out;
        }
        let out = self.data()[..n].to_vec();
        self.consume(n);
        out
    }

    /// Takes everything buffered (after `pull`).
    fn take_all(&mut self) -> Vec<u8> {
        let n = self.data().len();
        self.take(n)
    }

    /// The stream's error, or [`Error::IncompleteRead`] with everything buffered once the
    /// stream ended (after `pull`); `Ok` while more may come.
    fn fail_if_ended(&mut self, expected: Option<usize>) -> Result<()> {
        self.check_error()?;
        if !self.ended() {
            return Ok(());
        }
        let partial = self.take_all();
        Err(Error::IncompleteRead { partial, expected })
    }

    /// The stream ended and everything fed was pulled.
    pub(super) fn ended(&self) -> bool {
        let feed = self.feed.0.borrow();
        feed.eof && feed.inbox.is_empty()
    }

    pub(super) fn check_error(&self) -> Result<()> {
        match self.feed.0.borrow().error.clone() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Registers the task's waker; resumes reading if the reader had paused it, since
    /// the caller needs more than is buffered (asyncio's `_wait_for_data`).
    pub(super) fn poll_more(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let resume = {
            let mut feed = self.feed.0.borrow_mut();
            if !feed.inbox.is_empty() || feed.eof || feed.error.is_some() {
                return Poll::Ready(());
            }
            feed.waker = Some(cx.waker().clone());
            std::mem::replace(&mut feed.paused, false)
                .then(|| feed.transport.clone())
                .flatten()
        };
        if let Some(transport) = resume {
            transport.resume_reading();
        }
        Poll::Pending
    }

    /// Waits until something is fed, the stream ends, or it fails.
    fn wait_for_data(&mut self) -> impl Future<Output = ()> + '_ {
        poll_fn(move |cx| self.poll_more(cx))
    }

    /// asyncio's `read(n)`: `n > 0` waits for some data and returns at most `n` bytes
    /// (empty at the end of the stream); `n < 0` reads to the end of the stream; `n == 0`
    /// returns nothing at once. The limit does not apply. Errors: the stream's error (see
    /// [`StreamReader::exception`]).
    ///
    /// ```
    /// # twinloop::EventLoop::new()?.run_until_complete(async {
    /// let mut reader = twinloop::StreamReader::new(3)?;
    /// reader.feed_data(b"hello");
    /// assert_eq!(reader.read(4).await?, b"hell"); // at most n, the rest stays
    /// reader.feed_eof();
    /// assert_eq!(reader.read(-1).await?, b"o");
    /// assert_eq!(reader.read(10).await?, b""); // end of stream
    /// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
    /// ```
    pub async fn read(&mut self, n: isize) -> Result<Vec<u8>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        if n < 0 {
            let mut out = Vec::new();
            loop {
                self.pull();
                self.check_error()?;
                if out.is_empty() {
                    out = self.take_all();
                } else {
                    let more = self.data().len();
                    out.extend_from_slice(self.data());
                    self.consume(more);
                }
                if self.ended() {
                    return Ok(out);
                }
                self.wait_for_data().await;
            }
        }
        loop {
            self.pull();
            self.check_error()?;
            if !self.data().is_empty() {
                let n = (n as usize).min(self.data().len());
                return Ok(self.take(n));
            }
            if self.ended() {
                return Ok(Vec::new());
            }
            self.wait_for_data().await;
        }
    }

    /// asyncio's `readline`: a line with its `\n`; at the end of the stream the partial
    /// last line, or nothing. A line longer than the limit is [`Error::LimitOverrun`],
    /// and, as asyncio does, that line is dropped from the buffer (up to and including its
    /// `\n` if that arrived; otherwise everything buffered).
    ///
    /// ```
    /// # twinloop::EventLoop::new()?.run_until_complete(async {
    /// let mut reader = twinloop::StreamReader::new(7)?;
    /// reader.feed_data(b"1234567\n12345678\nok");
    /// reader.feed_eof();
    /// assert_eq!(reader.readline().await?, b"1234567\n"); // 7 bytes + '\n': fits
    /// assert!(matches!(reader.readline().await, Err(twinloop::Error::LimitOverrun { .. })));
    /// assert_eq!(reader.readline().await?, b"ok"); // the overlong line was dropped
    /// assert_eq!(reader.readline().await?, b"");
    /// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
    /// ```
    pub async fn readline(&mut self) -> Result<Vec<u8>> {
        match self.readuntil(b"\n").await {
            Ok(line) => Ok(line),
            Err(Error::IncompleteRead { partial, .. }) => Ok(partial),
            Err(Error::LimitOverrun { message, consumed }) => {
                self.pull();
                let data = self.data();
                let drop = if data[consumed.min(data.len())..].starts_with(b"\n") {
                    consumed + 1
                } else {
                    data.len()
                };
                self.consume(drop);
                Err(Error::LimitOverrun { message, consumed })
            }
            Err(e) => Err(e),
        }
    }

    /// asyncio's `readuntil(separator)`: the data up to and including `separator`, also
    /// when the separator arrives split across reads. See
    /// [`StreamReader::readuntil_any`] for the errors.
    ///
    /// ```
    /// # twinloop::EventLoop::new()?.run_until_complete(async {
    /// let mut reader = twinloop::StreamReader::new(twinloop::DEFAULT_LIMIT)?;
    /// for chunk in [&b"QWEaa"[..], b"XYaa", b"a"] {
    ///     reader.feed_data(chunk);
    /// }
    /// assert_eq!(reader.readuntil(b"aaa").await?, b"QWEaaXYaaa");
    /// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
    /// ```
    pub async fn readuntil(&mut self, separator: &[u8]) -> Result<Vec<u8>> {
        self.readuntil_any(&[separator]).await
    }

    /// asyncio's `readuntil` with a tuple of separators (Python 3.13): stops at the
    /// earliest end of any of them.
    ///
    /// Errors: [`Error::InvalidArgument`] for no separators or an empty one;
    /// [`Error::IncompleteRead`] when the stream ends first (`partial` is everything that
    /// was buffered, the buffer is then empty, `expected` is `None`);
    /// [`Error::LimitOverrun`] when more than the limit is buffered and no separator is
    /// in it, or the separator ends beyond the limit: the buffer is left as it was.
    ///
    /// ```
    /// # twinloop::EventLoop::new()?.run_until_complete(async {
    /// let mut reader = twinloop::StreamReader::new(twinloop::DEFAULT_LIMIT)?;
    /// reader.feed_data(b"ABCDEFG");
    /// assert_eq!(reader.readuntil_any(&[b"DEF", b"BCDE"]).await?, b"ABCDE");
    /// reader.feed_eof();
    /// match reader.readuntil(b"\n").await {
    ///     Err(twinloop::Error::IncompleteRead { partial, expected: None }) => assert_eq!(partial, b"FG"),
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
    /// ```
    pub async fn readuntil_any(&mut self, separators: &[&[u8]]) -> Result<Vec<u8>> {
        if separators.is_empty() {
            return Err(Error::invalid_argument(
                "readuntil: separator should contain at least one element",
            ));
        }
        let min_len = separators.iter().map(|s| s.len()).min().unwrap_or(0);
        let max_len = separators.iter().map(|s| s.len()).max().unwrap_or(0);
        if min_len == 0 {
            return Err(Error::invalid_argument(
                "readuntil: separator should be at least one-byte string",
            ));
        }
        self.check_error()?;
        let limit = self.limit();
        let mut offset = 0;
        let (start, end) = loop {
            self.pull();
            let data = self.data();
            if data.len() - offset >= min_len {
                let found = separators
                    .iter()
                    .filter_map(|sep| find(&data[offset..], sep).map(|i| (offset + i, sep.len())))
                    .min_by_key(|&(start, len)| start + len);
                if let Some((start, len)) = found {
                    break (start, start + len);
                }
                offset = (data.len() + 1).saturating_sub(max_len);
                if offset > limit {
                    return Err(Error::LimitOverrun {
                        message: "separator is not found, and chunk exceed the limit",
                        consumed: offset,
                    });
                }
            }
            self.fail_if_ended(None)?;
            self.wait_for_data().await;
        };
        if start > limit {
            return Err(Error::LimitOverrun {
                message: "separator is found, but chunk is longer than limit",
                consumed: start,
            });
        }
        Ok(self.take(end))
    }

    /// asyncio's `readexactly(n)`: exactly `n` bytes (the limit does not apply).
    /// Errors: [`Error::IncompleteRead`] when the stream ends first, with what there was
    /// (the buffer is then empty) and `expected: Some(n)`; the stream's error.
    ///
    /// ```
    /// # twinloop::EventLoop::new()?.run_until_complete(async {
    /// let mut reader = twinloop::StreamReader::new(twinloop::DEFAULT_LIMIT)?;
    /// reader.feed_data(&[1; 18]);
    /// reader.feed_eof();
    /// let err = reader.readexactly(36).await.unwrap_err();
    /// assert_eq!(err.to_string(), "18 bytes read on a total of 36 expected bytes");
    /// # Ok::<(), twinloop::Error>(()) })??; Ok::<(), twinloop::Error>(())
    /// ```
    pub async fn readexactly(&mut self, n: usize) -> Result<Vec<u8>> {
        self.check_error()?;
        if n == 0 {
            return Ok(Vec::new());
        }
        loop {
            self.pull();
            if self.data().len() >= n {
                return Ok(self.take(n));
            }
            self.fail_if_ended(Some(n))?;
            self.wait_for_data().await;
        }
    }
}

impl fmt::Debug for StreamReader {
    /// asyncio's repr: `<StreamReader limit=… N bytes eof paused exception=…>`, each part
    /// only when it applies.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let feed = self.feed.0.borrow();
        f.write_str("<StreamReader")?;
        if feed.limit != DEFAULT_LIMIT {
            write!(f, " limit={}", feed.limit)?;
        }
        if feed.buffered > 0 {
            write!(f, " {} bytes", feed.buffered)?;
        }
        if feed.eof {
            f.write_str(" eof")?;
        }
        if feed.paused {
            f.write_str(" paused")?;
        }
        if let Some(error) = &feed.error {
            write!(f, " exception={error}")?;
        }
        if feed.waker.is_some() {
            f.write_str(" waiter")?;
        }
        f.write_str(">")
    }
}

/// The first index of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() == 1 {
        return haystack.iter().position(|&b| b == needle[0]);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}
