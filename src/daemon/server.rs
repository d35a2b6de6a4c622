//! Daemon-mode HTTP endpoints: `/healthz` (process alive), `/readyz` (config valid and the last
//! cycle reached Key Vault), `/metrics` (Prometheus text), `/status` (the HTML status page, on
//! the main listener, its own, or nowhere: `[daemon] status`).
//! Read-only; nothing served here contains a secret or token value.
//!
//! The listener shares the process's file descriptors with the rotator's outbound calls, so a
//! peer must not be able to hold them: every connection gets a header-read timeout (hyper's
//! HTTP/1 timer, which also runs while a kept-alive connection waits for its next request), an
//! idle timeout (no byte read or written; covers a peer that stalls mid-request or stops reading
//! the answer), a cap on request headers, and at most `max_connections` are open at once: the
//! ones beyond are closed as soon as they are accepted. Request bodies are never read (every
//! route is a GET), so they cannot fill memory.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{RwLock, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{DaemonConfig, Thresholds};
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

/// The probes and metrics, with `/status` when `with_status`.
pub fn router(state: Arc<DaemonState>, with_status: bool) -> Router {
    let router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    let router = if with_status {
        router.route("/status", get(status))
    } else {
        router
    };
    router.with_state(state)
}

/// `/status` alone, for its own listener.
pub fn status_router(state: Arc<DaemonState>) -> Router {
    Router::new()
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
    use crate::report::status::{Memory, Status, TokenUpdated};
    match state.last_report.read().await.as_ref() {
        Some(report) => {
            // The last cycle's own record: its failures with since when, and stale when the
            // loop stopped running cycles.
            let memory = Memory {
                records: report.status_record.iter().cloned().collect(),
                checked_at: Some(time::OffsetDateTime::now_utc()),
                ..Memory::default()
            };
            let view =
                Status::with_memory(report, &state.thresholds, &TokenUpdated::new(), &memory);
            Html(view.to_html()).into_response()
        }
        None => Html(
            "<!doctype html><title>akv-rotator</title><p>No cycle has completed yet.</p>"
                .to_string(),
        )
        .into_response(),
    }
}

/// How much a peer may hold of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From waiting for a request (the first, or the next on a kept-alive connection) to its
    /// last header byte.
    pub header_read_timeout: Duration,
    /// With no byte read or written, the connection is closed.
    pub idle_timeout: Duration,
    /// Open connections at once; more are closed on accept.
    pub max_connections: usize,
}

/// Request headers beyond this are refused (hyper answers 431): the endpoints need a request
/// line and a few short headers.
const MAX_HEADER_BYTES: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;

impl From<&DaemonConfig> for ConnectionLimits {
    fn from(d: &DaemonConfig) -> Self {
        ConnectionLimits {
            header_read_timeout: d.header_read_timeout,
            idle_timeout: d.idle_timeout,
            max_connections: d.max_connections,
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` is cancelled; connections in
/// flight then finish their current request.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors (EMFILE) or a connection reset before accept: wait a
                // little instead of spinning on an error that repeats at once.
                tracing::warn!(event = "endpoint_accept_failed", error = %e, "cannot accept a connection on the daemon's endpoints");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Dropping the stream closes it: a full daemon answers no one rather than queueing.
            tracing::debug!(
                event = "endpoint_connection_refused",
                max_connections = limits.max_connections,
                "too many open connections; closed a new one"
            );
            continue;
        };
        let router = router.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            serve_connection(stream, router, limits, shutdown).await;
            drop(slot);
        });
    }
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEADER_BYTES)
        .max_headers(MAX_HEADERS);
    let connection = builder.serve_connection(io, TowerToHyperService::new(router));
    tokio::pin!(connection);
    let mut stopping = false;
    loop {
        let idle_left = limits.idle_timeout.saturating_sub(activity.idle_for());
        tokio::select! {
            _ = connection.as_mut() => return,
            () = shutdown.cancelled(), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep(idle_left) => {
                if activity.idle_for() >= limits.idle_timeout {
                    // Dropping the connection closes the socket.
                    return;
                }
            }
        }
    }
}

/// When a connection last read or wrote a byte.
struct Activity {
    start: Instant,
    /// Milliseconds after `start`.
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// A TCP stream that records in [`Activity`] every read or write that moved bytes.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
