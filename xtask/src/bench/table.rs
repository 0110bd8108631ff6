//! The results table: one row per case, twinloop's and tokio's figures, and the ratios.

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Kind {
    /// Higher is better; shown divided by `scale`, followed by `unit`.
    Rate { scale: f64, unit: &'static str },
    /// Seconds; lower is better; shown in ms.
    Time,
}

#[derive(Debug)]
pub(super) struct Row {
    pub(super) case: String,
    pub(super) kind: Kind,
    pub(super) twinloop: Option<f64>,
    pub(super) tokio: Option<f64>,
    /// CPU seconds for the same work: (twinloop, tokio).
    pub(super) cpu: Option<(f64, f64)>,
    /// Echo rows: (p50, p99) of a message's round trip in µs, [this side, tokio].
    pub(super) latency: [Option<(f64, f64)>; 2],
}

impl Kind {
    fn show(self, value: Option<f64>) -> String {
        match (self, value) {
            (_, None) => "failed".into(),
            (Kind::Rate { scale, unit }, Some(v)) => format!("{:.2} {unit}", v / scale),
            (Kind::Time, Some(v)) => format!("{:.1} ms", v * 1e3),
        }
    }

    /// twinloop's speed over tokio's: > 1 when twinloop is faster.
    fn ratio(self, twinloop: f64, tokio: f64) -> Option<f64> {
        let (num, den) = match self {
            Kind::Rate { .. } => (twinloop, tokio),
            Kind::Time => (tokio, twinloop),
        };
        (den > 0.0 && num.is_finite()).then(|| num / den)
    }
}

/// `p50/p99` in whole µs, or `-`.
fn show_latency(latency: Option<(f64, f64)>) -> String {
    latency.map_or("-".into(), |(p50, p99)| format!("{p50:.0}/{p99:.0}"))
}

const COLUMNS: usize = 7;

fn table_lines(rows: &[Row]) -> Vec<String> {
    let mut cells = vec![[
        "case".to_string(),
        "twinloop".into(),
        "tokio".into(),
        "ratio".into(),
        "cpu ratio".into(),
        "p50/p99 us".into(),
        "tokio p50/p99".into(),
    ]];
    for row in rows {
        let ratio = match (row.twinloop, row.tokio) {
            (Some(a), Some(b)) => row.kind.ratio(a, b),
            _ => None,
        };
        let cpu = row
            .cpu
            .and_then(|(tw, tk)| (tw > 0.0 && tk > 0.0).then(|| tk / tw));
        let show = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.2}"));
        cells.push([
            row.case.clone(),
            row.kind.show(row.twinloop),
            row.kind.show(row.tokio),
            show(ratio),
            show(cpu),
            show_latency(row.latency[0]),
            show_latency(row.latency[1]),
        ]);
    }
    let mut widths = [0; COLUMNS];
    for line in &cells {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    cells
        .iter()
        .map(|line| {
            let mut out = format!("{:<w$}", line[0], w = widths[0]);
            for (cell, w) in line.iter().zip(widths).skip(1) {
                out.push_str(&format!("  {cell:>w$}"));
            }
            out.trim_end().to_string()
        })
        .collect()
}

pub(super) fn print_table(rows: &[Row]) {
    println!(
        "ratio = twinloop speed / tokio speed (> 1: twinloop faster); \
         cpu ratio = tokio CPU time / twinloop CPU time for the same work (> 1: twinloop used less);"
    );
    println!(
        "p50/p99 us = a message's round trip (send to last echoed byte) as the client saw it, \
         median over the runs; the twinloop column holds each row's server (asyncio, mio, ...)"
    );
    for line in table_lines(rows) {
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_say_how_much_faster_twinloop_is() {
        let rate = Kind::Rate {
            scale: 1e6,
            unit: "M/s",
        };
        assert_eq!(rate.ratio(2e6, 1e6), Some(2.0));
        assert_eq!(Kind::Time.ratio(0.5, 1.0), Some(2.0));
        assert_eq!(Kind::Time.ratio(0.0, 1.0), None);
        assert_eq!(rate.show(Some(2.5e6)), "2.50 M/s");
        assert_eq!(Kind::Time.show(Some(0.1234)), "123.4 ms");
        assert_eq!(Kind::Time.show(None), "failed");
    }

    #[test]
    fn table_is_aligned() {
        let rows = [
            Row {
                case: "callbacks 1M chain".into(),
                kind: Kind::Rate {
                    scale: 1e6,
                    unit: "M/s",
                },
                twinloop: Some(3e6),
                tokio: Some(4e6),
                cpu: Some((1.0, 0.5)),
                latency: [None, None],
            },
            Row {
                case: "timers".into(),
                kind: Kind::Time,
                twinloop: Some(0.1),
                tokio: None,
                cpu: None,
                latency: [Some((41.4, 230.6)), None],
            },
        ];
        let lines = table_lines(&rows);
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("case "));
        assert!(
            lines[1].ends_with("3.00 M/s  4.00 M/s   0.75       0.50           -              -"),
            "{}",
            lines[1]
        );
        assert!(lines[2].contains("failed") && lines[2].ends_with("41/231              -"));
    }
}
