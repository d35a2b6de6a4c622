//! akv-rotator: reads app registrations' client secrets from Azure Key Vault, acquires
//! client-credentials tokens from Microsoft Entra ID, validates them, and writes them back to
//! Key Vault for consumers; reports client secrets nearing expiry and can rotate them.
//!
//! # Layout
//!
//! Layers, top to bottom; a module imports only from the layers below it (checked in CI):
//!
//! | module | owns |
//! |---|---|
//! | [`daemon`] | `run`: the cron loop with jitter and early refresh, the HTTP endpoints |
//! | [`commands`] | one function per command: `once` (and [`commands::once::run_once`], shared with the daemon: the cycle, its alerts and its status record), `status`, `check`, `token`, `demo` and `emulator` |
//! | [`cli`] | clap definitions of the commands and their flags |
//! | [`alerts`] | findings from a report, deduplication, state in Key Vault, delivery, payloads |
//! | [`cycle`] | one cycle: plan, per-app stages, credentials, Graph expiry, shards, tag names, where the status record lives, the daemon's listings and client secrets kept between cycles, client-secret rotation with its lease |
//! | [`report`] | the cycle report, its metrics, the status record kept between cycles, the status view and its renderers |
//! | [`azure`] | adapters: Key Vault (the only user of its SDK), Entra ID, Graph, the rotator's identity, certificates |
//! | [`token`] | [`token::AcquiredToken`] and validation, the only producer of [`token::ValidatedToken`] |
//! | [`net`] | the HTTPS client, bounded bodies, retry, adaptive limits, pacing to a share of each vault's budget |
//! | [`telemetry`] | tracing, OTLP, metrics |
//! | [`config`] | TOML model, every unknown key at once, checks per section, [`config::ValidConfig`], clouds |
//! | [`error`] | [`error::SetupError`] with its exit code; error classes of the report |
//! | [`timefmt`] | timestamps as RFC 3339 text to the second, durations as people write them |

#![forbid(unsafe_code)]

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
