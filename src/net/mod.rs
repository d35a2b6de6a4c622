//! Outbound HTTP: the HTTPS client, retry policies and adaptive per-host limits. Knows nothing
//! of cycles, reports or alerts.

pub mod http;
pub mod retry;
