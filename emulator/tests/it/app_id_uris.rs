//! Resource (API) apps named by App ID URI or client id: what lands in `aud`, `ver` and `iss`
//! ("Access token claims reference"), and discovery documents whose `issuer` equals the `iss`
//! of the tokens issued.

use crate::helpers::*;
use serde_json::Value;

const ORDERS_URI: &str = "api://orders-api";
const ORDERS_ID: &str = "0a1b2c3d-1111-4222-8333-444455556666";
const BILLING_ID: &str = "0a1b2c3d-2222-4222-8333-444455556666";

async fn with_apis() -> akv_emulator::EmulatorHandle {
    let emu = emulator().await;
    let mut extra = seed();
    extra.vaults.clear();
    extra.resources = vec![
        akv_emulator::ResourceSeed {
            uri: ORDERS_URI.into(),
            client_id: Some(ORDERS_ID.into()),
            token_version: 1,
        },
        akv_emulator::ResourceSeed {
            uri: format!("api://{BILLING_ID}"),
            client_id: Some(BILLING_ID.into()),
            token_version: 2,
        },
    ];
    emu.apply_seed(extra).expect("seed merges");
    emu
}

async fn v2_claims(emu: &akv_emulator::EmulatorHandle, scope: &str) -> Value {
    let http = http(emu);
    let (status, body) = v2_token_response(emu, &http, READER, SECRET, scope).await;
    assert_eq!(status, 200, "{scope}: {body}");
    jwt_part(body["access_token"].as_str().expect("token"), 1)
}

#[tokio::test]
async fn v1_api_audience_is_the_identifier_used_in_the_request() {
    let emu = with_apis().await;
    let by_uri = v2_claims(&emu, "api://orders-api/.default").await;
    assert_eq!(by_uri["aud"], ORDERS_URI);
    assert_eq!(by_uri["ver"], "1.0");
    assert_eq!(by_uri["iss"], format!("https://sts.windows.net/{TENANT}/"));
    let by_id = v2_claims(&emu, &format!("{ORDERS_ID}/.default")).await;
    assert_eq!(by_id["aud"], ORDERS_ID);
    assert_eq!(by_id["ver"], "1.0");
}

#[tokio::test]
async fn v2_api_audience_is_always_its_client_id() {
    let emu = with_apis().await;
    let issuer = format!("{}/{TENANT}/v2.0", emu.authority_host());
    for scope in [
        format!("api://{BILLING_ID}/.default"),
        format!("{BILLING_ID}/.default"),
    ] {
        let c = v2_claims(&emu, &scope).await;
        assert_eq!(c["aud"], BILLING_ID, "{scope}");
        assert_eq!(c["ver"], "2.0", "{scope}");
        assert_eq!(c["iss"], issuer, "{scope}");
        assert_eq!(c["azp"], READER, "{scope}");
    }
}

#[tokio::test]
async fn an_unregistered_app_id_uri_is_invalid_resource() {
    let emu = with_apis().await;
    let http = http(&emu);
    let (status, body) =
        v2_token_response(&emu, &http, READER, SECRET, "api://unknown-api/.default").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_codes"][0], 500011);
}

#[tokio::test]
async fn discovery_issuers_equal_the_iss_of_issued_tokens() {
    let emu = with_apis().await;
    let http = http(&emu);
    let get = |path: String| {
        let http = http.clone();
        async move {
            http.get(path)
                .send()
                .await
                .expect("discovery")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let a = emu.authority_host();
    let v2 = get(format!(
        "{a}/{TENANT}/v2.0/.well-known/openid-configuration"
    ))
    .await;
    let v1 = get(format!("{a}/{TENANT}/.well-known/openid-configuration")).await;
    let v2_token = v2_claims(&emu, &format!("{BILLING_ID}/.default")).await;
    let v1_token = v2_claims(&emu, "api://orders-api/.default").await;
    assert_eq!(v2["issuer"], v2_token["iss"]);
    assert_eq!(v1["issuer"], v1_token["iss"]);
}

#[test]
fn seed_files_accept_app_id_uri_and_client_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("seed.toml");
    std::fs::write(
        &path,
        format!(
            "[[resources]]\napp_id_uri = \"api://orders-api\"\nclient_id = \"{ORDERS_ID}\"\ntoken_version = 2\n"
        ),
    )
    .expect("write");
    let seed = akv_emulator::Seed::from_file(&path).expect("parses");
    assert_eq!(seed.resources[0].uri, "api://orders-api");
    assert_eq!(seed.resources[0].client_id.as_deref(), Some(ORDERS_ID));
    std::fs::write(
        &path,
        "[[resources]]\nuri = \"api://x\"\nclient_id = \"not-a-guid\"\n",
    )
    .expect("write");
    assert!(akv_emulator::Seed::from_file(&path).is_err());
}
