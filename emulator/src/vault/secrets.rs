//! The operations on a vault's secrets: set (a new version), get, update properties, list and
//! list versions (paged), delete, and the deleted-secret listing, with Key Vault's limits.

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::error::KvError;
use super::shapes::{RECOVERABLE_DAYS, bundle, deleted_bundle, deleted_fields, item};
use crate::state::{DeletedEntry, SecretEntry, StoredSecret, Vault, new_version, now};

pub(super) const MAX_VALUE_BYTES: usize = 25 * 1024;
pub(super) const MAX_TAGS: usize = 15;
/// "About Azure Key Vault secrets", section "Secret tags" (Learn, revision of 2026-01-08): up to
/// 15 tags, each with a 512-character name and a 512-character value. Earlier revisions of that
/// page, and the key-tags section of "About keys", say 256; the secrets page is the one that
/// applies here.
pub(super) const MAX_TAG_CHARS: usize = 512;
pub(super) const MAX_CONTENT_TYPE_CHARS: usize = 255;

pub(super) fn parse_body(body: &Bytes) -> Result<Map<String, Value>, KvError> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(KvError::bad("The request body is not a valid JSON object.")),
    }
}

pub(super) fn unix_attr(
    attrs: &Map<String, Value>,
    key: &str,
) -> Result<Option<Option<OffsetDateTime>>, KvError> {
    match attrs.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => {
            let secs = v
                .as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .ok_or_else(|| KvError::bad(format!("Invalid value for attributes.{key}.")))?;
            OffsetDateTime::from_unix_timestamp(secs)
                .map(|t| Some(Some(t)))
                .map_err(|_| KvError::bad(format!("Invalid value for attributes.{key}.")))
        }
    }
}

/// Properties present in a set/update body.
#[derive(Default)]
pub(super) struct Props {
    content_type: Option<Option<String>>,
    enabled: Option<bool>,
    nbf: Option<Option<OffsetDateTime>>,
    exp: Option<Option<OffsetDateTime>>,
    tags: Option<BTreeMap<String, String>>,
}

pub(super) fn parse_props(body: &Map<String, Value>) -> Result<Props, KvError> {
    let mut p = Props::default();
    match body.get("contentType") {
        None => {}
        Some(Value::Null) => p.content_type = Some(None),
        Some(Value::String(ct)) => {
            if ct.chars().count() > MAX_CONTENT_TYPE_CHARS {
                return Err(KvError::bad(format!(
                    "The content type is too long: at most {MAX_CONTENT_TYPE_CHARS} characters are allowed."
                )));
            }
            p.content_type = Some(Some(ct.clone()));
        }
        Some(_) => return Err(KvError::bad("contentType must be a string.")),
    }
    match body.get("attributes") {
        None | Some(Value::Null) => {}
        Some(Value::Object(attrs)) => {
            match attrs.get("enabled") {
                None | Some(Value::Null) => {}
                Some(Value::Bool(b)) => p.enabled = Some(*b),
                Some(_) => return Err(KvError::bad("attributes.enabled must be a boolean.")),
            }
            p.nbf = unix_attr(attrs, "nbf")?;
            p.exp = unix_attr(attrs, "exp")?;
        }
        Some(_) => return Err(KvError::bad("attributes must be an object.")),
    }
    match body.get("tags") {
        None | Some(Value::Null) => {}
        Some(Value::Object(tags)) => {
            if tags.len() > MAX_TAGS {
                return Err(KvError::bad(format!(
                    "Too many tags: at most {MAX_TAGS} tags are allowed."
                )));
            }
            let mut out = BTreeMap::new();
            for (k, v) in tags {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                if k.chars().count() > MAX_TAG_CHARS || v.chars().count() > MAX_TAG_CHARS {
                    return Err(KvError::bad(format!(
                        "Tag '{k}' is too long: tag names and values are limited to {MAX_TAG_CHARS} characters."
                    )));
                }
                out.insert(k.clone(), v);
            }
            p.tags = Some(out);
        }
        Some(_) => return Err(KvError::bad("tags must be an object.")),
    }
    Ok(p)
}

pub(super) fn set(vault: &mut Vault, name: &str, body: &Bytes) -> Result<Value, KvError> {
    let body = parse_body(body)?;
    let key = name.to_ascii_lowercase();
    if vault.deleted.contains_key(&key) {
        return Err(KvError::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!("Secret {name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged."),
        )
        .inner("ObjectIsDeletedButRecoverable"));
    }
    let value = match body.get("value") {
        Some(Value::String(v)) => v.clone(),
        _ => {
            return Err(KvError::bad(
                "The parameter 'value' is missing or is not a string.",
            ));
        }
    };
    if value.len() > MAX_VALUE_BYTES {
        return Err(KvError::bad(format!(
            "The secret value is too large: at most {MAX_VALUE_BYTES} bytes are allowed."
        )));
    }
    let p = parse_props(&body)?;
    let now = now();
    let stored = StoredSecret {
        version: new_version(),
        value,
        content_type: p.content_type.flatten(),
        enabled: p.enabled.unwrap_or(true),
        nbf: p.nbf.flatten(),
        exp: p.exp.flatten(),
        created: now,
        updated: now,
        tags: p.tags.unwrap_or_default(),
    };
    let entry = vault.secrets.entry(key).or_insert_with(|| SecretEntry {
        name: name.to_string(),
        versions: Vec::new(),
    });
    entry.versions.push(stored.clone());
    Ok(bundle(&vault.url, &entry.name, &stored))
}

pub(super) fn find_version<'a>(
    entry: &'a mut SecretEntry,
    version: Option<&str>,
) -> Option<&'a mut StoredSecret> {
    match version {
        None => entry.versions.last_mut(),
        Some(v) => entry
            .versions
            .iter_mut()
            .find(|s| s.version.eq_ignore_ascii_case(v)),
    }
}

pub(super) fn missing(name: &str, version: Option<&str>) -> KvError {
    match version {
        Some(v) => KvError::not_found(&format!("{name}/{v}")),
        None => KvError::not_found(name),
    }
}

pub(super) fn get(vault: &mut Vault, name: &str, version: Option<&str>) -> Result<Value, KvError> {
    let url = vault.url.clone();
    let entry = vault
        .secrets
        .get_mut(&name.to_ascii_lowercase())
        .ok_or_else(|| missing(name, version))?;
    let entry_name = entry.name.clone();
    let s = find_version(entry, version).ok_or_else(|| missing(name, version))?;
    if !s.enabled {
        return Err(KvError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "Operation get is not allowed on a disabled secret.",
        )
        .inner("SecretDisabled"));
    }
    Ok(bundle(&url, &entry_name, s))
}

pub(super) fn update(
    vault: &mut Vault,
    name: &str,
    version: Option<&str>,
    body: &Bytes,
) -> Result<Value, KvError> {
    let body = parse_body(body)?;
    if body.contains_key("value") {
        return Err(KvError::bad(
            "The secret value cannot be updated; set a new version instead.",
        ));
    }
    let p = parse_props(&body)?;
    let url = vault.url.clone();
    let entry = vault
        .secrets
        .get_mut(&name.to_ascii_lowercase())
        .ok_or_else(|| missing(name, version))?;
    let entry_name = entry.name.clone();
    let s = find_version(entry, version).ok_or_else(|| missing(name, version))?;
    if let Some(ct) = p.content_type {
        s.content_type = ct;
    }
    if let Some(e) = p.enabled {
        s.enabled = e;
    }
    if let Some(nbf) = p.nbf {
        s.nbf = nbf;
    }
    if let Some(exp) = p.exp {
        s.exp = exp;
    }
    if let Some(tags) = p.tags {
        s.tags = tags;
    }
    s.updated = now();
    let mut out = bundle(&url, &entry_name, s);
    if let Some(o) = out.as_object_mut() {
        o.remove("value");
    }
    Ok(out)
}

/// Reads `maxresults` and `$skiptoken` into (page size, offset).
pub(super) fn paging(query: &HashMap<String, String>) -> Result<(usize, usize), KvError> {
    let max = match query.get("maxresults") {
        None => 25,
        Some(m) => match m.parse::<usize>() {
            Ok(n) if (1..=25).contains(&n) => n,
            _ => {
                return Err(KvError::bad(format!(
                    "Invalid value for maxresults: {m}. The value must be between 1 and 25."
                )));
            }
        },
    };
    let offset = match query.get("$skiptoken") {
        None => 0,
        Some(t) => URL_SAFE_NO_PAD
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse().ok()))
            .ok_or_else(|| KvError::bad("The $skiptoken is invalid."))?,
    };
    Ok((max, offset))
}

/// One page of `items`; only the page's own items are rendered to JSON, so listing a vault of
/// N secrets page by page costs O(N) per page in references, not in JSON.
pub(super) fn page<T>(
    items: Vec<T>,
    render: impl Fn(T) -> Value,
    query: &HashMap<String, String>,
    api_version: &str,
    base: &str,
) -> Result<Value, KvError> {
    let (max, offset) = paging(query)?;
    let total = items.len();
    let value: Vec<Value> = items
        .into_iter()
        .skip(offset)
        .take(max)
        .map(render)
        .collect();
    let next = offset + max;
    let next_link = if next < total {
        let token = URL_SAFE_NO_PAD.encode(format!("offset:{next}"));
        Value::String(format!(
            "{base}?api-version={api_version}&$skiptoken={token}&maxresults={max}"
        ))
    } else {
        Value::Null
    };
    Ok(json!({"value": value, "nextLink": next_link}))
}

pub(super) fn list(
    vault: &Vault,
    query: &HashMap<String, String>,
    api_version: &str,
) -> Result<Value, KvError> {
    let items: Vec<_> = vault
        .secrets
        .values()
        .filter_map(|e| e.latest().map(|l| (e, l)))
        .collect();
    page(
        items,
        |(e, l)| item(&vault.url, &e.name, l, false),
        query,
        api_version,
        &format!("{}secrets", vault.url),
    )
}

pub(super) fn list_versions(
    vault: &Vault,
    name: &str,
    query: &HashMap<String, String>,
    api_version: &str,
) -> Result<Value, KvError> {
    let entry = vault
        .secrets
        .get(&name.to_ascii_lowercase())
        .ok_or_else(|| KvError::not_found(name))?;
    let items: Vec<_> = entry.versions.iter().collect();
    page(
        items,
        |s| item(&vault.url, &entry.name, s, true),
        query,
        api_version,
        &format!("{}secrets/{}/versions", vault.url, entry.name),
    )
}

pub(super) fn delete(vault: &mut Vault, name: &str) -> Result<Value, KvError> {
    let key = name.to_ascii_lowercase();
    let entry = vault
        .secrets
        .remove(&key)
        .ok_or_else(|| KvError::not_found(name))?;
    let now = now();
    let deleted = DeletedEntry {
        entry,
        deleted_date: now,
        scheduled_purge_date: now + time::Duration::days(RECOVERABLE_DAYS),
    };
    let out = deleted_bundle(&vault.url, &deleted);
    vault.deleted.insert(key, deleted);
    Ok(out)
}

pub(super) fn deleted_list(
    vault: &Vault,
    query: &HashMap<String, String>,
    api_version: &str,
) -> Result<Value, KvError> {
    let items: Vec<_> = vault
        .deleted
        .values()
        .filter_map(|d| d.entry.latest().map(|l| (d, l)))
        .collect();
    page(
        items,
        |(d, l)| {
            let mut v = item(&vault.url, &d.entry.name, l, false);
            deleted_fields(&vault.url, d, &mut v);
            v
        },
        query,
        api_version,
        &format!("{}deletedsecrets", vault.url),
    )
}
