//! `akv-rotator run`: cycles on the configured cron schedule with the HTTP endpoints alongside,
//! until SIGTERM/SIGINT; then no new work starts, in-flight writes get `shutdown_grace` to
//! finish, and the process exits 0.

pub mod schedule;
pub mod server;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio_util::sync::CancellationToken;

use crate::commands::once::{Bookkeeping, run_once_with};
use crate::config::{StatusListener, ValidConfig};
use crate::cycle::{Cycle, CycleOptions, Shard};
use crate::daemon::schedule::{
    Clock, CycleOutcome, CycleRunner, LoopEvent, Schedule, SystemClock, Trigger, run_loop,
};
use crate::daemon::server::{ConnectionLimits, DaemonState};
use crate::report::Outcome;
use crate::telemetry::metrics::Metrics;
use crate::timefmt::rfc3339;

/// Runs cycles for the daemon and publishes their results.
pub struct DaemonRunner {
    pub rotator: Cycle,
    pub state: Arc<DaemonState>,
    pub shard: Option<Shard>,
    /// Whether the last cycle whose bookkeeping ran had failed targets.
    recorded_failures: std::sync::atomic::AtomicBool,
}

impl DaemonRunner {
    pub fn new(rotator: Cycle, state: Arc<DaemonState>, shard: Option<Shard>) -> Self {
        DaemonRunner {
            rotator,
            state,
            shard,
            recorded_failures: Default::default(),
        }
    }
}

impl CycleRunner for DaemonRunner {
    async fn run_cycle(&self, trigger: Trigger, stop: CancellationToken) -> CycleOutcome {
        let options = CycleOptions {
            shard: self.shard,
            stop: Some(stop),
            ..Default::default()
        };
        // Slots alert and record; early refreshes between them only when something failed or
        // recovered (every few seconds in a daemon with many tokens, mostly with nothing new).
        let bookkeeping = match trigger {
            Trigger::Slot => Bookkeeping::Always,
            Trigger::EarlyRefresh => Bookkeeping::WhenNotable {
                after_failures: self.recorded_failures.load(Ordering::SeqCst),
            },
        };
        match run_once_with(&self.rotator, options, bookkeeping).await {
            Ok(mut report) => {
                let outcome = CycleOutcome::from_targets(
                    report.targets.iter().map(|t| {
                        let refreshed = matches!(t.outcome, Outcome::Written | Outcome::Fresh);
                        (t.refresh_at, refreshed)
                    }),
                    report.started_at,
                    report.finished_at,
                );
                let mut last = self.state.last_report.write().await;
                if bookkeeping.keeps(&report) {
                    self.recorded_failures
                        .store(report.summary.failed > 0, Ordering::SeqCst);
                } else if let Some(previous) = last.as_ref() {
                    // The record the last slot wrote is still the one stored: `/status` keeps
                    // showing it (and when it goes stale).
                    report.status_record = previous.status_record.clone();
                }
                self.state.ready.store(true, Ordering::SeqCst);
                *self.state.last_error.write().await = None;
                *last = Some(report);
                outcome
            }
            Err(e) => {
                tracing::error!(event = "cycle_setup_failed", error = %e, "cycle could not start");
                self.state.ready.store(false, Ordering::SeqCst);
                *self.state.last_error.write().await = Some(e.to_string());
                CycleOutcome::default()
            }
        }
    }
}

/// Runs the daemon until `shutdown` resolves; returns the exit code.
pub async fn run(
    config: ValidConfig,
    shard: Option<Shard>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> i32 {
    let metrics = Arc::new(Metrics::new());
    let listen = config.daemon.listen;
    let grace = config.daemon.shutdown_grace;
    let status = config.daemon.status;
    let limits = ConnectionLimits::from(&config.daemon);
    let schedule = Schedule::new(config.daemon.schedule.clone(), config.daemon.jitter);
    let schedule_text = config.daemon.schedule_text.clone();
    let time_zone = config.daemon.schedule.zone().name();
    let rotator = match Cycle::with_metrics(config, metrics.clone()) {
        Ok(r) => r.remembering(),
        Err(e) => {
            eprintln!("error: {e}");
            return crate::exit::SETUP;
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {listen} (daemon.listen): {e}");
            return crate::exit::SETUP;
        }
    };
    let status_listener = match status {
        StatusListener::Separate(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("error: cannot listen on {addr} (daemon.status): {e}");
                return crate::exit::SETUP;
            }
        },
        StatusListener::Main | StatusListener::Off => None,
    };
    let bound = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let state = Arc::new(DaemonState::new(
        metrics.clone(),
        rotator.config().thresholds,
    ));
    let stop = CancellationToken::new();
    let main_router = server::router(state.clone(), status == StatusListener::Main);
    let mut servers = vec![tokio::spawn(server::serve(
        listener,
        main_router,
        limits,
        stop.clone(),
    ))];
    if let Some(l) = status_listener {
        let router = server::status_router(state.clone());
        servers.push(tokio::spawn(server::serve(l, router, limits, stop.clone())));
    }
    tracing::info!(event = "daemon_started", listen = %bound, schedule = %schedule_text, time_zone, "daemon started");

    let runner = DaemonRunner::new(rotator, state, shard);
    let clock = SystemClock;
    let loop_metrics = metrics.clone();
    let cycles = run_loop(&runner, &schedule, &clock as &dyn Clock, grace, shutdown, move |event| match event {
        LoopEvent::CycleStarted { at, trigger } => {
            tracing::info!(event = "cycle_triggered", at = %rfc3339(at), trigger = ?trigger, "cycle triggered")
        }
        LoopEvent::Overran { started, ended, missed_slot } => {
            loop_metrics.record_overrun();
            tracing::warn!(event = "cycle_overran", started = %rfc3339(started), ended = %rfc3339(ended), missed_slot = %rfc3339(missed_slot), "cycle ran past the next slot; that slot was skipped")
        }
        LoopEvent::Draining => tracing::info!(event = "shutdown_draining", "shutdown requested: finishing in-flight work"),
        LoopEvent::Stopped => tracing::info!(event = "daemon_stopped", "daemon stopped"),
        LoopEvent::NoMoreSlots => tracing::warn!(event = "schedule_exhausted", "the schedule has no further slots"),
        LoopEvent::CycleFinished { .. } => {}
    })
    .await;
    stop.cancel();
    for server in servers {
        let _ = server.await;
    }
    tracing::info!(event = "daemon_exit", cycles, "exiting");
    crate::exit::OK
}

/// SIGTERM or SIGINT, whichever comes first.
pub async fn termination_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
