//! When and how long to wait before trying an outbound call again, and how many calls to let run
//! at once against one vault or tenant.
//!
//! One policy for both paths: [`Backoff`] drives the direct Entra ID calls (`entra.rs`) and, as
//! [`SdkRetryPolicy`], the Azure SDK pipeline (Key Vault and the rotator's own credential) through
//! `ClientOptions.retry`, so there is never a second retry loop stacked on the SDK's. Only
//! transient failures are retried: 408, 429, 500, 502, 503, 504 and connection errors or
//! timeouts. A `Retry-After` (seconds or HTTP-date) is honoured up to a cap; without one (Key
//! Vault's 429 has none) the wait grows exponentially, 1, 2, 4, 8, 16 s, each stretched by up to
//! half again at random so that clients throttled together do not retry together.
//!
//! [`AdaptiveLimit`] is an AIMD concurrency limit for one vault or tenant: halve on throttling,
//! grow by about one slot per `limit` successes, and after a 429 let no new call start until the
//! server's `Retry-After` (or, without one, a pause of a second) has passed, so a throttled vault
//! sees about one probing call per second instead of every waiting call at once. This module decides;
//! it does not send requests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

use azure_core::http::StatusCode;
use azure_core::http::headers::{
    HeaderName, Headers, RETRY_AFTER, RETRY_AFTER_MS, X_MS_RETRY_AFTER_MS,
};
use azure_core::http::policies::{RetryHeaders, RetryPolicy};
use time::OffsetDateTime;

/// HTTP statuses worth retrying unchanged.
pub const TRANSIENT_STATUSES: [u16; 6] = [408, 429, 500, 502, 503, 504];

/// Whether an HTTP status is transient (retrying the same request later may succeed).
pub fn is_transient_status(status: u16) -> bool {
    TRANSIENT_STATUSES.contains(&status)
}

/// Exponential backoff with jitter, honouring `Retry-After` up to a cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait before the first retry (before jitter).
    pub initial: Duration,
    /// The longest computed wait (after jitter).
    pub max_delay: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The longest server-requested wait honoured; a longer `Retry-After` is cut to this.
    pub max_retry_after: Duration,
    /// No retry starts after this much time since the first attempt.
    pub max_elapsed: Duration,
}

impl Backoff {
    /// Key Vault: its captured 429 carries no `Retry-After`, so 1, 2, 4, 8, 16 s (+ jitter).
    pub const KEY_VAULT: Backoff = Backoff {
        initial: Duration::from_secs(1),
        max_delay: Duration::from_secs(20),
        max_retries: 5,
        max_retry_after: Duration::from_secs(60),
        max_elapsed: Duration::from_secs(90),
    };

    /// Entra ID's token endpoint: throttling says `Retry-After: 60`; three retries at most.
    pub const ENTRA: Backoff = Backoff {
        initial: Duration::from_secs(1),
        max_delay: Duration::from_secs(20),
        max_retries: 3,
        max_retry_after: Duration::from_secs(60),
        max_elapsed: Duration::from_secs(90),
    };

    /// The wait before retry number `retry` (1-based): `initial · 2^(retry-1)`, stretched by a
    /// random factor in [1, 1.5), capped at `max_delay`.
    pub fn delay(&self, retry: u32) -> Duration {
        self.delay_with_jitter(retry, jitter_fraction())
    }

    /// [`Backoff::delay`] with the random fraction (0 ≤ `jitter` < 1) given.
    pub fn delay_with_jitter(&self, retry: u32, jitter: f64) -> Duration {
        let exp = retry.saturating_sub(1).min(16);
        let base = self.initial.saturating_mul(1u32 << exp);
        base.mul_f64(1.0 + 0.5 * jitter.clamp(0.0, 1.0))
            .min(self.max_delay)
    }

    /// The wait before retry number `retry`, given what the server asked for.
    pub fn wait(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            // A little jitter on top, so that clients told the same time do not return together.
            Some(ra) => {
                ra.min(self.max_retry_after)
                    + Duration::from_millis((jitter_fraction() * 250.0) as u64)
            }
            None => self.delay(retry),
        }
    }

    /// Whether retry number `retry` (1-based) may still start, `elapsed` after the first attempt.
    pub fn allows(&self, retry: u32, elapsed: Duration) -> bool {
        retry <= self.max_retries && elapsed < self.max_elapsed
    }
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP-date (RFC 7231 IMF-fixdate). A date in
/// the past means "now". Anything else is ignored (`None`), and the caller backs off itself.
pub fn parse_retry_after(value: &str, now: OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = azure_core::time::parse_rfc7231(value).ok()?;
    let diff = at - now;
    Some(if diff.is_negative() {
        Duration::ZERO
    } else {
        Duration::try_from(diff).unwrap_or(Duration::ZERO)
    })
}

/// The `Retry-After` of a reqwest response, if present and readable.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, OffsetDateTime::now_utc())
}

/// The server's requested wait in an Azure SDK response: `x-ms-retry-after-ms`,
/// `retry-after-ms`, or `Retry-After` (seconds or HTTP-date), the first readable one.
///
/// Called on every response, so an absent header must cost a hash lookup and nothing more:
/// see [`sdk_header`].
pub fn sdk_retry_after(headers: &Headers) -> Option<Duration> {
    for name in [X_MS_RETRY_AFTER_MS, RETRY_AFTER_MS] {
        if let Some(ms) = sdk_header(headers, &name).and_then(|v| v.trim().parse::<u64>().ok()) {
            return Some(Duration::from_millis(ms));
        }
    }
    parse_retry_after(
        sdk_header(headers, &RETRY_AFTER)?,
        OffsetDateTime::now_utc(),
    )
}

/// A header of an Azure SDK request or response, `None` when absent, without building an error.
///
/// `Headers::get_optional_str` is `get_str(..).ok()`: for an absent header it constructs a
/// `typespec` error and drops it, and that error captures a full backtrace whenever
/// `RUST_BACKTRACE=1` is set (as it often is in containers). On the success path of every
/// request that was measurable CPU (bench/README.md, "Errors on the success path").
/// Every other getter builds something too: `get_optional_with` formats its would-be error
/// message (the header's name and value) even when the parser succeeds, which for the
/// `Content-Length` of every response was 1.7 % of a paced cycle's CPU (bench/README.md, "CPU
/// per token against the lean client"). A response carries a dozen headers: a scan of them
/// builds nothing.
pub fn sdk_header<'a>(headers: &'a Headers, name: &HeaderName) -> Option<&'a str> {
    headers
        .iter()
        .find_map(|(k, v)| (k == name).then(|| v.as_str()))
}

/// A random fraction in [0, 1) for jitter: SplitMix64 over a counter and the clock. Not
/// cryptography; it only has to differ between concurrent callers.
fn jitter_fraction() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
    let mut z = COUNTER
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(nanos);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// [`Backoff`] as the Azure SDK's retry policy (`ClientOptions.retry =
/// RetryOptions::custom(Arc::new(SdkRetryPolicy::key_vault()))`). The SDK retries the statuses
/// listed here and its transport errors (`Io`, `Connection`); it reads `Retry-After` (and the
/// `*-retry-after-ms` headers) on 429 and 503 only.
#[derive(Debug, Clone)]
pub struct SdkRetryPolicy {
    backoff: Backoff,
    headers: RetryHeaders,
    statuses: Vec<StatusCode>,
}

impl SdkRetryPolicy {
    pub fn new(backoff: Backoff) -> Self {
        SdkRetryPolicy {
            backoff,
            headers: RetryHeaders {
                retry_headers: vec![X_MS_RETRY_AFTER_MS, RETRY_AFTER_MS, RETRY_AFTER],
            },
            statuses: TRANSIENT_STATUSES
                .iter()
                .map(|s| StatusCode::from(*s))
                .collect(),
        }
    }

    pub fn key_vault() -> Self {
        Self::new(Backoff::KEY_VAULT)
    }
}

fn to_time(d: Duration) -> azure_core::time::Duration {
    azure_core::time::Duration::try_from(d).unwrap_or(azure_core::time::Duration::MAX)
}

fn from_time(d: azure_core::time::Duration) -> Duration {
    Duration::try_from(d).unwrap_or(Duration::ZERO)
}

#[async_trait::async_trait]
impl RetryPolicy for SdkRetryPolicy {
    fn is_expired(&self, elapsed: azure_core::time::Duration, retry_count: u32) -> bool {
        // `retry_count` retries have happened; the next would be number `retry_count + 1`.
        !self.backoff.allows(retry_count + 1, from_time(elapsed))
    }

    fn retry_headers(&self) -> Option<&RetryHeaders> {
        Some(&self.headers)
    }

    fn retry_status_codes(&self) -> &[StatusCode] {
        &self.statuses
    }

    fn sleep_duration(&self, retry_count: u32) -> azure_core::time::Duration {
        to_time(self.backoff.delay(retry_count))
    }

    async fn wait(&self, retry_count: u32, retry_after: Option<azure_core::time::Duration>) {
        let wait = self.backoff.wait(retry_count, retry_after.map(from_time));
        tracing::debug!(
            event = "sdk_retry",
            retry = retry_count,
            wait_ms = wait.as_millis() as u64,
            server_asked = retry_after.is_some(),
            "retrying a transient Azure SDK failure"
        );
        crate::net::slots::released_while(tokio::time::sleep(wait)).await;
    }
}

/// Bounds for an [`AdaptiveLimit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveConfig {
    /// The limit to start with.
    pub initial: usize,
    /// Never fewer concurrent calls than this (≥ 1).
    pub min: usize,
    /// Never more than this.
    pub max: usize,
    /// After a cut, further throttling signals within this time do not cut again: one
    /// throttled window produces many 429s at once and should halve the limit only once.
    pub cooldown: Duration,
    /// After a 429 without `Retry-After`, no new call starts for this long. Key Vault's 429
    /// has none and its window reopens unannounced: this is how late a probe may find it open.
    pub pause: Duration,
}

/// The longest pause a `Retry-After` can impose on a vault or tenant.
pub const MAX_PAUSE: Duration = Duration::from_secs(60);

impl AdaptiveConfig {
    /// Starts at `concurrency`, the most it may grow back to; never below one.
    pub fn for_concurrency(concurrency: usize) -> Self {
        let c = concurrency.max(1);
        AdaptiveConfig {
            initial: c,
            min: 1,
            max: c,
            cooldown: Duration::from_secs(1),
            // Measured with bench/ against Key Vault's fixed 10 s window: 0.5 s probes more
            // often but drives more calls into their longer backoff steps, leaving the next
            // window idle for longer (87.0 % of the budget used instead of 93.3-96.8 %).
            pause: Duration::from_secs(1),
        }
    }
}

#[derive(Debug)]
struct LimitState {
    limit: f64,
    in_flight: usize,
    last_cut: Option<Instant>,
    /// No new call starts before this (set by a 429).
    paused_until: Option<Instant>,
}

/// An AIMD concurrency limit for one vault or tenant: [`AdaptiveLimit::acquire`] waits for a
/// slot; [`AdaptiveLimit::on_throttled`] halves the limit (at most once per cooldown);
/// [`AdaptiveLimit::on_success`] adds `1/limit`, i.e. about one slot per `limit` successes.
/// Calls already running when the limit shrinks finish; new ones wait until below it.
#[derive(Debug)]
pub struct AdaptiveLimit {
    config: AdaptiveConfig,
    state: Mutex<LimitState>,
    released: tokio::sync::Notify,
}

/// A slot taken from an [`AdaptiveLimit`]; dropping it frees the slot.
#[derive(Debug)]
pub struct LimitPermit {
    owner: Arc<AdaptiveLimit>,
}

impl Drop for LimitPermit {
    fn drop(&mut self) {
        {
            let mut s = self.owner.lock();
            s.in_flight = s.in_flight.saturating_sub(1);
        }
        self.owner.released.notify_waiters();
    }
}

impl AdaptiveLimit {
    pub fn new(config: AdaptiveConfig) -> Arc<Self> {
        let min = config.min.max(1);
        let max = config.max.max(min);
        let config = AdaptiveConfig {
            min,
            max,
            initial: config.initial.clamp(min, max),
            ..config
        };
        Arc::new(AdaptiveLimit {
            config,
            state: Mutex::new(LimitState {
                limit: config.initial as f64,
                in_flight: 0,
                last_cut: None,
                paused_until: None,
            }),
            released: tokio::sync::Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimitState> {
        // A panic while holding this lock cannot leave the counters inconsistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current limit (whole slots).
    pub fn limit(&self) -> usize {
        (self.lock().limit.floor() as usize).max(self.config.min)
    }

    /// Calls holding a slot now.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    /// Takes a slot now if one is free and no pause is in force.
    pub fn try_acquire(self: &Arc<Self>) -> Option<LimitPermit> {
        self.try_acquire_at(Instant::now()).ok()
    }

    /// `Err(Some(t))`: paused until `t`; `Err(None)`: every slot is taken.
    fn try_acquire_at(self: &Arc<Self>, now: Instant) -> Result<LimitPermit, Option<Instant>> {
        let mut s = self.lock();
        if let Some(until) = s.paused_until {
            if until > now {
                return Err(Some(until));
            }
            s.paused_until = None;
        }
        let limit = (s.limit.floor() as usize).max(self.config.min);
        if s.in_flight < limit {
            s.in_flight += 1;
            Ok(LimitPermit {
                owner: self.clone(),
            })
        } else {
            Err(None)
        }
    }

    /// Waits for a slot (and for a pause to end).
    pub async fn acquire(self: &Arc<Self>) -> LimitPermit {
        loop {
            // Registered before the check, so a release between the check and the await is seen.
            let released = self.released.notified();
            match self.try_acquire_at(Instant::now()) {
                Ok(p) => return p,
                Err(Some(until)) => tokio::time::sleep_until(until).await,
                Err(None) => released.await,
            }
        }
    }

    /// Whether a pause after throttling is in force.
    pub fn paused(&self) -> bool {
        self.lock().paused_until.is_some_and(|t| t > Instant::now())
    }

    /// A call succeeded without being throttled: grow by `1/limit`.
    pub fn on_success(&self) {
        let grew = {
            let mut s = self.lock();
            let before = s.limit.floor();
            s.limit = (s.limit + 1.0 / s.limit.max(1.0)).min(self.config.max as f64);
            s.limit.floor() > before
        };
        if grew {
            self.released.notify_waiters();
        }
    }

    /// The service throttled a call (429): halve, unless cut within the cooldown already, and
    /// start no new call for `retry_after` (capped at [`MAX_PAUSE`]) or else the pause.
    pub fn on_throttled(&self, retry_after: Option<Duration>) {
        self.on_throttled_at(Instant::now(), retry_after);
    }

    fn on_throttled_at(&self, now: Instant, retry_after: Option<Duration>) {
        let mut s = self.lock();
        let until = now + retry_after.unwrap_or(self.config.pause).min(MAX_PAUSE);
        s.paused_until = Some(s.paused_until.map_or(until, |t| t.max(until)));
        if s.last_cut
            .is_some_and(|t| now.saturating_duration_since(t) < self.config.cooldown)
        {
            return;
        }
        s.limit = (s.limit / 2.0).max(self.config.min as f64);
        s.last_cut = Some(now);
    }

    /// Feeds a response status: 429 cuts and pauses, any other answer below 500 counts as
    /// success; server errors and connection failures (status 0) count as neither.
    pub fn observe(&self, status: u16, retry_after: Option<Duration>) {
        if status == 429 {
            self.on_throttled(retry_after);
        } else if status != 0 && status < 500 {
            self.on_success();
        }
    }
}

/// One [`AdaptiveLimit`] per key (a vault's host and port, or a tenant id), created on first use.
#[derive(Debug)]
pub struct AdaptiveLimits {
    config: AdaptiveConfig,
    limits: Mutex<HashMap<String, Arc<AdaptiveLimit>>>,
}

impl AdaptiveLimits {
    pub fn new(config: AdaptiveConfig) -> Arc<Self> {
        Arc::new(AdaptiveLimits {
            config,
            limits: Mutex::new(HashMap::new()),
        })
    }

    /// The limit for `key`.
    pub fn get(&self, key: &str) -> Arc<AdaptiveLimit> {
        let mut map = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key.to_ascii_lowercase())
            .or_insert_with(|| AdaptiveLimit::new(self.config))
            .clone()
    }

    /// The key of a URL: `host:port` (the port defaulted), so one vault is one key.
    pub fn key_of(url: &url::Url) -> String {
        format!(
            "{}:{}",
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn key_vault_backoff_is_1_2_4_8_16_seconds_plus_at_most_half() {
        let b = Backoff::KEY_VAULT;
        for (retry, secs) in [(1, 1u64), (2, 2), (3, 4), (4, 8), (5, 16)] {
            assert_eq!(b.delay_with_jitter(retry, 0.0), Duration::from_secs(secs));
            let most = b.delay_with_jitter(retry, 0.999);
            assert!(most >= Duration::from_secs(secs));
            assert!(
                most <= Duration::from_secs(secs).mul_f64(1.5).min(b.max_delay),
                "{most:?}"
            );
        }
        assert_eq!(b.delay_with_jitter(12, 0.5), b.max_delay);
        for retry in 1..=5 {
            let d = b.delay(retry);
            assert!(d >= b.delay_with_jitter(retry, 0.0) && d <= b.max_delay);
        }
    }

    #[test]
    fn jitter_differs_between_calls() {
        let a: Vec<Duration> = (0..20).map(|_| Backoff::KEY_VAULT.delay(3)).collect();
        assert!(a.iter().any(|d| *d != a[0]), "{a:?}");
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_an_http_date() {
        let now = OffsetDateTime::from_unix_timestamp(1_445_412_480).unwrap(); // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }

    #[test]
    fn sdk_headers_are_read_without_an_error_for_an_absent_one() {
        let mut headers = Headers::new();
        assert_eq!(sdk_retry_after(&headers), None);
        assert_eq!(sdk_header(&headers, &RETRY_AFTER), None);
        headers.insert(RETRY_AFTER_MS, "40");
        assert_eq!(sdk_header(&headers, &RETRY_AFTER), None);
        assert_eq!(sdk_header(&headers, &RETRY_AFTER_MS), Some("40"));
        headers.remove(RETRY_AFTER_MS);
        headers.insert(RETRY_AFTER, "7");
        assert_eq!(sdk_header(&headers, &RETRY_AFTER), Some("7"));
        assert_eq!(sdk_retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(RETRY_AFTER_MS, "1500");
        assert_eq!(sdk_retry_after(&headers), Some(Duration::from_millis(1500)));
        headers.insert(X_MS_RETRY_AFTER_MS, " 250 ");
        assert_eq!(sdk_retry_after(&headers), Some(Duration::from_millis(250)));
    }

    #[test]
    fn a_server_wait_is_honoured_up_to_the_cap() {
        let b = Backoff::ENTRA;
        let w = b.wait(1, Some(Duration::from_secs(7)));
        assert!(w >= Duration::from_secs(7) && w < Duration::from_millis(7250));
        let w = b.wait(1, Some(Duration::from_secs(3600)));
        assert!(w >= b.max_retry_after && w < b.max_retry_after + Duration::from_millis(250));
        assert!(b.allows(3, Duration::ZERO));
        assert!(!b.allows(4, Duration::ZERO));
        assert!(!b.allows(1, b.max_elapsed));
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_transient_status(s), "{s}");
        }
        for s in [200, 400, 401, 403, 404, 409, 501, 505] {
            assert!(!is_transient_status(s), "{s}");
        }
        let p = SdkRetryPolicy::key_vault();
        assert_eq!(p.retry_status_codes().len(), 6);
        assert!(!p.is_expired(azure_core::time::Duration::ZERO, 4));
        assert!(p.is_expired(azure_core::time::Duration::ZERO, 5));
    }

    fn config(initial: usize, min: usize, max: usize) -> AdaptiveConfig {
        AdaptiveConfig {
            initial,
            min,
            max,
            cooldown: Duration::from_secs(1),
            pause: Duration::from_millis(500),
        }
    }

    #[test]
    fn the_limit_halves_on_throttling_once_per_cooldown_and_never_below_min() {
        let l = AdaptiveLimit::new(config(16, 2, 64));
        let t0 = Instant::now();
        l.on_throttled_at(t0, None);
        assert_eq!(l.limit(), 8);
        l.on_throttled_at(t0 + Duration::from_millis(500), None);
        assert_eq!(l.limit(), 8, "same burst: one cut");
        l.on_throttled_at(t0 + Duration::from_millis(1500), None);
        assert_eq!(l.limit(), 4);
        for i in 0..10 {
            l.on_throttled_at(t0 + Duration::from_secs(3 + 2 * i), None);
        }
        assert_eq!(l.limit(), 2);
    }

    #[test]
    fn the_limit_grows_by_about_one_per_limit_successes_up_to_max() {
        let l = AdaptiveLimit::new(config(4, 1, 6));
        for _ in 0..4 {
            l.on_success();
        }
        assert_eq!(l.limit(), 4, "+1/4.0, +1/4.25, … stays just under 5");
        l.on_success();
        assert_eq!(l.limit(), 5);
        for _ in 0..1000 {
            l.on_success();
        }
        assert_eq!(l.limit(), 6);
        l.observe(429, None);
        assert_eq!(l.limit(), 3);
        l.observe(503, None);
        assert_eq!(l.limit(), 3, "a server error neither grows nor cuts");
    }

    #[test]
    fn permits_are_bounded_by_the_limit_and_released_on_drop() {
        let l = AdaptiveLimit::new(config(2, 1, 4));
        let a = l.try_acquire().unwrap();
        let _b = l.try_acquire().unwrap();
        assert!(l.try_acquire().is_none());
        assert_eq!(l.in_flight(), 2);
        drop(a);
        assert!(l.try_acquire().is_some());
        // After a cut to 1, the two running calls finish first.
        let l = AdaptiveLimit::new(config(2, 1, 4));
        let a = l.try_acquire().unwrap();
        let b = l.try_acquire().unwrap();
        l.on_throttled(Some(Duration::ZERO));
        drop(a);
        assert!(l.try_acquire().is_none(), "one still running, limit 1");
        drop(b);
        assert!(l.try_acquire().is_some());
    }

    #[tokio::test]
    async fn waiters_get_a_slot_when_one_is_released_and_concurrency_never_exceeds_the_limit() {
        let l = AdaptiveLimit::new(config(3, 1, 3));
        let peak = Arc::new(AtomicU64::new(0));
        let now = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..24 {
            let (l, peak, now) = (l.clone(), peak.clone(), now.clone());
            tasks.push(tokio::spawn(async move {
                let _p = l.acquire().await;
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
                now.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert!(peak.load(Ordering::SeqCst) <= 3);
        assert_eq!(l.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_429_no_call_starts_until_retry_after_or_the_pause_has_passed() {
        let l = AdaptiveLimit::new(config(4, 1, 8));
        let t0 = tokio::time::Instant::now();
        l.observe(429, Some(Duration::from_secs(7)));
        assert!(l.paused());
        assert!(l.try_acquire().is_none(), "paused although slots are free");
        let p = l.acquire().await;
        assert_eq!(t0.elapsed(), Duration::from_secs(7));
        drop(p);
        // Without Retry-After: the pause; a longer pause already in force is not shortened.
        l.observe(429, Some(Duration::from_secs(3)));
        l.observe(429, None);
        let t1 = tokio::time::Instant::now();
        drop(l.acquire().await);
        assert_eq!(t1.elapsed(), Duration::from_secs(3));
        // A hostile Retry-After is capped.
        l.observe(429, Some(Duration::from_secs(86_400)));
        let t2 = tokio::time::Instant::now();
        drop(l.acquire().await);
        assert_eq!(t2.elapsed(), MAX_PAUSE);
        assert!(!l.paused());
        // No Retry-After at all (Key Vault): the configured pause.
        l.observe(429, None);
        let t3 = tokio::time::Instant::now();
        drop(l.acquire().await);
        assert_eq!(
            t3.elapsed(),
            Duration::from_millis(500),
            "the test's own pause"
        );
    }

    #[test]
    fn limits_are_per_vault_host_and_port() {
        let limits = AdaptiveLimits::new(config(8, 1, 8));
        let a = url::Url::parse("https://a.vault.azure.net/").unwrap();
        let b = url::Url::parse("https://b.vault.azure.net:443/secrets/x").unwrap();
        let la = limits.get(&AdaptiveLimits::key_of(&a));
        let lb = limits.get(&AdaptiveLimits::key_of(&b));
        limits
            .get(&AdaptiveLimits::key_of(&a.join("/secrets/y").unwrap()))
            .observe(429, None);
        assert_eq!(la.limit(), 4);
        assert_eq!(lb.limit(), 8);
        assert_eq!(AdaptiveLimits::key_of(&b), "b.vault.azure.net:443");
    }
}
