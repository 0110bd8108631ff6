//! Running one measuring process and reading what it reports: its `result` line and,
//! for a server measured from outside, the CPU time it used.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use crate::process::{self, workspace_root};

/// How long one measuring process may run.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// The `key=value` fields of a `result ...` line.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Fields(Vec<(String, String)>);

impl Fields {
    /// The last `result ` line of some output.
    fn from_output(out: &str) -> Option<Fields> {
        let line = out
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("result "))?;
        Some(Fields(
            line.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn number(&self, key: &str) -> Option<f64> {
        self.get(key)?.parse().ok().filter(|v: &f64| v.is_finite())
    }
}

/// Runs one measuring program (stderr shown) and parses its `result` line.
pub(super) fn measure(cmd: &mut Command) -> Result<Fields, String> {
    cmd.current_dir(workspace_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let shown = process::describe(cmd);
    println!("$ {shown}");
    process::flush();
    let mut child = cmd.spawn().map_err(|e| format!("could not start: {e}"))?;
    let mut stdout = child.stdout.take().expect("stdout was piped");
    let reader = thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let status = process::wait_with_timeout(&mut child, RUN_LIMIT)
        .map_err(|e| format!("waiting for it: {e}"))?;
    let out = reader.join().unwrap_or_default();
    print!("{}", indent(&out));
    match status {
        None => Err(format!("still running after {RUN_LIMIT:?}; killed")),
        Some(status) if !status.success() => Err(format!("exited with {status}")),
        Some(_) => Fields::from_output(&out).ok_or_else(|| "printed no `result` line".into()),
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

/// CPU seconds (user + system, all threads) a process has used, from `/proc` (Linux);
/// `None` elsewhere.
pub(super) fn process_cpu(pid: u32) -> Option<f64> {
    let stat =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat")).ok()?;
    cpu_from_stat(&stat, clock_ticks())
}

/// `utime + stime` of a `/proc/PID/stat` line, in seconds. The command name (field 2)
/// may contain spaces and parentheses, so fields are counted after its last `)`.
fn cpu_from_stat(stat: &str, ticks_per_sec: f64) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks_per_sec)
}

fn clock_ticks() -> f64 {
    use std::sync::OnceLock;
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        process::output_of("getconf", &["CLK_TCK"])
            .and_then(|s| s.trim().parse().ok())
            .filter(|t: &f64| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// The median of the finite values (the mean of the middle two for an even count);
/// NaN if there are none.
pub(super) fn median_f64(mut values: Vec<f64>) -> f64 {
    values.retain(|v| v.is_finite());
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines_are_parsed() {
        let out =
            "warming up\nresult case=tcp_echo client_rt=tokio secs=0.5 rtps=100000.0 mbps=x\n";
        let fields = Fields::from_output(out).unwrap();
        assert_eq!(fields.get("case"), Some("tcp_echo"));
        assert_eq!(fields.number("secs"), Some(0.5));
        assert_eq!(fields.number("rtps"), Some(100000.0));
        assert_eq!(fields.number("mbps"), None);
        assert_eq!(fields.number("absent"), None);
        assert_eq!(Fields::from_output("no result here\n"), None);
        // echo_peer's client line, latencies included ("-" where it has none).
        let client = Fields::from_output(
            "result case=tcp_echo client_rt=tokio conns=10 size=1024 rounds=200 \
             round_trips=2000 secs=0.04 cpu_secs=0.01 rtps=49883.6 mbps=51.081 \
             events_per_turn=- p50_us=128 p99_us=3960\n",
        )
        .unwrap();
        assert_eq!(client.number("p50_us"), Some(128.0));
        assert_eq!(client.number("p99_us"), Some(3960.0));
        assert_eq!(client.number("events_per_turn"), None);
        let none = Fields::from_output("result rtps=1 p50_us=- p99_us=-").unwrap();
        assert_eq!(none.number("p50_us"), None);
        let last = Fields::from_output("result a=1\nresult a=2\n").unwrap();
        assert_eq!(last.number("a"), Some(2.0));
    }

    #[test]
    fn proc_stat_gives_cpu_seconds() {
        let stat = "4242 (echo server (x)) S 1 4242 4242 0 -1 4194304 100 0 0 0 \
                    150 50 0 0 20 0 3 0 1000 0 0";
        assert_eq!(cpu_from_stat(stat, 100.0), Some(2.0));
        assert_eq!(cpu_from_stat("garbage", 100.0), None);
        // Our own process: whatever it is, it is a number.
        #[cfg(target_os = "linux")]
        assert!(process_cpu(std::process::id()).is_some());
    }

    #[cfg(unix)]
    #[test]
    fn measure_needs_a_result_line_and_success() {
        let mut ok = Command::new("sh");
        ok.args(["-c", "echo result secs=1.5"]);
        assert_eq!(measure(&mut ok).unwrap().number("secs"), Some(1.5));
        let mut silent = Command::new("true");
        assert!(measure(&mut silent)
            .unwrap_err()
            .contains("no `result` line"));
        let mut fails = Command::new("sh");
        fails.args(["-c", "echo result secs=1; exit 1"]);
        assert!(measure(&mut fails).unwrap_err().contains("exited with"));
    }
}
