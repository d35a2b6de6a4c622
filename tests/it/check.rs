//! `akv-rotator check`: offline validation and the online read-only preflight.

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn offline_check_validates_everything_and_exits_2_on_problems() {
    let world = World::start(vec![TestApp::new("sales")]).await;
    let config = world.config_path.display().to_string();
    let out = world.run(&["check", "--config", &config], &[]);
    assert_exit_code(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid (1 apps, 1 targets"));
    assert_eq!(
        world.emulator.stats().total_for(INPUT),
        0,
        "offline means offline"
    );

    let bad = world.config_with(
        "bad.toml",
        "[daemon]\nschedule = \"every day\"\nlisten = \"nowhere\"\n",
    );
    let out = world.run(&["check", "--config", bad.to_str().unwrap()], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("daemon.schedule") && stderr.contains("daemon.listen"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn online_check_passes_read_only_and_names_a_missing_permission() {
    let world = World::start(vec![
        TestApp::new("sales"),
        TestApp::new("nowrite").fault(Fault::NoWritePermission),
        TestApp::new("missing").fault(Fault::MissingSecret),
    ])
    .await;
    let config = world.config_path.display().to_string();
    let out = world.run(
        &["check", "--config", &config, "--online", "--output", "json"],
        &[],
    );
    assert_exit_code(&out, 1);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let find = |check: &str, subject: &str| {
        json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == check && c["subject"].as_str().unwrap().contains(subject))
            .cloned()
            .unwrap_or_else(|| panic!("no {check} for {subject}: {json:#}"))
    };
    assert_eq!(find("read client secret", "sales")["result"], "pass");
    assert_eq!(find("acquire + validate token", "sales")["result"], "pass");
    assert_eq!(find("write token secret", "sales")["result"], "pass");
    let nowrite = find("write token secret", "nowrite");
    assert_eq!(nowrite["result"], "fail");
    assert!(
        nowrite["detail"]
            .as_str()
            .unwrap()
            .contains("Secrets Officer"),
        "{nowrite}"
    );
    assert_eq!(find("read client secret", "missing")["result"], "fail");
    assert_eq!(
        find("acquire + validate token", "missing")["result"],
        "unverified"
    );

    // Read-only: nothing was written anywhere.
    for vault in [INPUT, OUTPUT, READONLY] {
        assert_eq!(
            world.emulator.stats().count_status(vault, "SecretSet", 200),
            0
        );
        assert_eq!(
            world
                .emulator
                .stats()
                .count_status(vault, "SecretUpdate", 200),
            0
        );
    }
    assert!(world.versions(OUTPUT, "sales-powerbi-token").is_empty());

    let healthy = World::start(vec![TestApp::new("ok")]).await;
    let config = healthy.config_path.display().to_string();
    let out = healthy.run(&["check", "--config", &config, "--online"], &[]);
    assert_exit_code(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 failed"));
}

#[tokio::test(flavor = "multi_thread")]
async fn check_refuses_a_schedule_under_which_tokens_expire_between_runs() {
    let world = World::start(vec![TestApp::new("sales")]).await;
    let hourly = world.config_with("hourly.toml", "[daemon]\nschedule = \"@hourly\"\n");
    let often = world.config_with("often.toml", "[daemon]\nschedule = \"*/10 * * * *\"\n");

    let run =
        |path: &std::path::Path| world.run(&["check", "--config", path.to_str().unwrap()], &[]);
    let refused = run(&hourly);
    let accepted = run(&often);

    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    let line = world.config_text().lines().count() + 3;
    assert!(
        stderr.contains(&format!("hourly.toml:{line}:1: key `daemon.schedule`: schedule \"@hourly\" can leave 1 hour between two runs")),
        "{stderr}"
    );
    assert!(
        stderr.contains("refresh_before of 30 minutes")
            && stderr.contains(
                "run more often than every 14 minutes 30 seconds (for example \"*/12 * * * *\""
            ),
        "{stderr}"
    );
    assert_eq!(
        accepted.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
}
