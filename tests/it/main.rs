//! The integration tests: one test binary, one module per area, so that `cargo test` links the
//! crate and its dev-dependencies once instead of once per file. `common` holds the shared
//! helpers (the emulator test world, builders, a local HTTP receiver).
//!
//! Run one area with a filter on its module, e.g. `cargo test -p akv-rotator --test it alerts::`;
//! the ignored Lowkey Vault conformance test with `.ci/lowkey`.
#![allow(clippy::unwrap_used)]

mod common;

mod alert_leaks;
mod alerts;
mod alerts_e2e;
mod certificate;
mod check;
mod consumer_example;
mod crash;
mod cycle;
mod daemon;
mod daemon_limits;
mod demo;
mod disabled_secret;
mod emulator_cli;
mod foreign_secrets;
mod graph_expiry;
mod hostile;
mod json_output;
mod logs;
mod lowkey;
mod managed_identity;
mod otlp;
mod pacing;
mod progress;
mod proptest_config;
mod proptest_jwt;
mod proptest_token_response;
mod refresh_timing;
mod resilience;
mod rotation;
mod rotation_alerts;
mod rotation_attacks;
mod scopes;
mod security;
mod status;
mod token_cmd;
mod unreachable;
mod validation;
mod workload_identity;
