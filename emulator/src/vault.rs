//! The Key Vault secrets data plane served by each vault listener: request routing by method
//! and path, the bearer challenge, token verification, RBAC-style permissions, validation,
//! secret versions, soft delete, paging, and Key Vault-shaped JSON and error bodies.
//! Owns nothing about issuing tokens.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::state::{DeletedEntry, SecretEntry, Shared, StoredSecret, Vault, new_version, now};

const MAX_VALUE_BYTES: usize = 25 * 1024;
const MAX_TAGS: usize = 15;
const MAX_TAG_CHARS: usize = 256;
const MAX_CONTENT_TYPE_CHARS: usize = 255;
const RECOVERABLE_DAYS: i64 = 90;
const KNOWN_API_VERSIONS: &[&str] = &["7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6"];
/// Date-style versions start here; later dates are accepted so newer SDKs keep working.
const FIRST_DATED_API_VERSION: &str = "2025-07-01";
const NOT_FOUND_HINT: &str = "If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182";

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

/// A Key Vault error response.
struct KvError {
    status: StatusCode,
    code: &'static str,
    message: String,
    inner: Option<&'static str>,
}

impl KvError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> KvError {
        KvError {
            status,
            code,
            message: message.into(),
            inner: None,
        }
    }

    fn inner(mut self, inner: &'static str) -> KvError {
        self.inner = Some(inner);
        self
    }

    fn bad(message: impl Into<String>) -> KvError {
        KvError::new(StatusCode::BAD_REQUEST, "BadParameter", message)
    }

    fn not_found(what: &str) -> KvError {
        KvError::new(
            StatusCode::NOT_FOUND,
            "SecretNotFound",
            format!(
                "A secret with (name/id) {what} was not found in this key vault. {NOT_FOUND_HINT}"
            ),
        )
    }

    fn deleted_not_found(name: &str) -> KvError {
        KvError::new(
            StatusCode::NOT_FOUND,
            "SecretNotFound",
            format!("Deleted Secret not found: {name}"),
        )
    }

    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(inner) = self.inner {
            error["innererror"] = json!({"code": inner});
        }
        kv_json(self.status, &json!({ "error": error }))
    }
}

fn kv_json(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, axum::Json(body.clone())).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(
        "x-ms-keyvault-service-version",
        HeaderValue::from_static("1.9.0.0"),
    );
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        h.insert("x-ms-request-id", v);
    }
    resp
}

/// The stats / fault-rule operation name of a request.
pub(crate) fn operation(method: &Method, uri: &Uri) -> &'static str {
    Op::parse(method, uri.path()).stat_name()
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
    let query: HashMap<String, String> = uri.query().map(query_pairs).unwrap_or_default();
    match serve(shared, vault_name, &op, &query, headers, body) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// Minimal `application/x-www-form-urlencoded` decoding of a query string.
pub(crate) fn query_pairs(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                if let Ok(b) = u8::from_str_radix(hex, 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Op::Unknown => Err(KvError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "Not found.",
        )),
    }
}

/// A 401; the listener adds the `WWW-Authenticate` challenge to every 401.
fn challenge(message: &str) -> KvError {
    KvError::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
}

/// Returns the verified claims, or a 401 with the challenge header (added by the caller).
fn authenticate(
    shared: &Shared,
    tenant_id: &str,
    headers: &HeaderMap,
) -> Result<Map<String, Value>, KvError> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(challenge("Request is missing a Bearer or PoP token."));
    };
    let claims = shared.keys().verify(token).map_err(|why| challenge(&why))?;
    let s = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or("");
    let tid = tenant_id.to_ascii_lowercase();
    let iss = s("iss");
    let accepted_iss = [
        format!("https://sts.windows.net/{tid}/"),
        format!("https://login.microsoftonline.com/{tid}/v2.0"),
    ];
    if !s("tid").eq_ignore_ascii_case(&tid) {
        return Err(challenge(&format!(
            "AKV10032: Invalid issuer. Expected one of {}, found {iss}. The token tenant '{}' does not match the vault tenant.",
            accepted_iss.join(", "),
            s("tid")
        )));
    }
    if !accepted_iss.iter().any(|a| a.eq_ignore_ascii_case(iss)) {
        return Err(challenge(&format!(
            "AKV10032: Invalid issuer. Expected one of {}, found {iss}.",
            accepted_iss.join(", ")
        )));
    }
    let aud = s("aud");
    if aud != "https://vault.azure.net" && aud != "https://vault.azure.net/" {
        return Err(challenge(&format!(
            "AKV10022: Invalid audience. Expected https://vault.azure.net, found: {aud}."
        )));
    }
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let num = |k: &str| claims.get(k).and_then(Value::as_i64);
    match num("exp") {
        Some(exp) if exp + 60 >= now => {}
        Some(_) => {
            return Err(challenge("AKV10021: Token has expired."));
        }
        None => return Err(challenge("The token has no exp claim.")),
    }
    if num("nbf").is_some_and(|nbf| nbf - 60 > now) {
        return Err(challenge("The token is not yet valid (nbf)."));
    }
    Ok(claims)
}

/// Adds the bearer challenge to 401 responses of a vault.
pub(crate) fn add_challenge(resp: &mut Response, authority_host: &str, tenant_id: &str) {
    if resp.status() == StatusCode::UNAUTHORIZED
        && let Ok(v) = HeaderValue::from_str(&format!(
            "Bearer authorization=\"{authority_host}/{tenant_id}\", resource=\"https://vault.azure.net\""
        ))
    {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
}

fn authorize(
    claims: &Map<String, Value>,
    op: &Op,
    vault_name: &str,
    _vault_url: &str,
    shared: &Shared,
) -> Result<(), KvError> {
    let s = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or("");
    let principal = if s("appid").is_empty() {
        s("azp")
    } else {
        s("appid")
    };
    let oid = s("oid");
    let world = shared.world();
    let allowed = world.vaults.get(vault_name).is_some_and(|vault| {
        vault.permissions.iter().any(|p| {
            p.principal.eq_ignore_ascii_case(principal)
                && if op.needs_write() { p.write } else { p.read }
                && match (&p.secrets, op.secret_name()) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some(names), Some(name)) => names.iter().any(|n| n.eq_ignore_ascii_case(name)),
                }
                && !(op.lists_vault() && p.secrets.is_some())
        })
    });
    if allowed {
        return Ok(());
    }
    let resource = match op.secret_name() {
        Some(name) => format!(
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/akv-emulator/providers/microsoft.keyvault/vaults/{}/secrets/{}",
            vault_name.to_ascii_lowercase(),
            name.to_ascii_lowercase()
        ),
        None => format!(
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/akv-emulator/providers/microsoft.keyvault/vaults/{}",
            vault_name.to_ascii_lowercase()
        ),
    };
    Err(KvError::new(
        StatusCode::FORBIDDEN,
        "Forbidden",
        format!(
            "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid={principal};oid={oid};iss={}\r\nAction: '{}'\r\nResource: '{resource}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: {vault_name};location=westeurope\r\n",
            s("iss"),
            op.action()
        ),
    )
    .inner("ForbiddenByRbac"))
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

fn ts(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

fn attributes(s: &StoredSecret) -> Value {
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

fn bundle(vault_url: &str, name: &str, s: &StoredSecret) -> Value {
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

fn item(vault_url: &str, name: &str, s: &StoredSecret, with_version: bool) -> Value {
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

fn deleted_fields(vault_url: &str, d: &DeletedEntry, v: &mut Value) {
    v["recoveryId"] = json!(format!("{vault_url}deletedsecrets/{}", d.entry.name));
    v["deletedDate"] = json!(ts(d.deleted_date));
    v["scheduledPurgeDate"] = json!(ts(d.scheduled_purge_date));
}

fn deleted_bundle(vault_url: &str, d: &DeletedEntry) -> Value {
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

fn parse_body(body: &Bytes) -> Result<Map<String, Value>, KvError> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(KvError::bad("The request body is not a valid JSON object.")),
    }
}

fn unix_attr(
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
struct Props {
    content_type: Option<Option<String>>,
    enabled: Option<bool>,
    nbf: Option<Option<OffsetDateTime>>,
    exp: Option<Option<OffsetDateTime>>,
    tags: Option<BTreeMap<String, String>>,
}

fn parse_props(body: &Map<String, Value>) -> Result<Props, KvError> {
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

fn set(vault: &mut Vault, name: &str, body: &Bytes) -> Result<Value, KvError> {
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

fn find_version<'a>(
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

fn missing(name: &str, version: Option<&str>) -> KvError {
    match version {
        Some(v) => KvError::not_found(&format!("{name}/{v}")),
        None => KvError::not_found(name),
    }
}

fn get(vault: &mut Vault, name: &str, version: Option<&str>) -> Result<Value, KvError> {
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

fn update(
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
fn paging(query: &HashMap<String, String>) -> Result<(usize, usize), KvError> {
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
fn page<T>(
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

fn list(
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

fn list_versions(
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

fn delete(vault: &mut Vault, name: &str) -> Result<Value, KvError> {
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

fn deleted_list(
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
