//! The JSON shapes of secrets as Key Vault renders them: SecretBundle, SecretItem,
//! DeletedSecretBundle / DeletedSecretItem and their attributes.

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::state::{DeletedEntry, StoredSecret};

pub(super) const RECOVERABLE_DAYS: i64 = 90;

pub(super) fn ts(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

pub(super) fn attributes(s: &StoredSecret) -> Value {
    let mut a = json!({"enabled": s.enabled});
    if let Some(nbf) = s.nbf {
        a["nbf"] = json!(ts(nbf));
    }
    if let Some(exp) = s.exp {
        a["exp"] = json!(ts(exp));
    }
    a["created"] = json!(ts(s.created));
    a["updated"] = json!(ts(s.updated));
    a["recoverableDays"] = json!(RECOVERABLE_DAYS);
    a["recoveryLevel"] = json!("Recoverable+Purgeable");
    a
}

pub(super) fn bundle(vault_url: &str, name: &str, s: &StoredSecret) -> Value {
    let mut b = json!({
        "value": s.value,
        "id": format!("{vault_url}secrets/{name}/{}", s.version),
        "attributes": attributes(s),
        "tags": s.tags,
    });
    if let Some(ct) = &s.content_type {
        b["contentType"] = json!(ct);
    }
    b
}

pub(super) fn item(vault_url: &str, name: &str, s: &StoredSecret, with_version: bool) -> Value {
    let id = if with_version {
        format!("{vault_url}secrets/{name}/{}", s.version)
    } else {
        format!("{vault_url}secrets/{name}")
    };
    let mut b = json!({"id": id, "attributes": attributes(s), "tags": s.tags});
    if let Some(ct) = &s.content_type {
        b["contentType"] = json!(ct);
    }
    b
}

pub(super) fn deleted_fields(vault_url: &str, d: &DeletedEntry, v: &mut Value) {
    v["recoveryId"] = json!(format!("{vault_url}deletedsecrets/{}", d.entry.name));
    v["deletedDate"] = json!(ts(d.deleted_date));
    v["scheduledPurgeDate"] = json!(ts(d.scheduled_purge_date));
}

pub(super) fn deleted_bundle(vault_url: &str, d: &DeletedEntry) -> Value {
    let mut v = match d.entry.latest() {
        Some(latest) => bundle(vault_url, &d.entry.name, latest),
        None => json!({}),
    };
    if let Some(o) = v.as_object_mut() {
        o.remove("value");
    }
    deleted_fields(vault_url, d, &mut v);
    v
}
