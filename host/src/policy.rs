//! `SandboxPolicy`: everything a guest is allowed to do, written down in one
//! value. The default allows nothing but writing to stdout and stderr.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::WasiCtxBuilder;

use crate::net_rule::{socket_addr_allowed, NetRule};

/// The capabilities a guest runs with. Each field maps one to one onto a
/// command-line option of `twinloop-host`.
///
/// `SandboxPolicy::default()` allows stdout and stderr only: no network, no
/// name lookups, no environment variables, no stdin, no files, no limits on
/// memory or time beyond what wasmtime itself imposes.
///
/// ```
/// use std::time::Duration;
/// use twinloop_host::{NetRule, SandboxPolicy};
///
/// let policy = SandboxPolicy {
///     allow_net: vec![NetRule::parse("127.0.0.1").unwrap()],
///     time_limit: Some(Duration::from_secs(10)),
///     ..SandboxPolicy::default()
/// };
/// assert!(policy.allows_socket_addr("127.0.0.1:80".parse().unwrap(),
///     twinloop_host::SocketAddrUse::TcpConnect));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SandboxPolicy {
    /// Addresses the guest may bind, listen on, connect to, send to and
    /// receive from (`--allow-net`). Any rule switches on TCP and UDP; the
    /// rules then decide address by address, see [`crate::net_rule`]. Empty:
    /// every socket operation fails with `access-denied`.
    pub allow_net: Vec<NetRule>,
    /// Whether `wasi:sockets/ip-name-lookup` works (`--allow-dns`). The
    /// addresses it returns are still subject to `allow_net`.
    pub allow_dns: bool,
    /// The guest's environment variables (`--env K=V`); the host's own
    /// environment is never passed through.
    pub env: Vec<(String, String)>,
    /// The most linear memory, in bytes, any one memory of the guest may grow
    /// to (`--max-memory`). Growing past it traps.
    pub max_memory: Option<usize>,
    /// Wall-clock time after which the guest is stopped and the run reported
    /// as failed with "time limit of N s exceeded" (`--time-limit`). Works
    /// while the guest computes (epoch interruption) and while it waits in a
    /// host call such as `poll`.
    pub time_limit: Option<Duration>,
    /// Whether the guest reads the host's stdin; otherwise stdin is closed.
    pub inherit_stdin: bool,
}

impl SandboxPolicy {
    /// Whether this policy lets the guest use `addr` for `usage`; this is the
    /// `socket_addr_check` the guest's WASI context uses.
    pub fn allows_socket_addr(&self, addr: SocketAddr, usage: SocketAddrUse) -> bool {
        socket_addr_allowed(&self.allow_net, addr, usage)
    }

    /// Applies the network and environment parts of the policy to a WASI
    /// context under construction (stdio, memory and time are applied by the
    /// runner).
    pub(crate) fn configure(&self, builder: &mut WasiCtxBuilder) {
        builder.envs(&self.env);
        if !self.allow_net.is_empty() {
            let rules: Arc<[NetRule]> = self.allow_net.clone().into();
            builder.allow_tcp(true).allow_udp(true);
            builder.socket_addr_check(move |addr, usage| {
                let allowed = socket_addr_allowed(&rules, addr, usage);
                Box::pin(async move { allowed })
            });
        }
        builder.allow_ip_name_lookup(self.allow_dns);
    }
}

/// Formats a duration as seconds the way error messages print limits:
/// `120` for whole seconds, `0.5` otherwise.
pub(crate) fn format_secs(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        d.as_secs().to_string()
    } else {
        format!("{}", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_allows_no_sockets() {
        let p = SandboxPolicy::default();
        assert!(!p.allows_socket_addr("127.0.0.1:80".parse().unwrap(), SocketAddrUse::TcpConnect));
        assert!(!p.allows_socket_addr("0.0.0.0:0".parse().unwrap(), SocketAddrUse::TcpBind));
        assert!(!p.allow_dns && !p.inherit_stdin && p.env.is_empty());
        assert!(p.max_memory.is_none() && p.time_limit.is_none());
    }

    #[test]
    fn formats_seconds() {
        assert_eq!(format_secs(Duration::from_secs(120)), "120");
        assert_eq!(format_secs(Duration::from_millis(500)), "0.5");
    }
}
