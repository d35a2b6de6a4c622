//! Security promises end to end, through the real binary and the emulator: a stored credential
//! that breaks the parser fails only its app and is never echoed; a token that dresses as a
//! Microsoft Graph token (nonce header, unverifiable signature) for another audience, or that
//! lives longer than `max_token_lifetime`, is refused and never written.
use akv_emulator::{Seed, TokenFault};

use crate::common::*;

/// Every 8-character window of `value`.
fn fragments(value: &str) -> Vec<String> {
    let chars: Vec<char> = value.chars().collect();
    chars.windows(8).map(|w| w.iter().collect()).collect()
}

fn assert_never_echoed(value: &str, output: &str, what: &str) {
    for f in fragments(value) {
        assert!(
            !output.contains(&f),
            "{what} holds {f:?}, a fragment of the stored value:\n{output}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_certificate_fails_only_its_app_and_is_never_echoed() {
    // A BEGIN line that holds its own END made the old hand-written parser slice out of
    // bounds: a panic, exit 101, no report, and the panic message quoted the stored text.
    let key_material = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7Vh3mVx9Tq";
    let mut broken = TestApp::new("broken");
    broken.secret_value = format!("-----BEGIN X-----END X-----\n{key_material}\n");
    let world = World::start(vec![
        TestApp::new("first"),
        broken.clone(),
        TestApp::new("second"),
    ])
    .await;
    let text = world.config_text().replace(
        &format!("client_secret_name = \"{}\"", broken.secret_name()),
        &format!("client_certificate_name = \"{}\"", broken.secret_name()),
    );
    std::fs::write(&world.config_path, text).unwrap();

    let config = world.config_path.display().to_string();
    let out = world.run(
        &["once", "--config", config.as_str(), "--output", "json"],
        &[("RUST_LOG", "debug")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for healthy in ["first-powerbi-token", "second-powerbi-token"] {
        assert_eq!(outcome(&report, healthy), "written", "{report:#}");
    }
    let failed = target(&report, "broken-powerbi-token");
    assert_eq!(failed["outcome"], "failed", "{failed:#}");
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("broken"),
        "the error names the app: {message}"
    );
    assert!(world.versions(OUTPUT, "broken-powerbi-token").is_empty());
    assert_never_echoed(&broken.secret_value, &stdout, "stdout");
    assert_never_echoed(&broken.secret_value, &stderr, "stderr");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_nonce_token_for_power_bi_is_refused_and_not_written() {
    let world = World::start(vec![TestApp::new("healthy"), TestApp::new("forged")]).await;
    world
        .emulator
        .set_token_fault(&world.apps[1].client_id, Some(TokenFault::ForgedNonce));

    let (code, report, stderr) = world.once(&[]);
    assert_eq!(code, 1, "{stderr}\n{report:#}");
    assert_eq!(outcome(&report, "healthy-powerbi-token"), "written");
    failed_target(&report, "forged-powerbi-token", "invalid_token");
    assert!(world.versions(OUTPUT, "forged-powerbi-token").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_living_longer_than_max_token_lifetime_is_refused_unless_allowed() {
    let world = World::start(vec![TestApp::new("sales")]).await;
    // Genuine, correctly signed tokens that live two days.
    world
        .emulator
        .apply_seed(Seed {
            token_lifetime_secs: Some((2 * 86_400, 2 * 86_400)),
            ..Default::default()
        })
        .unwrap();

    let (code, report, stderr) = world.once(&[]);
    assert_eq!(code, 1, "{stderr}\n{report:#}");
    let t = target(&report, "sales-powerbi-token");
    assert_eq!(t["error"]["class"], "invalid_token", "{t:#}");
    let message = t["error"]["message"].as_str().unwrap();
    assert!(message.contains("max_token_lifetime"), "{message}");
    assert!(world.versions(OUTPUT, "sales-powerbi-token").is_empty());

    let config = world.config_with("longer.toml", "");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("max_token_lifetime = \"3d\"\n{text}")).unwrap();
    let config = config.display().to_string();
    let out = world.run(
        &["once", "--config", config.as_str(), "--output", "json"],
        &[],
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(outcome(&report, "sales-powerbi-token"), "written");
}
