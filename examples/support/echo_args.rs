//! The command line of the echo clients (`echo_client`, `tls_echo_client`):
//! `PROGRAM ADDR [--size BYTES] [--count N]`.

pub struct Args {
    pub host: String,
    pub port: u16,
    pub size: usize,
    pub count: usize,
}

/// Parses the process's arguments; `program` names it in the usage line.
pub fn parse_args(program: &str) -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .ok_or_else(|| format!("usage: {program} ADDR [--size BYTES] [--count N]"))?;
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("expected HOST:PORT, got {addr:?}"))?;
    let mut parsed = Args {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port: port.parse().map_err(|_| format!("bad port in {addr:?}"))?,
        size: 1024,
        count: 1,
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number: usize = value
            .parse()
            .map_err(|_| format!("{flag}: not a number: {value}"))?;
        match flag.as_str() {
            "--size" => parsed.size = number,
            "--count" => parsed.count = number,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if parsed.size == 0 {
        return Err("--size must be at least 1".into());
    }
    Ok(parsed)
}
