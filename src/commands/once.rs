//! `once`: one cycle, its alerts and metrics, the report, and the exit code. The daemon runs
//! the same [`run_once`] on its schedule.

use std::path::Path;

use time::OffsetDateTime;

use crate::cli::{OutputFormat, ShardArgs};
use crate::cycle::{Cycle, CycleOptions};
use crate::error::SetupError;
use crate::report::{CycleReport, FailOn};

/// Runs one cycle, then its alerts (unless a dry run), and records it in the cycle's metrics.
pub async fn run_once(cycle: &Cycle, options: CycleOptions) -> Result<CycleReport, SetupError> {
    let clock = std::time::Instant::now();
    let dry_run = options.dry_run;
    let shard = options.shard;
    let mut result = cycle.run(options).await;
    match &mut result {
        Ok(report) => {
            if !dry_run {
                report.alerts = crate::alerts::run::alert(
                    cycle.config(),
                    cycle.vaults(),
                    cycle.http(),
                    cycle.metrics(),
                    report,
                    shard,
                    OffsetDateTime::now_utc(),
                )
                .await;
            }
            report.record_metrics(
                cycle.metrics(),
                clock.elapsed().as_secs_f64(),
                OffsetDateTime::now_utc(),
            );
        }
        Err(_) => cycle.metrics().record_setup_error(),
    }
    result
}

/// What `once` is asked to do beyond its config, output and shard.
#[derive(Debug, Clone, Copy, Default)]
pub struct OnceFlags {
    /// Plan and report only.
    pub dry_run: bool,
    /// Overwrite token secrets the rotator did not write.
    pub adopt: bool,
    /// Exit 1 from this client-secret severity on.
    pub fail_on: FailOn,
}

/// The `once` command.
pub async fn run(
    config: &Path,
    output: OutputFormat,
    flags: OnceFlags,
    shard: &ShardArgs,
) -> Result<i32, SetupError> {
    let OnceFlags {
        dry_run,
        adopt,
        fail_on,
    } = flags;
    let (cfg, shard) = super::load_sharded(config, shard)?;
    let cycle = Cycle::new(cfg)?;
    // A progress bar only for people watching a terminal table.
    let progress = (output == OutputFormat::Table)
        .then(super::progress_bar)
        .flatten();
    let options = CycleOptions {
        dry_run,
        adopt,
        shard,
        progress: progress.clone(),
        ..Default::default()
    };
    let result = run_once(&cycle, options).await;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let report = result?;
    match output {
        OutputFormat::Json => super::out(&format!("{}\n", report.to_json())),
        OutputFormat::Table => super::out(&report.to_table()),
    }
    Ok(report.exit_code(fail_on))
}
