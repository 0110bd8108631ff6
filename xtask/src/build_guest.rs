//! `cargo xtask build-guest [--release] [--panic-abort] [--component] [--example NAME | -p
//! PKG]...`: builds for wasm32-wasip1 with the detected tool chain and prints the `.wasm`
//! files; with `--component`, also the `wasi:cli/command` component of each (written by
//! `twinloop-host component`), which any WASI 0.2 host runs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::guest_cargo::GuestPanic;
use crate::process::{self, host_binary};
use crate::toolchain::{self, Detected};

pub const USAGE: &str = "cargo xtask build-guest [--release] [--panic-abort] [--component] \
[--example NAME | -p PKG]...  (default: -p twinloop --examples)";

pub fn run(args: &[String]) -> bool {
    let mut release = false;
    let mut panic = None;
    let mut component = false;
    let mut selection: Vec<String> = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--release" => release = true,
            "--panic-abort" => panic = Some(GuestPanic::Abort),
            "--component" => component = true,
            "--example" | "-p" | "--package" => match iter.next() {
                Some(value) => {
                    selection.push(arg.clone());
                    selection.push(value.clone());
                }
                None => {
                    println!("build-guest: {arg} needs a value\nusage: {USAGE}");
                    return false;
                }
            },
            _ => {
                println!("build-guest: unknown argument {arg:?}\nusage: {USAGE}");
                return false;
            }
        }
    }
    if selection.is_empty() {
        selection = ["-p", "twinloop", "--examples"].map(String::from).to_vec();
    }

    let mut det = Detected::detect();
    if det.guest().is_none() {
        println!("build-guest: no wasm32-wasip1 tool chain yet; running setup first");
        det = toolchain::setup(false).0;
    }
    let Some(chain) = det.guest() else {
        println!("build-guest: FAILED: no wasm32-wasip1 tool chain (see `cargo xtask setup`)");
        return false;
    };
    let panic = chain.effective_panic(panic.unwrap_or(chain.default_panic()));
    let mut cmd = chain.cargo_with("build", panic);
    if release {
        cmd.arg("--release");
    }
    cmd.args(&selection)
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped());
    process::header(
        &format!(
            "build for wasm32-wasip1 with {} ({})",
            chain.describe(),
            panic.name()
        ),
        &cmd,
    );
    process::flush();
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            println!("build-guest: could not start cargo: {e}");
            return false;
        }
    };
    let mut json = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut json);
    }
    let ok = child.wait().map(|s| s.success()).unwrap_or(false);
    let wasm = executables(&json);
    for path in &wasm {
        println!("{path}");
    }
    if !ok {
        println!("build-guest: FAILED");
        return false;
    }
    if wasm.is_empty() {
        println!("build-guest: built, but no .wasm executable (a library only?)");
    }
    if !component || wasm.is_empty() {
        return true;
    }
    if !process::build_host() {
        println!("build-guest: FAILED: twinloop-host (which writes the components) did not build");
        return false;
    }
    let mut all_ok = true;
    for path in &wasm {
        match write_component(Path::new(path)) {
            Ok(out) => println!("{}", out.display()),
            Err(e) => {
                println!("build-guest: FAILED: {e}");
                all_ok = false;
            }
        }
    }
    all_ok
}

/// `NAME.component.wasm` beside `NAME.wasm`.
pub fn component_path(module: &Path) -> PathBuf {
    module.with_extension("component.wasm")
}

/// Writes the component of `module` with `twinloop-host component`; returns its path.
pub fn write_component(module: &Path) -> Result<PathBuf, String> {
    let out = component_path(module);
    let mut cmd = Command::new(host_binary());
    cmd.arg("component").arg(module).arg("-o").arg(&out);
    match process::run(&mut cmd) {
        Ok(status) if status.success() => Ok(out),
        Ok(status) => Err(format!("`{}` failed ({status})", process::describe(&cmd))),
        Err(e) => Err(e),
    }
}

/// The `executable` paths of cargo's `compiler-artifact` JSON messages.
fn executables(json_lines: &str) -> Vec<String> {
    json_lines
        .lines()
        .filter(|l| l.contains("\"reason\":\"compiler-artifact\""))
        .filter_map(|l| json_string_field(l, "executable"))
        .collect()
}

/// The string value of `"field":` in one line of JSON (null or absent: `None`).
/// Enough JSON for cargo's messages, where the key is not nested inside a string.
fn json_string_field(line: &str, field: &str) -> Option<String> {
    let key = format!("\"{field}\":");
    let start = line.find(&key)? + key.len();
    let mut chars = line[start..].trim_start().strip_prefix('"')?.chars();
    let mut out = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_sit_beside_their_modules() {
        assert_eq!(
            component_path(Path::new("/t/examples/echo_server.wasm")),
            Path::new("/t/examples/echo_server.component.wasm")
        );
    }

    #[test]
    fn finds_executables_in_cargo_json() {
        let json = r#"{"reason":"compiler-artifact","package_id":"path+file:///w#twinloop@0.1.0","target":{"kind":["lib"]},"filenames":["/w/a.rlib"],"executable":null,"fresh":true}
{"reason":"compiler-artifact","target":{"kind":["example"],"name":"hello_world"},"executable":"/w/target/wasm/wasm32-wasip1/debug/examples/hello_world.wasm","fresh":false}
{"reason":"compiler-artifact","executable": "C:\\t\\x \"q\".wasm"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            executables(json),
            [
                "/w/target/wasm/wasm32-wasip1/debug/examples/hello_world.wasm",
                "C:\\t\\x \"q\".wasm"
            ]
        );
        assert_eq!(
            json_string_field(r#"{"a":"\u00e9"}"#, "a").as_deref(),
            Some("é")
        );
        assert_eq!(json_string_field(r#"{"a":"unterminated"#, "a"), None);
    }
}
