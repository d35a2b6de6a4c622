//! Cron schedules with the meaning Kubernetes gives them, and their next slot.

use super::*;

/// The first slot of a cron schedule strictly after `t`.
pub fn next_cron_slot(cron: &cron::Schedule, t: OffsetDateTime) -> Option<OffsetDateTime> {
    use chrono::{DateTime, Utc};
    let from =
        DateTime::<Utc>::from_timestamp(t.unix_timestamp(), t.nanosecond()).unwrap_or_default();
    cron.after(&from).next().map(|n| {
        OffsetDateTime::from_unix_timestamp(n.timestamp())
            .map(|x| x + time::Duration::nanoseconds(i64::from(n.timestamp_subsec_nanos())))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    })
}

pub(super) const DEFAULT_SCHEDULE: &str = "*/10 * * * *";

/// Parses a cron expression with the meaning Kubernetes CronJobs and classic cron give it:
/// 5 fields (minute hour day month weekday), or 6 with a leading seconds field, or a macro
/// (`@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`, `@yearly`, `@annually`). Weekday
/// numbers are 0-7 with 0 and 7 both Sunday; they are turned into names here, because the
/// `cron` crate numbers weekdays 1-7 from Sunday and would read `1-5` as Sunday to Thursday.
pub fn parse_cron(text: &str) -> Result<cron::Schedule, String> {
    use std::str::FromStr;
    let text = text.trim();
    let macro_fields = match text {
        "@yearly" | "@annually" => Some("0 0 1 1 *"),
        "@monthly" => Some("0 0 1 * *"),
        "@weekly" => Some("0 0 * * 0"),
        "@daily" | "@midnight" => Some("0 0 * * *"),
        "@hourly" => Some("0 * * * *"),
        _ => None,
    };
    let text = macro_fields.unwrap_or(text);
    let mut fields: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    match fields.len() {
        5 => fields.insert(0, "0".to_string()),
        6 => {}
        n => {
            return Err(format!(
                "a cron schedule has 5 fields (minute hour day month weekday), 6 with seconds first, or is a macro such as @hourly; found {n} fields"
            ));
        }
    }
    fields[5] = standard_weekdays(&fields[5])?;
    cron::Schedule::from_str(&fields.join(" ")).map_err(|e| e.to_string())
}

/// Rewrites a weekday field from classic numbering (0-7, 0 and 7 Sunday) to names.
fn standard_weekdays(field: &str) -> Result<String, String> {
    const NAMES: [&str; 8] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    let number = |t: &str| -> Result<Option<usize>, String> {
        match t.parse::<usize>() {
            Ok(n) if n <= 7 => Ok(Some(n)),
            Ok(n) => Err(format!(
                "weekday {n} is out of range: use 0-7 (0 and 7 are Sunday) or SUN-SAT"
            )),
            Err(_) => Ok(None),
        }
    };
    let name = |t: &str| -> Result<String, String> {
        Ok(number(t)?.map_or_else(|| t.to_string(), |n| NAMES[n].to_string()))
    };
    let mut out = Vec::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let step_n = step
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let with_step = |r: String| match step {
            Some(s) => format!("{r}/{s}"),
            None => r,
        };
        match range.split_once('-') {
            // `N-7`: up to Saturday, and Sunday at the end of the week if the step lands on it.
            Some((a, "7")) if number(a)?.is_some_and(|n| n > 0) => {
                let start = number(a)?.unwrap_or(1);
                out.push(with_step(format!("{}-SAT", NAMES[start])));
                if (7 - start) % step_n == 0 {
                    out.push("SUN".to_string());
                }
            }
            Some((a, b)) => out.push(with_step(format!("{}-{}", name(a)?, name(b)?))),
            // `N/step` means N through the end of the week, which the crate wants spelt out.
            None if step.is_some() && number(range)?.is_some() => {
                out.push(with_step(format!("{}-SAT", name(range)?)));
            }
            None => out.push(with_step(name(range)?)),
        }
    }
    Ok(out.join(","))
}
