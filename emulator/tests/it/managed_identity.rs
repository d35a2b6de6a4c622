//! The plain-HTTP managed identity listener, driven as Azure's clients drive it: IMDS with
//! `Metadata: true`, the App Service / Container Apps endpoint with `X-IDENTITY-HEADER`, the
//! identity selectors, and the vault honouring the identity's permissions.

use akv_emulator::{EmulatorHandle, EmulatorOptions, ManagedIdentitySeed, VaultSeed};
use serde_json::Value;

use crate::helpers::{TENANT, http, jwt_part, seed, vault_get_status};

const SYSTEM_CLIENT: &str = "bbbbbbbb-0000-4000-8000-000000000001";
const SYSTEM_PRINCIPAL: &str = "bbbbbbbb-0000-4000-8000-0000000000a1";
const USER_CLIENT: &str = "bbbbbbbb-0000-4000-8000-000000000002";
const USER_PRINCIPAL: &str = "bbbbbbbb-0000-4000-8000-0000000000a2";
const USER_RESOURCE: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-rotator";
const VAULT: &str = "https://vault.azure.net";

/// The usual seed plus a system-assigned identity allowed to read vault `main` (granted by its
/// principal id, as Azure RBAC does) and a user-assigned one with no access.
/// The URL of a Key Vault token from a managed-identity `endpoint` of the emulator, in this
/// protocol version.
fn token_url(endpoint: Option<String>, api_version: &str) -> String {
    format!(
        "{}?api-version={api_version}&resource={VAULT}",
        endpoint.expect("the listener runs")
    )
}

async fn emulator() -> EmulatorHandle {
    let mut seed = seed();
    seed.managed_identities = vec![
        ManagedIdentitySeed::system_assigned(TENANT, SYSTEM_CLIENT, SYSTEM_PRINCIPAL),
        ManagedIdentitySeed::user_assigned(TENANT, USER_CLIENT, USER_PRINCIPAL, USER_RESOURCE),
    ];
    let main: &mut VaultSeed = &mut seed.vaults[0];
    main.permissions.push(akv_emulator::PermissionSeed {
        principal: SYSTEM_PRINCIPAL.into(),
        read: true,
        write: false,
        secrets: None,
    });
    akv_emulator::start(EmulatorOptions {
        seed,
        managed_identity_listen: Some("127.0.0.1:0".parse().expect("parses")),
        ..EmulatorOptions::default()
    })
    .await
    .expect("emulator starts")
}

/// GET `url` with `headers`; (status, body text).
async fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = reqwest::Client::new().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
async fn the_listener_is_off_unless_asked_for() {
    let emu = crate::helpers::emulator().await;
    assert_eq!(emu.managed_identity_url(), None);
    assert_eq!(emu.identity_endpoint(), None);
    assert_eq!(emu.imds_endpoint(), None);
}

#[tokio::test]
async fn imds_refuses_a_request_without_the_metadata_header() {
    let emu = emulator().await;
    let url = token_url(emu.imds_endpoint(), "2018-02-01");
    for headers in [
        &[][..],
        &[("Metadata", "True")][..],
        &[("Metadata", "1")][..],
    ] {
        let (status, body) = get(&url, headers).await;
        assert_eq!(status, 400, "{headers:?}: {body}");
        let body = json(&body);
        assert_eq!(body["error"], "invalid_request");
        assert_eq!(
            body["error_description"],
            "Required metadata header not specified"
        );
    }
}

#[tokio::test]
async fn imds_issues_the_system_assigned_identity_token_in_both_api_versions() {
    let emu = emulator().await;
    for version in ["2018-02-01", "2019-08-01"] {
        let url = format!(
            "{}?api-version={version}&resource={VAULT}",
            emu.imds_endpoint().expect("the listener runs")
        );
        let (status, body) = get(&url, &[("Metadata", "true")]).await;
        assert_eq!(status, 200, "{version}: {body}");
        let body = json(&body);
        // Numbers as strings, as the SDK requires for expires_on.
        let expires_on: i64 = body["expires_on"]
            .as_str()
            .expect("a string")
            .parse()
            .expect("parses");
        assert_eq!(body["resource"], VAULT);
        assert_eq!(body["token_type"], "Bearer");
        let claims = jwt_part(body["access_token"].as_str().expect("a string"), 1);
        assert_eq!(claims["appid"], SYSTEM_CLIENT);
        assert_eq!(claims["oid"], SYSTEM_PRINCIPAL);
        assert_eq!(claims["tid"], TENANT);
        assert_eq!(claims["aud"], VAULT);
        assert_eq!(claims["exp"].as_i64(), Some(expires_on));
    }
    let (status, body) = get(
        &token_url(emu.imds_endpoint(), "2017-09-01"),
        &[("Metadata", "true")],
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn imds_selects_a_user_assigned_identity_by_each_documented_parameter() {
    let emu = emulator().await;
    let base = token_url(emu.imds_endpoint(), "2019-08-01");
    for selector in [
        format!("client_id={USER_CLIENT}"),
        format!("object_id={USER_PRINCIPAL}"),
        format!("msi_res_id={USER_RESOURCE}"),
        format!("mi_res_id={USER_RESOURCE}"),
    ] {
        let (status, body) = get(&format!("{base}&{selector}"), &[("Metadata", "true")]).await;
        assert_eq!(status, 200, "{selector}: {body}");
        let claims = jwt_part(json(&body)["access_token"].as_str().expect("a string"), 1);
        assert_eq!(claims["appid"], USER_CLIENT, "{selector}");
        assert_eq!(claims["oid"], USER_PRINCIPAL, "{selector}");
        assert_eq!(claims["xms_mirid"], USER_RESOURCE, "{selector}");
    }
    let (status, body) = get(
        &format!("{base}&client_id=cccccccc-0000-4000-8000-000000000009"),
        &[("Metadata", "true")],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(json(&body)["error_description"], "Identity not found");
    let (status, body) = get(
        &format!("{base}&client_id={USER_CLIENT}&object_id={USER_PRINCIPAL}"),
        &[("Metadata", "true")],
    )
    .await;
    assert_eq!(status, 400, "two selectors: {body}");
}

#[tokio::test]
async fn app_service_refuses_a_request_without_the_identity_header() {
    let emu = emulator().await;
    let url = token_url(emu.identity_endpoint(), "2019-08-01");
    for headers in [
        &[][..],
        &[("Metadata", "true")][..],
        &[("X-IDENTITY-HEADER", "not-the-secret")][..],
    ] {
        let (status, body) = get(&url, headers).await;
        assert_eq!(status, 403, "{headers:?}");
        assert_eq!(body, "");
    }
}

#[tokio::test]
async fn app_service_issues_tokens_with_the_identity_header() {
    let emu = emulator().await;
    let header = emu.identity_header().to_string();
    let base = token_url(emu.identity_endpoint(), "2019-08-01");
    for (query, client) in [
        (String::new(), SYSTEM_CLIENT),
        (format!("&client_id={USER_CLIENT}"), USER_CLIENT),
        (format!("&principal_id={USER_PRINCIPAL}"), USER_CLIENT),
        (format!("&object_id={USER_PRINCIPAL}"), USER_CLIENT),
        (format!("&mi_res_id={USER_RESOURCE}"), USER_CLIENT),
    ] {
        let (status, body) = get(
            &format!("{base}{query}"),
            &[("X-IDENTITY-HEADER", header.as_str())],
        )
        .await;
        assert_eq!(status, 200, "{query}: {body}");
        let body = json(&body);
        assert_eq!(body["client_id"], client, "{query}");
        assert!(
            body["expires_on"]
                .as_str()
                .expect("a string")
                .parse::<i64>()
                .is_ok()
        );
        let claims = jwt_part(body["access_token"].as_str().expect("a string"), 1);
        assert_eq!(claims["appid"], client, "{query}");
    }
    let (status, body) = get(
        &token_url(emu.identity_endpoint(), "2017-09-01"),
        &[("X-IDENTITY-HEADER", header.as_str())],
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn the_vault_applies_the_identity_principal_permissions() {
    let emu = emulator().await;
    let token = |query: String| {
        let url = format!("{}{query}", token_url(emu.imds_endpoint(), "2019-08-01"));
        async move {
            let (status, body) = get(&url, &[("Metadata", "true")]).await;
            assert_eq!(status, 200, "{body}");
            json(&body)["access_token"]
                .as_str()
                .expect("a string")
                .to_string()
        }
    };
    let http = http(&emu);
    let system = token(String::new()).await;
    assert_eq!(vault_get_status(&emu, &http, &system).await, 200);
    let user = token(format!("&client_id={USER_CLIENT}")).await;
    assert_eq!(vault_get_status(&emu, &http, &user).await, 403);
}

#[test]
fn seed_files_declare_managed_identities_with_one_system_assigned_at_most() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("seed.toml");
    let identity = |client: &str, system: bool| {
        format!(
            "[[managed_identities]]\ntenant_id = \"{TENANT}\"\nclient_id = \"{client}\"\nobject_id = \"{client}\"\nsystem_assigned = {system}\n"
        )
    };
    let text = format!(
        "{}resource_id = \"{USER_RESOURCE}\"\n\n{}",
        identity(USER_CLIENT, false),
        identity(SYSTEM_CLIENT, true)
    );
    std::fs::write(&path, &text).expect("write seed");
    let seed = akv_emulator::Seed::from_file(&path).expect("seed parses");
    assert_eq!(seed.managed_identities.len(), 2);
    assert_eq!(
        seed.managed_identities[0].resource_id.as_deref(),
        Some(USER_RESOURCE)
    );
    assert!(seed.managed_identities[1].system_assigned);

    std::fs::write(&path, format!("{text}\n{}", identity(USER_PRINCIPAL, true)))
        .expect("write seed");
    let err = akv_emulator::Seed::from_file(&path).expect_err("two system-assigned identities");
    assert!(format!("{err:#}").contains("system-assigned"), "{err:#}");
}
