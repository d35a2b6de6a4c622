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

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::azure::graph::{GraphClient, PasswordCredential, Removed};
use crate::azure::vault::{SecretMeta, SecretValue};
use crate::config::{App, RotatePolicy};
use crate::cycle::{Cycle, tags};
use crate::error::{ErrorClass, StepError};
pub use crate::report::rotation::{RotationOutcome, RotationReport, RotationStep};
use crate::timefmt::rfc3339;

impl RotationReport {
    fn step(&mut self, step: &'static str, status: &'static str, detail: impl Into<String>) {
        let detail = detail.into();
        tracing::info!(event = "rotation_step", app = %self.app, step, status, detail = %detail, "rotation step");
        self.steps.push(RotationStep {
            step,
            status,
            detail,
            at: rfc3339(OffsetDateTime::now_utc()),
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

/// What the tags say is to be done.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    NotDue,
    /// Idle, and the secret has no `exp`: rotation cannot be scheduled.
    NoExpiry,
    /// Idle and within `before_expiry` (or no `exp` known — then not due).
    Due,
    /// A previous run added a credential and did not publish it.
    Recover {
        pending_key_id: Option<String>,
        pending_name: Option<String>,
        then_due: bool,
    },
    /// Published; the previous credential is kept until `remove_after`.
    Grace {
        previous: Option<String>,
        remove_after: Option<OffsetDateTime>,
        due: bool,
    },
}

impl Plan {
    fn of(meta: &SecretMeta, policy: &RotatePolicy, now: OffsetDateTime) -> Plan {
        let before = time::Duration::try_from(policy.before_expiry).unwrap_or(time::Duration::MAX);
        let due = meta.expires.is_some_and(|exp| exp - now <= before);
        match meta.tags.get(tags::ROTATION_STATE).map(String::as_str) {
            Some(tags::ADDING) => Plan::Recover {
                pending_key_id: meta.tags.get(tags::PENDING_KEY_ID).cloned(),
                pending_name: meta.tags.get(tags::PENDING_NAME).cloned(),
                then_due: due,
            },
            Some(tags::GRACE) => {
                let remove_after = meta
                    .tags
                    .get(tags::PREVIOUS_REMOVE_AFTER)
                    .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
                Plan::Grace {
                    previous: meta.tags.get(tags::PREVIOUS_KEY_ID).cloned(),
                    due: remove_after.is_none_or(|t| now >= t),
                    remove_after,
                }
            }
            _ if due => Plan::Due,
            _ if meta.expires.is_none() => Plan::NoExpiry,
            _ => Plan::NotDue,
        }
    }

    fn state_label(&self) -> &'static str {
        match self {
            Plan::NotDue | Plan::NoExpiry | Plan::Due => "idle",
            Plan::Recover { .. } => tags::ADDING,
            Plan::Grace { .. } => tags::GRACE,
        }
    }

    /// The steps that would run (dry run), or why nothing runs.
    fn describe(&self, report: &mut RotationReport, policy: &RotatePolicy) {
        let planned = |r: &mut RotationReport, step, detail: String| {
            r.step(step, "planned", detail);
            r.outcome = RotationOutcome::Planned;
        };
        let add_steps = |r: &mut RotationReport| {
            planned(
                r,
                "add_password",
                format!(
                    "add a client secret valid for {} through Microsoft Graph",
                    humantime::format_duration(policy.lifetime)
                ),
            );
            planned(
                r,
                "wait_until_usable",
                format!(
                    "wait up to {} until the new secret mints a token",
                    humantime::format_duration(policy.propagation_wait)
                ),
            );
            planned(
                r,
                "publish",
                "store it as a new Key Vault version with exp = endDateTime and a key-id tag"
                    .into(),
            );
            planned(
                r,
                "schedule_removal",
                format!(
                    "keep the previous credential for {}, then remove it",
                    humantime::format_duration(policy.grace)
                ),
            );
        };
        match self {
            Plan::NotDue => {
                report.outcome = RotationOutcome::NotDue;
                report.step(
                    "check_expiry",
                    "skipped",
                    format!(
                        "the client secret is not within {} of its expiry",
                        humantime::format_duration(policy.before_expiry)
                    ),
                );
            }
            Plan::NoExpiry => {
                report.outcome = RotationOutcome::NotDue;
                report.step(
                    "check_expiry",
                    "skipped",
                    "the client secret has no Key Vault exp: set it to the secret's end date so rotation can be scheduled",
                );
            }
            Plan::Due => add_steps(report),
            Plan::Recover {
                pending_key_id,
                pending_name,
                then_due,
            } => {
                planned(
                    report,
                    "recover",
                    format!(
                        "remove the credential a previous run added but did not publish ({})",
                        pending_key_id
                            .as_deref()
                            .or(pending_name.as_deref())
                            .unwrap_or("unknown")
                    ),
                );
                if *then_due {
                    add_steps(report);
                }
            }
            Plan::Grace {
                previous,
                remove_after,
                due,
            } => {
                let prev = previous.as_deref().unwrap_or("unknown");
                if *due {
                    planned(
                        report,
                        "remove_previous",
                        format!("remove the previous credential {prev} (grace is over)"),
                    );
                } else {
                    report.outcome = RotationOutcome::InGrace;
                    report.step(
                        "remove_previous",
                        "skipped",
                        format!(
                            "the previous credential {prev} is kept until {}",
                            remove_after.map(rfc3339).unwrap_or_default()
                        ),
                    );
                }
            }
        }
    }
}

struct Run<'a> {
    rotator: &'a Cycle,
    app: &'a App,
    policy: RotatePolicy,
    graph: GraphClient,
}

impl Run<'_> {
    async fn execute(&self, plan: Plan, current: &SecretValue, report: &mut RotationReport) {
        let app_id = &self.app.client_id;
        let application = match self.graph.application(app_id).await {
            Ok(a) => a,
            Err(e) => return report.fail("read_application", e),
        };
        let current_key = current
            .meta
            .tags
            .get(tags::KEY_ID)
            .map(|k| k.to_ascii_lowercase())
            .or_else(|| identify(&application.password_credentials, &current.value));
        let mut current_tags = current.meta.tags.clone();
        match plan {
            Plan::NotDue | Plan::NoExpiry | Plan::Grace { due: false, .. } => {
                plan.describe(report, &self.policy);
            }
            Plan::Grace { previous, .. } => {
                self.remove_previous(
                    &application.object_id,
                    &application.password_credentials,
                    current_key.as_deref(),
                    previous.as_deref(),
                    current,
                    report,
                )
                .await;
            }
            Plan::Recover {
                pending_key_id,
                pending_name,
                then_due,
            } => {
                // The unpublished credential: by keyId, or by the display name recorded before
                // addPassword (a crash may have come before its keyId was recorded).
                let orphans: Vec<&PasswordCredential> = application
                    .password_credentials
                    .iter()
                    .filter(|c| Some(c.key_id.as_str()) != current_key.as_deref())
                    .filter(|c| {
                        pending_key_id
                            .as_deref()
                            .is_some_and(|k| k.eq_ignore_ascii_case(&c.key_id))
                            || (pending_name.is_some() && c.display_name == pending_name)
                    })
                    .collect();
                for orphan in &orphans {
                    match self
                        .graph
                        .remove_password(app_id, &application.object_id, &orphan.key_id)
                        .await
                    {
                        Ok(_) => report.step(
                            "recover",
                            "done",
                            format!(
                                "removed credential {} that a previous run added but never published",
                                orphan.key_id
                            ),
                        ),
                        Err(e) => return report.fail("recover", e),
                    }
                }
                if orphans.is_empty() {
                    report.step(
                        "recover",
                        "done",
                        "a previous run stopped while adding; no unpublished credential was left in Graph",
                    );
                }
                for t in tags::ROTATION_PROGRESS {
                    current_tags.remove(t);
                }
                if let Err(e) = self.set_tags(current, &current_tags).await {
                    return report.fail("recover", e);
                }
                if then_due {
                    self.add_and_publish(
                        &application.object_id,
                        current_key.as_deref(),
                        current,
                        current_tags,
                        report,
                    )
                    .await;
                } else {
                    report.outcome = RotationOutcome::NotDue;
                }
            }
            Plan::Due => {
                self.add_and_publish(
                    &application.object_id,
                    current_key.as_deref(),
                    current,
                    current_tags,
                    report,
                )
                .await;
            }
        }
    }

    async fn add_and_publish(
        &self,
        object_id: &str,
        current_key: Option<&str>,
        current: &SecretValue,
        mut current_tags: BTreeMap<String, String>,
        report: &mut RotationReport,
    ) {
        let app_id = &self.app.client_id;
        let now = OffsetDateTime::now_utc();
        let end = now + time::Duration::try_from(self.policy.lifetime).unwrap_or_default();
        // 1. Intent first: a crash after addPassword leaves a credential we can find again.
        let marker = format!("akv-rotator {}", crate::azure::graph::random_guid());
        current_tags.insert(tags::ROTATION_STATE.into(), tags::ADDING.into());
        current_tags.insert(tags::PENDING_NAME.into(), marker.clone());
        if let Err(e) = self.set_tags(current, &current_tags).await {
            return report.fail("record_intent", e);
        }
        // 2. addPassword.
        let added = match self
            .graph
            .add_password(app_id, object_id, &marker, end)
            .await
        {
            Ok(a) => a,
            Err(e) => {
                for t in tags::ROTATION_PROGRESS {
                    current_tags.remove(t);
                }
                let _ = self.set_tags(current, &current_tags).await;
                return report.fail("add_password", e);
            }
        };
        report.step(
            "add_password",
            "done",
            format!(
                "added credential {} ({marker:?}) ending {}",
                added.key_id,
                added.end.map(rfc3339).unwrap_or_else(|| rfc3339(end))
            ),
        );
        current_tags.insert(tags::PENDING_KEY_ID.into(), added.key_id.clone());
        if let Err(e) = self.set_tags(current, &current_tags).await {
            // Not recorded: remove it now rather than leave an orphan.
            let _ = self
                .graph
                .remove_password(app_id, object_id, &added.key_id)
                .await;
            return report.fail("record_pending", e);
        }
        // 3. Wait until it works.
        if let Err(e) = self.wait_until_usable(&added.secret_text, report).await {
            // Never published: remove it (its text dies with this process) and stay on the
            // current secret.
            let removal = self
                .graph
                .remove_password(app_id, object_id, &added.key_id)
                .await;
            match removal {
                Ok(_) => {
                    report.step(
                        "abandon",
                        "done",
                        format!(
                            "removed the unpublished credential {}; the current secret stays in use",
                            added.key_id
                        ),
                    );
                    for t in tags::ROTATION_PROGRESS {
                        current_tags.remove(t);
                    }
                    let _ = self.set_tags(current, &current_tags).await;
                }
                Err(r) => report.step(
                    "abandon",
                    "failed",
                    format!(
                        "could not remove the unpublished credential {} ({}); the next run will",
                        added.key_id, r.message
                    ),
                ),
            }
            report.fail("wait_until_usable", e);
            return;
        }
        // Overlapping runs: publish only if the progress record is still ours.
        let still_ours = self
            .rotator
            .vaults()
            .read(&self.app.client_secret_vault, &self.app.client_secret_name)
            .await
            .map(|v| {
                v.version == current.version && v.meta.tags.get(tags::PENDING_NAME) == Some(&marker)
            });
        if still_ours != Ok(true) {
            let _ = self
                .graph
                .remove_password(app_id, object_id, &added.key_id)
                .await;
            return report.fail(
                "publish",
                match still_ours {
                    Err(e) => e,
                    Ok(_) => StepError::new(
                        ErrorClass::Transient,
                        format!(
                            "another run changed {:?} while this one was rotating it: removed credential {} and left the secret to that run",
                            self.app.client_secret_name, added.key_id
                        ),
                    ),
                },
            );
        }
        // 4. Publish, recording the grace state in the same write.
        let remove_after = OffsetDateTime::now_utc()
            + time::Duration::try_from(self.policy.grace).unwrap_or_default();
        let mut new_tags: BTreeMap<String, String> = current_tags
            .iter()
            .filter(|(k, _)| !tags::ROTATION_PROGRESS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        new_tags.insert(tags::KEY_ID.into(), added.key_id.clone());
        new_tags.insert(
            tags::ROTATED_BY.into(),
            crate::cycle::tags::WRITTEN_BY_VALUE.into(),
        );
        match current_key {
            Some(prev) => {
                new_tags.insert(tags::ROTATION_STATE.into(), tags::GRACE.into());
                new_tags.insert(tags::PREVIOUS_KEY_ID.into(), prev.to_string());
                new_tags.insert(tags::PREVIOUS_REMOVE_AFTER.into(), rfc3339(remove_after));
            }
            None => {
                let what = "the previous credential could not be identified in Graph (no key-id tag, no unique hint): it is not removed automatically";
                report.manual_action = Some(format!(
                    "remove the old client secret of app {} in Entra ID once consumers use the new one ({what})",
                    report.app
                ));
                report.step("schedule_removal", "skipped", what);
            }
        }
        let exp = added.end.unwrap_or(end);
        let version = match self
            .publish(&added.secret_text, exp, &current.meta, &new_tags)
            .await
        {
            Ok(v) => v,
            Err(e) => {
                // Still `adding` with pending-key-id: the next run removes the credential.
                return report.fail("publish", e);
            }
        };
        report.step(
            "publish",
            "done",
            format!(
                "stored as version {} with exp {} and key-id {}",
                version.as_deref().unwrap_or("?"),
                rfc3339(exp),
                added.key_id
            ),
        );
        report.outcome = RotationOutcome::Rotated;
        report.key_id = Some(added.key_id.clone());
        report.previous_key_id = current_key.map(str::to_string);
        if current_key.is_some() {
            report.previous_remove_after = Some(rfc3339(remove_after));
            report.step(
                "schedule_removal",
                "done",
                format!(
                    "previous credential {} will be removed after {}",
                    current_key.unwrap_or_default(),
                    rfc3339(remove_after)
                ),
            );
        }
    }

    /// Retries token requests with the new secret until one succeeds or the wait is over.
    async fn wait_until_usable(
        &self,
        secret: &SecretString,
        report: &mut RotationReport,
    ) -> Result<(), StepError> {
        let Some(target) = self.app.targets.first() else {
            return Err(StepError::new(
                ErrorClass::InvalidScope,
                "the app has no target to test the new secret with",
            ));
        };
        let started = Instant::now();
        let mut delay = Duration::from_millis(500);
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let result = self
                .rotator
                .entra()
                .acquire(
                    &self.app.tenant_id,
                    &self.app.client_id,
                    secret,
                    &target.scope,
                )
                .await;
            match result {
                Ok(_) => {
                    report.step(
                        "wait_until_usable",
                        "done",
                        format!(
                            "the new secret minted a token after {:.1} s ({attempts} attempt{})",
                            started.elapsed().as_secs_f64(),
                            if attempts == 1 { "" } else { "s" }
                        ),
                    );
                    return Ok(());
                }
                Err(e)
                    if matches!(e.class, ErrorClass::BadClientSecret | ErrorClass::Transient) =>
                {
                    let left = self
                        .policy
                        .propagation_wait
                        .saturating_sub(started.elapsed());
                    if left.is_zero() {
                        return Err(StepError::new(
                            ErrorClass::BadClientSecret,
                            format!(
                                "the new client secret still did not work after {} ({attempts} attempts, last: {}); nothing was published and the current secret stays in use (raise rotate.propagation_wait if Entra ID is slow)",
                                humantime::format_duration(Duration::from_secs(
                                    self.policy.propagation_wait.as_secs()
                                )),
                                e.code.as_deref().unwrap_or(e.class.label())
                            ),
                        )
                        .with_code(e.code.unwrap_or_default()));
                    }
                    tokio::time::sleep(delay.min(left)).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                Err(e) => {
                    return Err(e.context("the new client secret was refused"));
                }
            }
        }
    }

    async fn remove_previous(
        &self,
        object_id: &str,
        creds: &[PasswordCredential],
        current_key: Option<&str>,
        previous: Option<&str>,
        current: &SecretValue,
        report: &mut RotationReport,
    ) {
        let app_id = &self.app.client_id;
        let mut current_tags = current.meta.tags.clone();
        let clear = |t: &mut BTreeMap<String, String>| {
            for k in tags::ROTATION_PROGRESS {
                t.remove(k);
            }
        };
        let Some(previous) = previous.map(str::to_ascii_lowercase) else {
            clear(&mut current_tags);
            if let Err(e) = self.set_tags(current, &current_tags).await {
                return report.fail("remove_previous", e);
            }
            report.step(
                "remove_previous",
                "skipped",
                "no previous credential recorded",
            );
            report.outcome = RotationOutcome::Completed;
            return;
        };
        // Never remove the credential in use, nor the only working one.
        if current_key == Some(previous.as_str()) {
            return report.fail(
                "remove_previous",
                StepError::new(
                    ErrorClass::MalformedResponse,
                    format!(
                        "previous-key-id {previous} is the credential the current version holds: not removed (fix the tags of {:?})",
                        self.app.client_secret_name
                    ),
                ),
            );
        }
        if !current_key.is_some_and(|k| creds.iter().any(|c| c.key_id == k)) {
            return report.fail(
                "remove_previous",
                StepError::new(
                    ErrorClass::NotFound,
                    format!(
                        "the published credential {} is not on application {app_id}: the previous one {previous} is kept",
                        current_key.unwrap_or("(unknown)")
                    ),
                ),
            );
        }
        let Some(target) = self.app.targets.first() else {
            return;
        };
        if let Err(e) = self
            .rotator
            .entra()
            .acquire(
                &self.app.tenant_id,
                &self.app.client_id,
                &current.value,
                &target.scope,
            )
            .await
        {
            return report.fail(
                "verify_current",
                e.context(format!(
                    "the published secret does not work, so the previous credential {previous} is kept"
                )),
            );
        }
        report.step(
            "verify_current",
            "done",
            "the published secret mints a token",
        );
        match self
            .graph
            .remove_password(app_id, object_id, &previous)
            .await
        {
            Ok(Removed::Removed) => report.step(
                "remove_previous",
                "done",
                format!("removed the previous credential {previous}"),
            ),
            Ok(Removed::AlreadyGone) => report.step(
                "remove_previous",
                "done",
                format!("the previous credential {previous} was already removed"),
            ),
            Err(e) => return report.fail("remove_previous", e),
        }
        clear(&mut current_tags);
        if let Err(e) = self.set_tags(current, &current_tags).await {
            return report.fail("finish", e);
        }
        report.step("finish", "done", "rotation complete");
        report.outcome = RotationOutcome::Completed;
        report.previous_key_id = Some(previous);
    }

    /// Replaces the tags of the current version (the progress record).
    async fn set_tags(
        &self,
        current: &SecretValue,
        tag_map: &BTreeMap<String, String>,
    ) -> Result<(), StepError> {
        self.rotator
            .vaults()
            .set_tags(
                &self.app.client_secret_vault,
                &self.app.client_secret_name,
                current.version.as_deref(),
                tag_map,
            )
            .await
    }

    /// Writes the new client secret as a new version.
    async fn publish(
        &self,
        secret: &SecretString,
        exp: OffsetDateTime,
        meta: &SecretMeta,
        tag_map: &BTreeMap<String, String>,
    ) -> Result<Option<String>, StepError> {
        self.rotator
            .vaults()
            .publish_client_secret(
                &self.app.client_secret_vault,
                &self.app.client_secret_name,
                secret,
                exp,
                meta.content_type.clone(),
                tag_map,
            )
            .await
            .map(|w| w.version)
    }
}

/// The Graph credential whose hint (first 3 characters) matches the current value, when
/// exactly one does.
fn identify(creds: &[PasswordCredential], value: &SecretString) -> Option<String> {
    let prefix: String = value.expose_secret().chars().take(3).collect();
    let mut matching = creds
        .iter()
        .filter(|c| c.hint.as_deref() == Some(prefix.as_str()));
    let first = matching.next()?;
    matching.next().is_none().then(|| first.key_id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(exp_in_days: i64, t: &[(&str, &str)]) -> SecretMeta {
        SecretMeta {
            name: "s".into(),
            enabled: true,
            expires: Some(OffsetDateTime::now_utc() + time::Duration::days(exp_in_days)),
            not_before: None,
            updated: None,
            content_type: None,
            tags: t
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn policy() -> RotatePolicy {
        RotatePolicy {
            before_expiry: Duration::from_secs(30 * 86_400),
            lifetime: Duration::from_secs(180 * 86_400),
            grace: Duration::from_secs(7 * 86_400),
            propagation_wait: Duration::from_secs(60),
        }
    }

    #[test]
    fn the_tags_decide_the_plan() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(Plan::of(&meta(90, &[]), &policy(), now), Plan::NotDue);
        assert_eq!(Plan::of(&meta(10, &[]), &policy(), now), Plan::Due);
        assert!(matches!(
            Plan::of(&meta(10, &[(tags::ROTATION_STATE, tags::ADDING), (tags::PENDING_KEY_ID, "k")]), &policy(), now),
            Plan::Recover { pending_key_id: Some(k), then_due: true, .. } if k == "k"
        ));
        let later = rfc3339(now + time::Duration::hours(1));
        assert!(matches!(
            Plan::of(
                &meta(
                    170,
                    &[
                        (tags::ROTATION_STATE, tags::GRACE),
                        (tags::PREVIOUS_REMOVE_AFTER, &later)
                    ]
                ),
                &policy(),
                now
            ),
            Plan::Grace { due: false, .. }
        ));
        let earlier = rfc3339(now - time::Duration::hours(1));
        assert!(matches!(
            Plan::of(
                &meta(
                    170,
                    &[
                        (tags::ROTATION_STATE, tags::GRACE),
                        (tags::PREVIOUS_REMOVE_AFTER, &earlier)
                    ]
                ),
                &policy(),
                now
            ),
            Plan::Grace { due: true, .. }
        ));
    }

    #[test]
    fn a_hint_identifies_only_a_unique_credential() {
        let c = |k: &str, h: &str| PasswordCredential {
            key_id: k.into(),
            display_name: None,
            hint: Some(h.into()),
            end: None,
        };
        let v = SecretString::from("abcdef".to_string());
        assert_eq!(
            identify(&[c("1", "abc"), c("2", "xyz")], &v),
            Some("1".into())
        );
        assert_eq!(identify(&[c("1", "abc"), c("2", "abc")], &v), None);
    }
}
