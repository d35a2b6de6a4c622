//! Key Vault side over HTTPS with the emulator CA: challenge, paging, validation, RBAC,
//! disabled secrets, soft delete, stats.

use crate::helpers::*;
use serde_json::{Value, json};

type Kv = VaultClient;

#[tokio::test]
async fn missing_token_gets_bearer_challenge() {
    let emu = emulator().await;
    let http = http(&emu);
    let vault = emu.vault_url("main").expect("vault");
    assert!(vault.starts_with("https://localhost:") && vault.ends_with('/'));
    let resp = get(
        &http,
        &format!("{vault}secrets/x?api-version=2025-07-01"),
        "request",
    )
    .await;
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert_eq!(
        challenge,
        format!(
            "Bearer authorization=\"{}/{TENANT}\", resource=\"https://vault.azure.net\"",
            emu.authority_host()
        )
    );
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        body,
        json!({"error":{"code":"Unauthorized","message":"Request is missing a Bearer or PoP token."}})
    );
    let resp = http
        .get(format!("{vault}secrets/x?api-version=2025-07-01"))
        .bearer_auth("not.a.token")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 401);
    assert_eq!(emu.stats().count_status("main", "SecretGet", 401), 2);
}

#[tokio::test]
async fn token_for_other_audience_is_rejected() {
    let emu = emulator().await;
    let http = http(&emu);
    let (_, body) = v2_token_response(
        &emu,
        &http,
        WRITER,
        SECRET,
        "https://graph.microsoft.com/.default",
    )
    .await;
    let resp = http
        .get(format!(
            "{}secrets?api-version=7.5",
            emu.vault_url("main").expect("vault")
        ))
        .bearer_auth(body["access_token"].as_str().expect("token"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("audience")
    );
}

#[tokio::test]
async fn set_get_update_and_versions() {
    let emu = emulator().await;
    let kv = Kv::new(&emu, WRITER).await;
    let (status, first) = kv
        .set("Token-A", json!({"value": "one", "contentType": "application/jwt", "attributes": {"exp": 2000000000, "nbf": 1700000000}, "tags": {"scope": "x"}}))
        .await;
    assert_eq!(status, 200, "{first}");
    let id = first["id"].as_str().expect("id");
    let version = id.rsplit('/').next().expect("version");
    assert_eq!(version.len(), 32);
    assert_eq!(id, format!("{}secrets/Token-A/{version}", kv.base));
    assert_eq!(first["attributes"]["exp"], 2000000000);
    assert_eq!(
        first["attributes"]["recoveryLevel"],
        "Recoverable+Purgeable"
    );
    assert_eq!(first["attributes"]["recoverableDays"], 90);
    assert!(first.get("kid").is_none() && first.get("managed").is_none());
    let (_, second) = kv.set("token-a", json!({"value": "two"})).await;
    assert!(
        second["id"]
            .as_str()
            .expect("id")
            .contains("/secrets/Token-A/")
    );

    for path in ["secrets/token-a", "secrets/token-a/"] {
        let (status, got) = kv.get(path).await;
        assert_eq!(status, 200);
        assert_eq!(got["value"], "two");
    }
    let (_, got) = kv.get(&format!("secrets/token-a/{version}")).await;
    assert_eq!(got["value"], "one");

    let (status, updated) = kv
        .call(
            reqwest::Method::PATCH,
            &format!("secrets/token-a/{version}"),
            Some(json!({"tags": {"new": "tag"}, "attributes": {"enabled": false}})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["tags"], json!({"new": "tag"}));
    assert!(updated.get("value").is_none());

    let (status, versions) = kv.get("secrets/token-a/versions").await;
    assert_eq!(status, 200);
    assert_eq!(versions["value"].as_array().map(Vec::len), Some(2));
    assert!(versions["value"][0].get("value").is_none());

    let stored = emu.secret_versions("main", "TOKEN-A");
    assert_eq!(stored.len(), 2);
    assert!(!stored[0].enabled);
    assert_eq!(stored[1].value, "two");
    let stats = emu.stats();
    assert_eq!(stats.count("main", "SecretSet"), 2);
    assert_eq!(stats.count("main", "SecretGet"), 3);
    assert_eq!(stats.count("main", "SecretUpdate"), 1);
    assert_eq!(stats.count("main", "SecretListVersions"), 1);
    emu.reset_stats();
    assert_eq!(emu.stats().total_for("main"), 0);
}

#[tokio::test]
async fn list_pages_with_absolute_next_link() {
    let emu = emulator().await;
    let kv = Kv::new(&emu, WRITER).await;
    for i in 0..30 {
        kv.set(&format!("page-{i:02}"), json!({"value": "v"})).await;
    }
    let (status, first) = kv.get("secrets").await;
    assert_eq!(status, 200);
    assert_eq!(first["value"].as_array().map(Vec::len), Some(25));
    let next = first["nextLink"].as_str().expect("nextLink");
    assert!(next.starts_with(&format!("{}secrets?", kv.base)), "{next}");
    assert!(
        next.contains("api-version=7.5") && next.contains("$skiptoken="),
        "{next}"
    );
    let (_, second) = kv.get(next).await;
    assert_eq!(second["value"].as_array().map(Vec::len), Some(7));
    assert!(second["nextLink"].is_null());
    assert!(second["value"][0].get("value").is_none());

    let mut seen = 0;
    let mut link = Some(format!("{}secrets?api-version=7.5&maxresults=4", kv.base));
    while let Some(l) = link {
        let (status, page) = kv.get(&l).await;
        assert_eq!(status, 200);
        let n = page["value"].as_array().map(Vec::len).unwrap_or(0);
        assert!(n <= 4);
        seen += n;
        link = page["nextLink"].as_str().map(str::to_string);
    }
    assert_eq!(seen, 32);
    for bad in ["0", "26", "x"] {
        let (status, body) = kv.get(&format!("secrets?maxresults={bad}")).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"]["code"], "BadParameter");
    }
}

#[tokio::test]
async fn validation_errors() {
    let emu = emulator().await;
    let kv = Kv::new(&emu, WRITER).await;
    let too_many_tags: serde_json::Map<String, Value> =
        (0..16).map(|i| (format!("t{i}"), json!("v"))).collect();
    let cases = [
        ("bad_name", json!({"value": "v"})),
        ("ok", json!({"value": "x".repeat(25 * 1024 + 1)})),
        ("ok", json!({"value": "v", "tags": too_many_tags})),
        ("ok", json!({"value": "v", "tags": {"k": "x".repeat(513)}})),
        ("ok", json!({"value": "v", "contentType": "x".repeat(256)})),
        (&"n".repeat(128), json!({"value": "v"})),
    ];
    for (name, body) in cases {
        let (status, resp) = kv.set(name, body).await;
        assert_eq!(status, 400, "{name}: {resp}");
        assert_eq!(resp["error"]["code"], "BadParameter");
    }
    let (status, _) = kv.set("ok", json!({"value": "x".repeat(25 * 1024)})).await;
    assert_eq!(status, 200);
    let resp = kv
        .http
        .get(format!("{}secrets/ok", kv.base))
        .bearer_auth(&kv.token)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn rbac_forbids_and_scopes() {
    let emu = emulator().await;
    let reader = Kv::new(&emu, READER).await;
    let (status, body) = reader.set("x", json!({"value": "v"})).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "Forbidden");
    assert_eq!(body["error"]["innererror"]["code"], "ForbiddenByRbac");
    let msg = body["error"]["message"].as_str().expect("message");
    assert!(msg.starts_with(
        "Caller is not authorized to perform action on resource.\r\nIf role assignments"
    ));
    assert!(msg.contains(&format!("Caller: appid={READER};oid=")));
    assert!(msg.contains("Action: 'Microsoft.KeyVault/vaults/secrets/setSecret/action'"));
    assert_eq!(reader.get("secrets").await.0, 200);

    let scoped = Kv::new(&emu, SCOPED).await;
    assert_eq!(scoped.get("secrets/scoped-secret").await.0, 200);
    assert_eq!(scoped.get("secrets/other-secret").await.0, 403);
    assert_eq!(scoped.get("secrets").await.0, 403);

    let nobody = Kv::new(&emu, NOBODY).await;
    assert_eq!(nobody.get("secrets/scoped-secret").await.0, 403);
    assert_eq!(emu.stats().count_status("main", "SecretGet", 403), 2);
}

#[tokio::test]
async fn disabled_and_missing_secrets() {
    let emu = emulator().await;
    let kv = Kv::new(&emu, READER).await;
    emu.set_secret_enabled("main", "other-secret", false);
    let (status, body) = kv.get("secrets/other-secret").await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({"error":{"code":"Forbidden","message":"Operation get is not allowed on a disabled secret.","innererror":{"code":"SecretDisabled"}}})
    );
    let (status, body) = kv.get("secrets/absent").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "SecretNotFound");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .starts_with("A secret with (name/id) absent was not found in this key vault.")
    );
    let http = http(&emu);
    let resp = http
        .get(format!(
            "{}secrets/absent",
            emu.vault_url("main").expect("vault")
        ))
        .bearer_auth(&kv.token)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 400, "missing api-version");
}

#[tokio::test]
async fn delete_recover_purge() {
    let emu = emulator().await;
    let kv = Kv::new(&emu, WRITER).await;
    kv.set("doomed", json!({"value": "v"})).await;
    let (status, deleted) = kv
        .call(reqwest::Method::DELETE, "secrets/doomed", None)
        .await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(
        deleted["recoveryId"],
        format!("{}deletedsecrets/doomed", kv.base)
    );
    assert!(deleted["deletedDate"].is_i64() && deleted["scheduledPurgeDate"].is_i64());
    assert_eq!(kv.get("secrets/doomed").await.0, 404);
    let (status, conflict) = kv.set("doomed", json!({"value": "again"})).await;
    assert_eq!(status, 409);
    assert_eq!(conflict["error"]["code"], "Conflict");
    assert_eq!(
        conflict["error"]["innererror"]["code"],
        "ObjectIsDeletedButRecoverable"
    );
    let (status, list) = kv.get("deletedsecrets").await;
    assert_eq!(status, 200);
    assert_eq!(list["value"][0]["recoveryId"], deleted["recoveryId"]);
    assert_eq!(kv.get("deletedsecrets/doomed").await.0, 200);
    let (status, _) = kv
        .call(reqwest::Method::POST, "deletedsecrets/doomed/recover", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(kv.get("secrets/doomed").await.1["value"], "v");
    kv.call(reqwest::Method::DELETE, "secrets/doomed", None)
        .await;
    let (status, _) = kv
        .call(reqwest::Method::DELETE, "deletedsecrets/doomed", None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(kv.get("deletedsecrets/doomed").await.0, 404);
    assert_eq!(kv.set("doomed", json!({"value": "new"})).await.0, 200);
    let stats = emu.stats();
    for op in [
        "SecretDelete",
        "DeletedSecretList",
        "DeletedSecretGet",
        "SecretRecover",
        "SecretPurge",
    ] {
        assert!(stats.count("main", op) >= 1, "{op}");
    }
}

#[tokio::test]
async fn seed_at_run_time_starts_new_vault() {
    let emu = emulator().await;
    let mut seed = crate::helpers::seed();
    seed.tenants.clear();
    seed.vaults[0].name = "second".to_string();
    emu.apply_seed(seed).expect("seed applies");
    let second = emu.vault_url("second").expect("second vault");
    assert_ne!(second, emu.vault_url("main").expect("main"));
    let http = http(&emu);
    let token = vault_token(&emu, &http, READER).await;
    let resp = http
        .get(format!("{second}secrets/other-secret?api-version=7.6"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    assert_eq!(emu.stats().count("second", "SecretGet"), 1);
    emu.shutdown().await;
}
