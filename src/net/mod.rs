//! Networking above the backend: name resolution, connections, servers, datagram
//! endpoints.

mod accept;
mod connect;
mod datagram;
pub(crate) mod readiness;
mod resolve;
mod server;
mod server_options;
mod sock_ops;
mod socket;

pub use accept::ACCEPT_RETRY_DELAY;
pub use connect::{AcceptedOptions, ConnectOptions};
pub use datagram::{DatagramOptions, HostPort};
pub use resolve::{Family, Port};
pub use server::{Server, ServerGuard, ServerSocket};
pub use server_options::{Hosts, ServerOptions, DEFAULT_BACKLOG};
pub use socket::{Socket, SocketType};
