//! The Key Vault secrets data plane served by each vault listener: request routing by method
//! and path, the bearer challenge, token verification, RBAC-style permissions, validation,
//! secret versions, soft delete, paging, and Key Vault-shaped JSON and error bodies.
//! Owns nothing about issuing tokens.
//! Errors are in `error`, authentication and permissions in `auth`, the JSON shapes in
//! `shapes`, and the operations on secrets in `secrets`.

mod auth;
mod error;
mod secrets;
mod shapes;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use crate::state::Shared;
use auth::{authenticate, authorize};
use error::{KvError, kv_empty, kv_json};
use secrets::{delete, deleted_list, get, list, list_versions, set, update};
use shapes::{bundle, deleted_bundle};

pub(crate) use auth::add_challenge;

const KNOWN_API_VERSIONS: &[&str] = &["7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6"];
/// Date-style versions start here; later dates are accepted so newer SDKs keep working.
const FIRST_DATED_API_VERSION: &str = "2025-07-01";

/// One data-plane operation, named as in the stats.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    Set(String),
    Get(String, Option<String>),
    Update(String, Option<String>),
    List,
    ListVersions(String),
    Delete(String),
    DeletedList,
    DeletedGet(String),
    Recover(String),
    Purge(String),
    Unknown,
}

impl Op {
    fn parse(method: &Method, path: &str) -> Op {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let name = |s: &str| s.to_string();
        let version = |s: &str| (!s.is_empty()).then(|| s.to_string());
        match (method.as_str(), segs.as_slice()) {
            ("GET", ["secrets"]) | ("GET", ["secrets", ""]) => Op::List,
            ("PUT", ["secrets", n]) => Op::Set(name(n)),
            ("GET", ["secrets", n]) => Op::Get(name(n), None),
            ("PATCH", ["secrets", n]) => Op::Update(name(n), None),
            ("DELETE", ["secrets", n]) => Op::Delete(name(n)),
            ("GET", ["secrets", n, "versions"]) => Op::ListVersions(name(n)),
            ("GET", ["secrets", n, v]) => Op::Get(name(n), version(v)),
            ("PATCH", ["secrets", n, v]) => Op::Update(name(n), version(v)),
            ("GET", ["deletedsecrets"]) => Op::DeletedList,
            ("GET", ["deletedsecrets", n]) => Op::DeletedGet(name(n)),
            ("DELETE", ["deletedsecrets", n]) => Op::Purge(name(n)),
            ("POST", ["deletedsecrets", n, "recover"]) => Op::Recover(name(n)),
            _ => Op::Unknown,
        }
    }

    fn stat_name(&self) -> &'static str {
        match self {
            Op::Set(_) => "SecretSet",
            Op::Get(..) => "SecretGet",
            Op::Update(..) => "SecretUpdate",
            Op::List => "SecretList",
            Op::ListVersions(_) => "SecretListVersions",
            Op::Delete(_) => "SecretDelete",
            Op::DeletedList => "DeletedSecretList",
            Op::DeletedGet(_) => "DeletedSecretGet",
            Op::Recover(_) => "SecretRecover",
            Op::Purge(_) => "SecretPurge",
            Op::Unknown => "Unknown",
        }
    }

    /// The RBAC data action the operation needs.
    fn action(&self) -> &'static str {
        match self {
            Op::Set(_) => "Microsoft.KeyVault/vaults/secrets/setSecret/action",
            Op::Get(..) => "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            Op::Update(..) => "Microsoft.KeyVault/vaults/secrets/update/action",
            Op::Delete(_) => "Microsoft.KeyVault/vaults/secrets/delete",
            Op::Recover(_) => "Microsoft.KeyVault/vaults/secrets/recover/action",
            Op::Purge(_) => "Microsoft.KeyVault/vaults/secrets/purge/action",
            Op::List | Op::ListVersions(_) | Op::DeletedList | Op::DeletedGet(_) | Op::Unknown => {
                "Microsoft.KeyVault/vaults/secrets/readMetadata/action"
            }
        }
    }

    fn secret_name(&self) -> Option<&str> {
        match self {
            Op::Set(n)
            | Op::Get(n, _)
            | Op::Update(n, _)
            | Op::ListVersions(n)
            | Op::Delete(n)
            | Op::DeletedGet(n)
            | Op::Recover(n)
            | Op::Purge(n) => Some(n),
            Op::List | Op::DeletedList | Op::Unknown => None,
        }
    }

    fn needs_write(&self) -> bool {
        matches!(
            self,
            Op::Set(_) | Op::Update(..) | Op::Delete(_) | Op::Recover(_) | Op::Purge(_)
        )
    }

    /// Listing the whole vault needs a vault-wide assignment.
    fn lists_vault(&self) -> bool {
        matches!(self, Op::List | Op::DeletedList)
    }
}

/// The stats / fault-rule operation name of a request.
pub(crate) fn operation(method: &Method, uri: &Uri) -> &'static str {
    Op::parse(method, uri.path()).stat_name()
}

/// Whether a request is a CREATE secret (`PUT /secrets/{name}`, a new version), the
/// transaction Key Vault counts against its write budget ("Azure Key Vault service limits").
pub(crate) fn is_create(method: &Method, uri: &Uri) -> bool {
    matches!(Op::parse(method, uri.path()), Op::Set(_))
}

/// Serves one data-plane request for `vault_name` (the caller records it in the stats).
pub(crate) fn handle(
    shared: &Arc<Shared>,
    vault_name: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let op = Op::parse(method, uri.path());
    let query: HashMap<String, String> = uri
        .query()
        .map(crate::form::query_pairs)
        .unwrap_or_default();
    match serve(shared, vault_name, &op, &query, headers, body) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn serve(
    shared: &Arc<Shared>,
    vault_name: &str,
    op: &Op,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, KvError> {
    let (tenant_id, vault_url) = {
        let world = shared.world();
        let vault = world.vaults.get(vault_name).ok_or_else(|| {
            KvError::new(
                StatusCode::NOT_FOUND,
                "VaultNotFound",
                "The vault does not exist.",
            )
        })?;
        (vault.tenant_id.clone(), vault.url.clone())
    };
    let claims = authenticate(shared, &tenant_id, headers)?;
    let Some(api_version) = query.get("api-version").filter(|v| !v.is_empty()) else {
        return Err(KvError::bad(
            "The 'api-version' query parameter is missing.",
        ));
    };
    let api_version_known = KNOWN_API_VERSIONS
        .iter()
        .any(|known| api_version == known || api_version.starts_with(&format!("{known}-preview")))
        || is_dated_api_version(api_version);
    if !api_version_known {
        return Err(KvError::bad(format!(
            "The specified version ({api_version}) is not recognized. Consider using the latest supported version (2025-07-01)."
        )));
    }
    if *op == Op::Unknown {
        return Err(KvError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "The requested resource or operation was not found.",
        ));
    }
    if let Some(name) = op.secret_name() {
        validate_name(name)?;
    }
    authorize(&claims, op, vault_name, &vault_url, shared)?;

    let mut world = shared.world_mut();
    let vault = world.vaults.get_mut(vault_name).ok_or_else(|| {
        KvError::new(
            StatusCode::NOT_FOUND,
            "VaultNotFound",
            "The vault does not exist.",
        )
    })?;
    let ok = |v: Value| Ok(kv_json(StatusCode::OK, &v));
    match op {
        Op::Set(name) => ok(set(vault, name, body)?),
        Op::Get(name, version) => ok(get(vault, name, version.as_deref())?),
        Op::Update(name, version) => ok(update(vault, name, version.as_deref(), body)?),
        Op::List => ok(list(vault, query, api_version)?),
        Op::ListVersions(name) => ok(list_versions(vault, name, query, api_version)?),
        Op::Delete(name) => ok(delete(vault, name)?),
        Op::DeletedList => ok(deleted_list(vault, query, api_version)?),
        Op::DeletedGet(name) => {
            let d = vault
                .deleted
                .get(&name.to_ascii_lowercase())
                .ok_or_else(|| KvError::deleted_not_found(name))?;
            ok(deleted_bundle(&vault.url, d))
        }
        Op::Recover(name) => {
            let d = vault
                .deleted
                .remove(&name.to_ascii_lowercase())
                .ok_or_else(|| KvError::deleted_not_found(name))?;
            let mut out = match d.entry.latest() {
                Some(latest) => bundle(&vault.url, &d.entry.name, latest),
                None => json!({}),
            };
            if let Some(o) = out.as_object_mut() {
                o.remove("value");
            }
            vault.secrets.insert(name.to_ascii_lowercase(), d.entry);
            ok(out)
        }
        Op::Purge(name) => {
            vault
                .deleted
                .remove(&name.to_ascii_lowercase())
                .ok_or_else(|| KvError::deleted_not_found(name))?;
            Ok(kv_empty(StatusCode::NO_CONTENT))
        }
        Op::Unknown => Err(KvError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "Not found.",
        )),
    }
}

/// `YYYY-MM-DD` or `YYYY-MM-DD-preview`, not older than [`FIRST_DATED_API_VERSION`].
fn is_dated_api_version(v: &str) -> bool {
    let date = v.strip_suffix("-preview").unwrap_or(v);
    let shape = date.len() == 10
        && date.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    shape && date >= FIRST_DATED_API_VERSION
}

fn validate_name(name: &str) -> Result<(), KvError> {
    let ok = (1..=127).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(KvError::bad(format!(
            "The request URI contains an invalid name: {name}"
        )))
    }
}
