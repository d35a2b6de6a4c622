//! Findings: the problems a cycle report shows that someone should be told about, each with a
//! stable key so that the same problem is recognised from one run to the next.
//!
//! This module turns a [`CycleReport`] into findings and writes their human text (title,
//! detail). It decides nothing about sending: that is [`super::decide`]. It never sees a secret
//! value: reports hold names, vault URLs, times and classified error messages only.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::state::AlertState;
use crate::config::alerts::AlertSeverity;
use crate::config::expiry::Severity;
use crate::report::rotation::RotationOutcome;
use crate::report::{CycleReport, Outcome, TargetReport};
use crate::timefmt::rfc3339;

/// What kind of problem a finding is. The label is the first part of the finding key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The client secret expires soon (warning, critical) or has expired.
    ClientSecretExpiry,
    /// The client secret has no expiry recorded in Key Vault.
    ClientSecretUnknownExpiry,
    /// Key Vault's `exp` and Microsoft Graph's `endDateTime` disagree.
    ClientSecretExpiryMismatch,
    /// A client-secret rotation failed (nothing was published; the current secret stays).
    RotationFailed,
    /// A rotation needs a person (for example an old credential it could not identify).
    /// An event: the rotator cannot tell when the person has acted. (Stored states from
    /// before it was an event call it `rotation_manual_action`.)
    #[serde(alias = "rotation_manual_action")]
    ManualActionNeeded,
    /// A rotation added a client secret (Graph `addPassword`) and published it to Key Vault.
    /// An event.
    CredentialAdded,
    /// A rotation removed the previous client secret (Graph `removePassword`). An event.
    CredentialRemoved,
    /// A token target failed `failure_threshold` cycles in a row.
    TargetFailing,
    /// The stored token expires before the next scheduled run.
    TokenExpiresBeforeNextRun,
    /// The status record was older than the schedule allows when a run started: scheduled
    /// runs did not happen (the CronJob or daemon was not running). An event, keyed by the
    /// missed record's time.
    StatusRecordStale,
}

impl FindingKind {
    pub fn label(self) -> &'static str {
        match self {
            FindingKind::ClientSecretExpiry => "client_secret_expiry",
            FindingKind::ClientSecretUnknownExpiry => "client_secret_unknown_expiry",
            FindingKind::ClientSecretExpiryMismatch => "client_secret_expiry_mismatch",
            FindingKind::RotationFailed => "rotation_failed",
            FindingKind::ManualActionNeeded => "manual_action_needed",
            FindingKind::CredentialAdded => "credential_added",
            FindingKind::CredentialRemoved => "credential_removed",
            FindingKind::TargetFailing => "target_failing",
            FindingKind::TokenExpiresBeforeNextRun => "token_expires_before_next_run",
            FindingKind::StatusRecordStale => "status_record_stale",
        }
    }

    /// The CloudEvents `type` of an alert about this kind of finding.
    pub fn event_type(self) -> &'static str {
        match self {
            FindingKind::ClientSecretExpiry => "com.akv-rotator.client_secret.expiry",
            FindingKind::ClientSecretUnknownExpiry => {
                "com.akv-rotator.client_secret.unknown_expiry"
            }
            FindingKind::ClientSecretExpiryMismatch => {
                "com.akv-rotator.client_secret.expiry_mismatch"
            }
            FindingKind::RotationFailed => "com.akv-rotator.client_secret.rotation_failed",
            FindingKind::ManualActionNeeded => "com.akv-rotator.client_secret.manual_action_needed",
            FindingKind::CredentialAdded => "com.akv-rotator.client_secret.credential_added",
            FindingKind::CredentialRemoved => "com.akv-rotator.client_secret.credential_removed",
            FindingKind::TargetFailing => "com.akv-rotator.token.failing",
            FindingKind::TokenExpiresBeforeNextRun => {
                "com.akv-rotator.token.expires_before_next_run"
            }
            FindingKind::StatusRecordStale => "com.akv-rotator.runs.missed",
        }
    }

    /// Whether the finding is about an app's client secret (else about a token secret).
    pub fn is_client_secret(self) -> bool {
        matches!(
            self,
            FindingKind::ClientSecretExpiry
                | FindingKind::ClientSecretUnknownExpiry
                | FindingKind::ClientSecretExpiryMismatch
                | FindingKind::RotationFailed
                | FindingKind::ManualActionNeeded
                | FindingKind::CredentialAdded
                | FindingKind::CredentialRemoved
        )
    }

    /// Whether this kind is an event (something that happened once) rather than a lasting
    /// problem: sent once to each sink, never reminded, escalated or resolved.
    pub fn is_event(self) -> bool {
        matches!(
            self,
            FindingKind::ManualActionNeeded
                | FindingKind::CredentialAdded
                | FindingKind::CredentialRemoved
                | FindingKind::StatusRecordStale
        )
    }

    /// The stable key of a finding: `{kind}/{app}` for client secrets, `{kind}/{app}/{secret}`
    /// for token targets. Events are keyed by the credential's key id instead
    /// ([`FindingKind::event_key`]).
    pub fn key(self, app: &str, token_secret: Option<&str>) -> String {
        match token_secret {
            Some(s) if !self.is_client_secret() => format!("{}/{app}/{s}", self.label()),
            _ => format!("{}/{app}", self.label()),
        }
    }
}

impl FindingKind {
    /// The key of an event: `{kind}/{app}/{key id}`, one per credential, so that a second
    /// rotation of the same app is a new event and the same event seen twice is one.
    pub fn event_key(self, app: &str, key_id: &str) -> String {
        format!("{}/{app}/{}", self.label(), key_id.to_ascii_lowercase())
    }
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// A Key Vault secret a finding is about (the client secret, or the token secret). Name and
/// vault only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRef {
    pub name: String,
    pub vault: String,
}

/// Whether this run could tell if the problem exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingStatus {
    /// The problem exists at this severity.
    Problem(AlertSeverity),
    /// This run could not tell (for example the client secret could not be read, or a dry
    /// run): whatever the alert state says about this key is kept as it is, and nothing is sent
    /// or resolved for it.
    NotAssessed,
}

impl SecretRef {
    /// The token secret a target writes.
    fn of_target(target: &TargetReport) -> SecretRef {
        SecretRef {
            name: target.secret.clone(),
            vault: target.vault.clone(),
        }
    }
}

/// One problem found in a cycle report (or the note that a known problem could not be checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Stable across runs, e.g. `client_secret_expiry/sales-reporting`.
    pub key: String,
    pub kind: FindingKind,
    pub status: FindingStatus,
    pub app: String,
    /// The app's owner, when the config names one; used for routing.
    pub owner: Option<String>,
    /// One line, e.g. `Client secret of app "sales" expires in 3 days`.
    pub title: String,
    /// What is wrong, where, and what to do.
    pub detail: String,
    /// The client secret (client secret findings) or the token secret (token findings).
    pub secret: Option<SecretRef>,
    /// The client secret's expiry, or the stored token's.
    pub expires_on: Option<OffsetDateTime>,
    /// Whole days until the client secret expires (negative once expired).
    pub days_left: Option<i64>,
    /// For [`FindingKind::TargetFailing`]: how many cycles in a row the target failed,
    /// including this one.
    pub consecutive_failures: Option<u32>,
    /// The Graph keyId of the credential a rotation finding is about (never its value).
    pub key_id: Option<String>,
    /// The run that raised the finding ([`CycleReport::run_id`]).
    pub run_id: Option<String>,
    /// When an event happened (the rotation step's time); `None` for lasting problems.
    pub occurred_at: Option<OffsetDateTime>,
}

impl Finding {
    /// The severity, when the problem was assessed.
    pub fn severity(&self) -> Option<AlertSeverity> {
        match self.status {
            FindingStatus::Problem(s) => Some(s),
            FindingStatus::NotAssessed => None,
        }
    }

    /// A client secret expiring (warning/critical) or expired.
    pub fn client_secret_expiry(
        app: &str,
        owner: Option<&str>,
        severity: AlertSeverity,
        secret: SecretRef,
        expires_on: Option<OffsetDateTime>,
        days_left: Option<i64>,
    ) -> Finding {
        let kind = FindingKind::ClientSecretExpiry;
        let when = match (severity, days_left) {
            (AlertSeverity::Expired, Some(d)) if d < -1 => format!("expired {} days ago", -d),
            (AlertSeverity::Expired, _) => "has expired".to_string(),
            (_, Some(0)) => "expires within a day".to_string(),
            (_, Some(1)) => "expires in 1 day".to_string(),
            (_, Some(d)) => format!("expires in {d} days"),
            (_, None) => "expires soon".to_string(),
        };
        let on = expires_on
            .map(|e| format!(" (expiry {})", rfc3339(e)))
            .unwrap_or_default();
        let impact = if severity == AlertSeverity::Expired {
            "Its tokens can no longer be refreshed; consumers will fail once the stored tokens end."
        } else {
            "Once it expires, its tokens can no longer be refreshed."
        };
        Finding {
            status: FindingStatus::Problem(severity),
            owner: owner.map(str::to_string),
            title: format!("Client secret of app \"{app}\" {when}"),
            detail: format!(
                "Key Vault secret \"{}\" in {}{on} holds the client secret of app \"{app}\". {impact} \
                 Create a new client secret for the app registration in Entra ID, store its value as a new \
                 version of \"{}\" with the new end date as its expiry, then remove the old client secret.",
                secret.name, secret.vault, secret.name
            ),
            secret: Some(secret),
            expires_on,
            days_left,
            ..Finding::blank(kind.key(app, None), kind, app)
        }
    }

    /// A client secret with no expiry recorded in Key Vault.
    pub fn client_secret_unknown_expiry(
        app: &str,
        owner: Option<&str>,
        secret: SecretRef,
    ) -> Finding {
        let kind = FindingKind::ClientSecretUnknownExpiry;
        Finding {
            status: FindingStatus::Problem(AlertSeverity::Warning),
            owner: owner.map(str::to_string),
            title: format!("Client secret of app \"{app}\" has no expiry date"),
            detail: format!(
                "Key Vault secret \"{}\" in {} has no expiration date, so nobody will be warned before the \
                 client secret stops working. Set the secret's expiration date to the client secret's end \
                 date in Entra ID.",
                secret.name, secret.vault
            ),
            secret: Some(secret),
            ..Finding::blank(kind.key(app, None), kind, app)
        }
    }

    /// Key Vault's `exp` and Microsoft Graph's end date of the client secret disagree.
    pub fn client_secret_expiry_mismatch(
        app: &str,
        owner: Option<&str>,
        secret: SecretRef,
        detail: &str,
        graph_expires_on: Option<OffsetDateTime>,
    ) -> Finding {
        let kind = FindingKind::ClientSecretExpiryMismatch;
        Finding {
            status: FindingStatus::Problem(AlertSeverity::Warning),
            owner: owner.map(str::to_string),
            title: format!(
                "Client secret of app \"{app}\": Key Vault and Entra ID disagree on its expiry"
            ),
            detail: detail.to_string(),
            secret: Some(secret),
            expires_on: graph_expires_on,
            ..Finding::blank(kind.key(app, None), kind, app)
        }
    }

    /// A client-secret rotation that failed: a lasting problem, resolved once a rotation of the
    /// app runs without failing.
    pub fn rotation_failed(
        app: &str,
        owner: Option<&str>,
        secret: SecretRef,
        detail: &str,
    ) -> Finding {
        let kind = FindingKind::RotationFailed;
        Finding {
            status: FindingStatus::Problem(AlertSeverity::Critical),
            owner: owner.map(str::to_string),
            title: format!("Client secret rotation of app \"{app}\" failed"),
            detail: detail.to_string(),
            secret: Some(secret),
            ..Finding::blank(kind.key(app, None), kind, app)
        }
    }

    /// Something that happened in a rotation (an event): the credential `key_id` was added or removed,
    /// or a person must act about it. Sent at `warning`, so that sinks at the default
    /// `min_severity` hear about every change to an app's credentials.
    pub fn rotation_event(
        kind: FindingKind,
        app: &str,
        owner: Option<&str>,
        secret: SecretRef,
        key_id: &str,
        detail: &str,
        at: OffsetDateTime,
    ) -> Finding {
        let title = match kind {
            FindingKind::CredentialAdded => {
                format!("New client secret {key_id} added to app \"{app}\"")
            }
            FindingKind::CredentialRemoved => {
                format!("Client secret {key_id} removed from app \"{app}\"")
            }
            _ => format!("Client secret rotation of app \"{app}\" needs manual action"),
        };
        Finding {
            status: FindingStatus::Problem(AlertSeverity::Warning),
            owner: owner.map(str::to_string),
            title,
            detail: detail.to_string(),
            secret: Some(secret),
            key_id: Some(key_id.to_string()),
            occurred_at: Some(at),
            ..Finding::blank(kind.event_key(app, key_id), kind, app)
        }
    }

    /// A token target that failed `consecutive_failures` cycles in a row (this one included).
    /// The alert is only sent once the count reaches the configured threshold.
    pub fn target_failing(
        target: &TargetReport,
        owner: Option<&str>,
        consecutive_failures: u32,
    ) -> Finding {
        let kind = FindingKind::TargetFailing;
        let app = target.app.as_str();
        let why = target
            .error
            .as_ref()
            .map(|e| {
                let code = e
                    .code
                    .as_deref()
                    .map(|c| format!(" [{c}]"))
                    .unwrap_or_default();
                format!("{}{code}: {}", e.class, e.message)
            })
            .unwrap_or_else(|| "no error recorded".to_string());
        let runs = if consecutive_failures == 1 {
            "1 run".to_string()
        } else {
            format!("{consecutive_failures} runs in a row")
        };
        Finding {
            status: FindingStatus::Problem(AlertSeverity::Critical),
            owner: owner.map(str::to_string),
            title: format!(
                "Token \"{}\" of app \"{app}\" failed to refresh for {runs}",
                target.secret
            ),
            detail: format!(
                "The token for {} could not be refreshed: {why}. Consumers keep the stored token until it \
                 expires{}.",
                target.scope,
                target
                    .token_expires_on
                    .map(|e| format!(" ({})", rfc3339(e)))
                    .unwrap_or_default()
            ),
            secret: Some(SecretRef::of_target(target)),
            expires_on: target.token_expires_on,
            consecutive_failures: Some(consecutive_failures),
            ..Finding::blank(kind.key(app, Some(&target.secret)), kind, app)
        }
    }

    /// The stored token ends before the next scheduled run: consumers will read an expired
    /// token in between. Critical when the target failed this run, warning when it succeeded
    /// (the schedule and `refresh_before` do not fit together).
    pub fn token_expires_before_next_run(
        target: &TargetReport,
        owner: Option<&str>,
        expires: OffsetDateTime,
        next_run: OffsetDateTime,
    ) -> Finding {
        let kind = FindingKind::TokenExpiresBeforeNextRun;
        let app = target.app.as_str();
        let failed = target.outcome == Outcome::Failed;
        let advice = if failed {
            "The last refresh failed; fix the target's error (see the failing-token alert or the \
             report) or run the rotator sooner."
                .to_string()
        } else {
            "Run the rotator more often, or set the target's refresh_before longer than the time \
             between runs."
                .to_string()
        };
        Finding {
            status: FindingStatus::Problem(if failed {
                AlertSeverity::Critical
            } else {
                AlertSeverity::Warning
            }),
            owner: owner.map(str::to_string),
            title: format!(
                "Token \"{}\" of app \"{app}\" expires before the next run",
                target.secret
            ),
            detail: format!(
                "The stored token for {} expires at {}, the next run is at {}: consumers will read an \
                 expired token in between. {advice}",
                target.scope,
                rfc3339(expires),
                rfc3339(next_run)
            ),
            secret: Some(SecretRef::of_target(target)),
            expires_on: Some(expires),
            ..Finding::blank(kind.key(app, Some(&target.secret)), kind, app)
        }
    }

    /// Scheduled runs were missed: the run starting at `now` found the last status record
    /// (`record`, written at `recorded_at`) older than `due` (when the next record should have
    /// been written). About the deployment, not an app: `app` names the record's secret.
    pub fn status_record_stale(
        record: &str,
        recorded_at: OffsetDateTime,
        due: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Finding {
        let kind = FindingKind::StatusRecordStale;
        // To the minute: seconds say nothing about a gap of hours.
        let gap = (now - recorded_at).unsigned_abs();
        let gap = crate::timefmt::duration(if gap.as_secs() >= 60 {
            std::time::Duration::from_secs(gap.as_secs() / 60 * 60)
        } else {
            gap
        });
        Finding {
            key: kind.event_key(record, &rfc3339(recorded_at)),
            kind,
            status: FindingStatus::Problem(AlertSeverity::Warning),
            app: record.to_string(),
            owner: None,
            title: format!("akv-rotator did not run for {gap}"),
            detail: format!(
                "The last run before this one finished at {}, and the schedule had the next one                  recorded by {}; this run started at {}. Tokens were not refreshed in between and may                  have expired. Check that the CronJob or daemon runs (suspended job, failed pods,                  missing image, a node without capacity) and that its schedule matches [daemon] schedule.",
                rfc3339(recorded_at),
                rfc3339(due),
                rfc3339(now)
            ),
            secret: None,
            expires_on: None,
            days_left: None,
            consecutive_failures: None,
            key_id: Some(rfc3339(recorded_at)),
            run_id: None,
            occurred_at: Some(now),
        }
    }

    /// "This run could not tell" for a known key: keeps its alert state untouched.
    pub fn not_assessed(key: &str, kind: FindingKind, app: &str) -> Finding {
        Finding::blank(key.to_string(), kind, app)
    }

    /// A finding of `kind` about `app` under `key`, not assessed and with nothing else known:
    /// what the constructors here, and the alert state's replays, fill in.
    pub(crate) fn blank(key: String, kind: FindingKind, app: &str) -> Finding {
        Finding {
            key,
            kind,
            status: FindingStatus::NotAssessed,
            app: app.to_string(),
            owner: None,
            title: String::new(),
            detail: String::new(),
            secret: None,
            expires_on: None,
            days_left: None,
            consecutive_failures: None,
            key_id: None,
            run_id: None,
            occurred_at: None,
        }
    }
}

/// The findings of one cycle report.
///
/// - client secret `warning`/`critical`/`expired` → [`FindingKind::ClientSecretExpiry`];
///   `unknown` (no expiry recorded) → [`FindingKind::ClientSecretUnknownExpiry`] (warning);
///   an app whose client secret could not be read at all (severity `unknown` *and* an app
///   error, or `unknown` in a dry run) is not assessed, so a Key Vault hiccup neither resolves
///   nor raises anything;
/// - every failed target → [`FindingKind::TargetFailing`] with the consecutive failure count
///   (the previous count in `state`, plus one); the alert is sent once it reaches the
///   configured threshold ([`super::decide`]); a target that succeeds resets its count;
/// - a target whose stored token expires at or before `next_run` →
///   [`FindingKind::TokenExpiresBeforeNextRun`]; with `next_run = None` these are not assessed;
/// - a failed rotation → [`FindingKind::RotationFailed`]; its `publish` step done →
///   [`FindingKind::CredentialAdded`] (the new key id); its `remove_previous` step done →
///   [`FindingKind::CredentialRemoved`] (the previous key id); a manual action →
///   [`FindingKind::ManualActionNeeded`]; the last three are events, keyed by key id;
/// - a dry run assesses client secrets only;
/// - every finding carries the report's run id.
///
/// `owners` maps app names to owners.
pub fn findings_from_report(
    report: &CycleReport,
    owners: &HashMap<String, String>,
    next_run: Option<OffsetDateTime>,
    state: &AlertState,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let owner_of = |app: &str| owners.get(app).map(String::as_str);
    // Keys already known, so that "not assessed" is only said about something to keep.
    let known = |key: &str| state.findings.contains_key(key) || state.failures.contains_key(key);
    let hold = |out: &mut Vec<Finding>, kind: FindingKind, app: &str, secret: Option<&str>| {
        let key = kind.key(app, secret);
        if known(&key) {
            out.push(Finding::not_assessed(&key, kind, app));
        }
    };

    for app in &report.apps {
        let cs = &app.client_secret;
        let owner = owner_of(&app.name);
        let secret = SecretRef {
            name: cs.name.clone(),
            vault: cs.vault.clone(),
        };
        match &cs.expiry_mismatch {
            Some(detail) => out.push(Finding::client_secret_expiry_mismatch(
                &app.name,
                owner,
                secret.clone(),
                detail,
                cs.graph_expires_on,
            )),
            None if app.error.is_some() || report.dry_run => hold(
                &mut out,
                FindingKind::ClientSecretExpiryMismatch,
                &app.name,
                None,
            ),
            None => {}
        }
        match cs.severity {
            Severity::Ok => {}
            // Unreadable, or a dry run whose listing fell back to reads it did not make.
            Severity::Unknown if app.error.is_some() || report.dry_run => {
                hold(&mut out, FindingKind::ClientSecretExpiry, &app.name, None);
                hold(
                    &mut out,
                    FindingKind::ClientSecretUnknownExpiry,
                    &app.name,
                    None,
                );
            }
            Severity::Unknown => {
                out.push(Finding::client_secret_unknown_expiry(
                    &app.name, owner, secret,
                ));
            }
            s @ (Severity::Warning | Severity::Critical | Severity::Expired) => {
                if let Some(severity) = AlertSeverity::from_expiry(s) {
                    out.push(Finding::client_secret_expiry(
                        &app.name,
                        owner,
                        severity,
                        secret,
                        cs.expires_on,
                        cs.days_left,
                    ));
                }
            }
        }
    }

    // Rotations: a failure is a lasting finding (a rotation that later runs without failing
    // resolves it); an added or removed credential and a manual step are events. A successful
    // rotation also moves the secret's expiry forward, which resolves the expiry finding.
    for r in &report.rotations {
        let owner = owner_of(&r.app);
        let secret = SecretRef {
            name: r.secret.clone(),
            vault: r.vault.clone(),
        };
        match r.outcome {
            RotationOutcome::Failed => {
                let detail = r
                    .error
                    .as_ref()
                    .map(|e| format!("{}: {}", e.class, e.message))
                    .unwrap_or_else(|| "the rotation failed".into());
                let mut f = Finding::rotation_failed(&r.app, owner, secret.clone(), &detail);
                f.key_id = r.key_id.clone();
                out.push(f);
            }
            // A dry run assessed nothing: keep what the state knows.
            RotationOutcome::Planned => hold(&mut out, FindingKind::RotationFailed, &r.app, None),
            // A rotation that ran without failing clears an earlier failure.
            _ => {}
        }
        let done = |step: &str| {
            r.steps
                .iter()
                .find(|s| s.step == step && s.status == "done")
        };
        let event = |kind, key_id: &str, detail: &str, at| {
            Finding::rotation_event(kind, &r.app, owner, secret.clone(), key_id, detail, at)
        };
        // `publish` done: the credential `key_id` now exists in Entra ID and in Key Vault.
        if let (Some(step), Some(key_id)) = (done("publish"), &r.key_id) {
            let detail = format!(
                "A rotation added client secret {key_id} to app \"{}\" in Entra ID and published it as \
                 a new version of Key Vault secret \"{}\" in {} ({}). If nobody expected this rotation, \
                 check the app's credentials in Entra ID.",
                r.app, r.secret, r.vault, step.detail
            );
            out.push(event(
                FindingKind::CredentialAdded,
                key_id,
                &detail,
                step.at,
            ));
        }
        // `remove_previous` done: the previous credential is gone from Entra ID.
        if let (Some(step), Some(key_id)) = (done("remove_previous"), &r.previous_key_id) {
            let detail = format!(
                "The rotation of app \"{}\" finished: {} from Entra ID; Key Vault secret \"{}\" in {} \
                 holds the credential now in use.",
                r.app, step.detail, r.secret, r.vault
            );
            out.push(event(
                FindingKind::CredentialRemoved,
                key_id,
                &detail,
                step.at,
            ));
        }
        if let Some(action) = &r.manual_action {
            // About the credential the rotation published, if it got that far.
            let key_id = r.key_id.as_deref().unwrap_or("unpublished");
            let at = r.steps.last().map(|s| s.at).unwrap_or(report.finished_at);
            out.push(event(FindingKind::ManualActionNeeded, key_id, action, at));
        }
    }

    for t in &report.targets {
        let owner = owner_of(&t.app);
        let secret = Some(t.secret.as_str());
        if report.dry_run || t.outcome == Outcome::Planned {
            hold(&mut out, FindingKind::TargetFailing, &t.app, secret);
            hold(
                &mut out,
                FindingKind::TokenExpiresBeforeNextRun,
                &t.app,
                secret,
            );
            continue;
        }
        if t.outcome == Outcome::Failed {
            let key = FindingKind::TargetFailing.key(&t.app, secret);
            let previous = state.failures.get(&key).copied().unwrap_or(0);
            out.push(Finding::target_failing(
                t,
                owner,
                previous.saturating_add(1),
            ));
        }
        let expires = t.token_expires_on;
        match (next_run, expires) {
            (None, _) => hold(
                &mut out,
                FindingKind::TokenExpiresBeforeNextRun,
                &t.app,
                secret,
            ),
            (Some(next), Some(exp)) if exp <= next => {
                out.push(Finding::token_expires_before_next_run(t, owner, exp, next));
            }
            // No stored token at all: the failing-target finding covers it.
            (Some(_), _) => {}
        }
    }
    if !report.run_id.is_empty() {
        for f in &mut out {
            f.run_id = Some(report.run_id.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests;
