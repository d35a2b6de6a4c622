//! Read-only views of a cycle report for people: the `status` command's table, JSON and Markdown
//! (ready to paste into a ticket), and a self-contained HTML page (an expiry timeline whose zones
//! follow the configured thresholds, above a table; no external assets, no script) that the
//! daemon also serves at `/status`.
//!
//! Every app is ranked by urgency — expired, critical, failing, warning, unknown, ok — then by
//! fewest days left. This module only presents a report: it never reads, acquires or writes, and
//! nothing here holds a secret or token value. Everything put into HTML is escaped.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::config::Thresholds;
use crate::config::expiry::Severity;
use crate::error::StepError;
use crate::report::{AppReport, ClientSecretReport, CycleReport, Outcome, rfc3339};

/// Version of the `status --output json` layout.
pub const SCHEMA_VERSION: u32 = 1;

/// How urgently an app needs someone. Ordered from most to least urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// The client secret has expired.
    Expired,
    /// The client secret expires within the critical threshold.
    Critical,
    /// A target failed, or would fail (its app's client secret cannot be used).
    Failing,
    /// The client secret expires within the warning threshold.
    Warning,
    /// No expiry is recorded for the client secret.
    Unknown,
    Ok,
}

impl Urgency {
    pub const ALL: [Urgency; 6] = [
        Urgency::Expired,
        Urgency::Critical,
        Urgency::Failing,
        Urgency::Warning,
        Urgency::Unknown,
        Urgency::Ok,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Urgency::Expired => "expired",
            Urgency::Critical => "critical",
            Urgency::Failing => "failing",
            Urgency::Warning => "warning",
            Urgency::Unknown => "unknown",
            Urgency::Ok => "ok",
        }
    }

    fn of(severity: Severity, failing: bool) -> Urgency {
        match severity {
            Severity::Expired => Urgency::Expired,
            Severity::Critical => Urgency::Critical,
            _ if failing => Urgency::Failing,
            Severity::Warning => Urgency::Warning,
            Severity::Unknown => Urgency::Unknown,
            Severity::Ok => Urgency::Ok,
        }
    }
}

impl std::fmt::Display for Urgency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// One token secret as the status shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TargetStatus {
    pub secret: String,
    pub vault: String,
    pub scope: String,
    /// The cycle's view: `fresh`, `planned` (due for refresh), `written`, `failed`, `skipped`.
    /// In a dry run, a target due for refresh whose app's client secret cannot be used (for
    /// example it does not exist) is `failed` with the app's problem: that is what the next
    /// cycle would do.
    pub outcome: Outcome,
    /// Expiry of the stored token.
    pub token_expires_on: Option<String>,
    /// When the stored token was written (its Key Vault `updated` time).
    pub token_updated_on: Option<String>,
    /// Now minus `token_updated_on`, in seconds.
    pub token_age_seconds: Option<i64>,
    pub error: Option<StepError>,
}

/// One app registration and its token secrets.
#[derive(Debug, Clone, Serialize)]
pub struct AppStatus {
    pub name: String,
    pub urgency: Urgency,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: ClientSecretReport,
    /// A problem with the app itself that no target shows (e.g. its client secret is missing
    /// while every token is still fresh).
    pub error: Option<StepError>,
    pub targets: Vec<TargetStatus>,
}

/// The thresholds, written as in the config (`30d`, `36h`).
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdsView {
    pub warning: String,
    pub critical: String,
}

/// Apps per urgency.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct UrgencyCounts {
    pub expired: usize,
    pub critical: usize,
    pub failing: usize,
    pub warning: usize,
    pub unknown: usize,
    pub ok: usize,
}

impl UrgencyCounts {
    pub fn get(&self, u: Urgency) -> usize {
        match u {
            Urgency::Expired => self.expired,
            Urgency::Critical => self.critical,
            Urgency::Failing => self.failing,
            Urgency::Warning => self.warning,
            Urgency::Unknown => self.unknown,
            Urgency::Ok => self.ok,
        }
    }

    fn add(&mut self, u: Urgency) {
        let slot = match u {
            Urgency::Expired => &mut self.expired,
            Urgency::Critical => &mut self.critical,
            Urgency::Failing => &mut self.failing,
            Urgency::Warning => &mut self.warning,
            Urgency::Unknown => &mut self.unknown,
            Urgency::Ok => &mut self.ok,
        };
        *slot += 1;
    }
}

/// Token secrets per outcome.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct OutcomeCounts {
    pub fresh: usize,
    pub planned: usize,
    pub written: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// Every app and target of a report, most urgent first.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub schema_version: u32,
    /// When the cycle behind this view finished: "now" for days left and token ages.
    pub generated_at: String,
    /// `true` for the `status` command (nothing read, acquired or written).
    pub dry_run: bool,
    pub thresholds: ThresholdsView,
    pub apps_by_urgency: UrgencyCounts,
    pub targets_by_outcome: OutcomeCounts,
    pub apps: Vec<AppStatus>,
    pub notes: Vec<String>,
    #[serde(skip)]
    now: OffsetDateTime,
    #[serde(skip)]
    limits: Thresholds,
}

/// When each stored token was written, by (token vault URL, secret name lowercased).
pub type TokenUpdated = HashMap<(String, String), OffsetDateTime>;

impl Status {
    /// The view of `report`; "now" is when the report's cycle finished.
    pub fn new(report: &CycleReport, thresholds: &Thresholds) -> Status {
        Status::with_token_updated(report, thresholds, &TokenUpdated::new())
    }

    /// Like [`Status::new`], with the stored tokens' `updated` times for their age.
    pub fn with_token_updated(
        report: &CycleReport,
        thresholds: &Thresholds,
        updated: &TokenUpdated,
    ) -> Status {
        let now = parse(&report.finished_at).unwrap_or_else(OffsetDateTime::now_utc);
        let mut apps: Vec<AppStatus> = report
            .apps
            .iter()
            .map(|a| app_status(report, a, updated, now))
            .collect();
        apps.sort_by(|a, b| {
            (a.urgency, a.client_secret.days_left.unwrap_or(i64::MAX))
                .cmp(&(b.urgency, b.client_secret.days_left.unwrap_or(i64::MAX)))
                .then_with(|| a.name.cmp(&b.name))
        });
        let mut by_urgency = UrgencyCounts::default();
        let mut by_outcome = OutcomeCounts::default();
        for a in &apps {
            by_urgency.add(a.urgency);
            for t in &a.targets {
                match t.outcome {
                    Outcome::Fresh => by_outcome.fresh += 1,
                    Outcome::Planned => by_outcome.planned += 1,
                    Outcome::Written => by_outcome.written += 1,
                    Outcome::Failed => by_outcome.failed += 1,
                    Outcome::Skipped => by_outcome.skipped += 1,
                }
            }
        }
        Status {
            schema_version: SCHEMA_VERSION,
            generated_at: rfc3339(now),
            dry_run: report.dry_run,
            thresholds: ThresholdsView {
                warning: config_duration(thresholds.warning),
                critical: config_duration(thresholds.critical),
            },
            apps_by_urgency: by_urgency,
            targets_by_outcome: by_outcome,
            apps,
            notes: report.notes.clone(),
            now,
            limits: *thresholds,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// One terminal table, one row per token secret, then the problems and a summary line.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Status at {} ({}; client secrets: warning < {}, critical < {})",
            self.generated_at,
            if self.dry_run {
                "dry run, nothing written"
            } else {
                "last cycle"
            },
            self.thresholds.warning,
            self.thresholds.critical,
        );
        let mut rows = Vec::new();
        for a in &self.apps {
            let app_cells = [
                a.urgency.label().to_uppercase(),
                a.name.clone(),
                a.client_secret.name.clone(),
                a.client_secret
                    .expires_on
                    .as_deref()
                    .map(date)
                    .unwrap_or_else(|| "-".into()),
                a.client_secret
                    .days_left
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "-".into()),
            ];
            let blank = || vec![String::new(); app_cells.len()];
            if a.targets.is_empty() {
                let mut row = app_cells.to_vec();
                row.extend(["-", "-", "-", "-", "-"].map(String::from));
                rows.push(row);
            }
            for (i, t) in a.targets.iter().enumerate() {
                let mut row = if i == 0 { app_cells.to_vec() } else { blank() };
                row.push(t.secret.clone());
                row.push(t.outcome.label().to_string());
                row.push(self.token_expiry_relative(t));
                row.push(
                    t.token_age_seconds
                        .map(|s| human(Duration::seconds(s)))
                        .unwrap_or_else(|| "-".into()),
                );
                row.push(
                    t.error
                        .as_ref()
                        .map(|e| e.class.label().to_string())
                        .unwrap_or_else(|| "-".into()),
                );
                rows.push(row);
            }
        }
        text_table(
            &mut out,
            &[
                "URGENCY",
                "APP",
                "CLIENT SECRET",
                "EXPIRES",
                "DAYS LEFT",
                "TOKEN SECRET",
                "OUTCOME",
                "TOKEN EXPIRES",
                "TOKEN AGE",
                "PROBLEM",
            ],
            &rows,
        );
        let problems = self.problems();
        if !problems.is_empty() {
            let _ = writeln!(out, "\nProblems");
            for (app, e) in problems {
                let code = e
                    .code
                    .as_deref()
                    .map(|c| format!(" [{c}]"))
                    .unwrap_or_default();
                let _ = writeln!(out, "  - {app}: {}{code}: {}", e.class, e.message);
            }
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        let _ = writeln!(out, "\n{}", self.summary_line());
        out
    }

    /// Markdown for a ticket: a heading line, one table (most urgent first), the problems.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "**akv-rotator status** — {} ({}; client secrets: warning < {}, critical < {})\n",
            human_time(self.now),
            if self.dry_run {
                "read-only dry run"
            } else {
                "last cycle"
            },
            self.thresholds.warning,
            self.thresholds.critical,
        );
        let _ = writeln!(out, "{}\n", self.summary_line());
        out.push_str(
            "| Urgency | App | Client ID | Client secret | Expires | Days left | Token secret | Outcome | Token expires | Token age | Problem |\n\
             |---|---|---|---|---|---:|---|---|---|---|---|\n",
        );
        for a in &self.apps {
            let urgency = match a.urgency {
                Urgency::Expired | Urgency::Critical | Urgency::Failing => {
                    format!("**{}**", a.urgency)
                }
                other => other.to_string(),
            };
            let app_cells = format!(
                "| {urgency} | {} | `{}` | {} | {} | {} |",
                md(&a.name),
                md(&a.client_id),
                md(&a.client_secret.name),
                a.client_secret
                    .expires_on
                    .as_deref()
                    .map(date)
                    .unwrap_or_else(|| "-".into()),
                a.client_secret
                    .days_left
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "-".into()),
            );
            if a.targets.is_empty() {
                let _ = writeln!(out, "{app_cells} - | - | - | - | - |");
            }
            for (i, t) in a.targets.iter().enumerate() {
                let lead = if i == 0 {
                    app_cells.clone()
                } else {
                    "| ↳ | | | | | |".to_string()
                };
                let _ = writeln!(
                    out,
                    "{lead} {} | {} | {} | {} | {} |",
                    md(&t.secret),
                    t.outcome.label(),
                    t.token_expires_on
                        .as_deref()
                        .map(date_time)
                        .unwrap_or_else(|| "-".into()),
                    t.token_age_seconds
                        .map(|s| human(Duration::seconds(s)))
                        .unwrap_or_else(|| "-".into()),
                    t.error
                        .as_ref()
                        .map(|e| format!("`{}`", e.class))
                        .unwrap_or_default(),
                );
            }
        }
        let problems = self.problems();
        if !problems.is_empty() {
            out.push_str("\n**Problems**\n\n");
            for (app, e) in problems {
                let code = e
                    .code
                    .as_deref()
                    .map(|c| format!(" (`{c}`)"))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "- **{}** — `{}`{code}: {}",
                    md(app),
                    e.class,
                    md(&e.message)
                );
            }
        }
        if !self.notes.is_empty() {
            out.push_str("\n**Notes**\n\n");
            for n in &self.notes {
                let _ = writeln!(out, "- {}", md(n));
            }
        }
        out
    }

    /// The self-contained HTML page: counts, an expiry timeline (one row per app), the table.
    pub fn to_html(&self) -> String {
        let axis = Axis::new(&self.limits);
        let mut page = String::with_capacity(16 * 1024);
        let title = if self.dry_run {
            "read-only dry run"
        } else {
            "last cycle"
        };
        let _ = write!(
            page,
            r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>akv-rotator status</title>
<style>{STYLE}</style>
</head>
<body>
<header>
<h1>akv-rotator status</h1>
<p class="sub"><time datetime="{at}">{at_human}</time> · {title} · {apps} apps, {targets} token secrets · client secrets: warning &lt; {warn}, critical &lt; {crit}</p>
</header>
<main>
"#,
            at = esc(&self.generated_at),
            at_human = esc(&human_time(self.now)),
            apps = self.apps.len(),
            targets = self.apps.iter().map(|a| a.targets.len()).sum::<usize>(),
            warn = esc(&self.thresholds.warning),
            crit = esc(&self.thresholds.critical),
        );

        page.push_str("<ul class=\"counts\" aria-label=\"apps by urgency\">\n");
        for u in Urgency::ALL {
            let n = self.apps_by_urgency.get(u);
            let _ = writeln!(
                page,
                r#"<li class="count {u}{zero}"><b>{n}</b> {u}</li>"#,
                u = u.label(),
                zero = if n == 0 { " zero" } else { "" },
            );
        }
        page.push_str("</ul>\n");

        self.html_timeline(&mut page, &axis);
        self.html_table(&mut page);

        if !self.notes.is_empty() {
            page.push_str("<section class=\"notes\" aria-label=\"notes\"><h2>Notes</h2><ul>\n");
            for n in &self.notes {
                let _ = writeln!(page, "<li>{}</li>", esc(n));
            }
            page.push_str("</ul></section>\n");
        }
        let _ = write!(
            page,
            "</main>\n<footer>{}. Read-only view: no secret or token values.</footer>\n</body>\n</html>\n",
            esc(&self.summary_line())
        );
        page
    }

    fn html_timeline(&self, page: &mut String, axis: &Axis) {
        let _ = writeln!(
            page,
            r#"<section class="timeline" aria-labelledby="timeline-title" style="--t-now:{now:.2}%;--t-crit:{crit:.2}%;--t-warn:{warn:.2}%">
<h2 id="timeline-title">Client secret expiry</h2>
<div class="axis" aria-hidden="true"><span></span><span class="ticks">"#,
            now = axis.pos(0.0),
            crit = axis.pos(axis.critical),
            warn = axis.pos(axis.warning),
        );
        for tick in axis.ticks() {
            let _ = write!(
                page,
                r#"<span class="tick{lower}" style="left:{pos:.2}%">{label}</span>"#,
                lower = if tick.lower { " lower" } else { "" },
                pos = tick.pos,
                label = esc(&tick.label),
            );
        }
        page.push_str("</span><span></span></div>\n<ol class=\"rows\">\n");
        for a in &self.apps {
            let sev = a.client_secret.severity;
            let days = self.days_left_exact(a);
            let expires = a.client_secret.expires_on.as_deref();
            let marker = match days {
                Some(d) => {
                    let beyond = if d > axis.hi {
                        " beyond"
                    } else if d < axis.lo {
                        " before"
                    } else {
                        ""
                    };
                    format!(
                        r#"<span class="marker {sev}{beyond}" style="left:{pos:.2}%" title="{title}"></span>"#,
                        sev = sev.label(),
                        pos = axis.pos(d),
                        title = esc(expires.map(date_time).as_deref().unwrap_or("")),
                    )
                }
                None => String::new(),
            };
            let failing = a.error.is_some() || a.targets.iter().any(|t| t.error.is_some());
            let _ = writeln!(
                page,
                r#"<li class="row {urgency}" data-app="{app}"{data_days}><span class="name" title="client id {cid}">{app}</span><span class="track{unknown}" role="img" aria-label="{aria}">{marker}</span><span class="label"><span class="days {sev}">{label}</span>{badge}{failing}</span></li>"#,
                urgency = a.urgency.label(),
                app = esc(&a.name),
                data_days = days
                    .map(|d| format!(r#" data-days="{d:.2}""#))
                    .unwrap_or_default(),
                cid = esc(&a.client_id),
                unknown = if days.is_none() { " none" } else { "" },
                aria = esc(&match expires {
                    Some(e) => format!(
                        "client secret {} {}; {}",
                        if a.client_secret.days_left.is_some_and(|d| d < 0) {
                            "expired on"
                        } else {
                            "expires on"
                        },
                        date_time(e),
                        sev
                    ),
                    None => "no client secret expiry recorded".to_string(),
                }),
                sev = sev.label(),
                label = days_label(days),
                // Colour alone must not carry the severity; "expired" and "no expiry" say it.
                badge = match sev {
                    Severity::Warning | Severity::Critical => {
                        format!(r#" <span class="badge {0}">{0}</span>"#, sev.label())
                    }
                    _ => String::new(),
                },
                failing = if failing {
                    r#" <span class="badge failing">failing</span>"#
                } else {
                    ""
                },
            );
        }
        let _ = writeln!(
            page,
            r#"</ol>
<ul class="legend" aria-label="legend">
<li><span class="swatch z-past"></span>expired</li>
<li><span class="swatch z-crit"></span>critical: less than {crit}</li>
<li><span class="swatch z-warn"></span>warning: less than {warn}</li>
<li><span class="swatch z-ok"></span>ok</li>
<li><span class="swatch today"></span>today</li>
<li><span class="swatch none"></span>no expiry recorded</li>
<li><span class="swatch beyond"></span>beyond {hi}</li>
</ul>
</section>"#,
            crit = esc(&self.thresholds.critical),
            warn = esc(&self.thresholds.warning),
            hi = esc(&days_text(axis.hi)),
        );
    }

    fn html_table(&self, page: &mut String) {
        page.push_str(
            r#"<section class="details" aria-labelledby="details-title">
<h2 id="details-title">Apps and token secrets, most urgent first</h2>
<div class="scroll"><table>
<thead><tr><th scope="col">App</th><th scope="col">Client secret</th><th scope="col">Expires</th><th scope="col">Token secret</th><th scope="col">Last outcome</th><th scope="col">Token expires</th><th scope="col">Token age</th></tr></thead>
"#,
        );
        const COLUMNS: usize = 7;
        for a in &self.apps {
            let sev = a.client_secret.severity;
            let _ = write!(
                page,
                r#"<tbody class="{urgency}">"#,
                urgency = a.urgency.label()
            );
            let app_cells = format!(
                r#"<th scope="row"><span class="app nw">{app}</span><span class="badge {urgency}">{urgency}</span></th><td><span class="nw">{cs}</span><small>{csvault}</small></td><td class="nw"><span class="days {sev}">{days}</span><small>{date}</small></td>"#,
                app = esc(&a.name),
                urgency = a.urgency.label(),
                cs = esc(&a.client_secret.name),
                csvault = esc(&host(&a.client_secret.vault)),
                sev = sev.label(),
                days = esc(&days_label(self.days_left_exact(a))),
                date = a
                    .client_secret
                    .expires_on
                    .as_deref()
                    .map(|e| format!(
                        r#"<time datetime="{}" title="{}">{}</time>"#,
                        esc(e),
                        esc(&date_time(e)),
                        esc(&date(e))
                    ))
                    .unwrap_or_default(),
            );
            let empty_app = "<td></td><td></td><td></td>";
            if a.targets.is_empty() {
                let _ = writeln!(
                    page,
                    r#"<tr>{app_cells}<td colspan="{}">no targets</td></tr>"#,
                    COLUMNS - 3
                );
            }
            for (i, t) in a.targets.iter().enumerate() {
                let lead = if i == 0 {
                    app_cells.as_str()
                } else {
                    empty_app
                };
                let _ = writeln!(
                    page,
                    r#"<tr>{lead}<td><span class="nw">{secret}</span><small><span class="nw">{res}</span> · <span class="nw">{vault}</span></small></td><td><span class="outcome {outcome}">{outcome}</span></td><td class="nw">{exp}</td><td class="nw">{age}</td></tr>"#,
                    secret = esc(&t.secret),
                    vault = esc(&host(&t.vault)),
                    res = esc(resource(&t.scope)),
                    outcome = t.outcome.label(),
                    exp = t
                        .token_expires_on
                        .as_deref()
                        .map(|e| format!(
                            r#"<time datetime="{}" title="{}">{}</time>"#,
                            esc(e),
                            esc(&date_time(e)),
                            esc(&self.token_expiry_relative(t))
                        ))
                        .unwrap_or_else(|| "–".into()),
                    age = t
                        .token_age_seconds
                        .map(|s| esc(&human(Duration::seconds(s))))
                        .unwrap_or_else(|| "–".into()),
                );
                if let Some(e) = &t.error {
                    page.push_str(&problem_row(e, COLUMNS));
                }
            }
            if let Some(e) = &a.error {
                page.push_str(&problem_row(e, COLUMNS));
            }
            page.push_str("</tbody>\n");
        }
        page.push_str("</table></div>\n</section>\n");
    }

    /// Every distinct problem, with its app, most urgent app first.
    fn problems(&self) -> Vec<(&str, &StepError)> {
        let mut out: Vec<(&str, &StepError)> = Vec::new();
        for a in &self.apps {
            let errors = a
                .targets
                .iter()
                .filter_map(|t| t.error.as_ref())
                .chain(a.error.as_ref());
            for e in errors {
                if !out.iter().any(|(_, seen)| *seen == e) {
                    out.push((a.name.as_str(), e));
                }
            }
        }
        out
    }

    fn summary_line(&self) -> String {
        let u = &self.apps_by_urgency;
        let o = &self.targets_by_outcome;
        let mut outcomes = vec![format!("{} fresh", o.fresh)];
        if self.dry_run || o.planned > 0 {
            outcomes.push(format!("{} planned", o.planned));
        }
        if !self.dry_run || o.written > 0 {
            outcomes.push(format!("{} written", o.written));
        }
        outcomes.push(format!("{} failed", o.failed));
        if o.skipped > 0 {
            outcomes.push(format!("{} skipped", o.skipped));
        }
        format!(
            "{} apps: {} expired, {} critical, {} failing, {} warning, {} unknown, {} ok; {} token secrets: {}",
            self.apps.len(),
            u.expired,
            u.critical,
            u.failing,
            u.warning,
            u.unknown,
            u.ok,
            self.apps.iter().map(|a| a.targets.len()).sum::<usize>(),
            outcomes.join(", ")
        )
    }

    /// Days until the client secret expires, with fractions (for the timeline).
    fn days_left_exact(&self, a: &AppStatus) -> Option<f64> {
        match a.client_secret.expires_on.as_deref().and_then(parse) {
            Some(exp) => Some((exp - self.now).as_seconds_f64() / 86_400.0),
            None => a.client_secret.days_left.map(|d| d as f64),
        }
    }

    fn token_expiry_relative(&self, t: &TargetStatus) -> String {
        match t.token_expires_on.as_deref().and_then(parse) {
            Some(exp) if exp > self.now => format!("in {}", human(exp - self.now)),
            Some(exp) => format!("expired {} ago", human(self.now - exp)),
            None => "-".into(),
        }
    }
}

fn app_status(
    report: &CycleReport,
    a: &AppReport,
    updated: &TokenUpdated,
    now: OffsetDateTime,
) -> AppStatus {
    let mut targets: Vec<TargetStatus> = report
        .targets
        .iter()
        .filter(|t| t.app == a.name)
        .map(|t| {
            let mut outcome = t.outcome;
            let mut error = t.error.clone();
            // A dry run does not attempt the refresh; when the app's client secret cannot be
            // used, the refresh would fail with the app's problem.
            if outcome == Outcome::Planned && error.is_none() && a.error.is_some() {
                outcome = Outcome::Failed;
                error = a.error.clone();
            }
            let when = t.token_updated_on.as_deref().and_then(parse).or_else(|| {
                updated
                    .get(&(t.vault.clone(), t.secret.to_ascii_lowercase()))
                    .copied()
            });
            TargetStatus {
                secret: t.secret.clone(),
                vault: t.vault.clone(),
                scope: t.scope.clone(),
                outcome,
                token_expires_on: t.token_expires_on.clone(),
                token_updated_on: when.map(rfc3339),
                token_age_seconds: when.map(|u| (now - u).whole_seconds()),
                error,
            }
        })
        .collect();
    // Within an app too, what needs someone comes first; otherwise config order.
    targets.sort_by_key(|t| match t.outcome {
        Outcome::Failed => 0,
        Outcome::Skipped => 1,
        Outcome::Planned => 2,
        Outcome::Written | Outcome::Fresh => 3,
    });
    let shown_by_target = a
        .error
        .as_ref()
        .is_some_and(|e| targets.iter().any(|t| t.error.as_ref() == Some(e)));
    let failing = a.error.is_some() || targets.iter().any(|t| t.error.is_some());
    AppStatus {
        name: a.name.clone(),
        urgency: Urgency::of(a.client_secret.severity, failing),
        tenant_id: a.tenant_id.clone(),
        client_id: a.client_id.clone(),
        client_secret: a.client_secret.clone(),
        error: if shown_by_target {
            None
        } else {
            a.error.clone()
        },
        targets,
    }
}

/// The HTML status page of a report (the daemon's `/status`).
pub fn html(report: &CycleReport, thresholds: &Thresholds) -> String {
    Status::new(report, thresholds).to_html()
}

/// Markdown for a ticket.
pub fn markdown(report: &CycleReport, thresholds: &Thresholds) -> String {
    Status::new(report, thresholds).to_markdown()
}

/// The timeline's scale, in days from now: a little of the past (expired secrets), today, the
/// critical and warning zones from the configured thresholds, and room beyond the warning.
struct Axis {
    lo: f64,
    hi: f64,
    critical: f64,
    warning: f64,
}

struct Tick {
    pos: f64,
    label: String,
    /// Drawn on a second line because it would overlap its left neighbour.
    lower: bool,
}

impl Axis {
    fn new(t: &Thresholds) -> Axis {
        let days = |d: std::time::Duration| d.as_secs_f64() / 86_400.0;
        let warning = days(t.warning).max(0.0);
        let critical = days(t.critical).max(0.0);
        let span = (warning.max(critical) * 3.0).max(14.0);
        let hi = if span > 30.0 {
            (span / 10.0).ceil() * 10.0
        } else {
            span.ceil()
        };
        let lo = -(hi / 18.0).ceil().max(1.0);
        Axis {
            lo,
            hi,
            critical,
            warning,
        }
    }

    /// Percent from the left of the track.
    fn pos(&self, days: f64) -> f64 {
        (days.clamp(self.lo, self.hi) - self.lo) / (self.hi - self.lo) * 100.0
    }

    fn ticks(&self) -> Vec<Tick> {
        let mut marks = vec![
            (0.0, "today".to_string()),
            (self.critical, days_text(self.critical)),
            (self.warning, days_text(self.warning)),
        ];
        // Intermediate ticks between the warning threshold and the end of the scale.
        let step = if self.hi > 60.0 { 30.0 } else { 7.0 };
        let mut d = ((self.warning / step).floor() + 1.0) * step;
        while d < self.hi {
            marks.push((d, days_text(d)));
            d += step;
        }
        marks.push((self.hi, format!("{}+", days_text(self.hi))));
        marks.sort_by(|a, b| a.0.total_cmp(&b.0));
        marks.dedup_by(|a, b| (a.0 - b.0).abs() < 1e-9);

        let mut ticks: Vec<Tick> = Vec::new();
        let mut last_upper = f64::NEG_INFINITY;
        for (d, label) in marks {
            let pos = self.pos(d);
            let is_threshold = d == 0.0 || d == self.critical || d == self.warning;
            let crowded = pos - last_upper < 6.0;
            if crowded && !is_threshold {
                // An intermediate tick never pushes a threshold aside.
                continue;
            }
            let lower = crowded && ticks.last().is_some_and(|t| !t.lower);
            if !lower {
                last_upper = pos;
            }
            ticks.push(Tick { pos, label, lower });
        }
        ticks
    }
}

/// `7 d`, `36 h`, `1.5 d` for an axis label.
fn days_text(days: f64) -> String {
    if (days - days.round()).abs() < 1e-9 {
        format!("{} d", days.round() as i64)
    } else if days < 3.0 {
        format!("{} h", (days * 24.0).round() as i64)
    } else {
        format!("{days:.1} d")
    }
}

/// A duration written as in the config: `30d`, `36h`, `90m`, `45s`.
fn config_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s > 0 && s.is_multiple_of(86_400) {
        format!("{}d", s / 86_400)
    } else if s > 0 && s.is_multiple_of(3_600) {
        format!("{}h", s / 3_600)
    } else if s > 0 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// `12 days left`, `expired 2 days ago`, from exact days left.
fn days_label(days: Option<f64>) -> String {
    let Some(d) = days else {
        return "no expiry".into();
    };
    let whole = d.abs().floor() as i64;
    let n = match whole {
        0 => "< 1 day".to_string(),
        1 => "1 day".to_string(),
        n => format!("{n} days"),
    };
    if d < 0.0 {
        format!("expired {n} ago")
    } else {
        format!("{n} left")
    }
}

/// `3d 4h`, `1h 17m`, `41m`, `<1m`.
fn human(d: Duration) -> String {
    let s = d.whole_seconds().abs();
    let (days, hours, minutes) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m")
    } else {
        "<1m".into()
    }
}

fn parse(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// `2026-12-10` from an RFC 3339 time (the text itself when it does not parse).
fn date(s: &str) -> String {
    parse(s)
        .map(|t| t.date().to_string())
        .unwrap_or_else(|| s.to_string())
}

/// `2026-12-10 20:15 UTC` from an RFC 3339 time.
fn date_time(s: &str) -> String {
    parse(s).map(human_time).unwrap_or_else(|| s.to_string())
}

fn human_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{} {:02}:{:02} UTC", t.date(), t.hour(), t.minute())
}

/// `kv-tokens.vault.azure.net` from a vault URL.
fn host(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_string(),
            })
        })
        .unwrap_or_else(|| url.to_string())
}

/// `analysis.windows.net/powerbi/api` from `https://analysis.windows.net/powerbi/api/.default`.
fn resource(scope: &str) -> &str {
    let r = scope.strip_suffix("/.default").unwrap_or(scope);
    r.strip_prefix("https://").unwrap_or(r)
}

fn problem_row(e: &StepError, columns: usize) -> String {
    format!(
        r#"<tr class="problem"><td></td><td colspan="{span}"><span class="class">{class}</span>{code} {msg}</td></tr>
"#,
        span = columns - 1,
        class = esc(e.class.label()),
        code = e
            .code
            .as_deref()
            .map(|c| format!(r#" <code>{}</code>"#, esc(c)))
            .unwrap_or_default(),
        msg = esc(&e.message),
    )
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn md(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn text_table(out: &mut String, headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut l = String::from("  ");
        for (i, c) in cells.iter().enumerate() {
            l.push_str(c);
            if i + 1 < cells.len() {
                l.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(headers));
    for r in rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        let _ = writeln!(out, "{}", line(&cells));
    }
}

const STYLE: &str = r#"
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#fff;--panel:#f6f8fa;
--expired:#82071e;--critical:#cf222e;--failing:#bc4c00;--warning:#9a6700;--warning-dot:#d4a72c;--unknown:#8250df;--ok:#1a7f37;
--z-past:#e6d3d6;--z-crit:#ffcecb;--z-warn:#fff0b3;--z-ok:#d8f3dc}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--line:#3d444d;--bg:#0d1117;--panel:#151b23;
--expired:#f85149;--critical:#ff7b72;--failing:#ffa657;--warning:#e3b341;--warning-dot:#d29922;--unknown:#bc8cff;--ok:#3fb950;
--z-past:#3c1e24;--z-crit:#5a1e1e;--z-warn:#4b3a10;--z-ok:#15361f}}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:24px 32px;color:var(--fg);background:var(--bg);max-width:1400px}
h1{font-size:22px;margin:0 0 2px}
h2{font-size:15px;margin:0 0 12px}
.sub{color:var(--muted);margin:0 0 18px}
.counts{display:flex;flex-wrap:wrap;gap:10px;list-style:none;padding:0;margin:0 0 20px}
.count{border:1px solid var(--line);border-top:4px solid var(--c,var(--line));border-radius:8px;padding:8px 16px;min-width:104px;color:var(--muted);background:var(--bg)}
.count b{display:block;font-size:24px;line-height:1.2;color:var(--fg)}
.count.expired{--c:var(--expired)}.count.critical{--c:var(--critical)}.count.failing{--c:var(--failing)}
.count.warning{--c:var(--warning-dot)}.count.unknown{--c:var(--unknown)}.count.ok{--c:var(--ok)}
.count.zero{opacity:.55}
section{border:1px solid var(--line);border-radius:8px;padding:14px 18px;margin-bottom:20px}
.axis,.row{display:grid;grid-template-columns:minmax(120px,200px) 1fr 250px;gap:16px;align-items:center}
.ticks{position:relative;height:34px;font-size:12px;color:var(--muted)}
.tick{position:absolute;top:0;transform:translateX(-50%);white-space:nowrap}
.tick.lower{top:15px}
.tick::after{content:"";position:absolute;left:50%;top:100%;height:4px;border-left:1px solid var(--muted)}
.tick.lower::after{display:none}
.rows{list-style:none;margin:0;padding:0}
.row{min-height:30px;padding:3px 0;border-top:1px solid var(--panel)}
.name{font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.track{position:relative;height:14px;border-radius:7px;
background:linear-gradient(90deg,var(--z-past) 0 var(--t-now),var(--z-crit) var(--t-now) var(--t-crit),var(--z-warn) var(--t-crit) var(--t-warn),var(--z-ok) var(--t-warn) 100%)}
.track::after{content:"";position:absolute;left:var(--t-now);top:-6px;bottom:-6px;width:2px;margin-left:-1px;background:var(--fg);border-radius:1px}
.track.none{background:repeating-linear-gradient(135deg,var(--panel) 0 6px,var(--line) 6px 8px)}
.marker{position:absolute;top:50%;width:16px;height:16px;margin:-8px 0 0 -8px;border-radius:50%;border:2px solid var(--bg);box-shadow:0 0 0 1px var(--fg);z-index:1}
.marker.ok{background:var(--ok)}.marker.warning{background:var(--warning-dot)}.marker.critical{background:var(--critical)}.marker.expired{background:var(--expired)}.marker.unknown{background:var(--unknown)}
.marker.beyond{border-radius:3px 50% 50% 3px}.marker.before{border-radius:50% 3px 3px 50%}
.label{white-space:nowrap}
.days{font-weight:600;font-variant-numeric:tabular-nums}
.days.expired{color:var(--expired)}.days.critical{color:var(--critical)}.days.warning{color:var(--warning)}.days.unknown{color:var(--unknown)}.days.ok{color:var(--ok)}
.badge{display:inline-block;font-size:11px;font-weight:600;line-height:16px;padding:0 7px;border-radius:8px;border:1px solid currentColor;text-transform:uppercase;letter-spacing:.03em}
.badge.expired{color:var(--expired)}.badge.critical{color:var(--critical)}.badge.failing{color:var(--failing)}.badge.warning{color:var(--warning)}.badge.unknown{color:var(--unknown)}.badge.ok{color:var(--ok)}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;list-style:none;margin:14px 0 0;padding:10px 0 0;border-top:1px solid var(--line);font-size:12px;color:var(--muted)}
.swatch{display:inline-block;width:18px;height:10px;border-radius:3px;margin-right:6px;vertical-align:-1px}
.swatch.z-past{background:var(--z-past)}.swatch.z-crit{background:var(--z-crit)}.swatch.z-warn{background:var(--z-warn)}.swatch.z-ok{background:var(--z-ok)}
.swatch.today{width:2px;height:14px;background:var(--fg);vertical-align:-3px}
.swatch.none{background:repeating-linear-gradient(135deg,var(--panel) 0 3px,var(--line) 3px 4px)}
.swatch.beyond{width:12px;height:12px;border-radius:3px 50% 50% 3px;background:var(--ok)}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:7px 10px;vertical-align:top}
thead th{background:var(--panel);font-size:12px;color:var(--muted);border-bottom:1px solid var(--line);white-space:nowrap}
tbody{border-top:1px solid var(--line)}
tbody th{font-weight:600}
tbody th .badge{margin-top:3px}
.app{display:block}
.nw{white-space:nowrap}
small{display:block;color:var(--muted);font-size:12px}
.outcome{font-weight:600}.outcome.failed{color:var(--critical)}.outcome.planned{color:var(--warning)}.outcome.fresh,.outcome.written{color:var(--ok)}.outcome.skipped{color:var(--muted)}
tr.problem td{padding-top:0;color:var(--fg)}
tr.problem td+td{border-left:3px solid var(--critical);padding-left:10px;background:var(--panel)}
.class{font-weight:600;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;margin-right:4px}
code{font-size:12px}
.notes ul{margin:0;padding-left:18px}
footer{color:var(--muted);font-size:12px}
@media (max-width:800px){body{padding:16px}.axis,.row{grid-template-columns:1fr auto;gap:4px 12px}
.row .track{grid-column:1/-1;grid-row:2}.axis{grid-template-columns:1fr}.axis>span:not(.ticks){display:none}}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn thresholds(warning_days: u64, critical_days: u64) -> Thresholds {
        Thresholds {
            warning: std::time::Duration::from_secs(warning_days * 86_400),
            critical: std::time::Duration::from_secs(critical_days * 86_400),
            graph: false,
        }
    }

    #[test]
    fn the_zones_follow_the_thresholds() {
        let default = Axis::new(&thresholds(30, 7));
        assert_eq!((default.lo, default.hi), (-5.0, 90.0));
        assert!((default.pos(7.0) - 12.63).abs() < 0.01);
        assert!((default.pos(30.0) - 36.84).abs() < 0.01);

        let other = Axis::new(&thresholds(45, 10));
        assert_eq!((other.lo, other.hi), (-8.0, 140.0));
        assert!((other.pos(10.0) - 12.16).abs() < 0.01);
        assert!((other.pos(45.0) - 35.81).abs() < 0.01);
        let labels: Vec<String> = other.ticks().into_iter().map(|t| t.label).collect();
        assert_eq!(
            labels,
            ["today", "10 d", "45 d", "60 d", "90 d", "120 d", "140 d+"]
        );
    }

    #[test]
    fn close_thresholds_keep_every_threshold_label() {
        let ticks = Axis::new(&thresholds(30, 1)).ticks();
        let labels: Vec<&str> = ticks.iter().map(|t| t.label.as_str()).collect();
        assert!(labels.starts_with(&["today", "1 d", "30 d"]), "{labels:?}");
        assert!(ticks[1].lower, "the 1 d label sits below `today`");
    }

    #[test]
    fn urgency_ranks_failing_between_critical_and_warning() {
        assert_eq!(Urgency::of(Severity::Critical, true), Urgency::Critical);
        assert_eq!(Urgency::of(Severity::Warning, true), Urgency::Failing);
        assert_eq!(Urgency::of(Severity::Ok, true), Urgency::Failing);
        assert_eq!(Urgency::of(Severity::Unknown, false), Urgency::Unknown);
        assert!(Urgency::Critical < Urgency::Failing && Urgency::Failing < Urgency::Warning);
    }

    #[test]
    fn durations_read_like_the_config() {
        assert_eq!(
            config_duration(std::time::Duration::from_secs(30 * 86_400)),
            "30d"
        );
        assert_eq!(
            config_duration(std::time::Duration::from_secs(36 * 3_600)),
            "36h"
        );
        assert_eq!(human(Duration::minutes(77)), "1h 17m");
        assert_eq!(human(Duration::seconds(20)), "<1m");
    }
}
