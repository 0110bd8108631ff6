//! Unix signals, delivered to the loop through a self-pipe.
//!
//! signal-hook installs the process's handler; the action twinloop registers with it (once
//! per signal, for the life of the process) looks up which loop's pipe the signal goes to
//! and writes the signal's number there, one byte per delivery. The pipe's read end is in
//! the loop's poller, so a signal wakes a loop blocked in `poll`. A signal no loop watches
//! (any more) gets its default action (signal-hook's `emulate_default_handler`): that is
//! how `remove_signal_handler` restores the default disposition while signal-hook's own
//! handler stays installed.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::source::{MioRegistration, MioSource};

/// Signal numbers this module can route (Linux has 64, macOS 31).
const SLOTS: usize = 65;

/// Per signal: the write end of the pipe of the loop watching it, or -1.
static ROUTE: [AtomicI32; SLOTS] = [const { AtomicI32::new(-1) }; SLOTS];
/// Per signal: the action is registered with signal-hook.
static HOOKED: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
/// Serialises the registrations with signal-hook.
static HOOKING: Mutex<()> = Mutex::new(());
/// Actions running now: a pipe is closed only once none is between reading its descriptor
/// from `ROUTE` and writing to it.
static IN_ACTION: AtomicUsize = AtomicUsize::new(0);

/// The action run inside the signal handler: async-signal-safe (atomics, `write`, and
/// signal-hook's default emulation).
fn on_signal(signal: i32) {
    IN_ACTION.fetch_add(1, Ordering::SeqCst);
    let fd = ROUTE[signal as usize].load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = signal as u8;
        // SAFETY: `fd` is a pipe's write end that stays open while IN_ACTION is non-zero
        // (see `SignalPipe::drop`); the buffer is one valid byte. A full pipe drops the
        // byte: the loop has thousands of unread deliveries already.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
        IN_ACTION.fetch_sub(1, Ordering::SeqCst);
    } else {
        IN_ACTION.fetch_sub(1, Ordering::SeqCst);
        let _ = signal_hook::low_level::emulate_default_handler(signal);
    }
}

/// `Ok` if `signal` can have a handler; `InvalidInput` if it is no signal or one that
/// cannot (or must not) be caught: SIGKILL, SIGSTOP, and the synchronous faults SIGILL,
/// SIGFPE and SIGSEGV.
pub(crate) fn check_signal(signal: i32) -> io::Result<()> {
    let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, why.to_string());
    if signal <= 0 || signal as usize >= SLOTS {
        return Err(invalid(&format!("invalid signal number {signal}")));
    }
    if signal_hook::consts::FORBIDDEN.contains(&signal) {
        return Err(invalid(&format!("signal {signal} cannot be caught")));
    }
    // SAFETY: sigaction with a null new action only reads the current one into `old`.
    let known = unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0
    };
    if !known {
        return Err(invalid(&format!("invalid signal number {signal}")));
    }
    Ok(())
}

/// Whether the calling thread is the process's main thread.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn is_main_thread() -> bool {
    // SAFETY: gettid and getpid have no preconditions.
    unsafe { libc::gettid() == libc::getpid() }
}

/// Whether the calling thread is the process's main thread.
#[cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd"
))]
pub(crate) fn is_main_thread() -> bool {
    // SAFETY: pthread_main_np has no preconditions.
    unsafe { libc::pthread_main_np() == 1 }
}

/// Whether the calling thread is the process's main thread (the one std names "main").
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd"
)))]
pub(crate) fn is_main_thread() -> bool {
    std::thread::current().name() == Some("main")
}

/// A loop's signal pipe: the signals routed to it arrive as readability.
pub(crate) struct SignalPipe {
    rx: mio::unix::pipe::Receiver,
    tx: mio::unix::pipe::Sender,
    registration: MioRegistration,
}

impl SignalPipe {
    pub(crate) fn new() -> io::Result<SignalPipe> {
        let (tx, rx) = mio::unix::pipe::new()?;
        Ok(SignalPipe {
            rx,
            tx,
            registration: MioRegistration::default(),
        })
    }

    /// Routes `signal` to this pipe (from any loop it went to before). Check it with
    /// [`check_signal`] first.
    pub(crate) fn watch(&self, signal: i32) -> io::Result<()> {
        let slot = signal as usize;
        {
            let _guard = HOOKING.lock().unwrap_or_else(|p| p.into_inner());
            if !HOOKED[slot].load(Ordering::SeqCst) {
                // SAFETY: `on_signal` is async-signal-safe (atomics, write(2), and
                // signal-hook's default emulation, documented as such); `signal` passed
                // check_signal, so it is not one signal-hook refuses.
                unsafe { signal_hook::low_level::register(signal, move || on_signal(signal))? };
                HOOKED[slot].store(true, Ordering::SeqCst);
            }
        }
        ROUTE[slot].store(self.tx.as_raw_fd(), Ordering::SeqCst);
        Ok(())
    }

    /// Stops routing `signal` here: it gets its default action again.
    pub(crate) fn unwatch(&self, signal: i32) {
        let mine = self.tx.as_raw_fd();
        if let Some(route) = ROUTE.get(signal as usize) {
            let _ = route.compare_exchange(mine, -1, Ordering::SeqCst, Ordering::SeqCst);
        }
    }

    /// Appends the signals delivered since the last call, one entry per delivery.
    pub(crate) fn take(&mut self, out: &mut Vec<i32>) {
        let mut buf = [0u8; 256];
        loop {
            match self.rx.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => out.extend(buf[..n].iter().map(|&b| i32::from(b))),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}

impl Drop for SignalPipe {
    fn drop(&mut self) {
        let mine: RawFd = self.tx.as_raw_fd();
        for route in &ROUTE {
            let _ = route.compare_exchange(mine, -1, Ordering::SeqCst, Ordering::SeqCst);
        }
        // An action that read `mine` before the routes were cleared may still write to it.
        while IN_ACTION.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
    }
}

impl MioSource for SignalPipe {
    fn mio_parts(&mut self) -> (&mut dyn mio::event::Source, &mut MioRegistration) {
        (&mut self.rx, &mut self.registration)
    }
}
