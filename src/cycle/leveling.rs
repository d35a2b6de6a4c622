//! Where in its refresh window a token written now should come due: at the second of that
//! window with the fewest refreshes already planned into the same vault.
//!
//! A hash alone ([`refresh_moment`]) spreads each token uniformly over its window, but a window
//! is only `refresh_before/2` long: tokens written in one burst (a cold start, a restored vault)
//! come due again in bursts a little wider each lifetime, for many lifetimes. Chosen against the
//! moments already planned, each new moment fills the emptiest part of its window, so the writes
//! a vault sees settle to an even pace within a lifetime or two. The chosen moment is written
//! into the token secret's `refresh-at` tag: every later run, `once` or a daemon, on any
//! machine, reads the same moment from the listing ([`planned_moment`]); a token without a valid
//! tag (written by an older release, or under another `refresh_before`) falls back to the hash.
//!
//! The planned load is rebuilt by each cycle from its listings (the tags of the token secrets
//! listed, and of those the cycle writes), per vault: Key Vault's write budget is per vault.

use std::collections::HashMap;
use std::sync::Mutex;

use time::OffsetDateTime;
use url::Url;

use super::plan::{Listings, half_life, life_start, refresh_moment};
use super::tags;
use crate::azure::vault::SecretMeta;

/// How far a tagged moment may lie outside the window computed from what the listing shows
/// (the write's `updated` time differs from the moment the writer chose by the write's own
/// duration).
const TAG_SLACK: time::Duration = time::Duration::seconds(5);

/// Refreshes planned per vault and second (Unix time).
#[derive(Debug, Default)]
pub(super) struct Leveling {
    load: Mutex<HashMap<Url, HashMap<i64, u32>>>,
}

/// The window a token's moment is drawn from: `[exp − refresh_before, exp − refresh_before/2]`,
/// neither end before half its life (from `start`), and the hash's moment in it.
struct Window {
    first: OffsetDateTime,
    last: OffsetDateTime,
    hashed: OffsetDateTime,
}

fn window(
    name: &str,
    exp: OffsetDateTime,
    start: Option<OffsetDateTime>,
    refresh_before: std::time::Duration,
) -> Window {
    let refresh = time::Duration::try_from(refresh_before).unwrap_or(time::Duration::MAX);
    let floor = half_life(exp, start).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let earliest = exp.checked_sub(refresh).unwrap_or(exp);
    let latest = exp.checked_sub(refresh / 2_i32).unwrap_or(exp);
    Window {
        first: earliest.max(floor),
        last: latest.max(floor),
        hashed: refresh_moment(name, exp, start, refresh_before),
    }
}

/// A stored token's moment: its `refresh-at` tag when the tag lies in the token's window (within
/// [`TAG_SLACK`]), else the hash's.
pub(super) fn planned_moment(
    m: &SecretMeta,
    name: &str,
    exp: OffsetDateTime,
    refresh_before: std::time::Duration,
) -> OffsetDateTime {
    let w = window(
        name,
        exp,
        life_start(m.not_before, m.updated),
        refresh_before,
    );
    m.tags
        .get(tags::REFRESH_AT)
        .and_then(|t| crate::timefmt::parse_rfc3339(t))
        .filter(|t| *t >= w.first - TAG_SLACK && *t <= w.last + TAG_SLACK && *t < exp)
        .unwrap_or(w.hashed)
}

/// The second of `[first, last]` with the fewest planned refreshes; among those, the one nearest
/// `preferred` (the hash's moment: stable, and spread when the load is even).
fn least_loaded(load: &HashMap<i64, u32>, first: i64, last: i64, preferred: i64) -> i64 {
    (first..=last.max(first))
        .min_by_key(|s| (load.get(s).copied().unwrap_or(0), (s - preferred).abs()))
        .unwrap_or(preferred)
}

impl Leveling {
    /// Starts over from the moments the listings' tags plan from `now` on.
    pub(super) fn reset_from(&self, listings: &Listings, now: OffsetDateTime) {
        let mut load: HashMap<Url, HashMap<i64, u32>> = HashMap::new();
        for (vault, meta) in listings.iter() {
            let Some(at) = meta
                .tags
                .get(tags::REFRESH_AT)
                .and_then(|t| crate::timefmt::parse_rfc3339(t))
                .filter(|t| *t >= now)
            else {
                continue;
            };
            *load
                .entry(vault.clone())
                .or_default()
                .entry(at.unix_timestamp())
                .or_default() += 1;
        }
        *self.load.lock().unwrap_or_else(|p| p.into_inner()) = load;
    }

    /// Chooses the moment of a token written now into `vault` and plans it.
    pub(super) fn choose(
        &self,
        vault: &Url,
        name: &str,
        exp: OffsetDateTime,
        start: Option<OffsetDateTime>,
        refresh_before: std::time::Duration,
    ) -> OffsetDateTime {
        let w = window(name, exp, start, refresh_before);
        let mut load = self.load.lock().unwrap_or_else(|p| p.into_inner());
        let vault_load = load.entry(vault.clone()).or_default();
        let second = least_loaded(
            vault_load,
            w.first.unix_timestamp(),
            w.last.unix_timestamp(),
            w.hashed.unix_timestamp(),
        );
        *vault_load.entry(second).or_default() += 1;
        OffsetDateTime::from_unix_timestamp(second)
            .unwrap_or(w.hashed)
            .clamp(w.first.min(w.last), w.last.max(w.first))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + s).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn the_emptiest_second_wins_and_ties_go_to_the_hashs_moment() {
        let load = HashMap::from([(10, 3), (11, 1), (12, 1), (13, 0), (14, 2)]);
        assert_eq!(least_loaded(&load, 10, 14, 10), 13);
        let even = HashMap::new();
        assert_eq!(least_loaded(&even, 10, 14, 12), 12);
        assert_eq!(least_loaded(&even, 10, 10, 12), 10);
    }

    /// 1,000 tokens written in one 40 s burst, each living 120 s with `refresh_before` 50 s:
    /// levelled, their moments crowd any 10 s less than hashed ones do.
    #[test]
    fn a_burst_of_writes_comes_due_evenly() {
        let vault = Url::parse("https://kv.vault.azure.net/").unwrap_or_else(|_| unreachable!());
        let leveling = Leveling::default();
        let rb = Duration::from_secs(50);
        let mut levelled: HashMap<i64, u32> = HashMap::new();
        let mut hashed: HashMap<i64, u32> = HashMap::new();
        for i in 0..1000 {
            let written = at(i * 40 / 1000);
            let exp = written + time::Duration::seconds(120);
            let name = format!("app-{i}-powerbi-token");
            let m = leveling.choose(&vault, &name, exp, Some(written), rb);
            assert!(
                m >= exp - time::Duration::seconds(50) && m <= exp - time::Duration::seconds(25)
            );
            *levelled.entry(m.unix_timestamp()).or_default() += 1;
            let h = refresh_moment(&name, exp, Some(written), rb);
            *hashed.entry(h.unix_timestamp()).or_default() += 1;
        }
        // The most due in any 10 s (sliding, by whole seconds).
        let most_per_10s = |m: &HashMap<i64, u32>| {
            let first = m.keys().copied().min().unwrap_or(0);
            let last = m.keys().copied().max().unwrap_or(0);
            (first..=last)
                .map(|s| {
                    (s..s + 10)
                        .map(|t| m.get(&t).copied().unwrap_or(0))
                        .sum::<u32>()
                })
                .max()
                .unwrap_or(0)
        };
        // The windows cover 66 s (the 40 s of writes plus the 25 s window, plus the last second).
        let even = 1000.0 * 10.0 / 66.0;
        let (l, h) = (most_per_10s(&levelled), most_per_10s(&hashed));
        eprintln!("most due in 10 s: levelled {l}, hashed {h}, even {even:.1}");
        // Measured: levelled 200, hashed 256. One lifetime cannot spread a 40 s burst over more
        // than its 25 s windows allow (the best placement still puts about 160 in some 10 s);
        // the next lifetime starts from the levelled moments and spreads further.
        assert!(
            f64::from(l) <= even * 1.35,
            "levelled: {l} in 10 s against an even {even:.1}"
        );
        assert!(
            f64::from(l) <= f64::from(h) * 0.85,
            "levelled {l} against hashed {h} in 10 s"
        );
    }

    #[test]
    fn a_tag_outside_the_window_falls_back_to_the_hash() {
        let exp = at(1000);
        let rb = Duration::from_secs(600);
        let meta = |tag: &str| SecretMeta {
            name: "t".into(),
            enabled: true,
            expires: Some(exp),
            not_before: Some(at(-2600)),
            updated: Some(at(-2600)),
            content_type: None,
            tags: [(tags::REFRESH_AT.to_string(), tag.to_string())].into(),
        };
        let hashed = refresh_moment("t", exp, Some(at(-2600)), rb);
        let inside = crate::timefmt::rfc3339(at(500));
        assert_eq!(planned_moment(&meta(&inside), "t", exp, rb), at(500));
        for outside in [at(100), at(900), at(1000)] {
            let tag = crate::timefmt::rfc3339(outside);
            assert_eq!(planned_moment(&meta(&tag), "t", exp, rb), hashed, "{tag}");
        }
        assert_eq!(planned_moment(&meta("soon"), "t", exp, rb), hashed);
    }
}
