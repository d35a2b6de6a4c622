//! The commands of the binary, each a short function over the library that returns an exit
//! code or a [`SetupError`] (which carries its own).

pub mod check;
#[cfg(feature = "emulator")]
pub mod demo;
#[cfg(feature = "emulator")]
pub mod emulator;
pub mod once;
pub mod status;
pub mod token;

use std::path::Path;

use crate::cli::ShardArgs;
use crate::config::{self, ValidConfig};
use crate::cycle::Shard;
use crate::error::SetupError;

/// Writes to stdout; a reader that went away (`| head`) ends the output quietly, not with a
/// panic.
pub fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: cannot write the output: {e}");
    }
}

/// Writes a cycle report as JSON and a newline to stdout, streamed (see
/// [`CycleReport::write_json`]); a closed pipe is not an error, like [`out`].
pub fn out_json(report: &crate::report::CycleReport) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = report
        .write_json(&mut stdout)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: cannot write the output: {e}");
    }
}

/// Loads the config and picks this process's shard (`once` and `run`).
pub fn load_sharded(
    path: &Path,
    args: &ShardArgs,
) -> Result<(ValidConfig, Option<Shard>), SetupError> {
    let mut cfg = config::load(path)?;
    let index = std::env::var("JOB_COMPLETION_INDEX").ok();
    let shard = Shard::select(
        args.shard.as_deref(),
        args.shard_count.or(cfg.shard_count),
        index.as_deref(),
    )?;
    // The shards run at once and share every vault's budget.
    if let Some(s) = shard {
        cfg.limits = cfg.limits.per_shard(s.count);
    }
    Ok((cfg, shard))
}

/// A progress bar of apps on stderr for people at a terminal (nothing on a pipe): it ticks on a
/// timer, so the elapsed time moves while a slow request is in flight, and names the apps in
/// progress.
pub fn progress_bar() -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {bar:40} {pos}/{len} apps {elapsed} {wide_msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(bar)
}
