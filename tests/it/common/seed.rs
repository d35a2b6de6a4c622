//! Emulator seeds as the test world writes them: a secret is one enabled version with nothing
//! else set, a vault belongs to [`TENANT`], the rotator is [`ROTATOR`]. Change a field with
//! struct update syntax: `SecretSeed { exp, ..secret_seed(name, value) }`.

use akv_emulator::{AppSeed, ClientSecretSeed, PermissionSeed, SecretSeed, Seed, VaultSeed};
use time::OffsetDateTime;

use super::{INPUT, ROTATOR, TENANT, TestApp, World, days};

/// One version of secret `name`: enabled; no content type, nbf, exp or tags.
pub fn secret_seed(name: &str, value: &str) -> SecretSeed {
    SecretSeed {
        name: name.into(),
        value: value.into(),
        content_type: None,
        enabled: true,
        nbf: None,
        exp: None,
        tags: Default::default(),
    }
}

/// Vault `name` of [`TENANT`]. Merged into a running emulator, its secrets are new versions and
/// `permissions` replace the entries of the principals they name (none: all kept).
pub fn vault_seed(
    name: &str,
    permissions: Vec<PermissionSeed>,
    secrets: Vec<SecretSeed>,
) -> VaultSeed {
    VaultSeed {
        name: name.into(),
        tenant_id: TENANT.into(),
        permissions,
        secrets,
    }
}

/// `principal` may read and/or write every secret of a vault.
pub fn perm(principal: &str, read: bool, write: bool) -> PermissionSeed {
    PermissionSeed {
        principal: principal.into(),
        read,
        write,
        secrets: None,
    }
}

/// The rotator's own app registration ([`ROTATOR`]): client secret `secret`, valid for a year.
pub fn rotator_app_seed(secret: &str) -> AppSeed {
    AppSeed {
        client_id: ROTATOR.into(),
        display_name: Some("akv-rotator".into()),
        secrets: vec![ClientSecretSeed {
            value: secret.into(),
            end: Some(OffsetDateTime::now_utc() + days(365)),
            ..Default::default()
        }],
        ..Default::default()
    }
}

impl World {
    /// Merges `vaults` into the running emulator (see [`vault_seed`]).
    pub fn seed_vaults(&self, vaults: Vec<VaultSeed>) {
        self.emulator
            .apply_seed(Seed {
                vaults,
                ..Default::default()
            })
            .unwrap();
    }

    /// Adds a version of `app`'s client secret, same value, whose Key Vault `exp` says it expires
    /// `expires_in` from now.
    pub fn record_client_secret_expiry(&self, app: &TestApp, expires_in: time::Duration) {
        self.put_secret(
            INPUT,
            &app.secret_name(),
            &app.secret_value,
            Some(OffsetDateTime::now_utc() + expires_in),
        );
    }

    /// Adds a version of secret `name` to `vault` with this value and `exp`; the vault's
    /// permissions stay as they are.
    pub fn put_secret(&self, vault: &str, name: &str, value: &str, exp: Option<OffsetDateTime>) {
        self.seed_vaults(vec![vault_seed(
            vault,
            vec![],
            vec![SecretSeed {
                exp,
                ..secret_seed(name, value)
            }],
        )]);
    }
}
