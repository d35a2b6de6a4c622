//! The one HTTPS client the rotator uses for everything: Entra ID directly, and Key Vault through
//! the Azure SDK (handed over as its transport), so both trust the same roots and share timeouts.
//!
//! Plain HTTP is refused here (`https_only`), redirects are not followed (a redirect could carry a
//! bearer token or a client secret elsewhere), and an extra CA can be trusted for private clouds
//! and the local emulator.

use std::path::Path;
use std::time::Duration;

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

/// Builds the shared client. `ca_file` adds a PEM bundle to the trusted roots.
pub fn build_client(ca_file: Option<&Path>) -> Result<reqwest::Client, HttpSetupError> {
    install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .https_only(true)
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
    builder
        .build()
        .map_err(|e| HttpSetupError::Build(e.to_string()))
}

/// rustls needs one process-wide crypto provider; installing twice is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
