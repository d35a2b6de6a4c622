//! Starting the emulator and the handle tests hold: the options, `start`, and the handle's
//! accessors (URLs, CA, stats, stored secrets) and run-time controls (seed, faults, throttles,
//! token faults, key rollover), the same controls the admin API offers over HTTP.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::Router;
use serde_json::Value;

use crate::admin;
use crate::jwt::{KeySet, SigningKey};
use crate::seed::{FaultRule, Seed, ThrottleSeed, TokenFault, VaultThrottleSeed};
use crate::server::Core;
use crate::state::{Shared, Stats, StoredSecret, Throttle, VaultThrottle, WebhookDelivery, now};
use crate::tls;

/// How to start the emulator.
#[derive(Debug, Default)]
pub struct EmulatorOptions {
    /// Initial world.
    pub seed: Seed,
    /// Where `ca.pem` (and, standalone, the rotator's secret file) go. Default: a fresh
    /// temporary directory removed when the handle is dropped.
    pub state_dir: Option<PathBuf>,
    /// Port of the login listener; 0 picks a free one.
    pub authority_port: u16,
    /// Fixed ports per vault name; vaults not listed get a free port.
    pub vault_ports: BTreeMap<String, u16>,
    /// Where to serve managed identity tokens over plain HTTP (IMDS at
    /// `/metadata/identity/oauth2/token`, App Service at `/msi/token`): `None` (the default)
    /// starts no such listener; `127.0.0.1:0` picks a free loopback port;
    /// `169.254.169.254:80` plays IMDS (inside a private network namespace only).
    pub managed_identity_listen: Option<std::net::SocketAddr>,
}

/// A running emulator. Dropping it stops the listeners; [`EmulatorHandle::shutdown`] also
/// waits for them.
pub struct EmulatorHandle {
    core: Arc<Core>,
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.core.abort_all();
    }
}

/// Starts the login listener and one listener per seeded vault.
pub async fn start(options: EmulatorOptions) -> anyhow::Result<EmulatorHandle> {
    tls::install_crypto_provider();
    let (state_dir, temp_dir) = match options.state_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("creating state dir {}", dir.display()))?;
            (dir, None)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("akv-emulator-")
                .tempdir()
                .context("creating a temporary state dir")?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let (tls, key) = tokio::task::spawn_blocking(|| -> anyhow::Result<_> {
        Ok((tls::generate()?, SigningKey::generate()?))
    })
    .await
    .context("key generation task")??;
    let ca_path = state_dir.join("ca.pem");
    std::fs::write(&ca_path, &tls.ca_pem)
        .with_context(|| format!("writing {}", ca_path.display()))?;

    let std_listener = std::net::TcpListener::bind(("127.0.0.1", options.authority_port))
        .with_context(|| {
            format!(
                "binding login listener on 127.0.0.1:{}",
                options.authority_port
            )
        })?;
    std_listener.set_nonblocking(true)?;
    let port = std_listener.local_addr()?.port();
    let listener = tokio::net::TcpListener::from_std(std_listener)?;
    let authority_host = format!("https://localhost:{port}");
    let shared = Shared::new(
        authority_host,
        KeySet {
            current: key,
            previous: Vec::new(),
            pending: None,
        },
    );
    let core = Arc::new(Core {
        shared,
        acceptor: tls.acceptor.clone(),
        runtime: tokio::runtime::Handle::current(),
        vault_ports: options.vault_ports,
        tasks: Mutex::new(Vec::new()),
        ca_pem: tls.ca_pem,
        ca_path,
        state_dir,
        first_tenant: Mutex::new(None),
        info_extra: Mutex::new(None),
        graph_url: Mutex::new(String::new()),
        powerbi_url: Mutex::new(String::new()),
        managed_identity_url: Mutex::new(None),
        identity_header: Arc::from(uuid::Uuid::new_v4().to_string()),
        _temp_dir: temp_dir,
    });
    let login = Router::new()
        .fallback(admin::login_request)
        .with_state(core.clone());
    let task = tls::serve(
        listener,
        tls.acceptor,
        login,
        core.shared.clone(),
        "login".to_string(),
    );
    core.tasks
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(task);
    let handle = EmulatorHandle { core };
    handle.core.start_cloud_apis()?;
    if let Some(addr) = options.managed_identity_listen {
        handle.core.start_managed_identity(addr)?;
    }
    handle.core.apply_seed(&options.seed)?;
    Ok(handle)
}

impl EmulatorHandle {
    /// `https://localhost:PORT` of the login listener.
    pub fn authority_host(&self) -> String {
        self.core.shared.authority_host.clone()
    }

    /// `https://localhost:PORT/` of a vault.
    pub fn vault_url(&self, vault: &str) -> Option<String> {
        self.core
            .shared
            .world()
            .vaults
            .get(vault)
            .map(|v| v.url.clone())
    }

    /// All vault URLs by name.
    pub fn vault_urls(&self) -> BTreeMap<String, String> {
        self.core.vault_urls()
    }

    /// Path of the CA certificate (PEM) clients must trust.
    pub fn ca_cert_path(&self) -> &Path {
        &self.core.ca_path
    }

    /// The CA certificate (PEM).
    pub fn ca_cert_pem(&self) -> &str {
        &self.core.ca_pem
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.core.state_dir
    }

    /// URL of a test webhook receiver on the login listener (HTTPS, same CA): every POST is
    /// recorded and answered 200, or the status set by [`EmulatorHandle::set_webhook_status`].
    pub fn webhook_url(&self, name: &str) -> String {
        format!("{}/_emulator/webhooks/{name}", self.authority_host())
    }

    /// What a test webhook receiver got, oldest first.
    pub fn webhook_deliveries(&self, name: &str) -> Vec<WebhookDelivery> {
        self.core
            .shared
            .webhooks
            .lock()
            .map(|m| m.get(name).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Makes a test webhook receiver answer with `status` (e.g. 500), or 200 again with `None`.
    pub fn set_webhook_status(&self, name: &str, status: Option<u16>) {
        if let Ok(mut m) = self.core.shared.webhook_status.lock() {
            match status {
                Some(s) => {
                    m.insert(name.to_string(), s);
                }
                None => {
                    m.remove(name);
                }
            }
        }
    }

    /// The info JSON (same as `GET /_emulator/info` and the standalone info line).
    pub fn info(&self) -> Value {
        self.core.info()
    }

    /// Merges a seed at run time; new vaults get a new listener.
    pub fn apply_seed(&self, seed: Seed) -> anyhow::Result<()> {
        self.core.apply_seed(&seed)
    }

    /// Request counts so far.
    pub fn stats(&self) -> Stats {
        self.core.shared.stats()
    }

    /// Clears the request counts.
    pub fn reset_stats(&self) {
        self.core.shared.reset_stats();
    }

    /// All versions of a secret, oldest first (active or soft-deleted; empty if unknown).
    pub fn secret_versions(&self, vault: &str, name: &str) -> Vec<StoredSecret> {
        let world = self.core.shared.world();
        let Some(v) = world.vaults.get(vault) else {
            return Vec::new();
        };
        let key = name.to_ascii_lowercase();
        v.secrets
            .get(&key)
            .or_else(|| v.deleted.get(&key).map(|d| &d.entry))
            .map(|e| e.versions.clone())
            .unwrap_or_default()
    }

    /// Enables or disables the latest version of a secret.
    pub fn set_secret_enabled(&self, vault: &str, name: &str, enabled: bool) {
        let mut world = self.core.shared.world_mut();
        if let Some(latest) = world
            .vaults
            .get_mut(vault)
            .and_then(|v| v.secrets.get_mut(&name.to_ascii_lowercase()))
            .and_then(|e| e.versions.last_mut())
        {
            latest.enabled = enabled;
            latest.updated = now();
        }
    }

    /// Makes a new token signing key current; the previous one stays published. When a
    /// [`TokenFault::UnknownKid`] token was issued, its pending key is the one made current.
    pub fn rollover_signing_key(&self) -> anyhow::Result<()> {
        self.core.shared.rollover_signing_key()
    }

    /// `https://localhost:PORT` of the Microsoft Graph listener (`/v1.0/applications…`).
    pub fn graph_url(&self) -> String {
        self.core
            .graph_url
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// `https://localhost:PORT` of the Power BI listener (`/v1.0/myorg/groups`).
    pub fn powerbi_url(&self) -> String {
        self.core
            .powerbi_url
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// `http://ADDR:PORT` of the managed identity listener, when
    /// [`EmulatorOptions::managed_identity_listen`] started one.
    pub fn managed_identity_url(&self) -> Option<String> {
        self.core
            .managed_identity_url
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The App Service style endpoint, what Azure puts in `IDENTITY_ENDPOINT`
    /// (`http://ADDR:PORT/msi/token`), when the managed identity listener runs.
    pub fn identity_endpoint(&self) -> Option<String> {
        self.managed_identity_url()
            .map(|u| format!("{u}{}", crate::managed_identity::APP_SERVICE_PATH))
    }

    /// The IMDS style endpoint (`http://ADDR:PORT/metadata/identity/oauth2/token`), when the
    /// managed identity listener runs.
    pub fn imds_endpoint(&self) -> Option<String> {
        self.managed_identity_url()
            .map(|u| format!("{u}{}", crate::managed_identity::IMDS_PATH))
    }

    /// The secret the App Service endpoint requires in `X-IDENTITY-HEADER`: what Azure puts in
    /// `IDENTITY_HEADER` (random per emulator).
    pub fn identity_header(&self) -> &str {
        &self.core.identity_header
    }

    /// Breaks (`Some`) or repairs (`None`) the tokens issued to `client_id` from now on.
    pub fn set_token_fault(&self, client_id: &str, fault: Option<TokenFault>) {
        self.core.shared.set_token_fault(client_id, fault);
    }

    /// The Graph application object id of an app (`/v1.0/applications/{id}`).
    pub fn application_object_id(&self, client_id: &str) -> Option<String> {
        self.core
            .shared
            .world()
            .find_app(client_id)
            .map(|(_, a)| a.application_object_id.clone())
    }

    /// Sets how long a secret added through Graph `addPassword` is refused at the token
    /// endpoint (AADSTS7000215) before it works. Applies to secrets added afterwards.
    pub fn set_secret_propagation_secs(&self, secs: u64) {
        self.core.shared.world_mut().secret_propagation_secs = secs;
    }

    /// Replaces the active fault rules.
    pub fn set_faults(&self, rules: Vec<FaultRule>) {
        self.core.shared.faults.set(rules);
    }

    /// Removes all fault rules.
    pub fn clear_faults(&self) {
        self.core.shared.faults.set(Vec::new());
    }

    /// The active fault rules (`count` = hits left).
    pub fn faults(&self) -> Vec<FaultRule> {
        self.core.shared.faults.active()
    }

    /// Sets (`Some`) or removes (`None`) one budget for every transaction of a vault (Key
    /// Vault's older model); the window restarts.
    pub fn set_vault_throttle(&self, vault: &str, throttle: Option<ThrottleSeed>) {
        self.core
            .shared
            .world_mut()
            .set_vault_throttle(vault, throttle, None);
    }

    /// Sets (`Some`) or removes (`None`) Key Vault's current limits on a vault: CREATE secret
    /// and all other transactions counted apart ([`VaultThrottleSeed`]); the windows restart.
    pub fn set_vault_limits(&self, vault: &str, limits: Option<VaultThrottleSeed>) {
        self.core
            .shared
            .world_mut()
            .set_vault_throttle(vault, None, limits);
    }

    /// Sets (`Some`, e.g. [`VaultThrottleSeed::subscription`]) or removes (`None`) the
    /// subscription-wide budgets counted across all vaults; the windows restart.
    pub fn set_subscription_limits(&self, limits: Option<VaultThrottleSeed>) {
        self.core.shared.world_mut().subscription_throttle = limits.map(VaultThrottle::split);
    }

    /// Sets (`Some`) or removes (`None`) the token endpoint's request limit.
    pub fn set_entra_throttle(&self, throttle: Option<ThrottleSeed>) {
        self.core.shared.world_mut().entra_throttle = throttle.map(Throttle::new);
    }

    /// Adds members to the info JSON (the standalone runner's rotator identity).
    pub(crate) fn set_info_extra(&self, extra: Value) {
        *self
            .core
            .info_extra
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(extra);
    }

    /// Stops all listeners and waits for them.
    pub async fn shutdown(self) {
        let tasks = self.core.abort_all();
        for t in tasks {
            let _ = t.await;
        }
    }
}
