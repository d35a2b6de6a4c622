//! `--baseline go`: the same apps, after the rotator's cycle, through a lean Go program with the
//! official Azure SDK for Go (`bench/go-baseline`): read the client secret, get a token, write it.
//! The Go program runs as a child process of the bench, like the emulator, so its CPU and peak
//! memory are its own. Built here, with `go`, only when the flag is given. `go-paced` spaces the
//! Go program's writes as the rotator's pacer spaces its own (`[limits] vault_write_share`), so
//! the two spend the same wall time: CPU spent waiting is then counted on both sides.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How often the Go process's `/proc/PID/status` and `/proc/PID/stat` are read while it runs.
const POLL: Duration = Duration::from_millis(2);

/// One side of the comparison: what a process wrote and what it cost.
pub struct Side {
    pub written: u64,
    pub failed: u64,
    pub cpu_s: Option<f64>,
    pub hwm_kib: Option<u64>,
    /// The largest `RssAnon` seen while polling (a process of its own only).
    pub anon_kib: Option<u64>,
}

/// The Go run: its figures and the emulator's counts for it.
pub struct Baseline {
    pub side: Side,
    paced: bool,
    first_error: Option<String>,
    wall_s: f64,
    concurrency: usize,
    kv_not_401: u64,
    kv_401: u64,
    kv_429: u64,
    token_requests: u64,
    login_all: u64,
}

/// `go build` of `bench/go-baseline` into `target/go-baseline`.
fn build() -> anyhow::Result<PathBuf> {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = bench.join("../target/go-baseline");
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(&exe)
        .arg(".")
        .current_dir(bench.join("go-baseline"))
        .status()
        .context("running `go build` for bench/go-baseline (is Go installed?)")?;
    if !status.success() {
        bail!("`go build` of bench/go-baseline failed ({status})");
    }
    Ok(exe)
}

/// The Go program's input: the apps of the rotator's config, the emulator's endpoints.
fn job(
    info: &serde_json::Value,
    config_path: &Path,
    concurrency: usize,
    paced: bool,
) -> anyhow::Result<serde_json::Value> {
    use akv_rotator::net::pacing;
    let config = akv_rotator::config::load(config_path)?;
    // The rotator's spacing of writes into one vault (`net::pacing`), 0 for none.
    let write_interval_ms = if paced {
        let limit = pacing::limit_per_window(300, config.limits.write_share);
        let pacer = pacing::Pacer::new(limit, pacing::KEY_VAULT_WINDOW);
        pacer.interval().as_secs_f64() * 1000.0
    } else {
        0.0
    };
    let mut scope = None;
    let apps: Vec<_> = config
        .apps
        .iter()
        .map(|app| {
            let target = &app.targets[0];
            scope.get_or_insert_with(|| target.scope.to_string());
            serde_json::json!({
                "client_id": app.client_id,
                "client_secret_name": app.client_secret_name,
                "output_secret_name": target.secret_name,
            })
        })
        .collect();
    Ok(serde_json::json!({
        "input_vault": info["vaults"][crate::world::INPUT],
        "output_vault": info["vaults"][crate::world::OUTPUT],
        "tenant_id": crate::world::TENANT,
        "authority_host": info["authority_host"],
        "ca_file": info["ca_cert"],
        "client_id": crate::world::ROTATOR,
        "client_secret": crate::world::ROTATOR_SECRET,
        "scope": scope,
        "concurrency": concurrency,
        "write_interval_ms": write_interval_ms,
        "apps": apps,
    }))
}

/// The state letter of `/proc/PID/stat` (`R`, `S`, ... `Z` once exited and not yet reaped).
fn state(pid: &str) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}

pub(crate) struct Measured {
    pub stdout: String,
    pub exited_ok: bool,
    pub wall_s: f64,
    pub cpu_s: Option<f64>,
    pub hwm_kib: Option<u64>,
    pub anon_kib: Option<u64>,
}

/// Runs `cmd` to its end, reading its peak memory (VmHWM) every [`POLL`] while it runs, and its
/// CPU (user + system) once it has exited but is not yet reaped: a zombie keeps its CPU times in
/// `/proc/PID/stat` (its memory is gone by then, hence the polling).
pub(crate) fn run_measured(mut cmd: Command, what: &str) -> anyhow::Result<Measured> {
    let started = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).spawn()?;
    let pid = child.id().to_string();
    // Read while it runs: a report larger than the pipe's buffer would otherwise block the
    // child on its last write, and it would never exit.
    let mut out = child
        .stdout
        .take()
        .with_context(|| format!("the stdout of {what}"))?;
    let reader = std::thread::spawn(move || {
        let mut stdout = String::new();
        out.read_to_string(&mut stdout).map(|_| stdout)
    });
    let (mut hwm_kib, mut anon_kib) = (None, None);
    while !matches!(state(&pid), Some('Z') | None) {
        hwm_kib = hwm_kib.max(crate::measure::vm_hwm_kib(&pid));
        anon_kib = anon_kib.max(crate::measure::rss_anon_kib(&pid));
        std::thread::sleep(POLL);
    }
    let wall_s = started.elapsed().as_secs_f64();
    let cpu_s = crate::measure::cpu_secs(&pid);
    let stdout = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reading the stdout of {what} panicked"))??;
    let exited_ok = child.wait()?.success();
    Ok(Measured {
        stdout,
        exited_ok,
        wall_s,
        cpu_s,
        hwm_kib,
        anon_kib,
    })
}

/// Builds the Go baseline, resets the emulator's stats, runs it over the rotator's apps at
/// `concurrency` (its writes paced like the rotator's when `paced`), and collects its figures.
pub async fn run(
    admin: &reqwest::Client,
    authority: &str,
    info: &serde_json::Value,
    config_path: &Path,
    dir: &Path,
    concurrency: usize,
    paced: bool,
) -> anyhow::Result<Baseline> {
    let exe = build()?;
    let job_path = dir.join("go-baseline.json");
    let job = job(info, config_path, concurrency, paced)?;
    std::fs::write(&job_path, job.to_string())?;
    admin
        .post(format!("{authority}/_emulator/stats/reset"))
        .send()
        .await?
        .error_for_status()?;
    let mut cmd = Command::new(exe);
    cmd.arg(&job_path);
    let m = tokio::task::spawn_blocking(move || run_measured(cmd, "the Go baseline")).await??;
    let result: serde_json::Value = serde_json::from_str(m.stdout.trim())
        .with_context(|| format!("the Go baseline's output line {:?}", m.stdout))?;
    let count = |k: &str| result[k].as_u64().unwrap_or(0);
    let (written, failed) = (count("written"), count("failed"));
    if !m.exited_ok && failed == 0 {
        bail!("the Go baseline failed without counting a failed app");
    }
    let stats = crate::measure::Stats(
        admin
            .get(format!("{authority}/_emulator/stats"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?,
    );
    let sum = |pred: &dyn Fn(&str, &str, u64) -> bool| stats.count(pred);
    let is_vault = |s: &str| s == crate::world::INPUT || s == crate::world::OUTPUT;
    Ok(Baseline {
        side: Side {
            written,
            failed,
            cpu_s: m.cpu_s,
            hwm_kib: m.hwm_kib,
            anon_kib: m.anon_kib,
        },
        paced,
        first_error: result["first_error"].as_str().map(str::to_string),
        wall_s: m.wall_s,
        concurrency,
        kv_not_401: sum(&|s, _, st| is_vault(s) && st != 401),
        kv_401: sum(&|s, _, st| is_vault(s) && st == 401),
        kv_429: sum(&|s, _, st| is_vault(s) && st == 429),
        token_requests: sum(&|s, op, _| s == "login" && (op == "TokenV2" || op == "TokenV1")),
        login_all: sum(&|s, _, _| s == "login"),
    })
}

fn per_1000_tokens(side: &Side) -> Option<f64> {
    Some(side.cpu_s? / side.written as f64 * 1000.0)
}

fn mb_per_1000_apps(side: &Side, apps: usize) -> Option<f64> {
    Some(side.hwm_kib? as f64 / 1024.0 / (apps as f64 / 1000.0))
}

fn show(x: Option<f64>, digits: usize) -> String {
    x.filter(|x| x.is_finite())
        .map_or("?".into(), |x| format!("{x:.digits$}"))
}

/// Prints the Go run and the comparison with the rotator's cycle.
pub fn print(b: &Baseline, rotator: &Side, apps: usize) {
    let per = |x: u64| x as f64 / b.side.written as f64;
    println!(
        "baseline go: apps={apps} concurrency={} paced={} wall_time_s: {:.3} written={} failed={}{}",
        b.concurrency,
        b.paced,
        b.wall_s,
        b.side.written,
        b.side.failed,
        b.first_error
            .as_deref()
            .map(|e| format!(" first_error={e:?}"))
            .unwrap_or_default()
    );
    println!(
        "baseline go: kv_transactions_per_token: {:.4}  (all requests to both vaults with status != 401: {}; of them 429: {}; 401 challenges not counted: {})",
        per(b.kv_not_401),
        b.kv_not_401,
        b.kv_429,
        b.kv_401
    );
    println!(
        "baseline go: entra_token_requests_per_token: {:.4}  (TokenV2+TokenV1 incl. its own for Key Vault: {}; all login-host requests incl. discovery: {})",
        per(b.token_requests),
        b.token_requests,
        b.login_all
    );
    for (name, side) in [("rotator", rotator), ("go_baseline", &b.side)] {
        println!(
            "{name}: cpu_s_per_1000_written_tokens={} peak_mb_per_1000_apps={} (cpu_s={} vm_hwm_kib={} peak_rss_anon_kib={} written={} failed={})",
            show(per_1000_tokens(side), 3),
            show(mb_per_1000_apps(side, apps), 2),
            show(side.cpu_s, 2),
            side.hwm_kib.map_or("?".into(), |v| v.to_string()),
            side.anon_kib.map_or("?".into(), |v| v.to_string()),
            side.written,
            side.failed
        );
    }
    let ratio = |r: Option<f64>, g: Option<f64>| show(r.zip(g).map(|(r, g)| r / g), 2);
    println!(
        "rotator/baseline: cpu_per_token {} ; peak_memory {} ; peak_private_memory {}",
        ratio(per_1000_tokens(rotator), per_1000_tokens(&b.side)),
        ratio(
            rotator.hwm_kib.map(|v| v as f64),
            b.side.hwm_kib.map(|v| v as f64)
        ),
        ratio(
            rotator.anon_kib.map(|v| v as f64),
            b.side.anon_kib.map(|v| v as f64)
        )
    );
}
