//! Child processes: `subprocess_exec` and `subprocess_shell`, with asyncio's
//! `SubprocessProtocol` and `SubprocessTransport`.

mod options;

pub use options::{Stdio, SubprocessOptions};
mod protocol;
mod spawn;
mod transport;

pub use protocol::SubprocessProtocol;
pub use transport::SubprocessTransport;
