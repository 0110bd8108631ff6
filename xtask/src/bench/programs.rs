//! Building what `cargo xtask bench` measures, and where the builds put it.

use std::path::PathBuf;

use crate::demo::guest_example;
use crate::process::{self, cargo, native_target_dir, workspace_root};
use crate::toolchain::{Detected, GUEST_TARGET};

/// Builds the native benchmark programs (`bench_loop`, `echo_peer`, the native
/// `echo_server` example) in release.
pub(super) fn build_native() -> bool {
    let mut cmd = cargo();
    cmd.args([
        "build",
        "--release",
        "-p",
        "bench",
        "-p",
        "twinloop",
        "--bins",
        "--example",
        "echo_server",
    ]);
    process::header("build the benchmark programs (release)", &cmd);
    process::run_ok(&mut cmd)
}

/// Builds the guest echo server and the host; the error says why the guest is out.
pub(super) fn build_guest() -> Result<PathBuf, String> {
    let Some(chain) = Detected::detect().guest() else {
        return Err(format!(
            "no {GUEST_TARGET} tool chain; `cargo xtask setup` installs one"
        ));
    };
    let mut cmd = chain.cargo("build");
    cmd.args(["--release", "-p", "twinloop", "--example", "echo_server"]);
    process::header(
        &format!("build the guest echo server with {}", chain.describe()),
        &cmd,
    );
    if !process::run_ok(&mut cmd) {
        return Err("the guest echo_server did not build".into());
    }
    if !process::build_host() {
        return Err("twinloop-host did not build".into());
    }
    Ok(guest_example("echo_server", true))
}

/// Builds the `wstd-guest` echo server (`bench/wstd-echo`, outside the workspace) with
/// the same guest tool chain and flags as twinloop's guest; the error says why it is out.
/// Needs the host that `build_guest` built.
pub(super) fn build_wstd_guest() -> Result<PathBuf, String> {
    let Some(chain) = Detected::detect().guest() else {
        return Err(format!("no {GUEST_TARGET} tool chain"));
    };
    let manifest = workspace_root()
        .join("bench")
        .join("wstd-echo")
        .join("Cargo.toml");
    let mut cmd = chain.cargo("build");
    cmd.args(["--release", "--manifest-path"]).arg(&manifest);
    process::header(
        &format!(
            "build the wstd echo server (guest) with {}",
            chain.describe()
        ),
        &cmd,
    );
    if !process::run_ok(&mut cmd) {
        return Err("bench/wstd-echo did not build for the guest (see its output above)".into());
    }
    Ok(chain
        .target_dir(chain.default_panic())
        .join(GUEST_TARGET)
        .join("release")
        .join("wstd-echo.wasm"))
}

/// A binary of the `bench` package, as `build_native` leaves it.
pub(super) fn bench_bin(name: &str) -> PathBuf {
    native_target_dir()
        .join("release")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// The native `echo_server` example, as `build_native` leaves it.
pub(super) fn native_echo_server() -> PathBuf {
    native_target_dir()
        .join("release")
        .join("examples")
        .join(format!("echo_server{}", std::env::consts::EXE_SUFFIX))
}
