//! The emulator in a child process (this same binary with `--emulator-child`): the child's side
//! (build the world's seed, serve until stdin closes) and the parent's handle on it (its info
//! line, pid, and the admin API: throttles, faults, stats).

use std::process::Stdio;

use akv_emulator::EmulatorOptions;
use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::measure::Stats;
use crate::world::World;

/// The child: start, print one info line, serve until the parent closes stdin.
pub async fn serve(world: &World) -> anyhow::Result<()> {
    let handle = akv_emulator::start(EmulatorOptions {
        seed: world.seed(),
        ..Default::default()
    })
    .await?;
    let authority = handle.info()["authority_host"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if let Some(seed) = world.state_seed(&authority) {
        handle.apply_seed(seed)?;
    }
    println!("{}", handle.info());
    // Serve until the parent closes our stdin (or dies).
    let _ = tokio::task::spawn_blocking(|| {
        use std::io::Read;
        let mut sink = Vec::new();
        std::io::stdin().read_to_end(&mut sink)
    })
    .await;
    handle.shutdown().await;
    Ok(())
}

/// The parent's handle on the running child.
pub struct Emulator {
    child: tokio::process::Child,
    pub pid: String,
    /// The child's info line: login host, CA file, vault URLs.
    pub info: serde_json::Value,
    pub authority: String,
    pub admin: reqwest::Client,
}

impl Emulator {
    /// Starts the child with `child_args` (the world's arguments) and reads its info line.
    pub async fn start(child_args: &[String]) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut child = tokio::process::Command::new(exe)
            .arg("--emulator-child")
            .args(child_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting the emulator child")?;
        let pid = child.id().map(|p| p.to_string()).unwrap_or_default();
        let stdout = child.stdout.take().context("child stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).await?;
        let info: serde_json::Value =
            serde_json::from_str(&line).context("the emulator child's info line")?;
        let authority = info["authority_host"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let ca = std::fs::read(info["ca_cert"].as_str().unwrap_or_default())?;
        let admin = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
            .build()?;
        Ok(Emulator {
            child,
            pid,
            info,
            authority,
            admin,
        })
    }

    /// `POST /_emulator/{path}` with a JSON body.
    pub async fn post(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<()> {
        self.admin
            .post(format!("{}/_emulator/{path}", self.authority))
            .json(body)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// Zeroes the request counts and restarts the throttle windows.
    pub async fn reset_stats(&self) -> anyhow::Result<()> {
        self.admin
            .post(format!("{}/_emulator/stats/reset", self.authority))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    pub async fn stats(&self) -> anyhow::Result<Stats> {
        Ok(Stats(
            self.admin
                .get(format!("{}/_emulator/stats", self.authority))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?,
        ))
    }

    /// Closes the child's stdin and waits (at most 10 s) for it to exit.
    pub async fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), self.child.wait()).await;
    }
}
