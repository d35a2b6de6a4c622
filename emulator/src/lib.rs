//! `akv-emulator`: a local, HTTPS-only stand-in for Azure Key Vault (secrets data plane) and
//! Microsoft Entra ID (client-credentials token endpoint, OpenID discovery, JWKS), Microsoft
//! Graph applications and a Power BI probe, for the product's integration tests and demo. It
//! shares no code with the product on purpose.
//!
//! Topology: one HTTPS listener for the login host (Entra ID + the `/_emulator/` admin API)
//! and one HTTPS listener per vault, all on 127.0.0.1, addressed as `https://localhost:PORT`,
//! with a certificate from a CA generated at start (see [`EmulatorHandle::ca_cert_path`]).
//!
//! # Layout
//! Modules only import modules listed above them.
//! - `jwt`: the emulator's own RS256 keys, minting, verification and JWKS.
//! - `cert`: certificate credentials as data (PEM parsing, thumbprints).
//! - `form`: `x-www-form-urlencoded` decoding of queries and token request bodies.
//! - `tls`: the generated CA and the HTTPS accept loop.
//! - `seed`: the seed model (tenants, apps, vaults, fault rules) and seed files; plain data.
//! - `state`: the runtime world (apps, vaults, secrets, keys, throttles, fault rules, stats).
//! - `entra`: Entra ID token endpoints, client assertions, discovery, AADSTS errors.
//! - `faults`: applying fault rules to requests (error bodies, latency, broken responses).
//! - `bearer`: bearer token checks for the Graph and Power BI listeners.
//! - `vault`: the Key Vault secrets data plane.
//! - `graph`: Microsoft Graph applications and password credentials.
//! - `powerbi`: the Power BI `groups` probe.
//! - `managed_identity`: the IMDS and App Service managed identity token endpoints (plain HTTP).
//! - `routes`: each listener's entry point (faults, throttles, stats around a protocol module).
//! - `server`: the listeners themselves (ports, TLS serving, one listener per vault).
//! - `admin`: the `/_emulator/` admin API and test webhooks of the login listener.
//! - `handle`: [`start`], [`EmulatorOptions`] and the [`EmulatorHandle`] tests hold.
//! - `standalone`: [`run_standalone`], the emulator as a process.

#![forbid(unsafe_code)]

mod jwt;

mod cert;
mod form;
mod tls;

mod seed;

mod state;

mod entra;

mod faults;

mod bearer;

mod graph;
mod managed_identity;
mod powerbi;
mod vault;

mod routes;

mod server;

mod admin;

mod handle;

mod standalone;

pub use handle::{EmulatorHandle, EmulatorOptions, start};
pub use routes::{GRAPH_SERVICE, LOGIN_SERVICE, MANAGED_IDENTITY_SERVICE, POWERBI_SERVICE};
pub use seed::{
    AppRegistrationSeed, AppSeed, CertificateSeed, ClientSecretSeed, DEMO_APP_CLIENT_ID,
    DEMO_ROTATOR_CLIENT_ID, DEMO_TENANT_ID, FaultKind, FaultRule, FederatedCredentialSeed,
    ManagedIdentitySeed, PermissionSeed, ResourceSeed, SecretSeed, Seed, TenantPolicySeed,
    TenantSeed, ThrottleSeed, TokenFault, VaultPolicySeed, VaultSeed, VaultThrottleSeed,
};
pub use standalone::{run_standalone, run_standalone_with};
pub use state::{StatEntry, Stats, StoredSecret, ThrottleWindow, WebhookDelivery};
