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
    Status::with_memory(
        &report,
        &fixture::config().thresholds,
        &updated,
        &fixture::memory(),
    )
}

/// (urgency, name) of each app of a status JSON document, in the order shown.
fn ranking(json: &serde_json::Value) -> Vec<(&str, &str)> {
    json["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["urgency"].as_str().unwrap(), a["name"].as_str().unwrap()))
        .collect()
}

/// One test per rendering of the fixed view, each locked by its snapshot.
macro_rules! snapshot_tests {
    ($($test:ident: $snapshot:literal => $render:ident,)*) => {$(
        #[test]
        fn $test() {
            insta::assert_snapshot!($snapshot, view().$render());
        }
    )*};
}

snapshot_tests! {
    table_snapshot: "table" => to_table,
    json_snapshot: "json" => to_json,
    markdown_snapshot: "markdown" => to_markdown,
    html_snapshot: "html" => to_html,
}

#[test]
fn apps_are_ranked_expired_critical_failing_warning_unknown_ok_then_by_days_left() {
    let json: serde_json::Value = serde_json::from_str(&view().to_json()).unwrap();
    assert_eq!(
        ranking(&json),
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
    // The dry run only planned ops-dashboard's ARM token; the last real cycle says it fails.
    let arm = &json["apps"][1]["targets"][0];
    assert_eq!(arm["secret"], "ops-dashboard-arm-token");
    assert_eq!(arm["outcome"], "failed");
    assert_eq!(arm["error"]["class"], "bad_client_secret");
    assert_eq!(arm["last_run"]["consecutive_failures"], 3);
    assert_eq!(arm["last_run"]["failing_since"], "2026-11-28T19:48:02Z");
    assert_eq!(json["record"]["state"], "current");
    assert_eq!(json["record"]["failing_targets"], 3);
}

#[test]
fn a_record_older_than_the_schedule_allows_is_stale_in_every_format() {
    let (report, updated) = fixture::report();
    let mut record = fixture::record();
    record.updated_at = fixture::NOW - time::Duration::hours(3);
    record.next_run_by = Some(fixture::NOW - time::Duration::hours(2));
    let memory = akv_rotator::report::status::Memory {
        records: vec![record],
        ..Default::default()
    };
    let view = Status::with_memory(&report, &fixture::config().thresholds, &updated, &memory);
    let json: serde_json::Value = serde_json::from_str(&view.to_json()).unwrap();
    assert_eq!(json["record"]["state"], "stale");
    assert_eq!(json["record"]["next_run_by"], "2026-11-28T18:15:02Z");
    let stale = "STALE: the last recorded run finished 2026-11-28 17:15 UTC (3h 0m ago) and the next was due by 2026-11-28 18:15 UTC";
    for (format, text) in [
        ("table", view.to_table()),
        ("markdown", view.to_markdown()),
        ("html", view.to_html()),
    ] {
        assert!(text.contains(stale), "{format}: {text}");
    }
    // A current record says so, and no record at all is not silently "ok".
    let current = view_with(akv_rotator::report::status::Memory {
        records: vec![fixture::record()],
        ..Default::default()
    });
    assert!(
        current.contains("Last run: 2026-11-28 20:08 UTC (7m ago); 3 token secrets failing."),
        "{current}"
    );
    let none = view_with(akv_rotator::report::status::Memory {
        missing: 1,
        ..Default::default()
    });
    assert!(
        none.contains("No run has recorded its outcome yet"),
        "{none}"
    );
}

fn view_with(memory: akv_rotator::report::status::Memory) -> String {
    let (report, updated) = fixture::report();
    Status::with_memory(&report, &fixture::config().thresholds, &updated, &memory).to_markdown()
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
    assert_eq!(
        ranking(&json),
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
    // The dry run plans the expired app's refresh; the last real cycle says it fails.
    let expired = &json["apps"][0]["targets"][0];
    assert_eq!(expired["outcome"], "failed");
    assert_eq!(expired["error"]["class"], "expired_client_secret");

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

#[tokio::test(flavor = "multi_thread")]
async fn status_after_once_shows_the_apps_that_keep_failing_with_their_error_class() {
    // Arrange: broken apps whose problem a dry run cannot see (it reads no client secret and
    // acquires nothing), and a healthy one; two real cycles fail them twice.
    let broken = [
        ("wrong-value", Fault::WrongSecret, "bad_client_secret"),
        ("not-registered", Fault::UnknownApp, "unknown_app"),
        ("no-tenant", Fault::UnknownTenant, "unknown_tenant"),
    ];
    let mut apps = vec![TestApp::new("healthy")];
    apps.extend(
        broken
            .iter()
            .map(|(name, fault, _)| TestApp::new(name).fault(*fault)),
    );
    let world = World::start(apps).await;
    let (code, first, stderr) = world.once(&[]);
    assert_eq!(code, 1, "{stderr}");
    let (code, _, stderr) = world.once(&[]);
    assert_eq!(code, 1, "{stderr}");

    // Act
    let config = world.config_path.display().to_string();
    let status = |format: &str| {
        let out = world.run(&["status", "--config", &config, "--output", format], &[]);
        assert_exit_code(&out, 0);
        String::from_utf8(out.stdout).unwrap()
    };
    let json: serde_json::Value = serde_json::from_str(&status("json")).unwrap();
    let markdown = status("markdown");

    // Assert
    assert_eq!(json["record"]["state"], "current", "{json:#}");
    assert_eq!(json["record"]["failing_targets"], 3);
    for (name, _, class) in broken {
        let app = app(&json, name);
        assert_eq!(app["urgency"], "failing", "{name}: {app:#}");
        let target = &app["targets"][0];
        assert_eq!(target["outcome"], "failed", "{name}");
        assert_eq!(target["error"]["class"], class, "{name}");
        assert_eq!(target["last_run"]["consecutive_failures"], 2, "{name}");
        assert_eq!(
            target["last_run"]["failing_since"], first["started_at"],
            "{name}: failing since the first run"
        );
        assert!(
            markdown.contains(&format!("| **failing** | {name} |")),
            "{name}: {markdown}"
        );
        assert!(
            markdown.contains(&format!("`{class}`")),
            "{class}: {markdown}"
        );
    }
    let healthy = app(&json, "healthy");
    assert_eq!(healthy["urgency"], "ok");
    assert_eq!(healthy["targets"][0]["outcome"], "fresh");
    assert_eq!(healthy["targets"][0]["last_run"]["consecutive_failures"], 0);
    assert!(markdown.contains("failing since "), "{markdown}");
    assert!(markdown.contains("| ok | healthy |"), "{markdown}");

    // One record version per cycle, holding no client secret or token value.
    let versions = world.versions(OUTPUT, "akv-rotator-status");
    assert_eq!(versions.len(), 2);
    for v in &versions {
        assert_eq!(v.content_type.as_deref(), Some("application/json"));
        for app in &world.apps {
            assert!(!v.value.contains(&app.secret_value), "{}", v.value);
        }
        assert!(
            !v.value.contains("wrong~") && !v.value.contains("eyJ"),
            "{}",
            v.value
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_status_record_older_than_the_schedule_allows_is_stale_and_the_next_run_alerts_missed_runs()
 {
    // Arrange: a record as a run three hours ago left it, its successor due two hours ago; a
    // CloudEvents sink.
    let world = World::start(vec![TestApp::new("healthy")]).await;
    let url = world.emulator.webhook_url("events");
    world.put_secret(INPUT, "events-webhook", &url, None);
    let config = world.config_with(
        "alerts.toml",
        &format!(
            "[alerts]\n\n{}",
            world.webhook_sink("events", "events-webhook", "")
        ),
    );
    let (code, _, stderr) = world.once_at(&config, &[]);
    assert_eq!(code, 0, "{stderr}");
    let stored = world.versions(OUTPUT, "akv-rotator-status");
    let mut record: serde_json::Value =
        serde_json::from_str(&stored.last().unwrap().value).unwrap();
    let ago = |h: i64| {
        akv_rotator::timefmt::rfc3339(time::OffsetDateTime::now_utc() - time::Duration::hours(h))
    };
    record["updated_at"] = ago(3).into();
    record["next_run_by"] = ago(2).into();
    world.put_secret(OUTPUT, "akv-rotator-status", &record.to_string(), None);
    let config_arg = config.display().to_string();
    let status = || {
        let out = world.run(
            &["status", "--config", &config_arg, "--output", "json"],
            &[],
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };

    // Act
    let before = status();
    let (code, _, stderr) = world.once_at(&config, &[]);
    let after = status();

    // Assert
    assert_eq!(before["record"]["state"], "stale", "{before:#}");
    let summary = before["record"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("STALE: the last recorded run finished"),
        "{summary}"
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("runs_missed"), "{stderr}");
    let events: Vec<serde_json::Value> = world
        .emulator
        .webhook_deliveries("events")
        .iter()
        .map(|d| serde_json::from_str(&d.body).unwrap())
        .collect();
    let missed: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["type"] == "com.akv-rotator.runs.missed")
        .collect();
    assert_eq!(missed.len(), 1, "{events:#?}");
    let title = missed[0]["data"]["title"].as_str().unwrap_or_default();
    // Three hours and the seconds this run took, told to the minute.
    assert_eq!(
        title, "akv-rotator did not run for 3 hours",
        "{:#}",
        missed[0]
    );
    // That run's record is current again.
    assert_eq!(after["record"]["state"], "current", "{after:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_reads_every_shards_record_when_told_the_shard_count() {
    // Arrange: the config names no `[shard] count`; two Indexed Job pods ran `once` with
    // `--shard I/2`, each writing its own record.
    let apps = (0..6)
        .map(|i| {
            let app = TestApp::new(&format!("sharded{i}"));
            if i % 2 == 0 {
                app.fault(Fault::WrongSecret)
            } else {
                app
            }
        })
        .collect();
    let world = World::start(apps).await;
    let mut failed = 0;
    for index in 0..2 {
        let (code, report, stderr) = world.once(&["--shard", &format!("{index}/2")]);
        assert!(code == 0 || code == 1, "shard {index}: {stderr}");
        failed += report["summary"]["failed"].as_u64().unwrap();
    }
    assert_eq!(
        failed, 3,
        "the shards between them failed the three broken apps"
    );
    let config = world.config_path.display().to_string();
    let status = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["status", "--config", &config, "--output", "json"];
        args.extend_from_slice(extra);
        let out = world.run(&args, &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };

    // Act
    let unsharded = status(&[]);
    let sharded = status(&["--shard-count", "2"]);

    // Assert: without the count, status looks for the unsharded record, which no run wrote.
    assert_eq!(unsharded["record"]["state"], "missing", "{unsharded:#}");
    // With it, both shards' records: every broken app is failing, from whichever shard.
    assert_eq!(sharded["record"]["state"], "current", "{sharded:#}");
    assert_eq!(sharded["record"]["failing_targets"], 3, "{sharded:#}");
    for i in 0..6 {
        let name = format!("sharded{i}");
        let expected = if i % 2 == 0 { "failing" } else { "ok" };
        assert_eq!(
            app(&sharded, &name)["urgency"],
            expected,
            "{name}: {sharded:#}"
        );
    }
    // A shard count of 0 is refused by the command line, naming the flag.
    let out = world.run(&["status", "--config", &config, "--shard-count", "0"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--shard-count"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
