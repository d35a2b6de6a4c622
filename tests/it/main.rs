//! The integration tests: one test binary, one module per area, so that `cargo test` links the
//! crate and its dev-dependencies once instead of once per file. `common` holds the shared
//! helpers (the emulator test world, builders, a local HTTP receiver).
//!
//! Run one area with a filter on its module, e.g. `cargo test -p akv-rotator --test it alerts::`;
//! the ignored Lowkey Vault conformance test with `.ci/lowkey`.
#![allow(clippy::unwrap_used)]

mod common;

mod alerts;
mod alerts_e2e;
mod certificate;
mod check;
mod crash;
mod cycle;
mod daemon;
mod demo;
mod disabled_secret;
mod graph_expiry;
mod hostile;
mod lowkey;
mod otlp;
mod progress;
mod proptest_config;
mod proptest_jwt;
mod proptest_token_response;
mod resilience;
mod rotation;
mod scopes;
mod security;
mod status;
mod unreachable;
mod validation;
mod workload_identity;
