//! `once`: one cycle, its alerts, status record and metrics, the report, and the exit code. The
//! daemon runs the same [`run_once`] on its schedule.

use std::path::Path;

use time::OffsetDateTime;

use crate::cli::{OutputFormat, ShardArgs};
use crate::cycle::status_record::RecordPlace;
use crate::cycle::{Cycle, CycleOptions, Shard};
use crate::error::SetupError;
use crate::report::record::StatusRecord;
use crate::report::{CycleReport, FailOn};

/// Whether a cycle's bookkeeping (alerting, and the status record: a Key Vault read and write
/// each, or more) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bookkeeping {
    /// After every cycle: `once`, and the daemon's slots.
    #[default]
    Always,
    /// Only when the cycle has something to say: a failed target or a rotation, or when the
    /// last recorded cycle had failures (`after_failures`) that this one may have cleared. The
    /// daemon's early refreshes between slots, which would otherwise add two or more Key Vault
    /// transactions to every few token writes, with nothing new to record.
    WhenNotable { after_failures: bool },
}

impl Bookkeeping {
    /// Whether the bookkeeping runs after `report`.
    pub fn keeps(self, report: &CycleReport) -> bool {
        match self {
            Bookkeeping::Always => true,
            Bookkeeping::WhenNotable { after_failures } => {
                after_failures || report.summary.failed > 0 || !report.rotations.is_empty()
            }
        }
    }
}

/// Runs one cycle, then (unless a dry run) reads the last status record, alerts, and writes
/// the new status record; records the cycle in the metrics.
pub async fn run_once(cycle: &Cycle, options: CycleOptions) -> Result<CycleReport, SetupError> {
    run_once_with(cycle, options, Bookkeeping::Always).await
}

/// [`run_once`], with the bookkeeping only when `bookkeeping` says so.
pub async fn run_once_with(
    cycle: &Cycle,
    options: CycleOptions,
    bookkeeping: Bookkeeping,
) -> Result<CycleReport, SetupError> {
    let clock = std::time::Instant::now();
    let dry_run = options.dry_run;
    let shard = options.shard;
    let mut result = cycle.run(options).await;
    match &mut result {
        Ok(report) => {
            if !dry_run && bookkeeping.keeps(report) {
                let place = cycle.status_record_place(shard);
                let previous = match &place {
                    Some(p) => load_previous(cycle, p, report).await,
                    None => None,
                };
                let missed = previous
                    .as_ref()
                    .zip(place.as_ref())
                    .and_then(|(p, place)| missed_runs(p, &place.name, report.started_at));
                report.alerts = crate::alerts::run::alert(
                    cycle.config(),
                    cycle.vaults(),
                    cycle.http(),
                    cycle.metrics(),
                    report,
                    shard,
                    missed.into_iter().collect(),
                    OffsetDateTime::now_utc(),
                )
                .await;
                if let Some(place) = &place {
                    save_record(cycle, place, previous.as_ref(), report, shard).await;
                }
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

/// The shard's last status record. One that cannot be read is noted and replaced: the failure
/// counts then start again from this cycle.
async fn load_previous(
    cycle: &Cycle,
    place: &RecordPlace,
    report: &mut CycleReport,
) -> Option<StatusRecord> {
    match cycle.load_status_record(place).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(event = "status_record_unreadable", class = %e.class, error = %e.message, "the last status record could not be read; failure counts start again");
            report.notes.push(format!(
                "the last status record (secret {:?} in {}) could not be read ({}: {}); failure counts and times start again from this run",
                place.name, place.vault, e.class, e.message
            ));
            None
        }
    }
}

/// A finding when `previous` was older than the schedule allows when this cycle started.
fn missed_runs(
    previous: &StatusRecord,
    record: &str,
    started: OffsetDateTime,
) -> Option<crate::alerts::Finding> {
    let due = previous.next_run_by?;
    previous.is_stale(started).then(|| {
        tracing::warn!(event = "runs_missed", last_run = %crate::timefmt::rfc3339(previous.updated_at), due = %crate::timefmt::rfc3339(due), "no run recorded its outcome when the schedule expected one");
        crate::alerts::Finding::status_record_stale(record, previous.updated_at, due, started)
    })
}

/// Writes this cycle's status record (one Key Vault write); a failure is noted in the report,
/// never fails the cycle.
async fn save_record(
    cycle: &Cycle,
    place: &RecordPlace,
    previous: Option<&StatusRecord>,
    report: &mut CycleReport,
    shard: Option<Shard>,
) {
    let (record, note) = StatusRecord::next(
        previous,
        report,
        shard.map(|s| format!("{}/{}", s.index, s.count)),
        cycle.config().next_record_by(report.finished_at),
    );
    report.notes.extend(note);
    match cycle.save_status_record(place, &record).await {
        Ok(()) => report.status_record = Some(record),
        Err(e) => {
            tracing::warn!(event = "status_record_save_failed", class = %e.class, error = %e.message, "status record not saved");
            report.notes.push(format!(
                "the status record (secret {:?} in {}) could not be written ({}: {}); `status` shows the previous one",
                place.name, place.vault, e.class, e.message
            ));
        }
    }
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
        OutputFormat::Json => super::out_json(&report),
        OutputFormat::Table => super::out(&report.to_table()),
    }
    Ok(report.exit_code(fail_on))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::alerts::FindingKind;

    #[test]
    fn a_record_past_its_due_time_when_a_run_starts_means_runs_were_missed() {
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let report = CycleReport::new(t0, t0, false, vec![], vec![], vec![]);
        let due = t0 + time::Duration::minutes(30);
        let (record, _) = StatusRecord::next(None, &report, None, Some(due));
        assert!(missed_runs(&record, "akv-rotator-status", due).is_none());
        let started = t0 + time::Duration::hours(3);
        let f = missed_runs(&record, "akv-rotator-status", started).unwrap();
        assert_eq!(f.kind, FindingKind::StatusRecordStale);
        assert!(f.kind.is_event());
        assert_eq!(f.title, "akv-rotator did not run for 3 hours");
        assert!(f.detail.contains("2027-01-15T08:30:00Z"), "{}", f.detail);
        // The same gap seen twice is one event; a later gap is another.
        let again = missed_runs(
            &record,
            "akv-rotator-status",
            started + time::Duration::hours(1),
        );
        assert_eq!(again.map(|a| a.key), Some(f.key));
    }
}
