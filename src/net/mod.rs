//! TCP networking above the backend: name resolution, connections, servers.

mod accept;
mod connect;
mod readiness;
mod resolve;
mod server;
mod server_options;

pub use accept::ACCEPT_RETRY_DELAY;
pub use connect::ConnectOptions;
pub use resolve::{Family, Port};
pub use server::{Server, ServerGuard, ServerSocket};
pub use server_options::{Hosts, ServerOptions, DEFAULT_BACKLOG};
