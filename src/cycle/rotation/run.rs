//! Executing a rotation plan: Graph `addPassword`, waiting until the new secret works,
//! publishing it to Key Vault, and removing the previous credential after the grace period.
//!
//! The tags are a progress record anyone with tag access can edit, so they only ever narrow
//! what is removed: the credential the current value authenticates with (its hint, proved by a
//! token request) is never removed; otherwise only credentials this rotator created (display
//! name `akv-rotator <app> <run id>`, see `credentials`) or the one the previous Key Vault
//! version held (proved by that version's value) are.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use time::OffsetDateTime;

use crate::azure::graph::{GraphClient, PasswordCredential, Removed};
use crate::azure::vault::{SecretMeta, SecretValue};
use crate::config::{App, RotatePolicy};
use crate::cycle::{Cycle, tags};
use crate::error::{ErrorClass, StepError};
use crate::report::rotation::{RotationOutcome, RotationReport};

use super::credentials::{Credentials, added_after, hint_matches, made_by_rotator, marker};
use super::lease::Lease;
use super::plan::Plan;
use crate::timefmt::rfc3339;

pub(super) struct Run<'a> {
    pub(super) rotator: &'a Cycle,
    pub(super) app: &'a App,
    pub(super) policy: RotatePolicy,
    pub(super) graph: GraphClient,
    pub(super) lease: &'a Lease,
}

impl Run<'_> {
    pub(super) async fn execute(
        &self,
        plan: Plan,
        current: &SecretValue,
        report: &mut RotationReport,
    ) {
        let app_id = &self.app.client_id;
        let application = match self.graph.application(app_id).await {
            Ok(a) => a,
            Err(e) => return report.fail("read_application", e),
        };
        let creds = Credentials::of(&application.password_credentials, current);
        let mut current_tags = current.meta.tags.clone();
        // Whether a new credential is added and published in this run.
        let rotate_now = match plan {
            Plan::NotDue | Plan::NoExpiry | Plan::Grace { due: false, .. } => {
                plan.describe(report, &self.policy);
                false
            }
            Plan::Grace { previous, .. } => {
                self.remove_previous(
                    &application.object_id,
                    &creds,
                    previous.as_deref(),
                    current,
                    report,
                )
                .await;
                false
            }
            Plan::Recover {
                pending_key_id,
                pending_name,
                then_due,
            } => {
                // The unpublished credential: by keyId, or by the display name recorded before
                // addPassword (a crash or a lost answer may have come before its keyId was
                // recorded). Only one this rotator made for this app, never one in use.
                let named = |c: &PasswordCredential| {
                    pending_key_id
                        .as_deref()
                        .is_some_and(|k| k.eq_ignore_ascii_case(&c.key_id))
                        || (pending_name.is_some() && c.display_name == pending_name)
                };
                let (orphans, refused): (Vec<&PasswordCredential>, Vec<&PasswordCredential>) =
                    creds.all.iter().filter(|c| named(c)).partition(|c| {
                        !creds.in_use(&c.key_id)
                            && made_by_rotator(c, &self.app.name)
                            && added_after(c, current)
                    });
                for c in &refused {
                    tracing::warn!(event = "rotation_tags_refused", app = %self.app.name, key_id = %c.key_id, "pending credential named by the tags is in use or not the rotator's");
                    report.step(
                        "recover",
                        "skipped",
                        format!(
                            "the tags name credential {} as unpublished, but it is {}: kept (check who edited the tags of {:?})",
                            c.key_id,
                            if creds.in_use(&c.key_id) {
                                "the one the current value authenticates with"
                            } else if !made_by_rotator(c, &self.app.name) {
                                "not one akv-rotator created"
                            } else {
                                "older than the current version (a previous credential, maybe still in use)"
                            },
                            self.app.client_secret_name
                        ),
                    );
                }
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
                if orphans.is_empty() && refused.is_empty() {
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
                if !then_due {
                    report.outcome = RotationOutcome::NotDue;
                }
                then_due
            }
            Plan::Due => true,
        };
        if rotate_now {
            self.add_and_publish(
                &application.object_id,
                creds.current.as_deref(),
                current,
                current_tags,
                report,
            )
            .await;
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
        let marker = marker(&self.app.name, &self.lease.owner);
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
            // No answer, or one we cannot read: Graph may have created it, and its text is
            // lost with the answer. Keep the intent so the next run removes it by its name.
            Err(e)
                if matches!(
                    e.class,
                    ErrorClass::Transient | ErrorClass::MalformedResponse
                ) =>
            {
                return report.fail(
                    "add_password",
                    e.context(format!(
                        "no usable answer from Graph, so the credential may exist; the next run removes any credential named {marker:?} and starts over"
                    )),
                );
            }
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
            self.abandon(object_id, &added.key_id, current, &mut current_tags, report)
                .await;
            report.fail("wait_until_usable", e);
            return;
        }
        // Publish only under a live lease and while the progress record is still ours.
        if !self.lease.holds_for(LEASE_MARGIN) {
            self.abandon(object_id, &added.key_id, current, &mut current_tags, report)
                .await;
            return report.fail(
                "publish",
                StepError::new(
                    ErrorClass::Transient,
                    format!(
                        "the rotation lease ran out before {:?} could be published (another run may rotate it now): nothing published; raise rotate.propagation_wait if this run was merely slow",
                        self.app.client_secret_name
                    ),
                ),
            );
        }
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
        new_tags.insert(tags::RUN_ID.into(), report.run_id.clone());
        new_tags.insert(
            tags::ROTATED_BY.into(),
            crate::cycle::tags::WRITTEN_BY_VALUE.into(),
        );
        match current_key {
            Some(prev) => {
                new_tags.insert(tags::ROTATION_STATE.into(), tags::GRACE.into());
                new_tags.insert(tags::PREVIOUS_KEY_ID.into(), prev.to_string());
                new_tags.insert(tags::PREVIOUS_REMOVE_AFTER.into(), rfc3339(remove_after));
                if let Some(v) = &current.version {
                    new_tags.insert(tags::PREVIOUS_VERSION.into(), v.clone());
                }
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
            .publish(&added.secret_text, Some(exp), &current.meta, &new_tags)
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
        // The version just replaced no longer needs its `adding` markers: the new version holds
        // the progress now. Best effort; a failure leaves stale tags on an old version only.
        let settled = without_progress(&current.meta.tags);
        if let Err(e) = self.set_tags(current, &settled).await {
            tracing::warn!(event = "rotation_old_tags_kept", app = %self.app.name, class = %e.class, "could not clear the rotation markers of the replaced version");
        }
        // 5. The credential must still exist now that consumers read it: if someone (another
        // run, a person) removed it meanwhile, put the previous secret back.
        match self.graph.application(app_id).await {
            Ok(app) if !app.password_credentials.iter().any(|c| c.key_id == added.key_id) => {
                return self
                    .roll_back(&added.key_id, version.as_deref(), current, report)
                    .await;
            }
            Ok(_) => {
                tracing::info!(event = "rotation_verified", app = %self.app.name, key_id = %added.key_id, "the published credential is on the application");
            }
            Err(e) => report.step(
                "verify_published",
                "failed",
                format!(
                    "could not re-read the application ({}); the published secret minted a token moments ago",
                    e.message
                ),
            ),
        }
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

    /// Removes an unpublished credential and clears the progress record.
    async fn abandon(
        &self,
        object_id: &str,
        key_id: &str,
        current: &SecretValue,
        current_tags: &mut BTreeMap<String, String>,
        report: &mut RotationReport,
    ) {
        match self
            .graph
            .remove_password(&self.app.client_id, object_id, key_id)
            .await
        {
            Ok(_) => {
                report.step(
                    "abandon",
                    "done",
                    format!(
                        "removed the unpublished credential {key_id}; the current secret stays in use"
                    ),
                );
                for t in tags::ROTATION_PROGRESS {
                    current_tags.remove(t);
                }
                let _ = self.set_tags(current, current_tags).await;
            }
            Err(r) => report.step(
                "abandon",
                "failed",
                format!(
                    "could not remove the unpublished credential {key_id} ({}); the next run will",
                    r.message
                ),
            ),
        }
    }

    /// The published credential is gone from Graph: publish the previous value again (its
    /// credential is kept through the grace period), so consumers never read a dead secret.
    async fn roll_back(
        &self,
        gone: &str,
        published: Option<&str>,
        previous: &SecretValue,
        report: &mut RotationReport,
    ) {
        let restored_tags = without_progress(&previous.meta.tags);
        let what = format!(
            "credential {gone} was removed from application {} right after it was published as version {} of {:?}",
            self.app.client_id,
            published.unwrap_or("?"),
            self.app.client_secret_name
        );
        match self
            .publish(
                &previous.value,
                previous.meta.expires,
                &previous.meta,
                &restored_tags,
            )
            .await
        {
            Ok(v) => report.fail(
                "verify_published",
                StepError::new(
                    ErrorClass::NotFound,
                    format!(
                        "{what}: restored the previous secret as version {}; find out who removed it (another run, a person) before the next run rotates again",
                        v.as_deref().unwrap_or("?")
                    ),
                ),
            ),
            Err(e) => {
                report.manual_action = Some(format!(
                    "{what}, and the previous secret could not be restored: publish a working client secret of app {} to {:?} now",
                    self.app.client_id, self.app.client_secret_name
                ));
                report.fail(
                    "verify_published",
                    e.context(format!("{what}; restoring the previous secret failed")),
                );
            }
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
                                crate::timefmt::duration(self.policy.propagation_wait),
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
        creds: &Credentials<'_>,
        previous: Option<&str>,
        current: &SecretValue,
        report: &mut RotationReport,
    ) {
        let app_id = &self.app.client_id;
        let secret = &self.app.client_secret_name;
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
        // Never the credential the current value authenticates with, whatever the tags say.
        if creds.in_use(&previous) {
            return report.fail(
                "remove_previous",
                StepError::new(
                    ErrorClass::MalformedResponse,
                    format!(
                        "previous-key-id {previous} is the credential the current version holds (its hint matches the current value): not removed (check who edited the tags of {secret:?})"
                    ),
                ),
            );
        }
        let Some(cred) = creds.find(&previous) else {
            report.step(
                "remove_previous",
                "done",
                format!("the previous credential {previous} was already removed"),
            );
            return self.finish(current, current_tags, &previous, report).await;
        };
        // Only a credential this rotator made, or the one the previous version really held.
        if !made_by_rotator(cred, &self.app.name)
            && let Err(why) = self.held_by_previous_version(cred, current).await
        {
            return report.fail(
                "remove_previous",
                StepError::new(
                    ErrorClass::MalformedResponse,
                    format!(
                        "previous-key-id {previous} names a credential not created by akv-rotator, and {why}: not removed (check who edited the tags of {secret:?}; remove it by hand if it is really unused)"
                    ),
                ),
            );
        }
        let Some(current_key) = creds.current.as_deref() else {
            return report.fail(
                "remove_previous",
                StepError::new(
                    ErrorClass::NotFound,
                    format!(
                        "no credential of application {app_id} matches the current value of {secret:?}: the previous one {previous} is kept"
                    ),
                ),
            );
        };
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
            format!("the published secret ({current_key}) mints a token"),
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
        self.finish(current, current_tags, &previous, report).await;
    }

    /// Clears the progress record: the rotation is complete.
    async fn finish(
        &self,
        current: &SecretValue,
        mut current_tags: BTreeMap<String, String>,
        previous: &str,
        report: &mut RotationReport,
    ) {
        for k in tags::ROTATION_PROGRESS {
            current_tags.remove(k);
        }
        if let Err(e) = self.set_tags(current, &current_tags).await {
            return report.fail("finish", e);
        }
        report.step("finish", "done", "rotation complete");
        report.outcome = RotationOutcome::Completed;
        report.previous_key_id = Some(previous.to_string());
    }

    /// Proves that `cred` is the credential the version before the rotation held: the
    /// `previous-version` tag names an earlier version of this secret whose value has `cred`'s
    /// hint. Otherwise says why not.
    async fn held_by_previous_version(
        &self,
        cred: &PasswordCredential,
        current: &SecretValue,
    ) -> Result<(), String> {
        let Some(version) = current.meta.tags.get(tags::PREVIOUS_VERSION) else {
            return Err("no previous-version tag proves the previous version held it".into());
        };
        if current.version.as_deref() == Some(version.as_str()) {
            return Err(format!("previous-version {version} is the current version"));
        }
        let old = self
            .rotator
            .vaults()
            .read_version(
                &self.app.client_secret_vault,
                &self.app.client_secret_name,
                version,
            )
            .await
            .map_err(|e| format!("previous-version {version} cannot be read ({})", e.message))?;
        if hint_matches(std::slice::from_ref(cred), &old.value).is_empty() {
            return Err(format!(
                "the value of previous-version {version} does not match it"
            ));
        }
        Ok(())
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
        exp: Option<OffsetDateTime>,
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

/// How much of the lease must be left to publish.
const LEASE_MARGIN: time::Duration = time::Duration::minutes(1);

/// `all` tags but the rotation's progress markers ([`tags::ROTATION_PROGRESS`]).
fn without_progress(all: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    all.iter()
        .filter(|(k, _)| !tags::ROTATION_PROGRESS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
