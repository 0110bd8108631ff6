//! WASI `wasi:sockets/network.error-code` and stream errors as `io::Error`s: one mapping,
//! with the WASI code name kept in every message (e.g. "connection refused (wasi
//! connection-refused)").

use std::io;

use wasi::sockets::network::ErrorCode;

use crate::error::raw_os_error;

/// The `io::ErrorKind` closest to a WASI socket error code.
pub(super) fn kind(code: ErrorCode) -> io::ErrorKind {
    use io::ErrorKind as K;
    match code {
        ErrorCode::AccessDenied => K::PermissionDenied,
        ErrorCode::NotSupported => K::Unsupported,
        // Most `invalid-state` cases are EINVAL in POSIX (bind twice, listen unbound).
        ErrorCode::InvalidArgument | ErrorCode::InvalidState | ErrorCode::DatagramTooLarge => {
            K::InvalidInput
        }
        ErrorCode::OutOfMemory => K::OutOfMemory,
        ErrorCode::Timeout => K::TimedOut,
        ErrorCode::WouldBlock => K::WouldBlock,
        ErrorCode::AddressNotBindable => K::AddrNotAvailable,
        ErrorCode::AddressInUse => K::AddrInUse,
        ErrorCode::RemoteUnreachable => K::HostUnreachable,
        ErrorCode::ConnectionRefused => K::ConnectionRefused,
        ErrorCode::ConnectionReset => K::ConnectionReset,
        ErrorCode::ConnectionAborted => K::ConnectionAborted,
        ErrorCode::NameUnresolvable => K::NotFound,
        ErrorCode::Unknown
        | ErrorCode::ConcurrencyConflict
        | ErrorCode::NotInProgress
        | ErrorCode::NewSocketLimit
        | ErrorCode::TemporaryResolverFailure
        | ErrorCode::PermanentResolverFailure => K::Other,
    }
}

/// A one-line description (the bindings' own `message()` spans several lines).
fn describe(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Unknown => "unknown error",
        ErrorCode::AccessDenied => {
            "access denied by the host's network policy (twinloop-host --allow-net)"
        }
        ErrorCode::NotSupported => "operation not supported by the host",
        ErrorCode::InvalidArgument => "invalid argument",
        ErrorCode::OutOfMemory => "out of memory",
        ErrorCode::Timeout => "timed out",
        ErrorCode::ConcurrencyConflict => "another operation is in progress on this socket",
        ErrorCode::NotInProgress => "no operation in progress to finish",
        ErrorCode::WouldBlock => "operation would block",
        ErrorCode::InvalidState => "not valid in the socket's current state",
        ErrorCode::NewSocketLimit => "too many open sockets",
        ErrorCode::AddressNotBindable => "address not available",
        ErrorCode::AddressInUse => "address already in use",
        ErrorCode::RemoteUnreachable => "remote host unreachable",
        ErrorCode::ConnectionRefused => "connection refused",
        ErrorCode::ConnectionReset => "connection reset by peer",
        ErrorCode::ConnectionAborted => "connection aborted",
        ErrorCode::DatagramTooLarge => "datagram too large",
        ErrorCode::NameUnresolvable => "name does not exist or has no addresses",
        ErrorCode::TemporaryResolverFailure => "temporary failure in name resolution",
        ErrorCode::PermanentResolverFailure => "permanent failure in name resolution",
    }
}

/// Whether `e` came from the `new-socket-limit` code (the guest's EMFILE / ENFILE).
pub(super) fn is_new_socket_limit(e: &io::Error) -> bool {
    raw_os_error(e) == Some(libc::EMFILE)
}

/// An `accept` that failed with `unknown`: wasmtime-wasi (48) has no WASI code for the
/// host's EMFILE and ENFILE and answers `unknown` for them, its only unnamed failure of
/// accept. The server treats it as running out of sockets (pause, retry later) rather
/// than try again at once, forever.
#[derive(Debug)]
struct UnnamedAcceptFailure;

impl std::fmt::Display for UnnamedAcceptFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "accept failed for a reason the host did not name (wasi unknown; wasmtime-wasi \
             answers so when the host runs out of file descriptors)",
        )
    }
}

impl std::error::Error for UnnamedAcceptFailure {}

/// `accept`'s error for `code`.
pub(super) fn accept(code: ErrorCode) -> io::Error {
    match code {
        ErrorCode::Unknown => io::Error::other(UnnamedAcceptFailure),
        code => socket(code),
    }
}

/// Whether `e` is [`UnnamedAcceptFailure`].
pub(super) fn is_unnamed_accept_failure(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.is::<UnnamedAcceptFailure>())
}

/// A socket error: the guest's own message, and WASI's code numbered as wasi-libc's
/// `errno` (what `Error::raw_os_error` answers in the guest).
#[derive(Debug)]
struct WithOsCode {
    message: String,
    code: i32,
}

impl std::fmt::Display for WithOsCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WithOsCode {}

fn with_os_code(kind: io::ErrorKind, message: String, code: Option<i32>) -> io::Error {
    match code {
        Some(code) => io::Error::new(kind, WithOsCode { message, code }),
        None => io::Error::new(kind, message),
    }
}

/// The code a guest socket error carries (see `WithOsCode`).
pub(crate) fn attached_os_code(
    inner: &(dyn std::error::Error + Send + Sync + 'static),
) -> Option<i32> {
    inner.downcast_ref::<WithOsCode>().map(|e| e.code)
}

/// The `errno` wasi-libc gives for a code (`None`: resolver failures have none), so that
/// `Error::raw_os_error` means the same in the guest as natively.
fn errno(code: ErrorCode) -> Option<i32> {
    Some(match code {
        ErrorCode::AccessDenied => libc::EACCES,
        ErrorCode::NotSupported => libc::ENOTSUP,
        ErrorCode::InvalidArgument | ErrorCode::InvalidState | ErrorCode::NotInProgress => {
            libc::EINVAL
        }
        ErrorCode::OutOfMemory => libc::ENOMEM,
        ErrorCode::Timeout => libc::ETIMEDOUT,
        ErrorCode::ConcurrencyConflict => libc::EALREADY,
        ErrorCode::WouldBlock => libc::EAGAIN,
        ErrorCode::NewSocketLimit => libc::EMFILE,
        ErrorCode::AddressNotBindable => libc::EADDRNOTAVAIL,
        ErrorCode::AddressInUse => libc::EADDRINUSE,
        ErrorCode::RemoteUnreachable => libc::EHOSTUNREACH,
        ErrorCode::ConnectionRefused => libc::ECONNREFUSED,
        ErrorCode::ConnectionReset => libc::ECONNRESET,
        ErrorCode::ConnectionAborted => libc::ECONNABORTED,
        ErrorCode::DatagramTooLarge => libc::EMSGSIZE,
        ErrorCode::NameUnresolvable
        | ErrorCode::TemporaryResolverFailure
        | ErrorCode::PermanentResolverFailure
        | ErrorCode::Unknown => return None,
    })
}

/// A socket operation's error code as an `io::Error`.
pub(super) fn socket(code: ErrorCode) -> io::Error {
    with_os_code(
        kind(code),
        format!("{} (wasi {})", describe(code), code.name()),
        errno(code),
    )
}

/// A socket error with what was being done, e.g. "bind 0.0.0.0:80: address already in
/// use (wasi address-in-use)".
pub(super) fn socket_while(code: ErrorCode, doing: impl std::fmt::Display) -> io::Error {
    with_os_code(
        kind(code),
        format!("{doing}: {} (wasi {})", describe(code), code.name()),
        errno(code),
    )
}

/// `resolve-addresses` refused at once. wasmtime answers `permanent-resolver-failure`
/// right away exactly when name lookups are not allowed (real lookups fail later, through
/// `resolve-next-address`); the spec's code for that is `access-denied`.
pub(super) fn lookup_refused(code: ErrorCode) -> io::Error {
    match code {
        ErrorCode::AccessDenied | ErrorCode::PermanentResolverFailure => io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "name lookups are not allowed by the host's policy (twinloop-host --allow-dns) \
                 (wasi {})",
                code.name()
            ),
        ),
        ErrorCode::InvalidArgument => io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a valid host name (wasi {})", code.name()),
        ),
        other => socket(other),
    }
}

/// The error of a failed stream read or write. WASI 0.2's `network-error-code`, which
/// would give the socket error code, is still `@unstable` and absent from the `wasi`
/// crate, so the kind is recognised in the host's debug string (wasmtime puts the error
/// code's name on its first line, followed by a backtrace), which the message keeps.
pub(super) fn stream(err: &wasi::io::error::Error) -> io::Error {
    let debug = err.to_debug_string();
    let first = debug.lines().next().unwrap_or_default().trim();
    let key: String = first
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    use io::ErrorKind as K;
    const KNOWN: &[(&str, K, &str)] = &[
        (
            "connectionreset",
            K::ConnectionReset,
            "connection reset by peer",
        ),
        (
            "connectionaborted",
            K::ConnectionAborted,
            "connection aborted",
        ),
        ("connectionbroken", K::BrokenPipe, "broken pipe"),
        ("brokenpipe", K::BrokenPipe, "broken pipe"),
        (
            "connectionrefused",
            K::ConnectionRefused,
            "connection refused",
        ),
        ("timeout", K::TimedOut, "timed out"),
        ("timedout", K::TimedOut, "timed out"),
        (
            "remoteunreachable",
            K::HostUnreachable,
            "remote host unreachable",
        ),
        ("accessdenied", K::PermissionDenied, "access denied"),
        ("outofmemory", K::OutOfMemory, "out of memory"),
    ];
    let (kind, what) = KNOWN
        .iter()
        .find(|(needle, _, _)| key.contains(needle))
        .map_or(
            (io::ErrorKind::Other, "stream error"),
            |&(_, kind, what)| (kind, what),
        );
    io::Error::new(kind, format!("{what} (host stream error: {first})"))
}

/// The output side is closed (after `shutdown_write`, or the connection broke).
pub(super) fn closed_for_writing() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the connection is closed for writing (wasi stream closed)",
    )
}
