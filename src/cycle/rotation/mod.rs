//! Client-secret rotation through Microsoft Graph, opt-in per app (`rotate = { … }`).
//!
//! When the app's client secret (its Key Vault `exp`) is within `before_expiry`, one run,
//! holding the app's rotation lease (`lease`: overlapping runs never rotate one app at once):
//! 1. record intent on the current Key Vault version (`rotation-state = adding`,
//!    `pending-name` = `akv-rotator <app> <run id>`, the new credential's display name);
//! 2. `addPassword` with `endDateTime` = now + `lifetime`, then record `pending-key-id`;
//! 3. wait (bounded, with backoff) until the new secret mints a token — AADSTS7000215 right
//!    after `addPassword` is expected while it propagates;
//! 4. publish it as a new Key Vault version: `exp` = `endDateTime`, tags `key-id`,
//!    `rotation-state = grace`, `previous-key-id`, `previous-version`, `previous-remove-after`
//!    (one atomic write), then re-read Graph and put the previous value back if the new
//!    credential is gone;
//! 5. on a later run after `grace`: check the published secret still works, `removePassword`
//!    the previous credential, clear the progress tags.
//!
//! Crash safety: the progress lives in the tags of the current Key Vault version, so a run
//! killed at any point resumes. A run that finds `adding` removes the unpublished credential
//! (its text died with the crashed process or the lost answer; found by `pending-key-id` or by
//! `pending-name`) and starts over. Tags are editable by anyone with tag access, so they never
//! widen what is removed: not the credential the current value authenticates with (hint, token
//! request), and only one the rotator created or the previous version provably held (`run`).
//! The step list goes into the report's `rotations`.

mod credentials;
mod lease;
mod plan;
mod run;

use time::OffsetDateTime;

use crate::azure::vault::{SecretMeta, SecretValue};
use crate::config::App;
use crate::cycle::{Cycle, tags};
use crate::error::{ErrorClass, StepError};
pub use crate::report::rotation::{RotationOutcome, RotationReport, RotationStep};
use crate::timefmt::rfc3339;
use lease::Taken;
use plan::Plan;
use run::Run;

impl RotationReport {
    fn step(&mut self, step: &'static str, status: &'static str, detail: impl Into<String>) {
        let detail = detail.into();
        tracing::info!(event = "rotation_step", app = %self.app, step, status, detail = %detail, "rotation step");
        self.steps.push(RotationStep {
            step,
            status,
            detail,
            at: OffsetDateTime::now_utc(),
        });
    }

    fn fail(&mut self, step: &'static str, e: StepError) {
        self.step(step, "failed", e.message.clone());
        tracing::warn!(event = "rotation_failed", app = %self.app, step, class = %e.class, error = %e.message, "rotation failed");
        self.outcome = RotationOutcome::Failed;
        self.error = Some(e);
    }
}

/// The rotation work for one app, after its token work. `meta` is what the cycle knows of
/// the client secret (listing or read), `current` its value when the cycle read it.
pub async fn rotate_app(
    rotator: &Cycle,
    app: &App,
    meta: Option<&SecretMeta>,
    current: Option<&SecretValue>,
    dry_run: bool,
    run_id: &str,
) -> Option<RotationReport> {
    let policy = app.rotate?;
    let mut report = RotationReport {
        app: app.name.clone(),
        vault: app.client_secret_vault.to_string(),
        secret: app.client_secret_name.clone(),
        outcome: RotationOutcome::NotDue,
        state: "idle".into(),
        steps: Vec::new(),
        key_id: None,
        previous_key_id: None,
        previous_remove_after: None,
        error: None,
        manual_action: None,
        run_id: run_id.to_string(),
    };
    let Some(meta) = meta.or(current.map(|c| &c.meta)) else {
        report.fail(
            "plan",
            StepError::new(
                ErrorClass::NotFound,
                format!(
                    "client secret {:?} in {} is unknown: nothing to rotate",
                    app.client_secret_name, app.client_secret_vault
                ),
            ),
        );
        return Some(report);
    };
    let plan = Plan::of(meta, &policy, OffsetDateTime::now_utc());
    report.state = plan.state_label().into();
    report.key_id = meta.tags.get(tags::KEY_ID).cloned();
    report.previous_key_id = meta.tags.get(tags::PREVIOUS_KEY_ID).cloned();
    report.previous_remove_after = meta.tags.get(tags::PREVIOUS_REMOVE_AFTER).cloned();
    if dry_run {
        plan.describe(&mut report, &policy);
        return Some(report);
    }
    if matches!(
        plan,
        Plan::NotDue | Plan::NoExpiry | Plan::Grace { due: false, .. }
    ) {
        plan.describe(&mut report, &policy);
        return Some(report);
    }
    let Some(graph) = rotator.graph() else {
        report.fail(
            "plan",
            StepError::new(
                ErrorClass::Configuration,
                "no Microsoft Graph endpoint for this cloud: set [custom_cloud] graph_endpoint",
            ),
        );
        return Some(report);
    };
    // One run at a time per app: the claim outlives the longest rotation (the propagation
    // wait) with room for slow vault and Graph calls.
    let run_id = crate::azure::graph::random_guid();
    let until = OffsetDateTime::now_utc()
        + time::Duration::try_from(policy.propagation_wait).unwrap_or_default()
        + LEASE_SLACK;
    let lease = match lease::take(rotator.vaults(), app, &run_id, until).await {
        Ok(Taken::Held(lease)) => lease,
        Ok(Taken::Busy { owner, until }) => {
            report.outcome = RotationOutcome::Busy;
            report.step(
                "lease",
                "skipped",
                format!(
                    "another run ({owner}) holds {:?} until {}: it is rotating this app, nothing done",
                    lease::lease_name(app),
                    until.map(rfc3339).unwrap_or_else(|| "?".into())
                ),
            );
            return Some(report);
        }
        Err(e) => {
            report.fail("lease", e.context("take the rotation lease"));
            return Some(report);
        }
    };
    tracing::info!(event = "rotation_lease", app = %app.name, run = %lease.owner, "rotation lease taken");
    let run = Run {
        rotator,
        app,
        policy,
        graph,
        lease: &lease,
    };
    // Read under the lease: what another run did before it released counts.
    let current = match rotator
        .vaults()
        .read(&app.client_secret_vault, &app.client_secret_name)
        .await
    {
        Ok(v) => Some(v),
        Err(e) => {
            report.fail("read_secret", e);
            None
        }
    };
    if let Some(current) = current {
        let plan = Plan::of(&current.meta, &policy, OffsetDateTime::now_utc());
        report.state = plan.state_label().into();
        run.execute(plan, &current, &mut report).await;
    }
    let described = lease.describe();
    if let Err(e) = lease.release(rotator.vaults(), app).await {
        // Not a failure of the rotation: the claim expires by itself.
        report.step(
            "lease",
            "failed",
            format!(
                "could not release ({described}), it expires by itself: {}",
                e.message
            ),
        );
    }
    Some(report)
}

/// How long a lease outlives the propagation wait.
const LEASE_SLACK: time::Duration = time::Duration::minutes(10);
