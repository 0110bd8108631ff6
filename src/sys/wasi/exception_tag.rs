//! The `__cpp_exception` tag, for guests built with `panic=unwind`.
//!
//! With the WebAssembly exception-handling proposal, LLVM lowers Rust's unwinding to
//! `throw` and `try_table` on one tag, `__cpp_exception` (its payload is a pointer to
//! the exception object), and leaves the tag undefined: the C tool chain is to supply it
//! (recent LLVM compiler-rt has it in `builtins/wasm/__cpp_exception.S`, which wasi-sdk
//! links).
//! Rust's std defines it only for `wasm32-unknown-unknown`, and Debian's wasi-libc, which
//! twinloop's guests link, has no compiler-rt, so without this module linking a
//! `panic=unwind` guest fails with `undefined symbol: __cpp_exception`.
//!
//! The definition is weak, so it cannot clash with a tool chain that does provide the tag
//! (a wasi-sdk compiler-rt, or a future std): `wasm-ld` keeps the strong definition and
//! drops this one, where two strong ones would be a "duplicate symbol" error (checked with
//! Debian's `wasm-ld` 19: weak alone, weak + strong, and weak + a strong one in an archive
//! all link). Either way the program has exactly one `__cpp_exception`, which every
//! `throw` and `catch` in it must share. Unlike the pthread stubs (strong symbols, so
//! opt-in with `--cfg twinloop_pthread_stubs`), this needs no flag: it is compiled for
//! every `panic=unwind` guest and for no `panic=abort` one, which never throws.

#[cfg(panic = "unwind")]
// SAFETY: assembler directives only, no code: they declare one exception tag whose
// payload is one pointer (an `i32` on wasm32), the signature LLVM gives every use of
// `__cpp_exception`.
core::arch::global_asm!(
    ".weak __cpp_exception",
    ".tagtype __cpp_exception i32",
    "__cpp_exception:",
);
