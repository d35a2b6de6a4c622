//! The `[alerts]` configuration: the file model ([`RawAlertsConfig`], embedded in the main
//! config file) and its validated form ([`AlertsConfig`]).
//!
//! Sinks name the Key Vault secret that holds their webhook URL: the URL is a credential and
//! never appears in the config file, in this model, or in anything derived from it.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::expiry::Severity;
use crate::config::is_secret_name;

pub const DEFAULT_REALERT_AFTER: Duration = Duration::from_secs(24 * 3600);
pub const DEFAULT_STATE_SECRET: &str = "akv-rotator-alert-state";
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
/// CloudEvents `source` when neither the config nor its file name says which deployment this is.
pub const DEFAULT_EVENT_SOURCE: &str = "akv-rotator";

/// `[alerts]` as written in the file.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawAlertsConfig {
    /// Send an open finding again after this long (default `24h`).
    #[serde(default)]
    pub realert_after: Option<String>,
    /// Name of the Key Vault secret holding the alert state (default `akv-rotator-alert-state`).
    #[serde(default)]
    pub state_secret: Option<String>,
    /// Vault of the state secret (default: the main `vault`).
    #[serde(default)]
    pub state_vault: Option<String>,
    /// Alert about a failing token after this many failed cycles in a row (default 3).
    #[serde(default)]
    pub failure_threshold: Option<i64>,
    /// CloudEvents `source` of every alert: names the deployment, so that receivers can tell
    /// several rotators apart (default `akv-rotator/<config file name without extension>`).
    #[serde(default)]
    pub source: Option<String>,
    /// Let a sink's webhook URL secret sit in a vault tokens are written to (default false:
    /// consumers read there). Only for deployments whose consumers' role assignments are
    /// scoped to their token secrets.
    #[serde(default)]
    pub allow_url_in_token_vault: bool,
    #[serde(default)]
    pub sinks: Vec<RawSinkConfig>,
}

/// `[[alerts.sinks]]` as written in the file.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawSinkConfig {
    pub name: String,
    /// `webhook` (CloudEvents 1.0), `teams` (Workflows webhook) or `slack` (incoming webhook).
    pub kind: String,
    /// Name of the Key Vault secret whose value is the webhook URL.
    pub url_secret: String,
    /// Vault of `url_secret` (default: the main `vault`).
    #[serde(default)]
    pub url_vault: Option<String>,
    /// `warning` (default), `critical` or `expired`.
    #[serde(default)]
    pub min_severity: Option<String>,
    /// When not empty, only findings of apps with one of these owners.
    #[serde(default)]
    pub owners: Vec<String>,
}

/// The kind of receiver, which decides the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// Any HTTP endpoint: a CloudEvents 1.0 JSON event, structured mode.
    Webhook,
    /// Microsoft Teams Workflows webhook: an Adaptive Card message.
    Teams,
    /// Slack incoming webhook: Block Kit message.
    Slack,
}

impl SinkKind {
    pub fn label(self) -> &'static str {
        match self {
            SinkKind::Webhook => "webhook",
            SinkKind::Teams => "teams",
            SinkKind::Slack => "slack",
        }
    }
}

/// One validated sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkConfig {
    pub name: String,
    pub kind: SinkKind,
    pub url_secret: String,
    pub url_vault: Option<Url>,
    pub min_severity: AlertSeverity,
    /// Empty: every owner (and apps without one).
    pub owners: BTreeSet<String>,
}

impl SinkConfig {
    /// Whether this sink wants a finding of this severity and owner.
    pub fn accepts(&self, severity: AlertSeverity, owner: Option<&str>) -> bool {
        severity >= self.min_severity
            && (self.owners.is_empty() || owner.is_some_and(|o| self.owners.contains(o)))
    }
}

/// A validated `[alerts]` table.
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    pub realert_after: Duration,
    pub state_secret: String,
    pub state_vault: Option<Url>,
    pub failure_threshold: u32,
    /// CloudEvents `source` of every alert.
    pub source: String,
    /// Whether a webhook URL secret may sit in a token output vault (checked by the main config).
    pub allow_url_in_token_vault: bool,
    pub sinks: Vec<SinkConfig>,
    /// Retry, backoff and timeouts of webhook calls. Not in the file; tests shorten them.
    pub delivery: DeliveryOptions,
}

/// One problem in `[alerts]`: the dotted key (e.g. `alerts.sinks[1].min_severity`) and what is
/// wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertsConfigProblem {
    pub key: String,
    pub message: String,
}

impl RawAlertsConfig {
    /// Checks every value; returns all problems at once. Without `source`, the alerts say
    /// [`DEFAULT_EVENT_SOURCE`]; [`RawAlertsConfig::validate_for`] names the deployment.
    pub fn validate(&self) -> Result<AlertsConfig, Vec<AlertsConfigProblem>> {
        self.validate_for(None)
    }

    /// [`RawAlertsConfig::validate`] for the deployment whose config file has this name
    /// without extension (`prod` for `prod.toml`): the default `source` is then
    /// `akv-rotator/prod`.
    pub fn validate_for(
        &self,
        deployment: Option<&str>,
    ) -> Result<AlertsConfig, Vec<AlertsConfigProblem>> {
        let mut problems = Vec::new();
        let mut push = |key: String, message: String| {
            problems.push(AlertsConfigProblem { key, message });
        };

        let realert_after = match &self.realert_after {
            None => DEFAULT_REALERT_AFTER,
            Some(text) => match humantime::parse_duration(text.trim()) {
                Ok(d) if d < Duration::from_secs(60) => {
                    push(
                        "alerts.realert_after".into(),
                        "must be at least 1m (alerts would repeat on every run)".into(),
                    );
                    DEFAULT_REALERT_AFTER
                }
                Ok(d) => d,
                Err(e) => {
                    push(
                        "alerts.realert_after".into(),
                        format!(
                            "invalid duration {text:?}: {e} (write for example \"24h\" or \"3d\")"
                        ),
                    );
                    DEFAULT_REALERT_AFTER
                }
            },
        };

        let state_secret = self
            .state_secret
            .clone()
            .unwrap_or_else(|| DEFAULT_STATE_SECRET.to_string());
        if !is_secret_name(&state_secret) {
            push(
                "alerts.state_secret".into(),
                format!(
                    "{state_secret:?} is not a valid Key Vault secret name (1-127 characters: letters, digits and '-')"
                ),
            );
        }
        let state_vault = self
            .state_vault
            .as_deref()
            .and_then(|v| vault_url(v, "alerts.state_vault", &mut push));

        let failure_threshold = match self.failure_threshold {
            None => DEFAULT_FAILURE_THRESHOLD,
            Some(n) if (1..=1000).contains(&n) => n as u32,
            Some(_) => {
                push(
                    "alerts.failure_threshold".into(),
                    "must be between 1 and 1000".into(),
                );
                DEFAULT_FAILURE_THRESHOLD
            }
        };

        let source = match (&self.source, deployment.map(deployment_name)) {
            (Some(text), _) => {
                let text = text.trim();
                if let Err(why) = check_event_source(text) {
                    push("alerts.source".into(), why);
                }
                text.to_string()
            }
            (None, Some(name)) if !name.is_empty() => format!("{DEFAULT_EVENT_SOURCE}/{name}"),
            (None, _) => DEFAULT_EVENT_SOURCE.to_string(),
        };

        if self.sinks.is_empty() {
            push(
                "alerts.sinks".into(),
                "no [[alerts.sinks]] configured: add a sink, or remove the [alerts] table".into(),
            );
        }
        let mut names = BTreeSet::new();
        let mut sinks = Vec::new();
        for (i, raw) in self.sinks.iter().enumerate() {
            let key = |k: &str| format!("alerts.sinks[{i}].{k}");
            let name = raw.name.trim().to_string();
            let mut ok = true;
            if !is_sink_name(&name) {
                push(
                    key("name"),
                    format!(
                        "{name:?} is not a valid sink name (1-64 characters: letters, digits, '-', '_' and '.')"
                    ),
                );
                ok = false;
            } else if !names.insert(name.clone()) {
                push(key("name"), format!("duplicate sink name {name:?}"));
                ok = false;
            }
            let kind = match raw.kind.as_str() {
                "webhook" => Some(SinkKind::Webhook),
                "teams" => Some(SinkKind::Teams),
                "slack" => Some(SinkKind::Slack),
                other => {
                    push(
                        key("kind"),
                        format!(
                            "unknown sink kind {other:?}{}; expected \"webhook\", \"teams\" or \"slack\"",
                            super::did_you_mean(other, &["webhook", "teams", "slack"])
                        ),
                    );
                    None
                }
            };
            if !is_secret_name(&raw.url_secret) {
                push(
                    key("url_secret"),
                    format!(
                        "{:?} is not a valid Key Vault secret name: name the secret that holds the webhook URL, \
                         never the URL itself",
                        // A URL pasted here is a credential: do not echo it.
                        if raw.url_secret.contains("://") {
                            "<a URL>"
                        } else {
                            raw.url_secret.as_str()
                        }
                    ),
                );
                ok = false;
            }
            let url_vault = match raw.url_vault.as_deref() {
                None => None,
                Some(v) => {
                    let parsed = vault_url(v, &key("url_vault"), &mut push);
                    ok &= parsed.is_some();
                    parsed
                }
            };
            let min_severity = match raw.min_severity.as_deref() {
                None => AlertSeverity::Warning,
                Some(s) => match AlertSeverity::parse(s) {
                    Some(s) => s,
                    None => {
                        push(
                            key("min_severity"),
                            format!(
                                "unknown severity {s:?}{}; expected \"warning\", \"critical\" or \"expired\"",
                                super::did_you_mean(s, &["warning", "critical", "expired"])
                            ),
                        );
                        ok = false;
                        AlertSeverity::Warning
                    }
                },
            };
            let mut owners = BTreeSet::new();
            for (j, owner) in raw.owners.iter().enumerate() {
                let o = owner.trim();
                if o.is_empty() {
                    push(
                        format!("alerts.sinks[{i}].owners[{j}]"),
                        "must not be empty".into(),
                    );
                    ok = false;
                } else {
                    owners.insert(o.to_string());
                }
            }
            if let (true, Some(kind)) = (ok, kind) {
                sinks.push(SinkConfig {
                    name,
                    kind,
                    url_secret: raw.url_secret.clone(),
                    url_vault,
                    min_severity,
                    owners,
                });
            }
        }

        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(AlertsConfig {
            realert_after,
            state_secret,
            state_vault,
            failure_threshold,
            source,
            allow_url_in_token_vault: self.allow_url_in_token_vault,
            sinks,
            delivery: DeliveryOptions::default(),
        })
    }
}

/// A CloudEvents `source`: "a non-empty URI-reference" (CloudEvents 1.0 specification,
/// "source" attribute), such as `akv-rotator/prod` or `https://ops.example.com/akv-rotator`.
/// Checked as one here: no spaces or control characters, and parseable relative to a base URL.
fn check_event_source(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("must not be empty (it names this deployment in every alert)".into());
    }
    if text.len() > 256 {
        return Err("must be at most 256 characters".into());
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{text:?} is not a URI reference: no spaces or control characters (write for example \"akv-rotator/prod-westeurope\")"
        ));
    }
    let base = Url::parse("https://source.invalid/").map_err(|e| e.to_string())?;
    base.join(text)
        .map(|_| ())
        .map_err(|e| format!("{text:?} is not a URI reference: {e}"))
}

/// A config file's name, without extension, reduced to characters that need no escaping in a
/// URI path segment (others become `-`).
fn deployment_name(stem: &str) -> String {
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A vault base URL over https. The cloud suffix is checked by the main config.
fn vault_url(text: &str, key: &str, push: &mut impl FnMut(String, String)) -> Option<Url> {
    match Url::parse(text.trim()) {
        Ok(u) if u.scheme() != "https" => {
            push(key.into(), "vault URL must use https://".into());
            None
        }
        Ok(u) if u.path() != "/" || u.query().is_some() || u.fragment().is_some() => {
            push(
                key.into(),
                "vault URL must be the vault's base URL, like https://my-vault.vault.azure.net/"
                    .into(),
            );
            None
        }
        Ok(u) if u.host_str().is_none() => {
            push(key.into(), "vault URL must have a host".into());
            None
        }
        Ok(u) => Some(u),
        Err(e) => {
            push(key.into(), format!("invalid vault URL: {e}"));
            None
        }
    }
}

fn is_sink_name(v: &str) -> bool {
    (1..=64).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// How hard to try one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOptions {
    /// Attempts per alert, the first included.
    pub max_attempts: u32,
    /// Limit for one attempt, from connecting to the end of the response.
    pub attempt_timeout: Duration,
    /// Wait before the second attempt; doubled for each further one, ±25 % jitter.
    pub initial_backoff: Duration,
    /// Longest `Retry-After` honoured (longer ones are cut to this).
    pub max_retry_after: Duration,
    /// Accept `http://` webhook URLs. Only for tests and local receivers: the product's HTTP
    /// client refuses plain HTTP anyway.
    pub allow_plain_http: bool,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            max_attempts: 3,
            attempt_timeout: Duration::from_secs(10),
            initial_backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(10),
            allow_plain_http: false,
        }
    }
}

/// How urgent an alert is. Unlike [`Severity`] there is no `ok`: an alert is always a problem.
/// Ordered from least to most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSeverity {
    Warning,
    Critical,
    Expired,
}

impl AlertSeverity {
    pub fn label(self) -> &'static str {
        match self {
            AlertSeverity::Warning => "warning",
            AlertSeverity::Critical => "critical",
            AlertSeverity::Expired => "expired",
        }
    }

    /// The alert severity of a client secret's expiry severity: `ok` is no alert, `unknown`
    /// (no expiry recorded) is a warning.
    pub fn from_expiry(severity: Severity) -> Option<AlertSeverity> {
        match severity {
            Severity::Ok => None,
            Severity::Unknown | Severity::Warning => Some(AlertSeverity::Warning),
            Severity::Critical => Some(AlertSeverity::Critical),
            Severity::Expired => Some(AlertSeverity::Expired),
        }
    }

    pub(crate) fn parse(s: &str) -> Option<AlertSeverity> {
        match s {
            "warning" => Some(AlertSeverity::Warning),
            "critical" => Some(AlertSeverity::Critical),
            "expired" => Some(AlertSeverity::Expired),
            _ => None,
        }
    }
}

impl std::fmt::Display for AlertSeverity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AlertsConfig, Vec<AlertsConfigProblem>> {
        #[derive(Deserialize)]
        struct Doc {
            alerts: RawAlertsConfig,
        }
        let doc: Doc = toml::from_str(text).map_err(|e| {
            vec![AlertsConfigProblem {
                key: String::new(),
                message: e.to_string(),
            }]
        })?;
        doc.alerts.validate()
    }

    #[test]
    fn defaults_apply() {
        let cfg = parse(
            r#"
            [alerts]
            [[alerts.sinks]]
            name = "security-teams"
            kind = "teams"
            url_secret = "teams-webhook-url"
            "#,
        )
        .map_err(|p| format!("{p:?}"));
        let Ok(cfg) = cfg else {
            panic!("{cfg:?}");
        };
        assert_eq!(cfg.realert_after, Duration::from_secs(86_400));
        assert_eq!(cfg.state_secret, "akv-rotator-alert-state");
        assert_eq!(cfg.state_vault, None);
        assert_eq!(cfg.failure_threshold, 3);
        assert_eq!(cfg.sinks.len(), 1);
        assert_eq!(cfg.sinks[0].kind, SinkKind::Teams);
        assert_eq!(cfg.sinks[0].min_severity, AlertSeverity::Warning);
        assert!(cfg.sinks[0].owners.is_empty());
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let problems = parse(
            r#"
            [alerts]
            realert_after = "1 fortnight"
            state_secret = "bad name!"
            state_vault = "http://kv.vault.azure.net/"
            failure_threshold = 0
            [[alerts.sinks]]
            name = "a"
            kind = "email"
            url_secret = "https://hooks.slack.com/services/T000/B000/XXXX"
            min_severity = "ok"
            owners = [""]
            [[alerts.sinks]]
            name = "a"
            kind = "slack"
            url_secret = "slack-url"
            "#,
        )
        .err()
        .unwrap_or_default();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "alerts.realert_after",
                "alerts.state_secret",
                "alerts.state_vault",
                "alerts.failure_threshold",
                "alerts.sinks[0].kind",
                "alerts.sinks[0].url_secret",
                "alerts.sinks[0].min_severity",
                "alerts.sinks[0].owners[0]",
                "alerts.sinks[1].name",
            ]
        );
        // A URL pasted where the secret name belongs is not echoed.
        assert!(
            problems
                .iter()
                .all(|p| !p.message.contains("hooks.slack.com"))
        );
    }

    #[test]
    fn owner_routing_and_min_severity() {
        let sink = SinkConfig {
            name: "s".into(),
            kind: SinkKind::Slack,
            url_secret: "u".into(),
            url_vault: None,
            min_severity: AlertSeverity::Critical,
            owners: BTreeSet::from(["team-a".to_string()]),
        };
        assert!(sink.accepts(AlertSeverity::Critical, Some("team-a")));
        assert!(sink.accepts(AlertSeverity::Expired, Some("team-a")));
        assert!(!sink.accepts(AlertSeverity::Warning, Some("team-a")));
        assert!(!sink.accepts(AlertSeverity::Critical, Some("team-b")));
        assert!(!sink.accepts(AlertSeverity::Critical, None));
        let all = SinkConfig {
            owners: BTreeSet::new(),
            ..sink
        };
        assert!(all.accepts(AlertSeverity::Critical, None));
    }
}
