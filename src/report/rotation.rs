//! The `rotations` section of the report: per app with `rotate`, how its client-secret
//! rotation went this run, step by step.

use serde::Serialize;

use crate::error::StepError;

/// How one app's rotation ended in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationOutcome {
    /// The secret is not within `before_expiry`.
    NotDue,
    /// A new secret was published; the previous one is kept for `grace`.
    Rotated,
    /// Waiting for `grace` to end before removing the previous credential.
    InGrace,
    /// The previous credential was removed: the rotation is complete.
    Completed,
    /// Dry run: the steps that would run.
    Planned,
    /// Another run holds the app's rotation lease: nothing done this run.
    Busy,
    Failed,
}

/// One step of a rotation.
#[derive(Debug, Clone, Serialize)]
pub struct RotationStep {
    pub step: &'static str,
    /// `done`, `planned`, `failed` or `skipped`.
    pub status: &'static str,
    pub detail: String,
    #[serde(serialize_with = "crate::timefmt::serialize")]
    pub at: time::OffsetDateTime,
}

/// The `rotations` section of the report, per app with `rotate`.
#[derive(Debug, Clone, Serialize)]
pub struct RotationReport {
    pub app: String,
    pub vault: String,
    pub secret: String,
    pub outcome: RotationOutcome,
    /// The state found at the start (`idle`, `adding`, `grace`).
    pub state: String,
    pub steps: Vec<RotationStep>,
    /// keyId of the credential now published.
    pub key_id: Option<String>,
    pub previous_key_id: Option<String>,
    pub previous_remove_after: Option<String>,
    pub error: Option<StepError>,
    /// Something a person must do (for example remove a credential the rotator could not
    /// identify); raised as an alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual_action: Option<String>,
    /// The cycle's run id, for the `run-id` tag of the version a rotation publishes (the
    /// report has it once, at the top).
    #[serde(skip)]
    pub run_id: String,
}
