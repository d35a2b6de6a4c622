//! Errors and exit codes: the setup error that stops a command before any work (with its exit
//! code), the error classes shared by every step of a cycle, and the per-target error that the
//! report shows.
//!
//! A class says what kind of problem it is and what to do about it; the message says where
//! (which app, which vault, which secret). Neither ever contains a secret or token value:
//! messages are built from names, ids and service error codes only.

use serde::{Deserialize, Serialize};

/// Exit codes for schedulers.
pub mod exit {
    /// Everything worked.
    pub const OK: i32 = 0;
    /// Some target failed (or `--fail-on` matched).
    pub const FAILED: i32 = 1;
    /// Configuration or permission problem before any work: fix something, then run again.
    pub const SETUP: i32 = 2;
    /// Azure could not be reached before any work (Entra ID or a vault host): nothing was
    /// written, and running again later may succeed.
    pub const UNREACHABLE: i32 = 3;
}

/// Where a setup problem comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupKind {
    /// The config file cannot be read or is invalid.
    Config,
    /// The HTTPS client cannot be built (CA file).
    Http,
    /// The rotator's own credential cannot be set up.
    Identity,
    /// A vault cannot be used at all with the rotator's identity.
    Vault,
    /// The shard arguments or `JOB_COMPLETION_INDEX` are wrong.
    Shard,
    /// The command line asks for something impossible, or the process cannot start.
    Process,
}

/// A problem that stops a command before any work. The message names what is wrong and
/// where; it never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SetupError {
    pub kind: SetupKind,
    pub message: String,
    /// Azure could not be reached: running again later may succeed (exit code 3).
    pub transient: bool,
}

impl SetupError {
    pub fn new(kind: SetupKind, message: impl Into<String>) -> Self {
        SetupError {
            kind,
            message: message.into(),
            transient: false,
        }
    }

    /// The process's exit code for this problem: 3 when Azure could not be reached, else 2.
    pub fn exit_code(&self) -> i32 {
        if self.transient {
            exit::UNREACHABLE
        } else {
            exit::SETUP
        }
    }
}

/// A lower module's own setup error (config, HTTPS client, identity): its kind, and its
/// `Display` as the message. Implemented where the error is defined, so that the conversion into
/// [`SetupError`] adds no import from this module upwards.
pub trait SetupProblem: std::fmt::Display {
    fn setup_kind(&self) -> SetupKind;
}

impl<E: SetupProblem> From<E> for SetupError {
    fn from(e: E) -> Self {
        SetupError::new(e.setup_kind(), e.to_string())
    }
}

/// A vault failure that stops the whole cycle: the rotator cannot authenticate to it, or cannot
/// reach it or Entra ID at all.
impl From<StepError> for SetupError {
    fn from(e: StepError) -> Self {
        SetupError {
            transient: e.class.is_transient(),
            ..SetupError::new(SetupKind::Vault, e.to_string())
        }
    }
}

/// What went wrong, in terms a platform or security team can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Entra ID rejected the client secret (AADSTS7000215 and friends).
    BadClientSecret,
    /// The client secret has expired in Entra ID (AADSTS7000222).
    ExpiredClientSecret,
    /// The application is not registered in the tenant (AADSTS700016).
    UnknownApp,
    /// The tenant does not exist (AADSTS90002).
    UnknownTenant,
    /// The scope or resource is not valid for client credentials (AADSTS70011, 500011, 1002012).
    InvalidScope,
    /// The rotator's own identity could not authenticate to Key Vault (no token, or 401).
    RotatorCredential,
    /// Key Vault refused the operation for the rotator's identity (403).
    PermissionDenied,
    /// A Key Vault secret the config names does not exist.
    NotFound,
    /// The Key Vault secret exists but is disabled.
    SecretDisabled,
    /// The client secret stored in Key Vault is unusable (empty, not text).
    InvalidClientSecretValue,
    /// The token Entra ID returned failed validation; it was not written.
    InvalidToken,
    /// Throttling, timeouts, 5xx, connection failures: retrying later may succeed.
    Transient,
    /// A response that does not follow the protocol (malformed JSON, oversized body).
    MalformedResponse,
    /// The cycle reached `cycle_deadline` before this work was done; the stored token was kept.
    DeadlineExceeded,
    /// The configuration does not allow this step (for example no Graph endpoint for the cloud).
    Configuration,
    /// Key Vault refused a write because the secret is deleted but recoverable (HTTP 409).
    Conflict,
    /// The rotator could not build its own request: a bug, to be reported.
    Internal,
    /// The token's secret exists but was not written by the rotator (another content type, or
    /// no `written-by` tag): it was left alone; `once --adopt` takes it over.
    ForeignSecret,
    /// Entra ID or a vault host could not be reached at all (connection refused, DNS, or the
    /// rotator's own token request failed on the network): retrying later may succeed.
    Unreachable,
}

impl ErrorClass {
    /// Stable label for reports, logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            ErrorClass::BadClientSecret => "bad_client_secret",
            ErrorClass::ExpiredClientSecret => "expired_client_secret",
            ErrorClass::UnknownApp => "unknown_app",
            ErrorClass::UnknownTenant => "unknown_tenant",
            ErrorClass::InvalidScope => "invalid_scope",
            ErrorClass::RotatorCredential => "rotator_credential",
            ErrorClass::PermissionDenied => "permission_denied",
            ErrorClass::NotFound => "not_found",
            ErrorClass::SecretDisabled => "secret_disabled",
            ErrorClass::InvalidClientSecretValue => "invalid_client_secret_value",
            ErrorClass::InvalidToken => "invalid_token",
            ErrorClass::Transient => "transient",
            ErrorClass::MalformedResponse => "malformed_response",
            ErrorClass::DeadlineExceeded => "deadline_exceeded",
            ErrorClass::Configuration => "configuration",
            ErrorClass::Conflict => "conflict",
            ErrorClass::Internal => "internal",
            ErrorClass::Unreachable => "unreachable",
            ErrorClass::ForeignSecret => "foreign_secret",
        }
    }

    /// Whether trying again later, unchanged, may succeed.
    pub fn is_transient(self) -> bool {
        matches!(self, ErrorClass::Transient | ErrorClass::Unreachable)
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// A failure of one step for one app or target: a class, a message that names what and where
/// and says what to do, and the service's own error code when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{class}: {message}")]
pub struct StepError {
    pub class: ErrorClass,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The service's own explanation (already part of `message`, redacted), for callers that
    /// rephrase the advice but keep the service's words.
    #[serde(skip)]
    pub service_message: Option<String>,
}

impl StepError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        StepError {
            class,
            message: message.into(),
            code: None,
            service_message: None,
        }
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub fn with_service_message(mut self, text: impl Into<String>) -> Self {
        self.service_message = Some(text.into());
        self
    }

    /// A document the rotator stores for itself (`what`: the alert state, the status record)
    /// that is not JSON of the expected layout: where it broke, never what it says.
    pub fn unreadable_json(what: &str, e: &serde_json::Error) -> Self {
        StepError::new(
            ErrorClass::MalformedResponse,
            format!(
                "{what} is not valid (line {}, column {}: {})",
                e.line(),
                e.column(),
                match e.classify() {
                    serde_json::error::Category::Io => "unreadable",
                    serde_json::error::Category::Syntax => "not JSON",
                    serde_json::error::Category::Data => "unexpected layout",
                    serde_json::error::Category::Eof => "truncated",
                }
            ),
        )
    }

    /// A stored document of a layout version this release does not read.
    pub fn unknown_layout(what: &str, found: u32, reads: u32) -> Self {
        StepError::new(
            ErrorClass::MalformedResponse,
            format!("{what} has layout version {found}, this akv-rotator reads version {reads}"),
        )
    }

    /// Prefixes the message with where the failure happened.
    pub fn context(mut self, what: impl std::fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

/// The error and its causes on one line. azure_core errors carry names and codes, not values.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}
