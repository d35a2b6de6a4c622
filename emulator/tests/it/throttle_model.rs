//! Key Vault's current throttle model ("Azure Key Vault service limits"): per vault per 10 s,
//! CREATE secret against a write budget (300) and every other transaction against its own
//! budget (4,000), counted apart; a subscription-wide budget across vaults (5x); 429 with
//! Key Vault's `Throttled` body and no `Retry-After`; refusals count against nothing.

use akv_emulator::{PermissionSeed, Seed, VaultSeed, VaultThrottleSeed};
use serde_json::{Value, json};

use crate::helpers::*;

async fn put_secret(
    emu: &akv_emulator::EmulatorHandle,
    http: &reqwest::Client,
    token: &str,
    vault: &str,
    name: &str,
) -> reqwest::Response {
    http.put(format!(
        "{}secrets/{name}?api-version=7.5",
        emu.vault_url(vault).expect("vault")
    ))
    .bearer_auth(token)
    .json(&json!({"value": "v"}))
    .send()
    .await
    .expect("put")
}

fn window_counts(windows: &[akv_emulator::ThrottleWindow]) -> Vec<(u64, u64)> {
    windows.iter().map(|w| (w.accepted, w.rejected)).collect()
}

async fn assert_throttled(resp: reqwest::Response) {
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("retry-after").is_none());
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["error"]["code"], "Throttled");
}

#[tokio::test]
async fn a_full_write_budget_refuses_creates_while_reads_are_still_served() {
    let emu = emulator().await;
    let http = http(&emu);
    let token = vault_token(&emu, &http, WRITER).await;
    emu.set_vault_limits(
        "main",
        Some(VaultThrottleSeed {
            writes: 3,
            others: 1000,
            window_secs: 10,
        }),
    );
    for i in 0..3 {
        let resp = put_secret(&emu, &http, &token, "main", &format!("w{i}")).await;
        assert_eq!(resp.status(), 200);
    }
    assert_throttled(put_secret(&emu, &http, &token, "main", "w3").await).await;
    for _ in 0..4 {
        assert_eq!(vault_get_status(&emu, &http, &token).await, 200);
    }
    assert_throttled(put_secret(&emu, &http, &token, "main", "w4").await).await;
    let stats = emu.stats();
    assert_eq!(window_counts(&stats.write_windows["main"]), vec![(3, 2)]);
    assert_eq!(window_counts(&stats.throttle_windows["main"]), vec![(4, 0)]);
    assert_eq!(stats.count_status("main", "SecretSet", 429), 2);
    assert_eq!(stats.count_status("main", "SecretGet", 200), 4);
}

#[tokio::test]
async fn with_azure_default_limits_the_301st_create_in_a_window_is_refused() {
    let emu = emulator().await;
    let http = http(&emu);
    let token = vault_token(&emu, &http, WRITER).await;
    emu.set_vault_limits("main", Some(VaultThrottleSeed::default()));
    assert_eq!(
        VaultThrottleSeed::default(),
        VaultThrottleSeed {
            writes: 300,
            others: 4000,
            window_secs: 10
        }
    );
    let started = std::time::Instant::now();
    for i in 0..300 {
        let resp = put_secret(&emu, &http, &token, "main", &format!("s{}", i % 7)).await;
        assert_eq!(resp.status(), 200, "create {i}");
    }
    assert_throttled(put_secret(&emu, &http, &token, "main", "s301").await).await;
    assert_eq!(vault_get_status(&emu, &http, &token).await, 200);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "test machine too slow: the 301 creates spanned more than one window"
    );
    let stats = emu.stats();
    assert_eq!(window_counts(&stats.write_windows["main"]), vec![(300, 1)]);
    assert_eq!(window_counts(&stats.throttle_windows["main"]), vec![(1, 0)]);
}

#[tokio::test]
async fn the_subscription_budget_counts_creates_across_vaults() {
    let emu = emulator().await;
    let http = http(&emu);
    let token = vault_token(&emu, &http, WRITER).await;
    emu.apply_seed(Seed {
        vaults: vec![VaultSeed {
            name: "second".to_string(),
            tenant_id: TENANT.to_string(),
            permissions: vec![PermissionSeed {
                principal: WRITER.to_string(),
                read: true,
                write: true,
                secrets: None,
            }],
            secrets: vec![],
        }],
        ..Seed::default()
    })
    .expect("seed");
    assert_eq!(
        VaultThrottleSeed::subscription(),
        VaultThrottleSeed {
            writes: 1500,
            others: 20000,
            window_secs: 10
        }
    );
    emu.set_subscription_limits(Some(VaultThrottleSeed {
        writes: 2,
        ..VaultThrottleSeed::subscription()
    }));
    assert_eq!(
        put_secret(&emu, &http, &token, "main", "a").await.status(),
        200
    );
    assert_eq!(
        put_secret(&emu, &http, &token, "second", "b")
            .await
            .status(),
        200
    );
    assert_throttled(put_secret(&emu, &http, &token, "second", "c").await).await;
    assert_throttled(put_secret(&emu, &http, &token, "main", "d").await).await;
    assert_eq!(vault_get_status(&emu, &http, &token).await, 200);
    let stats = emu.stats();
    assert_eq!(
        window_counts(&stats.write_windows["subscription"]),
        vec![(2, 2)]
    );
    assert_eq!(
        window_counts(&stats.throttle_windows["subscription"]),
        vec![(1, 0)]
    );
    emu.set_subscription_limits(None);
    assert_eq!(
        put_secret(&emu, &http, &token, "main", "e").await.status(),
        200
    );
}

#[tokio::test]
async fn limits_are_set_through_the_admin_api_and_shown_apart_in_its_stats() {
    let emu = emulator().await;
    let http = http(&emu);
    let token = vault_token(&emu, &http, WRITER).await;
    let admin = format!("{}/_emulator/throttle", emu.authority_host());
    admin_post(
        &emu,
        &http,
        "throttle",
        json!({"service": "main", "limits": {"writes": 1}}),
        200,
    )
    .await;
    let both = json!({"service": "main", "limits": {"writes": 1},
                      "throttle": {"requests": 5, "window_secs": 10}});
    let resp = http.post(&admin).json(&both).send().await.expect("admin");
    assert_eq!(resp.status(), 400);
    assert_eq!(
        put_secret(&emu, &http, &token, "main", "a").await.status(),
        200
    );
    assert_throttled(put_secret(&emu, &http, &token, "main", "b").await).await;
    assert_eq!(vault_get_status(&emu, &http, &token).await, 200);
    let stats: Value = get_json(
        &http,
        &format!("{}/_emulator/stats", emu.authority_host()),
        "stats",
    )
    .await;
    let writes = &stats["write_windows"]["main"][0];
    assert_eq!(
        (writes["accepted"].as_u64(), writes["rejected"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(writes["window_secs"], 10);
    let others = &stats["throttle_windows"]["main"][0];
    assert_eq!(
        (others["accepted"].as_u64(), others["rejected"].as_u64()),
        (Some(1), Some(0))
    );
    admin_post(
        &emu,
        &http,
        "throttle",
        json!({"service": "subscription", "limits": {}}),
        200,
    )
    .await;
    admin_post(
        &emu,
        &http,
        "throttle",
        json!({"service": "subscription", "throttle": {"requests": 1, "window_secs": 1}}),
        400,
    )
    .await;
}

#[test]
fn a_seed_file_sets_vault_limits_inline_with_azure_defaults_for_what_it_omits() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("seed.toml");
    std::fs::write(
        &path,
        r#"
[[vaults]]
name = "out"
tenant_id = "t"
limits = { writes = 2 }

[subscription_limits]
writes = 10
"#,
    )
    .expect("write");
    let seed = Seed::from_file(&path).expect("seed");
    let limits = seed.vault_policies[0].limits.expect("limits");
    assert_eq!(
        (limits.writes, limits.others, limits.window_secs),
        (2, 4000, 10)
    );
    let sub = seed.subscription_limits.expect("subscription");
    assert_eq!((sub.writes, sub.others), (10, 4000));
    std::fs::write(
        &path,
        "[[vaults]]\nname = \"out\"\ntenant_id = \"t\"\nlimits = {}\nthrottle = {}\n",
    )
    .expect("write");
    let err = Seed::from_file(&path).expect_err("both");
    assert!(format!("{err:#}").contains("not both"), "{err:#}");
}
