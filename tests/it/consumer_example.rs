//! The Rust consumer example (examples/consumers/rust) against the emulator: its `TokenReader`
//! reads the token the rotator wrote with the official SDK, calls the emulator's Power BI API
//! with it, caches it until the contract's margin, reads again after that, and after a 401.

#[path = "../../examples/consumers/rust/reader.rs"]
mod reader;

use std::sync::Arc;

use akv_emulator::FaultKind;
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::http::{ClientOptions, Transport};
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use time::{Duration, OffsetDateTime};

use crate::common::*;
use reader::{MARGIN, TokenReader, call};

/// A world where the rotator has written `sales-powerbi-token`.
async fn written() -> World {
    let world = World::start(vec![TestApp::new("sales")]).await;
    let (code, report, stderr) = world.once(&[]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    world
}

/// The example's reader of `secret` in `vault`, as the rotator's identity (it may read both).
fn reader_of(world: &World, vault: &str, secret: &str) -> TokenReader {
    let mut custom = CustomConfiguration::default();
    custom.authority_host = world.emulator.authority_host();
    let client_options = ClientOptions {
        transport: Some(Transport::new(Arc::new(world.https_client()))),
        cloud: Some(Arc::new(CloudConfiguration::Custom(custom))),
        ..ClientOptions::default()
    };
    let credential = ClientSecretCredential::new(
        TENANT,
        ROTATOR.to_string(),
        world.rotator_secret.clone().into(),
        Some(ClientSecretCredentialOptions {
            client_options: client_options.clone(),
        }),
    )
    .unwrap();
    // The emulator serves its vaults at https://localhost:PORT/, so the SDK's check that the
    // vault host ends with the challenge's resource host cannot pass: off for the emulator only.
    let client = SecretClient::new(
        &world.vault(vault),
        credential,
        Some(SecretClientOptions {
            client_options,
            verify_challenge_resource: Some(false),
            ..SecretClientOptions::default()
        }),
    )
    .unwrap();
    TokenReader::new(client, secret, MARGIN)
}

fn groups_url(world: &World) -> String {
    format!("{}/v1.0/myorg/groups", world.emulator.powerbi_url())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rust_consumer_calls_power_bi_with_the_stored_token_and_caches_it() {
    let world = written().await;
    let mut reader = reader_of(&world, OUTPUT, "sales-powerbi-token");
    let http = world.https_client();

    let answer = call(&mut reader, &http, &groups_url(&world)).await.unwrap();
    assert_eq!(answer["value"], serde_json::json!([]));
    call(&mut reader, &http, &groups_url(&world)).await.unwrap();
    assert_eq!(reader.reads, 1, "cached until expires-on minus the margin");
    assert_eq!(
        world
            .emulator
            .stats()
            .count_status("powerbi", "GroupsList", 200),
        2
    );

    let exp = reader.expires_on().unwrap();
    let stored = world.versions(OUTPUT, "sales-powerbi-token");
    assert_eq!(
        Some(exp.unix_timestamp()),
        stored.last().unwrap().exp.map(|e| e.unix_timestamp()),
        "the cached expiry is the secret's exp"
    );
    reader
        .token(exp - MARGIN - Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(reader.reads, 1, "still outside the margin");
    reader
        .token(exp - MARGIN + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(reader.reads, 2, "within the margin of the end: read again");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_401_reads_the_token_again_and_retries_once() {
    let world = written().await;
    let mut reader = reader_of(&world, OUTPUT, "sales-powerbi-token");
    let http = world.https_client();
    reader.token(OffsetDateTime::now_utc()).await.unwrap();
    world.emulator.set_faults(vec![fault_rule(
        "powerbi",
        "GroupsList",
        FaultKind::Status { code: 401 },
        Some(1),
    )]);

    let answer = call(&mut reader, &http, &groups_url(&world)).await.unwrap();
    assert_eq!(answer["value"], serde_json::json!([]));
    assert_eq!(reader.reads, 2, "the 401 made it read the secret again");
    let stats = world.emulator.stats();
    assert_eq!(stats.count_status("powerbi", "GroupsList", 401), 1);
    assert_eq!(stats.count_status("powerbi", "GroupsList", 200), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_that_is_not_a_token_is_refused() {
    let world = written().await;
    let mut reader = reader_of(&world, INPUT, &world.apps[0].secret_name());
    let error = reader.token(OffsetDateTime::now_utc()).await.unwrap_err();
    assert!(
        error.to_string().contains("is not a token secret"),
        "{error}"
    );
    assert_eq!(reader.reads, 1);
}
