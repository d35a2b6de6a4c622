//! Property: the config parser never panics, whatever the text, and every error it returns
//! points inside the text (a line that exists).

use std::path::Path;

use proptest::prelude::*;

/// Config-shaped text: real keys and tables with values of every kind, shuffled.
fn config_like() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "cloud",
        "vault",
        "ca_file",
        "concurrency",
        "refresh_before",
        "name",
        "tenant_id",
        "client_id",
        "client_secret_name",
        "scope",
        "secret",
        "kind",
        "client_secret_file",
        "authority_host",
        "warning",
        "critical",
        "schedule",
        "jitter",
        "listen",
        "required_roles",
        "count",
        "token_file",
    ]);
    let tables = prop::sample::select(vec![
        "[custom_cloud]",
        "[credential]",
        "[[apps]]",
        "[[apps.targets]]",
        "[expiry]",
        "[daemon]",
        "[shard]",
        "[[apps",
        "[apps]",
        "[[credential]]",
    ]);
    let values = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        ".{0,40}".prop_map(|s| format!("{s:?}")),
        Just("\"custom\"".to_string()),
        Just("\"https://localhost:1/\"".to_string()),
        Just("\"11111111-2222-4333-8444-555555555555\"".to_string()),
        Just("\"30m\"".to_string()),
        Just("[\"a\", 1, true]".to_string()),
        Just("{ a = 1 }".to_string()),
        Just("true".to_string()),
        Just("1e400".to_string()),
        Just("\"\\u0000\"".to_string()),
        "[^\n]{0,20}",
    ];
    let line = prop_oneof![
        (keys, values).prop_map(|(k, v)| format!("{k} = {v}")),
        tables.prop_map(str::to_string),
        "[^\n]{0,30}",
    ];
    prop::collection::vec(line, 0..40).prop_map(|lines| lines.join("\n"))
}

fn check(text: &str) {
    match akv_rotator::config::parse(Path::new("/nonexistent/prop.toml"), text) {
        Ok(_) => {}
        Err(e) => {
            let shown = e.to_string();
            assert!(!shown.is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_never_panics_on_arbitrary_text(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn parse_never_panics_on_config_shaped_text(text in config_like()) {
        check(&text);
    }
}
