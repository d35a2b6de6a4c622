//! A fixed-window request counter: the throttles of the vaults and of the token endpoint.

use super::stats::ThrottleWindow;
use crate::seed::ThrottleSeed;

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
        let now = std::time::Instant::now();
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
        if self.accepted >= self.limit.requests {
            self.rejected += 1;
            return false;
        }
        self.accepted += 1;
        true
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
