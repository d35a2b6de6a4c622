//! Microsoft Graph client for the client-secret lifecycle of one application: read its
//! `passwordCredentials`, `addPassword`, `removePassword`.
//!
//! It authenticates with the ROTATOR's own credential (the one it uses for Key Vault) for
//! `{graph}/.default`; with `Application.ReadWrite.OwnedBy` the rotator must own the app.
//! A new secret's text exists only inside a [`SecretString`]; Graph errors are turned into
//! [`StepError`]s naming the code (`CredentialInvalidLifetimeAsPerAppPolicy`,
//! `Authorization_RequestDenied` …) and what to do about it.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use url::Url;

use crate::error::{ErrorClass, StepError};
use crate::net::http::{describe_reqwest, read_limited};
use crate::telemetry::metrics::Metrics;

/// One `passwordCredential` as Graph lists it (never with its text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordCredential {
    pub key_id: String,
    pub display_name: Option<String>,
    pub hint: Option<String>,
    pub start: Option<OffsetDateTime>,
    pub end: Option<OffsetDateTime>,
}

/// The application object: its Graph object id and client secrets.
#[derive(Debug, Clone)]
pub struct Application {
    pub object_id: String,
    pub password_credentials: Vec<PasswordCredential>,
}

/// A secret just added: its text is shown once by Graph. No `Debug`.
pub struct AddedPassword {
    pub key_id: String,
    pub secret_text: SecretString,
    pub end: Option<OffsetDateTime>,
}

/// What `removePassword` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    Removed,
    /// It was already gone (a previous run removed it before recording that).
    AlreadyGone,
}

/// Graph over the shared HTTPS client.
#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base: Url,
    resource: String,
    credential: Arc<dyn TokenCredential>,
    metrics: Arc<Metrics>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawApplication {
    id: String,
    #[serde(default)]
    password_credentials: Vec<RawPassword>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPassword {
    key_id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    hint: Option<String>,
    #[serde(default)]
    start_date_time: Option<String>,
    #[serde(default)]
    end_date_time: Option<String>,
    #[serde(default)]
    secret_text: Option<String>,
}

impl RawPassword {
    fn credential(&self) -> PasswordCredential {
        PasswordCredential {
            key_id: self.key_id.to_ascii_lowercase(),
            display_name: self.display_name.clone(),
            hint: self.hint.clone(),
            start: self
                .start_date_time
                .as_deref()
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok()),
            end: self
                .end_date_time
                .as_deref()
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok()),
        }
    }
}

impl GraphClient {
    /// `base` is the cloud's Graph endpoint, like `https://graph.microsoft.com`; `resource`
    /// the Graph resource of the cloud (usually the same URL).
    pub fn new(
        http: reqwest::Client,
        base: Url,
        resource: String,
        credential: Arc<dyn TokenCredential>,
        metrics: Arc<Metrics>,
    ) -> Self {
        GraphClient {
            http,
            base,
            resource,
            credential,
            metrics,
        }
    }

    /// `{graph}/.default`.
    pub fn scope(&self) -> String {
        format!("{}/.default", self.resource.trim_end_matches('/'))
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1.0/{path}", self.base.as_str().trim_end_matches('/'))
    }

    async fn token(&self) -> Result<SecretString, StepError> {
        let scope = self.scope();
        let token = self
            .credential
            .get_token(&[scope.as_str()], None)
            .await
            .map_err(|e| {
                StepError::new(
                    ErrorClass::RotatorCredential,
                    format!(
                        "the rotator's own identity could not get a Microsoft Graph token for {scope}: {}",
                        crate::error::error_chain(&e)
                    ),
                )
            })?;
        Ok(SecretString::from(token.token.secret().to_string()))
    }

    async fn send(
        &self,
        operation: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, Vec<u8>), StepError> {
        let token = self.token().await?;
        let result = request
            .bearer_auth(token.expose_secret())
            .header("client-request-id", random_guid())
            .send()
            .await;
        self.metrics.record_sent("graph", operation, &result);
        let resp = result.map_err(|e| {
            StepError::new(
                ErrorClass::Transient,
                format!("cannot reach Microsoft Graph: {}", describe_reqwest(&e)),
            )
        })?;
        let status = resp.status().as_u16();
        Ok((status, read_limited(resp).await?))
    }

    /// `GET /v1.0/applications(appId='…')?$select=id,passwordCredentials`.
    pub async fn application(&self, app_id: &str) -> Result<Application, StepError> {
        let url = self.url(&format!(
            "applications(appId='{app_id}')?$select=id,passwordCredentials"
        ));
        let (status, body) = self
            .send("application_get", self.http.get(url))
            .await
            .map_err(|e| e.context(format!("read application {app_id} in Microsoft Graph")))?;
        if status != 200 {
            return Err(graph_error(status, &body, "read", app_id));
        }
        let raw: RawApplication = serde_json::from_slice(&body).map_err(|_| {
            StepError::new(
                ErrorClass::MalformedResponse,
                format!("Microsoft Graph returned an unreadable application {app_id}"),
            )
        })?;
        Ok(Application {
            object_id: raw.id,
            password_credentials: raw
                .password_credentials
                .iter()
                .map(RawPassword::credential)
                .collect(),
        })
    }

    /// `POST /v1.0/applications/{objectId}/addPassword`.
    pub async fn add_password(
        &self,
        app_id: &str,
        object_id: &str,
        display_name: &str,
        end: OffsetDateTime,
    ) -> Result<AddedPassword, StepError> {
        let url = self.url(&format!("applications/{object_id}/addPassword"));
        let body = serde_json::json!({"passwordCredential": {
            "displayName": display_name,
            "endDateTime": crate::timefmt::rfc3339(end),
        }});
        let (status, body) = self
            .send("add_password", self.http.post(url).json(&body))
            .await
            .map_err(|e| e.context(format!("addPassword on application {app_id}")))?;
        if status != 200 {
            return Err(graph_error(status, &body, "add a client secret to", app_id));
        }
        let raw: RawPassword = serde_json::from_slice(&body).map_err(|_| {
            StepError::new(
                ErrorClass::MalformedResponse,
                format!("Microsoft Graph's addPassword answer for {app_id} is unreadable"),
            )
        })?;
        let cred = raw.credential();
        let Some(text) = raw.secret_text.filter(|t| !t.is_empty()) else {
            return Err(StepError::new(
                ErrorClass::MalformedResponse,
                format!("Microsoft Graph's addPassword answer for {app_id} has no secretText"),
            ));
        };
        Ok(AddedPassword {
            key_id: cred.key_id,
            secret_text: SecretString::from(text),
            end: cred.end,
        })
    }

    /// `POST /v1.0/applications/{objectId}/removePassword`; a credential that is already gone
    /// counts as removed.
    pub async fn remove_password(
        &self,
        app_id: &str,
        object_id: &str,
        key_id: &str,
    ) -> Result<Removed, StepError> {
        let url = self.url(&format!("applications/{object_id}/removePassword"));
        let (status, body) = self
            .send(
                "remove_password",
                self.http
                    .post(url)
                    .json(&serde_json::json!({"keyId": key_id})),
            )
            .await
            .map_err(|e| e.context(format!("removePassword on application {app_id}")))?;
        match status {
            200 | 204 => Ok(Removed::Removed),
            404 if graph_code(&body).as_deref() != Some("Authorization_RequestDenied") => {
                Ok(Removed::AlreadyGone)
            }
            _ => Err(graph_error(
                status,
                &body,
                &format!("remove client secret {key_id} from"),
                app_id,
            )),
        }
    }
}

fn graph_code(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v["error"]["code"].as_str().map(str::to_string)
}

/// A Graph error body `{"error":{"code","message"}}` as a classified error with advice.
fn graph_error(status: u16, body: &[u8], action: &str, app_id: &str) -> StepError {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let code = v["error"]["code"].as_str().map(str::to_string);
    let message: String = v["error"]["message"]
        .as_str()
        .unwrap_or("")
        .chars()
        .take(300)
        .collect();
    let (class, advice) = match (status, code.as_deref()) {
        (_, Some("CredentialInvalidLifetimeAsPerAppPolicy")) => (
            ErrorClass::Configuration,
            "the tenant's app-management policy refuses this secret lifetime: shorten `rotate.lifetime` to the policy's maximum".to_string(),
        ),
        (401, _) => (
            ErrorClass::RotatorCredential,
            "Microsoft Graph did not accept the rotator's token".to_string(),
        ),
        (403, _) => (
            ErrorClass::PermissionDenied,
            format!(
                "grant the rotator's identity the Microsoft Graph application permission Application.ReadWrite.OwnedBy and add it as an owner of application {app_id}"
            ),
        ),
        (404, _) => (
            ErrorClass::UnknownApp,
            format!("no application {app_id} in Microsoft Graph (check client_id and tenant)"),
        ),
        (429, _) | (500..=599, _) => (
            ErrorClass::Transient,
            "Microsoft Graph is throttling or unavailable; the next run will resume".to_string(),
        ),
        _ => (
            ErrorClass::MalformedResponse,
            "unexpected Microsoft Graph answer".to_string(),
        ),
    };
    let detail = match (&code, message.is_empty()) {
        (Some(c), false) => format!(" ({c}: {message})"),
        (Some(c), true) => format!(" ({c})"),
        (None, _) => String::new(),
    };
    let e = StepError::new(
        class,
        format!("cannot {action} application {app_id}: HTTP {status}{detail}; {advice}"),
    );
    match code {
        Some(c) => e.with_code(c),
        None => e,
    }
}

/// A random GUID (v4) from the system's CSPRNG.
pub fn random_guid() -> String {
    let mut b = [0u8; 16];
    // A failing system RNG leaves zeros; callers only use this for ids, not for secrets.
    let _ = aws_lc_rs::rand::fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
