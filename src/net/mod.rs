//! TCP networking above the backend: name resolution, connections, servers.

mod connect;
mod readiness;
mod resolve;
mod server;

pub use connect::ConnectOptions;
pub use resolve::{Family, Port};
pub use server::{Hosts, Server, ServerGuard, ServerOptions, ServerSocket, DEFAULT_BACKLOG};
