//! The Microsoft Entra ID side of the login listener: the v2 and v1 client-credentials token
//! endpoints, OpenID discovery and JWKS, with Entra-shaped tokens and AADSTS error bodies.
//! Owns token minting policy (claims, lifetimes); does not know about vaults. Client
//! assertions are in `assertion`, error bodies in `error`, discovery in `discovery`.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use time::OffsetDateTime;

mod assertion;
mod discovery;
mod error;

pub(crate) use discovery::{instance_discovery, jwks, openid_configuration};
pub(crate) use error::{AadError, throttled};

use crate::jwt::{SigningKey, mint_unsigned, random_b64, random_in};
use crate::seed::TokenFault;
use crate::state::{App, Registration, Shared};
use error::{bad_request, json_response};

/// The `iss` of v1.0 tokens: the public cloud's v1 issuer, as in a real v1 token ("Access token
/// claims reference", `iss`; the v1 OpenID configuration publishes the same `issuer`).
pub(crate) const V1_ISSUER: &str = "https://sts.windows.net/{tid}/";

/// The `iss` of v2.0 tokens: `{authority}/{tid}/v2.0` from the emulator's own authority, the
/// `issuer` its v2 OpenID configuration publishes ("OpenID Connect on the Microsoft identity
/// platform": validate `iss` against the configuration document's `issuer`).
pub(crate) fn v2_issuer(shared: &Shared, tid: &str) -> String {
    format!(
        "{}/{}/v2.0",
        shared.authority_host.trim_end_matches('/'),
        tid.to_ascii_lowercase()
    )
}

/// Which token endpoint was called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    V1,
    V2,
}

/// How the client authenticated.
enum ClientCredential<'a> {
    Secret(&'a str),
    Assertion {
        kind: Option<&'a str>,
        assertion: &'a str,
    },
    Missing,
}

/// What the caller proved, for `appidacr` / `azpacr`: "1" secret, "2" assertion.
type Acr = &'static str;

impl<'a> ClientCredential<'a> {
    fn from_form(form: &'a HashMap<String, String>) -> ClientCredential<'a> {
        if let Some(s) = form.get("client_secret") {
            ClientCredential::Secret(s)
        } else if let Some(a) = form.get("client_assertion") {
            ClientCredential::Assertion {
                kind: form.get("client_assertion_type").map(String::as_str),
                assertion: a,
            }
        } else {
            ClientCredential::Missing
        }
    }

    fn check(
        &self,
        app: &App,
        registration: &Registration,
        token_urls: &[String],
        now: OffsetDateTime,
    ) -> Result<Acr, AadError> {
        let invalid_secret = || {
            AadError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000215,
                format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                    app.client_id
                ),
            )
        };
        match self {
            ClientCredential::Secret(value) => {
                let Some(secret) = app.credentials.iter().find(|s| s.value == *value) else {
                    return Err(invalid_secret());
                };
                if secret.usable_from.is_some_and(|t| t > now) {
                    return Err(invalid_secret());
                }
                if secret.end < now {
                    return Err(AadError::new(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        7000222,
                        format!(
                            "The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.",
                            app.client_id
                        ),
                    ));
                }
                if secret.start > now {
                    return Err(invalid_secret());
                }
                Ok("1")
            }
            ClientCredential::Assertion { kind, assertion } => {
                if *kind != Some(assertion::JWT_BEARER) {
                    return Err(bad_request(
                        "invalid_request",
                        900144,
                        format!(
                            "The request body must contain the following parameter: 'client_assertion_type' with the value '{}'.",
                            assertion::JWT_BEARER
                        ),
                    ));
                }
                assertion::verify(assertion, &app.client_id, registration, token_urls, now)?;
                Ok("2")
            }
            ClientCredential::Missing => Err(AadError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".to_string(),
            )),
        }
    }
}

/// Handles a token request for `tenant` and returns the response (success or AADSTS error).
pub(crate) fn token(
    shared: &Shared,
    endpoint: Endpoint,
    tenant: &str,
    form: &HashMap<String, String>,
) -> Response {
    let admitted = shared
        .world_mut()
        .entra_throttle
        .as_mut()
        .is_none_or(|t| t.admit());
    if !admitted {
        return throttled(&shared.authority_host);
    }
    match issue(shared, endpoint, tenant, form) {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(e) => e.into_response(&shared.authority_host),
    }
}

/// The resource a request asks for, from `scope` (v2) or `resource` (v1).
fn requested_resource(
    endpoint: Endpoint,
    form: &HashMap<String, String>,
) -> Result<String, AadError> {
    match endpoint {
        Endpoint::V1 => form
            .get("resource")
            .filter(|r| !r.trim().is_empty())
            .map(|r| r.trim().to_string())
            .ok_or_else(|| {
                bad_request(
                    "invalid_resource",
                    50001,
                    "The resource is required for this request: provide the 'resource' parameter."
                        .to_string(),
                )
            }),
        Endpoint::V2 => {
            let raw = form.get("scope").map(String::as_str).unwrap_or("");
            let scopes: Vec<&str> = raw
                .split_whitespace()
                .filter(|s| !matches!(*s, "openid" | "profile" | "offline_access"))
                .collect();
            match scopes.as_slice() {
                [] => Err(bad_request(
                    "invalid_scope",
                    70011,
                    "The provided request must include a 'scope' input parameter.".to_string(),
                )),
                [one] => match one.strip_suffix("/.default") {
                    Some(resource) if !resource.is_empty() => Ok(resource.to_string()),
                    _ => Err(bad_request(
                        "invalid_scope",
                        1002012,
                        format!(
                            "The provided value for scope {one} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                        ),
                    )),
                },
                _ => Err(bad_request(
                    "invalid_scope",
                    70011,
                    format!(
                        "The provided value for the input parameter 'scope' is not valid. The scope {raw} is not valid."
                    ),
                )),
            }
        }
    }
}

fn issue(
    shared: &Shared,
    endpoint: Endpoint,
    tenant: &str,
    form: &HashMap<String, String>,
) -> Result<Value, AadError> {
    let now = OffsetDateTime::now_utc();
    let world = shared.world();
    let Some(apps) = world.tenants.get(&tenant.to_ascii_lowercase()) else {
        return Err(bad_request(
            "invalid_tenant",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        ));
    };
    let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
    if grant != "client_credentials" {
        return Err(bad_request(
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant}'."),
        ));
    }
    let client_id = form.get("client_id").map(String::as_str).unwrap_or("");
    if client_id.is_empty() {
        return Err(bad_request(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.".to_string(),
        ));
    }
    let Some(app) = apps.get(&client_id.to_ascii_lowercase()) else {
        return Err(bad_request(
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        ));
    };
    let requested = requested_resource(endpoint, form)?;
    let Some(resolved) = world.resource(&requested) else {
        return Err(bad_request(
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {requested} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
            ),
        ));
    };
    let (audience, version) = (resolved.audience.clone(), resolved.version);
    let tid = tenant.to_ascii_lowercase();
    let a = &shared.authority_host;
    let token_urls = [
        format!("{a}/{tenant}/oauth2/v2.0/token"),
        format!("{a}/{tenant}/oauth2/token"),
        format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"),
        format!("https://login.microsoftonline.com/{tenant}/oauth2/token"),
    ];
    let acr = ClientCredential::from_form(form).check(
        app,
        &world.registration(&app.client_id),
        &token_urls,
        now,
    )?;
    let fault = shared.token_fault(&app.client_id);

    let (lo, hi) = world.lifetime_for(&audience);
    let lifetime = random_in(lo, hi) as i64;
    let issued = now.unix_timestamp();
    let (iat, exp) = match fault {
        Some(TokenFault::Expired) => (issued - 3600 - lifetime - 300, issued - 3600),
        Some(TokenFault::NotYetValid) => (issued + 3600, issued + 3600 + lifetime),
        Some(TokenFault::ForgedNonce) => (issued - 300, issued + FORGED_LIFETIME),
        _ => (issued - 300, issued + lifetime),
    };
    let mut claims = json!({
        "aud": audience,
        "iat": iat,
        "nbf": iat,
        "exp": exp,
        "aio": format!("E2{}=", random_b64(48)),
        "idp": format!("https://sts.windows.net/{tid}/"),
        "oid": app.object_id,
        "rh": format!("1.A{}.", random_b64(40)),
        "sub": app.object_id,
        "tid": tid,
        "uti": random_b64(16),
    });
    if version == 2 {
        claims["iss"] = json!(v2_issuer(shared, &tid));
        claims["azp"] = json!(app.client_id);
        claims["azpacr"] = json!(acr);
        claims["ver"] = json!("2.0");
    } else {
        claims["iss"] = json!(V1_ISSUER.replace("{tid}", &tid));
        claims["appid"] = json!(app.client_id);
        claims["appidacr"] = json!(acr);
        claims["ver"] = json!("1.0");
    }
    // Roles are granted on the resource app: seeds name it by App ID URI or client id.
    let roles = app
        .roles
        .iter()
        .find(|(key, _)| {
            key.trim_end_matches('/') == resolved.uri.trim_end_matches('/')
                || resolved
                    .client_id
                    .as_deref()
                    .is_some_and(|id| id.eq_ignore_ascii_case(key))
        })
        .map(|(_, r)| r.clone())
        .unwrap_or_default();
    if !roles.is_empty() {
        claims["roles"] = json!(roles);
    }
    apply_claim_fault(&mut claims, fault, version, shared);
    let nonce = (resolved.uri.starts_with("https://graph.microsoft.com")
        || fault == Some(TokenFault::ForgedNonce))
    .then(|| random_b64(32));
    drop(world);
    let access_token = sign(shared, &claims, nonce.as_deref(), fault).map_err(|e| {
        AadError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            50000,
            format!("There was an error issuing a token: {e}"),
        )
    })?;
    // Expired / not-yet-valid tokens still report the normal lifetime: only a client that
    // reads the token itself notices.
    let expires_in = if matches!(fault, Some(TokenFault::Expired | TokenFault::NotYetValid)) {
        lifetime
    } else {
        exp - issued
    };
    Ok(match endpoint {
        Endpoint::V2 => json!({
            "token_type": "Bearer",
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": access_token,
        }),
        Endpoint::V1 => json!({
            "token_type": "Bearer",
            "expires_in": expires_in.to_string(),
            "ext_expires_in": expires_in.to_string(),
            "expires_on": exp.to_string(),
            "not_before": iat.to_string(),
            "resource": requested,
            "access_token": access_token,
        }),
    })
}

/// `exp` − `iat` of a [`TokenFault::ForgedNonce`] token: 30 days.
const FORGED_LIFETIME: i64 = 30 * 86_400;

/// Breaks the claims of a token as `fault` says (signature faults are applied by [`sign`]).
fn apply_claim_fault(claims: &mut Value, fault: Option<TokenFault>, version: u8, shared: &Shared) {
    let Some(fault) = fault else { return };
    match fault {
        TokenFault::WrongAudience => claims["aud"] = json!("api://akv-emulator/wrong-audience"),
        TokenFault::MissingRoles => {
            if let Some(o) = claims.as_object_mut() {
                o.remove("roles");
            }
        }
        TokenFault::WrongIssuer => {
            let other = uuid::Uuid::new_v4();
            let other = other.to_string();
            claims["iss"] = if version == 2 {
                json!(v2_issuer(shared, &other))
            } else {
                json!(V1_ISSUER.replace("{tid}", &other))
            };
        }
        TokenFault::WrongClientId => {
            let key = if version == 2 { "azp" } else { "appid" };
            claims[key] = json!(uuid::Uuid::new_v4().to_string());
        }
        TokenFault::ForgedNonce => {
            let mut roles: Vec<Value> = claims["roles"].as_array().cloned().unwrap_or_default();
            roles.push(json!("Tenant.ReadWrite.All"));
            claims["roles"] = json!(roles);
        }
        TokenFault::Expired
        | TokenFault::NotYetValid
        | TokenFault::BadSignature
        | TokenFault::UnknownKid
        | TokenFault::AlgNone => {}
    }
}

/// Signs the claims with the current key, or breaks the signature as `fault` says.
fn sign(
    shared: &Shared,
    claims: &Value,
    nonce: Option<&str>,
    fault: Option<TokenFault>,
) -> anyhow::Result<String> {
    match fault {
        Some(TokenFault::AlgNone) => mint_unsigned(claims),
        Some(TokenFault::BadSignature) => shared.keys().current.mint_with(claims, nonce, true),
        Some(TokenFault::ForgedNonce) => {
            let token = shared.keys().current.mint(claims, nonce)?;
            let signed = token.rsplit_once('.').map_or(token.as_str(), |(h, _)| h);
            Ok(format!("{signed}.{}", random_b64(256)))
        }
        Some(TokenFault::UnknownKid) => {
            let existing = shared.keys().pending.clone();
            let pending = match existing {
                Some(k) => k,
                None => {
                    let fresh = SigningKey::generate()?;
                    shared.keys_mut().pending.get_or_insert(fresh).clone()
                }
            };
            pending.mint(claims, nonce)
        }
        _ => shared.keys().current.mint(claims, nonce),
    }
}
