//! Microsoft Entra ID client-credentials grant over reqwest, and the classification of AADSTS
//! errors into [`ErrorClass`]es with advice.
//!
//! What this module returns is an [`AcquiredToken`]: not yet trusted. Only `validate` turns it
//! into something the vault writer accepts. Responses are size-limited and parsed without ever
//! echoing their content (serde messages can quote values, so they are not shown).

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::config::Cloud;
use crate::error::{ErrorClass, StepError};
use crate::net::http::{describe_reqwest, read_limited};
use crate::net::retry::{self, Backoff};
use crate::telemetry::metrics::Metrics;
pub use crate::token::AcquiredToken;

/// Retries of transient failures (429, 408, 5xx, connection errors and timeouts).
const BACKOFF: Backoff = Backoff::ENTRA;

/// Client for `{authority}/{tenant}/oauth2/v2.0/token`.
#[derive(Clone)]
pub struct EntraClient {
    http: reqwest::Client,
    cloud: Cloud,
    metrics: Arc<Metrics>,
    /// Per-tenant adaptive concurrency of token requests (see [`retry::AdaptiveLimits`]).
    tenant_limits: Option<Arc<retry::AdaptiveLimits>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<u64>,
}

impl EntraClient {
    pub fn new(http: reqwest::Client, cloud: Cloud, metrics: Arc<Metrics>) -> Self {
        EntraClient {
            http,
            cloud,
            metrics,
            tenant_limits: None,
        }
    }

    /// Bounds concurrent token requests per tenant by these adaptive limits: a 429 halves the
    /// tenant's limit and holds new requests back for its `Retry-After`.
    pub fn with_tenant_limits(mut self, limits: Arc<retry::AdaptiveLimits>) -> Self {
        self.tenant_limits = Some(limits);
        self
    }

    /// The token endpoint for a tenant.
    pub fn token_url(&self, tenant_id: &str) -> String {
        format!(
            "{}/oauth2/v2.0/token",
            self.cloud.tenant_authority(tenant_id)
        )
    }

    /// The authority host of the configured cloud.
    pub fn cloud(&self) -> &Cloud {
        &self.cloud
    }

    /// The shared HTTPS client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Client-credentials grant with a client secret. Retries transient failures.
    #[tracing::instrument(name = "acquire", skip_all, fields(tenant_id = tenant_id, client_id = client_id, scope = scope))]
    pub async fn acquire(
        &self,
        tenant_id: &str,
        client_id: &str,
        client_secret: &SecretString,
        scope: &str,
    ) -> Result<AcquiredToken, StepError> {
        self.grant(
            tenant_id,
            client_id,
            scope,
            &[("client_secret", client_secret.expose_secret())],
            client_secret,
        )
        .await
    }

    /// The client-credentials POST with the given credential fields, retried on transient
    /// failures. `credential` is only used to redact an echo of it from error text.
    async fn grant(
        &self,
        tenant_id: &str,
        client_id: &str,
        scope: &str,
        credential_fields: &[(&str, &str)],
        credential: &SecretString,
    ) -> Result<AcquiredToken, StepError> {
        let url = self.token_url(tenant_id);
        let started = std::time::Instant::now();
        let mut retries = 0;
        loop {
            let mut form = vec![
                ("client_id", client_id),
                ("scope", scope),
                ("grant_type", "client_credentials"),
            ];
            form.extend_from_slice(credential_fields);
            let limit = self.tenant_limits.as_ref().map(|l| l.get(tenant_id));
            let permit = match &limit {
                Some(l) => Some(l.acquire().await),
                None => None,
            };
            let result = self.http.post(&url).form(&form).send().await;
            if let Some(l) = &limit {
                match &result {
                    Ok(r) => l.observe(r.status().as_u16(), retry::retry_after(r.headers())),
                    Err(_) => l.observe(0, None),
                }
            }
            drop(permit);
            self.metrics.record_sent("entra", "token", &result);
            let outcome = match result {
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = retry::retry_after(resp.headers());
                    match read_limited(resp).await {
                        Ok(body) => parse_token_response(
                            status.as_u16(),
                            &body,
                            client_id,
                            tenant_id,
                            scope,
                            credential,
                        )
                        .map_err(|e| (e, retry_after)),
                        Err(e) => Err((e, None)),
                    }
                }
                Err(e) => Err((
                    StepError::new(
                        ErrorClass::Transient,
                        format!(
                            "cannot reach Entra ID at {}: {}",
                            self.cloud.authority_host,
                            describe_reqwest(&e)
                        ),
                    ),
                    None,
                )),
            };
            match outcome {
                Ok(token) => return Ok(token),
                Err((err, retry_after))
                    if err.class.is_transient()
                        && BACKOFF.allows(retries + 1, started.elapsed()) =>
                {
                    retries += 1;
                    let wait = BACKOFF.wait(retries, retry_after);
                    tracing::warn!(
                        event = "entra_retry",
                        retry = retries,
                        wait_ms = wait.as_millis() as u64,
                        server_asked = retry_after.is_some(),
                        class = %err.class,
                        "token request failed, retrying"
                    );
                    crate::net::slots::released_while(tokio::time::sleep(wait)).await;
                }
                Err((err, _)) => return Err(err),
            }
        }
    }
}

impl EntraClient {
    /// Client-credentials grant with a signed client assertion (certificate credential),
    /// `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    /// Retries transient failures like [`EntraClient::acquire`].
    #[tracing::instrument(name = "acquire_with_assertion", skip_all, fields(tenant_id = tenant_id, client_id = client_id, scope = scope))]
    pub async fn acquire_with_assertion(
        &self,
        tenant_id: &str,
        client_id: &str,
        assertion: &SecretString,
        scope: &str,
    ) -> Result<AcquiredToken, StepError> {
        self.grant(
            tenant_id,
            client_id,
            scope,
            &[
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.expose_secret()),
            ],
            assertion,
        )
        .await
    }
}

/// Interprets a token endpoint response (status and body); public so that property tests can
/// feed it arbitrary input.
pub fn parse_token_response(
    status: u16,
    body: &[u8],
    client_id: &str,
    tenant_id: &str,
    scope: &str,
    client_secret: &SecretString,
) -> Result<AcquiredToken, StepError> {
    if status == 200 {
        let parsed: TokenResponse = serde_json::from_slice(body).map_err(|e| {
            StepError::new(
                ErrorClass::MalformedResponse,
                format!(
                    "Entra ID returned a token response that is not valid JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        if let Some(t) = &parsed.token_type
            && !t.eq_ignore_ascii_case("bearer")
        {
            return Err(StepError::new(
                ErrorClass::MalformedResponse,
                format!(
                    "Entra ID returned token_type {:?}, expected Bearer",
                    truncate(&redact(t, client_secret), 32)
                ),
            ));
        }
        let Some(token) = parsed.access_token.filter(|t| !t.trim().is_empty()) else {
            return Err(StepError::new(
                ErrorClass::MalformedResponse,
                "Entra ID's token response has no access_token",
            ));
        };
        // v2 sends a number, v1 a string: accept both.
        let expires_in = match parsed.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        return Ok(AcquiredToken {
            access_token: SecretString::from(token),
            expires_in,
        });
    }
    let transient = retry::is_transient_status(status) || status >= 500;
    let parsed: Option<ErrorResponse> = serde_json::from_slice(body).ok();
    let Some(err) = parsed else {
        let class = if transient {
            ErrorClass::Transient
        } else {
            ErrorClass::MalformedResponse
        };
        return Err(StepError::new(
            class,
            format!("Entra ID answered HTTP {status} without an OAuth error body"),
        ));
    };
    let code = err.error_codes.first().copied();
    let description = err
        .error_description
        .as_deref()
        .map(|d| redact(first_line(d), client_secret))
        .unwrap_or_default();
    let aadsts = code.map(|c| format!("AADSTS{c}"));
    let (class, advice): (ErrorClass, String) = match (code, err.error.as_str()) {
        (_, _) if transient => (
            ErrorClass::Transient,
            "Entra ID is throttling or unavailable; the next run will retry".into(),
        ),
        (Some(7000222), _) => (
            ErrorClass::ExpiredClientSecret,
            format!(
                "the client secret of app {client_id} has expired: create a new client secret for the app registration and store its value in Key Vault"
            ),
        ),
        (Some(7000215 | 7000218 | 700027 | 700023), _) | (None, "invalid_client") => (
            ErrorClass::BadClientSecret,
            format!(
                "Entra ID rejected the client secret of app {client_id}: make sure Key Vault holds the secret's Value (not its Secret ID) of this app registration"
            ),
        ),
        (Some(700016), _) | (None, "unauthorized_client") => (
            ErrorClass::UnknownApp,
            format!(
                "no application {client_id} in tenant {tenant_id}: check client_id and tenant_id in the config"
            ),
        ),
        (Some(7000112), _) => (
            ErrorClass::UnknownApp,
            format!("application {client_id} is disabled in tenant {tenant_id}"),
        ),
        (Some(90002 | 90013), _) | (None, "invalid_tenant") => (
            ErrorClass::UnknownTenant,
            format!(
                "tenant {tenant_id} does not exist in this cloud: check tenant_id and cloud in the config"
            ),
        ),
        (Some(70011 | 500011 | 1002012 | 28000 | 28002 | 28003), _)
        | (None, "invalid_scope" | "invalid_resource") => (
            ErrorClass::InvalidScope,
            format!(
                "scope {scope:?} is not valid for app {client_id}: use the resource's /.default scope and check the resource exists in the tenant"
            ),
        ),
        (_, "invalid_client") => (
            ErrorClass::BadClientSecret,
            format!("Entra ID rejected the credentials of app {client_id}"),
        ),
        (_, "unauthorized_client") => (
            ErrorClass::UnknownApp,
            format!(
                "app {client_id} is not allowed to use client credentials in tenant {tenant_id}"
            ),
        ),
        (_, "invalid_scope" | "invalid_resource") => (
            ErrorClass::InvalidScope,
            format!("scope {scope:?} was refused"),
        ),
        _ => (
            ErrorClass::PermissionDenied,
            format!("Entra ID refused the token request for app {client_id}"),
        ),
    };
    let message = if description.is_empty() {
        format!(
            "{advice} (HTTP {status}, {})",
            truncate(&redact(&err.error, client_secret), 64)
        )
    } else {
        format!("{advice} ({})", truncate(&description, 300))
    };
    let mut e = StepError::new(class, message);
    if !description.is_empty() {
        e = e.with_service_message(truncate(&description, 300));
    }
    Err(match aadsts {
        Some(c) => e.with_code(c),
        None => e,
    })
}

fn first_line(s: &str) -> &str {
    s.split(['\r', '\n']).next().unwrap_or(s).trim()
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// A hostile or buggy server could echo the secret in its error text: never pass it on.
fn redact(text: &str, secret: &SecretString) -> String {
    let s = secret.expose_secret();
    if s.len() >= 4 && text.contains(s) {
        text.replace(s, "[REDACTED]")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SecretString {
        SecretString::from("s3cr3t-value".to_string())
    }

    fn err_body(error: &str, code: u64) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "error": error,
            "error_description": format!("AADSTS{code}: something.\r\nTrace ID: x\r\nCorrelation ID: y"),
            "error_codes": [code],
        }))
        .unwrap_or_default()
    }

    fn class_of(status: u16, body: &[u8]) -> ErrorClass {
        match parse_token_response(status, body, "c", "t", "s/.default", &secret()) {
            Err(e) => e.class,
            Ok(_) => panic!("expected an error"),
        }
    }

    #[test]
    fn aadsts_codes_are_classified() {
        use ErrorClass::*;
        for (status, error, code, class) in [
            (401, "invalid_client", 7000215, BadClientSecret),
            (401, "invalid_client", 7000222, ExpiredClientSecret),
            (400, "unauthorized_client", 700016, UnknownApp),
            (400, "invalid_request", 90002, UnknownTenant),
            (400, "invalid_scope", 70011, InvalidScope),
            (429, "temporarily_unavailable", 50196, Transient),
        ] {
            assert_eq!(class_of(status, &err_body(error, code)), class, "{code}");
        }
        assert_eq!(class_of(502, b"<html>bad gateway</html>"), Transient);
        assert_eq!(class_of(400, b"not json"), MalformedResponse);
    }

    #[test]
    fn v1_string_numbers_are_accepted() {
        let body = br#"{"token_type":"Bearer","expires_in":"3599","access_token":"a.b.c"}"#;
        let t = parse_token_response(200, body, "c", "t", "s", &secret())
            .ok()
            .map(|t| t.expires_in);
        assert_eq!(t, Some(Some(3599)));
    }

    #[test]
    fn an_echoed_secret_is_redacted() {
        let body = serde_json::to_vec(&serde_json::json!({
            "error": "invalid_client",
            "error_description": "AADSTS7000215: got s3cr3t-value",
            "error_codes": [7000215],
        }))
        .unwrap_or_default();
        let Err(e) = parse_token_response(401, &body, "c", "t", "s", &secret()) else {
            panic!("expected error")
        };
        assert!(!e.message.contains("s3cr3t-value"), "{}", e.message);
        assert_eq!(e.code.as_deref(), Some("AADSTS7000215"));
    }

    #[test]
    fn malformed_success_never_echoes_the_body() {
        let body = br#"{"access_token": 12345678901234567890123, "token_type": "Bearer"#;
        let Err(e) = parse_token_response(200, body, "c", "t", "s", &secret()) else {
            panic!("expected error")
        };
        assert_eq!(e.class, ErrorClass::MalformedResponse);
        assert!(!e.message.contains("1234567890"));
    }
}
