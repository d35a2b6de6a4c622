//! `--daemon SECONDS`: the real daemon (`akv_rotator::daemon::run`) in steady state. Cold start
//! (every token written once), then one token lifetime more so that every token has been
//! refreshed by the daemon's own timing, then the emulator's stats are reset and SECONDS are
//! measured, with the stats read every 10 s to see how evenly the writes come.
//!
//! Measures whatever the rotator does; assumes nothing about its timing (batching, wake-ups,
//! status writes per cycle are findings, not inputs).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::time::Instant;

use crate::child::Emulator;
use crate::measure::{Stats, cpu_diff, cpu_secs, kib, vm_hwm_kib};
use crate::world::{INPUT, STATE, World};
use crate::{Args, WINDOW_SECS, print_throttle_windows};

/// A config duration as the config file writes it, in whole seconds.
fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

/// How often the warm-up looks at the emulator's stats.
const WARM_UP_POLL: Duration = Duration::from_secs(1);

/// Runs the daemon, measures, prints; `Ok(true)` when the daemon did not exit cleanly.
pub async fn run(
    args: &Args,
    world: &World,
    emulator: &Emulator,
    config_path: &Path,
    seconds: u64,
) -> anyhow::Result<bool> {
    let child_pid = emulator.pid.as_str();
    let outputs = world.output_names();
    let vaults: BTreeSet<String> = world.vault_names().into_iter().collect();
    let lifetime = Duration::from_secs(world.daemon.map_or(0, |d| d.token_lifetime_secs));
    let n = args.apps as u64;

    let config = akv_rotator::config::load(config_path)?;
    let d = &config.daemon;
    let config_line = format!(
        "daemon_config: schedule={:?} jitter={} refresh_before={} token_lifetime_s={} relist_after={}{} client_secret_max_age={} (default) vault_write_share={} concurrency={}",
        d.schedule_text,
        secs(d.jitter),
        config
            .apps
            .first()
            .and_then(|a| a.targets.first())
            .map(|t| secs(t.refresh_before))
            .unwrap_or_default(),
        lifetime.as_secs(),
        secs(d.relist_after),
        if d.relist_after.as_secs() == crate::DEFAULT_RELIST_AFTER_SECS {
            " (default)".to_string()
        } else {
            format!(
                " (default {}s; shortened so that the measured span shows a relisting)",
                crate::DEFAULT_RELIST_AFTER_SECS
            )
        },
        secs(d.client_secret_max_age),
        config.limits.write_share,
        config.concurrency,
    );
    let token_writes = |s: &Stats| outputs.iter().map(|o| s.writes(o)).sum::<u64>();

    // Cold start and warm-up: until N token writes are seen, then one token lifetime more.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let t0 = Instant::now();
    let mut daemon = tokio::spawn(akv_rotator::daemon::run(config, None, async move {
        let _ = stop_rx.await;
    }));
    // A cold start paced at the write share takes N / (24 K) s; allow ten times that, plus
    // lifetimes for retries of failed targets.
    let cold_limit =
        Duration::from_secs_f64(n as f64 / 2.4 / outputs.len() as f64 + 60.0) + lifetime * 10;
    let mut cold_done: Option<Instant> = None;
    loop {
        tokio::time::sleep(WARM_UP_POLL).await;
        if daemon.is_finished() {
            let code = (&mut daemon).await.context("the daemon task")?;
            bail!("the daemon stopped during the warm-up (exit code {code})");
        }
        let now = Instant::now();
        match cold_done {
            None => {
                let written = token_writes(&emulator.stats().await?);
                if written >= n {
                    cold_done = Some(now);
                } else if now - t0 > cold_limit {
                    let _ = stop_tx.send(());
                    bail!(
                        "cold start not done after {:.0} s: {written} of {n} token writes",
                        (now - t0).as_secs_f64()
                    );
                }
            }
            Some(done) if now - done >= lifetime => break,
            Some(_) => {}
        }
    }
    let cold_start = cold_done.map_or(0.0, |c| (c - t0).as_secs_f64());

    // The measured span: stats reset, read every 10 s, the last read at SECONDS.
    emulator.reset_stats().await?;
    let t_reset = Instant::now();
    let warm_up = (t_reset - t0).as_secs_f64();
    let cpu_before = (cpu_secs("self"), cpu_secs(child_pid));
    let span = Duration::from_secs(seconds);
    let window = Duration::from_secs_f64(WINDOW_SECS);
    // Per output vault, the writes seen at each whole 10 s poll (cumulative since the reset).
    let mut polls: Vec<Vec<u64>> = Vec::new();
    let mut k = 1u32;
    let last = loop {
        let at = (window * k).min(span);
        tokio::time::sleep_until(t_reset + at).await;
        let stats = emulator.stats().await?;
        if at == window * k {
            polls.push(outputs.iter().map(|o| stats.writes(o)).collect());
        }
        if at == span {
            break stats;
        }
        k += 1;
    };
    let measured = (Instant::now() - t_reset).as_secs_f64();
    let cpu_after = (cpu_secs("self"), cpu_secs(child_pid));
    let rotator_hwm = vm_hwm_kib("self");
    let emulator_hwm = vm_hwm_kib(child_pid);

    let stop_started = Instant::now();
    let _ = stop_tx.send(());
    let exit = tokio::time::timeout(Duration::from_secs(120), &mut daemon).await;
    let stop_s = stop_started.elapsed().as_secs_f64();

    // Figures of the measured span.
    let is_vault = |s: &str| vaults.contains(s);
    let written = token_writes(&last);
    let state_writes = last.writes(STATE);
    let kv_not_401 = last.count(|s, _, st| is_vault(s) && st != 401);
    let kv_401 = last.count(|s, _, st| is_vault(s) && st == 401);
    let kv_429 = last.count(|s, _, st| is_vault(s) && st == 429);
    let secret_gets = last.count(|s, op, st| s == INPUT && op == "SecretGet" && st != 401);
    let list_pages = last.count(|s, op, st| is_vault(s) && op == "SecretList" && st != 401);
    let token_requests =
        last.count(|s, op, _| s == "login" && (op == "TokenV2" || op == "TokenV1"));
    let per = |x: u64| {
        if written == 0 {
            "n/a (no token written)".to_string()
        } else {
            format!("{:.4}", x as f64 / written as f64)
        }
    };

    println!(
        "akv-bench: apps={} throttle={} faults={} mode=daemon output_vaults={}",
        args.apps,
        args.throttle_text(),
        args.faults,
        outputs.len(),
    );
    println!("{config_line}");
    println!(
        "cold_start_s: {cold_start:.3}  (from the daemon's start until the emulator had accepted {n} token writes)"
    );
    println!(
        "daemon_steady_state: measured {measured:.3} s after a warm-up of {warm_up:.3} s (the cold start, then one token lifetime)"
    );
    println!(
        "tokens_written: {written}  (SecretSet 2xx to the token vault(s) {})",
        outputs.join(", ")
    );
    println!(
        "status_record_and_alert_state_writes: {state_writes}  (SecretSet 2xx to vault {STATE}, which holds both: the emulator counts per vault, not per secret); webhook deliveries are not counted"
    );
    println!(
        "kv_transactions_per_written_token: {}  (all requests to all vaults with status != 401: {kv_not_401}; of them 429: {kv_429}; 401 challenges not counted: {kv_401})",
        per(kv_not_401)
    );
    let mut rows: Vec<String> = last
        .rows()
        .into_iter()
        .filter(|(s, ..)| is_vault(s) || s == "login")
        .map(|(s, op, st, c)| format!("{s} {op} {st}: {c}"))
        .collect();
    rows.sort();
    println!("requests_by_operation: {}", rows.join("; "));
    println!(
        "client_secret_gets: {secret_gets}  (SecretGet to vault {INPUT}, status != 401; per written token {})",
        per(secret_gets)
    );
    println!("list_pages: {list_pages}  (SecretList to any vault, status != 401)");
    println!(
        "entra_token_requests: {token_requests}  (TokenV2+TokenV1 incl. the rotator's own; per written token {})",
        per(token_requests)
    );
    let windows_of = |col: Option<usize>| -> Vec<u64> {
        let at = |p: &Vec<u64>| match col {
            Some(j) => p[j],
            None => p.iter().sum(),
        };
        let mut prev = 0;
        polls
            .iter()
            .map(|p| {
                let now = at(p);
                let w = now - prev;
                prev = now;
                w
            })
            .collect()
    };
    let peak_to_mean = |w: &[u64]| -> String {
        let peak = w.iter().copied().max().unwrap_or(0);
        let sum: u64 = w.iter().sum();
        if sum == 0 {
            return format!("n/a (no write in {} whole windows)", w.len());
        }
        let mean = sum as f64 / w.len() as f64;
        format!(
            "{:.2}  (peak {peak}, mean {mean:.1} over {} whole 10 s windows)",
            peak as f64 / mean,
            w.len()
        )
    };
    let all = windows_of(None);
    println!(
        "writes_per_10s_windows: {all:?}  (token writes to all token vaults per fixed 10 s poll interval)"
    );
    println!("peak_to_mean_writes_per_10s: {}", peak_to_mean(&all));
    if outputs.len() > 1 {
        for (j, o) in outputs.iter().enumerate() {
            let w = windows_of(Some(j));
            println!(
                "vault {o}: writes_per_10s_windows: {w:?}; peak_to_mean: {}",
                peak_to_mean(&w)
            );
        }
    }
    if args.throttle {
        for vault in world.vault_names() {
            let accepted = last.count(|s, _, st| s == vault && st != 401 && st != 429);
            print_throttle_windows(
                args,
                &last,
                &vault,
                &format!(" in {measured:.3} s"),
                accepted,
            );
        }
    }
    println!(
        "peak_memory: rotator process VmHWM {} KiB (the whole run, warm-up included); emulator child VmHWM {} KiB",
        kib(rotator_hwm),
        kib(emulator_hwm),
    );
    println!(
        "cpu_during_measured_span_s: rotator {} ; emulator child {}",
        cpu_diff(cpu_before.0, cpu_after.0),
        cpu_diff(cpu_before.1, cpu_after.1)
    );
    let failed = match exit {
        Ok(Ok(0)) => {
            println!("daemon_exit: 0, {stop_s:.3} s after the shutdown future resolved");
            false
        }
        Ok(Ok(code)) => {
            println!("daemon_exit: {code}, {stop_s:.3} s after the shutdown future resolved");
            true
        }
        Ok(Err(e)) => {
            println!("daemon_exit: the daemon task failed: {e}");
            true
        }
        Err(_) => {
            println!("daemon_exit: still running {stop_s:.3} s after the shutdown future resolved");
            true
        }
    };
    Ok(failed)
}
