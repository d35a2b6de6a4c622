//! One rotation cycle end to end: the real binary against the emulator over HTTPS, through the
//! official Azure SDK, asserting what ends up in the vault, the report and the exit code.

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_cycle_writes_the_token_with_its_expiry_type_and_tags_then_leaves_it_while_fresh() {
    let world = World::start(vec![TestApp::new("sales")]).await;
    let app = &world.apps[0];

    let (code, report, stderr) = world.once(&[]);
    assert_eq!(code, 0, "stderr: {stderr}\nreport: {report:#}");
    let t = target(&report, "sales-powerbi-token");
    assert_eq!(t["outcome"], "written");
    assert_eq!(t["signature"], "verified");

    let versions = world.versions(OUTPUT, "sales-powerbi-token");
    assert_eq!(versions.len(), 1);
    let stored = &versions[0];
    let claims = jwt_claims(&stored.value);
    assert_eq!(
        stored.exp.unwrap().unix_timestamp(),
        claims["exp"].as_i64().unwrap(),
        "Key Vault exp must equal the JWT exp"
    );
    assert_eq!(
        stored.nbf.unwrap().unix_timestamp(),
        claims["nbf"].as_i64().unwrap()
    );
    assert_eq!(claims["aud"], POWERBI);
    assert_eq!(claims["appid"], app.client_id.as_str());
    assert_eq!(stored.content_type.as_deref(), Some("application/jwt"));
    assert_eq!(stored.tags["client-id"], app.client_id);
    assert_eq!(stored.tags["tenant-id"], TENANT);
    assert_eq!(stored.tags["scope"], format!("{POWERBI}/.default"));
    assert!(stored.tags["written-by"].starts_with("akv-rotator/"));
    let input = world.versions(INPUT, &app.secret_name());
    assert_eq!(stored.tags["source-version"], input[0].version);
    let expires_on = time::OffsetDateTime::parse(
        &stored.tags["expires-on"],
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(expires_on.unix_timestamp(), claims["exp"].as_i64().unwrap());
    assert_eq!(t["token_expires_on"], stored.tags["expires-on"].as_str());

    // Within refresh_before: nothing new.
    world.emulator.reset_stats();
    let (code, report, _) = world.once(&[]);
    assert_eq!(code, 0);
    assert_eq!(outcome(&report, "sales-powerbi-token"), "fresh");
    assert_eq!(world.versions(OUTPUT, "sales-powerbi-token").len(), 1);
    let stats = world.emulator.stats();
    assert_eq!(
        stats.count(INPUT, "SecretGet"),
        0,
        "a fresh token needs no client secret read"
    );
    // The one write is the cycle's status record.
    assert_eq!(stats.count(OUTPUT, "SecretSet"), 1);
    assert_eq!(world.versions(OUTPUT, "akv-rotator-status").len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_plans_without_reading_acquiring_or_writing() {
    let world = World::healthy_and_expiring_soon().await;
    let (code, report, stderr) = world.once(&["--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["dry_run"], true);
    assert_eq!(outcome(&report, "sales-powerbi-token"), "planned");
    assert_eq!(app(&report, "ops")["client_secret"]["severity"], "warning");
    assert_eq!(app(&report, "ops")["client_secret"]["days_left"], 11);
    assert!(world.versions(OUTPUT, "sales-powerbi-token").is_empty());
    let stats = world.emulator.stats();
    assert_eq!(stats.count(INPUT, "SecretGet"), 0);
    assert_eq!(stats.count(OUTPUT, "SecretSet"), 0);
    assert_eq!(
        stats.count_status(INPUT, "SecretList", 200),
        1,
        "the plan is one paged list per vault"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_failure_is_classified_nothing_is_written_for_it_and_the_others_still_are() {
    let cases = [
        (
            "wrong",
            Fault::WrongSecret,
            "bad_client_secret",
            "AADSTS7000215",
        ),
        (
            "expired",
            Fault::ExpiredSecret,
            "expired_client_secret",
            "AADSTS7000222",
        ),
        ("ghost", Fault::UnknownApp, "unknown_app", "AADSTS700016"),
        (
            "elsewhere",
            Fault::UnknownTenant,
            "unknown_tenant",
            "AADSTS90002",
        ),
        ("missing", Fault::MissingSecret, "not_found", ""),
        ("disabled", Fault::DisabledSecret, "secret_disabled", ""),
        ("nowrite", Fault::NoWritePermission, "permission_denied", ""),
    ];
    let mut apps = vec![TestApp::new("healthy")];
    apps.extend(
        cases
            .iter()
            .map(|(name, fault, _, _)| TestApp::new(name).fault(*fault)),
    );
    let world = World::start(apps).await;

    let (code, report, stderr) = world.once(&[]);
    assert_eq!(code, 1, "{stderr}\n{report:#}");
    assert_eq!(outcome(&report, "healthy-powerbi-token"), "written");
    assert_eq!(world.versions(OUTPUT, "healthy-powerbi-token").len(), 1);
    for (name, _, class, code) in cases {
        let secret = format!("{name}-powerbi-token");
        let t = failed_target(&report, &secret, class);
        let message = t["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(name),
            "{name}: the message names the app: {message}"
        );
        if !code.is_empty() {
            assert_eq!(t["error"]["code"], code, "{name}");
        }
        assert!(
            world.versions(OUTPUT, &secret).is_empty(),
            "{name}: nothing written"
        );
        assert!(
            world.versions(READONLY, &secret).is_empty(),
            "{name}: nothing written"
        );
    }
    assert_eq!(report["summary"]["written"], 1);
    assert_eq!(report["summary"]["failed"], cases.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_config_exits_2_naming_the_line_and_key() {
    let world = World::start(vec![TestApp::new("sales")]).await;
    let good = world.config_text();
    let cases = [
        (
            "syntax",
            good.replacen("refresh_before = \"30m\"", "refresh_before = \"30m", 1),
            "4",
            "refresh_before",
        ),
        (
            "unknown key",
            good.replacen("refresh_before", "refresh_befor", 1),
            "4",
            "refresh_befor",
        ),
        (
            "bad duration",
            good.replacen("\"30m\"", "\"30 fortnights\"", 1),
            "4",
            "refresh_before",
        ),
        (
            "missing field",
            good.replacen("client_secret_name = \"sales-client-secret\"\n", "", 1),
            "",
            "client_secret_name",
        ),
    ];
    for (what, text, line, key) in cases {
        let path = world.dir.path().join("broken.toml");
        std::fs::write(&path, &text).unwrap();
        let out = world.run(&["once", "--config", path.to_str().unwrap()], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(
            stderr.contains("broken.toml"),
            "{what}: names the file: {stderr}"
        );
        assert!(stderr.contains(key), "{what}: names the key: {stderr}");
        if !line.is_empty() {
            assert!(
                stderr.contains(&format!("broken.toml:{line}:")),
                "{what}: names the line: {stderr}"
            );
        } else {
            assert!(
                stderr.contains("broken.toml:1") || stderr.contains("broken.toml:"),
                "{what}: {stderr}"
            );
        }
        assert!(out.stdout.is_empty(), "{what}: no report on a config error");
    }
    assert_eq!(
        world.emulator.stats().total_for(OUTPUT),
        0,
        "nothing was attempted"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotator_that_cannot_authenticate_exits_2_before_any_work() {
    let world = World::start(vec![TestApp::new("sales")]).await;
    std::fs::write(
        world.dir.path().join("rotator-secret"),
        "not-the-rotator-secret",
    )
    .unwrap();
    let (code, report, stderr) = world.once(&[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(report.is_null());
    assert!(stderr.contains("rotator"), "{stderr}");
    assert!(world.versions(OUTPUT, "sales-powerbi-token").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_or_token_value_appears_in_logs_or_report_at_trace_level() {
    let world = World::start(vec![
        TestApp::new("sales").target(GRAPH, "sales-graph-token"),
        TestApp::new("wrong").fault(Fault::WrongSecret),
        TestApp::new("expired").fault(Fault::ExpiredSecret),
    ])
    .await;
    let config = world.config_path.display().to_string();
    let mut outputs = Vec::new();
    for format in ["json", "table"] {
        for log in [
            "trace",
            "trace,azure_core=trace,reqwest=trace,hyper=trace,rustls=trace",
        ] {
            let out = world.run(
                &["once", "--config", &config, "--output", format],
                &[("RUST_LOG", log)],
            );
            outputs.push(
                String::from_utf8_lossy(&out.stdout).to_string()
                    + &String::from_utf8_lossy(&out.stderr),
            );
        }
    }
    let mut secrets: Vec<String> = world.apps.iter().map(|a| a.secret_value.clone()).collect();
    secrets.push(world.rotator_secret.clone());
    secrets.extend(
        world
            .versions(INPUT, "wrong-client-secret")
            .into_iter()
            .map(|v| v.value),
    );
    let tokens: Vec<String> = ["sales-powerbi-token", "sales-graph-token"]
        .iter()
        .flat_map(|n| world.versions(OUTPUT, n))
        .map(|v| v.value)
        .collect();
    assert!(tokens.len() >= 2, "tokens were written");
    for text in &outputs {
        assert!(text.len() > 1000, "trace logging produced output");
        for s in secrets.iter().chain(&tokens) {
            assert!(
                !text.contains(s.as_str()),
                "a secret or token value leaked into the output"
            );
        }
        // Any JWT (including the rotator's own Key Vault tokens) starts with a base64 `{"`.
        assert!(
            !text.contains("eyJ"),
            "something JWT-shaped leaked into the output"
        );
    }
}
