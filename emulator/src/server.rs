//! The running emulator's listeners: binding loopback ports, serving routers over TLS, one
//! listener per vault (also for vaults seeded at run time), the Graph and Power BI listeners,
//! and the info document. Owns no request handling (that is `routes` and `admin`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::Router;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::routes;
use crate::seed::Seed;
use crate::state::{Shared, Vault};
use crate::tls;

/// Everything the listeners share, including what is needed to start new vault listeners at
/// run time (admin seed API).
pub(crate) struct Core {
    pub(crate) shared: Arc<Shared>,
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) runtime: tokio::runtime::Handle,
    pub(crate) vault_ports: BTreeMap<String, u16>,
    pub(crate) tasks: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) ca_pem: String,
    pub(crate) ca_path: PathBuf,
    pub(crate) state_dir: PathBuf,
    pub(crate) first_tenant: Mutex<Option<String>>,
    pub(crate) info_extra: Mutex<Option<Value>>,
    pub(crate) graph_url: Mutex<String>,
    pub(crate) powerbi_url: Mutex<String>,
    /// `http://ADDR:PORT` of the plain-HTTP managed identity listener, when started.
    pub(crate) managed_identity_url: Mutex<Option<String>>,
    /// The secret the App Service protocol requires in `X-IDENTITY-HEADER`.
    pub(crate) identity_header: Arc<str>,
    pub(crate) _temp_dir: Option<tempfile::TempDir>,
}

impl Core {
    pub(crate) fn apply_seed(&self, seed: &Seed) -> anyhow::Result<()> {
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
            let router =
                Router::new()
                    .fallback(routes::vault_request)
                    .with_state(routes::VaultState {
                        shared: self.shared.clone(),
                        vault: vs.name.clone(),
                    });
            self.serve(listener, router, &vs.name);
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

    /// Serves `router` over TLS; `service` names the listener in the connection counts.
    pub(crate) fn serve(&self, listener: tokio::net::TcpListener, router: Router, service: &str) {
        let _guard = self.runtime.enter();
        let task = tls::serve(
            listener,
            self.acceptor.clone(),
            router,
            self.shared.clone(),
            service.to_string(),
        );
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(task);
    }

    /// Starts the Graph and Power BI listeners.
    pub(crate) fn start_cloud_apis(&self) -> anyhow::Result<()> {
        self.start_api(&self.graph_url, routes::graph_request, "graph")?;
        self.start_api(&self.powerbi_url, routes::powerbi_request, "powerbi")
    }

    /// Serves every request with `handler` on a new port, whose base URL goes to `url`.
    fn start_api<H, T>(&self, url: &Mutex<String>, handler: H, service: &str) -> anyhow::Result<()>
    where
        H: axum::handler::Handler<T, Arc<Shared>>,
        T: 'static,
    {
        let (listener, port) = self.bind(0)?;
        *url.lock().unwrap_or_else(|e| e.into_inner()) = format!("https://localhost:{port}");
        let router = Router::new()
            .fallback(handler)
            .with_state(self.shared.clone());
        self.serve(listener, router, service);
        Ok(())
    }

    /// Starts the plain-HTTP managed identity listener on `addr` (IMDS and App Service paths).
    /// Plain HTTP because Azure serves these endpoints so; on loopback, or on `169.254.169.254`
    /// inside a private network namespace (`.ci/imds`).
    pub(crate) fn start_managed_identity(&self, addr: SocketAddr) -> anyhow::Result<()> {
        let std_listener = std::net::TcpListener::bind(addr)
            .with_context(|| format!("binding the managed identity listener on {addr}"))?;
        std_listener.set_nonblocking(true)?;
        let local = std_listener.local_addr()?;
        let _guard = self.runtime.enter();
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let router = Router::new()
            .fallback(routes::managed_identity_request)
            .with_state(routes::ManagedIdentityState {
                shared: self.shared.clone(),
                identity_header: self.identity_header.clone(),
            });
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::warn!(%error, "managed identity listener stopped");
            }
        });
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(task);
        let host = match local.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            std::net::IpAddr::V4(ip) => ip.to_string(),
        };
        let url = if local.port() == 80 {
            format!("http://{host}")
        } else {
            format!("http://{host}:{}", local.port())
        };
        tracing::info!(%url, "managed identity listener started");
        *self
            .managed_identity_url
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(url);
        Ok(())
    }

    pub(crate) fn bind(&self, port: u16) -> anyhow::Result<(tokio::net::TcpListener, u16)> {
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", port))
            .with_context(|| format!("binding 127.0.0.1:{port}"))?;
        std_listener.set_nonblocking(true)?;
        let port = std_listener.local_addr()?.port();
        let _guard = self.runtime.enter();
        Ok((tokio::net::TcpListener::from_std(std_listener)?, port))
    }

    pub(crate) fn vault_urls(&self) -> BTreeMap<String, String> {
        self.shared
            .world()
            .vaults
            .iter()
            .map(|(n, v)| (n.clone(), v.url.clone()))
            .collect()
    }

    pub(crate) fn info(&self) -> Value {
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

    pub(crate) fn abort_all(&self) -> Vec<JoinHandle<()>> {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for t in &tasks {
            t.abort();
        }
        tasks
    }
}
