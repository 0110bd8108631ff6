//! The host's policy and option parser: `twinloop_host::cli::parse_args` on an
//! argument list made of the input (split at NUL bytes, lossy UTF-8), and the
//! parsers behind its options (`NetRule::parse`, `Preopen::parse`,
//! `cli::parse_size`, `cli::parse_secs`) on each piece. None may panic; a
//! `NetRule` that parses prints as text that parses back to the same rule. A
//! crash found here goes into `host/src/cli.rs`'s or `host/src/net_rule.rs`'s
//! tests as a regression.
#![no_main]

use twinloop_host::cli::{self, Command};
use twinloop_host::{NetRule, Preopen};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let pieces: Vec<String> = data
        .split(|&b| b == 0)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    for piece in &pieces {
        if let Ok(rule) = NetRule::parse(piece) {
            let text = rule.to_string();
            let again = NetRule::parse(&text)
                .unwrap_or_else(|e| panic!("{piece:?} printed as {text:?}, which fails: {e:#}"));
            assert_eq!(again, rule, "{piece:?} printed as {text:?}");
        }
        let _ = Preopen::parse(piece);
        let _ = cli::parse_size(piece);
        let _ = cli::parse_secs(piece);
    }
    let args = std::iter::once("twinloop-host".to_owned()).chain(pieces);
    match cli::parse_args(args) {
        Ok(Command::Run(run)) => assert!(run.instances >= 1),
        Ok(_) => {}
        // Rendering the message (usage, suggestions) must not panic either.
        Err(e) => drop(e.render().to_string()),
    }
});
