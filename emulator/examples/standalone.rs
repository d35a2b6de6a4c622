//! Runs the emulator standalone: `cargo run -p akv-emulator --example standalone -- [--seed FILE]
//! [--listen 127.0.0.1:PORT]`. Prints one JSON info line on stdout and serves until Ctrl-C or
//! SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut seed: Option<PathBuf> = None;
    let mut listen: Option<SocketAddr> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seed" => seed = args.next().map(PathBuf::from),
            "--listen" => {
                listen = Some(
                    args.next()
                        .ok_or_else(|| anyhow::anyhow!("--listen needs an address"))?
                        .parse()?,
                )
            }
            other => {
                anyhow::bail!("unknown argument {other}; usage: [--seed FILE] [--listen ADDR]")
            }
        }
    }
    akv_emulator::run_standalone(seed, listen, async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
    })
    .await
}
