//! The status view as Markdown, ready to paste into a ticket.

use std::fmt::Write as _;

use super::*;

impl Status {
    /// Markdown for a ticket: a heading line, one table (most urgent first), the problems.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "**akv-rotator status** — {} {}\n",
            human_time(self.now),
            self.mode_and_thresholds("read-only dry run"),
        );
        if let Some(r) = &self.record {
            let text = md(&r.summary);
            match r.state {
                RecordState::Current => {
                    let _ = writeln!(out, "{text}\n");
                }
                _ => {
                    let _ = writeln!(out, "> **{text}**\n");
                }
            }
        }
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
            let [expires, days_left] = client_secret_expiry_cells(&a.client_secret);
            let app_cells = format!(
                "| {urgency} | {} | `{}` | {} | {expires} | {days_left} |",
                md(&a.name),
                md(&a.client_id),
                md(&a.client_secret.name),
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
            for (app, e, since) in problems {
                let code = code_note(e, |c| format!(" (`{c}`)"));
                let since = since.map(|s| format!(" — {}", md(&s))).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "- **{}** — `{}`{code}: {}{since}",
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
}

fn md(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}
