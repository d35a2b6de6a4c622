//! The `akv-rotator` binary: parse the CLI, start telemetry, run a command, exit with its code
//! (0 ok, 1 some target failed, 2 configuration or setup problem).

use std::process::ExitCode;

use akv_rotator::cli::{Cli, Command};
use akv_rotator::commands;
use akv_rotator::error::{SetupError, SetupKind};
use akv_rotator::telemetry;
use clap::Parser;

/// jemalloc, with one arena and freed pages given back at once (`.cargo/config.toml`): glibc's
/// per-thread arenas kept about twice the heap resident (bench/README.md, "Third pass").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    no_library_backtraces();
    withhold_panic_messages();
    let cli = Cli::parse();
    // Before the runtime: the OTLP exporters use blocking clients on their own threads.
    let telemetry = if is_demo(&cli) {
        telemetry::init_with_default("error")
    } else {
        telemetry::init()
    };
    let code = match runtime_for(&cli).enable_all().build() {
        Ok(runtime) => {
            let result = runtime.block_on(Box::pin(run(cli)));
            drop(runtime);
            result
        }
        Err(e) => Err(SetupError::new(
            SetupKind::Process,
            format!("cannot start the async runtime: {e}"),
        )),
    }
    .unwrap_or_else(|e| {
        eprintln!("error: {e}");
        e.exit_code()
    });
    telemetry.shutdown();
    ExitCode::from(code as u8)
}

/// Turns off the backtraces libraries capture into their error values (`RUST_LIB_BACKTRACE=0`)
/// unless the environment sets `RUST_LIB_BACKTRACE` itself. `RUST_BACKTRACE=1`, common in
/// containers, otherwise turns them on too, and the Azure SDK builds an error, with a backtrace,
/// each time it looks for a header that is absent: its `x-ms-client-request-id` policy does
/// that before every request. That was 8.7 % of the rotator's CPU (bench/README.md, "CPU per
/// token against the lean client"). No backtrace of a library's error is ever shown, and a
/// panic's backtrace still follows `RUST_BACKTRACE`.
#[expect(
    unsafe_code,
    reason = "setting a variable of the process's own environment, first thing in `main`"
)]
fn no_library_backtraces() {
    if let Some(value) = library_backtraces(std::env::var_os("RUST_LIB_BACKTRACE").as_deref()) {
        // SAFETY: the first statement of `main`: no other thread exists yet (the runtime,
        // telemetry's exporters and jemalloc's threads start later, jemalloc's only if asked
        // to), so nothing can read the environment while it changes.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", value) };
    }
}

/// What `RUST_LIB_BACKTRACE` should be set to, given its value: `0` when it is unset, else
/// nothing (the operator's choice stands).
fn library_backtraces(set: Option<&std::ffi::OsStr>) -> Option<&'static str> {
    match set {
        None => Some("0"),
        Some(_) => None,
    }
}

/// A panic's message may quote what was being parsed (a client secret, a private key, a
/// token): the hook prints where it happened, never the message. The cycle turns a panic in one
/// app into that app's `internal` failure; elsewhere the process still exits 101.
fn withhold_panic_messages() {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "akv-rotator: internal error (panic){at}; the message is withheld because it may quote secret values. Please report this bug"
        );
    }));
}

#[cfg(feature = "emulator")]
fn is_demo(cli: &Cli) -> bool {
    matches!(cli.command, Command::Demo { .. })
}

#[cfg(not(feature = "emulator"))]
fn is_demo(_: &Cli) -> bool {
    false
}

/// The rotator's commands run on one thread, the main one. They wait on the network and on each
/// vault's write budget; their own work per token (a signature check, a few JSON bodies, TLS
/// records) is tens of microseconds. With worker threads, a request sent alone, as pacing
/// sends them, woke another thread to carry it and another to take its answer: at 2,000 paced
/// tokens, 0.835 CPU s per 1,000 on two workers against 0.625 on one thread (bench/README.md,
/// "CPU per token against the lean client"). The emulator (`emulator`, and `demo`, which runs
/// one in-process) signs a token for every request it answers: it keeps a worker per core.
fn runtime_for(cli: &Cli) -> tokio::runtime::Builder {
    if serves_emulator(cli) {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
}

#[cfg(feature = "emulator")]
fn serves_emulator(cli: &Cli) -> bool {
    matches!(cli.command, Command::Demo { .. } | Command::Emulator { .. })
}

#[cfg(not(feature = "emulator"))]
fn serves_emulator(_: &Cli) -> bool {
    false
}

/// The exit code of a command, or the setup problem that stopped it.
async fn run(cli: Cli) -> Result<i32, SetupError> {
    match cli.command {
        Command::Once {
            config,
            output,
            dry_run,
            fail_on,
            adopt,
            shard,
        } => {
            let flags = commands::once::OnceFlags {
                dry_run,
                adopt,
                fail_on,
            };
            commands::once::run(&config, output, flags, &shard).await
        }
        Command::Run { config, shard } => {
            let (cfg, shard) = commands::load_sharded(&config, &shard)?;
            let signal = akv_rotator::daemon::termination_signal();
            Ok(akv_rotator::daemon::run(cfg, shard, signal).await)
        }
        Command::Status {
            config,
            output,
            shard_count,
        } => commands::status::run(&config, output, shard_count).await,
        Command::Check {
            config,
            online,
            output,
        } => commands::check::run(&config, online, output).await,
        Command::Token {
            vault,
            secret,
            min_valid,
            format,
            config,
        } => commands::token::run(config.as_deref(), &vault, &secret, min_valid, format).await,
        #[cfg(feature = "emulator")]
        Command::Emulator {
            seed,
            listen,
            write_config,
        } => {
            if let Some(path) = &write_config {
                commands::emulator::check_writable(path)?;
            }
            commands::emulator::run(seed, listen, write_config).await
        }
        #[cfg(feature = "emulator")]
        Command::Demo { output, keep } => Ok(commands::demo::run(output, keep.as_deref()).await),
    }
}

#[cfg(test)]
mod tests {
    use super::library_backtraces;
    use std::ffi::OsStr;

    #[test]
    fn library_backtraces_are_off_unless_the_operator_set_them() {
        assert_eq!(library_backtraces(None), Some("0"));
        assert_eq!(library_backtraces(Some(OsStr::new("1"))), None);
        assert_eq!(library_backtraces(Some(OsStr::new("0"))), None);
        assert_eq!(library_backtraces(Some(OsStr::new(""))), None);
    }
}
