//! Finding (and if need be installing) the tool chains: the native one's rustfmt and
//! clippy, a wasm32-wasip1 standard library for guests, and standard libraries for the
//! Windows and macOS type-checks; and Debian's `openssl`, the TLS peer of the native
//! interop test (`wasm-tests/tests/tls_streams.rs`), which fails without it.
//!
//! A guest can be built two ways, preferred first:
//! 1. rustup's own `wasm32-wasip1` target: plain `cargo build --target wasm32-wasip1`.
//! 2. Debian's packages (`rustc-web` and friends, linked into rustup as `debweb`):
//!    `cargo +debweb ... -Zbuild-std` with `RUSTC_BOOTSTRAP=1` and a `RUSTFLAGS` naming
//!    Debian's `wasm-ld` and wasi-libc; see `guest_cargo.rs` for the commands.
//!
//! Either way, twinloop's TLS (rustls with ring) compiles C for the guest: ring's C parts
//! need Debian's `clang-19`, `llvm-ar-19` and wasi-libc's headers (`CC_wasm32_wasip1` and
//! friends, set on every guest cargo command), also where rustup's target is installed.

use std::path::Path;
use std::process::Command;

use crate::process::{self, cargo, cross_target_dir};
use crate::windows::{self, WineTools, WINDOWS_TARGET};

pub const GUEST_TARGET: &str = "wasm32-wasip1";
pub const CROSS_TARGETS: [&str; 2] = ["x86_64-pc-windows-msvc", "x86_64-apple-darwin"];

pub(crate) const DEB_TOOLCHAIN: &str = "debweb";
const DEB_LIBC: &str = "/usr/lib/wasm32-wasi/libc.a";
pub(crate) const DEB_LIBC_DIR: &str = "/usr/lib/wasm32-wasi";
pub(crate) const DEB_WASM_LD: &str = "/usr/lib/llvm-19/bin/wasm-ld";
const DEB_RUST_SRC: &str = "/usr/lib/rustlib/src/rust/library";
const DEB_RUSTC: &str = "/usr/bin/rustc";
const DEB_CLIPPY: &str = "/usr/bin/cargo-clippy";
const APT_PACKAGES: [&str; 7] = [
    "rustc-web",
    "cargo-web",
    "rust-web-src",
    "wasi-libc",
    "lld-19",
    "rust-web-clippy",
    "clang-19",
];
/// The C tool chain for ring inside guests (`clang-19` brings `llvm-19` and its `llvm-ar-19`).
pub(crate) const WASM_CC: &str = "clang-19";
pub(crate) const WASM_AR: &str = "llvm-ar-19";
pub(crate) const WASI_INCLUDE: &str = "/usr/include/wasm32-wasi";
const WASM_CC_PACKAGES: [&str; 2] = ["clang-19", "wasi-libc"];
/// The `openssl` command line, for the native TLS interop test.
const OPENSSL_PACKAGES: [&str; 1] = ["openssl"];

/// How guests are built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestChain {
    Rustup,
    Debian,
}

/// How a cross type-check for one target is done, if it can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrossChain {
    Rustup,
    Debian,
    Unavailable,
}

/// What this machine has. Detection only reads files and asks rustup; it is fast.
#[derive(Clone, Debug, Default)]
pub struct Detected {
    pub rustup: bool,
    pub rustfmt: bool,
    pub clippy: bool,
    /// `rustup target list --installed` of the active toolchain.
    pub rustup_targets: Vec<String>,
    pub debweb_linked: bool,
    /// Debian files the guest build needs that are not there.
    pub deb_missing: Vec<&'static str>,
    /// Debian's std sources (`-Zbuild-std` for any target) are there.
    pub deb_rust_src: bool,
    pub deb_clippy: bool,
    /// `clang-19`, `llvm-ar-19` and wasi-libc's headers: ring's C for guests.
    pub wasm_cc: bool,
    /// Wine and mingw's gcc: the suite built for Windows and run under Wine.
    pub wine: WineTools,
    /// `openssl` on PATH: the native TLS interop test's peer.
    pub openssl: bool,
}

impl Detected {
    pub fn detect() -> Detected {
        let rustup_out = |args: &[&str]| process::output_of("rustup", args);
        let components = rustup_out(&["component", "list", "--installed"]);
        let rustup = components.is_some();
        let components = components.unwrap_or_default();
        let has_component = |name: &str| {
            components
                .lines()
                .any(|l| l.trim() == name || l.trim().starts_with(&format!("{name}-")))
        };
        let rustup_targets = rustup_out(&["target", "list", "--installed"])
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        let debweb_linked = rustup_out(&["toolchain", "list"])
            .unwrap_or_default()
            .lines()
            .any(|l| l.split_whitespace().next() == Some(DEB_TOOLCHAIN));
        let deb_missing = [DEB_LIBC, DEB_WASM_LD, DEB_RUST_SRC]
            .into_iter()
            .filter(|p| !Path::new(p).exists())
            .collect();
        let deb_clippy = debweb_linked
            && (Path::new(DEB_CLIPPY).exists()
                || process::output_of("cargo", &["+debweb", "clippy", "--version"]).is_some());
        Detected {
            rustup,
            // Without rustup, assume cargo's own fmt/clippy may still be on PATH.
            rustfmt: if rustup {
                has_component("rustfmt")
            } else {
                process::output_of("cargo", &["fmt", "--version"]).is_some()
            },
            clippy: if rustup {
                has_component("clippy")
            } else {
                process::output_of("cargo", &["clippy", "--version"]).is_some()
            },
            rustup_targets,
            debweb_linked,
            deb_missing,
            deb_rust_src: Path::new(DEB_RUST_SRC).exists(),
            deb_clippy,
            wasm_cc: process::output_of(WASM_CC, &["--version"]).is_some()
                && process::output_of(WASM_AR, &["--version"]).is_some()
                && Path::new(WASI_INCLUDE).exists(),
            wine: WineTools::detect(),
            openssl: process::output_of("openssl", &["version"]).is_some(),
        }
    }

    fn has_rustup_target(&self, target: &str) -> bool {
        self.rustup_targets.iter().any(|t| t == target)
    }

    /// Debian's tool chain can build std from source (for any target).
    fn debian_build_std(&self) -> bool {
        self.debweb_linked && self.deb_rust_src
    }

    pub fn guest(&self) -> Option<GuestChain> {
        if self.has_rustup_target(GUEST_TARGET) {
            Some(GuestChain::Rustup)
        } else if self.debweb_linked && self.deb_missing.is_empty() {
            Some(GuestChain::Debian)
        } else {
            None
        }
    }

    pub fn guest_clippy(&self) -> bool {
        match self.guest() {
            Some(GuestChain::Rustup) => self.clippy,
            Some(GuestChain::Debian) => self.deb_clippy,
            None => false,
        }
    }

    pub fn cross(&self, target: &str) -> CrossChain {
        if self.has_rustup_target(target) {
            CrossChain::Rustup
        } else if self.debian_build_std() {
            CrossChain::Debian
        } else {
            CrossChain::Unavailable
        }
    }

    /// Everything `setup` can provide is present (cross std is optional).
    pub fn complete(&self) -> bool {
        self.rustfmt
            && self.clippy
            && self.guest().is_some()
            && self.guest_clippy()
            && self.wasm_cc
            && self.wine.ready()
            && self.openssl
    }

    pub fn print(&self) {
        let yes = |b: bool| if b { "found" } else { "MISSING" };
        println!("setup: rustfmt (native): {}", yes(self.rustfmt));
        println!("setup: clippy (native): {}", yes(self.clippy));
        match self.guest() {
            Some(GuestChain::Rustup) => {
                println!("setup: {GUEST_TARGET}: rustup's own target (plain cargo build)")
            }
            Some(GuestChain::Debian) => println!(
                "setup: {GUEST_TARGET}: Debian tool chain `{DEB_TOOLCHAIN}` with -Zbuild-std \
                 ({DEB_WASM_LD}, {DEB_LIBC_DIR})"
            ),
            None => {
                let link = if self.debweb_linked {
                    "linked"
                } else {
                    "not linked"
                };
                println!(
                    "setup: {GUEST_TARGET}: MISSING (no rustup target; toolchain `{DEB_TOOLCHAIN}` \
                     {link}; missing files: {})",
                    if self.deb_missing.is_empty() {
                        "none".to_string()
                    } else {
                        self.deb_missing.join(", ")
                    }
                );
            }
        }
        println!(
            "setup: clippy ({GUEST_TARGET}): {}",
            yes(self.guest_clippy())
        );
        println!(
            "setup: C for {GUEST_TARGET} (ring, under TLS): {WASM_CC}, {WASM_AR}, {WASI_INCLUDE}: {}",
            yes(self.wasm_cc)
        );
        for target in CROSS_TARGETS {
            let how = match self.cross(target) {
                CrossChain::Rustup => "rustup target".to_string(),
                CrossChain::Debian => format!("`{DEB_TOOLCHAIN}` with -Zbuild-std"),
                CrossChain::Unavailable => "none (cross-check will be skipped)".to_string(),
            };
            println!("setup: std for {target} (type-check only): {how}");
        }
        self.wine.print(self.cross(WINDOWS_TARGET));
        println!(
            "setup: openssl (the native TLS interop test's peer): {}",
            yes(self.openssl)
        );
    }
}

/// What stands in for the target's C compiler and archiver in the cross type-checks: ring
/// (under rustls) compiles C in its build script, this machine has no C tool chain for
/// macOS or Windows, and a type-check never links, so nothing is compiled and the
/// archive asked for (lib.exe's `-out:`) is made empty.
const C_STUB: &str = "#!/bin/sh\n\
# twinloop's cross type-check: no C is compiled (nothing links), the archive is empty\n\
for a in \"$@\"; do case \"$a\" in -out:*) : > \"${a#-out:}\" ;; esac; done\n";

fn c_stub_path() -> std::path::PathBuf {
    cross_target_dir().join("c-stub.sh")
}

/// Writes the stand-in C tool chain the cross type-checks name (see [`C_STUB`]).
pub fn write_c_stub() -> std::io::Result<()> {
    let path = c_stub_path();
    std::fs::create_dir_all(cross_target_dir())?;
    std::fs::write(&path, C_STUB)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// The type-check of `-p twinloop` for another OS: `cargo rustc --profile check` so that
/// `-D warnings` reaches the twinloop crate only (not std, which build-std compiles).
/// Build scripts' C goes to the stub of [`write_c_stub`].
pub fn cross_check_command(chain: CrossChain, target: &str) -> Option<Command> {
    let mut cmd = cargo();
    match chain {
        CrossChain::Unavailable => return None,
        CrossChain::Rustup => {}
        CrossChain::Debian => {
            cmd.arg(format!("+{DEB_TOOLCHAIN}"));
        }
    }
    cmd.arg("rustc");
    if chain == CrossChain::Debian {
        cmd.arg("-Zbuild-std=std,panic_abort")
            .env("RUSTC_BOOTSTRAP", "1");
    }
    if cfg!(unix) {
        let var = target.replace('-', "_");
        cmd.env(format!("CC_{var}"), c_stub_path())
            .env(format!("AR_{var}"), c_stub_path());
    }
    cmd.env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .args([
            "-p",
            "twinloop",
            "--lib",
            "--profile",
            "check",
            "--target",
            target,
        ])
        .arg("--target-dir")
        .arg(cross_target_dir())
        .args(["--", "-D", "warnings"]);
    Some(cmd)
}

/// Detects, installs what is missing (apt as root, rustup components), and optionally
/// builds the host. Returns what is there afterwards and the problems left.
pub fn setup(build_host: bool) -> (Detected, Vec<String>) {
    let mut problems = Vec::new();
    let mut det = Detected::detect();
    det.print();

    if !det.rustup {
        println!("setup: rustup not found; cannot add components or link toolchains");
    }
    let missing_components: Vec<&str> = [("rustfmt", det.rustfmt), ("clippy", det.clippy)]
        .into_iter()
        .filter(|(_, present)| !present)
        .map(|(name, _)| name)
        .collect();
    if !missing_components.is_empty() && det.rustup {
        let mut cmd = Command::new("rustup");
        cmd.args(["component", "add"]).args(&missing_components);
        println!("setup: $ {}", process::describe(&cmd));
        if !process::run_ok(&mut cmd) {
            println!("setup: could not add {}", missing_components.join(", "));
        }
    }

    let wants_debian = match det.guest() {
        None => true,
        Some(GuestChain::Debian) => !det.deb_clippy,
        Some(GuestChain::Rustup) => false,
    };
    if wants_debian {
        install_debian(&det, &mut problems);
    }
    let wants_cc = !Detected::detect().wasm_cc;
    if wants_cc {
        // clang-19 and wasi-libc's headers, for ring's C in guests (also needed beside
        // rustup's own wasm32-wasip1 target, which has no C compiler).
        install_packages(
            "the C compiler for guests",
            &WASM_CC_PACKAGES,
            &mut problems,
        );
    }
    let wants_wine = !det.wine.ready();
    windows::install(det.wine, &mut problems);
    let wants_openssl = !det.openssl;
    if wants_openssl {
        // Debian's `openssl`, the native TLS interop test's peer.
        install_packages("openssl", &OPENSSL_PACKAGES, &mut problems);
    }

    det = Detected::detect();
    if !missing_components.is_empty() || wants_debian || wants_cc || wants_wine || wants_openssl {
        println!("setup: after installing:");
        det.print();
    }
    if !det.rustfmt {
        problems.push("rustfmt is missing (rustup component add rustfmt)".into());
    }
    if !det.clippy {
        problems.push("clippy is missing (rustup component add clippy)".into());
    }
    if det.guest().is_none() {
        problems.push(format!("no {GUEST_TARGET} tool chain"));
    } else if det.guest().is_some() && !det.guest_clippy() {
        problems.push(format!(
            "no clippy for {GUEST_TARGET} (apt-get install rust-web-clippy)"
        ));
    }
    if !det.wasm_cc {
        problems.push(format!(
            "no C compiler for {GUEST_TARGET} (apt-get install -y {}): ring, under \
             twinloop's TLS, cannot be built for guests",
            WASM_CC_PACKAGES.join(" ")
        ));
    }
    if let Some(chain) = det.guest() {
        println!(
            "setup: guests are built with {}, {}",
            chain.describe(),
            chain.default_panic().name()
        );
    }
    if !det.openssl {
        problems.push(format!(
            "no openssl (apt-get install -y {}): the native TLS interop test fails without it",
            OPENSSL_PACKAGES.join(" ")
        ));
    }
    if det.cross(WINDOWS_TARGET) == CrossChain::Unavailable {
        problems.push(format!(
            "no std for {WINDOWS_TARGET} (rustup target add {WINDOWS_TARGET}, or \
             Debian's tool chain above): the Windows tests cannot be built"
        ));
    }

    if build_host && !process::build_host() {
        problems.push("building twinloop-host failed".into());
    }
    (det, problems)
}

/// Installs `packages` (`what` they are, for the messages) with apt as root; otherwise
/// prints the command to run as root.
fn install_packages(what: &str, packages: &[&str], problems: &mut Vec<String>) {
    let apt_line = format!(
        "apt-get update && apt-get install -y {}",
        packages.join(" ")
    );
    if !process::is_root() {
        println!("setup: not root, so not installing {what}; as root:");
        println!("    {apt_line}");
        return;
    }
    println!("setup: installing {what}: {apt_line}");
    if !apt_install(packages) {
        problems.push(format!("`{apt_line}` failed"));
    }
}

/// `apt-get update && apt-get install -y PACKAGES`, non-interactive.
pub fn apt_install(packages: &[&str]) -> bool {
    let mut update = Command::new("apt-get");
    update
        .arg("update")
        .env("DEBIAN_FRONTEND", "noninteractive");
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive");
    process::run_ok(&mut update) && process::run_ok(&mut install)
}

fn install_debian(det: &Detected, problems: &mut Vec<String>) {
    let apt_line = format!(
        "apt-get update && apt-get install -y {}",
        APT_PACKAGES.join(" ")
    );
    let link_line = format!("rustup toolchain link {DEB_TOOLCHAIN} /usr");
    let clippy_missing = det.debweb_linked && !det.deb_clippy;
    let need_apt = !det.deb_missing.is_empty() || !Path::new(DEB_RUSTC).exists() || clippy_missing;
    if (need_apt || !det.debweb_linked) && !process::is_root() {
        println!("setup: not root, so not installing anything. Either");
        println!("    rustup target add {GUEST_TARGET}");
        println!("or, as root:");
        if need_apt {
            println!("    {apt_line}");
        }
        if !det.debweb_linked {
            println!("    {link_line}");
        }
        problems.push(format!(
            "no usable {GUEST_TARGET} tool chain with clippy (run the commands above)"
        ));
        return;
    }
    if need_apt {
        println!("setup: installing Debian's wasm tool chain: {apt_line}");
        if !apt_install(&APT_PACKAGES) {
            problems.push(format!("`{apt_line}` failed"));
            return;
        }
    }
    if !det.debweb_linked {
        let mut link = Command::new("rustup");
        link.args(["toolchain", "link", DEB_TOOLCHAIN, "/usr"]);
        println!("setup: $ {}", process::describe(&link));
        if !process::run_ok(&mut link) {
            problems.push(format!("`{link_line}` failed"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debian_machine() -> Detected {
        Detected {
            rustup: true,
            rustfmt: true,
            clippy: true,
            rustup_targets: vec!["x86_64-unknown-linux-gnu".into()],
            debweb_linked: true,
            deb_missing: Vec::new(),
            deb_rust_src: true,
            deb_clippy: true,
            wasm_cc: true,
            wine: WineTools {
                wine64: true,
                mingw: true,
            },
            openssl: true,
        }
    }

    fn args(cmd: &Command) -> Vec<String> {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn rustup_target_is_preferred_and_debian_is_the_fallback() {
        let mut det = debian_machine();
        assert_eq!(det.guest(), Some(GuestChain::Debian));
        assert!(det.complete());
        assert_eq!(det.cross(CROSS_TARGETS[0]), CrossChain::Debian);

        det.rustup_targets.push(GUEST_TARGET.into());
        det.rustup_targets.push(CROSS_TARGETS[1].into());
        assert_eq!(det.guest(), Some(GuestChain::Rustup));
        assert_eq!(det.cross(CROSS_TARGETS[0]), CrossChain::Debian);
        assert_eq!(det.cross(CROSS_TARGETS[1]), CrossChain::Rustup);
    }

    #[test]
    fn half_installed_debian_is_no_tool_chain() {
        let mut det = debian_machine();
        det.deb_missing.push(DEB_LIBC);
        assert_eq!(det.guest(), None);
        assert!(!det.complete());
        let mut det = debian_machine();
        det.debweb_linked = false;
        assert_eq!(det.guest(), None);
        assert_eq!(det.cross(CROSS_TARGETS[0]), CrossChain::Unavailable);
        assert!(cross_check_command(CrossChain::Unavailable, CROSS_TARGETS[0]).is_none());
        let mut det = debian_machine();
        det.deb_clippy = false;
        assert!(det.guest().is_some() && !det.complete());
        let mut det = debian_machine();
        det.wasm_cc = false;
        assert!(det.guest().is_some() && !det.complete(), "no C for ring");
        let mut det = debian_machine();
        det.openssl = false;
        assert!(!det.complete(), "no peer for the TLS interop test");
    }

    #[test]
    fn cross_checks_deny_warnings_in_twinloop_only() {
        let cmd = cross_check_command(CrossChain::Debian, "x86_64-apple-darwin").unwrap();
        let a = args(&cmd);
        assert_eq!(a[..3], ["+debweb", "rustc", "-Zbuild-std=std,panic_abort"]);
        assert!(a
            .windows(2)
            .any(|w| w == ["--target", "x86_64-apple-darwin"]));
        assert_eq!(a[a.len() - 3..], ["--", "-D", "warnings"]);
        assert!(cmd.get_envs().any(|(k, v)| k == "RUSTFLAGS" && v.is_none()));
        if cfg!(unix) {
            let stub = cmd
                .get_envs()
                .find(|(k, _)| *k == "CC_x86_64_apple_darwin")
                .and_then(|(_, v)| v)
                .expect("a stand-in C compiler for ring's build script");
            assert!(stub.to_string_lossy().ends_with("c-stub.sh"));
            assert!(C_STUB.starts_with("#!/bin/sh\n# twinloop's cross type-check"));
            assert!(C_STUB.ends_with("-out:*) : > \"${a#-out:}\" ;; esac; done\n"));
        }
    }
}
