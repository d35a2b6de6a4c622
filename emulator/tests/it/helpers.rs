//! Shared test helpers: a seeded emulator, a reqwest client that trusts its CA, and token
//! fetching.

use std::collections::BTreeMap;

use akv_emulator::{
    AppSeed, ClientSecretSeed, EmulatorHandle, EmulatorOptions, PermissionSeed, SecretSeed, Seed,
    TenantSeed, VaultSeed,
};
use serde_json::Value;
use time::OffsetDateTime;

pub const TENANT: &str = "11111111-2222-3333-4444-555555555555";
pub const WRITER: &str = "aaaaaaaa-0000-0000-0000-000000000001";
pub const READER: &str = "aaaaaaaa-0000-0000-0000-000000000002";
pub const SCOPED: &str = "aaaaaaaa-0000-0000-0000-000000000003";
pub const NOBODY: &str = "aaaaaaaa-0000-0000-0000-000000000004";
pub const EXPIRED: &str = "aaaaaaaa-0000-0000-0000-000000000005";
pub const FUTURE: &str = "aaaaaaaa-0000-0000-0000-000000000006";
pub const SECRET: &str = "test-secret-value~0123456789";

fn app(client_id: &str, secret: ClientSecretSeed) -> AppSeed {
    AppSeed {
        client_id: client_id.to_string(),
        display_name: None,
        object_id: None,
        secrets: vec![secret],
        roles: BTreeMap::new(),
    }
}

fn valid() -> ClientSecretSeed {
    ClientSecretSeed {
        value: SECRET.to_string(),
        ..ClientSecretSeed::default()
    }
}

pub fn seed() -> Seed {
    let now = OffsetDateTime::now_utc();
    let mut writer = app(WRITER, valid());
    writer.roles.insert(
        "https://analysis.windows.net/powerbi/api".to_string(),
        vec!["Tenant.Read.All".to_string()],
    );
    let perm = |principal: &str, read, write, secrets: Option<Vec<String>>| PermissionSeed {
        principal: principal.to_string(),
        read,
        write,
        secrets,
    };
    Seed {
        tenants: vec![TenantSeed {
            id: TENANT.to_string(),
            apps: vec![
                writer,
                app(READER, valid()),
                app(SCOPED, valid()),
                app(NOBODY, valid()),
                app(
                    EXPIRED,
                    ClientSecretSeed {
                        end: Some(now - time::Duration::days(1)),
                        ..valid()
                    },
                ),
                app(
                    FUTURE,
                    ClientSecretSeed {
                        start: Some(now + time::Duration::days(1)),
                        ..valid()
                    },
                ),
            ],
        }],
        vaults: vec![VaultSeed {
            name: "main".to_string(),
            tenant_id: TENANT.to_string(),
            permissions: vec![
                perm(WRITER, true, true, None),
                perm(READER, true, false, None),
                perm(SCOPED, true, false, Some(vec!["scoped-secret".to_string()])),
            ],
            secrets: vec![
                SecretSeed {
                    name: "scoped-secret".to_string(),
                    value: "s".to_string(),
                    content_type: None,
                    enabled: true,
                    nbf: None,
                    exp: None,
                    tags: BTreeMap::new(),
                },
                SecretSeed {
                    name: "Other-Secret".to_string(),
                    value: "o".to_string(),
                    content_type: Some("text/plain".to_string()),
                    enabled: true,
                    nbf: None,
                    exp: None,
                    tags: BTreeMap::from([("k".to_string(), "v".to_string())]),
                },
            ],
        }],
        token_lifetime_secs: None,
        resources: vec![],
        ..Seed::default()
    }
}

pub async fn emulator() -> EmulatorHandle {
    akv_emulator::start(EmulatorOptions {
        seed: seed(),
        ..EmulatorOptions::default()
    })
    .await
    .expect("emulator starts")
}

pub fn http(emu: &EmulatorHandle) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(emu.ca_cert_pem().as_bytes()).expect("CA parses");
    reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .expect("client builds")
}

pub async fn token_response(
    emu: &EmulatorHandle,
    http: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let resp = http
        .post(format!("{}/{path}", emu.authority_host()))
        .form(form)
        .send()
        .await
        .expect("token request");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json body"))
}

/// The form of a v2 client-credentials token request.
pub fn v2_form<'a>(client_id: &'a str, secret: &'a str, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
        ("scope", scope),
    ]
}

/// A v2 client-credentials request in the common tenant: (status, body).
pub async fn v2_token_response(
    emu: &EmulatorHandle,
    http: &reqwest::Client,
    client_id: &str,
    secret: &str,
    scope: &str,
) -> (u16, Value) {
    let path = format!("{TENANT}/oauth2/v2.0/token");
    token_response(emu, http, &path, &v2_form(client_id, secret, scope)).await
}

/// The raw answer to a v2 client-credentials request for Key Vault with the common secret
/// (its headers are what a throttle or fault test looks at).
pub async fn raw_vault_token_request(
    emu: &EmulatorHandle,
    http: &reqwest::Client,
    client_id: &str,
) -> reqwest::Response {
    http.post(format!(
        "{}/{TENANT}/oauth2/v2.0/token",
        emu.authority_host()
    ))
    .form(&v2_form(
        client_id,
        SECRET,
        "https://vault.azure.net/.default",
    ))
    .send()
    .await
    .expect("token")
}

pub async fn vault_token(emu: &EmulatorHandle, http: &reqwest::Client, client_id: &str) -> String {
    token_for(emu, http, client_id, "https://vault.azure.net/.default").await
}

/// Decodes the JWT payload (or header with `part = 0`).
pub fn jwt_part(token: &str, part: usize) -> Value {
    use base64::Engine;
    let seg = token.split('.').nth(part).expect("part");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(seg)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

/// A v2 client-credentials token for `scope` with the common secret.
pub async fn token_for(
    emu: &EmulatorHandle,
    http: &reqwest::Client,
    client_id: &str,
    scope: &str,
) -> String {
    let (status, body) = v2_token_response(emu, http, client_id, SECRET, scope).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("token").to_string()
}

/// The tenant's published signing keys (JWKS).
pub async fn published_keys(emu: &EmulatorHandle, http: &reqwest::Client) -> Value {
    let url = format!("{}/{TENANT}/discovery/v2.0/keys", emu.authority_host());
    get_json(http, &url, "jwks").await
}

/// GETs `url` without credentials; `what` names the request in a failure.
pub async fn get(http: &reqwest::Client, url: &str, what: &str) -> reqwest::Response {
    http.get(url).send().await.expect(what)
}

/// [`get`], the answer read as JSON.
pub async fn get_json(http: &reqwest::Client, url: &str, what: &str) -> Value {
    get(http, url, what).await.json().await.expect("json")
}

/// POSTs `body` as JSON to the emulator's admin API (`/_emulator/<path>`) and asserts that
/// the answer has `status`.
pub async fn admin_post(
    emu: &EmulatorHandle,
    http: &reqwest::Client,
    path: &str,
    body: Value,
    status: u16,
) {
    let resp = http
        .post(format!("{}/_emulator/{path}", emu.authority_host()))
        .json(&body)
        .send()
        .await
        .expect("admin");
    assert_eq!(resp.status(), status, "{path} {body}");
}

/// GET a seeded secret (`Other-Secret`) from vault `main` with `token`.
pub async fn vault_get(
    emu: &EmulatorHandle,
    http: &reqwest::Client,
    token: &str,
) -> reqwest::Response {
    http.get(format!(
        "{}secrets/Other-Secret?api-version=7.5",
        emu.vault_url("main").expect("vault")
    ))
    .bearer_auth(token)
    .send()
    .await
    .expect("vault request")
}

/// [`vault_get`]'s status.
pub async fn vault_get_status(emu: &EmulatorHandle, http: &reqwest::Client, token: &str) -> u16 {
    vault_get(emu, http, token).await.status().as_u16()
}

/// A client of vault `main` holding one app's token.
pub struct VaultClient {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl VaultClient {
    pub async fn new(emu: &EmulatorHandle, client_id: &str) -> VaultClient {
        let http = http(emu);
        let token = vault_token(emu, &http, client_id).await;
        VaultClient {
            http,
            base: emu.vault_url("main").expect("vault"),
            token,
        }
    }

    /// One request at `api_version`, which is not added to a full URL (a `nextLink`):
    /// (status, body text).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        api_version: &str,
        body: Option<Value>,
    ) -> (u16, String) {
        let url = if path.starts_with("https://") {
            path.to_string()
        } else {
            let sep = if path.contains('?') { '&' } else { '?' };
            format!("{}{path}{sep}api-version={api_version}", self.base)
        };
        let mut req = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("body"))
    }

    /// One request at API version 7.5; the body as JSON, `Null` when it is none.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, text) = self.send(method, path, "7.5", body).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn set(&self, name: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, &format!("secrets/{name}"), Some(body))
            .await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }
}
