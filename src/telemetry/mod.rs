//! Telemetry: `tracing` logs to stderr (filtered by `RUST_LOG`, default `info`; human-readable on
//! a terminal, JSON lines otherwise, with stable `event` names), and OpenTelemetry traces and
//! metrics exported over OTLP/HTTP when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or the
//! per-signal `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `…_METRICS_ENDPOINT`) is set — nothing is
//! exported otherwise. The exporters read the other standard `OTEL_*` variables themselves
//! (headers, timeout, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`).
//!
//! Call [`init`] before the async runtime starts and [`Telemetry::shutdown`] after it ends: the
//! exporters use a blocking HTTP client on their own threads.

pub mod metrics;

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Keeps the exporters alive; flushes them on [`Telemetry::shutdown`].
#[derive(Default)]
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
}

/// Which signals to export, from the standard variables: (traces, metrics).
fn export_switches(lookup: impl Fn(&str) -> Option<String>) -> (bool, bool) {
    let set = |var: &str| lookup(var).is_some_and(|v| !v.trim().is_empty());
    let any = set("OTEL_EXPORTER_OTLP_ENDPOINT");
    let off = |signal: &str| lookup(signal).is_some_and(|v| v.trim() == "none");
    (
        (any || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) && !off("OTEL_TRACES_EXPORTER"),
        (any || set("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")) && !off("OTEL_METRICS_EXPORTER"),
    )
}

impl Telemetry {
    /// Flushes and stops the exporters.
    pub fn shutdown(self) {
        if let Some(t) = self.tracer {
            let _ = t.shutdown();
        }
        if let Some(m) = self.meter {
            let _ = m.shutdown();
        }
    }

    /// Whether OTLP export is on.
    pub fn exporting(&self) -> bool {
        self.tracer.is_some() || self.meter.is_some()
    }
}

fn resource() -> Resource {
    Resource::builder()
        .with_service_name(
            std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "akv-rotator".to_string()),
        )
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build()
}

/// Installs the global subscriber (and, when configured, the OTLP exporters). Later calls only
/// return an empty guard.
pub fn init() -> Telemetry {
    init_with_default("info")
}

/// Like [`init`], with another default filter when `RUST_LOG` is unset (the demo prints its
/// own narrative and keeps logs to errors).
pub fn init_with_default(default_filter: &str) -> Telemetry {
    let mut telemetry = Telemetry::default();
    let (tracing_on, metrics_on) = export_switches(|v| std::env::var(v).ok());
    let mut export_errors = Vec::new();

    let otel_layer = if tracing_on {
        match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
        {
            Ok(exporter) => {
                let provider = SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource())
                    .build();
                let tracer = provider.tracer("akv-rotator");
                telemetry.tracer = Some(provider);
                Some(tracing_opentelemetry::layer().with_tracer(tracer))
            }
            Err(e) => {
                export_errors.push(format!("OTLP trace exporter: {e}"));
                None
            }
        }
    } else {
        None
    };
    if metrics_on {
        match opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .build()
        {
            Ok(exporter) => {
                let provider = SdkMeterProvider::builder()
                    .with_periodic_exporter(exporter)
                    .with_resource(resource())
                    .build();
                opentelemetry::global::set_meter_provider(provider.clone());
                telemetry.meter = Some(provider);
            }
            Err(e) => export_errors.push(format!("OTLP metric exporter: {e}")),
        }
    }

    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter).with(otel_layer);
    let _ = if std::io::stderr().is_terminal() {
        registry.with(fmt.with_target(false)).try_init()
    } else {
        registry
            .with(
                fmt.json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false),
            )
            .try_init()
    };
    for e in export_errors {
        tracing::warn!(event = "telemetry_export_disabled", error = %e, "OpenTelemetry export is off");
    }
    telemetry
}

#[cfg(test)]
mod tests {
    use super::*;

    fn switches(vars: &[(&str, &str)]) -> (bool, bool) {
        export_switches(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn nothing_is_exported_unless_an_endpoint_is_set() {
        assert_eq!(switches(&[]), (false, false));
        assert_eq!(switches(&[("OTEL_SERVICE_NAME", "x")]), (false, false));
        assert_eq!(
            switches(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "")]),
            (false, false)
        );
        assert_eq!(
            switches(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]),
            (true, true)
        );
        assert_eq!(
            switches(&[(
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://c:4318/v1/traces"
            )]),
            (true, false)
        );
        assert_eq!(
            switches(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_METRICS_EXPORTER", "none")
            ]),
            (true, false)
        );
    }
}
