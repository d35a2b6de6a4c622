//! The status record: what the last real cycle did to each token target, kept between runs so
//! that `status` (a read-only dry run, with no memory of its own) and the daemon's `/status`
//! can say which targets keep failing, with their last error and since when.
//!
//! One small JSON document per shard, written once per cycle by the cycle's callers
//! (`commands::once::run_once`, shared with the daemon) next to the alert state; this module
//! only builds, reads and sizes it. It holds names, outcomes, times and the report's classified
//! error messages, which never contain a secret or token value.
//!
//! Key Vault limits a secret value to 25 KB ([`MAX_RECORD_BYTES`]). When every target does not
//! fit, the record keeps what `status` needs most: first the healthy targets' detail goes
//! (only their count stays), then error messages are shortened, then the failing targets that
//! failed the fewest runs in a row go (only their count stays). The record says what it left out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{ErrorClass, StepError};
use crate::report::{CycleReport, Outcome, TargetReport};

/// The layout version this code reads and writes.
pub const RECORD_VERSION: u32 = 1;
/// The content type to store the record with.
pub const RECORD_CONTENT_TYPE: &str = "application/json";
/// Key Vault's maximum secret value size.
pub const MAX_RECORD_BYTES: usize = 25 * 1024;
/// Error messages are shortened to this many characters when the record would not fit.
const SHORT_MESSAGE_CHARS: usize = 200;

/// What one cycle left behind for `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRecord {
    pub version: u32,
    /// When the cycle that wrote the record finished.
    #[serde(with = "crate::timefmt::serde_req")]
    pub updated_at: OffsetDateTime,
    #[serde(default)]
    pub run_id: String,
    /// `INDEX/COUNT` when the cycle ran one shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// By when the next scheduled cycle should have written the record again; a record older
    /// than that means no run happened (the CronJob or daemon is not running).
    #[serde(default, with = "crate::timefmt::serde_opt")]
    pub next_run_by: Option<OffsetDateTime>,
    /// By [`target_key`].
    #[serde(default)]
    pub targets: BTreeMap<String, TargetRecord>,
    #[serde(default)]
    pub counts: RecordCounts,
}

/// Targets by state, including those whose detail was left out to fit the size limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordCounts {
    pub ok: usize,
    pub failing: usize,
    /// Healthy targets without an entry in `targets`.
    #[serde(default)]
    pub ok_omitted: usize,
    /// Failing targets without an entry in `targets`.
    #[serde(default)]
    pub failing_omitted: usize,
}

/// One token target's last outcome and failure history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRecord {
    pub app: String,
    pub secret: String,
    pub vault: String,
    /// `written`, `fresh`, `failed` or `skipped` (the daemon stopped before it).
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StepError>,
    /// Failed cycles in a row, this one included; 0 when the last cycle succeeded.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub consecutive_failures: u32,
    /// When the current run of failures began (the first failing cycle's start).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::timefmt::serde_opt"
    )]
    pub failing_since: Option<OffsetDateTime>,
    /// When a cycle last found the target's token fresh or wrote a new one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::timefmt::serde_opt"
    )]
    pub last_success: Option<OffsetDateTime>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl TargetRecord {
    pub fn is_failing(&self) -> bool {
        self.consecutive_failures > 0
    }
}

/// The length of a value's compact JSON, counted as it is written out.
fn json_len<T: Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // As in `to_json`: these values cannot fail to serialize.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// What one entry adds to the `targets` map's JSON, besides the comma between entries.
fn entry_json_len(key: &str, record: &TargetRecord) -> usize {
    json_len(key) + 1 + json_len(record)
}

/// The key of a target in the record: its app and token secret name (Key Vault names are
/// case-insensitive).
pub fn target_key(app: &str, secret: &str) -> String {
    format!("{app}/{}", secret.to_ascii_lowercase())
}

impl StatusRecord {
    /// The record after `report`'s cycle, carrying failure counts and times on from
    /// `previous` (this shard's last record). `next_run_by`: when the next record is due.
    /// Returns a note when the record had to leave detail out to fit [`MAX_RECORD_BYTES`].
    pub fn next(
        previous: Option<&StatusRecord>,
        report: &CycleReport,
        shard: Option<String>,
        next_run_by: Option<OffsetDateTime>,
    ) -> (StatusRecord, Option<String>) {
        Self::next_within(previous, report, shard, next_run_by, MAX_RECORD_BYTES)
    }

    /// [`next`](Self::next), with the record held to `limit` bytes.
    fn next_within(
        previous: Option<&StatusRecord>,
        report: &CycleReport,
        shard: Option<String>,
        next_run_by: Option<OffsetDateTime>,
        limit: usize,
    ) -> (StatusRecord, Option<String>) {
        let healthy = |t: &TargetReport| TargetRecord {
            app: t.app.clone(),
            secret: t.secret.clone(),
            vault: t.vault.clone(),
            outcome: t.outcome,
            error: None,
            consecutive_failures: 0,
            failing_since: None,
            last_success: Some(report.finished_at),
        };
        // Failing and carried-over entries first; the healthy ones (written or fresh) are
        // only sized here, and added below when they fit: with thousands of targets they
        // cannot, and are not built whole just to be dropped.
        let mut targets = BTreeMap::new();
        let (mut healthy_count, mut healthy_bytes) = (0usize, 0usize);
        for t in &report.targets {
            let key = target_key(&t.app, &t.secret);
            let before = previous.and_then(|p| p.targets.get(&key));
            let entry = match t.outcome {
                Outcome::Written | Outcome::Fresh => {
                    healthy_count += 1;
                    healthy_bytes += entry_json_len(&key, &healthy(t));
                    continue;
                }
                Outcome::Failed => {
                    let failing = before.filter(|b| b.is_failing());
                    TargetRecord {
                        app: t.app.clone(),
                        secret: t.secret.clone(),
                        vault: t.vault.clone(),
                        outcome: Outcome::Failed,
                        error: Some(t.error.as_deref().cloned().unwrap_or_else(|| {
                            StepError::new(ErrorClass::Internal, "failed without an error")
                        })),
                        consecutive_failures: failing
                            .map_or(0, |b| b.consecutive_failures)
                            .saturating_add(1),
                        failing_since: Some(
                            failing
                                .and_then(|b| b.failing_since)
                                .unwrap_or(report.started_at),
                        ),
                        last_success: before.and_then(|b| b.last_success),
                    }
                }
                // Not attempted (shutdown, or a dry run): what the last attempt said still holds.
                Outcome::Skipped | Outcome::Planned => match before {
                    Some(b) => b.clone(),
                    None => continue,
                },
            };
            targets.insert(key, entry);
        }
        let failing = targets.values().filter(|t| t.is_failing()).count();
        let mut record = StatusRecord {
            version: RECORD_VERSION,
            updated_at: report.finished_at,
            run_id: report.run_id.clone(),
            shard,
            next_run_by,
            counts: RecordCounts {
                ok: targets.len() + healthy_count - failing,
                failing,
                ok_omitted: 0,
                failing_omitted: 0,
            },
            targets,
        };
        // The whole record's size: one comma between entries (the counts' digits stay the
        // same: they already include the healthy targets).
        let commas = if record.targets.is_empty() {
            healthy_count.saturating_sub(1)
        } else {
            healthy_count
        };
        let healthy_left_out = if record.json_len() + healthy_bytes + commas <= limit {
            for t in &report.targets {
                if matches!(t.outcome, Outcome::Written | Outcome::Fresh) {
                    record
                        .targets
                        .insert(target_key(&t.app, &t.secret), healthy(t));
                }
            }
            0
        } else {
            healthy_count
        };
        let note = record.fit(limit, healthy_left_out);
        (record, note)
    }

    /// Shrinks the record to at most `limit` bytes of JSON, least needed detail first; says
    /// what was left out. `healthy_left_out`: healthy targets already left out (it did not
    /// fit with them).
    fn fit(&mut self, limit: usize, healthy_left_out: usize) -> Option<String> {
        if healthy_left_out == 0 && self.json_len() <= limit {
            return None;
        }
        let before = self.targets.len();
        self.targets.retain(|_, t| t.is_failing());
        self.counts.ok_omitted = healthy_left_out + before - self.targets.len();
        if self.json_len() > limit {
            for t in self.targets.values_mut() {
                if let Some(e) = &mut t.error
                    && e.message.chars().count() > SHORT_MESSAGE_CHARS
                {
                    let short: String = e.message.chars().take(SHORT_MESSAGE_CHARS).collect();
                    e.message = format!("{short}…");
                }
            }
        }
        // Keep the longest-failing targets: they are the ones someone should have acted on.
        // Each entry is sized once; the record's size goes down by its entry and a comma.
        let mut order: Vec<(u32, String, usize)> = self
            .targets
            .iter()
            .map(|(k, t)| (t.consecutive_failures, k.clone(), entry_json_len(k, t)))
            .collect();
        order.sort();
        let mut order = order.into_iter();
        let mut size = self.json_len();
        while size > limit {
            let Some((_, key, bytes)) = order.next() else {
                break;
            };
            let comma = usize::from(self.targets.len() > 1);
            self.targets.remove(&key);
            let digits_before = json_len(&self.counts.failing_omitted);
            self.counts.failing_omitted += 1;
            size = size - bytes - comma + json_len(&self.counts.failing_omitted) - digits_before;
        }
        debug_assert_eq!(size, self.json_len());
        let mut left_out = vec![format!(
            "the details of {} healthy targets",
            self.counts.ok_omitted
        )];
        if self.counts.failing_omitted > 0 {
            left_out.push(format!(
                "{} failing targets (those failing the fewest runs in a row)",
                self.counts.failing_omitted
            ));
        }
        Some(format!(
            "the status record leaves out {} to stay within Key Vault's {} KB secret size; the counts include them (shard the apps for a complete record)",
            left_out.join(" and "),
            limit / 1024
        ))
    }

    /// The length of [`to_json`](Self::to_json)'s document, without building it.
    fn json_len(&self) -> usize {
        json_len(self)
    }

    /// Reads a stored record. Fails with [`ErrorClass::MalformedResponse`] when the text is
    /// not a record this version understands; the message never quotes the text.
    pub fn from_json(text: &str) -> Result<StatusRecord, StepError> {
        const WHAT: &str = "the status record";
        let record: StatusRecord =
            serde_json::from_str(text).map_err(|e| StepError::unreadable_json(WHAT, &e))?;
        if record.version != RECORD_VERSION {
            return Err(StepError::unknown_layout(
                WHAT,
                record.version,
                RECORD_VERSION,
            ));
        }
        Ok(record)
    }

    /// The compact JSON document to store.
    pub fn to_json(&self) -> String {
        // Maps with string keys, strings, numbers and times cannot fail to serialize.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }

    /// Whether the next run is overdue at `now`: the record is older than the schedule allows.
    pub fn is_stale(&self, now: OffsetDateTime) -> bool {
        self.next_run_by.is_some_and(|by| now > by)
    }

    /// The entry of a target, if the record has one.
    pub fn target(&self, app: &str, secret: &str) -> Option<&TargetRecord> {
        self.targets.get(&target_key(app, secret))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::report::TargetReport;

    fn at(minutes: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
            + time::Duration::minutes(minutes)
    }

    fn target(app: &str, outcome: Outcome, error: Option<StepError>) -> TargetReport {
        TargetReport {
            app: app.into(),
            scope: "https://analysis.windows.net/powerbi/api/.default".into(),
            vault: "https://kv.vault.azure.net/".into(),
            secret: format!("{app}-token"),
            outcome,
            token_expires_on: None,
            token_updated_on: None,
            refresh_at: None,
            version: None,
            signature: None,
            probe: None,
            error: error.map(Box::new),
        }
    }

    fn report(start: i64, targets: Vec<TargetReport>) -> CycleReport {
        let mut r = CycleReport::new(at(start), at(start + 1), false, vec![], targets, vec![]);
        r.run_id = format!("run-{start}");
        r
    }

    fn bad() -> StepError {
        StepError::new(
            ErrorClass::BadClientSecret,
            "Entra ID refused the client secret",
        )
        .with_code("AADSTS7000215")
    }

    #[test]
    fn failures_count_up_keep_their_start_and_reset_on_success() {
        let run = |start, outcome, prev: Option<&StatusRecord>| {
            let error = (outcome == Outcome::Failed).then(bad);
            StatusRecord::next(
                prev,
                &report(start, vec![target("a", outcome, error)]),
                None,
                None,
            )
            .0
        };
        let r1 = run(0, Outcome::Written, None);
        let r2 = run(10, Outcome::Failed, Some(&r1));
        let r3 = run(20, Outcome::Failed, Some(&r2));
        let r4 = run(30, Outcome::Skipped, Some(&r3));
        let t = r4.target("a", "A-TOKEN").unwrap();
        assert_eq!(t.consecutive_failures, 2);
        assert_eq!(t.failing_since, Some(at(10)));
        assert_eq!(t.last_success, Some(at(1)));
        assert_eq!(
            t.error.as_ref().map(|e| e.class),
            Some(ErrorClass::BadClientSecret)
        );
        assert_eq!((r4.counts.failing, r4.counts.ok), (1, 0));
        let r5 = run(40, Outcome::Fresh, Some(&r4));
        let t = r5.target("a", "a-token").unwrap();
        assert_eq!(
            (t.consecutive_failures, t.failing_since, t.error.clone()),
            (0, None, None)
        );
        assert_eq!(t.last_success, Some(at(41)));
    }

    #[test]
    fn the_record_round_trips_to_the_second() {
        let mut rep = report(0, vec![target("a", Outcome::Failed, Some(bad()))]);
        rep.finished_at += time::Duration::nanoseconds(123_456_789);
        let (r, note) = StatusRecord::next(None, &rep, Some("0/2".into()), Some(at(30)));
        assert_eq!(note, None);
        let text = r.to_json();
        assert!(
            text.contains("\"updated_at\":\"2027-01-15T08:01:00Z\""),
            "{text}"
        );
        let back = StatusRecord::from_json(&text).unwrap();
        assert_eq!(back.targets, r.targets);
        assert!(!back.is_stale(at(30)) && back.is_stale(at(31)));
        for text in [
            "{oops",
            r#"{"version":7,"updated_at":"2027-01-15T08:01:00Z"}"#,
            "VALUE-LIKE",
        ] {
            let e = StatusRecord::from_json(text).unwrap_err();
            assert_eq!(e.class, ErrorClass::MalformedResponse);
            assert!(!e.message.contains("VALUE-LIKE") && !e.message.contains("oops"));
        }
    }

    #[test]
    fn a_record_too_big_for_key_vault_keeps_the_longest_failing_targets() {
        let long = "x".repeat(2_000);
        let mut targets: Vec<TargetReport> = (0..400)
            .map(|i| target(&format!("ok-{i:03}"), Outcome::Fresh, None))
            .collect();
        targets.extend((0..100).map(|i| {
            target(
                &format!("bad-{i:02}"),
                Outcome::Failed,
                Some(StepError::new(ErrorClass::UnknownApp, long.clone())),
            )
        }));
        // Only the first ten failed the run before: they fail a second run in a row.
        let (prev, _) = StatusRecord::next(None, &report(0, targets[..410].to_vec()), None, None);
        let (r, note) = StatusRecord::next(Some(&prev), &report(10, targets), None, None);
        assert!(r.to_json().len() <= MAX_RECORD_BYTES);
        assert_eq!((r.counts.ok, r.counts.failing), (400, 100));
        assert_eq!(r.counts.ok_omitted, 400);
        assert!(r.targets.values().all(|t| t.is_failing()));
        assert!(r.counts.failing_omitted > 0, "{:?}", r.counts);
        assert_eq!(r.targets.len() + r.counts.failing_omitted, 100);
        for i in 0..10 {
            let t = r.target(&format!("bad-{i:02}"), &format!("bad-{i:02}-token"));
            assert_eq!(t.map(|t| t.consecutive_failures), Some(2), "bad-{i:02}");
        }
        let note = note.unwrap();
        assert!(
            note.contains("400 healthy targets") && note.contains("25 KB"),
            "{note}"
        );
    }

    /// Healthy entries are sized, not built, before they are known to fit: the record keeps
    /// them exactly when the whole record fits, with or without other entries, and counts them
    /// as left out otherwise. The sizes counted equal the document's.
    #[test]
    fn healthy_targets_stay_exactly_when_the_whole_record_fits() {
        let mixes: [(usize, usize); 4] = [(1, 0), (12, 0), (12, 1), (120, 3)];
        for (healthy, failing) in mixes {
            let mut targets: Vec<TargetReport> = (0..healthy)
                .map(|i| target(&format!("ok-{i}"), Outcome::Written, None))
                .collect();
            targets.extend(
                (0..failing).map(|i| target(&format!("bad-{i}"), Outcome::Failed, Some(bad()))),
            );
            let rep = report(0, targets);
            let (whole, note) = StatusRecord::next_within(None, &rep, None, None, usize::MAX);
            assert_eq!(note, None);
            assert_eq!(whole.json_len(), whole.to_json().len());
            let size = whole.to_json().len();

            let (fits, note) = StatusRecord::next_within(None, &rep, None, None, size);
            assert_eq!(
                (fits, note),
                (whole.clone(), None),
                "{healthy}+{failing} at {size}"
            );

            let (cut, note) = StatusRecord::next_within(None, &rep, None, None, size - 1);
            assert!(cut.to_json().len() < size);
            assert_eq!(cut.counts.ok_omitted, healthy, "{healthy}+{failing}");
            assert_eq!((cut.counts.ok, cut.counts.failing), (healthy, failing));
            assert_eq!(cut.targets.len(), failing);
            assert!(
                note.is_some_and(|n| n.contains(&format!("{healthy} healthy targets"))),
                "{healthy}+{failing}"
            );
        }
    }
}
