//! Claim checks that need nothing fetched (tenant, client, audience, time, lifetime, roles)
//! and the issuer rules: v2 from discovery, v1 per cloud.

use super::*;

#[derive(Deserialize)]
pub(super) struct RawClaims {
    #[serde(default)]
    pub(super) iss: Option<String>,
    #[serde(default)]
    pub(super) aud: Option<Audience>,
    #[serde(default)]
    pub(super) tid: Option<String>,
    #[serde(default)]
    pub(super) appid: Option<String>,
    #[serde(default)]
    pub(super) azp: Option<String>,
    #[serde(default)]
    pub(super) ver: Option<String>,
    #[serde(default)]
    pub(super) iat: Option<i64>,
    #[serde(default)]
    pub(super) nbf: Option<i64>,
    #[serde(default)]
    pub(super) exp: Option<i64>,
    #[serde(default)]
    pub(super) roles: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum Audience {
    One(String),
    Many(Vec<String>),
}

/// Refuses a token that lives longer than `max` (`exp` − `nbf`): Entra ID issues at most a day.
pub(super) fn check_lifetime(claims: &TokenClaims, max: Duration) -> Result<(), StepError> {
    let lifetime = claims.expires_at - claims.not_before;
    let max = time::Duration::try_from(max).unwrap_or(time::Duration::MAX);
    if lifetime > max {
        return Err(invalid(format!(
            "token lifetime (exp - nbf) of {} exceeds max_token_lifetime of {}: refused",
            crate::timefmt::duration_abs(lifetime),
            crate::timefmt::duration_abs(max)
        )));
    }
    Ok(())
}

/// The v1 issuer of a known cloud (Learn "Access token claims reference", `iss`, and the clouds'
/// v1 OpenID configurations): the public and US Government clouds share
/// `https://sts.windows.net/{tid}/`; Azure China has `https://sts.chinacloudapi.cn/{tid}/`.
/// `None` for a custom cloud, whose v1 configuration says.
pub fn known_v1_issuer(cloud: CloudName, tenant_id: &str) -> Option<String> {
    let tid = tenant_id.to_ascii_lowercase();
    match cloud {
        CloudName::Public | CloudName::UsGovernment => {
            Some(format!("https://sts.windows.net/{tid}/"))
        }
        CloudName::China => Some(format!("https://sts.chinacloudapi.cn/{tid}/")),
        CloudName::Custom => None,
    }
}

/// The `issuer` of an OpenID configuration, with the `{tenantid}` placeholder of the
/// multi-tenant documents replaced by the tenant.
pub(super) fn discovered_issuer(
    issuer: Option<String>,
    tenant_id: &str,
    which: &str,
) -> Result<String, StepError> {
    let issuer = issuer
        .filter(|i| !i.trim().is_empty() && i.len() <= 512)
        .ok_or_else(|| {
            StepError::new(
                ErrorClass::MalformedResponse,
                format!("the tenant's {which} OpenID configuration has no issuer"),
            )
        })?;
    Ok(issuer.replace("{tenantid}", &tenant_id.to_ascii_lowercase()))
}

/// The token's `iss` must be the tenant's issuer for its version, exactly (case aside).
pub(super) fn check_issuer(claims: &TokenClaims, expected: &str) -> Result<(), StepError> {
    if claims.issuer.eq_ignore_ascii_case(expected) {
        return Ok(());
    }
    Err(invalid(format!(
        "token issuer {:?} is not the tenant's issuer (expected {expected} for a v{} token)",
        claims.issuer.chars().take(120).collect::<String>(),
        claims.version.trim_end_matches(".0")
    )))
}

/// The audiences a token may carry for `expect`.
///
/// Learn "Access token claims reference", `aud`: "In v2.0 tokens, this value is always the
/// client ID of the API. In v1.0 tokens, it can be the client ID or the resource URI used in
/// the request." So: the target's explicit `audience` when set (the documented way to name a
/// v2 API's client id); else the resource, plus the API's client id when the resource names it
/// in one of the two default App ID URI forms, `api://{appId}` and `api://{tenantId}/{appId}`
/// (Learn "Restrictions on identifier URIs": a GUID right after `api://` is the app id or the
/// tenant id, so the tenant's own id is never taken for the app's).
pub fn expected_audiences(expect: &Expectations<'_>) -> Vec<String> {
    if let Some(a) = expect.audience {
        return vec![trim_slash(a)];
    }
    let mut out = vec![trim_slash(expect.resource)];
    if let Some(rest) = expect
        .resource
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("api://"))
        .and_then(|_| expect.resource.get(6..))
    {
        let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        let app_id = match parts.as_slice() {
            [id] if !id.eq_ignore_ascii_case(expect.tenant_id) => Some(*id),
            [tenant, id] if tenant.eq_ignore_ascii_case(expect.tenant_id) => Some(*id),
            _ => None,
        };
        if let Some(id) = app_id.filter(|id| is_guid(id)) {
            out.push(id.to_ascii_lowercase());
        }
    }
    out
}

/// Every claim check that needs nothing fetched: all but the issuer ([`check_issuer`]).
pub(super) fn check_claims(
    c: RawClaims,
    expect: &Expectations<'_>,
    now: OffsetDateTime,
) -> Result<TokenClaims, StepError> {
    let tid = c.tid.ok_or_else(|| invalid("token has no `tid` claim"))?;
    if !tid.eq_ignore_ascii_case(expect.tenant_id) {
        return Err(invalid(format!(
            "token tenant {tid:?} is not the app's tenant {}",
            expect.tenant_id
        )));
    }
    let version = c.ver.unwrap_or_else(|| "1.0".into());
    let client = match version.as_str() {
        "2.0" => c.azp,
        _ => c.appid.or(c.azp),
    }
    .ok_or_else(|| invalid("token has no `appid`/`azp` claim"))?;
    if !client.eq_ignore_ascii_case(expect.client_id) {
        return Err(invalid(format!(
            "token was issued to client {client:?}, not to the app {}",
            expect.client_id
        )));
    }
    let iss = c.iss.ok_or_else(|| invalid("token has no `iss` claim"))?;
    let audiences = match c.aud {
        Some(Audience::One(a)) => vec![a],
        Some(Audience::Many(v)) => v,
        None => return Err(invalid("token has no `aud` claim")),
    };
    let wanted = expected_audiences(expect);
    let Some(aud) = audiences
        .iter()
        .find(|a| wanted.contains(&trim_slash(a)))
        .cloned()
    else {
        return Err(invalid(audience_mismatch(expect, &audiences, &version)));
    };
    let exp = unix(
        c.exp.ok_or_else(|| invalid("token has no `exp` claim"))?,
        "exp",
    )?;
    let nbf = match c.nbf {
        Some(n) => unix(n, "nbf")?,
        None => return Err(invalid("token has no `nbf` claim")),
    };
    let skew = time::Duration::try_from(CLOCK_SKEW).unwrap_or(time::Duration::minutes(5));
    if exp <= now {
        return Err(invalid(format!(
            "token expired at {}",
            crate::timefmt::rfc3339(exp)
        )));
    }
    if nbf > now + skew {
        return Err(invalid(format!(
            "token is not valid before {}",
            crate::timefmt::rfc3339(nbf)
        )));
    }
    if exp <= nbf {
        return Err(invalid("token `exp` is not after `nbf`"));
    }
    let missing: Vec<&String> = expect
        .required_roles
        .iter()
        .filter(|r| !c.roles.iter().any(|have| have == *r))
        .collect();
    if !missing.is_empty() {
        return Err(invalid(format!(
            "token lacks required role(s) {missing:?}: grant these application permissions to app {} and give admin consent",
            expect.client_id
        )));
    }
    Ok(TokenClaims {
        issuer: iss,
        audience: aud,
        tenant_id: tid,
        client_id: client,
        version,
        issued_at: c
            .iat
            .and_then(|i| OffsetDateTime::from_unix_timestamp(i).ok()),
        not_before: nbf,
        expires_at: exp,
        roles: c.roles,
    })
}

/// Why the audience does not match, with the fix when the token is a v2 token for an API
/// whose client id the config does not name.
pub(super) fn audience_mismatch(
    expect: &Expectations<'_>,
    audiences: &[String],
    version: &str,
) -> String {
    let want = expect.audience.unwrap_or(expect.resource);
    let what = if expect.audience.is_some() {
        "the target's audience"
    } else {
        "the target resource"
    };
    let guid = audiences
        .iter()
        .find(|a| is_guid(a))
        .filter(|_| version == "2.0" && expect.audience.is_none());
    match guid {
        Some(id) => format!(
            "token audience {id:?} is not {what} {want}: v2.0 tokens carry the API's application (client) id; \
             if {id} is that API's client id, set audience = \"{id}\" on this target"
        ),
        None => format!("token audience is not {what} {want}"),
    }
}
