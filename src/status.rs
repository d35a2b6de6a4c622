//! Read-only views of a report for people: a self-contained HTML page (an expiry timeline above
//! a table; no external assets) served by the daemon at `/status`, and Markdown for tickets.
//! Everything is escaped; nothing here holds a secret or token value.

use std::fmt::Write as _;

use time::OffsetDateTime;

use crate::expiry::Severity;
use crate::report::{CycleReport, rfc3339};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn parse(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// Apps sorted by urgency: worst severity first, then fewest days left.
fn by_urgency(report: &CycleReport) -> Vec<&crate::report::AppReport> {
    let mut apps: Vec<_> = report.apps.iter().collect();
    apps.sort_by_key(|a| {
        let failed = report
            .targets
            .iter()
            .any(|t| t.app == a.name && t.error.is_some());
        (
            std::cmp::Reverse(a.client_secret.severity),
            !failed,
            a.client_secret.days_left.unwrap_or(i64::MAX),
        )
    });
    apps
}

/// The HTML status page.
pub fn html(report: &CycleReport) -> String {
    let now = parse(&report.finished_at).unwrap_or_else(OffsetDateTime::now_utc);
    const DAYS: i64 = 90;
    let mut rows = String::new();
    for a in by_urgency(report) {
        let sev = a.client_secret.severity;
        let (pos, label) = match a.client_secret.days_left {
            Some(d) => (
                (d.clamp(-5, DAYS) + 5) as f64 / (DAYS + 5) as f64 * 100.0,
                format!("{d} d"),
            ),
            None => (100.0, "no expiry recorded".to_string()),
        };
        let _ = write!(
            rows,
            r#"<div class="row" data-app="{app}"><div class="name">{app}</div><div class="track"><div class="zone crit"></div><div class="zone warn"></div><div class="today"></div><div class="marker {sev}" style="left:{pos:.1}%" title="{exp}"></div></div><div class="label {sev}">{label}</div></div>"#,
            app = esc(&a.name),
            sev = sev.label(),
            exp = esc(a.client_secret.expires_on.as_deref().unwrap_or("unknown")),
        );
    }
    let mut table = String::new();
    for a in by_urgency(report) {
        let targets: Vec<_> = report.targets.iter().filter(|t| t.app == a.name).collect();
        for t in targets {
            let age_or_exp = t
                .token_expires_on
                .as_deref()
                .map(esc)
                .unwrap_or_else(|| "-".into());
            let err = t
                .error
                .as_ref()
                .map(|e| format!("<b>{}</b>: {}", esc(e.class.label()), esc(&e.message)))
                .unwrap_or_default();
            let _ = write!(
                table,
                "<tr class=\"{sev}\"><td>{app}</td><td>{cs}</td><td>{exp}</td><td class=\"sev\">{sevl}</td><td>{secret}</td><td>{res}</td><td>{outcome}</td><td>{tok}</td><td>{err}</td></tr>",
                sev = a.client_secret.severity.label(),
                app = esc(&a.name),
                cs = esc(&a.client_secret.name),
                exp = esc(a.client_secret.expires_on.as_deref().unwrap_or("-")),
                sevl = a.client_secret.severity.label(),
                secret = esc(&t.secret),
                res = esc(t.scope.trim_end_matches("/.default")),
                outcome = t.outcome.label(),
                tok = age_or_exp,
            );
        }
    }
    let s = &report.summary;
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>akv-rotator status</title>
<style>
body{{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2328;background:#fff}}
h1{{font-size:20px;margin:0 0 4px}} .sub{{color:#59636e;margin-bottom:16px}}
.cards{{display:flex;gap:12px;margin:12px 0 20px;flex-wrap:wrap}} .card{{border:1px solid #d1d9e0;border-radius:8px;padding:8px 14px;min-width:90px}}
.card b{{display:block;font-size:22px}}
.timeline{{border:1px solid #d1d9e0;border-radius:8px;padding:12px 16px;margin-bottom:20px}}
.axis,.row{{display:grid;grid-template-columns:180px 1fr 130px;gap:12px;align-items:center}} .row{{height:26px}}
.axis .scale{{display:flex;justify-content:space-between;color:#59636e;font-size:12px}}
.name{{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}}
.track{{position:relative;height:12px;background:#eef1f4;border-radius:6px}}
.zone{{position:absolute;top:0;bottom:0}} .zone.crit{{left:5.3%;width:7.4%;background:#ffd7d5}} .zone.warn{{left:12.6%;width:24.2%;background:#fff1c2}}
.today{{position:absolute;left:5.3%;top:-4px;bottom:-4px;width:2px;background:#1f2328}}
.marker{{position:absolute;top:-3px;width:14px;height:14px;margin-left:-7px;border-radius:50%;border:2px solid #fff;box-shadow:0 0 0 1px #888}}
.marker.ok{{background:#1a7f37}} .marker.warning{{background:#bf8700}} .marker.critical{{background:#cf222e}} .marker.expired{{background:#6e7781}} .marker.unknown{{background:#8250df}}
.label.critical,.label.expired{{color:#cf222e;font-weight:600}} .label.warning{{color:#9a6700;font-weight:600}}
table{{border-collapse:collapse;width:100%}} th,td{{text-align:left;padding:6px 8px;border-bottom:1px solid #d1d9e0;vertical-align:top}}
th{{background:#f6f8fa}} tr.critical td.sev,tr.expired td.sev{{color:#cf222e;font-weight:600}} tr.warning td.sev{{color:#9a6700;font-weight:600}}
</style></head><body>
<h1>akv-rotator status</h1>
<div class="sub">Cycle finished {finished} · {dry}</div>
<div class="cards"><div class="card"><b>{written}</b>written</div><div class="card"><b>{fresh}</b>fresh</div><div class="card"><b>{failed}</b>failed</div><div class="card"><b>{warn}</b>warning</div><div class="card"><b>{crit}</b>critical</div><div class="card"><b>{expired}</b>expired</div></div>
<section class="timeline" aria-label="client secret expiry timeline">
<div class="axis"><div><b>Client secret expiry</b></div><div class="scale"><span>−5 d</span><span>today</span><span>7 d</span><span>30 d</span><span>60 d</span><span>90+ d</span></div><div></div></div>
{rows}
</section>
<table><thead><tr><th>App</th><th>Client secret</th><th>Expires</th><th>Severity</th><th>Token secret</th><th>Resource</th><th>Last outcome</th><th>Token expires</th><th>Problem</th></tr></thead>
<tbody>{table}</tbody></table>
</body></html>
"#,
        finished = esc(&rfc3339(now)),
        dry = if report.dry_run { "dry run" } else { "live" },
        written = s.written,
        fresh = s.fresh,
        failed = s.failed,
        warn = s.secrets_warning,
        crit = s.secrets_critical,
        expired = s.secrets_expired,
    )
}

/// Markdown for a ticket: one table, most urgent first.
pub fn markdown(report: &CycleReport) -> String {
    let mut out = String::from(
        "| App | Client secret | Expires | Days left | Severity | Token secret | Outcome | Problem |\n|---|---|---|---|---|---|---|---|\n",
    );
    for a in by_urgency(report) {
        for t in report.targets.iter().filter(|t| t.app == a.name) {
            let sev = match a.client_secret.severity {
                Severity::Critical | Severity::Expired => {
                    format!("**{}**", a.client_secret.severity)
                }
                other => other.to_string(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                md(&a.name),
                md(&a.client_secret.name),
                a.client_secret.expires_on.as_deref().unwrap_or("-"),
                a.client_secret
                    .days_left
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "-".into()),
                sev,
                md(&t.secret),
                t.outcome.label(),
                t.error
                    .as_ref()
                    .map(|e| format!("{}: {}", e.class, md(&e.message)))
                    .unwrap_or_default()
            );
        }
    }
    out
}

fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
