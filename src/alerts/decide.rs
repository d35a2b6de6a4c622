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
//! - a token target's failures alert only from `failure_threshold` consecutive failed cycles;
//! - an event ([`FindingKind::is_event`]: a credential added or removed, a manual action) is
//!   sent once to each sink that wants it, never reminded, escalated or resolved; the state
//!   keeps it only until every such sink has accepted it (at most [`RESOLVED_RETRY_FOR`]), so a
//!   failed delivery is retried next run although later reports no longer show the event.
//!
//! The returned state does not yet say that anything was sent: the caller records each
//! delivery a sink accepted with [`AlertState::record_delivery`], so a failed delivery is tried
//! again next run.

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;

use super::finding::{Finding, FindingKind, FindingStatus};
use super::state::{AlertState, EventRecord, FindingRecord};
use crate::config::alerts::AlertSeverity;
use crate::config::alerts::AlertsConfig;
pub use crate::report::alerts::NotificationState;

/// How long a "resolved" message, or an event, is retried for a sink that does not accept it.
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
                event: None,
            },
        };
        if f.kind.is_event() {
            record.event = Some(EventRecord {
                title: f.title.clone(),
                detail: f.detail.clone(),
                key_id: f.key_id.clone(),
                run_id: f.run_id.clone(),
                occurred_at: f.occurred_at.unwrap_or(now),
            });
        }
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
                // An event is told once.
                Some(_) if f.kind.is_event() => None,
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
        if let Some(event) = &prev.event {
            let mut record = prev.clone();
            let finding = event_finding(key, &record, event);
            let owed: Vec<&str> = cfg
                .sinks
                .iter()
                .filter(|s| s.accepts(record.severity, record.owner.as_deref()))
                .filter(|s| !record.sent_to.contains_key(&s.name))
                .map(|s| s.name.as_str())
                .collect();
            // Everyone who wants it has it (or it is too old to matter): forget it, silently.
            if owed.is_empty() || now - record.first_seen > RESOLVED_RETRY_FOR {
                continue;
            }
            for sink in owed {
                notifications.push(Notification {
                    sink: sink.to_string(),
                    state: NotificationState::New,
                    severity: record.severity,
                    first_seen: record.first_seen,
                    finding: finding.clone(),
                });
            }
            record
                .sent_to
                .retain(|sink, _| sink_names.contains(sink.as_str()));
            next.findings.insert(key.clone(), record);
            continue;
        }
        // A manual action stored before it became an event: there is nothing to resolve.
        if prev.kind.is_event() {
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

/// An event again, from what the state remembers, for a sink that has not accepted it yet.
fn event_finding(key: &str, r: &FindingRecord, e: &EventRecord) -> Finding {
    Finding {
        status: FindingStatus::Problem(r.severity),
        owner: r.owner.clone(),
        title: e.title.clone(),
        detail: e.detail.clone(),
        secret: r.secret.clone(),
        key_id: e.key_id.clone(),
        run_id: e.run_id.clone(),
        occurred_at: Some(e.occurred_at),
        ..Finding::blank(key.to_string(), r.kind, &r.app)
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
        // Events are never resolved: `decide` never builds this for them.
        FindingKind::ManualActionNeeded
        | FindingKind::CredentialAdded
        | FindingKind::CredentialRemoved
        | FindingKind::StatusRecordStale => {
            format!("{} for app \"{app}\" is closed", r.kind)
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
        status: FindingStatus::Problem(r.severity),
        owner: r.owner.clone(),
        title,
        detail: "akv-rotator no longer finds this problem: it was fixed, or the app or token was \
                 removed from the configuration."
            .to_string(),
        secret: r.secret.clone(),
        ..Finding::blank(key.to_string(), r.kind, &r.app)
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
            source: "akv-rotator/test".into(),
            allow_url_in_token_vault: false,
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

    /// What a sink was sent: (sink, notification state, finding key).
    type Sent = (String, NotificationState, String);

    /// The key of app `a`'s client-secret expiry finding.
    const EXPIRY_A: &str = "client_secret_expiry/a";

    /// Sink `hook`, after one run that sent it app `a`'s expiry warning.
    fn hook_told_of_a() -> (AlertsConfig, AlertState) {
        let c = cfg(vec![sink("hook", AlertSeverity::Warning, &[])]);
        let warning = [expiry("a", None, AlertSeverity::Warning)];
        let (_, st) = run(&AlertState::default(), &warning, t0(), &c);
        (c, st)
    }

    /// Sink `all` hears warnings and up, sink `urgent` critical and up.
    fn all_and_urgent() -> AlertsConfig {
        cfg(vec![
            sink("all", AlertSeverity::Warning, &[]),
            sink("urgent", AlertSeverity::Critical, &[]),
        ])
    }

    fn sent(sink: &str, state: NotificationState, key: &str) -> Sent {
        (sink.to_string(), state, key.to_string())
    }

    /// Runs `c` from an empty state over `steps` (the findings, the time, what must be sent
    /// then), each run starting from the state the one before left; returns the last state.
    fn script(c: &AlertsConfig, steps: &[(&[Finding], OffsetDateTime, &[Sent])]) -> AlertState {
        let mut state = AlertState::default();
        for (n, (findings, now, expected)) in steps.iter().enumerate() {
            let (got, next) = run(&state, findings, *now, c);
            assert_eq!(got, *expected, "run {}", n + 1);
            state = next;
        }
        state
    }

    #[test]
    fn same_finding_twice_is_sent_once_then_reminded_after_realert() {
        let c = cfg(vec![sink("hook", AlertSeverity::Warning, &[])]);
        let f = [expiry("a", None, AlertSeverity::Warning)];
        script(
            &c,
            &[
                (&f, t0(), &[sent("hook", NotificationState::New, EXPIRY_A)]),
                (&f, t0() + hours(1), &[]),
                (&f, t0() + hours(23), &[]),
                (
                    &f,
                    t0() + hours(24),
                    &[sent("hook", NotificationState::Reminder, EXPIRY_A)],
                ),
                (&f, t0() + hours(25), &[]),
            ],
        );
    }

    #[test]
    fn escalation_is_sent_at_once_and_only_to_willing_sinks() {
        let warning = [expiry("a", None, AlertSeverity::Warning)];
        let critical = [expiry("a", None, AlertSeverity::Critical)];
        script(
            &all_and_urgent(),
            &[
                (
                    &warning,
                    t0(),
                    &[sent("all", NotificationState::New, EXPIRY_A)],
                ),
                (
                    &critical,
                    t0() + hours(1),
                    &[
                        sent("all", NotificationState::Escalated, EXPIRY_A),
                        sent("urgent", NotificationState::New, EXPIRY_A),
                    ],
                ),
                (&critical, t0() + hours(2), &[]),
            ],
        );
    }

    #[test]
    fn resolution_is_sent_once_to_the_sinks_that_knew() {
        let c = all_and_urgent();
        let warning = [expiry("a", None, AlertSeverity::Warning)];
        let (_, st) = run(&AlertState::default(), &warning, t0(), &c);
        let (s2, st) = run(&st, &[], t0() + hours(1), &c);
        assert_eq!(s2, [sent("all", NotificationState::Resolved, EXPIRY_A)]);
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
        let (c, st) = hook_told_of_a();
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
        let (c, st) = hook_told_of_a();
        let held = [Finding::not_assessed(
            EXPIRY_A,
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
        assert_eq!(s, [sent("new", NotificationState::New, EXPIRY_A)]);
        let (s, _) = run(&st, &[], t0() + hours(2), &c2);
        assert_eq!(s, [sent("new", NotificationState::Resolved, EXPIRY_A)]);
    }

    fn added(app: &str, key_id: &str) -> Finding {
        let mut f = Finding::rotation_event(
            FindingKind::CredentialAdded,
            app,
            Some("team-bi"),
            SecretRef {
                name: format!("{app}-client-secret"),
                vault: "https://kv.vault.azure.net/".into(),
            },
            key_id,
            "added",
            t0(),
        );
        f.run_id = Some("0123456789abcdef".into());
        f
    }

    #[test]
    fn an_event_is_sent_once_never_reminded_and_never_resolved() {
        let c = all_and_urgent();
        let key = "credential_added/a/k1";
        let (s1, st) = run(&AlertState::default(), &[added("a", "k1")], t0(), &c);
        assert_eq!(s1, [sent("all", NotificationState::New, key)]);
        // Seen again (an overlapping report) and long after realert_after: still told once.
        let (s2, st) = run(&st, &[added("a", "k1")], t0() + hours(48), &c);
        assert!(s2.is_empty(), "{s2:?}");
        // Gone from the report: no "resolved", and the state forgets it.
        let (s3, st) = run(&st, &[], t0() + hours(49), &c);
        assert!(s3.is_empty(), "{s3:?}");
        assert!(st.findings.is_empty(), "{st:?}");
        // The next rotation's credential is a new event.
        let (s4, _) = run(&st, &[added("a", "k2")], t0() + hours(50), &c);
        assert_eq!(
            s4,
            [sent("all", NotificationState::New, "credential_added/a/k2")]
        );
    }

    #[test]
    fn an_event_a_sink_did_not_accept_is_sent_again_from_the_state() {
        let c = cfg(vec![sink("hook", AlertSeverity::Warning, &[])]);
        // Run 1: the sink refused (nothing recorded).
        let (ns, st) = decide(&AlertState::default(), &[added("a", "k1")], t0(), &c);
        assert_eq!(ns.len(), 1);
        // Run 2: the report no longer shows the event; the state still owes it.
        let (ns, mut st) = decide(&st, &[], t0() + hours(1), &c);
        assert_eq!(ns.len(), 1, "{ns:?}");
        let n = &ns[0];
        assert_eq!(n.state, NotificationState::New);
        assert_eq!(n.finding.key, "credential_added/a/k1");
        assert_eq!(n.finding.key_id.as_deref(), Some("k1"));
        assert_eq!(n.finding.run_id.as_deref(), Some("0123456789abcdef"));
        assert_eq!(n.finding.occurred_at, Some(t0()));
        assert_eq!(n.finding.title, added("a", "k1").title);
        st.record_delivery(n, t0() + hours(1));
        // Run 3: delivered, so forgotten without a word.
        let (ns, st) = decide(&st, &[], t0() + hours(2), &c);
        assert!(ns.is_empty(), "{ns:?}");
        assert!(st.findings.is_empty());
    }

    #[test]
    fn an_undelivered_event_is_given_up_after_the_retry_period() {
        let c = cfg(vec![sink("hook", AlertSeverity::Warning, &[])]);
        let (_, st) = decide(&AlertState::default(), &[added("a", "k1")], t0(), &c);
        let (ns, st) = decide(&st, &[], t0() + RESOLVED_RETRY_FOR, &c);
        assert_eq!(ns.len(), 1, "still owed on the last day");
        let (ns, st) = decide(&st, &[], t0() + RESOLVED_RETRY_FOR + hours(1), &c);
        assert!(ns.is_empty());
        assert!(st.findings.is_empty());
    }

    #[test]
    fn events_follow_owner_and_severity_routing() {
        let c = cfg(vec![
            sink("bi", AlertSeverity::Warning, &["team-bi"]),
            sink("ops", AlertSeverity::Warning, &["team-ops"]),
        ]);
        let (s, _) = run(&AlertState::default(), &[added("a", "k1")], t0(), &c);
        assert_eq!(
            s,
            [sent("bi", NotificationState::New, "credential_added/a/k1")]
        );
    }

    #[test]
    fn a_manual_action_stored_before_it_was_an_event_is_forgotten_without_a_resolved() {
        let c = cfg(vec![sink("hook", AlertSeverity::Warning, &[])]);
        let text = r#"{"version":1,"findings":{"rotation_manual_action/a":{"kind":"rotation_manual_action","app":"a","severity":"warning","first_seen":"2026-11-28T20:00:00Z","sent_to":{"hook":{"severity":"warning","last_sent":"2026-11-28T20:00:00Z"}}}}}"#;
        let st = AlertState::from_json(text).unwrap();
        let (s, st) = run(&st, &[], t0(), &c);
        assert!(s.is_empty(), "{s:?}");
        assert!(st.findings.is_empty());
    }
}
