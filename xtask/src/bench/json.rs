//! The benchmark's figures as JSON (`target/bench/latest.json`), written with serde_json:
//! the machine, the echo matrix (with the exact counts where they were taken) and the
//! loop cases.

use std::path::PathBuf;

use serde_json::{json, Map, Value};

use super::counts::Count;
use super::echo::EchoRecord;
use super::loops::MicroRecord;
use crate::process::workspace_root;

/// Where the report goes.
pub(super) fn path() -> PathBuf {
    workspace_root()
        .join("target")
        .join("bench")
        .join("latest.json")
}

/// The whole report.
pub(super) fn report(
    plan: &str,
    echo: &[EchoRecord],
    counts: &[Count],
    micro: &[MicroRecord],
    notes: &[String],
) -> Value {
    let mut rows: Vec<Value> = echo.iter().map(echo_row).collect();
    // Counts join the throughput row of the same server, size and connections; the rest
    // (one connection, say) stand as rows of their own.
    for count in counts {
        let row = rows.iter_mut().find(|r| {
            r["server"] == count.server && r["size"] == 1024 && r["conns"] == count.conns
        });
        match row {
            Some(Value::Object(row)) => add_counts(row, count),
            _ => {
                let mut row = Map::new();
                row.insert("server".into(), count.server.into());
                row.insert("size".into(), 1024.into());
                row.insert("conns".into(), count.conns.into());
                add_counts(&mut row, count);
                rows.push(Value::Object(row));
            }
        }
    }
    json!({
        "machine": machine(),
        "date": date(),
        "plan": plan,
        "echo": rows,
        "micro": micro.iter().map(micro_row).collect::<Vec<_>>(),
        "notes": notes,
    })
}

fn echo_row(r: &EchoRecord) -> Value {
    json!({
        "server": r.server,
        "size": r.size,
        "conns": r.conns,
        "msgs_per_s": finite(r.msgs_per_s),
        "mb_per_s": finite(r.mb_per_s),
        "cpu_us_per_msg": finite(r.cpu_us_per_msg),
        "p50_us": finite(r.p50_us),
        "p99_us": finite(r.p99_us),
        "vs_tokio": r.vs_tokio.and_then(finite),
        "vs_mio": r.vs_mio.and_then(finite),
        "vs_wstd": r.vs_wstd.and_then(finite),
        "events_per_turn": r.events_per_turn.and_then(finite),
    })
}

fn add_counts(row: &mut Map<String, Value>, count: &Count) {
    if let Some(v) = count.instr_per_msg.and_then(finite) {
        row.insert("instr_per_msg".into(), v);
    }
    if let Some(v) = count.syscalls_per_msg.and_then(finite) {
        row.insert("syscalls_per_msg".into(), v);
    }
}

fn micro_row(m: &MicroRecord) -> Value {
    json!({
        "name": m.name,
        "value": m.value.and_then(finite),
        "unit": m.unit,
        "peer": m.peer,
        "peer_value": m.peer_value.and_then(finite),
        "vs_peer": m.vs_peer.and_then(finite),
    })
}

/// JSON has no NaN: unknown figures are `null`.
fn finite(v: f64) -> Option<Value> {
    v.is_finite().then(|| json!((v * 1000.0).round() / 1000.0))
}

/// "N cores, CPU model, kernel": what the figures were taken on.
pub(super) fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| format!(", Linux {}", s.trim()))
        .unwrap_or_default();
    format!("{cores} cores, {model}{kernel}")
}

/// Today in UTC (`date -u +%F`), or nothing where `date` is missing.
fn date() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%F"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_join_their_row_or_stand_alone() {
        let echo = [EchoRecord {
            server: "mio",
            size: 1024,
            conns: 100,
            msgs_per_s: 1000.0,
            mb_per_s: 1.0,
            cpu_us_per_msg: f64::NAN,
            p50_us: 41.0,
            p99_us: f64::NAN,
            vs_tokio: Some(1.5),
            vs_mio: Some(1.0),
            vs_wstd: None,
            events_per_turn: None,
        }];
        let counts = [
            Count {
                server: "mio",
                conns: 100,
                instr_per_msg: Some(150.0),
                syscalls_per_msg: Some(2.02),
            },
            Count {
                server: "mio",
                conns: 1,
                instr_per_msg: Some(400.0),
                syscalls_per_msg: None,
            },
        ];
        let v = report("quick", &echo, &counts, &[], &[]);
        let rows = v["echo"].as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["instr_per_msg"], 150.0);
        assert_eq!(rows[0]["syscalls_per_msg"], 2.02);
        assert_eq!(rows[0]["cpu_us_per_msg"], Value::Null);
        assert_eq!(rows[0]["p50_us"], 41.0);
        assert_eq!(rows[0]["p99_us"], Value::Null);
        assert_eq!(rows[0]["vs_wstd"], Value::Null);
        assert_eq!(rows[1]["conns"], 1);
        assert_eq!(rows[1]["instr_per_msg"], 400.0);
        assert!(rows[1].get("syscalls_per_msg").is_none());
        assert!(v["machine"].as_str().unwrap().contains("cores"));
    }
}
