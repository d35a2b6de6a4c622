//! The fault rule model as seeds, the admin API and the handle write it: which requests a rule
//! hits and what it does, and the token faults that break tokens issued to one app. Plain data;
//! applying a fault is the `faults` module.

use serde::{Deserialize, Serialize};

/// A way to break the tokens issued to one app, for validation tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenFault {
    /// The RS256 signature does not verify (one byte flipped) although `kid` is published.
    BadSignature,
    /// `aud` is `api://akv-emulator/wrong-audience` instead of the requested resource.
    WrongAudience,
    /// No `roles` claim even when the app holds roles for the resource.
    MissingRoles,
    /// `iss` names another tenant (`tid` is unchanged).
    WrongIssuer,
    /// `appid` / `azp` is a random client id.
    WrongClientId,
    /// `exp` is one hour in the past (the token response still reports a positive
    /// `expires_in`, so only a client that reads the token notices).
    Expired,
    /// `nbf` and `iat` are one hour in the future.
    NotYetValid,
    /// Signed by a *pending* key that is not in the JWKS; the next key rollover
    /// ([`crate::EmulatorHandle::rollover_signing_key`] or `POST /_emulator/keys/rollover`)
    /// makes exactly that key current, after which these tokens verify.
    UnknownKid,
    /// Header `alg` is `none` and the signature is empty.
    AlgNone,
    /// A forgery dressed as a Microsoft Graph token, whatever the audience: a Graph-style
    /// `nonce` header, a signature of random bytes, an extra role (`Tenant.ReadWrite.All`)
    /// and `exp` 30 days after issue.
    ForgedNonce,
}

/// One fault rule: requests matching `service` (and `operation`) get `kind`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// A vault name, `"login"`, `"graph"`, `"powerbi"`, or `"*"` for every service.
    pub service: String,
    /// An operation as named in the stats (`SecretGet`, `TokenV2`, …); `None` = any.
    #[serde(default)]
    pub operation: Option<String>,
    /// What happens.
    pub kind: FaultKind,
    /// Chance that a matching request is hit, 0.0–1.0 (default 1.0).
    #[serde(default = "certain")]
    pub probability: f64,
    /// Apply to the next N matching requests that are hit, then retire; `None` = forever.
    #[serde(default)]
    pub count: Option<u64>,
}

fn certain() -> f64 {
    1.0
}

/// What a fault does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// Answer normally after `ms` milliseconds.
    Latency {
        /// Delay in milliseconds.
        ms: u64,
    },
    /// Answer with this status and the service's generic error body instead of serving.
    Status {
        /// HTTP status code.
        code: u16,
    },
    /// Answer 429 with the service's throttling body and optional `Retry-After`.
    TooManyRequests {
        /// `Retry-After` seconds; `None` = no header (like Key Vault).
        #[serde(default)]
        retry_after_secs: Option<u64>,
    },
    /// Close the connection without an answer.
    ConnectionReset,
    /// Serve the request (its effect happens, e.g. Graph `addPassword` creates the
    /// credential), then close the connection without the answer: the client cannot tell
    /// whether it worked. Graph shows a new secret's text only in that one answer
    /// ("passwordCredential resource type": `secretText` "is only returned during the initial
    /// POST request to addPassword"), so a lost answer leaves a credential nobody can use.
    ConnectionResetAfterServing,
    /// Serve, then replace the body with invalid JSON (status kept).
    MalformedJson,
    /// Serve, then cut the JSON body in half (status kept, `Content-Length` matching).
    TruncatedJson,
    /// Serve, then pad the JSON body with whitespace to at least `bytes` bytes.
    OversizedBody {
        /// Minimum body size.
        bytes: u64,
    },
    /// Serve, then send the body at `bytes_per_sec`.
    SlowBody {
        /// Throughput.
        bytes_per_sec: u64,
    },
}
