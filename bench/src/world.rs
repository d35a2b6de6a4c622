//! The bench's world: which vaults exist, the emulator seed, the rotator's config and the fault
//! rules. Parent and emulator child both build it from the same command-line arguments, so the
//! child's seed and the parent's config always agree; nothing here talks to a process.

use std::collections::BTreeMap;

use akv_emulator::{
    AppSeed, ClientSecretSeed, PermissionSeed, SecretSeed, Seed, TenantSeed, VaultSeed,
};
use anyhow::bail;
use time::OffsetDateTime;

pub const TENANT: &str = "11111111-2222-4333-8444-555555555555";
pub const ROTATOR: &str = "00000000-aaaa-4bbb-8ccc-000000000001";
pub const ROTATOR_SECRET: &str = "bench-rotator-secret~0123456789abcdef";
const POWERBI: &str = "https://analysis.windows.net/powerbi/api";
pub const INPUT: &str = "input";
pub const OUTPUT: &str = "output";
/// Daemon mode only: the vault of the status record and the alert state (`[alerts]
/// state_vault`, also the top-level `vault`), apart from the token vaults so that their writes
/// are counted apart from token writes exactly (the emulator's stats count per vault and
/// operation, not per secret). It also holds the alert sink's URL secret.
pub const STATE: &str = "state";
/// The secret in [`STATE`] holding the alert sink's webhook URL (the emulator's receiver).
const WEBHOOK_URL_SECRET: &str = "alert-webhook-url";

/// Daemon mode's settings that shape the world and the config.
#[derive(Debug, Clone, Copy)]
pub struct DaemonWorld {
    /// Lifetime of every token the emulator issues, in seconds.
    pub token_lifetime_secs: u64,
    /// `refresh_before`, in seconds.
    pub refresh_before_secs: u64,
    /// `[daemon] relist_after`, in seconds.
    pub relist_after_secs: u64,
}

/// What the bench seeds and configures.
#[derive(Debug, Clone)]
pub struct World {
    pub apps: usize,
    /// `--output-vaults K`; `None` keeps the one vault `output` and today's config and output.
    pub output_vaults: Option<usize>,
    pub daemon: Option<DaemonWorld>,
}

fn client_id(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", i + 1, i + 1)
}

impl World {
    /// The token vaults: `output` when there is one, else `output-0` … `output-{K-1}`.
    pub fn output_names(&self) -> Vec<String> {
        match self.output_vaults {
            None | Some(1) => vec![OUTPUT.to_string()],
            Some(k) => (0..k).map(|j| format!("{OUTPUT}-{j}")).collect(),
        }
    }

    /// Every vault of the world: input, the token vaults, and in daemon mode the state vault.
    pub fn vault_names(&self) -> Vec<String> {
        let mut v = vec![INPUT.to_string()];
        v.extend(self.output_names());
        if self.daemon.is_some() {
            v.push(STATE.to_string());
        }
        v
    }

    pub fn seed(&self) -> Seed {
        let now = OffsetDateTime::now_utc();
        let year = time::Duration::days(365);
        let n = self.apps;
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
        let mut vaults = vec![VaultSeed {
            name: INPUT.into(),
            tenant_id: TENANT.into(),
            permissions: vec![perm(true, false)],
            secrets,
        }];
        let writable = |name: String| VaultSeed {
            name,
            tenant_id: TENANT.into(),
            permissions: vec![perm(true, true)],
            secrets: vec![],
        };
        vaults.extend(self.output_names().into_iter().map(writable));
        if self.daemon.is_some() {
            vaults.push(writable(STATE.into()));
        }
        Seed {
            tenants: vec![TenantSeed {
                id: TENANT.into(),
                apps,
            }],
            vaults,
            token_lifetime_secs: self
                .daemon
                .map(|d| (d.token_lifetime_secs, d.token_lifetime_secs)),
            // Only the apps' tokens are short: the rotator's own Key Vault token lives as Entra
            // ID issues it. A 2-minute one was fetched again before every request (the SDK
            // renews within 5 minutes of expiry), which never happens against Azure.
            vault_token_lifetime_secs: self.daemon.map(|_| (3600, 5400)),
            ..Default::default()
        }
    }

    /// Daemon mode: the alert sink's URL secret in [`STATE`], pointing at the emulator's own
    /// webhook receiver, whose address is known only once the emulator runs.
    pub fn state_seed(&self, authority_host: &str) -> Option<Seed> {
        self.daemon?;
        let now = OffsetDateTime::now_utc();
        Some(Seed {
            vaults: vec![VaultSeed {
                name: STATE.into(),
                tenant_id: TENANT.into(),
                permissions: vec![],
                secrets: vec![SecretSeed {
                    name: WEBHOOK_URL_SECRET.into(),
                    value: format!("{authority_host}/_emulator/webhooks/bench"),
                    content_type: None,
                    enabled: true,
                    nbf: None,
                    exp: Some(now + time::Duration::days(365)),
                    tags: BTreeMap::new(),
                }],
            }],
            ..Default::default()
        })
    }

    /// The rotator's config. Without `--output-vaults` and `--daemon` it is exactly the config
    /// of the single-vault bench (targets take the top-level `vault`).
    pub fn config_text(&self, info: &serde_json::Value, concurrency: Option<usize>) -> String {
        let url = |name: &str| {
            info["vaults"][name]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let outputs: Vec<String> = self.output_names().iter().map(|n| url(n)).collect();
        let input = url(INPUT);
        let (top_vault, refresh_before) = match self.daemon {
            Some(d) => (url(STATE), format!("{}s", d.refresh_before_secs)),
            None => (outputs[0].clone(), "30m".to_string()),
        };
        let mut s = format!(
            "cloud = \"custom\"\nca_file = \"{ca}\"\nvault = \"{top_vault}\"\nrefresh_before = \"{refresh_before}\"\n{conc}\n[custom_cloud]\nauthority_host = \"{auth}\"\n\n[credential]\nkind = \"client-secret\"\ntenant_id = \"{TENANT}\"\nclient_id = \"{ROTATOR}\"\nclient_secret_file = \"{{SECRET_FILE}}\"\n",
            ca = info["ca_cert"].as_str().unwrap_or_default(),
            auth = info["authority_host"].as_str().unwrap_or_default(),
            conc = concurrency
                .map(|c| format!("concurrency = {c}\n"))
                .unwrap_or_default(),
        );
        if let Some(d) = self.daemon {
            // A slot every minute, no jitter: the cadence the early refresh works between.
            s.push_str(&format!(
                "\n[daemon]\nschedule = \"0 * * * * *\"\njitter = \"0s\"\nlisten = \"127.0.0.1:0\"\nrelist_after = \"{}s\"\n",
                d.relist_after_secs
            ));
            // Alerting as a deployment has it: the alert state (and with it the status record)
            // in the state vault, one webhook sink. `ValidConfig::vaults` leaves out a top-level
            // `vault` no app uses, so without `[alerts] state_vault` the status record's vault
            // would have no client and the record would never be written.
            s.push_str(&format!(
                "\n[alerts]\nstate_vault = \"{top_vault}\"\n\n[[alerts.sinks]]\nname = \"bench\"\nkind = \"webhook\"\nurl_secret = \"{WEBHOOK_URL_SECRET}\"\n"
            ));
        }
        let explicit_vault = self.output_vaults.is_some() || self.daemon.is_some();
        for i in 0..self.apps {
            let target_vault = if explicit_vault {
                format!("vault = \"{}\"\n", outputs[i % outputs.len()])
            } else {
                String::new()
            };
            s.push_str(&format!(
                "\n[[apps]]\nname = \"app-{i}\"\ntenant_id = \"{TENANT}\"\nclient_id = \"{}\"\nclient_secret_name = \"app-{i}-client-secret\"\nvault = \"{input}\"\n\n[[apps.targets]]\nscope = \"{POWERBI}/.default\"\nsecret = \"app-{i}-powerbi-token\"\n{target_vault}",
                client_id(i)
            ));
        }
        s
    }

    /// The emulator's fault rules for a profile: `flaky` faults client-secret reads, token
    /// writes (every token vault) and token requests; `latency` slows every vault and token
    /// request.
    pub fn fault_rules(&self, profile: &str) -> anyhow::Result<serde_json::Value> {
        use serde_json::json;
        Ok(match profile {
            "none" => json!([]),
            "flaky" => {
                let mut faulted = vec![(INPUT.to_string(), "SecretGet")];
                faulted.extend(self.output_names().into_iter().map(|o| (o, "SecretSet")));
                faulted.push(("login".to_string(), "TokenV2"));
                let mut rules = Vec::new();
                for (service, op) in faulted {
                    rules.push(json!({"service": service, "operation": op, "kind": {"type": "connection_reset"}, "probability": 0.01}));
                    rules.push(json!({"service": service, "operation": op, "kind": {"type": "status", "code": 503}, "probability": 0.05}));
                }
                json!(rules)
            }
            "latency" => {
                let mut rules: Vec<serde_json::Value> = self
                    .vault_names()
                    .into_iter()
                    .map(|v| json!({"service": v, "kind": {"type": "latency", "ms": 20}}))
                    .collect();
                rules.push(json!({"service": "login", "operation": "TokenV2", "kind": {"type": "latency", "ms": 20}}));
                json!(rules)
            }
            other => bail!("unknown fault profile {other:?} (none, flaky, latency)"),
        })
    }
}
