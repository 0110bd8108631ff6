//! `StreamReader` against its model (`wasm_tests::reader_model`) under arbitrary chunking
//! and limits: a few thousand generated scripts, and every input the fuzzer
//! (`cargo xtask fuzz`) ever crashed on, kept here as a regression.

use wasm_tests::reader_model::check;
use wasm_tests::Lcg;

/// Inputs the fuzzer found failing (none so far), and hand-made edge cases.
const REGRESSIONS: &[&[u8]] = &[
    b"",
    b"\x00\x00\x00",
    // limit 1, chunk 1, readline on a long line: dropped through the newline.
    b"\x00\x00\x01\x00aaaa\nbb",
    // readuntil("ab") with the separator split across chunks and past the limit.
    b"\x02\x00\x02\x01\x01xxxxaxbab",
    // readexactly past EOF: IncompleteRead with everything left.
    b"\x1f\x03\x01\x27abc",
    // read(-1) in the middle, then more operations at EOF.
    b"\x05\x02\x04\x03\x00\x01\x02line\nmore",
];

#[test]
fn regressions_and_edge_cases() {
    for input in REGRESSIONS {
        check(input);
    }
}

#[test]
fn generated_scripts_under_every_chunking_and_limit() {
    let mut rng = Lcg::new(0x5eed);
    let alphabet = b"ab\nxy-";
    for _ in 0..3000 {
        let len = rng.below(80) as usize;
        let mut input: Vec<u8> = (0..3).map(|_| rng.below(256) as u8).collect();
        let nops = usize::from(input[2] % 16);
        input.extend((0..len).map(|i| {
            if i < nops {
                rng.below(256) as u8 // operation bytes
            } else {
                alphabet[rng.below(alphabet.len() as u32) as usize]
            }
        }));
        check(&input);
    }
}
