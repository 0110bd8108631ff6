//! Names one target fact the crate root needs as a cfg of its own, so that target
//! detection stays with the backends (`src/sys/`) and this script:
//! `twinloop_wasm_exceptions` is set for a `wasm32-wasip1` guest built with
//! `panic=unwind`, whose exception tag (`src/sys/wasi/exception_tag.rs`) is wasm
//! assembly and needs the unstable `asm_experimental_arch` feature at the crate root.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(twinloop_wasm_exceptions)");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let panic = std::env::var("CARGO_CFG_PANIC").unwrap_or_default();
    if os == "wasi" && panic == "unwind" {
        println!("cargo::rustc-cfg=twinloop_wasm_exceptions");
    }
}
