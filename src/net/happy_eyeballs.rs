//! Happy Eyeballs (RFC 8305) for `create_connection`: staggered connection attempts over
//! interleaved address families (asyncio's `happy_eyeballs_delay` and `interleave`).
//!
//! Attempts start one after another: the next one when the previous failed, or when
//! `happy_eyeballs_delay` passed without it connecting. The first to connect wins; the
//! others are dropped, which closes their sockets.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::future::LoopFuture;
use crate::sys;
use crate::EventLoop;

/// asyncio's `_interleave_addrinfos`: alternates address families, starting with the
/// family of the first address; the first `first_family_count` addresses of that family
/// come first.
pub(crate) fn interleave(addrs: &[SocketAddr], first_family_count: usize) -> Vec<SocketAddr> {
    // Families in order of first appearance (at most two: IPv4 and IPv6).
    let mut lists: Vec<Vec<SocketAddr>> = Vec::new();
    for &addr in addrs {
        match lists.iter_mut().find(|l| l[0].is_ipv4() == addr.is_ipv4()) {
            Some(list) => list.push(addr),
            None => lists.push(vec![addr]),
        }
    }
    let mut reordered = Vec::with_capacity(addrs.len());
    if let Some(first) = lists.first_mut() {
        let lead = first_family_count.saturating_sub(1).min(first.len());
        reordered.extend(first.drain(..lead));
    }
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    for i in 0..longest {
        reordered.extend(lists.iter().filter_map(|l| l.get(i)));
    }
    reordered
}

type Attempt<'a> = Pin<Box<dyn Future<Output = Result<sys::TcpStream>> + 'a>>;

impl EventLoop {
    /// Races staggered attempts over `addrs` (already interleaved); the first connected
    /// stream wins. Errors: every attempt's error, combined as for sequential attempts.
    pub(super) async fn connect_staggered(
        &self,
        addrs: &[SocketAddr],
        local_addr: Option<SocketAddr>,
        delay: Duration,
    ) -> std::result::Result<sys::TcpStream, Vec<Error>> {
        let mut running: Vec<Attempt<'_>> = Vec::new();
        let mut errors = Vec::new();
        let mut next = 0;
        let mut timer: Option<LoopFuture<()>> = None;
        poll_fn(|cx| loop {
            let mut start_next = running.is_empty();
            let mut i = 0;
            while i < running.len() {
                match running[i].as_mut().poll(cx) {
                    Poll::Ready(Ok(stream)) => return Poll::Ready(Ok(stream)),
                    Poll::Ready(Err(e @ Error::Cancelled(_))) => return Poll::Ready(Err(vec![e])),
                    Poll::Ready(Err(e)) => {
                        drop(running.remove(i));
                        errors.push(e);
                        // The newest attempt failed: do not wait for the delay.
                        start_next |= i == running.len();
                    }
                    Poll::Pending => i += 1,
                }
            }
            if let Some(t) = timer.as_mut() {
                match Pin::new(t).poll(cx) {
                    Poll::Ready(Ok(())) => {
                        timer = None;
                        start_next = true;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(vec![e])),
                    Poll::Pending => {}
                }
            }
            if start_next && next < addrs.len() {
                running.push(Box::pin(self.connect_attempt(addrs[next], local_addr)));
                next += 1;
                timer = Some(self.sleep(delay));
                continue; // poll the new attempt and its timer once
            }
            if running.is_empty() && next == addrs.len() {
                return Poll::Ready(Err(std::mem::take(&mut errors)));
            }
            return Poll::Pending;
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::interleave;
    use std::net::SocketAddr;

    fn addrs(names: &str) -> (Vec<SocketAddr>, Vec<(&str, SocketAddr)>) {
        let mut list = Vec::new();
        let mut named = Vec::new();
        for (i, name) in names.split(',').enumerate() {
            let addr: SocketAddr = if name.starts_with('6') {
                format!("[::{}]:80", i + 1).parse().unwrap()
            } else {
                format!("10.0.0.{}:80", i + 1).parse().unwrap()
            };
            list.push(addr);
            named.push((name, addr));
        }
        (list, named)
    }

    fn names<'a>(order: &[SocketAddr], named: &[(&'a str, SocketAddr)]) -> Vec<&'a str> {
        order
            .iter()
            .map(|a| named.iter().find(|(_, b)| b == a).unwrap().0)
            .collect()
    }

    #[test]
    fn families_alternate_from_the_first_one() {
        let (list, named) = addrs("6a,6b,6c,4a,4b,4c,4d,6d");
        let order = interleave(&list, 1);
        assert_eq!(
            names(&order, &named),
            ["6a", "4a", "6b", "4b", "6c", "4c", "6d", "4d"]
        );
    }

    #[test]
    fn first_family_count_leads_with_that_many() {
        let (list, named) = addrs("6a,6b,6c,4a,4b,4c,4d,6d");
        let order = interleave(&list, 2);
        assert_eq!(
            names(&order, &named),
            ["6a", "6b", "4a", "6c", "4b", "6d", "4c", "4d"]
        );
    }
}
