//! Deduplication: which sink is told what about which finding, as a pure function of the
//! previous alert state, this run's findings, the clock and the config.
//!
//! - a finding a sink has not accepted yet → `new` (to every sink whose `min_severity` and
//!   `owners` let it through);
//! - its severity rose above what the sink last accepted → `escalated`, at once;
//! - otherwise nothing until `realert_after` has passed since the sink last accepted it →
//!   `reminder`;
//! - a finding that is gone (back to ok, or its app removed) → one `resolved` to each sink that
//!   accepted it, then it is forgotten;
//! - a token target's failures alert only from `failure_threshold` consecutive failed cycles.
//!
//! The returned state does not yet say that anything was sent: the caller records each
//! delivery a sink accepted with [`AlertState::record_delivery`], so a failed delivery is tried
//! again next run.

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;

use super::finding::{Finding, FindingKind, FindingStatus};
use super::state::{AlertState, FindingRecord};
use crate::config::alerts::AlertSeverity;
use crate::config::alerts::AlertsConfig;
pub use crate::report::alerts::NotificationState;

/// How long a "resolved" message is retried for a sink that does not accept it.
pub const RESOLVED_RETRY_FOR: time::Duration = time::Duration::days(7);

/// One message to one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The sink's name.
    pub sink: String,
    pub state: NotificationState,
    /// The finding's severity now (for `resolved`: the last severity seen).
    pub severity: AlertSeverity,
    pub first_seen: OffsetDateTime,
    /// What the message says; for `resolved`, rebuilt from the alert state.
    pub finding: Finding,
}

/// [`decide`] with the counts the report needs.
pub(crate) struct Decision {
    pub notifications: Vec<Notification>,
    pub state: AlertState,
    /// Findings that are problems this run (after the failure threshold).
    pub active: usize,
    /// (finding, sink) pairs held back because the sink already knows.
    pub suppressed: usize,
}

/// Who is told what this run, and the state to keep (before recording deliveries).
pub fn decide(
    state: &AlertState,
    findings: &[Finding],
    now: OffsetDateTime,
    cfg: &AlertsConfig,
) -> (Vec<Notification>, AlertState) {
    let d = decide_with_counts(state, findings, now, cfg);
    (d.notifications, d.state)
}

pub(crate) fn decide_with_counts(
    state: &AlertState,
    findings: &[Finding],
    now: OffsetDateTime,
    cfg: &AlertsConfig,
) -> Decision {
    let realert = time::Duration::try_from(cfg.realert_after).unwrap_or(time::Duration::MAX);
    let sink_names: BTreeSet<&str> = cfg.sinks.iter().map(|s| s.name.as_str()).collect();
    let mut next = AlertState {
        version: state.version,
        updated_at: state.updated_at,
        findings: BTreeMap::new(),
        failures: BTreeMap::new(),
    };

    // This run's problems by key (the worst, should a key come twice), and the keys it could
    // not assess.
    let mut active: BTreeMap<&str, (&Finding, AlertSeverity)> = BTreeMap::new();
    let mut held: BTreeSet<&str> = BTreeSet::new();
    for f in findings {
        match f.status {
            FindingStatus::NotAssessed => {
                held.insert(&f.key);
                if let Some(n) = state.failures.get(&f.key) {
                    next.failures.insert(f.key.clone(), *n);
                }
            }
            FindingStatus::Problem(severity) => {
                if f.kind == FindingKind::TargetFailing {
                    let n = f.consecutive_failures.unwrap_or(1);
                    next.failures.insert(f.key.clone(), n);
                    if n < cfg.failure_threshold {
                        continue;
                    }
                }
                let entry = active.entry(&f.key).or_insert((f, severity));
                if severity > entry.1 {
                    *entry = (f, severity);
                }
            }
        }
    }

    let mut notifications = Vec::new();
    let mut suppressed = 0;

    for (key, (f, severity)) in &active {
        let mut record = match state.findings.get(*key) {
            Some(prev) if prev.resolved_at.is_none() => prev.clone(),
            // Back after being resolved: a new occurrence. Sinks still owed the "resolved"
            // keep their record and simply carry on.
            Some(prev) => FindingRecord {
                resolved_at: None,
                first_seen: now,
                ..prev.clone()
            },
            None => FindingRecord {
                kind: f.kind,
                app: f.app.clone(),
                owner: None,
                secret: None,
                severity: *severity,
                first_seen: now,
                sent_to: BTreeMap::new(),
                resolved_at: None,
            },
        };
        record.kind = f.kind;
        record.app = f.app.clone();
        record.owner = f.owner.clone();
        record.secret = f.secret.clone();
        record.severity = *severity;
        record
            .sent_to
            .retain(|sink, _| sink_names.contains(sink.as_str()));

        for sink in &cfg.sinks {
            if !sink.accepts(*severity, f.owner.as_deref()) {
                continue;
            }
            let why = match record.sent_to.get(&sink.name) {
                None => Some(NotificationState::New),
                Some(r) if *severity > r.severity => Some(NotificationState::Escalated),
                Some(r) if now - r.last_sent >= realert => Some(NotificationState::Reminder),
                Some(_) => None,
            };
            match why {
                Some(state) => notifications.push(Notification {
                    sink: sink.name.clone(),
                    state,
                    severity: *severity,
                    first_seen: record.first_seen,
                    finding: (*f).clone(),
                }),
                None => suppressed += 1,
            }
        }
        next.findings.insert((*key).to_string(), record);
    }

    for (key, prev) in &state.findings {
        if active.contains_key(key.as_str()) {
            continue;
        }
        if held.contains(key.as_str()) {
            next.findings.insert(key.clone(), prev.clone());
            continue;
        }
        let mut record = prev.clone();
        record
            .sent_to
            .retain(|sink, _| sink_names.contains(sink.as_str()));
        let resolved_at = *record.resolved_at.get_or_insert(now);
        // Nobody knew about it (or gave up hearing): forget it silently.
        if record.sent_to.is_empty() || now - resolved_at > RESOLVED_RETRY_FOR {
            continue;
        }
        let finding = resolved_finding(key, &record);
        for sink in record.sent_to.keys() {
            notifications.push(Notification {
                sink: sink.clone(),
                state: NotificationState::Resolved,
                severity: record.severity,
                first_seen: record.first_seen,
                finding: finding.clone(),
            });
        }
        next.findings.insert(key.clone(), record);
    }

    Decision {
        notifications,
        state: next,
        active: active.len(),
        suppressed,
    }
}

/// The content of a "resolved" message, from what the state remembers.
fn resolved_finding(key: &str, r: &FindingRecord) -> Finding {
    let app = r.app.as_str();
    let secret = r.secret.as_ref().map(|s| s.name.as_str()).unwrap_or("?");
    let title = match r.kind {
        FindingKind::ClientSecretExpiry => {
            format!("Client secret expiry of app \"{app}\" is resolved")
        }
        FindingKind::ClientSecretUnknownExpiry => {
            format!("Missing expiry date of app \"{app}\"'s client secret is resolved")
        }
        FindingKind::RotationFailed => {
            format!("Client secret rotation of app \"{app}\" succeeded after an earlier failure")
        }
        FindingKind::RotationManualAction => {
            format!("Manual action for app \"{app}\"'s client secret rotation is no longer needed")
        }
        FindingKind::ClientSecretExpiryMismatch => {
            format!("Key Vault and Entra ID agree again on app \"{app}\"'s client secret expiry")
        }
        FindingKind::TargetFailing => {
            format!("Failing token \"{secret}\" of app \"{app}\" is resolved")
        }
        FindingKind::TokenExpiresBeforeNextRun => {
            format!("Token \"{secret}\" of app \"{app}\" no longer expires before the next run")
        }
    };
    Finding {
        key: key.to_string(),
        kind: r.kind,
        status: FindingStatus::Problem(r.severity),
        app: r.app.clone(),
        owner: r.owner.clone(),
        title,
        detail: "akv-rotator no longer finds this problem: it was fixed, or the app or token was \
                 removed from the configuration."
            .to_string(),
        secret: r.secret.clone(),
        expires_on: None,
        days_left: None,
        consecutive_failures: None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::alerts::deliver::DeliveryOptions;
    use crate::alerts::finding::SecretRef;
    use crate::config::alerts::{SinkConfig, SinkKind};

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    fn hours(h: i64) -> time::Duration {
        time::Duration::hours(h)
    }

    fn sink(name: &str, min: AlertSeverity, owners: &[&str]) -> SinkConfig {
        SinkConfig {
            name: name.into(),
            kind: SinkKind::Webhook,
            url_secret: format!("{name}-url"),
            url_vault: None,
            min_severity: min,
            owners: owners.iter().map(|o| o.to_string()).collect(),
        }
    }

    fn cfg(sinks: Vec<SinkConfig>) -> AlertsConfig {
        AlertsConfig {
            realert_after: Duration::from_secs(24 * 3600),
            state_secret: "s".into(),
            state_vault: None,
            failure_threshold: 3,
            sinks,
            delivery: DeliveryOptions::default(),
        }
    }

    fn expiry(app: &str, owner: Option<&str>, sev: AlertSeverity) -> Finding {
        Finding::client_secret_expiry(
            app,
            owner,
            sev,
            SecretRef {
                name: format!("{app}-secret"),
                vault: "https://kv.vault.azure.net/".into(),
            },
            None,
            Some(5),
        )
    }

    /// One run in which every sink accepts every notification.
    fn run(
        state: &AlertState,
        findings: &[Finding],
        now: OffsetDateTime,
        cfg: &AlertsConfig,
    ) -> (Vec<(String, NotificationState, String)>, AlertState) {
        let (ns, mut next) = decide(state, findings, now, cfg);
        for n in &ns {
            next.record_delivery(n, now);
        }
        let sent = ns
            .into_iter()
            .map(|n| (n.sink, n.state, n.finding.key))
            .collect();
        (sent, next)
    }

    fn sent(
        sink: &str,
        state: NotificationState,
        key: &str,
    ) -> (String, NotificationState, String) {
        (sink.to_string(), state, key.to_string())
    }

    #[test]
    fn same_finding_twice_is_sent_once_then_reminded_after_realert() {
        let c = cfg(vec![sink("hook", AlertSeverity::Warning, &[])]);
        let f = [expiry("a", None, AlertSeverity::Warning)];
        let (s1, st) = run(&AlertState::default(), &f, t0(), &c);
        assert_eq!(
            s1,
            [sent(
                "hook",
                NotificationState::New,
                "client_secret_expiry/a"
            )]
        );
        let (s2, st) = run(&st, &f, t0() + hours(1), &c);
        assert!(s2.is_empty());
        let (s3, st) = run(&st, &f, t0() + hours(23), &c);
        assert!(s3.is_empty());
        let (s4, st) = run(&st, &f, t0() + hours(24), &c);
        assert_eq!(
            s4,
            [sent(
                "hook",
                NotificationState::Reminder,
                "client_secret_expiry/a"
            )]
        );
        let (s5, _) = run(&st, &f, t0() + hours(25), &c);
        assert!(s5.is_empty());
    }

    #[test]
    fn escalation_is_sent_at_once_and_only_to_willing_sinks() {
        let c = cfg(vec![
            sink("all", AlertSeverity::Warning, &[]),
            sink("urgent", AlertSeverity::Critical, &[]),
        ]);
        let (s1, st) = run(
            &AlertState::default(),
            &[expiry("a", None, AlertSeverity::Warning)],
            t0(),
            &c,
        );
        assert_eq!(
            s1,
            [sent(
                "all",
                NotificationState::New,
                "client_secret_expiry/a"
            )]
        );
        let (s2, st) = run(
            &st,
            &[expiry("a", None, AlertSeverity::Critical)],
            t0() + hours(1),
            &c,
        );
        assert_eq!(
            s2,
            [
                sent(
                    "all",
                    NotificationState::Escalated,
                    "client_secret_expiry/a"
                ),
                sent("urgent", NotificationState::New, "client_secret_expiry/a"),
            ]
        );
        let (s3, _) = run(
            &st,
            &[expiry("a", None, AlertSeverity::Critical)],
            t0() + hours(2),
            &c,
        );
        assert!(s3.is_empty());
    }

    #[test]
    fn resolution_is_sent_once_to_the_sinks_that_knew() {
        let c = cfg(vec![
            sink("all", AlertSeverity::Warning, &[]),
            sink("urgent", AlertSeverity::Critical, &[]),
        ]);
        let (_, st) = run(
            &AlertState::default(),
            &[expiry("a", None, AlertSeverity::Warning)],
            t0(),
            &c,
        );
        let (s2, st) = run(&st, &[], t0() + hours(1), &c);
        assert_eq!(
            s2,
            [sent(
                "all",
                NotificationState::Resolved,
                "client_secret_expiry/a"
            )]
        );
        assert!(st.findings.is_empty());
        let (s3, _) = run(&st, &[], t0() + hours(2), &c);
        assert!(s3.is_empty());
    }

    #[test]
    fn failed_deliveries_are_retried_next_run() {
        let c = cfg(vec![sink("hook", AlertSeverity::Warning, &[])]);
        let f = [expiry("a", None, AlertSeverity::Warning)];
        // Nothing recorded: the sink did not accept.
        let (ns, st) = decide(&AlertState::default(), &f, t0(), &c);
        assert_eq!(ns.len(), 1);
        let (ns, _) = decide(&st, &f, t0() + hours(1), &c);
        assert_eq!(ns.len(), 1);
        assert_eq!(ns[0].state, NotificationState::New);
        // A finding nobody accepted disappears silently.
        let (ns, st) = decide(&st, &[], t0() + hours(2), &c);
        assert!(ns.is_empty());
        assert!(st.findings.is_empty());
    }

    #[test]
    fn resolved_is_retried_until_accepted() {
        let c = cfg(vec![sink("hook", AlertSeverity::Warning, &[])]);
        let (_, st) = run(
            &AlertState::default(),
            &[expiry("a", None, AlertSeverity::Warning)],
            t0(),
            &c,
        );
        let (ns, st) = decide(&st, &[], t0() + hours(1), &c);
        assert_eq!(ns.len(), 1);
        let (ns, st) = decide(&st, &[], t0() + hours(2), &c);
        assert_eq!(ns.len(), 1, "not accepted: tried again");
        let (s, st) = run(&st, &[], t0() + hours(3), &c);
        assert_eq!(s.len(), 1);
        assert!(st.findings.is_empty());
    }

    #[test]
    fn owners_route_findings() {
        let c = cfg(vec![
            sink("team-a", AlertSeverity::Warning, &["alice"]),
            sink("everyone", AlertSeverity::Warning, &[]),
        ]);
        let (s, _) = run(
            &AlertState::default(),
            &[
                expiry("x", Some("alice"), AlertSeverity::Warning),
                expiry("y", Some("bob"), AlertSeverity::Warning),
                expiry("z", None, AlertSeverity::Warning),
            ],
            t0(),
            &c,
        );
        assert_eq!(
            s,
            [
                sent("team-a", NotificationState::New, "client_secret_expiry/x"),
                sent("everyone", NotificationState::New, "client_secret_expiry/x"),
                sent("everyone", NotificationState::New, "client_secret_expiry/y"),
                sent("everyone", NotificationState::New, "client_secret_expiry/z"),
            ]
        );
    }

    #[test]
    fn not_assessed_keeps_the_state_and_sends_nothing() {
        let c = cfg(vec![sink("hook", AlertSeverity::Warning, &[])]);
        let (_, st) = run(
            &AlertState::default(),
            &[expiry("a", None, AlertSeverity::Warning)],
            t0(),
            &c,
        );
        let held = [Finding::not_assessed(
            "client_secret_expiry/a",
            FindingKind::ClientSecretExpiry,
            "a",
        )];
        let (s, st2) = run(&st, &held, t0() + hours(30), &c);
        assert!(s.is_empty());
        assert_eq!(st2.findings, st.findings);
    }

    #[test]
    fn failing_targets_alert_from_the_threshold() {
        let c = cfg(vec![sink("hook", AlertSeverity::Warning, &[])]);
        let failing = |n: u32| Finding {
            consecutive_failures: Some(n),
            ..Finding::not_assessed("target_failing/a/tok", FindingKind::TargetFailing, "a")
        };
        let problem = |n| Finding {
            status: FindingStatus::Problem(AlertSeverity::Critical),
            ..failing(n)
        };
        let (s, st) = run(&AlertState::default(), &[problem(1)], t0(), &c);
        assert!(s.is_empty());
        assert_eq!(st.failures.get("target_failing/a/tok"), Some(&1));
        let (s, st) = run(&st, &[problem(2)], t0(), &c);
        assert!(s.is_empty());
        let (s, st) = run(&st, &[problem(3)], t0(), &c);
        assert_eq!(
            s,
            [sent("hook", NotificationState::New, "target_failing/a/tok")]
        );
        // Not assessed (dry run): the count survives.
        let (s, st) = run(&st, &[failing(3)], t0(), &c);
        assert!(s.is_empty());
        assert_eq!(st.failures.get("target_failing/a/tok"), Some(&3));
        // Success: resolved, count reset.
        let (s, st) = run(&st, &[], t0(), &c);
        assert_eq!(
            s,
            [sent(
                "hook",
                NotificationState::Resolved,
                "target_failing/a/tok"
            )]
        );
        assert!(st.failures.is_empty());
    }

    #[test]
    fn removed_sinks_are_forgotten() {
        let c = cfg(vec![sink("old", AlertSeverity::Warning, &[])]);
        let f = [expiry("a", None, AlertSeverity::Warning)];
        let (_, st) = run(&AlertState::default(), &f, t0(), &c);
        let c2 = cfg(vec![sink("new", AlertSeverity::Warning, &[])]);
        let (s, st) = run(&st, &f, t0() + hours(1), &c2);
        assert_eq!(
            s,
            [sent(
                "new",
                NotificationState::New,
                "client_secret_expiry/a"
            )]
        );
        let (s, _) = run(&st, &[], t0() + hours(2), &c2);
        assert_eq!(
            s,
            [sent(
                "new",
                NotificationState::Resolved,
                "client_secret_expiry/a"
            )]
        );
    }
}
