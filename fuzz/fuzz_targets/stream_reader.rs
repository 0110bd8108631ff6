//! StreamReader's readline / readuntil / readuntil_any / readexactly / read under
//! arbitrary chunking and limits, checked against its model
//! (`wasm_tests::reader_model`). A crash found here goes into
//! `wasm-tests/tests/reader_model.rs` as a regression.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wasm_tests::reader_model::check(data);
});
