//! What alerting did in one run, as the report shows it.

use serde::Serialize;

use crate::config::alerts::{AlertSeverity, SinkKind};

/// What alerting did in one run; goes into the cycle report or next to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AlertReport {
    /// Problems found this run (failing targets only once they reach the threshold).
    pub findings: usize,
    /// Alerts due this run, over all sinks.
    pub notifications: usize,
    /// Alerts a sink accepted.
    pub sent: usize,
    /// Alerts not delivered (failed or skipped); they are tried again next run.
    pub failed: usize,
    /// (finding, sink) pairs not sent because the sink already knows (deduplication).
    pub suppressed: usize,
    /// Whether the alert state was stored.
    pub state_saved: bool,
    pub sinks: Vec<SinkReport>,
    pub notes: Vec<String>,
}

impl AlertReport {
    /// Every alert due this run was accepted and the state stored.
    pub fn all_delivered(&self) -> bool {
        self.failed == 0 && self.state_saved
    }
}

/// One sink's results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SinkReport {
    pub name: String,
    pub kind: SinkKind,
    pub sent: usize,
    pub failed: usize,
    /// Not tried because an earlier alert showed the sink unavailable.
    pub skipped: usize,
    /// The first failure's reason (never the URL).
    pub error: Option<String>,
    pub deliveries: Vec<DeliveryReport>,
}

/// One alert to one sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    pub finding: String,
    pub state: NotificationState,
    pub severity: AlertSeverity,
    pub outcome: DeliveryOutcome,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    Sent,
    Failed,
    Skipped,
}

/// Why a sink is told about a finding (the `state` field of every alert).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationState {
    New,
    Escalated,
    Reminder,
    Resolved,
}

impl NotificationState {
    pub fn label(self) -> &'static str {
        match self {
            NotificationState::New => "new",
            NotificationState::Escalated => "escalated",
            NotificationState::Reminder => "reminder",
            NotificationState::Resolved => "resolved",
        }
    }
}

impl std::fmt::Display for NotificationState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}
