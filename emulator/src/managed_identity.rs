//! The managed identity token endpoints of the emulated Azure host, served over plain HTTP as
//! Azure serves them: IMDS (`GET /metadata/identity/oauth2/token`, header `Metadata: true`) and
//! the App Service / Functions / Container Apps endpoint (`GET /msi/token`, header
//! `X-IDENTITY-HEADER`). Tokens are minted like the token endpoint's, for the identity's service
//! principal; vault permissions then apply to that principal. Owns no listener (that is
//! `server`).
//!
//! Sources: "How to use managed identities for Azure resources on an Azure VM to acquire an
//! access token" (IMDS request, response, error table), "Managed identities in Azure Container
//! Apps" and "How to use managed identities for App Service and Azure Functions" (REST endpoint
//! reference: `X-IDENTITY-HEADER`, `client_id` / `principal_id` / `object_id` / `mi_res_id`,
//! api-version 2019-08-01, response with `client_id`).

use std::collections::HashMap;

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::jwt::{random_b64, random_in};
use crate::seed::ManagedIdentitySeed;
use crate::state::Shared;

/// Service name of the managed identity listener in [`crate::Stats`].
pub(crate) const SERVICE: &str = "managed-identity";

/// IMDS's token path (the host is `169.254.169.254` on Azure).
pub(crate) const IMDS_PATH: &str = "/metadata/identity/oauth2/token";
/// The App Service style path (Container Apps: `http://localhost:42356/msi/token`).
pub(crate) const APP_SERVICE_PATH: &str = "/msi/token";

/// Which of the two protocols a request speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Imds,
    AppService,
}

/// The stats operation name of a request.
pub(crate) fn operation(uri: &Uri) -> &'static str {
    match uri.path() {
        IMDS_PATH => "ImdsToken",
        p if p.eq_ignore_ascii_case(APP_SERVICE_PATH) => "AppServiceToken",
        _ => "Unknown",
    }
}

/// Serves one request of the managed identity listener. `identity_header` is the secret the
/// App Service protocol requires in `X-IDENTITY-HEADER`.
pub(crate) fn handle(
    shared: &Shared,
    identity_header: &str,
    method: &axum::http::Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    let protocol = match uri.path() {
        IMDS_PATH => Protocol::Imds,
        p if p.eq_ignore_ascii_case(APP_SERVICE_PATH) => Protocol::AppService,
        other => {
            return (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"error": format!("no route for {other}")})),
            )
                .into_response();
        }
    };
    if method != axum::http::Method::GET {
        // IMDS: "405 Method not allowed: only GET requests are supported".
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match protocol {
        // The VM token doc's HTTP response reference: 400, "Required metadata header not
        // specified" (the value must be `true` in lower case). Documented with error
        // `bad_request_102`; IMDS answers `invalid_request` on the wire (the Azure SDK for .NET
        // records that body in its IMDS probe tests), which is what is served here.
        Protocol::Imds if header("metadata") != Some("true") => {
            return imds_error("invalid_request", "Required metadata header not specified");
        }
        // A Container Apps endpoint answers a request without the right header with an empty
        // 403 (captured in AzureAD/microsoft-authentication-library-for-dotnet#5245).
        Protocol::AppService if header("x-identity-header") != Some(identity_header) => {
            return StatusCode::FORBIDDEN.into_response();
        }
        _ => {}
    }
    let query: HashMap<String, String> = uri
        .query()
        .map(crate::form::query_pairs)
        .unwrap_or_default();
    issue(shared, protocol, &query)
}

/// IMDS's error body: `{"error", "error_description"}` with 400.
fn imds_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// The App Service token service's error body (`statusCode`, `message`, `correlationId`).
fn app_service_error(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({
            "statusCode": 400,
            "message": message,
            "correlationId": uuid::Uuid::new_v4().to_string(),
        })),
    )
        .into_response()
}

fn issue(shared: &Shared, protocol: Protocol, query: &HashMap<String, String>) -> Response {
    let error = |message: &str| match protocol {
        Protocol::Imds => imds_error("invalid_request", message),
        Protocol::AppService => app_service_error(message),
    };
    // IMDS: "Use API version 2018-02-01 or greater" (2019-08-01 is what the Rust SDK sends);
    // App Service / Container Apps: "2019-08-01 or later" (2017-09-01 is the older protocol
    // with another header, not served here).
    let accepted: &[&str] = match protocol {
        Protocol::Imds => &["2018-02-01", "2019-08-01"],
        Protocol::AppService => &["2019-08-01"],
    };
    match query.get("api-version") {
        Some(v) if accepted.contains(&v.as_str()) => {}
        Some(v) => return error(&format!("Unsupported api-version {v}.")),
        None => return error("Required query variable 'api-version' is missing."),
    }
    let Some(resource) = query.get("resource").filter(|r| !r.trim().is_empty()) else {
        return error("Required query variable 'resource' is missing.");
    };
    let selectors: &[&str] = match protocol {
        Protocol::Imds => &["client_id", "object_id", "msi_res_id", "mi_res_id"],
        Protocol::AppService => &["client_id", "principal_id", "object_id", "mi_res_id"],
    };
    let given: Vec<(&str, &String)> = selectors
        .iter()
        .filter_map(|k| query.get(*k).map(|v| (*k, v)))
        .collect();
    let identity = {
        let world = shared.world();
        let find = |pred: &dyn Fn(&ManagedIdentitySeed) -> bool| {
            world.managed_identities.values().find(|m| pred(m)).cloned()
        };
        match given.as_slice() {
            [] => find(&|m| m.system_assigned),
            [("client_id", id)] => find(&|m| m.client_id.eq_ignore_ascii_case(id)),
            [("object_id" | "principal_id", id)] => find(&|m| m.object_id.eq_ignore_ascii_case(id)),
            [(_, id)] => find(&|m| {
                m.resource_id
                    .as_deref()
                    .is_some_and(|r| r.eq_ignore_ascii_case(id))
            }),
            _ => {
                return error(
                    "Only one of client_id, object_id (principal_id) or mi_res_id may be given.",
                );
            }
        }
    };
    let Some(identity) = identity else {
        return match protocol {
            // The .NET SDK's IMDS tests record this body for an identity the VM does not have.
            Protocol::Imds => imds_error("invalid_request", "Identity not found"),
            Protocol::AppService => app_service_error(
                "No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId.",
            ),
        };
    };
    match mint(shared, protocol, &identity, resource) {
        Ok(body) => (StatusCode::OK, axum::Json(body)).into_response(),
        Err((status, message)) => match protocol {
            Protocol::Imds => (
                status,
                axum::Json(json!({"error": "invalid_resource", "error_description": message})),
            )
                .into_response(),
            Protocol::AppService => app_service_error(&message),
        },
    }
}

/// Mints the identity's token for `resource`, shaped like the token endpoint's app-only tokens
/// (a managed identity is a service principal: `appid`, `oid`, `appidacr` "2", and
/// `xms_mirid` for a user-assigned identity's resource id).
fn mint(
    shared: &Shared,
    protocol: Protocol,
    identity: &ManagedIdentitySeed,
    resource: &str,
) -> Result<Value, (StatusCode, String)> {
    let world = shared.world();
    let tid = identity.tenant_id.to_ascii_lowercase();
    let resolved = world.resource(resource).ok_or_else(|| {
        (
            StatusCode::BAD_REQUEST,
            format!(
                "AADSTS500011: The resource principal named {resource} was not found in the tenant named {tid}."
            ),
        )
    })?;
    let (lo, hi) = world.lifetime_for(&resolved.audience);
    drop(world);
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let lifetime = random_in(lo, hi) as i64;
    let (iat, exp) = (now - 300, now + lifetime);
    let mut claims = json!({
        "aud": resolved.audience,
        "iat": iat,
        "nbf": iat,
        "exp": exp,
        "aio": format!("E2{}=", random_b64(48)),
        "idp": format!("https://sts.windows.net/{tid}/"),
        "idtyp": "app",
        "oid": identity.object_id,
        "rh": format!("1.A{}.", random_b64(40)),
        "sub": identity.object_id,
        "tid": tid,
        "uti": random_b64(16),
    });
    if let Some(r) = &identity.resource_id {
        claims["xms_mirid"] = json!(r);
    }
    if resolved.version == 2 {
        claims["iss"] = json!(crate::entra::v2_issuer(shared, &tid));
        claims["azp"] = json!(identity.client_id);
        claims["azpacr"] = json!("2");
        claims["ver"] = json!("2.0");
    } else {
        claims["iss"] = json!(crate::entra::V1_ISSUER.replace("{tid}", &tid));
        claims["appid"] = json!(identity.client_id);
        claims["appidacr"] = json!("2");
        claims["ver"] = json!("1.0");
    }
    let access_token = shared
        .keys()
        .current
        .mint(&claims, None)
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    // Numbers as strings, as both protocols send them.
    Ok(match protocol {
        Protocol::Imds => json!({
            "access_token": access_token,
            "refresh_token": "",
            "expires_in": (exp - now).to_string(),
            "expires_on": exp.to_string(),
            "ext_expires_in": (exp - now).to_string(),
            "not_before": iat.to_string(),
            "resource": resource,
            "token_type": "Bearer",
        }),
        Protocol::AppService => json!({
            "access_token": access_token,
            "expires_on": exp.to_string(),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": identity.client_id,
        }),
    })
}
