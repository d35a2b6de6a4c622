//! Key Vault adapter over the official `azure_security_keyvault_secrets` SDK: list secret
//! properties (the plan), read a client secret, write a validated token; for rotations also
//! tags, versions and lease claims.
//!
//! It owns one SDK client per vault and turns SDK errors into [`StepError`]s with a class and a
//! message naming the vault and secret. It never logs or returns a secret value except inside a
//! [`SecretString`], and it can only write a [`ValidatedToken`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::{ClientOptions, StatusCode};
use azure_security_keyvault_secrets::models::{
    SecretAttributes, SecretClientGetSecretOptions, SecretClientListSecretPropertiesOptions,
    SecretClientListSecretPropertiesVersionsOptions, SecretClientUpdateSecretPropertiesOptions,
    SetSecretParameters, UpdateSecretPropertiesParameters,
};
use azure_security_keyvault_secrets::{ResourceExt, SecretClient, SecretClientOptions};
use futures::TryStreamExt;
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use url::Url;

use crate::error::{ErrorClass, StepError, error_chain};
use crate::token::ValidatedToken;

/// What the list operation tells about one secret (no value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMeta {
    pub name: String,
    pub enabled: bool,
    pub expires: Option<OffsetDateTime>,
    pub not_before: Option<OffsetDateTime>,
    pub updated: Option<OffsetDateTime>,
    pub content_type: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// A secret read with its value, for an app's client secret.
pub struct SecretValue {
    pub value: SecretString,
    pub version: Option<String>,
    /// When this version was created.
    pub created: Option<OffsetDateTime>,
    pub meta: SecretMeta,
}

/// The result of writing a token: the new version's id parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenSecret {
    pub version: Option<String>,
}

/// One SDK client per vault, sharing the rotator's credential and HTTPS transport.
pub struct KeyVaults {
    clients: HashMap<Url, SecretClient>,
    /// The rotator's own credential (also used for Microsoft Graph by `rotation`).
    credential: Arc<dyn TokenCredential>,
}

impl KeyVaults {
    pub fn new(
        vaults: &[Url],
        credential: Arc<dyn TokenCredential>,
        client_options: ClientOptions,
        verify_challenge_resource: bool,
    ) -> Result<Self, StepError> {
        let mut clients = HashMap::new();
        for vault in vaults {
            let client = SecretClient::new(
                vault.as_str(),
                credential.clone(),
                Some(SecretClientOptions {
                    client_options: client_options.clone(),
                    verify_challenge_resource: Some(verify_challenge_resource),
                    ..Default::default()
                }),
            )
            .map_err(|e| {
                StepError::new(
                    ErrorClass::PermissionDenied,
                    format!("cannot create a Key Vault client for {vault}: {e}"),
                )
            })?;
            clients.insert(vault.clone(), client);
        }
        Ok(KeyVaults {
            clients,
            credential,
        })
    }

    /// The rotator's own credential, shared with the Key Vault clients.
    pub fn credential(&self) -> &Arc<dyn TokenCredential> {
        &self.credential
    }

    fn client(&self, vault: &Url) -> Result<&SecretClient, StepError> {
        self.clients.get(vault).ok_or_else(|| {
            StepError::new(
                ErrorClass::NotFound,
                format!("vault {vault} is not in the configuration"),
            )
        })
    }

    /// Lists the properties of every secret in the vault, following `nextLink` to the end.
    #[tracing::instrument(name = "list", skip_all, fields(vault = %vault))]
    pub async fn list(&self, vault: &Url) -> Result<Vec<SecretMeta>, StepError> {
        let client = self.client(vault)?;
        let mut pager = client
            .list_secret_properties(Some(SecretClientListSecretPropertiesOptions {
                maxresults: Some(25),
                ..Default::default()
            }))
            .map_err(|e| classify(e, vault, None, "list secrets"))?;
        let mut out = Vec::new();
        while let Some(item) = pager
            .try_next()
            .await
            .map_err(|e| classify(e, vault, None, "list secrets"))?
        {
            let Ok(id) = item.resource_id() else {
                return Err(StepError::new(
                    ErrorClass::MalformedResponse,
                    format!("Key Vault {vault} listed a secret without a usable id"),
                ));
            };
            let attrs = item.attributes.unwrap_or_default();
            out.push(SecretMeta {
                name: id.name,
                enabled: attrs.enabled.unwrap_or(true),
                expires: attrs.expires,
                not_before: attrs.not_before,
                updated: attrs.updated,
                content_type: item.content_type,
                tags: item.tags.unwrap_or_default().into_iter().collect(),
            });
        }
        Ok(out)
    }

    /// Reads the current version of a secret with its value.
    #[tracing::instrument(name = "read", skip_all, fields(vault = %vault, secret = name))]
    pub async fn read(&self, vault: &Url, name: &str) -> Result<SecretValue, StepError> {
        self.read_at(vault, name, None).await
    }

    /// Reads one version of a secret with its value (a rotation proving which credential an
    /// earlier version held).
    #[tracing::instrument(name = "read", skip_all, fields(vault = %vault, secret = name, version = version))]
    pub async fn read_version(
        &self,
        vault: &Url,
        name: &str,
        version: &str,
    ) -> Result<SecretValue, StepError> {
        self.read_at(vault, name, Some(version)).await
    }

    async fn read_at(
        &self,
        vault: &Url,
        name: &str,
        version: Option<&str>,
    ) -> Result<SecretValue, StepError> {
        let client = self.client(vault)?;
        let secret = client
            .get_secret(
                name,
                Some(SecretClientGetSecretOptions {
                    secret_version: version.map(str::to_string),
                    ..Default::default()
                }),
            )
            .await
            .map_err(|e| classify(e, vault, Some(name), "read"))?
            .into_model()
            .map_err(|e| classify(e, vault, Some(name), "read"))?;
        let version = secret.resource_id().ok().and_then(|id| id.version);
        let attrs = secret.attributes.unwrap_or_default();
        let Some(value) = secret.value else {
            return Err(StepError::new(
                ErrorClass::MalformedResponse,
                format!("Key Vault returned secret {name:?} in {vault} without a value"),
            ));
        };
        Ok(SecretValue {
            value: SecretString::from(value),
            version,
            created: attrs.created,
            meta: SecretMeta {
                name: name.to_string(),
                enabled: attrs.enabled.unwrap_or(true),
                expires: attrs.expires,
                not_before: attrs.not_before,
                updated: attrs.updated,
                content_type: secret.content_type,
                tags: secret.tags.unwrap_or_default().into_iter().collect(),
            },
        })
    }

    /// Writes a validated token as a new version, with `exp`/`nbf` equal to the token's own.
    #[tracing::instrument(name = "write", skip_all, fields(vault = %vault, secret = name))]
    pub async fn write_token(
        &self,
        vault: &Url,
        name: &str,
        token: &ValidatedToken,
        tags: BTreeMap<String, String>,
    ) -> Result<WrittenSecret, StepError> {
        let client = self.client(vault)?;
        let params = SetSecretParameters {
            value: Some(token.secret().expose_secret().to_string()),
            content_type: Some("application/jwt".to_string()),
            secret_attributes: Some(SecretAttributes {
                enabled: Some(true),
                expires: Some(token.expires_at()),
                not_before: Some(token.not_before()),
                ..Default::default()
            }),
            tags: Some(tags.into_iter().collect()),
        };
        set(client, vault, name, params).await
    }
}

impl KeyVaults {
    /// Writes a plain (non-token) secret such as the alert state: a new version.
    #[tracing::instrument(name = "write", skip_all, fields(vault = %vault, secret = name))]
    pub async fn write_text(
        &self,
        vault: &Url,
        name: &str,
        value: &str,
        content_type: &str,
        tags: BTreeMap<String, String>,
    ) -> Result<WrittenSecret, StepError> {
        let client = self.client(vault)?;
        let params = SetSecretParameters {
            value: Some(value.to_string()),
            content_type: Some(content_type.to_string()),
            secret_attributes: Some(SecretAttributes {
                enabled: Some(true),
                ..Default::default()
            }),
            tags: Some(tags.into_iter().collect()),
        };
        set(client, vault, name, params).await
    }
}

impl KeyVaults {
    /// Writes a client secret as a new version (the publish step of a rotation), with `exp`
    /// equal to the credential's end date.
    #[tracing::instrument(name = "write", skip_all, fields(vault = %vault, secret = name))]
    pub async fn publish_client_secret(
        &self,
        vault: &Url,
        name: &str,
        value: &SecretString,
        expires: Option<OffsetDateTime>,
        content_type: Option<String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<WrittenSecret, StepError> {
        let client = self.client(vault)?;
        let params = SetSecretParameters {
            value: Some(value.expose_secret().to_string()),
            content_type,
            secret_attributes: Some(SecretAttributes {
                enabled: Some(true),
                expires,
                ..Default::default()
            }),
            tags: Some(tags.clone().into_iter().collect()),
        };
        set(client, vault, name, params).await
    }

    /// Replaces the tags of one version of a secret (a rotation's progress record).
    #[tracing::instrument(name = "update", skip_all, fields(vault = %vault, secret = name))]
    pub async fn set_tags(
        &self,
        vault: &Url,
        name: &str,
        version: Option<&str>,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), StepError> {
        let client = self.client(vault)?;
        let params = UpdateSecretPropertiesParameters {
            tags: Some(tags.clone().into_iter().collect()),
            ..Default::default()
        };
        update(
            client,
            vault,
            name,
            version,
            params,
            ("the tags", "record rotation progress on"),
        )
        .await
    }
}

/// One version of a secret as its version listing shows it (no value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionMeta {
    pub version: String,
    pub enabled: bool,
    pub created: Option<OffsetDateTime>,
    pub expires: Option<OffsetDateTime>,
    pub tags: BTreeMap<String, String>,
}

impl KeyVaults {
    /// Lists every version of a secret (a rotation lease's claims); a secret that does not
    /// exist has none.
    #[tracing::instrument(name = "list_versions", skip_all, fields(vault = %vault, secret = name))]
    pub async fn list_versions(
        &self,
        vault: &Url,
        name: &str,
    ) -> Result<Vec<VersionMeta>, StepError> {
        let client = self.client(vault)?;
        let fail = |e| classify(e, vault, Some(name), "list the versions of");
        let mut pager = client
            .list_secret_properties_versions(
                name,
                Some(SecretClientListSecretPropertiesVersionsOptions {
                    maxresults: Some(25),
                    ..Default::default()
                }),
            )
            .map_err(fail)?;
        let mut out = Vec::new();
        loop {
            let item = match pager.try_next().await {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(e) => {
                    let e = fail(e);
                    if e.class == ErrorClass::NotFound {
                        return Ok(Vec::new());
                    }
                    return Err(e);
                }
            };
            let Some(version) = item.resource_id().ok().and_then(|id| id.version) else {
                return Err(StepError::new(
                    ErrorClass::MalformedResponse,
                    format!("Key Vault {vault} listed a version of {name:?} without a usable id"),
                ));
            };
            let attrs = item.attributes.unwrap_or_default();
            out.push(VersionMeta {
                version,
                enabled: attrs.enabled.unwrap_or(true),
                created: attrs.created,
                expires: attrs.expires,
                tags: item.tags.unwrap_or_default().into_iter().collect(),
            });
        }
        Ok(out)
    }

    /// Writes a rotation lease claim: a new version whose `exp` is the end of the claim.
    #[tracing::instrument(name = "write", skip_all, fields(vault = %vault, secret = name))]
    pub async fn write_lease(
        &self,
        vault: &Url,
        name: &str,
        owner: &str,
        expires: OffsetDateTime,
        tags: &BTreeMap<String, String>,
    ) -> Result<WrittenSecret, StepError> {
        let client = self.client(vault)?;
        let params = SetSecretParameters {
            value: Some(owner.to_string()),
            content_type: Some("text/plain".to_string()),
            secret_attributes: Some(SecretAttributes {
                enabled: Some(true),
                expires: Some(expires),
                ..Default::default()
            }),
            tags: Some(tags.clone().into_iter().collect()),
        };
        set(client, vault, name, params).await
    }

    /// Disables one version of a secret (a released lease claim).
    #[tracing::instrument(name = "update", skip_all, fields(vault = %vault, secret = name))]
    pub async fn disable_version(
        &self,
        vault: &Url,
        name: &str,
        version: &str,
    ) -> Result<(), StepError> {
        let client = self.client(vault)?;
        let params = UpdateSecretPropertiesParameters {
            secret_attributes: Some(SecretAttributes {
                enabled: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        };
        update(
            client,
            vault,
            name,
            Some(version),
            params,
            ("the attributes", "disable a version of"),
        )
        .await
    }
}

/// Updates a secret version's properties (no new version); `(what, action)` name the encoded
/// part and the operation in errors.
async fn update(
    client: &SecretClient,
    vault: &Url,
    name: &str,
    version: Option<&str>,
    params: UpdateSecretPropertiesParameters,
    (what, action): (&str, &str),
) -> Result<(), StepError> {
    let body = params.try_into().map_err(|e: azure_core::Error| {
        StepError::new(
            ErrorClass::Internal,
            format!("cannot encode {what} of {name:?}: {}", e.kind()),
        )
    })?;
    client
        .update_secret_properties(
            name,
            body,
            Some(SecretClientUpdateSecretPropertiesOptions {
                secret_version: version.map(str::to_string),
                ..Default::default()
            }),
        )
        .await
        .map_err(|e| classify(e, vault, Some(name), action))?;
    Ok(())
}

/// Sets a new version of a secret; the one write path of the adapter.
async fn set(
    client: &SecretClient,
    vault: &Url,
    name: &str,
    params: SetSecretParameters,
) -> Result<WrittenSecret, StepError> {
    let body = params.try_into().map_err(|e: azure_core::Error| {
        StepError::new(
            ErrorClass::Internal,
            format!("cannot encode secret {name:?}: {}", e.kind()),
        )
    })?;
    let written = client
        .set_secret(name, body, None)
        .await
        .map_err(|e| classify(e, vault, Some(name), "write"))?
        .into_model()
        .map_err(|e| classify(e, vault, Some(name), "write"))?;
    Ok(WrittenSecret {
        version: written.resource_id().ok().and_then(|id| id.version),
    })
}

/// What a read-only write-permission probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteProbe {
    /// The service answered "not found" for a version that cannot exist: authorization passed.
    Allowed,
    Denied(StepError),
    /// The answer did not tell.
    Unknown(StepError),
}

impl KeyVaults {
    /// Probes write permission without writing: an update of a version that cannot exist is
    /// authorized before it is looked up, so 404 means "allowed" and 403 means "denied".
    pub async fn probe_write(&self, vault: &Url, name: &str) -> WriteProbe {
        use azure_security_keyvault_secrets::models::{
            SecretClientUpdateSecretPropertiesOptions, UpdateSecretPropertiesParameters,
        };
        let client = match self.client(vault) {
            Ok(c) => c,
            Err(e) => return WriteProbe::Unknown(e),
        };
        let params = UpdateSecretPropertiesParameters::default();
        let body = match params.try_into() {
            Ok(b) => b,
            Err(e) => {
                let e: azure_core::Error = e;
                return WriteProbe::Unknown(StepError::new(
                    ErrorClass::MalformedResponse,
                    format!("cannot encode the probe: {}", e.kind()),
                ));
            }
        };
        let result = client
            .update_secret_properties(
                name,
                body,
                Some(SecretClientUpdateSecretPropertiesOptions {
                    secret_version: Some("0".repeat(32)),
                    ..Default::default()
                }),
            )
            .await;
        match result {
            Ok(_) => WriteProbe::Unknown(StepError::new(
                ErrorClass::MalformedResponse,
                "the vault accepted an update of a version that cannot exist",
            )),
            Err(e) => {
                let err = classify(e, vault, Some(name), "probe write access to");
                match err.class {
                    ErrorClass::NotFound => WriteProbe::Allowed,
                    ErrorClass::PermissionDenied => WriteProbe::Denied(err),
                    _ => WriteProbe::Unknown(err),
                }
            }
        }
    }
}

/// Turns an SDK error into a classified, actionable [`StepError`].
fn classify(e: azure_core::Error, vault: &Url, name: Option<&str>, action: &str) -> StepError {
    let what = match name {
        Some(n) => format!("{action} secret {n:?} in {vault}"),
        None => format!("{action} in {vault}"),
    };
    match e.kind() {
        ErrorKind::HttpResponse {
            status,
            error_code,
            raw_response,
        } => {
            let (code, inner, message) = raw_response
                .as_ref()
                .map(|r| service_error(r.body().as_ref()))
                .unwrap_or_default();
            let code = code.or_else(|| error_code.clone());
            let detail = message
                .as_deref()
                .map(|m| first_line(m).to_string())
                .unwrap_or_else(|| status.to_string());
            let status_code = u16::from(*status);
            let (class, advice) = match (*status, inner.as_deref()) {
                (StatusCode::Forbidden, Some("SecretDisabled")) => (
                    ErrorClass::SecretDisabled,
                    "enable the secret's current version, or set a new enabled version",
                ),
                (StatusCode::Unauthorized, _) => (
                    ErrorClass::RotatorCredential,
                    "Key Vault did not accept the rotator's token: check the rotator's identity and the vault's tenant",
                ),
                (StatusCode::Forbidden, _) => (
                    ErrorClass::PermissionDenied,
                    "grant the rotator's identity 'Key Vault Secrets User' (read) or 'Key Vault Secrets Officer' (write) on this vault or secret",
                ),
                (StatusCode::NotFound, _) => (
                    ErrorClass::NotFound,
                    "create the secret, or fix the name in the config",
                ),
                (StatusCode::Conflict, _) => (
                    ErrorClass::Conflict,
                    "the secret is deleted but recoverable: recover or purge it",
                ),
                (StatusCode::TooManyRequests, _) => (
                    ErrorClass::Transient,
                    "Key Vault is throttling; the next run will retry",
                ),
                _ if status_code >= 500 => (
                    ErrorClass::Transient,
                    "Key Vault had a server error; the next run will retry",
                ),
                _ => (
                    ErrorClass::MalformedResponse,
                    "unexpected Key Vault response",
                ),
            };
            let err = StepError::new(
                class,
                format!("cannot {what}: HTTP {status_code} {detail} ({advice})"),
            );
            match inner.or(code) {
                Some(c) => err.with_code(c),
                None => err,
            }
        }
        ErrorKind::Credential => {
            let chain = error_chain(&e);
            let (code, detail) = entra_refusal(&chain);
            if code.is_none() && is_network_failure(&chain) {
                return StepError::new(
                    ErrorClass::Unreachable,
                    format!(
                        "cannot {what}: the rotator's own identity could not reach Entra ID for a Key Vault token: {chain} \
                         (network problem or Entra ID unavailable; run again later)"
                    ),
                );
            }
            let err = StepError::new(
                ErrorClass::RotatorCredential,
                format!(
                    "cannot {what}: the rotator's own identity could not get a token for Key Vault: {} \
                     (check the [credential] section: for workload identity the federated credential's issuer, \
                     subject and audience; for a client secret the secret file)",
                    detail.unwrap_or(chain)
                ),
            );
            match code {
                Some(c) => err.with_code(c),
                None => err,
            }
        }
        _ if is_refused_connection(&e) => StepError::new(
            ErrorClass::Unreachable,
            format!(
                "cannot {what}: cannot connect to vault host {}: {} (check the vault URL and the network path to it)",
                vault.host_str().unwrap_or("?"),
                error_chain(&e)
            ),
        ),
        ErrorKind::Connection | ErrorKind::Io => StepError::new(
            ErrorClass::Transient,
            format!(
                "cannot {what}: {} (network problem; the next run will retry)",
                error_chain(&e)
            ),
        ),
        ErrorKind::DataConversion => StepError::new(
            ErrorClass::MalformedResponse,
            format!("cannot {what}: Key Vault's response could not be decoded"),
        ),
        _ => StepError::new(
            ErrorClass::Transient,
            format!("cannot {what}: {}", error_chain(&e)),
        ),
    }
}

/// Whether a credential error's text says the token request never got an answer from Entra ID
/// (as opposed to Entra ID refusing it, which carries an AADSTS code).
fn is_network_failure(chain: &str) -> bool {
    let chain = chain.to_ascii_lowercase();
    [
        "error sending request",
        "cannot connect to",
        "failed to execute `reqwest` request",
        "connection refused",
        "connection reset",
        "dns error",
        "timed out",
        "operation timed out",
        "503",
        "502",
        "504",
    ]
    .iter()
    .any(|p| chain.contains(p))
}

/// Whether the transport gave up on a connection that could not be established (refused, DNS):
/// see [`crate::net::http::GuardedTransport`], which turns those into non-retried errors.
fn is_refused_connection(e: &azure_core::Error) -> bool {
    error_chain(e).contains(crate::net::http::CANNOT_CONNECT)
}

/// Finds Entra's `AADSTSnnnn: description` inside a credential error (the SDK may wrap it in a
/// decoding error with escaped line breaks) and returns the code and its first line.
fn entra_refusal(text: &str) -> (Option<String>, Option<String>) {
    let Some(start) = text.find("AADSTS") else {
        return (None, None);
    };
    let rest = &text[start..];
    let digits: String = rest[6..].chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return (None, None);
    }
    let end = [
        rest.find("\\r\\n"),
        rest.find("\r"),
        rest.find('\n'),
        rest.find('"'),
    ]
    .into_iter()
    .flatten()
    .min()
    .unwrap_or(rest.len());
    let line = rest[..end].trim().trim_end_matches(',').to_string();
    (
        Some(format!("AADSTS{digits}")),
        Some(format!("Entra ID refused it: {line}")),
    )
}

/// The Key Vault error body: `{"error":{"code","message","innererror":{"code"}}}`; returns
/// (code, innermost inner code, message).
fn service_error(body: &[u8]) -> (Option<String>, Option<String>, Option<String>) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (None, None, None);
    };
    let err = &v["error"];
    let code = err["code"].as_str().map(str::to_string);
    let message = err["message"].as_str().map(str::to_string);
    let mut inner = None;
    let mut cur = &err["innererror"];
    while let Some(c) = cur["code"].as_str() {
        inner = Some(c.to_string());
        cur = &cur["innererror"];
    }
    (code, inner, message)
}

fn first_line(s: &str) -> &str {
    s.split(['\r', '\n']).next().unwrap_or(s).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_error_reads_the_innermost_code() {
        let body = br#"{"error":{"code":"Forbidden","message":"Operation get is not allowed on a disabled secret.","innererror":{"code":"SecretDisabled"}}}"#;
        let (code, inner, message) = service_error(body);
        assert_eq!(code.as_deref(), Some("Forbidden"));
        assert_eq!(inner.as_deref(), Some("SecretDisabled"));
        assert!(message.is_some_and(|m| m.contains("disabled")));
    }

    #[test]
    fn entra_refusals_are_pulled_out_of_wrapped_errors() {
        let text = r#"WorkloadIdentityCredential authentication failed. invalid type: string "AADSTS700213: No matching federated identity record found for presented assertion subject 'x'.\r\nTrace ID: 1\r\nCorrelation ID: 2", expected a borrowed string"#;
        let (code, detail) = entra_refusal(text);
        assert_eq!(code.as_deref(), Some("AADSTS700213"));
        let detail = detail.expect("detail");
        assert!(detail.ends_with("subject 'x'."), "{detail}");
        assert!(!detail.contains("Trace ID"));
        assert_eq!(entra_refusal("connection refused"), (None, None));
    }

    #[test]
    fn service_error_tolerates_garbage() {
        assert_eq!(service_error(b"<html>"), (None, None, None));
    }
}
