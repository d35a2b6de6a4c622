//! What a long-lived [`Cycle`](super::Cycle) (the daemon's) remembers between cycles, so that it
//! reads almost nothing twice: the last vault listings and the client secrets it read.
//!
//! - A listing is reused until it is `[daemon] relist_after` old; in between, what the rotator
//!   wrote itself is merged into it, so it still says which tokens are fresh. A relisting shows
//!   what others changed.
//! - A client secret is reused while the listing shows its current version unchanged (the same
//!   `updated` time: a new version, or a changed enabled flag, expiry or tags, changes it) and
//!   it is younger than `[daemon] client_secret_max_age`. Entra ID refusing it, or a rotation
//!   touching it, forgets it at once.
//!
//! The values are kept as the read gave them, in `SecretString`s (zeroized when dropped, never
//! printed by `Debug`): nothing here logs or formats a value. Only a daemon remembers
//! ([`Memory::off`] otherwise): a `once` run would only pay for it in memory, 2 KB or so per app.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;
use url::Url;

use super::plan::Listings;
use crate::azure::vault::{SecretMeta, SecretValue};

/// A client secret read earlier, with what its check found.
struct CachedSecret {
    value: Arc<SecretValue>,
    /// A certificate's `notAfter` (its expiry), from the credential check.
    not_after: Option<OffsetDateTime>,
    read_at: Instant,
}

/// The memory of a [`Cycle`](super::Cycle).
pub(super) struct Memory {
    on: bool,
    relist_after: Duration,
    secret_max_age: Duration,
    listings: Mutex<Option<(Instant, Listings)>>,
    secrets: Mutex<HashMap<(Url, String), CachedSecret>>,
}

fn key(vault: &Url, name: &str) -> (Url, String) {
    (vault.clone(), name.to_ascii_lowercase())
}

impl Memory {
    pub(super) fn new(relist_after: Duration, secret_max_age: Duration) -> Self {
        Memory {
            on: true,
            relist_after,
            secret_max_age,
            listings: Mutex::new(None),
            secrets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether anything is remembered (else what a cycle wrote need not be collected).
    pub(super) fn remembers(&self) -> bool {
        self.on
    }

    /// Remembers nothing: every cycle lists and reads.
    pub(super) fn off() -> Self {
        Memory {
            on: false,
            ..Memory::new(Duration::ZERO, Duration::ZERO)
        }
    }

    /// The last listings, taken out, when they are younger than `relist_after`, with when they
    /// were listed.
    pub(super) fn take_listings(&self) -> Option<(Instant, Listings)> {
        let mut kept = self.listings.lock().unwrap_or_else(|p| p.into_inner());
        match kept.take() {
            Some((at, l)) if at.elapsed() < self.relist_after => Some((at, l)),
            _ => None,
        }
    }

    /// Keeps the listings made at `at`, with the token secrets written since merged in.
    pub(super) fn keep_listings(
        &self,
        at: Instant,
        mut listings: Listings,
        written: impl IntoIterator<Item = (Url, SecretMeta)>,
    ) {
        if !self.on {
            return;
        }
        for (vault, meta) in written {
            listings.record(&vault, meta);
        }
        *self.listings.lock().unwrap_or_else(|p| p.into_inner()) = Some((at, listings));
    }

    /// The client secret read earlier, when the listing shows its current version unchanged
    /// and it is younger than the maximum age.
    pub(super) fn secret(
        &self,
        vault: &Url,
        name: &str,
        listed: Option<&SecretMeta>,
    ) -> Option<(Arc<SecretValue>, Option<OffsetDateTime>)> {
        let updated = listed?.updated?;
        let secrets = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        let hit = secrets.get(&key(vault, name))?;
        (hit.value.meta.updated == Some(updated) && hit.read_at.elapsed() < self.secret_max_age)
            .then(|| (hit.value.clone(), hit.not_after))
    }

    pub(super) fn keep_secret(
        &self,
        vault: &Url,
        name: &str,
        value: Arc<SecretValue>,
        not_after: Option<OffsetDateTime>,
    ) {
        if !self.on {
            return;
        }
        let mut secrets = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        secrets.insert(
            key(vault, name),
            CachedSecret {
                value,
                not_after,
                read_at: Instant::now(),
            },
        );
    }

    pub(super) fn forget_secret(&self, vault: &Url, name: &str) {
        let mut secrets = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        secrets.remove(&key(vault, name));
    }
}
