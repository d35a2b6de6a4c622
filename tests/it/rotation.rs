//! Client-secret rotation through Microsoft Graph: the real binary against the emulator
//! (Graph `addPassword`/`removePassword`, propagation delay, app-management policy, owners),
//! asserting what Graph and Key Vault hold after each run — including after a crash.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;
use akv_emulator::{AppRegistrationSeed, AppSeed, SecretSeed, Seed, TenantPolicySeed, TenantSeed};
use serde_json::Value;
use time::OffsetDateTime;

pub(crate) const SECRET: &str = "sales-client-secret";
/// `rotate = { … }` of an app whose secret (ending in 10 days) is due: one hour of grace.
pub(crate) const DUE_GRACE_1H: &str = r#"before_expiry = "30d", lifetime = "90d", grace = "1h""#;
/// [`DUE_GRACE_1H`] with a minute to wait for the new secret to work.
pub(crate) const DUE_GRACE_1H_WAIT_60S: &str =
    r#"before_expiry = "30d", lifetime = "90d", grace = "1h", propagation_wait = "60s""#;

pub(crate) struct Setup {
    pub(crate) owned: bool,
    pub(crate) graph_role: &'static str,
    pub(crate) max_lifetime_days: Option<u32>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            owned: true,
            graph_role: "Application.ReadWrite.OwnedBy",
            max_lifetime_days: None,
        }
    }
}

/// One app whose client secret ends in 10 days; the rotator may write its input vault and
/// (by default) owns the app with `Application.ReadWrite.OwnedBy`.
pub(crate) async fn world(setup: Setup) -> World {
    let world = World::start(vec![TestApp::new("sales").secret_expiring_in(days(10))]).await;
    let app_id = world.apps[0].client_id.clone();
    world
        .emulator
        .apply_seed(Seed {
            tenants: vec![TenantSeed {
                id: TENANT.into(),
                apps: vec![AppSeed {
                    roles: [(GRAPH.to_string(), vec![setup.graph_role.to_string()])].into(),
                    ..rotator_app_seed(&world.rotator_secret)
                }],
            }],
            vaults: vec![vault_seed(INPUT, vec![perm(ROTATOR, true, true)], vec![])],
            app_registrations: vec![AppRegistrationSeed {
                client_id: app_id,
                owners: if setup.owned {
                    vec![ROTATOR.into()]
                } else {
                    vec![]
                },
                ..Default::default()
            }],
            tenant_policies: vec![TenantPolicySeed {
                tenant_id: TENANT.into(),
                max_secret_lifetime_days: setup.max_lifetime_days,
                ..Default::default()
            }],
            ..Default::default()
        })
        .unwrap();
    world
}

/// [`world`] and its config with `rotate = { <rotate> }` (`rotate.toml`).
pub(crate) async fn rotating(setup: Setup, rotate: &str) -> (World, PathBuf) {
    let world = world(setup).await;
    let cfg = config(&world, "rotate.toml", rotate);
    (world, cfg)
}

/// The report's rotation of the app, asserted to have ended with `outcome`.
pub(crate) fn rotation_outcome<'a>(report: &'a Value, outcome: &str) -> &'a Value {
    let r = rotation(report);
    assert_eq!(r["outcome"], outcome, "{r:#}");
    r
}

/// Sets the app's client secret in the input vault as a crashed or hand-edited run leaves it:
/// the same value, this `exp`, and these tags (the rotation's progress).
pub(crate) fn client_secret_as_left(world: &World, exp: OffsetDateTime, tags: &[(&str, &str)]) {
    world.seed_vaults(vec![vault_seed(
        INPUT,
        vec![perm(ROTATOR, true, true)],
        vec![SecretSeed {
            exp: Some(exp),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..secret_seed(SECRET, &world.apps[0].secret_value)
        }],
    )]);
}

/// [`client_secret_as_left`] in grace: `key_id` current, `previous` to be removed after
/// `remove_after`.
pub(crate) fn client_secret_in_grace(
    world: &World,
    exp: OffsetDateTime,
    key_id: &str,
    previous: &str,
    remove_after: &str,
) {
    client_secret_as_left(
        world,
        exp,
        &[
            ("rotation-state", "grace"),
            ("key-id", key_id),
            ("previous-key-id", previous),
            ("previous-remove-after", remove_after),
        ],
    );
}

/// The world's config with `rotate = { … }` on the app and Graph in `[custom_cloud]`.
pub(crate) fn config(world: &World, file: &str, rotate: &str) -> PathBuf {
    let auth = format!("authority_host = \"{}\"\n", world.emulator.authority_host());
    let text = world
        .config_text()
        .replace(
            &auth,
            &format!(
                "{auth}graph_endpoint = \"{}\"\n",
                world.emulator.graph_url()
            ),
        )
        .replace(
            &format!("client_secret_name = \"{SECRET}\"\n"),
            &format!("client_secret_name = \"{SECRET}\"\nrotate = {{ {rotate} }}\n"),
        );
    assert!(text.contains("rotate = {"), "{text}");
    let path = world.dir.path().join(file);
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) fn rotation(report: &Value) -> &Value {
    let r = &report["rotations"][0];
    assert_eq!(r["app"], "sales", "{report:#}");
    r
}

pub(crate) fn steps(r: &Value) -> Vec<(String, String)> {
    field_pairs(&r["steps"], "step", "status")
}

/// An HTTPS client that trusts the emulator, for the test's own calls.
pub(crate) fn test_client(world: &World) -> reqwest::Client {
    akv_rotator::net::http::build_client(Some(world.emulator.ca_cert_path())).unwrap()
}

/// A client-credentials token request to the emulator's Entra ID, made by the test itself.
pub(crate) async fn token_request(
    world: &World,
    client_id: &str,
    client_secret: &str,
    scope: &str,
) -> reqwest::Response {
    test_client(world)
        .post(format!(
            "{}/{TENANT}/oauth2/v2.0/token",
            world.emulator.authority_host()
        ))
        .form(&[
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("scope", scope),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .unwrap()
}

/// The rotator's own Microsoft Graph token (client credentials), got independently of the
/// product.
pub(crate) async fn rotator_graph_token(world: &World) -> String {
    let scope = "https://graph.microsoft.com/.default";
    let token: Value = token_request(world, ROTATOR, &world.rotator_secret, scope)
        .await
        .json()
        .await
        .unwrap();
    token["access_token"].as_str().unwrap().to_string()
}

/// A Graph action on the app (`addPassword`, `removePassword`) with the rotator's own token,
/// as someone other than the product would make it (another pipeline, a person, a crashed run).
pub(crate) async fn graph_action(world: &World, action: &str, body: Value) -> reqwest::Response {
    let token = rotator_graph_token(world).await;
    let object_id = world
        .emulator
        .application_object_id(&world.apps[0].client_id)
        .unwrap();
    test_client(world)
        .post(format!(
            "{}/v1.0/applications/{object_id}/{action}",
            world.emulator.graph_url()
        ))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Graph's view of the app, read independently of the product (rotator's token, plain HTTP).
pub(crate) async fn graph_credentials(world: &World) -> Vec<Value> {
    let token = rotator_graph_token(world).await;
    let request = test_client(world).get(format!(
        "{}/v1.0/applications(appId='{}')",
        world.emulator.graph_url(),
        world.apps[0].client_id
    ));
    let app = json_of(request.bearer_auth(&token)).await;
    app["passwordCredentials"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

pub(crate) async fn key_ids(world: &World) -> Vec<String> {
    let mut ids: Vec<String> = graph_credentials(world)
        .await
        .iter()
        .map(|c| c["keyId"].as_str().unwrap().to_ascii_lowercase())
        .collect();
    ids.sort();
    ids
}

pub(crate) fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

pub(crate) fn latest_tags(world: &World) -> BTreeMap<String, String> {
    world.versions(INPUT, SECRET).last().unwrap().tags.clone()
}

/// Polls until the client secret's current version carries `tag`.
pub(crate) async fn until_tagged(world: &World, tag: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while !latest_tags(world).contains_key(tag) {
        assert!(Instant::now() < deadline, "no {tag} tag within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_publishes_only_a_working_secret_and_removes_the_old_one_after_grace() {
    let (world, cfg) = rotating(
        Setup::default(),
        r#"before_expiry = "30d", lifetime = "90d", grace = "8s", propagation_wait = "60s""#,
    )
    .await;
    world.emulator.set_secret_propagation_secs(3);
    let old = key_ids(&world).await;
    assert_eq!(old.len(), 1);
    let old_value = world.apps[0].secret_value.clone();

    // Dry run: the plan, and nothing done.
    let (code, report, stderr) = world.once_at(&cfg, &["--dry-run"]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    let r = rotation_outcome(&report, "planned");
    let planned: Vec<String> = steps(r).into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        planned,
        [
            "add_password",
            "wait_until_usable",
            "publish",
            "schedule_removal"
        ]
    );
    assert_eq!(world.emulator.stats().count("graph", "AddPassword"), 0);
    assert_eq!(key_ids(&world).await, old);

    // Run 1: added, waited through the propagation delay, published with exp and tags.
    let before = OffsetDateTime::now_utc();
    let (code, report, stderr) = world.once_at(&cfg, &[]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    let r = rotation_outcome(&report, "rotated");
    assert_eq!(
        steps(r),
        [
            ("add_password".to_string(), "done".to_string()),
            ("wait_until_usable".into(), "done".into()),
            ("publish".into(), "done".into()),
            ("schedule_removal".into(), "done".into()),
        ]
    );
    let waited = r["steps"][1]["detail"].as_str().unwrap();
    assert!(
        !waited.contains("(1 attempt)"),
        "7000215 while propagating: {waited}"
    );
    let new_key = r["key_id"].as_str().unwrap().to_string();
    assert_eq!(r["previous_key_id"], old[0].as_str());
    assert_eq!(
        key_ids(&world).await,
        sorted(vec![old[0].clone(), new_key.clone()])
    );
    let versions = world.versions(INPUT, SECRET);
    let published = versions.last().unwrap();
    assert_ne!(published.value, old_value);
    assert_eq!(published.tags["key-id"], new_key);
    assert_eq!(published.tags["rotation-state"], "grace");
    assert_eq!(published.tags["previous-key-id"], old[0]);
    assert!(published.tags.contains_key("previous-remove-after"));
    // The replaced version keeps no transient markers of the rotation.
    let replaced = &versions[versions.len() - 2];
    for marker in ["rotation-state", "pending-name", "pending-key-id"] {
        assert!(
            !replaced.tags.contains_key(marker),
            "the replaced version still has {marker}: {:?}",
            replaced.tags
        );
    }
    assert!(
        !stderr.contains(&published.value) && !report.to_string().contains(&published.value),
        "the new secret never reaches logs or the report"
    );
    let exp = published.exp.unwrap();
    let graph_end = graph_credentials(&world)
        .await
        .into_iter()
        .find(|c| c["keyId"] == new_key.as_str())
        .unwrap()["endDateTime"]
        .as_str()
        .unwrap()
        .to_string();
    let graph_end =
        OffsetDateTime::parse(&graph_end, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(exp.unix_timestamp(), graph_end.unix_timestamp());
    assert!((exp - (before + days(90))).abs() < time::Duration::minutes(5));

    // Run 2, still within grace: nothing removed.
    let (code, report, _) = world.once_at(&cfg, &[]);
    assert_eq!(code, 0);
    assert_eq!(rotation(&report)["outcome"], "in_grace");
    assert_eq!(key_ids(&world).await.len(), 2);

    // Run 3, after grace: the old credential is removed, the progress tags cleared.
    tokio::time::sleep(Duration::from_secs(9)).await;
    let (code, report, stderr) = world.once_at(&cfg, &[]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    let r = rotation_outcome(&report, "completed");
    assert!(steps(r).contains(&("verify_current".into(), "done".into())));
    assert_eq!(key_ids(&world).await, vec![new_key.clone()]);
    let tags = latest_tags(&world);
    assert_eq!(tags["key-id"], new_key);
    assert!(!tags.contains_key("rotation-state"), "{tags:?}");
    assert!(!tags.contains_key("previous-key-id"), "{tags:?}");

    // Run 4: the new secret is far from expiry.
    let (code, report, _) = world.once_at(&cfg, &[]);
    assert_eq!(code, 0);
    assert_eq!(rotation(&report)["outcome"], "not_due");
    assert_eq!(key_ids(&world).await, vec![new_key]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_while_waiting_leaves_no_orphan_after_the_rerun() {
    let (world, cfg) = rotating(Setup::default(), DUE_GRACE_1H_WAIT_60S).await;
    world.emulator.set_secret_propagation_secs(30);
    let old = key_ids(&world).await;

    // SIGKILL once the new credential exists and the run is waiting for it to work.
    let mut child = once_command(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    until_tagged(&world, "pending-key-id", Duration::from_secs(60)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let tags = latest_tags(&world);
    assert_eq!(tags["rotation-state"], "adding");
    let orphan = tags["pending-key-id"].clone();
    assert_eq!(key_ids(&world).await.len(), 2, "the crashed run added one");
    assert_eq!(world.versions(INPUT, SECRET).len(), 1, "nothing published");
    // The crashed run's rotation lease would block reruns until it expires
    // (propagation_wait + 10 min, rotation_attacks.rs); end it now.
    world
        .emulator
        .set_secret_enabled(INPUT, &format!("{SECRET}-rotation-lease"), false);

    // Rerun: the unpublished credential is removed, a fresh one added and published.
    world.emulator.set_secret_propagation_secs(1);
    let (code, report, stderr) = world.once_at(&cfg, &[]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    let r = rotation(&report);
    assert_eq!(r["state"], "adding");
    assert_eq!(r["outcome"], "rotated", "{r:#}");
    assert_eq!(steps(r)[0], ("recover".into(), "done".into()));
    let new_key = r["key_id"].as_str().unwrap().to_string();
    assert_ne!(new_key, orphan);
    assert_eq!(
        key_ids(&world).await,
        sorted(vec![old[0].clone(), new_key.clone()]),
        "exactly the old and the published credential"
    );
    assert_eq!(latest_tags(&world)["key-id"], new_key);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_right_after_add_password_is_recovered_by_display_name() {
    // As a crashed run leaves it: intent recorded, credential added, keyId never recorded.
    let (world, cfg) = rotating(Setup::default(), DUE_GRACE_1H).await;
    let old = key_ids(&world).await;
    let marker = "akv-rotator 0f0f0f0f-0000-4000-8000-000000000000";
    let body = serde_json::json!({"passwordCredential": {"displayName": marker}});
    let resp = graph_action(&world, "addPassword", body).await;
    assert_eq!(resp.status(), 200);
    let app = &world.apps[0];
    client_secret_as_left(
        &world,
        app.secret_end,
        &[("rotation-state", "adding"), ("pending-name", marker)],
    );
    assert_eq!(key_ids(&world).await.len(), 2);

    let (code, report, stderr) = world.once_at(&cfg, &[]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    let r = rotation_outcome(&report, "rotated");
    let new_key = r["key_id"].as_str().unwrap().to_string();
    let creds = graph_credentials(&world).await;
    assert!(
        creds.iter().all(|c| c["displayName"] != marker),
        "orphan removed: {creds:?}"
    );
    assert_eq!(key_ids(&world).await, sorted(vec![old[0].clone(), new_key]));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_credential_in_use_is_never_removed() {
    // Tags that would make the previous credential the current one (corrupted or hand-edited).
    let (world, cfg) = rotating(Setup::default(), r#"grace = "1s""#).await;
    let old = key_ids(&world).await;
    let app = &world.apps[0];
    client_secret_in_grace(
        &world,
        app.secret_end,
        &old[0],
        &old[0],
        "2020-01-01T00:00:00Z",
    );
    let (code, report, _) = world.once_at(&cfg, &[]);
    assert_eq!(code, 1, "{report:#}");
    let r = rotation_outcome(&report, "failed");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is the credential the current version holds"),
        "{r:#}"
    );
    assert_eq!(key_ids(&world).await, old);
    assert_eq!(world.emulator.stats().count("graph", "RemovePassword"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_that_never_propagates_is_not_published_and_not_left_behind() {
    let (world, cfg) = rotating(
        Setup::default(),
        r#"before_expiry = "30d", lifetime = "90d", propagation_wait = "3s""#,
    )
    .await;
    world.emulator.set_secret_propagation_secs(600);
    let old = key_ids(&world).await;
    let (code, report, stderr) = world.once_at(&cfg, &[]);
    assert_eq!(code, 1, "{stderr}\n{report:#}");
    let r = rotation_outcome(&report, "failed");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains("did not work after 3 seconds"), "{msg}");
    assert!(msg.contains("nothing was published"), "{msg}");
    assert_eq!(r["error"]["code"], "AADSTS7000215");
    assert!(steps(r).contains(&("abandon".into(), "done".into())));
    // Nothing published, no orphan, no leftover progress, the old secret keeps working.
    let versions = world.versions(INPUT, SECRET);
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].value, world.apps[0].secret_value);
    assert!(!latest_tags(&world).contains_key("rotation-state"));
    assert_eq!(key_ids(&world).await, old);
    assert_eq!(outcome(&report, "sales-powerbi-token"), "written");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lifetime_policy_refusal_is_reported_clearly() {
    let (world, cfg) = rotating(
        Setup {
            max_lifetime_days: Some(30),
            ..Default::default()
        },
        r#"lifetime = "90d""#,
    )
    .await;
    let old = key_ids(&world).await;
    let (code, report, _) = world.once_at(&cfg, &[]);
    assert_eq!(code, 1);
    let r = rotation_outcome(&report, "failed");
    assert_eq!(
        r["error"]["code"],
        "CredentialInvalidLifetimeAsPerAppPolicy"
    );
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains("rotate.lifetime"), "{msg}");
    assert_eq!(key_ids(&world).await, old);
    assert!(!latest_tags(&world).contains_key("rotation-state"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotator_that_does_not_own_the_app_gets_a_clear_permission_error() {
    let (world, cfg) = rotating(
        Setup {
            owned: false,
            ..Default::default()
        },
        r#"lifetime = "90d""#,
    )
    .await;
    let (code, report, _) = world.once_at(&cfg, &[]);
    assert_eq!(code, 1);
    let r = rotation_outcome(&report, "failed");
    assert_eq!(r["error"]["class"], "permission_denied");
    assert_eq!(r["error"]["code"], "Authorization_RequestDenied");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains("Application.ReadWrite.OwnedBy"), "{msg}");
    assert!(msg.contains("owner"), "{msg}");
    assert_eq!(world.emulator.stats().count("graph", "AddPassword"), 0);
    assert!(!latest_tags(&world).contains_key("rotation-state"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_between_remove_password_and_clearing_the_tags_finishes_on_rerun() {
    // As a crashed run leaves it: grace over, previous credential already removed in Graph,
    // the tags still saying `grace`.
    let (world, cfg) = rotating(Setup::default(), r#"grace = "1s""#).await;
    let current = key_ids(&world).await;
    let gone = "0badc0de-0000-4000-8000-000000000000";
    client_secret_in_grace(
        &world,
        OffsetDateTime::now_utc() + days(170),
        &current[0],
        gone,
        "2020-01-01T00:00:00Z",
    );
    let (code, report, stderr) = world.once_at(&cfg, &[]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    let r = rotation_outcome(&report, "completed");
    assert!(
        r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["detail"].as_str().unwrap().contains("already removed")),
        "{r:#}"
    );
    assert_eq!(key_ids(&world).await, current, "the working one is kept");
    assert!(!latest_tags(&world).contains_key("rotation-state"));
}
