//! create_unix_connection / create_unix_server and their stream forms: echo over a path
//! and a Linux abstract name, the socket file's life (stale file replaced, removed on
//! close unless replaced, kept on request), errors (nothing there, nobody listening, a
//! file in the way, a path too long, bad argument mixes), `sock=`, and TLS over a Unix
//! socket. Native (Unix) only: these tests are ignored by name in the guest and on
//! Windows, where the last test checks that each call returns `Error::Unsupported`
//! naming itself.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use twinloop::{
    BaseProtocol, Error, EventLoop, ExtraInfo, LoopFuture, Protocol, Server, StreamOptions,
    Transport, UnixAddr, UnixConnectOptions, UnixServerOptions,
};
use wasm_tests::os_support::assert_unsupported;
use wasm_tests::{new_loop, run_until_complete};

/// A directory of its own for each test's socket files, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("twinloop-unix-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Echoes what it receives.
struct Echo(Option<Transport>);

impl BaseProtocol for Echo {
    fn connection_made(&mut self, t: Transport) {
        self.0 = Some(t);
    }
}

impl Protocol for Echo {
    fn data_received(&mut self, data: &[u8]) {
        self.0.as_ref().unwrap().write(data).unwrap();
    }
}

/// Collects what it receives; completes `done` once it has `want` bytes.
struct Collect {
    bytes: Rc<RefCell<Vec<u8>>>,
    want: usize,
    done: LoopFuture<()>,
}

impl BaseProtocol for Collect {}

impl Protocol for Collect {
    fn data_received(&mut self, data: &[u8]) {
        self.bytes.borrow_mut().extend_from_slice(data);
        if self.bytes.borrow().len() >= self.want {
            let _ = self.done.set_result(());
        }
    }
}

fn echo_server(ev: &EventLoop, path: impl Into<UnixAddr>, opts: UnixServerOptions) -> Server {
    let started = ev.create_unix_server(|| Echo(None), path, opts);
    run_until_complete(ev, started).unwrap().unwrap()
}

/// Sends `data` to the echo server at `path` and checks it comes back; returns the
/// client's transport (still open).
fn round_trip(ev: &EventLoop, path: impl Into<UnixAddr>, data: &[u8]) -> Transport {
    let done = ev.create_future();
    let bytes = Rc::new(RefCell::new(Vec::new()));
    let collect = Collect {
        bytes: bytes.clone(),
        want: data.len(),
        done: done.clone(),
    };
    let connecting = ev.create_unix_connection(|| collect, path, UnixConnectOptions::default());
    let (t, _) = run_until_complete(ev, connecting).unwrap().unwrap();
    t.write(data).unwrap();
    run_until_complete(ev, done).unwrap().unwrap();
    assert_eq!(*bytes.borrow(), data);
    t
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "Unix sockets are Unix-only: WASI 0.2 has none, mio has no AF_UNIX on Windows"
)]
fn echo_over_a_path_with_addresses_as_extra_info() {
    let dir = TempDir::new("echo");
    let path = dir.path("echo.sock");
    let ev = new_loop();
    let server = echo_server(&ev, &path, UnixServerOptions::default());
    let sockets = server.sockets();
    assert_eq!(sockets.len(), 1);
    assert_eq!(sockets[0].unix_addr(), Some(&UnixAddr::Path(path.clone())));
    assert_eq!(sockets[0].local_addr(), None);
    assert_eq!(sockets[0].to_string(), path.display().to_string());
    let t = round_trip(&ev, &path, b"hello over a unix socket");
    // The client is unnamed; its peer is the server's path. No IP addresses here.
    assert_eq!(
        t.get_extra_info("peername"),
        Some(ExtraInfo::Unix(UnixAddr::Path(path.clone())))
    );
    assert_eq!(
        t.get_extra_info("sockname"),
        Some(ExtraInfo::Unix(UnixAddr::Unnamed))
    );
    assert_eq!(t.peername(), None);
    assert!(t.can_write_eof());
    t.close();
    server.close();
    run_until_complete(&ev, server.wait_closed())
        .unwrap()
        .unwrap();
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "Unix sockets are Unix-only: WASI 0.2 has none, mio has no AF_UNIX on Windows"
)]
fn many_clients_and_a_large_message() {
    let dir = TempDir::new("many");
    let path = dir.path("s");
    let ev = new_loop();
    let server = echo_server(&ev, &path, UnixServerOptions::default());
    let big: Vec<u8> = (0..4 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let t = round_trip(&ev, &path, &big);
    t.close();
    for i in 0..20u8 {
        round_trip(&ev, &path, &[i; 100]).close();
    }
    server.close();
    run_until_complete(&ev, server.wait_closed())
        .unwrap()
        .unwrap();
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "Unix sockets are Unix-only: WASI 0.2 has none, mio has no AF_UNIX on Windows"
)]
fn streams_over_a_unix_socket() {
    let dir = TempDir::new("streams");
    let path = dir.path("streams.sock");
    let ev = new_loop();
    let cb = |mut reader: twinloop::StreamReader, writer: twinloop::StreamWriter| async move {
        while let Ok(line) = reader.readline().await {
            if line.is_empty() {
                break;
            }
            writer.write(&line.to_ascii_uppercase())?;
        }
        writer.close();
        Ok(())
    };
    let started = ev.start_unix_server(cb, &path, StreamOptions::default());
    let server = run_until_complete(&ev, started).unwrap().unwrap();
    let path2 = path.clone();
    let answer = run_until_complete(&ev, async move {
        let (mut reader, writer) =
            twinloop::open_unix_connection(&path2, StreamOptions::default()).await?;
        writer.write(b"one\ntwo\n")?;
        writer.write_eof()?;
        reader.read(-1).await
    });
    assert_eq!(answer.unwrap().unwrap(), b"ONE\nTWO\n");
    server.close();
    assert!(!path.exists());
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "Unix sockets are Unix-only: WASI 0.2 has none, mio has no AF_UNIX on Windows"
)]
fn linux_abstract_names() {
    let name = format!("twinloop-test-{}", std::process::id());
    let addr = UnixAddr::abstract_name(&name);
    let ev = new_loop();
    let started = ev.create_unix_server(|| Echo(None), addr.clone(), Default::default());
    let server = match run_until_complete(&ev, started).unwrap() {
        Ok(server) => server,
        Err(Error::Unsupported { .. }) if !cfg!(target_os = "linux") => return,
        Err(e) => panic!("abstract name: {e}"),
    };
    assert_eq!(server.sockets()[0].unix_addr(), Some(&addr));
    assert_eq!(server.sockets()[0].to_string(), format!("@{name}"));
    // A string with a leading NUL names the same socket, as in asyncio.
    let t = round_trip(&ev, format!("\0{name}"), b"abstract");
    assert_eq!(t.get_extra_info("peername"), Some(ExtraInfo::Unix(addr)));
    t.close();
    server.close();
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "Unix sockets are Unix-only: WASI 0.2 has none, mio has no AF_UNIX on Windows"
)]
fn close_removes_the_socket_file_unless_replaced_or_asked_to_keep() {
    let dir = TempDir::new("cleanup");
    let ev = new_loop();
    let path = dir.path("a.sock");
    let server = echo_server(&ev, &path, UnixServerOptions::default());
    assert!(path.exists());
    server.close();
    assert!(!path.exists(), "removed on close");

    // Replaced meanwhile (another inode at the path): left alone.
    let path = dir.path("b.sock");
    let server = echo_server(&ev, &path, UnixServerOptions::default());
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"someone else's").unwrap();
    server.close();
    assert_eq!(std::fs::read(&path).unwrap(), b"someone else's");

    // cleanup_socket: false keeps it.
    let path = dir.path("c.sock");
    let opts = UnixServerOptions {
        cleanup_socket: false,
        ..Default::default()
    };
    let server = echo_server(&ev, &path, opts);
    server.close();
    assert!(path.exists(), "kept on request");
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "Unix sockets are Unix-only: WASI 0.2 has none, mio has no AF_UNIX on Windows"
)]
fn stale_socket_file_is_replaced_but_another_file_is_in_the_way() {
    let dir = TempDir::new("stale");
    let ev = new_loop();
    let path = dir.path("stale.sock");
    leave_stale_socket(&path);
    assert!(path.exists());
    let server = echo_server(&ev, &path, UnixServerOptions::default());
    round_trip(&ev, &path, b"fresh").close();
    server.close();

    let path = dir.path("file");
    std::fs::write(&path, b"data").unwrap();
    let started = ev.create_unix_server(|| Echo(None), &path, Default::default());
    let e = run_until_complete(&ev, started).unwrap().unwrap_err();
    assert_eq!(e.io_kind(), Some(std::io::ErrorKind::AddrInUse), "{e}");
    assert!(e.to_string().contains("already in use"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"data", "not removed");
}

/// A socket file whose listener is gone.
#[cfg(unix)]
fn leave_stale_socket(path: &Path) {
    drop(std::os::unix::net::UnixListener::bind(path).unwrap());
}

#[cfg(not(unix))]
fn leave_stale_socket(_path: &Path) {}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "Unix sockets are Unix-only: WASI 0.2 has none, mio has no AF_UNIX on Windows"
)]
fn connect_errors_are_clear() {
    let dir = TempDir::new("errors");
    let ev = new_loop();
    let connect = |path: UnixAddr| {
        let started = ev.create_unix_connection(|| Echo(None), path, Default::default());
        run_until_complete(&ev, started).unwrap().unwrap_err()
    };
    let missing = dir.path("missing.sock");
    let e = connect(UnixAddr::Path(missing.clone()));
    assert_eq!(e.io_kind(), Some(std::io::ErrorKind::NotFound), "{e}");
    assert!(
        e.to_string().contains("missing.sock"),
        "names the path: {e}"
    );

    let dead = dir.path("dead.sock");
    leave_stale_socket(&dead);
    let e = connect(UnixAddr::Path(dead));
    assert_eq!(
        e.io_kind(),
        Some(std::io::ErrorKind::ConnectionRefused),
        "{e}"
    );

    let too_long = dir.path(&"x".repeat(200));
    let e = connect(UnixAddr::Path(too_long.clone()));
    assert_eq!(e.io_kind(), Some(std::io::ErrorKind::InvalidInput), "{e}");
    let started = ev.create_unix_server(|| Echo(None), too_long, Default::default());
    let e = run_until_complete(&ev, started).unwrap().unwrap_err();
    assert_eq!(e.io_kind(), Some(std::io::ErrorKind::InvalidInput), "{e}");

    let e = connect(UnixAddr::Unnamed);
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    let started = ev.create_unix_server(|| Echo(None), "", Default::default());
    let e = run_until_complete(&ev, started).unwrap().unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "Unix sockets are Unix-only: WASI 0.2 has none, mio has no AF_UNIX on Windows"
)]
fn adopts_sockets_made_elsewhere() {
    #[cfg(unix)]
    adopt_sockets();
}

#[cfg(unix)]
fn adopt_sockets() {
    use std::os::unix::net::{UnixListener, UnixStream};
    let dir = TempDir::new("sock");
    let path = dir.path("adopted.sock");
    let ev = new_loop();
    let opts = UnixServerOptions {
        sock: Some(UnixListener::bind(&path).unwrap()),
        ..Default::default()
    };
    let server = echo_server(&ev, UnixAddr::Unnamed, opts);
    assert_eq!(
        server.sockets()[0].unix_addr(),
        Some(&UnixAddr::Path(path.clone()))
    );
    let done = ev.create_future();
    let bytes = Rc::new(RefCell::new(Vec::new()));
    let collect = Collect {
        bytes: bytes.clone(),
        want: 7,
        done: done.clone(),
    };
    let opts = UnixConnectOptions {
        sock: Some(UnixStream::connect(&path).unwrap()),
        ..Default::default()
    };
    let started = ev.create_unix_connection(|| collect, "", opts);
    let (t, _) = run_until_complete(&ev, started).unwrap().unwrap();
    t.write(b"adopted").unwrap();
    run_until_complete(&ev, done).unwrap().unwrap();
    assert_eq!(*bytes.borrow(), b"adopted");
    t.close();

    // A path and a socket at once is refused, for both.
    let opts = UnixConnectOptions {
        sock: Some(UnixStream::connect(&path).unwrap()),
        ..Default::default()
    };
    let started = ev.create_unix_connection(|| Echo(None), &path, opts);
    let e = run_until_complete(&ev, started).unwrap().unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    let opts = UnixServerOptions {
        sock: Some(UnixListener::bind(dir.path("other.sock")).unwrap()),
        ..Default::default()
    };
    let started = ev.create_unix_server(|| Echo(None), &path, opts);
    let e = run_until_complete(&ev, started).unwrap().unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    server.close();
    assert!(
        !path.exists(),
        "an adopted listener's file is cleaned up too"
    );
}

#[test]
#[cfg_attr(
    not(unix),
    ignore = "Unix sockets are Unix-only: WASI 0.2 has none, mio has no AF_UNIX on Windows"
)]
fn tls_over_a_unix_socket() {
    use wasm_tests::tls_support::TestCa;
    let dir = TempDir::new("tls");
    let path = dir.path("tls.sock");
    let ca = TestCa::new();
    let identity = ca.server(&["app.internal"]);
    let ev = new_loop();
    let opts = UnixServerOptions {
        ssl: Some(identity.server_config(&[])),
        ..Default::default()
    };
    let server = echo_server(&ev, &path, opts);

    // Without a server_hostname there is no name to check: refused, as in asyncio.
    let opts = UnixConnectOptions {
        ssl: Some(ca.client(&[])),
        ..Default::default()
    };
    let started = ev.create_unix_connection(|| Echo(None), &path, opts);
    let e = run_until_complete(&ev, started).unwrap().unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");

    let done = ev.create_future();
    let bytes = Rc::new(RefCell::new(Vec::new()));
    let collect = Collect {
        bytes: bytes.clone(),
        want: 10,
        done: done.clone(),
    };
    let opts = UnixConnectOptions {
        ssl: Some(ca.client(&[])),
        server_hostname: Some("app.internal".into()),
        ..Default::default()
    };
    let started = ev.create_unix_connection(|| collect, &path, opts);
    let (t, _) = run_until_complete(&ev, started).unwrap().unwrap();
    assert!(t.get_extra_info("cipher").is_some(), "TLS is on");
    t.write(b"secret msg").unwrap();
    run_until_complete(&ev, done).unwrap().unwrap();
    assert_eq!(*bytes.borrow(), b"secret msg");
    t.close();
    server.close();
    run_until_complete(&ev, server.wait_closed())
        .unwrap()
        .unwrap();
}

#[test]
#[cfg_attr(
    unix,
    ignore = "checks the answer of the guest and Windows; on Unix the sockets work"
)]
fn unix_sockets_are_unsupported_in_the_guest_and_on_windows() {
    let ev = new_loop();
    let server = ev.create_unix_server(|| Echo(None), "/tmp/x.sock", Default::default());
    assert_unsupported(
        run_until_complete(&ev, server).unwrap(),
        "create_unix_server",
    );
    let client = ev.create_unix_connection(|| Echo(None), "/tmp/x.sock", Default::default());
    assert_unsupported(
        run_until_complete(&ev, client).unwrap(),
        "create_unix_connection",
    );
    let streams = ev.open_unix_connection("/tmp/x.sock", StreamOptions::default());
    assert_unsupported(
        run_until_complete(&ev, streams).unwrap(),
        "create_unix_connection",
    );
    let cb = |_r, _w| async { Ok(()) };
    let streams = ev.start_unix_server(cb, "/tmp/x.sock", StreamOptions::default());
    assert_unsupported(
        run_until_complete(&ev, streams).unwrap(),
        "create_unix_server",
    );
}
