//! Native name resolution: the system resolver (`getaddrinfo`, `getnameinfo`), blocking,
//! run as jobs on the loop's default executor (a bounded thread pool), never on the
//! loop's thread.

use std::io;
use std::net::SocketAddr;

use crate::error::Result;
use crate::executor::{self, Executor, Reporter, Slot};
use crate::sys::{Source, Watchable};

type LookupResult = io::Result<Vec<SocketAddr>>;

/// A name lookup in progress. Natively `getaddrinfo` runs as a job on `executor` (the
/// loop's default executor), which leaves the answer and calls `notify`; the loop then
/// calls `take`.
pub(crate) struct Lookup {
    result: Slot<LookupResult>,
}

impl Lookup {
    pub(crate) fn start(
        host: &str,
        port: u16,
        notify: Box<dyn FnOnce() + Send>,
        executor: &dyn Executor,
    ) -> Result<Lookup> {
        let (answer, result) = Reporter::new(notify, || {
            Err(io::Error::other(
                "the executor dropped the name lookup without running it",
            ))
        });
        let host = host.to_owned();
        executor.execute(Box::new(move || {
            let addrs = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
                .map(|addrs| addrs.collect::<Vec<_>>());
            answer.finish(addrs);
        }))?;
        Ok(Lookup { result })
    }

    /// The answer, once there is one.
    pub(crate) fn take(&mut self) -> Option<LookupResult> {
        executor::take(&self.result)
    }
}

/// Reverse lookup (`getnameinfo`), blocking; the loop runs it on its default executor.
/// `numeric` asks for the numeric host (NI_NUMERICHOST) and port.
#[cfg(unix)]
pub(crate) fn name_info(addr: SocketAddr, numeric: bool) -> io::Result<(String, String)> {
    use socket2::SockAddr;
    use std::ffi::CStr;
    let sockaddr = SockAddr::from(addr);
    let mut host = [0 as libc::c_char; 1025];
    let mut serv = [0 as libc::c_char; 32];
    let flags = if numeric {
        libc::NI_NUMERICHOST | libc::NI_NUMERICSERV
    } else {
        libc::NI_NUMERICSERV
    };
    // SAFETY: sockaddr points to a valid address of the given length; host and serv are
    // writable buffers whose lengths are passed alongside them.
    let rc = unsafe {
        libc::getnameinfo(
            sockaddr.as_ptr().cast(),
            sockaddr.len(),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            serv.as_mut_ptr(),
            serv.len() as libc::socklen_t,
            flags,
        )
    };
    if rc != 0 {
        // SAFETY: gai_strerror returns a pointer to a static, NUL-terminated message.
        let msg = unsafe { CStr::from_ptr(libc::gai_strerror(rc)) };
        return Err(io::Error::other(format!(
            "getnameinfo: {}",
            msg.to_string_lossy()
        )));
    }
    // SAFETY: getnameinfo wrote NUL-terminated strings into both buffers on success.
    let (h, s) = unsafe { (CStr::from_ptr(host.as_ptr()), CStr::from_ptr(serv.as_ptr())) };
    Ok((
        h.to_string_lossy().into_owned(),
        s.to_string_lossy().into_owned(),
    ))
}

/// Reverse lookup (`getnameinfo` of Winsock), blocking; the loop runs it on its default
/// executor. `numeric` asks for the numeric host (NI_NUMERICHOST) and port.
#[cfg(windows)]
pub(crate) fn name_info(addr: SocketAddr, numeric: bool) -> io::Result<(String, String)> {
    use std::ffi::CStr;
    use windows_sys::Win32::Networking::WinSock::{
        getnameinfo, WSACleanup, WSAGetLastError, WSAStartup, NI_MAXHOST, NI_NUMERICHOST,
        NI_NUMERICSERV, WSADATA,
    };
    let sockaddr = socket2::SockAddr::from(addr);
    let mut host = [0u8; NI_MAXHOST as usize];
    let mut serv = [0u8; 32];
    let flags = if numeric {
        NI_NUMERICHOST | NI_NUMERICSERV
    } else {
        NI_NUMERICSERV
    };
    // SAFETY: WSADATA is plain data that WSAStartup fills in. Winsock counts its users:
    // this start is paired with the WSACleanup below, whatever else the process does.
    let started = unsafe {
        let mut data: WSADATA = std::mem::zeroed();
        WSAStartup(0x0202, &mut data)
    };
    if started != 0 {
        return Err(io::Error::from_raw_os_error(started));
    }
    // SAFETY: sockaddr points to a valid address of the given length; host and serv are
    // writable buffers whose lengths are passed alongside them.
    let rc = unsafe {
        getnameinfo(
            sockaddr.as_ptr().cast(),
            sockaddr.len(),
            host.as_mut_ptr(),
            host.len() as u32,
            serv.as_mut_ptr(),
            serv.len() as u32,
            flags as i32,
        )
    };
    // SAFETY: no memory preconditions; read before WSACleanup, on this thread.
    let error = (rc != 0).then(|| unsafe { WSAGetLastError() });
    // SAFETY: pairs with the successful WSAStartup above.
    unsafe { WSACleanup() };
    if let Some(code) = error {
        let e = io::Error::from_raw_os_error(code);
        return Err(io::Error::new(e.kind(), format!("getnameinfo: {e}")));
    }
    let text = |buf: &[u8]| {
        CStr::from_bytes_until_nul(buf)
            .map(|s| s.to_string_lossy().into_owned())
            .map_err(|_| io::Error::other("getnameinfo: unterminated answer"))
    };
    Ok((text(&host)?, text(&serv)?))
}

/// Natively a lookup's completion comes through `notify`, not the poller.
impl Watchable for Lookup {
    fn as_source(&mut self) -> Option<&mut dyn Source> {
        None
    }
}
