//! Request statistics as tests and `/_emulator/stats` see them: counts by service, operation
//! and status, and the windows of each throttle. Plain data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Request counts by service, operation and status.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stats {
    /// One entry per (service, operation, status).
    pub entries: Vec<StatEntry>,
    /// Per throttled vault (`"subscription"` for the budget across vaults, `"login"` for Entra
    /// ID), the windows of its budget for every transaction not counted in `write_windows`, since
    /// the throttle was set or the stats were reset, oldest first; the last one may be open.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub throttle_windows: BTreeMap<String, Vec<ThrottleWindow>>,
    /// Per vault (and `"subscription"`) whose limits count CREATE secret apart, the windows of
    /// that write budget, oldest first.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub write_windows: BTreeMap<String, Vec<ThrottleWindow>>,
    /// Per listener (vault name, `"login"`, `"graph"`, `"powerbi"`), the TCP connections it
    /// accepted and the TLS handshakes that completed on them. A client that keeps its
    /// connections alive opens a handful per host whatever the number of requests; one that
    /// opens a connection per request shows as many handshakes as requests.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub connections: BTreeMap<String, ConnectionCount>,
}

/// Connections one listener accepted (see [`Stats::connections`]).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConnectionCount {
    /// TCP connections accepted.
    pub accepted: u64,
    /// TLS handshakes completed (full or resumed).
    pub tls_handshakes: u64,
}

/// One window of a throttle: when it opened and what it let through.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ThrottleWindow {
    /// When the window opened, in milliseconds after the throttle was set or the stats reset.
    pub start_ms: u64,
    /// The window's length in seconds.
    pub window_secs: u64,
    /// Requests accepted (at most the limit).
    pub accepted: u64,
    /// Requests answered 429.
    pub rejected: u64,
}

/// One row of [`Stats`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatEntry {
    /// Vault name, or `"login"` for the Entra ID listener.
    pub service: String,
    /// Operation name, e.g. `SecretGet` or `TokenV2`.
    pub operation: String,
    /// HTTP status returned.
    pub status: u16,
    /// Number of requests.
    pub count: u64,
}

impl Stats {
    /// Requests for `operation` on `service`, any status.
    pub fn count(&self, service: &str, operation: &str) -> u64 {
        self.entries
            .iter()
            .filter(|e| e.service == service && e.operation == operation)
            .map(|e| e.count)
            .sum()
    }

    /// Requests for `operation` on `service` with exactly `status`.
    pub fn count_status(&self, service: &str, operation: &str, status: u16) -> u64 {
        self.entries
            .iter()
            .filter(|e| e.service == service && e.operation == operation && e.status == status)
            .map(|e| e.count)
            .sum()
    }

    /// TCP connections accepted by `service`'s listener.
    pub fn connections_accepted(&self, service: &str) -> u64 {
        self.connections.get(service).map_or(0, |c| c.accepted)
    }

    /// All requests to `service`.
    pub fn total_for(&self, service: &str) -> u64 {
        self.entries
            .iter()
            .filter(|e| e.service == service)
            .map(|e| e.count)
            .sum()
    }
}
