//! `Host` (a configured wasmtime engine) and `Guest` (a compiled, linked
//! command component ready to be instantiated any number of times).

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};
use wasmtime_wasi::p2::bindings::CommandPre;

use crate::exit_code::route_proc_exit;
use crate::run::GuestState;
use crate::time_limit::EpochTicker;
use crate::wasmtime_err;

/// A wasmtime engine set up to run twinloop guests: component model on, the
/// exception-handling proposal on (guests built with `panic=unwind`), wasm
/// backtraces on, and (unless made with [`Host::without_time_limits`]) epoch
/// interruption driven by a ticker thread so that
/// [`SandboxPolicy::time_limit`](crate::SandboxPolicy::time_limit) works.
///
/// One `Host` can load many guests; each [`Guest`] can be run many times,
/// concurrently from several threads, each run in a fresh instance.
pub struct Host {
    engine: Engine,
    ticker: Option<Arc<EpochTicker>>,
}

impl Host {
    /// A host whose guests can be given time limits.
    pub fn new() -> Result<Host> {
        Host::build(true)
    }

    /// A host without epoch interruption: no epoch checks in loops and
    /// function prologues, but a policy with a `time_limit` is refused, and
    /// guests' sockets are driven by wasmtime-wasi's runtime on threads of its
    /// own (a guest computing between host calls never yields, so it cannot
    /// be the one that drives them): each wake-up of the guest is then a
    /// switch between threads. The CLI uses [`Host::new`].
    pub fn without_time_limits() -> Result<Host> {
        Host::build(false)
    }

    fn build(time_limits: bool) -> Result<Host> {
        let mut config = Config::new();
        // wasmtime is built without its `threads` feature, so no guest can have a
        // shared memory (which the resource limiter is not asked about).
        // Wasm backtraces are on by default (`wasm_backtrace_max_frames`). Exceptions
        // (on by default with wasmtime's `gc` feature, named here because guests built
        // with panic=unwind need them) let a guest's panic unwind to its catch_unwind.
        config
            .wasm_component_model(true)
            .wasm_exceptions(true)
            .epoch_interruption(time_limits);
        let engine = Engine::new(&config)
            .map_err(wasmtime_err)
            .context("configuring wasmtime")?;
        let ticker = if time_limits {
            Some(EpochTicker::start(&engine)?)
        } else {
            None
        };
        Ok(Host { engine, ticker })
    }

    /// The wasmtime engine guests are compiled for.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Whether guests of this host can be given a time limit.
    pub fn supports_time_limits(&self) -> bool {
        self.ticker.is_some()
    }

    /// Compiles and links a guest from wasm bytes: either a core
    /// `wasm32-wasip1` command module (turned into a component with the
    /// preview-1 command adapter first, see [`componentize`]) or a
    /// `wasi:cli/command` component. Its `argv[0]` is `guest.wasm` until
    /// changed with [`Guest::with_name`]. WebAssembly text (`.wat`) is accepted too.
    pub fn load(&self, bytes: &[u8]) -> Result<Guest> {
        let bytes = command_component(bytes)?;
        let component = Component::new(&self.engine, &bytes)
            .map_err(wasmtime_err)
            .context("compiling the component")?;
        let mut linker = Linker::<GuestState>::new(&self.engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .and_then(|()| crate::sockets::count_sockets(&mut linker))
            .and_then(|()| crate::error_text::describe_errors_plainly(&mut linker))
            .map_err(wasmtime_err)
            .context("adding WASI to the linker")?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(CommandPre::new)
            .map_err(wasmtime_err)
            .context("linking the guest against WASI 0.2 (is it a wasi:cli/command?)")?;
        Ok(Guest {
            name: "guest.wasm".to_owned(),
            pre,
            engine: self.engine.clone(),
            ticker: self.ticker.clone(),
        })
    }

    /// Reads and loads a guest from a file (see [`Host::load`]); its
    /// `argv[0]` is the file's name.
    pub fn load_file(&self, path: impl AsRef<Path>) -> Result<Guest> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let guest = self
            .load(&bytes)
            .with_context(|| format!("loading {}", path.display()))?;
        Ok(guest.with_name(name))
    }
}

/// A compiled guest, linked against WASI 0.2 and ready to be instantiated.
/// Cheap to share between threads: every run gets its own store and instance.
pub struct Guest {
    name: String,
    pub(crate) pre: CommandPre<GuestState>,
    pub(crate) engine: Engine,
    pub(crate) ticker: Option<Arc<EpochTicker>>,
}

impl Guest {
    /// The name the guest sees as `argv[0]`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets the name the guest sees as `argv[0]`.
    pub fn with_name(mut self, name: impl Into<String>) -> Guest {
        self.name = name.into();
        self
    }
}

/// The `wasi:cli/command` component that [`Host::load`] would run for `bytes`: a
/// component as it is, a core `wasm32-wasip1` module wrapped by [`componentize`], and
/// WebAssembly text compiled first. What `twinloop-host component` writes; any WASI 0.2
/// host (the `wasmtime` CLI, for one) can run it.
pub fn command_component(bytes: &[u8]) -> Result<Cow<'_, [u8]>> {
    // WebAssembly text (it starts with `(` or a `;;` comment) becomes binary; anything
    // else goes on as it is, to be checked as a binary.
    let looks_like_text = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'(' || b == b';');
    let binary = if looks_like_text {
        wat::parse_bytes(bytes).context("parsing the WebAssembly text")?
    } else {
        Cow::Borrowed(bytes)
    };
    if is_component(&binary)? {
        Ok(binary)
    } else {
        Ok(Cow::Owned(componentize(&binary)?))
    }
}

/// Whether `bytes` is a component (as opposed to a core module), judged by the
/// binary header. Fails if `bytes` is not a WebAssembly binary at all.
pub fn is_component(bytes: &[u8]) -> Result<bool> {
    const MAGIC: &[u8] = b"\0asm";
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        if bytes.starts_with(b"(") || bytes.starts_with(b";;") {
            bail!("this is WebAssembly text; compile it to a binary first");
        }
        bail!("not a WebAssembly binary (no \\0asm header)");
    }
    // Bytes 4..8: version (u16) and layer (u16); layer 1 is a component.
    Ok(bytes[6..8] == [1, 0])
}

/// Turns a core `wasm32-wasip1` command module into a `wasi:cli/command`
/// component by wrapping it with wasmtime's preview-1 command adapter.
///
/// `proc_exit(code)` keeps its code (the adapter alone would turn every
/// non-zero code into 1); see `exit_code.rs`.
pub fn componentize(module: &[u8]) -> Result<Vec<u8>> {
    check_command_exports(module)?;
    let routed = route_proc_exit(module)?;
    let module = routed.as_deref().unwrap_or(module);
    wit_component::ComponentEncoder::default()
        .module(module)
        .context("reading the core module")?
        .adapter(
            "wasi_snapshot_preview1",
            WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
        )
        .context("adding the wasi_snapshot_preview1 command adapter")?
        .validate(true)
        .encode()
        .context("encoding the module as a component (is it a wasm32-wasip1 command?)")
}

/// Says in plain words what a core module lacks to be a `wasm32-wasip1` command (the
/// adapter's own messages, such as "main module cannot import memory", name the
/// symptom, not the cause).
fn check_command_exports(module: &[u8]) -> Result<()> {
    use wasmparser::{ExternalKind, Parser, Payload};
    let (mut memory, mut start) = (false, false);
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload.context("parsing the core module")?;
        if let Payload::ExportSection(exports) = payload {
            for export in exports {
                let export = export.context("parsing the export section")?;
                match (export.name, export.kind) {
                    ("memory", ExternalKind::Memory) => memory = true,
                    ("_start", ExternalKind::Func) => start = true,
                    _ => {}
                }
            }
        }
    }
    if !memory {
        bail!(
            "the module exports no memory named `memory`; a wasm32-wasip1 command \
             exports its linear memory under that name"
        );
    }
    if !start {
        bail!(
            "the module exports no `_start` function; a wasm32-wasip1 command starts \
             there (is this a library or a reactor module?)"
        );
    }
    Ok(())
}
