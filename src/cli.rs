//! Command-line interface: `once`, `check`, `emulator`, `demo`. Parsing only; each command
//! lives in the library and `main` maps results to exit codes.

#[cfg(feature = "emulator")]
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::report::FailOn;

#[derive(Debug, Parser)]
#[command(
    name = "akv-rotator",
    version,
    about = "Keeps client-credentials bearer tokens fresh in Azure Key Vault and warns before client secrets expire"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// Human-readable tables.
    #[default]
    Table,
    /// One JSON document (schema in README.md).
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one rotation cycle and exit (for CronJobs and Container Apps Jobs).
    Once {
        /// Path of the TOML config.
        #[arg(long, short, env = "AKV_ROTATOR_CONFIG")]
        config: PathBuf,
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
        /// Plan and report without reading client secrets, acquiring or writing.
        #[arg(long)]
        dry_run: bool,
        /// Also exit 1 when a client secret is at this severity or worse.
        #[arg(long, value_enum, default_value_t)]
        fail_on: FailOn,
    },
    /// Validate the config file offline and exit (0 valid, 2 invalid).
    Check {
        #[arg(long, short, env = "AKV_ROTATOR_CONFIG")]
        config: PathBuf,
    },
    /// Run the local Key Vault + Entra ID emulator until stopped (prints one JSON line).
    #[cfg(feature = "emulator")]
    Emulator {
        /// Seed file (TOML or JSON); a small demo seed when absent.
        #[arg(long)]
        seed: Option<PathBuf>,
        /// Address of the login (Entra ID) listener; vaults get free ports.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Start the emulator in-process, seed three apps, run one cycle and show the result.
    #[cfg(feature = "emulator")]
    Demo {
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
}
