//! Rotation that cannot be turned against its owner (issue 13, items 4–6): whoever can edit the
//! Key Vault tags of the client secret cannot make the rotator remove a credential it did not
//! create or the one in use; two overlapping runs never publish a credential that no longer
//! exists; a lost `addPassword` answer leaves nothing behind in Entra ID. Each test replays an
//! attack or failure that broke the app before.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::common::*;
use crate::rotation::{
    DUE_GRACE_1H, DUE_GRACE_1H_WAIT_60S, SECRET, Setup, client_secret_as_left,
    client_secret_in_grace, graph_action, graph_credentials, key_ids, latest_tags, rotating,
    rotation, rotation_outcome, sorted, steps, token_request, until_tagged,
};
use akv_emulator::{FaultKind, FaultRule};
use serde_json::Value;
use time::OffsetDateTime;

/// Adds a client secret with these `passwordCredential` properties to the app through Graph,
/// as someone other than the rotator would (another pipeline, a person): returns its keyId.
async fn add_password(world: &World, credential: Value) -> String {
    let body = serde_json::json!({ "passwordCredential": credential });
    let added: Value = graph_action(world, "addPassword", body)
        .await
        .json()
        .await
        .unwrap();
    added["keyId"].as_str().unwrap().to_ascii_lowercase()
}

/// [`add_password`] with only a display name.
async fn add_credential(world: &World, display_name: &str) -> String {
    add_password(world, serde_json::json!({ "displayName": display_name })).await
}

/// Removes a credential through Graph as an outside actor would.
async fn remove_credential(world: &World, key_id: &str) {
    let body = serde_json::json!({ "keyId": key_id });
    let status = graph_action(world, "removePassword", body).await.status();
    assert_eq!(status, 204);
}

/// Whether Entra ID issues the app a token for this client secret value (checked by the test,
/// not by the product).
async fn mints_a_token(world: &World, value: &str) -> bool {
    let scope = format!("{POWERBI}/.default");
    token_request(world, &world.apps[0].client_id, value, &scope)
        .await
        .status()
        == 200
}

/// The rotation world with its `rotate` config, the keyId of the working credential and of
/// another system's credential of the same app (a CI pipeline's).
async fn world_with_foreign_credential(rotate: &str) -> (World, PathBuf, String, String) {
    let (world, cfg) = rotating(Setup::default(), rotate).await;
    let working = key_ids(&world).await.remove(0);
    let other = add_credential(&world, "ci-pipeline").await;
    (world, cfg, working, other)
}

fn removals(world: &World) -> u64 {
    world.emulator.stats().count("graph", "RemovePassword")
}

fn message(r: &Value) -> String {
    r["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Asserts that a run (exit code, report, stderr) exited 1 with the rotation failed, its error
/// message naming each of `needles`.
fn assert_rotation_failed((code, report, stderr): (i32, &Value, &str), needles: &[&str]) {
    assert_eq!(code, 1, "{stderr}\n{report:#}");
    let r = rotation_outcome(report, "failed");
    for needle in needles {
        assert!(message(r).contains(needle), "{needle}: {r:#}");
    }
}

/// `once` as a child process whose JSON report is read at the end.
fn spawn_once(cfg: &std::path::Path) -> Child {
    once_command(cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) -> (i32, Value, String) {
    once_result(&child.wait_with_output().unwrap())
}

fn latency(operation: &str, ms: u64) -> FaultRule {
    fault_rule(INPUT, operation, FaultKind::Latency { ms }, None)
}

#[tokio::test(flavor = "multi_thread")]
async fn grace_tags_cannot_make_the_rotator_remove_the_working_credential() {
    // Attack: key-id names another credential, previous-key-id the working one, grace over.
    let (world, cfg, working, other) = world_with_foreign_credential(r#"grace = "1s""#).await;
    client_secret_in_grace(
        &world,
        world.apps[0].secret_end,
        &other,
        &working,
        "2020-01-01T00:00:00Z",
    );

    let (code, report, stderr) = world.once_at(&cfg, &[]);

    assert!(
        key_ids(&world).await.contains(&working),
        "the working credential was removed: {report:#}"
    );
    assert_eq!(removals(&world), 0);
    assert!(mints_a_token(&world, &world.apps[0].secret_value).await);
    // Tampered tags are a failure to report.
    assert_rotation_failed(
        (code, &report, &stderr),
        &["is the credential the current version holds"],
    );
    let (code, report, _) = world.once_at(&world.config_path, &[]);
    assert_eq!(code, 0, "{report:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn grace_tags_cannot_make_the_rotator_remove_a_credential_it_did_not_create() {
    // Attack: previous-key-id names another system's credential of the same app.
    let (world, cfg, working, other) = world_with_foreign_credential(r#"grace = "1s""#).await;
    client_secret_in_grace(
        &world,
        world.apps[0].secret_end,
        &working,
        &other,
        "2020-01-01T00:00:00Z",
    );

    let (code, report, stderr) = world.once_at(&cfg, &[]);

    assert_eq!(
        key_ids(&world).await,
        sorted(vec![working.clone(), other.clone()]),
        "{report:#}"
    );
    assert_eq!(removals(&world), 0);
    assert_rotation_failed(
        (code, &report, &stderr),
        &[&other, "not created by akv-rotator"],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_key_id_tag_cannot_point_at_the_working_credential() {
    // Attack: `adding` with pending-key-id = the working credential, key-id = another one.
    let (world, cfg, working, other) = world_with_foreign_credential(DUE_GRACE_1H).await;
    client_secret_as_left(
        &world,
        world.apps[0].secret_end,
        &[
            ("rotation-state", "adding"),
            ("key-id", &other),
            ("pending-key-id", &working),
        ],
    );

    let (code, report, stderr) = world.once_at(&cfg, &[]);

    let now = key_ids(&world).await;
    assert!(now.contains(&working), "working one removed: {report:#}");
    assert!(now.contains(&other), "foreign one removed: {report:#}");
    assert_eq!(removals(&world), 0);
    // The rotation itself goes on: the new secret is published and works, the previous one
    // recorded is the working credential (found by its hint, not by the forged key-id).
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    let r = rotation_outcome(&report, "rotated");
    assert_eq!(r["previous_key_id"], working.as_str(), "{r:#}");
    let published = world.versions(INPUT, SECRET).pop().unwrap();
    assert!(now.contains(&published.tags["key-id"]));
    assert!(mints_a_token(&world, &published.value).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unparsable_remove_after_is_never_due() {
    let (world, cfg) = rotating(Setup::default(), r#"grace = "1s""#).await;
    let working = key_ids(&world).await;
    // A credential the rotator itself made, so only the date stands between it and removal.
    let previous = add_credential(
        &world,
        "akv-rotator sales 0f0f0f0f-0000-4000-8000-000000000001",
    )
    .await;
    client_secret_in_grace(
        &world,
        OffsetDateTime::now_utc() + days(170),
        &working[0],
        &previous,
        "whenever",
    );

    let (code, report, _) = world.once_at(&cfg, &[]);

    assert!(key_ids(&world).await.contains(&previous), "{report:#}");
    assert_eq!(removals(&world), 0);
    let r = rotation_outcome(&report, "in_grace");
    assert!(
        r["steps"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("\"whenever\""),
        "{r:#}"
    );
    assert_eq!(code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn overlapping_runs_never_publish_a_removed_credential() {
    // Slow vault writes stretch run A's rotation; run B starts while A waits to publish.
    let (world, cfg) = rotating(Setup::default(), DUE_GRACE_1H_WAIT_60S).await;
    let old = key_ids(&world).await;
    world.emulator.set_faults(vec![
        latency("SecretSet", 4000),
        latency("SecretUpdate", 4000),
    ]);

    let a = spawn_once(&cfg);
    until_tagged(&world, "pending-key-id", Duration::from_secs(90)).await;
    let b = spawn_once(&cfg);
    let (code_b, report_b, stderr_b) = finish(b);
    let (code_a, report_a, stderr_a) = finish(a);
    world.emulator.clear_faults();

    let published = world.versions(INPUT, SECRET).pop().unwrap();
    let now = key_ids(&world).await;
    assert!(
        now.contains(&published.tags["key-id"]),
        "the current version names a removed credential: {published:?}\nA: {report_a:#}\nB: {report_b:#}"
    );
    assert!(mints_a_token(&world, &published.value).await);
    assert_eq!(
        now,
        sorted(vec![old[0].clone(), published.tags["key-id"].clone()]),
        "no orphan"
    );
    assert_eq!(code_a, 0, "{stderr_a}\n{report_a:#}");
    assert_eq!(rotation(&report_a)["outcome"], "rotated");
    assert_eq!(code_b, 0, "{stderr_b}\n{report_b:#}");
    let r = rotation_outcome(&report_b, "busy");
    assert_eq!(steps(r)[0], ("lease".into(), "skipped".into()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_add_password_answer_leaves_no_credential_behind() {
    let (world, cfg) = rotating(Setup::default(), DUE_GRACE_1H).await;
    let old = key_ids(&world).await;
    world.emulator.set_faults(vec![fault_rule(
        "graph",
        "AddPassword",
        FaultKind::ConnectionResetAfterServing,
        Some(1),
    )]);

    // Run 1: Graph created the credential, the answer is lost.
    let (code, report, _) = world.once_at(&cfg, &[]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(rotation(&report)["outcome"], "failed");
    assert_eq!(key_ids(&world).await.len(), 2, "Graph created it");
    let tags = latest_tags(&world);
    assert_eq!(
        tags.get("rotation-state").map(String::as_str),
        Some("adding"),
        "the intent is kept so the next run can find the credential: {tags:?}"
    );
    let marker = tags["pending-name"].clone();
    assert!(marker.starts_with("akv-rotator sales "), "{marker}");

    // Run 2: the lost credential is found by its name and removed, a new one published.
    let (code, report, stderr) = world.once_at(&cfg, &[]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    let r = rotation_outcome(&report, "rotated");
    let new_key = r["key_id"].as_str().unwrap().to_string();
    assert_eq!(key_ids(&world).await, sorted(vec![old[0].clone(), new_key]));
    let creds = graph_credentials(&world).await;
    assert!(creds.iter().all(|c| c["displayName"] != marker.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_credential_that_vanishes_while_publishing_is_rolled_back() {
    // Someone removes the new credential after it proved to work, while its publish is slow.
    let (world, cfg) = rotating(Setup::default(), DUE_GRACE_1H_WAIT_60S).await;
    let old_value = world.apps[0].secret_value.clone();
    world.emulator.set_faults(vec![latency("SecretSet", 6000)]);

    let run = spawn_once(&cfg);
    until_tagged(&world, "pending-key-id", Duration::from_secs(90)).await;
    let pending = latest_tags(&world)["pending-key-id"].clone();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    remove_credential(&world, &pending).await;
    let (code, report, stderr) = finish(run);
    world.emulator.clear_faults();

    let current = world.versions(INPUT, SECRET).pop().unwrap();
    assert_eq!(
        current.value, old_value,
        "the previous secret is current again"
    );
    assert!(mints_a_token(&world, &current.value).await);
    assert!(
        !current.tags.contains_key("rotation-state"),
        "{:?}",
        current.tags
    );
    assert_rotation_failed((code, &report, &stderr), &[&pending, "restored"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_lease_holds_a_rerun_off_and_an_expired_one_does_not() {
    // As a crashed run leaves it: its claim on the lease, then the same claim after it expired.
    let (world, cfg) = rotating(Setup::default(), DUE_GRACE_1H).await;
    let old = key_ids(&world).await;
    // A crashed run's claim, live for a few more seconds.
    let claim_end = OffsetDateTime::now_utc() + time::Duration::seconds(15);
    world.seed_vaults(vec![vault_seed(
        INPUT,
        vec![],
        vec![akv_emulator::SecretSeed {
            exp: Some(claim_end),
            tags: [("lease-owner".to_string(), "crashed-run".to_string())].into(),
            ..secret_seed(&format!("{SECRET}-rotation-lease"), "crashed-run")
        }],
    )]);

    let (code, report, stderr) = world.once_at(&cfg, &[]);
    assert!(
        OffsetDateTime::now_utc() < claim_end,
        "the claim was live for the whole run"
    );
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    let r = rotation_outcome(&report, "busy");
    assert!(
        r["steps"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("crashed-run"),
        "{r:#}"
    );
    assert_eq!(world.emulator.stats().count("graph", "AddPassword"), 0);
    assert_eq!(key_ids(&world).await, old);

    // Once the claim has expired, the next run rotates and releases its own claim.
    while OffsetDateTime::now_utc() <= claim_end {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (code, report, stderr) = world.once_at(&cfg, &[]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    assert_eq!(rotation(&report)["outcome"], "rotated", "{report:#}");
    let lease = world.versions(INPUT, &format!("{SECRET}-rotation-lease"));
    assert_eq!(lease.len(), 2, "the crashed run's claim, then this run's");
    assert!(!lease[1].enabled, "released at the end: {:?}", lease[1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn adding_tags_cannot_cut_the_grace_of_a_previous_rotator_credential_short() {
    // Attack: switch the state to `adding` and name the previous credential (one the rotator
    // made in an earlier rotation, which consumers may still use) as the unpublished one.
    let (world, cfg) = rotating(Setup::default(), DUE_GRACE_1H).await;
    let ten_days_ago = time::OffsetDateTime::now_utc() - days(10);
    let previous = add_password(
        &world,
        serde_json::json!({
            "displayName": "akv-rotator sales 0f0f0f0f-0000-4000-8000-000000000002",
            "startDateTime": ten_days_ago
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap(),
        }),
    )
    .await;
    client_secret_as_left(
        &world,
        world.apps[0].secret_end,
        &[("rotation-state", "adding"), ("pending-key-id", &previous)],
    );

    let (code, report, stderr) = world.once_at(&cfg, &[]);

    assert!(
        key_ids(&world).await.contains(&previous),
        "the previous credential was removed: {report:#}"
    );
    assert_eq!(removals(&world), 0);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    let r = rotation(&report);
    assert_eq!(steps(r)[0], ("recover".into(), "skipped".into()), "{r:#}");
    assert!(
        r["steps"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("older than the current version"),
        "{r:#}"
    );
}
