//! Cron schedules with the meaning Kubernetes gives them, and their next slot.

use super::*;

/// A cron schedule and the time zone its fields are read in (`[daemon] schedule` and
/// `time_zone`), as a Kubernetes CronJob with `timeZone` reads them: `0 3 * * *` in
/// `Europe/Berlin` is 03:00 Berlin time, 02:00 UTC in winter and 01:00 UTC in summer.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: cron::Schedule,
    zone: chrono_tz::Tz,
}

impl CronSchedule {
    pub fn new(cron: cron::Schedule, zone: chrono_tz::Tz) -> Self {
        CronSchedule { cron, zone }
    }

    /// The zone the schedule's hours and days are read in.
    pub fn zone(&self) -> chrono_tz::Tz {
        self.zone
    }

    /// The first slot strictly after `t`.
    pub fn next_after(&self, t: OffsetDateTime) -> Option<OffsetDateTime> {
        use chrono::DateTime;
        let from = DateTime::from_timestamp(t.unix_timestamp(), t.nanosecond())
            .unwrap_or_default()
            .with_timezone(&self.zone);
        self.cron.after(&from).next().map(|n| {
            OffsetDateTime::from_unix_timestamp(n.timestamp())
                .map(|x| x + time::Duration::nanoseconds(i64::from(n.timestamp_subsec_nanos())))
                .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        })
    }
}

/// A schedule without a zone is read in UTC, as Kubernetes does without `timeZone` on a
/// controller running in UTC.
impl From<cron::Schedule> for CronSchedule {
    fn from(cron: cron::Schedule) -> Self {
        CronSchedule::new(cron, chrono_tz::UTC)
    }
}

/// An IANA time zone name (`Europe/Berlin`, `Etc/UTC`), as a CronJob's `timeZone` takes it.
pub fn parse_time_zone(text: &str) -> Result<chrono_tz::Tz, String> {
    text.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        let names: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect();
        format!(
            "{text:?} is not an IANA time zone name such as \"Europe/Berlin\" or \"Etc/UTC\" (the CronJob's timeZone){}",
            did_you_mean(text, &names)
        )
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
