//! `akv-bench`: one real akv-rotator cycle over N apps against the emulator, with figures.
//!
//! The emulator runs in a child process (this same binary, `--emulator-child`), so the peak
//! memory printed for the rotator is the rotator's alone; the child's is printed beside it. The
//! parent seeds nothing itself: the child builds the same deterministic world from `--apps`.
//! Request counts come from the emulator's stats over its admin API.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;

use akv_emulator::{
    AppSeed, ClientSecretSeed, EmulatorOptions, PermissionSeed, SecretSeed, Seed, TenantSeed,
    VaultSeed,
};
use anyhow::{Context, bail};
use clap::Parser;
use time::OffsetDateTime;
use tokio::io::{AsyncBufReadExt, BufReader};

mod baseline;

const TENANT: &str = "11111111-2222-4333-8444-555555555555";
const ROTATOR: &str = "00000000-aaaa-4bbb-8ccc-000000000001";
const ROTATOR_SECRET: &str = "bench-rotator-secret~0123456789abcdef";
const POWERBI: &str = "https://analysis.windows.net/powerbi/api";
const INPUT: &str = "input";
const OUTPUT: &str = "output";
/// Key Vault's published budget per vault for every secret transaction but CREATE ("Azure Key
/// Vault service limits": 4,000 per 10 s).
const BUDGET: f64 = 4000.0;
/// Key Vault's published budget per vault for CREATE secret (a `PUT`, a new version): 300 per
/// 10 s, counted apart from the others.
const WRITE_BUDGET: f64 = 300.0;
const WINDOW_SECS: f64 = 10.0;

#[derive(Parser, Debug)]
#[command(about = "One akv-rotator cycle over N apps against the emulator")]
struct Args {
    /// Number of apps (one client secret and one Power BI target each).
    #[arg(long, default_value_t = 1000)]
    apps: usize,
    /// Throttle both vaults at Key Vault's published limits: 300 CREATE secret and 4,000 other
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
    /// After the cycle, the same apps at the same concurrency through a lean Go program with the
    /// official Azure SDK for Go (bench/go-baseline, built with `go`), compared on CPU and memory;
    /// `go-paced`: its writes spaced like the rotator's (`[limits] vault_write_share`).
    #[arg(long, value_parser = ["go", "go-paced"])]
    baseline: Option<String>,
    /// Internal: run the emulator and print its info line.
    #[arg(long, hide = true)]
    emulator_child: bool,
}

fn client_id(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", i + 1, i + 1)
}

fn seed(n: usize) -> Seed {
    let now = OffsetDateTime::now_utc();
    let year = time::Duration::days(365);
    let mut apps = vec![AppSeed {
        client_id: ROTATOR.into(),
        display_name: Some("rotator".into()),
        secrets: vec![ClientSecretSeed {
            value: ROTATOR_SECRET.into(),
            end: Some(now + year),
            ..Default::default()
        }],
        ..Default::default()
    }];
    let mut secrets = Vec::with_capacity(n);
    for i in 0..n {
        let value = format!("bench-secret-{i}~0123456789abcdef");
        apps.push(AppSeed {
            client_id: client_id(i),
            display_name: Some(format!("app-{i}")),
            secrets: vec![ClientSecretSeed {
                value: value.clone(),
                end: Some(now + year),
                ..Default::default()
            }],
            roles: [(POWERBI.to_string(), vec!["Tenant.Read.All".to_string()])].into(),
            ..Default::default()
        });
        secrets.push(SecretSeed {
            name: format!("app-{i}-client-secret"),
            value,
            content_type: None,
            enabled: true,
            nbf: None,
            exp: Some(now + year),
            tags: BTreeMap::new(),
        });
    }
    let perm = |read, write| PermissionSeed {
        principal: ROTATOR.into(),
        read,
        write,
        secrets: None,
    };
    Seed {
        tenants: vec![TenantSeed {
            id: TENANT.into(),
            apps,
        }],
        vaults: vec![
            VaultSeed {
                name: INPUT.into(),
                tenant_id: TENANT.into(),
                permissions: vec![perm(true, false)],
                secrets,
            },
            VaultSeed {
                name: OUTPUT.into(),
                tenant_id: TENANT.into(),
                permissions: vec![perm(true, true)],
                secrets: vec![],
            },
        ],
        ..Default::default()
    }
}

/// The emulator child: start, print one info line, serve until stdin closes.
async fn emulator_child(n: usize) -> anyhow::Result<()> {
    let handle = akv_emulator::start(EmulatorOptions {
        seed: seed(n),
        ..Default::default()
    })
    .await?;
    println!("{}", handle.info());
    // Serve until the parent closes our stdin (or dies).
    let _ = tokio::task::spawn_blocking(|| {
        use std::io::Read;
        let mut sink = Vec::new();
        std::io::stdin().read_to_end(&mut sink)
    })
    .await;
    handle.shutdown().await;
    Ok(())
}

/// User + system CPU seconds of a process so far (from /proc/PID/stat, 100 ticks a second).
fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// VmHWM (peak resident set) of a process, in KiB.
fn vm_hwm_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn config_text(info: &serde_json::Value, n: usize, concurrency: Option<usize>) -> String {
    let input = info["vaults"][INPUT].as_str().unwrap_or_default();
    let output = info["vaults"][OUTPUT].as_str().unwrap_or_default();
    let mut s = format!(
        "cloud = \"custom\"\nca_file = \"{ca}\"\nvault = \"{output}\"\nrefresh_before = \"30m\"\n{conc}\n[custom_cloud]\nauthority_host = \"{auth}\"\n\n[credential]\nkind = \"client-secret\"\ntenant_id = \"{TENANT}\"\nclient_id = \"{ROTATOR}\"\nclient_secret_file = \"{{SECRET_FILE}}\"\n",
        ca = info["ca_cert"].as_str().unwrap_or_default(),
        auth = info["authority_host"].as_str().unwrap_or_default(),
        conc = concurrency
            .map(|c| format!("concurrency = {c}\n"))
            .unwrap_or_default(),
    );
    for i in 0..n {
        s.push_str(&format!(
            "\n[[apps]]\nname = \"app-{i}\"\ntenant_id = \"{TENANT}\"\nclient_id = \"{}\"\nclient_secret_name = \"app-{i}-client-secret\"\nvault = \"{input}\"\n\n[[apps.targets]]\nscope = \"{POWERBI}/.default\"\nsecret = \"app-{i}-powerbi-token\"\n",
            client_id(i)
        ));
    }
    s
}

fn fault_rules(profile: &str) -> anyhow::Result<serde_json::Value> {
    use serde_json::json;
    Ok(match profile {
        "none" => json!([]),
        "flaky" => {
            let mut rules = Vec::new();
            for (service, op) in [
                (INPUT, "SecretGet"),
                (OUTPUT, "SecretSet"),
                ("login", "TokenV2"),
            ] {
                rules.push(json!({"service": service, "operation": op, "kind": {"type": "connection_reset"}, "probability": 0.01}));
                rules.push(json!({"service": service, "operation": op, "kind": {"type": "status", "code": 503}, "probability": 0.05}));
            }
            json!(rules)
        }
        "latency" => json!([
            {"service": INPUT, "kind": {"type": "latency", "ms": 20}},
            {"service": OUTPUT, "kind": {"type": "latency", "ms": 20}},
            {"service": "login", "operation": "TokenV2", "kind": {"type": "latency", "ms": 20}},
        ]),
        other => bail!("unknown fault profile {other:?} (none, flaky, latency)"),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.emulator_child {
        return emulator_child(args.apps).await;
    }
    let rules = fault_rules(&args.faults)?;

    // The emulator in a child process.
    let exe = std::env::current_exe()?;
    let mut child = tokio::process::Command::new(exe)
        .args(["--emulator-child", "--apps", &args.apps.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the emulator child")?;
    let child_pid = child.id().map(|p| p.to_string()).unwrap_or_default();
    let stdout = child.stdout.take().context("child stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).await?;
    let info: serde_json::Value =
        serde_json::from_str(&line).context("the emulator child's info line")?;

    let dir = std::env::temp_dir().join(format!("akv-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let secret_file = dir.join("rotator-secret");
    std::fs::write(&secret_file, ROTATOR_SECRET)?;
    let config_path: PathBuf = dir.join("rotator.toml");
    std::fs::write(
        &config_path,
        config_text(&info, args.apps, args.concurrency)
            .replace("{SECRET_FILE}", &secret_file.display().to_string()),
    )?;

    // Admin API: throttle, faults, stats.
    let authority = info["authority_host"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ca = std::fs::read(info["ca_cert"].as_str().unwrap_or_default())?;
    let admin = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
        .build()?;
    if args.throttle {
        for vault in [INPUT, OUTPUT] {
            let body = if args.single_budget {
                serde_json::json!({"service": vault, "throttle": {"requests": BUDGET as u64, "window_secs": WINDOW_SECS as u64}})
            } else {
                serde_json::json!({"service": vault, "limits": {"writes": WRITE_BUDGET as u64, "others": BUDGET as u64, "window_secs": WINDOW_SECS as u64}})
            };
            admin
                .post(format!("{authority}/_emulator/throttle"))
                .json(&body)
                .send()
                .await?
                .error_for_status()?;
        }
    }
    admin
        .post(format!("{authority}/_emulator/faults"))
        .json(&rules)
        .send()
        .await?
        .error_for_status()?;
    admin
        .post(format!("{authority}/_emulator/stats/reset"))
        .send()
        .await?
        .error_for_status()?;
    let rss_before = vm_hwm_kib("self");
    let cpu_before = (cpu_secs("self"), cpu_secs(&child_pid));

    // One cycle with the real library.
    let started = Instant::now();
    let mut config = akv_rotator::config::load(&config_path)?;
    if args.unpaced {
        config.limits.write_share = 1e6;
        config.limits.read_share = 1e6;
    }
    let concurrency = config.concurrency;
    let rotator = std::sync::Arc::new(akv_rotator::cycle::Cycle::new(config)?);
    // On a worker thread, as the `akv-rotator` binary runs its commands (`on_workers` in
    // src/main.rs): polled inside `block_on` on the main thread, every paced request cost
    // extra thread wake-ups.
    let cycle = rotator.clone();
    let report = tokio::spawn(async move {
        akv_rotator::commands::once::run_once(&cycle, Default::default()).await
    })
    .await??;
    let wall = started.elapsed().as_secs_f64();
    let rotator_hwm = vm_hwm_kib("self");

    let stats: serde_json::Value = admin
        .get(format!("{authority}/_emulator/stats"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let emulator_hwm = vm_hwm_kib(&child_pid);
    let cpu_after = (cpu_secs("self"), cpu_secs(&child_pid));
    let baseline = match args.baseline.as_deref() {
        Some(kind) => {
            let paced = kind == "go-paced";
            let run = baseline::run(
                &admin,
                &authority,
                &info,
                &config_path,
                &dir,
                concurrency,
                paced,
            );
            Some(run.await?)
        }
        None => None,
    };
    drop(child.stdin.take());
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait()).await;
    let _ = std::fs::remove_dir_all(&dir);

    let (mut written, mut failed, mut other) = (0u64, 0u64, 0u64);
    let mut classes: BTreeMap<String, u64> = BTreeMap::new();
    for t in &report.targets {
        match serde_json::to_value(t.outcome)?.as_str() {
            Some("written") => written += 1,
            Some("failed") => {
                failed += 1;
                if let Some(e) = &t.error {
                    *classes.entry(e.class.to_string()).or_default() += 1;
                }
            }
            _ => other += 1,
        }
    }
    let entries = stats["entries"].as_array().cloned().unwrap_or_default();
    let count = |pred: &dyn Fn(&str, &str, u64) -> bool| -> u64 {
        entries
            .iter()
            .filter(|e| {
                pred(
                    e["service"].as_str().unwrap_or(""),
                    e["operation"].as_str().unwrap_or(""),
                    e["status"].as_u64().unwrap_or(0),
                )
            })
            .map(|e| e["count"].as_u64().unwrap_or(0))
            .sum()
    };
    let is_vault = |s: &str| s == INPUT || s == OUTPUT;
    let kv_not_401 = count(&|s, _, st| is_vault(s) && st != 401);
    let kv_401 = count(&|s, _, st| is_vault(s) && st == 401);
    let kv_429 = count(&|s, _, st| is_vault(s) && st == 429);
    let token_requests = count(&|s, op, _| s == "login" && (op == "TokenV2" || op == "TokenV1"));
    let login_all = count(&|s, _, _| s == "login");
    let per = |x: u64| {
        if written == 0 {
            f64::NAN
        } else {
            x as f64 / written as f64
        }
    };

    println!(
        "akv-bench: apps={} concurrency={concurrency} throttle={} faults={}{}",
        args.apps,
        match (args.throttle, args.single_budget) {
            (false, _) => "false",
            (true, false) => "true (writes 300 + others 4,000 per 10 s, apart)",
            (true, true) => "true (single budget: 4,000 per 10 s)",
        },
        args.faults,
        if args.unpaced { " pacing=off" } else { "" }
    );
    println!("wall_time_s: {wall:.3}");
    println!("targets: written={written} failed={failed} other={other} failed_classes={classes:?}");
    println!("tokens_per_s: {:.1}", written as f64 / wall);
    println!(
        "kv_transactions_per_token: {:.4}  (all requests to both vaults with status != 401: {kv_not_401}; of them 429: {kv_429}; 401 challenges not counted: {kv_401})",
        per(kv_not_401)
    );
    println!(
        "kv_transactions_per_token_excluding_429: {:.4}",
        per(kv_not_401 - kv_429)
    );
    println!(
        "entra_token_requests_per_token: {:.4}  (TokenV2+TokenV1 incl. the rotator's own: {token_requests}; all login-host requests incl. discovery/JWKS: {login_all})",
        per(token_requests)
    );
    for vault in [INPUT, OUTPUT] {
        let accepted = count(&|s, _, st| s == vault && st != 401 && st != 429);
        let rate = accepted as f64 / wall * WINDOW_SECS;
        if !args.throttle {
            println!(
                "vault {vault}: accepted transactions (status != 401, != 429) {accepted}, {rate:.1} per 10 s = {:.1} % of the 4,000 / 10 s budget (unthrottled: the rate the cycle drives)",
                rate / BUDGET * 100.0
            );
            let writes =
                count(&|s, op, st| s == vault && op == "SecretSet" && (200..300).contains(&st));
            let write_rate = writes as f64 / wall * WINDOW_SECS;
            println!(
                "vault {vault}: accepted writes (SecretSet, 2xx) {writes}, {write_rate:.1} per 10 s = {:.1} % of the 300 / 10 s write budget (unthrottled: the rate the cycle drives)",
                write_rate / WRITE_BUDGET * 100.0
            );
            continue;
        }
        let windows = |kind: &str| stats[kind][vault].as_array().cloned().unwrap_or_default();
        let listed = |windows: &[serde_json::Value]| {
            let field = |w: &serde_json::Value, k: &str| w[k].as_u64().unwrap_or(0);
            windows
                .iter()
                .map(|w| format!("{}/{}", field(w, "accepted"), field(w, "rejected")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let others = windows("throttle_windows");
        let others_name = if args.single_budget {
            "throttle windows (every transaction)"
        } else {
            "other-transaction windows (not CREATE)"
        };
        println!(
            "vault {vault}: accepted transactions (status != 401, != 429) {accepted} in {wall:.3} s; {others_name}, accepted/refused, the last still open at the end: [{}]",
            listed(&others)
        );
        println!(
            "vault {vault}: budget_used: {}",
            budget_used(&others, BUDGET)
        );
        if !args.single_budget {
            let writes = windows("write_windows");
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
    // A client that keeps connections alive opens a few per host whatever N is.
    println!(
        "connections_accepted (TLS handshakes) per listener: {}",
        stats["connections"]
            .as_object()
            .map(|m| m
                .iter()
                .map(|(k, v)| format!("{k} {} ({})", v["accepted"], v["tls_handshakes"]))
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default()
    );
    println!(
        "peak_memory: rotator process VmHWM {} KiB (before the cycle {} KiB); emulator child VmHWM {} KiB",
        rotator_hwm.map(|v| v.to_string()).unwrap_or("?".into()),
        rss_before.map(|v| v.to_string()).unwrap_or("?".into()),
        emulator_hwm.map(|v| v.to_string()).unwrap_or("?".into()),
    );
    let diff = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.2}", b - a),
        _ => "?".into(),
    };
    println!(
        "cpu_during_cycle_s: rotator {} ; emulator child {}",
        diff(cpu_before.0, cpu_after.0),
        diff(cpu_before.1, cpu_after.1)
    );
    if let Some(b) = &baseline {
        let cpu_s = cpu_before.0.zip(cpu_after.0).map(|(a, b)| b - a);
        let rotator = baseline::Side {
            written,
            failed,
            cpu_s,
            hwm_kib: rotator_hwm,
        };
        baseline::print(b, &rotator, args.apps);
    }
    if failed > 0 || baseline.is_some_and(|b| b.side.failed > 0) {
        std::process::exit(1);
    }
    Ok(())
}

/// The share of the throttle's budget the cycle used while it had work: the transactions
/// accepted in the windows that closed during the cycle, over the budget of the time from the
/// first window's opening to the last one's (so an idle gap between windows counts as unused).
/// The last window is left out: the cycle ran out of work in it. `budget` is the limit of one
/// window (4,000 for other transactions, 300 for writes).
fn budget_used(windows: &[serde_json::Value], budget: f64) -> String {
    let field = |w: &serde_json::Value, k: &str| w[k].as_u64().unwrap_or(0);
    let Some((last, closed)) = windows.split_last() else {
        return "no request counted against this budget".into();
    };
    if closed.is_empty() {
        return format!(
            "the cycle finished within one window ({} accepted); no closed window to judge",
            field(last, "accepted")
        );
    }
    let span_s = (field(last, "start_ms") - field(&closed[0], "start_ms")) as f64 / 1000.0;
    let window_s = field(last, "window_secs").max(1) as f64;
    let used: u64 = closed.iter().map(|w| field(w, "accepted")).sum();
    let capacity = budget * span_s / window_s;
    format!(
        "{:.1} % ({used} accepted in the {} closed windows, spanning {span_s:.3} s from the first window's opening to the last's = a budget of {capacity:.0})",
        used as f64 / capacity * 100.0,
        closed.len()
    )
}
