//! Fault rules (handle, admin API, seed) and the Key Vault / Entra ID throttles.

use std::time::{Duration, Instant};

use crate::helpers::*;
use akv_emulator::{FaultKind, FaultRule, Seed, ThrottleSeed, VaultPolicySeed};
use serde_json::{Value, json};

fn rule(service: &str, operation: Option<&str>, kind: FaultKind) -> FaultRule {
    FaultRule {
        service: service.to_string(),
        operation: operation.map(str::to_string),
        kind,
        probability: 1.0,
        count: None,
    }
}

#[tokio::test]
async fn status_fault_for_the_next_n_requests() {
    let emu = emulator().await;
    let http = http(&emu);
    let token = vault_token(&emu, &http, WRITER).await;
    emu.set_faults(vec![FaultRule {
        count: Some(2),
        ..rule("main", Some("SecretGet"), FaultKind::Status { code: 503 })
    }]);
    assert_eq!(emu.faults().len(), 1);
    for _ in 0..2 {
        let resp = vault_get(&emu, &http, &token).await;
        assert_eq!(resp.status(), 503);
        let v: Value = resp.json().await.expect("json");
        assert!(v["error"]["code"].is_string());
    }
    assert_eq!(vault_get_status(&emu, &http, &token).await, 200);
    assert!(emu.faults().is_empty(), "rule retired after its count");
    assert_eq!(emu.stats().count_status("main", "SecretGet", 503), 2);
}

#[tokio::test]
async fn too_many_requests_on_login_and_probability_zero() {
    let emu = emulator().await;
    let http = http(&emu);
    emu.set_faults(vec![
        FaultRule {
            probability: 0.0,
            ..rule("*", None, FaultKind::Status { code: 500 })
        },
        rule(
            "login",
            Some("TokenV2"),
            FaultKind::TooManyRequests {
                retry_after_secs: Some(7),
            },
        ),
    ]);
    let resp = raw_vault_token_request(&emu, &http, WRITER).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["error_codes"][0], 50196);
    // JWKS is another operation: untouched (the 500 rule has probability 0).
    let resp = get(
        &http,
        &format!("{}/{TENANT}/discovery/v2.0/keys", emu.authority_host()),
        "jwks",
    )
    .await;
    assert_eq!(resp.status(), 200);
    emu.clear_faults();
    assert_eq!(
        vault_get_status(&emu, &http, &vault_token(&emu, &http, WRITER).await).await,
        200
    );
}

#[tokio::test]
async fn latency_and_body_faults() {
    let emu = emulator().await;
    let http = http(&emu);
    let token = vault_token(&emu, &http, WRITER).await;

    emu.set_faults(vec![rule("main", None, FaultKind::Latency { ms: 400 })]);
    let t = Instant::now();
    assert_eq!(vault_get(&emu, &http, &token).await.status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(400));

    emu.set_faults(vec![rule("main", None, FaultKind::MalformedJson)]);
    let resp = vault_get(&emu, &http, &token).await;
    assert_eq!(resp.status(), 200);
    assert!(serde_json::from_slice::<Value>(&resp.bytes().await.expect("body")).is_err());

    emu.set_faults(vec![rule("main", None, FaultKind::TruncatedJson)]);
    let body = vault_get(&emu, &http, &token)
        .await
        .bytes()
        .await
        .expect("body");
    assert!(!body.is_empty());
    assert!(serde_json::from_slice::<Value>(&body).is_err());

    emu.set_faults(vec![rule(
        "main",
        None,
        FaultKind::OversizedBody { bytes: 200_000 },
    )]);
    let body = vault_get(&emu, &http, &token)
        .await
        .bytes()
        .await
        .expect("body");
    assert!(body.len() >= 200_000);
    let v: Value = serde_json::from_slice(&body).expect("still JSON");
    assert_eq!(v["value"], "o");

    emu.set_faults(vec![rule(
        "main",
        None,
        FaultKind::SlowBody {
            bytes_per_sec: 1000,
        },
    )]);
    let t = Instant::now();
    let body = vault_get(&emu, &http, &token)
        .await
        .bytes()
        .await
        .expect("body");
    let expected = Duration::from_secs_f64(body.len() as f64 / 1000.0 * 0.8);
    assert!(t.elapsed() >= expected, "{:?} < {expected:?}", t.elapsed());
    serde_json::from_slice::<Value>(&body).expect("complete JSON");
}

#[tokio::test]
async fn connection_reset_fails_the_request() {
    let emu = emulator().await;
    let http = http(&emu);
    emu.set_faults(vec![FaultRule {
        count: Some(1),
        ..rule("powerbi", None, FaultKind::ConnectionReset)
    }]);
    let url = format!("{}/v1.0/myorg/groups", emu.powerbi_url());
    let outcome = match http.get(&url).send().await {
        Ok(resp) => resp.bytes().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(outcome.is_err(), "the request must fail");
    assert_eq!(emu.stats().count_status("powerbi", "GroupsList", 0), 1);
    // Next request is served (403: no token).
    assert_eq!(http.get(&url).send().await.expect("get").status(), 403);
}

#[tokio::test]
async fn faults_admin_api_and_seed() {
    let emu = emulator().await;
    let http = http(&emu);
    let admin = format!("{}/_emulator/faults", emu.authority_host());
    admin_post(
        &emu,
        &http,
        "faults",
        json!([{"service": "graph", "kind": {"type": "status", "code": 502}, "count": 1}]),
        200,
    )
    .await;
    let listed: Value = get_json(&http, &admin, "list").await;
    assert_eq!(listed[0]["kind"]["type"], "status");
    let resp = get(
        &http,
        &format!("{}/v1.0/applications(appId='{WRITER}')", emu.graph_url()),
        "graph",
    )
    .await;
    assert_eq!(resp.status(), 502);
    let v: Value = resp.json().await.expect("json");
    assert!(v["error"]["innerError"]["request-id"].is_string());

    // Seeded rules replace the active ones.
    emu.apply_seed(Seed {
        faults: vec![rule("main", None, FaultKind::Status { code: 500 })],
        ..Seed::default()
    })
    .expect("seed");
    let token = vault_token(&emu, &http, WRITER).await;
    assert_eq!(vault_get_status(&emu, &http, &token).await, 500);
    let resp = http.delete(&admin).send().await.expect("clear");
    assert_eq!(resp.status(), 200);
    assert_eq!(vault_get_status(&emu, &http, &token).await, 200);
}

#[tokio::test]
async fn vault_throttle_rejects_without_retry_after_and_rejections_do_not_count() {
    let emu = emulator().await;
    let http = http(&emu);
    let token = vault_token(&emu, &http, WRITER).await;
    emu.apply_seed(Seed {
        vault_policies: vec![VaultPolicySeed {
            vault: "main".to_string(),
            throttle: Some(ThrottleSeed {
                requests: 3,
                window_secs: 2,
            }),
            limits: None,
        }],
        ..Seed::default()
    })
    .expect("seed");
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(vault_get_status(&emu, &http, &token).await, 200);
    }
    for _ in 0..5 {
        let resp = vault_get(&emu, &http, &token).await;
        assert_eq!(resp.status(), 429);
        assert!(resp.headers().get("retry-after").is_none());
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["error"]["code"], "Throttled");
        assert_eq!(
            v["error"]["message"],
            "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "test machine too slow"
    );
    tokio::time::sleep(
        Duration::from_secs(2).saturating_sub(started.elapsed()) + Duration::from_millis(100),
    )
    .await;
    // A new window: the 5 rejections did not use up its budget.
    for _ in 0..3 {
        assert_eq!(vault_get_status(&emu, &http, &token).await, 200);
    }
    let stats = emu.stats();
    assert_eq!(stats.count_status("main", "SecretGet", 429), 5);
    assert_eq!(stats.count_status("main", "SecretGet", 200), 6);
    // The windows as the stats report them: one closed (3 in, 5 refused), one open (3 in).
    let windows = &stats.throttle_windows["main"];
    assert_eq!(
        windows
            .iter()
            .map(|w| (w.accepted, w.rejected, w.window_secs))
            .collect::<Vec<_>>(),
        vec![(3, 5, 2), (3, 0, 2)]
    );
    assert!(
        windows[1].start_ms - windows[0].start_ms >= 2000,
        "{windows:?}"
    );
    emu.reset_stats();
    assert_eq!(emu.stats().throttle_windows["main"], vec![]);
    emu.set_vault_throttle("main", None);
    for _ in 0..5 {
        assert_eq!(vault_get_status(&emu, &http, &token).await, 200);
    }
}

#[tokio::test]
async fn entra_throttle_answers_429_with_retry_after_60() {
    let emu = emulator().await;
    let http = http(&emu);
    admin_post(
        &emu,
        &http,
        "throttle",
        json!({"service": "login", "throttle": {"requests": 2, "window_secs": 60}}),
        200,
    )
    .await;
    vault_token(&emu, &http, WRITER).await;
    vault_token(&emu, &http, READER).await;
    let resp = raw_vault_token_request(&emu, &http, WRITER).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "60");
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["error_codes"][0], 50196);
    assert!(
        v["error_description"]
            .as_str()
            .expect("d")
            .starts_with("AADSTS50196:")
    );
    assert_eq!(emu.stats().count_status("login", "TokenV2", 429), 1);
    emu.set_entra_throttle(None);
    vault_token(&emu, &http, WRITER).await;
}
