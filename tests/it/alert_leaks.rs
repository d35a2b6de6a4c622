//! A webhook URL never leaks through what its receiver answers: a receiver that refuses the
//! alert with a body naming the request path (`no route for POST /<path>`, as the emulator's
//! and many real receivers' 404 pages do) is reported by its status line only, and no segment
//! of the URL's path or query reaches the JSON report, stdout or stderr.
//!
//! The binary talks HTTPS only, so the receiver here is the emulator's own HTTPS listener at a
//! path it has no route for; the plain-HTTP shared receiver cannot be reached by the binary.

use crate::common::*;

/// Each path segment and the query value of the webhook URL; any one may be the credential.
const SEGMENTS: [&str; 3] = ["hooksQ7x", "T0PSECRETteam", "B9channelKEY"];
const SIGNATURE: &str = "S1gnatureZZ";

#[tokio::test(flavor = "multi_thread")]
async fn a_404_echoing_the_path_leaves_no_segment_of_the_url_in_report_or_logs() {
    // Arrange: an app whose client secret expires in 12 days (a warning alert is due) and a
    // sink whose URL the receiver does not know.
    let world = World::start(vec![TestApp::new("ops").secret_expiring_in(days(12))]).await;
    let url = format!(
        "{}/{}?sig={SIGNATURE}",
        world.emulator.authority_host(),
        SEGMENTS.join("/")
    );
    // The URL lives in the input vault, which consumers cannot read.
    world.put_secret(INPUT, "security-webhook", &url, None);
    let config = world.config_with(
        "alerts.toml",
        &format!(
            "[alerts]\n\n{}",
            world.webhook_sink(
                "security",
                "security-webhook",
                "min_severity = \"warning\"\n"
            )
        ),
    );
    let config = config.to_str().unwrap();

    // Act.
    let out = world.run(
        &["once", "--config", config, "--output", "json"],
        &[("RUST_LOG", "debug")],
    );

    // Assert: the alert failed for the 404, said by its status line, and nothing of the URL
    // is anywhere.
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let report: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    assert_eq!(report["alerts"]["failed"], 1, "{:#}", report["alerts"]);
    let reason = report["alerts"]["sinks"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.contains("HTTP 404 Not Found"),
        "the report names the status: {reason}"
    );
    assert!(
        !reason.contains("no route"),
        "the receiver's body is not copied: {reason}"
    );
    for part in SEGMENTS.iter().chain([&SIGNATURE]) {
        assert!(
            !stdout.contains(part),
            "{part} leaked into the report: {stdout}"
        );
        assert!(
            !stderr.contains(part),
            "{part} leaked into the logs: {stderr}"
        );
    }
}
