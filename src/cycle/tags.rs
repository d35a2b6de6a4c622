//! Every Key Vault tag the rotator reads or writes, in one place: on token secrets, on the client
//! secret's versions (owner, Graph key id, rotation progress), on the rotation lease and on the
//! alert state.

/// Written into the `written-by` tag of everything the rotator writes.
pub const WRITTEN_BY_VALUE: &str = concat!("akv-rotator/", env!("CARGO_PKG_VERSION"));
/// What every version's [`WRITTEN_BY_VALUE`] starts with: a token written by an older release
/// is still the rotator's own.
pub const WRITTEN_BY_PREFIX: &str = "akv-rotator/";
/// The content type of every token secret.
pub const TOKEN_CONTENT_TYPE: &str = "application/jwt";

// On every token secret.
pub const CLIENT_ID: &str = "client-id";
pub const TENANT_ID: &str = "tenant-id";
pub const SCOPE: &str = "scope";
pub const EXPIRES_ON: &str = "expires-on";
/// The version of the client secret the token was acquired with.
pub const SOURCE_VERSION: &str = "source-version";
pub const WRITTEN_BY: &str = "written-by";
/// The run id of the cycle that wrote the version (on token secrets, published client secrets
/// and the alert state): ties a version to the report, logs and alerts of that run.
pub const RUN_ID: &str = "run-id";
/// When the token comes due for refresh (RFC 3339), chosen by the run that wrote it
/// (`cycle::leveling`).
pub const REFRESH_AT: &str = "refresh-at";

// On the client secret.
/// Who to alert about the app, when the config names nobody.
pub const OWNER: &str = "owner";
/// Graph keyId of the credential this version holds.
pub const KEY_ID: &str = "key-id";

// Rotation progress on the client secret's current version.
/// `adding` or `grace`; absent when idle.
pub const ROTATION_STATE: &str = "rotation-state";
/// Display name of the credential being added (finds it even before its keyId is known).
pub const PENDING_NAME: &str = "pending-name";
pub const PENDING_KEY_ID: &str = "pending-key-id";
pub const PREVIOUS_KEY_ID: &str = "previous-key-id";
pub const PREVIOUS_REMOVE_AFTER: &str = "previous-remove-after";
/// The Key Vault version that held the previous credential: a grace-period removal proves by
/// its value (hint) that `previous-key-id` is that credential, not whatever the tag says.
pub const PREVIOUS_VERSION: &str = "previous-version";
pub const ROTATED_BY: &str = "rotated-by";
/// Values of [`ROTATION_STATE`].
pub const ADDING: &str = "adding";
pub const GRACE: &str = "grace";
/// Every progress tag (cleared when a rotation finishes or is abandoned).
pub const ROTATION_PROGRESS: [&str; 6] = [
    ROTATION_STATE,
    PENDING_NAME,
    PENDING_KEY_ID,
    PREVIOUS_KEY_ID,
    PREVIOUS_REMOVE_AFTER,
    PREVIOUS_VERSION,
];

// On the rotation lease (`<client secret>-rotation-lease`, one version per claim).
/// The run id that claims the lease.
pub const LEASE_OWNER: &str = "lease-owner";
/// The app the lease is for.
pub const LEASE_APP: &str = "app";
/// [`PURPOSE`] of a lease claim.
pub const PURPOSE_ROTATION_LEASE: &str = "rotation-lease";

// On the alert state and status record secrets.
pub const PURPOSE: &str = "purpose";
pub const PURPOSE_ALERT_STATE: &str = "alert-state";
/// [`PURPOSE`] of the status record.
pub const PURPOSE_STATUS_RECORD: &str = "status-record";

/// The tags of a document the rotator keeps for itself (the alert state, the status record):
/// who wrote it, what it is for, and the run that wrote it (when known).
pub fn own_document(purpose: &str, run_id: &str) -> std::collections::BTreeMap<String, String> {
    let mut tags = std::collections::BTreeMap::from([
        (WRITTEN_BY.to_string(), WRITTEN_BY_VALUE.to_string()),
        (PURPOSE.to_string(), purpose.to_string()),
    ]);
    if !run_id.is_empty() {
        tags.insert(RUN_ID.to_string(), run_id.to_string());
    }
    tags
}
