//! What the benchmark programs share: the command line, the `result` line they print
//! for `cargo xtask bench`, and the process's CPU time.
//!
//! The programs are `bench_loop` (callbacks and timers, in one process per runtime) and
//! `echo_peer` (a TCP echo server or client, so that server and client never share a
//! loop; `--tls true` runs it over TLS, see `tls`). Each prints its figures as one line:
//!
//! ```text
//! result case=callbacks_chain rt=twinloop ops=1000000 secs=0.412 cpu_secs=0.410
//! ```
//!
//! Measurement only: the programs check that the work was done (every echo byte came
//! back, every timer fired) but assert nothing about speed.

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

pub mod tls;

/// Which event loop a program runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rt {
    Twinloop,
    Tokio,
}

impl FromStr for Rt {
    type Err = String;

    fn from_str(s: &str) -> Result<Rt, String> {
        match s {
            "twinloop" => Ok(Rt::Twinloop),
            "tokio" => Ok(Rt::Tokio),
            other => Err(format!("--rt: expected twinloop or tokio, got {other:?}")),
        }
    }
}

impl Rt {
    pub fn name(self) -> &'static str {
        match self {
            Rt::Twinloop => "twinloop",
            Rt::Tokio => "tokio",
        }
    }
}

/// A command line of positional words and `--name value` options.
#[derive(Debug, Default)]
pub struct Cli {
    pub positional: Vec<String>,
    options: Vec<(String, String)>,
}

impl Cli {
    /// Splits `args` (without the program name). Every `--name` takes a value.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Cli, String> {
        let mut cli = Cli::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if let Some(name) = arg.strip_prefix("--") {
                let value = args
                    .next()
                    .ok_or_else(|| format!("--{name} needs a value"))?;
                cli.options.push((name.to_owned(), value));
            } else {
                cli.positional.push(arg);
            }
        }
        Ok(cli)
    }

    /// The value of `--name` parsed as `T`, or `default` when absent.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> Result<T, String>
    where
        T::Err: Display,
    {
        match self.options.iter().rev().find(|(n, _)| n == name) {
            None => Ok(default),
            Some((_, v)) => v.parse().map_err(|e| format!("--{name} {v:?}: {e}")),
        }
    }

    /// Fails on options other than `known`.
    pub fn only(&self, known: &[&str]) -> Result<(), String> {
        match self
            .options
            .iter()
            .find(|(n, _)| !known.contains(&n.as_str()))
        {
            Some((n, _)) => Err(format!("unknown option --{n}")),
            None => Ok(()),
        }
    }
}

/// `HOST:PORT` or `[V6]:PORT` to a host (brackets removed) and a port.
pub fn split_addr(addr: &str) -> Result<(String, u16), String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("expected HOST:PORT, got {addr:?}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = port.parse().map_err(|_| format!("bad port in {addr:?}"))?;
    Ok((host.to_owned(), port))
}

/// One `result key=value ...` line (values must not contain spaces).
pub fn result_line(fields: &[(&str, String)]) -> String {
    let mut line = String::from("result");
    for (key, value) in fields {
        line.push(' ');
        line.push_str(key);
        line.push('=');
        line.push_str(value);
    }
    line
}

/// CPU time (user + system) this process has used so far; zero where unknown.
pub fn cpu_time() -> Duration {
    #[cfg(unix)]
    {
        // SAFETY: getrusage only writes into the struct we hand it; an all-zero
        // `rusage` is a valid value of that plain C struct.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
                return Duration::ZERO;
            }
            usage
        };
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        tv(usage.ru_utime) + tv(usage.ru_stime)
    }
    #[cfg(not(unix))]
    {
        Duration::ZERO
    }
}

/// The median of some durations (the lower middle one for an even count).
pub fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values
        .get(values.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or_default()
}

/// Seconds with microsecond precision, for `result` lines.
pub fn secs(d: Duration) -> String {
    format!("{:.6}", d.as_secs_f64())
}

/// A deterministic pseudo-random sequence (xorshift64*), the same for both runtimes.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform enough in `0..bound` (bound > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn cli_splits_positional_and_options() {
        let cli = Cli::parse(strings(&["client", "1.2.3.4:5", "--conns", "7"])).unwrap();
        assert_eq!(cli.positional, ["client", "1.2.3.4:5"]);
        assert_eq!(cli.get("conns", 50usize).unwrap(), 7);
        assert_eq!(cli.get("size", 1024usize).unwrap(), 1024);
        assert!(cli.only(&["conns"]).is_ok());
        assert!(cli.only(&["size"]).is_err());
        assert!(Cli::parse(strings(&["--conns"])).is_err());
        let bad = Cli::parse(strings(&["--rt", "uvloop"])).unwrap();
        assert!(bad.get("rt", Rt::Tokio).is_err());
    }

    #[test]
    fn addresses_and_lines() {
        assert_eq!(split_addr("[::1]:80").unwrap(), ("::1".to_string(), 80u16));
        assert!(split_addr("localhost").is_err());
        assert_eq!(
            result_line(&[("a", "1".into()), ("b", "x".into())]),
            "result a=1 b=x"
        );
        let ms = Duration::from_millis;
        assert_eq!(median(vec![ms(3), ms(1), ms(2)]), ms(2));
        assert_eq!(median(vec![ms(4), ms(1), ms(2), ms(3)]), ms(2));
        assert_eq!(median(Vec::new()), Duration::ZERO);
    }
}
