//! Keeping `proc_exit`'s status code.
//!
//! The preview-1 command adapter of wasmtime 48 implements
//! `proc_exit(code)` with `wasi:cli/exit.exit(result)`, which can only say
//! "success" or "failure": every non-zero code would reach the host as 1.
//! `wasi:cli/exit.exit-with-code(u8)` carries the code, and its core
//! signature, `(i32) -> ()`, is the same as `proc_exit`'s. So before
//! componentizing, the module's `wasi_snapshot_preview1.proc_exit` import is
//! renamed to `wasi:cli/exit@0.2.12.exit-with-code`, and a `component-type`
//! section declaring that import is appended. Only the import section is
//! rewritten; every other section (code, names, DWARF) is copied byte for
//! byte, so backtraces and debug info are unaffected. Codes above 255 wrap
//! modulo 256, as they do for a native process.

use anyhow::{Context, Result};
use wasm_encoder::{ImportSection, Module, RawSection};
use wasmparser::{Parser, Payload, TypeRef};
use wit_component::StringEncoding;
use wit_parser::Resolve;

const PREVIEW1: &str = "wasi_snapshot_preview1";
const EXIT_INTERFACE: &str = "wasi:cli/exit@0.2.12";

/// The world the rewritten import belongs to; `wasi:cli/exit` as wasmtime 48
/// (and its adapter) define it.
const EXIT_WIT: &str = r#"
package twinloop:host;

world proc-exit {
  import wasi:cli/exit@0.2.12;
}

package wasi:cli@0.2.12 {
  @since(version = 0.2.0)
  interface exit {
    @since(version = 0.2.0)
    exit: func(status: result);
    @since(version = 0.2.12)
    exit-with-code: func(status-code: u8);
  }
}
"#;

/// Returns `module` with `proc_exit` routed to `exit-with-code`, or `None`
/// if the module does not import `proc_exit` (or imports it with an
/// unexpected type, which the adapter will then report).
pub(crate) fn route_proc_exit(module: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut out = Module::new();
    let mut routed = false;
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload.context("parsing the core module")?;
        match payload {
            Payload::Version { .. } | Payload::End(_) => {}
            Payload::ImportSection(reader) => {
                let mut imports = ImportSection::new();
                for import in reader.into_imports() {
                    let import = import.context("parsing the import section")?;
                    let ty = match import.ty {
                        TypeRef::Func(i) => wasm_encoder::EntityType::Function(i),
                        // Only functions are rewritten; keep anything else
                        // as it is by copying the whole section.
                        _ => return Ok(None),
                    };
                    if import.module == PREVIEW1 && import.name == "proc_exit" {
                        routed = true;
                        imports.import(EXIT_INTERFACE, "exit-with-code", ty);
                    } else {
                        imports.import(import.module, import.name, ty);
                    }
                }
                out.section(&imports);
            }
            other => {
                if let Some((id, range)) = other.as_section() {
                    out.section(&RawSection {
                        id,
                        data: &module[range],
                    });
                }
            }
        }
    }
    if !routed {
        return Ok(None);
    }
    let mut bytes = out.finish();
    let mut resolve = Resolve::default();
    let pkg = resolve
        .push_str("twinloop-proc-exit.wit", EXIT_WIT)
        .context("parsing the proc-exit WIT")?;
    let world = resolve
        .select_world(&[pkg], Some("proc-exit"))
        .context("selecting the proc-exit world")?;
    wit_component::embed_component_metadata(&mut bytes, &resolve, world, StringEncoding::UTF8)
        .context("embedding the proc-exit world")?;
    Ok(Some(bytes))
}
