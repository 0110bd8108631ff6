//! The error type of every fallible twinloop call.
//!
//! Python's exceptions become variants here, as `api-map.md` says: `RuntimeError` about the
//! loop's state becomes [`Error::LoopClosed`], [`Error::LoopRunning`] and friends,
//! `CancelledError` becomes [`Error::Cancelled`], `InvalidStateError` becomes
//! [`Error::InvalidState`], `OSError` becomes [`Error::Io`] with the OS error kept.

use std::fmt;
use std::io;
use std::sync::Arc;

use crate::sys;

/// `Result<T, twinloop::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong. Each message says what to do about it where there is something to do.
///
/// `Error` is `Clone` (I/O errors are shared through an `Arc`) so that a failed future can
/// hand the same error to every party that looks at it.
///
/// ```
/// use twinloop::{Error, EventLoop};
/// let ev = EventLoop::new()?;
/// ev.close()?;
/// assert!(matches!(ev.call_soon(|_| {}), Err(Error::LoopClosed)));
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Error {
    /// The loop was closed with `close()`; create a new loop with `EventLoop::new()`.
    LoopClosed,
    /// `run_forever`/`run_until_complete` (or `close`) was called while this loop runs.
    LoopRunning,
    /// Another loop is already running on this thread; loops do not nest.
    AnotherLoopRunning,
    /// `get_running_loop()` was called outside a running loop.
    NoRunningLoop,
    /// `get_event_loop()` found neither a running loop nor one set with `set_event_loop`.
    NoCurrentLoop,
    /// `stop()` was called before the future given to `run_until_complete` completed.
    LoopStopped,
    /// The future or task was cancelled, with the message given to `cancel`, if any.
    Cancelled(Option<String>),
    /// The operation does not fit the object's state (a second `set_result`, `result()` of a
    /// pending future, ...). The text says which.
    InvalidState(String),
    /// An operation did not finish in time.
    Timeout,
    /// A callback or task panicked; the panic message is kept.
    Panic(String),
    /// This target cannot do the operation: `what` names the call, `target` the target.
    Unsupported {
        /// The call that is not available.
        what: &'static str,
        /// The target that lacks it, e.g. `"wasm32-wasip1"`.
        target: &'static str,
    },
    /// An argument is out of range or inconsistent with another one. The text says which.
    InvalidArgument(String),
    /// An operating-system (or WASI) error, kept as it came.
    Io(Arc<io::Error>),
    /// A transport's write buffer would have grown past its hard limit
    /// ([`Transport::set_write_buffer_max`](crate::Transport::set_write_buffer_max)); the
    /// transport is closed with this error. Honour `pause_writing`, or raise the limit.
    WriteBufferFull {
        /// Bytes the buffer would have held.
        buffered: usize,
        /// The limit.
        limit: usize,
    },
    /// TLS failed (asyncio's `ssl.SSLError`): the handshake (an untrusted certificate is
    /// `InvalidCertificate(UnknownIssuer)`, one that does not name the server
    /// `InvalidCertificate(NotValidForName…)`, an expired one `…(Expired…)`), or
    /// garbage where records should be. The peer was sent an alert where possible.
    Tls(rustls::Error),
    /// A TLS handshake or shutdown took longer than its timeout (`ssl_handshake_timeout`,
    /// `ssl_shutdown_timeout`); the connection was aborted. `phase` is `"handshake"` or
    /// `"shutdown"`. [`Error::is_timeout`] is true for it as for [`Error::Timeout`].
    TlsTimeout {
        /// `"handshake"` or `"shutdown"`.
        phase: &'static str,
        /// The timeout that passed.
        limit: std::time::Duration,
    },
    /// Several attempts failed (`all_errors`, or `create_connection` over several addresses).
    Multiple(Vec<Error>),
    /// The stream ended before a read was satisfied (asyncio's `IncompleteReadError`):
    /// [`StreamReader::readexactly`](crate::StreamReader::readexactly) and
    /// [`StreamReader::readuntil`](crate::StreamReader::readuntil). The bytes that were
    /// there are in `partial` (the reader's buffer is empty afterwards).
    IncompleteRead {
        /// What was read before the end of the stream.
        partial: Vec<u8>,
        /// How many bytes were asked for; `None` for `readuntil` (no separator came).
        expected: Option<usize>,
    },
    /// `sendfile` with `fallback: false` where there is no zero-copy path (asyncio's
    /// `SendfileNotAvailableError`): nothing was sent. Allow the fallback, which reads
    /// the file and writes it through the transport.
    SendfileNotAvailable(String),
    /// A [`StreamReader`](crate::StreamReader) found no separator within its limit
    /// (asyncio's `LimitOverrunError`). `readuntil` leaves the buffer as it was, so the
    /// data can still be read with `read`; `readline` drops the overlong line, as asyncio
    /// does. Raise the limit ([`StreamOptions::limit`](crate::StreamOptions)) for
    /// longer lines.
    LimitOverrun {
        /// What happened: the separator is not within the limit, or it is beyond it.
        message: &'static str,
        /// How many bytes the separator search covered (asyncio's `consumed`).
        consumed: usize,
    },
}

impl Error {
    /// True for [`Error::Cancelled`]. Example: [`Error::io_kind`].
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled(_))
    }

    /// True for [`Error::Timeout`] and [`Error::TlsTimeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use twinloop::Error;
    /// let slow = Error::TlsTimeout { phase: "handshake", limit: Duration::from_secs(60) };
    /// assert!(slow.is_timeout() && Error::Timeout.is_timeout());
    /// assert_eq!(slow.to_string(), "TLS handshake is taking longer than 60 seconds: connection aborted");
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout | Error::TlsTimeout { .. })
    }

    /// The `io::ErrorKind` of an [`Error::Io`], `None` for other variants.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use twinloop::Error;
    /// let refused = Error::from(std::io::Error::from(ErrorKind::ConnectionRefused));
    /// assert_eq!(refused.io_kind(), Some(ErrorKind::ConnectionRefused));
    /// assert_eq!(refused.raw_os_error(), None); // made here, not by the OS
    /// assert_eq!(Error::Timeout.io_kind(), None);
    /// assert!(Error::Cancelled(None).is_cancelled());
    /// ```
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            Error::Io(e) => Some(e.kind()),
            _ => None,
        }
    }

    /// The raw OS error code of an [`Error::Io`], when there is one: natively the OS's
    /// `errno` (as asyncio's `OSError.errno`), also for connect, bind and accept failures
    /// whose message twinloop extended, so a caller can tell `EMFILE` from `EADDRINUSE`.
    /// In the guest, WASI's socket error codes numbered as wasi-libc numbers them (the
    /// `libc::E*` constants of `wasm32-wasip1`: `address-in-use` is `EADDRINUSE`, and so
    /// on); `None` for lookup failures, which have no `errno`. Either way
    /// `std::io::Error::from_raw_os_error(code).kind()` gives the same kind as
    /// [`Error::io_kind`].
    ///
    /// ```
    /// let ev = twinloop::EventLoop::new()?;
    /// let busy = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let port = busy.local_addr()?.port();
    /// let opts = twinloop::ServerOptions { reuse_address: false, ..Default::default() };
    /// # struct Quiet; impl twinloop::BaseProtocol for Quiet {} impl twinloop::Protocol for Quiet {}
    /// let err = ev.run_until_complete(ev.create_server(|| Quiet, "127.0.0.1", port, opts))?.unwrap_err();
    /// assert_eq!(err.io_kind(), Some(std::io::ErrorKind::AddrInUse));
    /// let code = err.raw_os_error().expect("the OS's errno");
    /// assert_eq!(std::io::Error::from_raw_os_error(code).kind(), std::io::ErrorKind::AddrInUse);
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io(e) => raw_os_error(e),
            _ => None,
        }
    }

    pub(crate) fn invalid_state(what: impl Into<String>) -> Error {
        Error::InvalidState(what.into())
    }

    pub(crate) fn invalid_argument(what: impl Into<String>) -> Error {
        Error::InvalidArgument(what.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::LoopClosed => f.write_str("event loop is closed; create a new one"),
            Error::LoopRunning => f.write_str("this event loop is already running"),
            Error::AnotherLoopRunning => f.write_str(
                "cannot run the event loop while another loop is running on this thread",
            ),
            Error::NoRunningLoop => f.write_str("no running event loop"),
            Error::NoCurrentLoop => f.write_str(
                "no current event loop; create one with EventLoop::new() or set_event_loop()",
            ),
            Error::LoopStopped => f.write_str("event loop stopped before future completed"),
            Error::Cancelled(None) => f.write_str("cancelled"),
            Error::Cancelled(Some(msg)) => write!(f, "cancelled: {msg}"),
            Error::InvalidState(what) => write!(f, "invalid state: {what}"),
            Error::Timeout => f.write_str("operation timed out"),
            Error::Panic(msg) => write!(f, "panicked: {msg}"),
            Error::Unsupported { what, target } => {
                write!(f, "{what} is not supported on {target}")
            }
            Error::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
            Error::Io(e) => write!(f, "{e}"),
            Error::WriteBufferFull { buffered, limit } => write!(
                f,
                "write buffer limit exceeded ({buffered} bytes > {limit}): the protocol \
                 should stop writing on pause_writing, or raise the limit with \
                 Transport::set_write_buffer_max"
            ),
            Error::IncompleteRead { partial, expected } => match expected {
                Some(n) => write!(
                    f,
                    "{} bytes read on a total of {n} expected bytes",
                    partial.len()
                ),
                None => write!(
                    f,
                    "{} bytes read on a total of undefined expected bytes",
                    partial.len()
                ),
            },
            Error::SendfileNotAvailable(why) => write!(
                f,
                "sendfile is not available: {why}; pass fallback = true to read and write instead"
            ),
            Error::LimitOverrun { message, consumed } => write!(
                f,
                "{message} (after {consumed} bytes); raise the stream's limit for longer lines"
            ),
            Error::Tls(e @ rustls::Error::InvalidCertificate(_)) => write!(
                f,
                "TLS certificate verify failed: {e} (check the roots of the client's \
                 configuration and server_hostname)"
            ),
            Error::Tls(e) => write!(f, "TLS error: {e}"),
            Error::TlsTimeout { phase, limit } => write!(
                f,
                "TLS {phase} is taking longer than {} seconds: connection aborted",
                limit.as_secs_f64()
            ),
            Error::Multiple(errors) => {
                f.write_str("multiple errors: ")?;
                for (i, e) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(&**e),
            Error::Tls(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    /// An I/O error; a TLS byte stream's rustls error (carried in an `io::Error`) becomes
    /// [`Error::Tls`] again.
    fn from(e: io::Error) -> Error {
        if !e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
            return Error::Io(Arc::new(e));
        }
        let kind = e.kind();
        match e
            .into_inner()
            .map(|inner| inner.downcast::<rustls::Error>())
        {
            Some(Ok(tls)) => Error::Tls(*tls),
            Some(Err(other)) => Error::Io(Arc::new(io::Error::new(kind, other))),
            None => Error::Io(Arc::new(kind.into())),
        }
    }
}

/// The text of a caught panic payload.
/// An OS error with what was being done ("connect to 10.0.0.1:80 failed"). The OS error
/// stays inside, so [`Error::raw_os_error`] still finds its code.
#[derive(Debug)]
struct OsErrorContext {
    doing: String,
    error: io::Error,
}

impl fmt::Display for OsErrorContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.doing, self.error)
    }
}

impl std::error::Error for OsErrorContext {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// `error` with a description of what was being done, keeping its kind and OS code.
pub(crate) fn io_context(error: io::Error, doing: impl fmt::Display) -> io::Error {
    io::Error::new(
        error.kind(),
        OsErrorContext {
            doing: doing.to_string(),
            error,
        },
    )
}

/// The OS code of `error`, also when it was wrapped by [`io_context`] or carries a code
/// the backend attached (`sys::attached_os_code`).
pub(crate) fn raw_os_error(mut error: &io::Error) -> Option<i32> {
    loop {
        if let Some(code) = error.raw_os_error() {
            return Some(code);
        }
        let inner = error.get_ref()?;
        match inner.downcast_ref::<OsErrorContext>() {
            Some(context) => error = &context.error,
            None => return sys::attached_os_code(inner),
        }
    }
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
