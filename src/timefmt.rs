//! Timestamps as text: RFC 3339, for wire formats, tags, messages and serialised reports. The
//! rest of the code keeps times as [`OffsetDateTime`] and turns them into text only here.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `t` as RFC 3339 (`2026-12-01T20:27:12Z`).
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Reads an RFC 3339 timestamp.
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// `#[serde(serialize_with = "crate::timefmt::serialize")]`: a timestamp as RFC 3339 text.
pub fn serialize<S: serde::Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

/// `#[serde(serialize_with = "crate::timefmt::serialize_opt")]`: an optional timestamp as
/// RFC 3339 text or `null`.
pub fn serialize_opt<S: serde::Serializer>(
    t: &Option<OffsetDateTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339(*t)),
        None => s.serialize_none(),
    }
}
