//! The standalone emulator (`akv-rotator emulator`): load a seed file or the demo seed, listen on
//! loopback, print one JSON info line and hand the rotator its client secret in a 0600 file.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::json;

use crate::handle::{EmulatorOptions, start};
use crate::seed::Seed;

/// Picks the rotator's own identity in a seed: the app named `rotator`, else the first
/// principal with write access to a vault.
fn rotator_identity(seed: &Seed) -> Option<(String, String, String)> {
    let find = |client_id: &str| {
        seed.tenants.iter().find_map(|t| {
            t.apps
                .iter()
                .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
                .and_then(|a| {
                    a.secrets
                        .first()
                        .map(|s| (t.id.clone(), a.client_id.clone(), s.value.clone()))
                })
        })
    };
    seed.tenants
        .iter()
        .flat_map(|t| t.apps.iter())
        .find(|a| a.display_name.as_deref() == Some("rotator"))
        .and_then(|a| find(&a.client_id))
        .or_else(|| {
            seed.vaults
                .iter()
                .flat_map(|v| v.permissions.iter())
                .filter(|p| p.write)
                .find_map(|p| find(&p.principal))
        })
}

/// Writes `contents` to a new file readable only by the owner.
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

/// Runs the emulator until `shutdown` completes: loads `seed` (or [`Seed::default_demo`]),
/// binds the login listener to `listen` (127.0.0.1 only), prints one JSON info line on stdout
/// and writes the rotator's client secret to a 0600 file in the state dir.
pub async fn run_standalone(
    seed: Option<PathBuf>,
    listen: Option<SocketAddr>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let seed = match seed {
        Some(path) => Seed::from_file(&path)?,
        None => Seed::default_demo(),
    };
    run_standalone_with(seed, listen, shutdown, |_, _| Ok(())).await
}

/// [`run_standalone`] with a loaded seed, calling `on_ready` with the seed and the info line's
/// JSON once the emulator listens (before the info line is printed).
pub async fn run_standalone_with(
    seed: Seed,
    listen: Option<SocketAddr>,
    shutdown: impl Future<Output = ()>,
    on_ready: impl FnOnce(&Seed, &serde_json::Value) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let authority_port = match listen {
        Some(addr) if !addr.ip().is_loopback() => {
            bail!("the emulator listens on loopback only, not {addr}")
        }
        Some(addr) => addr.port(),
        None => 0,
    };
    let rotator = rotator_identity(&seed);
    let handle = start(EmulatorOptions {
        seed: seed.clone(),
        authority_port,
        ..EmulatorOptions::default()
    })
    .await?;
    if let Some((tenant_id, client_id, secret)) = rotator {
        let path = handle.state_dir().join("rotator-client-secret");
        write_private(&path, &secret)?;
        handle.set_info_extra(json!({
            "rotator": {
                "tenant_id": tenant_id,
                "client_id": client_id,
                "client_secret_file": path.display().to_string(),
            }
        }));
    }
    let info = handle.info();
    if let Err(e) = on_ready(&seed, &info) {
        handle.shutdown().await;
        return Err(e);
    }
    println!("{info}");
    shutdown.await;
    handle.shutdown().await;
    Ok(())
}
