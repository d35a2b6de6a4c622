//! Key Vault's published budget per vault, and pacing every request to a vault at a share of it.
//!
//! Key Vault accepts, per vault and 10 s, at most 300 CREATE secret transactions (`PUT
//! /secrets/{name}`: a new version) and 4,000 other secret transactions (get, list page,
//! update, delete), counted apart ("Azure Key Vault service limits"); the vault's consumers and
//! other writers share that budget. [`VaultPacing`] holds, per vault host, one [`Pacer`] for
//! writes and one for other transactions, each at a configured share of the published figure
//! (`[limits] vault_write_share`, `vault_read_share`). The SDK transport
//! ([`crate::net::http::GuardedTransport`]) passes every attempt to a vault through it after
//! the adaptive limit ([`crate::net::retry::AdaptiveLimit`], which still reacts to 429s) has given
//! the attempt a slot, right before the request is sent. Targets spread over several vaults are
//! paced independently.
//!
//! # Why spaced groups, not a bucket with a burst
//!
//! A token bucket whose burst equals its capacity lets through a full bucket at the end of one
//! window and another at the start of the next: up to twice the limit in a sliding 10 s window.
//! A [`Pacer`] instead gives out moments, each taking at most `group` passes (`group` divides
//! the limit `L`), and keeps one invariant: no half-open span `(t − S, t]` ending at a moment,
//! with `S = window + margin + late`, holds moments with more than `L` passes. A new moment, or
//! a pass joining the last one, is checked against the span ending at that moment, the latest;
//! every span's moments lie in the span ending at its own latest moment, so every span holds.
//! A pass is sent at its moment or, when it joined a moment that had just passed, at most
//! `late` after it. If sends fall in a half-open interval of length `window + margin`, their
//! moments lie in an open interval of length `S`: at most `L` sends. The `margin` (250 ms)
//! absorbs the difference in network delay between two requests: the vault counts arrivals,
//! not departures, so the guarantee holds at the vault for any 10 s window as long as two
//! requests' delays differ by less than it. The price is the margin and `late` (2.55 % of the
//! budget).
//!
//! Spacing: a new moment comes no earlier than `interval = S / L` after the last one for each
//! pass that one took. Under load moments fill, so they come `group · interval` apart with `L`
//! in every span and no burst beyond a group; after an idle period the next moment is now, and
//! the idle time is not made up for. A caller alone (the pages of a listing, one app at a time
//! with `concurrency = 1`) takes a moment of its own when it comes, at most one `interval`
//! after its last: a group it could not fill never slows it to one pass per `group`
//! intervals. Groups rather than single passes: a request paced alone wakes the process alone
//! (bench/README.md, "CPU per token against the lean client").
//!
//! Per vault, the pacing also keeps what each cycle used: transactions of each kind and the
//! most seen in any sliding 10 s window, for the report and the metrics.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::VaultLimits;

/// Key Vault's window for its per-vault limits.
pub const KEY_VAULT_WINDOW: Duration = Duration::from_secs(10);
/// CREATE secret transactions Key Vault accepts per vault per window.
pub const KEY_VAULT_WRITES: u32 = 300;
/// Other secret transactions Key Vault accepts per vault per window.
pub const KEY_VAULT_OTHERS: u32 = 4000;
/// Added to the window when spacing requests: two requests' network delays may differ by this
/// much and the vault still sees no more than the limit in any window.
pub const PACING_MARGIN: Duration = Duration::from_millis(250);

/// The two budgets of a vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionKind {
    /// CREATE secret: `PUT /secrets/{name}`.
    Write,
    /// Every other secret transaction.
    Other,
}

impl TransactionKind {
    /// What a request to a vault counts against: a `PUT` of `/secrets/{name}` is a write.
    pub fn of(method: &azure_core::http::Method, url: &url::Url) -> Self {
        let create = *method == azure_core::http::Method::Put
            && url.path_segments().is_some_and(|mut s| {
                s.next() == Some("secrets") && s.next().is_some_and(|n| !n.is_empty())
            });
        if create {
            TransactionKind::Write
        } else {
            TransactionKind::Other
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            TransactionKind::Write => "write",
            TransactionKind::Other => "other",
        }
    }
}

/// The most transactions of one kind a vault may see from the rotator per [`KEY_VAULT_WINDOW`]:
/// `floor(published × share)`, at least one.
pub fn limit_per_window(published: u32, share: f64) -> u32 {
    ((f64::from(published) * share).floor() as u32).max(1)
}

/// Lets passes through in groups of up to `group` at moments spaced by the passes
/// each took, first come first served, never more than the limit in a span (see the module
/// documentation for why that bounds every sliding window).
#[derive(Debug)]
pub struct Pacer {
    /// Passes per span.
    limit: u32,
    /// Passes per moment: the largest divisor of the limit up to [`MAX_GROUP`].
    group: u32,
    /// `window + PACING_MARGIN + JOIN_LATE`: no half-open span of this length ending at a
    /// moment holds moments with more than `limit` passes.
    span: Duration,
    /// `span / limit`: how long a pass holds back the next moment.
    interval: Duration,
    schedule: Mutex<Schedule>,
}

/// The moments given out that may still share a span with the next one.
#[derive(Debug, Default)]
struct Schedule {
    /// Oldest first, each with the passes it took; the last is the one a caller may join.
    moments: VecDeque<(Instant, u32)>,
    /// The passes of `moments`.
    passes: u32,
}

impl Schedule {
    /// Forgets the moments at or before `cut`: no span ending at or after `cut + span` holds
    /// them.
    fn forget_through(&mut self, cut: Option<Instant>) {
        let Some(cut) = cut else { return };
        while let Some(&(at, taken)) = self.moments.front() {
            if at > cut {
                break;
            }
            self.passes -= taken;
            self.moments.pop_front();
        }
    }
}

/// The most passes one moment takes. Requests paced one at a time each woke the process on
/// their own; sent in groups, their answers are read in the same wake-ups (bench/README.md,
/// "CPU per token against the lean client"). Eight is the default `concurrency`.
pub const MAX_GROUP: u32 = 8;

/// How late a caller may still join a moment that has just passed: callers released together
/// come back a little apart (their answers arrive one by one).
pub const JOIN_LATE: Duration = Duration::from_millis(5);

impl Pacer {
    /// At most `limit` passes in any `window` (plus [`PACING_MARGIN`] and [`JOIN_LATE`]).
    pub fn new(limit: u32, window: Duration) -> Self {
        let limit = limit.max(1);
        let group = (1..=MAX_GROUP.min(limit))
            .rev()
            .find(|g| limit.is_multiple_of(*g))
            .unwrap_or(1);
        let span = window + PACING_MARGIN + JOIN_LATE;
        Pacer {
            limit,
            group,
            span,
            interval: span / limit,
            schedule: Mutex::new(Schedule::default()),
        }
    }

    /// The mean gap between two passes when busy.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Waits for this caller's moment and returns it. The moment is reserved before waiting,
    /// so callers pass in the order they came; a caller dropped while waiting leaves its place
    /// unused (never more passes, only fewer).
    ///
    /// A caller joins the last moment given out while it has room, is at most [`JOIN_LATE`]
    /// past and its span holds fewer than the limit. Otherwise it takes a new moment: not before
    /// now, `interval` after the last moment for each pass that moment took, and late enough
    /// that the span ending at it holds fewer than the limit.
    pub async fn pass(&self) -> Instant {
        let at = {
            let mut s = self.schedule.lock().unwrap_or_else(|p| p.into_inner());
            self.give(&mut s, Instant::now())
        };
        tokio::time::sleep_until(at).await;
        at
    }

    fn give(&self, s: &mut Schedule, now: Instant) -> Instant {
        let last = s.moments.back().copied();
        if let Some((moment, taken)) = last
            && taken < self.group
            && moment + JOIN_LATE >= now
        {
            s.forget_through(moment.checked_sub(self.span));
            if s.passes < self.limit {
                s.passes += 1;
                if let Some(back) = s.moments.back_mut() {
                    back.1 += 1;
                }
                return moment;
            }
        }
        let mut at = last.map_or(now, |(moment, taken)| {
            (moment + self.interval * taken).max(now)
        });
        loop {
            s.forget_through(at.checked_sub(self.span));
            match s.moments.front() {
                Some(&(oldest, _)) if s.passes >= self.limit => at = oldest + self.span,
                _ => break,
            }
        }
        s.moments.push_back((at, 1));
        s.passes += 1;
        at
    }
}

/// Counts passes and the most of them in any sliding window.
#[derive(Debug)]
struct WindowCounter {
    window: Duration,
    recent: VecDeque<Instant>,
    total: u64,
    peak: u64,
}

impl WindowCounter {
    fn new(window: Duration) -> Self {
        WindowCounter {
            window,
            recent: VecDeque::new(),
            total: 0,
            peak: 0,
        }
    }

    fn record(&mut self, at: Instant) {
        while self
            .recent
            .front()
            .is_some_and(|t| at.saturating_duration_since(*t) >= self.window)
        {
            self.recent.pop_front();
        }
        self.recent.push_back(at);
        self.total += 1;
        self.peak = self.peak.max(self.recent.len() as u64);
    }

    /// Totals and peak since the last call; the recent passes stay, so a window spanning two
    /// cycles is still seen whole.
    fn take(&mut self) -> (u64, u64) {
        let out = (self.total, self.peak);
        self.total = 0;
        self.peak = self.recent.len() as u64;
        out
    }
}

/// One vault's pacers and usage.
#[derive(Debug)]
struct VaultPace {
    vault: String,
    write: Pacer,
    other: Pacer,
    write_limit: u32,
    other_limit: u32,
    usage: Mutex<(WindowCounter, WindowCounter)>,
}

/// What the rotator sent one vault since the last [`VaultPacing::take_usage`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VaultUsage {
    /// The vault URL as configured.
    pub vault: String,
    /// CREATE secret transactions (every attempt, the 401 challenge included).
    pub writes: u64,
    /// Every other transaction.
    pub other_transactions: u64,
    /// The most writes in any sliding 10 s window.
    pub max_writes_per_10s: u64,
    /// `floor(300 × vault_write_share)`: what the pacing allows per 10 s.
    pub write_limit_per_10s: u32,
    /// The most other transactions in any sliding 10 s window.
    pub max_other_per_10s: u64,
    /// `floor(4000 × vault_read_share)`.
    pub other_limit_per_10s: u32,
}

/// Pacing for every configured vault, keyed like [`crate::net::retry::AdaptiveLimits`] (host
/// and port). Requests to any other host (Entra ID, Graph) pass untouched.
#[derive(Debug)]
pub struct VaultPacing {
    vaults: HashMap<String, VaultPace>,
}

impl VaultPacing {
    pub fn new(limits: &VaultLimits, vaults: &[url::Url]) -> Self {
        let write_limit = limit_per_window(KEY_VAULT_WRITES, limits.write_share);
        let other_limit = limit_per_window(KEY_VAULT_OTHERS, limits.read_share);
        let vaults = vaults
            .iter()
            .map(|url| {
                let pace = VaultPace {
                    vault: url.to_string(),
                    write: Pacer::new(write_limit, KEY_VAULT_WINDOW),
                    other: Pacer::new(other_limit, KEY_VAULT_WINDOW),
                    write_limit,
                    other_limit,
                    usage: Mutex::new((
                        WindowCounter::new(KEY_VAULT_WINDOW),
                        WindowCounter::new(KEY_VAULT_WINDOW),
                    )),
                };
                (crate::net::retry::AdaptiveLimits::key_of(url), pace)
            })
            .collect();
        VaultPacing { vaults }
    }

    /// Waits until a request of `kind` may go to the vault at `key` (host:port) and returns its
    /// moment, to give [`VaultPacing::sent`] if it is sent; returns at once (`None`) for a host
    /// that is not a configured vault.
    pub async fn pace(&self, key: &str, kind: TransactionKind) -> Option<Instant> {
        let v = self.vaults.get(key)?;
        Some(match kind {
            TransactionKind::Write => v.write.pass().await,
            TransactionKind::Other => v.other.pass().await,
        })
    }

    /// Counts a request sent at the moment [`VaultPacing::pace`] gave it.
    pub fn sent(&self, key: &str, kind: TransactionKind, at: Instant) {
        let Some(v) = self.vaults.get(key) else {
            return;
        };
        let mut usage = v.usage.lock().unwrap_or_else(|p| p.into_inner());
        match kind {
            TransactionKind::Write => usage.0.record(at),
            TransactionKind::Other => usage.1.record(at),
        }
    }

    /// Each vault's usage since the last call (vaults that saw nothing left out), in vault
    /// order; the counts start again from zero.
    pub fn take_usage(&self) -> Vec<VaultUsage> {
        let mut out: Vec<VaultUsage> = self
            .vaults
            .values()
            .filter_map(|v| {
                let mut usage = v.usage.lock().unwrap_or_else(|p| p.into_inner());
                let (writes, max_writes) = usage.0.take();
                let (others, max_others) = usage.1.take();
                (writes + others > 0).then(|| VaultUsage {
                    vault: v.vault.clone(),
                    writes,
                    other_transactions: others,
                    max_writes_per_10s: max_writes,
                    write_limit_per_10s: v.write_limit,
                    max_other_per_10s: max_others,
                    other_limit_per_10s: v.other_limit,
                })
            })
            .collect();
        out.sort_by(|a, b| a.vault.cmp(&b.vault));
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio::task::JoinHandle;

    /// The most passes in any half-open window `[t, t + window)` starting at a pass.
    fn max_in_any_window(times: &[Instant], window: Duration) -> usize {
        let mut sorted = times.to_vec();
        sorted.sort();
        (0..sorted.len())
            .map(|i| {
                sorted[i..]
                    .iter()
                    .take_while(|t| t.duration_since(sorted[i]) < window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    /// No sliding window of 10 s and the margin holds more than `limit` send times, and the
    /// busiest 10 s window holds at least `at_least` (the pacing is not idle).
    fn assert_window_holds(times: &Mutex<Vec<Instant>>, share: f64, limit: u32, at_least: f64) {
        let times = times.lock().unwrap();
        let seen = max_in_any_window(&times, KEY_VAULT_WINDOW + PACING_MARGIN);
        assert!(
            seen <= limit as usize,
            "share {share}: {seen} passes in one window of 10 s and the margin, limit {limit}"
        );
        let busiest = max_in_any_window(&times, KEY_VAULT_WINDOW);
        assert!(
            busiest as f64 >= at_least,
            "share {share}: only {busiest} of {limit} per 10 s window"
        );
    }

    /// Starts a caller that passes and records when its request goes (not the moment it was
    /// given).
    fn spawn_pass(pacer: &Arc<Pacer>, times: &Arc<Mutex<Vec<Instant>>>) -> JoinHandle<()> {
        let (pacer, times) = (pacer.clone(), times.clone());
        tokio::spawn(async move {
            pacer.pass().await;
            times.lock().unwrap().push(Instant::now());
        })
    }

    async fn join_all(tasks: Vec<JoinHandle<()>>) {
        for t in tasks {
            t.await.unwrap();
        }
    }

    /// Passes one caller after another, each `think` after the last one's moment (its answer
    /// and the next app's work), for `span`; the send times.
    async fn one_caller_at_a_time(pacer: &Pacer, think: Duration, span: Duration) -> Vec<Instant> {
        let start = Instant::now();
        let mut times = Vec::new();
        while Instant::now() < start + span {
            pacer.pass().await;
            times.push(Instant::now());
            tokio::time::sleep(think).await;
        }
        times
    }

    /// A caller alone that comes back later than [`JOIN_LATE`] (a listing's next page, the next
    /// app with `concurrency = 1`) is paced at the limit, not at one pass per group of moments.
    #[tokio::test(start_paused = true)]
    async fn a_caller_alone_is_not_slowed_by_the_groups() {
        // Writes at share 0.8: 240 per 10.255 s, groups of 8; a caller back after 10 ms.
        let pacer = Pacer::new(240, KEY_VAULT_WINDOW);
        let times =
            one_caller_at_a_time(&pacer, Duration::from_millis(10), KEY_VAULT_WINDOW * 3).await;
        let times = Mutex::new(times);
        assert_window_holds(&times, 0.8, 240, 230.0);
        // Other transactions at share 0.5: 2,000 per 10.255 s, a pass every 5.1 ms at most; a
        // caller back after 10 ms goes at its own pace, 1,000 per 10 s.
        let pacer = Pacer::new(2000, KEY_VAULT_WINDOW);
        let times =
            one_caller_at_a_time(&pacer, Duration::from_millis(10), KEY_VAULT_WINDOW * 2).await;
        let busiest = max_in_any_window(&times, KEY_VAULT_WINDOW);
        assert!(busiest >= 990, "{busiest} pages in 10 s, one every 10 ms");
    }

    /// Mixed arrivals drawn at random (bursts, callers alone, gaps around [`JOIN_LATE`] and
    /// around the interval, idle periods) never put more than the limit in a window.
    #[tokio::test(start_paused = true)]
    async fn random_arrivals_never_overfill_a_window() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |below: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % below
        };
        for (limit, share) in [(300, 1.0), (240, 0.8), (30, 0.1), (7, 0.025), (2000, 0.5)] {
            let pacer = Arc::new(Pacer::new(limit, KEY_VAULT_WINDOW));
            let times = Arc::new(Mutex::new(Vec::new()));
            let mut tasks = Vec::new();
            for _ in 0..(5 * limit) {
                let wait_us = match next(10) {
                    0 => 0,
                    1..=3 => next(JOIN_LATE.as_micros() as u64 * 2),
                    4..=7 => next(pacer.interval.as_micros() as u64 * 2),
                    8 => next(pacer.interval.as_micros() as u64 * u64::from(pacer.group) * 3),
                    _ => next(4_000_000),
                };
                tokio::time::sleep(Duration::from_micros(wait_us)).await;
                for _ in 0..=next(3) {
                    tasks.push(spawn_pass(&pacer, &times));
                }
                tokio::task::yield_now().await;
            }
            join_all(tasks).await;
            assert_window_holds(&times, share, limit, 0.0);
        }
    }

    /// The property the pacing exists for, on a virtual clock: whatever the arrival pattern
    /// (bursts from many concurrent callers, idle gaps, trickles), no sliding 10 s window sees
    /// more than `floor(300 × share)` writes.
    #[tokio::test(start_paused = true)]
    async fn no_sliding_window_sees_more_than_the_share_of_writes() {
        for share in [1.0, 0.8, 0.5, 0.1, 0.01] {
            let limit = limit_per_window(KEY_VAULT_WRITES, share);
            let pacer = Arc::new(Pacer::new(limit, KEY_VAULT_WINDOW));
            let times = Arc::new(Mutex::new(Vec::new()));
            // Bursts of 3 × limit callers at once, separated by gaps of 0 to 25 s: a plain
            // bucket would let two full buckets through around each gap.
            for (round, gap_ms) in [0u64, 3_000, 9_999, 10_000, 25_000, 700].iter().enumerate() {
                tokio::time::advance(Duration::from_millis(*gap_ms)).await;
                let mut tasks = Vec::new();
                for _ in 0..(3 * limit as usize + round) {
                    tasks.push(spawn_pass(&pacer, &times));
                }
                join_all(tasks).await;
            }
            // And the pacing is not idle: a backlog runs at the limit (less the margin).
            assert_window_holds(&times, share, limit, f64::from(limit) * 0.95 - 1.0);
        }
    }

    /// Callers that come one by one, a little apart (answers arriving one at a time), some
    /// within [`JOIN_LATE`] of the moment before them and some not, also never put more than the
    /// limit in a sliding window, counted when each request goes.
    #[tokio::test(start_paused = true)]
    async fn callers_joining_late_do_not_overfill_a_window() {
        for share in [1.0, 0.8, 0.1] {
            let limit = limit_per_window(KEY_VAULT_WRITES, share);
            let pacer = Arc::new(Pacer::new(limit, KEY_VAULT_WINDOW));
            let times = Arc::new(Mutex::new(Vec::new()));
            let mut tasks = Vec::new();
            for i in 0..(4 * limit as u64) {
                // 0 to 6 ms apart: around JOIN_LATE (5 ms).
                tokio::time::sleep(Duration::from_micros(i * 1_700 % 6_100)).await;
                tasks.push(spawn_pass(&pacer, &times));
                tokio::task::yield_now().await;
            }
            join_all(tasks).await;
            assert_window_holds(&times, share, limit, f64::from(limit) * 0.9);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn callers_waiting_together_go_together() {
        // 240 writes per window (share 0.8): groups of 8, 10.255 s / 30 apart.
        let pacer = Arc::new(Pacer::new(240, KEY_VAULT_WINDOW));
        assert_eq!(pacer.group, 8);
        assert_eq!(pacer.interval, Duration::from_millis(10_255) / 240);
        let gap = pacer.interval * pacer.group;
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let pacer = pacer.clone();
            tasks.push(tokio::spawn(async move { pacer.pass().await }));
        }
        let mut moments = Vec::new();
        for t in tasks {
            moments.push(t.await.unwrap() - start);
        }
        let expected: Vec<Duration> = (0..20).map(|i| gap * (i / 8)).collect();
        assert_eq!(moments, expected);
        // A limit without a divisor up to 8 paces one at a time; a small one in a single group.
        assert_eq!(Pacer::new(233, KEY_VAULT_WINDOW).group, 1);
        assert_eq!(Pacer::new(150, KEY_VAULT_WINDOW).group, 6);
        assert_eq!(Pacer::new(3, KEY_VAULT_WINDOW).group, 3);
    }

    #[test]
    fn the_limit_is_the_floor_of_the_share_and_never_zero() {
        assert_eq!(limit_per_window(KEY_VAULT_WRITES, 0.8), 240);
        assert_eq!(limit_per_window(KEY_VAULT_WRITES, 1.0), 300);
        assert_eq!(limit_per_window(KEY_VAULT_WRITES, 0.333), 99);
        assert_eq!(limit_per_window(KEY_VAULT_OTHERS, 0.5), 2000);
        assert_eq!(limit_per_window(KEY_VAULT_WRITES, 0.0001), 1);
    }

    #[test]
    fn only_a_put_of_a_secret_is_a_write() {
        use azure_core::http::Method;
        let url = |p: &str| url::Url::parse(&format!("https://kv.vault.azure.net{p}")).unwrap();
        let kind = TransactionKind::of;
        assert_eq!(
            kind(&Method::Put, &url("/secrets/tok?api-version=7.5")),
            TransactionKind::Write
        );
        assert_eq!(
            kind(&Method::Get, &url("/secrets/tok/")),
            TransactionKind::Other
        );
        assert_eq!(
            kind(&Method::Patch, &url("/secrets/tok/abc")),
            TransactionKind::Other
        );
        assert_eq!(kind(&Method::Get, &url("/secrets")), TransactionKind::Other);
        assert_eq!(
            kind(&Method::Put, &url("/secrets/")),
            TransactionKind::Other
        );
        assert_eq!(
            kind(&Method::Delete, &url("/deletedsecrets/tok")),
            TransactionKind::Other
        );
    }

    #[tokio::test(start_paused = true)]
    async fn vaults_are_paced_apart_and_their_usage_is_reported() {
        let a = url::Url::parse("https://a.vault.azure.net/").unwrap();
        let b = url::Url::parse("https://b.vault.azure.net/").unwrap();
        let limits = VaultLimits {
            write_share: 0.01, // 3 writes per 10 s
            read_share: 0.5,
        };
        let pacing = Arc::new(VaultPacing::new(&limits, &[a.clone(), b.clone()]));
        let key_a = crate::net::retry::AdaptiveLimits::key_of(&a);
        let key_b = crate::net::retry::AdaptiveLimits::key_of(&b);
        let start = Instant::now();
        // Three writes each to a and b at once: neither waits for the other.
        let mut tasks = Vec::new();
        for key in [&key_a, &key_b, &key_a, &key_b, &key_a, &key_b] {
            let (pacing, key) = (pacing.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                let at = pacing.pace(&key, TransactionKind::Write).await.unwrap();
                pacing.sent(&key, TransactionKind::Write, at);
                Instant::now()
            }));
        }
        let mut ends = Vec::new();
        for t in tasks {
            ends.push(t.await.unwrap().duration_since(start));
        }
        let last = *ends.iter().max().unwrap();
        assert!(last < Duration::from_secs(8), "{ends:?}");
        // A host that is not a vault is not paced.
        let other_host = "login.microsoftonline.com:443";
        assert_eq!(pacing.pace(other_host, TransactionKind::Write).await, None);
        let usage = pacing.take_usage();
        assert_eq!(usage.len(), 2);
        assert_eq!(usage[0].vault, a.to_string());
        assert_eq!((usage[0].writes, usage[0].max_writes_per_10s), (3, 3));
        assert_eq!(usage[0].write_limit_per_10s, 3);
        assert_eq!(usage[0].other_limit_per_10s, 2000);
        assert!(pacing.take_usage().is_empty(), "counts start again");
    }
}
