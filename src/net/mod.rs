//! Outbound HTTP: the HTTPS client, retry policies, adaptive per-host limits and pacing to a
//! share of each vault's Key Vault budget. Knows nothing of cycles, reports or alerts.

pub mod http;
pub mod pacing;
pub mod retry;
pub mod slots;
