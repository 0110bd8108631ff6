//! The limits a guest runs under, and how hitting one ends it.
//!
//! Every limit of a [`SandboxPolicy`](crate::SandboxPolicy) that a guest can hit
//! ends that guest (never the host) with a [`LimitExceeded`] error, which the
//! runner reports as [`GuestStatus::LimitExceeded`](crate::GuestStatus) and the
//! command line as a one-line reason and an exit code of its own
//! ([`Limit::exit_code`]).
//!
//! Memory is counted per guest, not per memory: the store's
//! `ResourceLimiter` adds up every linear memory (32- and 64-bit) and every
//! table ([`TABLE_ELEMENT_BYTES`] per element) the guest's instances create or
//! grow. Besides the bytes, every guest has fixed ceilings on how many
//! instances, memories and tables it may create ([`MAX_INSTANCES`],
//! [`MAX_MEMORIES`], [`MAX_TABLES`]), so that no guest can reserve address space
//! without bound even without `--max-memory`.

use std::fmt;

use wasmtime::ResourceLimiter;

/// What a table element is counted as toward `--max-memory`: wasmtime keeps
/// one pointer per element.
pub const TABLE_ELEMENT_BYTES: usize = std::mem::size_of::<usize>();

/// The most core instances a guest may create. A `wasm32-wasip1` module run
/// through the preview-1 adapter needs a handful.
pub const MAX_INSTANCES: usize = 100;

/// The most linear memories a guest may create (a `wasm32-wasip1` module and
/// its adapter have one each).
pub const MAX_MEMORIES: usize = 100;

/// The most tables a guest may create.
pub const MAX_TABLES: usize = 100;

/// A limit of the sandbox policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
    /// `--time-limit`: wall-clock time.
    Time,
    /// `--max-memory`: linear memories and tables together, or one of the
    /// fixed instance, memory and table counts.
    Memory,
    /// `--max-output`: bytes written to stdout and stderr together.
    Output,
    /// `--max-sockets`: sockets open at once.
    Sockets,
}

impl Limit {
    /// The exit code `twinloop-host run` ends with when a guest hits this
    /// limit: 124 for time (as `timeout(1)`), 123 for memory, 122 for output,
    /// 121 for sockets. A trap is 134 and errors of the host itself are 2.
    pub fn exit_code(self) -> i32 {
        match self {
            Limit::Time => 124,
            Limit::Memory => 123,
            Limit::Output => 122,
            Limit::Sockets => 121,
        }
    }

    /// The command-line option that sets this limit.
    pub fn option(self) -> &'static str {
        match self {
            Limit::Time => "--time-limit",
            Limit::Memory => "--max-memory",
            Limit::Output => "--max-output",
            Limit::Sockets => "--max-sockets",
        }
    }
}

/// The error a guest is stopped with when it hits a limit; its message is one
/// line naming the limit, e.g. "memory limit exceeded: 64 MiB (--max-memory)
/// would become 72 MiB".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitExceeded {
    /// Which limit.
    pub limit: Limit,
    /// What happened, without the leading "X limit exceeded".
    pub detail: String,
}

impl LimitExceeded {
    pub(crate) fn new(limit: Limit, detail: impl Into<String>) -> LimitExceeded {
        LimitExceeded {
            limit,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.limit {
            Limit::Time => "time",
            Limit::Memory => "memory",
            Limit::Output => "output",
            Limit::Sockets => "socket",
        };
        write!(f, "{what} limit exceeded: {}", self.detail)
    }
}

impl std::error::Error for LimitExceeded {}

/// Formats a byte count the way limit messages print it (`64 MiB`, `1.5 KiB`,
/// `100 bytes`).
pub(crate) fn format_bytes(n: u64) -> String {
    const UNITS: [(&str, u32); 3] = [("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (unit, shift) in UNITS {
        if n >= 1 << shift {
            let whole = n >> shift;
            return if n.is_multiple_of(1 << shift) {
                format!("{whole} {unit}")
            } else {
                format!("{:.1} {unit}", n as f64 / (1u64 << shift) as f64)
            };
        }
    }
    format!("{n} bytes")
}

/// The store's resource limiter: the guest's memories and tables added up
/// against one byte budget, and the fixed count ceilings.
#[derive(Debug, Default)]
pub(crate) struct Footprint {
    max_bytes: Option<usize>,
    used: usize,
}

impl Footprint {
    pub(crate) fn new(max_bytes: Option<usize>) -> Footprint {
        Footprint { max_bytes, used: 0 }
    }

    /// Admits growing a memory or table from `current` to `desired` units of
    /// `unit_bytes` each, or says why not. Growth past the object's own `maximum` is
    /// refused without counting (it fails there anyway).
    fn grow(
        &mut self,
        (current, desired, maximum): (usize, usize, Option<usize>),
        unit_bytes: usize,
        what: &str,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|m| desired > m) {
            return Ok(false);
        }
        let more = desired.saturating_sub(current).saturating_mul(unit_bytes);
        let after = self.used.saturating_add(more);
        if let Some(max) = self.max_bytes {
            if after > max {
                return Err(wasmtime::Error::new(LimitExceeded::new(
                    Limit::Memory,
                    format!(
                        "{} (--max-memory) would become {} ({what})",
                        format_bytes(max as u64),
                        format_bytes(after as u64)
                    ),
                )));
            }
        }
        self.used = after;
        Ok(true)
    }
}

impl ResourceLimiter for Footprint {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow((current, desired, maximum), 1, "linear memory")
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow((current, desired, maximum), TABLE_ELEMENT_BYTES, "table")
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// The [`LimitExceeded`] an error a run ended with stands for, if any: one of
/// this crate's own, or wasmtime's refusal to create more instances, memories
/// or tables than [`Footprint`] allows (which wasmtime reports as text).
pub(crate) fn limit_of_error(e: &wasmtime::Error) -> Option<LimitExceeded> {
    if let Some(exceeded) = e.downcast_ref::<LimitExceeded>() {
        return Some(exceeded.clone());
    }
    let text = e.root_cause().to_string();
    let rest = text.strip_prefix("resource limit exceeded: ")?;
    Some(LimitExceeded::new(
        Limit::Memory,
        format!(
            "{rest} (at most {MAX_INSTANCES} instances, {MAX_MEMORIES} memories \
             and {MAX_TABLES} tables)"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_bytes() {
        assert_eq!(format_bytes(100), "100 bytes");
        assert_eq!(format_bytes(64 << 20), "64 MiB");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(3 << 30), "3 GiB");
    }

    #[test]
    fn footprint_adds_memories_and_tables() {
        let mut f = Footprint::new(Some(1 << 20));
        assert!(f.memory_growing(0, 512 << 10, None).unwrap());
        assert!(f.memory_growing(0, 256 << 10, None).unwrap());
        // 8 bytes per element: 32768 elements are the last 256 KiB.
        let e = f.table_growing(0, 32769, None).unwrap_err();
        let exceeded = e.downcast_ref::<LimitExceeded>().unwrap();
        assert_eq!(exceeded.limit, Limit::Memory);
        assert!(exceeded
            .to_string()
            .starts_with("memory limit exceeded: 1 MiB"));
        assert!(f.table_growing(0, 32768, None).unwrap());
        assert!(f.memory_growing(0, 64 << 10, None).is_err());
        // Past a memory's own maximum: refused, not counted.
        assert!(!f.memory_growing(0, 128 << 10, Some(64 << 10)).unwrap());
    }

    #[test]
    fn exit_codes_are_distinct() {
        let limits = [Limit::Time, Limit::Memory, Limit::Output, Limit::Sockets];
        let mut codes: Vec<i32> = limits.iter().map(|l| l.exit_code()).collect();
        codes.push(crate::TRAP_EXIT_CODE);
        codes.push(2);
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), limits.len() + 2);
    }
}
