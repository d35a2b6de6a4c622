//! Findings from reports: keys, severities, events and their text.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::report::rotation::{RotationReport, RotationStep};

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn rotation(outcome: RotationOutcome, steps: &[(&'static str, &'static str)]) -> RotationReport {
    RotationReport {
        app: "sales".into(),
        vault: "https://kv-in.vault.azure.net/".into(),
        secret: "sales-client-secret".into(),
        outcome,
        state: "idle".into(),
        steps: steps
            .iter()
            .enumerate()
            .map(|(i, (step, status))| RotationStep {
                step,
                status,
                detail: format!("{step} detail"),
                at: t0() + time::Duration::seconds(i as i64),
            })
            .collect(),
        key_id: None,
        previous_key_id: None,
        previous_remove_after: None,
        error: None,
        manual_action: None,
        run_id: "0123456789abcdef".into(),
    }
}

fn findings(rotations: Vec<RotationReport>) -> Vec<Finding> {
    let mut report = CycleReport::new(t0(), t0(), false, vec![], vec![], vec![]);
    report.run_id = "0123456789abcdef".into();
    report.rotations = rotations;
    let owners = HashMap::from([("sales".to_string(), "team-bi".to_string())]);
    findings_from_report(&report, &owners, None, &AlertState::default())
}

#[test]
fn a_published_rotation_is_a_credential_added_event_with_key_id_run_id_and_time() {
    let mut r = rotation(
        RotationOutcome::Rotated,
        &[
            ("add_password", "done"),
            ("wait_until_usable", "done"),
            ("publish", "done"),
            ("schedule_removal", "done"),
        ],
    );
    r.key_id = Some("AAAA-new".into());
    r.previous_key_id = Some("bbbb-old".into());
    let f = findings(vec![r]);
    assert_eq!(f.len(), 1, "{f:#?}");
    let added = &f[0];
    assert_eq!(added.kind, FindingKind::CredentialAdded);
    assert!(added.kind.is_event());
    assert_eq!(added.key, "credential_added/sales/aaaa-new");
    assert_eq!(added.key_id.as_deref(), Some("AAAA-new"));
    assert_eq!(added.run_id.as_deref(), Some("0123456789abcdef"));
    assert_eq!(added.owner.as_deref(), Some("team-bi"));
    // The publish step's time, not the add_password step's.
    assert_eq!(added.occurred_at, Some(t0() + time::Duration::seconds(2)));
    assert!(added.title.contains("AAAA-new"), "{}", added.title);
    assert!(
        added.detail.contains("sales-client-secret"),
        "{}",
        added.detail
    );
}

#[test]
fn a_removed_previous_credential_is_a_credential_removed_event() {
    let mut r = rotation(
        RotationOutcome::Completed,
        &[
            ("verify_current", "done"),
            ("remove_previous", "done"),
            ("finish", "done"),
        ],
    );
    r.previous_key_id = Some("bbbb-old".into());
    let f = findings(vec![r]);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].key, "credential_removed/sales/bbbb-old");
    assert_eq!(f[0].key_id.as_deref(), Some("bbbb-old"));
    assert_eq!(f[0].occurred_at, Some(t0() + time::Duration::seconds(1)));
    assert!(
        f[0].detail.contains("remove_previous detail"),
        "{}",
        f[0].detail
    );
}

#[test]
fn steps_that_did_not_finish_raise_no_event() {
    // add_password done, then publish failed: nothing was added for consumers.
    let mut failed = rotation(
        RotationOutcome::Failed,
        &[("add_password", "done"), ("publish", "failed")],
    );
    failed.error = Some(crate::error::StepError::new(
        crate::error::ErrorClass::Transient,
        "Key Vault answered 503",
    ));
    let f = findings(vec![failed]);
    assert_eq!(
        f.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(),
        ["rotation_failed/sales"]
    );
    assert_eq!(f[0].run_id.as_deref(), Some("0123456789abcdef"));

    // remove_previous skipped (nothing recorded): no removal.
    let mut skipped = rotation(
        RotationOutcome::Completed,
        &[("remove_previous", "skipped")],
    );
    skipped.previous_key_id = None;
    assert!(findings(vec![skipped]).is_empty());
}

#[test]
fn a_manual_action_is_an_event_about_the_published_credential() {
    let mut r = rotation(
        RotationOutcome::Rotated,
        &[("schedule_removal", "skipped"), ("publish", "done")],
    );
    r.key_id = Some("cccc-new".into());
    r.manual_action = Some("remove the old client secret of app sales".into());
    let f = findings(vec![r]);
    let manual = f
        .iter()
        .find(|f| f.kind == FindingKind::ManualActionNeeded)
        .unwrap();
    assert_eq!(manual.key, "manual_action_needed/sales/cccc-new");
    assert!(manual.kind.is_event());
    assert_eq!(manual.severity(), Some(AlertSeverity::Warning));
    assert!(f.iter().any(|f| f.kind == FindingKind::CredentialAdded));
}

#[test]
fn a_state_stored_with_the_old_manual_action_name_still_loads() {
    let text = r#"{"version":1,"findings":{"rotation_manual_action/a":{"kind":"rotation_manual_action","app":"a","severity":"warning","first_seen":"2026-11-28T20:00:00Z"}}}"#;
    let state = AlertState::from_json(text).unwrap();
    assert_eq!(
        state.findings["rotation_manual_action/a"].kind,
        FindingKind::ManualActionNeeded
    );
}
