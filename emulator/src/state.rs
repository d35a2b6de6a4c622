//! The emulator's runtime state shared by all listeners: tenants and apps, resources, vaults
//! with their secret versions, signing keys, and request statistics. Owns merging a seed into
//! that state; owns no HTTP handling.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::jwt::KeySet;
use crate::seed::{AppSeed, ClientSecretSeed, PermissionSeed, Seed};

/// Built-in token audiences (all v1 tokens).
pub(crate) const BUILTIN_RESOURCES: &[&str] = &[
    "https://vault.azure.net",
    "https://analysis.windows.net/powerbi/api",
    "https://graph.microsoft.com",
    "https://management.azure.com/",
    "https://api.fabric.microsoft.com",
    "https://database.windows.net/",
];

/// Request counts by service, operation and status.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stats {
    /// One entry per (service, operation, status).
    pub entries: Vec<StatEntry>,
}

/// One row of [`Stats`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatEntry {
    /// Vault name, or `"login"` for the Entra ID listener.
    pub service: String,
    /// Operation name, e.g. `SecretGet` or `TokenV2`.
    pub operation: String,
    /// HTTP status returned.
    pub status: u16,
    /// Number of requests.
    pub count: u64,
}

impl Stats {
    /// Requests for `operation` on `service`, any status.
    pub fn count(&self, service: &str, operation: &str) -> u64 {
        self.entries
            .iter()
            .filter(|e| e.service == service && e.operation == operation)
            .map(|e| e.count)
            .sum()
    }

    /// Requests for `operation` on `service` with exactly `status`.
    pub fn count_status(&self, service: &str, operation: &str, status: u16) -> u64 {
        self.entries
            .iter()
            .filter(|e| e.service == service && e.operation == operation && e.status == status)
            .map(|e| e.count)
            .sum()
    }

    /// All requests to `service`.
    pub fn total_for(&self, service: &str) -> u64 {
        self.entries
            .iter()
            .filter(|e| e.service == service)
            .map(|e| e.count)
            .sum()
    }
}

/// One stored secret version, as tests see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSecret {
    /// 32 hex characters.
    pub version: String,
    /// The value (test data).
    pub value: String,
    /// Content type.
    pub content_type: Option<String>,
    /// Enabled flag.
    pub enabled: bool,
    /// Not before.
    pub nbf: Option<OffsetDateTime>,
    /// Expires.
    pub exp: Option<OffsetDateTime>,
    /// Created.
    pub created: OffsetDateTime,
    /// Last updated.
    pub updated: OffsetDateTime,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// One secret name with all its versions, oldest first.
#[derive(Clone, Debug)]
pub(crate) struct SecretEntry {
    pub name: String,
    pub versions: Vec<StoredSecret>,
}

impl SecretEntry {
    pub fn latest(&self) -> Option<&StoredSecret> {
        self.versions.last()
    }
}

/// A deleted (recoverable) secret.
#[derive(Clone, Debug)]
pub(crate) struct DeletedEntry {
    pub entry: SecretEntry,
    pub deleted_date: OffsetDateTime,
    pub scheduled_purge_date: OffsetDateTime,
}

/// One vault.
#[derive(Debug)]
pub(crate) struct Vault {
    pub tenant_id: String,
    pub url: String,
    pub permissions: Vec<PermissionSeed>,
    /// Keyed by lower-case name.
    pub secrets: BTreeMap<String, SecretEntry>,
    /// Keyed by lower-case name.
    pub deleted: BTreeMap<String, DeletedEntry>,
}

/// One app registration.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub client_id: String,
    pub object_id: String,
    pub secrets: Vec<ClientSecretSeed>,
    pub roles: BTreeMap<String, Vec<String>>,
}

/// Tenants, resources and vaults.
#[derive(Debug, Default)]
pub(crate) struct World {
    /// Keyed by lower-case tenant id; apps keyed by lower-case client id.
    pub tenants: BTreeMap<String, BTreeMap<String, App>>,
    /// Extra resources: URI → token version.
    pub resources: BTreeMap<String, u8>,
    pub lifetime: (u64, u64),
    /// Keyed by vault name.
    pub vaults: BTreeMap<String, Vault>,
}

impl World {
    /// Finds a registered resource for `uri` (with or without trailing slash): the
    /// audience to put in the token and its version.
    pub fn resource(&self, uri: &str) -> Option<(String, u8)> {
        let trimmed = uri.trim_end_matches('/');
        let candidates = BUILTIN_RESOURCES
            .iter()
            .map(|r| (r.to_string(), 1u8))
            .chain(self.resources.iter().map(|(u, v)| (u.clone(), *v)));
        let mut fallback = None;
        for (registered, version) in candidates {
            if registered == uri {
                return Some((registered, version));
            }
            if registered.trim_end_matches('/') == trimmed {
                fallback = Some((registered, version));
            }
        }
        fallback
    }

    /// Merges the non-vault parts of a seed. Vaults are merged by [`World::merge_vault_contents`]
    /// once their listener exists.
    pub fn merge_identities(&mut self, seed: &Seed) {
        if let Some(l) = seed.token_lifetime_secs {
            self.lifetime = l;
        }
        for r in &seed.resources {
            self.resources.insert(r.uri.clone(), r.token_version);
        }
        for t in &seed.tenants {
            let apps = self.tenants.entry(t.id.to_ascii_lowercase()).or_default();
            for a in &t.apps {
                let key = a.client_id.to_ascii_lowercase();
                let object_id = a
                    .object_id
                    .clone()
                    .or_else(|| apps.get(&key).map(|old| old.object_id.clone()))
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                apps.insert(key, app_from_seed(a, object_id));
            }
        }
    }

    /// Merges permissions and secrets of the seed's vaults that exist.
    pub fn merge_vault_contents(&mut self, seed: &Seed) {
        let now = now();
        for vs in &seed.vaults {
            let Some(vault) = self.vaults.get_mut(&vs.name) else {
                continue;
            };
            vault.tenant_id = vs.tenant_id.clone();
            for p in &vs.permissions {
                vault
                    .permissions
                    .retain(|old| !old.principal.eq_ignore_ascii_case(&p.principal));
                vault.permissions.push(p.clone());
            }
            for s in &vs.secrets {
                let key = s.name.to_ascii_lowercase();
                vault.deleted.remove(&key);
                let entry = vault.secrets.entry(key).or_insert_with(|| SecretEntry {
                    name: s.name.clone(),
                    versions: Vec::new(),
                });
                entry.versions.push(StoredSecret {
                    version: new_version(),
                    value: s.value.clone(),
                    content_type: s.content_type.clone(),
                    enabled: s.enabled,
                    nbf: s.nbf,
                    exp: s.exp,
                    created: now,
                    updated: now,
                    tags: s.tags.clone(),
                });
            }
        }
    }
}

fn app_from_seed(a: &AppSeed, object_id: String) -> App {
    App {
        client_id: a.client_id.clone(),
        object_id,
        secrets: a.secrets.clone(),
        roles: a.roles.clone(),
    }
}

/// A new 32-hex-character secret version.
pub(crate) fn new_version() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Now, truncated to whole seconds (Key Vault stores Unix seconds).
pub(crate) fn now() -> OffsetDateTime {
    let n = OffsetDateTime::now_utc();
    n.replace_nanosecond(0).unwrap_or(n)
}

/// State shared by all listeners.
pub(crate) struct Shared {
    pub authority_host: String,
    keys: RwLock<KeySet>,
    world: RwLock<World>,
    stats: Mutex<BTreeMap<(String, String, u16), u64>>,
}

impl Shared {
    pub fn new(authority_host: String, keys: KeySet) -> Arc<Shared> {
        Arc::new(Shared {
            authority_host,
            keys: RwLock::new(keys),
            world: RwLock::new(World {
                lifetime: (3600, 5400),
                ..World::default()
            }),
            stats: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn world(&self) -> RwLockReadGuard<'_, World> {
        self.world.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn world_mut(&self) -> RwLockWriteGuard<'_, World> {
        self.world.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn keys(&self) -> RwLockReadGuard<'_, KeySet> {
        self.keys.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn keys_mut(&self) -> RwLockWriteGuard<'_, KeySet> {
        self.keys.write().unwrap_or_else(|e| e.into_inner())
    }

    fn stats_lock(&self) -> MutexGuard<'_, BTreeMap<(String, String, u16), u64>> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn record(&self, service: &str, operation: &str, status: u16) {
        *self
            .stats_lock()
            .entry((service.to_string(), operation.to_string(), status))
            .or_default() += 1;
    }

    pub fn stats(&self) -> Stats {
        Stats {
            entries: self
                .stats_lock()
                .iter()
                .map(|((service, operation, status), count)| StatEntry {
                    service: service.clone(),
                    operation: operation.clone(),
                    status: *status,
                    count: *count,
                })
                .collect(),
        }
    }

    pub fn reset_stats(&self) {
        self.stats_lock().clear();
    }
}
