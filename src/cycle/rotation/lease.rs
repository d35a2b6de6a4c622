//! The rotation lease: one run at a time rotates an app, so two overlapping runs (a CronJob
//! that overran, a daemon and a manual `once`) can never remove each other's credentials or
//! publish one the other removed.
//!
//! Key Vault has no compare-and-set, so a claim is a new version of
//! `<client secret>-rotation-lease` in the client secret's vault, tagged with the run id, its
//! `exp` the end of the claim. After writing, the run lists the versions: it holds the lease
//! only when every other live claim (enabled, `exp` ahead) was created strictly after its own;
//! on a tie or an earlier live claim it withdraws (disables its claim). Two runs that raced
//! then both see both claims and agree, or at worst both withdraw and the next run rotates.
//! Release disables the claim; a crashed run's claim simply expires. It must not decide
//! anything about credentials: that is `run`.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::azure::vault::{KeyVaults, VersionMeta};
use crate::config::App;
use crate::cycle::tags;
use crate::error::{ErrorClass, StepError};
use crate::timefmt::rfc3339;

/// Appended to the client secret's name for its lease.
const SUFFIX: &str = "-rotation-lease";

/// A claim this run holds until `until`.
pub(super) struct Lease {
    name: String,
    version: String,
    pub(super) owner: String,
    pub(super) until: OffsetDateTime,
}

/// What taking the lease found.
pub(super) enum Taken {
    Held(Lease),
    /// Another run's live claim.
    Busy {
        owner: String,
        until: Option<OffsetDateTime>,
    },
}

/// The lease secret of an app.
pub(super) fn lease_name(app: &App) -> String {
    format!("{}{SUFFIX}", app.client_secret_name)
}

fn live(v: &VersionMeta, now: OffsetDateTime) -> bool {
    v.enabled && v.expires.is_some_and(|e| e > now)
}

fn owner_of(v: &VersionMeta) -> String {
    v.tags
        .get(tags::LEASE_OWNER)
        .cloned()
        .unwrap_or_else(|| format!("version {}", v.version))
}

/// Claims the app's lease for `owner` until `until`, or says who holds it.
pub(super) async fn take(
    vaults: &KeyVaults,
    app: &App,
    owner: &str,
    until: OffsetDateTime,
) -> Result<Taken, StepError> {
    let vault = &app.client_secret_vault;
    let name = lease_name(app);
    let now = OffsetDateTime::now_utc();
    let claims = vaults.list_versions(vault, &name).await?;
    if let Some(other) = claims.iter().find(|v| live(v, now)) {
        return Ok(Taken::Busy {
            owner: owner_of(other),
            until: other.expires,
        });
    }
    let claim_tags = BTreeMap::from([
        (
            tags::PURPOSE.to_string(),
            tags::PURPOSE_ROTATION_LEASE.to_string(),
        ),
        (tags::LEASE_OWNER.to_string(), owner.to_string()),
        (tags::LEASE_APP.to_string(), app.name.clone()),
        (
            tags::WRITTEN_BY.to_string(),
            tags::WRITTEN_BY_VALUE.to_string(),
        ),
    ]);
    let written = vaults
        .write_lease(vault, &name, owner, until, &claim_tags)
        .await?;
    let Some(version) = written.version else {
        return Err(StepError::new(
            ErrorClass::MalformedResponse,
            format!("Key Vault {vault} did not name the version of lease {name:?} it wrote"),
        ));
    };
    let lease = Lease {
        name,
        version,
        owner: owner.to_string(),
        until,
    };
    let now = OffsetDateTime::now_utc();
    let claims = vaults.list_versions(vault, &lease.name).await?;
    let mine = claims.iter().find(|v| v.version == lease.version);
    let earlier = mine.and_then(|m| contender(&claims, m, now));
    match (mine, earlier) {
        (Some(_), None) => Ok(Taken::Held(lease)),
        (Some(_), Some(other)) => {
            let busy = Taken::Busy {
                owner: owner_of(other),
                until: other.expires,
            };
            lease.release(vaults, app).await?;
            Ok(busy)
        }
        (None, _) => Err(StepError::new(
            ErrorClass::MalformedResponse,
            format!(
                "Key Vault {vault} does not list the lease claim {} of {:?} it just wrote",
                lease.version, lease.name
            ),
        )),
    }
}

/// The live claim that keeps `mine` from holding the lease: one created before it, or in the
/// same second (a tie nobody can order, so both withdraw). Created times are the vault's.
fn contender<'v>(
    claims: &'v [VersionMeta],
    mine: &VersionMeta,
    now: OffsetDateTime,
) -> Option<&'v VersionMeta> {
    claims.iter().find(|v| {
        v.version != mine.version
            && live(v, now)
            && match (v.created, mine.created) {
                (Some(theirs), Some(ours)) => theirs <= ours,
                _ => true,
            }
    })
}

impl Lease {
    /// Whether the claim still has `margin` left (a run must not publish on an expired claim:
    /// another run may have taken over).
    pub(super) fn holds_for(&self, margin: time::Duration) -> bool {
        OffsetDateTime::now_utc() + margin < self.until
    }

    /// Gives the lease up.
    pub(super) async fn release(self, vaults: &KeyVaults, app: &App) -> Result<(), StepError> {
        vaults
            .disable_version(&app.client_secret_vault, &self.name, &self.version)
            .await
    }

    pub(super) fn describe(&self) -> String {
        format!(
            "holding {:?} as run {} until {}",
            self.name,
            self.owner,
            rfc3339(self.until)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(version: &str, created_secs: i64, enabled: bool, ttl_secs: i64) -> VersionMeta {
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("a valid time");
        VersionMeta {
            version: version.into(),
            enabled,
            created: Some(t0 + time::Duration::seconds(created_secs)),
            expires: Some(t0 + time::Duration::seconds(created_secs + ttl_secs)),
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn the_earliest_live_claim_holds_and_a_tie_holds_for_nobody() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_010).expect("a valid time");
        let mine = claim("b", 5, true, 600);
        let earlier = claim("a", 4, true, 600);
        let later = claim("c", 6, true, 600);
        let same_second = claim("d", 5, true, 600);
        let expired = claim("e", -700, true, 600);
        let released = claim("f", 1, false, 600);
        let of = |others: &[&VersionMeta]| {
            let mut all: Vec<VersionMeta> = others.iter().map(|v| (*v).clone()).collect();
            all.push(mine.clone());
            contender(&all, &mine, now).map(|v| v.version.clone())
        };
        assert_eq!(of(&[]), None);
        assert_eq!(of(&[&later, &expired, &released]), None);
        assert_eq!(of(&[&later, &earlier]), Some("a".into()));
        assert_eq!(of(&[&same_second]), Some("d".into()));
    }
}
