//! One app's work in a cycle, stage by stage: what the listing says about its client secret,
//! which targets are due, one read of the client secret, the credential check, the expiry
//! (Key Vault and, optionally, Microsoft Graph), each due target refreshed, the rotation; then
//! the app's report, built in one place for finished and abandoned apps alike.

use std::sync::Arc;

use time::OffsetDateTime;
use tokio::time::Instant;
use url::Url;

use super::graph_expiry::GraphExpiry;
use super::plan::{Listings, TargetPlan, is_fresh, plan_targets, stored_refresh_moment};
use super::rotation::{RotationReport, rotate_app};
use super::{Cycle, CycleOptions, credential, tags};
use crate::azure::vault::{SecretMeta, SecretValue};
use crate::config::expiry::{self, Severity};
use crate::config::{App, TokenTarget, ValidConfig};
use crate::error::{ErrorClass, StepError};
use crate::report::{AppReport, ClientSecretReport, Outcome, TargetReport};
use crate::timefmt::rfc3339;
use crate::token::SignatureCheck;

/// What one app's work yields.
pub(super) struct AppResult {
    pub app: AppReport,
    pub targets: Vec<TargetReport>,
    pub rotation: Option<RotationReport>,
    /// Notes for the cycle report (for example tokens living shorter than expected).
    pub notes: Vec<String>,
    /// The token secrets written, as a listing would show them.
    pub written: Vec<(Url, SecretMeta)>,
}

/// The app's client secret as far as this run knows it.
#[derive(Default)]
struct ClientSecretState {
    /// Its properties: from the listing, or from the read.
    meta: Option<SecretMeta>,
    /// Its value, when it was read (now or in an earlier cycle) and passed the credential check.
    value: Option<Arc<SecretValue>>,
    /// Why the app's targets cannot be refreshed this run.
    error: Option<StepError>,
}

impl Cycle {
    #[tracing::instrument(name = "app", skip_all, fields(app = %app.name, client_id = %app.client_id))]
    pub(super) async fn run_app(
        &self,
        app: &App,
        listings: &Listings,
        options: &CycleOptions,
        run_id: &str,
        deadline: Instant,
    ) -> AppResult {
        let stopping = || options.stop.as_ref().is_some_and(|s| s.is_cancelled());
        let overdue = || Instant::now() >= deadline;
        let now = OffsetDateTime::now_utc();

        let mut secret = ClientSecretState {
            meta: listings
                .get(&app.client_secret_vault, &app.client_secret_name)
                .cloned(),
            ..Default::default()
        };
        let listed = listings.covers(&app.client_secret_vault);
        match &secret.meta {
            None if listed => secret.error = Some(not_found(app)),
            // The listing already says what the read would (403 SecretDisabled): no GET.
            Some(m) if !m.enabled => secret.error = Some(disabled(app)),
            _ => {}
        }

        let plans = plan_targets(&self.vaults, listings, app, now).await;
        let needs_secret = plans.iter().any(TargetPlan::due);

        // One client secret read per app, when a token is due (or listing was not possible),
        // unless an earlier cycle read it and the listing shows it unchanged.
        if !options.dry_run
            && !stopping()
            && !overdue()
            && secret.error.is_none()
            && (needs_secret || !listed)
        {
            let (vault, name) = (&app.client_secret_vault, &app.client_secret_name);
            match self.memory.secret(vault, name, listings.get(vault, name)) {
                Some((value, not_after)) => {
                    let mut meta = value.meta.clone();
                    meta.expires = not_after.or(meta.expires);
                    secret.meta = Some(meta);
                    secret.value = Some(value);
                }
                None => self.read_client_secret(app, &mut secret).await,
            }
        }

        let kv_expires = secret.meta.as_ref().and_then(|m| m.expires);
        let graph = if app.thresholds.graph && secret.error.is_none() && !overdue() {
            Some(
                self.graph_expiry(app, secret.meta.as_ref(), secret.value.as_deref())
                    .await,
            )
        } else {
            None
        };

        let mut targets = Vec::with_capacity(plans.len());
        let mut notes = Vec::new();
        let mut written = Vec::new();
        for plan in plans {
            let mut report = target_report(app, plan.target, plan.stored.as_ref());
            if plan.fresh {
                report.outcome = Outcome::Fresh;
                tracing::debug!(event = "target_fresh", app = %app.name, secret = %plan.target.secret_name, "stored token is still fresh");
            } else if options.dry_run {
                report.outcome = Outcome::Planned;
            } else if stopping() {
                report.outcome = Outcome::Skipped;
            } else if let Some(e) = (!options.adopt)
                .then(|| foreign_secret(app, plan.target, plan.stored.as_ref()))
                .flatten()
            {
                report.fail(e);
            } else if let Some(e) = &secret.error {
                report.fail(e.clone());
            } else if overdue() {
                report.fail(deadline_exceeded(app, plan.target, &self.config));
            } else if let Some(value) = &secret.value
                && let Some(note) = self
                    .refresh_target(app, plan.target, value, run_id, &mut report, &mut written)
                    .await
            {
                notes.push(note);
            }
            if let Some(e) = &report.error {
                if options.dry_run {
                    // A dry run (`status`) acts on nothing: what would fail is reported, not warned.
                    tracing::debug!(event = "target_failed", app = %app.name, secret = %plan.target.secret_name, class = %e.class, error = %e.message, "target would fail");
                } else {
                    tracing::warn!(event = "target_failed", app = %app.name, secret = %plan.target.secret_name, class = %e.class, error = %e.message, "target failed");
                }
            }
            targets.push(report);
        }

        let rotation = if stopping() || overdue() {
            None
        } else {
            rotate_app(
                self,
                app,
                secret.meta.as_ref(),
                secret.value.as_deref(),
                options.dry_run,
                run_id,
            )
            .await
        };
        // A kept client secret that Entra ID refused, or that a rotation touched, is read again
        // next time.
        let refused = targets.iter().any(|t| {
            t.error.as_ref().is_some_and(|e| {
                matches!(
                    e.class,
                    ErrorClass::BadClientSecret | ErrorClass::ExpiredClientSecret
                )
            })
        });
        let rotated = rotation
            .as_ref()
            .is_some_and(|r| r.outcome != crate::report::rotation::RotationOutcome::NotDue);
        if refused || rotated {
            self.memory
                .forget_secret(&app.client_secret_vault, &app.client_secret_name);
        }
        let version = secret.value.as_ref().and_then(|v| v.version.clone());
        let report = app_report(
            app,
            secret.meta.as_ref(),
            version,
            kv_expires,
            graph,
            secret.error,
            now,
        );
        if report.client_secret.severity > Severity::Ok {
            if options.dry_run {
                tracing::debug!(event = "client_secret_expiry", app = %app.name, severity = %report.client_secret.severity, days_left = report.client_secret.days_left, "client secret needs attention");
            } else {
                tracing::warn!(event = "client_secret_expiry", app = %app.name, severity = %report.client_secret.severity, days_left = report.client_secret.days_left, "client secret needs attention");
            }
        }
        AppResult {
            app: report,
            targets,
            rotation,
            notes,
            written,
        }
    }

    /// Reads the client secret and checks it; a certificate's `notAfter` becomes its expiry.
    async fn read_client_secret(&self, app: &App, secret: &mut ClientSecretState) {
        let value = match self
            .vaults
            .read(&app.client_secret_vault, &app.client_secret_name)
            .await
        {
            Ok(v) => v,
            Err(e) => {
                secret.error = Some(e.context(format!("app {:?}: client secret", app.name)));
                return;
            }
        };
        let mut meta = value.meta.clone();
        match credential::check(&value, app) {
            Ok(not_after) => {
                if let Some(not_after) = not_after {
                    meta.expires = Some(not_after);
                }
                let value = Arc::new(value);
                self.memory.keep_secret(
                    &app.client_secret_vault,
                    &app.client_secret_name,
                    value.clone(),
                    not_after,
                );
                secret.value = Some(value);
            }
            Err(e) => secret.error = Some(e),
        }
        secret.meta = Some(meta);
    }

    /// Refreshes one due target and records the outcome in its report (and what was written in
    /// `written`); returns a note when the new token lives shorter than `refresh_before` expects.
    async fn refresh_target(
        &self,
        app: &App,
        target: &TokenTarget,
        secret: &SecretValue,
        run_id: &str,
        report: &mut TargetReport,
        written: &mut Vec<(Url, SecretMeta)>,
    ) -> Option<String> {
        match self.refresh(app, target, secret, run_id).await {
            Ok((token, version, meta, refresh_at)) => {
                if self.memory.remembers() {
                    written.push((Url::clone(&target.vault), meta));
                }
                let written_at = OffsetDateTime::now_utc();
                let start = super::plan::life_start(Some(token.not_before()), Some(written_at));
                let lifetime = token.expires_at() - start.unwrap_or(written_at);
                let short =
                    super::plan::lifetime_shorter_than_expected(lifetime, target.refresh_before);
                report.outcome = Outcome::Written;
                report.token_expires_on = Some(token.expires_at());
                report.token_updated_on = Some(written_at);
                report.refresh_at = Some(refresh_at);
                report.version = version;
                report.signature = Some(match token.signature() {
                    SignatureCheck::Verified { .. } => "verified".into(),
                    SignatureCheck::NotVerifiable { .. } => "not_verifiable".into(),
                });
                report.probe = token.probed().then(|| "passed".to_string());
                tracing::info!(event = "token_written", app = %app.name, secret = %target.secret_name, vault = %target.vault, version = report.version.as_deref().unwrap_or(""), expires_on = %rfc3339(token.expires_at()), "token written");
                short.then(|| {
                    let lives = crate::timefmt::duration_abs(lifetime);
                    tracing::warn!(event = "token_lifetime_short", app = %app.name, secret = %target.secret_name, lifetime = %lives, "token lives shorter than refresh_before expects");
                    format!(
                        "token {:?} of app {:?} lives {lives}, less than twice its refresh_before of {}: it is rewritten at half its life instead of on every run; lower refresh_before below half the token lifetime",
                        target.secret_name,
                        app.name,
                        crate::timefmt::duration(target.refresh_before)
                    )
                })
            }
            Err(e) => {
                report.fail(e);
                None
            }
        }
    }

    /// The report of an app still running [`crate::config::deadline_grace`] after the cycle
    /// deadline, when its work was dropped: what the listings say, every due target
    /// `deadline_exceeded`. Dropping is safe: a Key Vault write is one request, and a rotation
    /// resumes from its tags next run.
    pub(super) fn abandoned(&self, app: &App, listings: &Listings) -> AppResult {
        tracing::warn!(event = "app_abandoned", app = %app.name, "app still running after the cycle deadline and its grace; abandoned");
        from_listings(app, listings, None, |target| {
            deadline_exceeded(app, target, &self.config)
        })
    }

    /// The report of an app whose work panicked (a bug): what the listings say, every due
    /// target and the app itself failed `internal`, in fixed words. A target written before
    /// the panic is reported failed too; the next run sees it fresh.
    pub(super) fn panicked(&self, app: &App, listings: &Listings) -> AppResult {
        tracing::error!(event = "app_panicked", app = %app.name, "the rotator hit an internal error (a panic) in this app's work; the app failed, the others go on");
        let error = internal_error(app);
        from_listings(app, listings, Some(error.clone()), |_| error.clone())
    }
}

/// An app's result from the listings alone, when its work gave none: fresh targets stay fresh,
/// every other target fails with `due_error`.
fn from_listings(
    app: &App,
    listings: &Listings,
    app_error: Option<StepError>,
    due_error: impl Fn(&TokenTarget) -> StepError,
) -> AppResult {
    let now = OffsetDateTime::now_utc();
    let meta = listings.get(&app.client_secret_vault, &app.client_secret_name);
    let targets = app
        .targets
        .iter()
        .map(|target| {
            let stored = listings.get(&target.vault, &target.secret_name);
            let mut report = target_report(app, target, stored);
            if stored.is_some_and(|m| is_fresh(m, app, target, now)) {
                report.outcome = Outcome::Fresh;
            } else {
                report.fail(due_error(target));
            }
            report
        })
        .collect();
    let expires = meta.and_then(|m| m.expires);
    AppResult {
        app: app_report(app, meta, None, expires, None, app_error, now),
        targets,
        rotation: None,
        notes: Vec::new(),
        written: Vec::new(),
    }
}

/// The fixed error of an app whose work panicked: names the app, never the panic's message.
fn internal_error(app: &App) -> StepError {
    StepError::new(
        ErrorClass::Internal,
        format!(
            "app {:?}: the rotator hit an internal error (a panic) while working on this app; its details are withheld because they may quote secret values. Stored tokens were kept; other apps were not affected. Please report this bug",
            app.name
        ),
    )
}

/// A target's report before its outcome: what is stored now.
fn target_report(app: &App, target: &TokenTarget, stored: Option<&SecretMeta>) -> TargetReport {
    let mut report = TargetReport::new(app, target);
    report.token_expires_on = stored.and_then(|m| m.expires);
    report.token_updated_on = stored.and_then(|m| m.updated);
    report.refresh_at = stored.and_then(|m| stored_refresh_moment(m, target));
    report
}

/// An app's report: its client secret's expiry (the earlier of Key Vault's `exp` and Graph's
/// end date, which is what will break first), its severity, and the app's error.
fn app_report(
    app: &App,
    meta: Option<&SecretMeta>,
    version: Option<String>,
    kv_expires: Option<OffsetDateTime>,
    graph: Option<GraphExpiry>,
    error: Option<StepError>,
    now: OffsetDateTime,
) -> AppReport {
    let graph_expires = graph.as_ref().and_then(|g| g.expires);
    let effective = match (kv_expires, graph_expires) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let (severity, days_left) = expiry::assess(effective, now, &app.thresholds);
    AppReport {
        name: app.name.clone(),
        tenant_id: app.tenant_id.clone(),
        client_id: app.client_id.clone(),
        owner: owner_of(app, meta),
        client_secret: ClientSecretReport {
            vault: app.client_secret_vault.to_string(),
            name: app.client_secret_name.clone(),
            version,
            expires_on: effective,
            days_left,
            severity,
            graph_expires_on: graph_expires,
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
        error: error.map(Box::new),
    }
}

fn deadline_exceeded(app: &App, target: &TokenTarget, config: &ValidConfig) -> StepError {
    StepError::new(
        ErrorClass::DeadlineExceeded,
        format!(
            "app {:?}: token secret {:?} in {} was not refreshed: the cycle reached its cycle_deadline of {}; the stored token was kept (raise cycle_deadline or concurrency, or shard the apps)",
            app.name,
            target.secret_name,
            target.vault,
            crate::timefmt::duration(config.cycle_deadline)
        ),
    )
}

/// Who to tell about an app: the config's `owner`, else the client secret's `owner` tag.
fn owner_of(app: &App, client_secret: Option<&SecretMeta>) -> Option<String> {
    app.owner.clone().or_else(|| {
        client_secret
            .and_then(|m| m.tags.get(tags::OWNER))
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty())
    })
}

/// Why the stored secret of a target is not the rotator's to overwrite, if it is not: a token
/// secret the rotator wrote has content type `application/jwt` and its `written-by` tag. Decided
/// from the listing (or the per-secret fallback read), so it costs no request: each item of Key
/// Vault's list carries `contentType` and `tags` (Learn, "Get Secrets - REST API (Azure Key
/// Vault)": SecretItem). Checked before any token is acquired, so nothing is written.
fn foreign_secret(
    app: &App,
    target: &TokenTarget,
    stored: Option<&SecretMeta>,
) -> Option<StepError> {
    let stored = stored?;
    let jwt = stored.content_type.as_deref() == Some(tags::TOKEN_CONTENT_TYPE);
    let ours = stored
        .tags
        .get(tags::WRITTEN_BY)
        .is_some_and(|w| w.starts_with(tags::WRITTEN_BY_PREFIX));
    if jwt && ours {
        return None;
    }
    let what = match (jwt, stored.content_type.as_deref()) {
        (false, Some(other)) => format!("its content type is {other:?}, not application/jwt"),
        (false, None) => "it has no content type (a token secret has application/jwt)".into(),
        (true, _) => format!("it has no {:?} tag from akv-rotator", tags::WRITTEN_BY),
    };
    Some(StepError::new(
        ErrorClass::ForeignSecret,
        format!(
            "app {:?}: token secret {:?} in {} exists and was not written by akv-rotator ({what}); it was left unchanged. Point the target at another secret, or take it over once with `akv-rotator once --adopt`",
            app.name, target.secret_name, target.vault
        ),
    ))
}

/// The listing shows the client secret's current version disabled: Key Vault would refuse
/// to read it ("Get Secret" returns 403 with inner code `SecretDisabled`).
fn disabled(app: &App) -> StepError {
    StepError::new(
        ErrorClass::SecretDisabled,
        format!(
            "app {:?}: client secret {:?} in {} is disabled (its current version has enabled = false); enable that version, or set a new enabled version with the app registration's client secret value",
            app.name, app.client_secret_name, app.client_secret_vault
        ),
    )
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
