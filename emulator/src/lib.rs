//! `akv-emulator`: a local, HTTPS-only stand-in for Azure Key Vault (secrets data plane) and
//! Microsoft Entra ID (client-credentials token endpoint, OpenID discovery, JWKS), for the
//! product's integration tests and demo. It shares no code with the product on purpose.
//!
//! Topology: one HTTPS listener for the login host (Entra ID + the `/_emulator/` admin API)
//! and one HTTPS listener per vault, all on 127.0.0.1, addressed as `https://localhost:PORT`,
//! with a certificate from a CA generated at start (see [`EmulatorHandle::ca_cert_path`]).

mod assertion;
mod bearer;
mod entra;
mod faults;
mod graph;
mod jwt;
mod powerbi;
mod seed;
mod state;
mod tls;
mod vault;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use faults::{FaultKind, FaultRule, TokenFault};
pub use seed::{
    AppRegistrationSeed, AppSeed, CertificateSeed, ClientSecretSeed, DEMO_APP_CLIENT_ID,
    DEMO_ROTATOR_CLIENT_ID, DEMO_TENANT_ID, FederatedCredentialSeed, PermissionSeed, ResourceSeed,
    SecretSeed, Seed, TenantPolicySeed, TenantSeed, ThrottleSeed, VaultPolicySeed, VaultSeed,
};
pub use state::{StatEntry, Stats, StoredSecret, ThrottleWindow, WebhookDelivery};

use crate::jwt::{KeySet, SigningKey};
use crate::state::{Shared, Vault};

/// Service name of the login listener in [`Stats`].
pub const LOGIN_SERVICE: &str = "login";
/// Service name of the Microsoft Graph listener in [`Stats`].
pub const GRAPH_SERVICE: &str = graph::SERVICE;
/// Service name of the Power BI listener in [`Stats`].
pub const POWERBI_SERVICE: &str = powerbi::SERVICE;

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
}

/// Everything the listeners share, including what is needed to start new vault listeners at
/// run time (admin seed API).
struct Core {
    shared: Arc<Shared>,
    acceptor: TlsAcceptor,
    runtime: tokio::runtime::Handle,
    vault_ports: BTreeMap<String, u16>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    ca_pem: String,
    ca_path: PathBuf,
    state_dir: PathBuf,
    first_tenant: Mutex<Option<String>>,
    info_extra: Mutex<Option<Value>>,
    graph_url: Mutex<String>,
    powerbi_url: Mutex<String>,
    _temp_dir: Option<tempfile::TempDir>,
}

impl Core {
    fn apply_seed(&self, seed: &Seed) -> anyhow::Result<()> {
        seed.validate()?;
        {
            let mut first = self.first_tenant.lock().unwrap_or_else(|e| e.into_inner());
            if first.is_none() {
                *first = seed.tenants.first().map(|t| t.id.clone());
            }
        }
        for vs in &seed.vaults {
            if self.shared.world().vaults.contains_key(&vs.name) {
                continue;
            }
            let port = self.vault_ports.get(&vs.name).copied().unwrap_or(0);
            let (listener, port) = self.bind(port)?;
            let url = format!("https://localhost:{port}/");
            self.shared.world_mut().vaults.insert(
                vs.name.clone(),
                Vault {
                    tenant_id: vs.tenant_id.clone(),
                    url,
                    permissions: Vec::new(),
                    secrets: BTreeMap::new(),
                    deleted: BTreeMap::new(),
                },
            );
            let router = Router::new()
                .fallback(vault_request)
                .with_state(VaultState {
                    shared: self.shared.clone(),
                    vault: vs.name.clone(),
                });
            self.serve(listener, router);
            tracing::info!(vault = %vs.name, port, "vault listener started");
        }
        let mut world = self.shared.world_mut();
        world.merge_identities(seed)?;
        world.merge_vault_contents(seed);
        drop(world);
        if !seed.faults.is_empty() {
            self.shared.faults.set(seed.faults.clone());
        }
        Ok(())
    }

    fn serve(&self, listener: tokio::net::TcpListener, router: Router) {
        let _guard = self.runtime.enter();
        let task = tls::serve(listener, self.acceptor.clone(), router);
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(task);
    }

    /// Starts the Graph and Power BI listeners.
    fn start_cloud_apis(&self) -> anyhow::Result<()> {
        let (listener, port) = self.bind(0)?;
        *self.graph_url.lock().unwrap_or_else(|e| e.into_inner()) =
            format!("https://localhost:{port}");
        let shared = self.shared.clone();
        self.serve(
            listener,
            Router::new().fallback(graph_request).with_state(shared),
        );
        let (listener, port) = self.bind(0)?;
        *self.powerbi_url.lock().unwrap_or_else(|e| e.into_inner()) =
            format!("https://localhost:{port}");
        let shared = self.shared.clone();
        self.serve(
            listener,
            Router::new().fallback(powerbi_request).with_state(shared),
        );
        Ok(())
    }

    fn bind(&self, port: u16) -> anyhow::Result<(tokio::net::TcpListener, u16)> {
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", port))
            .with_context(|| format!("binding 127.0.0.1:{port}"))?;
        std_listener.set_nonblocking(true)?;
        let port = std_listener.local_addr()?.port();
        let _guard = self.runtime.enter();
        Ok((tokio::net::TcpListener::from_std(std_listener)?, port))
    }

    fn vault_urls(&self) -> BTreeMap<String, String> {
        self.shared
            .world()
            .vaults
            .iter()
            .map(|(n, v)| (n.clone(), v.url.clone()))
            .collect()
    }

    fn info(&self) -> Value {
        let mut info = json!({
            "authority_host": self.shared.authority_host,
            "vaults": self.vault_urls(),
            "ca_cert": self.ca_path.display().to_string(),
            "tenant_id": self.first_tenant.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            "graph_url": self.graph_url.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            "powerbi_url": self.powerbi_url.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        });
        if let Some(Value::Object(extra)) = self
            .info_extra
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            for (k, v) in extra {
                info[k] = v;
            }
        }
        info
    }

    fn abort_all(&self) -> Vec<JoinHandle<()>> {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for t in &tasks {
            t.abort();
        }
        tasks
    }
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
        _temp_dir: temp_dir,
    });
    let login = Router::new()
        .fallback(login_request)
        .with_state(core.clone());
    let task = tls::serve(listener, tls.acceptor, login);
    core.tasks
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(task);
    let handle = EmulatorHandle { core };
    handle.core.start_cloud_apis()?;
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
    pub fn webhook_deliveries(&self, name: &str) -> Vec<state::WebhookDelivery> {
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
            latest.updated = state::now();
        }
    }

    /// Makes a new token signing key current; the previous one stays published. When a
    /// [`TokenFault::UnknownKid`] token was issued, its pending key is the one made current.
    pub fn rollover_signing_key(&self) -> anyhow::Result<()> {
        rollover(&self.core.shared)
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

    /// Sets (`Some`) or removes (`None`) the request limit of a vault; the window restarts.
    pub fn set_vault_throttle(&self, vault: &str, throttle: Option<ThrottleSeed>) {
        let mut world = self.core.shared.world_mut();
        match throttle {
            Some(t) => {
                world
                    .vault_throttles
                    .insert(vault.to_string(), state::Throttle::new(t));
            }
            None => {
                world.vault_throttles.remove(vault);
            }
        }
    }

    /// Sets (`Some`) or removes (`None`) the token endpoint's request limit.
    pub fn set_entra_throttle(&self, throttle: Option<ThrottleSeed>) {
        self.core.shared.world_mut().entra_throttle = throttle.map(state::Throttle::new);
    }

    /// Stops all listeners and waits for them.
    pub async fn shutdown(self) {
        let tasks = self.core.abort_all();
        for t in tasks {
            let _ = t.await;
        }
    }
}

#[derive(Clone)]
struct VaultState {
    shared: Arc<Shared>,
    vault: String,
}

/// Makes the pending key (or a new one) current.
fn rollover(shared: &Shared) -> anyhow::Result<()> {
    let has_pending = shared.keys().pending.is_some();
    let next = if has_pending {
        None
    } else {
        Some(SigningKey::generate()?)
    };
    let mut keys = shared.keys_mut();
    let next = match (next, keys.pending.clone()) {
        (_, Some(p)) => p,
        (Some(n), None) => n,
        (None, None) => SigningKey::generate()?,
    };
    keys.rollover(next);
    Ok(())
}

async fn graph_request(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = graph::operation(&method, &uri);
    let resp = faults::run(&shared, GRAPH_SERVICE, op, faults::Flavor::Graph, || {
        graph::handle(&shared, &method, &uri, &headers, &body)
    })
    .await;
    shared.record(GRAPH_SERVICE, op, faults::stat_status(&resp));
    resp
}

async fn powerbi_request(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let op = powerbi::operation(&method, &uri);
    let resp = faults::run(
        &shared,
        POWERBI_SERVICE,
        op,
        faults::Flavor::PowerBi,
        || powerbi::handle(&shared, &method, &uri, &headers),
    )
    .await;
    shared.record(POWERBI_SERVICE, op, faults::stat_status(&resp));
    resp
}

async fn vault_request(
    State(state): State<VaultState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let shared = &state.shared;
    let op = vault::operation(&method, &uri);
    let mut resp = faults::run(shared, &state.vault, op, faults::Flavor::Vault, || {
        let admitted = shared
            .world_mut()
            .vault_throttles
            .get_mut(&state.vault)
            .is_none_or(|t| t.admit());
        if !admitted {
            return faults::vault_throttled(None);
        }
        vault::handle(shared, &state.vault, &method, &uri, &headers, &body)
    })
    .await;
    shared.record(&state.vault, op, faults::stat_status(&resp));
    let tenant = state
        .shared
        .world()
        .vaults
        .get(&state.vault)
        .map(|v| v.tenant_id.clone())
        .unwrap_or_default();
    vault::add_challenge(&mut resp, &state.shared.authority_host, &tenant);
    resp
}

fn admin_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

async fn login_request(
    State(core): State<Arc<Core>>,
    method: Method,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let shared = &core.shared;
    let path = uri.path().to_string();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if let (&Method::POST, ["_emulator", "webhooks", name]) = (&method, segs.as_slice()) {
        return webhook_receive(shared, name, &headers, &body);
    }
    if let ["_emulator", rest @ ..] = segs.as_slice() {
        return admin(&core, method.as_str(), rest, &body);
    }
    let op = login_operation(method.as_str(), &segs);
    let resp = faults::run(shared, LOGIN_SERVICE, op, faults::Flavor::Login, || {
        login_route(shared, &method, &uri, &segs, &body)
    })
    .await;
    shared.record(LOGIN_SERVICE, op, faults::stat_status(&resp));
    resp
}

/// A test webhook receiver: records the request and answers 200 (or the status set for it).
fn webhook_receive(
    shared: &Shared,
    name: &str,
    headers: &axum::http::HeaderMap,
    body: &Bytes,
) -> Response {
    let delivery = state::WebhookDelivery {
        content_type: headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: String::from_utf8_lossy(body).to_string(),
    };
    let status = shared
        .webhook_status
        .lock()
        .ok()
        .and_then(|m| m.get(name).copied())
        .unwrap_or(200);
    if let Ok(mut m) = shared.webhooks.lock() {
        m.entry(name.to_string()).or_default().push(delivery);
    }
    (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), "").into_response()
}

fn login_operation(method: &str, segs: &[&str]) -> &'static str {
    match (method, segs) {
        ("POST", [_, "oauth2", "v2.0", "token"]) => "TokenV2",
        ("POST", [_, "oauth2", "token"]) => "TokenV1",
        ("GET", [_, "v2.0", ".well-known", "openid-configuration"])
        | ("GET", [_, ".well-known", "openid-configuration"]) => "OpenIdConfiguration",
        ("GET", [_, "discovery", "v2.0", "keys"]) | ("GET", [_, "discovery", "keys"]) => "Jwks",
        ("GET", ["common", "discovery", "instance"]) => "InstanceDiscovery",
        _ => "Unknown",
    }
}

fn login_route(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    segs: &[&str],
    body: &Bytes,
) -> Response {
    let query: HashMap<String, String> = uri.query().map(vault::query_pairs).unwrap_or_default();
    let form = || vault::query_pairs(&String::from_utf8_lossy(body));
    match (method.as_str(), segs) {
        ("POST", [tenant, "oauth2", "v2.0", "token"]) => {
            entra::token(shared, entra::Endpoint::V2, tenant, &form())
        }
        ("POST", [tenant, "oauth2", "token"]) => {
            entra::token(shared, entra::Endpoint::V1, tenant, &form())
        }
        ("GET", [tenant, "v2.0", ".well-known", "openid-configuration"]) => {
            entra::openid_configuration(shared, tenant, true)
        }
        ("GET", [tenant, ".well-known", "openid-configuration"]) => {
            entra::openid_configuration(shared, tenant, false)
        }
        ("GET", [tenant, "discovery", "v2.0", "keys"]) => entra::jwks(shared, tenant, true),
        ("GET", [tenant, "discovery", "keys"]) => entra::jwks(shared, tenant, false),
        ("GET", ["common", "discovery", "instance"]) => entra::instance_discovery(shared, &query),
        _ => admin_error(
            StatusCode::NOT_FOUND,
            format!("no route for {method} {}", uri.path()),
        ),
    }
}

/// Body of `POST /_emulator/token-fault`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFaultRequest {
    client_id: String,
    #[serde(default)]
    fault: Option<TokenFault>,
}

/// Body of `POST /_emulator/faults`: a list of rules, or `{"rules": [...]}`.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum FaultsRequest {
    List(Vec<FaultRule>),
    Object { rules: Vec<FaultRule> },
}

/// Body of `POST /_emulator/throttle`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ThrottleRequest {
    /// A vault name, or `login` for the token endpoint.
    service: String,
    #[serde(default)]
    throttle: Option<ThrottleSeed>,
}

fn parse_admin<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("invalid request: {e}"))
}

fn admin(core: &Arc<Core>, method: &str, rest: &[&str], body: &Bytes) -> Response {
    let ok = || axum::Json(json!({})).into_response();
    match (method, rest) {
        ("POST", ["seed"]) => {
            let seed: Seed = match serde_json::from_slice(body) {
                Ok(s) => s,
                Err(e) => {
                    return admin_error(StatusCode::BAD_REQUEST, format!("invalid seed: {e}"));
                }
            };
            match core.apply_seed(&seed) {
                Ok(()) => ok(),
                Err(e) => admin_error(StatusCode::BAD_REQUEST, format!("{e:#}")),
            }
        }
        ("GET", ["stats"]) => axum::Json(core.shared.stats()).into_response(),
        ("POST", ["stats", "reset"]) => {
            core.shared.reset_stats();
            ok()
        }
        ("GET", ["info"]) => axum::Json(core.info()).into_response(),
        ("POST", ["keys", "rollover"]) => match rollover(&core.shared) {
            Ok(()) => ok(),
            Err(e) => admin_error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
        },
        ("POST", ["token-fault"]) => match parse_admin::<TokenFaultRequest>(body) {
            Ok(r) => {
                core.shared.set_token_fault(&r.client_id, r.fault);
                ok()
            }
            Err(msg) => admin_error(StatusCode::BAD_REQUEST, msg),
        },
        ("POST", ["faults"]) => match parse_admin::<FaultsRequest>(body) {
            Ok(FaultsRequest::List(rules) | FaultsRequest::Object { rules }) => {
                core.shared.faults.set(rules);
                ok()
            }
            Err(msg) => admin_error(StatusCode::BAD_REQUEST, msg),
        },
        ("GET", ["faults"]) => axum::Json(core.shared.faults.active()).into_response(),
        ("DELETE", ["faults"]) => {
            core.shared.faults.set(Vec::new());
            ok()
        }
        ("POST", ["throttle"]) => match parse_admin::<ThrottleRequest>(body) {
            Ok(r) => {
                let mut world = core.shared.world_mut();
                if r.service == LOGIN_SERVICE {
                    world.entra_throttle = r.throttle.map(state::Throttle::new);
                } else if !world.vaults.contains_key(&r.service) {
                    return admin_error(
                        StatusCode::NOT_FOUND,
                        format!("no vault named {}", r.service),
                    );
                } else {
                    match r.throttle {
                        Some(t) => {
                            world
                                .vault_throttles
                                .insert(r.service.clone(), state::Throttle::new(t));
                        }
                        None => {
                            world.vault_throttles.remove(&r.service);
                        }
                    }
                }
                ok()
            }
            Err(msg) => admin_error(StatusCode::BAD_REQUEST, msg),
        },
        ("POST", ["secret-propagation"]) => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Req {
                secs: u64,
            }
            match parse_admin::<Req>(body) {
                Ok(r) => {
                    core.shared.world_mut().secret_propagation_secs = r.secs;
                    ok()
                }
                Err(msg) => admin_error(StatusCode::BAD_REQUEST, msg),
            }
        }
        _ => admin_error(StatusCode::NOT_FOUND, "unknown admin route"),
    }
}

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
    let authority_port = match listen {
        Some(addr) if !addr.ip().is_loopback() => {
            bail!("the emulator listens on loopback only, not {addr}")
        }
        Some(addr) => addr.port(),
        None => 0,
    };
    let rotator = rotator_identity(&seed);
    let handle = start(EmulatorOptions {
        seed,
        authority_port,
        ..EmulatorOptions::default()
    })
    .await?;
    if let Some((tenant_id, client_id, secret)) = rotator {
        let path = handle.state_dir().join("rotator-client-secret");
        write_private(&path, &secret)?;
        *handle
            .core
            .info_extra
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(json!({
            "rotator": {
                "tenant_id": tenant_id,
                "client_id": client_id,
                "client_secret_file": path.display().to_string(),
            }
        }));
    }
    println!("{}", handle.info());
    shutdown.await;
    handle.shutdown().await;
    Ok(())
}
