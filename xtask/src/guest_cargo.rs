//! The cargo commands that build guests, and what a guest does when it panics.
//!
//! With Debian's tool chain, std is built from source (`-Zbuild-std`, `RUSTC_BOOTSTRAP=1`)
//! and `RUSTFLAGS` names Debian's `wasm-ld` and wasi-libc. `--cfg twinloop_pthread_stubs`
//! makes the twinloop crate supply `pthread_join`/`pthread_detach`, which libtest needs
//! and Debian's (older) wasi-libc lacks. Then, by [`GuestPanic`]:
//!
//! - `Unwind` (the default): `-Zbuild-std=std,panic_unwind` and `-C panic=unwind -C
//!   target-feature=+exception-handling -C llvm-args=-wasm-use-legacy-eh=false`: panics
//!   unwind with the WebAssembly exception-handling proposal, in its standard (exnref)
//!   encoding, which wasmtime implements, rather than LLVM's legacy one. `catch_unwind`
//!   works as natively, so a panicking callback reaches the loop's exception handler. The
//!   exception tag LLVM needs, `__cpp_exception`, comes from the twinloop crate
//!   (`src/sys/wasi/exception_tag.rs`). The host must enable the proposal (twinloop-host
//!   does; so does the stock `wasmtime` CLI).
//! - `Abort` (`cargo xtask build-guest --panic-abort`): `-Zbuild-std=std,panic_abort`
//!   (and `-Zpanic-abort-tests` for tests): a panic traps the guest, the module is
//!   smaller and runs on hosts without the proposal. Built in its own target directory
//!   (`target/wasm-abort`) so the two strategies do not keep rebuilding each other.
//!
//! rustup's own `wasm32-wasip1` target ships a std built for `panic=abort` without
//! exception handling, so its guests always abort.
//!
//! Either way, twinloop's TLS (rustls with ring) compiles C for the guest: ring's C parts
//! need Debian's `clang-19`, `llvm-ar-19` and wasi-libc's headers (`CC_wasm32_wasip1` and
//! friends, set on every guest cargo command), also where rustup's target is installed.

use std::path::PathBuf;
use std::process::Command;

use crate::process::{cargo, guest_target_dir, native_target_dir};
use crate::toolchain::{
    GuestChain, DEB_LIBC_DIR, DEB_TOOLCHAIN, DEB_WASM_LD, GUEST_TARGET, WASI_INCLUDE, WASM_AR,
    WASM_CC,
};

/// What a guest does when it panics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestPanic {
    /// Unwinds (wasm exceptions): `catch_unwind` works, as natively.
    Unwind,
    /// Traps: the whole instance ends. A smaller module.
    Abort,
}

impl GuestPanic {
    pub fn name(self) -> &'static str {
        match self {
            GuestPanic::Unwind => "panic=unwind",
            GuestPanic::Abort => "panic=abort",
        }
    }
}

/// The flags that make a `panic=unwind` guest (besides `-Zbuild-std=std,panic_unwind`).
const UNWIND_FLAGS: &str =
    "-C panic=unwind -C target-feature=+exception-handling -C llvm-args=-wasm-use-legacy-eh=false";

impl GuestChain {
    /// How this chain's guests panic unless asked otherwise: they unwind where std can be
    /// rebuilt with exception handling (Debian's chain), else they abort.
    pub fn default_panic(self) -> GuestPanic {
        match self {
            GuestChain::Debian => GuestPanic::Unwind,
            GuestChain::Rustup => GuestPanic::Abort,
        }
    }

    /// What `panic` becomes with this chain: rustup's prebuilt std can only abort.
    pub fn effective_panic(self, panic: GuestPanic) -> GuestPanic {
        match self {
            GuestChain::Debian => panic,
            GuestChain::Rustup => GuestPanic::Abort,
        }
    }

    /// `cargo SUBCOMMAND` for the guest target with the chain's default panic strategy.
    pub fn cargo(self, subcommand: &str) -> Command {
        self.cargo_with(subcommand, self.default_panic())
    }

    /// `cargo SUBCOMMAND` for the guest target, with this tool chain's flags and
    /// environment for `panic` and its target directory ([`GuestChain::target_dir`]).
    /// Callers add packages and options.
    pub fn cargo_with(self, subcommand: &str, panic: GuestPanic) -> Command {
        let panic = self.effective_panic(panic);
        let mut cmd = cargo();
        if self == GuestChain::Debian {
            cmd.arg(format!("+{DEB_TOOLCHAIN}"));
        }
        cmd.arg(subcommand);
        if self == GuestChain::Debian {
            let mut rustflags =
                format!("-C linker={DEB_WASM_LD} -L {DEB_LIBC_DIR} --cfg twinloop_pthread_stubs");
            match panic {
                GuestPanic::Unwind => {
                    cmd.arg("-Zbuild-std=std,panic_unwind");
                    rustflags = format!("{rustflags} {UNWIND_FLAGS}");
                }
                GuestPanic::Abort => {
                    cmd.arg("-Zbuild-std=std,panic_abort");
                    if subcommand == "test" {
                        cmd.arg("-Zpanic-abort-tests");
                    }
                }
            }
            cmd.env("RUSTC_BOOTSTRAP", "1")
                .env("RUSTFLAGS", rustflags)
                .env_remove("CARGO_ENCODED_RUSTFLAGS");
        }
        // ring (under rustls) compiles C for the guest with either chain.
        cmd.env("CC_wasm32_wasip1", WASM_CC)
            .env("AR_wasm32_wasip1", WASM_AR)
            .env(
                "CFLAGS_wasm32_wasip1",
                format!("--target=wasm32-wasi -I{WASI_INCLUDE}"),
            );
        cmd.args(["--target", GUEST_TARGET, "--target-dir"])
            .arg(self.target_dir(panic));
        cmd
    }

    /// Where guests built with `panic` go: `target/wasm`, or `target/wasm-abort` for
    /// Debian's `panic=abort` builds, which must not share it with the unwinding ones.
    pub fn target_dir(self, panic: GuestPanic) -> PathBuf {
        match (self, self.effective_panic(panic)) {
            (GuestChain::Debian, GuestPanic::Abort) => native_target_dir().join("wasm-abort"),
            _ => guest_target_dir(),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            GuestChain::Rustup => "rustup's wasm32-wasip1 target",
            GuestChain::Debian => "Debian's tool chain (debweb, -Zbuild-std)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cmd: &Command) -> Vec<String> {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn env(cmd: &Command) -> Vec<(String, Option<String>)> {
        cmd.get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.map(|v| v.to_string_lossy().into_owned()),
                )
            })
            .collect()
    }

    const DEB_FLAGS: &str = "-C linker=/usr/lib/llvm-19/bin/wasm-ld -L /usr/lib/wasm32-wasi \
                             --cfg twinloop_pthread_stubs";

    #[test]
    fn debian_guests_unwind_by_default() {
        let debian = GuestChain::Debian.cargo("test");
        let a = args(&debian);
        assert_eq!(
            a[..5],
            [
                "+debweb",
                "test",
                "-Zbuild-std=std,panic_unwind",
                "--target",
                "wasm32-wasip1"
            ]
        );
        assert_eq!(a[5], "--target-dir");
        assert!(a[6].ends_with("wasm"), "{}", a[6]);
        let env = env(&debian);
        assert!(env.contains(&("RUSTC_BOOTSTRAP".into(), Some("1".into()))));
        assert!(env.contains(&(
            "RUSTFLAGS".into(),
            Some(format!(
                "{DEB_FLAGS} -C panic=unwind -C target-feature=+exception-handling \
                 -C llvm-args=-wasm-use-legacy-eh=false"
            ))
        )));
        assert!(env.contains(&("CC_wasm32_wasip1".into(), Some("clang-19".into()))));
    }

    #[test]
    fn abort_guests_are_selectable_and_built_apart() {
        let abort = GuestChain::Debian.cargo_with("test", GuestPanic::Abort);
        let a = args(&abort);
        assert_eq!(
            a[..4],
            [
                "+debweb",
                "test",
                "-Zbuild-std=std,panic_abort",
                "-Zpanic-abort-tests"
            ]
        );
        assert!(a[7].ends_with("wasm-abort"), "{}", a[7]);
        assert!(env(&abort).contains(&("RUSTFLAGS".into(), Some(DEB_FLAGS.into()))));
        let clippy = args(&GuestChain::Debian.cargo_with("clippy", GuestPanic::Abort));
        assert!(!clippy.iter().any(|a| a == "-Zpanic-abort-tests"));
    }

    #[test]
    fn rustups_target_always_aborts() {
        assert_eq!(GuestChain::Rustup.default_panic(), GuestPanic::Abort);
        let rustup = GuestChain::Rustup.cargo_with("build", GuestPanic::Unwind);
        let a = args(&rustup);
        assert_eq!(
            a[..4],
            ["build", "--target", "wasm32-wasip1", "--target-dir"]
        );
        assert!(a[4].ends_with("wasm"), "{}", a[4]);
        let names: Vec<String> = env(&rustup).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            names,
            [
                "AR_wasm32_wasip1",
                "CC_wasm32_wasip1",
                "CFLAGS_wasm32_wasip1"
            ],
            "rustup's target needs only the C tool chain for ring"
        );
    }
}
