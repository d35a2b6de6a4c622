//! `token`: prints a token the rotator stored, for scripts and one-off calls. It reads the
//! current version with the caller's identity, refuses anything that is not an
//! `application/jwt` token or that expires within `--min-valid`, and prints only the token (or
//! the header, or JSON) on stdout: never to a log.

use std::path::Path;
use std::time::Duration;

use secrecy::ExposeSecret;
use time::OffsetDateTime;
use url::Url;

use crate::azure::identity;
use crate::azure::vault::{KeyVaults, SecretValue};
use crate::cli::TokenFormat;
use crate::config::{self, Cloud, CloudName, CredentialConfig};
use crate::cycle::tags;
use crate::error::{SetupError, SetupKind, exit};
use crate::timefmt::rfc3339;

/// The `token` command.
pub async fn run(
    config_path: Option<&Path>,
    vault: &str,
    secret: &str,
    min_valid: Duration,
    format: TokenFormat,
) -> Result<i32, SetupError> {
    let (cloud, ca_file, credential) = match config_path {
        Some(path) => {
            let c = config::load(path)?;
            (c.cloud.clone(), c.ca_file.clone(), c.credential.clone())
        }
        None => (
            Cloud::known(CloudName::Public)
                .ok_or_else(|| SetupError::new(SetupKind::Config, "no public cloud"))?,
            None,
            caller_credential(),
        ),
    };
    let vault = Url::parse(vault)
        .ok()
        .filter(|u| u.scheme() == "https" && u.host_str().is_some())
        .ok_or_else(|| {
            SetupError::new(
                SetupKind::Config,
                format!("--vault {vault:?} is not an https:// vault URL"),
            )
        })?;
    let http = crate::net::http::build_client(ca_file.as_deref())?;
    let options = identity::client_options(&http, &cloud, None);
    let managed_identity = identity::managed_identity_client_options(
        &crate::net::http::build_managed_identity_client(ca_file.as_deref())?,
        &cloud,
        None,
    );
    let credential = identity::credential(&credential, options.clone(), managed_identity)?;
    let vaults = KeyVaults::new(
        std::slice::from_ref(&vault),
        credential,
        options,
        cloud.verify_challenge_resource(),
    )?;
    let stored = vaults.read(&vault, secret).await?;
    if let Err(why) = usable(
        &stored,
        secret,
        &vault,
        min_valid,
        OffsetDateTime::now_utc(),
    ) {
        eprintln!("error: {why}");
        return Ok(exit::FAILED);
    }
    let token = stored.value.expose_secret();
    let line = match format {
        TokenFormat::Raw => token.to_string(),
        TokenFormat::Header => format!("Authorization: Bearer {token}"),
        TokenFormat::Json => serde_json::json!({
            "access_token": token,
            "expires_on": stored.meta.expires.map(rfc3339),
            "version": stored.version,
        })
        .to_string(),
    };
    super::out(&format!("{line}\n"));
    Ok(exit::OK)
}

/// The caller's identity without a config: workload identity in a pod set up for it, the
/// managed identity where the platform announces one (`IDENTITY_ENDPOINT`: App Service,
/// Container Apps, Functions), else the developer's Azure CLI / Azure Developer CLI login. On a
/// VM, whose managed identity is only reachable through IMDS, pass a `--config` with
/// `kind = "managed-identity"`.
fn caller_credential() -> CredentialConfig {
    if std::env::var_os("AZURE_FEDERATED_TOKEN_FILE").is_some() {
        CredentialConfig::Auto
    } else if std::env::var_os("IDENTITY_ENDPOINT").is_some() {
        CredentialConfig::ManagedIdentity { client_id: None }
    } else {
        CredentialConfig::Developer
    }
}

/// Why a stored secret must not be handed out as a bearer token, if it must not.
fn usable(
    stored: &SecretValue,
    name: &str,
    vault: &Url,
    min_valid: Duration,
    now: OffsetDateTime,
) -> Result<(), String> {
    let meta = &stored.meta;
    let writer = meta
        .tags
        .get(tags::WRITTEN_BY)
        .map(|w| format!("written by {w}"))
        .unwrap_or_else(|| "not written by akv-rotator (no written-by tag)".into());
    if meta.content_type.as_deref() != Some("application/jwt") {
        return Err(format!(
            "secret {name:?} in {vault} is not a token (content type {:?}, {writer}): akv-rotator stores tokens as application/jwt; check the secret name",
            meta.content_type.as_deref().unwrap_or("none")
        ));
    }
    let Some(expires) = meta.expires else {
        return Err(format!(
            "token {name:?} in {vault} records no expiry ({writer}): it cannot be trusted to be valid"
        ));
    };
    let left = expires - now;
    let min = time::Duration::try_from(min_valid).unwrap_or(time::Duration::MAX);
    if left < min {
        let when = if left.is_negative() {
            format!("expired {} ago", crate::timefmt::duration_abs(left))
        } else {
            format!("expires in {}", crate::timefmt::duration_abs(left))
        };
        return Err(format!(
            "token {name:?} in {vault} {when} (at {}), less than --min-valid {}; it is {writer}{}: check that the rotator runs and refreshes it",
            rfc3339(expires),
            crate::timefmt::duration(min_valid),
            meta.updated
                .map(|u| format!(", last written {}", rfc3339(u)))
                .unwrap_or_default()
        ));
    }
    Ok(())
}
