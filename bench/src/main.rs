//! `akv-bench`: real akv-rotator runs over N apps against the emulator, with figures: one
//! `once` cycle (the default), or the daemon in steady state (`--daemon SECONDS`).
//!
//! The emulator runs in a child process (this same binary, `--emulator-child`), so the peak
//! memory printed for the rotator is the rotator's alone; the child's is printed beside it. The
//! parent seeds nothing itself: the child builds the same deterministic world from the same
//! arguments (`world`). Request counts come from the emulator's stats over its admin API.

#![forbid(unsafe_code)]

mod child;
mod daemon_mode;
mod measure;
mod world;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;

mod baseline;

use crate::child::Emulator;
use crate::measure::{budget_used, cpu_diff, cpu_secs, kib, listed, vm_hwm_kib};
use crate::world::{DaemonWorld, ROTATOR_SECRET, World};

/// Key Vault's published budget per vault for every secret transaction but CREATE ("Azure Key
/// Vault service limits": 4,000 per 10 s).
const BUDGET: f64 = 4000.0;
/// Key Vault's published budget per vault for CREATE secret (a `PUT`, a new version): 300 per
/// 10 s, counted apart from the others.
const WRITE_BUDGET: f64 = 300.0;
const WINDOW_SECS: f64 = 10.0;
/// `[daemon] relist_after` when the config leaves it out (`akv_rotator::config::DaemonConfig`).
const DEFAULT_RELIST_AFTER_SECS: u64 = 600;

#[derive(Parser, Debug)]
#[command(
    about = "Real akv-rotator runs (one cycle, or the daemon) over N apps against the emulator"
)]
pub struct Args {
    /// Number of apps (one client secret and one Power BI target each).
    #[arg(long, default_value_t = 1000)]
    apps: usize,
    /// Throttle every vault at Key Vault's published limits: 300 CREATE secret and 4,000 other
    /// transactions per 10 s, counted apart.
    #[arg(long)]
    throttle: bool,
    /// With `--throttle`: the older single budget (4,000 transactions of any kind per 10 s)
    /// instead, to compare with figures measured before the split model.
    #[arg(long, requires = "throttle")]
    single_budget: bool,
    /// Fault profile: none, flaky (5 % 503 and 1 % connection resets on reads, writes and
    /// token requests), latency (20 ms on every vault and token request).
    #[arg(long, default_value = "none")]
    faults: String,
    /// The rotator's `concurrency` setting (default: the config default).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Switch the rotator's write pacing off (shares far above 1, which the config would refuse),
    /// to measure what spreading the same work in time costs.
    #[arg(long)]
    unpaced: bool,
    /// Run the cycle as the real binary, `akv-rotator once --config … --output json`, in a
    /// process of its own, and measure that process as the Go baseline is measured. Without it
    /// the cycle runs in this process.
    #[arg(long, conflicts_with_all = ["unpaced", "daemon"])]
    rotator_process: bool,
    /// With `--rotator-process`: the binary to run. Default: `akv-rotator` beside this one
    /// (`cargo build --release`). The production image's build has no emulator inside
    /// (`--no-default-features`); see bench/README.md for building that one apart.
    #[arg(long, requires = "rotator_process")]
    rotator_exe: Option<PathBuf>,
    /// After the cycle, the same apps at the same concurrency through a lean Go program with the
    /// official Azure SDK for Go (bench/go-baseline, built with `go`), compared on CPU and memory;
    /// `go-paced`: its writes spaced like the rotator's (`[limits] vault_write_share`).
    #[arg(long, value_parser = ["go", "go-paced"])]
    baseline: Option<String>,
    /// Spread the targets over K output vaults `output-0` … `output-{K-1}` (app i writes to
    /// vault i % K) and print the write budget's minimum wall time. Absent: the one vault
    /// `output`, as before the flag.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1000))]
    output_vaults: Option<u64>,
    /// Steady-state mode: run the real daemon, warm it up (cold start plus one token lifetime),
    /// then measure SECONDS more.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(10..))]
    daemon: Option<u64>,
    /// With `--daemon`: lifetime of every token the emulator issues, in seconds
    /// (`refresh_before` is half of it).
    #[arg(long, default_value_t = 120, requires = "daemon", value_parser = clap::value_parser!(u64).range(2..))]
    token_lifetime: u64,
    /// With `--daemon`: `refresh_before` in seconds (default: half the token lifetime).
    #[arg(long, requires = "daemon", value_parser = clap::value_parser!(u64).range(1..))]
    refresh_before: Option<u64>,
    /// With `--daemon`: `[daemon] relist_after` in seconds. Default: the rotator's 10 minutes
    /// when the measured span holds two of them, else half the measured span (so that it
    /// shows a relisting).
    #[arg(long, requires = "daemon")]
    relist_after: Option<u64>,
    /// Internal: run the emulator and print its info line.
    #[arg(long, hide = true)]
    emulator_child: bool,
}

impl Args {
    fn world(&self) -> World {
        World {
            apps: self.apps,
            output_vaults: self.output_vaults.map(|k| k as usize),
            daemon: self.daemon.map(|seconds| DaemonWorld {
                token_lifetime_secs: self.token_lifetime,
                refresh_before_secs: self.refresh_before.unwrap_or(self.token_lifetime / 2),
                relist_after_secs: self.relist_after.unwrap_or(
                    if seconds >= 2 * DEFAULT_RELIST_AFTER_SECS {
                        DEFAULT_RELIST_AFTER_SECS
                    } else {
                        (seconds / 2).max(1)
                    },
                ),
            }),
        }
    }

    /// The arguments the emulator child needs to build the same world.
    fn child_args(&self) -> Vec<String> {
        let mut a = vec!["--apps".to_string(), self.apps.to_string()];
        if let Some(k) = self.output_vaults {
            a.extend(["--output-vaults".to_string(), k.to_string()]);
        }
        if let Some(s) = self.daemon {
            a.extend([
                "--daemon".to_string(),
                s.to_string(),
                "--token-lifetime".to_string(),
                self.token_lifetime.to_string(),
            ]);
        }
        a
    }

    fn throttle_text(&self) -> &'static str {
        match (self.throttle, self.single_budget) {
            (false, _) => "false",
            (true, false) => "true (writes 300 + others 4,000 per 10 s, apart)",
            (true, true) => "true (single budget: 4,000 per 10 s)",
        }
    }
}

/// The rotator runs in this process (without `--rotator-process`): the same allocator, with the
/// same built-in settings (`.cargo/config.toml`), as the `akv-rotator` binary.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let world = args.world();
    if args.emulator_child {
        return child::serve(&world).await;
    }
    // The rotator's log on stderr only when asked for (`RUST_LOG=warn`): the figures are the
    // output, and a daemon run logs every cycle.
    let _telemetry = std::env::var_os("RUST_LOG").map(|_| akv_rotator::telemetry::init());
    let rules = world.fault_rules(&args.faults)?;
    let emulator = Emulator::start(&args.child_args()).await?;

    let dir = std::env::temp_dir().join(format!("akv-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let secret_file = dir.join("rotator-secret");
    std::fs::write(&secret_file, ROTATOR_SECRET)?;
    let config_path: PathBuf = dir.join("rotator.toml");
    std::fs::write(
        &config_path,
        world
            .config_text(&emulator.info, args.concurrency)
            .replace("{SECRET_FILE}", &secret_file.display().to_string()),
    )?;

    // Admin API: throttle, faults.
    if args.throttle {
        for vault in world.vault_names() {
            let body = if args.single_budget {
                serde_json::json!({"service": vault, "throttle": {"requests": BUDGET as u64, "window_secs": WINDOW_SECS as u64}})
            } else {
                serde_json::json!({"service": vault, "limits": {"writes": WRITE_BUDGET as u64, "others": BUDGET as u64, "window_secs": WINDOW_SECS as u64}})
            };
            emulator.post("throttle", &body).await?;
        }
    }
    emulator.post("faults", &rules).await?;
    emulator.reset_stats().await?;

    let result = match args.daemon {
        Some(seconds) => daemon_mode::run(&args, &world, &emulator, &config_path, seconds).await,
        None => once(&args, &world, &emulator, &config_path).await,
    };
    emulator.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    if result? {
        std::process::exit(1);
    }
    Ok(())
}

/// One `once` cycle and its figures; `Ok(true)` when a target failed.
async fn once(
    args: &Args,
    world: &World,
    emulator: &Emulator,
    config_path: &std::path::Path,
) -> anyhow::Result<bool> {
    let child_pid = emulator.pid.as_str();
    let rss_before = vm_hwm_kib("self");
    let cpu_before = (cpu_secs("self"), cpu_secs(child_pid));

    // One cycle with the real library.
    let started = Instant::now();
    // In-process, the config is loaded and the cycle run on a worker thread of the bench's
    // runtime: polled inside `block_on` on the main thread, every paced request cost extra
    // thread wake-ups, and the config's memory sat in another allocator arena than the cycle's.
    // The `akv-rotator` binary runs its commands on one thread (`runtime_for` in src/main.rs);
    // `--rotator-process` measures that.
    let run = if args.rotator_process {
        rotator_process(args.rotator_exe.clone(), config_path).await?
    } else {
        rotator_in_process(args, config_path).await?
    };
    let (concurrency, write_share) = (run.concurrency, run.write_share);
    let wall = started.elapsed().as_secs_f64();
    // A process of its own is measured from its /proc entry or not at all: the bench's own
    // figure would pass for the rotator's.
    let rotator_hwm = if args.rotator_process {
        run.hwm_kib
    } else {
        vm_hwm_kib("self")
    };

    let stats = emulator.stats().await?;
    let emulator_hwm = vm_hwm_kib(child_pid);
    let cpu_after = (cpu_secs("self"), cpu_secs(child_pid));
    let baseline = match args.baseline.as_deref() {
        Some(kind) => {
            if world.output_names().len() > 1 {
                anyhow::bail!("--baseline runs over one output vault: leave out --output-vaults");
            }
            let dir = config_path.parent().unwrap_or(std::path::Path::new("."));
            let run = baseline::run(
                &emulator.admin,
                &emulator.authority,
                &emulator.info,
                config_path,
                dir,
                concurrency,
                kind == "go-paced",
            );
            Some(run.await?)
        }
        None => None,
    };

    let (mut written, mut failed, mut other) = (0u64, 0u64, 0u64);
    let mut classes: BTreeMap<String, u64> = BTreeMap::new();
    // Each target's outcome, and for a failure its error class and "secret: message".
    type Outcome = (String, Option<(String, String)>);
    let outcomes: Vec<Outcome> = match &run.report {
        CycleOutput::InProcess(report) => report
            .targets
            .iter()
            .map(|t| {
                let outcome = serde_json::to_value(t.outcome)?;
                let error = t
                    .error
                    .as_ref()
                    .map(|e| (e.class.to_string(), format!("{}: {}", t.secret, e.message)));
                anyhow::Ok((outcome.as_str().unwrap_or_default().to_string(), error))
            })
            .collect::<Result<_, _>>()?,
        CycleOutput::Json(report) => report["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                let outcome = t["outcome"].as_str().unwrap_or_default().to_string();
                let error = t["error"]["class"].as_str().map(|class| {
                    let secret = t["secret"].as_str().unwrap_or("?");
                    let message = t["error"]["message"].as_str().unwrap_or("?");
                    (class.to_string(), format!("{secret}: {message}"))
                });
                (outcome, error)
            })
            .collect(),
    };
    // The first few failures in full: a rare one must be explainable from the output alone.
    let mut first_failures = Vec::new();
    for (outcome, error) in outcomes {
        match outcome.as_str() {
            "written" => written += 1,
            "failed" => {
                failed += 1;
                if let Some((class, message)) = error {
                    *classes.entry(class.clone()).or_default() += 1;
                    if first_failures.len() < 5 {
                        first_failures.push(format!("{class} ({message})"));
                    }
                }
            }
            _ => other += 1,
        }
    }
    let vaults: BTreeSet<String> = world.vault_names().into_iter().collect();
    let is_vault = |s: &str| vaults.contains(s);
    let kv_not_401 = stats.count(|s, _, st| is_vault(s) && st != 401);
    let kv_401 = stats.count(|s, _, st| is_vault(s) && st == 401);
    let kv_429 = stats.count(|s, _, st| is_vault(s) && st == 429);
    let token_requests =
        stats.count(|s, op, _| s == "login" && (op == "TokenV2" || op == "TokenV1"));
    let login_all = stats.count(|s, _, _| s == "login");
    let per = |x: u64| {
        if written == 0 {
            f64::NAN
        } else {
            x as f64 / written as f64
        }
    };

    println!(
        "akv-bench: apps={} concurrency={concurrency} throttle={} faults={}{}{}",
        args.apps,
        args.throttle_text(),
        args.faults,
        args.output_vaults
            .map(|k| format!(" output_vaults={k}"))
            .unwrap_or_default(),
        if args.unpaced { " pacing=off" } else { "" },
    );
    if args.rotator_process {
        println!(
            "rotator: `{} once --output json` in a process of its own",
            args.rotator_exe
                .as_deref()
                .map_or("akv-rotator".into(), |p| p.display().to_string())
        );
    }
    println!("wall_time_s: {wall:.3}");
    println!("targets: written={written} failed={failed} other={other} failed_classes={classes:?}");
    for failure in &first_failures {
        println!("failed_target: {failure}");
    }
    println!("tokens_per_s: {:.1}", written as f64 / wall);
    println!(
        "kv_transactions_per_token: {:.4}  (all requests to {} vaults with status != 401: {kv_not_401}; of them 429: {kv_429}; 401 challenges not counted: {kv_401})",
        per(kv_not_401),
        if vaults.len() == 2 { "both" } else { "all" },
    );
    println!(
        "kv_transactions_per_token_excluding_429: {:.4}",
        per(kv_not_401 - kv_429)
    );
    println!(
        "entra_token_requests_per_token: {:.4}  (TokenV2+TokenV1 incl. the rotator's own: {token_requests}; all login-host requests incl. discovery/JWKS: {login_all})",
        per(token_requests)
    );
    for vault in world.vault_names() {
        let vault = vault.as_str();
        let accepted = stats.count(|s, _, st| s == vault && st != 401 && st != 429);
        let rate = accepted as f64 / wall * WINDOW_SECS;
        if !args.throttle {
            println!(
                "vault {vault}: accepted transactions (status != 401, != 429) {accepted}, {rate:.1} per 10 s = {:.1} % of the 4,000 / 10 s budget (unthrottled: the rate the cycle drives)",
                rate / BUDGET * 100.0
            );
            let writes = stats.writes(vault);
            let write_rate = writes as f64 / wall * WINDOW_SECS;
            println!(
                "vault {vault}: accepted writes (SecretSet, 2xx) {writes}, {write_rate:.1} per 10 s = {:.1} % of the 300 / 10 s write budget (unthrottled: the rate the cycle drives)",
                write_rate / WRITE_BUDGET * 100.0
            );
            continue;
        }
        print_throttle_windows(args, &stats, vault, &format!(" in {wall:.3} s"), accepted);
    }
    if let Some(k) = args.output_vaults {
        // Each vault takes at most 300 × share writes per 10 s, i.e. 30 × share per second.
        let minimum = args.apps as f64 / (30.0 * write_share * k as f64);
        println!(
            "write_budget_minimum_s: {minimum:.1}  (N / (30 × share × K) = {} / (30 × {write_share} × {k}))",
            args.apps
        );
        println!(
            "wall_time_vs_minimum: {:+.1} %",
            (wall / minimum - 1.0) * 100.0
        );
    }
    // A client that keeps connections alive opens a few per host whatever N is.
    println!(
        "connections_accepted (TLS handshakes) per listener: {}",
        stats.0["connections"]
            .as_object()
            .map(|m| m
                .iter()
                .map(|(k, v)| format!("{k} {} ({})", v["accepted"], v["tls_handshakes"]))
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default()
    );
    let rotator_cpu = match run.cpu_s {
        Some(process) => Some(process),
        None => cpu_before.0.zip(cpu_after.0).map(|(a, b)| b - a),
    };
    println!(
        "peak_memory: rotator process VmHWM {} KiB (before the cycle {}); emulator child VmHWM {} KiB",
        kib(rotator_hwm),
        if args.rotator_process {
            format!(
                "-: a process of its own; its largest RssAnon polled {} KiB",
                run.anon_kib.map_or("?".into(), |v| v.to_string())
            )
        } else {
            format!("{} KiB", kib(rss_before))
        },
        kib(emulator_hwm),
    );
    println!(
        "cpu_during_cycle_s: rotator {} ; emulator child {}",
        rotator_cpu.map_or("?".to_string(), |c| format!("{c:.2}")),
        cpu_diff(cpu_before.1, cpu_after.1)
    );
    if let Some(b) = &baseline {
        let cpu_s = rotator_cpu;
        let rotator = baseline::Side {
            written,
            failed,
            cpu_s,
            hwm_kib: rotator_hwm,
            anon_kib: run.anon_kib,
        };
        baseline::print(b, &rotator, args.apps);
    }
    Ok(failed > 0 || baseline.is_some_and(|b| b.side.failed > 0))
}

/// The cycle's report: the library's, or the binary's JSON (`targets[].outcome`,
/// `targets[].error.class`).
enum CycleOutput {
    InProcess(Box<akv_rotator::report::CycleReport>),
    Json(serde_json::Value),
}

/// One cycle's outcome as the bench reads it.
struct RotatorRun {
    report: CycleOutput,
    concurrency: usize,
    write_share: f64,
    /// Measured on the rotator's own process (`--rotator-process`); `None`: this process.
    hwm_kib: Option<u64>,
    anon_kib: Option<u64>,
    cpu_s: Option<f64>,
}

/// The config loaded and the cycle run on a worker thread of the bench's runtime (see the call).
async fn rotator_in_process(
    args: &Args,
    config_path: &std::path::Path,
) -> anyhow::Result<RotatorRun> {
    let (unpaced, path) = (args.unpaced, config_path.to_path_buf());
    let (report, concurrency, write_share) = tokio::spawn(async move {
        let mut config = akv_rotator::config::load(&path)?;
        if unpaced {
            config.limits.write_share = 1e6;
            config.limits.read_share = 1e6;
        }
        let concurrency = config.concurrency;
        let write_share = config.limits.write_share;
        let cycle = akv_rotator::cycle::Cycle::new(config)?;
        let report = akv_rotator::commands::once::run_once(&cycle, Default::default()).await?;
        anyhow::Ok((report, concurrency, write_share))
    })
    .await??;
    Ok(RotatorRun {
        report: CycleOutput::InProcess(Box::new(report)),
        concurrency,
        write_share,
        hwm_kib: None,
        anon_kib: None,
        cpu_s: None,
    })
}

/// `akv-rotator once --config PATH --output json`, measured as its own process.
async fn rotator_process(
    exe: Option<PathBuf>,
    config_path: &std::path::Path,
) -> anyhow::Result<RotatorRun> {
    let exe = match exe {
        Some(exe) => exe,
        None => std::env::current_exe()?.with_file_name("akv-rotator"),
    };
    if !exe.is_file() {
        anyhow::bail!(
            "--rotator-process runs {}, which is not there: build it first (`cargo build --release`, or see bench/README.md for the production build)",
            exe.display()
        );
    }
    let config = akv_rotator::config::load(config_path)?;
    let (concurrency, write_share) = (config.concurrency, config.limits.write_share);
    drop(config);
    let mut cmd = std::process::Command::new(&exe);
    cmd.arg("once")
        .arg("--config")
        .arg(config_path)
        .args(["--output", "json"]);
    // As in this process: the rotator's log only when asked for (`RUST_LOG`).
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "off")
            .stderr(std::process::Stdio::null());
    }
    let m = tokio::task::spawn_blocking(move || baseline::run_measured(cmd, "akv-rotator once"))
        .await??;
    let report: serde_json::Value = serde_json::from_str(&m.stdout).map_err(|e| {
        anyhow::anyhow!(
            "akv-rotator once printed no JSON report ({e}); exit ok: {}",
            m.exited_ok
        )
    })?;
    Ok(RotatorRun {
        report: CycleOutput::Json(report),
        concurrency,
        write_share,
        hwm_kib: m.hwm_kib,
        anon_kib: m.anon_kib,
        cpu_s: m.cpu_s,
    })
}

/// A throttled vault's windows and the share of each budget used (`span` follows "accepted …").
fn print_throttle_windows(
    args: &Args,
    stats: &measure::Stats,
    vault: &str,
    span: &str,
    accepted: u64,
) {
    let others = stats.windows("throttle_windows", vault);
    let others_name = if args.single_budget {
        "throttle windows (every transaction)"
    } else {
        "other-transaction windows (not CREATE)"
    };
    println!(
        "vault {vault}: accepted transactions (status != 401, != 429) {accepted}{span}; {others_name}, accepted/refused, the last still open at the end: [{}]",
        listed(&others)
    );
    println!(
        "vault {vault}: budget_used: {}",
        budget_used(&others, BUDGET)
    );
    if !args.single_budget {
        let writes = stats.windows("write_windows", vault);
        println!(
            "vault {vault}: write windows (CREATE secret), accepted/refused, the last still open at the end: [{}]",
            listed(&writes)
        );
        println!(
            "vault {vault}: write_budget_used: {}",
            budget_used(&writes, WRITE_BUDGET)
        );
    }
}
