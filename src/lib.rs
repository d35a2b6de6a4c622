//! akv-rotator: reads app registrations' client secrets from Azure Key Vault, acquires
//! client-credentials tokens from Microsoft Entra ID, validates them, and writes them back to
//! Key Vault for consumers; reports client secrets nearing expiry.
//!
//! Module map: `config` (TOML → [`config::ValidConfig`]), `cycle` (one cycle), `vault`
//! (Key Vault over the official SDK), `identity` (the rotator's own credential), `entra`
//! (token endpoint), `validate` (the only producer of [`validate::ValidatedToken`]), `expiry`,
//! `report`, `cli`, `telemetry`, and `demo` (with the `emulator` feature).

pub mod alerts;
pub mod azure;
pub mod cli;
pub mod commands;
pub mod config;
pub mod cycle;
pub mod daemon;
pub mod error;
pub mod net;
pub mod report;
pub mod telemetry;
pub mod timefmt;
pub mod token;

pub use error::exit;
