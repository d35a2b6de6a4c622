//! The login listener's `/_emulator/` surface: the admin API (seed, faults, throttles, token
//! faults, key rollover, stats, info) and the test webhook receivers. Everything else on the
//! login listener goes to `routes`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::faults;
use crate::routes::{self, LOGIN_SERVICE, admin_error};
use crate::seed::{FaultRule, SUBSCRIPTION, Seed, ThrottleSeed, TokenFault, VaultThrottleSeed};
use crate::server::Core;
use crate::state::{Shared, Throttle, VaultThrottle, WebhookDelivery};

/// The login listener's front door: test webhooks and the admin API under `/_emulator/`,
/// everything else to Entra ID.
pub(crate) async fn login_request(
    State(core): State<Arc<Core>>,
    method: Method,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let shared = &core.shared;
    let path = uri.path().to_string();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if let (&Method::POST, ["_emulator", "webhooks", name]) = (&method, segs.as_slice()) {
        return webhook_receive(shared, name, &headers, &body);
    }
    if let ["_emulator", rest @ ..] = segs.as_slice() {
        return admin(&core, method.as_str(), rest, &body);
    }
    let op = routes::login_operation(method.as_str(), &segs);
    let resp = faults::run(shared, LOGIN_SERVICE, op, faults::Flavor::Login, || {
        routes::login_route(shared, &method, &uri, &segs, &body)
    })
    .await;
    shared.record(LOGIN_SERVICE, op, faults::stat_status(&resp));
    resp
}

/// A test webhook receiver: records the request and answers 200 (or the status set for it).
fn webhook_receive(
    shared: &Shared,
    name: &str,
    headers: &axum::http::HeaderMap,
    body: &Bytes,
) -> Response {
    let delivery = WebhookDelivery {
        content_type: headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: String::from_utf8_lossy(body).to_string(),
    };
    let status = shared
        .webhook_status
        .lock()
        .ok()
        .and_then(|m| m.get(name).copied())
        .unwrap_or(200);
    if let Ok(mut m) = shared.webhooks.lock() {
        m.entry(name.to_string()).or_default().push(delivery);
    }
    (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), "").into_response()
}

/// Body of `POST /_emulator/token-fault`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFaultRequest {
    client_id: String,
    #[serde(default)]
    fault: Option<TokenFault>,
}

/// Body of `POST /_emulator/faults`: a list of rules, or `{"rules": [...]}`.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum FaultsRequest {
    List(Vec<FaultRule>),
    Object { rules: Vec<FaultRule> },
}

/// Body of `POST /_emulator/throttle`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ThrottleRequest {
    /// A vault name, `login` for the token endpoint, or `subscription` for the budgets
    /// across all vaults.
    service: String,
    /// One budget for every transaction.
    #[serde(default)]
    throttle: Option<ThrottleSeed>,
    /// Key Vault's current limits: writes (CREATE secret) and other transactions apart.
    #[serde(default)]
    limits: Option<VaultThrottleSeed>,
}

fn parse_admin<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("invalid request: {e}"))
}

fn admin(core: &Arc<Core>, method: &str, rest: &[&str], body: &Bytes) -> Response {
    let ok = || axum::Json(json!({})).into_response();
    match (method, rest) {
        ("POST", ["seed"]) => {
            let seed: Seed = match serde_json::from_slice(body) {
                Ok(s) => s,
                Err(e) => {
                    return admin_error(StatusCode::BAD_REQUEST, format!("invalid seed: {e}"));
                }
            };
            match core.apply_seed(&seed) {
                Ok(()) => ok(),
                Err(e) => admin_error(StatusCode::BAD_REQUEST, format!("{e:#}")),
            }
        }
        ("GET", ["stats"]) => axum::Json(core.shared.stats()).into_response(),
        ("POST", ["stats", "reset"]) => {
            core.shared.reset_stats();
            ok()
        }
        ("GET", ["info"]) => axum::Json(core.info()).into_response(),
        ("POST", ["keys", "rollover"]) => match core.shared.rollover_signing_key() {
            Ok(()) => ok(),
            Err(e) => admin_error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
        },
        ("POST", ["token-fault"]) => match parse_admin::<TokenFaultRequest>(body) {
            Ok(r) => {
                core.shared.set_token_fault(&r.client_id, r.fault);
                ok()
            }
            Err(msg) => admin_error(StatusCode::BAD_REQUEST, msg),
        },
        ("POST", ["faults"]) => match parse_admin::<FaultsRequest>(body) {
            Ok(FaultsRequest::List(rules) | FaultsRequest::Object { rules }) => {
                core.shared.faults.set(rules);
                ok()
            }
            Err(msg) => admin_error(StatusCode::BAD_REQUEST, msg),
        },
        ("GET", ["faults"]) => axum::Json(core.shared.faults.active()).into_response(),
        ("DELETE", ["faults"]) => {
            core.shared.faults.set(Vec::new());
            ok()
        }
        ("POST", ["throttle"]) => match parse_admin::<ThrottleRequest>(body) {
            Ok(r) => {
                let mut world = core.shared.world_mut();
                if r.service == LOGIN_SERVICE {
                    world.entra_throttle = r.throttle.map(Throttle::new);
                } else if r.service == SUBSCRIPTION {
                    if r.throttle.is_some() {
                        return admin_error(
                            StatusCode::BAD_REQUEST,
                            "the subscription takes limits (writes and others), not throttle",
                        );
                    }
                    world.subscription_throttle = r.limits.map(VaultThrottle::split);
                } else if !world.vaults.contains_key(&r.service) {
                    return admin_error(
                        StatusCode::NOT_FOUND,
                        format!("no vault named {}", r.service),
                    );
                } else if r.throttle.is_some() && r.limits.is_some() {
                    return admin_error(
                        StatusCode::BAD_REQUEST,
                        "set either throttle (one budget) or limits (writes and others apart)",
                    );
                } else {
                    world.set_vault_throttle(&r.service, r.throttle, r.limits);
                }
                ok()
            }
            Err(msg) => admin_error(StatusCode::BAD_REQUEST, msg),
        },
        ("POST", ["secret-propagation"]) => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Req {
                secs: u64,
            }
            match parse_admin::<Req>(body) {
                Ok(r) => {
                    core.shared.world_mut().secret_propagation_secs = r.secs;
                    ok()
                }
                Err(msg) => admin_error(StatusCode::BAD_REQUEST, msg),
            }
        }
        _ => admin_error(StatusCode::NOT_FOUND, "unknown admin route"),
    }
}
