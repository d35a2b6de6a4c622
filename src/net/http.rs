//! The one HTTPS client the rotator uses for everything: Entra ID directly, and Key Vault through
//! the Azure SDK (handed over as its transport), so both trust the same roots and share timeouts.
//!
//! Plain HTTP is refused here (`https_only`), redirects are not followed (a redirect could carry a
//! bearer token or a client secret elsewhere), and an extra CA can be trusted for private clouds
//! and the local emulator.
//!
//! The one exception is the managed identity credential's own client
//! ([`build_managed_identity_client`] behind [`ManagedIdentityTransport`]): Azure serves managed
//! identity tokens over plain HTTP, from IMDS at `169.254.169.254` and, on App Service, Functions
//! and Container Apps, from a loopback `IDENTITY_ENDPOINT`. That client may speak plain HTTP to
//! exactly those hosts and to nothing else; it never carries anything but managed identity
//! token requests.

use std::path::Path;
use std::time::Duration;

use crate::error::{ErrorClass, StepError};

/// Per-request timeout for every outbound call.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    #[error("cannot read CA file {path}: {source}")]
    ReadCa {
        path: String,
        source: std::io::Error,
    },
    #[error("CA file {path} holds no usable PEM certificate: {reason}")]
    BadCa { path: String, reason: String },
    #[error("cannot build the HTTPS client: {0}")]
    Build(String),
}

impl crate::error::SetupProblem for HttpSetupError {
    fn setup_kind(&self) -> crate::error::SetupKind {
        crate::error::SetupKind::Http
    }
}

/// Builds the shared client. `ca_file` adds a PEM bundle to the trusted roots.
pub fn build_client(ca_file: Option<&Path>) -> Result<reqwest::Client, HttpSetupError> {
    builder(ca_file, true)?
        .build()
        .map_err(|e| HttpSetupError::Build(e.to_string()))
}

/// Builds the managed identity credential's client: like [`build_client`] (same roots, timeouts,
/// no redirects), but plain HTTP is not refused by reqwest. Use it only behind
/// [`ManagedIdentityTransport`], which refuses every URL but the managed identity endpoints.
pub fn build_managed_identity_client(
    ca_file: Option<&Path>,
) -> Result<reqwest::Client, HttpSetupError> {
    builder(ca_file, false)?
        .build()
        .map_err(|e| HttpSetupError::Build(e.to_string()))
}

fn builder(
    ca_file: Option<&Path>,
    https_only: bool,
) -> Result<reqwest::ClientBuilder, HttpSetupError> {
    install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .https_only(https_only)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("akv-rotator/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|source| HttpSetupError::ReadCa {
            path: path.display().to_string(),
            source,
        })?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| HttpSetupError::BadCa {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        if certs.is_empty() {
            return Err(HttpSetupError::BadCa {
                path: path.display().to_string(),
                reason: "no certificate found".into(),
            });
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    Ok(builder)
}

/// The Azure Instance Metadata Service address, where IMDS serves managed identity tokens over
/// plain HTTP ("How to use managed identities for Azure resources on an Azure VM to acquire an
/// access token": `http://169.254.169.254/metadata/identity/oauth2/token`).
pub const IMDS_ADDRESS: std::net::Ipv4Addr = std::net::Ipv4Addr::new(169, 254, 169, 254);

/// Whether the managed identity credential may send a request to `url`: HTTPS anywhere; plain
/// HTTP only to IMDS ([`IMDS_ADDRESS`]) and to loopback (`127.0.0.0/8`, `::1`, `localhost`), where
/// App Service, Functions and Container Apps put `IDENTITY_ENDPOINT` ("Managed identities in Azure
/// Container Apps": `http://localhost:42356/msi/token`). The error names the host, never the query.
pub fn check_managed_identity_url(url: &url::Url) -> Result<(), String> {
    let host = url.host_str().unwrap_or("");
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let allowed = match url.host() {
                Some(url::Host::Ipv4(ip)) => ip == IMDS_ADDRESS || ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
                None => false,
            };
            if allowed {
                Ok(())
            } else {
                Err(format!(
                    "plain HTTP to {host} is refused: managed identity tokens are fetched over \
                     plain HTTP only from IMDS ({IMDS_ADDRESS}) or a loopback IDENTITY_ENDPOINT \
                     (127.0.0.0/8, ::1, localhost); any other host must use https"
                ))
            }
        }
        other => Err(format!(
            "the {other} URL scheme (host {host}) is refused for managed identity: use https, \
             or http to IMDS or a loopback IDENTITY_ENDPOINT"
        )),
    }
}

/// The managed identity credential's transport: refuses, before anything is sent, every URL
/// [`check_managed_identity_url`] refuses, so the plain-HTTP-capable client under it can reach
/// nothing but the managed identity endpoints.
#[derive(Debug)]
pub struct ManagedIdentityTransport {
    inner: std::sync::Arc<dyn azure_core::http::HttpClient>,
}

impl ManagedIdentityTransport {
    pub fn new(inner: std::sync::Arc<dyn azure_core::http::HttpClient>) -> Self {
        ManagedIdentityTransport { inner }
    }
}

#[async_trait::async_trait]
impl azure_core::http::HttpClient for ManagedIdentityTransport {
    async fn execute_request(
        &self,
        request: &azure_core::http::Request,
    ) -> azure_core::Result<azure_core::http::AsyncRawResponse> {
        if let Err(why) = check_managed_identity_url(request.url()) {
            // Not retried: the same URL will be refused again.
            return Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Other,
                why,
            ));
        }
        self.inner.execute_request(request).await
    }
}

/// rustls needs one process-wide crypto provider; installing twice is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The largest Key Vault response body accepted through the Azure SDK. A secret value is at most
/// 25 KB and a list page 25 items; azure_core itself reads bodies without a limit.
pub const MAX_SDK_RESPONSE_BYTES: usize = 1024 * 1024;

/// Wraps the SDK's transport: refuses response bodies over a size limit (as a non-retried
/// `DataConversion` error, which the vault adapter reports as `malformed_response`), feeds each
/// response status to optional per-vault [`AdaptiveLimits`](crate::net::retry::AdaptiveLimits)
/// and paces each request to a vault to its share of the vault's budget
/// ([`VaultPacing`](crate::net::pacing::VaultPacing)).
#[derive(Debug)]
pub struct GuardedTransport {
    inner: std::sync::Arc<dyn azure_core::http::HttpClient>,
    max_body: usize,
    limits: Option<std::sync::Arc<crate::net::retry::AdaptiveLimits>>,
    pacing: Option<std::sync::Arc<crate::net::pacing::VaultPacing>>,
}

impl GuardedTransport {
    pub fn new(inner: std::sync::Arc<dyn azure_core::http::HttpClient>, max_body: usize) -> Self {
        GuardedTransport {
            inner,
            max_body,
            limits: None,
            pacing: None,
        }
    }

    /// Paces every request to a configured vault: the last wait before it is sent.
    pub fn with_pacing(mut self, pacing: std::sync::Arc<crate::net::pacing::VaultPacing>) -> Self {
        self.pacing = Some(pacing);
        self
    }

    /// Holds a slot of these limits for each attempt and reports every response status to them
    /// (429 cuts and pauses, success grows).
    pub fn with_limits(
        mut self,
        limits: std::sync::Arc<crate::net::retry::AdaptiveLimits>,
    ) -> Self {
        self.limits = Some(limits);
        self
    }
}

/// The start of the message of a connection that could not be established.
pub const CANNOT_CONNECT: &str = "cannot connect to host";

/// A connection refused or a host name that does not resolve will not be different a second
/// later: instead of the SDK retrying it for a minute, it becomes a non-retried error at once.
/// Timeouts, resets and HTTP errors keep the retry policy.
fn fail_fast_on_refusal(e: azure_core::Error, url: &url::Url) -> azure_core::Error {
    if !matches!(e.kind(), azure_core::error::ErrorKind::Connection) {
        return e;
    }
    let timed_out = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
        .is_some_and(reqwest::Error::is_timeout);
    if timed_out {
        return e;
    }
    let detail = crate::error::error_chain(&e);
    azure_core::Error::with_message(
        azure_core::error::ErrorKind::Other,
        format!(
            "{CANNOT_CONNECT} {}: {detail}",
            url.host_str().unwrap_or("?")
        ),
    )
}

fn too_large(max: usize) -> azure_core::Error {
    azure_core::Error::with_message(
        azure_core::error::ErrorKind::DataConversion,
        format!("the response body is larger than {max} bytes"),
    )
}

#[async_trait::async_trait]
impl azure_core::http::HttpClient for GuardedTransport {
    async fn execute_request(
        &self,
        request: &azure_core::http::Request,
    ) -> azure_core::Result<azure_core::http::AsyncRawResponse> {
        use futures::StreamExt;
        // One slot of the vault's (or authority's) adaptive limit per attempt, released when the
        // response head is in: the SDK's backoff between attempts holds no slot.
        let key = crate::net::retry::AdaptiveLimits::key_of(request.url());
        let limit = self.limits.as_ref().map(|l| l.get(&key));
        let kind = crate::net::pacing::TransactionKind::of(&request.method(), request.url());
        // The pacing comes last, after the slot: a request that waited for its moment is sent
        // at that moment, so the spacing the pacer keeps is the spacing the vault sees. A 429
        // that arrived while it waited means the vault (shared with other writers) is full:
        // it then waits out the pause with the others and takes a new moment.
        let permit = loop {
            let permit = match &limit {
                Some(l) => Some(l.acquire().await),
                None => None,
            };
            let Some(pacing) = &self.pacing else {
                break permit;
            };
            let Some(at) = pacing.pace(&key, kind).await else {
                break permit;
            };
            if !limit.as_ref().is_some_and(|l| l.paused()) {
                pacing.sent(&key, kind, at);
                break permit;
            }
        };
        let result = self.inner.execute_request(request).await;
        if let Some(l) = &limit {
            let (status, retry_after) = match &result {
                Ok(r) => (
                    u16::from(r.status()),
                    crate::net::retry::sdk_retry_after(r.headers()),
                ),
                Err(_) => (0, None),
            };
            l.observe(status, retry_after);
        }
        drop(permit);
        let response = result.map_err(|e| fail_fast_on_refusal(e, request.url()))?;
        let declared = crate::net::retry::sdk_header(
            response.headers(),
            &azure_core::http::headers::CONTENT_LENGTH,
        )
        .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body as u64) {
            return Err(too_large(self.max_body));
        }
        let (status, headers, body) = response.deconstruct();
        let max = self.max_body;
        let mut seen = 0usize;
        let mut failed = false;
        let limited = body.map(move |chunk| {
            if failed {
                return Err(too_large(max));
            }
            let chunk = chunk?;
            seen = seen.saturating_add(chunk.len());
            if seen > max {
                failed = true;
                return Err(too_large(max));
            }
            Ok(chunk)
        });
        Ok(azure_core::http::AsyncRawResponse::new(
            status,
            headers,
            Box::pin(limited),
        ))
    }
}

/// Responses read with [`read_limited`] (token responses, discovery, JWKS, Graph) are a few KB;
/// anything far larger is hostile or broken.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;

pub fn describe_reqwest(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    // reqwest's own message names the URL, never the form body.
    format!("{kind}: {}", crate::error::error_chain(e))
}

/// Reads a body up to [`MAX_RESPONSE_BYTES`].
pub async fn read_limited(mut resp: reqwest::Response) -> Result<Vec<u8>, StepError> {
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
    {
        return Err(StepError::new(
            ErrorClass::MalformedResponse,
            format!(
                "response from {} is larger than {MAX_RESPONSE_BYTES} bytes",
                resp.url().host_str().unwrap_or("?")
            ),
        ));
    }
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(StepError::new(
                        ErrorClass::MalformedResponse,
                        format!("response is larger than {MAX_RESPONSE_BYTES} bytes"),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(StepError::new(
                    ErrorClass::Transient,
                    format!("reading the response failed: {}", describe_reqwest(&e)),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {

    /// The shared client refuses plain HTTP when a request is made, not only in the config:
    /// a bearer token or client secret is never sent in clear text.
    #[tokio::test]
    async fn the_shared_client_refuses_plain_http_at_request_time() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/token", listener.local_addr().expect("addr"));
        let client = build_client(None).expect("client");
        let err = client
            .post(&url)
            .body("client_secret=never-sent")
            .send()
            .await
            .expect_err("plain HTTP is refused");
        assert!(err.is_builder(), "refused before connecting: {err}");
        // Nothing reached the listener.
        let accepted =
            tokio::time::timeout(std::time::Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "a connection was made");
    }

    use super::*;

    fn check(url: &str) -> Result<(), String> {
        check_managed_identity_url(&url::Url::parse(url).expect("test URLs parse"))
    }

    #[test]
    fn managed_identity_may_use_plain_http_only_to_imds_and_loopback() {
        for allowed in [
            "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2019-08-01",
            "http://localhost:42356/msi/token",
            "http://LOCALHOST:42356/msi/token",
            "http://127.0.0.1:41741/MSI/token/",
            "http://127.8.9.10/msi/token",
            "http://[::1]:8081/msi/token",
            "https://identity.example.com/msi/token",
        ] {
            assert_eq!(check(allowed), Ok(()), "{allowed}");
        }
    }

    #[test]
    fn managed_identity_refuses_plain_http_elsewhere_and_names_the_host() {
        for (refused, host) in [
            ("http://10.0.0.4:8081/msi/token?resource=x", "10.0.0.4"),
            (
                "http://169.254.169.253/metadata/identity/oauth2/token",
                "169.254.169.253",
            ),
            (
                "http://identity.example.com/msi/token",
                "identity.example.com",
            ),
            (
                "http://localhost.example.com/msi/token",
                "localhost.example.com",
            ),
            ("http://[fe80::1]/msi/token", "[fe80::1]"),
            ("ftp://localhost/msi/token", "localhost"),
        ] {
            let why = check(refused).expect_err(refused);
            assert!(why.contains(host), "{refused}: {why}");
            assert!(!why.contains("resource=x"), "{why}");
        }
    }
}
