//! Hostile guests: each is stopped by the limit it hits, with that limit's
//! reason and exit code, and the same host goes on serving the next guest.

mod common;

use std::time::{Duration, Instant};

use twinloop_host::{GuestStatus, Host, Limit, NetRule, Preopen, RunOutcome, SandboxPolicy, Stdio};

/// Grows its memory 1 MiB at a time until `memory.grow` fails (then exits 3).
fn memory_bomb() -> Vec<u8> {
    common::module(
        r#"(func (export "_start")
         (loop $more
           (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
         (call $proc_exit (i32.const 3)))"#,
    )
}

/// Eight more memories of 64 MiB each.
fn many_memories() -> Vec<u8> {
    let memories: String = (0..8).map(|i| format!("(memory $m{i} 1024)")).collect();
    common::module(&format!(
        r#"{memories}
        (func (export "_start")
          (i32.store $m7 (i32.const 0) (i32.const 1)))"#
    ))
}

/// Grows a table to 100 million entries.
fn table_bomb() -> Vec<u8> {
    common::module(
        r#"(table $t 1 funcref)
        (func (export "_start")
          (drop (table.grow $t (ref.null func) (i32.const 100000000))))"#,
    )
}

/// A 64-bit memory grown 16 MiB at a time until that fails (then exits 3).
fn memory64_bomb() -> Vec<u8> {
    common::module(
        r#"(memory $big i64 1)
        (func (export "_start")
          (loop $more
            (br_if $more (i64.ne (memory.grow $big (i64.const 256)) (i64.const -1))))
          (call $proc_exit (i32.const 3)))"#,
    )
}

/// The part of `wasi:sockets` a socket flood needs.
const SOCKETS_WIT: &str = r#"
package twinloop:flood;

world flood {
  import wasi:sockets/tcp-create-socket@0.2.12;
}

package wasi:sockets@0.2.12 {
  interface network {
    resource network;
    enum error-code {
      unknown, access-denied, not-supported, invalid-argument, out-of-memory, timeout,
      concurrency-conflict, not-in-progress, would-block, invalid-state, new-socket-limit,
      address-not-bindable, address-in-use, remote-unreachable, connection-refused,
      connection-reset, connection-aborted, datagram-too-large, name-unresolvable,
      temporary-resolver-failure, permanent-resolver-failure,
    }
    enum ip-address-family { ipv4, ipv6 }
  }
  interface tcp {
    resource tcp-socket;
  }
  interface tcp-create-socket {
    use network.{network, error-code, ip-address-family};
    use tcp.{tcp-socket};
    create-tcp-socket: func(address-family: ip-address-family) -> result<tcp-socket, error-code>;
  }
}
"#;

/// Creates 1000 TCP sockets, dropping each right away if `drop_each`; exits
/// with 3 if a creation fails, else 0.
fn socket_flood(drop_each: bool) -> Vec<u8> {
    let drop = if drop_each {
        "(call $drop_socket (i32.load (i32.const 36)))"
    } else {
        ""
    };
    common::module_importing(
        r#"(import "wasi:sockets/tcp-create-socket@0.2.12" "create-tcp-socket"
             (func $create (param i32 i32)))
           (import "wasi:sockets/tcp@0.2.12" "[resource-drop]tcp-socket"
             (func $drop_socket (param i32)))"#,
        &format!(
            r#"(func (export "_start")
              (local $i i32)
              (loop $again
                (call $create (i32.const 0) (i32.const 32))
                (if (i32.load8_u (i32.const 32)) (then (call $proc_exit (i32.const 3))))
                {drop}
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br_if $again (i32.lt_u (local.get $i) (i32.const 1000)))))"#
        ),
        SOCKETS_WIT,
        "flood",
    )
}

/// The part of `wasi:sockets` a name lookup needs.
const LOOKUP_WIT: &str = r#"
package twinloop:lookup;

world lookup {
  import wasi:sockets/instance-network@0.2.12;
  import wasi:sockets/ip-name-lookup@0.2.12;
}

package wasi:sockets@0.2.12 {
  interface network {
    resource network;
    enum error-code {
      unknown, access-denied, not-supported, invalid-argument, out-of-memory, timeout,
      concurrency-conflict, not-in-progress, would-block, invalid-state, new-socket-limit,
      address-not-bindable, address-in-use, remote-unreachable, connection-refused,
      connection-reset, connection-aborted, datagram-too-large, name-unresolvable,
      temporary-resolver-failure, permanent-resolver-failure,
    }
  }
  interface instance-network {
    use network.{network};
    instance-network: func() -> network;
  }
  interface ip-name-lookup {
    use network.{network, error-code};
    resource resolve-address-stream;
    resolve-addresses: func(network: borrow<network>, name: string) -> result<resolve-address-stream, error-code>;
  }
}
"#;

/// Starts a lookup of "localhost"; exits with 0 if the host started it, or
/// with 100 + the error code's index if it refused.
fn name_lookup() -> Vec<u8> {
    common::module_importing(
        r#"(import "wasi:sockets/instance-network@0.2.12" "instance-network"
             (func $network (result i32)))
           (import "wasi:sockets/ip-name-lookup@0.2.12" "resolve-addresses"
             (func $resolve (param i32 i32 i32 i32)))"#,
        r#"(data (i32.const 2048) "localhost")
          (func (export "_start")
            (call $resolve (call $network) (i32.const 2048) (i32.const 9) (i32.const 32))
            (if (i32.load8_u (i32.const 32))
              (then (call $proc_exit (i32.add (i32.const 100) (i32.load8_u (i32.const 36)))))))"#,
        LOOKUP_WIT,
        "lookup",
    )
}

/// Exits with the errno `fd_prestat_get(3)` returns: 0 if the guest has a
/// preopened directory, 8 (EBADF) if it has none.
fn first_preopen() -> Vec<u8> {
    common::module_importing(
        r#"(import "wasi_snapshot_preview1" "fd_prestat_get"
             (func $prestat (param i32 i32) (result i32)))"#,
        r#"(func (export "_start")
            (call $proc_exit (call $prestat (i32.const 3) (i32.const 32))))"#,
        "package twinloop:none; world none {}",
        "none",
    )
}

fn limited(max_memory: usize) -> SandboxPolicy {
    SandboxPolicy {
        max_memory: Some(max_memory),
        time_limit: Some(Duration::from_secs(60)),
        ..SandboxPolicy::default()
    }
}

/// Runs `guest` under `policy` and checks that `limit` stopped it, with a
/// one-line message naming the limit's option; returns the outcome.
fn stopped_by(host: &Host, guest: &[u8], policy: &SandboxPolicy, limit: Limit) -> RunOutcome {
    let guest = host.load(guest).unwrap();
    let started = Instant::now();
    let outcome = guest.run(policy, &[], Stdio::Capture).unwrap();
    let trap = outcome
        .trap()
        .unwrap_or_else(|| panic!("{limit:?}: expected the guest to be stopped: {outcome:?}"));
    assert_eq!(trap.limit, Some(limit), "{trap:?}");
    assert!(!trap.message.contains('\n'), "{trap:?}");
    assert!(trap.message.contains(limit.option()), "{trap:?}");
    assert_eq!(outcome.exit_code(), limit.exit_code());
    eprintln!(
        "{limit:?}: stopped in {:?}: {}",
        started.elapsed(),
        trap.message
    );
    outcome
}

/// The host still runs a well-behaved guest.
fn still_serving(host: &Host) {
    let hello = host.load(&common::hello()).unwrap();
    let outcome = hello.run(&limited(64 << 20), &[], Stdio::Capture).unwrap();
    assert!(outcome.success(), "{outcome:?}");
    assert_eq!(outcome.stdout, b"hello\n");
}

#[test]
fn memory_bombs_are_stopped_at_the_whole_footprint() {
    let host = Host::new().unwrap();
    let cap = 64 << 20;
    for bomb in [
        memory_bomb(),
        many_memories(),
        table_bomb(),
        memory64_bomb(),
    ] {
        stopped_by(&host, &bomb, &limited(cap), Limit::Memory);
        still_serving(&host);
    }
}

#[test]
fn the_footprint_leaves_room_below_the_limit() {
    let host = Host::new().unwrap();
    let guest = host.load(&many_memories()).unwrap();
    // 8 × 64 MiB and the two small memories of the module and the adapter.
    let outcome = guest.run(&limited(520 << 20), &[], Stdio::Capture).unwrap();
    assert!(outcome.success(), "{outcome:?}");
}

#[test]
fn an_output_flood_is_stopped_at_max_output_with_what_fit() {
    let host = Host::new().unwrap();
    let policy = SandboxPolicy {
        max_output: Some(1 << 20),
        ..limited(64 << 20)
    };
    let outcome = stopped_by(&host, &common::write_forever(), &policy, Limit::Output);
    assert_eq!(outcome.stdout.len(), 1 << 20);
    still_serving(&host);
}

#[test]
fn captured_output_is_bounded_without_max_output_too() {
    let host = Host::new().unwrap();
    let outcome = stopped_by(
        &host,
        &common::write_forever(),
        &limited(64 << 20),
        Limit::Output,
    );
    assert_eq!(outcome.stdout.len(), twinloop_host::CAPTURE_CAPACITY);
    assert!(outcome.trap().unwrap().message.contains("captures"));
}

fn with_sockets(max_sockets: usize) -> SandboxPolicy {
    SandboxPolicy {
        allow_net: vec![NetRule::parse("127.0.0.1").unwrap()],
        max_sockets: Some(max_sockets),
        ..limited(64 << 20)
    }
}

#[test]
fn a_socket_flood_is_stopped_at_max_sockets() {
    let host = Host::new().unwrap();
    stopped_by(
        &host,
        &socket_flood(false),
        &with_sockets(100),
        Limit::Sockets,
    );
    still_serving(&host);
}

#[test]
fn sockets_the_guest_dropped_do_not_count() {
    let host = Host::new().unwrap();
    let guest = host.load(&socket_flood(true)).unwrap();
    let outcome = guest.run(&with_sockets(10), &[], Stdio::Capture).unwrap();
    assert!(outcome.success(), "{outcome:?}");
}

#[test]
fn name_lookups_outside_the_policy_are_refused() {
    let host = Host::new().unwrap();
    let guest = host.load(&name_lookup()).unwrap();
    let refused = guest
        .run(&SandboxPolicy::default(), &[], Stdio::Capture)
        .unwrap();
    // 120: `permanent-resolver-failure`, which wasmtime answers at once when
    // lookups are not allowed (twinloop reports it as PermissionDenied).
    assert_eq!(refused.status, GuestStatus::Exited(120), "{refused:?}");
    let allowed = SandboxPolicy {
        allow_dns: true,
        ..SandboxPolicy::default()
    };
    let started = guest.run(&allowed, &[], Stdio::Capture).unwrap();
    assert!(started.success(), "{started:?}");
}

#[test]
fn the_file_system_is_only_what_the_policy_preopens() {
    let host = Host::new().unwrap();
    let guest = host.load(&first_preopen()).unwrap();
    let none = guest
        .run(&SandboxPolicy::default(), &[], Stdio::Capture)
        .unwrap();
    assert_eq!(none.status, GuestStatus::Exited(8), "{none:?}");
    let dir = std::env::temp_dir();
    let one = SandboxPolicy {
        preopens: vec![Preopen::parse(&format!("{}::/data", dir.display())).unwrap()],
        ..SandboxPolicy::default()
    };
    let outcome = guest.run(&one, &[], Stdio::Capture).unwrap();
    assert_eq!(outcome.status, GuestStatus::Exited(0), "{outcome:?}");
    let missing = SandboxPolicy {
        preopens: vec![Preopen::parse("/no/such/dir").unwrap()],
        ..SandboxPolicy::default()
    };
    let err = guest.run(&missing, &[], Stdio::Capture).unwrap_err();
    assert!(format!("{err:#}").contains("/no/such/dir"), "{err:#}");
}

#[test]
fn a_spinning_guest_is_stopped_at_its_time_limit() {
    let host = Host::new().unwrap();
    let policy = SandboxPolicy {
        time_limit: Some(Duration::from_millis(200)),
        ..SandboxPolicy::default()
    };
    stopped_by(&host, &common::spin(), &policy, Limit::Time);
    still_serving(&host);
}
