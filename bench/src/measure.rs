//! What the bench reads to judge a run: the emulator's request stats (one count per vault or
//! `login`, operation and status; the throttle windows), and a process's CPU time and peak
//! memory from `/proc`. Reading only: nothing here starts or changes anything.

/// User + system CPU seconds of a process so far (from /proc/PID/stat, 100 ticks a second).
pub fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// VmHWM (peak resident set) of a process, in KiB.
pub fn vm_hwm_kib(pid: &str) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// The process's private anonymous memory now (`RssAnon` in `/proc/PID/status`): its heap,
/// stacks and allocator caches, without the pages of its executable and libraries (`RssFile`),
/// which are clean, shared with the page cache and count in VmHWM as far as they are mapped.
pub fn rss_anon_kib(pid: &str) -> Option<u64> {
    status_kib(pid, "RssAnon:")
}

fn status_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// `b − a` of two CPU readings, or `?`.
pub fn cpu_diff(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => format!("{:.2}", b - a),
        _ => "?".into(),
    }
}

pub fn kib(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or("?".into())
}

/// One `GET /_emulator/stats` answer.
pub struct Stats(pub serde_json::Value);

impl Stats {
    /// Requests whose (service, operation, status) satisfy `pred`.
    pub fn count(&self, pred: impl Fn(&str, &str, u64) -> bool) -> u64 {
        self.0["entries"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| {
                        pred(
                            e["service"].as_str().unwrap_or(""),
                            e["operation"].as_str().unwrap_or(""),
                            e["status"].as_u64().unwrap_or(0),
                        )
                    })
                    .map(|e| e["count"].as_u64().unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Accepted writes (`SecretSet`, 2xx) to `vault`.
    pub fn writes(&self, vault: &str) -> u64 {
        self.count(|s, op, st| s == vault && op == "SecretSet" && (200..300).contains(&st))
    }

    /// Every (service, operation, status) row with its count, in the emulator's order.
    pub fn rows(&self) -> Vec<(String, String, u64, u64)> {
        self.0["entries"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| {
                        (
                            e["service"].as_str().unwrap_or("").to_string(),
                            e["operation"].as_str().unwrap_or("").to_string(),
                            e["status"].as_u64().unwrap_or(0),
                            e["count"].as_u64().unwrap_or(0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The throttle windows of `kind` (`throttle_windows` or `write_windows`) of `vault`.
    pub fn windows(&self, kind: &str, vault: &str) -> Vec<serde_json::Value> {
        self.0[kind][vault].as_array().cloned().unwrap_or_default()
    }
}

/// Windows as `accepted/refused, …`.
pub fn listed(windows: &[serde_json::Value]) -> String {
    let field = |w: &serde_json::Value, k: &str| w[k].as_u64().unwrap_or(0);
    windows
        .iter()
        .map(|w| format!("{}/{}", field(w, "accepted"), field(w, "rejected")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The share of the throttle's budget the cycle used while it had work: the transactions
/// accepted in the windows that closed during the cycle, over the budget of the time from the
/// first window's opening to the last one's (so an idle gap between windows counts as unused).
/// The last window is left out: the cycle ran out of work in it. `budget` is the limit of one
/// window (4,000 for other transactions, 300 for writes).
pub fn budget_used(windows: &[serde_json::Value], budget: f64) -> String {
    let field = |w: &serde_json::Value, k: &str| w[k].as_u64().unwrap_or(0);
    let Some((last, closed)) = windows.split_last() else {
        return "no request counted against this budget".into();
    };
    if closed.is_empty() {
        return format!(
            "the cycle finished within one window ({} accepted); no closed window to judge",
            field(last, "accepted")
        );
    }
    let span_s = (field(last, "start_ms") - field(&closed[0], "start_ms")) as f64 / 1000.0;
    let window_s = field(last, "window_secs").max(1) as f64;
    let used: u64 = closed.iter().map(|w| field(w, "accepted")).sum();
    let capacity = budget * span_s / window_s;
    format!(
        "{:.1} % ({used} accepted in the {} closed windows, spanning {span_s:.3} s from the first window's opening to the last's = a budget of {capacity:.0})",
        used as f64 / capacity * 100.0,
        closed.len()
    )
}
