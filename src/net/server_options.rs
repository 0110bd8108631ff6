//! `create_server`'s arguments: where to listen (`Hosts`) and the keyword options
//! (`ServerOptions`), with asyncio's defaults.

use std::sync::Arc;
use std::time::Duration;

use crate::net::resolve::Family;

/// asyncio's default listen backlog.
pub const DEFAULT_BACKLOG: u32 = 100;

/// Where `create_server` listens: asyncio's `host` argument (a string, a list of strings,
/// or `None` for every interface).
///
/// ```
/// use twinloop::Hosts;
/// assert_eq!(Hosts::from("127.0.0.1"), Hosts::List(vec!["127.0.0.1".into()]));
/// assert_eq!(Hosts::from(None::<&str>), Hosts::All);
/// assert_eq!(Hosts::from(vec!["::1", "127.0.0.1"]).len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hosts {
    /// Every interface: one socket per address family (`0.0.0.0` and `::`).
    All,
    /// These hosts (names or literals); duplicates are collapsed.
    List(Vec<String>),
}

impl Hosts {
    /// How many hosts were named (0 for `All`).
    pub fn len(&self) -> usize {
        match self {
            Hosts::All => 0,
            Hosts::List(l) => l.len(),
        }
    }

    /// True for an empty list.
    pub fn is_empty(&self) -> bool {
        matches!(self, Hosts::List(l) if l.is_empty())
    }
}

impl From<&str> for Hosts {
    fn from(h: &str) -> Hosts {
        if h.is_empty() {
            Hosts::All
        } else {
            Hosts::List(vec![h.to_owned()])
        }
    }
}

impl From<String> for Hosts {
    fn from(h: String) -> Hosts {
        Hosts::from(h.as_str())
    }
}

impl From<Option<&str>> for Hosts {
    fn from(h: Option<&str>) -> Hosts {
        h.map_or(Hosts::All, Hosts::from)
    }
}

impl From<Vec<&str>> for Hosts {
    fn from(h: Vec<&str>) -> Hosts {
        Hosts::List(h.into_iter().map(str::to_owned).collect())
    }
}

impl From<Vec<String>> for Hosts {
    fn from(h: Vec<String>) -> Hosts {
        Hosts::List(h)
    }
}

impl From<&[&str]> for Hosts {
    fn from(h: &[&str]) -> Hosts {
        Hosts::List(h.iter().map(|s| (*s).to_owned()).collect())
    }
}

/// Keyword arguments of `create_server` (asyncio's names and defaults). asyncio's
/// `flags` (`getaddrinfo` hints, `AI_PASSIVE` by default) have no counterpart: neither
/// resolver used takes hints, and [`Hosts::All`] binds every interface as `AI_PASSIVE`
/// without a host does.
///
/// ```
/// let opts = twinloop::ServerOptions::default();
/// assert_eq!(opts.backlog, 100);
/// assert!(opts.start_serving);
/// ```
#[derive(Debug)]
pub struct ServerOptions {
    /// Only addresses of this family are bound.
    pub family: Family,
    /// `listen()` backlog; also how many connections one readiness report accepts at most.
    pub backlog: u32,
    /// `SO_REUSEADDR`; asyncio's default is on for Unix. The guest cannot set it (the host
    /// decides), so it is ignored there.
    pub reuse_address: bool,
    /// `SO_REUSEPORT` (native Unix; [`Error::Unsupported`](crate::Error::Unsupported) in the guest).
    pub reuse_port: bool,
    /// An already listening socket to serve on (native only).
    pub sock: Option<std::net::TcpListener>,
    /// Start accepting at once (default); else call `start_serving` or `serve_forever`.
    pub start_serving: bool,
    /// asyncio's `ssl`: serve TLS with this configuration. Each accepted connection runs
    /// the handshake first; its protocol is made and gets `connection_made` only once that
    /// succeeded (a failed handshake is logged at debug level, as asyncio does).
    pub ssl: Option<Arc<rustls::ServerConfig>>,
    /// Default [`SSL_HANDSHAKE_TIMEOUT`](crate::SSL_HANDSHAKE_TIMEOUT); only with `ssl`.
    pub ssl_handshake_timeout: Option<Duration>,
    /// Default [`SSL_SHUTDOWN_TIMEOUT`](crate::SSL_SHUTDOWN_TIMEOUT); only with `ssl`.
    pub ssl_shutdown_timeout: Option<Duration>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            family: Family::Any,
            backlog: DEFAULT_BACKLOG,
            reuse_address: cfg!(unix),
            reuse_port: false,
            sock: None,
            start_serving: true,
            ssl: None,
            ssl_handshake_timeout: None,
            ssl_shutdown_timeout: None,
        }
    }
}
