//! The status view as one self-contained HTML page (no external assets, no script): counts,
//! an expiry timeline whose zones follow the thresholds, the table. Everything is escaped.

use std::fmt::Write as _;

use super::*;

impl Status {
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
{record}</header>
<main>
"#,
            at = esc(&rfc3339(self.generated_at)),
            at_human = esc(&human_time(self.now)),
            apps = self.apps.len(),
            targets = self.apps.iter().map(|a| a.targets.len()).sum::<usize>(),
            warn = esc(&self.thresholds.warning),
            crit = esc(&self.thresholds.critical),
            record = self
                .record
                .as_ref()
                .map(|r| format!(
                    "<p class=\"record {}\">{}</p>\n",
                    match r.state {
                        RecordState::Current => "current",
                        _ => "stale",
                    },
                    esc(&r.summary)
                ))
                .unwrap_or_default(),
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
            let expires = a.client_secret.expires_on;
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
                    .map(|e| format!(
                        r#"<time datetime="{}" title="{}">{}</time>"#,
                        esc(&rfc3339(e)),
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
                        .map(|e| format!(
                            r#"<time datetime="{}" title="{}">{}</time>"#,
                            esc(&rfc3339(e)),
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
                    page.push_str(&problem_row(e, t.since_text().as_deref(), COLUMNS));
                }
            }
            if let Some(e) = &a.error {
                page.push_str(&problem_row(e, None, COLUMNS));
            }
            page.push_str("</tbody>\n");
        }
        page.push_str("</table></div>\n</section>\n");
    }
}

/// The timeline's scale, in days from now: a little of the past (expired secrets), today, the
/// critical and warning zones from the configured thresholds, and room beyond the warning.
pub(super) struct Axis {
    pub(super) lo: f64,
    pub(super) hi: f64,
    critical: f64,
    warning: f64,
}

pub(super) struct Tick {
    pub(super) pos: f64,
    pub(super) label: String,
    /// Drawn on a second line because it would overlap its left neighbour.
    pub(super) lower: bool,
}

impl Axis {
    pub(super) fn new(t: &Thresholds) -> Axis {
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
    pub(super) fn pos(&self, days: f64) -> f64 {
        (days.clamp(self.lo, self.hi) - self.lo) / (self.hi - self.lo) * 100.0
    }

    pub(super) fn ticks(&self) -> Vec<Tick> {
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

fn problem_row(e: &StepError, since: Option<&str>, columns: usize) -> String {
    format!(
        r#"<tr class="problem"><td></td><td colspan="{span}"><span class="class">{class}</span>{code} {msg}{since}</td></tr>
"#,
        since = since
            .map(|s| format!(r#" <small class="since">{}</small>"#, esc(s)))
            .unwrap_or_default(),
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
.record.stale{font-weight:600;border-left:4px solid #cf222e;padding-left:8px}
footer{color:var(--muted);font-size:12px}
@media (max-width:800px){body{padding:16px}.axis,.row{grid-template-columns:1fr auto;gap:4px 12px}
.row .track{grid-column:1/-1;grid-row:2}.axis{grid-template-columns:1fr}.axis>span:not(.ticks){display:none}}
"#;
