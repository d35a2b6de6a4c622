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
//!
//! The cycle returns a [`CycleReport`]; alerting and metrics are its callers' business.
//!
//! Files: `plan` (listings, which targets are due), `app` (one app's stages and its report),
//! `graph_expiry` (a client secret's end date in Microsoft Graph), [`credential`] (the app's
//! client secret or certificate: checks and token acquisition), [`shard`], [`tags`],
//! [`status_record`] (where the callers keep the status record), and [`rotation`]
//! (client-secret rotation through Graph).

mod app;
pub mod credential;
mod gathered;
mod graph_expiry;
mod leveling;
mod memory;
mod plan;
pub mod rotation;
pub mod shard;
pub mod status_record;
pub mod tags;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt as _, StreamExt};
use time::OffsetDateTime;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::azure::entra::EntraClient;
use crate::azure::identity;
use crate::azure::vault::{KeyVaults, SecretMeta, SecretValue};
use crate::config::{App, TokenTarget, ValidConfig, deadline_grace};
use crate::error::{ErrorClass, SetupError, StepError};
use crate::net::pacing::VaultPacing;
use crate::net::retry::{AdaptiveConfig, AdaptiveLimits};
use crate::report::rotation::RotationReport;
use crate::report::{AppReport, CycleReport, TargetReport};
use crate::telemetry::metrics::Metrics;
use crate::timefmt::rfc3339;
use crate::token::{Expectations, ValidatedToken, Validator};

use app::AppResult;
use gathered::Gathered;
use plan::Listings;
pub use plan::refresh_moment;
pub use shard::{Shard, stable_hash};

/// How many apps may be in progress per working slot (`concurrency`): the others wait out a
/// retry's backoff without a slot.
const WAITING_PER_SLOT: usize = 4;

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
    /// Overwrite a token secret that the rotator did not write (hand-made, another content
    /// type); without it such a secret is left alone and its target fails `foreign_secret`.
    pub adopt: bool,
}

/// Everything a cycle needs, built once from a [`ValidConfig`] (and kept by a daemon): the
/// HTTPS client, the rotator's credential, the Key Vault clients, Entra ID and the validator.
pub struct Cycle {
    config: Arc<ValidConfig>,
    vaults: KeyVaults,
    entra: EntraClient,
    validator: Validator,
    metrics: Arc<Metrics>,
    http: reqwest::Client,
    /// Every request to a vault is paced to the configured share of its budget; what each
    /// cycle used goes into its report.
    pacing: Arc<VaultPacing>,
    /// Listings and client secrets kept between cycles (a daemon's).
    memory: memory::Memory,
    /// The refreshes planned per vault and second, from which each token written gets its
    /// moment (`leveling`: nearest its hashed moment, where its vault has room).
    leveling: leveling::Leveling,
}

impl Cycle {
    /// Builds the HTTPS client, the rotator's credential and one Key Vault client per vault.
    pub fn new(config: ValidConfig) -> Result<Self, SetupError> {
        Self::with_metrics(config, Arc::new(Metrics::new()))
    }

    /// Like [`Cycle::new`], with the adapters counting their requests into shared metrics.
    pub fn with_metrics(config: ValidConfig, metrics: Arc<Metrics>) -> Result<Self, SetupError> {
        let http = crate::net::http::build_client(config.ca_file.as_deref())?;
        let adaptive = AdaptiveConfig::for_concurrency(config.concurrency);
        let pacing = Arc::new(VaultPacing::new(&config.limits, &config.vaults()));
        let memory = memory::Memory::off();
        let options = identity::client_options_with_limits(
            &http,
            &config.cloud,
            Some(metrics.clone()),
            Some(AdaptiveLimits::new(adaptive)),
            Some(pacing.clone()),
        );
        let managed_identity = identity::managed_identity_client_options(
            &crate::net::http::build_managed_identity_client(config.ca_file.as_deref())?,
            &config.cloud,
            Some(metrics.clone()),
        );
        let credential =
            identity::credential(&config.credential, options.clone(), managed_identity)?;
        let vaults = KeyVaults::new(
            &config.vaults(),
            credential,
            options,
            config.cloud.verify_challenge_resource(),
        )?;
        let entra = EntraClient::new(http.clone(), config.cloud.clone(), metrics.clone())
            .with_tenant_limits(AdaptiveLimits::new(adaptive));
        let validator = Validator::new(http.clone(), config.cloud.clone(), metrics.clone())
            .with_graph_resource(config.graph_resource.clone())
            .with_max_token_lifetime(config.max_token_lifetime);
        Ok(Cycle {
            config: Arc::new(config),
            vaults,
            entra,
            validator,
            metrics,
            http,
            pacing,
            memory,
            leveling: Default::default(),
        })
    }

    pub fn config(&self) -> &ValidConfig {
        &self.config
    }

    /// Keeps listings and client secrets between cycles, as `[daemon] relist_after` and
    /// `client_secret_max_age` allow (for a daemon: one `Cycle`, many cycles).
    pub fn remembering(mut self) -> Self {
        self.memory = memory::Memory::new(
            self.config.daemon.relist_after,
            self.config.daemon.client_secret_max_age,
        );
        self
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The HTTPS client shared by the adapters (alert delivery uses it too).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The Entra ID client (for `rotation`).
    pub fn entra(&self) -> &EntraClient {
        &self.entra
    }

    /// The Key Vault clients (for the preflight and the alert state).
    pub fn vaults(&self) -> &KeyVaults {
        &self.vaults
    }

    /// Replaces the validator's key refetch interval (tests of key rollover).
    pub fn with_key_refetch_interval(mut self, interval: std::time::Duration) -> Self {
        self.validator = self.validator.with_refetch_interval(interval);
        self
    }

    /// How many times signing keys were fetched so far.
    pub fn jwks_fetches(&self) -> u64 {
        self.validator.jwks_fetches()
    }

    /// Runs one cycle. `Err` only for problems before any work (the rotator cannot reach or
    /// authenticate to any vault); everything else is in the report. Alerting and metrics are
    /// the caller's (`commands::once::run_once`).
    #[tracing::instrument(name = "cycle", skip_all, fields(dry_run = options.dry_run, apps = self.config.apps.len(), run_id = tracing::field::Empty))]
    pub async fn run(&self, options: CycleOptions) -> Result<CycleReport, SetupError> {
        let started = OffsetDateTime::now_utc();
        let run_id = new_run_id();
        tracing::Span::current().record("run_id", run_id.as_str());
        tracing::info!(event = "cycle_started", run_id = %run_id, dry_run = options.dry_run, "cycle started");
        let deadline = Instant::now() + self.config.cycle_deadline;
        let mut notes = Vec::new();
        // What happened before this cycle (a daemon's alert state, say) is not its use.
        let _ = self.pacing.take_usage();
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

        // A daemon lists again only every `relist_after`; in between, the last listing with
        // what it wrote itself since.
        let (listed_at, listings) = match self.memory.take_listings() {
            Some(kept) => kept,
            None => (
                Instant::now(),
                Listings::of(&self.vaults, &apps, &mut notes).await?,
            ),
        };
        self.leveling.reset_from(
            &listings,
            OffsetDateTime::now_utc(),
            apps.iter()
                .flat_map(|a| a.targets.iter().map(|t| &*t.vault)),
        );
        let listings_ref = &listings;
        let options = &options;
        // Each app's future is created only when it starts (boxed, so the closure's future is
        // provably Send): memory stays proportional to the apps in progress, not to all apps.
        // Indices, not `&App`s, flow through the stream: a closure taking a reference is generic
        // over its lifetime, and the compiler then cannot prove the cycle's future `Send`.
        let apps_ref = &apps;
        let in_flight = &InFlight::new(options.progress.clone());
        let run_id_ref = run_id.as_str();
        // `concurrency` apps work at once; an app waiting out a retry's backoff gives its slot
        // to the next (net::slots), so up to `WAITING_PER_SLOT` times as many are in progress.
        let slots = Arc::new(tokio::sync::Semaphore::new(self.config.concurrency));
        let slots = &slots;
        // Each app's result goes straight into the report's vectors, sized once: the results
        // are not held whole beside the report built from them (at 5,000 apps, 3.8 MB less at
        // the cycle's peak, its end).
        let gathered =
            Gathered::with_capacity(apps.len(), apps.iter().map(|a| a.targets.len()).sum());
        let gathered: Gathered = futures::stream::iter(0..apps.len())
            .map(|i| -> BoxFuture<'_, (usize, AppResult)> {
                let app: &App = apps_ref[i];
                let timed = async move {
                    let _shown = in_flight.start(&app.name);
                    let run = self.run_app(app, listings_ref, options, run_id_ref, deadline);
                    let cut = deadline + deadline_grace(self.config.cycle_deadline);
                    match tokio::time::timeout_at(cut, run).await {
                        Ok(done) => done,
                        Err(_) => self.abandoned(app, listings_ref),
                    }
                };
                let timed = crate::net::slots::hold(slots.clone(), timed);
                // A panic in this app's work fails this app only (see `isolated`).
                Box::pin(
                    isolated(timed, move || self.panicked(app, listings_ref)).map(move |r| (i, r)),
                )
            })
            .buffer_unordered(self.config.concurrency * WAITING_PER_SLOT)
            .fold(gathered, |mut gathered, (i, r)| {
                gathered.push(i, r);
                std::future::ready(gathered)
            })
            .await
            .into_config_order();
        let Gathered {
            apps: app_reports,
            targets,
            rotations,
            notes: app_notes,
            written,
            ..
        } = gathered;
        notes.extend(app_notes);
        self.memory.keep_listings(listed_at, listings, written);
        let overdue = targets
            .iter()
            .filter(|t| {
                t.error
                    .as_ref()
                    .is_some_and(|e| e.class == ErrorClass::DeadlineExceeded)
            })
            .count();
        if overdue > 0 {
            notes.push(format!(
                "cycle_deadline of {} reached: {overdue} targets were not refreshed and keep their stored tokens (raise cycle_deadline or concurrency, or shard the apps)",
                crate::timefmt::duration(self.config.cycle_deadline)
            ));
        }
        let mut report = self.report(
            app_reports,
            targets,
            rotations,
            started,
            options.dry_run,
            notes,
        );
        report.vaults = self.pacing.take_usage();
        tracing::info!(
            event = "cycle_finished",
            run_id = %run_id,
            written = report.summary.written,
            fresh = report.summary.fresh,
            failed = report.summary.failed,
            skipped = report.summary.skipped,
            rotations = report.rotations.len(),
            "cycle finished"
        );
        report.run_id = run_id;
        Ok(report)
    }

    /// The cycle's report, from the apps' results in config order.
    fn report(
        &self,
        apps: Vec<AppReport>,
        targets: Vec<TargetReport>,
        rotations: Vec<RotationReport>,
        started: OffsetDateTime,
        dry_run: bool,
        notes: Vec<String>,
    ) -> CycleReport {
        let mut report = CycleReport::new(
            started,
            OffsetDateTime::now_utc(),
            dry_run,
            apps,
            targets,
            notes,
        );
        report.rotations = rotations;
        report
    }

    /// Acquire → validate, without writing (the preflight, and the first half of a refresh).
    pub async fn acquire_validated(
        &self,
        app: &App,
        target: &TokenTarget,
        secret: &SecretValue,
        now: OffsetDateTime,
    ) -> Result<ValidatedToken, StepError> {
        let acquired = credential::acquire(&self.entra, app, &secret.value, &target.scope)
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
            audience: target.audience.as_deref(),
            required_roles: &target.required_roles,
            probe: target.probe.as_deref(),
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

    /// Acquire → validate → write, for one target; `run_id` and the token's refresh moment
    /// (`leveling`) go into the written version's tags. Returns the token, the version written,
    /// its properties as a listing would show them, and its refresh moment.
    #[tracing::instrument(name = "target", skip_all, fields(secret = %target.secret_name, scope = %target.scope))]
    async fn refresh(
        &self,
        app: &App,
        target: &TokenTarget,
        secret: &SecretValue,
        run_id: &str,
    ) -> Result<(ValidatedToken, Option<String>, SecretMeta, OffsetDateTime), StepError> {
        let token = self
            .acquire_validated(app, target, secret, OffsetDateTime::now_utc())
            .await?;
        let start = plan::life_start(Some(token.not_before()), Some(OffsetDateTime::now_utc()));
        let refresh_at = self.leveling.choose(
            &target.vault,
            &target.secret_name,
            token.expires_at(),
            start,
            target.refresh_before,
        );
        let mut tag_map = token_tags(app, target, &token, secret.version.as_deref(), run_id);
        tag_map.insert(tags::REFRESH_AT.into(), rfc3339(refresh_at));
        let written = self
            .vaults
            .write_token(&target.vault, &target.secret_name, &token, tag_map.clone())
            .await?;
        let meta = SecretMeta {
            name: target.secret_name.clone(),
            enabled: true,
            expires: Some(token.expires_at()),
            not_before: Some(token.not_before()),
            updated: Some(OffsetDateTime::now_utc()),
            content_type: Some(tags::TOKEN_CONTENT_TYPE.to_string()),
            tags: tag_map,
        };
        Ok((token, written.version, meta, refresh_at))
    }
}

/// Runs one app's work so that a panic in it fails that app only, never the process: the
/// panic becomes `on_panic()`'s result. The panic's payload is dropped unread: its message may
/// quote secret text (the binary's panic hook prints none either).
async fn isolated<T, F>(work: F, on_panic: impl FnOnce() -> T) -> T
where
    F: std::future::Future<Output = T>,
{
    match std::panic::AssertUnwindSafe(work).catch_unwind().await {
        Ok(result) => result,
        Err(_payload) => on_panic(),
    }
}

/// The apps in progress, shown on the progress bar (when there is one) as they start and end.
struct InFlight {
    bar: Option<indicatif::ProgressBar>,
    names: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

/// Removes its app from [`InFlight`] and ticks the bar when the app's work ends or is dropped.
struct Shown<'a> {
    in_flight: &'a InFlight,
    name: String,
}

impl InFlight {
    fn new(bar: Option<indicatif::ProgressBar>) -> Self {
        InFlight {
            bar,
            names: Default::default(),
        }
    }

    fn start(&self, name: &str) -> Shown<'_> {
        self.update(|names| {
            names.insert(name.to_string());
        });
        Shown {
            in_flight: self,
            name: name.to_string(),
        }
    }

    fn update(&self, change: impl FnOnce(&mut std::collections::BTreeSet<String>)) {
        let Some(bar) = &self.bar else { return };
        let Ok(mut names) = self.names.lock() else {
            return;
        };
        change(&mut names);
        let mut shown: Vec<&str> = names.iter().map(String::as_str).take(3).collect();
        if names.len() > shown.len() {
            shown.push("…");
        }
        bar.set_message(shown.join(", "));
    }
}

impl Drop for Shown<'_> {
    fn drop(&mut self) {
        self.in_flight.update(|names| {
            names.remove(&self.name);
        });
        if let Some(bar) = &self.in_flight.bar {
            bar.inc(1);
        }
    }
}

/// The tags of a token secret.
fn token_tags(
    app: &App,
    target: &TokenTarget,
    token: &ValidatedToken,
    source_version: Option<&str>,
    run_id: &str,
) -> BTreeMap<String, String> {
    let mut t = BTreeMap::new();
    t.insert(tags::CLIENT_ID.into(), app.client_id.clone());
    t.insert(tags::TENANT_ID.into(), app.tenant_id.to_string());
    t.insert(tags::SCOPE.into(), target.scope.to_string());
    t.insert(tags::EXPIRES_ON.into(), rfc3339(token.expires_at()));
    if let Some(v) = source_version {
        t.insert(tags::SOURCE_VERSION.into(), v.to_string());
    }
    t.insert(tags::WRITTEN_BY.into(), tags::WRITTEN_BY_VALUE.into());
    t.insert(tags::RUN_ID.into(), run_id.to_string());
    t
}

/// A new run id: 16 random hex digits (64 bits), short enough for a tag and a log line, and
/// unique enough that two runs of one deployment never share one.
fn new_run_id() -> String {
    let mut b = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        // No system randomness: the clock still tells runs apart.
        b = (OffsetDateTime::now_utc().unix_timestamp_nanos() as u64).to_be_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_16_hex_digits_and_differ() {
        let a = new_run_id();
        let b = new_run_id();
        assert_eq!(a.len(), 16, "{a}");
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn a_panic_in_one_app_becomes_that_apps_result_and_the_others_go_on() {
        let secret = "s3cr3t-quoted-by-a-panic";
        let results: Vec<String> = futures::stream::iter(0..3)
            .map(|i| -> BoxFuture<'static, String> {
                Box::pin(isolated(
                    async move {
                        tokio::task::yield_now().await;
                        if i == 1 {
                            panic!("parser choked on {secret}");
                        }
                        format!("app {i} done")
                    },
                    move || format!("app {i} failed: internal"),
                ))
            })
            .buffer_unordered(3)
            .collect()
            .await;
        let mut results = results;
        results.sort();
        assert_eq!(
            results,
            ["app 0 done", "app 1 failed: internal", "app 2 done"]
        );
    }
}
