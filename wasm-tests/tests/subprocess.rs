//! subprocess_exec / subprocess_shell: output read fully, pipes both ways, exit status
//! delivered once, signals to the child, stream redirections, no zombie left behind,
//! many children at once. Native (Unix) only: these tests are ignored by name in the
//! guest and on Windows, where the last test checks that both calls return
//! `Error::Unsupported` naming themselves.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use twinloop::{
    signal, BaseProtocol, Error, EventLoop, LoopFuture, ProtocolHandle, Result, Stdio,
    SubprocessOptions, SubprocessProtocol, SubprocessTransport,
};
use wasm_tests::os_support::{assert_unsupported, reaped};
use wasm_tests::{new_loop, run_until_complete, run_until_complete_within};

/// One callback of a subprocess protocol.
#[derive(Clone, Debug, PartialEq)]
enum Call {
    Made,
    PipeLost(i32, bool),
    Exited(Option<i32>),
    Lost,
}

/// Records the calls (data by fd, not as calls) and completes `done` with the
/// transport's return code at `connection_lost`.
struct Child {
    transport: Option<SubprocessTransport>,
    calls: Vec<Call>,
    out: [Vec<u8>; 3],
    done: LoopFuture<Option<i32>>,
}

impl Child {
    fn new(done: &LoopFuture<Option<i32>>) -> Child {
        Child {
            transport: None,
            calls: Vec::new(),
            out: Default::default(),
            done: done.clone(),
        }
    }
    fn code(&self) -> Option<i32> {
        self.transport.as_ref().and_then(|t| t.get_returncode())
    }
}

impl BaseProtocol<SubprocessTransport> for Child {
    fn connection_made(&mut self, t: SubprocessTransport) {
        self.calls.push(Call::Made);
        self.transport = Some(t);
    }
    fn connection_lost(&mut self, error: Option<Error>) {
        assert!(error.is_none());
        self.calls.push(Call::Lost);
        let _ = self.done.set_result(self.code());
    }
}

impl SubprocessProtocol for Child {
    fn pipe_data_received(&mut self, fd: i32, data: &[u8]) {
        self.out[fd as usize].extend_from_slice(data);
    }
    fn pipe_connection_lost(&mut self, fd: i32, error: Option<Error>) {
        self.calls.push(Call::PipeLost(fd, error.is_some()));
    }
    fn process_exited(&mut self) {
        let code = self.code();
        self.calls.push(Call::Exited(code));
    }
}

type Started = (
    SubprocessTransport,
    ProtocolHandle<Child>,
    LoopFuture<Option<i32>>,
);

/// `subprocess_exec(args)`, started.
fn exec(ev: &EventLoop, args: &[&str], options: SubprocessOptions) -> Started {
    let done = ev.create_future();
    let start = ev.subprocess_exec(|| Child::new(&done), args.to_vec(), options);
    let (t, p) = run_until_complete(ev, start).unwrap().unwrap();
    (t, p, done)
}

/// `subprocess_shell(cmd)`, started.
fn shell(ev: &EventLoop, cmd: &str, options: SubprocessOptions) -> Started {
    let done = ev.create_future();
    let start = ev.subprocess_shell(|| Child::new(&done), cmd, options);
    let (t, p) = run_until_complete(ev, start).unwrap().unwrap();
    (t, p, done)
}

fn finish(ev: &EventLoop, done: LoopFuture<Option<i32>>) -> Option<i32> {
    run_until_complete(ev, done).unwrap().unwrap()
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "subprocesses are Unix-only: WASI has no processes, mio watches no process handles on Windows"
)]
fn a_child_writing_16_mib_to_stdout_is_read_fully() {
    let ev = new_loop();
    let cmd = "yes abcdefghijklmno | head -c 16777216";
    let (t, p, done) = shell(&ev, cmd, SubprocessOptions::default());
    assert!(t.get_pid() > 0);
    assert_eq!(finish(&ev, done), Some(0));
    p.with(|c| {
        assert_eq!(c.out[1].len(), 16 << 20);
        assert!(c.out[1].chunks(16).all(|line| line == b"abcdefghijklmno\n"));
        assert!(c.out[2].is_empty());
    })
    .unwrap();
    assert!(reaped(t.get_pid()));
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "subprocesses are Unix-only: WASI has no processes, mio watches no process handles on Windows"
)]
fn stdin_to_stdout_through_cat() {
    let ev = new_loop();
    let (t, p, done) = exec(&ev, &["cat"], SubprocessOptions::default());
    let stdin = t.get_pipe_transport(0).expect("stdin is a pipe");
    let stdin = stdin.as_write().expect("stdin is written to").clone();
    assert!(t.get_pipe_transport(1).unwrap().as_read().is_some());
    let data: Vec<u8> = (0..4u32 << 20).map(|i| (i % 253) as u8).collect();
    stdin.write(&data).unwrap();
    stdin.write_eof().unwrap();
    assert_eq!(finish(&ev, done), Some(0));
    p.with(|c| assert!(c.out[1] == data, "4 MiB in, the same 4 MiB out"))
        .unwrap();
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "subprocesses are Unix-only: WASI has no processes, mio watches no process handles on Windows"
)]
fn exit_status_is_delivered_once_and_connection_lost_comes_last() {
    let ev = new_loop();
    let (t, p, done) = shell(&ev, "echo Python; exit 7", SubprocessOptions::default());
    assert_eq!(finish(&ev, done), Some(7));
    assert_eq!(t.get_returncode(), Some(7));
    // Nothing more comes later.
    run_until_complete(&ev, twinloop::sleep(Duration::from_millis(50)))
        .unwrap()
        .unwrap();
    p.with(|c| {
        assert_eq!(c.out[1], b"Python\n");
        assert_eq!(c.calls.first(), Some(&Call::Made));
        assert_eq!(c.calls.last(), Some(&Call::Lost));
        let exits = c
            .calls
            .iter()
            .filter(|x| matches!(x, Call::Exited(_)))
            .count();
        assert_eq!(exits, 1, "{:?}", c.calls);
        assert!(c.calls.contains(&Call::Exited(Some(7))));
        for fd in 0..3 {
            assert!(
                c.calls.contains(&Call::PipeLost(fd, false)),
                "{:?}",
                c.calls
            );
        }
        assert_eq!(c.calls.len(), 6);
    })
    .unwrap();
    assert!(reaped(t.get_pid()));
    assert!(
        matches!(t.kill(), Err(Error::InvalidState(_))),
        "no process to signal"
    );
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "subprocesses are Unix-only: WASI has no processes, mio watches no process handles on Windows"
)]
fn kill_terminate_send_signal_and_close_give_minus_the_signal() {
    let ev = new_loop();
    let no_pipes = || SubprocessOptions {
        stdin: Stdio::DevNull,
        stdout: Stdio::DevNull,
        stderr: Stdio::DevNull,
        ..Default::default()
    };
    type Action = fn(&SubprocessTransport) -> Result<()>;
    let cases: [(Action, i32); 4] = [
        (SubprocessTransport::kill, -signal::SIGKILL),
        (SubprocessTransport::terminate, -signal::SIGTERM),
        (|t| t.send_signal(signal::SIGHUP), -signal::SIGHUP),
        (
            |t| {
                t.close();
                Ok(())
            },
            -signal::SIGKILL,
        ),
    ];
    for (action, code) in cases {
        let (t, _, done) = exec(&ev, &["sleep", "30"], no_pipes());
        assert_eq!(t.get_returncode(), None);
        action(&t).unwrap();
        assert_eq!(finish(&ev, done), Some(code));
        assert!(reaped(t.get_pid()));
    }
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "subprocesses are Unix-only: WASI has no processes, mio watches no process handles on Windows"
)]
fn stderr_to_stdout_merges_and_by_default_they_are_separate() {
    let ev = new_loop();
    let cmd = "echo out; echo err >&2";
    let merged = SubprocessOptions {
        stderr: Stdio::Stdout,
        ..Default::default()
    };
    let (t, p, done) = shell(&ev, cmd, merged);
    assert!(t.get_pipe_transport(2).is_none());
    assert_eq!(finish(&ev, done), Some(0));
    p.with(|c| assert_eq!(c.out[1], b"out\nerr\n")).unwrap();

    let (_, p, done) = shell(&ev, cmd, SubprocessOptions::default());
    assert_eq!(finish(&ev, done), Some(0));
    p.with(|c| {
        assert_eq!(c.out[1], b"out\n");
        assert_eq!(c.out[2], b"err\n");
    })
    .unwrap();
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "subprocesses are Unix-only: WASI has no processes, mio watches no process handles on Windows"
)]
fn devnull_inherit_and_files_have_no_pipe_transports() {
    let ev = new_loop();
    let options = SubprocessOptions {
        stdin: Stdio::DevNull,
        stdout: Stdio::Inherit,
        stderr: Stdio::DevNull,
        env: vec![("TWINLOOP_TEST_VAR".into(), "42".into())],
        ..Default::default()
    };
    let (t, p, done) = shell(&ev, "test \"$TWINLOOP_TEST_VAR\" = 42", options);
    for fd in [0, 1, 2, 3, -1] {
        assert!(t.get_pipe_transport(fd).is_none());
    }
    assert_eq!(finish(&ev, done), Some(0));
    p.with(|c| assert_eq!(c.calls.len(), 3, "made, exited, lost: {:?}", c.calls))
        .unwrap();
}

/// Checked before anything is spawned, so on every target.
#[test]
fn bad_arguments_are_refused() {
    let ev = new_loop();
    let done = ev.create_future();
    let empty: [&str; 0] = [];
    let start = ev.subprocess_exec(|| Child::new(&done), empty, SubprocessOptions::default());
    let err = run_until_complete(&ev, start).unwrap().unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    let stdout_to_stdout = SubprocessOptions {
        stdout: Stdio::Stdout,
        ..Default::default()
    };
    let start = ev.subprocess_exec(|| Child::new(&done), ["true"], stdout_to_stdout);
    let err = run_until_complete(&ev, start).unwrap().unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "subprocesses are Unix-only: WASI has no processes, mio watches no process handles on Windows"
)]
fn files_as_stdin_and_stdout_and_stderr_where_stdout_goes() {
    let dir = std::env::temp_dir();
    let name = |what: &str| dir.join(format!("twinloop-subprocess-{}-{what}", std::process::id()));
    let (input, output) = (name("in"), name("out"));
    std::fs::write(&input, b"from a file\n").unwrap();
    let options = SubprocessOptions {
        stdin: Stdio::File(std::fs::File::open(&input).unwrap()),
        stdout: Stdio::File(std::fs::File::create(&output).unwrap()),
        stderr: Stdio::Stdout,
        ..Default::default()
    };
    let ev = new_loop();
    let (t, p, done) = shell(&ev, "cat; echo and its errors >&2; exit 5", options);
    for fd in 0..3 {
        assert!(t.get_pipe_transport(fd).is_none(), "no pipe {fd}");
    }
    assert_eq!(finish(&ev, done), Some(5));
    p.with(|c| {
        assert!(
            c.out.iter().all(Vec::is_empty),
            "nothing came through the loop"
        )
    })
    .unwrap();
    let written = std::fs::read_to_string(&output).unwrap();
    for path in [input, output] {
        std::fs::remove_file(path).unwrap();
    }
    assert_eq!(written, "from a file\nand its errors\n");
    assert!(reaped(t.get_pid()));
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "subprocesses are Unix-only: WASI has no processes, mio watches no process handles on Windows"
)]
fn a_missing_program_is_not_found() {
    let ev = new_loop();
    let done = ev.create_future();
    let start = ev.subprocess_exec(
        || Child::new(&done),
        ["/nonexistent/twinloop-no-such-program"],
        SubprocessOptions::default(),
    );
    let err = run_until_complete(&ev, start).unwrap().unwrap_err();
    assert_eq!(err.io_kind(), Some(std::io::ErrorKind::NotFound), "{err:?}");
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "subprocesses are Unix-only: WASI has no processes, mio watches no process handles on Windows"
)]
fn a_hundred_children_at_once() {
    let ev = new_loop();
    let mut running = Vec::new();
    for i in 0..100 {
        let cmd = format!("echo child {i}; exit {}", i % 7);
        running.push(shell(&ev, &cmd, SubprocessOptions::default()));
    }
    let limit = Duration::from_secs(60);
    let results = running;
    let dones: Vec<_> = results.iter().map(|(_, _, d)| d.clone()).collect();
    let codes = run_until_complete_within(&ev, limit, async move {
        let mut codes = Vec::new();
        for done in dones {
            codes.push(done.await?);
        }
        Ok::<_, Error>(codes)
    })
    .unwrap()
    .unwrap();
    for (i, (t, p, _)) in results.iter().enumerate() {
        assert_eq!(codes[i], Some(i as i32 % 7));
        p.with(|c| assert_eq!(c.out[1], format!("child {i}\n").as_bytes()))
            .unwrap();
        assert!(reaped(t.get_pid()), "child {i} left a zombie");
    }
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "subprocesses are Unix-only: WASI has no processes, mio watches no process handles on Windows"
)]
fn closing_the_loop_kills_and_reaps_a_running_child() {
    let ev = new_loop();
    let (t, _, _) = exec(&ev, &["sleep", "30"], SubprocessOptions::default());
    let pid = t.get_pid();
    drop(t);
    ev.close().unwrap();
    let began = Instant::now();
    while !reaped(pid) {
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "child {pid} not reaped"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "subprocesses are Unix-only: WASI has no processes, mio watches no process handles on Windows"
)]
fn the_protocol_may_use_the_transport_from_its_callbacks() {
    /// Answers the first line it reads by closing stdin: `cat` then ends.
    struct Closer(Rc<RefCell<Option<SubprocessTransport>>>, Child);
    impl BaseProtocol<SubprocessTransport> for Closer {
        fn connection_made(&mut self, t: SubprocessTransport) {
            let stdin = t.get_pipe_transport(0).unwrap();
            stdin.as_write().unwrap().write(b"line\n").unwrap();
            *self.0.borrow_mut() = Some(t.clone());
            self.1.connection_made(t);
        }
        fn connection_lost(&mut self, e: Option<Error>) {
            self.1.connection_lost(e);
        }
    }
    impl SubprocessProtocol for Closer {
        fn pipe_data_received(&mut self, fd: i32, data: &[u8]) {
            self.1.pipe_data_received(fd, data);
            if let Some(t) = self.0.borrow().as_ref() {
                t.get_pipe_transport(0).unwrap().transport().close();
            }
        }
    }
    let ev = new_loop();
    let done = ev.create_future();
    let slot = Rc::new(RefCell::new(None));
    let s = slot.clone();
    let start = ev.subprocess_exec(
        move || Closer(s, Child::new(&done)),
        ["cat"],
        SubprocessOptions::default(),
    );
    let (_, p) = run_until_complete(&ev, start).unwrap().unwrap();
    let done = p.with(|c| c.1.done.clone()).unwrap();
    assert_eq!(finish(&ev, done), Some(0));
    p.with(|c| assert_eq!(c.1.out[1], b"line\n")).unwrap();
    slot.borrow_mut().take();
}

#[test]
#[cfg_attr(
    unix,
    ignore = "checks the answer of the guest and Windows; on Unix subprocesses run"
)]
fn subprocesses_are_unsupported_in_the_guest_and_on_windows() {
    let ev = new_loop();
    let done = ev.create_future();
    let start = ev.subprocess_exec(|| Child::new(&done), ["true"], SubprocessOptions::default());
    assert_unsupported(run_until_complete(&ev, start).unwrap(), "subprocess_exec");
    let start = ev.subprocess_shell(|| Child::new(&done), "true", SubprocessOptions::default());
    assert_unsupported(run_until_complete(&ev, start).unwrap(), "subprocess_shell");
}
