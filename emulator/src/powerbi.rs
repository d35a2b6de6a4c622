//! The Power BI REST probe served by its own listener: `GET /v1.0/myorg/groups` checks the
//! bearer token (emulator signature, Power BI audience, time, known tenant, the tenant's
//! "service principals may use Power BI APIs" switch) and answers an empty workspace list.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::state::Shared;

/// Audience of Power BI tokens.
pub(crate) const POWERBI_AUDIENCE: &str = "https://analysis.windows.net/powerbi/api";
/// Service name in the stats.
pub(crate) const SERVICE: &str = "powerbi";

/// The operation name of a request (for stats and fault rules).
pub(crate) fn operation(method: &Method, uri: &Uri) -> &'static str {
    match (method.as_str(), uri.path().trim_end_matches('/')) {
        ("GET", "/v1.0/myorg/groups") => "GroupsList",
        _ => "Unknown",
    }
}

fn with_request_id(mut resp: Response) -> Response {
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        resp.headers_mut().insert("RequestId", v);
    }
    resp
}

fn not_authorized() -> Response {
    let body = json!({"error": {
        "code": "PowerBINotAuthorizedException",
        "pbi.error": {
            "code": "PowerBINotAuthorizedException",
            "parameters": {},
            "details": [],
            "exceptionCulprit": 1
        }
    }});
    with_request_id((StatusCode::UNAUTHORIZED, axum::Json(body)).into_response())
}

/// Serves one Power BI request.
pub(crate) fn handle(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap) -> Response {
    if operation(method, uri) == "Unknown" {
        return with_request_id(StatusCode::NOT_FOUND.into_response());
    }
    let query: HashMap<String, String> = uri
        .query()
        .map(crate::form::query_pairs)
        .unwrap_or_default();
    if let Some(top) = query.get("$top")
        && top.parse::<u32>().is_err()
    {
        return with_request_id(
            (
                StatusCode::BAD_REQUEST,
                axum::Json(
                    json!({"error": {"code": "InvalidRequest", "message": "Invalid $top value."}}),
                ),
            )
                .into_response(),
        );
    }
    // Without a token the real service answers 403 with an empty body.
    let Some(token) = crate::bearer::bearer(headers) else {
        return with_request_id(StatusCode::FORBIDDEN.into_response());
    };
    let claims = match crate::bearer::check(shared, token, &[POWERBI_AUDIENCE]) {
        Ok(c) => c,
        Err(why) => {
            tracing::debug!(%why, "power bi token rejected");
            return not_authorized();
        }
    };
    let tid = claims.get("tid").and_then(Value::as_str).unwrap_or("");
    if !shared
        .world()
        .tenant_policy(tid)
        .powerbi_service_principals_enabled
    {
        tracing::debug!(
            tid,
            "service principals are not allowed to use Power BI APIs"
        );
        return not_authorized();
    }
    with_request_id(
        (
            StatusCode::OK,
            axum::Json(json!({
                "@odata.context": "http://wabi-west-europe-redirect.analysis.windows.net/v1.0/myorg/$metadata#groups",
                "value": []
            })),
        )
            .into_response(),
    )
}
