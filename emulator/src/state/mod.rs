//! The emulator's runtime state shared by all listeners: tenants and apps, resources, vaults
//! with their secret versions, signing keys, and request statistics. Owns merging a seed into
//! that state; owns no HTTP handling.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

mod fault_set;
mod stats;
mod throttle;

pub use stats::{ConnectionCount, StatEntry, Stats, ThrottleWindow};

pub(crate) use fault_set::FaultSet;
pub(crate) use throttle::{Throttle, VaultThrottle, admit_all};

use crate::cert::RegisteredCert;
use crate::jwt::{KeySet, SigningKey};
use crate::seed::{
    AppSeed, FederatedCredentialSeed, ManagedIdentitySeed, PermissionSeed, SUBSCRIPTION, Seed,
    TenantPolicySeed, ThrottleSeed, TokenFault, VaultThrottleSeed,
};

/// Built-in token audiences (all v1 tokens).
pub(crate) const BUILTIN_RESOURCES: &[&str] = &[
    "https://vault.azure.net",
    "https://analysis.windows.net/powerbi/api",
    "https://graph.microsoft.com",
    "https://management.azure.com/",
    "https://api.fabric.microsoft.com",
    "https://database.windows.net/",
];

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
    /// Service principal object id (`oid`/`sub` in tokens).
    pub object_id: String,
    /// Application object id (Graph `/applications/{id}`).
    pub application_object_id: String,
    pub display_name: Option<String>,
    pub credentials: Vec<PasswordCredential>,
    pub roles: BTreeMap<String, Vec<String>>,
}

/// One client secret as Graph and the token endpoint see it.
#[derive(Debug, Clone)]
pub(crate) struct PasswordCredential {
    pub key_id: String,
    pub value: String,
    pub hint: String,
    pub display_name: Option<String>,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    /// Before this instant the token endpoint rejects the secret (propagation delay).
    pub usable_from: Option<OffsetDateTime>,
}

/// Per-app settings from [`crate::AppRegistrationSeed`], by lower-case client id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Registration {
    pub owners: Vec<String>,
    pub federated: Vec<FederatedCredentialSeed>,
    pub certificates: Vec<RegisteredCert>,
}

/// Tenants, resources and vaults.
#[derive(Debug, Default)]
pub(crate) struct World {
    /// Keyed by lower-case tenant id; apps keyed by lower-case client id.
    pub tenants: BTreeMap<String, BTreeMap<String, App>>,
    /// Extra resources: App ID URI → the API's version and client id.
    pub resources: BTreeMap<String, ApiResource>,
    pub lifetime: (u64, u64),
    /// Of tokens for Key Vault, when not `lifetime` (`Seed::vault_token_lifetime_secs`).
    pub vault_lifetime: Option<(u64, u64)>,
    /// Keyed by vault name.
    pub vaults: BTreeMap<String, Vault>,
    /// Keyed by lower-case tenant id.
    pub tenant_policies: BTreeMap<String, TenantPolicySeed>,
    /// Keyed by lower-case client id.
    pub registrations: BTreeMap<String, Registration>,
    pub secret_propagation_secs: u64,
    /// Clock skew allowed on `exp`/`nbf` by the Graph and Power BI APIs, in seconds.
    pub token_clock_skew_secs: u64,
    /// Keyed by vault name.
    pub vault_throttles: BTreeMap<String, VaultThrottle>,
    /// Key Vault's subscription-wide budgets, across all vaults.
    pub subscription_throttle: Option<VaultThrottle>,
    pub entra_throttle: Option<Throttle>,
    /// Managed identities of the emulated host, keyed by lower-case client id.
    pub managed_identities: BTreeMap<String, ManagedIdentitySeed>,
}

/// A seeded resource (API) app: its access token version and application (client) id.
#[derive(Debug, Clone)]
pub(crate) struct ApiResource {
    pub version: u8,
    pub client_id: String,
}

/// What a token request resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedResource {
    /// The `aud` claim.
    pub audience: String,
    /// 1 or 2.
    pub version: u8,
    /// The App ID URI as registered (roles and the Graph nonce are keyed by it).
    pub uri: String,
    /// The API's client id (`None` for the built-in Microsoft resources).
    pub client_id: Option<String>,
}

impl World {
    /// The lifetime range of a token for `audience`.
    pub(crate) fn lifetime_for(&self, audience: &str) -> (u64, u64) {
        match self.vault_lifetime {
            Some(l) if audience.trim_end_matches('/') == "https://vault.azure.net" => l,
            _ => self.lifetime,
        }
    }

    /// Finds a registered resource for `requested`, the resource of a request: an App ID URI
    /// (with or without trailing slash) or an API's application (client) id. The audience
    /// follows "Access token claims reference" (`aud`): "In v2.0 tokens, this value is always
    /// the client ID of the API. In v1.0 tokens, it can be the client ID or the resource URI
    /// used in the request."
    pub fn resource(&self, requested: &str) -> Option<ResolvedResource> {
        let trimmed = requested.trim_end_matches('/');
        let candidates = BUILTIN_RESOURCES
            .iter()
            .map(|r| (r.to_string(), 1u8, None))
            .chain(
                self.resources
                    .iter()
                    .map(|(u, a)| (u.clone(), a.version, Some(a.client_id.clone()))),
            );
        let mut fallback = None;
        for (registered, version, client_id) in candidates {
            let by_client_id = client_id
                .as_deref()
                .is_some_and(|id| id.eq_ignore_ascii_case(trimmed));
            let exact = registered == requested || by_client_id;
            if !exact && registered.trim_end_matches('/') != trimmed {
                continue;
            }
            let audience = match (&client_id, version, by_client_id) {
                (Some(id), 2, _) | (Some(id), _, true) => id.to_ascii_lowercase(),
                _ => registered.clone(),
            };
            let found = ResolvedResource {
                audience,
                version,
                uri: registered,
                client_id,
            };
            if exact {
                return Some(found);
            }
            fallback = Some(found);
        }
        fallback
    }

    /// The policy of a tenant (defaults when none was seeded).
    pub fn tenant_policy(&self, tenant: &str) -> TenantPolicySeed {
        self.tenant_policies
            .get(&tenant.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default()
    }

    /// The per-app settings of a client id (empty when none were seeded).
    pub fn registration(&self, client_id: &str) -> Registration {
        self.registrations
            .get(&client_id.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default()
    }

    /// Finds an app by client id in any tenant: (lower-case tenant id, app).
    pub fn find_app(&self, client_id: &str) -> Option<(&str, &App)> {
        let key = client_id.to_ascii_lowercase();
        self.tenants
            .iter()
            .find_map(|(t, apps)| apps.get(&key).map(|a| (t.as_str(), a)))
    }

    /// Merges the non-vault parts of a seed. Vaults are merged by [`World::merge_vault_contents`]
    /// once their listener exists.
    pub fn merge_identities(&mut self, seed: &Seed) -> anyhow::Result<()> {
        // Parse certificates first so a bad one changes nothing.
        let mut registrations = Vec::new();
        for r in &seed.app_registrations {
            let certificates = r
                .certificates
                .iter()
                .map(|c| RegisteredCert::parse(&c.pem, c.start, c.end))
                .collect::<anyhow::Result<Vec<_>>>()?;
            registrations.push((
                r,
                Registration {
                    owners: r.owners.clone(),
                    federated: r.federated_credentials.clone(),
                    certificates,
                },
            ));
        }
        if let Some(l) = seed.token_lifetime_secs {
            self.lifetime = l;
        }
        if let Some(l) = seed.vault_token_lifetime_secs {
            self.vault_lifetime = Some(l);
        }
        if let Some(p) = seed.secret_propagation_secs {
            self.secret_propagation_secs = p;
        }
        if let Some(s) = seed.token_clock_skew_secs {
            self.token_clock_skew_secs = s;
        }
        if let Some(t) = seed.entra_throttle {
            self.entra_throttle = Some(Throttle::new(t));
        }
        for r in &seed.resources {
            // A re-seeded resource keeps its made-up client id unless one is given.
            let client_id = r
                .client_id
                .clone()
                .or_else(|| self.resources.get(&r.uri).map(|a| a.client_id.clone()))
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
                .to_ascii_lowercase();
            self.resources.insert(
                r.uri.clone(),
                ApiResource {
                    version: r.token_version,
                    client_id,
                },
            );
        }
        for p in &seed.tenant_policies {
            self.tenant_policies
                .insert(p.tenant_id.to_ascii_lowercase(), p.clone());
        }
        let now = now();
        for t in &seed.tenants {
            let apps = self.tenants.entry(t.id.to_ascii_lowercase()).or_default();
            for a in &t.apps {
                let key = a.client_id.to_ascii_lowercase();
                let old = apps.get(&key);
                let object_id = a
                    .object_id
                    .clone()
                    .or_else(|| old.map(|o| o.object_id.clone()))
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                let application_object_id = old
                    .map(|o| o.application_object_id.clone())
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                apps.insert(key, app_from_seed(a, object_id, application_object_id, now));
            }
        }
        for (seed_reg, reg) in registrations {
            let key = seed_reg.client_id.to_ascii_lowercase();
            if let Some(id) = &seed_reg.application_object_id {
                for apps in self.tenants.values_mut() {
                    if let Some(app) = apps.get_mut(&key) {
                        app.application_object_id = id.clone();
                    }
                }
            }
            self.registrations.insert(key, reg);
        }
        for p in &seed.vault_policies {
            self.set_vault_throttle(&p.vault, p.throttle, p.limits);
        }
        if let Some(l) = seed.subscription_limits {
            self.subscription_throttle = Some(VaultThrottle::split(l));
        }
        if seed.managed_identities.iter().any(|m| m.system_assigned) {
            // A host has one system-assigned identity: a newly seeded one replaces it.
            self.managed_identities.retain(|_, m| !m.system_assigned);
        }
        for m in &seed.managed_identities {
            self.managed_identities
                .insert(m.client_id.to_ascii_lowercase(), m.clone());
        }
        Ok(())
    }

    /// Sets a vault's throttle: `limits` (writes apart) wins over `throttle` (one budget);
    /// neither removes it. The windows restart.
    pub fn set_vault_throttle(
        &mut self,
        vault: &str,
        throttle: Option<ThrottleSeed>,
        limits: Option<VaultThrottleSeed>,
    ) {
        let new = match (limits, throttle) {
            (Some(l), _) => Some(VaultThrottle::split(l)),
            (None, Some(t)) => Some(VaultThrottle::single(t)),
            (None, None) => None,
        };
        match new {
            Some(t) => {
                self.vault_throttles.insert(vault.to_string(), t);
            }
            None => {
                self.vault_throttles.remove(vault);
            }
        }
    }

    /// Counts one request to `vault` against its budgets and the subscription's; false when
    /// one of them is full (the request is then refused with 429).
    pub fn admit_vault_request(&mut self, vault: &str, create: bool) -> bool {
        let mut budgets: Vec<&mut Throttle> = Vec::with_capacity(2);
        if let Some(t) = self.vault_throttles.get_mut(vault) {
            budgets.push(t.budget(create));
        }
        if let Some(t) = self.subscription_throttle.as_mut() {
            budgets.push(t.budget(create));
        }
        admit_all(&mut budgets)
    }

    /// Merges permissions and secrets of the seed's vaults that exist.
    pub fn merge_vault_contents(&mut self, seed: &Seed) {
        let now = now();
        for vs in &seed.vaults {
            let Some(vault) = self.vaults.get_mut(&vs.name) else {
                continue;
            };
            vault.tenant_id = vs.tenant_id.clone();
            // A seed's entries for a principal replace that principal's earlier ones; several
            // entries for one principal add up, like several role assignments do in Azure RBAC.
            vault.permissions.retain(|old| {
                !vs.permissions
                    .iter()
                    .any(|p| p.principal.eq_ignore_ascii_case(&old.principal))
            });
            vault.permissions.extend(vs.permissions.iter().cloned());
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

/// Default client secret lifetime (Graph `addPassword`, and seeded secrets without `end`).
pub(crate) const DEFAULT_SECRET_LIFETIME: time::Duration = time::Duration::days(730);

fn app_from_seed(
    a: &AppSeed,
    object_id: String,
    application_object_id: String,
    now: OffsetDateTime,
) -> App {
    App {
        client_id: a.client_id.clone(),
        object_id,
        application_object_id,
        display_name: a.display_name.clone(),
        credentials: a
            .secrets
            .iter()
            .map(|s| {
                let start = s.start.unwrap_or(now);
                PasswordCredential {
                    key_id: s
                        .key_id
                        .clone()
                        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                    value: s.value.clone(),
                    hint: s
                        .hint
                        .clone()
                        .unwrap_or_else(|| s.value.chars().take(3).collect()),
                    display_name: None,
                    start,
                    end: s.end.unwrap_or(start + DEFAULT_SECRET_LIFETIME),
                    usable_from: None,
                }
            })
            .collect(),
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
    /// Connections accepted per listener (see [`Stats::connections`]).
    connections: Mutex<BTreeMap<String, ConnectionCount>>,
    /// Token faults by lower-case client id.
    token_faults: Mutex<BTreeMap<String, TokenFault>>,
    pub faults: FaultSet,
    /// Test webhook receivers: bodies received per receiver name, and a status to answer with.
    pub webhooks: Mutex<BTreeMap<String, Vec<WebhookDelivery>>>,
    pub webhook_status: Mutex<BTreeMap<String, u16>>,
}

/// One request received by a test webhook receiver (`POST /_emulator/webhooks/{name}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    pub content_type: Option<String>,
    pub body: String,
}

impl Shared {
    pub fn new(authority_host: String, keys: KeySet) -> Arc<Shared> {
        Arc::new(Shared {
            authority_host,
            keys: RwLock::new(keys),
            world: RwLock::new(World {
                lifetime: (3600, 5400),
                token_clock_skew_secs: 60,
                ..World::default()
            }),
            stats: Mutex::new(BTreeMap::new()),
            connections: Mutex::new(BTreeMap::new()),
            token_faults: Mutex::new(BTreeMap::new()),
            faults: FaultSet::default(),
            webhooks: Mutex::new(BTreeMap::new()),
            webhook_status: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn set_token_fault(&self, client_id: &str, fault: Option<TokenFault>) {
        let mut faults = self.token_faults.lock().unwrap_or_else(|e| e.into_inner());
        let key = client_id.to_ascii_lowercase();
        match fault {
            Some(f) => {
                faults.insert(key, f);
            }
            None => {
                faults.remove(&key);
            }
        }
    }

    pub fn token_fault(&self, client_id: &str) -> Option<TokenFault> {
        self.token_faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&client_id.to_ascii_lowercase())
            .copied()
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

    /// Makes the pending key (or a new one) current.
    pub fn rollover_signing_key(&self) -> anyhow::Result<()> {
        let has_pending = self.keys().pending.is_some();
        let next = if has_pending {
            None
        } else {
            Some(SigningKey::generate()?)
        };
        let mut keys = self.keys_mut();
        let next = match (next, keys.pending.clone()) {
            (_, Some(p)) => p,
            (Some(n), None) => n,
            (None, None) => SigningKey::generate()?,
        };
        keys.rollover(next);
        Ok(())
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

    /// Counts a TCP connection accepted by `service`'s listener.
    pub fn connection_accepted(&self, service: &str) {
        self.connection_count(service, |c| c.accepted += 1);
    }

    /// Counts a TLS handshake completed on `service`'s listener.
    pub fn tls_handshake(&self, service: &str) {
        self.connection_count(service, |c| c.tls_handshakes += 1);
    }

    fn connection_count(&self, service: &str, change: impl FnOnce(&mut ConnectionCount)) {
        let mut map = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(service) {
            Some(c) => change(c),
            None => change(map.entry(service.to_string()).or_default()),
        }
    }

    pub fn stats(&self) -> Stats {
        let (throttle_windows, write_windows) = {
            let world = self.world();
            let vaults = world.vault_throttles.iter().map(|(v, t)| (v.as_str(), t));
            let all = vaults.chain(
                world
                    .subscription_throttle
                    .iter()
                    .map(|t| (SUBSCRIPTION, t)),
            );
            let mut others = BTreeMap::new();
            let mut writes = BTreeMap::new();
            for (name, t) in all {
                others.insert(name.to_string(), t.others.windows());
                if let Some(w) = &t.writes {
                    writes.insert(name.to_string(), w.windows());
                }
            }
            if let Some(t) = &world.entra_throttle {
                others.insert("login".to_string(), t.windows());
            }
            (others, writes)
        };
        Stats {
            throttle_windows,
            write_windows,
            connections: self
                .connections
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
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
        self.connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let mut world = self.world_mut();
        for t in world.vault_throttles.values_mut() {
            t.reset();
        }
        if let Some(t) = world.subscription_throttle.as_mut() {
            t.reset();
        }
        if let Some(t) = world.entra_throttle.as_mut() {
            t.reset();
        }
    }
}
