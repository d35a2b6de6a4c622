//! The rotator signing in to Key Vault with an Azure managed identity, end to end: the real
//! binary against the emulator's plain-HTTP managed identity listener, with the environment
//! Azure injects. App Service / Functions / Container Apps protocol (`IDENTITY_ENDPOINT` on
//! loopback + `IDENTITY_HEADER`) for system- and user-assigned identities, `kind = "auto"`, the
//! Container Apps Job configuration that `infra/` deploys, an `IDENTITY_ENDPOINT` off the
//! machine refused; IMDS (`169.254.169.254`, hard-coded in the SDK) in ignored tests that
//! `.ci/imds` runs inside a private network namespace.
//!
//! Each test grants vault access to one identity only, so a written token proves that this
//! identity, and no other, signed in.

use std::path::{Path, PathBuf};

use crate::common::*;
use akv_emulator::{
    AppSeed, ClientSecretSeed, MANAGED_IDENTITY_SERVICE, ManagedIdentitySeed, Seed, TenantSeed,
};

/// The host's system-assigned identity.
const SYSTEM_CLIENT: &str = "5a1e0000-0000-4000-8000-000000000001";
const SYSTEM_PRINCIPAL: &str = "5a1e0000-0000-4000-8000-0000000000a1";
/// A user-assigned identity, as infra/modules/identity.bicep creates it.
const USER_CLIENT: &str = "5a1e0000-0000-4000-8000-000000000002";
const USER_PRINCIPAL: &str = "5a1e0000-0000-4000-8000-0000000000a2";
const USER_RESOURCE: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-akv-rotator-dev/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-akvrot-dev";

/// Environment variables that would steer the credential if the test process had them.
const AZURE_IDENTITY_ENV: &[&str] = &[
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "RUST_LOG",
];

/// A test world on an emulated Azure host with a system- and a user-assigned identity, and
/// the emulator's managed identity listener on `listen`. Nobody has vault access until
/// [`grant`].
async fn host(listen: &str) -> World {
    let listen = listen.parse().unwrap();
    let world = World::start_with_emulator(vec![TestApp::new("sales")], |o| {
        o.managed_identity_listen = Some(listen);
    })
    .await;
    world
        .emulator
        .apply_seed(Seed {
            managed_identities: vec![
                ManagedIdentitySeed::system_assigned(TENANT, SYSTEM_CLIENT, SYSTEM_PRINCIPAL),
                ManagedIdentitySeed::user_assigned(
                    TENANT,
                    USER_CLIENT,
                    USER_PRINCIPAL,
                    USER_RESOURCE,
                ),
            ],
            ..Default::default()
        })
        .unwrap();
    // The rotator's own app registration must play no part.
    world.seed_vaults(vec![
        vault_seed(INPUT, vec![perm(ROTATOR, false, false)], vec![]),
        vault_seed(OUTPUT, vec![perm(ROTATOR, false, false)], vec![]),
    ]);
    world
}

/// Gives `principal` (an identity's principal id, as Azure RBAC names it) read access to the
/// input vault and write access to the output vault.
fn grant(world: &World, principal: &str) {
    world.seed_vaults(vec![
        vault_seed(INPUT, vec![perm(principal, true, false)], vec![]),
        vault_seed(OUTPUT, vec![perm(principal, true, true)], vec![]),
    ]);
}

/// Takes `principal`'s vault access away again.
fn revoke(world: &World, principal: &str) {
    world.seed_vaults(vec![
        vault_seed(INPUT, vec![perm(principal, false, false)], vec![]),
        vault_seed(OUTPUT, vec![perm(principal, false, false)], vec![]),
    ]);
}

/// Writes the world's config with this `[credential]` table; returns its path.
fn config_with_credential(world: &World, file: &str, credential: &str) -> std::path::PathBuf {
    let path = world.dir.path().join(file);
    std::fs::write(&path, world.config_text_with_credential(credential)).unwrap();
    path
}

/// `once --config <config> --output json` with exactly `env` from the Azure identity
/// variables (inherited ones removed); (exit code, report, stdout + stderr).
fn once(config: &Path, env: &[(&str, &str)]) -> (i32, serde_json::Value, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_akv-rotator"));
    let config = config.display().to_string();
    cmd.args(["once", "--config", config.as_str(), "--output", "json"]);
    for name in AZURE_IDENTITY_ENV {
        cmd.env_remove(name);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let report = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    let output = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), report, output)
}

/// What App Service, Functions and Container Apps inject: the loopback endpoint and the header
/// secret; debug logs on, so that the secret check below covers them.
fn app_service_env(world: &World) -> Vec<(&'static str, String)> {
    vec![
        (
            "IDENTITY_ENDPOINT",
            world.emulator.identity_endpoint().unwrap(),
        ),
        ("IDENTITY_HEADER", world.emulator.identity_header().into()),
        ("RUST_LOG", "debug".into()),
    ]
}

fn as_env<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The cycle wrote the sales token (one version), and the identity header never showed.
fn assert_written(world: &World, code: i32, report: &serde_json::Value, output: &str) {
    assert_eq!(code, 0, "{output}");
    let t = target(report, "sales-powerbi-token");
    assert_eq!(t["outcome"], "written", "{report:#}");
    let versions = world.versions(OUTPUT, "sales-powerbi-token");
    assert_eq!(versions.len(), 1);
    assert_eq!(jwt_claims(&versions[0].value)["aud"], POWERBI);
    assert!(
        !output.contains(world.emulator.identity_header()),
        "the IDENTITY_HEADER secret leaked into the output"
    );
}

/// Managed identity token requests the emulator answered with 200, by protocol operation.
fn identity_tokens(world: &World, operation: &str) -> u64 {
    world
        .emulator
        .stats()
        .entries
        .iter()
        .filter(|e| {
            e.service == MANAGED_IDENTITY_SERVICE && e.operation == operation && e.status == 200
        })
        .map(|e| e.count)
        .sum()
}

/// `[credential]` sections: the managed identity named by the host, and `auto`.
const MANAGED_IDENTITY: &str = "[credential]\nkind = \"managed-identity\"\n";
const AUTO: &str = "[credential]\nkind = \"auto\"\n";

/// On an App Service host whose identity is `principal`, `once` with this `[credential]`
/// writes the token through the App Service identity endpoint.
async fn writes_through_the_app_service_endpoint(principal: &str, file: &str, credential: &str) {
    let (world, config) = app_service_host(principal, file, credential).await;

    let (code, report, output) = once_on_app_service(&world, &config);

    assert_written(&world, code, &report, &output);
    assert!(identity_tokens(&world, "AppServiceToken") >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn system_assigned_identity_over_the_app_service_protocol_writes_the_token() {
    writes_through_the_app_service_endpoint(SYSTEM_PRINCIPAL, "system.toml", MANAGED_IDENTITY)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn user_assigned_identity_by_client_id_writes_the_token() {
    writes_through_the_app_service_endpoint(
        USER_PRINCIPAL,
        "user.toml",
        &format!("[credential]\nkind = \"managed-identity\"\nclient_id = \"{USER_CLIENT}\"\n"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_without_workload_identity_uses_the_system_assigned_identity() {
    writes_through_the_app_service_endpoint(SYSTEM_PRINCIPAL, "auto.toml", AUTO).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_with_azure_client_id_uses_that_user_assigned_identity() {
    let (world, config) = app_service_host(USER_PRINCIPAL, "auto.toml", AUTO).await;

    // AZURE_CLIENT_ID names a user-assigned identity, as for DefaultAzureCredential (and as
    // infra/modules/containerAppsJob.bicep sets it).
    let mut env = app_service_env(&world);
    env.push(("AZURE_CLIENT_ID", USER_CLIENT.into()));
    let (code, report, output) = once(&config, &as_env(&env));

    assert_written(&world, code, &report, &output);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_identity_endpoint_off_the_machine_is_refused_before_any_request() {
    let (world, config) = app_service_host(SYSTEM_PRINCIPAL, "remote.toml", MANAGED_IDENTITY).await;
    let header = world.emulator.identity_header().to_string();

    // 192.0.2.1 is TEST-NET-1 (RFC 5737): never routed, and never contacted here.
    let (code, _, output) = once(
        &config,
        &[
            ("IDENTITY_ENDPOINT", "http://192.0.2.1:8081/msi/token"),
            ("IDENTITY_HEADER", header.as_str()),
        ],
    );

    assert_eq!(code, 2, "{output}");
    assert!(output.contains("IDENTITY_ENDPOINT"), "{output}");
    assert!(output.contains("192.0.2.1"), "{output}");
    assert!(output.contains("plain HTTP"), "{output}");
    assert!(
        !output.contains(&header),
        "the IDENTITY_HEADER secret leaked"
    );
    let stats = world.emulator.stats();
    assert_eq!(stats.count(INPUT, "SecretGet"), 0, "no client secret read");
    assert_eq!(stats.count(OUTPUT, "SecretSet"), 0, "nothing written");
}

/// What infra/examples/container-apps.rotator.toml names: the tenant and app of its one app.
const EXAMPLE_TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const EXAMPLE_APP: &str = "6a1c3e5f-7b9d-4f2a-8c6e-0d1f3a5b7c9e";

/// A host whose identity `principal` may use the vaults, and its config `file` with this
/// `[credential]` table.
async fn app_service_host(principal: &str, file: &str, credential: &str) -> (World, PathBuf) {
    let world = host("127.0.0.1:0").await;
    grant(&world, principal);
    let config = config_with_credential(&world, file, credential);
    (world, config)
}

/// [`once`] in the environment App Service gives its apps.
fn once_on_app_service(world: &World, config: &Path) -> (i32, serde_json::Value, String) {
    let env = app_service_env(world);
    once(config, &as_env(&env))
}

/// The config file the Container Apps Job mounts: infra/examples/container-apps.rotator.toml
/// plus the `[credential]` table infra/modules/containerAppsJob.bicep appends (read from the
/// Bicep, so that a change there is tested here), pointed at the emulator instead of Azure.
fn container_apps_job_config(world: &World) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bicep = std::fs::read_to_string(root.join("infra/modules/containerAppsJob.bicep")).unwrap();
    let template = bicep
        .lines()
        .find_map(|l| l.trim().strip_prefix("var fullConfig = '"))
        .and_then(|l| l.strip_suffix('\''))
        .expect("containerAppsJob.bicep defines fullConfig");
    let example =
        std::fs::read_to_string(root.join("infra/examples/container-apps.rotator.toml")).unwrap();
    // The parts of the example that name Azure, replaced by the emulator's.
    let azure = [
        (
            "cloud = \"public\"\n".to_string(),
            format!(
                "cloud = \"custom\"\nca_file = \"{}\"\n",
                world.emulator.ca_cert_path().display()
            ),
        ),
        (
            "\n[expiry]".to_string(),
            format!(
                "\n[custom_cloud]\nauthority_host = \"{}\"\n\n[expiry]",
                world.emulator.authority_host()
            ),
        ),
        (
            "\"https://kv-contoso-rot-out-dev.vault.azure.net/\"".to_string(),
            format!("\"{}\"", world.vault(OUTPUT)),
        ),
        (
            "\"https://kv-contoso-rot-in-dev.vault.azure.net/\"".to_string(),
            format!("\"{}\"", world.vault(INPUT)),
        ),
    ];
    let mut rotator_config = example;
    for (from, to) in azure {
        assert!(
            rotator_config.contains(&from),
            "the example changed: {from} is gone"
        );
        rotator_config = rotator_config.replace(&from, &to);
    }
    assert!(rotator_config.contains(EXAMPLE_TENANT) && rotator_config.contains(EXAMPLE_APP));
    template
        .replace("${rotatorConfig}", &rotator_config)
        .replace("${identityClientId}", USER_CLIENT)
        .replace("\\n", "\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_container_apps_job_configuration_runs_with_its_user_assigned_identity() {
    let world = host("127.0.0.1:0").await;
    grant(&world, USER_PRINCIPAL);
    // The example's app registration, with its client secret in the input vault.
    let secret = "example~app-secret-value-0123456789abcdef";
    world
        .emulator
        .apply_seed(Seed {
            tenants: vec![TenantSeed {
                id: EXAMPLE_TENANT.into(),
                apps: vec![AppSeed {
                    client_id: EXAMPLE_APP.into(),
                    secrets: vec![ClientSecretSeed {
                        value: secret.into(),
                        end: Some(time::OffsetDateTime::now_utc() + days(90)),
                        ..Default::default()
                    }],
                    roles: [(POWERBI.to_string(), vec!["Tenant.Read.All".to_string()])].into(),
                    ..Default::default()
                }],
            }],
            ..Default::default()
        })
        .unwrap();
    world.put_secret(
        INPUT,
        "sales-reporting-client-secret",
        secret,
        Some(time::OffsetDateTime::now_utc() + days(90)),
    );
    let config = world.dir.path().join("rotator.toml");
    let text = container_apps_job_config(&world);
    assert!(
        text.contains(&format!(
            "[credential]\nkind = \"managed-identity\"\nclient_id = \"{USER_CLIENT}\"\n"
        )),
        "{text}"
    );
    std::fs::write(&config, text).unwrap();

    // The job's environment (containerAppsJob.bicep) plus what Container Apps injects.
    let (code, report, output) = once(
        &config,
        &[
            ("AZURE_CLIENT_ID", USER_CLIENT),
            ("RUST_LOG", "info"),
            (
                "IDENTITY_ENDPOINT",
                &world.emulator.identity_endpoint().unwrap(),
            ),
            ("IDENTITY_HEADER", world.emulator.identity_header()),
        ],
    );

    assert_eq!(code, 0, "{output}");
    let t = target(&report, "sales-reporting-powerbi-token");
    assert_eq!(t["outcome"], "written", "{report:#}");
    let versions = world.versions(OUTPUT, "sales-reporting-powerbi-token");
    assert_eq!(versions.len(), 1);
    assert_eq!(jwt_claims(&versions[0].value)["appid"], EXAMPLE_APP);
    assert!(!output.contains(world.emulator.identity_header()));
}

/// IMDS for real: the SDK's hard-coded `http://169.254.169.254/metadata/identity/oauth2/token`,
/// answered by the emulator bound to `169.254.169.254:80`. Needs that address on a local
/// interface and the right to bind port 80: `.ci/imds` runs this inside a private network
/// namespace (nothing leaves the machine). System-assigned first, then user-assigned by
/// `client_id`, each the only identity with vault access at the time.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs 169.254.169.254 on loopback: run by .ci/imds in a private network namespace"]
async fn imds_signs_in_system_and_user_assigned_identities() {
    let world = host("169.254.169.254:80").await;

    grant(&world, SYSTEM_PRINCIPAL);
    let config = config_with_credential(&world, "imds-system.toml", MANAGED_IDENTITY);
    let (code, report, output) = once(&config, &[("RUST_LOG", "debug")]);
    assert_written(&world, code, &report, &output);
    assert!(identity_tokens(&world, "ImdsToken") >= 1, "{output}");
    assert_eq!(identity_tokens(&world, "AppServiceToken"), 0);

    // The user-assigned identity writes a second target, alone with vault access.
    revoke(&world, SYSTEM_PRINCIPAL);
    grant(&world, USER_PRINCIPAL);
    world.emulator.reset_stats();
    let user = world
        .config_text_with_credential(&format!(
            "[credential]\nkind = \"managed-identity\"\nclient_id = \"{USER_CLIENT}\"\n"
        ))
        .replace("sales-powerbi-token", "sales-powerbi-token-user");
    let config = world.dir.path().join("imds-user.toml");
    std::fs::write(&config, user).unwrap();
    let (code, report, output) = once(&config, &[]);
    assert_eq!(code, 0, "{output}");
    assert_eq!(
        outcome(&report, "sales-powerbi-token-user"),
        "written",
        "{report:#}"
    );
    assert_eq!(world.versions(OUTPUT, "sales-powerbi-token-user").len(), 1);
    assert!(identity_tokens(&world, "ImdsToken") >= 1, "{output}");
}
