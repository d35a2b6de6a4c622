//! The rotator's TOML configuration: the file model, its validation, and the validated form
//! ([`ValidConfig`]) that the rest of the code takes.
//!
//! Loading is two steps: deserialize into the raw model (unknown keys, syntax errors and missing
//! fields are caught here, with the line and key from the TOML parser), then [`RawConfig::validate`]
//! checks every value (URLs, clouds, durations, names, GUIDs) and reports *all* problems at once,
//! each with the file, line, column and dotted key. Nothing else in the crate reads the raw model.
//!
//! This module never holds a secret value: the rotator's own client secret is referenced by a
//! file path, and apps' client secrets by Key Vault secret names.

pub mod alerts;
pub mod expiry;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use time::OffsetDateTime;
use toml::Spanned;
use url::Url;

/// A configuration problem, located in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub line: usize,
    pub column: usize,
    /// Dotted key such as `apps[1].targets[0].refresh_before`, when known.
    pub key: Option<String>,
    pub message: String,
}

/// Why a configuration could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", render_issues(path, issues))]
    Invalid {
        path: PathBuf,
        issues: Vec<ConfigIssue>,
    },
}

impl From<ConfigError> for crate::error::SetupError {
    fn from(e: ConfigError) -> Self {
        crate::error::SetupError::new(crate::error::SetupKind::Config, e.to_string())
    }
}

fn render_issues(path: &Path, issues: &[ConfigIssue]) -> String {
    let mut out = format!(
        "invalid config file {} ({} problem{}):",
        path.display(),
        issues.len(),
        if issues.len() == 1 { "" } else { "s" }
    );
    for issue in issues {
        out.push_str(&format!(
            "\n  {}:{}:{}: ",
            path.display(),
            issue.line,
            issue.column
        ));
        if let Some(key) = &issue.key {
            out.push_str(&format!("key `{key}`: "));
        }
        out.push_str(&issue.message);
    }
    out
}

/// The Azure cloud the rotator talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cloud {
    pub name: CloudName,
    /// `https://login.microsoftonline.com` and friends; never ends with a slash.
    pub authority_host: Url,
    /// Vault hosts must end with `.{vault_suffix}` (None: custom cloud without a suffix rule).
    pub vault_suffix: Option<String>,
    /// Power BI REST API base for this cloud (the probe allowlist).
    pub powerbi_api: Option<Url>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudName {
    Public,
    UsGovernment,
    China,
    Custom,
}

impl Cloud {
    /// Where a token for `resource` may be probed (a live token goes only to these hosts) and
    /// the default probe URL, if the resource has one.
    pub fn probe_base(&self, resource: &str) -> Option<(Url, Option<&'static str>)> {
        let r = resource.trim_end_matches('/').to_ascii_lowercase();
        if r.ends_with("/powerbi/api") {
            return self
                .powerbi_api
                .clone()
                .map(|u| (u, Some("/v1.0/myorg/groups?$top=1")));
        }
        let fixed = |host: &str| Url::parse(host).ok();
        let base = match (self.name, r.as_str()) {
            (CloudName::Public, "https://graph.microsoft.com") => {
                fixed("https://graph.microsoft.com")
            }
            (CloudName::UsGovernment, "https://graph.microsoft.us") => {
                fixed("https://graph.microsoft.us")
            }
            (CloudName::China, "https://microsoftgraph.chinacloudapi.cn") => {
                fixed("https://microsoftgraph.chinacloudapi.cn")
            }
            (CloudName::Public, "https://management.azure.com") => {
                fixed("https://management.azure.com")
            }
            (CloudName::UsGovernment, "https://management.usgovcloudapi.net") => {
                fixed("https://management.usgovcloudapi.net")
            }
            (CloudName::China, "https://management.chinacloudapi.cn") => {
                fixed("https://management.chinacloudapi.cn")
            }
            _ => None,
        }?;
        let default = r
            .starts_with("https://management.")
            .then_some("/subscriptions?api-version=2022-12-01");
        Some((base, default))
    }

    /// The built-in clouds; `None` for [`CloudName::Custom`], which needs its own settings.
    pub fn known(name: CloudName) -> Option<Cloud> {
        let (host, suffix, powerbi) = match name {
            CloudName::Public => (
                "https://login.microsoftonline.com",
                "vault.azure.net",
                "https://api.powerbi.com",
            ),
            CloudName::UsGovernment => (
                "https://login.microsoftonline.us",
                "vault.usgovcloudapi.net",
                "https://api.powerbigov.us",
            ),
            CloudName::China => (
                "https://login.chinacloudapi.cn",
                "vault.azure.cn",
                "https://api.powerbi.cn",
            ),
            CloudName::Custom => return None,
        };
        Some(Cloud {
            name,
            authority_host: Url::parse(host).ok()?,
            vault_suffix: Some(suffix.to_string()),
            powerbi_api: Url::parse(powerbi).ok(),
        })
    }

    /// Known clouds keep the SDK's check that the Key Vault challenge names the vault's own
    /// resource; only an explicitly custom cloud (the emulator, Lowkey Vault) may relax it.
    pub fn verify_challenge_resource(&self) -> bool {
        self.name != CloudName::Custom
    }

    /// `{authority}/{tenant}` without a trailing slash.
    pub fn tenant_authority(&self, tenant_id: &str) -> String {
        format!(
            "{}/{}",
            self.authority_host.as_str().trim_end_matches('/'),
            tenant_id
        )
    }
}

/// How the rotator authenticates itself to Key Vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialConfig {
    /// Workload identity when its environment is present, else managed identity.
    Auto,
    WorkloadIdentity {
        tenant_id: Option<String>,
        client_id: Option<String>,
        token_file: Option<PathBuf>,
    },
    ManagedIdentity {
        client_id: Option<String>,
    },
    /// The secret itself lives in a file (for example a mounted Kubernetes secret), never in
    /// the config or the environment.
    ClientSecret {
        tenant_id: String,
        client_id: String,
        client_secret_file: PathBuf,
    },
    /// Azure CLI / Azure Developer CLI, for a developer's machine.
    Developer,
}

/// One token to keep fresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenTarget {
    /// `https://analysis.windows.net/powerbi/api/.default`
    pub scope: String,
    /// The resource part of the scope (scope without `/.default`).
    pub resource: String,
    pub vault: Url,
    pub secret_name: String,
    pub refresh_before: Duration,
    /// Application roles the token must carry (`roles` claim).
    pub required_roles: Vec<String>,
    /// A GET with the new token that must succeed before it is written.
    pub probe: Option<Url>,
}

/// One app registration whose client secret the rotator reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub name: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret_vault: Url,
    /// The Key Vault secret holding the app's credential: its client secret, or (with
    /// `client_certificate_name`, see [`App::credential_kind`]) its certificate.
    pub client_secret_name: String,
    /// Who to tell about this app (included in alerts, can route them to a sink).
    pub owner: Option<String>,
    /// Client secret expiry thresholds for this app (the global ones unless overridden).
    pub thresholds: Thresholds,
    pub targets: Vec<TokenTarget>,
    /// Client secret or certificate.
    pub credential_kind: AppCredentialKind,
    /// Client-secret rotation through Microsoft Graph (opt-in).
    pub rotate: Option<RotatePolicy>,
}

/// How an app authenticates to Entra ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppCredentialKind {
    /// `client_secret_name`: a client secret value.
    #[default]
    ClientSecret,
    /// `client_certificate_name`: PEM (key + certificate) or PKCS#12 in base64, signing a
    /// client assertion.
    Certificate { algorithm: AssertionAlgorithm },
}

/// The client assertion's signature algorithm and thumbprint header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssertionAlgorithm {
    /// PS256 with `x5t#S256` (current Entra documentation).
    #[default]
    Ps256,
    /// RS256 with `x5t` (SHA-1 thumbprint; older libraries).
    Rs256,
}

/// `rotate = { before_expiry, lifetime, grace }` on an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotatePolicy {
    /// Rotate when the current client secret's Key Vault `exp` is this close.
    pub before_expiry: Duration,
    /// Lifetime of the new client secret (`endDateTime` = now + lifetime).
    pub lifetime: Duration,
    /// How long the previous client secret is kept after the new one is published.
    pub grace: Duration,
    /// How long to wait for a new secret to work at the token endpoint before giving up
    /// (Entra ID takes seconds to minutes to propagate a new secret).
    pub propagation_wait: Duration,
}

/// Expiry thresholds for client secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub warning: Duration,
    pub critical: Duration,
    /// Also read the client secret's end date from Microsoft Graph
    /// (`passwordCredentials[].endDateTime`) and compare it with Key Vault's `exp`.
    pub graph: bool,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            warning: Duration::from_secs(30 * 86_400),
            critical: Duration::from_secs(7 * 86_400),
            graph: false,
        }
    }
}

/// Default of `cycle_deadline`.
pub const DEFAULT_CYCLE_DEADLINE: Duration = Duration::from_secs(15 * 60);
/// How long work still running at the cycle deadline may go on before it is abandoned: a tenth
/// of the deadline, at most 30 s.
pub fn deadline_grace(deadline: Duration) -> Duration {
    (deadline / 10).min(Duration::from_secs(30))
}

/// A configuration that passed validation. Only [`RawConfig::validate`] builds one.
#[derive(Debug, Clone)]
pub struct ValidConfig {
    pub source: PathBuf,
    pub cloud: Cloud,
    pub ca_file: Option<PathBuf>,
    pub credential: CredentialConfig,
    pub concurrency: usize,
    /// How long one cycle's token work may take: after it no new target is started, and work
    /// still running [`deadline_grace`] later is abandoned (reported `deadline_exceeded`).
    pub cycle_deadline: Duration,
    pub thresholds: Thresholds,
    pub daemon: DaemonConfig,
    /// Shard count for Indexed Jobs (the index comes from `JOB_COMPLETION_INDEX`).
    pub shard_count: Option<u32>,
    /// Alert sinks and deduplication (absent: no alerts are sent).
    pub alerts: Option<alerts::AlertsConfig>,
    pub apps: Vec<App>,
    /// Microsoft Graph of the cloud (for client-secret rotation); `None` for a custom cloud
    /// without `[custom_cloud] graph_endpoint`.
    pub graph_endpoint: Option<Url>,
    /// The Graph resource whose `/.default` scope the rotator's token asks for: the endpoint
    /// for known clouds; `[custom_cloud] graph_resource` (default
    /// `https://graph.microsoft.com`) for a custom one.
    pub graph_resource: String,
}

/// Daemon mode (`akv-rotator run`).
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// When cycles run.
    pub schedule: cron::Schedule,
    /// The schedule as written (5 or 6 fields).
    pub schedule_text: String,
    /// Each cycle starts at a random delay in `[0, jitter]` after its slot.
    pub jitter: Duration,
    /// Where `/healthz`, `/readyz`, `/metrics` and `/status` are served.
    pub listen: std::net::SocketAddr,
    /// How long in-flight work may take to finish after SIGTERM.
    pub shutdown_grace: Duration,
}

impl DaemonConfig {
    /// The first scheduled slot strictly after `t`, without jitter.
    pub fn next_slot(&self, t: OffsetDateTime) -> Option<OffsetDateTime> {
        next_cron_slot(&self.schedule, t)
    }
}

/// The first slot of a cron schedule strictly after `t`.
pub fn next_cron_slot(cron: &cron::Schedule, t: OffsetDateTime) -> Option<OffsetDateTime> {
    use chrono::{DateTime, Utc};
    let from =
        DateTime::<Utc>::from_timestamp(t.unix_timestamp(), t.nanosecond()).unwrap_or_default();
    cron.after(&from).next().map(|n| {
        OffsetDateTime::from_unix_timestamp(n.timestamp())
            .map(|x| x + time::Duration::nanoseconds(i64::from(n.timestamp_subsec_nanos())))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    })
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            schedule: parse_cron(DEFAULT_SCHEDULE)
                .expect("the default schedule is a valid cron expression"),
            schedule_text: DEFAULT_SCHEDULE.to_string(),
            jitter: Duration::from_secs(30),
            listen: std::net::SocketAddr::from(([0, 0, 0, 0], 8080)),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

const DEFAULT_SCHEDULE: &str = "*/10 * * * *";

/// Parses a cron expression with the meaning Kubernetes CronJobs and classic cron give it:
/// 5 fields (minute hour day month weekday), or 6 with a leading seconds field, or a macro
/// (`@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`, `@yearly`, `@annually`). Weekday
/// numbers are 0-7 with 0 and 7 both Sunday; they are turned into names here, because the
/// `cron` crate numbers weekdays 1-7 from Sunday and would read `1-5` as Sunday to Thursday.
pub fn parse_cron(text: &str) -> Result<cron::Schedule, String> {
    use std::str::FromStr;
    let text = text.trim();
    let macro_fields = match text {
        "@yearly" | "@annually" => Some("0 0 1 1 *"),
        "@monthly" => Some("0 0 1 * *"),
        "@weekly" => Some("0 0 * * 0"),
        "@daily" | "@midnight" => Some("0 0 * * *"),
        "@hourly" => Some("0 * * * *"),
        _ => None,
    };
    let text = macro_fields.unwrap_or(text);
    let mut fields: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    match fields.len() {
        5 => fields.insert(0, "0".to_string()),
        6 => {}
        n => {
            return Err(format!(
                "a cron schedule has 5 fields (minute hour day month weekday), 6 with seconds first, or is a macro such as @hourly; found {n} fields"
            ));
        }
    }
    fields[5] = standard_weekdays(&fields[5])?;
    cron::Schedule::from_str(&fields.join(" ")).map_err(|e| e.to_string())
}

/// Rewrites a weekday field from classic numbering (0-7, 0 and 7 Sunday) to names.
fn standard_weekdays(field: &str) -> Result<String, String> {
    const NAMES: [&str; 8] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    let number = |t: &str| -> Result<Option<usize>, String> {
        match t.parse::<usize>() {
            Ok(n) if n <= 7 => Ok(Some(n)),
            Ok(n) => Err(format!(
                "weekday {n} is out of range: use 0-7 (0 and 7 are Sunday) or SUN-SAT"
            )),
            Err(_) => Ok(None),
        }
    };
    let name = |t: &str| -> Result<String, String> {
        Ok(number(t)?.map_or_else(|| t.to_string(), |n| NAMES[n].to_string()))
    };
    let mut out = Vec::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let step_n = step
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let with_step = |r: String| match step {
            Some(s) => format!("{r}/{s}"),
            None => r,
        };
        match range.split_once('-') {
            // `N-7`: up to Saturday, and Sunday at the end of the week if the step lands on it.
            Some((a, "7")) if number(a)?.is_some_and(|n| n > 0) => {
                let start = number(a)?.unwrap_or(1);
                out.push(with_step(format!("{}-SAT", NAMES[start])));
                if (7 - start) % step_n == 0 {
                    out.push("SUN".to_string());
                }
            }
            Some((a, b)) => out.push(with_step(format!("{}-{}", name(a)?, name(b)?))),
            // `N/step` means N through the end of the week, which the crate wants spelt out.
            None if step.is_some() && number(range)?.is_some() => {
                out.push(with_step(format!("{}-SAT", name(range)?)));
            }
            None => out.push(with_step(name(range)?)),
        }
    }
    Ok(out.join(","))
}

impl ValidConfig {
    /// Every vault the config touches, each once, in a stable order.
    pub fn vaults(&self) -> Vec<Url> {
        let mut set = BTreeSet::new();
        for app in &self.apps {
            set.insert(app.client_secret_vault.clone());
            for t in &app.targets {
                set.insert(t.vault.clone());
            }
        }
        if let Some(a) = &self.alerts {
            set.extend(a.state_vault.clone());
            set.extend(a.sinks.iter().filter_map(|s| s.url_vault.clone()));
        }
        set.into_iter().collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The file model.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    cloud: Option<Spanned<String>>,
    #[serde(default)]
    custom_cloud: Option<RawCustomCloud>,
    /// Default vault for client secrets and tokens.
    #[serde(default)]
    vault: Option<Spanned<String>>,
    #[serde(default)]
    ca_file: Option<Spanned<String>>,
    #[serde(default)]
    concurrency: Option<Spanned<i64>>,
    #[serde(default)]
    cycle_deadline: Option<Spanned<String>>,
    #[serde(default)]
    refresh_before: Option<Spanned<String>>,
    #[serde(default)]
    expiry: Option<RawThresholds>,
    #[serde(default)]
    credential: Option<Spanned<RawCredential>>,
    #[serde(default)]
    daemon: Option<RawDaemon>,
    #[serde(default)]
    shard: Option<RawShard>,
    #[serde(default)]
    alerts: Option<Spanned<alerts::RawAlertsConfig>>,
    #[serde(default)]
    apps: Vec<Spanned<RawApp>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    #[serde(default)]
    schedule: Option<Spanned<String>>,
    #[serde(default)]
    jitter: Option<Spanned<String>>,
    #[serde(default)]
    listen: Option<Spanned<String>>,
    #[serde(default)]
    shutdown_grace: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShard {
    count: Spanned<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCustomCloud {
    authority_host: Spanned<String>,
    #[serde(default)]
    vault_suffix: Option<Spanned<String>>,
    #[serde(default)]
    powerbi_api: Option<Spanned<String>>,
    #[serde(default)]
    graph_endpoint: Option<Spanned<String>>,
    #[serde(default)]
    graph_resource: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThresholds {
    #[serde(default)]
    warning: Option<Spanned<String>>,
    #[serde(default)]
    critical: Option<Spanned<String>>,
    #[serde(default)]
    graph: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredential {
    kind: Spanned<String>,
    #[serde(default)]
    tenant_id: Option<Spanned<String>>,
    #[serde(default)]
    client_id: Option<Spanned<String>>,
    #[serde(default)]
    client_secret_file: Option<Spanned<String>>,
    #[serde(default)]
    token_file: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    name: Spanned<String>,
    tenant_id: Spanned<String>,
    client_id: Spanned<String>,
    #[serde(default)]
    client_secret_name: Option<Spanned<String>>,
    #[serde(default)]
    client_certificate_name: Option<Spanned<String>>,
    #[serde(default)]
    certificate_algorithm: Option<Spanned<String>>,
    #[serde(default)]
    rotate: Option<Spanned<RawRotate>>,
    #[serde(default)]
    vault: Option<Spanned<String>>,
    #[serde(default)]
    owner: Option<Spanned<String>>,
    #[serde(default)]
    expiry: Option<RawThresholds>,
    #[serde(default)]
    targets: Vec<Spanned<RawTarget>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRotate {
    #[serde(default)]
    before_expiry: Option<Spanned<String>>,
    #[serde(default)]
    lifetime: Option<Spanned<String>>,
    #[serde(default)]
    grace: Option<Spanned<String>>,
    #[serde(default)]
    propagation_wait: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    scope: Spanned<String>,
    secret: Spanned<String>,
    #[serde(default)]
    vault: Option<Spanned<String>>,
    #[serde(default)]
    refresh_before: Option<Spanned<String>>,
    #[serde(default)]
    required_roles: Vec<String>,
    /// `true` for the resource's default probe, or a URL on the resource's API host.
    #[serde(default)]
    probe: Option<Spanned<toml::Value>>,
}

/// Reads and validates a config file.
pub fn load(path: &Path) -> Result<ValidConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses and validates config text; `path` is only used in messages and to resolve relative
/// file paths.
pub fn parse(path: &Path, text: &str) -> Result<ValidConfig, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        ConfigError::Invalid {
            path: path.to_path_buf(),
            issues: vec![ConfigIssue {
                line,
                column,
                key: None,
                // The parser names no key for syntax errors: show the line itself.
                message: format!(
                    "{}\n      | {}",
                    e.message().trim(),
                    text.lines().nth(line - 1).unwrap_or("").trim_end()
                ),
            }],
        }
    })?;
    raw.validate(path, text)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(offset, |i| offset - i - 1) + 1;
    (line, column)
}

/// Collects issues while walking the raw model.
struct Checker<'a> {
    text: &'a str,
    issues: Vec<ConfigIssue>,
}

impl Checker<'_> {
    fn push(&mut self, span: std::ops::Range<usize>, key: &str, message: impl Into<String>) {
        let (line, column) = line_col(self.text, span.start);
        self.issues.push(ConfigIssue {
            line,
            column,
            key: Some(key.to_string()),
            message: message.into(),
        });
    }

    fn duration(&mut self, value: &Spanned<String>, key: &str) -> Option<Duration> {
        match humantime::parse_duration(value.get_ref().trim()) {
            Ok(d) if d.is_zero() => {
                self.push(value.span(), key, "duration must be greater than zero");
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.push(
                    value.span(),
                    key,
                    format!(
                        "invalid duration {:?}: {e} (write for example \"45m\", \"2h\", \"30d\")",
                        value.get_ref()
                    ),
                );
                None
            }
        }
    }

    /// `{ warning, critical }` over `base`; critical must not exceed warning.
    fn thresholds(&mut self, t: &RawThresholds, base: Thresholds, key: &str) -> Thresholds {
        let mut out = base;
        if let Some(g) = t.graph {
            out.graph = g;
        }
        if let Some(w) = t
            .warning
            .as_ref()
            .and_then(|d| self.duration(d, &format!("{key}.warning")))
        {
            out.warning = w;
        }
        if let Some(k) = t
            .critical
            .as_ref()
            .and_then(|d| self.duration(d, &format!("{key}.critical")))
        {
            out.critical = k;
        }
        if out.critical > out.warning {
            let span = t
                .critical
                .as_ref()
                .or(t.warning.as_ref())
                .map(|s| s.span())
                .unwrap_or(0..0);
            self.push(
                span,
                &format!("{key}.critical"),
                "the critical threshold must not be longer than the warning threshold",
            );
        }
        out
    }

    fn guid(&mut self, value: &Spanned<String>, key: &str) -> Option<String> {
        let v = value.get_ref().trim();
        if is_guid(v) {
            Some(v.to_ascii_lowercase())
        } else {
            self.push(
                value.span(),
                key,
                format!("{v:?} is not a GUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"),
            );
            None
        }
    }

    fn secret_name(&mut self, value: &Spanned<String>, key: &str) -> Option<String> {
        let v = value.get_ref();
        if is_secret_name(v) {
            Some(v.clone())
        } else {
            self.push(
                value.span(),
                key,
                format!(
                    "{v:?} is not a valid Key Vault secret name (1-127 characters: letters, digits and '-')"
                ),
            );
            None
        }
    }

    fn vault(&mut self, value: &Spanned<String>, key: &str, cloud: &Cloud) -> Option<Url> {
        let mut url = match Url::parse(value.get_ref().trim()) {
            Ok(u) => u,
            Err(e) => {
                self.push(value.span(), key, format!("invalid vault URL: {e}"));
                return None;
            }
        };
        if url.scheme() != "https" {
            self.push(
                value.span(),
                key,
                "vault URL must use https:// (the rotator never sends tokens over plain HTTP)",
            );
            return None;
        }
        if url.query().is_some() || url.fragment().is_some() || url.path() != "/" {
            self.push(
                value.span(),
                key,
                "vault URL must be the vault's base URL, like https://my-vault.vault.azure.net/",
            );
            return None;
        }
        if let Some(suffix) = &cloud.vault_suffix {
            let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
            if !host.ends_with(&format!(".{}", suffix.to_ascii_lowercase())) {
                self.push(
                    value.span(),
                    key,
                    format!(
                        "vault host {host:?} is not a Key Vault of this cloud (expected *.{suffix}); \
                         set `cloud` to the vault's cloud"
                    ),
                );
                return None;
            }
        }
        url.set_path("/");
        Some(url)
    }

    fn https_url(&mut self, value: &Spanned<String>, key: &str) -> Option<Url> {
        match Url::parse(value.get_ref().trim()) {
            Ok(u) if u.scheme() == "https" && u.host_str().is_some() => Some(u),
            Ok(_) => {
                self.push(value.span(), key, "must be an https:// URL with a host");
                None
            }
            Err(e) => {
                self.push(value.span(), key, format!("invalid URL: {e}"));
                None
            }
        }
    }
}

fn resolve_path(config_path: &Path, value: &str) -> PathBuf {
    let p = PathBuf::from(value);
    if p.is_absolute() {
        p
    } else {
        config_path.parent().map(|d| d.join(&p)).unwrap_or(p)
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hex digits.
pub fn is_guid(v: &str) -> bool {
    let groups: Vec<&str> = v.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Key Vault's own rule: `^[0-9a-zA-Z-]{1,127}$`.
pub fn is_secret_name(v: &str) -> bool {
    (1..=127).contains(&v.len()) && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

const DEFAULT_REFRESH_BEFORE: Duration = Duration::from_secs(30 * 60);

impl RawConfig {
    /// Checks every value and builds the [`ValidConfig`]; reports every problem found.
    pub fn validate(self, path: &Path, text: &str) -> Result<ValidConfig, ConfigError> {
        let mut c = Checker {
            text,
            issues: Vec::new(),
        };

        let cloud_name = match self
            .cloud
            .as_ref()
            .map(|s| (s.get_ref().as_str(), s.span()))
        {
            None | Some(("public", _)) => Some(CloudName::Public),
            Some(("us-government", _)) => Some(CloudName::UsGovernment),
            Some(("china", _)) => Some(CloudName::China),
            Some(("custom", _)) => Some(CloudName::Custom),
            Some((other, span)) => {
                c.push(
                    span,
                    "cloud",
                    format!(
                        "unknown cloud {other:?}; expected \"public\", \"us-government\", \"china\" or \"custom\""
                    ),
                );
                None
            }
        };
        let cloud = match (cloud_name, &self.custom_cloud) {
            (Some(CloudName::Custom), Some(custom)) => {
                let host = c.https_url(&custom.authority_host, "custom_cloud.authority_host");
                let powerbi_api = custom
                    .powerbi_api
                    .as_ref()
                    .and_then(|p| c.https_url(p, "custom_cloud.powerbi_api"));
                host.map(|authority_host| Cloud {
                    name: CloudName::Custom,
                    authority_host,
                    vault_suffix: custom
                        .vault_suffix
                        .as_ref()
                        .map(|s| s.get_ref().trim_start_matches('.').to_string()),
                    powerbi_api,
                })
            }
            (Some(CloudName::Custom), None) => {
                let span = self.cloud.as_ref().map(|s| s.span()).unwrap_or(0..0);
                c.push(
                    span,
                    "cloud",
                    "cloud = \"custom\" needs a [custom_cloud] table with authority_host",
                );
                None
            }
            (Some(name), Some(custom)) => {
                c.push(
                    custom.authority_host.span(),
                    "custom_cloud",
                    format!(
                        "[custom_cloud] is only used with cloud = \"custom\" (cloud is {name:?})"
                    ),
                );
                None
            }
            (Some(name), None) => Cloud::known(name),
            (None, _) => None,
        };
        // Without a cloud, URL checks would be meaningless: report what we have so far.
        let Some(cloud) = cloud else {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                issues: c.issues,
            });
        };

        let graph_endpoint = match (&cloud.name, &self.custom_cloud) {
            (CloudName::Custom, Some(custom)) => custom
                .graph_endpoint
                .as_ref()
                .and_then(|g| c.https_url(g, "custom_cloud.graph_endpoint")),
            (name, _) => Url::parse(match name {
                CloudName::UsGovernment => "https://graph.microsoft.us",
                CloudName::China => "https://microsoftgraph.chinacloudapi.cn",
                _ => "https://graph.microsoft.com",
            })
            .ok(),
        };
        let graph_resource = match (&cloud.name, &self.custom_cloud) {
            (CloudName::Custom, Some(custom)) => custom
                .graph_resource
                .as_ref()
                .and_then(|g| c.https_url(g, "custom_cloud.graph_resource"))
                .map(|u| u.as_str().trim_end_matches('/').to_string())
                .unwrap_or_else(|| "https://graph.microsoft.com".to_string()),
            _ => graph_endpoint
                .as_ref()
                .map(|u| u.as_str().trim_end_matches('/').to_string())
                .unwrap_or_default(),
        };

        let ca_file = self
            .ca_file
            .as_ref()
            .map(|s| resolve_path(path, s.get_ref()));
        if let (Some(file), Some(raw)) = (&ca_file, &self.ca_file)
            && !file.is_file()
        {
            c.push(
                raw.span(),
                "ca_file",
                format!("CA certificate file {} does not exist", file.display()),
            );
        }

        let concurrency = match &self.concurrency {
            None => 8,
            Some(n) if (1..=256).contains(n.get_ref()) => *n.get_ref() as usize,
            Some(n) => {
                c.push(n.span(), "concurrency", "must be between 1 and 256");
                8
            }
        };
        let cycle_deadline = match &self.cycle_deadline {
            None => DEFAULT_CYCLE_DEADLINE,
            Some(d) => match c.duration(d, "cycle_deadline") {
                Some(v)
                    if (Duration::from_secs(10)..=Duration::from_secs(24 * 3600)).contains(&v) =>
                {
                    v
                }
                Some(_) => {
                    c.push(d.span(), "cycle_deadline", "must be between 10s and 24h");
                    DEFAULT_CYCLE_DEADLINE
                }
                None => DEFAULT_CYCLE_DEADLINE,
            },
        };

        let default_vault = self
            .vault
            .as_ref()
            .and_then(|v| c.vault(v, "vault", &cloud));
        let default_refresh = self
            .refresh_before
            .as_ref()
            .and_then(|d| c.duration(d, "refresh_before"))
            .unwrap_or(DEFAULT_REFRESH_BEFORE);

        let thresholds = match &self.expiry {
            None => Thresholds::default(),
            Some(t) => c.thresholds(t, Thresholds::default(), "expiry"),
        };

        let mut daemon = DaemonConfig::default();
        if let Some(d) = &self.daemon {
            if let Some(text) = &d.schedule {
                match parse_cron(text.get_ref().trim()) {
                    Ok(schedule) => {
                        daemon.schedule = schedule;
                        daemon.schedule_text = text.get_ref().trim().to_string();
                    }
                    Err(e) => c.push(
                        text.span(),
                        "daemon.schedule",
                        format!("invalid cron schedule {:?}: {e}", text.get_ref()),
                    ),
                }
            }
            if let Some(j) = &d.jitter {
                match humantime::parse_duration(j.get_ref().trim()) {
                    Ok(v) => daemon.jitter = v,
                    Err(e) => c.push(
                        j.span(),
                        "daemon.jitter",
                        format!("invalid duration {:?}: {e}", j.get_ref()),
                    ),
                }
            }
            if let Some(g) = d
                .shutdown_grace
                .as_ref()
                .and_then(|g| c.duration(g, "daemon.shutdown_grace"))
            {
                daemon.shutdown_grace = g;
            }
            if let Some(l) = &d.listen {
                match l.get_ref().trim().parse() {
                    Ok(addr) => daemon.listen = addr,
                    Err(_) => c.push(
                        l.span(),
                        "daemon.listen",
                        format!(
                            "{:?} is not an address:port like \"0.0.0.0:8080\"",
                            l.get_ref()
                        ),
                    ),
                }
            }
        }
        let shard_count = match &self.shard {
            None => None,
            Some(RawShard { count }) if (1..=10_000).contains(count.get_ref()) => {
                Some(*count.get_ref() as u32)
            }
            Some(RawShard { count }) => {
                c.push(count.span(), "shard.count", "must be between 1 and 10000");
                None
            }
        };

        let credential = match &self.credential {
            None => CredentialConfig::Auto,
            Some(cred) => validate_credential(&mut c, cred, path),
        };

        let mut apps = Vec::new();
        let mut app_names = BTreeSet::new();
        let mut outputs = BTreeSet::new();
        if self.apps.is_empty() {
            c.push(0..0, "apps", "no [[apps]] configured: nothing to rotate");
        }
        for (i, raw_app) in self.apps.iter().enumerate() {
            let app = raw_app.get_ref();
            let key = |k: &str| format!("apps[{i}].{k}");
            let name = app.name.get_ref().trim().to_string();
            if name.is_empty() {
                c.push(app.name.span(), &key("name"), "must not be empty");
            } else if !app_names.insert(name.clone()) {
                c.push(
                    app.name.span(),
                    &key("name"),
                    format!("duplicate app name {name:?}"),
                );
            }
            let app_thresholds = match &app.expiry {
                None => thresholds,
                Some(t) => c.thresholds(t, thresholds, &key("expiry")),
            };
            let tenant_id = c.guid(&app.tenant_id, &key("tenant_id"));
            let client_id = c.guid(&app.client_id, &key("client_id"));
            let (secret_name, credential_kind, rotate) = validate_app_credential(
                &mut c,
                raw_app,
                &key,
                cloud.name == CloudName::Custom && graph_endpoint.is_none(),
            );
            let app_vault = match &app.vault {
                Some(v) => c.vault(v, &key("vault"), &cloud),
                None => default_vault.clone(),
            };
            if app_vault.is_none() && app.vault.is_none() && self.vault.is_none() {
                c.push(
                    raw_app.span(),
                    &key("vault"),
                    "no vault for this app's client secret: set `vault` at the top or in the app",
                );
            }
            if app.targets.is_empty() {
                c.push(
                    raw_app.span(),
                    &key("targets"),
                    "no [[apps.targets]]: add at least one token target",
                );
            }
            let mut targets = Vec::new();
            for (j, raw_target) in app.targets.iter().enumerate() {
                let t = raw_target.get_ref();
                let tkey = |k: &str| format!("apps[{i}].targets[{j}].{k}");
                let scope = t.scope.get_ref().trim().to_string();
                if scope.len() > 256 {
                    c.push(
                        t.scope.span(),
                        &tkey("scope"),
                        "longer than 256 characters (it is stored as a Key Vault tag)",
                    );
                }
                let resource = match scope.strip_suffix("/.default") {
                    Some(r) if Url::parse(r).is_ok_and(|u| u.scheme() == "https") || is_guid(r) => {
                        Some(r.to_string())
                    }
                    _ => {
                        c.push(
                            t.scope.span(),
                            &tkey("scope"),
                            format!(
                                "{scope:?} is not a client-credentials scope: it must be the resource followed by /.default, \
                                 like \"https://analysis.windows.net/powerbi/api/.default\""
                            ),
                        );
                        None
                    }
                };
                let probe = match (&t.probe, &resource) {
                    (None, _) | (_, None) => None,
                    (Some(p), Some(res)) => validate_probe(&mut c, p, &tkey("probe"), &cloud, res),
                };
                let secret = c.secret_name(&t.secret, &tkey("secret"));
                let vault = match &t.vault {
                    Some(v) => c.vault(v, &tkey("vault"), &cloud),
                    None => default_vault.clone(),
                };
                if vault.is_none() && t.vault.is_none() && self.vault.is_none() {
                    c.push(
                        raw_target.span(),
                        &tkey("vault"),
                        "no vault for this token: set `vault` at the top or in the target",
                    );
                }
                let refresh_before = match &t.refresh_before {
                    Some(d) => c.duration(d, &tkey("refresh_before")),
                    None => Some(default_refresh),
                };
                if let (Some(v), Some(s)) = (&vault, &secret)
                    && !outputs.insert((v.clone(), s.to_ascii_lowercase()))
                {
                    c.push(
                        t.secret.span(),
                        &tkey("secret"),
                        format!("two targets write the same secret {s:?} in {v}"),
                    );
                }
                if let (Some(sn), Some(s), Some(v), Some(av)) =
                    (&secret_name, &secret, &vault, &app_vault)
                    && sn.eq_ignore_ascii_case(s)
                    && v == av
                {
                    c.push(
                        t.secret.span(),
                        &tkey("secret"),
                        "the token would overwrite the app's own client secret",
                    );
                }
                if let (Some(scope_resource), Some(secret), Some(vault), Some(refresh_before)) =
                    (resource, secret, vault, refresh_before)
                {
                    targets.push(TokenTarget {
                        scope,
                        resource: scope_resource,
                        vault,
                        secret_name: secret,
                        refresh_before,
                        required_roles: t.required_roles.clone(),
                        probe,
                    });
                }
            }
            if let (Some(tenant_id), Some(client_id), Some(secret_name), Some(vault)) =
                (tenant_id, client_id, secret_name, app_vault)
                && targets.len() == app.targets.len()
            {
                apps.push(App {
                    name,
                    tenant_id,
                    client_id,
                    client_secret_vault: vault,
                    client_secret_name: secret_name,
                    owner: app
                        .owner
                        .as_ref()
                        .map(|o| o.get_ref().trim().to_string())
                        .filter(|o| !o.is_empty()),
                    thresholds: app_thresholds,
                    targets,
                    credential_kind,
                    rotate,
                });
            }
        }

        let alerts = self
            .alerts
            .as_ref()
            .and_then(|raw| validate_alerts(&mut c, raw, &cloud, default_vault.as_ref()));

        if graph_endpoint.is_none() && (thresholds.graph || apps.iter().any(|a| a.thresholds.graph))
        {
            let span = self
                .custom_cloud
                .as_ref()
                .map(|c| c.authority_host.span())
                .unwrap_or(0..0);
            c.push(
                span,
                "custom_cloud.graph_endpoint",
                "expiry `graph = true` reads Microsoft Graph: set graph_endpoint for the custom cloud",
            );
        }

        if !c.issues.is_empty() {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                issues: c.issues,
            });
        }
        Ok(ValidConfig {
            source: path.to_path_buf(),
            cloud,
            ca_file,
            credential,
            concurrency,
            cycle_deadline,
            thresholds,
            daemon,
            shard_count,
            alerts,
            apps,
            graph_endpoint,
            graph_resource,
        })
    }
}

/// `probe = true` (the resource's default) or `probe = "https://…"` on the resource's API host:
/// the probe carries a live token, so no other host is accepted.
fn validate_probe(
    c: &mut Checker<'_>,
    value: &Spanned<toml::Value>,
    key: &str,
    cloud: &Cloud,
    resource: &str,
) -> Option<Url> {
    let allowed = cloud.probe_base(resource);
    match (value.get_ref(), allowed) {
        (toml::Value::Boolean(false), _) => None,
        (_, None) => {
            c.push(
                value.span(),
                key,
                format!(
                    "no probe is known for resource {resource} in the {} cloud (Power BI, Microsoft Graph and ARM are)",
                    cloud.name
                ),
            );
            None
        }
        (toml::Value::Boolean(true), Some((base, Some(path)))) => base.join(path).ok(),
        (toml::Value::Boolean(true), Some((base, None))) => {
            c.push(
                value.span(),
                key,
                format!("resource {resource} has no default probe: give a URL on {base}"),
            );
            None
        }
        (toml::Value::String(text), Some((base, _))) => match Url::parse(text) {
            Ok(u)
                if u.scheme() == "https"
                    && u.host_str() == base.host_str()
                    && u.port_or_known_default() == base.port_or_known_default() =>
            {
                Some(u)
            }
            Ok(_) => {
                c.push(
                    value.span(),
                    key,
                    format!(
                        "probe URL {text:?} is not on {base}: a probe carries a live token, so only the resource's own API host is allowed"
                    ),
                );
                None
            }
            Err(e) => {
                c.push(
                    value.span(),
                    key,
                    format!("invalid probe URL {text:?}: {e}"),
                );
                None
            }
        },
        _ => {
            c.push(
                value.span(),
                key,
                "probe must be true, false, or an https URL",
            );
            None
        }
    }
}

/// Validates `[alerts]`: the module's own checks, then vaults against the cloud, defaulting the
/// state and sink-URL vaults to the top-level vault.
fn validate_alerts(
    c: &mut Checker<'_>,
    raw: &Spanned<alerts::RawAlertsConfig>,
    cloud: &Cloud,
    default_vault: Option<&Url>,
) -> Option<alerts::AlertsConfig> {
    let span = raw.span();
    match raw.get_ref().validate() {
        Err(problems) => {
            for p in problems {
                c.push(span.clone(), &p.key, p.message);
            }
            None
        }
        Ok(mut cfg) => {
            let in_cloud = |u: &Url| {
                cloud.vault_suffix.as_ref().is_none_or(|suffix| {
                    u.host_str()
                        .unwrap_or_default()
                        .to_ascii_lowercase()
                        .ends_with(&format!(".{}", suffix.to_ascii_lowercase()))
                })
            };
            if let Some(v) = &cfg.state_vault
                && !in_cloud(v)
            {
                c.push(
                    span.clone(),
                    "alerts.state_vault",
                    format!("{v} is not a Key Vault of this cloud"),
                );
            }
            if cfg.state_vault.is_none() {
                cfg.state_vault = default_vault.cloned();
            }
            let Some(state_vault) = cfg.state_vault.clone() else {
                c.push(
                    span,
                    "alerts.state_vault",
                    "alerts keep their state in Key Vault: set `state_vault` or the top-level `vault`",
                );
                return None;
            };
            for (i, sink) in cfg.sinks.iter_mut().enumerate() {
                if let Some(v) = &sink.url_vault
                    && !in_cloud(v)
                {
                    c.push(
                        span.clone(),
                        &format!("alerts.sinks[{i}].url_vault"),
                        format!("{v} is not a Key Vault of this cloud"),
                    );
                }
                if sink.url_vault.is_none() {
                    sink.url_vault = Some(state_vault.clone());
                }
            }
            Some(cfg)
        }
    }
}

const DEFAULT_ROTATE_BEFORE_EXPIRY: Duration = Duration::from_secs(30 * 86_400);
const DEFAULT_ROTATE_LIFETIME: Duration = Duration::from_secs(180 * 86_400);
const DEFAULT_ROTATE_GRACE: Duration = Duration::from_secs(7 * 86_400);
const DEFAULT_ROTATE_PROPAGATION_WAIT: Duration = Duration::from_secs(180);

/// The app's credential: exactly one of `client_secret_name` and `client_certificate_name`,
/// the certificate's algorithm, and the `rotate` policy (client secrets only).
fn validate_app_credential(
    c: &mut Checker<'_>,
    raw_app: &Spanned<RawApp>,
    key: &dyn Fn(&str) -> String,
    no_graph: bool,
) -> (Option<String>, AppCredentialKind, Option<RotatePolicy>) {
    let app = raw_app.get_ref();
    let mut kind = AppCredentialKind::ClientSecret;
    let name = match (&app.client_secret_name, &app.client_certificate_name) {
        (Some(s), None) => c.secret_name(s, &key("client_secret_name")),
        (None, Some(cert)) => {
            let algorithm = match app
                .certificate_algorithm
                .as_ref()
                .map(|a| (a.get_ref().as_str(), a.span()))
            {
                None | Some(("PS256", _)) => AssertionAlgorithm::Ps256,
                Some(("RS256", _)) => AssertionAlgorithm::Rs256,
                Some((other, span)) => {
                    c.push(
                        span,
                        &key("certificate_algorithm"),
                        format!("unknown algorithm {other:?}; expected \"PS256\" (x5t#S256) or \"RS256\" (x5t)"),
                    );
                    AssertionAlgorithm::Ps256
                }
            };
            kind = AppCredentialKind::Certificate { algorithm };
            c.secret_name(cert, &key("client_certificate_name"))
        }
        (Some(_), Some(cert)) => {
            c.push(
                cert.span(),
                &key("client_certificate_name"),
                "client_secret_name and client_certificate_name are mutually exclusive: an app authenticates with one credential",
            );
            None
        }
        (None, None) => {
            c.push(
                raw_app.span(),
                &key("client_secret_name"),
                "missing field `client_secret_name` (or `client_certificate_name` for a certificate credential)",
            );
            None
        }
    };
    if kind == AppCredentialKind::ClientSecret
        && let Some(a) = &app.certificate_algorithm
    {
        c.push(
            a.span(),
            &key("certificate_algorithm"),
            "only used with client_certificate_name",
        );
    }
    let rotate = app.rotate.as_ref().and_then(|r| {
        let raw = r.get_ref();
        if kind != AppCredentialKind::ClientSecret {
            c.push(
                r.span(),
                &key("rotate"),
                "rotation renews client secrets; this app uses a certificate",
            );
            return None;
        }
        if no_graph {
            c.push(
                r.span(),
                &key("rotate"),
                "rotation needs Microsoft Graph: set [custom_cloud] graph_endpoint",
            );
        }
        let mut get = |v: &Option<Spanned<String>>, k: &str, default: Duration| match v {
            Some(d) => c.duration(d, &key(&format!("rotate.{k}"))),
            None => Some(default),
        };
        let before_expiry = get(&raw.before_expiry, "before_expiry", DEFAULT_ROTATE_BEFORE_EXPIRY);
        let lifetime = get(&raw.lifetime, "lifetime", DEFAULT_ROTATE_LIFETIME);
        let grace = get(&raw.grace, "grace", DEFAULT_ROTATE_GRACE);
        let propagation_wait = get(
            &raw.propagation_wait,
            "propagation_wait",
            DEFAULT_ROTATE_PROPAGATION_WAIT,
        );
        let (before_expiry, lifetime, grace, propagation_wait) =
            (before_expiry?, lifetime?, grace?, propagation_wait?);
        if lifetime <= before_expiry {
            let span = raw.lifetime.as_ref().map(|s| s.span()).unwrap_or(r.span());
            c.push(
                span,
                &key("rotate.lifetime"),
                "the new secret's lifetime must be longer than before_expiry, or every run would rotate again",
            );
            return None;
        }
        Some(RotatePolicy {
            before_expiry,
            lifetime,
            grace,
            propagation_wait,
        })
    });
    (name, kind, rotate)
}

fn validate_credential(
    c: &mut Checker<'_>,
    cred: &Spanned<RawCredential>,
    path: &Path,
) -> CredentialConfig {
    let raw = cred.get_ref();
    let tenant = raw
        .tenant_id
        .as_ref()
        .and_then(|t| c.guid(t, "credential.tenant_id"));
    let client = raw
        .client_id
        .as_ref()
        .and_then(|t| c.guid(t, "credential.client_id"));
    let not_for = |c: &mut Checker<'_>, field: &Option<Spanned<String>>, name: &str, kind: &str| {
        if let Some(f) = field {
            c.push(
                f.span(),
                &format!("credential.{name}"),
                format!("not used with kind = {kind:?}"),
            );
        }
    };
    match raw.kind.get_ref().as_str() {
        "auto" => CredentialConfig::Auto,
        "developer" => CredentialConfig::Developer,
        "workload-identity" => {
            not_for(
                c,
                &raw.client_secret_file,
                "client_secret_file",
                "workload-identity",
            );
            CredentialConfig::WorkloadIdentity {
                tenant_id: tenant,
                client_id: client,
                token_file: raw
                    .token_file
                    .as_ref()
                    .map(|f| resolve_path(path, f.get_ref())),
            }
        }
        "managed-identity" => {
            not_for(
                c,
                &raw.client_secret_file,
                "client_secret_file",
                "managed-identity",
            );
            not_for(c, &raw.tenant_id, "tenant_id", "managed-identity");
            CredentialConfig::ManagedIdentity { client_id: client }
        }
        "client-secret" => {
            let missing = |c: &mut Checker<'_>, name: &str| {
                c.push(
                    cred.span(),
                    &format!("credential.{name}"),
                    format!("kind = \"client-secret\" needs `{name}`"),
                );
            };
            if raw.tenant_id.is_none() {
                missing(c, "tenant_id");
            }
            if raw.client_id.is_none() {
                missing(c, "client_id");
            }
            let file = match &raw.client_secret_file {
                Some(f) => Some(resolve_path(path, f.get_ref())),
                None => {
                    missing(c, "client_secret_file");
                    None
                }
            };
            match (tenant, client, file) {
                (Some(tenant_id), Some(client_id), Some(client_secret_file)) => {
                    CredentialConfig::ClientSecret {
                        tenant_id,
                        client_id,
                        client_secret_file,
                    }
                }
                _ => CredentialConfig::Auto,
            }
        }
        other => {
            c.push(
                raw.kind.span(),
                "credential.kind",
                format!(
                    "unknown credential kind {other:?}; expected \"auto\", \"workload-identity\", \
                     \"managed-identity\", \"client-secret\" or \"developer\""
                ),
            );
            CredentialConfig::Auto
        }
    }
}

impl fmt::Display for CloudName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CloudName::Public => "public",
            CloudName::UsGovernment => "us-government",
            CloudName::China => "china",
            CloudName::Custom => "custom",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "11111111-2222-3333-4444-555555555555";
    const CLIENT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

    fn good() -> String {
        format!(
            r#"
vault = "https://kv-tokens.vault.azure.net"
refresh_before = "20m"

[credential]
kind = "workload-identity"

[[apps]]
name = "sales"
tenant_id = "{TENANT}"
client_id = "{CLIENT}"
client_secret_name = "sales-client-secret"
vault = "https://kv-input.vault.azure.net/"

[[apps.targets]]
scope = "https://analysis.windows.net/powerbi/api/.default"
secret = "sales-powerbi-token"

[[apps.targets]]
scope = "https://graph.microsoft.com/.default"
secret = "sales-graph-token"
refresh_before = "45m"
"#
        )
    }

    fn issues(text: &str) -> Vec<ConfigIssue> {
        match parse(Path::new("rotator.toml"), text) {
            Err(ConfigError::Invalid { issues, .. }) => issues,
            other => panic!("expected invalid config, got {other:?}"),
        }
    }

    #[test]
    fn a_full_config_validates() {
        let cfg = parse(Path::new("rotator.toml"), &good()).expect("valid");
        assert_eq!(cfg.cloud.name, CloudName::Public);
        assert_eq!(cfg.apps.len(), 1);
        let app = &cfg.apps[0];
        assert_eq!(
            app.client_secret_vault.as_str(),
            "https://kv-input.vault.azure.net/"
        );
        assert_eq!(
            app.targets[0].vault.as_str(),
            "https://kv-tokens.vault.azure.net/"
        );
        assert_eq!(
            app.targets[0].resource,
            "https://analysis.windows.net/powerbi/api"
        );
        assert_eq!(app.targets[0].refresh_before, Duration::from_secs(20 * 60));
        assert_eq!(app.targets[1].refresh_before, Duration::from_secs(45 * 60));
        assert_eq!(cfg.vaults().len(), 2);
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let text = good().replace("refresh_before = \"20m\"", "refresh_befor = \"20m\"");
        let found = issues(&text);
        assert_eq!(found[0].line, 3);
        assert!(found[0].message.contains("refresh_befor"), "{found:?}");
    }

    #[test]
    fn bad_duration_names_line_and_key() {
        let text = good().replace("\"45m\"", "\"45 parsecs\"");
        let found = issues(&text);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].key.as_deref(),
            Some("apps[0].targets[1].refresh_before")
        );
        assert_eq!(found[0].line, 22);
    }

    /// The next `n` weekdays (Sunday = 0) of a schedule from Monday 2026-11-30 00:00 UTC.
    fn weekdays(expr: &str, n: usize) -> Vec<u8> {
        use chrono::{Datelike, TimeZone};
        let monday = chrono::Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap();
        parse_cron(expr)
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
            .after(&monday)
            .take(n)
            .map(|t| t.weekday().num_days_from_sunday() as u8)
            .collect()
    }

    #[test]
    fn cron_weekdays_mean_what_kubernetes_means() {
        assert_eq!(weekdays("0 3 * * 1-5", 6), [1, 2, 3, 4, 5, 1]);
        assert_eq!(weekdays("0 3 * * 0", 2), [0, 0]);
        assert_eq!(weekdays("0 3 * * 7", 2), [0, 0]);
        assert_eq!(weekdays("0 3 * * 5-7", 4), [5, 6, 0, 5]);
        assert_eq!(weekdays("0 3 * * 1/2", 4), [1, 3, 5, 1]);
        assert_eq!(weekdays("0 3 * * 0,6", 3), [6, 0, 6]);
        assert_eq!(weekdays("0 3 * * MON-FRI", 6), [1, 2, 3, 4, 5, 1]);
        assert_eq!(weekdays("0 3 * * */2", 4), [2, 4, 6, 0]);
        assert_eq!(
            weekdays("30 0 3 * * 1", 2),
            [1, 1],
            "6 fields, seconds first"
        );
        assert_eq!(weekdays("@weekly", 2), [0, 0]);
        assert_eq!(weekdays("@daily", 3), [2, 3, 4]);
        for (bad, says) in [("0 3 * * 8", "weekday 8"), ("@sometimes", "found 1 fields")] {
            let refused = parse_cron(bad).err().unwrap_or_default();
            assert!(refused.contains(says), "{bad}: {refused:?}");
        }
    }

    #[test]
    fn cycle_deadline_defaults_to_15m_and_is_bounded() {
        let path = Path::new("rotator.toml");
        let valid = |text: &str| parse(path, text).expect("valid");
        assert_eq!(valid(&good()).cycle_deadline, DEFAULT_CYCLE_DEADLINE);
        let text = good().replace("refresh_before = \"20m\"", "cycle_deadline = \"2h\"");
        assert_eq!(valid(&text).cycle_deadline, Duration::from_secs(7200));
        for (value, says) in [
            ("5s", "between 10s and 24h"),
            ("2d", "between 10s and 24h"),
            ("soon", "invalid duration"),
        ] {
            let text = good().replace(
                "refresh_before = \"20m\"",
                &format!("cycle_deadline = \"{value}\""),
            );
            let found = issues(&text);
            assert_eq!(found.len(), 1, "{value}: {found:?}");
            assert_eq!(found[0].key.as_deref(), Some("cycle_deadline"));
            assert_eq!(found[0].line, 3);
            assert!(found[0].message.contains(says), "{value}: {found:?}");
        }
        assert_eq!(
            deadline_grace(Duration::from_secs(10)),
            Duration::from_secs(1)
        );
        assert_eq!(
            deadline_grace(DEFAULT_CYCLE_DEADLINE),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn plain_http_vault_and_wrong_cloud_are_refused() {
        let text = good()
            .replace(
                "https://kv-tokens.vault.azure.net",
                "http://kv-tokens.vault.azure.net",
            )
            .replace("kv-input.vault.azure.net", "kv-input.vault.azure.cn");
        let found = issues(&text);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].message.contains("https"));
        assert!(found[1].message.contains("not a Key Vault of this cloud"));
    }

    #[test]
    fn scope_must_be_a_default_scope() {
        let text = good().replace(
            "https://graph.microsoft.com/.default",
            "https://graph.microsoft.com/User.Read",
        );
        let found = issues(&text);
        assert_eq!(found[0].key.as_deref(), Some("apps[0].targets[1].scope"));
    }

    #[test]
    fn custom_cloud_needs_its_table() {
        let text = format!("cloud = \"custom\"\n{}", good());
        let found = issues(&text);
        assert!(found[0].message.contains("[custom_cloud]"));
    }

    #[test]
    fn client_secret_credential_needs_its_fields() {
        let text = good().replace(
            "kind = \"workload-identity\"",
            "kind = \"client-secret\"\ntenant_id = \"nope\"",
        );
        let found = issues(&text);
        let keys: Vec<_> = found.iter().filter_map(|i| i.key.clone()).collect();
        assert!(
            keys.contains(&"credential.tenant_id".to_string()),
            "{keys:?}"
        );
        assert!(
            keys.contains(&"credential.client_id".to_string()),
            "{keys:?}"
        );
        assert!(
            keys.contains(&"credential.client_secret_file".to_string()),
            "{keys:?}"
        );
    }

    #[test]
    fn daemon_schedule_accepts_five_fields_and_rejects_garbage() {
        let text = format!(
            "{}\n[daemon]\nschedule = \"*/5 * * * *\"\njitter = \"10s\"\nlisten = \"127.0.0.1:9000\"\n",
            good()
        );
        let cfg = parse(Path::new("r.toml"), &text).expect("valid");
        assert_eq!(cfg.daemon.schedule_text, "*/5 * * * *");
        assert_eq!(cfg.daemon.jitter, Duration::from_secs(10));
        let bad = text.replace("*/5 * * * *", "every five minutes");
        let found = issues(&bad);
        assert_eq!(found[0].key.as_deref(), Some("daemon.schedule"));
    }

    #[test]
    fn probes_are_limited_to_the_resource_api_host() {
        let with = |probe: &str| {
            good().replacen(
                "secret = \"sales-powerbi-token\"",
                &format!("secret = \"sales-powerbi-token\"\nprobe = {probe}"),
                1,
            )
        };
        let cfg = parse(Path::new("r.toml"), &with("true")).expect("valid");
        assert_eq!(
            cfg.apps[0].targets[0].probe.as_ref().map(Url::as_str),
            Some("https://api.powerbi.com/v1.0/myorg/groups?$top=1")
        );
        let cfg = parse(
            Path::new("r.toml"),
            &with("\"https://api.powerbi.com/v1.0/myorg/reports\""),
        )
        .expect("valid");
        assert!(cfg.apps[0].targets[0].probe.is_some());
        for bad in [
            "\"https://evil.example/v1.0/myorg/groups\"",
            "\"http://api.powerbi.com/x\"",
            "\"https://api.powerbi.com:8443/x\"",
            "42",
        ] {
            let found = issues(&with(bad));
            assert_eq!(
                found[0].key.as_deref(),
                Some("apps[0].targets[0].probe"),
                "{bad}"
            );
        }
    }

    #[test]
    fn thresholds_are_global_with_per_app_overrides() {
        let text = format!("{}\n[expiry]\nwarning = \"45d\"\n", good()).replacen(
            "client_secret_name = \"sales-client-secret\"",
            "client_secret_name = \"sales-client-secret\"\nexpiry = { critical = \"14d\" }",
            1,
        );
        let cfg = parse(Path::new("r.toml"), &text).expect("valid");
        assert_eq!(cfg.thresholds.warning, Duration::from_secs(45 * 86_400));
        assert_eq!(
            cfg.apps[0].thresholds.warning,
            Duration::from_secs(45 * 86_400)
        );
        assert_eq!(
            cfg.apps[0].thresholds.critical,
            Duration::from_secs(14 * 86_400)
        );
        let bad = text.replace("\"14d\"", "\"60d\"");
        assert_eq!(
            issues(&bad)[0].key.as_deref(),
            Some("apps[0].expiry.critical")
        );
    }

    #[test]
    fn rotate_and_certificate_settings_validate() {
        let text = good().replace(
            "client_secret_name = \"sales-client-secret\"\n",
            "client_secret_name = \"sales-client-secret\"\nrotate = { before_expiry = \"20d\", grace = \"2s\" }\n",
        );
        let cfg = parse(Path::new("r.toml"), &text).expect("valid");
        let rotate = cfg.apps[0].rotate.expect("rotate");
        assert_eq!(rotate.before_expiry, Duration::from_secs(20 * 86_400));
        assert_eq!(rotate.lifetime, Duration::from_secs(180 * 86_400));
        assert_eq!(rotate.grace, Duration::from_secs(2));
        assert_eq!(
            cfg.graph_endpoint.as_ref().map(Url::as_str),
            Some("https://graph.microsoft.com/")
        );
        assert_eq!(cfg.graph_resource, "https://graph.microsoft.com");

        let short = text.replace("grace = \"2s\"", "lifetime = \"10d\"");
        let found = issues(&short);
        assert_eq!(found[0].key.as_deref(), Some("apps[0].rotate.lifetime"));

        let cert = good().replace(
            "client_secret_name = \"sales-client-secret\"",
            "client_certificate_name = \"sales-cert\"\ncertificate_algorithm = \"RS256\"",
        );
        let cfg = parse(Path::new("r.toml"), &cert).expect("valid");
        assert_eq!(
            cfg.apps[0].credential_kind,
            AppCredentialKind::Certificate {
                algorithm: AssertionAlgorithm::Rs256
            }
        );
        assert_eq!(cfg.apps[0].client_secret_name, "sales-cert");

        let both = good().replace(
            "client_secret_name = \"sales-client-secret\"",
            "client_secret_name = \"sales-client-secret\"\nclient_certificate_name = \"c\"",
        );
        let found = issues(&both);
        assert_eq!(
            found[0].key.as_deref(),
            Some("apps[0].client_certificate_name")
        );
        assert!(found[0].message.contains("mutually exclusive"));

        let rotate_cert = cert.replace(
            "certificate_algorithm = \"RS256\"",
            "rotate = { lifetime = \"90d\" }",
        );
        let found = issues(&rotate_cert);
        assert_eq!(found[0].key.as_deref(), Some("apps[0].rotate"));
    }

    #[test]
    fn sovereign_clouds_have_their_graph() {
        let text = format!("cloud = \"us-government\"\n{}", good())
            .replace("vault.azure.net", "vault.usgovcloudapi.net");
        let cfg = parse(Path::new("r.toml"), &text).expect("valid");
        assert_eq!(cfg.graph_resource, "https://graph.microsoft.us");
        let text = format!(
            "cloud = \"custom\"\n[custom_cloud]\nauthority_host = \"https://login.example\"\n{}",
            good().replace(
                "client_secret_name = \"sales-client-secret\"\n",
                "client_secret_name = \"sales-client-secret\"\nrotate = {}\n",
            )
        );
        // The [custom_cloud] table must come before the others; rebuild it in order.
        let text = text.replacen(
            "\n[custom_cloud]\nauthority_host = \"https://login.example\"\n",
            "\n",
            1,
        );
        let (head, rest) = text.split_once("[credential]").expect("credential");
        let text = format!(
            "{head}[custom_cloud]\nauthority_host = \"https://login.example\"\n\n[credential]{rest}"
        );
        let found = issues(&text);
        assert!(
            found
                .iter()
                .any(|i| i.key.as_deref() == Some("apps[0].rotate")
                    && i.message.contains("graph_endpoint")),
            "{found:?}"
        );
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
