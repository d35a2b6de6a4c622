//! A fixed cycle report for the status views: seven apps, one of each urgency (and an ok one far
//! beyond the timeline), with fixed timestamps so every rendering is byte-for-byte stable; and
//! the status record of the last real cycle, in which one token keeps failing.
//! Shared by `tests/it/status.rs` (snapshots) and `examples/status_page.rs` (the browser check),
//! which both include this file by path: it stays outside `tests/it/` and uses nothing of the
//! test binary's `common`, so that the example still compiles it on its own.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

use akv_rotator::config::expiry::{self, Severity};
use akv_rotator::config::{self, ValidConfig};
use akv_rotator::error::{ErrorClass, StepError};
use akv_rotator::report::record::{RECORD_VERSION, RecordCounts, StatusRecord, TargetRecord};
use akv_rotator::report::status::{Memory, TokenUpdated};
use akv_rotator::report::{AppReport, ClientSecretReport, CycleReport, Outcome, TargetReport};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// When the fixture's dry run finished: "now" for every view.
pub const NOW: OffsetDateTime = datetime!(2026-11-28 20:15:02 UTC);

const SECRETS: &str = "https://kv-secrets.vault.azure.net/";
const TOKENS: &str = "https://kv-tokens.vault.azure.net/";

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// The fixture's apps in report order: name, client id, and the kinds of its tokens; the target
/// of kind `k` has the scope [`scope`]`(k)` and writes the secret `<app>-<k>-token`.
const APPS: &[(&str, &str, &[&str])] = &[
    (
        "sales-reporting",
        "6a1c3e5f-7b9d-4f2a-8c6e-0d1f3a5b7c9e",
        &["powerbi", "graph"],
    ),
    (
        "ops-dashboard",
        "0b7e1c2d-3f4a-4b5c-8d6e-7f8091a2b3c4",
        &["powerbi", "arm"],
    ),
    (
        "hr-analytics",
        "1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5",
        &["powerbi"],
    ),
    (
        "legacy-export",
        "2d3e4f5a-6b7c-4d8e-9fa0-b1c2d3e4f5a6",
        &["powerbi"],
    ),
    (
        "data-lake-ingest",
        "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7",
        &["storage"],
    ),
    (
        "finance-sync",
        "4f5a6b7c-8d9e-4fa0-b1c2-d3e4f5a6b7c8",
        &["graph"],
    ),
    (
        "marketing-insights",
        "5a6b7c8d-9eaf-4b0c-8d2e-f3a4b5c6d7e8",
        &["powerbi"],
    ),
];

fn scope(kind: &str) -> &'static str {
    match kind {
        "powerbi" => "https://analysis.windows.net/powerbi/api/.default",
        "graph" => "https://graph.microsoft.com/.default",
        "arm" => "https://management.azure.com/.default",
        "storage" => "https://storage.azure.com/.default",
        other => panic!("no scope for token kind {other}"),
    }
}

/// The fixture's config file: every app reads its client secret from `SECRETS` and writes its
/// tokens to `TOKENS`.
pub fn config_text() -> String {
    let mut text =
        format!("\nvault = \"{TOKENS}\"\n\n[expiry]\nwarning = \"30d\"\ncritical = \"7d\"\n");
    for (name, client_id, targets) in APPS {
        text += &format!(
            "\n[[apps]]\nname = \"{name}\"\ntenant_id = \"{TENANT}\"\n\
             client_id = \"{client_id}\"\nclient_secret_name = \"{name}-client-secret\"\n\
             vault = \"{SECRETS}\"\n"
        );
        for kind in *targets {
            let scope = scope(kind);
            text += &format!(
                "[[apps.targets]]\nscope = \"{scope}\"\nsecret = \"{name}-{kind}-token\"\n"
            );
        }
    }
    text
}

pub fn config() -> ValidConfig {
    config::parse(Path::new("fixture.toml"), &config_text()).unwrap()
}

/// How the fixture's dry run found each stored token.
enum Stored {
    /// Fresh: expires in this long, written this long ago.
    Fresh(Duration, Duration),
    /// Due for refresh: expires in this long (negative: already expired), or no token yet.
    Due(Option<Duration>),
}

/// The dry-run report (as `status` gets it) and the stored tokens' `updated` times.
pub fn report() -> (CycleReport, TokenUpdated) {
    use Stored::{Due, Fresh};
    let cfg = config();
    let min = Duration::minutes;
    // (client secret expires in, app error, stored token per target)
    let plan: Vec<(Option<Duration>, Option<StepError>, Vec<Stored>)> = vec![
        // sales-reporting: ok, far beyond the timeline.
        (
            Some(Duration::days(212) + Duration::hours(5)),
            None,
            vec![Fresh(min(52), min(23)), Fresh(min(47), min(28))],
        ),
        // ops-dashboard: critical, one token due.
        (
            Some(Duration::days(3) + Duration::hours(7)),
            None,
            vec![Fresh(min(41), min(34)), Due(Some(min(12)))],
        ),
        // hr-analytics: warning.
        (
            Some(Duration::days(12) + Duration::hours(2)),
            None,
            vec![Fresh(min(66), min(9))],
        ),
        // legacy-export: expired two days ago, its token too.
        (
            Some(-(Duration::days(2) + Duration::hours(11))),
            None,
            vec![Due(Some(-(Duration::hours(26))))],
        ),
        // data-lake-ingest: no expiry recorded on the client secret.
        (None, None, vec![Fresh(min(38), min(37))]),
        // finance-sync: the client secret does not exist.
        (
            None,
            Some(StepError::new(
                ErrorClass::NotFound,
                "app \"finance-sync\": client secret \"finance-sync-client-secret\" does not exist in https://kv-secrets.vault.azure.net/ (create it with the app registration's client secret value, or fix client_secret_name)",
            )),
            vec![Due(None)],
        ),
        // marketing-insights: ok, inside the timeline.
        (Some(Duration::days(64)), None, vec![Fresh(min(58), min(2))]),
    ];
    let mut apps = Vec::new();
    let mut targets = Vec::new();
    let mut updated = TokenUpdated::new();
    for (app, (secret_left, app_error, stored)) in cfg.apps.iter().zip(plan) {
        let expires = secret_left.map(|d| NOW + d);
        let (severity, days_left) = if app_error.is_some() {
            (Severity::Unknown, None)
        } else {
            expiry::assess(expires, NOW, &cfg.thresholds)
        };
        apps.push(AppReport {
            name: app.name.clone(),
            tenant_id: app.tenant_id.clone(),
            client_id: app.client_id.clone(),
            owner: None,
            client_secret: ClientSecretReport {
                vault: SECRETS.into(),
                name: app.client_secret_name.clone(),
                version: None,
                expires_on: if app_error.is_some() { None } else { expires },
                days_left,
                severity,
                graph_expires_on: None,
                expiry_mismatch: None,
                graph_error: None,
            },
            error: app_error.map(Box::new),
        });
        for (target, stored) in app.targets.iter().zip(stored) {
            let mut t = TargetReport::new(app, target);
            assert_eq!(t.vault, TOKENS);
            match stored {
                Fresh(left, age) => {
                    t.outcome = Outcome::Fresh;
                    t.token_expires_on = Some(NOW + left);
                    updated.insert((t.vault.clone(), t.secret.to_ascii_lowercase()), NOW - age);
                }
                Due(left) => {
                    t.outcome = Outcome::Planned;
                    t.token_expires_on = left.map(|l| NOW + l);
                    if let Some(l) = left {
                        // Written an hour before it expires (tokens live about an hour).
                        updated.insert(
                            (t.vault.clone(), t.secret.to_ascii_lowercase()),
                            NOW + l - Duration::minutes(65),
                        );
                    }
                }
            }
            targets.push(t);
        }
    }
    let report = CycleReport::new(
        NOW - Duration::milliseconds(840),
        NOW,
        true,
        apps,
        targets,
        vec![],
    );
    (report, updated)
}

/// The status record of the last real cycle, 7 minutes before [`NOW`], the next due 18 minutes
/// after it, consistent with [`report`]: ops-dashboard's ARM token has failed 3 runs in a row (a
/// wrong client secret value, which a dry run cannot see), legacy-export's token fails since its
/// client secret expired, finance-sync's since its client secret went missing; the tokens the
/// dry run finds fresh were fresh then too.
pub fn record() -> StatusRecord {
    let at = NOW - Duration::minutes(7);
    // (token secret, error, runs in a row, failing since, last success)
    let failures = [
        (
            "ops-dashboard-arm-token",
            StepError::new(
                ErrorClass::BadClientSecret,
                "app \"ops-dashboard\": Entra ID refused the client secret (it is not a valid value for the app: often the secret ID was stored instead of its value); store the client secret's value in \"ops-dashboard-client-secret\"",
            )
            .with_code("AADSTS7000215"),
            3,
            NOW - Duration::minutes(27),
            Some(NOW - Duration::minutes(37)),
        ),
        (
            "legacy-export-powerbi-token",
            StepError::new(
                ErrorClass::ExpiredClientSecret,
                "app \"legacy-export\": the client secret has expired in Entra ID; create a new one and store its value in \"legacy-export-client-secret\"",
            )
            .with_code("AADSTS7000222"),
            352,
            NOW - Duration::hours(58) - Duration::minutes(27),
            Some(NOW - Duration::hours(58) - Duration::minutes(37)),
        ),
        (
            "finance-sync-graph-token",
            StepError::new(
                ErrorClass::NotFound,
                "app \"finance-sync\": client secret \"finance-sync-client-secret\" does not exist in https://kv-secrets.vault.azure.net/ (create it with the app registration's client secret value, or fix client_secret_name)",
            ),
            30,
            NOW - Duration::hours(5) - Duration::minutes(7),
            None,
        ),
    ];
    let cfg = config();
    let mut targets = std::collections::BTreeMap::new();
    for app in &cfg.apps {
        for t in &app.targets {
            let failure = failures.iter().find(|f| f.0 == t.secret_name);
            targets.insert(
                akv_rotator::report::record::target_key(&app.name, &t.secret_name),
                TargetRecord {
                    app: app.name.clone(),
                    secret: t.secret_name.clone(),
                    vault: t.vault.to_string(),
                    outcome: if failure.is_some() {
                        Outcome::Failed
                    } else {
                        Outcome::Fresh
                    },
                    error: failure.map(|f| f.1.clone()),
                    consecutive_failures: failure.map_or(0, |f| f.2),
                    failing_since: failure.map(|f| f.3),
                    last_success: failure.map_or(Some(at), |f| f.4),
                },
            );
        }
    }
    StatusRecord {
        version: RECORD_VERSION,
        updated_at: at,
        run_id: "0194f1c2-7d3e-7a10-9b21-5c6d7e8f9a0b".into(),
        shard: None,
        next_run_by: Some(NOW + Duration::minutes(18)),
        counts: RecordCounts {
            ok: targets.len() - failures.len(),
            failing: failures.len(),
            ok_omitted: 0,
            failing_omitted: 0,
        },
        targets,
    }
}

/// What `status` read: [`record`].
pub fn memory() -> Memory {
    Memory {
        records: vec![record()],
        ..Memory::default()
    }
}
