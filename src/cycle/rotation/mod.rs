//! Client-secret rotation through Microsoft Graph, opt-in per app (`rotate = { … }`).
//!
//! When the app's client secret (its Key Vault `exp`) is within `before_expiry`:
//! 1. record intent on the current Key Vault version (`rotation-state = adding`,
//!    `pending-name` = the display name the new credential will carry);
//! 2. `addPassword` with `endDateTime` = now + `lifetime`, then record `pending-key-id`;
//! 3. wait (bounded, with backoff) until the new secret mints a token — AADSTS7000215 right
//!    after `addPassword` is expected while it propagates;
//! 4. publish it as a new Key Vault version: `exp` = `endDateTime`, tags `key-id`,
//!    `rotation-state = grace`, `previous-key-id`, `previous-remove-after` (one atomic write);
//! 5. on a later run after `grace`: check the published secret still works, `removePassword`
//!    the previous credential, clear the progress tags.
//!
//! Crash safety: the progress lives in the tags of the current Key Vault version, so a run
//! killed at any point resumes. A run that finds `adding` removes the unpublished credential
//! (its text died with the crashed process; found by `pending-key-id` or by `pending-name`)
//! and starts over; a credential is only removed when it is not the one the current version
//! holds and that one is known to work. The step list goes into the report's `rotations`.

mod plan;
mod run;

use time::OffsetDateTime;

use crate::azure::vault::{SecretMeta, SecretValue};
use crate::config::App;
use crate::cycle::{Cycle, tags};
use crate::error::{ErrorClass, StepError};
pub use crate::report::rotation::{RotationOutcome, RotationReport, RotationStep};
use crate::timefmt::rfc3339;
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
    let run = Run {
        rotator,
        app,
        policy,
        graph,
    };
    // The value and version of the current Key Vault version are needed from here on.
    let read;
    let current = match current {
        Some(c) => c,
        None => match rotator
            .vaults()
            .read(&app.client_secret_vault, &app.client_secret_name)
            .await
        {
            Ok(v) => {
                read = v;
                &read
            }
            Err(e) => {
                report.fail("read_secret", e);
                return Some(report);
            }
        },
    };
    // The state from the version just read (the listing could be a moment older).
    let plan = Plan::of(&current.meta, &policy, OffsetDateTime::now_utc());
    run.execute(plan, current, &mut report).await;
    Some(report)
}
