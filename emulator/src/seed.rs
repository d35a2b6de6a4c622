//! The seed model: tenants, app registrations, vaults, permissions and secrets the emulator
//! starts with (or merges at run time). Owns parsing from TOML/JSON and the built-in demo seed;
//! it holds no runtime state.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Everything the emulator knows at start, or merges in later through `apply_seed`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Seed {
    /// Entra ID tenants and their app registrations.
    pub tenants: Vec<TenantSeed>,
    /// Key Vaults; each gets its own HTTPS listener.
    pub vaults: Vec<VaultSeed>,
    /// Token lifetime range in seconds, chosen at random per token. Default (3600, 5400).
    pub token_lifetime_secs: Option<(u64, u64)>,
    /// Resources accepted by the token endpoint beyond the built-in ones.
    pub resources: Vec<ResourceSeed>,
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

/// An extra token audience.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSeed {
    /// Resource URI (the `aud` of issued tokens).
    pub uri: String,
    /// Access token version, 1 or 2.
    #[serde(default = "one")]
    pub token_version: u8,
}

fn one() -> u8 {
    1
}

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
        for r in &self.resources {
            if r.token_version != 1 && r.token_version != 2 {
                bail!("resource {}: token_version must be 1 or 2", r.uri);
            }
        }
        for v in &self.vaults {
            if v.name.is_empty() {
                bail!("a vault needs a name");
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
        }
    }
}

/// A random client-secret-like string (40 chars, Entra style alphabet).
pub(crate) fn random_secret() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{}~{}", &a[..20], &b[..19])
}
