//! The `connection_reset_after_serving` fault: the request takes effect, its answer is lost.
//! For Graph `addPassword` that is the worst case a client must survive: the credential
//! exists, and its text ("passwordCredential resource type": `secretText` is only returned by
//! the initial `addPassword` POST) is gone with the answer.

use std::collections::BTreeMap;

use crate::helpers::*;
use akv_emulator::{
    AppRegistrationSeed, AppSeed, ClientSecretSeed, FaultKind, FaultRule, Seed, TenantSeed,
};
use serde_json::{Value, json};

const ADMIN: &str = "eeeeeeee-0000-0000-0000-000000000001";
const TARGET: &str = "eeeeeeee-0000-0000-0000-000000000002";
const TARGET_OBJECT: &str = "ffffffff-0000-0000-0000-000000000002";

fn app(client_id: &str, roles: &[&str]) -> AppSeed {
    AppSeed {
        client_id: client_id.to_string(),
        secrets: vec![ClientSecretSeed {
            value: SECRET.to_string(),
            ..Default::default()
        }],
        roles: BTreeMap::from([(
            "https://graph.microsoft.com".to_string(),
            roles.iter().map(|r| r.to_string()).collect(),
        )]),
        ..Default::default()
    }
}

async fn credential_names(
    emu: &akv_emulator::EmulatorHandle,
    http: &reqwest::Client,
    token: &str,
) -> Vec<Option<String>> {
    let app: Value = http
        .get(format!(
            "{}/v1.0/applications(appId='{TARGET}')",
            emu.graph_url()
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    app["passwordCredentials"]
        .as_array()
        .expect("creds")
        .iter()
        .map(|c| c["displayName"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn add_password_takes_effect_although_its_answer_is_lost() {
    let emu = emulator().await;
    emu.apply_seed(Seed {
        tenants: vec![TenantSeed {
            id: TENANT.to_string(),
            apps: vec![app(ADMIN, &["Application.ReadWrite.All"]), app(TARGET, &[])],
        }],
        app_registrations: vec![AppRegistrationSeed {
            client_id: TARGET.to_string(),
            application_object_id: Some(TARGET_OBJECT.to_string()),
            ..Default::default()
        }],
        ..Default::default()
    })
    .expect("seed");
    let http = http(&emu);
    let token = token_for(&emu, &http, ADMIN, "https://graph.microsoft.com/.default").await;
    assert_eq!(credential_names(&emu, &http, &token).await.len(), 1);
    emu.set_faults(vec![FaultRule {
        service: "graph".into(),
        operation: Some("AddPassword".into()),
        kind: FaultKind::ConnectionResetAfterServing,
        probability: 1.0,
        count: Some(1),
    }]);

    let outcome = match http
        .post(format!(
            "{}/v1.0/applications/{TARGET_OBJECT}/addPassword",
            emu.graph_url()
        ))
        .bearer_auth(&token)
        .json(&json!({"passwordCredential": {"displayName": "lost answer"}}))
        .send()
        .await
    {
        Ok(resp) => resp.bytes().await.map(|_| ()),
        Err(e) => Err(e),
    };

    assert!(outcome.is_err(), "the answer must be lost");
    assert_eq!(emu.stats().count_status("graph", "AddPassword", 0), 1);
    let names = credential_names(&emu, &http, &token).await;
    assert_eq!(names.len(), 2, "the credential was created: {names:?}");
    assert!(
        names.contains(&Some("lost answer".to_string())),
        "{names:?}"
    );
}
