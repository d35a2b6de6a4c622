//! Microsoft Graph applications: read passwordCredentials, addPassword (policy, propagation),
//! removePassword, permissions and Graph-shaped errors, and the effect on the token endpoint.

use std::collections::BTreeMap;

use crate::helpers::*;
use akv_emulator::{
    AppRegistrationSeed, AppSeed, ClientSecretSeed, EmulatorHandle, Seed, TenantSeed,
};
use serde_json::{Value, json};

const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
const ADMIN: &str = "bbbbbbbb-0000-0000-0000-000000000001";
const GRAPH_READER: &str = "bbbbbbbb-0000-0000-0000-000000000002";
const OWNER: &str = "bbbbbbbb-0000-0000-0000-000000000003";
const TARGET: &str = "bbbbbbbb-0000-0000-0000-000000000004";
const TARGET_OBJECT: &str = "cccccccc-0000-0000-0000-000000000004";
const TARGET_KEY: &str = "dddddddd-0000-0000-0000-000000000004";

fn graph_app(client_id: &str, roles: &[&str]) -> AppSeed {
    AppSeed {
        client_id: client_id.to_string(),
        display_name: Some(format!("app-{}", &client_id[..8])),
        secrets: vec![ClientSecretSeed {
            value: SECRET.to_string(),
            key_id: (client_id == TARGET).then(|| TARGET_KEY.to_string()),
            start: Some(time::macros::datetime!(2025-01-01 0:00 UTC)),
            end: Some(time::macros::datetime!(2030-01-01 0:00 UTC)),
            ..Default::default()
        }],
        roles: BTreeMap::from([(
            "https://graph.microsoft.com".to_string(),
            roles.iter().map(|r| r.to_string()).collect(),
        )]),
        ..Default::default()
    }
}

async fn graph_emulator() -> EmulatorHandle {
    let emu = emulator().await;
    emu.apply_seed(Seed {
        tenants: vec![TenantSeed {
            id: TENANT.to_string(),
            apps: vec![
                graph_app(ADMIN, &["Application.ReadWrite.All"]),
                graph_app(GRAPH_READER, &["Application.Read.All"]),
                graph_app(OWNER, &["Application.ReadWrite.OwnedBy"]),
                graph_app(TARGET, &[]),
            ],
        }],
        app_registrations: vec![AppRegistrationSeed {
            client_id: TARGET.to_string(),
            application_object_id: Some(TARGET_OBJECT.to_string()),
            owners: vec![OWNER.to_string()],
            ..Default::default()
        }],
        ..Default::default()
    })
    .expect("seed");
    emu
}

/// `POST /v1.0/applications/{id}/<action>` on the target app, as the Graph admin.
async fn target_action(
    emu: &EmulatorHandle,
    http: &reqwest::Client,
    action: &str,
    body: Value,
) -> (u16, Value) {
    let path = format!("/v1.0/applications/{TARGET_OBJECT}/{action}");
    call(emu, http, Some(ADMIN), "POST", &path, Some(body)).await
}

async fn call(
    emu: &EmulatorHandle,
    http: &reqwest::Client,
    caller: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{}{path}", emu.graph_url());
    let mut req = match method {
        "GET" => http.get(url),
        _ => http.post(url),
    };
    if let Some(c) = caller {
        req = req.bearer_auth(token_for(emu, http, c, GRAPH_SCOPE).await);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req
        .header("client-request-id", "11112222-3333-4444-5555-666677778888")
        .send()
        .await
        .expect("graph request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("json")
    };
    (status, v)
}

fn assert_graph_error(status: u16, body: &Value, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string());
    let inner = &body["error"]["innerError"];
    assert!(inner["date"].as_str().expect("date").ends_with('Z'));
    assert!(inner["request-id"].is_string());
    assert_eq!(
        inner["client-request-id"],
        "11112222-3333-4444-5555-666677778888"
    );
}

async fn secret_token_status(
    emu: &EmulatorHandle,
    http: &reqwest::Client,
    secret: &str,
) -> (u16, Value) {
    v2_token_response(
        emu,
        http,
        TARGET,
        secret,
        "https://vault.azure.net/.default",
    )
    .await
}

#[tokio::test]
async fn read_application_by_app_id() {
    let emu = graph_emulator().await;
    let http = http(&emu);
    assert_eq!(
        emu.application_object_id(TARGET).as_deref(),
        Some(TARGET_OBJECT)
    );
    let (status, body) = call(
        &emu,
        &http,
        Some(GRAPH_READER),
        "GET",
        &format!("/v1.0/applications(appId='{TARGET}')?$select=id,passwordCredentials"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], TARGET_OBJECT);
    assert!(body.get("appId").is_none(), "$select limits the fields");
    let creds = body["passwordCredentials"].as_array().expect("creds");
    assert_eq!(creds.len(), 1);
    assert_eq!(
        creds[0],
        json!({
            "customKeyIdentifier": null,
            "displayName": null,
            "endDateTime": "2030-01-01T00:00:00Z",
            "hint": &SECRET[..3],
            "keyId": TARGET_KEY,
            "secretText": null,
            "startDateTime": "2025-01-01T00:00:00Z",
        })
    );
    // Without $select, by object id, URL-encoded quotes work too.
    let (status, body) = call(
        &emu,
        &http,
        Some(ADMIN),
        "GET",
        &format!("/v1.0/applications(appId=%27{TARGET}%27)"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["appId"], TARGET);
    assert_eq!(body["id"], TARGET_OBJECT);
    assert!(body["displayName"].is_string());
    let (status, body) = call(
        &emu,
        &http,
        Some(ADMIN),
        "GET",
        &format!("/v1.0/applications/{TARGET_OBJECT}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        &emu,
        &http,
        Some(ADMIN),
        "GET",
        "/v1.0/applications(appId='00000000-0000-0000-0000-00000000dead')",
        None,
    )
    .await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound");
    assert!(emu.stats().count("graph", "ApplicationGet") >= 4);
}

#[tokio::test]
async fn add_password_then_remove_password() {
    let emu = graph_emulator().await;
    let http = http(&emu);
    let (status, added) = target_action(&emu, &http, "addPassword", json!({"passwordCredential": {"displayName": "rotated", "endDateTime": "2031-06-01T00:00:00Z"}}))
    .await;
    assert_eq!(status, 200, "{added}");
    let secret = added["secretText"]
        .as_str()
        .expect("secretText")
        .to_string();
    assert_eq!(secret.len(), 40);
    assert_eq!(&secret[4..6], "Q~");
    assert_eq!(added["hint"], &secret[..3]);
    assert_eq!(added["displayName"], "rotated");
    assert_eq!(added["endDateTime"], "2031-06-01T00:00:00Z");
    assert!(
        added["startDateTime"]
            .as_str()
            .expect("start")
            .ends_with('Z')
    );
    let key_id = added["keyId"].as_str().expect("keyId").to_string();

    // The new secret works at once (propagation 0 by default); the list shows it.
    let (status, body) = secret_token_status(&emu, &http, &secret).await;
    assert_eq!(status, 200, "{body}");
    let (_, app) = call(
        &emu,
        &http,
        Some(ADMIN),
        "GET",
        &format!("/v1.0/applications(appId='{TARGET}')?$select=id,passwordCredentials"),
        None,
    )
    .await;
    let creds = app["passwordCredentials"].as_array().expect("creds");
    assert_eq!(creds.len(), 2);
    assert!(creds.iter().all(|c| c["secretText"].is_null()));

    let (status, body) =
        target_action(&emu, &http, "removePassword", json!({"keyId": key_id})).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = secret_token_status(&emu, &http, &secret).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error_codes"][0], 7000215);

    let (status, body) =
        target_action(&emu, &http, "removePassword", json!({"keyId": key_id})).await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound");
    let stats = emu.stats();
    assert_eq!(stats.count_status("graph", "AddPassword", 200), 1);
    assert_eq!(stats.count_status("graph", "RemovePassword", 204), 1);
    assert_eq!(stats.count_status("graph", "RemovePassword", 404), 1);
}

#[tokio::test]
async fn new_secret_propagates_after_the_configured_delay() {
    let emu = graph_emulator().await;
    emu.set_secret_propagation_secs(2);
    let http = http(&emu);
    let (status, added) = call(
        &emu,
        &http,
        Some(ADMIN),
        "POST",
        &format!("/v1.0/applications(appId='{TARGET}')/addPassword"),
        Some(json!({"passwordCredential": {"displayName": "slow"}})),
    )
    .await;
    assert_eq!(status, 200, "{added}");
    let secret = added["secretText"].as_str().expect("secret").to_string();
    let (status, body) = secret_token_status(&emu, &http, &secret).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error_codes"][0], 7000215);
    tokio::time::sleep(std::time::Duration::from_millis(2300)).await;
    let (status, body) = secret_token_status(&emu, &http, &secret).await;
    assert_eq!(status, 200, "{body}");

    // The admin API sets it too.
    let resp = http
        .post(format!(
            "{}/_emulator/secret-propagation",
            emu.authority_host()
        ))
        .json(&json!({"secs": 0}))
        .send()
        .await
        .expect("admin");
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn lifetime_policy_refuses_long_secrets() {
    let emu = graph_emulator().await;
    emu.apply_seed(Seed {
        tenant_policies: vec![akv_emulator::TenantPolicySeed {
            tenant_id: TENANT.to_string(),
            max_secret_lifetime_days: Some(30),
            ..Default::default()
        }],
        ..Default::default()
    })
    .expect("seed");
    let http = http(&emu);
    let end = |days: i64| {
        (time::OffsetDateTime::now_utc() + time::Duration::days(days))
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format")
    };
    let (status, body) = target_action(
        &emu,
        &http,
        "addPassword",
        json!({"passwordCredential": {"displayName": "long", "endDateTime": end(60)}}),
    )
    .await;
    assert_graph_error(
        status,
        &body,
        400,
        "CredentialInvalidLifetimeAsPerAppPolicy",
    );
    assert_eq!(
        body["error"]["message"],
        "Credential lifetime exceeds the max value allowed as per assigned policy."
    );
    // Default lifetime (2 years) is refused as well; 20 days is fine.
    let (status, _) = target_action(
        &emu,
        &http,
        "addPassword",
        json!({"passwordCredential": {}}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, body) = target_action(
        &emu,
        &http,
        "addPassword",
        json!({"passwordCredential": {"displayName": "short", "endDateTime": end(20)}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn permissions_follow_graph_rules() {
    let emu = graph_emulator().await;
    let http = http(&emu);
    let add = |target: &str| format!("/v1.0/applications(appId='{target}')/addPassword");
    let body = || Some(json!({"passwordCredential": {"displayName": "x"}}));

    // Read-only role: read yes, write no.
    let (status, resp) = call(
        &emu,
        &http,
        Some(GRAPH_READER),
        "POST",
        &add(TARGET),
        body(),
    )
    .await;
    assert_graph_error(status, &resp, 403, "Authorization_RequestDenied");
    assert_eq!(
        resp["error"]["message"],
        "Insufficient privileges to complete the operation."
    );
    // OwnedBy: only apps it owns.
    let (status, resp) = call(&emu, &http, Some(OWNER), "POST", &add(TARGET), body()).await;
    assert_eq!(status, 200, "{resp}");
    let (status, resp) = call(&emu, &http, Some(OWNER), "POST", &add(ADMIN), body()).await;
    assert_graph_error(status, &resp, 403, "Authorization_RequestDenied");
    // No Graph roles at all.
    let (status, resp) = call(
        &emu,
        &http,
        Some(WRITER),
        "GET",
        &format!("/v1.0/applications(appId='{TARGET}')"),
        None,
    )
    .await;
    assert_graph_error(status, &resp, 403, "Authorization_RequestDenied");
    // No token; a token for another audience.
    let (status, resp) = call(
        &emu,
        &http,
        None,
        "GET",
        &format!("/v1.0/applications(appId='{TARGET}')"),
        None,
    )
    .await;
    assert_graph_error(status, &resp, 401, "InvalidAuthenticationToken");
    let vault_token = token_for(&emu, &http, ADMIN, "https://vault.azure.net/.default").await;
    let resp = http
        .get(format!(
            "{}/v1.0/applications(appId='{TARGET}')",
            emu.graph_url()
        ))
        .bearer_auth(vault_token)
        .send()
        .await
        .expect("graph");
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["error"]["code"], "InvalidAuthenticationToken");
    assert_eq!(emu.stats().count_status("graph", "AddPassword", 403), 2);
}
