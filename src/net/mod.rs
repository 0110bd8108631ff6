//! TCP networking above the backend: name resolution, connections, servers.

mod connect;
mod readiness;
mod resolve;
mod server;
mod server_options;

pub use connect::ConnectOptions;
pub use resolve::{Family, Port};
pub use server::{Server, ServerGuard, ServerSocket, ACCEPT_RETRY_DELAY};
pub use server_options::{Hosts, ServerOptions, DEFAULT_BACKLOG};
