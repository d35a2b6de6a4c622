//! Power BI probe: `GET /v1.0/myorg/groups` accepts emulator-signed Power BI tokens and
//! rejects everything else the way the real service does.

use crate::helpers::*;
use akv_emulator::{TenantPolicySeed, TokenFault};
use serde_json::Value;

const POWERBI_SCOPE: &str = "https://analysis.windows.net/powerbi/api/.default";

async fn probe(
    emu: &akv_emulator::EmulatorHandle,
    http: &reqwest::Client,
    token: Option<&str>,
) -> (u16, String) {
    let mut req = http.get(format!("{}/v1.0/myorg/groups?$top=1", emu.powerbi_url()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("probe");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

fn assert_not_authorized(status: u16, body: &str) {
    assert_eq!(status, 401, "{body}");
    let v: Value = serde_json::from_str(body).expect("json");
    assert_eq!(v["error"]["code"], "PowerBINotAuthorizedException");
    assert_eq!(
        v["error"]["pbi.error"]["code"],
        "PowerBINotAuthorizedException"
    );
    assert_eq!(v["error"]["pbi.error"]["exceptionCulprit"], 1);
    assert!(
        v["error"]["pbi.error"]["details"]
            .as_array()
            .expect("details")
            .is_empty()
    );
}

#[tokio::test]
async fn valid_token_lists_groups_and_is_counted() {
    let emu = emulator().await;
    let http = http(&emu);
    assert!(emu.powerbi_url().starts_with("https://localhost:"));
    let token = token_for(&emu, &http, WRITER, POWERBI_SCOPE).await;
    let (status, body) = probe(&emu, &http, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert!(
        v["@odata.context"]
            .as_str()
            .expect("context")
            .ends_with("/v1.0/myorg/$metadata#groups")
    );
    assert_eq!(v["value"], serde_json::json!([]));
    assert_eq!(emu.stats().count_status("powerbi", "GroupsList", 200), 1);
    assert_eq!(emu.info()["powerbi_url"], emu.powerbi_url());
}

#[tokio::test]
async fn missing_token_is_forbidden() {
    let emu = emulator().await;
    let http = http(&emu);
    let (status, _) = probe(&emu, &http, None).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn wrong_audience_and_broken_tokens_are_not_authorized() {
    let emu = emulator().await;
    let http = http(&emu);
    let vault_token = token_for(&emu, &http, WRITER, "https://vault.azure.net/.default").await;
    let (status, body) = probe(&emu, &http, Some(&vault_token)).await;
    assert_not_authorized(status, &body);
    for fault in [
        TokenFault::BadSignature,
        TokenFault::Expired,
        TokenFault::NotYetValid,
        TokenFault::UnknownKid,
        TokenFault::AlgNone,
        TokenFault::WrongIssuer,
    ] {
        emu.set_token_fault(WRITER, Some(fault));
        let token = token_for(&emu, &http, WRITER, POWERBI_SCOPE).await;
        let (status, body) = probe(&emu, &http, Some(&token)).await;
        assert_not_authorized(status, &body);
    }
    let (status, body) = probe(&emu, &http, Some("not-a-jwt")).await;
    assert_not_authorized(status, &body);
    assert_eq!(emu.stats().count_status("powerbi", "GroupsList", 401), 8);
}

#[tokio::test]
async fn tenant_switch_blocks_service_principals() {
    let emu = emulator().await;
    let http = http(&emu);
    let token = token_for(&emu, &http, WRITER, POWERBI_SCOPE).await;
    emu.apply_seed(akv_emulator::Seed {
        tenant_policies: vec![TenantPolicySeed {
            tenant_id: TENANT.to_string(),
            powerbi_service_principals_enabled: false,
            ..Default::default()
        }],
        ..Default::default()
    })
    .expect("seed");
    let (status, body) = probe(&emu, &http, Some(&token)).await;
    assert_not_authorized(status, &body);
}

#[tokio::test]
async fn a_token_just_past_exp_passes_within_the_clock_skew_and_fails_without_it() {
    let emu = emulator().await;
    let http = http(&emu);
    emu.apply_seed(akv_emulator::Seed {
        token_lifetime_secs: Some((1, 1)),
        ..Default::default()
    })
    .expect("seed");
    let token = token_for(&emu, &http, WRITER, POWERBI_SCOPE).await;
    // Past the token's one second of life: expired, but within the default 60 s of skew.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, body) = probe(&emu, &http, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    emu.apply_seed(akv_emulator::Seed {
        token_clock_skew_secs: Some(0),
        ..Default::default()
    })
    .expect("seed");
    let (status, body) = probe(&emu, &http, Some(&token)).await;
    assert_not_authorized(status, &body);
}

/// `vault_token_lifetime_secs` gives tokens for Key Vault their own lifetime: a bench's apps
/// get 2-minute tokens while the token its client holds for Key Vault lives an hour.
#[tokio::test]
async fn key_vault_tokens_may_live_longer_than_the_apps_tokens() {
    let emu = emulator().await;
    let http = http(&emu);
    emu.apply_seed(akv_emulator::Seed {
        token_lifetime_secs: Some((120, 120)),
        vault_token_lifetime_secs: Some((3600, 3600)),
        ..Default::default()
    })
    .expect("seed");
    let life = |token: &str| {
        let claims = jwt_part(token, 1);
        claims["exp"].as_i64().expect("exp") - claims["nbf"].as_i64().expect("nbf") - 300
    };
    let powerbi = token_for(&emu, &http, WRITER, POWERBI_SCOPE).await;
    let vault = token_for(&emu, &http, WRITER, "https://vault.azure.net/.default").await;
    assert_eq!(life(&powerbi), 120);
    assert_eq!(life(&vault), 3600);
}
