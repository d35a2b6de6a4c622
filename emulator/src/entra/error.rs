//! Entra ID's error answers: the AADSTS body (`error`, `error_description` with trace and
//! correlation ids, `error_codes`, …), the cache headers Entra sends, and the token endpoint's
//! 429. Plain responses; no token logic.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// An AADSTS failure: HTTP status, OAuth `error`, AADSTS number and description.
pub(crate) struct AadError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

impl AadError {
    pub(crate) fn new(
        status: StatusCode,
        error: &'static str,
        code: u32,
        description: String,
    ) -> AadError {
        AadError {
            status,
            error,
            code,
            description,
        }
    }

    pub fn into_response(self, authority_host: &str) -> Response {
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let now = OffsetDateTime::now_utc();
        let timestamp = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        let body = json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
                self.code, self.description
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("{authority_host}/error?code={}", self.code),
        });
        json_response(self.status, &body)
    }
}

/// A JSON response with Entra-like cache headers.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, axum::Json(body.clone())).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    resp
}

/// The token endpoint's 429: `Retry-After: 60` and an AADSTS50196-style body.
pub(crate) fn throttled(authority_host: &str) -> Response {
    let mut resp = AadError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
        50196,
        "The server terminated an operation because it encountered a client request loop. Please contact your app vendor.".to_string(),
    )
    .into_response(authority_host);
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    resp
}

pub(crate) fn bad_request(error: &'static str, code: u32, description: String) -> AadError {
    AadError::new(StatusCode::BAD_REQUEST, error, code, description)
}
