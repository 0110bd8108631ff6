//! Networking above the backend: name resolution, connections, servers, datagram
//! endpoints, Unix domain sockets.

mod accept;
pub(crate) mod connect;
mod datagram;
mod happy_eyeballs;
mod listener;
pub(crate) mod readiness;
mod resolve;
mod server;
mod server_options;
mod sock_ops;
mod sock_sendfile;
mod socket;
mod unix;
mod unix_addr;

pub use accept::ACCEPT_RETRY_DELAY;
pub(crate) use connect::unsupported_or;
pub use connect::{AcceptedOptions, ConnectOptions};
pub use datagram::{DatagramOptions, HostPort};
pub use listener::ServerSocket;
pub use resolve::{Family, Port, Resolver};
pub use server::{Server, ServerGuard};
pub use server_options::{Hosts, ServerOptions, DEFAULT_BACKLOG};
pub use socket::{Socket, SocketType};
pub use unix::{UnixConnectOptions, UnixServerOptions};
pub use unix_addr::UnixAddr;
