//! What a finished cycle adds to the metrics. The cycle's callers (`once`, the daemon) record
//! it; the cycle itself never touches metrics.

use time::OffsetDateTime;

use super::{CycleReport, Outcome};
use crate::telemetry::metrics::Metrics;

impl CycleReport {
    /// Records this cycle into `metrics`: its duration and result, every target refreshed or
    /// found fresh, every rotation that did something, every client secret's expiry.
    pub fn record_metrics(&self, metrics: &Metrics, seconds: f64, now: OffsetDateTime) {
        metrics.record_cycle_end(seconds, self.summary.failed > 0, now);
        for t in &self.targets {
            if matches!(t.outcome, Outcome::Planned | Outcome::Skipped) {
                continue;
            }
            let expires = t.token_expires_on;
            metrics.record_refresh(&t.app, &t.secret, t.outcome.label(), expires, now);
        }
        for r in &self.rotations {
            let outcome = serde_json::to_value(r.outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| "unknown".into());
            if outcome != "not_due" && outcome != "planned" {
                metrics.record_rotation(&r.app, &outcome);
            }
        }
        for a in &self.apps {
            if let Some(exp) = a.client_secret.expires_on {
                metrics.record_client_secret_expiry(&a.name, exp, now);
            }
        }
        for v in &self.vaults {
            let limit = u64::from(v.write_limit_per_10s);
            metrics.record_vault_use(&v.vault, "write", v.writes, v.max_writes_per_10s, limit);
            let limit = u64::from(v.other_limit_per_10s);
            let (sent, peak) = (v.other_transactions, v.max_other_per_10s);
            metrics.record_vault_use(&v.vault, "other", sent, peak, limit);
        }
    }
}
