//! `akv-rotator status`: the table, JSON, Markdown and HTML views of a fixed report (snapshots
//! in tests/it/snapshots/), and the real binary against the emulator: read-only, most urgent
//! first.

#[path = "../status/fixture.rs"]
mod fixture;

use crate::common::*;
use akv_rotator::config::Thresholds;
use akv_rotator::report::status::Status;

fn view() -> Status {
    let (report, updated) = fixture::report();
    Status::with_token_updated(&report, &fixture::config().thresholds, &updated)
}

#[test]
fn table_snapshot() {
    insta::assert_snapshot!("table", view().to_table());
}

#[test]
fn json_snapshot() {
    insta::assert_snapshot!("json", view().to_json());
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!("markdown", view().to_markdown());
}

#[test]
fn html_snapshot() {
    insta::assert_snapshot!("html", view().to_html());
}

#[test]
fn apps_are_ranked_expired_critical_failing_warning_unknown_ok_then_by_days_left() {
    let json: serde_json::Value = serde_json::from_str(&view().to_json()).unwrap();
    let ranked: Vec<(&str, &str)> = json["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["urgency"].as_str().unwrap(), a["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        ranked,
        [
            ("expired", "legacy-export"),
            ("critical", "ops-dashboard"),
            ("failing", "finance-sync"),
            ("warning", "hr-analytics"),
            ("unknown", "data-lake-ingest"),
            ("ok", "marketing-insights"),
            ("ok", "sales-reporting"),
        ]
    );
    // The dry run only planned finance-sync's refresh; its missing client secret makes it fail.
    let finance = &json["apps"][2]["targets"][0];
    assert_eq!(finance["outcome"], "failed");
    assert_eq!(finance["error"]["class"], "not_found");
}

#[test]
fn the_html_page_is_self_contained() {
    let page = view().to_html();
    for external in [
        "<script",
        "<link",
        "@import",
        "url(",
        " src=",
        " href=",
        "<noscript",
    ] {
        assert!(!page.contains(external), "{external} in the page");
    }
    assert_eq!(page.matches("<li class=\"row ").count(), 7);
}

#[test]
fn the_timeline_zones_follow_the_configured_thresholds() {
    let (report, _) = fixture::report();
    let default = Status::new(&report, &Thresholds::default()).to_html();
    assert!(default.contains("--t-now:5.26%;--t-crit:12.63%;--t-warn:36.84%"));
    let days = |d: u64| std::time::Duration::from_secs(d * 86_400);
    let other = Thresholds {
        warning: days(45),
        critical: days(10),
        graph: false,
    };
    let page = Status::new(&report, &other).to_html();
    // Scale −8 d … 140 d: today at 8/148, critical at 18/148, warning at 53/148.
    assert!(page.contains("--t-now:5.41%;--t-crit:12.16%;--t-warn:35.81%"));
    assert!(page.contains("critical: less than 10d"), "legend");
    assert!(page.contains(">140 d+<"), "axis end");
}

#[test]
fn problem_messages_are_escaped() {
    let (mut report, _) = fixture::report();
    report.apps[5].error.as_mut().unwrap().message = "<img src=x onerror=alert(1)> & more".into();
    let page = Status::new(&report, &Thresholds::default()).to_html();
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt; &amp; more"));
    assert!(!page.contains("<img"));
}

#[tokio::test(flavor = "multi_thread")]
async fn status_against_the_emulator_is_read_only_and_ranks_by_urgency() {
    // Arrange: one app of each urgency; tokens written for the apps that can have one.
    let mut noexp = TestApp::new("noexp");
    noexp.record_exp_in_vault = false;
    let world = World::start(vec![
        TestApp::new("healthy"),
        TestApp::new("soon").secret_expiring_in(days(12)),
        noexp,
        TestApp::new("missing").fault(Fault::MissingSecret),
        TestApp::new("urgent").secret_expiring_in(days(3)),
        TestApp::new("expired").fault(Fault::ExpiredSecret),
    ])
    .await;
    let (code, _, stderr) = world.once(&[]);
    assert_eq!(code, 1, "{stderr}");
    world.emulator.reset_stats();

    // Act
    let config = world.config_path.display().to_string();
    let out = world.run(&["status", "--config", &config, "--output", "json"], &[]);

    // Assert
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ranked: Vec<(&str, &str)> = json["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["urgency"].as_str().unwrap(), a["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        ranked,
        [
            ("expired", "expired"),
            ("critical", "urgent"),
            ("failing", "missing"),
            ("warning", "soon"),
            ("unknown", "noexp"),
            ("ok", "healthy"),
        ]
    );
    let healthy = &json["apps"][5]["targets"][0];
    assert_eq!(healthy["outcome"], "fresh");
    let age = healthy["token_age_seconds"].as_i64().unwrap();
    assert!((0..600).contains(&age), "token age {age}");
    assert_eq!(json["apps"][2]["targets"][0]["outcome"], "failed");
    assert_eq!(json["apps"][0]["targets"][0]["outcome"], "planned");

    let stats = world.emulator.stats();
    for vault in [INPUT, OUTPUT, READONLY] {
        assert_eq!(stats.count(vault, "SecretSet"), 0, "SecretSet in {vault}");
        assert_eq!(
            stats.count(vault, "SecretUpdate"),
            0,
            "SecretUpdate in {vault}"
        );
    }
    assert_eq!(
        stats.count(INPUT, "SecretGet"),
        0,
        "a client secret was read: {stats:?}"
    );
    assert!(stats.count(INPUT, "SecretList") > 0, "{stats:?}");
}
