//! The `__cpp_exception` tag, for guests built with `panic=unwind`.
//!
//! With the WebAssembly exception-handling proposal, LLVM lowers Rust's unwinding to
//! `throw` and `try_table` on one tag, `__cpp_exception` (its payload is a pointer to
//! the exception object), and leaves the tag undefined: the C tool chain is to supply it
//! (LLVM's compiler-rt has it in `builtins/wasm/__cpp_exception.S`, linked by wasi-sdk).
//! Rust's std defines it only for `wasm32-unknown-unknown`, and Debian's wasi-libc, which
//! twinloop's guests link, has no compiler-rt, so without this module linking a
//! `panic=unwind` guest fails with `undefined symbol: __cpp_exception`.
//!
//! The definition is weak: wherever a tool chain does provide the tag (a wasi-sdk
//! compiler-rt, or a future std), the linker takes that one and ignores this one, so the
//! two never clash; and one program has one tag, as unwinding across objects needs.
//! Compiled only for `panic=unwind`: a `panic=abort` guest never throws and needs no tag.

#[cfg(panic = "unwind")]
// SAFETY: assembler directives only, no code: they declare one exception tag whose
// payload is one pointer (an `i32` on wasm32), the signature LLVM gives every use of
// `__cpp_exception`.
core::arch::global_asm!(
    ".weak __cpp_exception",
    ".tagtype __cpp_exception i32",
    "__cpp_exception:",
);
