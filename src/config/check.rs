//! Validation of the raw model: the [`Checker`] that collects every problem with its line,
//! column and key, and [`RawConfig::validate`] walking the sections.

use super::*;
use std::collections::BTreeSet;

/// Collects issues while walking the raw model.
pub(super) struct Checker<'a> {
    pub(super) text: &'a str,
    pub(super) issues: Vec<ConfigIssue>,
}

impl Checker<'_> {
    pub(super) fn push(
        &mut self,
        span: std::ops::Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) {
        let (line, column) = line_col(self.text, span.start);
        self.issues.push(ConfigIssue {
            line,
            column,
            key: Some(key.to_string()),
            message: message.into(),
        });
    }

    /// `refresh_before`: how long before its expiry a token is replaced. Entra ID access tokens
    /// live 60 to 90 minutes by default (Learn "Access tokens in the Microsoft identity
    /// platform", token lifetime), so a value of 45 minutes or more would find every token due
    /// the moment it is written, and a daemon would rewrite it on every wake.
    pub(super) fn refresh_before(
        &mut self,
        value: &Spanned<String>,
        key: &str,
    ) -> Option<Duration> {
        let d = self.duration(value, key)?;
        if d >= MAX_REFRESH_BEFORE {
            self.push(
                value.span(),
                key,
                format!(
                    "{} is not clearly shorter than the tokens it refreshes: Entra ID access tokens live 60 to 90 minutes, so every token would be due again as soon as it is written and rewritten on every run; use less than {} (the default is {})",
                    crate::timefmt::duration(d),
                    crate::timefmt::duration(MAX_REFRESH_BEFORE),
                    crate::timefmt::duration(DEFAULT_REFRESH_BEFORE)
                ),
            );
            return None;
        }
        Some(d)
    }

    pub(super) fn duration(&mut self, value: &Spanned<String>, key: &str) -> Option<Duration> {
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
    pub(super) fn thresholds(
        &mut self,
        t: &RawThresholds,
        base: Thresholds,
        key: &str,
    ) -> Thresholds {
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

    pub(super) fn guid(&mut self, value: &Spanned<String>, key: &str) -> Option<String> {
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

    pub(super) fn secret_name(&mut self, value: &Spanned<String>, key: &str) -> Option<String> {
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

    pub(super) fn vault(
        &mut self,
        value: &Spanned<String>,
        key: &str,
        cloud: &Cloud,
    ) -> Option<Url> {
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

    pub(super) fn https_url(&mut self, value: &Spanned<String>, key: &str) -> Option<Url> {
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

pub(super) fn resolve_path(config_path: &Path, value: &str) -> PathBuf {
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

pub(super) const DEFAULT_REFRESH_BEFORE: Duration = Duration::from_secs(30 * 60);
/// `refresh_before` must stay below this: see [`Checker::refresh_before`].
pub(super) const MAX_REFRESH_BEFORE: Duration = Duration::from_secs(45 * 60);

impl RawConfig {
    /// Checks every value and builds the [`ValidConfig`]; reports every problem found.
    pub fn validate(mut self, path: &Path, text: &str) -> Result<ValidConfig, ConfigError> {
        let mut c = Checker {
            text,
            issues: Vec::new(),
        };
        let cloud = check_cloud(&mut c, self.cloud.as_ref(), self.custom_cloud.as_ref());
        // Without a cloud, URL checks would be meaningless: report what we have so far.
        let Some(cloud) = cloud else {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                issues: c.issues,
            });
        };

        let (graph_endpoint, graph_resource) =
            graph_endpoints(&mut c, &cloud, self.custom_cloud.as_ref());
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
        let limits = check_limits(&mut c, self.limits.as_ref());
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

        let max_token_lifetime = match &self.max_token_lifetime {
            None => DEFAULT_MAX_TOKEN_LIFETIME,
            Some(d) => match c.duration(d, "max_token_lifetime") {
                Some(v) if MAX_TOKEN_LIFETIME_RANGE.contains(&v) => v,
                Some(_) => {
                    c.push(d.span(), "max_token_lifetime", "must be between 10m and 7d");
                    DEFAULT_MAX_TOKEN_LIFETIME
                }
                None => DEFAULT_MAX_TOKEN_LIFETIME,
            },
        };

        let default_vault = self
            .vault
            .as_ref()
            .and_then(|v| c.vault(v, "vault", &cloud));
        let default_refresh = self
            .refresh_before
            .as_ref()
            .and_then(|d| c.refresh_before(d, "refresh_before"))
            .unwrap_or(DEFAULT_REFRESH_BEFORE);

        let thresholds = match &self.expiry {
            None => Thresholds::default(),
            Some(t) => c.thresholds(t, Thresholds::default(), "expiry"),
        };

        let daemon = check_daemon(&mut c, self.daemon.as_ref());
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

        let defaults = AppDefaults {
            cloud: &cloud,
            vault: default_vault.as_ref(),
            vault_is_set: self.vault.is_some(),
            refresh_before: default_refresh,
            thresholds,
            graph_missing: cloud.name == CloudName::Custom && graph_endpoint.is_none(),
        };
        let (apps, named) = check_apps(&mut c, std::mem::take(&mut self.apps), &defaults);

        let alerts = self.alerts.as_ref().and_then(|raw| {
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            let token_vaults: BTreeSet<&Url> = apps
                .iter()
                .flat_map(|a| a.targets.iter().map(|t| &*t.vault))
                .collect();
            validate_alerts(
                &mut c,
                raw,
                AlertsContext {
                    cloud: &cloud,
                    default_vault: default_vault.as_ref(),
                    deployment: stem.as_deref(),
                    token_vaults: &token_vaults,
                },
            )
        });
        let status_record_vault = alerts
            .as_ref()
            .and_then(|a| a.state_vault.clone())
            .or_else(|| default_vault.clone())
            .or_else(|| {
                apps.iter()
                    .flat_map(|a| &a.targets)
                    .map(|t| Url::clone(&t.vault))
                    .next()
            });
        refuse_reserved_targets(
            &mut c,
            &named,
            alerts.as_ref(),
            status_record_vault.as_ref(),
        );

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
            limits,
            cycle_deadline,
            max_token_lifetime,
            thresholds,
            daemon,
            shard_count,
            alerts,
            apps,
            graph_endpoint,
            graph_resource,
            status_record_vault,
        })
    }
}

/// What `[alerts]` is checked against.
struct AlertsContext<'a> {
    cloud: &'a Cloud,
    /// The top-level `vault`.
    default_vault: Option<&'a Url>,
    /// The config file's name without extension: the default CloudEvents `source`.
    deployment: Option<&'a str>,
    /// Every vault a token is written to: consumers read there.
    token_vaults: &'a BTreeSet<&'a Url>,
}

/// Validates `[alerts]`: the module's own checks, then vaults against the cloud, defaulting the
/// state and sink-URL vaults to the top-level vault.
///
/// A webhook URL is a credential (whoever holds it can post into the security team's channel),
/// so a sink's URL secret may not sit in a vault tokens are written to, where consumers hold
/// read access, unless `allow_url_in_token_vault = true` says that consumers' role
/// assignments are scoped to their token secrets. The alert state holds no secret and may.
fn validate_alerts(
    c: &mut Checker<'_>,
    raw: &Spanned<alerts::RawAlertsConfig>,
    ctx: AlertsContext<'_>,
) -> Option<alerts::AlertsConfig> {
    let AlertsContext {
        cloud,
        default_vault,
        deployment,
        token_vaults,
    } = ctx;
    let span = raw.span();
    match raw.get_ref().validate_for(deployment) {
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
                let defaulted = sink.url_vault.is_none();
                let url_vault = sink.url_vault.get_or_insert_with(|| state_vault.clone());
                if token_vaults.contains(&*url_vault) && !cfg.allow_url_in_token_vault {
                    let how = if defaulted {
                        "it defaults to the state vault, which defaults to the top-level vault"
                    } else {
                        "as url_vault says"
                    };
                    c.push(
                        span.clone(),
                        &format!("alerts.sinks[{i}].url_vault"),
                        format!(
                            "the webhook URL secret {:?} would be read from {url_vault} ({how}), a vault tokens are \
                             written to: consumers who can read tokens there could read the URL and post into the \
                             alert channel. Store it in a vault consumers cannot read and set url_vault (or \
                             alerts.state_vault), or set alerts.allow_url_in_token_vault = true if every consumer's \
                             role assignment is scoped to its own token secret",
                            sink.url_secret
                        ),
                    );
                }
            }
            Some(cfg)
        }
    }
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
                    "unknown credential kind {other:?}{}; expected \"auto\", \"workload-identity\", \
                     \"managed-identity\", \"client-secret\" or \"developer\"",
                    did_you_mean(
                        other,
                        &["auto", "workload-identity", "managed-identity", "client-secret", "developer"]
                    )
                ),
            );
            CredentialConfig::Auto
        }
    }
}

/// `[daemon]`: schedule and its time zone, jitter, shutdown grace, listen address.
pub(super) fn check_daemon(c: &mut Checker<'_>, raw: Option<&RawDaemon>) -> DaemonConfig {
    let mut daemon = DaemonConfig::default();
    if let Some(d) = raw {
        let mut cron = parse_cron(DEFAULT_SCHEDULE).ok();
        if let Some(text) = &d.schedule {
            match parse_cron(text.get_ref().trim()) {
                Ok(schedule) => {
                    cron = Some(schedule);
                    daemon.schedule_text = text.get_ref().trim().to_string();
                }
                Err(e) => c.push(
                    text.span(),
                    "daemon.schedule",
                    format!("invalid cron schedule {:?}: {e}", text.get_ref()),
                ),
            }
        }
        let mut zone = chrono_tz::UTC;
        if let Some(text) = &d.time_zone {
            match parse_time_zone(text.get_ref()) {
                Ok(z) => zone = z,
                Err(e) => c.push(text.span(), "daemon.time_zone", e),
            }
        }
        if let Some(cron) = cron {
            daemon.schedule = CronSchedule::new(cron, zone);
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
        for (raw, key, max, slot) in [
            (
                &d.relist_after,
                "daemon.relist_after",
                Duration::from_secs(24 * 3600),
                &mut daemon.relist_after,
            ),
            (
                &d.client_secret_max_age,
                "daemon.client_secret_max_age",
                Duration::from_secs(7 * 86_400),
                &mut daemon.client_secret_max_age,
            ),
        ] {
            match raw.as_ref().map(|t| (t, c.duration(t, key))) {
                Some((_, Some(v))) if v <= max => *slot = v,
                Some((t, Some(_))) => c.push(
                    t.span(),
                    key,
                    format!("must be at most {}", humantime::format_duration(max)),
                ),
                _ => {}
            }
        }
        if let Some(t) = d
            .header_read_timeout
            .as_ref()
            .and_then(|t| c.duration(t, "daemon.header_read_timeout"))
        {
            daemon.header_read_timeout = t;
        }
        if let Some(t) = d
            .idle_timeout
            .as_ref()
            .and_then(|t| c.duration(t, "daemon.idle_timeout"))
        {
            daemon.idle_timeout = t;
        }
        if let Some(n) = &d.max_connections {
            match usize::try_from(*n.get_ref()) {
                Ok(v) if (1..=65_536).contains(&v) => daemon.max_connections = v,
                _ => c.push(
                    n.span(),
                    "daemon.max_connections",
                    "must be between 1 and 65536 (and below the process's open-file limit)",
                ),
            }
        }
        if let Some(s) = &d.status {
            match s.get_ref().trim() {
                "main" => daemon.status = StatusListener::Main,
                "off" => daemon.status = StatusListener::Off,
                other => match other.parse() {
                    Ok(addr) => daemon.status = StatusListener::Separate(addr),
                    Err(_) => c.push(
                        s.span(),
                        "daemon.status",
                        format!(
                            "{other:?} is not \"main\" (with the other endpoints), \"off\", or an address:port like \"127.0.0.1:8081\" for a listener of its own"
                        ),
                    ),
                },
            }
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
        if let (StatusListener::Separate(addr), Some(raw)) = (daemon.status, &d.status)
            && addr == daemon.listen
        {
            c.push(
                raw.span(),
                "daemon.status",
                format!("{addr} is daemon.listen too: write \"main\" to serve /status there, or give another port"),
            );
        }
    }
    daemon
}
