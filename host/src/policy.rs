//! `SandboxPolicy`: everything a guest is allowed to do, written down in one
//! value. The default allows nothing but writing to stdout and stderr.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::net_rule::{socket_addr_allowed, NetRule};

/// The capabilities a guest runs with. Each field maps one to one onto a
/// command-line option of `twinloop-host`.
///
/// `SandboxPolicy::default()` allows stdout and stderr only: no network, no
/// name lookups, no environment variables, no stdin, no files, no limits on
/// memory, time, output or sockets beyond the fixed ones every guest has
/// (see [`crate::limits`]).
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
    /// The guest's whole footprint in bytes (`--max-memory`): all its linear
    /// memories (32- and 64-bit, the adapter's included) plus its tables at
    /// [`TABLE_ELEMENT_BYTES`](crate::limits::TABLE_ELEMENT_BYTES) per
    /// element. Growing past it ends the guest with
    /// [`Limit::Memory`](crate::Limit::Memory).
    pub max_memory: Option<usize>,
    /// Wall-clock time after which the guest is stopped and the run reported
    /// as failed with "time limit of N s exceeded" (`--time-limit`). Works
    /// while the guest computes (epoch interruption) and while it waits in a
    /// host call such as `poll`.
    pub time_limit: Option<Duration>,
    /// Whether the guest reads the host's stdin; otherwise stdin is closed.
    pub inherit_stdin: bool,
    /// The most bytes the guest may write to stdout and stderr together
    /// (`--max-output`), whether they are forwarded or captured. Writing past
    /// it ends the guest with [`Limit::Output`](crate::Limit::Output).
    pub max_output: Option<u64>,
    /// The most sockets (TCP and UDP, accepted ones included) the guest may
    /// have open at once (`--max-sockets`). Opening one more ends the guest
    /// with [`Limit::Sockets`](crate::Limit::Sockets).
    pub max_sockets: Option<usize>,
    /// Host directories the guest sees (`--dir`, `--dir-rw`); nothing else of
    /// the host's file system is reachable.
    pub preopens: Vec<Preopen>,
}

/// A host directory made visible to the guest under a path of its own.
///
/// ```
/// use twinloop_host::Preopen;
///
/// let data = Preopen::parse("/srv/data::/data").unwrap();
/// assert_eq!(data.guest_path, "/data");
/// assert!(!data.writable);
/// assert_eq!(Preopen::parse("/tmp").unwrap().guest_path, "/tmp");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preopen {
    /// The directory on the host.
    pub host_path: PathBuf,
    /// The path the guest opens it by.
    pub guest_path: String,
    /// Whether the guest may create, write, rename and remove files in it;
    /// otherwise it can only read.
    pub writable: bool,
}

impl Preopen {
    /// Parses `HOST[::GUEST]` (the guest path defaults to the host path), as
    /// `--dir` takes it; read-only.
    pub fn parse(text: &str) -> Result<Preopen, String> {
        let (host, guest) = match text.split_once("::") {
            Some((h, g)) => (h, g),
            None => (text, text),
        };
        if host.is_empty() || guest.is_empty() {
            return Err(format!(
                "expected HOST_DIR[::GUEST_DIR] with neither part empty, got {text:?}"
            ));
        }
        Ok(Preopen {
            host_path: PathBuf::from(host),
            guest_path: guest.to_owned(),
            writable: false,
        })
    }
}

impl SandboxPolicy {
    /// Whether this policy lets the guest use `addr` for `usage`; this is the
    /// `socket_addr_check` the guest's WASI context uses.
    pub fn allows_socket_addr(&self, addr: SocketAddr, usage: SocketAddrUse) -> bool {
        socket_addr_allowed(&self.allow_net, addr, usage)
    }

    /// Applies the network, environment and directory parts of the policy to
    /// a WASI context under construction (stdio and the limits are applied by
    /// the runner).
    pub(crate) fn configure(&self, builder: &mut WasiCtxBuilder) -> anyhow::Result<()> {
        builder.envs(&self.env);
        for dir in &self.preopens {
            let perms = if dir.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            builder
                .preopened_dir(&dir.host_path, &dir.guest_path, perms)
                .map_err(crate::wasmtime_err)
                .with_context(|| format!("opening {} for the guest", dir.host_path.display()))?;
        }
        if !self.allow_net.is_empty() {
            let rules: Arc<[NetRule]> = self.allow_net.clone().into();
            builder.allow_tcp(true).allow_udp(true);
            builder.socket_addr_check(move |addr, usage| {
                let allowed = socket_addr_allowed(&rules, addr, usage);
                Box::pin(async move { allowed })
            });
        }
        builder.allow_ip_name_lookup(self.allow_dns);
        Ok(())
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
