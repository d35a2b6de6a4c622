//! Azure out of reach before any work: exit code 3 ("run again later", which the chart's Job
//! retries), never 2 ("fix the configuration", which fails the Job at once), and no minute of
//! SDK retries of a connection that was refused.

use crate::common::*;

/// Debug logs of a `once` run against `config`: (exit code, stderr).
fn once_logged(world: &World, config: &std::path::Path) -> (i32, String) {
    let config = config.display().to_string();
    let out = world.run(
        &["once", "--config", &config, "--output", "json"],
        &[("RUST_LOG", "akv_rotator=debug")],
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_entra_id_exits_3_without_retrying_a_refused_connection() {
    let world = World::start(vec![TestApp::new("sales")]).await;
    // Nothing listens there: the rotator's own token request is refused.
    let closed = format!("https://127.0.0.1:{}", free_port());
    let text = world
        .config_text()
        .replace(&world.emulator.authority_host(), &closed);
    let path = world.dir.path().join("entra-down.toml");
    std::fs::write(&path, text).unwrap();

    let (code, stderr) = once_logged(&world, &path);

    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("could not reach Entra ID"), "{stderr}");
    assert!(
        !stderr.contains("\"sdk_retry\""),
        "a refused connection is not retried: {stderr}"
    );
    assert!(world.versions(OUTPUT, "sales-powerbi-token").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vault_host_that_refuses_connections_exits_3_naming_the_host() {
    let world = World::start(vec![TestApp::new("sales")]).await;
    let closed = format!("https://127.0.0.1:{}/", free_port());
    let text = world.config_text().replace(&world.vault(OUTPUT), &closed);
    let path = world.dir.path().join("vault-down.toml");
    std::fs::write(&path, text).unwrap();

    let (code, stderr) = once_logged(&world, &path);

    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("cannot connect to vault host 127.0.0.1"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("\"sdk_retry\""),
        "a refused connection is not retried: {stderr}"
    );
}
