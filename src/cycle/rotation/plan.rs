//! What the tags of the client secret's current version say is to be done, and how a dry run
//! describes it. The tags only ever hold work back (an unreadable date is never due); what may
//! be removed is decided in `run` from Graph and the current value.

use super::*;
use crate::config::RotatePolicy;
use crate::cycle::tags;
use time::format_description::well_known::Rfc3339;

/// What the tags say is to be done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Plan {
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
    /// Published; the previous credential is kept until `remove_after`. A tag that is not a
    /// time (`unreadable`) is never due: tags are not trusted to shorten the grace.
    Grace {
        previous: Option<String>,
        remove_after: Option<OffsetDateTime>,
        unreadable: Option<String>,
        due: bool,
    },
}

impl Plan {
    pub(super) fn of(meta: &SecretMeta, policy: &RotatePolicy, now: OffsetDateTime) -> Plan {
        let before = time::Duration::try_from(policy.before_expiry).unwrap_or(time::Duration::MAX);
        let due = meta.expires.is_some_and(|exp| exp - now <= before);
        match meta.tags.get(tags::ROTATION_STATE).map(String::as_str) {
            Some(tags::ADDING) => Plan::Recover {
                pending_key_id: meta.tags.get(tags::PENDING_KEY_ID).cloned(),
                pending_name: meta.tags.get(tags::PENDING_NAME).cloned(),
                then_due: due,
            },
            Some(tags::GRACE) => {
                let raw = meta.tags.get(tags::PREVIOUS_REMOVE_AFTER);
                let remove_after = raw.and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
                Plan::Grace {
                    previous: meta.tags.get(tags::PREVIOUS_KEY_ID).cloned(),
                    due: remove_after.is_some_and(|t| now >= t),
                    unreadable: raw.filter(|_| remove_after.is_none()).cloned(),
                    remove_after,
                }
            }
            _ if due => Plan::Due,
            _ if meta.expires.is_none() => Plan::NoExpiry,
            _ => Plan::NotDue,
        }
    }

    pub(super) fn state_label(&self) -> &'static str {
        match self {
            Plan::NotDue | Plan::NoExpiry | Plan::Due => "idle",
            Plan::Recover { .. } => tags::ADDING,
            Plan::Grace { .. } => tags::GRACE,
        }
    }

    /// The steps that would run (dry run), or why nothing runs.
    pub(super) fn describe(&self, report: &mut RotationReport, policy: &RotatePolicy) {
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
                    crate::timefmt::duration(policy.lifetime)
                ),
            );
            planned(
                r,
                "wait_until_usable",
                format!(
                    "wait up to {} until the new secret mints a token",
                    crate::timefmt::duration(policy.propagation_wait)
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
                    crate::timefmt::duration(policy.grace)
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
                        crate::timefmt::duration(policy.before_expiry)
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
                unreadable,
                due,
            } => {
                let prev = previous.as_deref().unwrap_or("unknown");
                if remove_after.is_none() {
                    report.outcome = RotationOutcome::InGrace;
                    report.step(
                        "remove_previous",
                        "skipped",
                        match unreadable {
                            Some(raw) => format!(
                                "previous-remove-after {raw:?} is not an RFC 3339 time: the previous credential {prev} is kept (fix the tag, or remove the credential by hand)"
                            ),
                            None => format!(
                                "no previous-remove-after tag: the previous credential {prev} is kept (add the tag, or remove the credential by hand)"
                            ),
                        },
                    );
                } else if *due {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::credentials::{identify, made_by_rotator, marker};
    use super::*;
    use crate::azure::graph::PasswordCredential;
    use secrecy::SecretString;

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
    fn an_unreadable_or_missing_remove_after_is_never_due() {
        let now = OffsetDateTime::now_utc();
        for t in [
            vec![
                (tags::ROTATION_STATE, tags::GRACE),
                (tags::PREVIOUS_REMOVE_AFTER, "soon"),
            ],
            vec![(tags::ROTATION_STATE, tags::GRACE)],
        ] {
            assert!(matches!(
                Plan::of(&meta(170, &t), &policy(), now),
                Plan::Grace {
                    due: false,
                    remove_after: None,
                    ..
                }
            ));
        }
    }

    #[test]
    fn only_rotator_markers_for_this_app_count_as_made_by_the_rotator() {
        let named = |n: &str| PasswordCredential {
            key_id: "k".into(),
            display_name: Some(n.into()),
            hint: None,
            start: None,
            end: None,
        };
        let made = |n: &str| made_by_rotator(&named(n), "sales");
        assert!(made(&marker(
            "sales",
            "0f0f0f0f-0000-4000-8000-000000000000"
        )));
        assert!(made("akv-rotator 0f0f0f0f-0000-4000-8000-000000000000"));
        assert!(!made("akv-rotator hr 0f0f0f0f-0000-4000-8000-000000000000"));
        assert!(!made("akv-rotator sales"));
        assert!(!made("akv-rotator not-a-guid"));
        assert!(!made("ci-pipeline"));
    }

    #[test]
    fn a_hint_identifies_only_a_unique_credential() {
        let c = |k: &str, h: &str| PasswordCredential {
            key_id: k.into(),
            display_name: None,
            hint: Some(h.into()),
            start: None,
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
