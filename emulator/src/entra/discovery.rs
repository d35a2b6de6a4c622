//! OpenID discovery for the login listener: the v2 and v1 OpenID configuration documents, the
//! JWKS, and MSAL's instance discovery.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::error::{AadError, json_response};
use crate::state::Shared;

/// OpenID configuration for `tenant` (v2 when `v2`).
pub(crate) fn openid_configuration(shared: &Shared, tenant: &str, v2: bool) -> Response {
    let a = &shared.authority_host;
    let known = shared
        .world()
        .tenants
        .contains_key(&tenant.to_ascii_lowercase());
    if !known {
        return AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        )
        .into_response(a);
    }
    let body = if v2 {
        json!({
            "token_endpoint": format!("{a}/{tenant}/oauth2/v2.0/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{a}/{tenant}/discovery/v2.0/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            // The issuer equals the `iss` of the tokens issued here (a per-tenant document
            // names the tenant itself; `{tenantid}` appears only under common/organizations).
            "issuer": super::v2_issuer(shared, tenant),
            "request_uri_parameter_supported": false,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": format!("{a}/{tenant}/oauth2/v2.0/authorize"),
            "device_authorization_endpoint": format!("{a}/{tenant}/oauth2/v2.0/devicecode"),
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "end_session_endpoint": format!("{a}/{tenant}/oauth2/v2.0/logout"),
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "tid", "ver", "oid"],
            "kerberos_endpoint": format!("{a}/{tenant}/kerberos"),
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        })
    } else {
        json!({
            "token_endpoint": format!("{a}/{tenant}/oauth2/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{a}/{tenant}/discovery/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
            "scopes_supported": ["openid"],
            "issuer": super::V1_ISSUER.replace("{tid}", &tenant.to_ascii_lowercase()),
            "authorization_endpoint": format!("{a}/{tenant}/oauth2/authorize"),
            "end_session_endpoint": format!("{a}/{tenant}/oauth2/logout"),
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        })
    };
    json_response(StatusCode::OK, &body)
}

/// The JWKS for `tenant`: current and rolled-over keys.
pub(crate) fn jwks(shared: &Shared, tenant: &str, v2: bool) -> Response {
    let issuer = v2.then(|| super::v2_issuer(shared, tenant));
    let keys: Vec<Value> = shared
        .keys()
        .all()
        .map(|k| k.jwk(issuer.as_deref()))
        .collect();
    json_response(StatusCode::OK, &json!({ "keys": keys }))
}

/// Minimal instance discovery answer (MSAL asks unless told not to).
pub(crate) fn instance_discovery(shared: &Shared, query: &HashMap<String, String>) -> Response {
    let host = shared
        .authority_host
        .trim_start_matches("https://")
        .to_string();
    let endpoint = query
        .get("authorization_endpoint")
        .cloned()
        .unwrap_or_else(|| format!("{}/common/oauth2/v2.0/authorize", shared.authority_host));
    let tenant_discovery = endpoint
        .replace(
            "/oauth2/v2.0/authorize",
            "/v2.0/.well-known/openid-configuration",
        )
        .replace("/oauth2/authorize", "/.well-known/openid-configuration");
    json_response(
        StatusCode::OK,
        &json!({
            "tenant_discovery_endpoint": tenant_discovery,
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }),
    )
}
