//! The echo client over TLS, made into a checker: it connects with TLS (trusting only the
//! example CA of `examples/tls/`, checking the name `localhost`), sends `--count` messages
//! of `--size` bytes one at a time, and checks that every byte comes back; then it closes
//! with close_notify and expects the server's.
//!
//! `tls_echo_client ADDR [--size BYTES] [--count N]` prints `ok N messages (CIPHER)`, or
//! exits non-zero saying what differed. The same on both targets.

use twinloop::{ConnectOptions, ExtraInfo, StreamOptions};

#[path = "tls/certs.rs"]
mod certs;
#[path = "support/echo_args.rs"]
mod echo_args;
use echo_args::{parse_args, Args};

async fn check(args: Args) -> Result<String, String> {
    let ev = twinloop::get_running_loop().map_err(|e| e.to_string())?;
    let options = StreamOptions {
        options: ConnectOptions {
            ssl: Some(certs::client_tls()?),
            server_hostname: Some("localhost".into()),
            ..ConnectOptions::default()
        },
        ..StreamOptions::default()
    };
    let (mut reader, writer) = ev
        .open_connection(&args.host, args.port, options)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let cipher = match writer.get_extra_info("cipher") {
        Some(ExtraInfo::Cipher(c)) => c.to_string(),
        _ => "no cipher?".into(),
    };
    for n in 0..args.count {
        let message: Vec<u8> = (0..args.size).map(|i| (i * 31 + n * 7) as u8).collect();
        writer.write(&message).map_err(|e| e.to_string())?;
        let echo = reader
            .readexactly(args.size)
            .await
            .map_err(|e| format!("message {n}: {e}"))?;
        if echo != message {
            let at = echo.iter().zip(&message).position(|(a, b)| a != b);
            return Err(format!("message {n}: the echo differs at byte {at:?}"));
        }
    }
    writer.write_eof().map_err(|e| e.to_string())?;
    let rest = reader.read(-1).await.map_err(|e| format!("closing: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("{} unexpected bytes after the echoes", rest.len()));
    }
    Ok(format!("ok {} messages ({cipher})", args.count))
}

fn main() {
    let outcome = parse_args("tls_echo_client").and_then(|args| {
        twinloop::run(|_| async move { Ok(check(args).await) })
            .map_err(|e| e.to_string())
            .and_then(|checked| checked)
    });
    match outcome {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("tls_echo_client: {e}");
            std::process::exit(1);
        }
    }
}
