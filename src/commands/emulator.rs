//! `emulator`: the local Key Vault + Entra ID emulator as a process, and with `--write-config`
//! a ready rotator config for its seeded apps, so that running the rotator by hand against it is
//! one more command (`akv-rotator once --config FILE`).
//!
//! The seeded apps are the vault secrets tagged `client-id` (Key Vault secrets holding an app
//! registration's client secret); each gets one token target per resource its app has roles
//! for (Power BI when none), written to the first vault the rotator may write.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use akv_emulator::Seed;
use serde_json::Value;

use crate::error::{SetupError, SetupKind, exit};

const POWERBI: &str = "https://analysis.windows.net/powerbi/api";

/// The `emulator` command: runs until Ctrl-C.
pub async fn run(
    seed: Option<PathBuf>,
    listen: Option<SocketAddr>,
    write_config: Option<PathBuf>,
) -> Result<i32, SetupError> {
    let fail = |e: anyhow::Error| SetupError::new(SetupKind::Process, format!("{e:#}"));
    let seed = match &seed {
        Some(path) => Seed::from_file(path).map_err(fail)?,
        None => Seed::default_demo(),
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    akv_emulator::run_standalone_with(seed, listen, shutdown, |seed, info| {
        let Some(path) = &write_config else {
            return Ok(());
        };
        let text = config_for(seed, info)?;
        // Written whole, then renamed: whoever waits for the file never reads half of it.
        let partial = path.with_extension("partial");
        std::fs::write(&partial, text)
            .and_then(|()| std::fs::rename(&partial, path))
            .map_err(|e| anyhow::anyhow!("cannot write the config to {}: {e}", path.display()))?;
        eprintln!(
            "wrote {}: run `akv-rotator once --config {}`",
            path.display(),
            path.display()
        );
        Ok(())
    })
    .await
    .map(|()| exit::OK)
    .map_err(fail)
}

/// A rotator config for the emulator described by `info` (its JSON info line) and its `seed`.
pub fn config_for(seed: &Seed, info: &Value) -> anyhow::Result<String> {
    let text = |v: &Value, what: &str| -> anyhow::Result<String> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("the emulator's info has no {what}"))
    };
    let rotator = &info["rotator"];
    let rotator_id = text(
        &rotator["client_id"],
        "rotator identity (seed an app named \"rotator\")",
    )?;
    let vault_url = |name: &str| text(&info["vaults"][name], &format!("URL of vault {name}"));
    let output = seed
        .vaults
        .iter()
        .find(|v| {
            v.permissions.iter().any(|p| {
                p.write && p.secrets.is_none() && p.principal.eq_ignore_ascii_case(&rotator_id)
            })
        })
        .ok_or_else(|| anyhow::anyhow!("no vault of the seed lets the rotator write"))?;
    let mut out = String::new();
    let _ = write!(
        out,
        "# Written by `akv-rotator emulator --write-config` for the emulator it started.\n\
         cloud = \"custom\"\nca_file = {ca:?}\nvault = {vault:?}\nrefresh_before = \"30m\"\n\n\
         [custom_cloud]\nauthority_host = {authority:?}\npowerbi_api = {powerbi:?}\ngraph_endpoint = {graph:?}\n\n\
         [credential]\nkind = \"client-secret\"\ntenant_id = {tenant:?}\nclient_id = {client:?}\nclient_secret_file = {file:?}\n",
        ca = text(&info["ca_cert"], "CA certificate")?,
        vault = vault_url(&output.name)?,
        authority = text(&info["authority_host"], "authority host")?,
        powerbi = text(&info["powerbi_url"], "Power BI URL")?,
        graph = text(&info["graph_url"], "Graph URL")?,
        tenant = text(&rotator["tenant_id"], "rotator tenant")?,
        client = rotator_id,
        file = text(&rotator["client_secret_file"], "rotator secret file")?,
    );
    let mut apps = 0;
    for vault in &seed.vaults {
        for secret in &vault.secrets {
            let Some(client_id) = secret.tags.get("client-id") else {
                continue;
            };
            let tenant_id = secret
                .tags
                .get("tenant-id")
                .cloned()
                .unwrap_or_else(|| vault.tenant_id.clone());
            let name = secret
                .name
                .strip_suffix("-client-secret")
                .unwrap_or(&secret.name)
                .to_string();
            let _ = write!(
                out,
                "\n[[apps]]\nname = {name:?}\ntenant_id = {tenant_id:?}\nclient_id = {client_id:?}\nclient_secret_name = {:?}\nvault = {:?}\n",
                secret.name,
                vault_url(&vault.name)?
            );
            for resource in resources_of(seed, client_id) {
                let short = resource_short_name(&resource);
                let _ = write!(
                    out,
                    "\n[[apps.targets]]\nscope = \"{resource}/.default\"\nsecret = \"{name}-{short}-token\"\n"
                );
            }
            apps += 1;
        }
    }
    if apps == 0 {
        anyhow::bail!(
            "the seed has no client secret to rotate: tag a vault secret with `client-id` (and `tenant-id`)"
        );
    }
    Ok(out)
}

/// The resources an app has roles for in the seed, Power BI when none.
fn resources_of(seed: &Seed, client_id: &str) -> Vec<String> {
    let mut out: Vec<String> = seed
        .tenants
        .iter()
        .flat_map(|t| t.apps.iter())
        .filter(|a| a.client_id.eq_ignore_ascii_case(client_id))
        .flat_map(|a| a.roles.keys().cloned())
        .map(|r| r.trim_end_matches('/').to_string())
        .collect();
    out.sort();
    out.dedup();
    if out.is_empty() {
        out.push(POWERBI.to_string());
    }
    out
}

/// `powerbi` for Power BI, else the resource's last meaningful word (`graph`, `management`…).
fn resource_short_name(resource: &str) -> String {
    if resource == POWERBI {
        return "powerbi".into();
    }
    let host = resource
        .trim_start_matches("https://")
        .trim_start_matches("api://")
        .split(['/', '.'])
        .find(|p| !p.is_empty() && *p != "www")
        .unwrap_or("api");
    host.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

/// Whether `path` can be written (checked before the emulator starts, so a typo fails fast).
pub fn check_writable(path: &Path) -> Result<(), SetupError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if dir.is_dir() {
        Ok(())
    } else {
        Err(SetupError::new(
            SetupKind::Process,
            format!(
                "cannot write the config to {}: {} is not a directory",
                path.display(),
                dir.display()
            ),
        ))
    }
}
