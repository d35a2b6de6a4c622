//! Who may call a vault: the bearer token (signature, issuer, tenant, audience, lifetime), the
//! 401 challenge, and RBAC-style permissions per principal and secret (403 ForbiddenByRbac).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::Op;
use super::error::KvError;
use crate::state::Shared;

/// A 401; the listener adds the `WWW-Authenticate` challenge to every 401.
pub(super) fn challenge(message: &str) -> KvError {
    KvError::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
}

/// Returns the verified claims, or a 401 with the challenge header (added by the caller).
pub(super) fn authenticate(
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
        crate::entra::v2_issuer(shared, &tid),
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

pub(super) fn authorize(
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
            // Azure RBAC assigns roles to a principal (object) id; seeds may name the client
            // id instead, as they always have.
            (p.principal.eq_ignore_ascii_case(principal)
                || (!oid.is_empty() && p.principal.eq_ignore_ascii_case(oid)))
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
