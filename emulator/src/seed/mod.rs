//! The seed model: tenants, app registrations, vaults, permissions and secrets the emulator
//! starts with (or merges at run time). Owns parsing from TOML/JSON and the built-in demo seed;
//! it holds no runtime state. Plain data: it imports nothing above `cert`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

mod fault_rules;
mod file;

pub use fault_rules::{FaultKind, FaultRule, TokenFault};

/// Everything the emulator knows at start, or merges in later through `apply_seed`.
///
/// Seed files may also write the per-tenant, per-app and per-vault settings of
/// [`Seed::tenant_policies`], [`Seed::app_registrations`] and [`Seed::vault_policies`] inline
/// in `[[tenants]]`, `[[tenants.apps]]` and `[[vaults]]`; they are lifted into those tables
/// when the seed is read (the Rust structs [`TenantSeed`], [`AppSeed`] and [`VaultSeed`] keep
/// their original fields so existing struct literals keep compiling).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, from = "file::SeedFile")]
pub struct Seed {
    /// Entra ID tenants and their app registrations.
    pub tenants: Vec<TenantSeed>,
    /// Key Vaults; each gets its own HTTPS listener.
    pub vaults: Vec<VaultSeed>,
    /// Token lifetime range in seconds, chosen at random per token. Default (3600, 5400).
    pub token_lifetime_secs: Option<(u64, u64)>,
    /// Lifetime range of tokens for Key Vault (`https://vault.azure.net`), when it differs from
    /// `token_lifetime_secs`. A bench shortens the apps' tokens to see several lifetimes in
    /// minutes; the token its client holds for Key Vault keeps the lifetime Entra ID gives
    /// (60 to 90 minutes by default, "Access tokens"; never under 10 minutes with a lifetime
    /// policy, "Configurable token lifetimes in the Microsoft identity platform"), since a
    /// token shorter than the Azure SDK's 5-minute refresh margin is fetched again before every
    /// request, which never happens against Azure. Default: `token_lifetime_secs`.
    pub vault_token_lifetime_secs: Option<(u64, u64)>,
    /// Resources accepted by the token endpoint beyond the built-in ones.
    pub resources: Vec<ResourceSeed>,
    /// Per-tenant policies (Power BI service principal switch, app-management policy).
    pub tenant_policies: Vec<TenantPolicySeed>,
    /// Per-app settings beyond [`AppSeed`]: owners, federated and certificate credentials,
    /// the application object id.
    pub app_registrations: Vec<AppRegistrationSeed>,
    /// Seconds before a client secret added through Graph `addPassword` works at the token
    /// endpoint (AADSTS7000215 until then). `None` keeps the current setting (initially 0).
    pub secret_propagation_secs: Option<u64>,
    /// Seconds of clock skew the Graph and Power BI APIs allow on a token's `exp` and `nbf`.
    /// `None` keeps the current setting (initially 60); 0 makes them reject a token the second
    /// it expires, as a test of consumers that must never send an expired token needs.
    pub token_clock_skew_secs: Option<u64>,
    /// Per-vault settings beyond [`VaultSeed`] (the throttle).
    pub vault_policies: Vec<VaultPolicySeed>,
    /// Fault rules; a merged seed with rules replaces the active rules.
    pub faults: Vec<FaultRule>,
    /// Entra ID token endpoint throttle (429 with `Retry-After: 60`, AADSTS50196).
    pub entra_throttle: Option<ThrottleSeed>,
    /// Key Vault's subscription-wide budgets, counted across all vaults (Azure: five times the
    /// per-vault limits, [`VaultThrottleSeed::subscription`]). `None` = unlimited.
    #[serde(default)]
    pub subscription_limits: Option<VaultThrottleSeed>,
    /// Managed identities of the emulated Azure host, served by the plain-HTTP managed identity
    /// listener ([`crate::EmulatorOptions::managed_identity_listen`]).
    #[serde(default)]
    pub managed_identities: Vec<ManagedIdentitySeed>,
}

/// A managed identity assigned to the emulated Azure host (VM, App Service, Container App):
/// its service principal in a tenant. Tokens issued to it carry `appid` = `client_id` and `oid` =
/// `object_id`, so a vault's [`PermissionSeed`] for either applies to it (Azure RBAC assigns
/// roles to the principal id; the emulator's permissions are keyed by client id too).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedIdentitySeed {
    /// Tenant of the identity's service principal.
    pub tenant_id: String,
    /// Client (application) id: selector `client_id`.
    pub client_id: String,
    /// Principal (object) id: selectors `object_id`, `principal_id`.
    pub object_id: String,
    /// `true` for the host's one system-assigned identity (used when a request names no
    /// identity); `false` for a user-assigned identity.
    #[serde(default)]
    pub system_assigned: bool,
    /// Azure resource id of a user-assigned identity
    /// (`/subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}`):
    /// selectors `msi_res_id` (IMDS), `mi_res_id` (App Service, older IMDS docs).
    #[serde(default)]
    pub resource_id: Option<String>,
}

impl ManagedIdentitySeed {
    /// The host's system-assigned identity.
    pub fn system_assigned(tenant_id: &str, client_id: &str, object_id: &str) -> Self {
        ManagedIdentitySeed {
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            object_id: object_id.into(),
            system_assigned: true,
            resource_id: None,
        }
    }

    /// A user-assigned identity with its Azure resource id.
    pub fn user_assigned(
        tenant_id: &str,
        client_id: &str,
        object_id: &str,
        resource_id: &str,
    ) -> Self {
        ManagedIdentitySeed {
            system_assigned: false,
            resource_id: Some(resource_id.into()),
            ..Self::system_assigned(tenant_id, client_id, object_id)
        }
    }
}

/// Settings of one vault beyond [`VaultSeed`]. Inline form: `throttle` in `[[vaults]]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultPolicySeed {
    /// The vault name.
    pub vault: String,
    /// One budget for every transaction (Key Vault's older published model); `None` =
    /// unlimited. Use [`VaultPolicySeed::limits`] for the current model.
    #[serde(default)]
    pub throttle: Option<ThrottleSeed>,
    /// Key Vault's current model: secret CREATEs and all other transactions counted apart.
    /// Takes the place of `throttle` (a policy sets one of the two).
    #[serde(default)]
    pub limits: Option<VaultThrottleSeed>,
}

/// Key Vault's throttle for one vault, as the Learn page "Azure Key Vault service limits"
/// publishes it: per vault per 10 s, CREATE secret (`PUT /secrets/{name}`, a new version)
/// against `writes` (300) and all other secret transactions against `others` (4,000), counted
/// apart. Refused requests (429) count against neither ("Azure Key Vault throttling guidance").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaultThrottleSeed {
    /// Secret CREATEs accepted per window (Key Vault: 300).
    pub writes: u64,
    /// Other secret transactions accepted per window (Key Vault: 4,000).
    pub others: u64,
    /// Window length in seconds (Key Vault: 10).
    pub window_secs: u64,
}

impl Default for VaultThrottleSeed {
    fn default() -> VaultThrottleSeed {
        VaultThrottleSeed {
            writes: 300,
            others: 4000,
            window_secs: 10,
        }
    }
}

impl VaultThrottleSeed {
    /// The subscription-wide budgets: five times the per-vault limits ("Azure Key Vault
    /// service limits", footnote 1).
    pub fn subscription() -> VaultThrottleSeed {
        let vault = VaultThrottleSeed::default();
        VaultThrottleSeed {
            writes: vault.writes * 5,
            others: vault.others * 5,
            window_secs: vault.window_secs,
        }
    }

    /// The budget of CREATE secret transactions.
    pub fn write_budget(&self) -> ThrottleSeed {
        ThrottleSeed {
            requests: self.writes,
            window_secs: self.window_secs,
        }
    }

    /// The budget of all other transactions.
    pub fn other_budget(&self) -> ThrottleSeed {
        ThrottleSeed {
            requests: self.others,
            window_secs: self.window_secs,
        }
    }
}

/// A fixed-window request limit: at most `requests` accepted requests per `window_secs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleSeed {
    /// Accepted requests per window (Key Vault secrets: 4000).
    pub requests: u64,
    /// Window length in seconds (Key Vault: 10).
    pub window_secs: u64,
}

impl Default for ThrottleSeed {
    fn default() -> ThrottleSeed {
        ThrottleSeed {
            requests: 4000,
            window_secs: 10,
        }
    }
}

/// Policies of one tenant. Inline form: the same fields in `[[tenants]]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantPolicySeed {
    /// The tenant id.
    pub tenant_id: String,
    /// Power BI tenant setting "Allow service principals to use Power BI APIs" (default true).
    #[serde(default = "yes")]
    pub powerbi_service_principals_enabled: bool,
    /// App-management policy: longest client secret lifetime Graph `addPassword` accepts.
    #[serde(default)]
    pub max_secret_lifetime_days: Option<u32>,
}

impl Default for TenantPolicySeed {
    fn default() -> TenantPolicySeed {
        TenantPolicySeed {
            tenant_id: String::new(),
            powerbi_service_principals_enabled: true,
            max_secret_lifetime_days: None,
        }
    }
}

/// Settings of one app registration beyond [`AppSeed`], matched by client id in any tenant.
/// Inline form: the same fields (without `client_id`) in `[[tenants.apps]]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppRegistrationSeed {
    /// The app's client id.
    pub client_id: String,
    /// Object id of the *application* object (Graph `/applications/{id}`), distinct from the
    /// service principal object id in tokens. Default: a random UUID (kept across merges).
    #[serde(default)]
    pub application_object_id: Option<String>,
    /// Client ids of apps that own this app (for `Application.ReadWrite.OwnedBy`).
    #[serde(default)]
    pub owners: Vec<String>,
    /// Federated identity credentials (workload identity).
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredentialSeed>,
    /// Certificate credentials (public certificates).
    #[serde(default)]
    pub certificates: Vec<CertificateSeed>,
}

/// A federated identity credential: tokens of an external issuer that the app accepts as
/// client assertions.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederatedCredentialSeed {
    /// Issuer URL (`iss` of the external token), compared exactly.
    pub issuer: String,
    /// Subject (`sub` of the external token), compared exactly.
    pub subject: String,
    /// Accepted audiences; default `["api://AzureADTokenExchange"]`.
    #[serde(default = "default_fic_audiences")]
    pub audiences: Vec<String>,
    /// The issuer's public JWKS, inline (`{"keys":[{"kty":"RSA","kid",…,"n","e"}]}`).
    pub jwks: serde_json::Value,
}

fn default_fic_audiences() -> Vec<String> {
    vec!["api://AzureADTokenExchange".to_string()]
}

/// A certificate credential of an app.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateSeed {
    /// The public certificate, PEM.
    pub pem: String,
    /// Valid from (RFC 3339); default the certificate's notBefore.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub start: Option<OffsetDateTime>,
    /// Valid until (RFC 3339); default the certificate's notAfter.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub end: Option<OffsetDateTime>,
}

/// One Entra ID tenant.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSeed {
    /// Tenant id (a GUID).
    pub id: String,
    /// App registrations (service principals) in the tenant.
    #[serde(default)]
    pub apps: Vec<AppSeed>,
}

/// One app registration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSeed {
    /// Application (client) id.
    pub client_id: String,
    /// Display name, informational.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Service principal object id, becomes `oid`/`sub`. Default: a random UUID.
    #[serde(default)]
    pub object_id: Option<String>,
    /// Client secrets (password credentials).
    #[serde(default)]
    pub secrets: Vec<ClientSecretSeed>,
    /// Application roles granted per resource URI, emitted as the `roles` claim.
    #[serde(default)]
    pub roles: BTreeMap<String, Vec<String>>,
}

/// One client secret (password credential) of an app.
#[derive(Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ClientSecretSeed {
    /// The secret text.
    pub value: String,
    /// Credential key id. Default: a random UUID.
    #[serde(default)]
    pub key_id: Option<String>,
    /// Hint shown by Graph. Default: the first 3 characters of the value.
    #[serde(default)]
    pub hint: Option<String>,
    /// Not valid before (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub start: Option<OffsetDateTime>,
    /// Not valid after (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub end: Option<OffsetDateTime>,
}

impl std::fmt::Debug for ClientSecretSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSecretSeed")
            .field("value", &"<redacted>")
            .field("key_id", &self.key_id)
            .field("hint", &self.hint)
            .field("start", &self.start)
            .field("end", &self.end)
            .finish()
    }
}

/// One Key Vault.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultSeed {
    /// Vault name (the key used by `vault_url`).
    pub name: String,
    /// Tenant whose tokens the vault accepts.
    pub tenant_id: String,
    /// Data-plane permissions per principal.
    #[serde(default)]
    pub permissions: Vec<PermissionSeed>,
    /// Secrets present at start (each becomes one version).
    #[serde(default)]
    pub secrets: Vec<SecretSeed>,
}

/// Data-plane access of one principal to a vault.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionSeed {
    /// Client id of the caller (the token's `appid`/`azp`).
    pub principal: String,
    /// Get (and list, when vault-wide).
    #[serde(default)]
    pub read: bool,
    /// Set, update, delete, recover, purge.
    #[serde(default)]
    pub write: bool,
    /// `None`: vault-wide. `Some(names)`: only these secrets, and listing is forbidden.
    #[serde(default)]
    pub secrets: Option<Vec<String>>,
}

/// One secret (its first version).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSeed {
    /// Secret name.
    pub name: String,
    /// Secret value.
    pub value: String,
    /// Content type.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Enabled flag (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Not before (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub nbf: Option<OffsetDateTime>,
    /// Expires (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub exp: Option<OffsetDateTime>,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl std::fmt::Debug for SecretSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretSeed")
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .field("content_type", &self.content_type)
            .field("enabled", &self.enabled)
            .field("nbf", &self.nbf)
            .field("exp", &self.exp)
            .field("tags", &self.tags)
            .finish()
    }
}

fn yes() -> bool {
    true
}

/// An extra token audience: a resource (API) app registration.
///
/// A request names it by its App ID URI (`uri`, `app_id_uri` in seed files) or by its
/// application (client) id; what lands in `aud` follows "Access token claims reference"
/// (`aud`): v2.0 tokens always carry the API's client id, v1.0 tokens the identifier used in
/// the request (App ID URI or client id).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSeed {
    /// The App ID URI (`identifierUris`), e.g. `api://orders-api` or `https://api.contoso.com`.
    #[serde(alias = "app_id_uri")]
    pub uri: String,
    /// The API's application (client) id. `None`: the emulator makes one up (v2.0 tokens
    /// always need it as their `aud`).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Access token version, 1 or 2 (the API's `requestedAccessTokenVersion`).
    #[serde(default = "one")]
    pub token_version: u8,
}

impl Default for ResourceSeed {
    fn default() -> Self {
        ResourceSeed {
            uri: String::new(),
            client_id: None,
            token_version: 1,
        }
    }
}

fn one() -> u8 {
    1
}

/// The name that stands for all vaults of the subscription in the stats and the admin API.
pub const SUBSCRIPTION: &str = "subscription";

/// Tenant id of [`Seed::default_demo`].
pub const DEMO_TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// Client id of the rotator's own identity in [`Seed::default_demo`].
pub const DEMO_ROTATOR_CLIENT_ID: &str = "0b7f2e1c-5a4d-4c3b-9e8f-1a2b3c4d5e6f";
/// Client id of the example Power BI app in [`Seed::default_demo`].
pub const DEMO_APP_CLIENT_ID: &str = "6a1c3e5f-7b9d-4f2a-8c6e-0d1f3a5b7c9e";

impl Seed {
    /// Loads a seed from a `.toml` or `.json` file (chosen by extension).
    pub fn from_file(path: &Path) -> anyhow::Result<Seed> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading seed file {}", path.display()))?;
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let seed: Seed = match ext.to_ascii_lowercase().as_str() {
            "toml" => toml::from_str(&text)
                .with_context(|| format!("parsing seed file {}", path.display()))?,
            "json" => serde_json::from_str(&text)
                .with_context(|| format!("parsing seed file {}", path.display()))?,
            other => bail!(
                "seed file {} must end in .toml or .json (got {other:?})",
                path.display()
            ),
        };
        seed.validate()?;
        Ok(seed)
    }

    /// Checks cross-field rules serde cannot express.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some((lo, hi)) = self.token_lifetime_secs
            && (lo == 0 || lo > hi)
        {
            bail!("token_lifetime_secs must be (min, max) with 0 < min <= max");
        }
        if let Some((lo, hi)) = self.vault_token_lifetime_secs
            && (lo == 0 || lo > hi)
        {
            bail!("vault_token_lifetime_secs must be (min, max) with 0 < min <= max");
        }
        for r in &self.resources {
            if r.token_version != 1 && r.token_version != 2 {
                bail!("resource {}: token_version must be 1 or 2", r.uri);
            }
            if let Some(id) = &r.client_id
                && uuid::Uuid::parse_str(id).is_err()
            {
                bail!("resource {}: client_id {id:?} is not a GUID", r.uri);
            }
        }
        for v in &self.vaults {
            if v.name.is_empty() {
                bail!("a vault needs a name");
            }
        }
        for p in &self.vault_policies {
            if p.throttle.is_some() && p.limits.is_some() {
                bail!(
                    "vault {}: set either throttle (one budget) or limits (writes and others apart), not both",
                    p.vault
                );
            }
        }
        for v in &self.vaults {
            if v.name == SUBSCRIPTION {
                bail!(
                    "a vault cannot be named {SUBSCRIPTION}: the name stands for all vaults in the stats and the admin API"
                );
            }
        }
        let windows = self
            .vault_policies
            .iter()
            .filter_map(|p| p.throttle.map(|t| t.window_secs))
            .chain(
                self.vault_policies
                    .iter()
                    .filter_map(|p| p.limits.map(|l| l.window_secs)),
            )
            .chain(self.subscription_limits.map(|l| l.window_secs))
            .chain(self.entra_throttle.map(|t| t.window_secs));
        for w in windows {
            if w == 0 {
                bail!("a throttle needs window_secs > 0");
            }
        }
        for f in &self.faults {
            if !(0.0..=1.0).contains(&f.probability) {
                bail!(
                    "fault rule for {}: probability must be within 0.0..=1.0",
                    f.service
                );
            }
        }
        if self
            .managed_identities
            .iter()
            .filter(|m| m.system_assigned)
            .count()
            > 1
        {
            bail!("a host has at most one system-assigned managed identity");
        }
        for m in &self.managed_identities {
            if m.tenant_id.is_empty() || m.client_id.is_empty() || m.object_id.is_empty() {
                bail!("a managed identity needs a tenant_id, a client_id and an object_id");
            }
        }
        for a in &self.app_registrations {
            if a.client_id.is_empty() {
                bail!("an app registration needs a client_id");
            }
            for f in &a.federated_credentials {
                if f.issuer.is_empty() || f.subject.is_empty() {
                    bail!(
                        "app {}: a federated credential needs an issuer and a subject",
                        a.client_id
                    );
                }
                if !f.jwks.get("keys").is_some_and(serde_json::Value::is_array) {
                    bail!(
                        "app {}: federated credential {}: jwks must be an object with a keys array",
                        a.client_id,
                        f.issuer
                    );
                }
            }
            for c in &a.certificates {
                crate::cert::parse_certificate(&c.pem)
                    .with_context(|| format!("app {}: certificate", a.client_id))?;
            }
        }
        Ok(())
    }

    /// The demo world: one tenant; app `rotator` (the rotator's own identity, read+write on
    /// vault `demo`); app `powerbi-reporter` whose client secret is stored in vault `demo` as
    /// `example-client-secret` and which holds Power BI roles.
    pub fn default_demo() -> Seed {
        let rotator_secret = random_secret();
        let app_secret = random_secret();
        let now = OffsetDateTime::now_utc();
        Seed {
            tenants: vec![TenantSeed {
                id: DEMO_TENANT_ID.to_string(),
                apps: vec![
                    AppSeed {
                        client_id: DEMO_ROTATOR_CLIENT_ID.to_string(),
                        display_name: Some("rotator".to_string()),
                        object_id: None,
                        secrets: vec![ClientSecretSeed {
                            value: rotator_secret,
                            ..ClientSecretSeed::default()
                        }],
                        roles: BTreeMap::new(),
                    },
                    AppSeed {
                        client_id: DEMO_APP_CLIENT_ID.to_string(),
                        display_name: Some("powerbi-reporter".to_string()),
                        object_id: None,
                        secrets: vec![ClientSecretSeed {
                            value: app_secret.clone(),
                            end: Some(now + time::Duration::days(180)),
                            ..ClientSecretSeed::default()
                        }],
                        roles: BTreeMap::from([(
                            "https://analysis.windows.net/powerbi/api".to_string(),
                            vec![
                                "Tenant.Read.All".to_string(),
                                "Dataset.Read.All".to_string(),
                            ],
                        )]),
                    },
                ],
            }],
            vaults: vec![VaultSeed {
                name: "demo".to_string(),
                tenant_id: DEMO_TENANT_ID.to_string(),
                permissions: vec![PermissionSeed {
                    principal: DEMO_ROTATOR_CLIENT_ID.to_string(),
                    read: true,
                    write: true,
                    secrets: None,
                }],
                secrets: vec![SecretSeed {
                    name: "example-client-secret".to_string(),
                    value: app_secret,
                    content_type: Some("text/plain".to_string()),
                    enabled: true,
                    nbf: None,
                    exp: Some(now + time::Duration::days(180)),
                    tags: BTreeMap::from([
                        ("client-id".to_string(), DEMO_APP_CLIENT_ID.to_string()),
                        ("tenant-id".to_string(), DEMO_TENANT_ID.to_string()),
                    ]),
                }],
            }],
            token_lifetime_secs: None,
            resources: Vec::new(),
            ..Seed::default()
        }
    }
}

/// A random client-secret-like string (40 chars, Entra style alphabet).
pub(crate) fn random_secret() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{}~{}", &a[..20], &b[..19])
}
