//! The part of a backend for targets without pipes, signals, child processes or Unix
//! domain sockets that twinloop can drive (the WASI guest; Windows, where mio cannot
//! watch anonymous pipes or process handles, nor AF_UNIX sockets): the same types, which
//! cannot be made. Every constructor returns
//! `Unsupported`, which the loop turns into `Error::Unsupported` naming its call.

use std::convert::Infallible;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;

use super::{Interest, Reactor, Source};
use crate::net::UnixAddr;
use crate::process::SubprocessOptions;

fn unsupported<T>(what: &str) -> io::Result<T> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{what} are not available on {}", super::TARGET),
    ))
}

/// A pipe end (never made here).
pub(crate) struct Pipe(Infallible);

impl Pipe {
    pub(crate) fn new(_file: File) -> io::Result<Pipe> {
        unsupported("pipe transports")
    }
    pub(crate) fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        match self.0 {}
    }
    pub(crate) fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
        match self.0 {}
    }
    pub(crate) fn reader_gone(&self) -> bool {
        match self.0 {}
    }
    pub(crate) fn raw_fd(&self) -> i32 {
        match self.0 {}
    }
}

/// Signals are not delivered on this target: every signal is refused as unsupported.
pub(crate) fn check_signal(_signal: i32) -> io::Result<()> {
    unsupported("signal handlers")
}

/// Not asked where no signal can be handled.
pub(crate) fn is_main_thread() -> bool {
    true
}

/// A loop's signal pipe (never made here).
pub(crate) struct SignalPipe(Infallible);

impl SignalPipe {
    pub(crate) fn new() -> io::Result<SignalPipe> {
        unsupported("signal handlers")
    }
    pub(crate) fn watch(&self, _signal: i32) -> io::Result<()> {
        match self.0 {}
    }
    pub(crate) fn unwatch(&self, _signal: i32) {
        match self.0 {}
    }
    pub(crate) fn take(&mut self, _out: &mut Vec<i32>) {
        match self.0 {}
    }
}

/// The command line of the platform's shell.
pub(crate) fn shell_command(cmd: &str) -> (OsString, Vec<OsString>) {
    ("sh".into(), vec!["-c".into(), cmd.into()])
}

/// A child process (never made here).
pub(crate) struct Child(Infallible);

impl Child {
    pub(crate) fn spawn(
        _program: &OsStr,
        _args: &[OsString],
        _options: SubprocessOptions,
        _notify: Box<dyn FnOnce() + Send>,
    ) -> io::Result<(Child, [Option<Pipe>; 3])> {
        unsupported("subprocesses")
    }
    pub(crate) fn pid(&self) -> u32 {
        match self.0 {}
    }
    pub(crate) fn try_exit(&mut self) -> io::Result<Option<i32>> {
        match self.0 {}
    }
    pub(crate) fn send_signal(&mut self, _signal: i32) -> io::Result<()> {
        match self.0 {}
    }
    pub(crate) fn terminate(&mut self) -> io::Result<()> {
        match self.0 {}
    }
    pub(crate) fn kill(&mut self) -> io::Result<()> {
        match self.0 {}
    }
}

/// A Unix domain stream socket (never made here).
pub(crate) struct UnixStream(Infallible);

impl UnixStream {
    pub(crate) fn connect(_addr: &UnixAddr) -> io::Result<UnixStream> {
        unsupported("Unix domain sockets")
    }
    pub(crate) fn finish_connect(&mut self) -> io::Result<bool> {
        match self.0 {}
    }
    pub(crate) fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        match self.0 {}
    }
    pub(crate) fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
        match self.0 {}
    }
    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        match self.0 {}
    }
    pub(crate) fn send_file(&mut self, _: &File, _: u64, _: usize) -> io::Result<usize> {
        match self.0 {}
    }
    pub(crate) fn local_addr(&self) -> io::Result<UnixAddr> {
        match self.0 {}
    }
    pub(crate) fn peer_addr(&self) -> io::Result<UnixAddr> {
        match self.0 {}
    }
}

/// A listening Unix domain socket (never made here).
pub(crate) struct UnixListener(Infallible);

impl UnixListener {
    pub(crate) fn bind(
        _addr: &UnixAddr,
        _backlog: u32,
        _cleanup: bool,
    ) -> io::Result<UnixListener> {
        unsupported("Unix domain sockets")
    }
    pub(crate) fn accept(&mut self) -> io::Result<(UnixStream, UnixAddr)> {
        match self.0 {}
    }
    pub(crate) fn local_addr(&self) -> io::Result<UnixAddr> {
        match self.0 {}
    }
}

macro_rules! never_watched {
    ($($t:ty),*) => {$(
        impl Source for $t {
            fn set_interest(&mut self, _: &Reactor, _: usize, _: Interest) -> io::Result<()> {
                match self.0 {}
            }
            fn deregister(&mut self, _: &Reactor) {
                match self.0 {}
            }
        }
    )*};
}
never_watched!(Pipe, SignalPipe, Child, UnixStream, UnixListener);

/// Signal numbers, as on Linux (no signal is delivered on this target).
pub(crate) mod signum {
    pub(crate) const SIGHUP: i32 = 1;
    pub(crate) const SIGINT: i32 = 2;
    pub(crate) const SIGQUIT: i32 = 3;
    pub(crate) const SIGKILL: i32 = 9;
    pub(crate) const SIGUSR1: i32 = 10;
    pub(crate) const SIGUSR2: i32 = 12;
    pub(crate) const SIGPIPE: i32 = 13;
    pub(crate) const SIGALRM: i32 = 14;
    pub(crate) const SIGTERM: i32 = 15;
    pub(crate) const SIGCHLD: i32 = 17;
    pub(crate) const SIGWINCH: i32 = 28;
}
