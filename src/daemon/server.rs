//! Daemon-mode HTTP endpoints: `/healthz` (process alive), `/readyz` (config valid and the last
//! cycle reached Key Vault), `/metrics` (Prometheus text), `/status` (the HTML status page).
//! Read-only; nothing served here contains a secret or token value.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tokio::sync::RwLock;

use crate::config::Thresholds;
use crate::report::CycleReport;
use crate::telemetry::metrics::Metrics;

/// What the endpoints show, updated by the daemon after every cycle.
#[derive(Debug, Default)]
pub struct DaemonState {
    pub metrics: Arc<Metrics>,
    /// The last cycle reached Key Vault (listing worked and the identity authenticated).
    pub ready: AtomicBool,
    pub last_report: RwLock<Option<CycleReport>>,
    pub last_error: RwLock<Option<String>>,
    /// Client secret severity thresholds, for the status page's timeline zones.
    pub thresholds: Thresholds,
}

impl DaemonState {
    pub fn new(metrics: Arc<Metrics>, thresholds: Thresholds) -> Self {
        DaemonState {
            metrics,
            thresholds,
            ..Default::default()
        }
    }
}

pub fn router(state: Arc<DaemonState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .with_state(state)
}

async fn readyz(State(state): State<Arc<DaemonState>>) -> Response {
    if state.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let why = state
            .last_error
            .read()
            .await
            .clone()
            .unwrap_or_else(|| "no cycle has reached Key Vault yet".into());
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response()
    }
}

async fn metrics(State(state): State<Arc<DaemonState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn status(State(state): State<Arc<DaemonState>>) -> Response {
    match state.last_report.read().await.as_ref() {
        Some(report) => {
            Html(crate::report::status::html(report, &state.thresholds)).into_response()
        }
        None => Html(
            "<!doctype html><title>akv-rotator</title><p>No cycle has completed yet.</p>"
                .to_string(),
        )
        .into_response(),
    }
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<DaemonState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
