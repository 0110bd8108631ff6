//! The host's module loading: `twinloop_host::command_component` takes any bytes
//! (WebAssembly text or binary, a core module or a component) and either gives the
//! `wasi:cli/command` component a guest runs as or an error, never a panic. Compiling
//! the result with wasmtime is left out (far too slow under a sanitizer). A crash found
//! here goes into `host/src/host.rs`'s tests as a regression.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = twinloop_host::command_component(data);
});
