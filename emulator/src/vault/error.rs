//! Key Vault's error answers: `{"error":{"code","message","innererror"?}}` with the headers
//! every Key Vault response carries (`x-ms-request-id`, `x-ms-keyvault-service-version`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub(super) const NOT_FOUND_HINT: &str = "If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182";

/// A Key Vault error response.
pub(super) struct KvError {
    status: StatusCode,
    code: &'static str,
    message: String,
    inner: Option<&'static str>,
}

impl KvError {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> KvError {
        KvError {
            status,
            code,
            message: message.into(),
            inner: None,
        }
    }

    pub(super) fn inner(mut self, inner: &'static str) -> KvError {
        self.inner = Some(inner);
        self
    }

    pub(super) fn bad(message: impl Into<String>) -> KvError {
        KvError::new(StatusCode::BAD_REQUEST, "BadParameter", message)
    }

    pub(super) fn not_found(what: &str) -> KvError {
        KvError::new(
            StatusCode::NOT_FOUND,
            "SecretNotFound",
            format!(
                "A secret with (name/id) {what} was not found in this key vault. {NOT_FOUND_HINT}"
            ),
        )
    }

    pub(super) fn deleted_not_found(name: &str) -> KvError {
        KvError::new(
            StatusCode::NOT_FOUND,
            "SecretNotFound",
            format!("Deleted Secret not found: {name}"),
        )
    }

    pub(super) fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(inner) = self.inner {
            error["innererror"] = json!({"code": inner});
        }
        kv_json(self.status, &json!({ "error": error }))
    }
}

pub(super) fn kv_json(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, axum::Json(body.clone())).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    with_service_headers(resp)
}

/// An answer without a body (purge: 204), with the headers every Key Vault answer carries.
pub(super) fn kv_empty(status: StatusCode) -> Response {
    with_service_headers(status.into_response())
}

/// `x-ms-request-id` (a UUID per answer: "a unique identifier for the current operation, service
/// generated", Azure's common response headers; the Key Vault pages do not list it, recorded
/// Key Vault answers in the Azure SDKs' test recordings carry it) and
/// `x-ms-keyvault-service-version`, on every answer, bodiless ones included.
fn with_service_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        "x-ms-keyvault-service-version",
        HeaderValue::from_static("1.9.0.0"),
    );
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        h.insert("x-ms-request-id", v);
    }
    resp
}
