//! Token faults: tokens issued to one app are broken in a chosen way, through the handle and
//! the admin API; the vault (an independent verifier) rejects each.

use crate::helpers::*;
use akv_emulator::TokenFault;
use serde_json::{Value, json};

const VAULT_SCOPE: &str = "https://vault.azure.net/.default";
const POWERBI_SCOPE: &str = "https://analysis.windows.net/powerbi/api/.default";

async fn faulted_vault_token(fault: TokenFault) -> (akv_emulator::EmulatorHandle, String) {
    let emu = emulator().await;
    emu.set_token_fault(WRITER, Some(fault));
    let http = http(&emu);
    let token = token_for(&emu, &http, WRITER, VAULT_SCOPE).await;
    (emu, token)
}

#[tokio::test]
async fn healthy_token_is_accepted_and_fault_can_be_cleared() {
    let emu = emulator().await;
    let http = http(&emu);
    emu.set_token_fault(WRITER, Some(TokenFault::BadSignature));
    emu.set_token_fault(WRITER, None);
    let token = token_for(&emu, &http, WRITER, VAULT_SCOPE).await;
    assert_eq!(vault_get_status(&emu, &http, &token).await, 200);
}

#[tokio::test]
async fn bad_signature_is_rejected() {
    let (emu, token) = faulted_vault_token(TokenFault::BadSignature).await;
    let http = http(&emu);
    // Same published kid, but the signature does not verify.
    let jwks = published_keys(&emu, &http).await;
    assert_eq!(jwks["keys"][0]["kid"], jwt_part(&token, 0)["kid"]);
    assert_eq!(vault_get_status(&emu, &http, &token).await, 401);
}

#[tokio::test]
async fn wrong_audience_issuer_and_times_are_rejected() {
    for (fault, check) in [
        (TokenFault::WrongAudience, "aud"),
        (TokenFault::WrongIssuer, "iss"),
        (TokenFault::Expired, "exp"),
        (TokenFault::NotYetValid, "nbf"),
    ] {
        let (emu, token) = faulted_vault_token(fault).await;
        let http = http(&emu);
        let claims = jwt_part(&token, 1);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        match check {
            "aud" => assert_eq!(claims["aud"], "api://akv-emulator/wrong-audience"),
            "iss" => {
                assert_ne!(claims["iss"], format!("https://sts.windows.net/{TENANT}/"));
                assert_eq!(claims["tid"], TENANT);
            }
            "exp" => assert!(claims["exp"].as_i64().expect("exp") < now - 3000),
            _ => assert!(claims["nbf"].as_i64().expect("nbf") > now + 3000),
        }
        assert_eq!(
            vault_get_status(&emu, &http, &token).await,
            401,
            "{fault:?}"
        );
    }
}

#[tokio::test]
async fn wrong_client_id_is_forbidden_at_the_vault() {
    let (emu, token) = faulted_vault_token(TokenFault::WrongClientId).await;
    let http = http(&emu);
    let claims = jwt_part(&token, 1);
    assert_ne!(claims["appid"], WRITER);
    assert_eq!(vault_get_status(&emu, &http, &token).await, 403);
}

#[tokio::test]
async fn missing_roles_drops_the_roles_claim() {
    let emu = emulator().await;
    let http = http(&emu);
    let healthy = token_for(&emu, &http, WRITER, POWERBI_SCOPE).await;
    assert_eq!(jwt_part(&healthy, 1)["roles"], json!(["Tenant.Read.All"]));
    emu.set_token_fault(WRITER, Some(TokenFault::MissingRoles));
    let broken = token_for(&emu, &http, WRITER, POWERBI_SCOPE).await;
    assert!(jwt_part(&broken, 1).get("roles").is_none());
}

#[tokio::test]
async fn alg_none_has_no_signature() {
    let (emu, token) = faulted_vault_token(TokenFault::AlgNone).await;
    let http = http(&emu);
    assert_eq!(jwt_part(&token, 0)["alg"], "none");
    assert!(token.ends_with('.'));
    assert_eq!(vault_get_status(&emu, &http, &token).await, 401);
}

#[tokio::test]
async fn unknown_kid_becomes_known_after_rollover() {
    let (emu, token) = faulted_vault_token(TokenFault::UnknownKid).await;
    let http = http(&emu);
    let kid = jwt_part(&token, 0)["kid"]
        .as_str()
        .expect("kid")
        .to_string();
    let published = |jwks: &Value| {
        jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .any(|k| k["kid"] == kid.as_str())
    };
    let jwks = published_keys(&emu, &http).await;
    assert!(!published(&jwks), "pending key must not be published yet");
    assert_eq!(vault_get_status(&emu, &http, &token).await, 401);
    // A second faulted token uses the same pending key.
    let again = token_for(&emu, &http, WRITER, VAULT_SCOPE).await;
    assert_eq!(jwt_part(&again, 0)["kid"], kid.as_str());

    emu.rollover_signing_key().expect("rollover");
    let jwks = published_keys(&emu, &http).await;
    assert!(published(&jwks));
    assert_eq!(
        jwks["keys"][0]["kid"],
        kid.as_str(),
        "the pending key is now current"
    );
    assert_eq!(vault_get_status(&emu, &http, &token).await, 200);
}

#[tokio::test]
async fn token_fault_admin_api() {
    let emu = emulator().await;
    let http = http(&emu);
    // Sets (or with `null` clears) the writer's token fault; the admin API answers `status`.
    let writer_fault = |fault: Value, status| {
        admin_post(
            &emu,
            &http,
            "token-fault",
            json!({"client_id": WRITER, "fault": fault}),
            status,
        )
    };
    writer_fault(json!("wrong_audience"), 200).await;
    let token = token_for(&emu, &http, WRITER, VAULT_SCOPE).await;
    assert_eq!(
        jwt_part(&token, 1)["aud"],
        "api://akv-emulator/wrong-audience"
    );
    // Other apps are unaffected.
    let other = token_for(&emu, &http, READER, VAULT_SCOPE).await;
    assert_eq!(vault_get_status(&emu, &http, &other).await, 200);

    writer_fault(Value::Null, 200).await;
    let token = token_for(&emu, &http, WRITER, VAULT_SCOPE).await;
    assert_eq!(vault_get_status(&emu, &http, &token).await, 200);

    writer_fault(json!("no_such_fault"), 400).await;
}
