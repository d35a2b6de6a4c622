//! The `akv-rotator` binary: parse the CLI, start telemetry, run a library command, map the
//! result to an exit code (0 ok, 1 some target failed, 2 configuration or setup problem).

use std::io::IsTerminal;
use std::process::ExitCode;

use akv_rotator::cli::{Cli, Command, OutputFormat, ShardArgs, StatusFormat};
use akv_rotator::config::{self, ValidConfig};
use akv_rotator::cycle::{CycleOptions, Rotator, Shard};
use akv_rotator::report::status::Status;
use akv_rotator::{exit, telemetry};
use clap::Parser;

/// Writes to stdout; a reader that went away (`| head`) ends the output quietly, not with a
/// panic.
fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: cannot write the output: {e}");
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before the runtime: the OTLP exporters use blocking clients on their own threads.
    let telemetry = if is_demo(&cli) {
        telemetry::init_with_default("error")
    } else {
        telemetry::init()
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::SETUP as u8);
        }
    };
    let code = runtime.block_on(run(cli));
    drop(runtime);
    telemetry.shutdown();
    ExitCode::from(code as u8)
}

#[cfg(feature = "emulator")]
fn is_demo(cli: &Cli) -> bool {
    matches!(cli.command, Command::Demo { .. })
}

#[cfg(not(feature = "emulator"))]
fn is_demo(_: &Cli) -> bool {
    false
}

fn load(path: &std::path::Path) -> Result<ValidConfig, i32> {
    config::load(path).map_err(|e| {
        eprintln!("error: {e}");
        exit::SETUP
    })
}

/// `--shard I/C`, or `--shard-count C` / `[shard] count` with the index from
/// `JOB_COMPLETION_INDEX`.
fn shard(args: &ShardArgs, cfg: &ValidConfig) -> Result<Option<Shard>, i32> {
    let fail = |msg: String| {
        eprintln!("error: {msg}");
        exit::SETUP
    };
    if let Some(text) = &args.shard {
        return Shard::parse(text).map(Some).map_err(fail);
    }
    let Some(count) = args.shard_count.or(cfg.shard_count) else {
        return Ok(None);
    };
    let index = std::env::var("JOB_COMPLETION_INDEX").map_err(|_| {
        fail(format!(
            "sharding into {count} needs JOB_COMPLETION_INDEX (set by Kubernetes Indexed Jobs) or --shard INDEX/COUNT"
        ))
    })?;
    let index: u32 = index
        .trim()
        .parse()
        .map_err(|_| fail(format!("JOB_COMPLETION_INDEX {index:?} is not a number")))?;
    Shard::new(index, count).map(Some).map_err(fail)
}

/// Loads the config and picks this process's shard (`once` and `run`).
fn load_sharded(
    path: &std::path::Path,
    args: &ShardArgs,
) -> Result<(ValidConfig, Option<Shard>), i32> {
    let cfg = load(path)?;
    let shard = shard(args, &cfg)?;
    Ok((cfg, shard))
}

fn rotator(cfg: ValidConfig) -> Result<Rotator, i32> {
    Rotator::new(cfg).map_err(|e| {
        eprintln!("error: {e}");
        exit::SETUP
    })
}

async fn run(cli: Cli) -> i32 {
    command(cli).await.unwrap_or_else(|code| code)
}

/// The exit code of a command; `Err` carries the exit code of a setup failure already reported.
async fn command(cli: Cli) -> Result<i32, i32> {
    match cli.command {
        Command::Once {
            config,
            output,
            dry_run,
            fail_on,
            shard: shard_args,
        } => {
            let (cfg, shard) = load_sharded(&config, &shard_args)?;
            let rotator = rotator(cfg)?;
            // A progress bar only for people watching a terminal table.
            let progress =
                (output == OutputFormat::Table && std::io::stderr().is_terminal()).then(|| {
                    let bar = indicatif::ProgressBar::new(0);
                    bar.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{spinner} {bar:40} {pos}/{len} apps {elapsed}",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                    bar
                });
            let options = CycleOptions {
                dry_run,
                shard,
                progress: progress.clone(),
                ..Default::default()
            };
            let result = rotator.run_cycle(options).await;
            if let Some(bar) = progress {
                bar.finish_and_clear();
            }
            let report = result.map_err(|e| {
                eprintln!("error: {e}");
                exit::SETUP
            })?;
            match output {
                OutputFormat::Json => out(&format!("{}\n", report.to_json())),
                OutputFormat::Table => out(&report.to_table()),
            }
            Ok(report.exit_code(fail_on))
        }
        Command::Run {
            config,
            shard: shard_args,
        } => {
            let (cfg, shard) = load_sharded(&config, &shard_args)?;
            let signal = akv_rotator::daemon::termination_signal();
            Ok(akv_rotator::daemon::run(cfg, shard, signal).await)
        }
        Command::Status { config, output } => {
            let cfg = load(&config)?;
            let thresholds = cfg.thresholds;
            let rotator = rotator(cfg)?;
            let options = CycleOptions {
                dry_run: true,
                ..Default::default()
            };
            let report = rotator.run_cycle(options).await.map_err(|e| {
                eprintln!("error: {e}");
                exit::SETUP
            })?;
            let view = Status::new(&report, &thresholds);
            match output {
                StatusFormat::Table => out(&view.to_table()),
                StatusFormat::Json => out(&format!("{}\n", view.to_json())),
                StatusFormat::Markdown => out(&view.to_markdown()),
                StatusFormat::Html => out(&view.to_html()),
            }
            Ok(exit::OK)
        }
        Command::Check {
            config,
            online,
            output,
        } => {
            let cfg = load(&config)?;
            if !online {
                let targets: usize = cfg.apps.iter().map(|a| a.targets.len()).sum();
                println!(
                    "{}: valid ({} apps, {} targets, {} vaults, cloud {}, schedule {:?})",
                    config.display(),
                    cfg.apps.len(),
                    targets,
                    cfg.vaults().len(),
                    cfg.cloud.name,
                    cfg.daemon.schedule_text
                );
                return Ok(exit::OK);
            }
            Ok(akv_rotator::commands::check::run(cfg, output).await)
        }
        #[cfg(feature = "emulator")]
        Command::Emulator { seed, listen } => {
            let shutdown = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            akv_emulator::run_standalone(seed, listen, shutdown)
                .await
                .map(|()| exit::OK)
                .map_err(|e| {
                    eprintln!("error: {e:#}");
                    exit::SETUP
                })
        }
        #[cfg(feature = "emulator")]
        Command::Demo { output } => Ok(akv_rotator::commands::demo::run(output).await),
    }
}
