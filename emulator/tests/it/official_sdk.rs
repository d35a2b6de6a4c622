//! The official Azure SDK for Rust (azure_identity + azure_security_keyvault_secrets) against
//! the emulator over HTTPS, configured as azure-wire.md describes.

use std::collections::HashMap;
use std::sync::Arc;

use crate::helpers::*;
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::http::{ClientOptions, Transport};
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use azure_security_keyvault_secrets::models::{
    SecretAttributes, SecretClientGetSecretOptions, SecretClientUpdateSecretPropertiesOptions,
    SetSecretParameters, UpdateSecretPropertiesParameters,
};
use azure_security_keyvault_secrets::{ResourceExt, SecretClient, SecretClientOptions};
use futures::TryStreamExt;

#[tokio::test]
async fn official_rust_sdk_round_trip() {
    let emu = emulator().await;
    let mut custom = CustomConfiguration::default();
    custom.authority_host = emu.authority_host();
    let client_options = ClientOptions {
        transport: Some(Transport::new(Arc::new(http(&emu)))),
        cloud: Some(Arc::new(CloudConfiguration::Custom(custom))),
        ..ClientOptions::default()
    };
    let credential = ClientSecretCredential::new(
        TENANT,
        WRITER.to_string(),
        SECRET.to_string().into(),
        Some(ClientSecretCredentialOptions {
            client_options: client_options.clone(),
        }),
    )
    .expect("credential");
    let client = SecretClient::new(
        &emu.vault_url("main").expect("vault"),
        credential,
        Some(SecretClientOptions {
            client_options,
            verify_challenge_resource: Some(false),
            ..SecretClientOptions::default()
        }),
    )
    .expect("client");

    let set = client
        .set_secret(
            "sdk-secret",
            SetSecretParameters {
                value: Some("hello".into()),
                content_type: Some("text/plain".into()),
                ..Default::default()
            }
            .try_into()
            .expect("body"),
            None,
        )
        .await
        .expect("set")
        .into_model()
        .expect("model");
    let version = set.resource_id().expect("id").version.expect("version");
    assert_eq!(set.value.as_deref(), Some("hello"));

    let got = client
        .get_secret("sdk-secret", None)
        .await
        .expect("get")
        .into_model()
        .expect("model");
    assert_eq!(got.value.as_deref(), Some("hello"));
    let by_version = client
        .get_secret(
            "sdk-secret",
            Some(SecretClientGetSecretOptions {
                secret_version: Some(version.clone()),
                ..Default::default()
            }),
        )
        .await
        .expect("get by version")
        .into_model()
        .expect("model");
    assert_eq!(by_version.content_type.as_deref(), Some("text/plain"));

    let exp = time::OffsetDateTime::from_unix_timestamp(2_000_000_000).expect("time");
    let updated = client
        .update_secret_properties(
            "sdk-secret",
            UpdateSecretPropertiesParameters {
                tags: Some(HashMap::from([("k".to_string(), "v".to_string())])),
                secret_attributes: Some(SecretAttributes {
                    expires: Some(exp),
                    ..Default::default()
                }),
                ..Default::default()
            }
            .try_into()
            .expect("body"),
            Some(SecretClientUpdateSecretPropertiesOptions {
                secret_version: Some(version),
                ..Default::default()
            }),
        )
        .await
        .expect("update")
        .into_model()
        .expect("model");
    assert_eq!(updated.tags.expect("tags")["k"], "v");
    assert_eq!(updated.attributes.expect("attrs").expires, Some(exp));

    for i in 0..27 {
        client
            .set_secret(
                &format!("bulk-{i}"),
                SetSecretParameters {
                    value: Some("v".into()),
                    ..Default::default()
                }
                .try_into()
                .expect("body"),
                None,
            )
            .await
            .expect("set bulk");
    }
    let mut names = Vec::new();
    let mut pager = client.list_secret_properties(None).expect("pager");
    while let Some(item) = pager.try_next().await.expect("page") {
        names.push(item.resource_id().expect("id").name);
    }
    assert_eq!(names.len(), 30, "{names:?}");
    assert!(names.contains(&"sdk-secret".to_string()));

    client
        .delete_secret("sdk-secret", None)
        .await
        .expect("delete");
    let err = client
        .get_secret("sdk-secret", None)
        .await
        .expect_err("deleted secret is gone");
    assert_eq!(
        err.http_status(),
        Some(azure_core::http::StatusCode::NotFound)
    );
    let stats = emu.stats();
    assert_eq!(stats.count("login", "TokenV2"), 1, "{stats:?}");
    assert!(stats.count_status("main", "SecretSet", 401) >= 1);
    assert!(stats.count("main", "SecretList") >= 2);
}
