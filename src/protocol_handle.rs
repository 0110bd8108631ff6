//! `ProtocolHandle`: the program's access to a protocol that a transport drives.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use crate::error::{Error, Result};

/// The protocol of a connection, as [`EventLoop::create_connection`] and
/// [`EventLoop::connect_accepted_socket`] hand it back: the transport calls it, the
/// program looks at it between awaits. A handle: clones share the protocol.
///
/// Access is through a closure ([`ProtocolHandle::with`]), so no borrow can be held across
/// an `.await`, where the transport's next callback would find the protocol taken. What
/// the closure does to the transport (a `write` past the high-water mark, a `close`) may
/// call the protocol back: those callbacks wait until the closure returns, and keep their
/// order.
///
/// ```
/// use twinloop::{BaseProtocol, ConnectOptions, Protocol, ServerOptions, Transport};
/// # struct Greeter; impl BaseProtocol for Greeter { fn connection_made(&mut self, t: Transport) { let _ = t.write(b"hi"); } } impl Protocol for Greeter {}
/// #[derive(Default)]
/// struct Collect(Vec<u8>);
/// impl BaseProtocol for Collect {}
/// impl Protocol for Collect {
///     fn data_received(&mut self, data: &[u8]) { self.0.extend_from_slice(data); }
/// }
/// twinloop::run(|ev| async move {
///     // a server that says "hi" to each client
///     let server = ev.create_server(|| Greeter, "127.0.0.1", 0, ServerOptions::default()).await?;
///     let port = server.sockets()[0].local_addr().unwrap().port();
///     let (_t, client) = ev.create_connection(Collect::default, "127.0.0.1", port, ConnectOptions::default()).await?;
///     while client.with(|c| c.0.len())? < 2 {
///         twinloop::sleep(std::time::Duration::from_millis(1)).await?;
///     }
///     assert_eq!(client.with(|c| std::mem::take(&mut c.0))?, b"hi");
///     Ok(())
/// })?;
/// # Ok::<(), twinloop::Error>(())
/// ```
///
/// [`EventLoop::create_connection`]: crate::EventLoop::create_connection
/// [`EventLoop::connect_accepted_socket`]: crate::EventLoop::connect_accepted_socket
pub struct ProtocolHandle<P> {
    protocol: Rc<RefCell<P>>,
}

impl<P> Clone for ProtocolHandle<P> {
    fn clone(&self) -> Self {
        ProtocolHandle {
            protocol: self.protocol.clone(),
        }
    }
}

impl<P> ProtocolHandle<P> {
    pub(crate) fn new(protocol: Rc<RefCell<P>>) -> Self {
        ProtocolHandle { protocol }
    }

    /// Runs `f` on the protocol and returns what it returns. [`Error::InvalidState`] (and
    /// `f` does not run) when the protocol is already in use: called from inside one of
    /// its own callbacks, or from inside another `with` on it. Example: [`ProtocolHandle`].
    pub fn with<R>(&self, f: impl FnOnce(&mut P) -> R) -> Result<R> {
        match self.protocol.try_borrow_mut() {
            Ok(mut protocol) => Ok(f(&mut protocol)),
            Err(_) => Err(Error::invalid_state(
                "the protocol is in use (ProtocolHandle::with called from inside one of its \
                 own callbacks or another with); keep what the callback needs in the protocol",
            )),
        }
    }

    /// True if both are handles to the same protocol.
    pub fn ptr_eq(&self, other: &ProtocolHandle<P>) -> bool {
        Rc::ptr_eq(&self.protocol, &other.protocol)
    }
}

impl<P> fmt::Debug for ProtocolHandle<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<ProtocolHandle {}>", std::any::type_name::<P>())
    }
}
