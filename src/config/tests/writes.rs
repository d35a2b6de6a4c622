//! Targets may write only where tokens belong; daemon endpoint settings.

use super::*;

/// [`good`] plus a second app "ops" whose only target writes `ops_target` in the token vault
/// (or in `ops_vault`), and `extra` TOML at the end.
fn with_ops_target(ops_target: &str, ops_vault: Option<&str>, extra: &str) -> String {
    let vault = ops_vault
        .map(|v| format!("vault = \"{v}\"\n"))
        .unwrap_or_default();
    format!(
        "{}\n[[apps]]\nname = \"ops\"\ntenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT}\"\nclient_certificate_name = \"ops-cert\"\n\n[[apps.targets]]\nscope = \"https://graph.microsoft.com/.default\"\nsecret = \"{ops_target}\"\n{vault}\n{extra}",
        good()
    )
}

/// The issues about ops' target secret.
fn ops_target_issues(text: &str) -> Vec<ConfigIssue> {
    issues(text)
        .into_iter()
        .filter(|i| i.key.as_deref() == Some("apps[1].targets[0].secret"))
        .collect()
}

/// An alert sink whose URL stays in the token vault (allowed explicitly: these tests are about targets).
const SINK: &str = "[alerts]\nallow_url_in_token_vault = true\n\n[[alerts.sinks]]\nname = \"security\"\nkind = \"teams\"\nurl_secret = \"teams-webhook-url\"\n";

#[test]
fn a_target_may_not_write_another_apps_client_secret_or_certificate() {
    let input = Some("https://kv-input.vault.azure.net");
    let found = ops_target_issues(&with_ops_target("SALES-client-secret", input, ""));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].message.contains("app \"ops\"")
            && found[0].message.contains("app \"sales\"'s client secret"),
        "names both: {found:?}"
    );
    // Its own certificate, in the vault the app reads it from.
    let found = ops_target_issues(&with_ops_target("ops-cert", None, ""));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].message.contains("app \"ops\"'s certificate"),
        "{found:?}"
    );
    // The same name in another vault is another secret.
    parse(
        Path::new("rotator.toml"),
        &with_ops_target("sales-client-secret", None, ""),
    )
    .expect("a token vault secret named like a client secret elsewhere is fine");
}

#[test]
fn a_target_may_not_write_the_alert_state_or_a_shard_of_it() {
    for name in [
        "akv-rotator-alert-state",
        "akv-rotator-alert-state-shard-2-of-8",
    ] {
        let found = ops_target_issues(&with_ops_target(name, None, SINK));
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        assert!(
            found[0].message.contains("alert state") && found[0].message.contains("\"ops\""),
            "{found:?}"
        );
    }
    parse(
        Path::new("rotator.toml"),
        &with_ops_target("akv-rotator-alert-state-shard-x", None, SINK),
    )
    .expect("a name that is no shard of the state is fine");
}

#[test]
fn a_target_may_not_write_a_sinks_webhook_url() {
    let found = ops_target_issues(&with_ops_target("teams-webhook-url", None, SINK));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0]
            .message
            .contains("the webhook URL of alert sink \"security\""),
        "{found:?}"
    );
}

#[test]
fn daemon_endpoint_limits_and_the_status_listener_validate() {
    let text = format!(
        "{}\n[daemon]\nlisten = \"127.0.0.1:8080\"\nheader_read_timeout = \"5s\"\nidle_timeout = \"30s\"\nmax_connections = 32\nstatus = \"127.0.0.1:8081\"\n",
        good()
    );
    let cfg = parse(Path::new("rotator.toml"), &text).expect("valid");
    assert_eq!(cfg.daemon.header_read_timeout, Duration::from_secs(5));
    assert_eq!(cfg.daemon.idle_timeout, Duration::from_secs(30));
    assert_eq!(cfg.daemon.max_connections, 32);
    assert_eq!(
        cfg.daemon.status,
        StatusListener::Separate(std::net::SocketAddr::from(([127, 0, 0, 1], 8081)))
    );
    let off = parse(
        Path::new("rotator.toml"),
        &format!("{}\n[daemon]\nstatus = \"off\"\n", good()),
    )
    .expect("valid");
    assert_eq!(off.daemon.status, StatusListener::Off);

    for (bad, key) in [
        ("max_connections = 0", "daemon.max_connections"),
        ("status = \"elsewhere\"", "daemon.status"),
        (
            "listen = \"127.0.0.1:8080\"\nstatus = \"127.0.0.1:8080\"",
            "daemon.status",
        ),
        (
            "header_read_timeout = \"soon\"",
            "daemon.header_read_timeout",
        ),
    ] {
        let found = issues(&format!("{}\n[daemon]\n{bad}\n", good()));
        assert!(
            found.iter().any(|i| i.key.as_deref() == Some(key)),
            "{bad}: {found:?}"
        );
    }
}
