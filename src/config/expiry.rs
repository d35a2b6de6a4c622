//! Severity policy for credential expiry: `ok`, `warning`, `critical`, `expired`, or `unknown`
//! when no expiry is recorded. Pure functions of the expiry, the clock and the thresholds.

use serde::Serialize;
use time::OffsetDateTime;

use crate::config::Thresholds;

/// How urgent an expiry is. Ordered from least to most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Ok,
    /// No expiry recorded: nobody will be warned before it stops working.
    Unknown,
    Warning,
    Critical,
    Expired,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Unknown => "unknown",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
            Severity::Expired => "expired",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// The severity of an expiry, and whole days left (rounded down; negative once expired).
pub fn assess(
    expires: Option<OffsetDateTime>,
    now: OffsetDateTime,
    thresholds: &Thresholds,
) -> (Severity, Option<i64>) {
    let Some(exp) = expires else {
        return (Severity::Unknown, None);
    };
    let left = exp - now;
    let days = left.whole_seconds().div_euclid(86_400);
    let severity = if left <= time::Duration::ZERO {
        Severity::Expired
    } else if left < to_time(thresholds.critical) {
        Severity::Critical
    } else if left < to_time(thresholds.warning) {
        Severity::Warning
    } else {
        Severity::Ok
    };
    (severity, Some(days))
}

fn to_time(d: std::time::Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_split_the_timeline() {
        let now = OffsetDateTime::now_utc();
        let t = Thresholds::default();
        let at = |days: i64| assess(Some(now + time::Duration::days(days)), now, &t).0;
        assert_eq!(at(90), Severity::Ok);
        assert_eq!(at(30), Severity::Ok);
        assert_eq!(at(29), Severity::Warning);
        assert_eq!(at(6), Severity::Critical);
        assert_eq!(at(-1), Severity::Expired);
        assert_eq!(assess(None, now, &t), (Severity::Unknown, None));
        assert_eq!(
            assess(Some(now - time::Duration::hours(1)), now, &t).1,
            Some(-1)
        );
    }
}
