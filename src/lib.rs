//! akv-rotator: reads app registrations' client secrets from Azure Key Vault, acquires
//! client-credentials tokens from Microsoft Entra ID, validates them, and writes them back to
//! Key Vault for consumers; reports client secrets nearing expiry.
//!
//! Module map: `config` (TOML → [`config::ValidConfig`]), `cycle` (one cycle), `vault`
//! (Key Vault over the official SDK), `identity` (the rotator's own credential), `entra`
//! (token endpoint), `validate` (the only producer of [`validate::ValidatedToken`]), `expiry`,
//! `report`, `cli`, `telemetry`, and `demo` (with the `emulator` feature).

pub mod alerting;
pub mod alerts;
pub mod assertion;
pub mod cli;
pub mod config;
pub mod cycle;
pub mod daemon;
#[cfg(feature = "emulator")]
pub mod demo;
pub mod entra;
pub mod error;
pub mod expiry;
pub mod graph;
pub mod http;
pub mod identity;
pub mod metrics;
pub mod preflight;
pub mod report;
pub mod retry;
pub mod rotation;
pub mod schedule;
pub mod server;
pub mod status;
pub mod telemetry;
pub mod validate;
pub mod vault;

/// Exit codes for schedulers.
pub mod exit {
    /// Everything worked.
    pub const OK: i32 = 0;
    /// Some target failed (or `--fail-on` matched).
    pub const FAILED: i32 = 1;
    /// Configuration or permission problem before any work.
    pub const SETUP: i32 = 2;
}
