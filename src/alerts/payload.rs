//! What each kind of sink receives: a CloudEvents 1.0 event (structured mode), a Microsoft
//! Teams Adaptive Card message (Workflows webhook), or a Slack Block Kit message (incoming
//! webhook). Pure functions of a [`Notification`]; they hold nothing secret.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::decide::{Notification, NotificationState};
use crate::config::alerts::AlertSeverity;
use crate::config::alerts::SinkKind;
use crate::timefmt::rfc3339;

/// CloudEvents `source` of every event.
pub const EVENT_SOURCE: &str = "akv-rotator";
/// Content type of a structured-mode CloudEvent.
pub const CLOUDEVENTS_CONTENT_TYPE: &str = "application/cloudevents+json";

/// The body to POST and its content type.
pub fn render(
    kind: SinkKind,
    n: &Notification,
    event_id: &str,
    now: OffsetDateTime,
) -> (Value, &'static str) {
    match kind {
        SinkKind::Webhook => (cloud_event(n, event_id, now), CLOUDEVENTS_CONTENT_TYPE),
        SinkKind::Teams => (teams_message(n), "application/json"),
        SinkKind::Slack => (slack_message(n), "application/json"),
    }
}

/// The CloudEvents `type`: the finding kind's type, with `.resolved` appended for resolutions.
pub fn event_type(n: &Notification) -> String {
    let base = n.finding.kind.event_type();
    match n.state {
        NotificationState::Resolved => format!("{base}.resolved"),
        _ => base.to_string(),
    }
}

/// The alert as data: the `data` of the CloudEvent.
pub fn event_data(n: &Notification) -> Value {
    let f = &n.finding;
    let secret = f
        .secret
        .as_ref()
        .map(|s| json!({ "name": s.name, "vault": s.vault }));
    let (client_secret, token_secret) = if f.kind.is_client_secret() {
        (secret, None)
    } else {
        (None, secret)
    };
    json!({
        "finding_key": f.key,
        "kind": f.kind.label(),
        "state": n.state.label(),
        "app": f.app,
        "owner": f.owner,
        "severity": n.severity.label(),
        "title": f.title,
        "detail": f.detail,
        "expires_on": f.expires_on.map(rfc3339),
        "days_left": f.days_left,
        "client_secret": client_secret,
        "token_secret": token_secret,
        "consecutive_failures": f.consecutive_failures,
        "first_seen": rfc3339(n.first_seen),
    })
}

/// A CloudEvents 1.0 event in structured JSON mode.
pub fn cloud_event(n: &Notification, event_id: &str, now: OffsetDateTime) -> Value {
    json!({
        "specversion": "1.0",
        "id": event_id,
        "source": EVENT_SOURCE,
        "type": event_type(n),
        "time": rfc3339(now),
        "subject": n.finding.app,
        "datacontenttype": "application/json",
        "data": event_data(n),
    })
}

/// One line for the top of a message: `CRITICAL: …`, `Escalated to CRITICAL: …`,
/// `Reminder, WARNING: …`, `Resolved: …`.
pub fn headline(n: &Notification) -> String {
    let sev = n.severity.label().to_uppercase();
    let title = &n.finding.title;
    match n.state {
        NotificationState::New => format!("{sev}: {title}"),
        NotificationState::Escalated => format!("Escalated to {sev}: {title}"),
        NotificationState::Reminder => format!("Reminder, {sev}: {title}"),
        NotificationState::Resolved => format!("Resolved: {title}"),
    }
}

/// Label/value pairs shown by Teams and Slack.
fn facts(n: &Notification) -> Vec<(&'static str, String)> {
    let f = &n.finding;
    let dash = || "-".to_string();
    let secret_label = if f.kind.is_client_secret() {
        "Client secret"
    } else {
        "Token secret"
    };
    let mut out = vec![
        ("App", f.app.clone()),
        ("Owner", f.owner.clone().unwrap_or_else(dash)),
        ("Severity", n.severity.label().to_string()),
        ("State", n.state.label().to_string()),
        ("Expires", f.expires_on.map(rfc3339).unwrap_or_else(dash)),
        (
            "Days left",
            f.days_left.map(|d| d.to_string()).unwrap_or_else(dash),
        ),
        (
            secret_label,
            f.secret
                .as_ref()
                .map(|s| format!("{} in {}", s.name, s.vault))
                .unwrap_or_else(dash),
        ),
    ];
    if let Some(c) = f.consecutive_failures {
        out.push(("Failed runs in a row", c.to_string()));
    }
    out
}

/// Adaptive Card colour of the title.
fn teams_color(n: &Notification) -> &'static str {
    match (n.state, n.severity) {
        (NotificationState::Resolved, _) => "good",
        (_, AlertSeverity::Warning) => "warning",
        (_, AlertSeverity::Critical | AlertSeverity::Expired) => "attention",
    }
}

/// A message for a Teams Workflows webhook ("Post to a channel when a webhook request is
/// received"): one Adaptive Card 1.4 attachment.
pub fn teams_message(n: &Notification) -> Value {
    let facts: Vec<Value> = facts(n)
        .into_iter()
        .map(|(title, value)| json!({ "title": title, "value": value }))
        .collect();
    let card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": headline(n),
                "size": "Medium",
                "weight": "Bolder",
                "color": teams_color(n),
                "wrap": true
            },
            { "type": "TextBlock", "text": n.finding.detail, "wrap": true },
            { "type": "FactSet", "facts": facts },
            {
                "type": "TextBlock",
                "text": format!("akv-rotator · {}", n.finding.key),
                "isSubtle": true,
                "size": "Small",
                "wrap": true
            }
        ],
        "msteams": { "width": "Full" }
    });
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card
        }]
    })
}

/// Slack `mrkdwn` treats `&`, `<` and `>` as control characters.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Cuts `s` to at most `max` characters (Slack refuses longer block texts).
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A message for a Slack incoming webhook: `text` is the notification fallback; blocks are a
/// header, a section with the detail and fields, and a context line.
pub fn slack_message(n: &Notification) -> Value {
    let emoji = match (n.state, n.severity) {
        (NotificationState::Resolved, _) => ":white_check_mark:",
        (_, AlertSeverity::Warning) => ":warning:",
        (_, AlertSeverity::Critical | AlertSeverity::Expired) => ":rotating_light:",
    };
    let head = headline(n);
    let fields: Vec<Value> = facts(n)
        .into_iter()
        .take(10)
        .map(|(title, value)| {
            json!({
                "type": "mrkdwn",
                "text": truncate(&format!("*{title}*\n{}", slack_escape(&value)), 2000)
            })
        })
        .collect();
    json!({
        "text": truncate(&format!("{emoji} {head}"), 3000),
        "blocks": [
            {
                "type": "header",
                "text": { "type": "plain_text", "text": truncate(&head, 150), "emoji": true }
            },
            {
                "type": "section",
                "text": { "type": "mrkdwn", "text": truncate(&slack_escape(&n.finding.detail), 3000) },
                "fields": fields
            },
            {
                "type": "context",
                "elements": [{
                    "type": "mrkdwn",
                    "text": truncate(&format!(
                        "{emoji} akv-rotator · `{}` · {} · first seen {}",
                        slack_escape(&n.finding.key),
                        n.state.label(),
                        rfc3339(n.first_seen)
                    ), 3000)
                }]
            }
        ]
    })
}
