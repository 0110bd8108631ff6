//! `NetRule`: one entry of a sandbox's network allow-list, and the decision of
//! whether a guest may use a socket address.
//!
//! A rule names an address pattern and a port pattern. The syntax is
//! `ADDR[:PORT]`:
//!
//! | rule              | allows                                        |
//! |-------------------|-----------------------------------------------|
//! | `*`               | every address, every port                     |
//! | `*:8080`          | every address, port 8080                      |
//! | `127.0.0.1`       | that address, every port                      |
//! | `127.0.0.1:*`     | the same                                      |
//! | `10.0.0.0/8:443`  | the network `10.0.0.0/8`, port 443            |
//! | `::1`, `::1/128`  | the IPv6 loopback address, every port         |
//! | `[::1]:8080`      | the IPv6 loopback address, port 8080          |
//! | `[fd00::]/8:53`   | the network `fd00::/8`, port 53               |
//!
//! An IPv6 address followed by a port must be written in brackets; without
//! brackets every colon belongs to the address.
//!
//! # How a rule list decides ([`socket_addr_allowed`])
//!
//! IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) are treated as the IPv4
//! address they carry, so an IPv4 rule covers a dual-stack socket too.
//!
//! - **Outgoing** (`TcpConnect`, `UdpSend`): some rule must match both the
//!   remote address and the remote port.
//! - **Incoming** (`TcpAccept`, `UdpReceive`): the peer's port is whatever its
//!   operating system picked, so only the peer's address is matched.
//! - **Local** (`TcpBind`, `UdpBind`, `TcpListen`):
//!   - an unspecified address (`0.0.0.0`, `::`) means "every interface" and is
//!     allowed if some rule, whatever its address, covers the port;
//!   - port 0 in a bind asks the OS for an ephemeral port (this is also what
//!     wasmtime reports for the implicit bind before a `connect` or `send`),
//!     so for `TcpBind`/`UdpBind` it matches any rule's port; the port a
//!     listener really gets is checked again by `TcpListen`;
//!   - any other local address must be matched by some rule, address and port.
//!
//! With no rules at all nothing is allowed.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use anyhow::{anyhow, bail, Context, Result};
use ipnet::IpNet;
use wasmtime_wasi::sockets::SocketAddrUse;

/// One entry of [`SandboxPolicy::allow_net`](crate::SandboxPolicy::allow_net):
/// an address pattern plus an optional port. See the [module docs](self) for
/// the syntax and for how a list of rules decides.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NetRule {
    /// `None` = any address (`*`).
    net: Option<IpNet>,
    /// `None` = any port.
    port: Option<u16>,
}

impl NetRule {
    /// The rule `*`: every address, every port.
    pub fn any() -> NetRule {
        NetRule {
            net: None,
            port: None,
        }
    }

    /// A rule for one network and, if given, one port.
    pub fn new(net: IpNet, port: Option<u16>) -> NetRule {
        NetRule {
            net: Some(canonical_net(net)),
            port,
        }
    }

    /// Parses `ADDR[:PORT]` (see the [module docs](self)).
    ///
    /// ```
    /// use twinloop_host::NetRule;
    /// let rule = NetRule::parse("[::1]:8080").unwrap();
    /// assert!(rule.matches("[::1]:8080".parse().unwrap()));
    /// assert!(!rule.matches("[::1]:8081".parse().unwrap()));
    /// assert!(NetRule::parse("10.0.0.0/33").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<NetRule> {
        parse_rule(text.trim())
            .with_context(|| format!("invalid network rule {text:?} (expected ADDR[:PORT], e.g. 127.0.0.1:8080, 10.0.0.0/8, [::1]:443 or *)"))
    }

    /// The network this rule covers; `None` for `*`.
    pub fn net(&self) -> Option<IpNet> {
        self.net
    }

    /// The port this rule covers; `None` for any port.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Whether `ip` is inside this rule's address pattern.
    pub fn matches_ip(&self, ip: IpAddr) -> bool {
        match self.net {
            None => true,
            Some(net) => net.contains(&ip.to_canonical()),
        }
    }

    /// Whether `port` is this rule's port (always true for a rule without one).
    pub fn matches_port(&self, port: u16) -> bool {
        self.port.is_none_or(|p| p == port)
    }

    /// Whether this rule covers `addr`, both address and port.
    pub fn matches(&self, addr: SocketAddr) -> bool {
        self.matches_ip(addr.ip()) && self.matches_port(addr.port())
    }
}

impl FromStr for NetRule {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<NetRule> {
        NetRule::parse(text)
    }
}

impl fmt::Display for NetRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bracket = matches!(self.net, Some(IpNet::V6(_))) && self.port.is_some();
        match self.net {
            None => f.write_str("*")?,
            Some(net) => {
                let host_len = if net.addr().is_ipv4() { 32 } else { 128 };
                let addr = if net.prefix_len() == host_len {
                    net.addr().to_string()
                } else {
                    net.to_string()
                };
                if bracket {
                    write!(f, "[{addr}]")?;
                } else {
                    f.write_str(&addr)?;
                }
            }
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// Decides whether a guest may use `addr` for `usage` under `rules`; see the
/// [module docs](self) for the exact policy.
pub fn socket_addr_allowed(rules: &[NetRule], addr: SocketAddr, usage: SocketAddrUse) -> bool {
    let ip = addr.ip().to_canonical();
    let port = addr.port();
    match usage {
        SocketAddrUse::TcpConnect | SocketAddrUse::UdpSend => {
            rules.iter().any(|r| r.matches(SocketAddr::new(ip, port)))
        }
        SocketAddrUse::TcpAccept | SocketAddrUse::UdpReceive => {
            rules.iter().any(|r| r.matches_ip(ip))
        }
        SocketAddrUse::TcpBind | SocketAddrUse::UdpBind | SocketAddrUse::TcpListen => {
            let ephemeral = port == 0 && !matches!(usage, SocketAddrUse::TcpListen);
            rules.iter().any(|r| {
                let port_ok = ephemeral || r.matches_port(port);
                let ip_ok = ip.is_unspecified() || r.matches_ip(ip);
                port_ok && ip_ok
            })
        }
    }
}

fn parse_rule(text: &str) -> Result<NetRule> {
    if text.is_empty() {
        bail!("the rule is empty");
    }
    let (addr, port) = split_port(text)?;
    let port = match port {
        None | Some("*") => None,
        Some(p) => Some(parse_port(p)?),
    };
    let net = match addr.as_str() {
        "*" => None,
        a => Some(parse_net(a)?),
    };
    Ok(NetRule { net, port })
}

/// Splits `ADDR[:PORT]` into its two halves, handling `[v6]` brackets.
fn split_port(text: &str) -> Result<(String, Option<&str>)> {
    if let Some(rest) = text.strip_prefix('[') {
        let close = rest
            .find(']')
            .ok_or_else(|| anyhow!("missing ']' after the IPv6 address"))?;
        let inside = &rest[..close];
        let after = &rest[close + 1..];
        // `[::1]/128:80` puts the prefix length after the bracket.
        let (prefix, after) = match after.strip_prefix('/') {
            Some(p) => match p.find(':') {
                Some(i) => (Some(&p[..i]), &p[i..]),
                None => (Some(p), ""),
            },
            None => (None, after),
        };
        let port = match after {
            "" => None,
            a => Some(
                a.strip_prefix(':')
                    .ok_or_else(|| anyhow!("unexpected {a:?} after ']' (expected ':PORT')"))?,
            ),
        };
        if inside.contains('/') && prefix.is_some() {
            bail!("two prefix lengths");
        }
        if !inside.contains(':') {
            bail!("brackets are only for IPv6 addresses");
        }
        let addr = match prefix {
            None => inside.to_owned(),
            Some(len) => format!("{inside}/{len}"),
        };
        return Ok((addr, port));
    }
    match text.split_once(':') {
        // A bare IPv6 address: every colon is part of it.
        Some((_, rest)) if rest.contains(':') => Ok((text.to_owned(), None)),
        Some((addr, port)) => Ok((addr.to_owned(), Some(port))),
        None => Ok((text.to_owned(), None)),
    }
}

fn parse_port(text: &str) -> Result<u16> {
    let port: u16 = text
        .parse()
        .map_err(|_| anyhow!("bad port {text:?} (expected 1-65535 or *)"))?;
    if port == 0 {
        bail!("port 0 is not a port a guest can be allowed; use * for any port");
    }
    Ok(port)
}

/// `net` with its host bits cleared, and an IPv4-mapped IPv6 network
/// (`::ffff:10.0.0.0/104`) as the IPv4 network it is (`10.0.0.0/8`): rules
/// are matched against canonical addresses, in which a mapped address is
/// IPv4, so a mapped network left as IPv6 would match nothing (and would not
/// print as text that parses back to it).
fn canonical_net(net: IpNet) -> IpNet {
    match net.trunc() {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                .expect("a prefix of 96 to 128 leaves 0 to 32")
                .into(),
            None => IpNet::V6(v6),
        },
        net => net,
    }
}

fn parse_net(text: &str) -> Result<IpNet> {
    if text.contains('/') {
        let net: IpNet = text
            .parse()
            .map_err(|_| anyhow!("bad network {text:?} (expected ADDR/PREFIX-LENGTH)"))?;
        Ok(canonical_net(net))
    } else {
        let ip: IpAddr = text
            .parse()
            .map_err(|_| anyhow!("bad address {text:?} (expected an IPv4 or IPv6 address)"))?;
        Ok(IpNet::from(ip.to_canonical()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> NetRule {
        NetRule::parse(text).unwrap_or_else(|e| panic!("{text}: {e:#}"))
    }

    fn sa(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(rule("*"), NetRule::any());
        assert_eq!(rule("*:*"), NetRule::any());
        assert_eq!(rule("*:80").port(), Some(80));
        assert_eq!(rule("*:80").net(), None);
        assert_eq!(rule("127.0.0.1").to_string(), "127.0.0.1");
        assert_eq!(rule("127.0.0.1:*").to_string(), "127.0.0.1");
        assert_eq!(rule("127.0.0.1:8080").to_string(), "127.0.0.1:8080");
        assert_eq!(rule("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(rule("10.1.2.3/8:443").to_string(), "10.0.0.0/8:443");
        assert_eq!(rule("::1").to_string(), "::1");
        assert_eq!(rule("::1/128").to_string(), "::1");
        assert_eq!(rule("[::1]").to_string(), "::1");
        assert_eq!(rule("[::1]/128").to_string(), "::1");
        assert_eq!(rule("[::1]:8080").to_string(), "[::1]:8080");
        assert_eq!(rule("[::1]:*").to_string(), "::1");
        assert_eq!(rule("[fd00::/8]:53").to_string(), "[fd00::/8]:53");
        assert_eq!(rule("[fd00::]/8:53").to_string(), "[fd00::/8]:53");
        assert_eq!(rule("fe80::/10").to_string(), "fe80::/10");
        assert_eq!(rule(" 127.0.0.1 ").to_string(), "127.0.0.1");
        // IPv4-mapped IPv6 is stored as IPv4.
        assert_eq!(rule("::ffff:127.0.0.1").to_string(), "127.0.0.1");
        assert_eq!(rule("[::ffff:127.0.0.1]:80").to_string(), "127.0.0.1:80");
        // ... networks too (the host_cli fuzz target's property: the rule printed as
        // "::ffff:127.0.0.1", which parses to another rule, and matched nothing).
        assert_eq!(rule("::ffff:127.0.0.1/128"), rule("127.0.0.1"));
        assert_eq!(
            rule("[::ffff:10.1.2.3]/104:53").to_string(),
            "10.0.0.0/8:53"
        );
        assert_eq!(rule("::ffff:0:0/96").to_string(), "0.0.0.0/0");
        assert_eq!(rule("::ffff:0:0/95").to_string(), "::fffe:0:0/95");
        assert!(rule("::ffff:127.0.0.1/128").matches(sa("127.0.0.1:1")));
        assert!(rule("::ffff:10.0.0.0/104").matches(sa("[::ffff:10.9.9.9]:1")));
        let mapped = "::ffff:127.0.0.1".parse::<std::net::Ipv6Addr>().unwrap();
        assert_eq!(
            NetRule::new(ipnet::Ipv6Net::new(mapped, 128).unwrap().into(), None),
            rule("127.0.0.1")
        );
    }

    /// The property the host_cli fuzz target checks on every input.
    #[test]
    fn prints_as_text_that_parses_back() {
        for text in [
            "*",
            "*:80",
            "127.0.0.1:8080",
            "10.1.2.3/8:443",
            "::1",
            "[::1]:8080",
            "[fd00::]/8:53",
            "fe80::/10",
            "::ffff:127.0.0.1",
            "::ffff:127.0.0.1/128",
            "[::ffff:127.0.0.1/128]:9",
            "::ffff:10.0.0.0/104",
            "::ffff:0:0/95",
            "0.0.0.0/0:1",
        ] {
            let r = rule(text);
            assert_eq!(rule(&r.to_string()), r, "{text:?} printed as {r}");
        }
    }

    #[test]
    fn rejects_bad_rules_naming_the_input() {
        for bad in [
            "",
            "localhost",
            "1.2.3",
            "1.2.3.4:",
            "1.2.3.4:http",
            "1.2.3.4:0",
            "1.2.3.4:65536",
            "1.2.3.4/33",
            "[::1",
            "[::1]8080",
            "[1.2.3.4]:80",
            "::1/129",
            "*:x",
            "[::1/64]/64",
        ] {
            let err = NetRule::parse(bad).expect_err(bad);
            let msg = format!("{err:#}");
            assert!(
                msg.contains(&format!("{bad:?}")),
                "error for {bad:?} does not name it: {msg}"
            );
        }
    }

    #[test]
    fn matches_address_and_port() {
        let r = rule("10.0.0.0/8:443");
        assert!(r.matches(sa("10.9.8.7:443")));
        assert!(!r.matches(sa("10.9.8.7:80")));
        assert!(!r.matches(sa("11.0.0.1:443")));
        assert!(!r.matches(sa("[::1]:443")));
        let r = rule("127.0.0.1");
        assert!(r.matches(sa("127.0.0.1:1")));
        assert!(r.matches(sa("[::ffff:127.0.0.1]:1")));
        assert!(!r.matches(sa("127.0.0.2:1")));
        let r = rule("[::1]:8080");
        assert!(r.matches(sa("[::1]:8080")));
        assert!(!r.matches(sa("127.0.0.1:8080")));
        assert!(rule("*").matches(sa("[2001:db8::1]:9")));
        assert!(rule("*:9").matches(sa("1.1.1.1:9")));
        assert!(!rule("*:9").matches(sa("1.1.1.1:10")));
    }

    #[test]
    fn outgoing_needs_address_and_port() {
        let rules = [rule("127.0.0.1:8080")];
        assert!(socket_addr_allowed(
            &rules,
            sa("127.0.0.1:8080"),
            SocketAddrUse::TcpConnect
        ));
        assert!(!socket_addr_allowed(
            &rules,
            sa("127.0.0.1:8081"),
            SocketAddrUse::TcpConnect
        ));
        assert!(!socket_addr_allowed(
            &rules,
            sa("10.0.0.1:8080"),
            SocketAddrUse::UdpSend
        ));
        assert!(!socket_addr_allowed(
            &[],
            sa("127.0.0.1:8080"),
            SocketAddrUse::TcpConnect
        ));
    }

    #[test]
    fn incoming_matches_address_only() {
        let rules = [rule("127.0.0.1:8080")];
        assert!(socket_addr_allowed(
            &rules,
            sa("127.0.0.1:51234"),
            SocketAddrUse::TcpAccept
        ));
        assert!(socket_addr_allowed(
            &rules,
            sa("127.0.0.1:53"),
            SocketAddrUse::UdpReceive
        ));
        assert!(!socket_addr_allowed(
            &rules,
            sa("10.0.0.1:8080"),
            SocketAddrUse::TcpAccept
        ));
    }

    #[test]
    fn binding_rules() {
        let rules = [rule("127.0.0.1:8080")];
        // Explicit bind to the allowed address and port.
        assert!(socket_addr_allowed(
            &rules,
            sa("127.0.0.1:8080"),
            SocketAddrUse::TcpBind
        ));
        assert!(socket_addr_allowed(
            &rules,
            sa("127.0.0.1:8080"),
            SocketAddrUse::TcpListen
        ));
        // Every interface, on a port some rule covers.
        assert!(socket_addr_allowed(
            &rules,
            sa("0.0.0.0:8080"),
            SocketAddrUse::TcpBind
        ));
        assert!(socket_addr_allowed(
            &rules,
            sa("[::]:8080"),
            SocketAddrUse::TcpListen
        ));
        assert!(!socket_addr_allowed(
            &rules,
            sa("0.0.0.0:9090"),
            SocketAddrUse::TcpBind
        ));
        // Ephemeral ports: implicit binds before connect/send.
        assert!(socket_addr_allowed(
            &rules,
            sa("0.0.0.0:0"),
            SocketAddrUse::TcpBind
        ));
        assert!(socket_addr_allowed(
            &rules,
            sa("[::]:0"),
            SocketAddrUse::UdpBind
        ));
        assert!(socket_addr_allowed(
            &rules,
            sa("127.0.0.1:0"),
            SocketAddrUse::TcpBind
        ));
        assert!(!socket_addr_allowed(
            &rules,
            sa("10.0.0.1:0"),
            SocketAddrUse::TcpBind
        ));
        // ... but listening on a port the rule does not cover is not allowed.
        assert!(!socket_addr_allowed(
            &rules,
            sa("127.0.0.1:40000"),
            SocketAddrUse::TcpListen
        ));
        assert!(!socket_addr_allowed(
            &rules,
            sa("0.0.0.0:0"),
            SocketAddrUse::TcpListen
        ));
        // A rule without a port covers ephemeral listeners.
        let any_port = [rule("127.0.0.1")];
        assert!(socket_addr_allowed(
            &any_port,
            sa("127.0.0.1:40000"),
            SocketAddrUse::TcpListen
        ));
        assert!(!socket_addr_allowed(
            &any_port,
            sa("127.0.0.2:40000"),
            SocketAddrUse::TcpBind
        ));
        // Nothing is allowed without rules, not even ephemeral binds.
        assert!(!socket_addr_allowed(
            &[],
            sa("0.0.0.0:0"),
            SocketAddrUse::TcpBind
        ));
    }
}
