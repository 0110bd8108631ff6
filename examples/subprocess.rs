//! Runs `ls -l` (or the command given as arguments) as a child process through
//! `subprocess_exec`, prints its output as it arrives and then its exit status.
//!
//! Native (Unix): `cargo run --example subprocess [-- COMMAND ARGS...]`. In the guest
//! (and on Windows) there are no child processes: it ends at once with the Unsupported
//! error.

use std::io::Write;

use twinloop::{
    BaseProtocol, Error, LoopFuture, SubprocessOptions, SubprocessProtocol, SubprocessTransport,
};

/// Copies the child's stdout and stderr to ours; hands over the exit status at the end.
struct Show {
    transport: Option<SubprocessTransport>,
    done: LoopFuture<Option<i32>>,
}

impl BaseProtocol<SubprocessTransport> for Show {
    fn connection_made(&mut self, transport: SubprocessTransport) {
        self.transport = Some(transport);
    }
    fn connection_lost(&mut self, _: Option<Error>) {
        let status = self.transport.take().and_then(|t| t.get_returncode());
        let _ = self.done.set_result(status);
    }
}

impl SubprocessProtocol for Show {
    fn pipe_data_received(&mut self, fd: i32, data: &[u8]) {
        let _ = if fd == 2 {
            std::io::stderr().write_all(data)
        } else {
            std::io::stdout().write_all(data)
        };
    }
}

fn main() -> twinloop::Result<()> {
    let mut command: Vec<String> = std::env::args().skip(1).collect();
    if command.is_empty() {
        command = vec!["ls".into(), "-l".into()];
    }
    let status = twinloop::run(|ev| async move {
        let done = ev.create_future();
        let show = || Show {
            transport: None,
            done: done.clone(),
        };
        let (transport, _) = ev
            .subprocess_exec(show, &command, SubprocessOptions::default())
            .await?;
        eprintln!("started {:?} as pid {}", command, transport.get_pid());
        done.await
    })?;
    match status {
        Some(code) if code < 0 => println!("exit status: killed by signal {}", -code),
        Some(code) => println!("exit status: {code}"),
        None => println!("exit status: unknown"),
    }
    Ok(())
}
