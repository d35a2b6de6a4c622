//! What each kind of sink receives: a CloudEvents 1.0 event (structured mode), a Microsoft
//! Teams Adaptive Card message (Workflows webhook), or a Slack Block Kit message (incoming
//! webhook). Pure functions of a [`Notification`]; they hold nothing secret.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::decide::{Notification, NotificationState};
use crate::config::alerts::AlertSeverity;
use crate::config::alerts::SinkKind;
use crate::timefmt::rfc3339;

/// CloudEvents `source` when the config names none and no deployment name is known
/// (`[alerts] source`, see [`crate::config::alerts`]).
pub const EVENT_SOURCE: &str = crate::config::alerts::DEFAULT_EVENT_SOURCE;
/// Content type of a structured-mode CloudEvent.
pub const CLOUDEVENTS_CONTENT_TYPE: &str = "application/cloudevents+json";

/// The body to POST and its content type; `source` is the CloudEvents `source` (the
/// deployment).
pub fn render(
    kind: SinkKind,
    n: &Notification,
    source: &str,
    event_id: &str,
    now: OffsetDateTime,
) -> (Value, &'static str) {
    match kind {
        SinkKind::Webhook => (
            cloud_event(n, source, event_id, now),
            CLOUDEVENTS_CONTENT_TYPE,
        ),
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
        "key_id": f.key_id,
        "run_id": f.run_id,
        "occurred_at": f.occurred_at.map(rfc3339),
        "first_seen": rfc3339(n.first_seen),
    })
}

/// A CloudEvents 1.0 event in structured JSON mode. `time` is "when the occurrence happened"
/// (CloudEvents 1.0 specification, "time" attribute): for an event such as an added credential
/// the rotation step's time, for a lasting problem the time it was found (now).
pub fn cloud_event(n: &Notification, source: &str, event_id: &str, now: OffsetDateTime) -> Value {
    json!({
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": event_type(n),
        "time": rfc3339(n.finding.occurred_at.unwrap_or(now)),
        "subject": n.finding.app,
        "datacontenttype": "application/json",
        "data": event_data(n),
    })
}

/// One line for the top of a message: `CRITICAL: …`, `Escalated to CRITICAL: …`,
/// `Reminder, WARNING: …`, `Resolved: …`; an event is just its title (it is news, not a
/// problem at a severity).
pub fn headline(n: &Notification) -> String {
    let sev = n.severity.label().to_uppercase();
    let title = &n.finding.title;
    if n.finding.kind.is_event() {
        return title.clone();
    }
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
    if let Some(k) = &f.key_id {
        out.push(("Key ID", k.clone()));
    }
    if let Some(at) = f.occurred_at {
        out.push(("At", rfc3339(at)));
    }
    if let Some(r) = &f.run_id {
        out.push(("Run ID", r.clone()));
    }
    out
}

/// Adaptive Card colour of the title.
fn teams_color(n: &Notification) -> &'static str {
    if n.finding.kind.is_event() {
        return "accent";
    }
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
        .map(|(title, value)| json!({ "title": title, "value": teams_escape(&value) }))
        .collect();
    let card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": teams_escape(&headline(n)),
                "size": "Medium",
                "weight": "Bolder",
                "color": teams_color(n),
                "wrap": true
            },
            { "type": "TextBlock", "text": teams_escape(&n.finding.detail), "wrap": true },
            { "type": "FactSet", "facts": facts },
            {
                "type": "TextBlock",
                "text": teams_escape(&format!("akv-rotator · {}", n.finding.key)),
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

/// Adaptive Card `TextBlock` text and `FactSet` values are a CommonMark subset (Microsoft
/// Learn, "Text features" of Adaptive Cards: `**bold**`, `_italic_`, `- ` and `1. ` lists,
/// `[title](url)` links); Teams also renders `` ` `` code and `~~` strike-through. App names,
/// secret names and error messages come from config files and Azure, so the characters that
/// open such formatting get CommonMark's backslash escape, and so does a list marker at the
/// start. Line breaks become spaces: no text can start a list in the middle either.
fn teams_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let digits = s.chars().take_while(char::is_ascii_digit).count();
    for (i, c) in s.chars().enumerate() {
        let list_marker = (i == 0 && matches!(c, '-' | '+' | '*' | '#' | '>'))
            || (digits > 0 && i == digits && matches!(c, '.' | ')'));
        match c {
            '\\' | '*' | '_' | '[' | ']' | '`' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            _ if list_marker => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::alerts::finding::{Finding, FindingKind, SecretRef};

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn notification(finding: Finding) -> Notification {
        Notification {
            sink: "hook".into(),
            state: NotificationState::New,
            severity: AlertSeverity::Warning,
            first_seen: t0(),
            finding,
        }
    }

    fn added(app: &str) -> Notification {
        let mut f = Finding::rotation_event(
            FindingKind::CredentialAdded,
            app,
            Some("team-bi"),
            SecretRef {
                name: "sales-client-secret".into(),
                vault: "https://kv.vault.azure.net/".into(),
            },
            "6f1c5a2e-0000-4000-8000-000000000001",
            "added",
            t0() - time::Duration::minutes(5),
        );
        f.run_id = Some("0123456789abcdef".into());
        notification(f)
    }

    #[test]
    fn a_cloudevent_carries_the_configured_source_key_id_run_id_and_the_time_it_happened() {
        let n = added("sales");
        let e = cloud_event(&n, "akv-rotator/prod-weu", "id-1", t0());
        assert_eq!(e["source"], "akv-rotator/prod-weu");
        assert_eq!(e["type"], "com.akv-rotator.client_secret.credential_added");
        assert_eq!(e["time"], rfc3339(t0() - time::Duration::minutes(5)));
        let d = &e["data"];
        assert_eq!(d["kind"], "credential_added");
        assert_eq!(d["key_id"], "6f1c5a2e-0000-4000-8000-000000000001");
        assert_eq!(d["run_id"], "0123456789abcdef");
        assert_eq!(d["owner"], "team-bi");
        assert_eq!(d["client_secret"]["name"], "sales-client-secret");
    }

    #[test]
    fn a_lasting_problem_is_timed_when_it_was_found() {
        let f = Finding::rotation_failed(
            "sales",
            None,
            SecretRef {
                name: "s".into(),
                vault: "https://kv.vault.azure.net/".into(),
            },
            "boom",
        );
        let e = cloud_event(&notification(f), "x", "id", t0());
        assert_eq!(e["time"], rfc3339(t0()));
        assert_eq!(e["data"]["key_id"], serde_json::Value::Null);
    }

    #[test]
    fn teams_and_slack_show_the_key_id_and_run_id_and_no_severity_headline_for_events() {
        let n = added("sales");
        let teams = teams_message(&n).to_string();
        let slack = slack_message(&n).to_string();
        for body in [&teams, &slack] {
            assert!(body.contains("6f1c5a2e"), "{body}");
            assert!(body.contains("0123456789abcdef"), "{body}");
            assert!(!body.contains("WARNING:"), "{body}");
        }
    }

    #[test]
    fn teams_text_cannot_format_links_emphasis_or_lists() {
        assert_eq!(teams_escape("**x**"), r"\*\*x\*\*");
        assert_eq!(teams_escape("a_b_c"), r"a\_b\_c");
        assert_eq!(
            teams_escape("[click](https://evil)"),
            r"\[click\](https://evil)"
        );
        assert_eq!(teams_escape("- item"), r"\- item");
        assert_eq!(teams_escape("12. item"), r"12\. item");
        assert_eq!(teams_escape("a\n- b"), "a - b");
        assert_eq!(teams_escape("`code` ~~x~~"), r"\`code\` \~\~x\~\~");
        assert_eq!(teams_escape(r"c:\path"), r"c:\\path");
        // Ordinary text stays readable.
        assert_eq!(
            teams_escape("expires in 3 days (2026-12-04)."),
            "expires in 3 days (2026-12-04)."
        );

        let mut n = added("evil_[app](https://phish.example)");
        n.finding.detail = "**bold** detail".into();
        let card = teams_message(&n);
        let body = &card["attachments"][0]["content"]["body"];
        let title = body[0]["text"].as_str().unwrap();
        assert!(
            title.contains(r"evil\_\[app\](https://phish.example)"),
            "{title}"
        );
        assert_eq!(body[1]["text"], r"\*\*bold\*\* detail");
        let app_fact = &body[2]["facts"][0];
        assert_eq!(app_fact["title"], "App");
        assert_eq!(app_fact["value"], r"evil\_\[app\](https://phish.example)");
    }
}
