//! Daemon mode's timing: when the next cycle starts (cron slot + jitter, or earlier when a
//! stored token comes due before that slot: the daemon wakes at each token's own refresh moment,
//! a few seconds' worth gathered into one wake), no overlap (cycles run one after another; a
//! cycle that overran is reported and the next one takes the next slot after it ends), and
//! graceful shutdown (stop taking work, let in-flight writes finish within a grace period).
//!
//! Time comes from a [`Clock`] so tests can drive schedules with paused tokio time.

use std::future::Future;
use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// Wall-clock time, injectable.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that follows tokio's (pausable) time from a fixed start: for tests.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    start_wall: OffsetDateTime,
    start: tokio::time::Instant,
}

impl TokioClock {
    pub fn starting_at(start_wall: OffsetDateTime) -> Self {
        TokioClock {
            start_wall,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> OffsetDateTime {
        self.start_wall + (tokio::time::Instant::now() - self.start)
    }
}

/// The shortest gap between the start of a cycle and an early refresh after it. Tokens come due
/// at their own moments, spread over their refresh windows (`cycle::refresh_moment`), and the
/// daemon wakes at each; the refreshes due within this gap are gathered into one wake, so a
/// daemon carrying thousands of tokens runs a cycle every few seconds, not one per token. A
/// token's refresh window is `refresh_before/2` long (15 minutes at the default
/// `refresh_before`), so this delay is small beside it. Counted from the cycle's start, not its
/// end: a cycle whose paced writes took longer is followed at once by the refreshes that came
/// due meanwhile. Counted from the end, a daemon writing two thirds of its pace stopped for 5 s
/// after each cycle and wrote the rest in bursts at the full pace (1,000 tokens of 2 minutes:
/// up to 211 writes in a 10 s window against a mean of 116).
pub const MIN_WAKE_GAP: Duration = Duration::from_secs(5);

/// A target that was due when a cycle started and was not refreshed by it (it failed, or the
/// cycle was cut short) is tried again this long after the cycle ended, not at once: a refresh
/// that keeps failing must not keep the daemon spinning.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// What the loop needs to know from a finished cycle.
#[derive(Debug, Clone, Default)]
pub struct CycleOutcome {
    /// For each target: when it should next be looked at — its stored token's refresh moment
    /// (see `cycle::refresh_moment`), or for a target that was due and not refreshed, the retry
    /// time ([`CycleOutcome::from_targets`]); `None` when unknown.
    pub refresh_due: Vec<Option<OffsetDateTime>>,
}

impl CycleOutcome {
    /// From each target's refresh moment and whether the cycle refreshed it (or found it
    /// fresh): a target due at `started` that is still not refreshed is retried
    /// [`RETRY_AFTER_FAILURE`] after `ended`; one that came due while the cycle ran is due now.
    pub fn from_targets(
        targets: impl IntoIterator<Item = (Option<OffsetDateTime>, bool)>,
        started: OffsetDateTime,
        ended: OffsetDateTime,
    ) -> Self {
        let retry = ended + RETRY_AFTER_FAILURE;
        let refresh_due = targets
            .into_iter()
            .map(|(due, refreshed)| match due {
                Some(d) if !refreshed && d <= started => Some(d.max(retry)),
                other => other,
            })
            .collect();
        CycleOutcome { refresh_due }
    }
}

/// Runs cycles; the daemon does not care how.
pub trait CycleRunner: Send + Sync {
    /// Runs one cycle. `stop` is cancelled on shutdown: stop taking new work, finish in-flight.
    /// `trigger` says why: a slot, or tokens coming due between slots.
    fn run_cycle(
        &self,
        trigger: Trigger,
        stop: CancellationToken,
    ) -> impl Future<Output = CycleOutcome> + Send;
}

/// Why the loop woke for a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Slot,
    EarlyRefresh,
}

/// The schedule: cron slots plus jitter.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: crate::config::CronSchedule,
    jitter: Duration,
}

impl Schedule {
    pub fn new(cron: impl Into<crate::config::CronSchedule>, jitter: Duration) -> Self {
        Schedule {
            cron: cron.into(),
            jitter,
        }
    }

    /// The first slot strictly after `t`.
    pub fn next_slot(&self, t: OffsetDateTime) -> Option<OffsetDateTime> {
        self.cron.next_after(t)
    }

    /// A random delay in `[0, jitter]`.
    pub fn jitter(&self) -> Duration {
        if self.jitter.is_zero() {
            return Duration::ZERO;
        }
        let mut b = [0u8; 8];
        let _ = aws_lc_rs::rand::fill(&mut b);
        let fraction = (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64;
        self.jitter.mul_f64(fraction)
    }

    /// When to run next: the next slot plus jitter, or earlier when a target comes due before
    /// that slot — at its moment, but no sooner than [`MIN_WAKE_GAP`] after `last_started` (the
    /// start of the cycle just run) and not before `now`.
    pub fn next_wake(
        &self,
        now: OffsetDateTime,
        last_started: OffsetDateTime,
        refresh_due: &[Option<OffsetDateTime>],
    ) -> Option<(OffsetDateTime, Trigger)> {
        let slot = self.next_slot(now)?;
        let slot_wake = slot + self.jitter();
        let early = refresh_due
            .iter()
            .flatten()
            .copied()
            .filter(|due| *due < slot)
            .min();
        // Failed refreshes were already moved RETRY_AFTER_FAILURE on (CycleOutcome::from_targets);
        // the gap gathers the moments of a few seconds into one wake. Never later than the slot.
        match early.map(|due| due.max(last_started + MIN_WAKE_GAP).max(now)) {
            Some(at) if at < slot_wake => Some((at, Trigger::EarlyRefresh)),
            _ => Some((slot_wake, Trigger::Slot)),
        }
    }
}

/// Runs cycles on the schedule until `shutdown` resolves. A cycle in progress at shutdown gets
/// `grace` to finish its in-flight work. Returns the number of cycles run.
pub async fn run_loop<R: CycleRunner>(
    runner: &R,
    schedule: &Schedule,
    clock: &dyn Clock,
    grace: Duration,
    shutdown: impl Future<Output = ()>,
    mut on_event: impl FnMut(LoopEvent) + Send,
) -> u64 {
    tokio::pin!(shutdown);
    let mut refresh_due: Vec<Option<OffsetDateTime>> = Vec::new();
    let mut cycles = 0;
    // When the last slot cycle started. A daemon busy with early refreshes (a wake every few
    // seconds, or long cycles under faults) could otherwise skip every slot, and with them the
    // alerting and status record only slots keep: the first cycle after a slot's time has
    // passed is that slot's cycle, whatever woke it.
    let mut last_slot_cycle = clock.now();
    // The first cycle runs at start: a freshly deployed daemon should not wait for a slot.
    let mut next: Option<(OffsetDateTime, Trigger)> = Some((clock.now(), Trigger::Slot));
    loop {
        let Some((wake, trigger)) = next else {
            on_event(LoopEvent::NoMoreSlots);
            return cycles;
        };
        let wait = (wake - clock.now()).max(time::Duration::ZERO);
        let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
        tokio::select! {
            _ = &mut shutdown => {
                on_event(LoopEvent::Stopped);
                return cycles;
            }
            _ = tokio::time::sleep(wait) => {}
        }
        let started = clock.now();
        if trigger == Trigger::Slot {
            last_slot_cycle = started;
        }
        let slot_after_start = schedule.next_slot(started);
        on_event(LoopEvent::CycleStarted {
            at: started,
            trigger,
        });
        let stop = CancellationToken::new();
        let cycle = runner.run_cycle(trigger, stop.clone());
        tokio::pin!(cycle);
        let outcome = tokio::select! {
            outcome = &mut cycle => Some(outcome),
            _ = &mut shutdown => {
                stop.cancel();
                on_event(LoopEvent::Draining);
                let finished = tokio::time::timeout(grace, &mut cycle).await.ok();
                on_event(LoopEvent::Stopped);
                return cycles + u64::from(finished.is_some());
            }
        };
        cycles += 1;
        let ended = clock.now();
        if let Some(outcome) = outcome {
            refresh_due = outcome.refresh_due;
        }
        if let Some(slot) = slot_after_start
            && ended > slot
        {
            on_event(LoopEvent::Overran {
                started,
                ended,
                missed_slot: slot,
            });
        }
        on_event(LoopEvent::CycleFinished { at: ended });
        next = schedule
            .next_wake(ended, started, &refresh_due)
            .map(|(at, trigger)| {
                let owed = schedule
                    .next_slot(last_slot_cycle)
                    .is_some_and(|slot| slot <= at);
                (at, if owed { Trigger::Slot } else { trigger })
            });
    }
}

/// What happened in the loop, for logs, metrics and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoopEvent {
    CycleStarted {
        at: OffsetDateTime,
        trigger: Trigger,
    },
    CycleFinished {
        at: OffsetDateTime,
    },
    /// A cycle ran past the next slot; that slot was skipped.
    Overran {
        started: OffsetDateTime,
        ended: OffsetDateTime,
        missed_slot: OffsetDateTime,
    },
    /// Shutdown arrived during a cycle: no new work, in-flight work finishing.
    Draining,
    Stopped,
    NoMoreSlots,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use time::macros::datetime;

    fn schedule(expr: &str, jitter: Duration) -> Schedule {
        Schedule::new(crate::config::parse_cron(expr).expect("cron"), jitter)
    }

    /// A runner that takes `duration` per cycle and reports a fixed refresh-due time.
    struct FakeRunner {
        clock: TokioClock,
        duration: Duration,
        due: Mutex<Vec<Option<OffsetDateTime>>>,
        runs: Mutex<Vec<(OffsetDateTime, OffsetDateTime)>>,
        in_flight: Arc<std::sync::atomic::AtomicUsize>,
        max_in_flight: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl FakeRunner {
        fn new(clock: TokioClock, duration: Duration) -> Self {
            FakeRunner {
                clock,
                duration,
                due: Mutex::new(Vec::new()),
                runs: Mutex::new(Vec::new()),
                in_flight: Arc::default(),
                max_in_flight: Arc::default(),
            }
        }
        fn starts(&self) -> Vec<OffsetDateTime> {
            self.runs
                .lock()
                .expect("lock")
                .iter()
                .map(|r| r.0)
                .collect()
        }
    }

    impl CycleRunner for FakeRunner {
        async fn run_cycle(&self, _trigger: Trigger, _stop: CancellationToken) -> CycleOutcome {
            use std::sync::atomic::Ordering;
            let start = self.clock.now();
            let n = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(n, Ordering::SeqCst);
            tokio::time::sleep(self.duration).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.runs
                .lock()
                .expect("lock")
                .push((start, self.clock.now()));
            // A cycle refreshes what was due: its next due time moves an hour on.
            let mut due = self.due.lock().expect("lock");
            for d in due.iter_mut().flatten() {
                if *d <= start {
                    *d += time::Duration::hours(1);
                }
            }
            CycleOutcome {
                refresh_due: due.clone(),
            }
        }
    }

    const START: OffsetDateTime = datetime!(2026-11-28 10:00:00 UTC);

    async fn run_for(
        runner: &FakeRunner,
        sched: &Schedule,
        clock: &TokioClock,
        total: Duration,
    ) -> Vec<LoopEvent> {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        run_loop(
            runner,
            sched,
            clock,
            Duration::from_secs(5),
            tokio::time::sleep(total),
            move |e| sink.lock().expect("lock").push(e),
        )
        .await;

        events.lock().expect("lock").clone()
    }

    #[tokio::test(start_paused = true)]
    async fn cycles_run_at_start_then_on_every_slot() {
        let clock = TokioClock::starting_at(START);
        let runner = FakeRunner::new(clock, Duration::from_secs(3));
        let sched = schedule("*/10 * * * *", Duration::ZERO);
        run_for(&runner, &sched, &clock, Duration::from_secs(35 * 60)).await;
        let starts = runner.starts();
        assert_eq!(
            starts,
            vec![
                START,
                datetime!(2026-11-28 10:10:00 UTC),
                datetime!(2026-11-28 10:20:00 UTC),
                datetime!(2026-11-28 10:30:00 UTC)
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn jitter_stays_within_its_bound() {
        let clock = TokioClock::starting_at(START);
        let runner = FakeRunner::new(clock, Duration::from_secs(1));
        let sched = schedule("* * * * *", Duration::from_secs(20));
        run_for(&runner, &sched, &clock, Duration::from_secs(60 * 60)).await;
        let starts = runner.starts();
        assert!(starts.len() >= 50, "{}", starts.len());
        let mut offsets = Vec::new();
        for s in &starts[1..] {
            let into_minute = s.second() as f64 + f64::from(s.nanosecond()) / 1e9;
            assert!(
                into_minute <= 20.0 + 1e-6,
                "start {s} is more than 20s after its slot"
            );
            offsets.push(into_minute);
        }
        let distinct = offsets
            .iter()
            .map(|o| (o * 10.0) as i64)
            .collect::<std::collections::BTreeSet<_>>();
        assert!(distinct.len() > 5, "jitter varies: {distinct:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_cycle_never_overlaps_itself_and_an_overrun_takes_the_next_slot() {
        let clock = TokioClock::starting_at(START);
        // Each cycle takes 13 minutes on a 5-minute schedule.
        let runner = FakeRunner::new(clock, Duration::from_secs(13 * 60));
        let sched = schedule("*/5 * * * *", Duration::ZERO);
        let events = run_for(&runner, &sched, &clock, Duration::from_secs(60 * 60)).await;
        assert_eq!(
            runner
                .max_in_flight
                .load(std::sync::atomic::Ordering::SeqCst),
            1
        );
        let runs = runner.runs.lock().expect("lock").clone();
        for w in runs.windows(2) {
            assert!(
                w[1].0 >= w[0].1,
                "a cycle started before the previous ended"
            );
        }
        // 10:00 → ends 10:13 → next slot 10:15 → ends 10:28 → 10:30 …
        assert_eq!(runs[1].0, datetime!(2026-11-28 10:15:00 UTC));
        assert_eq!(runs[2].0, datetime!(2026-11-28 10:30:00 UTC));
        let overruns = events
            .iter()
            .filter(|e| matches!(e, LoopEvent::Overran { .. }))
            .count();
        assert!(overruns >= 3, "overruns are reported: {events:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_that_would_go_stale_before_the_next_slot_is_refreshed_early() {
        let clock = TokioClock::starting_at(START);
        let runner = FakeRunner::new(clock, Duration::from_secs(2));
        // Hourly schedule; a token stops being fresh at 10:25.
        let due = datetime!(2026-11-28 10:25:00 UTC);
        *runner.due.lock().expect("lock") = vec![Some(due), None];
        let sched = schedule("0 * * * *", Duration::ZERO);
        let events = run_for(&runner, &sched, &clock, Duration::from_secs(30 * 60)).await;
        let starts = runner.starts();
        assert_eq!(starts.len(), 2, "{starts:?}");
        assert_eq!(starts[1], due);
        assert!(events.contains(&LoopEvent::CycleStarted {
            at: due,
            trigger: Trigger::EarlyRefresh
        }));
    }

    /// Long cycles and tokens always due soon: early refreshes run back to back, and still
    /// every slot's time is followed by a slot cycle (the one that alerts and records).
    #[tokio::test(start_paused = true)]
    async fn a_daemon_busy_with_early_refreshes_still_runs_a_slot_cycle_after_each_slot() {
        let clock = TokioClock::starting_at(START);
        // Cycles of 40 s on a schedule every minute; something is due every 10 s.
        let runner = FakeRunner::new(clock, Duration::from_secs(40));
        *runner.due.lock().expect("lock") = (1..=400)
            .map(|i| Some(START + time::Duration::seconds(10 * i)))
            .collect();
        let sched = schedule("* * * * *", Duration::ZERO);
        let events = run_for(&runner, &sched, &clock, Duration::from_secs(10 * 60)).await;
        let slots: Vec<OffsetDateTime> = events
            .iter()
            .filter_map(|e| match e {
                LoopEvent::CycleStarted {
                    at,
                    trigger: Trigger::Slot,
                } => Some(*at),
                _ => None,
            })
            .collect();
        let early = events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    LoopEvent::CycleStarted {
                        trigger: Trigger::EarlyRefresh,
                        ..
                    }
                )
            })
            .count();
        assert!(early > 0, "{events:?}");
        // Ten minutes: a slot cycle at least every two minutes (a 40 s cycle may straddle one).
        assert!(slots.len() >= 5, "{slots:?}");
        for pair in slots.windows(2) {
            assert!(pair[1] - pair[0] <= time::Duration::minutes(2), "{slots:?}");
        }
    }

    #[test]
    fn a_refresh_that_keeps_failing_is_retried_no_faster_than_a_minute() {
        let sched = schedule("0 * * * *", Duration::ZERO);
        let started = datetime!(2026-11-28 10:29:50 UTC);
        let ended = datetime!(2026-11-28 10:30:00 UTC);
        let due = datetime!(2026-11-28 10:25:00 UTC);
        // Due before the cycle started and not refreshed by it: retried a minute after it ended.
        let outcome = CycleOutcome::from_targets([(Some(due), false)], started, ended);
        assert_eq!(outcome.refresh_due, [Some(ended + RETRY_AFTER_FAILURE)]);
        let (wake, trigger) = sched
            .next_wake(ended, started, &outcome.refresh_due)
            .expect("wake");
        assert_eq!(trigger, Trigger::EarlyRefresh);
        assert_eq!(wake, ended + RETRY_AFTER_FAILURE);
    }

    #[test]
    fn a_target_that_came_due_while_a_long_cycle_ran_is_taken_right_after_it() {
        let started = datetime!(2026-11-28 10:29:50 UTC);
        let ended = datetime!(2026-11-28 10:30:00 UTC);
        let during = datetime!(2026-11-28 10:29:55 UTC);
        let later = datetime!(2026-11-28 10:31:00 UTC);
        let outcome = CycleOutcome::from_targets(
            [(Some(during), false), (Some(later), true), (None, false)],
            started,
            ended,
        );
        assert_eq!(outcome.refresh_due, [Some(during), Some(later), None]);
        let sched = schedule("0 * * * *", Duration::ZERO);
        // The cycle ran 10 s, longer than the gap: the next starts as it ends.
        let (wake, _) = sched
            .next_wake(ended, started, &outcome.refresh_due)
            .expect("wake");
        assert_eq!(wake, ended);
        // After a cycle of 1 s, the gap from its start.
        let short = ended - time::Duration::seconds(1);
        let (wake, _) = sched
            .next_wake(ended, short, &outcome.refresh_due)
            .expect("wake");
        assert_eq!(wake, short + MIN_WAKE_GAP);
    }

    #[test]
    fn the_daemon_wakes_at_each_tokens_own_moment_not_once_a_minute() {
        // Tokens due 7 s, 20 s and 41 s after a cycle ends: three wakes, each at its moment.
        let sched = schedule("0 * * * *", Duration::ZERO);
        let ended = datetime!(2026-11-28 10:30:00 UTC);
        let dues: Vec<_> = [7, 20, 41]
            .iter()
            .map(|s| Some(ended + time::Duration::seconds(*s)))
            .collect();
        let mut now = ended;
        let mut wakes = Vec::new();
        let mut pending = dues.clone();
        let mut started = ended - time::Duration::seconds(1);
        while let Some((wake, Trigger::EarlyRefresh)) = sched.next_wake(now, started, &pending) {
            wakes.push(wake);
            // That wake's cycle refreshes what is due; its next moment is an hour on.
            for d in pending.iter_mut().flatten() {
                if *d <= wake {
                    *d += time::Duration::hours(2);
                }
            }
            started = wake;
            now = wake + time::Duration::seconds(1);
        }
        assert_eq!(wakes, dues.into_iter().flatten().collect::<Vec<_>>());
    }

    #[test]
    fn moments_within_the_wake_gap_share_one_wake() {
        let sched = schedule("0 * * * *", Duration::ZERO);
        let now = datetime!(2026-11-28 10:30:00 UTC);
        let soon = [
            Some(now + time::Duration::seconds(1)),
            Some(now + time::Duration::seconds(3)),
        ];
        let (wake, trigger) = sched.next_wake(now, now, &soon).expect("wake");
        assert_eq!((wake, trigger), (now + MIN_WAKE_GAP, Trigger::EarlyRefresh));
    }

    #[test]
    fn an_early_refresh_never_waits_past_the_next_slot() {
        // Every 2 s; a token due within the next slot: the slot comes first, not the wake gap later.
        let sched = schedule("*/2 * * * * *", Duration::ZERO);
        let now = datetime!(2026-11-28 10:30:00.1 UTC);
        let due = [Some(datetime!(2026-11-28 10:30:01 UTC))];
        let (wake, trigger) = sched.next_wake(now, now, &due).expect("wake");
        assert_eq!(wake, datetime!(2026-11-28 10:30:02 UTC));
        assert_eq!(trigger, Trigger::Slot);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_during_a_cycle_lets_it_finish_within_the_grace_period() {
        let clock = TokioClock::starting_at(START);
        let runner = FakeRunner::new(clock, Duration::from_secs(3));
        let sched = schedule("*/10 * * * *", Duration::ZERO);
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let cycles = run_loop(
            &runner,
            &sched,
            &clock,
            Duration::from_secs(5),
            tokio::time::sleep(Duration::from_secs(1)),
            move |e| sink.lock().expect("lock").push(e),
        )
        .await;
        assert_eq!(cycles, 1, "the in-flight cycle finished");
        assert_eq!(runner.runs.lock().expect("lock").len(), 1);
        assert!(events.lock().expect("lock").contains(&LoopEvent::Draining));
    }
}
