//! Prometheus metrics for daemon mode (`/metrics`) and the counters behind efficiency reports.
//!
//! One [`Metrics`] value is created per process and passed around in an `Arc`. Labels carry
//! names (apps, secrets, operations, status codes), never values. Outbound requests are counted
//! in one place: [`MeteredTransport`] wraps the HTTPS client the Azure SDK uses, and the direct
//! Entra calls record themselves.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use azure_core::http::{AsyncRawResponse, HttpClient, Method, Request};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use time::OffsetDateTime;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppOutcome {
    app: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppLabel {
    app: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabel {
    app: String,
    secret: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabel {
    service: String,
    operation: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabel {
    sink: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VaultKindLabel {
    vault: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

/// The same measurements as OpenTelemetry instruments, exported over OTLP when configured
/// (the global meter provider is a no-op otherwise).
struct OtelInstruments {
    cycle_duration: opentelemetry::metrics::Histogram<f64>,
    refreshes: opentelemetry::metrics::Counter<u64>,
    requests: opentelemetry::metrics::Counter<u64>,
    alerts: opentelemetry::metrics::Counter<u64>,
    client_secret_expiry: opentelemetry::metrics::Gauge<f64>,
    token_expiry: opentelemetry::metrics::Gauge<f64>,
}

impl OtelInstruments {
    fn new() -> Self {
        let meter = opentelemetry::global::meter("akv-rotator");
        OtelInstruments {
            cycle_duration: meter
                .f64_histogram("akv_rotator.cycle.duration")
                .with_unit("s")
                .with_description("Duration of a rotation cycle")
                .build(),
            refreshes: meter
                .u64_counter("akv_rotator.token.refreshes")
                .with_description("Token targets processed, by app and outcome")
                .build(),
            requests: meter
                .u64_counter("akv_rotator.requests")
                .with_description("Outbound requests by service, operation and status")
                .build(),
            alerts: meter
                .u64_counter("akv_rotator.alerts")
                .with_description("Alerts sent, by sink and outcome")
                .build(),
            client_secret_expiry: meter
                .f64_gauge("akv_rotator.client_secret.expiry")
                .with_unit("s")
                .with_description("Time until each app's client secret expires")
                .build(),
            token_expiry: meter
                .f64_gauge("akv_rotator.token.expiry")
                .with_unit("s")
                .with_description("Time until each stored token expires")
                .build(),
        }
    }
}

fn kv(k: &'static str, v: &str) -> opentelemetry::KeyValue {
    opentelemetry::KeyValue::new(k, v.to_string())
}

/// All metrics of the process.
pub struct Metrics {
    otel: OtelInstruments,
    registry: Registry,
    cycle_duration: Histogram,
    cycles: Family<ResultLabel, Counter>,
    cycle_overruns: Counter,
    refreshes: Family<AppOutcome, Counter>,
    client_secret_expiry: Family<AppLabel, Gauge<f64, AtomicU64>>,
    token_expiry: Family<TargetLabel, Gauge<f64, AtomicU64>>,
    requests: Family<RequestLabel, Counter>,
    alerts: Family<SinkLabel, Counter>,
    rotations: Family<AppOutcome, Counter>,
    last_success: Gauge<f64, AtomicU64>,
    vault_transactions: Family<VaultKindLabel, Counter>,
    vault_window_peak: Family<VaultKindLabel, Gauge>,
    vault_window_limit: Family<VaultKindLabel, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("akv_rotator");
        let cycle_duration = Histogram::new([
            0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
        ]);
        registry.register_with_unit(
            "cycle_duration",
            "Duration of a rotation cycle",
            prometheus_client::registry::Unit::Seconds,
            cycle_duration.clone(),
        );
        let cycles = Family::<ResultLabel, Counter>::default();
        registry.register(
            "cycles",
            "Cycles run, by result (ok, failed_targets, setup_error)",
            cycles.clone(),
        );
        let cycle_overruns = Counter::default();
        registry.register(
            "cycle_overruns",
            "Cycles that ran past the next scheduled slot",
            cycle_overruns.clone(),
        );
        let refreshes = Family::<AppOutcome, Counter>::default();
        registry.register(
            "token_refreshes",
            "Token targets processed, by app and outcome (written, fresh, failed)",
            refreshes.clone(),
        );
        let client_secret_expiry = Family::<AppLabel, Gauge<f64, AtomicU64>>::default();
        registry.register_with_unit(
            "client_secret_expiry",
            "Time until each app's client secret expires (Key Vault exp); negative once expired",
            prometheus_client::registry::Unit::Seconds,
            client_secret_expiry.clone(),
        );
        let token_expiry = Family::<TargetLabel, Gauge<f64, AtomicU64>>::default();
        registry.register_with_unit(
            "token_expiry",
            "Time until each stored token expires",
            prometheus_client::registry::Unit::Seconds,
            token_expiry.clone(),
        );
        let requests = Family::<RequestLabel, Counter>::default();
        registry.register(
            "requests",
            "Outbound requests by service (keyvault, entra), operation and HTTP status",
            requests.clone(),
        );
        let alerts = Family::<SinkLabel, Counter>::default();
        registry.register("alerts", "Alerts sent, by sink and outcome", alerts.clone());
        let rotations = Family::<AppOutcome, Counter>::default();
        registry.register(
            "rotations",
            "Client-secret rotation runs, by app and outcome (rotated, in_grace, completed, failed, …)",
            rotations.clone(),
        );
        let last_success = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "last_cycle_completion_timestamp",
            "Unix time of the last cycle that reached Key Vault",
            prometheus_client::registry::Unit::Seconds,
            last_success.clone(),
        );
        let vault_transactions = Family::<VaultKindLabel, Counter>::default();
        registry.register(
            "vault_transactions",
            "Transactions sent to each vault, by kind (write: CREATE secret; other)",
            vault_transactions.clone(),
        );
        let vault_window_peak = Family::<VaultKindLabel, Gauge>::default();
        registry.register(
            "vault_window_peak",
            "The most transactions of a kind a vault saw in any sliding 10 s window of the last cycle",
            vault_window_peak.clone(),
        );
        let vault_window_limit = Family::<VaultKindLabel, Gauge>::default();
        registry.register(
            "vault_window_limit",
            "The transactions of a kind a vault may see per 10 s at the configured share ([limits])",
            vault_window_limit.clone(),
        );
        Metrics {
            otel: OtelInstruments::new(),
            registry,
            cycle_duration,
            cycles,
            cycle_overruns,
            refreshes,
            client_secret_expiry,
            token_expiry,
            requests,
            alerts,
            rotations,
            last_success,
            vault_transactions,
            vault_window_peak,
            vault_window_limit,
        }
    }

    /// Records one vault's budget use in a cycle, per kind (`write`, `other`): transactions
    /// sent, the most in any 10 s window, and the limit of the configured share.
    pub fn record_vault_use(&self, vault: &str, kind: &str, sent: u64, peak: u64, limit: u64) {
        let label = VaultKindLabel {
            vault: vault.to_string(),
            kind: kind.to_string(),
        };
        self.vault_transactions.get_or_create(&label).inc_by(sent);
        self.vault_window_peak
            .get_or_create(&label)
            .set(i64::try_from(peak).unwrap_or(i64::MAX));
        self.vault_window_limit
            .get_or_create(&label)
            .set(i64::try_from(limit).unwrap_or(i64::MAX));
    }

    /// The Prometheus text exposition (OpenMetrics format).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Records the end of a cycle: its duration, whether a target failed, and the time of the
    /// last successful cycle.
    pub fn record_cycle_end(&self, seconds: f64, failed_targets: bool, now: OffsetDateTime) {
        self.cycle_duration.observe(seconds);
        self.otel.cycle_duration.record(seconds, &[]);
        let result = if failed_targets {
            "failed_targets"
        } else {
            "ok"
        };
        self.cycles
            .get_or_create(&ResultLabel {
                result: result.into(),
            })
            .inc();
        self.last_success.set(now.unix_timestamp() as f64);
    }

    /// Records one target's refresh outcome and, when known, its stored token's expiry.
    pub fn record_refresh(
        &self,
        app: &str,
        secret: &str,
        outcome: &str,
        token_expires: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) {
        self.refreshes
            .get_or_create(&AppOutcome {
                app: app.to_string(),
                outcome: outcome.into(),
            })
            .inc();
        self.otel
            .refreshes
            .add(1, &[kv("app", app), kv("outcome", outcome)]);
        if let Some(exp) = token_expires {
            let left = (exp - now).as_seconds_f64();
            self.token_expiry
                .get_or_create(&TargetLabel {
                    app: app.to_string(),
                    secret: secret.to_string(),
                })
                .set(left);
            self.otel
                .token_expiry
                .record(left, &[kv("app", app), kv("secret", secret)]);
        }
    }

    /// Records one app's client-secret rotation outcome.
    pub fn record_rotation(&self, app: &str, outcome: &str) {
        self.rotations
            .get_or_create(&AppOutcome {
                app: app.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// Records when an app's client secret expires.
    pub fn record_client_secret_expiry(
        &self,
        app: &str,
        expires: OffsetDateTime,
        now: OffsetDateTime,
    ) {
        let left = (expires - now).as_seconds_f64();
        self.client_secret_expiry
            .get_or_create(&AppLabel {
                app: app.to_string(),
            })
            .set(left);
        self.otel
            .client_secret_expiry
            .record(left, &[kv("app", app)]);
    }

    /// A cycle that could not start (configuration or permission problem).
    pub fn record_setup_error(&self) {
        self.cycles
            .get_or_create(&ResultLabel {
                result: "setup_error".into(),
            })
            .inc();
    }

    pub fn record_overrun(&self) {
        self.cycle_overruns.inc();
    }

    /// [`Metrics::record_request`] for the result of sending a request: its status, or `error`
    /// when no answer came.
    pub fn record_sent(
        &self,
        service: &str,
        operation: &str,
        sent: &Result<reqwest::Response, reqwest::Error>,
    ) {
        let status = sent.as_ref().map(|r| r.status().as_u16()).unwrap_or(0);
        self.record_request(service, operation, status);
    }

    pub fn record_request(&self, service: &str, operation: &str, status: u16) {
        let status = if status == 0 {
            "error".to_string()
        } else {
            status.to_string()
        };
        self.otel.requests.add(
            1,
            &[
                kv("service", service),
                kv("operation", operation),
                kv("status", &status),
            ],
        );
        self.requests
            .get_or_create(&RequestLabel {
                service: service.into(),
                operation: operation.into(),
                status,
            })
            .inc();
    }

    pub fn record_alert(&self, sink: &str, outcome: &str) {
        self.otel
            .alerts
            .add(1, &[kv("sink", sink), kv("outcome", outcome)]);
        self.alerts
            .get_or_create(&SinkLabel {
                sink: sink.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Requests counted so far for a service (all operations and statuses).
    pub fn requests_for(&self, service: &str) -> u64 {
        let text = self.encode();
        text.lines()
            .filter(|l| {
                l.starts_with("akv_rotator_requests_total{")
                    && l.contains(&format!("service=\"{service}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

/// Names the operation of an SDK request from its method and path.
pub fn classify_request(method: &Method, path: &str) -> (&'static str, &'static str) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if path.ends_with("/oauth2/v2.0/token") || path.ends_with("/oauth2/token") {
        return ("entra", "token");
    }
    if path.starts_with("/metadata/identity") || path.contains("/msi/token") {
        return ("identity", "token");
    }
    match (method, segments.as_slice()) {
        (Method::Get, ["secrets"]) => ("keyvault", "list"),
        (Method::Get, ["secrets", _, "versions"]) => ("keyvault", "list_versions"),
        (Method::Get, ["secrets", ..]) => ("keyvault", "get"),
        (Method::Put, ["secrets", _]) => ("keyvault", "set"),
        (Method::Patch, ["secrets", ..]) => ("keyvault", "update"),
        (Method::Delete, ["secrets", _]) => ("keyvault", "delete"),
        (_, ["deletedsecrets", ..]) => ("keyvault", "deleted"),
        _ => ("other", "other"),
    }
}

/// The SDK's transport: the rotator's reqwest client, counting every request.
#[derive(Debug)]
pub struct MeteredTransport {
    inner: reqwest::Client,
    metrics: Arc<Metrics>,
}

impl MeteredTransport {
    pub fn new(inner: reqwest::Client, metrics: Arc<Metrics>) -> Self {
        MeteredTransport { inner, metrics }
    }
}

#[async_trait::async_trait]
impl HttpClient for MeteredTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let (service, operation) = classify_request(&request.method(), request.url().path());
        let result = self.inner.execute_request(request).await;
        let status = match &result {
            Ok(r) => u16::from(r.status()),
            Err(_) => 0,
        };
        self.metrics.record_request(service, operation, status);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_named_by_operation() {
        assert_eq!(
            classify_request(&Method::Get, "/secrets"),
            ("keyvault", "list")
        );
        assert_eq!(
            classify_request(&Method::Get, "/secrets/a/"),
            ("keyvault", "get")
        );
        assert_eq!(
            classify_request(&Method::Get, "/secrets/a/versions"),
            ("keyvault", "list_versions")
        );
        assert_eq!(
            classify_request(&Method::Put, "/secrets/a"),
            ("keyvault", "set")
        );
        assert_eq!(
            classify_request(&Method::Post, "/t/oauth2/v2.0/token"),
            ("entra", "token")
        );
    }

    #[test]
    fn the_exposition_parses_and_carries_no_values() {
        let m = Metrics::new();
        m.record_request("keyvault", "get", 200);
        m.record_request("keyvault", "get", 200);
        m.record_alert("teams", "sent");
        let text = m.encode();
        assert!(text.contains("akv_rotator_requests_total{service=\"keyvault\",operation=\"get\",status=\"200\"} 2"), "{text}");
        assert_eq!(m.requests_for("keyvault"), 2);
        assert!(text.ends_with("# EOF\n"));
    }
}
