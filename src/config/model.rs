//! The validated configuration that the rest of the crate takes: apps, token targets,
//! credentials, thresholds, daemon settings. Only [`RawConfig::validate`] builds it.

use super::*;

/// How the rotator authenticates itself to Key Vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialConfig {
    /// Workload identity when its environment is present, else managed identity.
    Auto,
    WorkloadIdentity {
        tenant_id: Option<String>,
        client_id: Option<String>,
        token_file: Option<PathBuf>,
    },
    ManagedIdentity {
        client_id: Option<String>,
    },
    /// The secret itself lives in a file (for example a mounted Kubernetes secret), never in
    /// the config or the environment.
    ClientSecret {
        tenant_id: String,
        client_id: String,
        client_secret_file: PathBuf,
    },
    /// Azure CLI / Azure Developer CLI, for a developer's machine.
    Developer,
}

/// One token to keep fresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenTarget {
    /// `https://analysis.windows.net/powerbi/api/.default` (shared by the targets naming it)
    pub scope: Arc<str>,
    /// The resource part of the scope (scope without `/.default`): an App ID URI or the API's
    /// application (client) id.
    pub resource: Arc<str>,
    /// The `aud` the token must carry, when the target names it: for an API that receives
    /// v2.0 tokens, its application (client) id. `None`: the resource (see
    /// `token::expected_audiences`).
    pub audience: Option<String>,
    pub vault: Arc<Url>,
    pub secret_name: String,
    pub refresh_before: Duration,
    /// Application roles the token must carry (`roles` claim).
    pub required_roles: Vec<String>,
    /// A GET with the new token that must succeed before it is written.
    pub probe: Option<Box<Url>>,
}

/// One app registration whose client secret the rotator reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub name: String,
    /// Shared by the apps of one tenant.
    pub tenant_id: Arc<str>,
    pub client_id: String,
    pub client_secret_vault: Arc<Url>,
    /// The Key Vault secret holding the app's credential: its client secret, or (with
    /// `client_certificate_name`, see [`App::credential_kind`]) its certificate.
    pub client_secret_name: String,
    /// Who to tell about this app (included in alerts, can route them to a sink).
    pub owner: Option<String>,
    /// Client secret expiry thresholds for this app (the global ones unless overridden).
    pub thresholds: Thresholds,
    pub targets: Vec<TokenTarget>,
    /// Client secret or certificate.
    pub credential_kind: AppCredentialKind,
    /// Client-secret rotation through Microsoft Graph (opt-in).
    pub rotate: Option<RotatePolicy>,
}

/// How an app authenticates to Entra ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppCredentialKind {
    /// `client_secret_name`: a client secret value.
    #[default]
    ClientSecret,
    /// `client_certificate_name`: PEM (key + certificate) or PKCS#12 in base64, signing a
    /// client assertion.
    Certificate { algorithm: AssertionAlgorithm },
}

/// The client assertion's signature algorithm and thumbprint header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssertionAlgorithm {
    /// PS256 with `x5t#S256` (current Entra documentation).
    #[default]
    Ps256,
    /// RS256 with `x5t` (SHA-1 thumbprint; older libraries).
    Rs256,
}

/// `rotate = { before_expiry, lifetime, grace }` on an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotatePolicy {
    /// Rotate when the current client secret's Key Vault `exp` is this close.
    pub before_expiry: Duration,
    /// Lifetime of the new client secret (`endDateTime` = now + lifetime).
    pub lifetime: Duration,
    /// How long the previous client secret is kept after the new one is published.
    pub grace: Duration,
    /// How long to wait for a new secret to work at the token endpoint before giving up
    /// (Entra ID takes seconds to minutes to propagate a new secret).
    pub propagation_wait: Duration,
}

/// Expiry thresholds for client secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub warning: Duration,
    pub critical: Duration,
    /// Also read the client secret's end date from Microsoft Graph
    /// (`passwordCredentials[].endDateTime`) and compare it with Key Vault's `exp`.
    pub graph: bool,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            warning: Duration::from_secs(30 * 86_400),
            critical: Duration::from_secs(7 * 86_400),
            graph: false,
        }
    }
}

/// Default of `cycle_deadline`.
pub const DEFAULT_CYCLE_DEADLINE: Duration = Duration::from_secs(15 * 60);
/// Default of `max_token_lifetime`: the longest access token lifetime Entra ID issues (a token
/// lifetime policy allows at most one day).
pub const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// The range `max_token_lifetime` may take.
pub const MAX_TOKEN_LIFETIME_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(10 * 60)..=Duration::from_secs(7 * 86_400);
/// How long work still running at the cycle deadline may go on before it is abandoned: a tenth
/// of the deadline, at most 30 s.
pub fn deadline_grace(deadline: Duration) -> Duration {
    (deadline / 10).min(Duration::from_secs(30))
}

/// A configuration that passed validation. Only [`RawConfig::validate`] builds one.
#[derive(Debug, Clone)]
pub struct ValidConfig {
    pub source: PathBuf,
    pub cloud: Cloud,
    pub ca_file: Option<PathBuf>,
    pub credential: CredentialConfig,
    pub concurrency: usize,
    /// The share of each vault's Key Vault budget the rotator paces itself to.
    pub limits: VaultLimits,
    /// How long one cycle's token work may take: after it no new target is started, and work
    /// still running [`deadline_grace`] later is abandoned (reported `deadline_exceeded`).
    pub cycle_deadline: Duration,
    /// A token whose `exp` − `nbf` is longer is refused (never written).
    pub max_token_lifetime: Duration,
    pub thresholds: Thresholds,
    pub daemon: DaemonConfig,
    /// Shard count for Indexed Jobs (the index comes from `JOB_COMPLETION_INDEX`).
    pub shard_count: Option<u32>,
    /// Alert sinks and deduplication (absent: no alerts are sent).
    pub alerts: Option<alerts::AlertsConfig>,
    pub apps: Vec<App>,
    /// Microsoft Graph of the cloud (for client-secret rotation); `None` for a custom cloud
    /// without `[custom_cloud] graph_endpoint`.
    pub graph_endpoint: Option<Url>,
    /// The Graph resource whose `/.default` scope the rotator's token asks for: the endpoint
    /// for known clouds; `[custom_cloud] graph_resource` (default
    /// `https://graph.microsoft.com`) for a custom one.
    pub graph_resource: String,
    /// Where each cycle records its outcome per target for `status` ([`STATUS_RECORD_SECRET`]):
    /// the alert state's vault, else the top-level `vault`, else the first token vault.
    pub status_record_vault: Option<Url>,
}

/// The Key Vault secret of the status record (one per shard: `-shard-INDEX-of-COUNT`).
pub const STATUS_RECORD_SECRET: &str = "akv-rotator-status";
/// How much later than its slot, jitter and `cycle_deadline` the next cycle's record may come
/// before the record counts as stale (alerting, the cycle's own start-up, a slow vault).
pub const STATUS_RECORD_SLACK: Duration = Duration::from_secs(5 * 60);

/// Daemon mode (`akv-rotator run`).
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// When cycles run, read in `time_zone` (default UTC).
    pub schedule: CronSchedule,
    /// The schedule as written (5 or 6 fields).
    pub schedule_text: String,
    /// Each cycle starts at a random delay in `[0, jitter]` after its slot.
    pub jitter: Duration,
    /// A cycle lists the vaults again when the last listing is older than this; until then it
    /// uses that listing with what it wrote since.
    pub relist_after: Duration,
    /// A client secret read is reused while the listing shows it unchanged, at most this long.
    pub client_secret_max_age: Duration,
    /// Where `/healthz`, `/readyz`, `/metrics` and `/status` are served.
    pub listen: std::net::SocketAddr,
    /// How long in-flight work may take to finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// Per endpoint connection: from waiting for a request to its last header byte.
    pub header_read_timeout: Duration,
    /// Per endpoint connection: closed after this long without a byte either way.
    pub idle_timeout: Duration,
    /// Endpoint connections open at once, per listener; more are closed on accept.
    pub max_connections: usize,
    /// Where `/status` is served.
    pub status: StatusListener,
}

/// Where the daemon serves `/status` (`[daemon] status`): the HTML page names every app and
/// vault, which a cluster may want off the port its probes and Prometheus reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusListener {
    /// `"main"`: on `listen` with the other endpoints.
    Main,
    /// An address: on a listener of its own.
    Separate(std::net::SocketAddr),
    /// `"off"`: not served.
    Off,
}

impl DaemonConfig {
    /// The first scheduled slot strictly after `t`, without jitter.
    pub fn next_slot(&self, t: OffsetDateTime) -> Option<OffsetDateTime> {
        self.schedule.next_after(t)
    }
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            schedule: parse_cron(DEFAULT_SCHEDULE)
                .expect("the default schedule is a valid cron expression")
                .into(),
            schedule_text: DEFAULT_SCHEDULE.to_string(),
            jitter: Duration::from_secs(30),
            relist_after: Duration::from_secs(10 * 60),
            client_secret_max_age: Duration::from_secs(3600),
            listen: std::net::SocketAddr::from(([0, 0, 0, 0], 8080)),
            shutdown_grace: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 128,
            status: StatusListener::Main,
        }
    }
}

impl ValidConfig {
    /// By when the first scheduled cycle after `t` should have finished and recorded its
    /// outcome: its slot, plus `jitter`, `cycle_deadline` with its grace, and
    /// [`STATUS_RECORD_SLACK`]. `None` when the schedule has no further slot.
    pub fn next_record_by(&self, t: OffsetDateTime) -> Option<OffsetDateTime> {
        let slot = self.daemon.next_slot(t)?;
        let allowance = self.daemon.jitter
            + self.cycle_deadline
            + deadline_grace(self.cycle_deadline)
            + STATUS_RECORD_SLACK;
        Some(slot + time::Duration::try_from(allowance).ok()?)
    }

    /// Every vault the config touches, each once, in a stable order.
    pub fn vaults(&self) -> Vec<Url> {
        let mut set = BTreeSet::new();
        for app in &self.apps {
            set.insert(Url::clone(&app.client_secret_vault));
            for t in &app.targets {
                set.insert(Url::clone(&t.vault));
            }
        }
        if let Some(a) = &self.alerts {
            set.extend(a.state_vault.clone());
            set.extend(a.sinks.iter().filter_map(|s| s.url_vault.clone()));
        }
        // The status record's vault may be a top-level `vault` that nothing else names.
        set.extend(self.status_record_vault.clone());
        set.into_iter().collect()
    }
}
