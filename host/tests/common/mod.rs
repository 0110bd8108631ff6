//! WAT fixtures that behave like small `wasm32-wasip1` commands, so the host
//! can be tested without building a Rust guest.

#![allow(dead_code)]

use std::path::PathBuf;

/// Imports and helpers every fixture shares. Memory layout: 0..64 scratch
/// (iovec, counters), 256.. poll subscription, 1024.. string data, 4096..
/// argv pointers, 8192.. argument bytes.
const PRELUDE: &str = r#"
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func $print (param $ptr i32) (param $len i32)
    (call $write (i32.const 1) (local.get $ptr) (local.get $len)))
  ;; Loads argv (pointers at 4096, bytes at 8192); returns argc. The byte
  ;; count of all arguments is left at address 20.
  (func $load_args (result i32)
    (drop (call $args_sizes_get (i32.const 16) (i32.const 20)))
    (drop (call $args_get (i32.const 4096) (i32.const 8192)))
    (i32.load (i32.const 16)))
  ;; Pointer to argument $i.
  (func $arg (param $i i32) (result i32)
    (i32.load (i32.add (i32.const 4096) (i32.mul (local.get $i) (i32.const 4)))))
  ;; Byte $n of argument $i.
  (func $arg_byte (param $i i32) (param $n i32) (result i32)
    (i32.load8_u (i32.add (call $arg (local.get $i)) (local.get $n))))
"#;

/// A core module made of the prelude and `body`.
pub fn module(body: &str) -> Vec<u8> {
    wat::parse_str(format!("(module {PRELUDE} {body})")).expect("fixture WAT")
}

/// A core module made of `imports` (which WAT wants before any definition),
/// the prelude and `body`, with the component metadata of `world` in `wit`
/// embedded so that its WASI 0.2 imports become component imports.
pub fn module_importing(imports: &str, body: &str, wit: &str, world: &str) -> Vec<u8> {
    let mut bytes =
        wat::parse_str(format!("(module {imports} {PRELUDE} {body})")).expect("fixture WAT");
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve.push_str("fixture.wit", wit).expect("fixture WIT");
    let world = resolve
        .select_world(&[pkg], Some(world))
        .expect("fixture world");
    wit_component::embed_component_metadata(
        &mut bytes,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .expect("embedding fixture metadata");
    bytes
}

/// Writes "hello\n" to stdout.
pub fn hello() -> Vec<u8> {
    module(
        r#"(data (i32.const 1024) "hello\n")
       (func (export "_start") (call $print (i32.const 1024) (i32.const 6)))"#,
    )
}

/// Writes 4 KiB to stdout, over and over (an output flood, or a writer that
/// blocks once nobody reads).
pub fn write_forever() -> Vec<u8> {
    module(
        r#"(func (export "_start")
         (loop $forever
           (call $write (i32.const 1) (i32.const 16384) (i32.const 4096))
           (br $forever)))"#,
    )
}

/// Writes "out\n" to stdout, then "err\n" to stderr, then "out\n" again.
pub fn interleaved() -> Vec<u8> {
    module(
        r#"(data (i32.const 1024) "out\nerr\n")
       (func (export "_start")
         (call $write (i32.const 1) (i32.const 1024) (i32.const 4))
         (call $write (i32.const 2) (i32.const 1028) (i32.const 4))
         (call $write (i32.const 1) (i32.const 1024) (i32.const 4)))"#,
    )
}

/// Prints its argv, each argument NUL-terminated.
pub fn print_args() -> Vec<u8> {
    module(
        r#"(func (export "_start")
         (drop (call $load_args))
         (call $print (i32.const 8192) (i32.load (i32.const 20))))"#,
    )
}

/// Prints its environment, each `K=V` NUL-terminated.
pub fn print_env() -> Vec<u8> {
    module(
        r#"(func (export "_start")
         (drop (call $environ_sizes_get (i32.const 16) (i32.const 20)))
         (drop (call $environ_get (i32.const 4096) (i32.const 8192)))
         (call $print (i32.const 8192) (i32.load (i32.const 20))))"#,
    )
}

/// Executes `unreachable` two calls deep.
pub fn trap() -> Vec<u8> {
    module(
        r#"(func $deep_inside unreachable)
       (func $inner (call $deep_inside))
       (func (export "_start") (call $inner))"#,
    )
}

/// Calls `proc_exit(7)`.
pub fn exit7() -> Vec<u8> {
    module(r#"(func (export "_start") (call $proc_exit (i32.const 7)))"#)
}

/// Loops forever without calling the host.
pub fn spin() -> Vec<u8> {
    module(r#"(func (export "_start") (loop $forever (br $forever)))"#)
}

/// Sleeps an hour in `poll_oneoff` (a monotonic-clock subscription).
pub fn sleep_an_hour() -> Vec<u8> {
    module(
        r#"(func (export "_start")
         (i64.store (i32.const 256) (i64.const 0))         ;; userdata
         (i32.store8 (i32.const 264) (i32.const 0))        ;; tag: clock
         (i32.store (i32.const 272) (i32.const 1))         ;; monotonic
         (i64.store (i32.const 280) (i64.const 3600000000000))
         (i64.store (i32.const 288) (i64.const 0))         ;; precision
         (i32.store16 (i32.const 296) (i32.const 0))       ;; relative
         (drop (call $poll_oneoff (i32.const 256) (i32.const 512) (i32.const 1) (i32.const 24))))"#,
    )
}

/// Grows its memory by 160 pages (10 MiB) and exits with 0 if that worked,
/// 3 if `memory.grow` failed.
pub fn grow_10_mib() -> Vec<u8> {
    module(
        r#"(func (export "_start")
         (if (i32.eq (memory.grow (i32.const 160)) (i32.const -1))
           (then (call $proc_exit (i32.const 3)))))"#,
    )
}

/// A fake libtest binary with tests `a::pass`, `b::fail` (prints "boom",
/// then traps) and `c::ignored` (`#[ignore = "flaky"]`), answering the
/// invocations the host's test mode makes.
pub fn fake_libtest() -> Vec<u8> {
    module(
        r#"
       (data (i32.const 1024) "a::pass: test\nb::fail: test\nc::ignored: test\n\n3 tests, 0 benchmarks\n") ;; 68
       (data (i32.const 1100) "c::ignored: test\n\n1 test, 0 benchmarks\n")                                  ;; 39
       (data (i32.const 1200) "\nrunning 1 test\ntest a::pass ... ok\n\ntest result: ok. 1 passed; 0 failed; 0 ignored\n\n") ;; 85
       (data (i32.const 1400) "\nrunning 1 test\ntest b::fail ... boom\n")            ;; 38
       (data (i32.const 1500) "\nrunning 1 test\ntest c::ignored ... ignored, flaky\n\ntest result: ok. 0 passed; 0 failed; 1 ignored\n\n") ;; 100
       (data (i32.const 1700) "unexpected arguments\n")                             ;; 21
       (func (export "_start")
         (local $argc i32)
         (local.set $argc (call $load_args))
         ;; --list [--ignored]: argv[1][2] == 'l'
         (if (i32.eq (call $arg_byte (i32.const 1) (i32.const 2)) (i32.const 108))
           (then
             (if (i32.eq (local.get $argc) (i32.const 3))
               (then (if (i32.eq (call $arg_byte (i32.const 2) (i32.const 2)) (i32.const 105)) ;; 'i'
                 (then (call $print (i32.const 1100) (i32.const 39)) (return)))))
             (call $print (i32.const 1024) (i32.const 68))
             (return)))
         ;; --exact NAME ...: dispatch on NAME's first byte
         (if (i32.eq (call $arg_byte (i32.const 2) (i32.const 0)) (i32.const 97))   ;; 'a'
           (then (call $print (i32.const 1200) (i32.const 85)) (return)))
         (if (i32.eq (call $arg_byte (i32.const 2) (i32.const 0)) (i32.const 98))   ;; 'b'
           (then (call $print (i32.const 1400) (i32.const 38)) unreachable))
         ;; --exact --test-threads 1 c::ignored: the ignore-reason query
         (if (i32.eq (call $arg_byte (i32.const 2) (i32.const 0)) (i32.const 45))   ;; '-'
           (then (call $print (i32.const 1500) (i32.const 100)) (return)))
         (call $write (i32.const 2) (i32.const 1700) (i32.const 21))
         (call $proc_exit (i32.const 2)))
    "#,
    )
}

/// Throws a wasm exception (the exception-handling proposal that guests built
/// with `panic=unwind` use) and catches it: prints "caught 42\n".
pub fn catches_exception() -> Vec<u8> {
    module(
        r#"(tag $panic (param i32))
       (data (i32.const 1024) "caught 42\n")
       (func $throws (param $v i32) (throw $panic (local.get $v)))
       (func (export "_start")
         (block $caught (result i32)
           (try_table (catch $panic $caught)
             (call $throws (i32.const 42)))
           (i32.const 0))
         (if (i32.eq (i32.const 42)) (then (call $print (i32.const 1024) (i32.const 10)))))"#,
    )
}

/// Throws a wasm exception that nothing catches.
pub fn uncaught_exception() -> Vec<u8> {
    module(
        r#"(tag $panic (param i32))
       (func $deep_thrower (throw $panic (i32.const 1)))
       (func (export "_start") (call $deep_thrower))"#,
    )
}

/// Writes `bytes` to a file named `name` in a scratch directory and returns
/// its path.
pub fn write_fixture(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("twinloop-host-fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// WIT for fixtures that import WASI 0.2 interfaces directly (as the `wasi`
/// crate does in real guests), next to the preview-1 imports the adapter
/// serves.
const WASI_0_2_WIT: &str = r#"
package twinloop:fixtures;

world direct {
  import wasi:io/poll@0.2.12;
  import wasi:clocks/monotonic-clock@0.2.12;
}

package wasi:io@0.2.12 {
  @since(version = 0.2.0)
  interface poll {
    @since(version = 0.2.0)
    resource pollable {
      @since(version = 0.2.0)
      ready: func() -> bool;
      @since(version = 0.2.0)
      block: func();
    }
    @since(version = 0.2.0)
    poll: func(in: list<borrow<pollable>>) -> list<u32>;
  }
}

package wasi:clocks@0.2.12 {
  @since(version = 0.2.0)
  interface monotonic-clock {
    @since(version = 0.2.0)
    use wasi:io/poll@0.2.12.{pollable};
    @since(version = 0.2.0)
    type instant = u64;
    @since(version = 0.2.0)
    type duration = u64;
    @since(version = 0.2.0)
    now: func() -> instant;
    @since(version = 0.2.0)
    resolution: func() -> duration;
    @since(version = 0.2.0)
    subscribe-instant: func(when: instant) -> pollable;
    @since(version = 0.2.0)
    subscribe-duration: func(when: duration) -> pollable;
  }
}
"#;

/// Waits for a 1 µs monotonic-clock pollable, then asks `ready()` of it 1000
/// times; exits with 1 if any answer is "not ready", else 0.
///
/// Regression fixture: with one tokio coop budget for the whole guest run,
/// `ready()` started answering "not ready" after ~128 checks.
pub fn ready_1000_times() -> Vec<u8> {
    module_importing(
        r#"(import "wasi:clocks/monotonic-clock@0.2.12" "subscribe-duration" (func $subscribe (param i64) (result i32)))
          (import "wasi:io/poll@0.2.12" "[method]pollable.ready" (func $ready (param i32) (result i32)))
          (import "wasi:io/poll@0.2.12" "[method]pollable.block" (func $block (param i32)))
          (import "wasi:io/poll@0.2.12" "[resource-drop]pollable" (func $drop_pollable (param i32)))"#,
        r#"(func (export "_start")
            (local $p i32) (local $i i32)
            (local.set $p (call $subscribe (i64.const 1000)))
            (call $block (local.get $p))
            (loop $again
              (if (i32.eqz (call $ready (local.get $p)))
                (then (call $proc_exit (i32.const 1))))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $again (i32.lt_u (local.get $i) (i32.const 1000))))
            (call $drop_pollable (local.get $p)))"#,
        WASI_0_2_WIT,
        "direct",
    )
}
