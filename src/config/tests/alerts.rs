//! `[alerts]`: where webhook URLs may live, and the CloudEvents source.

use super::*;

fn with_alerts(alerts: &str) -> String {
    format!(
        "{}\n[alerts]\n{alerts}\n[[alerts.sinks]]\nname = \"sec\"\nkind = \"webhook\"\nurl_secret = \"sec-webhook\"\n",
        good()
    )
}

#[test]
fn a_webhook_url_in_a_vault_consumers_read_is_refused_unless_allowed() {
    // Default: the URL's vault is the state vault, i.e. the top-level vault tokens go to.
    let found = issues(&with_alerts(""));
    let issue = found
        .iter()
        .find(|i| i.key.as_deref() == Some("alerts.sinks[0].url_vault"))
        .unwrap_or_else(|| panic!("{found:?}"));
    assert!(issue.message.contains("sec-webhook"), "{}", issue.message);
    assert!(issue.message.contains("kv-tokens"), "{}", issue.message);

    // In the input vault, or explicitly allowed: accepted.
    let apart = parse(
        Path::new("rotator.toml"),
        &with_alerts("state_vault = \"https://kv-input.vault.azure.net/\"\n"),
    )
    .expect("valid");
    let sink = &apart.alerts.as_ref().expect("alerts").sinks[0];
    assert_eq!(
        sink.url_vault.as_ref().map(Url::as_str),
        Some("https://kv-input.vault.azure.net/")
    );
    parse(
        Path::new("rotator.toml"),
        &with_alerts("allow_url_in_token_vault = true\n"),
    )
    .expect("allowed explicitly");
}

#[test]
fn the_cloudevents_source_defaults_to_the_config_file_name_and_is_checked() {
    let text = with_alerts("state_vault = \"https://kv-input.vault.azure.net/\"\n");
    let cfg = parse(Path::new("/etc/akv-rotator/prod weu.toml"), &text).expect("valid");
    assert_eq!(cfg.alerts.expect("alerts").source, "akv-rotator/prod-weu");

    let named = text.replace(
        "[alerts]\n",
        "[alerts]\nsource = \"https://ops.example.com/akv-rotator/prod\"\n",
    );
    let cfg = parse(Path::new("rotator.toml"), &named).expect("valid");
    assert_eq!(
        cfg.alerts.expect("alerts").source,
        "https://ops.example.com/akv-rotator/prod"
    );

    let bad = text.replace("[alerts]\n", "[alerts]\nsource = \"prod west\"\n");
    let found = issues(&bad);
    assert_issue(&found, "alerts.source", "URI reference");
}
