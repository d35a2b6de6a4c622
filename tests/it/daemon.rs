//! Daemon mode against the emulator: endpoints, readiness, metrics after a cycle, graceful
//! shutdown on SIGTERM in the middle of a cycle, and sharding.

use std::time::{Duration, Instant};

use crate::common::*;
use akv_emulator::{FaultKind, FaultRule};

struct Daemon {
    child: std::process::Child,
    port: u16,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn start_daemon(world: &World, schedule: &str) -> Daemon {
    start_daemon_with(world, schedule, "")
}

/// [`start_daemon`] with extra top-level config keys (`top`, TOML lines before any table).
fn start_daemon_with(world: &World, schedule: &str, top: &str) -> Daemon {
    let port = free_port();
    let config = world.dir.path().join("daemon.toml");
    std::fs::write(
        &config,
        format!(
            "{top}\n{}\n[daemon]\nschedule = \"{schedule}\"\njitter = \"0s\"\nlisten = \"127.0.0.1:{port}\"\nshutdown_grace = \"20s\"\n",
            world.config_text()
        ),
    )
    .unwrap();
    spawn_daemon(&config, port)
}

/// Runs `akv-rotator run` on a config whose `[daemon] listen` is `127.0.0.1:{port}`.
fn spawn_daemon(config: &std::path::Path, port: u16) -> Daemon {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_akv-rotator"))
        .args(["run", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    Daemon { child, port }
}

async fn wait_for(port: u16, path: &str, status: u16, within: Duration) -> String {
    let start = Instant::now();
    loop {
        if let Some((s, body)) = http_get(port, path).await
            && s == status
        {
            return body;
        }
        assert!(start.elapsed() < within, "{path} never answered {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_readiness_and_metrics_after_a_cycle() {
    let world = World::start(vec![
        TestApp::new("sales"),
        TestApp::new("wrong").fault(Fault::WrongSecret),
    ])
    .await;
    // Slow the first listing so readiness can be seen before the first cycle completes.
    world.emulator.set_faults(vec![FaultRule {
        service: INPUT.into(),
        operation: Some("SecretList".into()),
        kind: FaultKind::Latency { ms: 1500 },
        probability: 1.0,
        count: Some(1),
    }]);
    let daemon = start_daemon(&world, "0 0 * * *");

    assert_eq!(
        wait_for(daemon.port, "/healthz", 200, Duration::from_secs(20))
            .await
            .trim(),
        "ok"
    );
    let (status, body) = http_get(daemon.port, "/readyz").await.unwrap();
    assert_eq!(
        status, 503,
        "not ready before the first cycle reached Key Vault: {body}"
    );

    wait_for(daemon.port, "/readyz", 200, Duration::from_secs(30)).await;
    let text = wait_for(daemon.port, "/metrics", 200, Duration::from_secs(5)).await;
    let samples = parse_metrics(&text);
    assert_eq!(
        metric(
            &samples,
            "akv_rotator_token_refreshes_total",
            &[("app", "sales"), ("outcome", "written")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &samples,
            "akv_rotator_token_refreshes_total",
            &[("app", "wrong"), ("outcome", "failed")]
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(&samples, "akv_rotator_cycle_duration_seconds_count", &[]),
        Some(1.0)
    );
    assert!(
        metric(&samples, "akv_rotator_cycle_duration_seconds_sum", &[]).unwrap() >= 1.5,
        "the slowed listing is in the cycle duration"
    );
    // The token and the cycle's status record.
    assert_eq!(
        metric(
            &samples,
            "akv_rotator_requests_total",
            &[
                ("service", "keyvault"),
                ("operation", "set"),
                ("status", "200")
            ]
        ),
        Some(2.0)
    );
    assert_eq!(
        metric(
            &samples,
            "akv_rotator_requests_total",
            &[
                ("service", "entra"),
                ("operation", "token"),
                ("status", "401")
            ]
        ),
        Some(1.0),
        "the wrong secret's refusal is counted"
    );
    let secret_left = metric(
        &samples,
        "akv_rotator_client_secret_expiry_seconds",
        &[("app", "sales")],
    )
    .unwrap();
    assert!(
        (179.0 * 86400.0..=180.0 * 86400.0).contains(&secret_left),
        "{secret_left}"
    );
    let token_left = metric(
        &samples,
        "akv_rotator_token_expiry_seconds",
        &[("app", "sales"), ("secret", "sales-powerbi-token")],
    )
    .unwrap();
    assert!((3000.0..=5400.0).contains(&token_left), "{token_left}");
    for s in &samples {
        for v in s.labels.values() {
            assert!(
                !v.contains("~"),
                "a label carries something secret-shaped: {s:?}"
            );
        }
    }
    let page = wait_for(daemon.port, "/status", 200, Duration::from_secs(5)).await;
    assert!(page.contains("data-app=\"sales\"") && page.contains("data-app=\"wrong\""));
    assert!(!page.contains(&world.apps[0].secret_value));
    // With the cycle's status record: the failing token, since when, and a current record.
    assert!(
        page.contains("<p class=\"record current\">Last run: ")
            && page.contains("1 token secret failing."),
        "{page}"
    );
    assert!(page.contains("failing since "), "{page}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_cycle_leaves_every_target_written_or_untouched() {
    let apps: Vec<TestApp> = (0..12)
        .map(|i| TestApp::new(&format!("app{i:02}")))
        .collect();
    let world = World::start(apps).await;
    // Each token request takes 400 ms and apps run one at a time: the cycle lasts about 5 s, so
    // the stop lands mid-cycle however slow the machine is.
    world.emulator.set_faults(vec![FaultRule {
        service: "login".into(),
        operation: Some("TokenV2".into()),
        kind: FaultKind::Latency { ms: 400 },
        probability: 1.0,
        count: None,
    }]);
    let mut daemon = start_daemon_with(&world, "0 0 * * *", "concurrency = 1");
    wait_for(daemon.port, "/healthz", 200, Duration::from_secs(20)).await;
    // Wait until the cycle is under way (some tokens written), then stop.
    let start = Instant::now();
    loop {
        let written = world
            .apps
            .iter()
            .filter(|a| !world.versions(OUTPUT, &a.targets[0].1).is_empty())
            .count();
        if written >= 1 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no token was written"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &daemon.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || {
        let code = daemon.child.wait().unwrap();
        let mut stderr = String::new();
        use std::io::Read;
        daemon
            .child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (code, stderr)
    })
    .await
    .unwrap();
    assert_eq!(exit.0.code(), Some(0), "graceful exit: {}", exit.1);
    assert!(exit.1.contains("shutdown_draining"), "{}", exit.1);

    let mut written = 0;
    let mut untouched = 0;
    for app in &world.apps {
        let versions = world.versions(OUTPUT, &app.targets[0].1);
        match versions.as_slice() {
            [] => untouched += 1,
            [v] => {
                let claims = jwt_claims(&v.value);
                assert_eq!(
                    v.exp.unwrap().unix_timestamp(),
                    claims["exp"].as_i64().unwrap()
                );
                assert_eq!(v.content_type.as_deref(), Some("application/jwt"));
                written += 1;
            }
            more => panic!("{} versions of {}", more.len(), app.name),
        }
    }
    assert!(written >= 1, "some targets were written");
    assert!(
        untouched >= 1,
        "the shutdown came mid-cycle: some targets were left untouched"
    );
    assert_eq!(written + untouched, 12);
}

#[tokio::test(flavor = "multi_thread")]
async fn shards_split_the_apps_without_overlap() {
    let apps: Vec<TestApp> = (0..9)
        .map(|i| TestApp::new(&format!("shard-app{i}")))
        .collect();
    let world = World::start(apps).await;
    let mut seen = std::collections::BTreeMap::new();
    for index in 0..3 {
        let (code, report, stderr) = world.once(&["--shard", &format!("{index}/3")]);
        assert_eq!(code, 0, "{stderr}");
        // The three shards share each vault's budget: each paces itself to a third of the
        // default shares, floor(300 × 0.8 / 3) writes and floor(4000 × 0.5 / 3) others per 10 s.
        for v in report["vaults"].as_array().unwrap() {
            assert_eq!(v["write_limit_per_10s"], 80, "{v}");
            assert_eq!(v["other_limit_per_10s"], 666, "{v}");
        }
        assert!(!report["vaults"].as_array().unwrap().is_empty());
        for t in report["targets"].as_array().unwrap() {
            assert!(
                seen.insert(t["app"].as_str().unwrap().to_string(), index)
                    .is_none(),
                "an app landed in two shards"
            );
        }
    }
    assert_eq!(seen.len(), 9, "every app landed in a shard");
    // JOB_COMPLETION_INDEX + --shard-count picks the same shard as --shard.
    let config = world.config_path.display().to_string();
    let out = world.run(
        &[
            "once",
            "--config",
            &config,
            "--output",
            "json",
            "--dry-run",
            "--shard-count",
            "3",
        ],
        &[("JOB_COMPLETION_INDEX", "1")],
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let apps: Vec<&str> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["app"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = seen
        .iter()
        .filter(|(_, i)| **i == 1)
        .map(|(a, _)| a.as_str())
        .collect();
    let mut apps_sorted = apps.clone();
    apps_sorted.sort();
    assert_eq!(apps_sorted, expected);
    let out = world.run(&["once", "--config", &config, "--shard-count", "3"], &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a shard count without an index is a setup error"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("JOB_COMPLETION_INDEX"));
}

/// A daemon reads almost nothing twice. Tokens living 20 s come due every 10 s (half their
/// life), so each cycle of a 2 s schedule soon writes again; with the vault listed every cycle
/// (`relist_after = "1s"`) and the client secret unchanged there, it is read once, by the first
/// cycle, however many tokens are written after. A change the listing shows (a new `updated`
/// time) makes the next refresh read it once more.
#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_reads_a_client_secret_again_only_when_the_listing_shows_it_changed() {
    let world = World::start(vec![TestApp::new("sales")]).await;
    world
        .emulator
        .apply_seed(akv_emulator::Seed {
            token_lifetime_secs: Some((20, 20)),
            ..Default::default()
        })
        .unwrap();
    let port = free_port();
    let config = world.config_with(
        "memory.toml",
        &format!(
            "[daemon]\nschedule = \"*/2 * * * * *\"\njitter = \"0s\"\nlisten = \"127.0.0.1:{port}\"\nrelist_after = \"1s\""
        ),
    );
    let _daemon = spawn_daemon(&config, port);
    // Versions of the token secret: the daemon writes other secrets too (its status record).
    let writes = || world.versions(OUTPUT, "sales-powerbi-token").len() as u64;
    let reads = || world.emulator.stats().count_status(INPUT, "SecretGet", 200);
    let wait_for_writes = |n: u64| async move {
        let start = Instant::now();
        while writes() < n {
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "{} writes",
                writes()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };

    wait_for_writes(3).await;
    assert_eq!(
        reads(),
        1,
        "three tokens written, the unchanged client secret read once"
    );
    assert!(
        world.emulator.stats().count(INPUT, "SecretList") >= 3,
        "the vault was listed again in the later cycles"
    );

    // Touch the client secret: its `updated` time changes in the listing.
    world
        .emulator
        .set_secret_enabled(INPUT, &world.apps[0].secret_name(), true);
    let before = writes();
    wait_for_writes(before + 2).await;
    assert_eq!(
        reads(),
        2,
        "read again once after the listing showed a change"
    );
}

/// Between slots the daemon wakes at each token's own refresh moment (a few seconds' worth
/// gathered into one wake), so a token is rewritten soon after it comes due, not at the next
/// slot; and those early refreshes, with nothing failing, neither alert nor write the status
/// record: only slots do. Six tokens living 60 s (`refresh_before = "30s"`: each comes due 30
/// to 45 s after it was written) on a slot every 20 s.
#[tokio::test(flavor = "multi_thread")]
async fn between_slots_tokens_are_refreshed_at_their_own_moments_without_bookkeeping_writes() {
    const LIFETIME: i64 = 60;
    const REFRESH_BEFORE: i64 = 30;
    let names = ["a1", "a2", "a3", "a4", "a5", "a6"];
    let world = World::start(names.iter().map(|n| TestApp::new(n)).collect()).await;
    world
        .emulator
        .apply_seed(akv_emulator::Seed {
            token_lifetime_secs: Some((LIFETIME as u64, LIFETIME as u64)),
            ..Default::default()
        })
        .unwrap();
    let port = free_port();
    let config = world.config_with(
        "early.toml",
        &format!(
            "refresh_before = \"{REFRESH_BEFORE}s\"\n[daemon]\nschedule = \"*/20 * * * * *\"\njitter = \"0s\"\nlisten = \"127.0.0.1:{port}\""
        ),
    );
    let log = world.dir.path().join("early.log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_akv-rotator"))
        .args(["run", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let token = |n: &str| format!("{n}-powerbi-token");
    // Until every token has been written three times (the cold start and two refreshes).
    let start = Instant::now();
    while names
        .iter()
        .any(|n| world.versions(OUTPUT, &token(n)).len() < 3)
    {
        assert!(
            start.elapsed() < Duration::from_secs(150),
            "tokens were not refreshed: {:?}",
            names
                .iter()
                .map(|n| world.versions(OUTPUT, &token(n)).len())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    let count = |needle: &str| {
        text.lines()
            .filter(|l| l.contains("cycle_triggered") && l.contains(needle))
            .count()
    };
    let (slots, early) = (count("Slot"), count("EarlyRefresh"));
    assert!(early > 0, "no early refresh between slots:\n{text}");

    // Each refresh was written within its token's refresh window, [exp − 30 s, exp − 15 s], plus
    // the wake gap (5 s) and a few seconds for the cycle on a loaded machine: never left for the
    // next slot, up to 20 s later.
    let mut late = Vec::new();
    for n in names {
        let versions = world.versions(OUTPUT, &token(n));
        for pair in versions.windows(2) {
            let (previous, next) = (&pair[0], &pair[1]);
            let exp = previous.exp.expect("the token secret has an expiry");
            let due_by = exp - time::Duration::seconds(REFRESH_BEFORE / 2);
            let allowed = due_by + time::Duration::seconds(5 + 4);
            if next.created > allowed {
                late.push(format!(
                    "{n}: written {} s after its window closed",
                    (next.created - due_by).whole_seconds()
                ));
            }
            assert!(
                next.created
                    >= exp - time::Duration::seconds(REFRESH_BEFORE) - time::Duration::seconds(1),
                "{n}: refreshed before its window opened"
            );
        }
    }
    assert!(late.is_empty(), "{late:?}");

    // Only the slots wrote the status record (no target failed); the early refreshes did not.
    let records = world.versions(OUTPUT, "akv-rotator-status").len();
    assert!(
        records <= slots && records < slots + early,
        "{records} status record versions for {slots} slot cycles and {early} early refreshes"
    );
    // The client secrets were read once each, by the first cycle.
    assert_eq!(
        world.emulator.stats().count_status(INPUT, "SecretGet", 200),
        names.len() as u64
    );
}
