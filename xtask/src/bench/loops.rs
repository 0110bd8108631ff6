//! The loop cases: `bench_loop` (callbacks chained and batched, tasks, timers) for each
//! runtime, one fresh process per case and runtime.

use std::process::Command;

use super::measure::{measure, Fields};
use super::programs::bench_bin;
use super::table::{Kind, Row};
use super::Plan;

/// One loop case for the JSON report: twinloop's figure, tokio's, and the ratio (> 1:
/// twinloop is faster).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct MicroRecord {
    pub(super) name: String,
    pub(super) value: Option<f64>,
    pub(super) unit: &'static str,
    pub(super) peer: &'static str,
    pub(super) peer_value: Option<f64>,
    pub(super) vs_peer: Option<f64>,
}

/// Runs each loop case for both runtimes and adds its rows.
pub(super) fn loop_cases(
    plan: &Plan,
    table: &mut Vec<Row>,
    micro: &mut Vec<MicroRecord>,
    failures: &mut Vec<String>,
) {
    let cases = [
        ("callbacks_chain", plan.callbacks),
        ("callbacks_batch", plan.callbacks),
        ("tasks", plan.callbacks),
        ("timers", plan.timers),
    ];
    for (case, n) in cases {
        let mut measured = [None, None];
        for (slot, rt) in measured.iter_mut().zip(["twinloop", "tokio"]) {
            let mut cmd = Command::new(bench_bin("bench_loop"));
            cmd.args([case, "--rt", rt, "--n"])
                .arg(n.to_string())
                .arg("--repeat")
                .arg(plan.loop_repeat.to_string());
            match measure(&mut cmd) {
                Ok(result) => *slot = Some(result),
                Err(e) => failures.push(format!("{case} ({rt}): {e}")),
            }
        }
        let [tw, tk] = measured;
        let field = |r: &Option<Fields>, key: &str| r.as_ref().and_then(|r| r.number(key));
        let cpu = field(&tw, "cpu_secs").zip(field(&tk, "cpu_secs"));
        let rate = |r: &Option<Fields>| field(r, "secs").map(|s| n as f64 / s);
        let label = count_label(n);
        if case == "timers" {
            // (row, result field, cpu): the whole run, then its two phases.
            let rows = [
                (format!("timers {label}, half cancelled: wall"), "secs", cpu),
                (
                    "timers: schedule all + cancel half".into(),
                    "setup_secs",
                    None,
                ),
                (
                    "timers: wall past the last deadline".into(),
                    "late_secs",
                    None,
                ),
            ];
            let (a, b) = (field(&tw, "secs"), field(&tk, "secs"));
            micro.push(MicroRecord {
                name: format!("timers {label}, half cancelled"),
                value: a,
                unit: "s",
                peer: "tokio",
                peer_value: b,
                vs_peer: a.zip(b).map(|(a, b)| b / a),
            });
            for (row, key, cpu) in rows {
                table.push(Row {
                    case: row,
                    kind: Kind::Time,
                    twinloop: field(&tw, key),
                    tokio: field(&tk, key),
                    cpu,
                    latency: [None, None],
                });
            }
        } else {
            // "callbacks chain", "callbacks batch", "tasks" (spawned and completed).
            let (name, unit) = match case.strip_prefix("callbacks_") {
                Some(variant) => (format!("callbacks {variant}"), "callbacks/s"),
                None => ("tasks spawned + completed".to_owned(), "tasks/s"),
            };
            let (a, b) = (rate(&tw), rate(&tk));
            micro.push(MicroRecord {
                name: name.clone(),
                value: a,
                unit,
                peer: "tokio",
                peer_value: b,
                vs_peer: a.zip(b).map(|(a, b)| a / b),
            });
            table.push(Row {
                case: format!("{name} ({label})"),
                kind: Kind::Rate {
                    scale: 1e6,
                    unit: "M/s",
                },
                twinloop: rate(&tw),
                tokio: rate(&tk),
                cpu,
                latency: [None, None],
            });
        }
    }
}

/// `1000000` -> `1M`, `100000` -> `100k`; other counts as they are.
pub(super) fn count_label(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}
