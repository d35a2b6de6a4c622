//! Logs a CronJob can use: `once` brackets its work with `cycle_started` / `cycle_finished`,
//! `token_written` names the Key Vault version it created, and the read-only `status` logs no
//! warning as if something had acted.

use crate::common::*;

/// The JSON log lines of a run (stderr is not a terminal, so every line is one JSON object).
fn events(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .collect()
}

fn event<'a>(events: &'a [serde_json::Value], name: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn once_logs_the_cycle_and_the_version_of_every_written_token() {
    let world = World::working_and_failing("sales", "broken", Fault::WrongSecret).await;

    let (code, report, stderr) = world.once(&[]);

    assert_eq!(code, 1, "{stderr}");
    let logs = events(&stderr);
    let started = event(&logs, "cycle_started");
    let finished = event(&logs, "cycle_finished");
    assert_eq!((started.len(), finished.len()), (1, 1), "{stderr}");
    assert_eq!(finished[0]["written"], 1);
    assert_eq!(finished[0]["failed"], 1);
    let written = event(&logs, "token_written");
    assert_eq!(written.len(), 1, "{stderr}");
    let version = target(&report, "sales-powerbi-token")["version"]
        .as_str()
        .expect("the report names the version")
        .to_string();
    assert_eq!(written[0]["version"], version.as_str());
    let stored = world.versions(OUTPUT, "sales-powerbi-token");
    assert_eq!(
        stored.last().map(|s| s.version.as_str()),
        Some(version.as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn status_warns_about_nothing_even_when_apps_would_fail() {
    let world = World::start(vec![
        TestApp::new("soon").secret_expiring_in(days(3)),
        TestApp::new("missing").fault(Fault::MissingSecret),
    ])
    .await;
    let config = world.config_path.display().to_string();

    let out = world.run(&["status", "--config", &config, "--output", "json"], &[]);

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let warnings: Vec<_> = events(&stderr)
        .into_iter()
        .filter(|e| e["level"] == "WARN" || e["level"] == "ERROR")
        .collect();
    assert!(warnings.is_empty(), "read-only status warned: {warnings:?}");
    // The problems are still in the view itself.
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(view.to_string().contains("missing"));
}
