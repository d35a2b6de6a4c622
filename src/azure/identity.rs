//! The rotator's own identity towards Key Vault, built with `azure_identity`: workload identity
//! (the default on Kubernetes), managed identity, a client secret read from a file, or developer
//! tools. This module only builds credentials; it never sees an app's client secret.
//!
//! Managed identity gets its own transport ([`managed_identity_client_options`]): Azure serves its
//! tokens over plain HTTP (IMDS on VMs and AKS nodes, a loopback `IDENTITY_ENDPOINT` on App
//! Service, Functions and Container Apps), which the shared HTTPS-only client refuses. The
//! `IDENTITY_HEADER` value is a secret: the SDK sends it, this module only checks that it is set.

use std::sync::Arc;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientOptions, Transport};
use azure_identity::{
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    DeveloperToolsCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};

use crate::config::{Cloud, CloudName, CredentialConfig};

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read the rotator's client secret file {path}: {source}")]
    SecretFile {
        path: String,
        source: std::io::Error,
    },
    #[error("the rotator's client secret file {path} is empty")]
    EmptySecretFile { path: String },
    #[error("cannot set up the {kind} credential: {message}")]
    Setup { kind: &'static str, message: String },
    #[error("managed identity: cannot use the IDENTITY_ENDPOINT environment variable: {reason}")]
    IdentityEndpoint { reason: String },
}

impl crate::error::SetupProblem for IdentityError {
    fn setup_kind(&self) -> crate::error::SetupKind {
        crate::error::SetupKind::Identity
    }
}

/// SDK client options sharing the rotator's HTTPS client and cloud; with `metrics`, every
/// request the SDK sends (Key Vault and the credential's token requests) is counted.
pub fn client_options(
    http: &reqwest::Client,
    cloud: &Cloud,
    metrics: Option<Arc<crate::telemetry::metrics::Metrics>>,
) -> ClientOptions {
    client_options_with_limits(http, cloud, metrics, None, None)
}

/// Like [`client_options`], also feeding every response status to per-vault adaptive
/// concurrency limits (see [`crate::net::retry::AdaptiveLimits`]) and pacing requests to the
/// configured vaults (see [`crate::net::pacing::VaultPacing`]).
pub fn client_options_with_limits(
    http: &reqwest::Client,
    cloud: &Cloud,
    metrics: Option<Arc<crate::telemetry::metrics::Metrics>>,
    limits: Option<Arc<crate::net::retry::AdaptiveLimits>>,
    pacing: Option<Arc<crate::net::pacing::VaultPacing>>,
) -> ClientOptions {
    options_over(guarded_transport(http, metrics, limits, pacing), cloud)
}

/// The rotator's client as the SDK's transport: metered when `metrics` are given, response
/// bodies bounded, statuses fed to `limits`.
fn guarded_transport(
    http: &reqwest::Client,
    metrics: Option<Arc<crate::telemetry::metrics::Metrics>>,
    limits: Option<Arc<crate::net::retry::AdaptiveLimits>>,
    pacing: Option<Arc<crate::net::pacing::VaultPacing>>,
) -> Arc<dyn azure_core::http::HttpClient> {
    let inner: Arc<dyn azure_core::http::HttpClient> = match metrics {
        Some(m) => Arc::new(crate::telemetry::metrics::MeteredTransport::new(
            http.clone(),
            m,
        )),
        None => Arc::new(http.clone()),
    };
    // Outside the metering, so every attempt is still counted.
    let mut guarded =
        crate::net::http::GuardedTransport::new(inner, crate::net::http::MAX_SDK_RESPONSE_BYTES);
    if let Some(l) = limits {
        guarded = guarded.with_limits(l);
    }
    if let Some(p) = pacing {
        guarded = guarded.with_pacing(p);
    }
    Arc::new(guarded)
}

/// SDK client options over `transport`, with the rotator's retry policy and `cloud`.
fn options_over(transport: Arc<dyn azure_core::http::HttpClient>, cloud: &Cloud) -> ClientOptions {
    let cloud_config = match cloud.name {
        CloudName::Public => CloudConfiguration::AzurePublic,
        CloudName::UsGovernment => CloudConfiguration::AzureGovernment,
        CloudName::China => CloudConfiguration::AzureChina,
        CloudName::Custom => {
            let mut custom = CustomConfiguration::default();
            custom.authority_host = cloud
                .authority_host
                .as_str()
                .trim_end_matches('/')
                .to_string();
            CloudConfiguration::Custom(custom)
        }
    };
    ClientOptions {
        transport: Some(Transport::new(transport)),
        // The SDK's own retry loop, configured once rather than stacked with a second one:
        // transient statuses and connection errors only, Retry-After honoured, otherwise
        // 1, 2, 4, 8, 16 s with jitter (Key Vault's 429 carries no Retry-After).
        retry: azure_core::http::RetryOptions::custom(Arc::new(
            crate::net::retry::SdkRetryPolicy::key_vault(),
        )),
        cloud: Some(Arc::new(cloud_config)),
        ..Default::default()
    }
}

/// SDK client options for the managed identity credential: `http` must come from
/// [`crate::net::http::build_managed_identity_client`]; every request goes through
/// [`crate::net::http::ManagedIdentityTransport`], which lets plain HTTP reach only IMDS and
/// loopback. Retries and the cloud are those of [`client_options`].
pub fn managed_identity_client_options(
    http: &reqwest::Client,
    cloud: &Cloud,
    metrics: Option<Arc<crate::telemetry::metrics::Metrics>>,
) -> ClientOptions {
    let guarded = guarded_transport(http, metrics, None, None);
    options_over(
        Arc::new(crate::net::http::ManagedIdentityTransport::new(guarded)),
        cloud,
    )
}

/// Refuses an `IDENTITY_ENDPOINT` the managed identity transport would refuse anyway, before
/// any work, with the variable named (the App Service protocol sends `IDENTITY_HEADER`, a
/// secret, to that URL: it must never travel in clear text off the machine).
fn check_identity_endpoint() -> Result<(), IdentityError> {
    let Ok(raw) = std::env::var("IDENTITY_ENDPOINT") else {
        return Ok(());
    };
    let url = url::Url::parse(&raw).map_err(|e| IdentityError::IdentityEndpoint {
        reason: format!("not a URL ({e})"),
    })?;
    crate::net::http::check_managed_identity_url(&url)
        .map_err(|reason| IdentityError::IdentityEndpoint { reason })
}

/// Builds the credential the config asks for. `options` carry the shared HTTPS client;
/// `managed_identity` the managed identity transport ([`managed_identity_client_options`]).
pub fn credential(
    config: &CredentialConfig,
    options: ClientOptions,
    managed_identity: ClientOptions,
) -> Result<Arc<dyn TokenCredential>, IdentityError> {
    let setup = |kind: &'static str| {
        move |e: azure_core::Error| IdentityError::Setup {
            kind,
            message: e.to_string(),
        }
    };
    match config {
        // DefaultAzureCredential's order on an Azure host, minus the environment credential
        // (a client secret in the environment is what this tool exists to avoid): workload
        // identity when the webhook projected a token, else managed identity.
        CredentialConfig::Auto => {
            let chosen = if std::env::var_os("AZURE_FEDERATED_TOKEN_FILE").is_some() {
                CredentialConfig::WorkloadIdentity {
                    tenant_id: None,
                    client_id: None,
                    token_file: None,
                }
            } else {
                // AZURE_CLIENT_ID selects a user-assigned identity, as in DefaultAzureCredential.
                CredentialConfig::ManagedIdentity {
                    client_id: std::env::var("AZURE_CLIENT_ID")
                        .ok()
                        .filter(|id| !id.trim().is_empty()),
                }
            };
            credential(&chosen, options, managed_identity)
        }
        CredentialConfig::WorkloadIdentity {
            tenant_id,
            client_id,
            token_file,
        } => {
            let cred = WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
                credential_options: ClientAssertionCredentialOptions {
                    client_options: options,
                },
                client_id: client_id.clone(),
                tenant_id: tenant_id.clone(),
                token_file_path: token_file.clone(),
            }))
            .map_err(setup("workload-identity"))?;
            Ok(cred)
        }
        CredentialConfig::ManagedIdentity { client_id } => {
            check_identity_endpoint()?;
            let cred = ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                client_options: managed_identity,
            }))
            .map_err(setup("managed-identity"))?;
            Ok(cred)
        }
        CredentialConfig::ClientSecret {
            tenant_id,
            client_id,
            client_secret_file,
        } => {
            let path = client_secret_file.display().to_string();
            let text = std::fs::read_to_string(client_secret_file).map_err(|source| {
                IdentityError::SecretFile {
                    path: path.clone(),
                    source,
                }
            })?;
            let value = text.trim();
            if value.is_empty() {
                return Err(IdentityError::EmptySecretFile { path });
            }
            let cred = ClientSecretCredential::new(
                tenant_id,
                client_id.clone(),
                Secret::new(value.to_string()),
                Some(ClientSecretCredentialOptions {
                    client_options: options,
                }),
            )
            .map_err(setup("client-secret"))?;
            Ok(cred)
        }
        CredentialConfig::Developer => {
            let cred = DeveloperToolsCredential::new(None).map_err(setup("developer"))?;
            Ok(cred)
        }
    }
}
