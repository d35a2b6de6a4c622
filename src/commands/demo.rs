//! `akv-rotator demo`: the main job end to end on the built-in emulator, offline.
//!
//! Starts the emulator in-process on free ports, seeds a tenant with three apps (one healthy,
//! one whose client secret expires in a few days, one whose stored client secret is wrong),
//! writes a real config file, runs one cycle through the same code as `once`, prints the report,
//! then reads a token back as a consumer would, with its own identity through the official SDK.
//! Exits 0 when everything happened as designed.

use std::collections::BTreeMap;
use std::path::Path;

use akv_emulator::{
    AppRegistrationSeed, AppSeed, ClientSecretSeed, EmulatorOptions, PermissionSeed, SecretSeed,
    Seed, TenantSeed, VaultSeed,
};
use azure_core::credentials::Secret;
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use time::{Duration, OffsetDateTime};

use crate::cli::OutputFormat;
use crate::config::expiry::Severity;
use crate::config::{self, Cloud, CloudName};
use crate::cycle::{Cycle, CycleOptions};
use crate::error::ErrorClass;
use crate::exit;
use crate::report::{CycleReport, Outcome};

/// Where the demo's story goes: stdout for people; stderr when stdout carries the JSON report,
/// so that `demo --output json` prints only JSON on stdout.
#[derive(Clone, Copy)]
struct Story {
    to_stderr: bool,
}

impl Story {
    /// Writes, and stops quietly when the reader went away (`demo | head`).
    fn write(self, args: std::fmt::Arguments<'_>) {
        use std::io::Write as _;
        let _ = if self.to_stderr {
            std::io::stderr().write_fmt(args)
        } else {
            std::io::stdout().write_fmt(args)
        };
    }
}

/// One line of the story.
macro_rules! say {
    ($story:expr, $($arg:tt)*) => {{
        $story.write(format_args!("{}\n", format_args!($($arg)*)));
    }};
}

/// Story text as is.
macro_rules! say_raw {
    ($story:expr, $($arg:tt)*) => {{
        $story.write(format_args!($($arg)*));
    }};
}

const TENANT: &str = "4f1c2b7e-8a3d-4c5e-9b6a-1d2e3f4a5b6c";
const ROTATOR: &str = "0a0a0a0a-1111-4222-8333-444444444444";
const CONSUMER: &str = "0c0c0c0c-1111-4222-8333-444444444444";
const SALES: &str = "5a1e5000-1111-4222-8333-444444444444";
const OPS: &str = "0b500000-1111-4222-8333-444444444444";
const LEGACY: &str = "1e6ac400-1111-4222-8333-444444444444";
const FINANCE: &str = "f1aa0ce0-1111-4222-8333-444444444444";
const POWERBI: &str = "https://analysis.windows.net/powerbi/api";
const GRAPH: &str = "https://graph.microsoft.com";
/// The rotation's grace period in the demo: short, so that a later cycle removes the old secret.
const DEMO_GRACE: &str = "3s";

/// A random secret for the emulator's seeded apps (demo only).
fn random_secret() -> String {
    let mut bytes = [0u8; 24];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn app(
    client_id: &str,
    name: &str,
    secret: &str,
    end: OffsetDateTime,
    roles: &[(&str, &[&str])],
) -> AppSeed {
    AppSeed {
        client_id: client_id.into(),
        display_name: Some(name.into()),
        object_id: None,
        secrets: vec![ClientSecretSeed {
            value: secret.into(),
            key_id: None,
            hint: None,
            start: Some(OffsetDateTime::now_utc() - Duration::days(30)),
            end: Some(end),
        }],
        roles: roles
            .iter()
            .map(|(r, v)| (r.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect(),
    }
}

fn stored(name: &str, value: &str, exp: Option<OffsetDateTime>) -> SecretSeed {
    SecretSeed {
        name: name.into(),
        value: value.into(),
        content_type: Some("text/plain".into()),
        enabled: true,
        nbf: None,
        exp,
        tags: BTreeMap::new(),
    }
}

fn perm(principal: &str, read: bool, write: bool) -> PermissionSeed {
    PermissionSeed {
        principal: principal.into(),
        read,
        write,
        secrets: None,
    }
}

/// Runs the demo; returns the process exit code.
pub async fn run(output: OutputFormat, keep: Option<&Path>) -> i32 {
    match run_inner(output, keep).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("demo failed: {e:#}");
            exit::FAILED
        }
    }
}

async fn run_inner(output: OutputFormat, keep: Option<&Path>) -> anyhow::Result<i32> {
    crate::net::http::install_crypto_provider();
    let story = Story {
        to_stderr: output == OutputFormat::Json,
    };
    let now = OffsetDateTime::now_utc();
    let rotator_secret = random_secret();
    let consumer_secret = random_secret();
    let sales_secret = random_secret();
    let ops_secret = random_secret();
    let legacy_secret = random_secret();
    let sales_end = now + Duration::days(180);
    let ops_end = now + Duration::days(12);
    let legacy_end = now + Duration::days(90);
    let finance_secret = random_secret();
    let finance_end = now + Duration::days(20);

    let seed = Seed {
        tenants: vec![TenantSeed {
            id: TENANT.into(),
            apps: vec![
                // The rotator may rotate the client secrets of apps it owns.
                app(
                    ROTATOR,
                    "akv-rotator",
                    &rotator_secret,
                    now + Duration::days(365),
                    &[(GRAPH, &["Application.ReadWrite.OwnedBy"])],
                ),
                app(
                    CONSUMER,
                    "report-consumer",
                    &consumer_secret,
                    now + Duration::days(365),
                    &[],
                ),
                app(
                    SALES,
                    "sales-reporting",
                    &sales_secret,
                    sales_end,
                    &[(POWERBI, &["Tenant.Read.All"])],
                ),
                app(
                    OPS,
                    "ops-dashboard",
                    &ops_secret,
                    ops_end,
                    &[
                        (POWERBI, &["Tenant.Read.All"]),
                        (GRAPH, &["Application.Read.All"]),
                    ],
                ),
                app(
                    LEGACY,
                    "legacy-export",
                    &legacy_secret,
                    legacy_end,
                    &[(POWERBI, &["Tenant.Read.All"])],
                ),
                app(
                    FINANCE,
                    "finance-etl",
                    &finance_secret,
                    finance_end,
                    &[(POWERBI, &["Tenant.Read.All"])],
                ),
            ],
        }],
        vaults: vec![
            VaultSeed {
                name: "secrets-in".into(),
                tenant_id: TENANT.into(),
                permissions: vec![
                    perm(ROTATOR, true, false),
                    // Writing a rotated client secret: only this one secret and its
                    // rotation lease.
                    PermissionSeed {
                        principal: ROTATOR.into(),
                        read: true,
                        write: true,
                        secrets: Some(vec![
                            "finance-etl-client-secret".into(),
                            "finance-etl-client-secret-rotation-lease".into(),
                        ]),
                    },
                ],
                secrets: vec![
                    stored(
                        "sales-reporting-client-secret",
                        &sales_secret,
                        Some(sales_end),
                    ),
                    stored("ops-dashboard-client-secret", &ops_secret, Some(ops_end)),
                    // Someone pasted the wrong value: Entra ID will refuse it.
                    stored(
                        "legacy-export-client-secret",
                        &random_secret(),
                        Some(legacy_end),
                    ),
                    stored(
                        "finance-etl-client-secret",
                        &finance_secret,
                        Some(finance_end),
                    ),
                ],
            },
            VaultSeed {
                name: "tokens-out".into(),
                tenant_id: TENANT.into(),
                permissions: vec![perm(ROTATOR, true, true), perm(CONSUMER, true, false)],
                // The alert webhook URL is a credential: it lives in Key Vault (set below).
                secrets: vec![],
            },
        ],
        app_registrations: vec![AppRegistrationSeed {
            client_id: FINANCE.into(),
            owners: vec![ROTATOR.into()],
            ..Default::default()
        }],
        ..Default::default()
    };

    let seed_json = serde_json::to_string_pretty(&seed)?;
    let emulator = akv_emulator::start(EmulatorOptions {
        seed,
        ..Default::default()
    })
    .await?;
    // The Teams webhook is the emulator's local test receiver; its URL is stored in Key Vault,
    // in the vault consumers cannot read (the URL is a credential).
    emulator.apply_seed(Seed {
        vaults: vec![VaultSeed {
            name: "secrets-in".into(),
            tenant_id: TENANT.into(),
            permissions: vec![],
            secrets: vec![stored(
                "alerts-teams-webhook",
                &emulator.webhook_url("security-teams"),
                None,
            )],
        }],
        ..Default::default()
    })?;
    // The seed, config, secret file and report go to `--keep DIR`, else to a temporary directory.
    let temp = tempfile::tempdir()?;
    let dir_path = match keep {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.to_path_buf()
        }
        None => temp.path().to_path_buf(),
    };
    let dir = &dir_path;
    let secret_file = dir.join("rotator-client-secret");
    write_private(&secret_file, &rotator_secret)?;
    let secrets_in = emulator
        .vault_url("secrets-in")
        .ok_or_else(|| anyhow::anyhow!("emulator has no vault secrets-in"))?;
    let tokens_out = emulator
        .vault_url("tokens-out")
        .ok_or_else(|| anyhow::anyhow!("emulator has no vault tokens-out"))?;
    let config_text = format!(
        r#"# Written by `akv-rotator demo`: the same format as production, pointed at the emulator.
cloud = "custom"
ca_file = "{ca}"
vault = "{tokens_out}"          # tokens are written here
refresh_before = "30m"

[custom_cloud]
authority_host = "{authority}"
powerbi_api = "{powerbi}"          # the probe may only call this host
graph_endpoint = "{graph}"         # Microsoft Graph, for client secret rotation

[alerts]                           # deduplicated; state kept in the tokens vault
realert_after = "24h"
source = "akv-rotator/demo"        # CloudEvents source: names this deployment

[[alerts.sinks]]
name = "security-teams"
kind = "teams"
url_secret = "alerts-teams-webhook"  # the webhook URL is read from Key Vault,
url_vault = "{secrets_in}"  # from a vault consumers cannot read
min_severity = "warning"

[credential]
kind = "client-secret"
tenant_id = "{TENANT}"
client_id = "{ROTATOR}"
client_secret_file = "{secret_file}"

[[apps]]
name = "sales-reporting"
tenant_id = "{TENANT}"
client_id = "{SALES}"
client_secret_name = "sales-reporting-client-secret"
vault = "{secrets_in}"          # client secrets are only read, from another vault

[[apps.targets]]
scope = "{POWERBI}/.default"
secret = "sales-reporting-powerbi-token"
required_roles = ["Tenant.Read.All"]
probe = true                      # GET /v1.0/myorg/groups?$top=1 with the new token before writing it

[[apps]]
name = "ops-dashboard"
tenant_id = "{TENANT}"
client_id = "{OPS}"
client_secret_name = "ops-dashboard-client-secret"
vault = "{secrets_in}"
owner = "ops-team"

[[apps.targets]]
scope = "{POWERBI}/.default"
secret = "ops-dashboard-powerbi-token"

[[apps.targets]]
scope = "{GRAPH}/.default"
secret = "ops-dashboard-graph-token"

[[apps]]
name = "legacy-export"
tenant_id = "{TENANT}"
client_id = "{LEGACY}"
client_secret_name = "legacy-export-client-secret"
vault = "{secrets_in}"

[[apps.targets]]
scope = "{POWERBI}/.default"
secret = "legacy-export-powerbi-token"

[[apps]]
name = "finance-etl"
tenant_id = "{TENANT}"
client_id = "{FINANCE}"
client_secret_name = "finance-etl-client-secret"
vault = "{secrets_in}"
# Renew the client secret 30 days before it expires: add a new one in Entra ID, wait until it
# works, publish it to Key Vault, remove the old one after a grace period (a few seconds here,
# so that the demo shows the removal; days in production).
rotate = {{ before_expiry = "30d", lifetime = "180d", grace = "{grace}" }}

[[apps.targets]]
scope = "{POWERBI}/.default"
secret = "finance-etl-powerbi-token"
"#,
        ca = emulator.ca_cert_path().display(),
        authority = emulator.authority_host(),
        powerbi = emulator.powerbi_url(),
        graph = emulator.graph_url(),
        secret_file = secret_file.display(),
        grace = DEMO_GRACE,
    );
    let config_path = dir.join("rotator.toml");
    std::fs::write(&config_path, &config_text)?;

    say!(story, "== akv-rotator demo ==");
    say!(
        story,
        "Emulator: Entra ID at {}, vaults secrets-in at {secrets_in} and tokens-out at {tokens_out}",
        emulator.authority_host()
    );
    say!(
        story,
        "Config:   {}  (4 apps, 5 token targets)\n",
        config_path.display()
    );

    let cfg = config::load(&config_path)?;
    let rotator = Cycle::new(cfg)?;
    let report = crate::commands::once::run_once(&rotator, CycleOptions::default()).await?;
    let first_cycle_alerts = emulator.webhook_deliveries("security-teams").len();
    match output {
        OutputFormat::Json => crate::commands::out_json(&report),
        OutputFormat::Table => say_raw!(story, "{}", report.to_table()),
    }

    if let Some(kept) = keep {
        // The seed holds the demo apps' (random, local) client secrets: owner-only, like the
        // rotator's secret file.
        write_private(&kept.join("seed.json"), &seed_json)?;
        report.write_json(std::fs::File::create(kept.join("report.json"))?)?;
    }

    // A second run moments later: every written token is fresh, nothing is rewritten.
    let second = crate::commands::once::run_once(&rotator, CycleOptions::default()).await?;
    say!(
        story,
        "\nA second cycle right after: {} fresh, {} written, {} failed (fresh tokens are not rewritten).",
        second.summary.fresh,
        second.summary.written,
        second.summary.failed
    );

    let after_second = emulator.webhook_deliveries("security-teams").len();
    // After the grace period, the old client secret of the rotated app is removed from Entra ID.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let third = crate::commands::once::run_once(&rotator, CycleOptions::default()).await?;
    let removal = third
        .rotations
        .iter()
        .find(|r| r.app == "finance-etl")
        .map(|r| serde_json::to_value(r.outcome).unwrap_or_default());
    say!(
        story,
        "A third cycle after the {DEMO_GRACE} grace period: finance-etl's rotation is {} (the previous client secret was removed from Entra ID).",
        removal
            .as_ref()
            .and_then(|v| v.as_str())
            .unwrap_or("not reported")
    );

    // The security team's read-only view, as `akv-rotator status` prints it.
    let view = rotator
        .run(CycleOptions {
            dry_run: true,
            ..Default::default()
        })
        .await?;
    say!(
        story,
        "\n`akv-rotator status` (read-only, most urgent first):"
    );
    say_raw!(
        story,
        "{}",
        crate::report::status::Status::new(&view, &rotator.config().thresholds).to_table()
    );

    let alerts = emulator.webhook_deliveries("security-teams");
    say!(
        story,
        "\nAlerts: the local Teams receiver got {} message(s) from the first cycle (among them the new client \
         secret the rotation added, by key id), {} from the second (unchanged findings and the added \
         credential are not re-sent; the rotated secret's warning is resolved) and {} from the third \
         (the old client secret removed, by key id, and the target that has now failed three runs in a row):",
        first_cycle_alerts,
        after_second - first_cycle_alerts,
        alerts.len() - after_second
    );
    for a in &alerts {
        if let Ok(card) = serde_json::from_str::<serde_json::Value>(&a.body) {
            let content = &card["attachments"][0]["content"];
            let title = as_displayed(content["body"][0]["text"].as_str().unwrap_or(""));
            say!(story, "  Adaptive Card: {title}");
            if let Some(facts) = content["body"]
                .as_array()
                .and_then(|b| b.iter().find(|x| x["type"] == "FactSet"))
            {
                for f in facts["facts"].as_array().into_iter().flatten() {
                    say!(
                        story,
                        "    {:<12} {}",
                        f["title"].as_str().unwrap_or(""),
                        as_displayed(f["value"].as_str().unwrap_or(""))
                    );
                }
            }
        }
    }

    consumer_view(story, &emulator, &tokens_out, &consumer_secret).await?;

    let ops_alerts = alerts
        .iter()
        .filter(|a| a.body.contains("ops-dashboard"))
        .count();
    let finance_resolved = alerts[first_cycle_alerts..]
        .iter()
        .any(|a| a.body.contains("finance-etl") && a.body.contains("Resolved"));
    let finance_added = alerts
        .iter()
        .filter(|a| a.body.contains("New client secret") && a.body.contains("finance-etl"))
        .count();
    let finance_removed = alerts[after_second..]
        .iter()
        .filter(|a| a.body.contains("removed from app") && a.body.contains("finance-etl"))
        .count();
    let ok = as_designed(&report)
        && ops_alerts == 1
        && finance_resolved
        && finance_added == 1
        && finance_removed == 1;
    say!(
        story,
        "\nDemo {}: tokens written after signature, claims and API-probe validation, a client secret expiring within 30 days flagged and alerted once, another one rotated through Microsoft Graph with the new credential and the removal of the old one each announced once, a wrong client secret reported as a failure.",
        if ok {
            "ran as designed"
        } else {
            "did NOT run as designed"
        },
    );
    if let Some(kept) = keep {
        say!(
            story,
            "\nKept in {}: seed.json (the same world again: `akv-rotator emulator --seed {}/seed.json`), rotator.toml and rotator-client-secret (they name this run's emulator ports and CA, gone when it stops), report.json (the first cycle).",
            kept.display(),
            kept.display()
        );
    }
    emulator.shutdown().await;
    Ok(if ok { exit::OK } else { exit::FAILED })
}

/// Card text as Teams shows it: without the backslashes that escape Markdown.
fn as_displayed(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match chars.peek() {
            Some(next) if c == '\\' && next.is_ascii_punctuation() => {}
            _ => out.push(c),
        }
    }
    out
}

fn as_designed(report: &CycleReport) -> bool {
    let written = report.targets.iter().any(|t| {
        t.app == "sales-reporting"
            && t.outcome == Outcome::Written
            && t.signature.as_deref() == Some("verified")
            && t.probe.as_deref() == Some("passed")
    });
    let warned = report
        .apps
        .iter()
        .any(|a| a.name == "ops-dashboard" && a.client_secret.severity == Severity::Warning);
    let failed = report.targets.iter().any(|t| {
        t.app == "legacy-export"
            && t.error
                .as_ref()
                .is_some_and(|e| e.class == ErrorClass::BadClientSecret)
    });
    let rotated = report.rotations.iter().any(|r| {
        r.app == "finance-etl" && r.outcome == crate::cycle::rotation::RotationOutcome::Rotated
    });
    written && warned && failed && rotated
}

/// Reads the token as a consumer: its own identity, read-only access, the official SDK.
async fn consumer_view(
    story: Story,
    emulator: &akv_emulator::EmulatorHandle,
    tokens_out: &str,
    consumer_secret: &str,
) -> anyhow::Result<()> {
    let http = crate::net::http::build_client(Some(emulator.ca_cert_path()))?;
    let cloud = Cloud {
        name: CloudName::Custom,
        authority_host: url::Url::parse(&emulator.authority_host())?,
        vault_suffix: None,
        powerbi_api: None,
    };
    let options = crate::azure::identity::client_options(&http, &cloud, None);
    let credential = ClientSecretCredential::new(
        TENANT,
        CONSUMER.into(),
        Secret::new(consumer_secret.to_string()),
        Some(ClientSecretCredentialOptions {
            client_options: options.clone(),
        }),
    )?;
    let client = SecretClient::new(
        tokens_out,
        credential,
        Some(SecretClientOptions {
            client_options: options,
            verify_challenge_resource: Some(false),
            ..Default::default()
        }),
    )?;
    let secret = client
        .get_secret("sales-reporting-powerbi-token", None)
        .await?
        .into_model()?;
    let value = secret.value.unwrap_or_default();
    let attrs = secret.attributes.unwrap_or_default();
    say!(
        story,
        "\nHow a consumer reads its token (its own identity, read-only):"
    );
    say!(
        story,
        "  az keyvault secret show --vault-name <tokens-vault> --name sales-reporting-powerbi-token --query value -o tsv"
    );
    say!(
        story,
        "  SDK: SecretClient::get_secret(\"sales-reporting-powerbi-token\") returned:"
    );
    say!(story, "    id           {}", secret.id.unwrap_or_default());
    say!(
        story,
        "    contentType  {}",
        secret.content_type.unwrap_or_default()
    );
    say!(
        story,
        "    attributes   enabled={} nbf={} exp={}",
        attrs.enabled.unwrap_or(false),
        attrs
            .not_before
            .map(crate::timefmt::rfc3339)
            .unwrap_or_default(),
        attrs
            .expires
            .map(crate::timefmt::rfc3339)
            .unwrap_or_default()
    );
    let mut tags: Vec<_> = secret.tags.unwrap_or_default().into_iter().collect();
    tags.sort();
    for (k, v) in tags {
        say!(story, "    tag          {k} = {v}");
    }
    say!(
        story,
        "    value        <a JWT of {} bytes: send it as `Authorization: Bearer …`; never logged here>",
        value.len()
    );
    Ok(())
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    let mut file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?
    };
    #[cfg(not(unix))]
    let mut file = std::fs::File::create(path)?;
    file.write_all(contents.as_bytes())
}
