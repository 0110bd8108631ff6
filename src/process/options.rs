//! How a child process is started: asyncio's `stdin`/`stdout`/`stderr` arguments and the
//! `subprocess.Popen` keywords that make sense here.

use std::ffi::OsString;
use std::fs::File;
use std::path::PathBuf;

/// Where one of a child's standard streams goes: asyncio's `subprocess.PIPE`,
/// `DEVNULL`, `STDOUT`, `None` (inherit) or a file object / descriptor.
///
/// ```
/// use twinloop::{Stdio, SubprocessOptions};
/// // Merge stderr into stdout, read both through one pipe; no stdin.
/// let options = SubprocessOptions {
///     stdin: Stdio::DevNull,
///     stderr: Stdio::Stdout,
///     ..SubprocessOptions::default()
/// };
/// assert!(matches!(options.stdout, Stdio::Pipe));
/// ```
#[derive(Debug, Default)]
pub enum Stdio {
    /// A new pipe, connected to the loop: the child's stdin is written through
    /// [`SubprocessTransport::get_pipe_transport`](crate::SubprocessTransport::get_pipe_transport)`(0)`,
    /// its output arrives in `pipe_data_received`. The default.
    #[default]
    Pipe,
    /// The null device (`subprocess.DEVNULL`).
    DevNull,
    /// For stderr only: wherever stdout goes (`subprocess.STDOUT`); with `stdout` a pipe,
    /// both arrive as fd 1 and there is no pipe 2.
    Stdout,
    /// This process's own stream (asyncio's `None`).
    Inherit,
    /// An open file or descriptor (on Unix, a `File` made from any `OwnedFd`: a pipe
    /// end, a socket, a PTY). If it is a pipe, its other end is the program's to drive,
    /// e.g. with [`EventLoop::connect_read_pipe`](crate::EventLoop::connect_read_pipe).
    File(File),
}

/// The options of [`EventLoop::subprocess_exec`](crate::EventLoop::subprocess_exec)
/// and [`EventLoop::subprocess_shell`](crate::EventLoop::subprocess_shell): where the
/// standard streams go (all pipes by default, as in asyncio) and the `Popen` keywords
/// that apply (`cwd`, `env`). asyncio's text-mode keywords (`universal_newlines`, `text`,
/// `encoding`, `errors`), `bufsize` and `shell` have no counterpart: the data is bytes,
/// unbuffered, and the two methods say whether a shell runs.
#[derive(Debug, Default)]
pub struct SubprocessOptions {
    /// The child's fd 0: [`Stdio::Stdout`] is not allowed.
    pub stdin: Stdio,
    /// The child's fd 1: [`Stdio::Stdout`] is not allowed.
    pub stdout: Stdio,
    /// The child's fd 2.
    pub stderr: Stdio,
    /// The child's working directory (`cwd`); this process's by default.
    pub cwd: Option<PathBuf>,
    /// Variables set in the child's environment, on top of this process's (or of none,
    /// with `env_clear`).
    pub env: Vec<(OsString, OsString)>,
    /// Start the child with an empty environment but for `env` (asyncio's `env=`).
    pub env_clear: bool,
}
