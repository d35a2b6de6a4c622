//! Alerts end to end through the real binary: the webhook URL is read from Key Vault, the
//! deduplication state lives in Key Vault across separate runs, a sink that fails does not fail
//! the run and is retried, and the URL never reaches the output.

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_warning_is_sent_once_escalates_survives_a_failing_sink_and_never_leaks_the_url() {
    let world = World::healthy_and_expiring_soon().await;
    let url = world.emulator.webhook_url("teams");
    world.put_secret(INPUT, "teams-webhook", &url, None);
    let config = world.config_with(
        "alerts.toml",
        &format!("[alerts]\nrealert_after = \"24h\"\n\n[[alerts.sinks]]\nname = \"security\"\nkind = \"teams\"\nurl_secret = \"teams-webhook\"\nurl_vault = \"{}\"\nmin_severity = \"warning\"\n", world.vault(INPUT)),
    );
    let config = config.to_str().unwrap().to_string();
    let run = |world: &World| {
        let out = world.run(
            &["once", "--config", &config, "--output", "json"],
            &[("RUST_LOG", "debug")],
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            !text.contains("_emulator/webhooks"),
            "the webhook URL leaked into the output"
        );
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{text}"));
        (out.status.code(), report)
    };

    // First run: one warning alert, as an Adaptive Card naming the app.
    let (code, report) = run(&world);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["alerts"]["sent"], 1, "{:#}", report["alerts"]);
    let got = world.emulator.webhook_deliveries("teams");
    assert_eq!(got.len(), 1);
    let card: serde_json::Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(
        card["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert!(
        got[0].body.contains("ops") && !got[0].body.contains("\"sales\""),
        "{}",
        got[0].body
    );
    let state = world.versions(OUTPUT, "akv-rotator-alert-state");
    assert_eq!(state.len(), 1, "the dedup state is kept in Key Vault");
    assert_eq!(state[0].content_type.as_deref(), Some("application/json"));

    // A separate run: nothing new to say.
    let (_, report) = run(&world);
    assert_eq!(report["alerts"]["sent"], 0);
    assert_eq!(world.emulator.webhook_deliveries("teams").len(), 1);

    // The client secret now expires in 3 days (critical) but the sink is down: the run still
    // succeeds and reports the failure.
    world.record_client_secret_expiry(&world.apps[1], days(3));
    world.emulator.set_webhook_status("teams", Some(500));
    let (code, report) = run(&world);
    assert_eq!(
        code,
        Some(0),
        "a sink that is down never fails the rotation"
    );
    assert_eq!(report["alerts"]["sent"], 0);
    assert!(
        report["alerts"]["failed"].as_u64().unwrap() >= 1,
        "{:#}",
        report["alerts"]
    );
    assert!(
        world.emulator.webhook_deliveries("teams").len() >= 2,
        "delivery was attempted (and retried)"
    );

    // The sink is back: the escalation is delivered on the next run.
    world.emulator.set_webhook_status("teams", None);
    let before = world.emulator.webhook_deliveries("teams").len();
    let (_, report) = run(&world);
    assert_eq!(report["alerts"]["sent"], 1, "{:#}", report["alerts"]);
    let last = world.emulator.webhook_deliveries("teams");
    assert_eq!(last.len(), before + 1);
    assert!(
        last.last()
            .unwrap()
            .body
            .to_lowercase()
            .contains("critical")
    );
}

/// Many findings at once: 120 apps whose client secrets all expire within the warning window
/// make an alert state of several times the 25 KB a Key Vault secret holds. It is stored
/// gzipped, so the second run knows every alert was sent and sends none again.
#[tokio::test(flavor = "multi_thread")]
async fn an_alert_state_larger_than_a_secret_is_stored_and_deduplicates_the_next_run() {
    let apps = (0..120)
        .map(|i| TestApp::new(&format!("finance-reporting-{i:03}")).secret_expiring_in(days(5)))
        .collect();
    let world = World::start(apps).await;
    world.put_secret(
        INPUT,
        "events-webhook",
        &world.emulator.webhook_url("events"),
        None,
    );
    let config = world.config_with(
        "many.toml",
        &format!(
            "[alerts]\n\n{}",
            world.webhook_sink("events", "events-webhook", "")
        ),
    );
    let (code, report, stderr) = world.once_at(&config, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["alerts"]["sent"], 120, "{:#}", report["alerts"]);
    assert_eq!(
        report["alerts"]["state_saved"], true,
        "{:#}",
        report["alerts"]
    );
    let stored = world.versions(OUTPUT, "akv-rotator-alert-state");
    let stored = stored.last().unwrap();
    assert!(
        stored
            .value
            .starts_with(r#"{"version":2,"encoding":"gzip+base64""#),
        "{} bytes: {}",
        stored.value.len(),
        &stored.value[..80.min(stored.value.len())]
    );

    let (code, report, stderr) = world.once_at(&config, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["alerts"]["sent"], 0, "{:#}", report["alerts"]);
    assert_eq!(world.emulator.webhook_deliveries("events").len(), 120);
}
