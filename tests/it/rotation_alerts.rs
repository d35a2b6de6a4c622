//! Rotation alerts and the audit trail, end to end through the real binary: a rotation that
//! adds a client secret and later removes the previous one tells the security team's webhook
//! each once (CloudEvents with the configured `source`, the key id and the run id, never a
//! secret value), and every Key Vault version a run writes carries that run's `run-id` tag.

use serde_json::Value;

use crate::common::*;
use crate::rotation::{Setup, config, key_ids, world};

const SOURCE: &str = "akv-rotator/e2e-westeurope";
const CLIENT_SECRET: &str = "sales-client-secret";

/// The CloudEvents the `security` webhook received, of this `type`.
fn events_of(world: &World, event_type: &str) -> Vec<Value> {
    world
        .emulator
        .webhook_deliveries("security")
        .iter()
        .map(|d| {
            assert_eq!(
                d.content_type.as_deref(),
                Some("application/cloudevents+json")
            );
            serde_json::from_str::<Value>(&d.body).unwrap()
        })
        .filter(|e| e["type"] == event_type)
        .collect()
}

/// Every body the webhook received, for scanning.
fn all_bodies(world: &World) -> String {
    world
        .emulator
        .webhook_deliveries("security")
        .iter()
        .map(|d| d.body.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

const ADDED: &str = "com.akv-rotator.client_secret.credential_added";
const REMOVED: &str = "com.akv-rotator.client_secret.credential_removed";

#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_tells_the_security_team_once_per_added_and_removed_credential_and_tags_its_writes_with_the_run_id()
 {
    let world = world(Setup::default()).await;
    let rotate = config(
        &world,
        "rotate.toml",
        r#"before_expiry = "30d", lifetime = "90d", grace = "3s", propagation_wait = "60s""#,
    );
    // The webhook URL sits in the input vault, apart from the tokens consumers read.
    world.put_secret(
        INPUT,
        "security-webhook",
        &world.emulator.webhook_url("security"),
        None,
    );
    let text = std::fs::read_to_string(&rotate).unwrap();
    let cfg = world.dir.path().join("rotate-alerts.toml");
    std::fs::write(
        &cfg,
        format!(
            "{text}\n[alerts]\nsource = \"{SOURCE}\"\n\n{}",
            world.webhook_sink("security", "security-webhook", "")
        ),
    )
    .unwrap();
    let old_key = key_ids(&world).await;
    assert_eq!(old_key.len(), 1);
    let old_value = world.apps[0].secret_value.clone();

    // Run 1: the rotation adds and publishes a new credential.
    let (code, report, stderr) = world.once_at(&cfg, &[]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    let run_id = report["run_id"].as_str().unwrap().to_string();
    assert_eq!(run_id.len(), 16, "{run_id}");
    assert!(
        stderr.contains(&run_id),
        "cycle_started/finished log the run id"
    );
    let r = &report["rotations"][0];
    assert_eq!(r["outcome"], "rotated", "{r:#}");
    let new_key = r["key_id"].as_str().unwrap().to_string();

    let added = events_of(&world, ADDED);
    assert_eq!(added.len(), 1, "{}", all_bodies(&world));
    let e = &added[0];
    assert_eq!(e["source"], SOURCE);
    assert_eq!(e["subject"], "sales");
    assert_eq!(e["data"]["key_id"], new_key.as_str());
    assert_eq!(e["data"]["run_id"], run_id.as_str());
    assert_eq!(e["data"]["app"], "sales");
    assert_eq!(e["data"]["client_secret"]["name"], CLIENT_SECRET);
    assert!(e["time"].as_str().is_some());
    assert!(events_of(&world, REMOVED).is_empty());

    // Every version this run wrote carries its run id: the token, the published client
    // secret, the alert state.
    let token = world.versions(OUTPUT, &world.apps[0].targets[0].1);
    assert_eq!(token.last().unwrap().tags["run-id"], run_id);
    let published = world.versions(INPUT, CLIENT_SECRET);
    let published = published.last().unwrap();
    assert_eq!(published.tags["run-id"], run_id);
    assert_eq!(published.tags["key-id"], new_key);
    let state = world.versions(OUTPUT, "akv-rotator-alert-state");
    assert_eq!(state.last().unwrap().tags["run-id"], run_id);

    // No secret value in any alert.
    let bodies = all_bodies(&world);
    for secret in [&published.value, &old_value] {
        assert!(!bodies.contains(secret.as_str()), "a client secret leaked");
    }
    assert!(!bodies.contains(&token.last().unwrap().value));

    // Run 2, within grace: nothing added or removed, nothing said again.
    let (code, report, _) = world.once_at(&cfg, &[]);
    assert_eq!(code, 0);
    assert_eq!(report["rotations"][0]["outcome"], "in_grace");
    let run_2 = report["run_id"].as_str().unwrap().to_string();
    assert_ne!(run_2, run_id, "each cycle has its own run id");
    assert_eq!(events_of(&world, ADDED).len(), 1);
    assert!(events_of(&world, REMOVED).is_empty());

    // Run 3, after grace: the previous credential is removed, and said so once.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let (code, report, stderr) = world.once_at(&cfg, &[]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    assert_eq!(report["rotations"][0]["outcome"], "completed");
    let run_3 = report["run_id"].as_str().unwrap().to_string();
    let removed = events_of(&world, REMOVED);
    assert_eq!(removed.len(), 1, "{}", all_bodies(&world));
    assert_eq!(removed[0]["source"], SOURCE);
    assert_eq!(removed[0]["data"]["key_id"], old_key[0].as_str());
    assert_eq!(removed[0]["data"]["run_id"], run_3.as_str());
    assert_eq!(events_of(&world, ADDED).len(), 1);

    // Run 4: nothing new happened; neither event is repeated nor "resolved".
    let (code, _, _) = world.once_at(&cfg, &[]);
    assert_eq!(code, 0);
    assert_eq!(events_of(&world, ADDED).len(), 1);
    assert_eq!(events_of(&world, REMOVED).len(), 1);
    let resolved: Vec<Value> = world
        .emulator
        .webhook_deliveries("security")
        .iter()
        .map(|d| serde_json::from_str::<Value>(&d.body).unwrap())
        .filter(|e| {
            e["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("com.akv-rotator.client_secret.credential_"))
                && e["data"]["state"] != "new"
        })
        .collect();
    assert!(resolved.is_empty(), "{resolved:#?}");
}
