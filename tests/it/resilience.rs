//! Resilience of the real binary against the emulator's faults: transient failures are retried
//! (with backoff, honouring `Retry-After`), broken responses end in a clear error class with
//! nothing written, and no fault makes the rotator panic.

use std::time::{Duration, Instant};

use crate::common::*;
use akv_emulator::{FaultKind, FaultRule};

/// `TestApp::new` can give two apps of one world the same client id (it keeps none of its
/// counter's changing digits), and the emulator then merges them: number them instead.
fn with_distinct_client_ids(mut apps: Vec<TestApp>) -> Vec<TestApp> {
    for (i, app) in apps.iter_mut().enumerate() {
        app.client_id = format!("{}-{:012x}", &app.client_id[..23], i + 1);
    }
    apps
}

/// The rotator's own credential asks the same token endpoint first (at the first vault call,
/// before any app token): this rule lets that one request through untouched, so the rules after
/// it hit only the apps' token requests. The first rule that hits a request wins.
fn spare_the_rotators_own_token() -> FaultRule {
    fault_rule("login", "TokenV2", FaultKind::Latency { ms: 0 }, Some(1))
}

fn apps(n: usize) -> Vec<TestApp> {
    with_distinct_client_ids((0..n).map(|i| TestApp::new(&format!("app{i}"))).collect())
}

fn assert_all_written(world: &World, report: &serde_json::Value) {
    for app in &world.apps {
        let secret = &app.targets[0].1;
        assert_eq!(target(report, secret)["outcome"], "written", "{report:#}");
        assert_eq!(world.versions(OUTPUT, secret).len(), 1);
    }
}

/// One `once` that must exit 0 with every token written: how long it took, and its stderr.
fn timed_run_writing_all(world: &World) -> (Duration, String) {
    let started = Instant::now();
    let (code, report, stderr) = world.once(&[]);
    let took = started.elapsed();
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    assert_all_written(world, &report);
    (took, stderr)
}

fn failed_classes(report: &serde_json::Value) -> Vec<String> {
    report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["error"]["class"].as_str().unwrap_or("-").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_503s_on_secret_reads_and_token_requests_are_retried_and_every_token_written() {
    let world = World::start(apps(3)).await;
    world.emulator.set_faults(vec![
        fault_rule(INPUT, "SecretGet", FaultKind::Status { code: 503 }, Some(2)),
        fault_rule("login", "TokenV2", FaultKind::Status { code: 503 }, Some(2)),
    ]);
    let (_, stderr) = timed_run_writing_all(&world);
    let stats = world.emulator.stats();
    assert_eq!(stats.count_status(INPUT, "SecretGet", 503), 2);
    assert_eq!(stats.count_status("login", "TokenV2", 503), 2);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_vault_429_without_retry_after_is_retried_after_an_exponential_backoff() {
    let world = World::start(apps(1)).await;
    // Two 429s on the write, no Retry-After (as Key Vault sends them): waits ≈ 1 s then ≈ 2 s.
    world.emulator.set_faults(vec![fault_rule(
        OUTPUT,
        "SecretSet",
        FaultKind::TooManyRequests {
            retry_after_secs: None,
        },
        Some(2),
    )]);
    let (took, _) = timed_run_writing_all(&world);
    assert_eq!(
        world
            .emulator
            .stats()
            .count_status(OUTPUT, "SecretSet", 429),
        2
    );
    assert!(
        took >= Duration::from_secs(3),
        "1 s + 2 s of backoff expected, the run took {took:?}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_entra_429_with_retry_after_is_honoured() {
    let world = World::start(apps(1)).await;
    world.emulator.set_faults(vec![
        spare_the_rotators_own_token(),
        fault_rule(
            "login",
            "TokenV2",
            FaultKind::TooManyRequests {
                retry_after_secs: Some(3),
            },
            Some(1),
        ),
    ]);
    let (took, _) = timed_run_writing_all(&world);
    assert_eq!(
        world.emulator.stats().count_status("login", "TokenV2", 429),
        1
    );
    assert!(
        took >= Duration::from_secs(3),
        "Retry-After: 3 ignored ({took:?})"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_reset_is_a_transient_error_that_is_retried() {
    let world = World::start(apps(2)).await;
    world.emulator.set_faults(vec![
        spare_the_rotators_own_token(),
        fault_rule(INPUT, "SecretGet", FaultKind::ConnectionReset, Some(1)),
        fault_rule("login", "TokenV2", FaultKind::ConnectionReset, Some(1)),
        fault_rule(OUTPUT, "SecretSet", FaultKind::ConnectionReset, Some(1)),
    ]);
    timed_run_writing_all(&world);
    let stats = world.emulator.stats();
    assert_eq!(stats.count_status(INPUT, "SecretGet", 0), 1);
    assert_eq!(stats.count_status("login", "TokenV2", 0), 1);
    // A reset write may or may not have been stored before the cut: at most one extra version.
    assert_eq!(stats.count_status(OUTPUT, "SecretSet", 0), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_entra_connection_that_keeps_resetting_ends_as_transient_after_bounded_retries() {
    let world = World::start(apps(1)).await;
    world.emulator.set_faults(vec![
        spare_the_rotators_own_token(),
        fault_rule("login", "TokenV2", FaultKind::ConnectionReset, None),
    ]);
    let started = Instant::now();
    let (code, report, stderr) = world.once(&[]);
    assert_eq!(code, 1, "{stderr}\n{report:#}");
    assert_eq!(failed_classes(&report), ["transient"]);
    assert!(
        world
            .versions(OUTPUT, &world.apps[0].targets[0].1)
            .is_empty()
    );
    // One attempt and three retries.
    assert_eq!(
        world.emulator.stats().count_status("login", "TokenV2", 0),
        4
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// Broken bodies from Key Vault (the client-secret read) and from Entra ID (the app's token):
/// each ends as `malformed_response` for every target, nothing is written, exit code 1.
#[tokio::test(flavor = "multi_thread")]
async fn malformed_truncated_and_oversized_bodies_are_malformed_responses_and_nothing_is_written() {
    let cases: Vec<(&str, Vec<FaultRule>)> = vec![
        (
            "Key Vault malformed JSON",
            vec![fault_rule(
                INPUT,
                "SecretGet",
                FaultKind::MalformedJson,
                None,
            )],
        ),
        (
            "Key Vault truncated JSON",
            vec![fault_rule(
                INPUT,
                "SecretGet",
                FaultKind::TruncatedJson,
                None,
            )],
        ),
        (
            "Key Vault oversized body (2 MiB)",
            vec![fault_rule(
                INPUT,
                "SecretGet",
                FaultKind::OversizedBody { bytes: 2 << 20 },
                None,
            )],
        ),
        (
            "Entra malformed JSON",
            vec![
                spare_the_rotators_own_token(),
                fault_rule("login", "TokenV2", FaultKind::MalformedJson, None),
            ],
        ),
        (
            "Entra truncated JSON",
            vec![
                spare_the_rotators_own_token(),
                fault_rule("login", "TokenV2", FaultKind::TruncatedJson, None),
            ],
        ),
        (
            "Entra oversized body (512 KiB)",
            vec![
                spare_the_rotators_own_token(),
                fault_rule(
                    "login",
                    "TokenV2",
                    FaultKind::OversizedBody { bytes: 512 << 10 },
                    None,
                ),
            ],
        ),
    ];
    let world = World::start(apps(2)).await;
    for (name, rules) in cases {
        world.emulator.set_faults(rules);
        let (code, report, stderr) = world.once(&[]);
        assert_eq!(code, 1, "{name}: {stderr}\n{report:#}");
        assert_eq!(
            failed_classes(&report),
            ["malformed_response", "malformed_response"],
            "{name}: {report:#}"
        );
        for app in &world.apps {
            assert!(
                world.versions(OUTPUT, &app.targets[0].1).is_empty(),
                "{name}: a token was written"
            );
        }
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        world.emulator.clear_faults();
    }
}

fn with_config_prefix(world: &World, file: &str, prefix: &str) -> String {
    let path = world.dir.path().join(file);
    std::fs::write(&path, format!("{prefix}\n{}", world.config_text())).unwrap();
    path.display().to_string()
}

fn once_with(world: &World, config: &str) -> (i32, serde_json::Value, String) {
    let out = world.run(&["once", "--config", config, "--output", "json"], &[]);
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// An Entra ID 429 pauses that tenant's token requests for its `Retry-After`: a request for
/// another app of the same tenant, made while the pause is in force, waits it out although its
/// own request is never refused; another tenant is not paused.
#[tokio::test(flavor = "multi_thread")]
async fn an_entra_429_pauses_token_requests_to_that_tenant_only() {
    use akv_rotator::config::{Cloud, CloudName};
    use akv_rotator::net::retry::{AdaptiveConfig, AdaptiveLimits};
    use secrecy::SecretString;

    let world = World::start(apps(2)).await;
    world.emulator.set_faults(vec![fault_rule(
        "login",
        "TokenV2",
        FaultKind::TooManyRequests {
            retry_after_secs: Some(2),
        },
        Some(1),
    )]);
    let cloud = Cloud {
        name: CloudName::Custom,
        authority_host: url::Url::parse(&world.emulator.authority_host()).unwrap(),
        vault_suffix: None,
        powerbi_api: None,
    };
    let http = akv_rotator::net::http::build_client(Some(world.emulator.ca_cert_path())).unwrap();
    let limits = AdaptiveLimits::new(AdaptiveConfig::for_concurrency(4));
    let entra = std::sync::Arc::new(
        akv_rotator::azure::entra::EntraClient::new(
            http,
            cloud,
            std::sync::Arc::new(akv_rotator::telemetry::metrics::Metrics::new()),
        )
        .with_tenant_limits(limits.clone()),
    );
    let scope = format!("{POWERBI}/.default");
    let (a, b) = (&world.apps[0], &world.apps[1]);

    let started = Instant::now();
    let first = {
        let (entra, id, secret, scope) = (
            entra.clone(),
            a.client_id.clone(),
            SecretString::from(a.secret_value.clone()),
            scope.clone(),
        );
        tokio::spawn(async move { entra.acquire(TENANT, &id, &secret, &scope).await })
    };
    // The emulator counts the 429 before the client has read it: wait for the client's side.
    while !limits.get(TENANT).paused() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the tenant was never paused; 429s answered: {}",
            world.emulator.stats().count_status("login", "TokenV2", 429)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!limits.get(OTHER_TENANT).paused());
    let second = entra
        .acquire(
            TENANT,
            &b.client_id,
            &SecretString::from(b.secret_value.clone()),
            &scope,
        )
        .await;
    assert!(second.is_ok(), "{:?}", second.err());
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the second request did not wait for the tenant's Retry-After: {:?}",
        started.elapsed()
    );
    assert!(first.await.unwrap().is_ok());
    let stats = world.emulator.stats();
    assert_eq!(stats.count_status("login", "TokenV2", 429), 1);
    assert_eq!(stats.count_status("login", "TokenV2", 200), 2);
}

/// A vault that throttles (6 transactions per 2 s window, 429 without Retry-After) is paced:
/// after a 429 the vault's limit halves and no new call starts for a second, so the refusals
/// per window stay few, and every token is still written.
#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_vault_is_paced_rather_than_hammered_and_nothing_is_lost() {
    let world = World::start(apps(16)).await;
    world.emulator.set_vault_throttle(
        OUTPUT,
        Some(akv_emulator::ThrottleSeed {
            requests: 6,
            window_secs: 2,
        }),
    );
    world.emulator.reset_stats();
    let config = with_config_prefix(&world, "eight.toml", "concurrency = 8");
    let (code, report, stderr) = once_with(&world, &config);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    assert_all_written(&world, &report);
    let mut windows = world.emulator.stats().throttle_windows[OUTPUT].clone();
    // After the cycle, the run reads and writes its status record (two transactions, retried on
    // their own backoff when the last window is full): not part of the cycle's pacing.
    if windows
        .last()
        .is_some_and(|w| w.accepted <= 2 && w.rejected == 0)
    {
        windows.pop();
    }
    assert!(
        windows.len() >= 3,
        "17 transactions need 3 windows: {windows:?}"
    );
    assert!(windows.iter().all(|w| w.accepted <= 6), "{windows:?}");
    // Unpaced (every call retrying on its own backoff) this run sees about 30 refusals and
    // seconds of idle time between windows; paced, the calls in flight when the window fills,
    // a few probes, and a new window opened within about a second of the old one closing.
    let refused: u64 = windows.iter().map(|w| w.rejected).sum();
    assert!(refused <= 3 * 8, "{refused} refusals: {windows:?}");
    let idle_ms: u64 = windows
        .windows(2)
        .map(|p| (p[1].start_ms - p[0].start_ms).saturating_sub(2000))
        .sum();
    assert!(idle_ms <= 2000, "{idle_ms} ms between windows: {windows:?}");
}

/// `cycle_deadline`: token requests take 4 s each, one at a time, against a 10 s deadline. Apps
/// not finished by then (and not started before it) end as `deadline_exceeded` with nothing
/// written for them and their stored state untouched; the report says so; exit code 1.
#[tokio::test(flavor = "multi_thread")]
async fn the_cycle_deadline_stops_new_work_and_abandons_what_overruns_it() {
    let world = World::start(apps(6)).await;
    world.emulator.set_faults(vec![
        spare_the_rotators_own_token(),
        fault_rule("login", "TokenV2", FaultKind::Latency { ms: 4000 }, None),
    ]);
    let config = with_config_prefix(
        &world,
        "deadline.toml",
        "concurrency = 1\ncycle_deadline = \"10s\"",
    );
    let (code, report, stderr) = once_with(&world, &config);
    assert_eq!(code, 1, "{stderr}\n{report:#}");
    let mut written = 0;
    let mut overdue = 0;
    for app in &world.apps {
        let secret = &app.targets[0].1;
        let t = target(&report, secret);
        match t["outcome"].as_str() {
            Some("written") => {
                written += 1;
                assert_eq!(world.versions(OUTPUT, secret).len(), 1);
            }
            Some("failed") => {
                overdue += 1;
                assert_eq!(t["error"]["class"], "deadline_exceeded", "{t:#}");
                let message = t["error"]["message"].as_str().unwrap();
                assert!(
                    message.contains("cycle_deadline of 10 seconds"),
                    "{message}"
                );
                assert!(world.versions(OUTPUT, secret).is_empty(), "{secret}");
            }
            other => panic!("unexpected outcome {other:?}: {t:#}"),
        }
    }
    assert_eq!(written + overdue, 6);
    assert!(
        overdue >= 3,
        "six 4 s token requests in series cannot fit in 10 s + 1 s"
    );
    let notes = report["notes"].to_string();
    assert!(
        notes.contains(&format!("{overdue} targets were not refreshed")),
        "{notes}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// An app waiting out a retry's backoff gives its working slot to the next app: with
/// `concurrency = 1`, app0's client secret (in another vault) answers 503 three times, 7 to
/// 10.5 s of backoff, and app1, after it in the config, is written meanwhile instead of after it.
#[tokio::test(flavor = "multi_thread")]
async fn an_app_waiting_out_a_backoff_does_not_hold_up_the_next() {
    let world = World::start(apps(2)).await;
    let (slow, quick) = (&world.apps[0], &world.apps[1]);
    world.put_secret(
        READONLY,
        &slow.secret_name(),
        &slow.secret_value,
        Some(slow.secret_end),
    );
    world.emulator.set_faults(vec![fault_rule(
        READONLY,
        "SecretGet",
        FaultKind::Status { code: 503 },
        Some(3),
    )]);
    let from = format!(
        "client_secret_name = \"{}\"\nvault = \"{}\"",
        slow.secret_name(),
        world.vault(INPUT)
    );
    let text = world.config_text();
    assert!(text.contains(&from), "config_text changed shape: {text}");
    let text = text.replacen(
        &from,
        &from.replace(&world.vault(INPUT), &world.vault(READONLY)),
        1,
    );
    let path = world.dir.path().join("one-slot.toml");
    std::fs::write(&path, format!("concurrency = 1\n{text}")).unwrap();
    let (code, report, stderr) = once_with(&world, &path.display().to_string());
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    assert_all_written(&world, &report);
    assert_eq!(
        world
            .emulator
            .stats()
            .count_status(READONLY, "SecretGet", 503),
        3,
        "the slow app's read was retried"
    );
    let created = |app: &TestApp| world.versions(OUTPUT, &app.targets[0].1)[0].created;
    assert!(
        created(quick) + time::Duration::seconds(3) < created(slow),
        "app1 was written at {}, app0 after its backoff at {}: app1 waited for app0's slot",
        created(quick),
        created(slow)
    );
}
