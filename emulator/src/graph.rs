//! Microsoft Graph applications served by its own listener: read an application's
//! `passwordCredentials`, `addPassword` (with the tenant's app-management lifetime policy and
//! the propagation delay before the new secret works) and `removePassword`, with Graph's
//! permission model (`Application.Read.All`, `Application.ReadWrite.All`,
//! `Application.ReadWrite.OwnedBy` + ownership) and Graph-shaped errors.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::state::{App, DEFAULT_SECRET_LIFETIME, PasswordCredential, Shared, now};

/// Audience of Graph tokens.
pub(crate) const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";
/// Service name in the stats.
pub(crate) const SERVICE: &str = "graph";
const METADATA: &str = "https://graph.microsoft.com/v1.0/$metadata";

/// Which application a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    AppId(String),
    ObjectId(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Get(Target),
    AddPassword(Target),
    RemovePassword(Target),
    Unknown,
}

impl Op {
    fn parse(method: &Method, uri: &Uri) -> Op {
        let path = crate::form::percent_decode(uri.path());
        let segs: Vec<&str> = path
            .trim_start_matches('/')
            .trim_end_matches('/')
            .split('/')
            .collect();
        let (target, action) = match segs.as_slice() {
            ["v1.0", one, rest @ ..] if one.starts_with("applications(") => {
                let inner = one
                    .strip_prefix("applications(")
                    .and_then(|r| r.strip_suffix(')'))
                    .unwrap_or("");
                let Some(app_id) = inner
                    .strip_prefix("appId=")
                    .map(|v| v.trim_matches('\'').to_string())
                else {
                    return Op::Unknown;
                };
                (Target::AppId(app_id), rest)
            }
            ["v1.0", "applications", id, rest @ ..] => (Target::ObjectId(id.to_string()), rest),
            _ => return Op::Unknown,
        };
        match (method.as_str(), action) {
            ("GET", []) => Op::Get(target),
            ("POST", ["addPassword"]) => Op::AddPassword(target),
            ("POST", ["removePassword"]) => Op::RemovePassword(target),
            _ => Op::Unknown,
        }
    }
}

/// The operation name of a request (for stats and fault rules).
pub(crate) fn operation(method: &Method, uri: &Uri) -> &'static str {
    match Op::parse(method, uri) {
        Op::Get(_) => "ApplicationGet",
        Op::AddPassword(_) => "AddPassword",
        Op::RemovePassword(_) => "RemovePassword",
        Op::Unknown => "Unknown",
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

/// Graph response headers: `request-id`, `client-request-id`, OData content type.
struct Ids {
    request_id: String,
    client_request_id: String,
}

impl Ids {
    fn new(headers: &HeaderMap) -> Ids {
        let request_id = uuid::Uuid::new_v4().to_string();
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| request_id.clone());
        Ids {
            request_id,
            client_request_id,
        }
    }

    fn finish(&self, mut resp: Response) -> Response {
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.request_id) {
            h.insert("request-id", v);
        }
        if let Ok(v) = HeaderValue::from_str(&self.client_request_id) {
            h.insert("client-request-id", v);
        }
        if h.contains_key(header::CONTENT_TYPE) {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
                ),
            );
        }
        resp
    }

    fn json(&self, status: StatusCode, body: Value) -> Response {
        self.finish((status, axum::Json(body)).into_response())
    }

    fn error(&self, status: StatusCode, code: &str, message: &str) -> Response {
        self.json(
            status,
            json!({"error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": rfc3339(OffsetDateTime::now_utc()),
                    "request-id": self.request_id,
                    "client-request-id": self.client_request_id,
                }
            }}),
        )
    }
}

fn credential_json(c: &PasswordCredential, secret_text: Option<&str>) -> Value {
    json!({
        "customKeyIdentifier": null,
        "displayName": c.display_name,
        "endDateTime": rfc3339(c.end),
        "hint": c.hint,
        "keyId": c.key_id,
        "secretText": secret_text,
        "startDateTime": rfc3339(c.start),
    })
}

/// A new client secret text shaped like Entra's: 40 characters, `Q~` at positions 4–5.
fn new_secret_text() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.~";
    const ALNUM: usize = 62;
    let mut buf = [0u8; 40];
    if aws_lc_rs::rand::fill(&mut buf).is_err() {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = crate::jwt::random_in(0, 255) as u8 ^ i as u8;
        }
    }
    let mut out = String::with_capacity(40);
    for (i, b) in buf.iter().enumerate() {
        let c = match i {
            3 => b'8',
            4 => b'Q',
            5 => b'~',
            0..=2 => ALPHABET[*b as usize % ALNUM],
            _ => ALPHABET[*b as usize % ALPHABET.len()],
        };
        out.push(c as char);
    }
    out
}

/// Serves one Graph request.
pub(crate) fn handle(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let ids = Ids::new(headers);
    let op = Op::parse(method, uri);
    let target = match &op {
        Op::Get(t) | Op::AddPassword(t) | Op::RemovePassword(t) => t.clone(),
        Op::Unknown => {
            return ids.error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("Resource not found for the segment '{}'.", uri.path()),
            );
        }
    };
    let Some(token) = crate::bearer::bearer(headers) else {
        return ids.error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty.",
        );
    };
    let claims = match crate::bearer::check(shared, token, &[GRAPH_AUDIENCE]) {
        Ok(c) => c,
        Err(why) => {
            return ids.error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                &format!("Access token validation failure. {why}"),
            );
        }
    };
    let roles = crate::bearer::roles(&claims);
    let has = |r: &str| roles.iter().any(|x| x == r);
    let write = !matches!(op, Op::Get(_));
    let all_access = if write {
        has("Application.ReadWrite.All")
    } else {
        has("Application.Read.All")
            || has("Application.ReadWrite.All")
            || has("Directory.Read.All")
            || has("Directory.ReadWrite.All")
    };
    let owned_by = has("Application.ReadWrite.OwnedBy");
    let denied = || {
        ids.error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    };
    if !all_access && !owned_by {
        return denied();
    }
    let tid = claims
        .get("tid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    let caller = crate::bearer::client_id(&claims);
    let mut world = shared.world_mut();
    let propagation = world.secret_propagation_secs;
    let policy = world.tenant_policy(&tid);
    let owners = {
        let found = world.tenants.get(&tid).and_then(|apps| find(apps, &target));
        match found {
            Some(app) => world.registration(&app.client_id).owners,
            None => {
                let what = match &target {
                    Target::AppId(a) => format!("appId='{a}'"),
                    Target::ObjectId(o) => o.clone(),
                };
                return ids.error(
                    StatusCode::NOT_FOUND,
                    "Request_ResourceNotFound",
                    &format!(
                        "Resource '{what}' does not exist or one of its queried reference-property objects are not present."
                    ),
                );
            }
        }
    };
    if !all_access && !owners.iter().any(|o| o.eq_ignore_ascii_case(&caller)) {
        return denied();
    }
    let Some(app) = world
        .tenants
        .get_mut(&tid)
        .and_then(|apps| find_mut(apps, &target))
    else {
        return denied();
    };
    match op {
        Op::Get(_) => get(&ids, app, uri),
        Op::AddPassword(_) => add_password(
            &ids,
            app,
            body,
            policy.max_secret_lifetime_days,
            propagation,
        ),
        Op::RemovePassword(_) => remove_password(&ids, app, body),
        Op::Unknown => denied(),
    }
}

fn matches(app: &App, target: &Target) -> bool {
    match target {
        Target::AppId(a) => app.client_id.eq_ignore_ascii_case(a),
        Target::ObjectId(o) => app.application_object_id.eq_ignore_ascii_case(o),
    }
}

fn find<'a>(apps: &'a std::collections::BTreeMap<String, App>, t: &Target) -> Option<&'a App> {
    apps.values().find(|a| matches(a, t))
}

fn find_mut<'a>(
    apps: &'a mut std::collections::BTreeMap<String, App>,
    t: &Target,
) -> Option<&'a mut App> {
    apps.values_mut().find(|a| matches(a, t))
}

fn get(ids: &Ids, app: &App, uri: &Uri) -> Response {
    let query: HashMap<String, String> = uri
        .query()
        .map(crate::form::query_pairs)
        .unwrap_or_default();
    let mut full = Map::new();
    full.insert("id".into(), json!(app.application_object_id));
    full.insert("appId".into(), json!(app.client_id));
    full.insert("displayName".into(), json!(app.display_name));
    full.insert(
        "passwordCredentials".into(),
        Value::Array(
            app.credentials
                .iter()
                .map(|c| credential_json(c, None))
                .collect(),
        ),
    );
    full.insert("keyCredentials".into(), json!([]));
    let mut out = Map::new();
    match query.get("$select").filter(|s| !s.trim().is_empty()) {
        Some(select) => {
            let fields: Vec<&str> = select.split(',').map(str::trim).collect();
            out.insert(
                "@odata.context".into(),
                json!(format!(
                    "{METADATA}#applications({})/$entity",
                    fields.join(",")
                )),
            );
            for f in fields {
                match full.get(f) {
                    Some(v) => {
                        out.insert(f.to_string(), v.clone());
                    }
                    None => {
                        return ids.error(
                            StatusCode::BAD_REQUEST,
                            "BadRequest",
                            &format!(
                                "Could not find a property named '{f}' on type 'microsoft.graph.application'."
                            ),
                        );
                    }
                }
            }
        }
        None => {
            out.insert(
                "@odata.context".into(),
                json!(format!("{METADATA}#applications/$entity")),
            );
            out.extend(full);
        }
    }
    ids.json(StatusCode::OK, Value::Object(out))
}

fn parse_object(body: &Bytes) -> Result<Map<String, Value>, ()> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(()),
    }
}

fn add_password(
    ids: &Ids,
    app: &mut App,
    body: &Bytes,
    max_days: Option<u32>,
    propagation_secs: u64,
) -> Response {
    let bad = |msg: &str| ids.error(StatusCode::BAD_REQUEST, "Request_BadRequest", msg);
    let Ok(body) = parse_object(body) else {
        return bad(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        );
    };
    let pc = match body.get("passwordCredential") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return bad("Invalid value specified for property 'passwordCredential'."),
    };
    let time_field = |k: &str| -> Result<Option<OffsetDateTime>, String> {
        let invalid = || {
            format!("Invalid value specified for property '{k}' of resource 'PasswordCredential'.")
        };
        match pc.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => OffsetDateTime::parse(s, &Rfc3339)
                .map(Some)
                .map_err(|_| invalid()),
            Some(_) => Err(invalid()),
        }
    };
    let now = now();
    let start = match time_field("startDateTime") {
        Ok(t) => t.unwrap_or(now),
        Err(msg) => return bad(&msg),
    };
    let end = match time_field("endDateTime") {
        Ok(t) => t.unwrap_or(start + DEFAULT_SECRET_LIFETIME),
        Err(msg) => return bad(&msg),
    };
    if end <= start {
        return bad(
            "Invalid value specified for property 'endDateTime' of resource 'PasswordCredential'.",
        );
    }
    if let Some(days) = max_days
        && end - start > time::Duration::days(i64::from(days))
    {
        return ids.error(
            StatusCode::BAD_REQUEST,
            "CredentialInvalidLifetimeAsPerAppPolicy",
            "Credential lifetime exceeds the max value allowed as per assigned policy.",
        );
    }
    let display_name = match pc.get("displayName") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let secret = new_secret_text();
    let cred = PasswordCredential {
        key_id: uuid::Uuid::new_v4().to_string(),
        hint: secret.chars().take(3).collect(),
        value: secret.clone(),
        display_name,
        start,
        end,
        usable_from: (propagation_secs > 0)
            .then(|| OffsetDateTime::now_utc() + time::Duration::seconds(propagation_secs as i64)),
    };
    let mut out = credential_json(&cred, Some(&secret));
    out["@odata.context"] = json!(format!("{METADATA}#microsoft.graph.passwordCredential"));
    app.credentials.push(cred);
    ids.json(StatusCode::OK, out)
}

fn remove_password(ids: &Ids, app: &mut App, body: &Bytes) -> Response {
    let key_id = parse_object(body)
        .ok()
        .and_then(|b| b.get("keyId").and_then(Value::as_str).map(str::to_string));
    let Some(key_id) = key_id else {
        return ids.error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "The request body must contain the property 'keyId'.",
        );
    };
    let before = app.credentials.len();
    app.credentials
        .retain(|c| !c.key_id.eq_ignore_ascii_case(&key_id));
    if app.credentials.len() == before {
        return ids.error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!("No password credential found with keyId '{key_id}'."),
        );
    }
    ids.finish(StatusCode::NO_CONTENT.into_response())
}
