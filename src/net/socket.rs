//! `Socket`: a socket the program owns and drives with the loop's `sock_*` methods, and
//! how those methods wait for it.
//!
//! A socket joins a loop's reactor the first time an operation on it has to wait: an
//! operation tries its system call first and, on `WouldBlock`, waits for the next report
//! and tries again. So a cancelled operation (its task dropped while waiting) has taken
//! nothing from the socket, and the bytes it would have read are there for the next one.
//!
//! A wait is a task's `Waker` in a list, and a report wakes the list: no future, done
//! callback or allocation per wait. Where the backend is edge-triggered (natively) a
//! direction once waited for stays in the reactor's interest, so waiting costs no
//! system call; where it is level-triggered (the guest) the socket asks only for the
//! directions someone waits for, or an unread or idle socket would be reported every
//! turn.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::task::{Poll, Waker};

use crate::error::{Error, Result};
use crate::event_loop::LoopInner;
use crate::io_registry::IoHandler;
use crate::net::resolve::Family;
use crate::registration::Registration;
use crate::sys::{self, Interest};
use crate::EventLoop;

/// A socket's type (`SOCK_STREAM` for TCP, `SOCK_DGRAM` for UDP).
///
/// ```
/// use twinloop::{Family, Socket, SocketType};
/// let udp = Socket::new(Family::V4, SocketType::Datagram)?;
/// assert_eq!(udp.kind()?, SocketType::Datagram);
/// # Ok::<(), twinloop::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketType {
    /// TCP.
    Stream,
    /// UDP.
    Datagram,
}

/// A non-blocking TCP or UDP socket for the `sock_*` methods ([`EventLoop::sock_recv`]
/// and the rest): asyncio's "working with socket objects directly". A handle: clones refer
/// to the same socket, which closes when the last one is dropped (or at
/// [`Socket::close`]).
///
/// On both targets a socket is made with [`Socket::new`], then bound, listened on or
/// connected. Natively a socket2 or std socket converts into one (`TryFrom`; it must be
/// non-blocking, or [`Error::InvalidArgument`]), and back with `into_socket2`. In the
/// guest it is a `wasi:sockets` `tcp-socket` or `udp-socket`.
///
/// ```
/// use twinloop::{Family, Socket, SocketType};
/// let listener = Socket::new(Family::V4, SocketType::Stream)?;
/// listener.bind("127.0.0.1:0".parse().unwrap())?;
/// listener.listen(16)?;
/// assert_ne!(listener.local_addr()?.port(), 0);
/// assert!(listener.peer_addr().is_err());
/// listener.close();
/// assert!(listener.local_addr().is_err());
/// # Ok::<(), twinloop::Error>(())
/// ```
#[derive(Clone)]
pub struct Socket {
    pub(crate) inner: Rc<SocketInner>,
}

pub(crate) struct SocketInner {
    /// `None` after `close`.
    io: RefCell<Option<Io>>,
    v6: bool,
    /// A stream (TCP) socket, not a datagram one (whose short read says nothing of the
    /// next datagram).
    stream: bool,
    waiters: Rc<Waiters>,
}

enum Io {
    Idle(sys::Socket),
    /// Watched by a loop (`loop_` says which).
    Registered(Registration<sys::Socket>, Weak<LoopInner>),
}

/// The operations waiting for a socket, by direction (`[read, write]`).
#[derive(Default)]
struct Waiters {
    socket: RefCell<Weak<SocketInner>>,
    /// A report came since the last wait in this direction began.
    reported: [Cell<bool>; 2],
    /// The tasks waiting in this direction (one entry per task).
    wakers: [RefCell<Vec<Waker>>; 2],
    /// A stream read came back short, so (natively, edge-triggered) the socket is empty
    /// until the next read report: the next read waits for it instead of a `recv` that
    /// says `WouldBlock`.
    drained: Cell<bool>,
    /// A report said the peer closed: what is left ends in EOF, reported no more, so a
    /// short read no longer means empty.
    peer_closed: Cell<bool>,
}

impl IoHandler for Waiters {
    fn io_event(self: Rc<Self>, ev: &EventLoop, event: &sys::Event) {
        if event.read_closed {
            self.peer_closed.set(true);
        }
        self.io_ready(ev, event.readable, event.writable)
    }

    fn io_ready(self: Rc<Self>, _ev: &EventLoop, readable: bool, writable: bool) {
        for (dir, ready) in [readable, writable].into_iter().enumerate() {
            if ready {
                self.wake(dir);
            }
        }
        if !sys::EDGE_TRIGGERED {
            if let Some(socket) = self.socket.borrow().upgrade() {
                socket.update_interest();
            }
        }
    }
}

fn closed() -> Error {
    io::Error::new(io::ErrorKind::NotConnected, "the socket is closed").into()
}

impl Socket {
    /// A new non-blocking socket of `family` (`V4` or `V6`; `Any` is
    /// [`Error::InvalidArgument`]) and `kind`: Python's `socket.socket(family, type)`
    /// followed by `setblocking(False)`. Example: [`Socket`].
    pub fn new(family: Family, kind: SocketType) -> Result<Socket> {
        let v6 = match family {
            Family::V4 => false,
            Family::V6 => true,
            Family::Any => {
                return Err(Error::invalid_argument(
                    "Socket::new: give the family (Family::V4 or Family::V6)",
                ))
            }
        };
        Ok(Socket::from_sys(sys::Socket::new(v6, kind)?, kind)?)
    }

    /// A `Socket` over `sock`, which is of `kind`.
    pub(crate) fn from_sys(sock: sys::Socket, kind: SocketType) -> io::Result<Socket> {
        let v6 = sock.is_ipv6()?;
        let stream = kind == SocketType::Stream;
        let waiters = Rc::new(Waiters::default());
        let inner = Rc::new(SocketInner {
            io: RefCell::new(Some(Io::Idle(sock))),
            v6,
            stream,
            waiters: waiters.clone(),
        });
        *waiters.socket.borrow_mut() = Rc::downgrade(&inner);
        Ok(Socket { inner })
    }

    /// The socket's family: [`Family::V4`] or [`Family::V6`].
    pub fn family(&self) -> Family {
        if self.inner.v6 {
            Family::V6
        } else {
            Family::V4
        }
    }

    /// Stream (TCP) or datagram (UDP). Example: [`SocketType`].
    pub fn kind(&self) -> Result<SocketType> {
        self.inner.with(|s| s.kind())
    }

    /// `bind(addr)`. Example: [`Socket`].
    pub fn bind(&self, addr: SocketAddr) -> Result<()> {
        self.inner.changing(|s| s.bind(addr))
    }

    /// `listen(backlog)` on a TCP socket (bound to any port of the unspecified address
    /// first if it was not bound). Example: [`Socket`].
    pub fn listen(&self, backlog: u32) -> Result<()> {
        self.inner.changing(|s| s.listen(backlog))
    }

    /// The local address (`getsockname`).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.inner.with(|s| s.local_addr())
    }

    /// The peer's address of a connected socket (`getpeername`).
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        self.inner.with(|s| s.peer_addr())
    }

    /// Closes the socket now, for every handle; operations waiting on it fail. Idempotent.
    /// Example: [`Socket`].
    pub fn close(&self) {
        drop(self.inner.take_sys());
    }
}

impl Waiters {
    fn direction(interest: Interest) -> usize {
        if interest.read {
            0
        } else {
            1
        }
    }

    fn wake(&self, dir: usize) {
        self.reported[dir].set(true);
        if dir == 0 {
            self.drained.set(false);
        }
        // The list's allocation is kept for the next waits.
        let mut wakers = std::mem::take(&mut *self.wakers[dir].borrow_mut());
        for waker in wakers.drain(..) {
            waker.wake();
        }
        let mut list = self.wakers[dir].borrow_mut();
        if list.is_empty() {
            *list = wakers;
        }
    }

    /// Lets every waiting operation try again (and find the socket closed or changed).
    fn wake_all(&self) {
        self.wake(0);
        self.wake(1);
    }
}

impl SocketInner {
    /// Takes the system socket out of any reactor, leaving this one closed; `None` if it
    /// was closed already.
    pub(crate) fn take_sys(&self) -> Option<sys::Socket> {
        let io = self.io.borrow_mut().take();
        let sock = match io? {
            Io::Idle(sock) => sock,
            Io::Registered(registration, _) => registration.into_source(),
        };
        self.waiters.wake_all();
        Some(sock)
    }

    pub(crate) fn is_ipv6(&self) -> bool {
        self.v6
    }

    /// Runs a system call on the socket.
    pub(crate) fn with<T>(&self, op: impl FnOnce(&mut sys::Socket) -> io::Result<T>) -> Result<T> {
        match self.try_io(op) {
            Some(result) => Ok(result?),
            None => Err(closed()),
        }
    }

    /// `None` once closed.
    fn try_io<T>(
        &self,
        op: impl FnOnce(&mut sys::Socket) -> io::Result<T>,
    ) -> Option<io::Result<T>> {
        let mut io = self.io.borrow_mut();
        Some(match io.as_mut()? {
            Io::Idle(sock) => op(sock),
            Io::Registered(registration, _) => op(registration.source_mut()),
        })
    }

    /// A call that changes what the socket is (bind, listen, connect): in the guest the
    /// object watched changes with it, so the socket leaves the reactor first.
    pub(crate) fn changing<T>(
        &self,
        op: impl FnOnce(&mut sys::Socket) -> io::Result<T>,
    ) -> Result<T> {
        self.leave_reactor();
        let outcome = self.with(op);
        self.waiters.wake_all();
        outcome
    }

    fn leave_reactor(&self) {
        let mut io = self.io.borrow_mut();
        if let Some(Io::Registered(..)) = io.as_ref() {
            if let Some(Io::Registered(registration, _)) = io.take() {
                *io = Some(Io::Idle(registration.into_source()));
            }
        }
    }

    /// Registers with `ev` (leaving another loop first) if not registered there.
    fn join(&self, ev: &EventLoop) -> Result<()> {
        let mut io = self.io.borrow_mut();
        let sock = match io.take() {
            None => return Err(closed()),
            Some(Io::Registered(registration, owner))
                if owner.upgrade().is_some_and(|l| Rc::ptr_eq(&l, &ev.inner)) =>
            {
                *io = Some(Io::Registered(registration, owner));
                return Ok(());
            }
            Some(Io::Registered(registration, _)) => registration.into_source(),
            Some(Io::Idle(sock)) => sock,
        };
        let registration = Registration::new(ev, sock);
        registration.set_handler(self.waiters.clone());
        *io = Some(Io::Registered(registration, ev.downgrade()));
        Ok(())
    }

    /// Asks for reports in the directions someone waits for (natively: also those
    /// someone waited for, see the module's docs).
    fn update_interest(&self) {
        let waiting = |dir: usize| !self.waiters.wakers[dir].borrow().is_empty();
        if let Some(Io::Registered(registration, _)) = self.io.borrow_mut().as_mut() {
            let mut interest = Interest {
                read: waiting(0),
                write: waiting(1),
            };
            if sys::EDGE_TRIGGERED {
                let had = registration.interest();
                interest.read |= had.read;
                interest.write |= had.write;
            }
            if let Err(e) = registration.set_interest(interest) {
                log::debug!("sock_*: set_interest failed: {e}");
            }
        }
    }

    /// Waits for the next report in the direction of `interest` (one of read or write).
    /// Cancelling the wait leaves the socket as it was.
    pub(crate) async fn wait(self: &Rc<Self>, ev: &EventLoop, interest: Interest) -> Result<()> {
        self.join(ev)?;
        let dir = Waiters::direction(interest);
        self.waiters.reported[dir].set(false);
        poll_fn(|cx| {
            if self.waiters.reported[dir].get() {
                return Poll::Ready(Ok(()));
            }
            let new = {
                let mut wakers = self.waiters.wakers[dir].borrow_mut();
                let new = !wakers.iter().any(|w| w.will_wake(cx.waker()));
                if new {
                    wakers.push(cx.waker().clone());
                }
                new
            };
            if new {
                self.update_interest();
            }
            Poll::Pending
        })
        .await
    }

    /// [`SocketInner::retry`] for a read of up to `asked` bytes, `len` saying how many a
    /// result holds. Where the backend is edge-triggered and says so
    /// (`sys::SHORT_READ_DRAINS`), a short read from a stream socket empties it, unless
    /// the peer's close was reported: the next read then waits for a report first,
    /// without a `recv` that would say `WouldBlock`. (The guest's level-triggered reactor
    /// gains nothing from it: it reports a socket that is still readable anyway.)
    pub(crate) async fn retry_read<T>(
        self: &Rc<Self>,
        ev: &EventLoop,
        asked: usize,
        op: impl FnMut(&mut sys::Socket) -> io::Result<T>,
        len: impl Fn(&T) -> usize,
    ) -> Result<T> {
        if self.waiters.drained.get() {
            self.wait(ev, Interest::READ).await?;
        }
        let value = self.retry(ev, Interest::READ, op).await?;
        let n = len(&value);
        if self.stream
            && sys::EDGE_TRIGGERED
            && sys::SHORT_READ_DRAINS
            && n > 0
            && n < asked
            && !self.waiters.peer_closed.get()
        {
            self.waiters.drained.set(true);
        }
        Ok(value)
    }

    /// Runs `op` until it does not say `WouldBlock`, waiting in between.
    pub(crate) async fn retry<T>(
        self: &Rc<Self>,
        ev: &EventLoop,
        interest: Interest,
        mut op: impl FnMut(&mut sys::Socket) -> io::Result<T>,
    ) -> Result<T> {
        loop {
            match self.try_io(&mut op) {
                None => return Err(closed()),
                Some(Ok(value)) => return Ok(value),
                Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait(ev, interest).await?;
                }
                Some(Err(e)) => return Err(e.into()),
            }
        }
    }
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.local_addr(), self.peer_addr()) {
            (Ok(local), Ok(peer)) => write!(f, "<Socket {local} -> {peer}>"),
            (Ok(local), Err(_)) => write!(f, "<Socket {local}>"),
            _ => f.write_str("<Socket>"),
        }
    }
}
