//! The status view as a terminal table.

use std::fmt::Write as _;

use super::*;

impl Status {
    /// One terminal table, one row per token secret, then the problems and a summary line.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Status at {} {}",
            rfc3339(self.generated_at),
            self.mode_and_thresholds("dry run, nothing written"),
        );
        if let Some(r) = &self.record {
            let _ = writeln!(out, "{}", r.summary);
        }
        let mut rows = Vec::new();
        for a in &self.apps {
            let [expires, days_left] = client_secret_expiry_cells(&a.client_secret);
            let app_cells = [
                a.urgency.label().to_uppercase(),
                a.name.clone(),
                a.client_secret.name.clone(),
                expires,
                days_left,
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
            for (app, e, since) in problems {
                let code = code_note(e, |c| format!(" [{c}]"));
                let _ = writeln!(out, "  - {app}: {}{code}: {}", e.class, e.message);
                if let Some(since) = since {
                    let _ = writeln!(out, "    {since}");
                }
            }
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        let _ = writeln!(out, "\n{}", self.summary_line());
        out
    }
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
