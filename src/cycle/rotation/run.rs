//! Executing a rotation plan: Graph `addPassword`, waiting until the new secret works,
//! publishing it to Key Vault, and removing the previous credential after the grace period.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::azure::graph::{GraphClient, PasswordCredential, Removed};
use crate::azure::vault::{SecretMeta, SecretValue};
use crate::config::{App, RotatePolicy};
use crate::cycle::{Cycle, tags};
use crate::error::{ErrorClass, StepError};
use crate::report::rotation::{RotationOutcome, RotationReport};

use super::plan::Plan;
use crate::timefmt::rfc3339;

pub(super) struct Run<'a> {
    pub(super) rotator: &'a Cycle,
    pub(super) app: &'a App,
    pub(super) policy: RotatePolicy,
    pub(super) graph: GraphClient,
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
pub(super) fn identify(creds: &[PasswordCredential], value: &SecretString) -> Option<String> {
    let prefix: String = value.expose_secret().chars().take(3).collect();
    let mut matching = creds
        .iter()
        .filter(|c| c.hint.as_deref() == Some(prefix.as_str()));
    let first = matching.next()?;
    matching.next().is_none().then(|| first.key_id.clone())
}
