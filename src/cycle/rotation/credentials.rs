//! Whose credential is whose: which of the app's Graph credentials the current value
//! authenticates with (its hint), which ones this rotator added (their display name) and
//! whether one was added after the current version. Pure functions of Graph's listing and the
//! current value; it calls nothing and decides nothing about removal (that is `run`).

use secrecy::{ExposeSecret, SecretString};

use crate::azure::graph::PasswordCredential;
use crate::azure::vault::SecretValue;
use crate::cycle::tags;

/// What Graph and the current value say about the app's credentials.
pub(super) struct Credentials<'c> {
    pub(super) all: &'c [PasswordCredential],
    /// keyIds whose hint matches the current value: it may authenticate with any of them.
    pub(super) in_use: Vec<String>,
    /// The one the current version holds: its `key-id` tag when that credential's hint
    /// matches the value, else the only credential with a matching hint.
    pub(super) current: Option<String>,
}

impl<'c> Credentials<'c> {
    pub(super) fn of(all: &'c [PasswordCredential], current: &SecretValue) -> Self {
        let in_use = hint_matches(all, &current.value);
        let tagged = current
            .meta
            .tags
            .get(tags::KEY_ID)
            .map(|k| k.to_ascii_lowercase())
            .filter(|k| in_use.contains(k));
        let current = tagged.or_else(|| identify(all, &current.value));
        Credentials {
            all,
            in_use,
            current,
        }
    }

    pub(super) fn find(&self, key_id: &str) -> Option<&'c PasswordCredential> {
        self.all
            .iter()
            .find(|c| c.key_id.eq_ignore_ascii_case(key_id))
    }

    pub(super) fn in_use(&self, key_id: &str) -> bool {
        self.in_use.iter().any(|k| k.eq_ignore_ascii_case(key_id))
    }
}

/// The display name of a credential added by run `run_id` for `app`.
pub(super) fn marker(app: &str, run_id: &str) -> String {
    format!("{MARKER_PREFIX} {app} {run_id}")
}

const MARKER_PREFIX: &str = "akv-rotator";

/// Whether a credential's display name says this rotator added it for `app`: `akv-rotator
/// <app> <run id>`, or `akv-rotator <guid>` as versions before the app name wrote it.
pub(super) fn made_by_rotator(c: &PasswordCredential, app: &str) -> bool {
    let Some(rest) = c
        .display_name
        .as_deref()
        .and_then(|n| n.strip_prefix(MARKER_PREFIX))
        .and_then(|n| n.strip_prefix(' '))
    else {
        return false;
    };
    let is_guid = |s: &str| {
        s.len() == 36
            && s.chars().enumerate().all(|(i, ch)| {
                matches!(i, 8 | 13 | 18 | 23) == (ch == '-')
                    && (ch == '-' || ch.is_ascii_hexdigit())
            })
    };
    match rest.strip_prefix(app).and_then(|r| r.strip_prefix(' ')) {
        Some(run_id) => !run_id.is_empty(),
        None => is_guid(rest),
    }
}

/// The keyIds of the Graph credentials whose hint (first 3 characters) matches `value`.
pub(super) fn hint_matches(creds: &[PasswordCredential], value: &SecretString) -> Vec<String> {
    let prefix: String = value.expose_secret().chars().take(3).collect();
    creds
        .iter()
        .filter(|c| c.hint.as_deref() == Some(prefix.as_str()))
        .map(|c| c.key_id.clone())
        .collect()
}

/// The Graph credential whose hint (first 3 characters) matches the current value, when
/// exactly one does.
pub(super) fn identify(creds: &[PasswordCredential], value: &SecretString) -> Option<String> {
    match hint_matches(creds, value).as_slice() {
        [only] => Some(only.clone()),
        _ => None,
    }
}

/// Whether `c` was added after `current` was written, as an unpublished credential always is
/// (the run read the current version, then called addPassword): a credential from before, such
/// as the previous one in its grace period, is never taken for an orphan. Unknown times: no.
pub(super) fn added_after(c: &PasswordCredential, current: &SecretValue) -> bool {
    match (c.start, current.created) {
        (Some(start), Some(created)) => start + CLOCK_SKEW >= created,
        _ => false,
    }
}

/// Tolerance between Entra ID's and Key Vault's clocks.
const CLOCK_SKEW: time::Duration = time::Duration::minutes(2);
