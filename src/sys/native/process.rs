//! Child processes: spawned with `std::process`, their standard streams as pipe ends,
//! their exit watched without blocking the loop and without leaving a zombie.
//!
//! On Linux the exit is watched through a pidfd (`pidfd_open`, kernel 5.3 and later) in
//! the poller, and the loop reaps the child itself (`waitpid` through `try_wait`), so a
//! signal sent from the loop can never reach a recycled pid. Elsewhere (macOS, the BSDs,
//! older kernels) a helper thread blocks in `waitpid` and reports through the loop's
//! inbox, as CPython's `ThreadedChildWatcher` does.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::sync::{Arc, Mutex};

use super::pipe::Pipe;
use crate::process::{Stdio, SubprocessOptions};
use crate::sys::{Source, Watchable};

/// A running (or exited, not yet reaped) child.
pub(crate) struct Child {
    /// `None` once handed to a reaper thread.
    child: Option<std::process::Child>,
    pid: u32,
    watch: ExitWatch,
    /// asyncio's `returncode`, once the child is reaped.
    returncode: Option<i32>,
}

enum ExitWatch {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Pidfd(super::source::MioWatched<super::source::MioFd<OwnedFd>>),
    /// A helper thread waits; it leaves the return code here, then notifies the loop.
    Thread(Arc<Mutex<Option<i32>>>),
}

/// The command that runs `cmd` with the platform's shell (`/bin/sh -c cmd`).
pub(crate) fn shell_command(cmd: &str) -> (OsString, Vec<OsString>) {
    ("/bin/sh".into(), vec!["-c".into(), cmd.into()])
}

/// asyncio's `returncode`: the exit code, or minus the signal that ended the child.
fn returncode(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| -s))
        .unwrap_or(i32::MIN)
}

/// The child's end of one standard stream and, for `Pipe`, ours. `None` for the child:
/// inherit.
fn child_end(spec: Stdio, fd: usize) -> io::Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    Ok(match spec {
        Stdio::Pipe => {
            let (reader, writer) = std::io::pipe()?;
            if fd == 0 {
                (Some(reader.into()), Some(writer.into()))
            } else {
                (Some(writer.into()), Some(reader.into()))
            }
        }
        Stdio::DevNull => {
            let null = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")?;
            (Some(null.into()), None)
        }
        Stdio::Inherit => (None, None),
        Stdio::File(file) => (Some(file.into()), None),
        Stdio::Stdout => unreachable!("checked by subprocess_exec"),
    })
}

impl Child {
    /// Starts `program` with `args`. Our ends of the `Pipe` streams come back as pipes,
    /// indexed by fd (0, 1, 2). `notify` tells the loop the child may have exited where a
    /// helper thread watches it.
    pub(crate) fn spawn(
        program: &OsStr,
        args: &[OsString],
        options: SubprocessOptions,
        notify: Box<dyn FnOnce() + Send>,
    ) -> io::Result<(Child, [Option<Pipe>; 3])> {
        let SubprocessOptions {
            stdin,
            stdout,
            stderr,
            cwd,
            env,
            env_clear,
        } = options;
        let (child_in, our_in) = child_end(stdin, 0)?;
        let (child_out, our_out) = child_end(stdout, 1)?;
        let (child_err, our_err) = match stderr {
            Stdio::Stdout => {
                let same = match &child_out {
                    Some(fd) => fd.try_clone()?,
                    None => std::io::stdout().as_fd().try_clone_to_owned()?,
                };
                (Some(same), None)
            }
            other => child_end(other, 2)?,
        };
        let mut cmd = Command::new(program);
        cmd.args(args);
        if let Some(cwd) = cwd {
            cmd.current_dir(cwd);
        }
        if env_clear {
            cmd.env_clear();
        }
        cmd.envs(env);
        if let Some(fd) = child_in {
            cmd.stdin(fd);
        }
        if let Some(fd) = child_out {
            cmd.stdout(fd);
        }
        if let Some(fd) = child_err {
            cmd.stderr(fd);
        }
        let child = cmd.spawn()?;
        // The child's ends were moved into `cmd`: drop it so only the child holds them
        // (a pipe reports EOF only once every write end is closed).
        drop(cmd);
        let pid = child.id();
        let pipes = [
            our_in.map(Pipe::from_fd).transpose()?,
            our_out.map(Pipe::from_fd).transpose()?,
            our_err.map(Pipe::from_fd).transpose()?,
        ];
        let watch = match pidfd(pid) {
            Some(watch) => watch,
            None => ExitWatch::Thread(wait_in_thread(pid, notify)?),
        };
        Ok((
            Child {
                child: Some(child),
                pid,
                watch,
                returncode: None,
            },
            pipes,
        ))
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// The return code once the child has exited (it is reaped then); `None` before.
    pub(crate) fn try_exit(&mut self) -> io::Result<Option<i32>> {
        if self.returncode.is_none() {
            self.returncode = match &self.watch {
                ExitWatch::Thread(code) => *code.lock().unwrap_or_else(|p| p.into_inner()),
                #[cfg(any(target_os = "linux", target_os = "android"))]
                ExitWatch::Pidfd(_) => match self.child.as_mut() {
                    Some(child) => child.try_wait()?.map(returncode),
                    None => None,
                },
            };
        }
        Ok(self.returncode)
    }

    /// Sends `signal`; `ESRCH` (asyncio's ProcessLookupError) once the child is reaped.
    pub(crate) fn send_signal(&mut self, signal: i32) -> io::Result<()> {
        if self.try_exit()?.is_some() {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        // SAFETY: kill has no memory preconditions; the pid is our unreaped child's.
        if unsafe { libc::kill(self.pid as libc::pid_t, signal) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub(crate) fn terminate(&mut self) -> io::Result<()> {
        self.send_signal(libc::SIGTERM)
    }

    pub(crate) fn kill(&mut self) -> io::Result<()> {
        self.send_signal(libc::SIGKILL)
    }
}

impl Drop for Child {
    /// A child still running when its loop lets go of it (the loop closed) is killed and
    /// reaped: no zombie is left behind.
    fn drop(&mut self) {
        if matches!(self.try_exit(), Ok(Some(_))) {
            return;
        }
        let _ = self.kill();
        // A helper thread reaps it where one watches; otherwise a new one does.
        let watched_by_thread = matches!(self.watch, ExitWatch::Thread(_));
        if let (false, Some(mut child)) = (watched_by_thread, self.child.take()) {
            let _ = std::thread::Builder::new()
                .name("twinloop-reaper".into())
                .spawn(move || child.wait());
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn pidfd(pid: u32) -> Option<ExitWatch> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return None; // ENOSYS before Linux 5.3: the helper thread does it.
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    let fd = super::source::MioFd(unsafe { OwnedFd::from_raw_fd(fd as i32) });
    Some(ExitWatch::Pidfd(super::source::MioWatched::new(fd)))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn pidfd(_pid: u32) -> Option<ExitWatch> {
    None
}

/// Reaps `pid` on a helper thread, then notifies the loop.
fn wait_in_thread(
    pid: u32,
    notify: Box<dyn FnOnce() + Send>,
) -> io::Result<Arc<Mutex<Option<i32>>>> {
    let code = Arc::new(Mutex::new(None));
    let slot = code.clone();
    std::thread::Builder::new()
        .name("twinloop-waitpid".into())
        .spawn(move || {
            let mut status = 0;
            loop {
                // SAFETY: `status` is a valid c_int to write to; the pid is our child's.
                let rc = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
                if rc >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                    break;
                }
            }
            *slot.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(returncode(ExitStatus::from_raw(status)));
            notify();
        })?;
    Ok(code)
}

impl Watchable for Child {
    fn as_source(&mut self) -> Option<&mut dyn Source> {
        match &mut self.watch {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            ExitWatch::Pidfd(pidfd) => Some(pidfd),
            // The helper thread reports through the loop's inbox instead.
            ExitWatch::Thread(_) => None,
        }
    }
}
