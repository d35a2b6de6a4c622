//! Test world: the emulator started in-process on free ports over HTTPS, a seeded tenant, a
//! rotator config written to a temp dir, and helpers to run the real `akv-rotator` binary.
//! Fixtures read like the domain: `TestApp::new("sales").secret_expiring_in(days(3))`.
//! Also: seeds (`seed`, re-exported here), hand-built reports (`report`) and a local HTTP
//! receiver (`receiver`).

mod process;
pub mod receiver;
pub mod report;
mod seed;

pub use process::*;
pub use seed::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use akv_emulator::{
    AppSeed, ClientSecretSeed, EmulatorHandle, EmulatorOptions, FaultKind, FaultRule, SecretSeed,
    Seed, StoredSecret, TenantSeed,
};
use time::{Duration, OffsetDateTime};

pub const TENANT: &str = "11111111-2222-4333-8444-555555555555";
pub const OTHER_TENANT: &str = "99999999-2222-4333-8444-555555555555";
pub const ROTATOR: &str = "00000000-aaaa-4bbb-8ccc-000000000001";
pub const POWERBI: &str = "https://analysis.windows.net/powerbi/api";
pub const GRAPH: &str = "https://graph.microsoft.com";
/// Vault names in every test world.
pub const INPUT: &str = "input";
pub const OUTPUT: &str = "output";
/// A vault where the rotator may only read.
pub const READONLY: &str = "readonly";

pub fn days(n: i64) -> Duration {
    Duration::days(n)
}

fn random(tag: &str) -> String {
    format!("{tag}~{}", uuid_like())
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
    format!("{:016x}{:08x}Qz", t ^ 0x5DEECE66D, n)
}

fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

/// How an app's client secret is broken, if at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Key Vault holds a value Entra does not know.
    WrongSecret,
    /// The secret has expired in Entra ID.
    ExpiredSecret,
    /// The app is not registered in the tenant.
    UnknownApp,
    /// The app's tenant does not exist.
    UnknownTenant,
    /// Key Vault has no secret under the configured name.
    MissingSecret,
    /// The Key Vault secret is disabled.
    DisabledSecret,
    /// The token goes to a vault where the rotator cannot write.
    NoWritePermission,
}

#[derive(Clone, Debug)]
pub struct TestApp {
    pub name: String,
    pub client_id: String,
    pub secret_value: String,
    pub secret_end: OffsetDateTime,
    pub record_exp_in_vault: bool,
    pub fault: Fault,
    /// (resource, output secret name)
    pub targets: Vec<(String, String)>,
}

impl TestApp {
    pub fn new(name: &str) -> Self {
        let n = uuid_like();
        TestApp {
            name: name.into(),
            // Unique in the process: a time prefix and the counter (never merged by the emulator).
            client_id: format!("{}-0000-4000-8000-{:012x}", &n[0..8], next_id()),
            secret_value: random("cs"),
            secret_end: OffsetDateTime::now_utc() + days(180),
            record_exp_in_vault: true,
            fault: Fault::None,
            targets: vec![(POWERBI.into(), format!("{name}-powerbi-token"))],
        }
    }
    pub fn secret_expiring_in(mut self, d: Duration) -> Self {
        self.secret_end = OffsetDateTime::now_utc() + d;
        self
    }
    pub fn fault(mut self, f: Fault) -> Self {
        self.fault = f;
        self
    }
    pub fn target(mut self, resource: &str, secret: &str) -> Self {
        self.targets.push((resource.into(), secret.into()));
        self
    }
    pub fn secret_name(&self) -> String {
        format!("{}-client-secret", self.name)
    }
    pub fn tenant(&self) -> &str {
        if self.fault == Fault::UnknownTenant {
            OTHER_TENANT
        } else {
            TENANT
        }
    }
}

pub struct World {
    pub emulator: EmulatorHandle,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub apps: Vec<TestApp>,
    pub rotator_secret: String,
}

impl World {
    pub async fn start(apps: Vec<TestApp>) -> World {
        World::start_with_emulator(apps, |_| {}).await
    }

    /// A world of two apps: "sales", healthy, and "ops", whose client secret expires in 12 days
    /// (a warning).
    pub async fn healthy_and_expiring_soon() -> World {
        World::start(vec![
            TestApp::new("sales"),
            TestApp::new("ops").secret_expiring_in(days(12)),
        ])
        .await
    }

    /// A world of two apps: `working`, and `failing` with `fault`, so that one cycle both
    /// writes a token and fails one.
    pub async fn working_and_failing(working: &str, failing: &str, fault: Fault) -> World {
        World::start(vec![
            TestApp::new(working),
            TestApp::new(failing).fault(fault),
        ])
        .await
    }

    /// Like [`World::start`], with `configure` applied to the emulator's options (e.g. to start
    /// its managed identity listener).
    pub async fn start_with_emulator(
        apps: Vec<TestApp>,
        configure: impl FnOnce(&mut EmulatorOptions),
    ) -> World {
        let rotator_secret = random("rotator");
        let now = OffsetDateTime::now_utc();
        let mut entra_apps = vec![rotator_app_seed(&rotator_secret)];
        let mut input_secrets = Vec::new();
        for app in &apps {
            let entra_end = if app.fault == Fault::ExpiredSecret {
                now - days(2)
            } else {
                app.secret_end
            };
            if app.fault != Fault::UnknownApp && app.fault != Fault::UnknownTenant {
                entra_apps.push(AppSeed {
                    client_id: app.client_id.clone(),
                    display_name: Some(app.name.clone()),
                    secrets: vec![ClientSecretSeed {
                        value: app.secret_value.clone(),
                        start: Some(now - days(30)),
                        end: Some(entra_end),
                        ..Default::default()
                    }],
                    roles: [(POWERBI.to_string(), vec!["Tenant.Read.All".to_string()])].into(),
                    ..Default::default()
                });
            }
            if app.fault == Fault::MissingSecret {
                continue;
            }
            let stored_value = if app.fault == Fault::WrongSecret {
                random("wrong")
            } else {
                app.secret_value.clone()
            };
            input_secrets.push(SecretSeed {
                enabled: app.fault != Fault::DisabledSecret,
                exp: app.record_exp_in_vault.then_some(entra_end),
                ..secret_seed(&app.secret_name(), &stored_value)
            });
        }
        let seed = Seed {
            tenants: vec![TenantSeed {
                id: TENANT.into(),
                apps: entra_apps,
            }],
            vaults: vec![
                vault_seed(INPUT, vec![perm(ROTATOR, true, false)], input_secrets),
                vault_seed(OUTPUT, vec![perm(ROTATOR, true, true)], vec![]),
                vault_seed(READONLY, vec![perm(ROTATOR, true, false)], vec![]),
            ],
            ..Default::default()
        };
        let mut options = EmulatorOptions {
            seed,
            ..Default::default()
        };
        configure(&mut options);
        let emulator = akv_emulator::start(options).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let secret_file = dir.path().join("rotator-secret");
        std::fs::write(&secret_file, &rotator_secret).unwrap();
        let config_path = dir.path().join("rotator.toml");
        let world = World {
            emulator,
            dir,
            config_path,
            apps,
            rotator_secret,
        };
        std::fs::write(&world.config_path, world.config_text()).unwrap();
        world
    }

    pub fn vault(&self, name: &str) -> String {
        self.emulator.vault_url(name).unwrap()
    }

    pub fn config_text(&self) -> String {
        let mut s = format!(
            "cloud = \"custom\"\nca_file = \"{ca}\"\nvault = \"{out}\"\nrefresh_before = \"30m\"\n\n[custom_cloud]\nauthority_host = \"{auth}\"\n\n[credential]\nkind = \"client-secret\"\ntenant_id = \"{TENANT}\"\nclient_id = \"{ROTATOR}\"\nclient_secret_file = \"{file}\"\n",
            ca = self.emulator.ca_cert_path().display(),
            out = self.vault(OUTPUT),
            auth = self.emulator.authority_host(),
            file = self.dir.path().join("rotator-secret").display(),
        );
        for app in &self.apps {
            s.push_str(&format!(
                "\n[[apps]]\nname = \"{}\"\ntenant_id = \"{}\"\nclient_id = \"{}\"\nclient_secret_name = \"{}\"\nvault = \"{}\"\n",
                app.name, app.tenant(), app.client_id, app.secret_name(), self.vault(INPUT)
            ));
            for (resource, secret) in &app.targets {
                s.push_str(&format!(
                    "\n[[apps.targets]]\nscope = \"{resource}/.default\"\nsecret = \"{secret}\"\n"
                ));
                if app.fault == Fault::NoWritePermission {
                    s.push_str(&format!("vault = \"{}\"\n", self.vault(READONLY)));
                }
            }
        }
        s
    }

    /// Runs the real binary with extra args and environment.
    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_akv-rotator"));
        cmd.args(args);
        cmd.env_remove("RUST_LOG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// `once --config <world config> --output json` plus extra args; returns (exit code, JSON, stderr).
    pub fn once(&self, extra: &[&str]) -> (i32, serde_json::Value, String) {
        self.once_at(&self.config_path, extra)
    }

    /// [`World::once`] with another config file.
    pub fn once_at(&self, config: &Path, extra: &[&str]) -> (i32, serde_json::Value, String) {
        self.run_once(config, extra, &[])
    }

    /// `once --config <config> --output json`, `extra` args, `env`; (exit code, JSON, stderr).
    fn run_once(
        &self,
        config: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> (i32, serde_json::Value, String) {
        let config = config.display().to_string();
        let mut args = vec!["once", "--config", config.as_str(), "--output", "json"];
        args.extend_from_slice(extra);
        once_result(&self.run(&args, env))
    }

    pub fn versions(&self, vault: &str, name: &str) -> Vec<StoredSecret> {
        self.emulator.secret_versions(vault, name)
    }
}

/// The entry of the JSON report's list `list` (`targets`, `apps`) whose `key` is `value`.
fn report_entry<'a>(
    report: &'a serde_json::Value,
    list: &str,
    key: &str,
    value: &str,
) -> &'a serde_json::Value {
    report[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e[key] == value)
        .unwrap_or_else(|| panic!("no {list} entry {value} in {report:#}"))
}

/// The target entry of a JSON report for an output secret.
pub fn target<'a>(report: &'a serde_json::Value, secret: &str) -> &'a serde_json::Value {
    report_entry(report, "targets", "secret", secret)
}

/// The outcome of the report's target for an output secret (`written`, `fresh`, `failed`, …).
pub fn outcome<'a>(report: &'a serde_json::Value, secret: &str) -> &'a serde_json::Value {
    &target(report, secret)["outcome"]
}

/// The report's target for an output secret, asserted to have failed with this error class.
pub fn failed_target<'a>(
    report: &'a serde_json::Value,
    secret: &str,
    class: &str,
) -> &'a serde_json::Value {
    let t = target(report, secret);
    assert_eq!(t["outcome"], "failed", "{secret}: {t:#}");
    assert_eq!(t["error"]["class"], class, "{secret}: {t:#}");
    t
}

/// The app entry of a JSON report.
pub fn app<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report_entry(report, "apps", "name", name)
}

/// The pairs of string fields `a` and `b` of each object in a JSON array.
pub fn field_pairs(list: &serde_json::Value, a: &str, b: &str) -> Vec<(String, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o[a].as_str().unwrap().to_string(),
                o[b].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The claims of a JWT (test side, independent of the product's decoder).
pub fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

impl World {
    /// An HTTPS client that trusts the emulator's CA.
    pub fn https_client(&self) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(self.emulator.ca_cert_pem().as_bytes()).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(ca)
            .build()
            .unwrap()
    }

    /// An `[[alerts.sinks]]` entry for the webhook `name` whose URL is the secret `url_secret`
    /// of the input vault, followed by the `extra` lines.
    pub fn webhook_sink(&self, name: &str, url_secret: &str, extra: &str) -> String {
        format!(
            "[[alerts.sinks]]\nname = \"{name}\"\nkind = \"webhook\"\nurl_secret = \"{url_secret}\"\nurl_vault = \"{}\"\n{extra}",
            self.vault(INPUT)
        )
    }

    /// Writes the world's config plus `extra` TOML to a new file and returns its path.
    pub fn config_with(&self, file: &str, extra: &str) -> PathBuf {
        let path = self.dir.path().join(file);
        std::fs::write(&path, format!("{}\n{extra}\n", self.config_text())).unwrap();
        path
    }
}

/// A fault on every request of `operation` at `service` (a vault name, `login`, `graph`, …),
/// for the first `count` of them or for all (`None`).
pub fn fault_rule(
    service: &str,
    operation: &str,
    kind: FaultKind,
    count: Option<u64>,
) -> FaultRule {
    FaultRule {
        service: service.into(),
        operation: Some(operation.into()),
        kind,
        probability: 1.0,
        count,
    }
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One sample of a Prometheus/OpenMetrics text exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the text exposition format (comments skipped, labels unescaped).
pub fn parse_metrics(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (head, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match head.split_once('{') {
            Some((n, rest)) => {
                let body = rest.strip_suffix('}').unwrap();
                let mut labels = BTreeMap::new();
                let mut rest = body;
                while !rest.is_empty() {
                    let (k, v) = rest.split_once("=\"").unwrap();
                    let end = v.find("\"").unwrap();
                    labels.insert(
                        k.trim_start_matches(',').to_string(),
                        v[..end].replace("\\\"", "\""),
                    );
                    rest = &v[end + 1..];
                }
                (n.to_string(), labels)
            }
            None => (head.to_string(), BTreeMap::new()),
        };
        out.push(Sample {
            name,
            labels,
            value: value.parse().unwrap(),
        });
    }
    out
}

/// The value of the sample with this name and these labels (others ignored).
pub fn metric(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .reduce(|a, b| a + b)
}

/// GET over plain HTTP on loopback (the daemon's endpoints); returns (status, body).
pub async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let resp = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    let status = resp.status().as_u16();
    Some((status, resp.text().await.ok()?))
}

// ---- added for workload_identity.rs -----------------------------------------------------------

impl World {
    /// Like [`World::start`], with `customize` applied to the seed before the emulator starts
    /// (e.g. to give the rotator a federated credential instead of a client secret).
    pub async fn start_with(apps: Vec<TestApp>, customize: impl FnOnce(&mut Seed)) -> World {
        // Build the usual world, then re-seed it: the emulator keeps the ports, CA and vaults.
        let world = World::start(apps).await;
        let mut seed = Seed {
            tenants: vec![TenantSeed {
                id: TENANT.into(),
                apps: vec![rotator_app_seed(&world.rotator_secret)],
            }],
            ..Default::default()
        };
        customize(&mut seed);
        world.emulator.apply_seed(seed).unwrap();
        world
    }

    /// The world's config with its `[credential]` table replaced by `credential` (a complete
    /// TOML table, e.g. `"[credential]\nkind = \"workload-identity\"\n"`).
    pub fn config_text_with_credential(&self, credential: &str) -> String {
        let text = self.config_text();
        let current = format!(
            "[credential]\nkind = \"client-secret\"\ntenant_id = \"{TENANT}\"\nclient_id = \"{ROTATOR}\"\nclient_secret_file = \"{file}\"\n",
            file = self.dir.path().join("rotator-secret").display(),
        );
        assert!(text.contains(&current), "config_text changed shape: {text}");
        text.replace(&current, credential)
    }

    /// `once --config <world config> --output json` with extra environment; returns
    /// (exit code, JSON, stderr).
    pub fn once_with_env(&self, env: &[(&str, &str)]) -> (i32, serde_json::Value, String) {
        self.run_once(&self.config_path, &[], env)
    }
}
