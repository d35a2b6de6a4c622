//! Alerting end to end through the library API: real HTTP receivers (axum on 127.0.0.1:0)
//! capture what Teams, Slack and a CloudEvents webhook would receive, and the clock is driven by
//! hand across runs to check deduplication, escalation, reminders and resolution.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use akv_rotator::alerts::{
    AlertReport, AlertSeverity, AlertState, AlertsConfig, DeliveryOutcome, Finding, FindingKind,
    MemoryStateStore, RawAlertsConfig, SecretRef, findings_from_report, run_alerts,
};
use akv_rotator::config::expiry::Severity;
use akv_rotator::error::{ErrorClass, StepError};
use akv_rotator::report::{AppReport, CycleReport, Outcome, TargetReport};
use secrecy::SecretString;
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::common::receiver::{Receiver, Reply, Script};
use crate::common::report::{
    AppReportBuilder, RotationReportBuilder, SECRETS_VAULT, TargetReportBuilder, cycle_report,
};
use crate::common::{field_pairs, free_port};

// ---------------------------------------------------------------------------------------------
// Receivers.

/// In every receiver's URL: a path and query that must never leak.
const SECRET_PATH: &str = "hooks/Sup3rS3cretPath";
const SECRET_QUERY: &str = "sig=T0pS3cretSignature";

fn accept() -> Reply {
    Reply::status(202)
}

/// Answers `code` with a body that echoes the request path and query (as some receivers do),
/// to prove the URL is scrubbed from reasons.
fn fail(code: u16) -> Reply {
    Reply::status(code).echoing_uri()
}

/// Answers 429 with `Retry-After: secs` this many times, then accepts.
fn rate_limited(times: usize, secs: u64) -> Script {
    let slow_down = Reply::status(429)
        .header("retry-after", &secs.to_string())
        .body("slow down");
    Script::first(times, slow_down, accept())
}

/// Never answers in time.
fn hang() -> Reply {
    accept().after(Duration::from_secs(30))
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

fn http() -> reqwest::Client {
    akv_rotator::net::http::install_crypto_provider();
    // Test receivers speak plain HTTP; the product client is https-only.
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

const T0: OffsetDateTime = datetime!(2026-11-28 20:00 UTC);

fn hours(h: i64) -> time::Duration {
    time::Duration::hours(h)
}

/// `[alerts]` from TOML with fast retries for tests.
fn alerts_config(toml_text: &str) -> AlertsConfig {
    #[derive(serde::Deserialize)]
    struct Doc {
        alerts: RawAlertsConfig,
    }
    let doc: Doc = toml::from_str(toml_text).unwrap();
    let mut cfg = doc.alerts.validate().unwrap();
    cfg.delivery.allow_plain_http = true;
    cfg.delivery.attempt_timeout = Duration::from_millis(300);
    cfg.delivery.initial_backoff = Duration::from_millis(10);
    cfg
}

fn sink_toml(name: &str, kind: &str, extra: &str) -> String {
    format!(
        "[[alerts.sinks]]\nname = \"{name}\"\nkind = \"{kind}\"\nurl_secret = \"{name}-url\"\n{extra}\n"
    )
}

fn urls(pairs: &[(&str, &Receiver)]) -> HashMap<String, SecretString> {
    pairs
        .iter()
        .map(|(name, r)| {
            let url = r.url(&format!("/{SECRET_PATH}?{SECRET_QUERY}"));
            (name.to_string(), SecretString::from(url))
        })
        .collect()
}

fn expiring(app: &str, owner: Option<&str>, severity: AlertSeverity, days: i64) -> Finding {
    Finding::client_secret_expiry(
        app,
        owner,
        severity,
        SecretRef {
            name: format!("{app}-client-secret"),
            vault: SECRETS_VAULT.into(),
        },
        Some(time::macros::datetime!(2026-12-10 20:15:01 UTC)),
        Some(days),
    )
}

/// `[alerts]` with one sink and no options.
fn one_sink(name: &str, kind: &str) -> AlertsConfig {
    alerts_config(&format!("[alerts]\n{}", sink_toml(name, kind, "")))
}

/// App `a`'s client secret expires in 20 days: one warning.
fn warning_a() -> Vec<Finding> {
    vec![expiring("a", None, AlertSeverity::Warning, 20)]
}

/// App `sales` (owner `team-bi`)'s client secret expires in 3 days: one critical finding.
fn critical_sales() -> Vec<Finding> {
    vec![expiring(
        "sales",
        Some("team-bi"),
        AlertSeverity::Critical,
        3,
    )]
}

/// An app whose client secret expires on 2026-12-10 when `days_left` is known.
fn app_report(name: &str, severity: Severity, days_left: Option<i64>) -> AppReport {
    AppReportBuilder::new(name)
        .severity(severity)
        .days_left(days_left)
        .expires_on(days_left.map(|_| "2026-12-10T20:15:01Z"))
        .build()
}

/// A Power BI target; a failed one failed for a bad client secret.
fn target_report(app: &str, outcome: Outcome, token_expires_on: Option<&str>) -> TargetReport {
    TargetReportBuilder::new(app)
        .outcome(outcome)
        .token_expires_on(token_expires_on)
        .error((outcome == Outcome::Failed).then(|| {
            StepError::new(
                ErrorClass::BadClientSecret,
                "Entra ID rejected the client secret",
            )
            .with_code("AADSTS7000215")
        }))
        .build()
}

/// A cycle of one app (client secret fine for 90 days) and its Power BI target.
fn healthy_app_with_target(app: &str, outcome: Outcome, token_expires_on: &str) -> CycleReport {
    cycle(
        vec![app_report(app, Severity::Ok, Some(90))],
        vec![target_report(app, outcome, Some(token_expires_on))],
    )
}

fn cycle(apps: Vec<AppReport>, targets: Vec<TargetReport>) -> CycleReport {
    cycle_report(T0, apps, targets)
}

/// A CloudEvents webhook sink `siem` that accepts everything, with an empty state store.
struct Siem {
    hook: Receiver,
    cfg: AlertsConfig,
    urls: HashMap<String, SecretString>,
    store: MemoryStateStore,
}

impl Siem {
    async fn start() -> Siem {
        let hook = Receiver::start(accept()).await;
        let urls = urls(&[("siem", &hook)]);
        Siem {
            hook,
            cfg: one_sink("siem", "webhook"),
            urls,
            store: MemoryStateStore::new(),
        }
    }

    /// One run of these findings at `now`.
    async fn run(&self, findings: Vec<Finding>, now: OffsetDateTime) -> AlertReport {
        run(&self.cfg, &self.urls, &self.store, findings, now).await
    }
}

/// The first run of a fresh state with one sink `name` of `kind` at `receiver`.
async fn first_delivery(
    name: &str,
    kind: &str,
    receiver: &Receiver,
    findings: Vec<Finding>,
) -> AlertReport {
    let store = MemoryStateStore::new();
    run(
        &one_sink(name, kind),
        &urls(&[(name, receiver)]),
        &store,
        findings,
        T0,
    )
    .await
}

/// One run: the findings, then alerting at `now`.
async fn run(
    cfg: &AlertsConfig,
    urls: &HashMap<String, SecretString>,
    store: &MemoryStateStore,
    findings: Vec<Finding>,
    now: OffsetDateTime,
) -> AlertReport {
    run_alerts(&http(), cfg, urls, store, findings, now).await
}

// ---------------------------------------------------------------------------------------------
// Payloads.

#[tokio::test]
async fn webhook_sink_posts_a_structured_cloudevent() {
    let hook = Receiver::start(accept()).await;
    let report = first_delivery("siem", "webhook", &hook, critical_sales()).await;

    assert_eq!((report.sent, report.failed), (1, 0), "{report:?}");
    let got = hook.accepted();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].header("content-type"),
        Some("application/cloudevents+json")
    );
    let e = got[0].json();
    for (attribute, expected) in [
        ("specversion", "1.0"),
        ("source", "akv-rotator"),
        ("type", "com.akv-rotator.client_secret.expiry"),
        ("subject", "sales"),
        ("time", "2026-11-28T20:00:00Z"),
        ("datacontenttype", "application/json"),
    ] {
        assert_eq!(e[attribute], expected, "{attribute}");
    }
    assert_eq!(e["id"].as_str().map(str::len), Some(32));
    let d = &e["data"];
    for (field, expected) in [
        ("app", "sales"),
        ("owner", "team-bi"),
        ("severity", "critical"),
        ("kind", "client_secret_expiry"),
        ("state", "new"),
        ("finding_key", "client_secret_expiry/sales"),
        ("expires_on", "2026-12-10T20:15:01Z"),
    ] {
        assert_eq!(d[field], expected, "{field}");
    }
    assert_eq!(d["days_left"], 3);
    assert_eq!(d["client_secret"]["name"], "sales-client-secret");
    assert_eq!(d["client_secret"]["vault"], SECRETS_VAULT);
    assert!(
        d["title"]
            .as_str()
            .is_some_and(|t| t.contains("expires in 3 days")),
        "{d}"
    );
    assert!(d["detail"].as_str().is_some_and(|t| t.contains("Entra ID")));
}

#[tokio::test]
async fn teams_sink_posts_an_adaptive_card() {
    let teams = Receiver::start(accept()).await;
    first_delivery("sec", "teams", &teams, critical_sales()).await;

    let got = teams.accepted();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    let m = got[0].json();
    assert_eq!(m["type"], "message");
    let a = &m["attachments"][0];
    assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(a["contentUrl"], Value::Null);
    let card = &a["content"];
    assert_eq!(
        card["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    assert_eq!(card["msteams"]["width"], "Full");
    let title = &card["body"][0];
    assert_eq!(title["type"], "TextBlock");
    assert_eq!(title["color"], "attention");
    assert!(title["text"].as_str().unwrap().starts_with("CRITICAL: "));
    let fact_set = card["body"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "FactSet")
        .unwrap();
    let facts: HashMap<String, String> = field_pairs(&fact_set["facts"], "title", "value")
        .into_iter()
        .collect();
    assert_eq!(facts["App"], "sales");
    assert_eq!(facts["Owner"], "team-bi");
    assert_eq!(facts["Severity"], "critical");
    assert_eq!(facts["Expires"], "2026-12-10T20:15:01Z");
    assert_eq!(facts["Days left"], "3");
    assert_eq!(
        facts["Client secret"],
        format!("sales-client-secret in {SECRETS_VAULT}")
    );

    // A warning is yellow, a resolution green.
    let cfg2 = one_sink("sec", "teams");
    let store2 = MemoryStateStore::new();
    let u = urls(&[("sec", &teams)]);
    teams.take_accepted();
    run(
        &cfg2,
        &u,
        &store2,
        vec![expiring("hr", None, AlertSeverity::Warning, 20)],
        T0,
    )
    .await;
    run(&cfg2, &u, &store2, vec![], T0 + hours(1)).await;
    let colors: Vec<Value> = teams
        .take_accepted()
        .iter()
        .map(|c| c.json()["attachments"][0]["content"]["body"][0]["color"].clone())
        .collect();
    assert_eq!(colors, ["warning", "good"]);
}

#[tokio::test]
async fn slack_sink_posts_blocks() {
    let slack = Receiver::start(accept()).await;
    first_delivery(
        "chat",
        "slack",
        &slack,
        vec![expiring(
            "a<b>&c",
            Some("team-bi"),
            AlertSeverity::Warning,
            12,
        )],
    )
    .await;

    let got = slack.accepted();
    assert_eq!(got.len(), 1);
    let m = got[0].json();
    assert!(
        m["text"].as_str().unwrap().contains("WARNING"),
        "fallback text: {m}"
    );
    let blocks = m["blocks"].as_array().unwrap();
    let types: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["header", "section", "context"]);
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert!(blocks[0]["text"]["text"].as_str().unwrap().len() <= 150);
    let fields: Vec<&str> = blocks[1]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["type"], "mrkdwn");
            f["text"].as_str().unwrap()
        })
        .collect();
    assert!(fields.contains(&"*App*\na&lt;b&gt;&amp;c"), "{fields:?}");
    assert!(fields.contains(&"*Owner*\nteam-bi"));
    assert!(fields.contains(&"*Severity*\nwarning"));
    assert!(fields.contains(&"*Days left*\n12"));
    assert!(fields.len() <= 10);
    assert_eq!(blocks[2]["elements"][0]["type"], "mrkdwn");
}

// ---------------------------------------------------------------------------------------------
// Deduplication over runs.

#[tokio::test]
async fn two_runs_send_one_alert_then_a_reminder_after_24h() {
    let siem = Siem::start().await;
    let f = || vec![expiring("sales", None, AlertSeverity::Warning, 20)];

    let r1 = siem.run(f(), T0).await;
    let r2 = siem.run(f(), T0 + hours(1)).await;
    assert_eq!(siem.hook.accepted().len(), 1);
    assert_eq!((r1.sent, r2.sent, r2.suppressed), (1, 0, 1));

    siem.run(f(), T0 + hours(23)).await;
    assert_eq!(siem.hook.accepted().len(), 1);
    siem.run(f(), T0 + hours(24)).await;
    let got = siem.hook.accepted();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].json()["data"]["state"], "reminder");
    // A different id for a different alert.
    assert_ne!(got[0].json()["id"], got[1].json()["id"]);
}

#[tokio::test]
async fn escalation_sends_again_at_once() {
    let siem = Siem::start().await;

    siem.run(vec![expiring("sales", None, AlertSeverity::Warning, 8)], T0)
        .await;
    siem.run(
        vec![expiring("sales", None, AlertSeverity::Critical, 6)],
        T0 + hours(1),
    )
    .await;
    siem.run(
        vec![expiring("sales", None, AlertSeverity::Critical, 6)],
        T0 + hours(2),
    )
    .await;

    let states: Vec<(Value, Value)> = siem
        .hook
        .accepted()
        .iter()
        .map(|c| {
            (
                c.json()["data"]["state"].clone(),
                c.json()["data"]["severity"].clone(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("new".into(), "warning".into()),
            ("escalated".into(), "critical".into())
        ]
    );
}

#[tokio::test]
async fn resolution_sends_resolved_once() {
    let siem = Siem::start().await;

    siem.run(
        vec![expiring("sales", Some("bi"), AlertSeverity::Warning, 8)],
        T0,
    )
    .await;
    // The client secret was rotated: the finding is gone.
    siem.run(vec![], T0 + hours(1)).await;
    siem.run(vec![], T0 + hours(2)).await;

    let got = siem.hook.accepted();
    assert_eq!(got.len(), 2);
    let e = got[1].json();
    assert_eq!(e["type"], "com.akv-rotator.client_secret.expiry.resolved");
    assert_eq!(e["data"]["state"], "resolved");
    assert_eq!(e["data"]["owner"], "bi");
    assert_eq!(e["data"]["client_secret"]["name"], "sales-client-secret");
    assert!(
        siem.store.state().unwrap().findings.is_empty(),
        "forgotten after resolving"
    );
}

// ---------------------------------------------------------------------------------------------
// Routing.

#[tokio::test]
async fn owners_route_and_min_severity_filters() {
    let team_a = Receiver::start(accept()).await;
    let oncall = Receiver::start(accept()).await;
    let all = Receiver::start(accept()).await;
    let cfg = alerts_config(&format!(
        "[alerts]\n{}{}{}",
        sink_toml("team-a", "slack", "owners = [\"alice\"]"),
        sink_toml("oncall", "teams", "min_severity = \"critical\""),
        sink_toml("all", "webhook", ""),
    ));
    let u = urls(&[("team-a", &team_a), ("oncall", &oncall), ("all", &all)]);
    let store = MemoryStateStore::new();

    run(
        &cfg,
        &u,
        &store,
        vec![
            expiring("x", Some("alice"), AlertSeverity::Warning, 20),
            expiring("y", Some("bob"), AlertSeverity::Critical, 3),
            expiring("z", None, AlertSeverity::Expired, -2),
        ],
        T0,
    )
    .await;

    let apps = |r: &Receiver, pick: fn(&Value) -> &Value| -> Vec<String> {
        r.accepted()
            .iter()
            .map(|c| pick(&c.json()).as_str().unwrap_or("?").to_string())
            .collect()
    };
    // Slack: the App field is the first field.
    assert_eq!(
        apps(&team_a, |b| &b["blocks"][1]["fields"][0]["text"]),
        ["*App*\nx"]
    );
    assert_eq!(
        apps(
            &oncall,
            |b| &b["attachments"][0]["content"]["body"][2]["facts"][0]["value"]
        ),
        ["y", "z"]
    );
    assert_eq!(apps(&all, |b| &b["subject"]), ["x", "y", "z"]);
}

// ---------------------------------------------------------------------------------------------
// Sinks that are down.

#[tokio::test]
async fn failing_sink_is_reported_and_retried_next_run() {
    let hook = Receiver::start(fail(500)).await;
    let ok = Receiver::start(accept()).await;
    let cfg = alerts_config(&format!(
        "[alerts]\n{}{}",
        sink_toml("down", "webhook", ""),
        sink_toml("up", "slack", "")
    ));
    let u = urls(&[("down", &hook), ("up", &ok)]);
    let store = MemoryStateStore::new();
    let f = || {
        vec![
            expiring("a", None, AlertSeverity::Warning, 20),
            expiring("b", None, AlertSeverity::Warning, 20),
        ]
    };

    let r1 = run(&cfg, &u, &store, f(), T0).await;

    // 3 attempts for the first alert, then the sink is taken as down for this run.
    assert_eq!(hook.hits(), 3);
    let down = r1.sinks.iter().find(|s| s.name == "down").unwrap();
    assert_eq!((down.sent, down.failed, down.skipped), (0, 1, 1));
    assert_eq!(down.deliveries[0].outcome, DeliveryOutcome::Failed);
    assert_eq!(down.deliveries[0].attempts, 3);
    let reason = down.error.as_deref().unwrap();
    assert!(reason.contains("HTTP 500"), "{reason}");
    assert_eq!(down.deliveries[1].outcome, DeliveryOutcome::Skipped);
    // The other sink is not held back, and the run still stores its state.
    assert_eq!(ok.accepted().len(), 2);
    assert!(r1.state_saved);
    assert_eq!(r1.failed, 2);

    // Next run: the receiver is back; only what it missed is sent, as new.
    hook.reply(accept());
    let r2 = run(&cfg, &u, &store, f(), T0 + hours(1)).await;
    let got = hook.accepted();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|c| c.json()["data"]["state"] == "new"));
    assert_eq!(ok.accepted().len(), 2, "the healthy sink is not told twice");
    assert_eq!((r2.sent, r2.failed, r2.suppressed), (2, 0, 2));
}

#[tokio::test]
async fn hanging_sink_times_out_and_is_reported() {
    let hook = Receiver::start(hang()).await;
    let mut cfg = one_sink("slow", "webhook");
    cfg.delivery.attempt_timeout = Duration::from_millis(200);
    cfg.delivery.max_attempts = 2;
    let u = urls(&[("slow", &hook)]);
    let store = MemoryStateStore::new();

    let started = std::time::Instant::now();
    let r = run(&cfg, &u, &store, warning_a(), T0).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    assert_eq!(r.failed, 1);
    let reason = r.sinks[0].error.as_deref().unwrap();
    assert!(reason.contains("timed out"), "{reason}");
    assert_eq!(hook.hits(), 2);
    // Not recorded as sent: tried again next run.
    hook.reply(accept());
    run(&cfg, &u, &store, warning_a(), T0 + hours(1)).await;
    assert_eq!(hook.accepted().len(), 1);
}

#[tokio::test]
async fn rate_limited_sink_honours_retry_after() {
    let hook = Receiver::start(rate_limited(1, 1)).await;
    let cfg = one_sink("siem", "webhook");
    let u = urls(&[("siem", &hook)]);
    let store = MemoryStateStore::new();

    let started = std::time::Instant::now();
    let r = run(&cfg, &u, &store, warning_a(), T0).await;

    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited Retry-After"
    );
    assert_eq!(r.sent, 1, "{r:?}");
    assert_eq!(r.sinks[0].deliveries[0].attempts, 2);
    assert_eq!(hook.hits(), 2);
}

#[tokio::test]
async fn sink_without_url_is_reported_not_fatal() {
    let cfg = one_sink("siem", "webhook");
    let store = MemoryStateStore::new();
    let r = run(&cfg, &HashMap::new(), &store, warning_a(), T0).await;
    assert_eq!(r.failed, 1);
    assert!(r.sinks[0].error.as_deref().unwrap().contains("siem-url"));
    assert!(r.state_saved);
}

/// The webhook URL is a credential: not in the report, not in any log line, even when the
/// receiver echoes it back or cannot be reached.
#[tokio::test]
async fn webhook_url_never_appears_in_report_or_logs() {
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let echo = Receiver::start(fail(404)).await;
    let hang = Receiver::start(hang()).await;
    // A port nobody listens on.
    let closed = format!(
        "http://127.0.0.1:{}/{SECRET_PATH}?{SECRET_QUERY}",
        free_port()
    );
    let cfg = alerts_config(&format!(
        "[alerts]\n{}{}{}{}",
        sink_toml("echo", "teams", ""),
        sink_toml("hang", "slack", ""),
        sink_toml("closed", "webhook", ""),
        sink_toml("bad", "webhook", ""),
    ));
    let mut u = urls(&[("echo", &echo), ("hang", &hang)]);
    u.insert("closed".into(), SecretString::from(closed));
    u.insert(
        "bad".into(),
        SecretString::from(format!("ftp://example/{SECRET_PATH}?{SECRET_QUERY}")),
    );
    let store = MemoryStateStore::new();

    let r = run(&cfg, &u, &store, warning_a(), T0).await;

    assert_eq!(r.failed, 4, "{r:?}");
    let report = serde_json::to_string(&r).unwrap();
    let logs = logs.text();
    assert!(logs.contains("alert_failed"), "logs were captured: {logs}");
    for text in [&report, &logs, &store.json().unwrap()] {
        for secret in ["Sup3rS3cretPath", "T0pS3cretSignature"] {
            assert!(!text.contains(secret), "{secret} leaked into:\n{text}");
        }
    }
    // Reasons still say what happened.
    let reasons: Vec<&str> = r.sinks.iter().filter_map(|s| s.error.as_deref()).collect();
    assert!(reasons[0].contains("HTTP 404"), "{reasons:?}");
    assert!(reasons[1].contains("timed out"), "{reasons:?}");
    assert!(reasons[2].contains("cannot connect"), "{reasons:?}");
    assert!(reasons[3].contains("https"), "{reasons:?}");
}

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// State.

#[tokio::test]
async fn corrupt_state_does_not_stop_alerting() {
    let hook = Receiver::start(accept()).await;
    let cfg = one_sink("siem", "webhook");
    let u = urls(&[("siem", &hook)]);
    let store = MemoryStateStore::with_json("{\"version\":1,\"findings\":[garbage");

    let r = run(&cfg, &u, &store, warning_a(), T0).await;

    assert_eq!(r.sent, 1);
    assert!(
        r.notes.iter().any(|n| n.contains("could not be read")),
        "{:?}",
        r.notes
    );
    assert!(r.state_saved, "the corrupt state is replaced");
    let state: AlertState = store.state().unwrap();
    assert!(
        state.findings["client_secret_expiry/a"]
            .sent_to
            .contains_key("siem")
    );
}

#[tokio::test]
async fn unreadable_state_is_not_overwritten() {
    let siem = Siem::start().await;
    siem.run(warning_a(), T0).await;
    let before = siem.store.json();

    siem.store.fail_load(Some(StepError::new(
        ErrorClass::Transient,
        "Key Vault is throttling",
    )));
    let r = siem.run(warning_a(), T0 + hours(1)).await;

    assert!(!r.state_saved);
    assert!(
        r.notes.iter().any(|n| n.contains("could not be loaded")),
        "{:?}",
        r.notes
    );
    assert_eq!(siem.store.json(), before);
}

// ---------------------------------------------------------------------------------------------
// From cycle reports.

#[tokio::test]
async fn findings_come_from_the_cycle_report() {
    let state = AlertState::default();
    let report = cycle(
        vec![
            app_report("ok", Severity::Ok, Some(90)),
            app_report("soon", Severity::Warning, Some(12)),
            app_report("never", Severity::Unknown, None),
            app_report("gone", Severity::Expired, Some(-3)),
        ],
        vec![target_report(
            "ok",
            Outcome::Written,
            Some("2026-11-28T21:30:00Z"),
        )],
    );
    let owners = HashMap::from([("soon".to_string(), "team-bi".to_string())]);
    let findings = findings_from_report(&report, &owners, Some(T0 + hours(1)), &state);
    let got: Vec<(&str, Option<AlertSeverity>, Option<&str>)> = findings
        .iter()
        .map(|f| (f.key.as_str(), f.severity(), f.owner.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "client_secret_expiry/soon",
                Some(AlertSeverity::Warning),
                Some("team-bi")
            ),
            (
                "client_secret_unknown_expiry/never",
                Some(AlertSeverity::Warning),
                None
            ),
            (
                "client_secret_expiry/gone",
                Some(AlertSeverity::Expired),
                None
            ),
        ]
    );
    assert!(
        findings[2].title.contains("expired 3 days ago"),
        "{}",
        findings[2].title
    );
}

#[tokio::test]
async fn failing_target_alerts_after_three_runs_and_resolves_on_success() {
    let siem = Siem::start().await;
    let failing = healthy_app_with_target("legacy", Outcome::Failed, "2026-11-29T20:00:00Z");

    for run_no in 0..3 {
        let state = siem.store.state().unwrap_or_default();
        let f = findings_from_report(&failing, &HashMap::new(), None, &state);
        siem.run(f, T0 + hours(run_no)).await;
        let expected = if run_no < 2 { 0 } else { 1 };
        assert_eq!(
            siem.hook.accepted().len(),
            expected,
            "after run {}",
            run_no + 1
        );
    }
    let e = siem.hook.accepted()[0].json();
    assert_eq!(e["type"], "com.akv-rotator.token.failing");
    assert_eq!(e["data"]["consecutive_failures"], 3);
    assert_eq!(e["data"]["token_secret"]["name"], "legacy-powerbi-token");
    assert!(
        e["data"]["detail"]
            .as_str()
            .unwrap()
            .contains("AADSTS7000215")
    );

    let healthy = healthy_app_with_target("legacy", Outcome::Written, "2026-11-29T20:00:00Z");
    let state = siem.store.state().unwrap();
    let f = findings_from_report(&healthy, &HashMap::new(), None, &state);
    siem.run(f, T0 + hours(3)).await;
    let got = siem.hook.accepted();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[1].json()["type"],
        "com.akv-rotator.token.failing.resolved"
    );
    assert!(siem.store.state().unwrap().failures.is_empty());
}

#[tokio::test]
async fn token_expiring_before_the_next_run_alerts() {
    let siem = Siem::start().await;
    // The token was refreshed but lives 1 h; the next run is in 2 h.
    let report = healthy_app_with_target("bi", Outcome::Written, "2026-11-28T21:00:00Z");
    let f = findings_from_report(
        &report,
        &HashMap::new(),
        Some(T0 + hours(2)),
        &AlertState::default(),
    );
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].kind, FindingKind::TokenExpiresBeforeNextRun);

    siem.run(f, T0).await;
    let e = siem.hook.accepted()[0].json();
    assert_eq!(e["type"], "com.akv-rotator.token.expires_before_next_run");
    assert_eq!(e["data"]["severity"], "warning");
    assert_eq!(e["data"]["expires_on"], "2026-11-28T21:00:00Z");

    // Without a known next run it is not assessed: neither resent nor resolved.
    let state = siem.store.state().unwrap();
    let f = findings_from_report(&report, &HashMap::new(), None, &state);
    siem.run(f, T0 + hours(30)).await;
    assert_eq!(siem.hook.accepted().len(), 1);
}

#[tokio::test]
async fn unreadable_client_secret_neither_resolves_nor_raises() {
    let siem = Siem::start().await;
    let soon = cycle(vec![app_report("a", Severity::Warning, Some(12))], vec![]);
    let f = findings_from_report(&soon, &HashMap::new(), None, &AlertState::default());
    siem.run(f, T0).await;

    // Next run Key Vault could not be read for this app: severity unknown with an error.
    let mut broken = app_report("a", Severity::Unknown, None);
    broken.error = Some(Box::new(StepError::new(
        ErrorClass::Transient,
        "Key Vault timed out",
    )));
    let hiccup = cycle(vec![broken], vec![]);
    let f = findings_from_report(&hiccup, &HashMap::new(), None, &siem.store.state().unwrap());
    siem.run(f, T0 + hours(1)).await;

    assert_eq!(
        siem.hook.accepted().len(),
        1,
        "no resolved, no unknown-expiry alert"
    );
}

#[tokio::test]
async fn failed_and_manual_rotations_are_findings() {
    use akv_rotator::report::rotation::RotationOutcome;
    let mut report = cycle(vec![app_report("rot", Severity::Ok, Some(90))], vec![]);
    let rotation = |outcome, manual: Option<&str>| {
        RotationReportBuilder::new("rot", outcome)
            .error((outcome == RotationOutcome::Failed).then(|| {
                StepError::new(
                    ErrorClass::PermissionDenied,
                    "Graph refused addPassword: Authorization_RequestDenied",
                )
            }))
            .manual_action(manual)
            .build()
    };
    report.rotations = vec![rotation(RotationOutcome::Failed, None)];
    let findings = findings_from_report(&report, &HashMap::new(), None, &AlertState::default());
    let failed = findings
        .iter()
        .find(|f| f.key == "rotation_failed/rot")
        .expect("rotation failure finding");
    assert_eq!(failed.severity(), Some(AlertSeverity::Critical));
    assert!(failed.detail.contains("Authorization_RequestDenied"));

    report.rotations = vec![rotation(
        RotationOutcome::Rotated,
        Some("remove the old client secret of app rot"),
    )];
    let findings = findings_from_report(&report, &HashMap::new(), None, &AlertState::default());
    assert!(
        findings.iter().all(|f| f.key != "rotation_failed/rot"),
        "a successful rotation clears the failure"
    );
    let manual = findings
        .iter()
        .find(|f| f.key == "manual_action_needed/rot/unpublished")
        .expect("manual action finding");
    assert_eq!(manual.severity(), Some(AlertSeverity::Warning));
}
