//! Bearer token checks shared by the Graph and Power BI listeners: emulator signature,
//! audience, `exp`/`nbf` (with the seeded clock skew, 60 s unless set), a known tenant and a
//! matching issuer.

use axum::http::{HeaderMap, header};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::state::Shared;

/// The bearer token of a request, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    auth.strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Verifies `token` for one of `audiences` (with or without trailing slash) and returns its
/// claims, or why it is not acceptable.
pub(crate) fn check(
    shared: &Shared,
    token: &str,
    audiences: &[&str],
) -> Result<Map<String, Value>, String> {
    let claims = shared.keys().verify(token)?;
    let s = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or("");
    let aud = s("aud").trim_end_matches('/');
    if !audiences.iter().any(|a| a.trim_end_matches('/') == aud) {
        return Err(format!("Invalid audience {aud}."));
    }
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let skew = i64::try_from(shared.world().token_clock_skew_secs).unwrap_or(i64::MAX);
    let num = |k: &str| claims.get(k).and_then(Value::as_i64);
    match num("exp") {
        // `exp` is the first second the token is no longer valid (RFC 7519 4.1.4).
        Some(exp) if now < exp.saturating_add(skew) => {}
        Some(_) => return Err("Lifetime validation failed, the token is expired.".into()),
        None => return Err("The token has no exp claim.".into()),
    }
    if num("nbf").is_some_and(|nbf| nbf.saturating_sub(skew) > now) {
        return Err("Lifetime validation failed, the token is not yet valid.".into());
    }
    let tid = s("tid").to_ascii_lowercase();
    if !shared.world().tenants.contains_key(&tid) {
        return Err(format!("Unknown tenant '{tid}'."));
    }
    let iss = s("iss");
    let accepted = [
        format!("https://sts.windows.net/{tid}/"),
        format!("https://login.microsoftonline.com/{tid}/v2.0"),
        crate::entra::v2_issuer(shared, &tid),
    ];
    if !accepted.iter().any(|a| a.eq_ignore_ascii_case(iss)) {
        return Err(format!("Invalid issuer {iss}."));
    }
    Ok(claims)
}

/// The caller's client id (`appid`, or `azp` in v2 tokens).
pub(crate) fn client_id(claims: &Map<String, Value>) -> String {
    claims
        .get("appid")
        .or_else(|| claims.get("azp"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// The `roles` claim.
pub(crate) fn roles(claims: &Map<String, Value>) -> Vec<String> {
    claims
        .get("roles")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
