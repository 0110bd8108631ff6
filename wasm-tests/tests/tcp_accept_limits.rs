//! A server that runs out of file descriptors while accepting pauses, says so, and serves
//! the queued connections once descriptors are free again (asyncio's ACCEPT_RETRY_DELAY).
//!
//! The server runs in a child process (this test binary again, with a low RLIMIT_NOFILE),
//! so that the limit binds the server alone; this process connects the clients.

#[test]
#[cfg_attr(
    not(unix),
    ignore = "needs a child process with a lowered RLIMIT_NOFILE (unix only; the guest has \
              neither processes nor rlimits)"
)]
fn accept_recovers_after_running_out_of_file_descriptors() {
    #[cfg(unix)]
    if std::env::var_os(child::ENV).is_some() {
        child::serve();
    } else {
        parent::run();
    }
    // Elsewhere the test is ignored; this keeps twinloop (and, in the guest, its
    // pthread stubs) linked into the binary.
    #[cfg(not(unix))]
    drop(twinloop::EventLoop::new());
}

#[cfg(unix)]
const CLIENTS: usize = 20;

#[cfg(unix)]
mod parent {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use super::{child, CLIENTS};

    pub fn run() {
        let mut server = Command::new(std::env::current_exe().expect("the test binary"))
            .args([
                "--exact",
                "accept_recovers_after_running_out_of_file_descriptors",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(child::ENV, "1")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server process");
        let mut lines = BufReader::new(server.stdout.take().expect("piped")).lines();
        let port: u16 = loop {
            let line = lines
                .next()
                .expect("the server printed its port")
                .expect("read the server's output");
            // The harness may have printed the test's name on the same line.
            if let Some((_, port)) = line.split_once("PORT ") {
                break port.trim().parse().expect("a port number");
            }
        };
        let started = Instant::now();
        // All at once: most wait in the listen backlog while the server is at its limit.
        let mut clients: Vec<TcpStream> = (0..CLIENTS)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
            .collect();
        for (i, c) in clients.iter_mut().enumerate() {
            c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            c.write_all(b"x").unwrap();
            let mut answer = [0u8; 1];
            c.read_exact(&mut answer)
                .unwrap_or_else(|e| panic!("client {i} was never served: {e}"));
            assert_eq!(&answer, b"x");
        }
        let took = started.elapsed();
        drop(clients);
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        let status = server.wait().expect("the server process ends");
        let reports: Vec<&String> = rest
            .iter()
            .filter(|l| l.contains("out of system resource"))
            .collect();
        let cpu: f64 = rest
            .iter()
            .find_map(|l| l.split_once("CPU ").map(|(_, s)| s.trim().parse().unwrap()))
            .unwrap_or_else(|| panic!("the server did not say its CPU time: {rest:?}"));
        eprintln!(
            "{CLIENTS} connections served in {took:?} past the fd limit; {} report(s); \
             server CPU {cpu:.3} s",
            reports.len()
        );
        assert!(status.success(), "the server process failed: {rest:?}");
        assert!(
            !reports.is_empty(),
            "the limit was never reported (did the server reach it?): {rest:?}"
        );
        // The error keeps the OS's code (EMFILE), as asyncio's OSError does.
        let emfile = format!("ERRNO Some({})", libc::EMFILE);
        for report in &reports {
            assert!(report.contains(&emfile), "not EMFILE: {report}");
        }
        // Once per pause, and each pause lasts ACCEPT_RETRY_DELAY (1 s): a server that
        // reported (or retried) in a loop would exceed this.
        assert!(
            reports.len() as f64 <= took.as_secs_f64() + 1.0,
            "{} reports in {took:?}: {reports:?}",
            reports.len()
        );
        // Paused, not spinning: a server that retried at once would burn its whole wait.
        assert!(
            cpu < 0.5 * took.as_secs_f64() + 0.5,
            "the server used {cpu:.3} s of CPU in {took:?}"
        );
        // Each pause lasts ACCEPT_RETRY_DELAY (1 s) and frees a handful of descriptors.
        assert!(took < Duration::from_secs(30), "recovery took {took:?}");
    }
}

#[cfg(unix)]
mod child {
    use std::cell::Cell;
    use std::rc::Rc;

    use twinloop::{BaseProtocol, EventLoop, ExceptionContext, Protocol, ServerOptions, Transport};

    use super::CLIENTS;

    pub const ENV: &str = "TWINLOOP_TEST_EMFILE_SERVER";
    /// Descriptors left free for connections once the server listens.
    const SPARE: u64 = 4;

    /// Answers one byte, then hangs up (freeing its descriptor).
    struct OneShot(Option<Transport>, Rc<Cell<usize>>);

    impl BaseProtocol for OneShot {
        fn connection_made(&mut self, t: Transport) {
            self.0 = Some(t);
        }
    }

    impl Protocol for OneShot {
        fn data_received(&mut self, data: &[u8]) {
            if let Some(t) = &self.0 {
                let _ = t.write(data);
                t.close();
                self.1.set(self.1.get() + 1);
            }
        }
    }

    fn open_fds() -> u64 {
        std::fs::read_dir("/dev/fd").map_or(16, |d| d.count() as u64)
    }

    pub fn serve() {
        let ev = EventLoop::new().expect("a loop");
        ev.set_exception_handler(Some(Rc::new(|_: &EventLoop, ctx: &ExceptionContext| {
            let errno = ctx.error.as_ref().and_then(|e| e.raw_os_error());
            println!("REPORT {} ERRNO {errno:?}", ctx.message);
        })));
        let served = Rc::new(Cell::new(0));
        let counter = served.clone();
        let factory = move || OneShot(None, counter.clone());
        let server = ev
            .run_until_complete(ev.create_server(factory, "127.0.0.1", 0, ServerOptions::default()))
            .expect("run")
            .expect("listen");
        let limit = open_fds() + SPARE;
        let rlimit = libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit,
        };
        // SAFETY: setrlimit reads a valid, initialised rlimit struct.
        let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) };
        assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
        println!("PORT {}", server.sockets()[0].local_addr().unwrap().port());
        let deadline = ev.time() + 40.0;
        let l = ev.clone();
        ev.run_until_complete(async move {
            while served.get() < CLIENTS && l.time() < deadline {
                twinloop::sleep(std::time::Duration::from_millis(10)).await?;
            }
            Ok::<usize, twinloop::Error>(served.get())
        })
        .expect("run")
        .expect("serve");
        server.close();
        ev.close().expect("close");
        println!("CPU {}", cpu_seconds());
        std::process::exit(0);
    }

    /// User + system CPU time of this process so far, in seconds.
    fn cpu_seconds() -> f64 {
        // SAFETY: getrusage fills the zeroed struct it is given.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut usage);
            usage
        };
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        secs(usage.ru_utime) + secs(usage.ru_stime)
    }
}
