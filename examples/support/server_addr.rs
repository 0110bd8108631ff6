//! The command line of the echo servers that take only an address: `PROGRAM [ADDR]`.

/// The `HOST:PORT` (IPv6 hosts in brackets) of the first argument, or `default`; exits
/// with status 2, saying why, when it is not one.
pub fn server_addr(program: &str, default: &str) -> (String, u16) {
    let addr = std::env::args().nth(1).unwrap_or_else(|| default.into());
    let Some((host, port)) = addr
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_matches(['[', ']']).to_owned(), p.parse().ok()?)))
    else {
        eprintln!("{program}: expected HOST:PORT, got {addr:?}");
        std::process::exit(2);
    };
    (host, port)
}
