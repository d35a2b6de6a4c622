//! Request entry points of the listeners: each vault, Microsoft Graph, Power BI and the Entra ID
//! routes of the login listener. Each goes through the fault rules and the throttles, is served
//! by its protocol module and is counted in the stats. The admin API is `admin`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::Shared;
use crate::{entra, faults, graph, managed_identity, powerbi, vault};

/// Service name of the login listener in [`crate::Stats`].
pub const LOGIN_SERVICE: &str = "login";
/// Service name of the Microsoft Graph listener in [`crate::Stats`].
pub const GRAPH_SERVICE: &str = graph::SERVICE;
/// Service name of the Power BI listener in [`crate::Stats`].
pub const POWERBI_SERVICE: &str = powerbi::SERVICE;
/// Service name of the plain-HTTP managed identity listener in [`crate::Stats`].
pub const MANAGED_IDENTITY_SERVICE: &str = managed_identity::SERVICE;

/// The state of the managed identity listener: the shared world and the secret the App Service
/// protocol requires in `X-IDENTITY-HEADER`.
#[derive(Clone)]
pub(crate) struct ManagedIdentityState {
    pub(crate) shared: Arc<Shared>,
    pub(crate) identity_header: Arc<str>,
}

pub(crate) async fn managed_identity_request(
    State(state): State<ManagedIdentityState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let shared = &state.shared;
    let op = managed_identity::operation(&uri);
    let resp = managed_identity::handle(shared, &state.identity_header, &method, &uri, &headers);
    shared.record(MANAGED_IDENTITY_SERVICE, op, resp.status().as_u16());
    resp
}

/// The state of a vault listener: the shared world and which vault it serves.
#[derive(Clone)]
pub(crate) struct VaultState {
    pub(crate) shared: Arc<Shared>,
    pub(crate) vault: String,
}

pub(crate) async fn graph_request(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = graph::operation(&method, &uri);
    let resp = faults::run(&shared, GRAPH_SERVICE, op, faults::Flavor::Graph, || {
        graph::handle(&shared, &method, &uri, &headers, &body)
    })
    .await;
    shared.record(GRAPH_SERVICE, op, faults::stat_status(&resp));
    resp
}

pub(crate) async fn powerbi_request(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let op = powerbi::operation(&method, &uri);
    let resp = faults::run(
        &shared,
        POWERBI_SERVICE,
        op,
        faults::Flavor::PowerBi,
        || powerbi::handle(&shared, &method, &uri, &headers),
    )
    .await;
    shared.record(POWERBI_SERVICE, op, faults::stat_status(&resp));
    resp
}

pub(crate) async fn vault_request(
    State(state): State<VaultState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let shared = &state.shared;
    let op = vault::operation(&method, &uri);
    let mut resp = faults::run(shared, &state.vault, op, faults::Flavor::Vault, || {
        let create = vault::is_create(&method, &uri);
        let admitted = shared.world_mut().admit_vault_request(&state.vault, create);
        if !admitted {
            return faults::vault_throttled(None);
        }
        vault::handle(shared, &state.vault, &method, &uri, &headers, &body)
    })
    .await;
    shared.record(&state.vault, op, faults::stat_status(&resp));
    let tenant = state
        .shared
        .world()
        .vaults
        .get(&state.vault)
        .map(|v| v.tenant_id.clone())
        .unwrap_or_default();
    vault::add_challenge(&mut resp, &state.shared.authority_host, &tenant);
    resp
}

/// A plain JSON error `{"error": message}` (the admin API and unknown login routes).
pub(crate) fn admin_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

/// The stats / fault-rule operation name of a login listener request.
pub(crate) fn login_operation(method: &str, segs: &[&str]) -> &'static str {
    match (method, segs) {
        ("POST", [_, "oauth2", "v2.0", "token"]) => "TokenV2",
        ("POST", [_, "oauth2", "token"]) => "TokenV1",
        ("GET", [_, "v2.0", ".well-known", "openid-configuration"])
        | ("GET", [_, ".well-known", "openid-configuration"]) => "OpenIdConfiguration",
        ("GET", [_, "discovery", "v2.0", "keys"]) | ("GET", [_, "discovery", "keys"]) => "Jwks",
        ("GET", ["common", "discovery", "instance"]) => "InstanceDiscovery",
        _ => "Unknown",
    }
}

/// Serves an Entra ID request of the login listener.
pub(crate) fn login_route(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    segs: &[&str],
    body: &Bytes,
) -> Response {
    let query: HashMap<String, String> = uri
        .query()
        .map(crate::form::query_pairs)
        .unwrap_or_default();
    let form = || crate::form::query_pairs(&String::from_utf8_lossy(body));
    match (method.as_str(), segs) {
        ("POST", [tenant, "oauth2", "v2.0", "token"]) => {
            entra::token(shared, entra::Endpoint::V2, tenant, &form())
        }
        ("POST", [tenant, "oauth2", "token"]) => {
            entra::token(shared, entra::Endpoint::V1, tenant, &form())
        }
        ("GET", [tenant, "v2.0", ".well-known", "openid-configuration"]) => {
            entra::openid_configuration(shared, tenant, true)
        }
        ("GET", [tenant, ".well-known", "openid-configuration"]) => {
            entra::openid_configuration(shared, tenant, false)
        }
        ("GET", [tenant, "discovery", "v2.0", "keys"]) => entra::jwks(shared, tenant, true),
        ("GET", [tenant, "discovery", "keys"]) => entra::jwks(shared, tenant, false),
        ("GET", ["common", "discovery", "instance"]) => entra::instance_discovery(shared, &query),
        _ => admin_error(
            StatusCode::NOT_FOUND,
            format!("no route for {method} {}", uri.path()),
        ),
    }
}
