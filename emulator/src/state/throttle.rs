//! A fixed-window request counter: the throttles of the vaults and of the token endpoint.

use super::stats::ThrottleWindow;
use crate::seed::{ThrottleSeed, VaultThrottleSeed};

/// Counts one request against every budget in `budgets`: accepted by all when each has room,
/// else refused, and then counted as refused by the budgets that were full and as nothing by
/// the others (a 429 does not count towards Key Vault's limits: "Azure Key Vault throttling
/// guidance").
pub(crate) fn admit_all(budgets: &mut [&mut Throttle]) -> bool {
    let now = std::time::Instant::now();
    for b in budgets.iter_mut() {
        b.roll(now);
    }
    if budgets.iter().all(|b| b.has_room()) {
        for b in budgets.iter_mut() {
            b.accepted += 1;
        }
        return true;
    }
    for b in budgets.iter_mut().filter(|b| !b.has_room()) {
        b.rejected += 1;
    }
    false
}

/// The throttle of one vault (or of the subscription, across vaults): one budget for every
/// transaction, or Key Vault's current model with CREATE secret counted apart.
#[derive(Debug, Clone)]
pub(crate) struct VaultThrottle {
    /// CREATE secret; `None` = writes count against `others` (one budget).
    pub writes: Option<Throttle>,
    /// Every transaction the write budget does not count.
    pub others: Throttle,
}

impl VaultThrottle {
    /// One budget for every transaction.
    pub fn single(limit: ThrottleSeed) -> VaultThrottle {
        VaultThrottle {
            writes: None,
            others: Throttle::new(limit),
        }
    }

    /// Writes and other transactions counted apart.
    pub fn split(limits: VaultThrottleSeed) -> VaultThrottle {
        VaultThrottle {
            writes: Some(Throttle::new(limits.write_budget())),
            others: Throttle::new(limits.other_budget()),
        }
    }

    /// The budget a request counts against: the write budget for a CREATE when there is one.
    pub fn budget(&mut self, create: bool) -> &mut Throttle {
        match (&mut self.writes, create) {
            (Some(w), true) => w,
            _ => &mut self.others,
        }
    }

    pub fn reset(&mut self) {
        if let Some(w) = self.writes.as_mut() {
            w.reset();
        }
        self.others.reset();
    }
}

/// A fixed-window counter.
#[derive(Debug, Clone)]
pub(crate) struct Throttle {
    pub limit: ThrottleSeed,
    /// The origin of [`ThrottleWindow::start_ms`].
    epoch: std::time::Instant,
    /// The open window: when it opened; `None` until the first request.
    window_start: Option<std::time::Instant>,
    accepted: u64,
    rejected: u64,
    /// Closed windows, oldest first.
    history: Vec<ThrottleWindow>,
}

impl Throttle {
    pub fn new(limit: ThrottleSeed) -> Throttle {
        Throttle {
            limit,
            epoch: std::time::Instant::now(),
            window_start: None,
            accepted: 0,
            rejected: 0,
            history: Vec::new(),
        }
    }

    fn window(&self, start: std::time::Instant) -> ThrottleWindow {
        ThrottleWindow {
            start_ms: start.saturating_duration_since(self.epoch).as_millis() as u64,
            window_secs: self.limit.window_secs,
            accepted: self.accepted,
            rejected: self.rejected,
        }
    }

    /// Counts one request; false when it is over the limit (then answered 429 and not counted
    /// against the limit). A window opens with the first request after the previous one ended.
    pub fn admit(&mut self) -> bool {
        admit_all(&mut [self])
    }

    /// Closes the open window if it has ended; the next request opens a new one.
    fn roll(&mut self, now: std::time::Instant) {
        let length = std::time::Duration::from_secs(self.limit.window_secs);
        match self.window_start {
            Some(start) if now.duration_since(start) < length => {}
            previous => {
                if let Some(start) = previous {
                    let closed = self.window(start);
                    self.history.push(closed);
                }
                self.window_start = Some(now);
                self.accepted = 0;
                self.rejected = 0;
            }
        }
    }

    fn has_room(&self) -> bool {
        self.accepted < self.limit.requests
    }

    /// Every window so far, the open one last.
    pub fn windows(&self) -> Vec<ThrottleWindow> {
        let mut all = self.history.clone();
        if let Some(start) = self.window_start {
            all.push(self.window(start));
        }
        all
    }

    /// Forgets the history and starts afresh with the next request.
    pub fn reset(&mut self) {
        *self = Throttle::new(self.limit);
    }
}
