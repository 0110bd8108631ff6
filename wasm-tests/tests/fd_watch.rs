//! add_reader / remove_reader / add_writer / remove_writer on raw descriptors (Unix), and
//! their Unsupported error in the guest.

use twinloop::Error;

#[cfg(unix)]
mod unix {
    use std::cell::{Cell, RefCell};
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::rc::Rc;
    use std::time::Duration;

    use twinloop::Error;
    use wasm_tests::{new_loop, run_forever_within};

    const LIMIT: Duration = Duration::from_secs(10);

    /// Ten bytes, a reader that takes one per call: it is called ten times (level-
    /// triggered, as asyncio's select-based reader), then removes itself.
    pub fn reader_is_called_while_data_is_unread() {
        let (mut rsock, mut wsock) = UnixStream::pair().unwrap();
        wsock.write_all(b"0123456789").unwrap();
        let ev = new_loop();
        let fd = rsock.as_raw_fd();
        let got = Rc::new(RefCell::new(Vec::new()));
        let g = got.clone();
        ev.add_reader(fd, move |ev| {
            let mut byte = [0; 1];
            rsock.read_exact(&mut byte).unwrap();
            g.borrow_mut().push(byte[0]);
            if g.borrow().len() == 10 {
                assert!(ev.remove_reader(fd).unwrap(), "the reader was watched");
                ev.stop();
            }
        })
        .unwrap();
        run_forever_within(&ev, LIMIT).unwrap();
        assert_eq!(*got.borrow(), b"0123456789");
        assert!(!ev.remove_reader(fd).unwrap(), "removed twice");
        ev.close().unwrap();
    }

    /// A removed reader is not called again, even with data waiting; adding a reader
    /// again for the same descriptor replaces the callback.
    pub fn remove_and_replace() {
        let (rsock, mut wsock) = UnixStream::pair().unwrap();
        let ev = new_loop();
        let fd = rsock.as_raw_fd();
        let first = Rc::new(Cell::new(0));
        let f = first.clone();
        ev.add_reader(fd, move |_| f.set(f.get() + 1)).unwrap();
        assert!(ev.remove_reader(fd).unwrap());
        wsock.write_all(b"x").unwrap();
        let second = Rc::new(Cell::new(0));
        let s = second.clone();
        ev.add_reader(fd, move |_| {
            s.set(s.get() + 1);
        })
        .unwrap();
        let s = second.clone();
        ev.add_reader(fd, move |ev| {
            s.set(s.get() + 100);
            ev.remove_reader(fd).unwrap();
            ev.stop();
        })
        .unwrap();
        run_forever_within(&ev, LIMIT).unwrap();
        assert_eq!((first.get(), second.get()), (0, 100));
        drop(rsock);
        ev.close().unwrap();
    }

    /// Two readers reported in the same poll: the first one to run removes the other and
    /// watches a third, idle descriptor, which takes the freed slot of the loop's I/O
    /// registry. The report already queued for the removed reader must reach nobody: not
    /// the removed reader, and not the new one (tokens carry a generation).
    pub fn a_queued_report_does_not_reach_the_reader_that_reuses_the_slot() {
        let (mut r1, mut w1) = UnixStream::pair().unwrap();
        let (mut r2, mut w2) = UnixStream::pair().unwrap();
        let (idle, _idle_peer) = UnixStream::pair().unwrap();
        w1.write_all(b"1").unwrap();
        w2.write_all(b"2").unwrap();
        let ev = new_loop();
        let (fd1, fd2, fd3) = (r1.as_raw_fd(), r2.as_raw_fd(), idle.as_raw_fd());
        let calls = Rc::new(RefCell::new(Vec::new()));
        let new_reader = Rc::new(Cell::new(0));
        // Whichever runs first removes the other reader and adds the idle one.
        let first_wins =
            |me: i32, other: i32, calls: Rc<RefCell<Vec<i32>>>, new_reader: Rc<Cell<u32>>| {
                move |ev: &twinloop::EventLoop| {
                    calls.borrow_mut().push(me);
                    if calls.borrow().len() > 1 {
                        return;
                    }
                    assert!(ev.remove_reader(other).unwrap());
                    let n = new_reader.clone();
                    ev.add_reader(fd3, move |_| n.set(n.get() + 1)).unwrap();
                    // Let a few turns pass, then stop.
                    let stop = ev.clone();
                    ev.call_later(Duration::from_millis(50), move |_| stop.stop())
                        .unwrap();
                }
            };
        let keep = (w1, w2);
        ev.add_reader(fd1, first_wins(fd1, fd2, calls.clone(), new_reader.clone()))
            .unwrap();
        ev.add_reader(fd2, first_wins(fd2, fd1, calls.clone(), new_reader.clone()))
            .unwrap();
        run_forever_within(&ev, LIMIT).unwrap();
        // The winner is called again and again (its byte is unread), the loser never.
        let calls = calls.borrow();
        let winner = calls[0];
        assert!(
            calls.iter().all(|&fd| fd == winner),
            "the removed reader ran: {calls:?}"
        );
        assert_eq!(new_reader.get(), 0, "the idle descriptor's reader ran");
        let mut byte = [0; 1];
        r1.read_exact(&mut byte).unwrap();
        r2.read_exact(&mut byte).unwrap();
        drop(keep);
        ev.close().unwrap();
    }

    /// A writer on an empty socket is called at once; reader and writer on one descriptor
    /// are independent.
    pub fn writer_and_reader_on_one_descriptor() {
        let (sock, mut peer) = UnixStream::pair().unwrap();
        sock.set_nonblocking(true).unwrap();
        let ev = new_loop();
        let fd = sock.as_raw_fd();
        let sock = Rc::new(sock);
        let (w, r) = (sock.clone(), sock.clone());
        ev.add_writer(fd, move |ev| {
            (&*w).write_all(b"ping").unwrap();
            assert!(ev.remove_writer(fd).unwrap());
        })
        .unwrap();
        ev.add_reader(fd, move |ev| {
            let mut buf = [0; 4];
            (&*r).read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"pong");
            assert!(ev.remove_reader(fd).unwrap());
            ev.stop();
        })
        .unwrap();
        let mut buf = [0; 4];
        // The writer runs on the loop's first turn; the peer answers from a timer.
        let answer = ev
            .call_later(Duration::from_millis(20), move |_| {
                peer.read_exact(&mut buf).unwrap();
                assert_eq!(&buf, b"ping");
                peer.write_all(b"pong").unwrap();
            })
            .unwrap();
        run_forever_within(&ev, LIMIT).unwrap();
        drop(answer);
        ev.close().unwrap();
    }

    pub fn errors() {
        let ev = new_loop();
        assert!(!ev.remove_writer(12345).unwrap());
        let bad = ev.add_reader(-1, |_| {}).unwrap_err();
        assert_eq!(bad.raw_os_error(), Some(libc::EBADF), "{bad:?}");
        ev.close().unwrap();
        assert!(matches!(ev.add_reader(0, |_| {}), Err(Error::LoopClosed)));
        assert!(!ev.remove_reader(0).unwrap());
    }
}

#[test]
#[cfg_attr(not(unix), ignore = "raw descriptors are watched on Unix only")]
fn add_reader_is_called_while_data_is_unread_then_removed() {
    #[cfg(unix)]
    unix::reader_is_called_while_data_is_unread();
}

#[test]
#[cfg_attr(not(unix), ignore = "raw descriptors are watched on Unix only")]
fn remove_reader_stops_it_and_add_reader_replaces_the_callback() {
    #[cfg(unix)]
    unix::remove_and_replace();
}

#[test]
#[cfg_attr(not(unix), ignore = "raw descriptors are watched on Unix only")]
fn a_queued_report_does_not_reach_the_reader_that_reuses_the_slot() {
    #[cfg(unix)]
    unix::a_queued_report_does_not_reach_the_reader_that_reuses_the_slot();
}

#[test]
#[cfg_attr(not(unix), ignore = "raw descriptors are watched on Unix only")]
fn add_writer_and_add_reader_on_one_descriptor() {
    #[cfg(unix)]
    unix::writer_and_reader_on_one_descriptor();
}

#[test]
#[cfg_attr(not(unix), ignore = "raw descriptors are watched on Unix only")]
fn bad_descriptors_and_a_closed_loop_are_errors() {
    #[cfg(unix)]
    unix::errors();
}

#[test]
#[cfg_attr(
    unix,
    ignore = "checks the answer of the guest and Windows; on Unix descriptors can be watched"
)]
fn watching_a_descriptor_is_unsupported_in_the_guest_and_on_windows() {
    let ev = twinloop::EventLoop::new().unwrap();
    match ev.add_reader(0, |_| {}) {
        Err(Error::Unsupported { what, .. }) => assert_eq!(what, "add_reader"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
    assert!(matches!(
        ev.add_writer(1, |_| {}),
        Err(Error::Unsupported { .. })
    ));
    assert!(!ev.remove_reader(0).unwrap());
}
