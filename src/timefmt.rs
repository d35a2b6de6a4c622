//! Times and durations as text: RFC 3339 timestamps to the second, for wire formats, tags,
//! messages and serialised reports, and durations as people write them (`90 days`, `1 hour 30
//! minutes`). The rest of the code keeps times as [`OffsetDateTime`] and durations as
//! [`std::time::Duration`], and turns them into text only here.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `t` as RFC 3339, to the second (`2026-12-01T20:27:12Z`): nothing the rotator shows or
/// stores means anything below a second (Key Vault keeps whole seconds).
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Reads an RFC 3339 timestamp.
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// A duration as people write it: one unit when it divides the duration (`90 days`,
/// `36 hours`, `45 minutes`), else days, hours, minutes and seconds without the zero ones
/// (`1 hour 14 minutes 23 seconds`); parts of a second only below one second (`250 ms`).
pub fn duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        return format!("{} ms", d.subsec_millis());
    }
    let unit = |n: u64, one: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {one}s")
        }
    };
    const DAY: u64 = 86_400;
    for (size, name) in [(DAY, "day"), (3_600, "hour"), (60, "minute")] {
        if s.is_multiple_of(size) {
            return unit(s / size, name);
        }
    }
    let parts = [
        (s / DAY, "day"),
        (s % DAY / 3_600, "hour"),
        (s % 3_600 / 60, "minute"),
        (s % 60, "second"),
    ];
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, name)| unit(*n, name))
        .collect::<Vec<_>>()
        .join(" ")
}

/// [`duration`] of a signed [`time::Duration`], without its sign.
pub fn duration_abs(d: time::Duration) -> String {
    duration(d.unsigned_abs())
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

/// `#[serde(with = "crate::timefmt::serde_req")]`: a timestamp written by [`serialize`], read
/// as RFC 3339.
pub mod serde_req {
    pub use super::serialize;
    pub use time::serde::rfc3339::deserialize;
}

/// `#[serde(default, with = "crate::timefmt::serde_opt")]`: an optional timestamp written by
/// [`serialize_opt`], read as RFC 3339 or `null`.
pub mod serde_opt {
    pub use super::serialize_opt as serialize;
    pub use time::serde::rfc3339::option::deserialize;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_read_as_people_write_them() {
        let cases = [
            (Duration::from_secs(90 * 86_400), "90 days"),
            (Duration::from_secs(86_400), "1 day"),
            (Duration::from_secs(36 * 3_600), "36 hours"),
            (Duration::from_secs(3_600), "1 hour"),
            (Duration::from_secs(45 * 60), "45 minutes"),
            (Duration::from_secs(90 * 60), "90 minutes"),
            (Duration::from_secs(30), "30 seconds"),
            (
                Duration::from_secs(3_600 + 14 * 60 + 23),
                "1 hour 14 minutes 23 seconds",
            ),
            (Duration::from_secs(2 * 86_400 + 5), "2 days 5 seconds"),
            (Duration::from_millis(250), "250 ms"),
            // Parts of a second are noise next to whole seconds.
            (Duration::from_millis(61_500), "1 minute 1 second"),
        ];
        for (d, text) in cases {
            assert_eq!(duration(d), text, "{d:?}");
        }
        assert_eq!(duration_abs(time::Duration::minutes(-5)), "5 minutes");
    }

    #[test]
    fn timestamps_are_shown_to_the_second() {
        let t = OffsetDateTime::from_unix_timestamp(1_800_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
            + time::Duration::nanoseconds(123_456_789);
        assert_eq!(rfc3339(t), "2027-01-15T08:00:00Z");
        assert_eq!(parse_rfc3339(&rfc3339(t)).map(|p| p.nanosecond()), Some(0));
    }
}
