//! Many guests in one host process: back to back and at once, each result
//! right, one failing instance not disturbing the others, and the host's
//! memory back to where it was.

mod common;

use std::time::Duration;

use twinloop_host::{GuestStatus, Host, Limit, SandboxPolicy, Stdio};

/// Grows its memory by 10 MiB, touches every page of it, prints "done\n".
fn touch_10_mib() -> Vec<u8> {
    common::module(
        r#"(data (i32.const 1024) "done\n")
        (func (export "_start")
          (local $at i32)
          (if (i32.eq (memory.grow (i32.const 160)) (i32.const -1))
            (then (call $proc_exit (i32.const 3))))
          (local.set $at (i32.const 65536))
          (loop $page
            (i32.store8 (local.get $at) (i32.const 1))
            (local.set $at (i32.add (local.get $at) (i32.const 4096)))
            (br_if $page (i32.lt_u (local.get $at) (i32.const 10551296))))
          (call $print (i32.const 1024) (i32.const 5)))"#,
    )
}

fn policy() -> SandboxPolicy {
    SandboxPolicy {
        max_memory: Some(64 << 20),
        time_limit: Some(Duration::from_secs(60)),
        ..SandboxPolicy::default()
    }
}

/// This process's resident set, in bytes (Linux).
#[cfg(target_os = "linux")]
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

#[test]
#[cfg(target_os = "linux")]
fn a_hundred_back_to_back_and_ten_at_once_leave_memory_where_it_was() {
    let host = Host::new().unwrap();
    let guest = host.load(&touch_10_mib()).unwrap();
    let check = |outcome: &twinloop_host::RunOutcome| {
        assert_eq!(outcome.status, GuestStatus::Exited(0), "{outcome:?}");
        assert_eq!(outcome.stdout, b"done\n");
    };
    // The first of each kind warms up what the host keeps (compiled code,
    // thread arenas, the runtime); what follows must not add to it.
    check(&guest.run(&policy(), &[], Stdio::Capture).unwrap());
    for outcome in guest
        .run_instances(&policy(), &[], 10, Stdio::Capture)
        .unwrap()
    {
        check(&outcome);
    }
    let after_first = rss();
    for _ in 0..100 {
        check(&guest.run(&policy(), &[], Stdio::Capture).unwrap());
    }
    for _ in 0..3 {
        let outcomes = guest
            .run_instances(&policy(), &[], 10, Stdio::Capture)
            .unwrap();
        assert_eq!(outcomes.len(), 10);
        outcomes.iter().for_each(check);
    }
    let after_all = rss();
    eprintln!(
        "RSS after the first runs: {} MiB, after 130 more: {} MiB",
        after_first >> 20,
        after_all >> 20
    );
    assert!(
        after_all <= after_first + after_first / 10,
        "RSS grew from {after_first} to {after_all} bytes"
    );
}

#[test]
fn one_instance_hitting_a_limit_leaves_the_others_running() {
    let host = Host::new().unwrap();
    let guest = host.load(&touch_10_mib()).unwrap();
    // 10 MiB more does not fit in 8 MiB: every instance hits the limit alone.
    let tight = SandboxPolicy {
        max_memory: Some(8 << 20),
        ..policy()
    };
    let (limited, roomy) = std::thread::scope(|s| {
        let limited = s.spawn(|| guest.run_instances(&tight, &[], 4, Stdio::Capture));
        let roomy = s.spawn(|| guest.run_instances(&policy(), &[], 10, Stdio::Capture));
        (
            limited.join().unwrap().unwrap(),
            roomy.join().unwrap().unwrap(),
        )
    });
    for outcome in &limited {
        assert_eq!(outcome.trap().and_then(|t| t.limit), Some(Limit::Memory));
    }
    // ... while instances of the same guest with room, at the same time, all
    // finish.
    assert!(roomy.iter().all(|o| o.success() && o.stdout == b"done\n"));
}
