//! The Key Vault behaviours the emulator README lists under "Differences from Lowkey Vault and
//! from Azure", each checked against the Azure documentation it cites:
//! - "Authenticate to Azure Key Vault" (Learn, "Authentication to Key Vault with REST"): a 401
//!   when a token is not supplied *or not accepted*, with
//!   `WWW-Authenticate: Bearer authorization="…", resource="…"`, resource `https://vault.azure.net`.
//! - "About Azure Key Vault secrets": values up to 25 KB, `contentType` up to 255 characters,
//!   up to 15 tags with 512-character names and values (revision of 2026-01-08).
//! - "Azure Key Vault keys, secrets, and certificates overview", "Object identifiers": names are
//!   case-insensitive.
//! - `secrets.json` 2025-07-01 (Azure/azure-rest-api-specs): `maxresults` 1 to 25.
//! - Azure's common response headers ("x-ms-request-id: a unique identifier for the current
//!   operation, service generated"; the Key Vault pages do not list it, the Azure SDKs'
//!   recordings of live Key Vault answers carry it): every answer has one, a 204 included.

use crate::helpers::*;
use serde_json::{Map, Value, json};

const API: &str = "api-version=2025-07-01";

async fn put(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    name: &str,
    body: Value,
) -> reqwest::Response {
    http.put(format!("{base}secrets/{name}?{API}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn a_rejected_token_gets_the_same_challenge_as_a_missing_one() {
    let emu = emulator().await;
    let http = http(&emu);
    let base = emu.vault_url("main").expect("vault");
    let reader = vault_token(&emu, &http, READER).await;
    // A token for another resource: signed by the right authority, not accepted by the vault.
    let graph = token_for(&emu, &http, READER, "https://graph.microsoft.com/.default").await;
    for (case, token) in [
        ("missing", None),
        ("not accepted", Some(graph.as_str())),
        ("tampered", Some(&reader[..reader.len() - 4])),
    ] {
        let mut req = http.get(format!("{base}secrets/Other-Secret?{API}"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        assert_eq!(resp.status(), 401, "{case}");
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{case}: no WWW-Authenticate"))
            .to_string();
        assert!(challenge.starts_with("Bearer "), "{case}: {challenge}");
        assert!(
            challenge.contains(&format!(
                "authorization=\"{}/{TENANT}\"",
                emu.authority_host()
            )),
            "{case}: {challenge}"
        );
        assert!(
            challenge.contains("resource=\"https://vault.azure.net\""),
            "{case}: {challenge}"
        );
        assert!(resp.headers().contains_key("x-ms-request-id"), "{case}");
    }
}

#[tokio::test]
async fn tags_are_limited_to_15_with_512_character_names_and_values() {
    let emu = emulator().await;
    let http = http(&emu);
    let base = emu.vault_url("main").expect("vault");
    let token = vault_token(&emu, &http, WRITER).await;
    let tags = |n: usize, chars: usize| -> Map<String, Value> {
        (0..n)
            .map(|i| (format!("{i:0>chars$}"), json!("v".repeat(chars))))
            .collect()
    };

    let at_limit = put(
        &http,
        &base,
        &token,
        "tagged",
        json!({"value": "v", "tags": tags(15, 512)}),
    )
    .await;
    assert_eq!(
        at_limit.status(),
        200,
        "15 tags of 512 characters are allowed"
    );
    let stored: Value = at_limit.json().await.expect("json");
    assert_eq!(stored["tags"].as_object().map(Map::len), Some(15));

    for (case, body) in [
        ("16 tags", json!({"value": "v", "tags": tags(16, 1)})),
        (
            "a 513-character name",
            json!({"value": "v", "tags": tags(1, 513)}),
        ),
        (
            "a 513-character value",
            json!({"value": "v", "tags": {"k": "v".repeat(513)}}),
        ),
    ] {
        let resp = put(&http, &base, &token, "tagged", body).await;
        assert_eq!(resp.status(), 400, "{case}");
        let error: Value = resp.json().await.expect("json");
        assert_eq!(error["error"]["code"], "BadParameter", "{case}");
    }
}

#[tokio::test]
async fn value_and_content_type_are_limited_to_25_kb_and_255_characters() {
    let emu = emulator().await;
    let http = http(&emu);
    let base = emu.vault_url("main").expect("vault");
    let token = vault_token(&emu, &http, WRITER).await;
    for (body, status) in [
        (json!({"value": "x".repeat(25 * 1024)}), 200),
        (json!({"value": "x".repeat(25 * 1024 + 1)}), 400),
        (json!({"value": "v", "contentType": "c".repeat(255)}), 200),
        (json!({"value": "v", "contentType": "c".repeat(256)}), 400),
    ] {
        let resp = put(&http, &base, &token, "sized", body).await;
        assert_eq!(resp.status(), status);
    }
}

#[tokio::test]
async fn names_are_case_insensitive_and_keep_their_first_case() {
    let emu = emulator().await;
    let http = http(&emu);
    let base = emu.vault_url("main").expect("vault");
    let token = vault_token(&emu, &http, WRITER).await;
    assert_eq!(
        put(&http, &base, &token, "Mixed-Case", json!({"value": "one"}))
            .await
            .status(),
        200
    );
    assert_eq!(
        put(&http, &base, &token, "MIXED-case", json!({"value": "two"}))
            .await
            .status(),
        200
    );
    let got: Value = http
        .get(format!("{base}secrets/mixed-CASE?{API}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(got["value"], "two", "one secret, two versions");
    let id = got["id"].as_str().expect("id");
    assert!(id.contains("/secrets/Mixed-Case/"), "{id}");
}

#[tokio::test]
async fn every_vault_answer_carries_a_request_id() {
    let emu = emulator().await;
    let http = http(&emu);
    let base = emu.vault_url("main").expect("vault");
    let token = vault_token(&emu, &http, WRITER).await;
    put(&http, &base, &token, "purged", json!({"value": "v"})).await;
    let requests = [
        http.get(format!("{base}secrets/Other-Secret?{API}")),
        http.get(format!("{base}secrets/nowhere?{API}")),
        http.get(format!("{base}secrets?maxresults=26&{API}")),
        http.delete(format!("{base}secrets/purged?{API}")),
        http.delete(format!("{base}deletedsecrets/purged?{API}")),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for req in requests {
        let resp = req.bearer_auth(&token).send().await.expect("request");
        let status = resp.status().as_u16();
        let id = resp
            .headers()
            .get("x-ms-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no x-ms-request-id on a {status}"))
            .to_string();
        assert!(uuid_like(&id), "{status}: {id}");
        assert!(seen.insert(id), "request ids are unique");
    }
}

fn uuid_like(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && s.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}
