//! The `akv-rotator` binary: parse the CLI, start logging, run a library command, map the
//! result to an exit code (0 ok, 1 some target failed, 2 configuration or setup problem).

use std::process::ExitCode;

use akv_rotator::cli::{Cli, Command, OutputFormat};
use akv_rotator::cycle::{CycleOptions, Rotator};
use akv_rotator::{config, exit, telemetry};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init();
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
    ExitCode::from(code as u8)
}

async fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Once {
            config,
            output,
            dry_run,
            fail_on,
        } => {
            let cfg = match config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::SETUP;
                }
            };
            let rotator = match Rotator::new(cfg) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::SETUP;
                }
            };
            match rotator.run_cycle(CycleOptions { dry_run }).await {
                Ok(report) => {
                    match output {
                        OutputFormat::Json => println!("{}", report.to_json()),
                        OutputFormat::Table => print!("{}", report.to_table()),
                    }
                    report.exit_code(fail_on)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    exit::SETUP
                }
            }
        }
        Command::Check { config } => match config::load(&config) {
            Ok(cfg) => {
                let targets: usize = cfg.apps.iter().map(|a| a.targets.len()).sum();
                println!(
                    "{}: valid ({} apps, {} targets, {} vaults, cloud {})",
                    config.display(),
                    cfg.apps.len(),
                    targets,
                    cfg.vaults().len(),
                    cfg.cloud.name
                );
                exit::OK
            }
            Err(e) => {
                eprintln!("error: {e}");
                exit::SETUP
            }
        },
        #[cfg(feature = "emulator")]
        Command::Emulator { seed, listen } => {
            let shutdown = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            match akv_emulator::run_standalone(seed, listen, shutdown).await {
                Ok(()) => exit::OK,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    exit::SETUP
                }
            }
        }
        #[cfg(feature = "emulator")]
        Command::Demo { output } => akv_rotator::demo::run(output).await,
    }
}
