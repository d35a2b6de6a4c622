//! One rotation cycle: plan → read client secrets → acquire → validate → write → report.
//!
//! The plan comes from one paged *list* of secret properties per vault: it says which stored
//! tokens are still fresh and when each client secret expires, without a GET per secret. Where
//! listing is refused (secret-scoped role assignments) the cycle falls back to per-secret reads
//! and says so. Each app's client secret is read once and shared by its targets. Targets are
//! independent: one failure never stops the others. Only a [`ValidatedToken`] can be written.
//!
//! Concurrency: up to `concurrency` apps are in progress; within them, calls are bounded per
//! vault (every Key Vault attempt, in the SDK transport) and per tenant (every token request) by
//! adaptive limits that start at `concurrency`, halve on a 429 and grow back slowly to it
//! ([`crate::net::retry::AdaptiveLimit`]), so a throttled vault slows only the work that needs it.
//!
//! Deadline: after `cycle_deadline` no target is started, and apps still running a grace later
//! are abandoned; either way their stored tokens are kept and the targets are reported
//! `deadline_exceeded`.

pub mod rotation;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::StreamExt;
use futures::future::BoxFuture;
use time::OffsetDateTime;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::config::{App, TokenTarget, ValidConfig, deadline_grace};
use crate::azure::entra::EntraClient;
use crate::error::{ErrorClass, StepError};
use crate::config::expiry;
use crate::azure::identity;
use crate::telemetry::metrics::Metrics;
use crate::report::{AppReport, ClientSecretReport, CycleReport, Outcome, TargetReport, rfc3339};
use crate::net::retry::{AdaptiveConfig, AdaptiveLimits};
use crate::token::{Expectations, SignatureCheck, ValidatedToken, Validator};
use crate::azure::vault::{KeyVaults, SecretMeta, SecretValue};

/// Tag names written on every token secret.
pub mod tags {
    pub const CLIENT_ID: &str = "client-id";
    pub const TENANT_ID: &str = "tenant-id";
    pub const SCOPE: &str = "scope";
    pub const EXPIRES_ON: &str = "expires-on";
    pub const SOURCE_VERSION: &str = "source-version";
    pub const WRITTEN_BY: &str = "written-by";
}

/// Written into the `written-by` tag.
pub const WRITTEN_BY: &str = concat!("akv-rotator/", env!("CARGO_PKG_VERSION"));

/// A problem that stops the cycle before any work (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Http(#[from] crate::net::http::HttpSetupError),
    #[error(transparent)]
    Identity(#[from] identity::IdentityError),
    #[error("{0}")]
    Vault(StepError),
}

/// What a cycle should do.
#[derive(Debug, Clone, Default)]
pub struct CycleOptions {
    /// Plan and report, without reading client secrets, acquiring or writing.
    pub dry_run: bool,
    /// Only the apps of this shard.
    pub shard: Option<Shard>,
    /// Cancelled on shutdown: targets not yet started are skipped, in-flight ones finish.
    pub stop: Option<CancellationToken>,
    /// Ticks once per app.
    pub progress: Option<indicatif::ProgressBar>,
}

/// One shard of the apps, for Kubernetes Indexed Jobs: apps are assigned by a stable hash of
/// their name, so every app lands in exactly one shard and stays there across runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Parses `INDEX/COUNT`.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (i, c) = text
            .split_once('/')
            .ok_or_else(|| format!("shard {text:?} must be INDEX/COUNT, like 0/4"))?;
        let index: u32 = i
            .trim()
            .parse()
            .map_err(|_| format!("shard index {i:?} is not a number"))?;
        let count: u32 = c
            .trim()
            .parse()
            .map_err(|_| format!("shard count {c:?} is not a number"))?;
        Shard::new(index, count)
    }

    pub fn new(index: u32, count: u32) -> Result<Shard, String> {
        if count == 0 || index >= count {
            return Err(format!("shard index {index} is not within 0..{count}"));
        }
        Ok(Shard { index, count })
    }

    /// Whether an app belongs to this shard.
    pub fn owns(&self, app_name: &str) -> bool {
        (stable_hash(app_name) % u64::from(self.count)) as u32 == self.index
    }
}

/// FNV-1a: stable across processes, platforms and releases (unlike `DefaultHasher`).
pub fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Everything a cycle needs, built once from a [`ValidConfig`] (and kept by a daemon).
pub struct Rotator {
    config: Arc<ValidConfig>,
    vaults: KeyVaults,
    entra: EntraClient,
    validator: Validator,
    metrics: Arc<Metrics>,
    http: reqwest::Client,
}

impl Rotator {
    /// Builds the HTTPS client, the rotator's credential and one Key Vault client per vault.
    pub fn new(config: ValidConfig) -> Result<Self, SetupError> {
        Self::with_metrics(config, Arc::new(Metrics::new()))
    }

    /// Like [`Rotator::new`], recording into shared metrics.
    pub fn with_metrics(config: ValidConfig, metrics: Arc<Metrics>) -> Result<Self, SetupError> {
        let http = crate::net::http::build_client(config.ca_file.as_deref())?;
        let adaptive = AdaptiveConfig::for_concurrency(config.concurrency);
        let options = identity::client_options_with_limits(
            &http,
            &config.cloud,
            Some(metrics.clone()),
            Some(AdaptiveLimits::new(adaptive)),
        );
        let credential = identity::credential(&config.credential, options.clone())?;
        let vaults = KeyVaults::new(
            &config.vaults(),
            credential,
            options,
            config.cloud.verify_challenge_resource(),
        )
        .map_err(SetupError::Vault)?;
        let entra = EntraClient::new(http.clone(), config.cloud.clone(), metrics.clone())
            .with_tenant_limits(AdaptiveLimits::new(adaptive));
        let validator = Validator::new(http.clone(), config.cloud.clone(), metrics.clone());
        Ok(Rotator {
            config: Arc::new(config),
            vaults,
            entra,
            validator,
            metrics,
            http,
        })
    }

    pub fn config(&self) -> &ValidConfig {
        &self.config
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Replaces the validator's key refetch interval (tests of key rollover).
    pub fn with_key_refetch_interval(mut self, interval: std::time::Duration) -> Self {
        self.validator = self.validator.with_refetch_interval(interval);
        self
    }

    /// Runs one cycle. `Err` only for problems before any work (the rotator cannot reach or
    /// authenticate to any vault); everything else is in the report.
    #[tracing::instrument(name = "cycle", skip_all, fields(dry_run = options.dry_run, apps = self.config.apps.len()))]
    pub async fn run_cycle(&self, options: CycleOptions) -> Result<CycleReport, SetupError> {
        let started = OffsetDateTime::now_utc();
        let clock = std::time::Instant::now();
        let mut result = self.cycle(&options, started).await;
        if let Ok(report) = &mut result
            && !options.dry_run
        {
            report.alerts = crate::alerts::run::alert(
                &self.config,
                &self.vaults,
                &self.http,
                &self.metrics,
                report,
                options.shard,
                OffsetDateTime::now_utc(),
            )
            .await;
        }
        match &result {
            Ok(report) => self.metrics.record_cycle(
                report,
                clock.elapsed().as_secs_f64(),
                OffsetDateTime::now_utc(),
            ),
            Err(_) => self.metrics.record_setup_error(),
        }
        result
    }

    async fn cycle(
        &self,
        options: &CycleOptions,
        started: OffsetDateTime,
    ) -> Result<CycleReport, SetupError> {
        let deadline = Instant::now() + self.config.cycle_deadline;
        let mut notes = Vec::new();
        let apps: Vec<&App> = self
            .config
            .apps
            .iter()
            .filter(|a| options.shard.is_none_or(|s| s.owns(&a.name)))
            .collect();
        if let Some(s) = options.shard {
            notes.push(format!(
                "shard {}/{}: {} of {} apps",
                s.index,
                s.count,
                apps.len(),
                self.config.apps.len()
            ));
        }
        if let Some(p) = &options.progress {
            p.set_length(apps.len() as u64);
        }

        // Plan: one paged list per vault.
        let mut listings: HashMap<Url, HashMap<String, SecretMeta>> = HashMap::new();
        let mut vaults: Vec<&Url> = apps
            .iter()
            .flat_map(|a| {
                std::iter::once(&a.client_secret_vault).chain(a.targets.iter().map(|t| &t.vault))
            })
            .collect();
        vaults.sort();
        vaults.dedup();
        for vault in vaults {
            match self.vaults.list(vault).await {
                Ok(items) => {
                    let map = items
                        .into_iter()
                        .map(|m| (m.name.to_ascii_lowercase(), m))
                        .collect();
                    listings.insert(vault.clone(), map);
                }
                Err(e) if e.class == ErrorClass::RotatorCredential => {
                    return Err(SetupError::Vault(e));
                }
                Err(e) => {
                    tracing::warn!(event = "vault_list_fallback", vault = %vault, class = %e.class, error = %e.message, "listing failed; falling back to per-secret reads");
                    notes.push(format!(
                        "listing secrets in {vault} failed ({}: {}); fell back to per-secret reads",
                        e.class, e.message
                    ));
                }
            }
        }

        let listings = &listings;
        // Each app's future is created only when it starts (boxed, so the closure's future is
        // provably Send): memory stays proportional to the apps in progress, not to all apps.
        // Indices, not `&App`s, flow through the stream: a closure taking a reference is generic
        // over its lifetime, and the compiler then cannot prove the cycle's future `Send`.
        let apps_ref = &apps;
        let results: Vec<AppResult> = futures::stream::iter(0..apps.len())
            .map(|i| -> BoxFuture<'_, AppResult> {
                let app: &App = apps_ref[i];
                Box::pin(async move {
                    let run = self.run_app(app, listings, options, deadline);
                    let cut = deadline + deadline_grace(self.config.cycle_deadline);
                    match tokio::time::timeout_at(cut, run).await {
                        Ok(done) => done,
                        Err(_) => self.abandoned(app, listings),
                    }
                })
            })
            .buffer_unordered(self.config.concurrency)
            .collect()
            .await;
        let overdue = targets_with(&results, ErrorClass::DeadlineExceeded);
        if overdue > 0 {
            notes.push(format!(
                "cycle_deadline of {} reached: {overdue} targets were not refreshed and keep their stored tokens (raise cycle_deadline or concurrency, or shard the apps)",
                humantime::format_duration(self.config.cycle_deadline)
            ));
        }

        let mut apps = Vec::new();
        let mut targets = Vec::new();
        let mut rotations = Vec::new();
        for (a, t, r) in results {
            apps.push(a);
            targets.extend(t);
            rotations.extend(r);
        }
        // Stable output order: config order.
        let order: HashMap<&str, usize> = self
            .config
            .apps
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name.as_str(), i))
            .collect();
        apps.sort_by_key(|a| order.get(a.name.as_str()).copied());
        targets.sort_by_key(|t| order.get(t.app.as_str()).copied());

        rotations.sort_by_key(|r| order.get(r.app.as_str()).copied());
        let mut report = CycleReport::new(
            started,
            OffsetDateTime::now_utc(),
            options.dry_run,
            apps,
            targets,
            notes,
        );
        report.rotations = rotations;
        Ok(report)
    }

    #[tracing::instrument(name = "app", skip_all, fields(app = %app.name, client_id = %app.client_id))]
    async fn run_app(
        &self,
        app: &App,
        listings: &HashMap<Url, HashMap<String, SecretMeta>>,
        options: &CycleOptions,
        deadline: Instant,
    ) -> AppResult {
        let stopping = || options.stop.as_ref().is_some_and(|s| s.is_cancelled());
        let overdue = || Instant::now() >= deadline;
        let now = OffsetDateTime::now_utc();
        let secret_listing = listings.get(&app.client_secret_vault);
        let mut secret_meta: Option<SecretMeta> = secret_listing
            .and_then(|l| l.get(&app.client_secret_name.to_ascii_lowercase()))
            .cloned();
        let mut app_error: Option<StepError> = None;
        if secret_listing.is_some() && secret_meta.is_none() {
            app_error = Some(not_found(app));
        }

        // Which targets need a new token.
        let mut plans: Vec<(&TokenTarget, Option<SecretMeta>, bool)> = Vec::new();
        for target in &app.targets {
            let stored = match listings.get(&target.vault) {
                Some(l) => l.get(&target.secret_name.to_ascii_lowercase()).cloned(),
                None => self.read_meta(&target.vault, &target.secret_name).await,
            };
            let fresh = stored
                .as_ref()
                .is_some_and(|m| is_fresh(m, app, target, now));
            plans.push((target, stored, fresh));
        }
        let needs_secret = plans.iter().any(|(_, _, fresh)| !fresh);

        // One client secret read per app, when a token is due (or listing was not possible).
        let mut client_secret: Option<SecretValue> = None;
        if !options.dry_run
            && !stopping()
            && !overdue()
            && app_error.is_none()
            && (needs_secret || secret_listing.is_none())
        {
            match self
                .vaults
                .read(&app.client_secret_vault, &app.client_secret_name)
                .await
            {
                Ok(v) => {
                    secret_meta = Some(v.meta.clone());
                    client_secret = Some(v);
                }
                Err(e) => {
                    app_error = Some(e.context(format!("app {:?}: client secret", app.name)));
                }
            }
        }
        if let Some(v) = &client_secret
            && let Err(e) = match app.credential_kind {
                crate::config::AppCredentialKind::ClientSecret => check_secret_value(v, app),
                // A certificate's notAfter is its expiry.
                crate::config::AppCredentialKind::Certificate { .. } => {
                    crate::azure::certificate::check_certificate(v, app).map(|not_after| {
                        if let Some(m) = secret_meta.as_mut() {
                            m.expires = Some(not_after);
                        }
                    })
                }
            }
        {
            app_error = Some(e);
            client_secret = None;
        }

        let kv_expires = secret_meta.as_ref().and_then(|m| m.expires);
        let graph = if app.thresholds.graph && app_error.is_none() && !overdue() {
            Some(
                self.graph_expiry(app, secret_meta.as_ref(), client_secret.as_ref())
                    .await,
            )
        } else {
            None
        };
        let graph_expires = graph.as_ref().and_then(|g| g.expires);
        // The earlier of the two is what will break first.
        let effective = match (kv_expires, graph_expires) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let (severity, days_left) = expiry::assess(effective, now, &app.thresholds);
        if severity > expiry::Severity::Ok {
            tracing::warn!(event = "client_secret_expiry", app = %app.name, severity = %severity, days_left, "client secret needs attention");
        }

        let mut reports = Vec::new();
        for (target, stored, fresh) in plans {
            let mut report = TargetReport::new(app, target);
            report.token_expires_on = stored.as_ref().and_then(|m| m.expires).map(rfc3339);
            report.token_updated_on = stored.as_ref().and_then(|m| m.updated).map(rfc3339);
            if fresh {
                report.outcome = Outcome::Fresh;
                tracing::info!(event = "target_fresh", app = %app.name, secret = %target.secret_name, "stored token is still fresh");
            } else if options.dry_run {
                report.outcome = Outcome::Planned;
            } else if stopping() {
                report.outcome = Outcome::Skipped;
            } else if let Some(e) = &app_error {
                report.fail(e.clone());
            } else if overdue() {
                report.fail(deadline_exceeded(app, target, &self.config));
            } else if let Some(secret) = &client_secret {
                match self.refresh(app, target, secret).await {
                    Ok((token, version)) => {
                        report.outcome = Outcome::Written;
                        report.token_expires_on = Some(rfc3339(token.expires_at()));
                        report.token_updated_on = Some(rfc3339(OffsetDateTime::now_utc()));
                        report.version = version;
                        report.signature = Some(match token.signature() {
                            SignatureCheck::Verified { .. } => "verified".into(),
                            SignatureCheck::NotVerifiable { .. } => "not_verifiable".into(),
                        });
                        report.probe = token.probed().then(|| "passed".to_string());
                        tracing::info!(event = "token_written", app = %app.name, secret = %target.secret_name, vault = %target.vault, expires_on = %rfc3339(token.expires_at()), "token written");
                    }
                    Err(e) => report.fail(e),
                }
            }
            if let Some(e) = &report.error {
                tracing::warn!(event = "target_failed", app = %app.name, secret = %target.secret_name, class = %e.class, error = %e.message, "target failed");
            }
            reports.push(report);
        }

        let rotation = if stopping() || overdue() {
            None
        } else {
            crate::cycle::rotation::rotate_app(
                self,
                app,
                secret_meta.as_ref(),
                client_secret.as_ref(),
                options.dry_run,
            )
            .await
        };
        let app_report = AppReport {
            name: app.name.clone(),
            tenant_id: app.tenant_id.clone(),
            client_id: app.client_id.clone(),
            owner: owner_of(app, secret_meta.as_ref()),
            client_secret: ClientSecretReport {
                vault: app.client_secret_vault.to_string(),
                name: app.client_secret_name.clone(),
                version: client_secret.as_ref().and_then(|v| v.version.clone()),
                expires_on: effective.map(rfc3339),
                days_left,
                severity,
                graph_expires_on: graph_expires.map(rfc3339),
                expiry_mismatch: match (kv_expires, graph_expires) {
                    (Some(k), Some(g)) if (k - g).abs() > time::Duration::days(1) => Some(format!(
                        "Key Vault records exp {} but Microsoft Graph says the credential ends {}: update the secret's exp",
                        rfc3339(k),
                        rfc3339(g)
                    )),
                    _ => None,
                },
                graph_error: graph.and_then(|g| g.error),
            },
            error: app_error,
        };
        (app_report, reports, rotation)
    }

    /// The client secret's end date in Microsoft Graph, matched by the Key Vault secret's
    /// `key-id` tag, or else by its hint (the value's first three characters).
    async fn graph_expiry(
        &self,
        app: &App,
        meta: Option<&SecretMeta>,
        value: Option<&SecretValue>,
    ) -> GraphExpiry {
        let Some(base) = self.config.graph_endpoint.clone() else {
            return GraphExpiry::error("no Microsoft Graph endpoint for this cloud");
        };
        let graph = crate::azure::graph::GraphClient::new(
            self.http.clone(),
            base,
            self.config.graph_resource.clone(),
            self.vaults.credential().clone(),
            self.metrics.clone(),
        );
        let application = match graph.application(&app.client_id).await {
            Ok(a) => a,
            Err(e) => {
                return GraphExpiry::error(format!(
                    "cannot read the application from Microsoft Graph ({}): {} (the rotator needs Application.Read.All)",
                    e.class, e.message
                ));
            }
        };
        let key_id = meta
            .and_then(|m| m.tags.get("key-id"))
            .map(|k| k.to_ascii_lowercase());
        let by_key = key_id.as_ref().and_then(|k| {
            application
                .password_credentials
                .iter()
                .find(|c| &c.key_id == k)
        });
        let matched = match (by_key, key_id.is_some()) {
            (Some(c), _) => Some(c),
            (None, true) => {
                return GraphExpiry::error(
                    "the secret's key-id tag names no credential of the application: it was removed or the tag is wrong",
                );
            }
            (None, false) => {
                use secrecy::ExposeSecret;
                let hint: Option<String> =
                    value.map(|v| v.value.expose_secret().chars().take(3).collect());
                let candidates: Vec<_> = application
                    .password_credentials
                    .iter()
                    .filter(|c| hint.is_some() && c.hint == hint)
                    .collect();
                match candidates.as_slice() {
                    [one] => Some(*one),
                    _ if hint.is_none() => {
                        return GraphExpiry::error(
                            "not matched: add a key-id tag to the secret (its value was not read this run)",
                        );
                    }
                    [] => {
                        return GraphExpiry::error(
                            "no credential of the application has this secret's hint: the secret may belong to another app",
                        );
                    }
                    _ => {
                        return GraphExpiry::error(
                            "several credentials share this secret's hint: add a key-id tag to the secret",
                        );
                    }
                }
            }
        };
        GraphExpiry {
            expires: matched.and_then(|c| c.end),
            error: None,
        }
    }

    /// The Entra ID client (for `rotation`).
    pub fn entra(&self) -> &EntraClient {
        &self.entra
    }

    /// The Key Vault clients (for the preflight).
    pub fn vaults(&self) -> &KeyVaults {
        &self.vaults
    }

    /// Acquire → validate, without writing (the preflight, and the first half of a refresh).
    pub async fn acquire_validated(
        &self,
        app: &App,
        target: &TokenTarget,
        secret: &SecretValue,
        now: OffsetDateTime,
    ) -> Result<ValidatedToken, StepError> {
        let acquired = crate::azure::certificate::acquire(&self.entra, app, &secret.value, &target.scope)
            .await
            .map_err(|e| {
                e.context(format!(
                    "app {:?} (client secret {} in {})",
                    app.name, app.client_secret_name, app.client_secret_vault
                ))
            })?;
        let expect = Expectations {
            tenant_id: &app.tenant_id,
            client_id: &app.client_id,
            resource: &target.resource,
            required_roles: &target.required_roles,
            probe: target.probe.as_ref(),
        };
        self.validator
            .validate(acquired, &expect, now)
            .await
            .map_err(|e| {
                e.context(format!(
                    "token for {:?} was not written",
                    target.secret_name
                ))
            })
    }

    /// The report of an app still running [`deadline_grace`] after the cycle deadline, when its
    /// work was dropped: what the listings say, every due target `deadline_exceeded`. Dropping is
    /// safe: a Key Vault write is one request, and a rotation resumes from its tags next run.
    fn abandoned(
        &self,
        app: &App,
        listings: &HashMap<Url, HashMap<String, SecretMeta>>,
    ) -> AppResult {
        let now = OffsetDateTime::now_utc();
        let listed = |vault: &Url, name: &str| {
            listings
                .get(vault)
                .and_then(|l| l.get(&name.to_ascii_lowercase()))
        };
        let meta = listed(&app.client_secret_vault, &app.client_secret_name);
        let expires = meta.and_then(|m| m.expires);
        let (severity, days_left) = expiry::assess(expires, now, &app.thresholds);
        let targets = app
            .targets
            .iter()
            .map(|target| {
                let stored = listed(&target.vault, &target.secret_name);
                let mut report = TargetReport::new(app, target);
                report.token_expires_on = stored.and_then(|m| m.expires).map(rfc3339);
                report.token_updated_on = stored.and_then(|m| m.updated).map(rfc3339);
                if stored.is_some_and(|m| is_fresh(m, app, target, now)) {
                    report.outcome = Outcome::Fresh;
                } else {
                    report.fail(deadline_exceeded(app, target, &self.config));
                }
                report
            })
            .collect();
        tracing::warn!(event = "app_abandoned", app = %app.name, "app still running after the cycle deadline and its grace; abandoned");
        let app_report = AppReport {
            name: app.name.clone(),
            tenant_id: app.tenant_id.clone(),
            client_id: app.client_id.clone(),
            owner: owner_of(app, meta),
            client_secret: ClientSecretReport {
                vault: app.client_secret_vault.to_string(),
                name: app.client_secret_name.clone(),
                version: None,
                expires_on: expires.map(rfc3339),
                days_left,
                severity,
                graph_expires_on: None,
                expiry_mismatch: None,
                graph_error: None,
            },
            error: None,
        };
        (app_report, targets, None)
    }

    /// Acquire → validate → write, for one target.
    #[tracing::instrument(name = "target", skip_all, fields(secret = %target.secret_name, scope = %target.scope))]
    async fn refresh(
        &self,
        app: &App,
        target: &TokenTarget,
        secret: &SecretValue,
    ) -> Result<(ValidatedToken, Option<String>), StepError> {
        let token = self
            .acquire_validated(app, target, secret, OffsetDateTime::now_utc())
            .await?;
        let tag_map = token_tags(app, target, &token, secret.version.as_deref());
        let written = self
            .vaults
            .write_token(&target.vault, &target.secret_name, &token, tag_map)
            .await?;
        Ok((token, written.version))
    }

    /// Per-secret fallback when listing is not permitted: read the stored token's properties.
    async fn read_meta(&self, vault: &Url, name: &str) -> Option<SecretMeta> {
        match self.vaults.read(vault, name).await {
            Ok(v) => Some(v.meta),
            Err(e) => {
                tracing::debug!(event = "token_read_fallback_failed", vault = %vault, secret = name, class = %e.class, "stored token not readable");
                None
            }
        }
    }

    /// How many times signing keys were fetched so far.
    pub fn jwks_fetches(&self) -> u64 {
        self.validator.jwks_fetches()
    }
}

/// What Microsoft Graph says about a client secret's end date.
struct GraphExpiry {
    expires: Option<OffsetDateTime>,
    error: Option<String>,
}

impl GraphExpiry {
    fn error(message: impl Into<String>) -> Self {
        GraphExpiry {
            expires: None,
            error: Some(message.into()),
        }
    }
}

/// A stored token is fresh when it is enabled, was written for this app and scope, and has
/// more than `refresh_before` left.
fn is_fresh(m: &SecretMeta, app: &App, target: &TokenTarget, now: OffsetDateTime) -> bool {
    let refresh = time::Duration::try_from(target.refresh_before).unwrap_or(time::Duration::MAX);
    m.enabled
        && m.expires.is_some_and(|exp| exp - now > refresh)
        && m.tags.get(tags::SCOPE).is_some_and(|s| s == &target.scope)
        && m.tags
            .get(tags::CLIENT_ID)
            .is_some_and(|c| c.eq_ignore_ascii_case(&app.client_id))
}

fn token_tags(
    app: &App,
    target: &TokenTarget,
    token: &ValidatedToken,
    source_version: Option<&str>,
) -> BTreeMap<String, String> {
    let mut t = BTreeMap::new();
    t.insert(tags::CLIENT_ID.into(), app.client_id.clone());
    t.insert(tags::TENANT_ID.into(), app.tenant_id.clone());
    t.insert(tags::SCOPE.into(), target.scope.clone());
    t.insert(tags::EXPIRES_ON.into(), rfc3339(token.expires_at()));
    if let Some(v) = source_version {
        t.insert(tags::SOURCE_VERSION.into(), v.to_string());
    }
    t.insert(tags::WRITTEN_BY.into(), WRITTEN_BY.into());
    t
}

fn deadline_exceeded(app: &App, target: &TokenTarget, config: &ValidConfig) -> StepError {
    StepError::new(
        ErrorClass::DeadlineExceeded,
        format!(
            "app {:?}: token secret {:?} in {} was not refreshed: the cycle reached its cycle_deadline of {}; the stored token was kept (raise cycle_deadline or concurrency, or shard the apps)",
            app.name,
            target.secret_name,
            target.vault,
            humantime::format_duration(config.cycle_deadline)
        ),
    )
}

/// Who to tell about an app: the config's `owner`, else the client secret's `owner` tag.
fn owner_of(app: &App, client_secret: Option<&SecretMeta>) -> Option<String> {
    app.owner.clone().or_else(|| {
        client_secret
            .and_then(|m| m.tags.get("owner"))
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty())
    })
}

/// What one app's work yields.
type AppResult = (
    AppReport,
    Vec<TargetReport>,
    Option<crate::cycle::rotation::RotationReport>,
);

/// Targets whose error has this class.
fn targets_with(results: &[AppResult], class: ErrorClass) -> usize {
    results
        .iter()
        .flat_map(|(_, t, _)| t)
        .filter(|t| t.error.as_ref().is_some_and(|e| e.class == class))
        .count()
}

fn not_found(app: &App) -> StepError {
    StepError::new(
        ErrorClass::NotFound,
        format!(
            "app {:?}: client secret {:?} does not exist in {} (create it with the app registration's client secret value, or fix client_secret_name)",
            app.name, app.client_secret_name, app.client_secret_vault
        ),
    )
}

fn check_secret_value(v: &SecretValue, app: &App) -> Result<(), StepError> {
    use secrecy::ExposeSecret;
    let value = v.value.expose_secret();
    let problem = if value.trim().is_empty() {
        Some("is empty")
    } else if value.trim() != value {
        Some("has leading or trailing whitespace")
    } else if value.chars().any(char::is_control) {
        Some("contains control characters")
    } else if value.len() > 1024 {
        Some("is longer than any Entra client secret")
    } else {
        None
    };
    match problem {
        Some(p) => Err(StepError::new(
            ErrorClass::InvalidClientSecretValue,
            format!(
                "app {:?}: client secret {:?} in {} {p}; store the app registration's client secret value exactly",
                app.name, app.client_secret_name, app.client_secret_vault
            ),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shard_hash_is_fixed_across_runs_and_releases() {
        // FNV-1a 64 reference values: if these change, apps move between shards on upgrade.
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(
            stable_hash("sales-reporting"),
            stable_hash("sales-reporting")
        );
    }

    #[test]
    fn every_app_lands_in_exactly_one_shard() {
        for count in [1u32, 2, 3, 7, 16] {
            for i in 0..500 {
                let name = format!("app-{i}");
                let owners = (0..count)
                    .filter(|&index| Shard::new(index, count).expect("shard").owns(&name))
                    .count();
                assert_eq!(owners, 1, "{name} in {count} shards");
            }
        }
        // And the split is reasonably even.
        let in_first = (0..1000)
            .filter(|i| Shard { index: 0, count: 4 }.owns(&format!("app-{i}")))
            .count();
        assert!((150..350).contains(&in_first), "{in_first}");
    }

    #[test]
    fn shard_arguments_are_checked() {
        assert_eq!(Shard::parse("2/8"), Ok(Shard { index: 2, count: 8 }));
        assert!(Shard::parse("8/8").is_err());
        assert!(Shard::parse("1").is_err());
        assert!(Shard::parse("a/2").is_err());
        assert!(Shard::new(0, 0).is_err());
    }
}
