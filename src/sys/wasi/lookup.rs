//! Name resolution in the guest: `wasi:sockets/ip-name-lookup`, whose completion the
//! reactor reports as readability. No helper thread, so `notify` and the executor go
//! unused.

use std::io;
use std::net::SocketAddr;

use wasi::sockets::ip_name_lookup::{resolve_addresses, ResolveAddressStream};
use wasi::sockets::network::ErrorCode;

use super::addr::{ip_from_wasi, with_network};
use super::error;
use wasi::io::poll::Pollable;

use super::reactor::{Direction, Registration};
use super::source::PollSource;
use crate::error::Result;
use crate::executor::Executor;

type LookupResult = io::Result<Vec<SocketAddr>>;

/// A name lookup in progress.
pub(crate) struct Lookup {
    // The registration (and its pollable, a child of the stream) drops first.
    registration: Registration,
    stream: ResolveAddressStream,
    port: u16,
    /// Addresses received so far.
    addrs: Vec<SocketAddr>,
    /// The answer was handed out by `take`.
    done: bool,
}

impl Lookup {
    /// Starts resolving `host`. Fails at once when the host refuses lookups (not allowed
    /// by its policy: `PermissionDenied`) or the name is malformed (`InvalidInput`).
    pub(crate) fn start(
        host: &str,
        port: u16,
        _notify: Box<dyn FnOnce() + Send>,
        _executor: &dyn Executor,
    ) -> Result<Lookup> {
        let stream = with_network(|network| resolve_addresses(network, host))
            .map_err(error::lookup_refused)?;
        Ok(Lookup {
            registration: Registration::default(),
            stream,
            port,
            addrs: Vec::new(),
            done: false,
        })
    }

    /// The answer, once there is one (and only once).
    pub(crate) fn take(&mut self) -> Option<LookupResult> {
        if self.done {
            return None;
        }
        loop {
            match self.stream.resolve_next_address() {
                Ok(Some(ip)) => self
                    .addrs
                    .push(SocketAddr::new(ip_from_wasi(ip), self.port)),
                Ok(None) => {
                    self.done = true;
                    // getaddrinfo never succeeds with nothing; neither do we.
                    if self.addrs.is_empty() {
                        return Some(Err(error::socket(ErrorCode::NameUnresolvable)));
                    }
                    return Some(Ok(std::mem::take(&mut self.addrs)));
                }
                Err(ErrorCode::WouldBlock) => return None,
                Err(code) => {
                    self.done = true;
                    return Some(Err(error::socket(code)));
                }
            }
        }
    }
}

/// Reverse lookup. WASI 0.2 has no getnameinfo: only the numeric answer exists.
pub(crate) fn name_info(addr: SocketAddr, numeric: bool) -> io::Result<(String, String)> {
    if !numeric {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "reverse lookup (getnameinfo) is not available in WASI 0.2; pass numeric",
        ));
    }
    Ok((addr.ip().to_string(), addr.port().to_string()))
}

impl PollSource for Lookup {
    fn registration(&mut self) -> &mut Registration {
        &mut self.registration
    }

    /// Completion is reported (as readability, whatever the direction) by the stream's
    /// pollable: ready once the answer is in, and from then on.
    fn pollable(&self, _dir: Direction) -> Option<Pollable> {
        Some(self.stream.subscribe())
    }
}

/// WASI 0.2 cannot name network interfaces: scoped IPv6 literals take numeric scope ids
/// only (`fe80::1%1`).
pub(crate) fn interface_index(_name: &str) -> Option<u32> {
    None
}
