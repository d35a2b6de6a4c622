//! The alert state that survives between runs: which findings are open, at which severity, and
//! which sink last received what and when; plus each token target's consecutive failure count.
//!
//! It is one JSON document (content type `application/json`, with a `version`), stored by an
//! [`AlertStateStore`]: in production one Key Vault secret, in tests memory. It holds no secret
//! value and no webhook URL: sinks are named, apps and secrets by name. Key Vault limits a
//! secret value to 25 KB ([`MAX_STATE_BYTES`]).

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::decide::{Notification, NotificationState};
use super::finding::{FindingKind, SecretRef};
use crate::config::alerts::AlertSeverity;
use crate::error::StepError;

/// The layout version this code reads and writes.
pub const STATE_VERSION: u32 = 1;
/// The content type to store the state secret with.
pub const STATE_CONTENT_TYPE: &str = "application/json";
/// Key Vault's maximum secret value size.
pub const MAX_STATE_BYTES: usize = 25 * 1024;

/// The layout version of the gzip envelope ([`AlertState::to_stored`]).
const PACKED_VERSION: u32 = 2;
const PACKED_ENCODING: &str = "gzip+base64";
/// The most an envelope may unpack to: far beyond what 25 KB of gzip holds of this document,
/// and a bound on what a tampered value can make the rotator allocate.
pub const MAX_UNPACKED_BYTES: usize = 4 * 1024 * 1024;

#[derive(Serialize, Deserialize)]
struct Packed {
    version: u32,
    encoding: String,
    data: String,
}

/// Everything alerting remembers between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertState {
    pub version: u32,
    #[serde(default, with = "crate::timefmt::serde_opt")]
    pub updated_at: Option<OffsetDateTime>,
    /// Open findings, and resolved ones whose "resolved" message some sink has not accepted yet.
    #[serde(default)]
    pub findings: BTreeMap<String, FindingRecord>,
    /// Consecutive failed cycles per token target, keyed by the target's
    /// [`FindingKind::TargetFailing`] key; absent means the last cycle succeeded.
    #[serde(default)]
    pub failures: BTreeMap<String, u32>,
}

impl Default for AlertState {
    fn default() -> Self {
        AlertState {
            version: STATE_VERSION,
            updated_at: None,
            findings: BTreeMap::new(),
            failures: BTreeMap::new(),
        }
    }
}

/// What is remembered about one finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRecord {
    pub kind: FindingKind,
    pub app: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretRef>,
    /// The latest severity observed.
    pub severity: AlertSeverity,
    #[serde(with = "crate::timefmt::serde_req")]
    pub first_seen: OffsetDateTime,
    /// Sinks that accepted an alert about this finding, with what they last accepted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sent_to: BTreeMap<String, SinkRecord>,
    /// Set once the finding is gone; `sent_to` then lists the sinks still owed a "resolved".
    #[serde(
        default,
        with = "crate::timefmt::serde_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub resolved_at: Option<OffsetDateTime>,
    /// For an event: what its alert says, kept so that a sink that did not accept it is sent
    /// it again next run (the event is not in later reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<EventRecord>,
}

/// The content of an event's alert, as the run that saw it wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub title: String,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(with = "crate::timefmt::serde_req")]
    pub occurred_at: OffsetDateTime,
}

/// What one sink last accepted about one finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkRecord {
    pub severity: AlertSeverity,
    #[serde(with = "crate::timefmt::serde_req")]
    pub last_sent: OffsetDateTime,
}

impl AlertState {
    /// Reads a stored state. Fails with [`crate::error::ErrorClass::MalformedResponse`] when the text is not
    /// a state this version understands; the message never quotes the text.
    pub fn from_json(text: &str) -> Result<AlertState, StepError> {
        const WHAT: &str = "the alert state";
        let state: AlertState =
            serde_json::from_str(text).map_err(|e| StepError::unreadable_json(WHAT, &e))?;
        if state.version != STATE_VERSION {
            return Err(StepError::unknown_layout(
                WHAT,
                state.version,
                STATE_VERSION,
            ));
        }
        Ok(state)
    }

    /// What to store: the compact JSON document, or when that is larger than a Key Vault secret
    /// holds ([`MAX_STATE_BYTES`]), the same document gzipped, in a small JSON envelope
    /// `{"version": 2, "encoding": "gzip+base64", "data": …}`. Findings of many apps repeat the
    /// same keys and kinds, so gzip holds about ten times as many; a state still too large is
    /// noted by the caller.
    pub fn to_stored(&self) -> String {
        let json = self.to_json();
        if json.len() <= MAX_STATE_BYTES {
            return json;
        }
        use base64::Engine as _;
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        // Writing to a Vec cannot fail.
        let packed = gz
            .write_all(json.as_bytes())
            .and_then(|()| gz.finish())
            .unwrap_or_default();
        let envelope = Packed {
            version: PACKED_VERSION,
            encoding: PACKED_ENCODING.to_string(),
            data: base64::engine::general_purpose::STANDARD.encode(packed),
        };
        serde_json::to_string(&envelope).unwrap_or(json)
    }

    /// Reads what [`AlertState::to_stored`] wrote: plain JSON or the gzip envelope. The
    /// unpacked document is limited to [`MAX_UNPACKED_BYTES`], whatever the vault holds.
    pub fn from_stored(text: &str) -> Result<AlertState, StepError> {
        const WHAT: &str = "the alert state";
        let envelope = serde_json::from_str::<Packed>(text)
            .ok()
            .filter(|p| p.version == PACKED_VERSION);
        let Some(packed) = envelope else {
            return AlertState::from_json(text);
        };
        let broken = |why: String| {
            StepError::new(
                crate::error::ErrorClass::MalformedResponse,
                format!("{WHAT} is not readable: {why}"),
            )
        };
        if packed.encoding != PACKED_ENCODING {
            return Err(broken(format!(
                "unknown encoding {:?} (this version reads {PACKED_ENCODING:?})",
                packed.encoding
            )));
        }
        use base64::Engine as _;
        use std::io::Read as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(packed.data.as_bytes())
            .map_err(|e| broken(format!("its data is not base64 ({e})")))?;
        let mut json = String::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .take(MAX_UNPACKED_BYTES as u64 + 1)
            .read_to_string(&mut json)
            .map_err(|e| broken(format!("its data is not gzipped UTF-8 ({e})")))?;
        if json.len() > MAX_UNPACKED_BYTES {
            return Err(broken(format!(
                "it unpacks to more than {MAX_UNPACKED_BYTES} bytes"
            )));
        }
        AlertState::from_json(&json)
    }

    /// The compact JSON document.
    pub fn to_json(&self) -> String {
        // Serializing maps with string keys, strings, numbers and times cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }

    /// Records that `notification`'s sink accepted it at `at`: the sink now knows the finding
    /// at that severity, or (for "resolved") no longer needs to hear about it. A finding whose
    /// "resolved" every sink has accepted is dropped.
    pub fn record_delivery(&mut self, notification: &Notification, at: OffsetDateTime) {
        let key = notification.finding.key.as_str();
        let Some(record) = self.findings.get_mut(key) else {
            return;
        };
        match notification.state {
            NotificationState::Resolved => {
                record.sent_to.remove(&notification.sink);
                if record.resolved_at.is_some() && record.sent_to.is_empty() {
                    self.findings.remove(key);
                }
            }
            NotificationState::New | NotificationState::Escalated | NotificationState::Reminder => {
                record.sent_to.insert(
                    notification.sink.clone(),
                    SinkRecord {
                        severity: notification.severity,
                        last_sent: at,
                    },
                );
            }
        }
    }
}

/// Where the alert state lives between runs.
///
/// `load` returns an empty [`AlertState`] when nothing is stored yet, and an error of class
/// [`crate::error::ErrorClass::MalformedResponse`] when what is stored cannot be read (use
/// [`AlertState::from_json`]); alerting then starts from an empty state and overwrites it.
/// Any other error means "could not read": alerting still runs but does not overwrite the state.
#[async_trait::async_trait]
pub trait AlertStateStore: Send + Sync {
    async fn load(&self) -> Result<AlertState, StepError>;
    async fn save(&self, state: &AlertState) -> Result<(), StepError>;
}

/// An in-memory store for tests and dry runs. It keeps the JSON text, so loading goes through
/// the same parsing as a Key Vault store.
#[derive(Debug, Default)]
pub struct MemoryStateStore {
    text: Mutex<Option<String>>,
    fail_load: Mutex<Option<StepError>>,
    fail_save: Mutex<Option<StepError>>,
}

impl MemoryStateStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store already holding `text` (for example a corrupt document).
    pub fn with_json(text: impl Into<String>) -> Self {
        let store = Self::default();
        store.set_json(Some(text.into()));
        store
    }

    /// The stored JSON text, if any.
    pub fn json(&self) -> Option<String> {
        lock(&self.text).clone()
    }

    pub fn set_json(&self, text: Option<String>) {
        *lock(&self.text) = text;
    }

    /// The stored state, if any and readable.
    pub fn state(&self) -> Option<AlertState> {
        self.json().and_then(|t| AlertState::from_stored(&t).ok())
    }

    /// Makes the next loads fail with `error` (None: succeed again).
    pub fn fail_load(&self, error: Option<StepError>) {
        *lock(&self.fail_load) = error;
    }

    /// Makes the next saves fail with `error` (None: succeed again).
    pub fn fail_save(&self, error: Option<StepError>) {
        *lock(&self.fail_save) = error;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[async_trait::async_trait]
impl AlertStateStore for MemoryStateStore {
    async fn load(&self) -> Result<AlertState, StepError> {
        if let Some(e) = lock(&self.fail_load).clone() {
            return Err(e);
        }
        match self.json() {
            None => Ok(AlertState::default()),
            Some(text) => AlertState::from_stored(&text),
        }
    }

    async fn save(&self, state: &AlertState) -> Result<(), StepError> {
        if let Some(e) = lock(&self.fail_save).clone() {
            return Err(e);
        }
        self.set_json(Some(state.to_stored()));
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;

    #[test]
    fn state_round_trips_through_json() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let mut state = AlertState {
            updated_at: Some(now),
            ..AlertState::default()
        };
        state.failures.insert("target_failing/a/t".into(), 2);
        state.findings.insert(
            "client_secret_expiry/a".into(),
            FindingRecord {
                kind: FindingKind::ClientSecretExpiry,
                app: "a".into(),
                owner: Some("team".into()),
                secret: Some(SecretRef {
                    name: "a-secret".into(),
                    vault: "https://kv.vault.azure.net/".into(),
                }),
                severity: AlertSeverity::Critical,
                first_seen: now,
                sent_to: BTreeMap::from([(
                    "teams".to_string(),
                    SinkRecord {
                        severity: AlertSeverity::Warning,
                        last_sent: now,
                    },
                )]),
                resolved_at: None,
                event: None,
            },
        );
        let text = state.to_json();
        assert!(text.contains("\"version\":1"), "{text}");
        assert!(
            text.contains("\"last_sent\":\"2027-01-15T08:00:00Z\""),
            "{text}"
        );
        assert_eq!(AlertState::from_json(&text), Ok(state));
    }

    /// `n` open findings, each sent to two sinks, as many apps' expiring secrets give.
    fn state_with(n: usize) -> AlertState {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let mut state = AlertState {
            updated_at: Some(now),
            ..AlertState::default()
        };
        for i in 0..n {
            let app = format!("finance-reporting-app-{i:05}");
            let sent = SinkRecord {
                severity: AlertSeverity::Warning,
                last_sent: now,
            };
            state.findings.insert(
                format!("client_secret_expiry/{app}"),
                FindingRecord {
                    kind: FindingKind::ClientSecretExpiry,
                    secret: Some(SecretRef {
                        name: format!("{app}-client-secret"),
                        vault: "https://contoso-input.vault.azure.net/".into(),
                    }),
                    app,
                    owner: Some("platform-team@contoso.example".into()),
                    severity: AlertSeverity::Warning,
                    first_seen: now + time::Duration::seconds(i as i64),
                    sent_to: BTreeMap::from([
                        ("teams".to_string(), sent),
                        ("security-webhook".to_string(), sent),
                    ]),
                    resolved_at: None,
                    event: None,
                },
            );
        }
        state
    }

    #[test]
    fn a_state_too_large_for_a_secret_is_stored_gzipped_and_read_back() {
        let small = state_with(3);
        assert_eq!(
            small.to_stored(),
            small.to_json(),
            "small states stay plain JSON"
        );
        let large = state_with(1000);
        let json = large.to_json();
        assert!(json.len() > 10 * MAX_STATE_BYTES, "{} bytes", json.len());
        let stored = large.to_stored();
        assert!(stored.len() <= MAX_STATE_BYTES, "{} bytes", stored.len());
        assert!(stored.starts_with(r#"{"version":2,"encoding":"gzip+base64","data":""#));
        assert_eq!(AlertState::from_stored(&stored), Ok(large));
        assert_eq!(AlertState::from_stored(&json), Ok(state_with(1000)));
    }

    #[test]
    fn a_packed_state_that_is_broken_or_unpacks_too_far_is_malformed() {
        use base64::Engine as _;
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b' '; MAX_UNPACKED_BYTES + 10]).unwrap();
        let bomb = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        for (text, why) in [
            (
                format!(r#"{{"version":2,"encoding":"gzip+base64","data":"{bomb}"}}"#),
                "unpacks to more than",
            ),
            (
                r#"{"version":2,"encoding":"zstd","data":"AAAA"}"#.to_string(),
                "unknown encoding",
            ),
            (
                r#"{"version":2,"encoding":"gzip+base64","data":"%%%"}"#.to_string(),
                "not base64",
            ),
            (
                r#"{"version":2,"encoding":"gzip+base64","data":"AAAA"}"#.to_string(),
                "not gzipped",
            ),
        ] {
            let e = AlertState::from_stored(&text).err().unwrap();
            assert_eq!(e.class, ErrorClass::MalformedResponse);
            assert!(e.message.contains(why), "{}", e.message);
        }
    }

    #[test]
    fn corrupt_or_foreign_state_is_malformed_and_not_quoted() {
        for text in [
            "{not json",
            "[]",
            r#"{"version":99}"#,
            "SECRET-LOOKING-TEXT",
        ] {
            let e = AlertState::from_json(text).err();
            let e = e.as_ref();
            assert_eq!(
                e.map(|e| e.class),
                Some(ErrorClass::MalformedResponse),
                "{text}"
            );
            assert!(e.is_some_and(|e| !e.message.contains("SECRET-LOOKING")));
        }
    }
}
