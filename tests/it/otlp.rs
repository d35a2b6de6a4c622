//! OpenTelemetry export: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, a cycle exports its spans
//! (cycle → app → read/acquire/validate/write) and metrics over OTLP/HTTP protobuf to a receiver
//! started here. (That nothing is exported without the variables is a unit test in telemetry.)

use std::collections::HashMap;

use crate::common::receiver::{Receiver, Reply};
use crate::common::*;
use axum::http::Method;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

/// An OTLP/HTTP collector: accepts POSTs to /v1/traces and /v1/metrics, nothing else.
async fn collector() -> Receiver {
    let collector = Receiver::start(Reply::status(404)).await;
    for path in ["/v1/traces", "/v1/metrics"] {
        collector.reply_on(path, Reply::status(200).body(""));
    }
    collector
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cycle_exports_nested_spans_and_metrics_over_otlp() {
    let world = World::start(vec![TestApp::new("sales")]).await;
    let collector = collector().await;
    let config = world.config_path.display().to_string();
    let endpoint = collector.url("");
    let out = tokio::task::spawn_blocking({
        let config = config.clone();
        let bin = env!("CARGO_BIN_EXE_akv-rotator");
        move || {
            std::process::Command::new(bin)
                .args(["once", "--config", &config, "--output", "json"])
                .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
                .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
                .env("OTEL_SERVICE_NAME", "akv-rotator-test")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert_exit_code(&out, 0);

    let traces: Vec<ExportTraceServiceRequest> = collector
        .bodies(Method::POST, "/v1/traces")
        .into_iter()
        .map(|body| ExportTraceServiceRequest::decode(body).unwrap())
        .collect();
    let metrics: Vec<ExportMetricsServiceRequest> = collector
        .bodies(Method::POST, "/v1/metrics")
        .into_iter()
        .map(|body| ExportMetricsServiceRequest::decode(body).unwrap())
        .collect();
    let spans: Vec<_> = traces
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .collect();
    assert!(!spans.is_empty(), "spans were exported");
    let by_id: HashMap<&[u8], _> = spans.iter().map(|s| (s.span_id.as_slice(), *s)).collect();
    let ancestors = |span: &opentelemetry_proto::tonic::trace::v1::Span| {
        let mut names = Vec::new();
        let mut parent = span.parent_span_id.clone();
        while let Some(p) = by_id.get(parent.as_slice()) {
            names.push(p.name.clone());
            parent = p.parent_span_id.clone();
        }
        names
    };
    let named = |name: &str| {
        spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
            panic!(
                "no span {name}: {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
    };
    let cycle = named("cycle");
    assert!(cycle.parent_span_id.is_empty(), "cycle is a root span");
    assert_eq!(ancestors(named("app")), vec!["cycle"]);
    for step in ["read", "acquire", "validate", "write"] {
        let chain = ancestors(named(step));
        assert!(
            chain.ends_with(&["app".to_string(), "cycle".to_string()]),
            "{step} sits under app and cycle: {chain:?}"
        );
        assert_eq!(named(step).trace_id, cycle.trace_id);
    }
    let service = traces[0].resource_spans[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes
        .iter()
        .find(|a| a.key == "service.name")
        .unwrap();
    assert!(format!("{:?}", service.value).contains("akv-rotator-test"));

    let metric_names: Vec<String> = metrics
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .map(|m| m.name.clone())
        .collect();
    for name in [
        "akv_rotator.cycle.duration",
        "akv_rotator.requests",
        "akv_rotator.token.refreshes",
    ] {
        assert!(
            metric_names.iter().any(|n| n == name),
            "metric {name} exported: {metric_names:?}"
        );
    }
    // No span attribute carries a secret.
    let app = &world.apps[0];
    let all = format!("{traces:?}");
    assert!(!all.contains(&app.secret_value) && !all.contains("eyJ"));
}
