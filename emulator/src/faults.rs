//! Applying fault rules to requests: fabricated error responses in each service's shape
//! (including the Key Vault 429), latency, cut connections and broken bodies. The rule model is
//! `crate::seed` data; the active rules live in `crate::state`. Owns no protocol semantics.

use crate::seed::FaultKind;

/// Which service's error shapes a fabricated response uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    Vault,
    Login,
    Graph,
    PowerBi,
}

/// Marks a response whose connection is cut (recorded with status 0 in the stats).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnectionCut;

/// The status to record for a response: 0 when the connection was cut.
pub(crate) fn stat_status(resp: &axum::response::Response) -> u16 {
    if resp.extensions().get::<ConnectionCut>().is_some() {
        0
    } else {
        resp.status().as_u16()
    }
}

/// The Key Vault throttling answer: 429 ("Azure Key Vault throttling guidance") with the
/// `Throttled` body and no `Retry-After`, as captured from the real service (azure-wire.md).
pub(crate) fn vault_throttled(retry_after: Option<u64>) -> axum::response::Response {
    status_response(Flavor::Vault, 429, retry_after, "")
}

/// A fabricated error response for `flavor` with HTTP `code`.
pub(crate) fn status_response(
    flavor: Flavor,
    code: u16,
    retry_after: Option<u64>,
    authority_host: &str,
) -> axum::response::Response {
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::IntoResponse;
    use serde_json::json;
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = status.canonical_reason().unwrap_or("Error");
    let throttled = code == 429;
    let mut resp = match flavor {
        Flavor::Vault => {
            let (c, m) = if throttled {
                (
                    "Throttled",
                    "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached".to_string(),
                )
            } else {
                (
                    reason,
                    format!("The service returned {code} {reason} (akv-emulator fault)."),
                )
            };
            let mut r = (
                status,
                axum::Json(json!({"error": {"code": c, "message": m}})),
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
                r.headers_mut().insert("x-ms-request-id", v);
            }
            r
        }
        Flavor::Login => {
            if throttled {
                let mut r = crate::entra::throttled(authority_host);
                r.headers_mut().remove(header::RETRY_AFTER);
                r
            } else {
                crate::entra::AadError::new(
                    status,
                    "temporarily_unavailable",
                    50000,
                    format!("There was an error issuing a token or an authorization code. Please try again later. (HTTP {code}, akv-emulator fault)"),
                )
                .into_response(authority_host)
            }
        }
        Flavor::Graph => {
            let c = if throttled {
                "TooManyRequests"
            } else {
                "generalException"
            };
            let now = time::OffsetDateTime::now_utc();
            let id = uuid::Uuid::new_v4().to_string();
            (
                status,
                axum::Json(json!({"error": {
                    "code": c,
                    "message": format!("{reason} (akv-emulator fault)."),
                    "innerError": {
                        "date": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                        "request-id": id,
                        "client-request-id": id,
                    }
                }})),
            )
                .into_response()
        }
        Flavor::PowerBi => {
            let c = if throttled {
                "TooManyRequestsException"
            } else {
                "InternalServerError"
            };
            (
                status,
                axum::Json(json!({"error": {"code": c, "pbi.error": {"code": c, "parameters": {}, "details": [], "exceptionCulprit": 0}}})),
            )
                .into_response()
        }
    };
    if let Some(secs) = retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// Serves a request through the fault rules: `serve` answers it normally.
pub(crate) async fn run(
    shared: &crate::state::Shared,
    service: &str,
    operation: &str,
    flavor: Flavor,
    serve: impl FnOnce() -> axum::response::Response,
) -> axum::response::Response {
    use axum::body::{Body, Bytes};
    use axum::http::{HeaderValue, header};
    let Some(kind) = shared.faults.pick(service, operation) else {
        return serve();
    };
    tracing::debug!(service, operation, ?kind, "fault injected");
    let authority = shared.authority_host.as_str();
    match kind {
        FaultKind::Latency { ms } => {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            serve()
        }
        FaultKind::Status { code } => status_response(flavor, code, None, authority),
        FaultKind::TooManyRequests { retry_after_secs } => {
            status_response(flavor, 429, retry_after_secs, authority)
        }
        FaultKind::ConnectionReset | FaultKind::ConnectionResetAfterServing => {
            if kind == FaultKind::ConnectionResetAfterServing {
                drop(serve());
            }
            let body = Body::from_stream(futures_util::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "akv-emulator fault: connection reset",
                ))
            }));
            let mut resp = axum::response::Response::new(body);
            resp.extensions_mut().insert(ConnectionCut);
            resp
        }
        FaultKind::MalformedJson
        | FaultKind::TruncatedJson
        | FaultKind::OversizedBody { .. }
        | FaultKind::SlowBody { .. } => {
            let resp = serve();
            let (mut parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            parts.headers.remove(header::CONTENT_LENGTH);
            let new: Body = match kind {
                FaultKind::MalformedJson => {
                    parts.headers.insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json; charset=utf-8"),
                    );
                    Body::from("{\"value\": [{\"id\": \"akv-emulator\",, }")
                }
                FaultKind::TruncatedJson => Body::from(bytes.slice(..bytes.len() / 2)),
                FaultKind::OversizedBody { bytes: size } => {
                    let mut v = bytes.to_vec();
                    let target = usize::try_from(size).unwrap_or(usize::MAX);
                    if v.len() < target {
                        v.resize(target, b' ');
                    }
                    Body::from(v)
                }
                FaultKind::SlowBody { bytes_per_sec } => {
                    let rate = bytes_per_sec.max(1) as usize;
                    let chunk = rate.div_ceil(10).max(1);
                    let delay = std::time::Duration::from_secs_f64(chunk as f64 / rate as f64);
                    let chunks: Vec<Bytes> =
                        bytes.chunks(chunk).map(Bytes::copy_from_slice).collect();
                    if let Ok(v) = HeaderValue::from_str(&bytes.len().to_string()) {
                        parts.headers.insert(header::CONTENT_LENGTH, v);
                    }
                    Body::from_stream(futures_util::stream::unfold(
                        chunks.into_iter(),
                        move |mut it| async move {
                            let next = it.next()?;
                            tokio::time::sleep(delay).await;
                            Some((Ok::<Bytes, std::io::Error>(next), it))
                        },
                    ))
                }
                _ => Body::from(bytes),
            };
            axum::response::Response::from_parts(parts, new)
        }
    }
}
