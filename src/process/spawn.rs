//! `subprocess_exec` and `subprocess_shell`.

use std::cell::RefCell;
use std::ffi::{OsStr, OsString};
use std::future::Future;
use std::rc::Rc;

use super::protocol::{Calls, SubprocessProtocol};
use super::transport::{PipeBridge, SubprocessInner, SubprocessTransport};
use super::{Stdio, SubprocessOptions};
use crate::error::{Error, Result};
use crate::net::unsupported_or;
use crate::protocol::AnyProtocol;
use crate::protocol_handle::ProtocolHandle;
use crate::registration::Registration;
use crate::sys;
use crate::transport::{PipeSource, Transport};
use crate::EventLoop;

impl EventLoop {
    /// asyncio's `loop.subprocess_exec(protocol_factory, *args, stdin=PIPE, stdout=PIPE,
    /// stderr=PIPE, **kwargs)`: runs the program `args[0]` with the arguments
    /// `args[1..]` (no shell), its standard streams as `options` says (pipes by default),
    /// and drives `factory`'s protocol with its output and its exit. Returns the
    /// transport and a [`ProtocolHandle`]; `connection_made` has run when it does.
    ///
    /// The child's exit status is delivered exactly once (`process_exited`, then
    /// [`SubprocessTransport::get_returncode`]), and the loop reaps the child: no zombie
    /// is left, also when the loop is closed first (the child is then killed). As with
    /// [`EventLoop::create_connection`], the future is `'static` and `factory` is called
    /// at once.
    ///
    /// Errors: [`Error::InvalidArgument`] (no program; [`Stdio::Stdout`] for stdin or
    /// stdout); the spawn's [`Error::Io`] (kind `NotFound` for a missing program);
    /// [`Error::Unsupported`] on Windows (mio watches neither anonymous pipes nor process
    /// handles there) and in the guest (WASI has no processes).
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// use twinloop::{BaseProtocol, LoopFuture, SubprocessOptions, SubprocessProtocol, SubprocessTransport};
    /// /// Collects stdout; hands it over with the return code at the end.
    /// struct Run(Vec<u8>, Option<SubprocessTransport>, LoopFuture<(Vec<u8>, Option<i32>)>);
    /// impl BaseProtocol<SubprocessTransport> for Run {
    ///     fn connection_made(&mut self, t: SubprocessTransport) { self.1 = Some(t); }
    ///     fn connection_lost(&mut self, _: Option<twinloop::Error>) {
    ///         let code = self.1.as_ref().and_then(|t| t.get_returncode());
    ///         let _ = self.2.set_result((std::mem::take(&mut self.0), code));
    ///     }
    /// }
    /// impl SubprocessProtocol for Run {
    ///     fn pipe_data_received(&mut self, _fd: i32, data: &[u8]) { self.0.extend_from_slice(data); }
    /// }
    /// let (out, code) = twinloop::run(|ev| async move {
    ///     let done = ev.create_future();
    ///     let factory = || Run(Vec::new(), None, done.clone());
    ///     let (t, _) = ev.subprocess_exec(factory, ["echo", "hello"], SubprocessOptions::default()).await?;
    ///     println!("started pid {}", t.get_pid());
    ///     done.await
    /// })?;
    /// assert_eq!((out.as_slice(), code), (&b"hello\n"[..], Some(0)));
    /// # }
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn subprocess_exec<P, I, S>(
        &self,
        factory: impl FnOnce() -> P,
        args: I,
        options: SubprocessOptions,
    ) -> impl Future<Output = Result<(SubprocessTransport, ProtocolHandle<P>)>> + 'static
    where
        P: SubprocessProtocol,
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let ev = self.clone();
        let protocol = factory();
        let mut args = args.into_iter().map(|a| a.as_ref().to_owned());
        let program = args.next();
        let rest: Vec<OsString> = args.collect();
        async move {
            let program = program.ok_or_else(|| {
                Error::invalid_argument("subprocess_exec: no program given (args is empty)")
            })?;
            ev.spawn_child("subprocess_exec", &program, &rest, options, protocol)
                .await
        }
    }

    /// asyncio's `loop.subprocess_shell(protocol_factory, cmd, ...)`: runs `cmd` with
    /// the system shell (`/bin/sh -c cmd`), otherwise as
    /// [`EventLoop::subprocess_exec`].
    ///
    /// The shell interprets `cmd`: quoting is the caller's job, as the asyncio page
    /// warns. Never put untrusted text in it unquoted (shell injection); quote each piece
    /// for the shell, or pass the arguments to [`EventLoop::subprocess_exec`] instead.
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// use twinloop::{BaseProtocol, LoopFuture, Stdio, SubprocessOptions, SubprocessProtocol, SubprocessTransport};
    /// /// Hands over the return code when the child exits.
    /// struct Exit(Option<SubprocessTransport>, LoopFuture<Option<i32>>);
    /// impl BaseProtocol<SubprocessTransport> for Exit {
    ///     fn connection_made(&mut self, t: SubprocessTransport) { self.0 = Some(t); }
    /// }
    /// impl SubprocessProtocol for Exit {
    ///     fn process_exited(&mut self) {
    ///         let _ = self.1.set_result(self.0.as_ref().and_then(|t| t.get_returncode()));
    ///     }
    /// }
    /// let code = twinloop::run(|ev| async move {
    ///     let exited = ev.create_future();
    ///     let options = SubprocessOptions { stdout: Stdio::DevNull, ..Default::default() };
    ///     let (t, _) = ev.subprocess_shell(|| Exit(None, exited.clone()), "echo hi; exit 7", options).await?;
    ///     assert!(t.get_pipe_transport(1).is_none()); // stdout is not a pipe
    ///     exited.await
    /// })?;
    /// assert_eq!(code, Some(7));
    /// # }
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn subprocess_shell<P: SubprocessProtocol>(
        &self,
        factory: impl FnOnce() -> P,
        cmd: &str,
        options: SubprocessOptions,
    ) -> impl Future<Output = Result<(SubprocessTransport, ProtocolHandle<P>)>> + 'static {
        let ev = self.clone();
        let protocol = factory();
        let (program, args) = sys::shell_command(cmd);
        async move {
            ev.spawn_child("subprocess_shell", &program, &args, options, protocol)
                .await
        }
    }

    async fn spawn_child<P: SubprocessProtocol>(
        &self,
        what: &'static str,
        program: &OsStr,
        args: &[OsString],
        options: SubprocessOptions,
        protocol: P,
    ) -> Result<(SubprocessTransport, ProtocolHandle<P>)> {
        if self.is_closed() {
            return Err(Error::LoopClosed);
        }
        if matches!(options.stdin, Stdio::Stdout) || matches!(options.stdout, Stdio::Stdout) {
            return Err(Error::invalid_argument(format!(
                "{what}: Stdio::Stdout is for stderr only"
            )));
        }
        let mut pipes = Default::default();
        let child = Registration::try_new(self, |token| {
            let (child, ours) = sys::Child::spawn(program, args, options, self.io_notifier(token))?;
            pipes = ours;
            Ok::<_, std::io::Error>(child)
        })
        .map_err(|e| unsupported_or(what, e))?;
        let pid = child.source().pid();

        let protocol = Rc::new(RefCell::new(protocol));
        let calls = Calls::new(self, protocol.clone());
        let inner = SubprocessInner::new(self, pid, calls.clone());
        let transport = SubprocessTransport {
            inner: inner.clone(),
        };
        let made = transport.clone();
        calls.later(Box::new(move |p| p.connection_made(made)));
        inner.watch(child)?;
        for (fd, pipe) in pipes.into_iter().enumerate() {
            let Some(pipe) = pipe else {
                continue;
            };
            let source = if fd == 0 {
                PipeSource::writer(pipe)
            } else {
                PipeSource::reader(pipe)
            };
            let bridge = PipeBridge {
                fd: fd as i32,
                inner: Rc::downgrade(&inner),
            };
            let slot = AnyProtocol::into_slot(Rc::new(RefCell::new(bridge)));
            let pipe_transport = Transport::start(self, Box::new(source), slot, None)?;
            inner.add_pipe(fd, SubprocessTransport::pipe_of(pipe_transport, fd));
        }
        // connection_made was queued first; this runs after it.
        let ready = self.create_future::<()>();
        let done = ready.clone();
        calls.later(Box::new(move |_| {
            let _ = done.set_result(());
        }));
        ready.await?;
        Ok((transport, ProtocolHandle::new(protocol)))
    }
}
