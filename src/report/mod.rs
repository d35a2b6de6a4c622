//! The cycle report: what happened to every target and how close every client secret is to
//! expiry, as a terminal table or one JSON document (schema in README.md), and the exit code.
//!
//! The report never contains a secret or token value: only names, versions, times and
//! classified errors.

pub mod alerts;
mod metrics;
pub mod record;
pub mod rotation;
pub mod status;

use std::fmt::Write as _;

use serde::Serialize;
use time::OffsetDateTime;

use crate::config::expiry::Severity;
use crate::config::{App, TokenTarget};
use crate::error::StepError;
pub use crate::timefmt::rfc3339;

/// Version of the JSON report layout.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A new token version was written.
    Written,
    /// The stored token has more than `refresh_before` left; nothing done.
    Fresh,
    /// The target failed; see `error`.
    Failed,
    /// Dry run: a new token would be acquired and written.
    Planned,
    /// Not processed: the daemon was shutting down.
    Skipped,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Written => "written",
            Outcome::Fresh => "fresh",
            Outcome::Failed => "failed",
            Outcome::Planned => "planned",
            Outcome::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    pub app: String,
    /// Shared with the config (one copy per scope).
    pub scope: std::sync::Arc<str>,
    pub vault: String,
    pub secret: String,
    pub outcome: Outcome,
    /// Expiry of the token now stored (the new one when written).
    #[serde(serialize_with = "crate::timefmt::serialize_opt")]
    pub token_expires_on: Option<OffsetDateTime>,
    /// When the stored token was written (its Key Vault `updated` time).
    #[serde(serialize_with = "crate::timefmt::serialize_opt")]
    pub token_updated_on: Option<OffsetDateTime>,
    /// When the stored token comes due for refresh: a moment drawn (stably, per token) between
    /// `refresh_before` and `refresh_before/2` before it expires, never before half its life.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::timefmt::serialize_opt"
    )]
    pub refresh_at: Option<OffsetDateTime>,
    /// The Key Vault version written, when written.
    pub version: Option<String>,
    /// `verified`, or `not_verifiable` (Microsoft Graph), when written.
    pub signature: Option<String>,
    /// `passed` when a probe of the target API accepted the new token.
    pub probe: Option<String>,
    pub error: Option<Box<StepError>>,
}

impl TargetReport {
    pub fn new(app: &App, target: &TokenTarget) -> Self {
        TargetReport {
            app: app.name.clone(),
            scope: target.scope.clone(),
            vault: target.vault.to_string(),
            secret: target.secret_name.clone(),
            outcome: Outcome::Failed,
            token_expires_on: None,
            token_updated_on: None,
            refresh_at: None,
            version: None,
            signature: None,
            probe: None,
            error: None,
        }
    }

    pub fn fail(&mut self, e: StepError) {
        self.outcome = Outcome::Failed;
        self.error = Some(Box::new(e));
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientSecretReport {
    pub vault: String,
    pub name: String,
    pub version: Option<String>,
    /// When the client secret expires: the earlier of its Key Vault `exp` and, with
    /// `expiry.graph`, Graph's end date.
    #[serde(serialize_with = "crate::timefmt::serialize_opt")]
    pub expires_on: Option<OffsetDateTime>,
    pub days_left: Option<i64>,
    pub severity: Severity,
    /// With `expiry.graph`: the matching credential's `endDateTime` in Microsoft Graph.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::timefmt::serialize_opt"
    )]
    pub graph_expires_on: Option<OffsetDateTime>,
    /// With `expiry.graph`: Key Vault's `exp` and Graph's end date disagree (by more than a day).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry_mismatch: Option<String>,
    /// With `expiry.graph`: why Graph could not be consulted or matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AppReport {
    pub name: String,
    /// Shared with the config (one copy per tenant).
    pub tenant_id: std::sync::Arc<str>,
    pub client_id: String,
    /// Who to tell: the config's `owner`, else the client secret's `owner` tag in Key Vault.
    pub owner: Option<String>,
    pub client_secret: ClientSecretReport,
    /// A problem with the app itself (for example its client secret cannot be read).
    pub error: Option<Box<StepError>>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub targets: usize,
    pub written: usize,
    pub fresh: usize,
    pub failed: usize,
    pub planned: usize,
    pub skipped: usize,
    pub apps: usize,
    pub secrets_ok: usize,
    pub secrets_warning: usize,
    pub secrets_critical: usize,
    pub secrets_expired: usize,
    pub secrets_unknown: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CycleReport {
    pub schema_version: u32,
    /// Names this cycle: logged in `cycle_started`/`cycle_finished`, in every alert it raises
    /// and in the `run-id` tag of every Key Vault version it writes. Empty in reports built
    /// outside a cycle.
    pub run_id: String,
    #[serde(serialize_with = "crate::timefmt::serialize")]
    pub started_at: OffsetDateTime,
    #[serde(serialize_with = "crate::timefmt::serialize")]
    pub finished_at: OffsetDateTime,
    pub dry_run: bool,
    pub summary: Summary,
    pub apps: Vec<AppReport>,
    pub targets: Vec<TargetReport>,
    pub notes: Vec<String>,
    /// Alerts delivered after the cycle (absent when `[alerts]` is not configured or in a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts: Option<alerts::AlertReport>,
    /// Client-secret rotations (apps with `rotate`), every step.
    pub rotations: Vec<crate::report::rotation::RotationReport>,
    /// Each vault's budget use during the cycle: transactions of each kind and the most in any
    /// sliding 10 s window, against the limit of the configured share (`[limits]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vaults: Vec<crate::net::pacing::VaultUsage>,
    /// The status record this cycle's caller stored (not part of the JSON report: `status`
    /// and the daemon's `/status` show it).
    #[serde(skip)]
    pub status_record: Option<record::StatusRecord>,
}

/// When warnings should make the exit code non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FailOn {
    /// Only failed targets fail the run.
    #[default]
    Error,
    /// Also a client secret at `warning` or worse.
    Warning,
    /// Also a client secret at `critical` or worse.
    Critical,
}

impl CycleReport {
    pub fn new(
        started: OffsetDateTime,
        finished: OffsetDateTime,
        dry_run: bool,
        apps: Vec<AppReport>,
        targets: Vec<TargetReport>,
        notes: Vec<String>,
    ) -> Self {
        let mut s = Summary {
            targets: targets.len(),
            apps: apps.len(),
            ..Default::default()
        };
        for t in &targets {
            match t.outcome {
                Outcome::Written => s.written += 1,
                Outcome::Fresh => s.fresh += 1,
                Outcome::Failed => s.failed += 1,
                Outcome::Planned => s.planned += 1,
                Outcome::Skipped => s.skipped += 1,
            }
        }
        for a in &apps {
            match a.client_secret.severity {
                Severity::Ok => s.secrets_ok += 1,
                Severity::Warning => s.secrets_warning += 1,
                Severity::Critical => s.secrets_critical += 1,
                Severity::Expired => s.secrets_expired += 1,
                Severity::Unknown => s.secrets_unknown += 1,
            }
        }
        CycleReport {
            schema_version: SCHEMA_VERSION,
            run_id: String::new(),
            started_at: started,
            finished_at: finished,
            dry_run,
            summary: s,
            apps,
            targets,
            notes,
            alerts: None,
            rotations: Vec::new(),
            vaults: Vec::new(),
            status_record: None,
        }
    }

    /// 0 all good, 1 some target failed (or a warning when `fail_on` asks for it).
    pub fn exit_code(&self, fail_on: FailOn) -> i32 {
        if self.summary.failed > 0 || self.rotations.iter().any(|r| r.error.is_some()) {
            return 1;
        }
        let worst = self
            .apps
            .iter()
            .map(|a| a.client_secret.severity)
            .max()
            .unwrap_or(Severity::Ok);
        let threshold = match fail_on {
            FailOn::Error => return 0,
            FailOn::Warning => Severity::Warning,
            FailOn::Critical => Severity::Critical,
        };
        i32::from(worst >= threshold)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Writes the same bytes as [`CycleReport::to_json`] to `out`, through a buffer, without
    /// holding the whole document in memory: at N = 3,000 apps that string alone was 4.2 MB of
    /// the rotator's peak heap, and it grows with every target.
    pub fn write_json(&self, out: impl std::io::Write) -> std::io::Result<()> {
        use std::io::Write as _;
        let mut out = std::io::BufWriter::new(out);
        serde_json::to_writer_pretty(&mut out, self)?;
        out.flush()
    }

    /// Human-readable tables.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let title = if self.dry_run {
            "Tokens (dry run)"
        } else {
            "Tokens"
        };
        let _ = writeln!(out, "{title}");
        let rows: Vec<Vec<String>> = self
            .targets
            .iter()
            .map(|t| {
                vec![
                    t.app.clone(),
                    t.secret.clone(),
                    resource_of(&t.scope),
                    t.outcome.label().to_string(),
                    t.token_expires_on
                        .map(rfc3339)
                        .unwrap_or_else(|| "-".into()),
                    t.error
                        .as_ref()
                        .map(|e| e.class.label().to_string())
                        .unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        table(
            &mut out,
            &[
                "APP",
                "TOKEN SECRET",
                "RESOURCE",
                "OUTCOME",
                "TOKEN EXPIRES",
                "ERROR",
            ],
            &rows,
        );
        let _ = writeln!(out, "\nClient secrets");
        let rows: Vec<Vec<String>> = self
            .apps
            .iter()
            .map(|a| {
                vec![
                    a.name.clone(),
                    a.client_secret.name.clone(),
                    a.client_secret
                        .expires_on
                        .map(rfc3339)
                        .unwrap_or_else(|| "-".into()),
                    a.client_secret
                        .days_left
                        .map(|d| d.to_string())
                        .unwrap_or_else(|| "-".into()),
                    a.client_secret.severity.label().to_uppercase(),
                ]
            })
            .collect();
        table(
            &mut out,
            &["APP", "CLIENT SECRET", "EXPIRES", "DAYS LEFT", "SEVERITY"],
            &rows,
        );
        let failures: Vec<&StepError> = self
            .targets
            .iter()
            .filter_map(|t| t.error.as_deref())
            .collect();
        let app_errors: Vec<&StepError> = self
            .apps
            .iter()
            .filter_map(|a| a.error.as_deref())
            .filter(|e| !failures.contains(e))
            .collect();
        if !failures.is_empty() || !app_errors.is_empty() {
            let _ = writeln!(out, "\nProblems");
            let mut seen = Vec::new();
            for e in failures.into_iter().chain(app_errors) {
                if seen.contains(&e) {
                    continue;
                }
                seen.push(e);
                let code = e
                    .code
                    .as_deref()
                    .map(|c| format!(" [{c}]"))
                    .unwrap_or_default();
                let _ = writeln!(out, "  - {}{code}: {}", e.class, e.message);
            }
        }
        if !self.rotations.is_empty() {
            let _ = writeln!(out, "\nClient-secret rotations");
            for r in &self.rotations {
                let _ = writeln!(out, "  {} ({}): {:?}", r.app, r.secret, r.outcome);
                for s in &r.steps {
                    let _ = writeln!(out, "    - {} [{}] {}", s.step, s.status, s.detail);
                }
            }
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        if let Some(a) = &self.alerts {
            let _ = writeln!(
                out,
                "\nAlerts: {} sent, {} not delivered (retried next run), {} suppressed as already sent",
                a.sent, a.failed, a.suppressed
            );
            for sink in &a.sinks {
                if let Some(e) = &sink.error {
                    let _ = writeln!(out, "  - sink {}: {e}", sink.name);
                }
            }
        }
        let s = &self.summary;
        let _ = writeln!(
            out,
            "\n{} targets: {} written, {} fresh, {} failed{}; client secrets: {} ok, {} warning, {} critical, {} expired, {} unknown",
            s.targets,
            s.written,
            s.fresh,
            s.failed,
            if self.dry_run {
                format!(", {} planned", s.planned)
            } else {
                String::new()
            },
            s.secrets_ok,
            s.secrets_warning,
            s.secrets_critical,
            s.secrets_expired,
            s.secrets_unknown
        );
        out
    }
}

fn resource_of(scope: &str) -> String {
    scope.strip_suffix("/.default").unwrap_or(scope).to_string()
}

fn table(out: &mut String, headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut l = String::from("  ");
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i] - c.chars().count();
            l.push_str(c);
            if i + 1 < cells.len() {
                l.push_str(&" ".repeat(pad + 2));
            }
        }
        l
    };
    let _ = writeln!(out, "{}", line(headers.to_vec()));
    for r in rows {
        let _ = writeln!(out, "{}", line(r.iter().map(String::as_str).collect()));
    }
}
