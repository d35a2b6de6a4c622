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
                std::iter::once(&a.client_secret_vault).chain(a.targets.iter().map(|t| &t.vault))
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

/// A stored token is fresh when it is enabled, was written for this app and scope, and has
/// more than `refresh_before` left, or has not yet lived half its life: however tokens and
/// `refresh_before` compare, a token is rewritten at most twice per lifetime and never after it
/// expired.
pub(super) fn is_fresh(
    m: &SecretMeta,
    app: &App,
    target: &TokenTarget,
    now: OffsetDateTime,
) -> bool {
    let refresh = time::Duration::try_from(target.refresh_before).unwrap_or(time::Duration::MAX);
    m.enabled
        && m.expires
            .is_some_and(|exp| exp - now > refresh || in_first_half(m, now))
        && m.tags.get(tags::SCOPE).is_some_and(|s| s == &target.scope)
        && m.tags
            .get(tags::CLIENT_ID)
            .is_some_and(|c| c.eq_ignore_ascii_case(&app.client_id))
}

/// Whether a stored token is still in the first half of its life (`nbf` to `exp`).
fn in_first_half(m: &SecretMeta, now: OffsetDateTime) -> bool {
    match (m.not_before, m.expires) {
        (Some(nbf), Some(exp)) if exp > nbf => now < nbf + (exp - nbf) / 2,
        _ => false,
    }
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

    #[test]
    fn a_token_is_rewritten_at_most_twice_per_lifetime_and_never_after_it_expired() {
        let now = OffsetDateTime::now_utc();
        let written = |age: i64, lifetime: i64| SecretMeta {
            name: "t".into(),
            enabled: true,
            expires: Some(now - minutes(age) + minutes(lifetime)),
            not_before: Some(now - minutes(age)),
            updated: Some(now - minutes(age)),
            content_type: Some("application/jwt".into()),
            tags: Default::default(),
        };
        // A 10-minute token: young for 5 minutes, then due; never "young" once expired.
        assert!(in_first_half(&written(0, 10), now));
        assert!(in_first_half(&written(4, 10), now));
        assert!(!in_first_half(&written(6, 10), now));
        assert!(!in_first_half(&written(20, 10), now));
        // No nbf recorded: only refresh_before decides.
        let mut unknown = written(0, 10);
        unknown.not_before = None;
        assert!(!in_first_half(&unknown, now));
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
                (tags::SCOPE.to_string(), target.scope.clone()),
                (tags::CLIENT_ID.to_string(), app.client_id.clone()),
            ]
            .into(),
        };
        // (lifetime, minutes since written, fresh): never due before half the lifetime, even a
        // 10-minute token with refresh_before = 40m; later, due once 40 minutes or less are left.
        for (lifetime, age, fresh) in [
            (10, 0, true),
            (10, 4, true),
            (10, 5, false),
            (60, 0, true),
            (60, 29, true),
            (60, 30, false),
            (90, 49, true),
            (90, 50, false),
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
