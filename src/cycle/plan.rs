//! The plan of a cycle: one paged listing of secret properties per vault, and from it, for each
//! token target, whether its stored token is still fresh.

use std::collections::HashMap;

use time::OffsetDateTime;
use url::Url;

use super::tags;
use crate::azure::vault::{KeyVaults, SecretMeta};
use crate::config::{App, TokenTarget};
use crate::error::{ErrorClass, SetupError};

/// The secret properties of every vault that could be listed, by lower-cased name (Key Vault
/// names are case-insensitive).
pub(super) struct Listings(HashMap<Url, HashMap<String, SecretMeta>>);

impl Listings {
    /// Lists every vault the apps use, once. A vault the rotator cannot authenticate to (exit
    /// code 2) or cannot reach (exit code 3) stops the cycle; any other listing failure (listing
    /// not permitted, throttling past the retries) falls back to per-secret reads, with a note.
    pub(super) async fn of(
        vaults: &KeyVaults,
        apps: &[&App],
        notes: &mut Vec<String>,
    ) -> Result<Listings, SetupError> {
        let mut listings = HashMap::new();
        let mut urls: Vec<&Url> = apps
            .iter()
            .flat_map(|a| {
                std::iter::once(&*a.client_secret_vault).chain(a.targets.iter().map(|t| &*t.vault))
            })
            .collect();
        urls.sort();
        urls.dedup();
        for vault in urls {
            match vaults.list(vault).await {
                Ok(items) => {
                    let map = items
                        .into_iter()
                        .map(|m| (m.name.to_ascii_lowercase(), m))
                        .collect();
                    listings.insert(vault.clone(), map);
                }
                // Nothing can work without the rotator's credential or a reachable vault.
                Err(e)
                    if matches!(
                        e.class,
                        ErrorClass::RotatorCredential | ErrorClass::Unreachable
                    ) =>
                {
                    return Err(e.into());
                }
                Err(e) => {
                    tracing::warn!(event = "vault_list_fallback", vault = %vault, class = %e.class, error = %e.message, "listing failed; falling back to per-secret reads");
                    notes.push(format!(
                        "listing secrets in {vault} failed ({}: {}); fell back to per-secret reads",
                        e.class, e.message
                    ));
                }
            }
        }
        Ok(Listings(listings))
    }

    /// Whether the vault could be listed.
    pub(super) fn covers(&self, vault: &Url) -> bool {
        self.0.contains_key(vault)
    }

    /// The listed properties of a secret; `None` when it is not listed or the vault was not.
    pub(super) fn get(&self, vault: &Url, name: &str) -> Option<&SecretMeta> {
        self.0.get(vault)?.get(&name.to_ascii_lowercase())
    }

    /// Every listed secret, with its vault.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&Url, &SecretMeta)> {
        self.0
            .iter()
            .flat_map(|(vault, secrets)| secrets.values().map(move |m| (vault, m)))
    }

    /// Records a secret the rotator wrote since the listing, as a relisting would show it (in a
    /// vault that was listed; the others are read per secret anyway).
    pub(super) fn record(&mut self, vault: &Url, meta: SecretMeta) {
        if let Some(secrets) = self.0.get_mut(vault) {
            secrets.insert(meta.name.to_ascii_lowercase(), meta);
        }
    }
}

/// One token target before any work: what is stored and whether it is still fresh.
pub(super) struct TargetPlan<'a> {
    pub target: &'a TokenTarget,
    pub stored: Option<SecretMeta>,
    pub fresh: bool,
}

impl TargetPlan<'_> {
    /// Whether the target needs a new token this cycle.
    pub(super) fn due(&self) -> bool {
        !self.fresh
    }
}

/// Plans one app's targets from the listings, reading a stored token's properties one by one
/// only where its vault could not be listed.
pub(super) async fn plan_targets<'a>(
    vaults: &KeyVaults,
    listings: &Listings,
    app: &'a App,
    now: OffsetDateTime,
) -> Vec<TargetPlan<'a>> {
    let mut plans = Vec::with_capacity(app.targets.len());
    for target in &app.targets {
        let stored = if listings.covers(&target.vault) {
            listings.get(&target.vault, &target.secret_name).cloned()
        } else {
            read_meta(vaults, &target.vault, &target.secret_name).await
        };
        let fresh = stored
            .as_ref()
            .is_some_and(|m| is_fresh(m, app, target, now));
        plans.push(TargetPlan {
            target,
            stored,
            fresh,
        });
    }
    plans
}

/// Per-secret fallback when listing is not permitted: read the stored token's properties.
async fn read_meta(vaults: &KeyVaults, vault: &Url, name: &str) -> Option<SecretMeta> {
    match vaults.read(vault, name).await {
        Ok(v) => Some(v.meta),
        Err(e) => {
            tracing::debug!(event = "token_read_fallback_failed", vault = %vault, secret = name, class = %e.class, "stored token not readable");
            None
        }
    }
}

/// A stored token is fresh when it is enabled, was written for this app and scope, and its
/// [`refresh_moment`] has not come yet.
pub(super) fn is_fresh(
    m: &SecretMeta,
    app: &App,
    target: &TokenTarget,
    now: OffsetDateTime,
) -> bool {
    m.enabled
        && stored_refresh_moment(m, target).is_some_and(|at| now < at)
        && m.tags
            .get(tags::SCOPE)
            .is_some_and(|s| **s == *target.scope)
        && m.tags
            .get(tags::CLIENT_ID)
            .is_some_and(|c| c.eq_ignore_ascii_case(&app.client_id))
}

/// When a stored token comes due, when it records its `exp`: its `refresh-at` tag, else its
/// [`refresh_moment`] (see `cycle::leveling`).
pub(super) fn stored_refresh_moment(
    m: &SecretMeta,
    target: &TokenTarget,
) -> Option<OffsetDateTime> {
    let exp = m.expires?;
    Some(super::leveling::planned_moment(
        m,
        &target.secret_name,
        exp,
        target.refresh_before,
    ))
}

/// Where a token's life counts from for the half-life floor: the later of its `nbf` and when its
/// version was written. Entra ID dates `nbf` (and `iat`) five minutes back for clock skew, so
/// `nbf` alone would put the floor five minutes early: a token living less than ten minutes
/// would already be past half its life when written, and be rewritten on every run.
pub fn life_start(
    nbf: Option<OffsetDateTime>,
    written: Option<OffsetDateTime>,
) -> Option<OffsetDateTime> {
    match (nbf, written) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// When a token is refreshed: a moment drawn uniformly between `exp − refresh_before` and
/// `exp − refresh_before/2`, and never before half its life (from `start`, see [`life_start`],
/// to `exp`) has passed.
///
/// Tokens written together (a cold start, a restored vault) expire together; refreshed all at
/// `exp − refresh_before` they would come due together again every lifetime, each time a burst
/// against the vault's write budget. Drawn apart, the burst flattens a little more every
/// lifetime. The draw is a hash of the token secret's name and the token's `exp`, not a random
/// number: every run, `once` or a daemon, on any machine, finds the same moment for the same
/// stored token, so overlapping runs agree on what is due, and a new token (a new `exp`) draws
/// anew. However tokens and `refresh_before` compare, a token is rewritten at most twice per
/// lifetime and never after it expired (the moment is before `exp`).
pub fn refresh_moment(
    secret_name: &str,
    exp: OffsetDateTime,
    start: Option<OffsetDateTime>,
    refresh_before: std::time::Duration,
) -> OffsetDateTime {
    let refresh = time::Duration::try_from(refresh_before).unwrap_or(time::Duration::MAX);
    let earliest = exp.checked_sub(refresh).unwrap_or(exp);
    let drawn: OffsetDateTime = earliest + (refresh / 2_i32) * spread_fraction(secret_name, exp);
    match half_life(exp, start) {
        Some(floor) => drawn.max(floor),
        None => drawn,
    }
}

/// Half way through a token's life from `start` (see [`life_start`]) to `exp`: no refresh comes
/// before it. `None` when the start is unknown or not before `exp`.
pub(super) fn half_life(
    exp: OffsetDateTime,
    start: Option<OffsetDateTime>,
) -> Option<OffsetDateTime> {
    start.filter(|s| exp > *s).map(|s| s + (exp - s) / 2)
}

/// A fraction in [0, 1) from a token secret's name (case-insensitive, as Key Vault's names) and
/// its `exp`: FNV-1a, then SplitMix64's finaliser so that names one character apart land far
/// apart.
fn spread_fraction(secret_name: &str, exp: OffsetDateTime) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = secret_name
        .bytes()
        .map(|b| b.to_ascii_lowercase())
        .chain(exp.unix_timestamp().to_le_bytes());
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether tokens of this lifetime reach `refresh_before` before half their life: then the
/// half-life rule of [`is_fresh`] decides when they are rewritten, and the config should say so.
pub(super) fn lifetime_shorter_than_expected(
    lifetime: time::Duration,
    refresh_before: std::time::Duration,
) -> bool {
    let refresh = time::Duration::try_from(refresh_before).unwrap_or(time::Duration::MAX);
    refresh > lifetime / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minutes(n: i64) -> time::Duration {
        time::Duration::minutes(n)
    }

    const THIRTY_MINUTES: std::time::Duration = std::time::Duration::from_secs(30 * 60);
    const PINNED_MOMENT: OffsetDateTime =
        time::macros::datetime!(2026-12-01 10:37:47.531511762 UTC);

    #[test]
    fn a_token_is_rewritten_at_most_twice_per_lifetime_and_never_after_it_expired() {
        let nbf = time::macros::datetime!(2026-12-01 10:00 UTC);
        // A 10-minute token against refresh_before = 30m: due at half its life.
        let exp = nbf + minutes(10);
        let at = refresh_moment("t", exp, Some(nbf), THIRTY_MINUTES);
        assert_eq!(at, nbf + minutes(5));
        // No nbf recorded: only refresh_before decides (already due when written).
        let at = refresh_moment("t", exp, None, THIRTY_MINUTES);
        assert!(at >= exp - minutes(30) && at <= exp - minutes(15), "{at}");
        // An hour's token: within the window, always before it expires.
        let exp = nbf + minutes(60);
        let at = refresh_moment("t", exp, Some(nbf), THIRTY_MINUTES);
        assert!(at >= exp - minutes(30) && at <= exp - minutes(15), "{at}");
    }

    /// Entra ID dates `nbf` five minutes back: a short token's half-life floor counts from when
    /// it was written, or a 4-minute token would be due again the moment it is written.
    #[test]
    fn the_half_life_floor_counts_from_the_write_not_from_a_backdated_nbf() {
        let written = time::macros::datetime!(2026-12-01 10:00 UTC);
        let nbf = written - minutes(5);
        let exp = written + minutes(4);
        let start = life_start(Some(nbf), Some(written));
        assert_eq!(start, Some(written));
        let at = refresh_moment("t", exp, start, THIRTY_MINUTES);
        assert_eq!(at, written + minutes(2));
        // From the backdated nbf alone the floor would lie before the write.
        assert!(refresh_moment("t", exp, Some(nbf), THIRTY_MINUTES) < written);
        // Either one alone still serves.
        assert_eq!(life_start(None, Some(written)), Some(written));
        assert_eq!(life_start(Some(nbf), None), Some(nbf));
        assert_eq!(life_start(None, None), None);
    }

    /// The moment depends on the secret's name and the token's exp only: pinned here, so a
    /// change that made it differ between runs or machines (a random seed, a per-process hash)
    /// fails.
    #[test]
    fn refresh_moments_are_stable_across_runs() {
        let exp = time::macros::datetime!(2026-12-01 11:00 UTC);
        let nbf = Some(exp - minutes(60));
        let at = refresh_moment("sales-powerbi-token", exp, nbf, THIRTY_MINUTES);
        assert_eq!(at, PINNED_MOMENT);
        assert_eq!(
            refresh_moment("SALES-PowerBI-Token", exp, nbf, THIRTY_MINUTES),
            at,
            "Key Vault names are case-insensitive"
        );
        let other_exp =
            refresh_moment("sales-powerbi-token", exp + minutes(1), nbf, THIRTY_MINUTES);
        assert_ne!(other_exp - minutes(1), at, "a new token draws anew");
    }

    /// 1,000 tokens written together (same exp) come due spread over the whole window: split
    /// into ten equal parts, none holds more than its tenth plus 30 %, and every part is used.
    #[test]
    fn refresh_moments_of_tokens_written_together_are_spread_over_the_window() {
        let exp = time::macros::datetime!(2026-12-01 11:00 UTC);
        let nbf = Some(exp - minutes(75));
        let earliest = exp - minutes(30);
        let mut buckets = [0usize; 10];
        for i in 0..1000 {
            let name = format!("app{i}-powerbi-token");
            let at = refresh_moment(&name, exp, nbf, THIRTY_MINUTES);
            assert!(at >= earliest && at <= exp - minutes(15), "{name}: {at}");
            let offset = (at - earliest).whole_milliseconds() as usize;
            buckets[(offset * 10 / (15 * 60 * 1000)).min(9)] += 1;
        }
        assert!(
            buckets.iter().all(|&n| (70..=130).contains(&n)),
            "{buckets:?}"
        );
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn a_token_just_written_is_not_due_again_before_half_its_life_whatever_refresh_before_says() {
        let cfg = crate::config::parse(
            std::path::Path::new("t.toml"),
            "vault = \"https://kv.vault.azure.net/\"\nrefresh_before = \"40m\"\n[[apps]]\nname = \"sales\"\ntenant_id = \"72f988bf-86f1-41af-91ab-2d7cd011db47\"\nclient_id = \"6a1c3e5f-7b9d-4f2a-8c6e-0d1f3a5b7c9e\"\nclient_secret_name = \"sales-secret\"\n[[apps.targets]]\nscope = \"https://analysis.windows.net/powerbi/api/.default\"\nsecret = \"sales-token\"\n",
        )
        .unwrap();
        let (app, target) = (&cfg.apps[0], &cfg.apps[0].targets[0]);
        let written = OffsetDateTime::now_utc();
        let token = |lifetime: i64| SecretMeta {
            name: target.secret_name.clone(),
            enabled: true,
            expires: Some(written + minutes(lifetime)),
            not_before: Some(written),
            updated: Some(written),
            content_type: Some(tags::TOKEN_CONTENT_TYPE.into()),
            tags: [
                (tags::SCOPE.to_string(), target.scope.to_string()),
                (tags::CLIENT_ID.to_string(), app.client_id.clone()),
            ]
            .into(),
        };
        // (lifetime, minutes since written, fresh): never due before half the lifetime, even a
        // 10-minute token with refresh_before = 40m; later, due at its refresh moment, between
        // 40 and 20 minutes before it expires, and certainly once 20 minutes are left.
        for (lifetime, age, fresh) in [
            (10, 0, true),
            (10, 4, true),
            (10, 5, false),
            (60, 0, true),
            (60, 29, true),
            (60, 40, false),
            (90, 49, true),
            (90, 70, false),
        ] {
            let now = written + minutes(age);
            assert_eq!(
                is_fresh(&token(lifetime), app, target, now),
                fresh,
                "a {lifetime}-minute token {age} minutes after it was written"
            );
        }
    }

    #[test]
    fn short_lifetimes_are_named() {
        let refresh = std::time::Duration::from_secs(30 * 60);
        assert!(lifetime_shorter_than_expected(minutes(10), refresh));
        assert!(lifetime_shorter_than_expected(minutes(59), refresh));
        assert!(!lifetime_shorter_than_expected(minutes(60), refresh));
        assert!(!lifetime_shorter_than_expected(minutes(90), refresh));
    }
}
