//! Whether the schedule runs often enough for `refresh_before`. A stored token comes due at a
//! moment drawn between `refresh_before` and `refresh_before/2` before it expires
//! (`cycle::refresh_moment`), and is refreshed by the first run at or after that moment. A run
//! may come just before the moment (the token is still fresh), so the next run must come within
//! `refresh_before/2` of it, or the token can expire in between (consumers then read an expired
//! token). `check` refuses a schedule whose longest gap plus jitter reaches `refresh_before/2`;
//! the daemon's early refresh between slots does not help a CronJob running `once`.

use super::*;

/// Slots looked at to find the longest gap: a schedule firing every minute repeats within a
/// day; sparser ones are followed for at most a year.
const MAX_SLOTS: usize = 2_000;
const HORIZON: time::Duration = time::Duration::days(366);

/// The longest time between two consecutive slots of `schedule` from `from` on, over
/// [`MAX_SLOTS`] slots or a year; `None` when it has fewer than two slots ahead.
pub fn longest_gap(schedule: &CronSchedule, from: OffsetDateTime) -> Option<Duration> {
    let mut previous = schedule.next_after(from)?;
    let mut longest: Option<time::Duration> = None;
    for _ in 0..MAX_SLOTS {
        let Some(next) = schedule.next_after(previous) else {
            break;
        };
        longest = Some(longest.map_or(next - previous, |l| l.max(next - previous)));
        if next - from > HORIZON {
            break;
        }
        previous = next;
    }
    longest.map(time::Duration::unsigned_abs)
}

/// Why the schedule cannot keep the config's tokens fresh, with the fix; `None` when it can.
/// `now` anchors the slots looked at.
pub fn schedule_too_slow(cfg: &ValidConfig, now: OffsetDateTime) -> Option<ConfigIssue> {
    let (app, target) = cfg
        .apps
        .iter()
        .flat_map(|a| a.targets.iter().map(move |t| (a, t)))
        .min_by_key(|(_, t)| t.refresh_before)?;
    let gap = longest_gap(&cfg.daemon.schedule, now)?;
    let worst = gap + cfg.daemon.jitter;
    let limit = target.refresh_before / 2;
    if worst < limit {
        return None;
    }
    // The longest period, in whole minutes dividing the hour, that stays under the limit.
    let room = limit.saturating_sub(cfg.daemon.jitter);
    let every = [30u64, 20, 15, 12, 10, 6, 5, 4, 3, 2, 1]
        .into_iter()
        .find(|m| Duration::from_secs(m * 60) < room);
    let example = match every {
        Some(m) => format!("\"*/{m} * * * *\""),
        None => "a schedule with seconds".to_string(),
    };
    Some(ConfigIssue {
        line: 0,
        column: 0,
        key: Some("daemon.schedule".into()),
        message: format!(
            "schedule {:?} can leave {} between two runs{}, but token {:?} of app {:?} comes due as late as half its refresh_before of {} before it expires: a token can expire between runs and consumers would read an expired token; run more often than every {} (for example {example}; the CronJob schedule must match)",
            cfg.daemon.schedule_text,
            crate::timefmt::duration(gap),
            if cfg.daemon.jitter.is_zero() {
                String::new()
            } else {
                format!(
                    " plus a jitter of {}",
                    crate::timefmt::duration(cfg.daemon.jitter)
                )
            },
            target.secret_name,
            app.name,
            crate::timefmt::duration(target.refresh_before),
            crate::timefmt::duration(room.max(Duration::from_secs(1))),
        ),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at() -> OffsetDateTime {
        // A Friday noon: weekday schedules have their weekend gap ahead.
        OffsetDateTime::from_unix_timestamp(1_796_040_000).unwrap()
    }

    #[test]
    fn the_longest_gap_finds_nights_and_weekends() {
        let gap = |s: &str| longest_gap(&parse_cron(s).unwrap().into(), at()).unwrap();
        assert_eq!(gap("*/10 * * * *"), Duration::from_secs(600));
        assert_eq!(gap("@daily"), Duration::from_secs(86_400));
        // Every 10 minutes from 8:00 to 17:50 on weekdays: the weekend is the longest gap.
        assert_eq!(
            gap("*/10 8-17 * * 1-5"),
            Duration::from_secs(2 * 86_400 + 14 * 3_600 + 10 * 60)
        );
    }

    fn config(schedule: &str, jitter: &str, refresh_before: &str) -> ValidConfig {
        let text = format!(
            "vault = \"https://kv.vault.azure.net/\"\nrefresh_before = \"{refresh_before}\"\n[daemon]\nschedule = \"{schedule}\"\njitter = \"{jitter}\"\n[[apps]]\nname = \"sales\"\ntenant_id = \"72f988bf-86f1-41af-91ab-2d7cd011db47\"\nclient_id = \"6a1c3e5f-7b9d-4f2a-8c6e-0d1f3a5b7c9e\"\nclient_secret_name = \"sales-secret\"\n[[apps.targets]]\nscope = \"https://analysis.windows.net/powerbi/api/.default\"\nsecret = \"sales-token\"\n"
        );
        parse(Path::new("t.toml"), &text).unwrap()
    }

    #[test]
    fn a_schedule_slower_than_half_refresh_before_is_refused_with_the_fix() {
        assert!(schedule_too_slow(&config("*/10 * * * *", "30s", "30m"), at()).is_none());
        let issue = schedule_too_slow(&config("@hourly", "0s", "30m"), at()).unwrap();
        assert_eq!(issue.key.as_deref(), Some("daemon.schedule"));
        assert!(
            issue.message.contains("can leave 1 hour between two runs")
                && issue.message.contains("refresh_before of 30 minutes")
                && issue
                    .message
                    .contains("run more often than every 15 minutes")
                && issue.message.contains("\"*/12 * * * *\""),
            "{}",
            issue.message
        );
        // The jitter counts: 10 minutes apart plus up to 5 minutes late reaches 15 minutes.
        let issue = schedule_too_slow(&config("*/10 * * * *", "5m", "30m"), at());
        assert!(
            issue.is_some_and(|i| i.message.contains("plus a jitter of 5 minutes")
                && i.message.contains("run more often than every 10 minutes")
                && i.message.contains("\"*/6 * * * *\""))
        );
        // A token due as late as 15 minutes before it expires, after a run that just missed it:
        // every 15 minutes (or 20, under refresh_before's 30) can let it expire.
        assert!(schedule_too_slow(&config("*/15 * * * *", "0s", "30m"), at()).is_some());
        assert!(schedule_too_slow(&config("*/20 * * * *", "0s", "30m"), at()).is_some());
        assert!(schedule_too_slow(&config("*/14 * * * *", "0s", "30m"), at()).is_none());
    }
}
