//! Entra ID side: token success shapes (v1/v2), every AADSTS error, discovery, JWKS, stats.

use crate::helpers::*;
use serde_json::Value;

#[tokio::test]
async fn v2_token_has_entra_shape() {
    let emu = emulator().await;
    let http = http(&emu);
    let (status, body) = v2_token_response(
        &emu,
        &http,
        WRITER,
        SECRET,
        "https://analysis.windows.net/powerbi/api/.default",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "Bearer");
    let expires_in = body["expires_in"].as_i64().expect("number");
    assert!((3600..=5400).contains(&expires_in), "{expires_in}");
    assert!(body["ext_expires_in"].is_i64());
    let token = body["access_token"].as_str().expect("token");
    let header = jwt_part(token, 0);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], header["x5t"]);
    assert!(header.get("nonce").is_none());
    let claims = jwt_part(token, 1);
    assert_eq!(claims["aud"], "https://analysis.windows.net/powerbi/api");
    assert_eq!(claims["iss"], format!("https://sts.windows.net/{TENANT}/"));
    assert_eq!(claims["appid"], WRITER);
    assert_eq!(claims["appidacr"], "1");
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(claims["tid"], TENANT);
    assert_eq!(claims["oid"], claims["sub"]);
    assert_eq!(claims["roles"], serde_json::json!(["Tenant.Read.All"]));
    assert_eq!(claims["nbf"], claims["iat"]);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((claims["exp"].as_i64().expect("exp") - now - expires_in).abs() <= 2);

    // The JWKS publishes the signing key.
    let jwks = published_keys(&emu, &http).await;
    assert_eq!(jwks["keys"][0]["kid"], header["kid"]);
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert!(jwks["keys"][0]["x5c"][0].is_string());
}

#[tokio::test]
async fn v1_token_uses_strings_and_graph_has_nonce() {
    let emu = emulator().await;
    let http = http(&emu);
    let (status, body) = token_response(
        &emu,
        &http,
        &format!("{TENANT}/oauth2/token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", READER),
            ("client_secret", SECRET),
            ("resource", "https://graph.microsoft.com"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for k in ["expires_in", "ext_expires_in", "expires_on", "not_before"] {
        assert!(body[k].as_str().expect(k).parse::<i64>().is_ok(), "{k}");
    }
    assert_eq!(body["resource"], "https://graph.microsoft.com");
    let token = body["access_token"].as_str().expect("token");
    assert!(jwt_part(token, 0)["nonce"].is_string());
    assert!(jwt_part(token, 1).get("roles").is_none());
}

#[tokio::test]
async fn v2_resource_issues_v2_claims() {
    let emu = emulator().await;
    let mut extra = crate::helpers::seed();
    extra.vaults.clear();
    extra.resources.push(akv_emulator::ResourceSeed {
        uri: "api://my-api".to_string(),
        token_version: 2,
        ..Default::default()
    });
    emu.apply_seed(extra).expect("seed merges");
    let http = http(&emu);
    let (status, body) =
        v2_token_response(&emu, &http, READER, SECRET, "api://my-api/.default").await;
    assert_eq!(status, 200, "{body}");
    let claims = jwt_part(body["access_token"].as_str().expect("token"), 1);
    assert_eq!(
        claims["iss"],
        format!("{}/{TENANT}/v2.0", emu.authority_host())
    );
    assert_eq!(claims["azp"], READER);
    assert_eq!(claims["ver"], "2.0");
    assert!(claims.get("appid").is_none());
}

async fn expect_error(
    emu: &akv_emulator::EmulatorHandle,
    path: &str,
    form: &[(&str, &str)],
    status: u16,
    error: &str,
    code: u64,
) {
    let http = http(emu);
    let (got, body) = token_response(emu, &http, path, form).await;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"][0].as_u64(), Some(code), "{body}");
    let desc = body["error_description"].as_str().expect("description");
    assert!(desc.starts_with(&format!("AADSTS{code}: ")), "{desc}");
    assert!(desc.contains("\r\nTrace ID: "), "{desc}");
    assert!(desc.contains("\r\nCorrelation ID: "), "{desc}");
    assert!(desc.contains("\r\nTimestamp: "), "{desc}");
    for k in ["timestamp", "trace_id", "correlation_id", "error_uri"] {
        assert!(body[k].is_string(), "{k}");
    }
}

#[tokio::test]
async fn aadsts_errors() {
    let emu = emulator().await;
    let v2 = format!("{TENANT}/oauth2/v2.0/token");
    let kv = "https://vault.azure.net/.default";
    let unknown_tenant = "99999999-2222-3333-4444-555555555555/oauth2/v2.0/token";
    expect_error(
        &emu,
        unknown_tenant,
        &v2_form(WRITER, SECRET, kv),
        400,
        "invalid_tenant",
        90002,
    )
    .await;
    let unknown = "bbbbbbbb-0000-0000-0000-000000000000";
    expect_error(
        &emu,
        &v2,
        &v2_form(unknown, SECRET, kv),
        400,
        "unauthorized_client",
        700016,
    )
    .await;
    expect_error(
        &emu,
        &v2,
        &v2_form(WRITER, "wrong", kv),
        401,
        "invalid_client",
        7000215,
    )
    .await;
    expect_error(
        &emu,
        &v2,
        &v2_form(EXPIRED, SECRET, kv),
        401,
        "invalid_client",
        7000222,
    )
    .await;
    expect_error(
        &emu,
        &v2,
        &v2_form(FUTURE, SECRET, kv),
        401,
        "invalid_client",
        7000215,
    )
    .await;
    let no_secret = [
        ("grant_type", "client_credentials"),
        ("client_id", WRITER),
        ("scope", kv),
    ];
    expect_error(&emu, &v2, &no_secret, 401, "invalid_client", 7000218).await;
    expect_error(
        &emu,
        &v2,
        &v2_form(WRITER, SECRET, "https://vault.azure.net/user_impersonation"),
        400,
        "invalid_scope",
        1002012,
    )
    .await;
    expect_error(
        &emu,
        &v2,
        &v2_form(WRITER, SECRET, ""),
        400,
        "invalid_scope",
        70011,
    )
    .await;
    expect_error(
        &emu,
        &v2,
        &v2_form(WRITER, SECRET, "https://nothing.example.com/.default"),
        400,
        "invalid_resource",
        500011,
    )
    .await;
    let password = [
        ("grant_type", "password"),
        ("client_id", WRITER),
        ("client_secret", SECRET),
        ("scope", kv),
    ];
    expect_error(&emu, &v2, &password, 400, "unsupported_grant_type", 70003).await;

    let stats = emu.stats();
    assert_eq!(stats.count("login", "TokenV2"), 10);
    assert_eq!(stats.count_status("login", "TokenV2", 401), 4);
}

#[tokio::test]
async fn openid_configuration_points_at_emulator() {
    let emu = emulator().await;
    let http = http(&emu);
    let cfg: Value = get_json(
        &http,
        &format!(
            "{}/{TENANT}/v2.0/.well-known/openid-configuration",
            emu.authority_host()
        ),
        "discovery",
    )
    .await;
    assert_eq!(
        cfg["token_endpoint"],
        format!("{}/{TENANT}/oauth2/v2.0/token", emu.authority_host())
    );
    assert_eq!(
        cfg["jwks_uri"],
        format!("{}/{TENANT}/discovery/v2.0/keys", emu.authority_host())
    );
    assert_eq!(emu.stats().count("login", "OpenIdConfiguration"), 1);
}

#[tokio::test]
async fn rolled_over_key_stays_valid() {
    let emu = emulator().await;
    let http = http(&emu);
    let old = vault_token(&emu, &http, READER).await;
    let resp = http
        .post(format!("{}/_emulator/keys/rollover", emu.authority_host()))
        .send()
        .await
        .expect("rollover");
    assert_eq!(resp.status(), 200);
    let new = vault_token(&emu, &http, READER).await;
    assert_ne!(jwt_part(&old, 0)["kid"], jwt_part(&new, 0)["kid"]);
    let vault = emu.vault_url("main").expect("vault");
    for token in [old, new] {
        let status = http
            .get(format!("{vault}secrets?api-version=7.5"))
            .bearer_auth(token)
            .send()
            .await
            .expect("list")
            .status();
        assert_eq!(status, 200);
    }
    let jwks: Value = get_json(
        &http,
        &format!("{}/{TENANT}/discovery/keys", emu.authority_host()),
        "jwks",
    )
    .await;
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(2));
}
