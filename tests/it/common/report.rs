//! Cycle reports built by hand, for tests of what consumes a report (alerting): builders that
//! fill in whatever a test does not care about, so that a field added to a report type is added
//! here and nowhere else. Setters of optional fields take an `Option`.
//!
//! The status fixture (tests/status/fixture.rs) builds its own report: examples/status_page.rs
//! compiles that file on its own, without this module.

use akv_rotator::config::expiry::Severity;
use akv_rotator::error::StepError;
use akv_rotator::report::rotation::{RotationOutcome, RotationReport};
use akv_rotator::report::{AppReport, ClientSecretReport, CycleReport, Outcome, TargetReport};
use time::OffsetDateTime;

use super::TENANT;

/// Where built reports keep the client secrets, and the tokens.
pub const SECRETS_VAULT: &str = "https://kv-secrets.vault.azure.net/";
pub const TOKENS_VAULT: &str = "https://kv-tokens.vault.azure.net/";
/// The client id of every built app.
pub const CLIENT_ID: &str = "6a1c3e5f-7b9d-4f2a-8c6e-0d1f3a5b7c9e";
/// The scope of every built target.
pub const POWERBI_SCOPE: &str = "https://analysis.windows.net/powerbi/api/.default";

/// A cycle that started and finished at `at`, not a dry run, without notes.
pub fn cycle_report(
    at: OffsetDateTime,
    apps: Vec<AppReport>,
    targets: Vec<TargetReport>,
) -> CycleReport {
    CycleReport::new(at, at, false, apps, targets, Vec::new())
}

/// An app of [`TENANT`] with client id [`CLIENT_ID`] whose client secret is
/// `<name>-client-secret` in [`SECRETS_VAULT`]: no owner, no error, and nothing known of the
/// secret's expiry (severity unknown) until set.
pub struct AppReportBuilder(AppReport);

impl AppReportBuilder {
    pub fn new(name: &str) -> AppReportBuilder {
        AppReportBuilder(AppReport {
            name: name.into(),
            tenant_id: TENANT.into(),
            client_id: CLIENT_ID.into(),
            owner: None,
            client_secret: ClientSecretReport {
                vault: SECRETS_VAULT.into(),
                name: format!("{name}-client-secret"),
                version: None,
                expires_on: None,
                days_left: None,
                severity: Severity::Unknown,
                graph_expires_on: None,
                expiry_mismatch: None,
                graph_error: None,
            },
            error: None,
        })
    }

    pub fn severity(mut self, severity: Severity) -> AppReportBuilder {
        self.0.client_secret.severity = severity;
        self
    }

    pub fn days_left(mut self, days_left: Option<i64>) -> AppReportBuilder {
        self.0.client_secret.days_left = days_left;
        self
    }

    pub fn expires_on(mut self, expires_on: Option<&str>) -> AppReportBuilder {
        self.0.client_secret.expires_on = expires_on.map(parse_time);
        self
    }

    pub fn build(self) -> AppReport {
        self.0
    }
}

/// App `app`'s Power BI token `<app>-powerbi-token` in [`TOKENS_VAULT`], written, nothing else
/// known until set.
pub struct TargetReportBuilder(TargetReport);

impl TargetReportBuilder {
    pub fn new(app: &str) -> TargetReportBuilder {
        TargetReportBuilder(TargetReport {
            app: app.into(),
            scope: POWERBI_SCOPE.into(),
            vault: TOKENS_VAULT.into(),
            secret: format!("{app}-powerbi-token"),
            outcome: Outcome::Written,
            token_expires_on: None,
            token_updated_on: None,
            refresh_at: None,
            version: None,
            signature: None,
            probe: None,
            error: None,
        })
    }

    pub fn outcome(mut self, outcome: Outcome) -> TargetReportBuilder {
        self.0.outcome = outcome;
        self
    }

    pub fn token_expires_on(mut self, expires_on: Option<&str>) -> TargetReportBuilder {
        self.0.token_expires_on = expires_on.map(parse_time);
        self
    }

    pub fn error(mut self, error: Option<StepError>) -> TargetReportBuilder {
        self.0.error = error.map(Box::new);
        self
    }

    pub fn build(self) -> TargetReport {
        self.0
    }
}

/// The rotation of app `app`'s client secret `<app>-client-secret` in [`SECRETS_VAULT`],
/// found idle, without steps, key ids, error or manual action until set.
pub struct RotationReportBuilder(RotationReport);

impl RotationReportBuilder {
    pub fn new(app: &str, outcome: RotationOutcome) -> RotationReportBuilder {
        RotationReportBuilder(RotationReport {
            app: app.into(),
            vault: SECRETS_VAULT.into(),
            secret: format!("{app}-client-secret"),
            outcome,
            state: "idle".into(),
            steps: vec![],
            key_id: None,
            previous_key_id: None,
            previous_remove_after: None,
            error: None,
            manual_action: None,
            run_id: String::new(),
        })
    }

    pub fn error(mut self, error: Option<StepError>) -> RotationReportBuilder {
        self.0.error = error;
        self
    }

    pub fn manual_action(mut self, action: Option<&str>) -> RotationReportBuilder {
        self.0.manual_action = action.map(str::to_string);
        self
    }

    pub fn build(self) -> RotationReport {
        self.0
    }
}

/// An RFC 3339 time written in a test.
fn parse_time(text: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
}
