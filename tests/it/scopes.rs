//! Every scope form Entra accepts for client credentials, end to end through the real binary:
//! App ID URIs (`api://name`, `api://{guid}`) and client ids, v1 and v2 resource apps, the
//! audience each version carries ("Access token claims reference", `aud`), issuers taken from
//! the emulator's discovery (a `cloud = "custom"` config), and another cloud's issuer refused.
use akv_emulator::ResourceSeed;

use crate::common::*;

/// `api://orders-api`: a v1 API named by a custom App ID URI.
const ORDERS_ID: &str = "0a1b2c3d-1111-4222-8333-444455556666";
/// A v2 API whose App ID URI is the default `api://{appId}`.
const BILLING_ID: &str = "0a1b2c3d-2222-4222-8333-444455556666";
/// A v2 API with a custom App ID URI `api://reports-api`.
const REPORTS_ID: &str = "0a1b2c3d-3333-4222-8333-444455556666";

fn apis(seed: &mut akv_emulator::Seed) {
    seed.resources = vec![
        ResourceSeed {
            uri: "api://orders-api".into(),
            client_id: Some(ORDERS_ID.into()),
            token_version: 1,
        },
        ResourceSeed {
            uri: format!("api://{BILLING_ID}"),
            client_id: Some(BILLING_ID.into()),
            token_version: 2,
        },
        ResourceSeed {
            uri: "api://reports-api".into(),
            client_id: Some(REPORTS_ID.into()),
            token_version: 2,
        },
    ];
}

/// The claims of the latest token written under `secret`.
fn written_claims(world: &World, secret: &str) -> serde_json::Value {
    let versions = world.versions(OUTPUT, secret);
    let latest = versions
        .last()
        .unwrap_or_else(|| panic!("{secret}: nothing written"));
    jwt_claims(&latest.value)
}

#[tokio::test(flavor = "multi_thread")]
async fn app_id_uri_and_client_id_scopes_are_written_and_validated() {
    let app = TestApp::new("orders")
        .target("api://orders-api", "orders-v1-token")
        .target(ORDERS_ID, "orders-v1-by-id-token")
        .target(&format!("api://{BILLING_ID}"), "billing-v2-token")
        .target(BILLING_ID, "billing-v2-by-id-token");
    let world = World::start_with(vec![app], apis).await;
    let (code, report, stderr) = world.once(&[]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    for secret in [
        "orders-v1-token",
        "orders-v1-by-id-token",
        "billing-v2-token",
        "billing-v2-by-id-token",
    ] {
        let t = target(&report, secret);
        assert_eq!(t["outcome"], "written", "{secret}: {t:#}");
        assert_eq!(t["signature"], "verified", "{secret}");
    }
    // v1: the identifier the request used; v2: always the API's client id.
    let v1 = written_claims(&world, "orders-v1-token");
    assert_eq!(
        (v1["aud"].as_str(), v1["ver"].as_str()),
        (Some("api://orders-api"), Some("1.0"))
    );
    assert_eq!(v1["iss"], format!("https://sts.windows.net/{TENANT}/"));
    assert_eq!(
        written_claims(&world, "orders-v1-by-id-token")["aud"],
        ORDERS_ID
    );
    for secret in ["billing-v2-token", "billing-v2-by-id-token"] {
        let v2 = written_claims(&world, secret);
        assert_eq!(
            (v2["aud"].as_str(), v2["ver"].as_str()),
            (Some(BILLING_ID), Some("2.0"))
        );
    }
    // The written secret is tagged with the scope as configured.
    let versions = world.versions(OUTPUT, "orders-v1-token");
    let tags = &versions.last().unwrap().tags;
    assert_eq!(
        tags.get("scope").map(String::as_str),
        Some("api://orders-api/.default")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v2_api_with_a_custom_app_id_uri_needs_its_audience_named() {
    let app = TestApp::new("reports").target("api://reports-api", "reports-token");
    let world = World::start_with(vec![app], apis).await;

    // Without `audience`, the v2 token's aud (the API's client id) is not the resource: the
    // token is refused, not written, and the message gives the line to add.
    let (code, report, _) = world.once(&[]);
    assert_eq!(code, 1, "{report:#}");
    let t = failed_target(&report, "reports-token", "invalid_token");
    let message = t["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("audience = \"{REPORTS_ID}\"")),
        "{message}"
    );
    assert!(world.versions(OUTPUT, "reports-token").is_empty());

    // Named: written.
    let text = world.config_text().replace(
        "secret = \"reports-token\"\n",
        &format!("secret = \"reports-token\"\naudience = \"{REPORTS_ID}\"\n"),
    );
    std::fs::write(&world.config_path, text).unwrap();
    let (code, report, stderr) = world.once(&[]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    assert_eq!(outcome(&report, "reports-token"), "written");
    assert_eq!(written_claims(&world, "reports-token")["aud"], REPORTS_ID);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_custom_cloud_takes_its_issuers_from_discovery() {
    // The config a user writes for a hand-started emulator: cloud = "custom" and its URL as
    // authority host. The emulator's v2 issuer is derived from that URL, not
    // login.microsoftonline.com: only an issuer taken from discovery accepts it.
    let app = TestApp::new("billing").target(BILLING_ID, "billing-token");
    let world = World::start_with(vec![app], apis).await;
    let text = std::fs::read_to_string(&world.config_path).unwrap();
    assert!(text.contains("cloud = \"custom\""));
    let (code, report, stderr) = world.once(&[]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    assert_eq!(target(&report, "billing-token")["signature"], "verified");
    let iss = written_claims(&world, "billing-token")["iss"].clone();
    assert_eq!(
        iss,
        format!("{}/{TENANT}/v2.0", world.emulator.authority_host())
    );
    let discovery = json_of(world.https_client().get(format!(
        "{}/{TENANT}/v2.0/.well-known/openid-configuration",
        world.emulator.authority_host()
    )))
    .await;
    assert_eq!(discovery["issuer"], iss);
    // The app's Power BI token is v1: in a custom cloud its issuer comes from the v1
    // configuration, so the run read both documents (once each), besides the one above.
    assert_eq!(outcome(&report, "billing-powerbi-token"), "written");
    assert_eq!(
        world.emulator.stats().count("login", "OpenIdConfiguration"),
        3,
        "v2 and v1 configurations, each fetched once per run (+1 by this test)"
    );
}

#[tokio::test]
async fn another_clouds_v1_issuer_is_refused() {
    use akv_rotator::config::{Cloud, CloudName};
    use akv_rotator::token::Validator;
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let token = |iss: &str| {
        let claims = format!(
            r#"{{"aud":"{POWERBI}","iss":"{iss}","tid":"{TENANT}","appid":"{ROTATOR}","ver":"1.0","nbf":{},"exp":{}}}"#,
            now - 60,
            now + 3600
        );
        format!(
            "{}.{}.{}",
            b64(r#"{"typ":"JWT","alg":"RS256","kid":"k"}"#),
            b64(&claims),
            b64("sig")
        )
    };
    let china = format!("https://sts.chinacloudapi.cn/{TENANT}/");
    let public = format!("https://sts.windows.net/{TENANT}/");
    for (cloud, foreign) in [
        (CloudName::Public, &china),
        (CloudName::UsGovernment, &china),
        (CloudName::China, &public),
    ] {
        // The issuer is checked before any key is fetched: no network is needed to refuse.
        let v = Validator::new(
            akv_rotator::net::http::build_client(None).unwrap(),
            Cloud::known(cloud).unwrap(),
            std::sync::Arc::new(akv_rotator::telemetry::metrics::Metrics::new()),
        );
        let e = crate::hostile::validate_text(&v, &token(foreign))
            .await
            .err()
            .unwrap_or_else(|| panic!("{cloud}: accepted {foreign}"));
        assert_eq!(
            e.class,
            akv_rotator::error::ErrorClass::InvalidToken,
            "{cloud}: {e}"
        );
        assert!(e.message.contains("issuer"), "{cloud}: {e}");
        assert_eq!(v.jwks_fetches(), 0, "{cloud}: refused before any key fetch");
    }
}
