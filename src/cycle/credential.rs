//! An app's credential as the cycle uses it: checks of the stored value (a client secret's
//! text, a certificate's validity) and token acquisition with a client secret or a client
//! assertion signed by the certificate.

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::azure::certificate::ClientCertificate;
use crate::azure::entra::EntraClient;
use crate::azure::vault::SecretValue;
use crate::config::{App, AppCredentialKind};
use crate::error::{ErrorClass, StepError};
use crate::token::AcquiredToken;

/// Checks the stored credential before any token request. For a certificate, returns its
/// `notAfter`, the expiry that feeds the severity.
pub fn check(v: &SecretValue, app: &App) -> Result<Option<OffsetDateTime>, StepError> {
    match app.credential_kind {
        AppCredentialKind::ClientSecret => check_secret_value(v, app).map(|()| None),
        AppCredentialKind::Certificate { .. } => check_certificate(v, app).map(Some),
    }
}

/// For a certificate app: parses the stored certificate, and returns its `notAfter`. Errors
/// name the app and the secret.
pub fn check_certificate(v: &SecretValue, app: &App) -> Result<OffsetDateTime, StepError> {
    ClientCertificate::parse(&v.value)
        .map(|c| c.not_after)
        .map_err(|e| {
            e.context(format!(
                "app {:?}: client certificate {:?} in {}",
                app.name, app.client_secret_name, app.client_secret_vault
            ))
        })
}

fn check_secret_value(v: &SecretValue, app: &App) -> Result<(), StepError> {
    let value = v.value.expose_secret();
    let problem = if value.trim().is_empty() {
        Some("is empty")
    } else if value.trim() != value {
        Some("has leading or trailing whitespace")
    } else if value.chars().any(char::is_control) {
        Some("contains control characters")
    } else if value.len() > 1024 {
        Some("is longer than any Entra client secret")
    } else {
        None
    };
    match problem {
        Some(p) => Err(StepError::new(
            ErrorClass::InvalidClientSecretValue,
            format!(
                "app {:?}: client secret {:?} in {} {p}; store the app registration's client secret value exactly",
                app.name, app.client_secret_name, app.client_secret_vault
            ),
        )),
        None => Ok(()),
    }
}

/// Acquires a token with the app's credential: its client secret, or a client assertion
/// signed by its certificate.
pub async fn acquire(
    entra: &EntraClient,
    app: &App,
    credential: &SecretString,
    scope: &str,
) -> Result<AcquiredToken, StepError> {
    let AppCredentialKind::Certificate { algorithm } = app.credential_kind else {
        return entra
            .acquire(&app.tenant_id, &app.client_id, credential, scope)
            .await;
    };
    let now = OffsetDateTime::now_utc();
    let cert = ClientCertificate::parse(credential)?;
    cert.check_validity(now)?;
    let assertion = cert.assertion(
        &app.client_id,
        &entra.token_url(&app.tenant_id),
        algorithm,
        now,
    )?;
    entra
        .acquire_with_assertion(&app.tenant_id, &app.client_id, &assertion, scope)
        .await
        .map_err(|e| {
            if matches!(
                e.class,
                ErrorClass::BadClientSecret | ErrorClass::ExpiredClientSecret
            ) {
                let entra_says = match (&e.code, &e.service_message) {
                    (_, Some(text)) => format!(" ({text})"),
                    (Some(code), None) => format!(" ({code})"),
                    (None, None) => String::new(),
                };
                StepError {
                    message: format!(
                        "Entra ID rejected the certificate {} (x5t#S256 {}) of app {}: register this certificate on the app registration, or store the registered one in Key Vault{entra_says}",
                        cert.subject,
                        cert.thumbprint_sha256(),
                        app.client_id,
                    ),
                    ..e
                }
            } else {
                e
            }
        })
}
