//! Glue between a cycle and the alerts module: the Key Vault alert-state store, reading the
//! sinks' webhook URLs from Key Vault, and one call that turns a cycle report into delivered,
//! deduplicated alerts. Alert delivery never changes a cycle's outcome or exit code.

use std::collections::HashMap;

use secrecy::SecretString;
use time::OffsetDateTime;
use url::Url;

use crate::alerts::{
    AlertReport, AlertState, AlertStateStore, AlertsConfig, Finding, STATE_CONTENT_TYPE,
    findings_from_report, run_alerts,
};
use crate::azure::vault::KeyVaults;
use crate::config::ValidConfig;
use crate::cycle::tags as cycle_tags;
use crate::error::{ErrorClass, StepError};
use crate::report::CycleReport;
use crate::telemetry::metrics::Metrics;

/// The alert state kept as one Key Vault secret, so separate CronJob runs share it.
pub struct KeyVaultStateStore<'a> {
    pub vaults: &'a KeyVaults,
    pub vault: Url,
    pub name: String,
    /// The run whose alerting writes the state: its `run-id` tag.
    pub run_id: String,
}

#[async_trait::async_trait]
impl AlertStateStore for KeyVaultStateStore<'_> {
    async fn load(&self) -> Result<AlertState, StepError> {
        match self.vaults.read(&self.vault, &self.name).await {
            Ok(v) => {
                use secrecy::ExposeSecret;
                AlertState::from_stored(v.value.expose_secret())
            }
            Err(e) if e.class == ErrorClass::NotFound => Ok(AlertState::default()),
            Err(e) => Err(e),
        }
    }

    async fn save(&self, state: &AlertState) -> Result<(), StepError> {
        self.vaults
            .write_text(
                &self.vault,
                &self.name,
                &state.to_stored(),
                STATE_CONTENT_TYPE,
                cycle_tags::own_document(cycle_tags::PURPOSE_ALERT_STATE, &self.run_id),
            )
            .await
            .map(|_| ())
    }
}

/// The state secret's name; each shard keeps its own so shards never resolve each other's
/// findings.
pub fn state_secret_name(cfg: &AlertsConfig, shard: Option<crate::cycle::Shard>) -> String {
    crate::cycle::Shard::secret_name(&cfg.state_secret, shard)
}

/// Runs the alerts for a finished cycle, with `extra` findings its caller made (missed runs).
/// `None` when alerts are not configured.
#[allow(clippy::too_many_arguments)]
pub async fn alert(
    config: &ValidConfig,
    vaults: &KeyVaults,
    http: &reqwest::Client,
    metrics: &Metrics,
    report: &CycleReport,
    shard: Option<crate::cycle::Shard>,
    extra: Vec<Finding>,
    now: OffsetDateTime,
) -> Option<AlertReport> {
    let cfg = config.alerts.as_ref()?;
    let state_vault = cfg.state_vault.clone()?;
    let mut urls: HashMap<String, SecretString> = HashMap::new();
    for sink in &cfg.sinks {
        let vault = sink
            .url_vault
            .clone()
            .unwrap_or_else(|| state_vault.clone());
        match vaults.read(&vault, &sink.url_secret).await {
            Ok(v) => {
                urls.insert(sink.name.clone(), v.value);
            }
            Err(e) => {
                // run_alerts reports a sink without URL as failed and retries next run.
                tracing::warn!(event = "alert_sink_url_unreadable", sink = %sink.name, class = %e.class, error = %e.message, "cannot read the sink's webhook URL from Key Vault");
            }
        }
    }
    let store = KeyVaultStateStore {
        vaults,
        vault: state_vault,
        name: state_secret_name(cfg, shard),
        run_id: report.run_id.clone(),
    };
    let owners: HashMap<String, String> = report
        .apps
        .iter()
        .filter_map(|a| a.owner.clone().map(|o| (a.name.clone(), o)))
        .collect();
    let next_run = config.daemon.next_slot(now);
    let state = store.load().await.unwrap_or_default();
    let mut findings = findings_from_report(report, &owners, next_run, &state);
    for mut f in extra {
        if !report.run_id.is_empty() {
            f.run_id = Some(report.run_id.clone());
        }
        findings.push(f);
    }
    let result = run_alerts(http, cfg, &urls, &store, findings, now).await;
    for sink in &result.sinks {
        for _ in 0..sink.sent {
            metrics.record_alert(&sink.name, "sent");
        }
        for _ in 0..sink.failed {
            metrics.record_alert(&sink.name, "failed");
        }
    }
    if result.failed > 0 || !result.state_saved {
        tracing::warn!(
            event = "alerts_incomplete",
            sent = result.sent,
            failed = result.failed,
            state_saved = result.state_saved,
            "some alerts were not delivered; they are retried next run"
        );
    } else if result.sent > 0 {
        tracing::info!(event = "alerts_sent", sent = result.sent, "alerts sent");
    }
    Some(result)
}
