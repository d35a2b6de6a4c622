//! The seed file form: [`Seed`] plus the inline per-tenant, per-app and per-vault settings,
//! lifted into the side tables on conversion. Owns only that conversion.

use super::*;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SeedFile {
    tenants: Vec<TenantFile>,
    vaults: Vec<VaultFile>,
    token_lifetime_secs: Option<(u64, u64)>,
    vault_token_lifetime_secs: Option<(u64, u64)>,
    resources: Vec<ResourceSeed>,
    tenant_policies: Vec<TenantPolicySeed>,
    app_registrations: Vec<AppRegistrationSeed>,
    secret_propagation_secs: Option<u64>,
    token_clock_skew_secs: Option<u64>,
    vault_policies: Vec<VaultPolicySeed>,
    faults: Vec<FaultRule>,
    entra_throttle: Option<ThrottleSeed>,
    subscription_limits: Option<VaultThrottleSeed>,
    managed_identities: Vec<ManagedIdentitySeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantFile {
    id: String,
    #[serde(default)]
    apps: Vec<AppFile>,
    #[serde(default)]
    powerbi_service_principals_enabled: Option<bool>,
    #[serde(default)]
    max_secret_lifetime_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppFile {
    client_id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    object_id: Option<String>,
    #[serde(default)]
    secrets: Vec<ClientSecretSeed>,
    #[serde(default)]
    roles: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    application_object_id: Option<String>,
    #[serde(default)]
    owners: Vec<String>,
    #[serde(default)]
    federated_credentials: Vec<FederatedCredentialSeed>,
    #[serde(default)]
    certificates: Vec<CertificateSeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VaultFile {
    name: String,
    tenant_id: String,
    #[serde(default)]
    permissions: Vec<PermissionSeed>,
    #[serde(default)]
    secrets: Vec<SecretSeed>,
    #[serde(default)]
    throttle: Option<ThrottleSeed>,
    #[serde(default)]
    limits: Option<VaultThrottleSeed>,
}

impl From<SeedFile> for Seed {
    fn from(f: SeedFile) -> Seed {
        let mut tenant_policies = Vec::new();
        let mut app_registrations = Vec::new();
        let mut vault_policies = Vec::new();
        let tenants = f
            .tenants
            .into_iter()
            .map(|t| {
                if t.powerbi_service_principals_enabled.is_some()
                    || t.max_secret_lifetime_days.is_some()
                {
                    tenant_policies.push(TenantPolicySeed {
                        tenant_id: t.id.clone(),
                        powerbi_service_principals_enabled: t
                            .powerbi_service_principals_enabled
                            .unwrap_or(true),
                        max_secret_lifetime_days: t.max_secret_lifetime_days,
                    });
                }
                let apps = t
                    .apps
                    .into_iter()
                    .map(|a| {
                        if a.application_object_id.is_some()
                            || !a.owners.is_empty()
                            || !a.federated_credentials.is_empty()
                            || !a.certificates.is_empty()
                        {
                            app_registrations.push(AppRegistrationSeed {
                                client_id: a.client_id.clone(),
                                application_object_id: a.application_object_id,
                                owners: a.owners,
                                federated_credentials: a.federated_credentials,
                                certificates: a.certificates,
                            });
                        }
                        AppSeed {
                            client_id: a.client_id,
                            display_name: a.display_name,
                            object_id: a.object_id,
                            secrets: a.secrets,
                            roles: a.roles,
                        }
                    })
                    .collect();
                TenantSeed { id: t.id, apps }
            })
            .collect();
        let vaults = f
            .vaults
            .into_iter()
            .map(|v| {
                if v.throttle.is_some() || v.limits.is_some() {
                    vault_policies.push(VaultPolicySeed {
                        vault: v.name.clone(),
                        throttle: v.throttle,
                        limits: v.limits,
                    });
                }
                VaultSeed {
                    name: v.name,
                    tenant_id: v.tenant_id,
                    permissions: v.permissions,
                    secrets: v.secrets,
                }
            })
            .collect();
        tenant_policies.extend(f.tenant_policies);
        app_registrations.extend(f.app_registrations);
        vault_policies.extend(f.vault_policies);
        Seed {
            tenants,
            vaults,
            token_lifetime_secs: f.token_lifetime_secs,
            vault_token_lifetime_secs: f.vault_token_lifetime_secs,
            resources: f.resources,
            tenant_policies,
            app_registrations,
            secret_propagation_secs: f.secret_propagation_secs,
            token_clock_skew_secs: f.token_clock_skew_secs,
            vault_policies,
            faults: f.faults,
            entra_throttle: f.entra_throttle,
            subscription_limits: f.subscription_limits,
            managed_identities: f.managed_identities,
        }
    }
}
