//! Conformance with Lowkey Vault, an independent Key Vault emulator nobody here wrote: a full
//! cycle of the real binary with Lowkey Vault as the Key Vault and the project's emulator as
//! Entra ID. Ignored by default; `.ci/lowkey` starts Lowkey Vault and runs it with
//! `LOWKEY_VAULT_URL` (e.g. `https://localhost:8443`) and `LOWKEY_CA_PEM` (its certificate as
//! PEM) set.

use std::collections::BTreeMap;

use crate::common::{
    POWERBI, ROTATOR, TENANT, days, json_of, jwt_claims, once_command, once_result,
};
use akv_emulator::{AppSeed, ClientSecretSeed, EmulatorOptions, ResourceSeed, Seed, TenantSeed};
use time::OffsetDateTime;

const APP: &str = "6a1c3e5f-7b9d-4f2a-8c6e-0d1f3a5b7c9e";
const API_VERSION: &str = "7.5";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a running Lowkey Vault: see .ci/lowkey"]
async fn a_cycle_against_lowkey_vault_writes_a_token_that_reads_back() {
    let (Some(vault), Some(ca)) = (env("LOWKEY_VAULT_URL"), env("LOWKEY_CA_PEM")) else {
        panic!("set LOWKEY_VAULT_URL and LOWKEY_CA_PEM (run .ci/lowkey)");
    };
    let vault = vault.trim_end_matches('/').to_string();
    let lowkey_pem = std::fs::read(&ca).unwrap();

    // Entra ID from the project's emulator. Lowkey's challenge names the vault itself as the
    // resource, so the emulator must know that audience for the rotator's own token.
    let rotator_secret = format!(
        "rotator~{}",
        OffsetDateTime::now_utc().unix_timestamp_nanos()
    );
    let app_secret = format!("app~{}", OffsetDateTime::now_utc().unix_timestamp_nanos());
    let now = OffsetDateTime::now_utc();
    let secret = |value: &str| ClientSecretSeed {
        value: value.into(),
        start: Some(now - days(1)),
        end: Some(now + days(90)),
        ..Default::default()
    };
    let seed = Seed {
        tenants: vec![TenantSeed {
            id: TENANT.into(),
            apps: vec![
                AppSeed {
                    client_id: ROTATOR.into(),
                    display_name: Some("rotator".into()),
                    secrets: vec![secret(&rotator_secret)],
                    ..Default::default()
                },
                AppSeed {
                    client_id: APP.into(),
                    display_name: Some("sales".into()),
                    secrets: vec![secret(&app_secret)],
                    roles: [(POWERBI.to_string(), vec!["Tenant.Read.All".to_string()])].into(),
                    ..Default::default()
                },
            ],
        }],
        resources: vec![
            ResourceSeed {
                uri: vault.clone(),
                token_version: 1,
                ..Default::default()
            },
            ResourceSeed {
                uri: format!("{vault}/"),
                token_version: 1,
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let emulator = akv_emulator::start(EmulatorOptions {
        seed,
        ..Default::default()
    })
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    // One bundle: the emulator's CA (Entra) and Lowkey's certificate (the vault).
    let bundle = dir.path().join("trust.pem");
    let mut pem = emulator.ca_cert_pem().as_bytes().to_vec();
    pem.push(b'\n');
    pem.extend_from_slice(&lowkey_pem);
    std::fs::write(&bundle, &pem).unwrap();

    // The app's client secret, stored in Lowkey Vault directly (any bearer token is accepted).
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&lowkey_pem).unwrap())
        .build()
        .unwrap();
    let stamp = OffsetDateTime::now_utc().unix_timestamp();
    let client_secret_name = format!("sales-client-secret-{stamp}");
    let token_name = format!("sales-powerbi-token-{stamp}");
    let put = http
        .put(format!(
            "{vault}/secrets/{client_secret_name}?api-version={API_VERSION}"
        ))
        .bearer_auth("anything")
        .json(&serde_json::json!({"value": app_secret, "contentType": "text/plain"}))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{:?}", put.text().await);

    std::fs::write(dir.path().join("rotator-secret"), &rotator_secret).unwrap();
    let config = dir.path().join("rotator.toml");
    std::fs::write(
        &config,
        format!(
            "cloud = \"custom\"\nca_file = \"{bundle}\"\nvault = \"{vault}/\"\n\n[custom_cloud]\nauthority_host = \"{auth}\"\n\n[credential]\nkind = \"client-secret\"\ntenant_id = \"{TENANT}\"\nclient_id = \"{ROTATOR}\"\nclient_secret_file = \"{file}\"\n\n[[apps]]\nname = \"sales\"\ntenant_id = \"{TENANT}\"\nclient_id = \"{APP}\"\nclient_secret_name = \"{client_secret_name}\"\n\n[[apps.targets]]\nscope = \"{POWERBI}/.default\"\nsecret = \"{token_name}\"\n",
            bundle = bundle.display(),
            auth = emulator.authority_host(),
            file = dir.path().join("rotator-secret").display(),
        ),
    )
    .unwrap();

    let out = once_command(&config).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}\n{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["targets"][0]["outcome"], "written", "{report:#}");

    // Read it back from Lowkey Vault.
    let got = json_of(
        http.get(format!(
            "{vault}/secrets/{token_name}?api-version={API_VERSION}"
        ))
        .bearer_auth("anything"),
    )
    .await;
    let value = got["value"].as_str().unwrap();
    let claims = jwt_claims(value);
    assert_eq!(claims["aud"], POWERBI);
    assert_eq!(claims["appid"], APP);
    assert_eq!(got["contentType"], "application/jwt");
    assert_eq!(got["attributes"]["exp"].as_i64(), claims["exp"].as_i64());
    assert_eq!(got["attributes"]["nbf"].as_i64(), claims["nbf"].as_i64());
    let tags: BTreeMap<String, String> =
        serde_json::from_value(got["tags"].clone()).unwrap_or_default();
    assert_eq!(tags.get("client-id").map(String::as_str), Some(APP));
    assert_eq!(
        tags.get("scope").cloned(),
        Some(format!("{POWERBI}/.default"))
    );

    // A second run finds it fresh through Lowkey's list.
    let (code, report, _) = once_result(&once_command(&config).output().unwrap());
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["targets"][0]["outcome"], "fresh", "{report:#}");
}
