//! Alerts: tell security and platform teams about client secrets nearing expiry and token
//! targets that keep failing, once per problem (not once per run), and about what rotations
//! did (a credential added or removed, a manual step), once per event, in Teams, Slack or any
//! webhook (CloudEvents 1.0, `source` naming the deployment).
//!
//! One run of alerting, after a cycle:
//! ```text
//! CycleReport ─► findings_from_report ─► decide (dedup against the stored state) ─► deliver ─► save state
//!                 (stable keys)            new / escalated / reminder / resolved      (retries)   (only what
//!                                          per sink, filtered by severity and owner               sinks accepted)
//! ```
//! - [`finding`]: findings and their text; [`decide`]: the pure dedup policy; [`state`]: what
//!   survives between runs and the [`AlertStateStore`] trait; [`payload`]: CloudEvent, Teams
//!   card, Slack blocks; [`crate::config::alerts`]: `[alerts]`.
//! - Alerting never fails a rotation: [`run_alerts`] returns an [`AlertReport`], never an error,
//!   and reports each sink's failures in it.
//! - Webhook URLs are credentials: they arrive as [`SecretString`]s read from Key Vault by the
//!   caller, and never appear in a report, a log line or the stored state.

pub mod decide;
mod deliver;
pub mod finding;
pub mod payload;
pub mod run;
pub mod state;

use std::collections::HashMap;

use secrecy::SecretString;
use time::OffsetDateTime;

pub use crate::config::alerts::{AlertSeverity, DeliveryOptions};
pub use crate::config::alerts::{
    AlertsConfig, AlertsConfigProblem, RawAlertsConfig, RawSinkConfig, SinkConfig, SinkKind,
};
pub use decide::{Notification, decide};
pub use finding::{Finding, FindingKind, FindingStatus, SecretRef, findings_from_report};
pub use state::{
    AlertState, AlertStateStore, FindingRecord, MAX_STATE_BYTES, MemoryStateStore,
    STATE_CONTENT_TYPE, STATE_VERSION, SinkRecord,
};

use crate::error::ErrorClass;
pub use crate::report::alerts::{
    AlertReport, DeliveryOutcome, DeliveryReport, NotificationState, SinkReport,
};
use deliver::{WebhookUrl, new_event_id};

/// One run of alerting: load the state, decide, deliver, record what sinks accepted, save.
///
/// `sink_urls` maps sink names to the webhook URLs read from their Key Vault secrets; a sink
/// without one is reported as failed (its alerts are tried again next run). `http` must allow
/// the URLs' scheme (the product client is https-only). Never fails and never panics: every
/// problem is in the report.
#[tracing::instrument(name = "alerts", skip_all, fields(findings = findings.len(), sinks = cfg.sinks.len()))]
pub async fn run_alerts(
    http: &reqwest::Client,
    cfg: &AlertsConfig,
    sink_urls: &HashMap<String, SecretString>,
    store: &dyn AlertStateStore,
    findings: Vec<Finding>,
    now: OffsetDateTime,
) -> AlertReport {
    let mut notes = Vec::new();
    let (state, may_save) = match store.load().await {
        Ok(s) => (s, true),
        Err(e) if e.class == ErrorClass::NotFound => (AlertState::default(), true),
        Err(e) if e.class == ErrorClass::MalformedResponse => {
            tracing::warn!(event = "alert_state_corrupt", error = %e.message, "alert state unreadable; starting from an empty state");
            notes.push(format!(
                "the stored alert state could not be read ({}); started from an empty state, so open \
                 findings are alerted again as new, and the state was replaced",
                e.message
            ));
            (AlertState::default(), true)
        }
        Err(e) => {
            tracing::warn!(event = "alert_state_unavailable", class = %e.class, error = %e.message, "alert state not loaded; alerting without it");
            notes.push(format!(
                "the alert state could not be loaded ({}: {}); alerts were sent as if nothing had been \
                 sent before, and the stored state was left untouched",
                e.class, e.message
            ));
            (AlertState::default(), false)
        }
    };

    let decision = decide::decide_with_counts(&state, &findings, now, cfg);
    let notifications = decision.notifications;
    let mut next = decision.state;

    let deliveries = cfg.sinks.iter().map(|sink| {
        let due: Vec<(usize, &Notification)> = notifications
            .iter()
            .enumerate()
            .filter(|(_, n)| n.sink == sink.name)
            .collect();
        deliver_to_sink(
            http,
            sink,
            sink_urls.get(&sink.name),
            due,
            &cfg.delivery,
            &cfg.source,
            now,
        )
    });
    let results = futures::future::join_all(deliveries).await;

    let mut report = AlertReport {
        findings: decision.active,
        notifications: notifications.len(),
        suppressed: decision.suppressed,
        ..AlertReport::default()
    };
    for (sink_report, accepted) in results {
        for i in accepted {
            if let Some(n) = notifications.get(i) {
                next.record_delivery(n, now);
            }
        }
        report.sent += sink_report.sent;
        report.failed += sink_report.failed + sink_report.skipped;
        report.sinks.push(sink_report);
    }

    next.updated_at = Some(now);
    let size = next.to_stored().len();
    if size > MAX_STATE_BYTES {
        notes.push(format!(
            "the alert state is {size} bytes even gzipped ({} findings), more than a Key Vault \
             secret holds ({MAX_STATE_BYTES}); it may not be stored, and alerts may repeat: shard \
             the apps (each shard keeps its own state)",
            next.findings.len()
        ));
    }
    if may_save {
        match store.save(&next).await {
            Ok(()) => report.state_saved = true,
            Err(e) => {
                tracing::warn!(event = "alert_state_save_failed", class = %e.class, error = %e.message, "alert state not saved");
                notes.push(format!(
                    "the alert state could not be saved ({}: {}); the next run may send the same alerts again",
                    e.class, e.message
                ));
            }
        }
    }
    report.notes = notes;
    tracing::info!(
        event = "alerts_done",
        findings = report.findings,
        sent = report.sent,
        failed = report.failed,
        suppressed = report.suppressed,
        "alerting finished"
    );
    report
}

/// Delivers one sink's alerts in order; stops early when the sink looks unavailable. Returns the
/// report and the indices of the notifications the sink accepted.
#[tracing::instrument(name = "alerts.sink", skip_all, fields(sink = %sink.name, kind = sink.kind.label()))]
async fn deliver_to_sink(
    http: &reqwest::Client,
    sink: &SinkConfig,
    url: Option<&SecretString>,
    due: Vec<(usize, &Notification)>,
    opts: &DeliveryOptions,
    source: &str,
    now: OffsetDateTime,
) -> (SinkReport, Vec<usize>) {
    let mut report = SinkReport {
        name: sink.name.clone(),
        kind: sink.kind,
        sent: 0,
        failed: 0,
        skipped: 0,
        error: None,
        deliveries: Vec::new(),
    };
    let mut accepted = Vec::new();
    if due.is_empty() {
        return (report, accepted);
    }
    let url = match url.map(|u| WebhookUrl::parse(u, opts)) {
        Some(Ok(u)) => Ok(u),
        Some(Err(e)) => Err(format!(
            "{e} (Key Vault secret \"{}\" of sink \"{}\")",
            sink.url_secret, sink.name
        )),
        None => Err(format!(
            "no webhook URL: Key Vault secret \"{}\" of sink \"{}\" was not read",
            sink.url_secret, sink.name
        )),
    };
    let mut unavailable: Option<String> = None;
    for (i, n) in due {
        let mut delivery = DeliveryReport {
            finding: n.finding.key.clone(),
            state: n.state,
            severity: n.severity,
            outcome: DeliveryOutcome::Skipped,
            attempts: 0,
            reason: None,
        };
        let url = match (&url, &unavailable) {
            (Err(e), _) => {
                delivery.outcome = DeliveryOutcome::Failed;
                delivery.reason = Some(e.clone());
                None
            }
            (Ok(_), Some(why)) => {
                delivery.reason = Some(format!(
                    "not tried: an earlier alert to this sink failed ({why})"
                ));
                None
            }
            (Ok(u), None) => Some(u),
        };
        if let Some(url) = url {
            let (body, content_type) = payload::render(sink.kind, n, source, &new_event_id(), now);
            let body = serde_json::to_vec(&body).unwrap_or_default();
            match deliver::post(http, url, &sink.name, body, content_type, opts).await {
                Ok(attempts) => {
                    delivery.outcome = DeliveryOutcome::Sent;
                    delivery.attempts = attempts;
                    accepted.push(i);
                    tracing::info!(event = "alert_sent", sink = %sink.name, finding = %n.finding.key, state = n.state.label(), severity = n.severity.label(), attempts, "alert sent");
                }
                Err(f) => {
                    delivery.outcome = DeliveryOutcome::Failed;
                    delivery.attempts = f.attempts;
                    tracing::warn!(event = "alert_failed", sink = %sink.name, finding = %n.finding.key, attempts = f.attempts, reason = %f.reason, "alert not delivered; it will be tried again next run");
                    if f.sink_unavailable {
                        unavailable = Some(f.reason.clone());
                    }
                    delivery.reason = Some(f.reason);
                }
            }
        }
        match delivery.outcome {
            DeliveryOutcome::Sent => report.sent += 1,
            DeliveryOutcome::Failed => report.failed += 1,
            DeliveryOutcome::Skipped => report.skipped += 1,
        }
        if delivery.outcome == DeliveryOutcome::Failed && report.error.is_none() {
            report.error = delivery.reason.clone();
        }
        report.deliveries.push(delivery);
    }
    if let Err(e) = &url {
        tracing::warn!(event = "alert_failed", sink = %sink.name, reason = %e, "sink has no usable webhook URL");
    }
    (report, accepted)
}
