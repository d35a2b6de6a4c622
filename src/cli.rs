//! Command-line interface: `once`, `run`, `status`, `check`, `emulator`, `demo`. Parsing only; each command
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

/// How `token` prints the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum TokenFormat {
    /// The token alone.
    #[default]
    Raw,
    /// `Authorization: Bearer <token>`, for `curl -H`.
    Header,
    /// `{"access_token", "expires_on", "version"}`.
    Json,
}

/// How `status` shows what it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum StatusFormat {
    /// One terminal table, most urgent first.
    #[default]
    Table,
    /// One JSON document (layout in README.md).
    Json,
    /// Markdown, ready to paste into a ticket.
    Markdown,
    /// One self-contained HTML page: an expiry timeline above the table.
    Html,
}

/// Which shard of the apps to process (Kubernetes Indexed Jobs).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ShardArgs {
    /// Process only the apps of shard INDEX of COUNT, like `--shard 2/8`.
    #[arg(long, value_name = "INDEX/COUNT", conflicts_with = "shard_count")]
    pub shard: Option<String>,
    /// Process one shard of COUNT; the index comes from JOB_COMPLETION_INDEX (set by Kubernetes
    /// Indexed Jobs). Overrides `[shard] count` in the config.
    #[arg(long, value_name = "COUNT")]
    pub shard_count: Option<u32>,
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
        /// Take over token secrets the rotator did not write (another content type or no
        /// `written-by` tag) and overwrite them; without it they are left alone and their
        /// targets fail `foreign_secret`.
        #[arg(long, conflicts_with = "dry_run")]
        adopt: bool,
        #[command(flatten)]
        shard: ShardArgs,
    },
    /// Run as a daemon: cycles on the `[daemon] schedule`, with /healthz, /readyz, /metrics
    /// and /status on `[daemon] listen`, until SIGTERM.
    Run {
        #[arg(long, short, env = "AKV_ROTATOR_CONFIG")]
        config: PathBuf,
        #[command(flatten)]
        shard: ShardArgs,
    },
    /// Show every app and token secret, most urgent first: client secret expiry and severity,
    /// stored token expiry and age, and what the next cycle would do. Read-only: a dry run that
    /// lists the vaults and reads, acquires and writes nothing.
    Status {
        #[arg(long, short, env = "AKV_ROTATOR_CONFIG")]
        config: PathBuf,
        #[arg(long, value_enum, default_value_t)]
        output: StatusFormat,
        /// Read the status records of COUNT shards, as runs with `--shard I/COUNT` or
        /// `--shard-count COUNT` write them. Overrides `[shard] count` in the config.
        #[arg(long, value_name = "COUNT", value_parser = clap::value_parser!(u32).range(1..))]
        shard_count: Option<u32>,
    },
    /// Validate the config completely (exit 0 valid, 2 invalid); with --online, a read-only
    /// preflight against Key Vault and Entra ID (exit 1 when a check fails).
    Check {
        #[arg(long, short, env = "AKV_ROTATOR_CONFIG")]
        config: PathBuf,
        /// Also check permissions and credentials against Key Vault and Entra ID, read-only.
        #[arg(long)]
        online: bool,
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Print a token the rotator stored, for scripts:
    /// `curl -H "$(akv-rotator token --vault URL --secret NAME --format header)" https://…`.
    /// Refuses a secret that is not a token and a token that expires within --min-valid (exit 1).
    Token {
        /// The vault, e.g. https://kv-tokens.vault.azure.net/
        #[arg(long)]
        vault: String,
        /// The token secret's name.
        #[arg(long)]
        secret: String,
        /// Refuse a token with less life left than this.
        #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
        min_valid: std::time::Duration,
        #[arg(long, value_enum, default_value_t)]
        format: TokenFormat,
        /// Take the cloud, `ca_file` and `[credential]` from this rotator config; without it, the
        /// public cloud and the standard credential chain (`auto`).
        #[arg(long)]
        config: Option<PathBuf>,
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
        /// Also write a ready rotator config for the seeded apps to this file, for
        /// `akv-rotator once --config FILE` (or `check`, `status`, `run`) by hand.
        #[arg(long, value_name = "FILE")]
        write_config: Option<PathBuf>,
    },
    /// Start the emulator in-process, seed three apps, run one cycle and show the result.
    #[cfg(feature = "emulator")]
    Demo {
        /// `json`: only the JSON report on stdout (the story goes to stderr).
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
        /// Keep the seed, the config, the rotator's secret file and the report in DIR.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
}
