//! The active fault rules at run time: replacing them, listing them with their remaining hits,
//! and picking the rule that hits a request. Applying the fault is the `faults` module.

use crate::seed::{FaultKind, FaultRule};

/// A rule while active: how many more hits it has.
#[derive(Debug)]
struct ActiveRule {
    rule: FaultRule,
    remaining: Option<u64>,
}

/// The active fault rules, in order; the first rule that hits a request wins.
#[derive(Debug, Default)]
pub(crate) struct FaultSet {
    rules: std::sync::Mutex<Vec<ActiveRule>>,
}

impl FaultSet {
    /// Replaces the active rules.
    pub fn set(&self, rules: Vec<FaultRule>) {
        *self.rules.lock().unwrap_or_else(|e| e.into_inner()) = rules
            .into_iter()
            .map(|rule| ActiveRule {
                remaining: rule.count,
                rule,
            })
            .collect();
    }

    /// The active rules with their remaining counts.
    pub fn active(&self) -> Vec<FaultRule> {
        self.rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|a| FaultRule {
                count: a.remaining,
                ..a.rule.clone()
            })
            .collect()
    }

    /// The fault for one request to `service` / `operation`, if a rule hits it.
    pub fn pick(&self, service: &str, operation: &str) -> Option<FaultKind> {
        let mut rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        let mut hit = None;
        for (i, a) in rules.iter_mut().enumerate() {
            let r = &a.rule;
            let service_matches = r.service == "*" || r.service.eq_ignore_ascii_case(service);
            let op_matches = r
                .operation
                .as_deref()
                .is_none_or(|o| o.eq_ignore_ascii_case(operation));
            if !service_matches || !op_matches || a.remaining == Some(0) {
                continue;
            }
            let roll = crate::jwt::random_in(0, 999_999) as f64 / 1_000_000.0;
            if roll >= r.probability {
                continue;
            }
            if let Some(n) = a.remaining.as_mut() {
                *n -= 1;
            }
            hit = Some((i, r.kind.clone()));
            break;
        }
        let (i, kind) = hit?;
        if rules[i].remaining == Some(0) {
            rules.remove(i);
        }
        Some(kind)
    }
}
