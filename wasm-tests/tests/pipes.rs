//! connect_read_pipe / connect_write_pipe: the order of a read pipe's callbacks, writes
//! in order, the reader going away, both ways at once. Native (Unix) only: these tests
//! are ignored by name in the guest and on Windows, where the last test checks that each
//! call returns `Error::Unsupported` naming itself.

use std::cell::RefCell;
use std::fs::File;
use std::io::{Read, Write};
use std::rc::Rc;

use twinloop::{
    BaseProtocol, Error, EventLoop, ExtraInfo, LoopFuture, Protocol, Transport, WriteTransport,
};
use wasm_tests::os_support::{assert_unsupported, pipe, stand_in_file};
use wasm_tests::{new_loop, run_until_complete, spawn};

/// What a pipe's protocol saw, in order.
#[derive(Debug, PartialEq)]
enum Seen {
    Made,
    Data(usize),
    Eof,
    Lost(Option<String>),
}

/// A log shared with a protocol.
type Shared<T> = Rc<RefCell<Vec<T>>>;

/// Records its callbacks; keeps the bytes; completes `lost` at the end.
struct Recorder {
    seen: Shared<Seen>,
    bytes: Shared<u8>,
    transport: Option<Transport>,
    lost: LoopFuture<()>,
}

impl Recorder {
    fn new(lost: &LoopFuture<()>) -> (Self, Shared<Seen>, Shared<u8>) {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let bytes = Rc::new(RefCell::new(Vec::new()));
        let me = Recorder {
            seen: seen.clone(),
            bytes: bytes.clone(),
            transport: None,
            lost: lost.clone(),
        };
        (me, seen, bytes)
    }
}

impl BaseProtocol for Recorder {
    fn connection_made(&mut self, t: Transport) {
        self.seen.borrow_mut().push(Seen::Made);
        self.transport = Some(t);
    }
    fn connection_lost(&mut self, error: Option<Error>) {
        let kind = error.map(|e| format!("{:?}", e.io_kind()));
        self.seen.borrow_mut().push(Seen::Lost(kind));
        let _ = self.lost.set_result(());
    }
}

impl Protocol for Recorder {
    fn data_received(&mut self, data: &[u8]) {
        self.seen.borrow_mut().push(Seen::Data(data.len()));
        self.bytes.borrow_mut().extend_from_slice(data);
    }
    fn eof_received(&mut self) -> bool {
        self.seen.borrow_mut().push(Seen::Eof);
        true // a read pipe closes anyway
    }
}

/// A write pipe's transport over `writer`, what its protocol sees, and its end.
fn connect_writer(ev: &EventLoop, writer: File) -> (WriteTransport, Shared<Seen>, LoopFuture<()>) {
    let lost = ev.create_future();
    let (protocol, seen, _) = Recorder::new(&lost);
    let started = ev.connect_write_pipe(|| protocol, writer);
    let (t, _) = run_until_complete(ev, started).unwrap().unwrap();
    (t, seen, lost)
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "pipes are Unix-only: WASI has no pipes to adopt, mio cannot watch anonymous pipes on Windows"
)]
fn read_pipe_gives_made_data_eof_lost_in_order() {
    let (reader, mut writer) = pipe().expect("a pipe");
    let ev = new_loop();
    let lost = ev.create_future();
    let (protocol, seen, bytes) = Recorder::new(&lost);
    let started = ev.connect_read_pipe(|| protocol, reader);
    let (t, _) = run_until_complete(&ev, started).unwrap().unwrap();
    assert!(matches!(t.get_extra_info("pipe"), Some(ExtraInfo::Pipe(fd)) if fd >= 0));
    assert!(t.is_reading());
    assert_eq!(*seen.borrow(), [Seen::Made]);
    writer.write_all(b"hello, pipe").unwrap();
    drop(writer);
    run_until_complete(&ev, lost).unwrap().unwrap();
    assert_eq!(*bytes.borrow(), b"hello, pipe");
    let seen = seen.borrow();
    assert_eq!(seen.first(), Some(&Seen::Made));
    assert_eq!(seen[seen.len() - 2..], [Seen::Eof, Seen::Lost(None)]);
    assert!(seen[1..seen.len() - 2]
        .iter()
        .all(|s| matches!(s, Seen::Data(_))));
    assert!(t.is_closing());
    // The protocol's transport refuses to write to a read pipe.
    assert!(matches!(
        t.transport().write(b"x"),
        Err(Error::InvalidState(_))
    ));
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "pipes are Unix-only: WASI has no pipes to adopt, mio cannot watch anonymous pipes on Windows"
)]
fn write_pipe_sends_in_order_then_closes() {
    let (mut reader, writer) = pipe().expect("a pipe");
    let ev = new_loop();
    let (t, seen, lost) = connect_writer(&ev, writer);
    assert!(t.can_write_eof());
    assert!(matches!(t.get_extra_info("pipe"), Some(ExtraInfo::Pipe(_))));
    // 4 MiB in numbered chunks: far more than the pipe holds, so most is buffered.
    let chunks: Vec<Vec<u8>> = (0..64u8).map(|i| vec![i; 64 * 1024]).collect();
    let reading = spawn(move || {
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        assert_eq!(got.len(), 64 * 64 * 1024);
        assert!(got
            .chunks(64 * 1024)
            .enumerate()
            .all(|(i, c)| c.iter().all(|&b| b == i as u8)));
    });
    t.writelines(chunks.iter().map(Vec::as_slice)).unwrap();
    assert!(
        t.get_write_buffer_size() > 0,
        "the pipe cannot take 4 MiB at once"
    );
    t.write_eof().unwrap();
    assert!(t.write(b"more").is_err());
    run_until_complete(&ev, lost).unwrap().unwrap();
    reading.join();
    assert_eq!(*seen.borrow(), [Seen::Made, Seen::Lost(None)]);
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "pipes are Unix-only: WASI has no pipes to adopt, mio cannot watch anonymous pipes on Windows"
)]
fn write_pipe_loses_its_connection_when_the_reader_closes() {
    // Nothing buffered: a quiet close.
    let (reader, writer) = pipe().expect("a pipe");
    let ev = new_loop();
    let (t, seen, lost) = connect_writer(&ev, writer);
    drop(reader);
    run_until_complete(&ev, lost).unwrap().unwrap();
    assert_eq!(*seen.borrow(), [Seen::Made, Seen::Lost(None)]);
    assert!(t.is_closing());

    // Data buffered: BrokenPipe.
    let (reader, writer) = pipe().unwrap();
    let (t, seen, lost) = connect_writer(&ev, writer);
    t.write(&vec![1; 1 << 20]).unwrap();
    assert!(t.get_write_buffer_size() > 0);
    drop(reader);
    run_until_complete(&ev, lost).unwrap().unwrap();
    assert_eq!(
        *seen.borrow(),
        [Seen::Made, Seen::Lost(Some("Some(BrokenPipe)".into()))]
    );
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "pipes are Unix-only: WASI has no pipes to adopt, mio cannot watch anonymous pipes on Windows"
)]
fn pipes_both_ways_on_one_loop() {
    let (reader, writer) = pipe().expect("a pipe");
    let ev = new_loop();
    let read_lost = ev.create_future();
    let (out_of, _, bytes) = Recorder::new(&read_lost);
    let (w, _, write_lost) = connect_writer(&ev, writer);
    let (_r, _) = run_until_complete(&ev, ev.connect_read_pipe(|| out_of, reader))
        .unwrap()
        .unwrap();
    let data: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
    w.write(&data).unwrap();
    w.close();
    run_until_complete(&ev, async move {
        write_lost.await?;
        read_lost.await
    })
    .unwrap()
    .unwrap();
    assert!(*bytes.borrow() == data, "8 MiB through the pipe, in order");
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "pipes are Unix-only: WASI has no pipes to adopt, mio cannot watch anonymous pipes on Windows"
)]
fn a_regular_file_is_refused() {
    let ev = new_loop();
    let path = std::env::temp_dir().join(format!("twinloop-pipes-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let lost = ev.create_future();
    let (protocol, _, _) = Recorder::new(&lost);
    let refused = run_until_complete(&ev, ev.connect_read_pipe(|| protocol, file)).unwrap();
    let err = refused.expect_err("a regular file is no pipe");
    assert_eq!(
        err.io_kind(),
        Some(std::io::ErrorKind::InvalidInput),
        "{err}"
    );
}

/// A pseudo-terminal: (controller, terminal), or `None` where there are none.
fn pty() -> Option<(File, File)> {
    #[cfg(unix)]
    {
        use std::os::fd::FromRawFd;
        let (mut controller, mut terminal) = (-1, -1);
        // SAFETY: openpty writes two descriptors into the two c_ints; the name, termios
        // and window-size arguments may be null.
        let rc = unsafe {
            libc::openpty(
                &mut controller,
                &mut terminal,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors are new and owned by nothing else.
        unsafe { Some((File::from_raw_fd(controller), File::from_raw_fd(terminal))) }
    }
    #[cfg(not(unix))]
    None
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "pipes are Unix-only: WASI has no pipes to adopt, mio cannot watch anonymous pipes on Windows"
)]
fn a_pty_works_for_both_pipe_kinds() {
    let (controller, terminal) = pty().expect("a pseudo-terminal");
    let ev = new_loop();
    let (w, _, _) = connect_writer(&ev, terminal);
    let read_lost = ev.create_future();
    let (protocol, _, bytes) = Recorder::new(&read_lost);
    let started = ev.connect_read_pipe(|| protocol, controller);
    let (r, _) = run_until_complete(&ev, started).unwrap().unwrap();
    w.write(b"hi\n").unwrap();
    let b = bytes.clone();
    run_until_complete(&ev, async move {
        // The terminal's line discipline turns "\n" into "\r\n".
        while b.borrow().len() < 4 {
            twinloop::sleep(std::time::Duration::from_millis(1)).await?;
        }
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(*bytes.borrow(), b"hi\r\n");
    r.close();
    w.close();
    run_until_complete(&ev, read_lost).unwrap().unwrap();
}

// Two tests, not one: the guest's stand-in file is its stdin, which can be handed over
// once per instance (each test runs in a fresh one).

#[test]
#[cfg_attr(
    unix,
    ignore = "checks the answer of the guest and Windows; on Unix pipes are connected"
)]
fn connect_read_pipe_is_unsupported_in_the_guest_and_on_windows() {
    let ev = new_loop();
    let lost = ev.create_future();
    let (protocol, _, _) = Recorder::new(&lost);
    let started = ev.connect_read_pipe(|| protocol, stand_in_file());
    assert_unsupported(
        run_until_complete(&ev, started).unwrap(),
        "connect_read_pipe",
    );
}

#[test]
#[cfg_attr(
    unix,
    ignore = "checks the answer of the guest and Windows; on Unix pipes are connected"
)]
fn connect_write_pipe_is_unsupported_in_the_guest_and_on_windows() {
    let ev = new_loop();
    let lost = ev.create_future();
    let (protocol, _, _) = Recorder::new(&lost);
    let started = ev.connect_write_pipe(|| protocol, stand_in_file());
    assert_unsupported(
        run_until_complete(&ev, started).unwrap(),
        "connect_write_pipe",
    );
}
