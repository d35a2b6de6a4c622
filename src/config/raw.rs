//! The file model: what TOML deserializes into, before any value is checked. Unknown keys
//! are refused here.

use super::*;

// ---------------------------------------------------------------------------------------------
// The file model.

#[derive(Debug, Deserialize)]
pub struct RawConfig {
    #[serde(default)]
    pub(super) cloud: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) custom_cloud: Option<RawCustomCloud>,
    /// Default vault for client secrets and tokens.
    #[serde(default)]
    pub(super) vault: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) ca_file: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) concurrency: Option<Spanned<i64>>,
    #[serde(default)]
    pub(super) cycle_deadline: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) limits: Option<RawLimits>,
    #[serde(default)]
    pub(super) refresh_before: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) max_token_lifetime: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) expiry: Option<RawThresholds>,
    #[serde(default)]
    pub(super) credential: Option<Spanned<RawCredential>>,
    #[serde(default)]
    pub(super) daemon: Option<RawDaemon>,
    #[serde(default)]
    pub(super) shard: Option<RawShard>,
    #[serde(default)]
    pub(super) alerts: Option<Spanned<alerts::RawAlertsConfig>>,
    #[serde(default)]
    pub(super) apps: Vec<Spanned<RawApp>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawDaemon {
    #[serde(default)]
    pub(super) schedule: Option<Spanned<String>>,
    /// IANA name the schedule is read in; default UTC.
    #[serde(default)]
    pub(super) time_zone: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) jitter: Option<Spanned<String>>,
    /// How old the last listing may be before a cycle lists the vaults again.
    #[serde(default)]
    pub(super) relist_after: Option<Spanned<String>>,
    /// How long a client secret read is reused while its listing shows it unchanged.
    #[serde(default)]
    pub(super) client_secret_max_age: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) listen: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) shutdown_grace: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) header_read_timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) idle_timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) max_connections: Option<Spanned<i64>>,
    /// `"main"`, `"off"`, or an address for a listener of its own.
    #[serde(default)]
    pub(super) status: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawShard {
    pub(super) count: Spanned<i64>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawCustomCloud {
    pub(super) authority_host: Spanned<String>,
    #[serde(default)]
    pub(super) vault_suffix: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) powerbi_api: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) graph_endpoint: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) graph_resource: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawThresholds {
    #[serde(default)]
    pub(super) warning: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) critical: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) graph: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawCredential {
    pub(super) kind: Spanned<String>,
    #[serde(default)]
    pub(super) tenant_id: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) client_id: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) client_secret_file: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) token_file: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawApp {
    pub(super) name: Spanned<String>,
    pub(super) tenant_id: Spanned<String>,
    pub(super) client_id: Spanned<String>,
    #[serde(default)]
    pub(super) client_secret_name: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) client_certificate_name: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) certificate_algorithm: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) rotate: Option<Spanned<RawRotate>>,
    #[serde(default)]
    pub(super) vault: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) owner: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) expiry: Option<RawThresholds>,
    #[serde(default)]
    pub(super) targets: Vec<Spanned<RawTarget>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawRotate {
    #[serde(default)]
    pub(super) before_expiry: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) lifetime: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) grace: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) propagation_wait: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawTarget {
    pub(super) scope: Spanned<String>,
    pub(super) secret: Spanned<String>,
    /// The `aud` the token must carry (a v2 API's client id), when not the resource.
    #[serde(default)]
    pub(super) audience: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) vault: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) refresh_before: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) required_roles: Vec<String>,
    /// `true` for the resource's default probe, or a URL on the resource's API host.
    #[serde(default)]
    pub(super) probe: Option<Spanned<toml::Value>>,
}
