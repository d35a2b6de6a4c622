//! Read-only views of a cycle report for people: the `status` command's table, JSON and Markdown
//! (ready to paste into a ticket), and a self-contained HTML page (an expiry timeline whose zones
//! follow the configured thresholds, above a table; no external assets, no script) that the
//! daemon also serves at `/status`.
//!
//! Every app is ranked by urgency — expired, critical, failing, warning, unknown, ok — then by
//! fewest days left. A dry run remembers nothing, so the view also takes the status record of
//! the last real cycle ([`Memory`]): targets that failed then are shown failing, with their last
//! error and since when, and a record older than the schedule allows is called stale. This
//! module only presents: it never reads, acquires or writes, and nothing here holds a secret or
//! token value. Everything put into HTML is escaped.

use std::collections::HashMap;

use serde::Serialize;

mod html;
mod markdown;
mod table;

#[cfg(test)]
use html::Axis;
use time::{Duration, OffsetDateTime};

use crate::config::Thresholds;
use crate::config::expiry::Severity;
use crate::error::StepError;
use crate::report::record::{StatusRecord, TargetRecord};
use crate::report::{AppReport, ClientSecretReport, CycleReport, Outcome, rfc3339};

/// Version of the `status --output json` layout.
pub const SCHEMA_VERSION: u32 = 1;

/// How urgently an app needs someone. Ordered from most to least urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// The client secret has expired.
    Expired,
    /// The client secret expires within the critical threshold.
    Critical,
    /// A target failed, or would fail (its app's client secret cannot be used).
    Failing,
    /// The client secret expires within the warning threshold.
    Warning,
    /// No expiry is recorded for the client secret.
    Unknown,
    Ok,
}

impl Urgency {
    pub const ALL: [Urgency; 6] = [
        Urgency::Expired,
        Urgency::Critical,
        Urgency::Failing,
        Urgency::Warning,
        Urgency::Unknown,
        Urgency::Ok,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Urgency::Expired => "expired",
            Urgency::Critical => "critical",
            Urgency::Failing => "failing",
            Urgency::Warning => "warning",
            Urgency::Unknown => "unknown",
            Urgency::Ok => "ok",
        }
    }

    fn of(severity: Severity, failing: bool) -> Urgency {
        match severity {
            Severity::Expired => Urgency::Expired,
            Severity::Critical => Urgency::Critical,
            _ if failing => Urgency::Failing,
            Severity::Warning => Urgency::Warning,
            Severity::Unknown => Urgency::Unknown,
            Severity::Ok => Urgency::Ok,
        }
    }
}

impl std::fmt::Display for Urgency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// One token secret as the status shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TargetStatus {
    pub secret: String,
    pub vault: String,
    pub scope: String,
    /// The cycle's view: `fresh`, `planned` (due for refresh), `written`, `failed`, `skipped`.
    /// In a dry run, a target due for refresh whose app's client secret cannot be used (for
    /// example it does not exist) is `failed` with the app's problem: that is what the next
    /// cycle would do.
    pub outcome: Outcome,
    /// Expiry of the stored token.
    #[serde(serialize_with = "crate::timefmt::serialize_opt")]
    pub token_expires_on: Option<OffsetDateTime>,
    /// When the stored token was written (its Key Vault `updated` time).
    #[serde(serialize_with = "crate::timefmt::serialize_opt")]
    pub token_updated_on: Option<OffsetDateTime>,
    /// Now minus `token_updated_on`, in seconds.
    pub token_age_seconds: Option<i64>,
    /// The current problem: the dry run's, else the last real cycle's failure.
    pub error: Option<StepError>,
    /// What the last real cycle did, from the status record (absent when it recorded nothing
    /// about this target).
    pub last_run: Option<LastRun>,
}

/// One target's entry in the status record, as the status shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    /// `written`, `fresh`, `failed` or `skipped`.
    pub outcome: Outcome,
    /// When that cycle finished.
    #[serde(serialize_with = "crate::timefmt::serialize")]
    pub at: OffsetDateTime,
    /// Failed cycles in a row, that one included; 0 when it succeeded.
    pub consecutive_failures: u32,
    #[serde(serialize_with = "crate::timefmt::serialize_opt")]
    pub failing_since: Option<OffsetDateTime>,
    #[serde(serialize_with = "crate::timefmt::serialize_opt")]
    pub last_success: Option<OffsetDateTime>,
    pub error: Option<StepError>,
}

impl LastRun {
    fn of(t: &TargetRecord, at: OffsetDateTime) -> LastRun {
        LastRun {
            outcome: t.outcome,
            at,
            consecutive_failures: t.consecutive_failures,
            failing_since: t.failing_since,
            last_success: t.last_success,
            error: t.error.clone(),
        }
    }

    /// `failing since 2026-12-01 20:10 UTC (3 runs in a row; last success 2026-11-30 08:00 UTC)`.
    fn since_text(&self) -> Option<String> {
        if self.consecutive_failures == 0 {
            return None;
        }
        let runs = match self.consecutive_failures {
            1 => "the last run".to_string(),
            n => format!("{n} runs in a row"),
        };
        let last = self
            .last_success
            .map(|t| format!("; last success {}", human_time(t)))
            .unwrap_or_else(|| "; no success recorded".into());
        Some(match self.failing_since {
            Some(since) => format!("failing since {} ({runs}{last})", human_time(since)),
            None => format!("failing ({runs}{last})"),
        })
    }
}

/// The status records of the last real cycles (one per shard), as read by `status` or kept by
/// the daemon. Empty when not consulted.
#[derive(Debug, Clone, Default)]
pub struct Memory {
    pub records: Vec<StatusRecord>,
    /// Shards whose record does not exist yet.
    pub missing: usize,
    /// Records that could not be read, each with why (no values).
    pub unreadable: Vec<String>,
    /// When staleness is judged (default: when the report's cycle finished).
    pub checked_at: Option<OffsetDateTime>,
}

impl Memory {
    fn consulted(&self) -> bool {
        !self.records.is_empty() || self.missing > 0 || !self.unreadable.is_empty()
    }

    fn target(&self, app: &str, secret: &str) -> Option<(&TargetRecord, OffsetDateTime)> {
        self.records
            .iter()
            .find_map(|r| r.target(app, secret).map(|t| (t, r.updated_at)))
    }
}

/// How current the status record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordState {
    /// Written by the last scheduled run.
    Current,
    /// Older than the schedule allows: runs did not happen.
    Stale,
    /// No run has written one yet.
    Missing,
    /// It exists but could not be read.
    Unreadable,
}

/// What the status record says about the last real cycle.
#[derive(Debug, Clone, Serialize)]
pub struct RecordView {
    pub state: RecordState,
    /// When the last recorded cycle finished (the oldest, with several shards).
    #[serde(serialize_with = "crate::timefmt::serialize_opt")]
    pub last_run_at: Option<OffsetDateTime>,
    pub run_id: Option<String>,
    /// By when the next cycle should have recorded its outcome.
    #[serde(serialize_with = "crate::timefmt::serialize_opt")]
    pub next_run_by: Option<OffsetDateTime>,
    /// Targets failing in the last cycle, including those the record had to leave out.
    pub failing_targets: usize,
    /// Failing targets without detail (Key Vault's 25 KB secret limit).
    pub failing_not_detailed: usize,
    /// One line for people.
    pub summary: String,
}

impl RecordView {
    fn of(memory: &Memory, now: OffsetDateTime) -> Option<RecordView> {
        if !memory.consulted() {
            return None;
        }
        // With several shards, the oldest record speaks for the whole.
        let oldest = memory.records.iter().min_by_key(|r| r.updated_at);
        let stale = memory.records.iter().find(|r| r.is_stale(now));
        let failing: usize = memory.records.iter().map(|r| r.counts.failing).sum();
        let not_detailed: usize = memory
            .records
            .iter()
            .map(|r| r.counts.failing_omitted)
            .sum();
        let state = if !memory.unreadable.is_empty() {
            RecordState::Unreadable
        } else if stale.is_some() {
            RecordState::Stale
        } else if memory.records.is_empty() {
            RecordState::Missing
        } else {
            RecordState::Current
        };
        let mut summary = match (state, oldest) {
            (RecordState::Unreadable, _) => format!(
                "The status record could not be read ({}): failures of earlier runs are not shown.",
                memory.unreadable.join("; ")
            ),
            (RecordState::Missing, _) | (_, None) => "No run has recorded its outcome yet: failures of earlier runs are not known (run `akv-rotator once` or the daemon).".to_string(),
            (RecordState::Stale, Some(r)) => {
                let s = stale.unwrap_or(r);
                format!(
                    "STALE: the last recorded run finished {} ({} ago) and the next was due by {}: the rotator is not running on schedule (check the CronJob or daemon); tokens may expire unrefreshed.",
                    human_time(s.updated_at),
                    human(now - s.updated_at),
                    s.next_run_by.map(human_time).unwrap_or_else(|| "-".into())
                )
            }
            (RecordState::Current, Some(r)) => format!(
                "Last run: {} ({} ago); {failing} token secret{} failing.",
                human_time(r.updated_at),
                human(now - r.updated_at),
                if failing == 1 { "" } else { "s" }
            ),
        };
        if memory.missing > 0 && !memory.records.is_empty() {
            summary.push_str(&format!(
                " {} shard{} recorded nothing yet.",
                memory.missing,
                if memory.missing == 1 { "" } else { "s" }
            ));
        }
        if not_detailed > 0 {
            let targets = if not_detailed == 1 {
                "target is"
            } else {
                "targets are"
            };
            summary.push_str(&format!(
                " {not_detailed} failing {targets} counted but not detailed (the record's 25 KB limit)."
            ));
        }
        Some(RecordView {
            state,
            last_run_at: oldest.map(|r| r.updated_at),
            run_id: oldest.map(|r| r.run_id.clone()).filter(|id| !id.is_empty()),
            next_run_by: oldest.and_then(|r| r.next_run_by),
            failing_targets: failing,
            failing_not_detailed: not_detailed,
            summary,
        })
    }
}

/// One app registration and its token secrets.
#[derive(Debug, Clone, Serialize)]
pub struct AppStatus {
    pub name: String,
    pub urgency: Urgency,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: ClientSecretReport,
    /// A problem with the app itself that no target shows (e.g. its client secret is missing
    /// while every token is still fresh).
    pub error: Option<StepError>,
    pub targets: Vec<TargetStatus>,
}

/// The thresholds, written as in the config (`30d`, `36h`).
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdsView {
    pub warning: String,
    pub critical: String,
}

/// Apps per urgency.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct UrgencyCounts {
    pub expired: usize,
    pub critical: usize,
    pub failing: usize,
    pub warning: usize,
    pub unknown: usize,
    pub ok: usize,
}

impl UrgencyCounts {
    pub fn get(&self, u: Urgency) -> usize {
        match u {
            Urgency::Expired => self.expired,
            Urgency::Critical => self.critical,
            Urgency::Failing => self.failing,
            Urgency::Warning => self.warning,
            Urgency::Unknown => self.unknown,
            Urgency::Ok => self.ok,
        }
    }

    fn add(&mut self, u: Urgency) {
        let slot = match u {
            Urgency::Expired => &mut self.expired,
            Urgency::Critical => &mut self.critical,
            Urgency::Failing => &mut self.failing,
            Urgency::Warning => &mut self.warning,
            Urgency::Unknown => &mut self.unknown,
            Urgency::Ok => &mut self.ok,
        };
        *slot += 1;
    }
}

/// Token secrets per outcome.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct OutcomeCounts {
    pub fresh: usize,
    pub planned: usize,
    pub written: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// Every app and target of a report, most urgent first.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub schema_version: u32,
    /// When the cycle behind this view finished: "now" for days left and token ages.
    #[serde(serialize_with = "crate::timefmt::serialize")]
    pub generated_at: OffsetDateTime,
    /// `true` for the `status` command (nothing read, acquired or written).
    pub dry_run: bool,
    pub thresholds: ThresholdsView,
    pub apps_by_urgency: UrgencyCounts,
    pub targets_by_outcome: OutcomeCounts,
    pub apps: Vec<AppStatus>,
    pub notes: Vec<String>,
    /// The status record of the last real cycle; absent when it was not consulted.
    pub record: Option<RecordView>,
    #[serde(skip)]
    now: OffsetDateTime,
    #[serde(skip)]
    limits: Thresholds,
}

/// When each stored token was written, by (token vault URL, secret name lowercased).
pub type TokenUpdated = HashMap<(String, String), OffsetDateTime>;

impl Status {
    /// The view of `report`; "now" is when the report's cycle finished.
    pub fn new(report: &CycleReport, thresholds: &Thresholds) -> Status {
        Status::with_token_updated(report, thresholds, &TokenUpdated::new())
    }

    /// Like [`Status::new`], with the stored tokens' `updated` times for their age.
    pub fn with_token_updated(
        report: &CycleReport,
        thresholds: &Thresholds,
        updated: &TokenUpdated,
    ) -> Status {
        Status::with_memory(report, thresholds, updated, &Memory::default())
    }

    /// Like [`Status::with_token_updated`], with the status records of the last real cycles:
    /// what failed then is shown failing, with its error and since when.
    pub fn with_memory(
        report: &CycleReport,
        thresholds: &Thresholds,
        updated: &TokenUpdated,
        memory: &Memory,
    ) -> Status {
        let now = report.finished_at;
        let mut apps: Vec<AppStatus> = report
            .apps
            .iter()
            .map(|a| app_status(report, a, updated, memory, now))
            .collect();
        apps.sort_by(|a, b| {
            (a.urgency, a.client_secret.days_left.unwrap_or(i64::MAX))
                .cmp(&(b.urgency, b.client_secret.days_left.unwrap_or(i64::MAX)))
                .then_with(|| a.name.cmp(&b.name))
        });
        let mut by_urgency = UrgencyCounts::default();
        let mut by_outcome = OutcomeCounts::default();
        for a in &apps {
            by_urgency.add(a.urgency);
            for t in &a.targets {
                match t.outcome {
                    Outcome::Fresh => by_outcome.fresh += 1,
                    Outcome::Planned => by_outcome.planned += 1,
                    Outcome::Written => by_outcome.written += 1,
                    Outcome::Failed => by_outcome.failed += 1,
                    Outcome::Skipped => by_outcome.skipped += 1,
                }
            }
        }
        Status {
            schema_version: SCHEMA_VERSION,
            generated_at: now,
            dry_run: report.dry_run,
            thresholds: ThresholdsView {
                warning: config_duration(thresholds.warning),
                critical: config_duration(thresholds.critical),
            },
            apps_by_urgency: by_urgency,
            targets_by_outcome: by_outcome,
            apps,
            notes: report.notes.clone(),
            record: RecordView::of(memory, memory.checked_at.unwrap_or(now).max(now)),
            now,
            limits: *thresholds,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Every distinct problem, with its app and (from the status record) since when it has
    /// been failing, most urgent app first.
    fn problems(&self) -> Vec<(&str, &StepError, Option<String>)> {
        let mut out: Vec<(&str, &StepError, Option<String>)> = Vec::new();
        for a in &self.apps {
            let errors = a
                .targets
                .iter()
                .filter_map(|t| Some((t.error.as_ref()?, t.since_text())))
                .chain(a.error.as_ref().map(|e| (e, None)));
            for (e, since) in errors {
                if !out.iter().any(|(_, seen, _)| *seen == e) {
                    out.push((a.name.as_str(), e, since));
                }
            }
        }
        out
    }

    fn summary_line(&self) -> String {
        let u = &self.apps_by_urgency;
        let o = &self.targets_by_outcome;
        let mut outcomes = vec![format!("{} fresh", o.fresh)];
        if self.dry_run || o.planned > 0 {
            outcomes.push(format!("{} planned", o.planned));
        }
        if !self.dry_run || o.written > 0 {
            outcomes.push(format!("{} written", o.written));
        }
        outcomes.push(format!("{} failed", o.failed));
        if o.skipped > 0 {
            outcomes.push(format!("{} skipped", o.skipped));
        }
        format!(
            "{} apps: {} expired, {} critical, {} failing, {} warning, {} unknown, {} ok; {} token secrets: {}",
            self.apps.len(),
            u.expired,
            u.critical,
            u.failing,
            u.warning,
            u.unknown,
            u.ok,
            self.apps.iter().map(|a| a.targets.len()).sum::<usize>(),
            outcomes.join(", ")
        )
    }

    /// Days until the client secret expires, with fractions (for the timeline).
    fn days_left_exact(&self, a: &AppStatus) -> Option<f64> {
        match a.client_secret.expires_on {
            Some(exp) => Some((exp - self.now).as_seconds_f64() / 86_400.0),
            None => a.client_secret.days_left.map(|d| d as f64),
        }
    }

    fn token_expiry_relative(&self, t: &TargetStatus) -> String {
        match t.token_expires_on {
            Some(exp) if exp > self.now => format!("in {}", human(exp - self.now)),
            Some(exp) => format!("expired {} ago", human(self.now - exp)),
            None => "-".into(),
        }
    }
}

impl TargetStatus {
    /// `failing since …`, when the status record says the target keeps failing.
    pub(super) fn since_text(&self) -> Option<String> {
        self.last_run.as_ref().and_then(LastRun::since_text)
    }
}

fn app_status(
    report: &CycleReport,
    a: &AppReport,
    updated: &TokenUpdated,
    memory: &Memory,
    now: OffsetDateTime,
) -> AppStatus {
    let mut targets: Vec<TargetStatus> = report
        .targets
        .iter()
        .filter(|t| t.app == a.name)
        .map(|t| {
            let mut outcome = t.outcome;
            let mut error = t.error.as_deref().cloned();
            // A dry run does not attempt the refresh; when the app's client secret cannot be
            // used, the refresh would fail with the app's problem.
            if outcome == Outcome::Planned && error.is_none() && a.error.is_some() {
                outcome = Outcome::Failed;
                error = a.error.as_deref().cloned();
            }
            let when = t.token_updated_on.or_else(|| {
                updated
                    .get(&(t.vault.clone(), t.secret.to_ascii_lowercase()))
                    .copied()
            });
            let recorded = memory.target(&t.app, &t.secret);
            // The last real cycle failed, and no token was written since: still failing.
            if let Some((r, at)) = recorded
                && r.is_failing()
                && when.is_none_or(|w| w <= at)
                && matches!(outcome, Outcome::Planned | Outcome::Failed | Outcome::Fresh)
            {
                outcome = Outcome::Failed;
                if error.is_none() {
                    error = r.error.clone();
                }
            }
            TargetStatus {
                secret: t.secret.clone(),
                vault: t.vault.clone(),
                scope: t.scope.to_string(),
                outcome,
                token_expires_on: t.token_expires_on,
                token_updated_on: when,
                token_age_seconds: when.map(|u| (now - u).whole_seconds()),
                error,
                last_run: recorded.map(|(r, at)| LastRun::of(r, at)),
            }
        })
        .collect();
    // Within an app too, what needs someone comes first; otherwise config order.
    targets.sort_by_key(|t| match t.outcome {
        Outcome::Failed => 0,
        Outcome::Skipped => 1,
        Outcome::Planned => 2,
        Outcome::Written | Outcome::Fresh => 3,
    });
    let shown_by_target = a
        .error
        .as_ref()
        .is_some_and(|e| targets.iter().any(|t| t.error.as_ref() == Some(e)));
    let failing = a.error.is_some() || targets.iter().any(|t| t.error.is_some());
    AppStatus {
        name: a.name.clone(),
        urgency: Urgency::of(a.client_secret.severity, failing),
        tenant_id: a.tenant_id.to_string(),
        client_id: a.client_id.clone(),
        client_secret: a.client_secret.clone(),
        error: if shown_by_target {
            None
        } else {
            a.error.as_deref().cloned()
        },
        targets,
    }
}

/// The HTML status page of a report (the daemon's `/status`).
pub fn html(report: &CycleReport, thresholds: &Thresholds) -> String {
    Status::new(report, thresholds).to_html()
}

/// Markdown for a ticket.
pub fn markdown(report: &CycleReport, thresholds: &Thresholds) -> String {
    Status::new(report, thresholds).to_markdown()
}

fn days_text(days: f64) -> String {
    if (days - days.round()).abs() < 1e-9 {
        format!("{} d", days.round() as i64)
    } else if days < 3.0 {
        format!("{} h", (days * 24.0).round() as i64)
    } else {
        format!("{days:.1} d")
    }
}

/// A duration written as in the config: `30d`, `36h`, `90m`, `45s`.
fn config_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s > 0 && s.is_multiple_of(86_400) {
        format!("{}d", s / 86_400)
    } else if s > 0 && s.is_multiple_of(3_600) {
        format!("{}h", s / 3_600)
    } else if s > 0 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// `12 days left`, `expired 2 days ago`, from exact days left.
fn days_label(days: Option<f64>) -> String {
    let Some(d) = days else {
        return "no expiry".into();
    };
    let whole = d.abs().floor() as i64;
    let n = match whole {
        0 => "< 1 day".to_string(),
        1 => "1 day".to_string(),
        n => format!("{n} days"),
    };
    if d < 0.0 {
        format!("expired {n} ago")
    } else {
        format!("{n} left")
    }
}

/// `3d 4h`, `1h 17m`, `41m`, `<1m`.
fn human(d: Duration) -> String {
    let s = d.whole_seconds().abs();
    let (days, hours, minutes) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m")
    } else {
        "<1m".into()
    }
}

impl Status {
    /// `(<mode>; client secrets: warning < 30d, critical < 7d)`: what the view shows and the
    /// thresholds it judged client secrets by, for a heading; `dry_run` names a dry run.
    fn mode_and_thresholds(&self, dry_run: &str) -> String {
        format!(
            "({}; client secrets: warning < {}, critical < {})",
            if self.dry_run { dry_run } else { "last cycle" },
            self.thresholds.warning,
            self.thresholds.critical,
        )
    }
}

/// The service's error code of a problem as `note` writes it, or nothing when there is none.
fn code_note(e: &StepError, note: impl Fn(&str) -> String) -> String {
    e.code.as_deref().map(note).unwrap_or_default()
}

/// A client secret's expiry date and days left as cells, `-` where unknown.
fn client_secret_expiry_cells(secret: &ClientSecretReport) -> [String; 2] {
    [
        secret.expires_on.map(date).unwrap_or_else(|| "-".into()),
        secret
            .days_left
            .map(|d| d.to_string())
            .unwrap_or_else(|| "-".into()),
    ]
}

/// `2026-12-10`.
fn date(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC).date().to_string()
}

/// `2026-12-10 20:15 UTC`.
fn date_time(t: OffsetDateTime) -> String {
    human_time(t)
}

fn human_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{} {:02}:{:02} UTC", t.date(), t.hour(), t.minute())
}

/// `kv-tokens.vault.azure.net` from a vault URL.
fn host(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_string(),
            })
        })
        .unwrap_or_else(|| url.to_string())
}

/// `analysis.windows.net/powerbi/api` from `https://analysis.windows.net/powerbi/api/.default`.
fn resource(scope: &str) -> &str {
    let r = scope.strip_suffix("/.default").unwrap_or(scope);
    r.strip_prefix("https://").unwrap_or(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thresholds(warning_days: u64, critical_days: u64) -> Thresholds {
        Thresholds {
            warning: std::time::Duration::from_secs(warning_days * 86_400),
            critical: std::time::Duration::from_secs(critical_days * 86_400),
            graph: false,
        }
    }

    #[test]
    fn the_zones_follow_the_thresholds() {
        let default = Axis::new(&thresholds(30, 7));
        assert_eq!((default.lo, default.hi), (-5.0, 90.0));
        assert!((default.pos(7.0) - 12.63).abs() < 0.01);
        assert!((default.pos(30.0) - 36.84).abs() < 0.01);

        let other = Axis::new(&thresholds(45, 10));
        assert_eq!((other.lo, other.hi), (-8.0, 140.0));
        assert!((other.pos(10.0) - 12.16).abs() < 0.01);
        assert!((other.pos(45.0) - 35.81).abs() < 0.01);
        let labels: Vec<String> = other.ticks().into_iter().map(|t| t.label).collect();
        assert_eq!(
            labels,
            ["today", "10 d", "45 d", "60 d", "90 d", "120 d", "140 d+"]
        );
    }

    #[test]
    fn close_thresholds_keep_every_threshold_label() {
        let ticks = Axis::new(&thresholds(30, 1)).ticks();
        let labels: Vec<&str> = ticks.iter().map(|t| t.label.as_str()).collect();
        assert!(labels.starts_with(&["today", "1 d", "30 d"]), "{labels:?}");
        assert!(ticks[1].lower, "the 1 d label sits below `today`");
    }

    #[test]
    fn urgency_ranks_failing_between_critical_and_warning() {
        assert_eq!(Urgency::of(Severity::Critical, true), Urgency::Critical);
        assert_eq!(Urgency::of(Severity::Warning, true), Urgency::Failing);
        assert_eq!(Urgency::of(Severity::Ok, true), Urgency::Failing);
        assert_eq!(Urgency::of(Severity::Unknown, false), Urgency::Unknown);
        assert!(Urgency::Critical < Urgency::Failing && Urgency::Failing < Urgency::Warning);
    }

    #[test]
    fn durations_read_like_the_config() {
        assert_eq!(
            config_duration(std::time::Duration::from_secs(30 * 86_400)),
            "30d"
        );
        assert_eq!(
            config_duration(std::time::Duration::from_secs(36 * 3_600)),
            "36h"
        );
        assert_eq!(human(Duration::minutes(77)), "1h 17m");
        assert_eq!(human(Duration::seconds(20)), "<1m");
    }
}
