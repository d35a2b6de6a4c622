//! Every problem in one run: unknown keys and near misses with what was meant, and the
//! refresh_before bound.

use super::*;

#[test]
fn every_unknown_key_is_reported_in_one_run_with_what_was_meant() {
    // Four typos in four sections, and a value problem: five issues in one run.
    let text = good()
        .replacen("refresh_before = \"20m\"", "refresh_befor = \"20m\"", 1)
        .replacen(
            "client_secret_name = ",
            "owner = \"team-a\"\nonwer = \"x\"\nclient_secret_name = ",
            1,
        )
        .replacen("refresh_before = \"40m\"", "refresh_befre = \"40m\"", 1)
        .replacen(
            "[credential]\nkind = \"workload-identity\"",
            "[credential]\nkind = \"workload-identity\"\ntenant = \"x\"",
            1,
        )
        .replacen(
            "vault = \"https://kv-tokens.vault.azure.net\"",
            "vault = \"http://kv-tokens.vault.azure.net\"",
            1,
        )
        + "\n[alerts]\nmuted = true\n";
    let issues = issues(&text);
    let unknown: Vec<&ConfigIssue> = issues
        .iter()
        .filter(|i| i.message.starts_with("unknown key"))
        .collect();
    assert_eq!(unknown.len(), 5, "{issues:#?}");
    let said = |key: &str, hint: &str| {
        unknown
            .iter()
            .any(|i| i.key.as_deref() == Some(key) && i.message.contains(hint) && i.line > 1)
    };
    assert!(
        said("refresh_befor", "did you mean `refresh_before`?"),
        "{unknown:#?}"
    );
    assert!(
        said("apps[0].onwer", "did you mean `owner`?"),
        "{unknown:#?}"
    );
    assert!(
        said(
            "apps[0].targets[1].refresh_befre",
            "did you mean `refresh_before`?"
        ),
        "{unknown:#?}"
    );
    assert!(
        said("credential.tenant", "did you mean `tenant_id`?"),
        "{unknown:#?}"
    );
    // Nothing close: the keys that exist there are listed instead.
    assert!(said("alerts.muted", "known here:"), "{unknown:#?}");
    // The value problem of the same file comes in the same run, and all in file order.
    assert!(
        issues.iter().any(|i| i.key.as_deref() == Some("vault")),
        "{issues:#?}"
    );
    assert!(
        issues
            .windows(2)
            .all(|w| (w[0].line, w[0].column) <= (w[1].line, w[1].column))
    );
}

#[test]
fn a_misspelt_required_key_is_named_beside_the_missing_one() {
    let text = good().replacen("scope = \"https://graph", "scoep = \"https://graph", 1);
    let issues = issues(&text);
    assert!(
        issues
            .iter()
            .any(|i| i.message.contains("missing field `scope`")),
        "{issues:#?}"
    );
    assert_issue(&issues, "apps[0].targets[1].scoep", "did you mean `scope`?");
}

#[test]
fn a_near_miss_of_an_enum_value_names_the_value_meant() {
    let text = good().replacen(
        "kind = \"workload-identity\"",
        "kind = \"workload_identity\"",
        1,
    );
    let issues = issues(&text);
    assert_issue(
        &issues,
        "credential.kind",
        "did you mean \"workload-identity\"?",
    );
    assert_eq!(
        did_you_mean("client_secret", &["client-secret", "auto"]),
        "; did you mean \"client-secret\"?"
    );
    assert_eq!(
        did_you_mean("Public", &["public", "china"]),
        "; did you mean \"public\"?"
    );
    assert_eq!(did_you_mean("mars", &["public", "china"]), "");
}

#[test]
fn a_refresh_before_as_long_as_a_token_lives_is_refused_with_the_reason() {
    for value in ["45m", "2h", "30d"] {
        let text = good().replacen(
            "refresh_before = \"20m\"",
            &format!("refresh_before = \"{value}\""),
            1,
        );
        let issues = issues(&text);
        let issue = issues
            .iter()
            .find(|i| i.key.as_deref() == Some("refresh_before"))
            .unwrap_or_else(|| panic!("{value} accepted: {issues:#?}"));
        assert!(
            issue.message.contains("60 to 90 minutes"),
            "{}",
            issue.message
        );
        assert!(
            issue.message.contains("use less than 45 minutes"),
            "{}",
            issue.message
        );
    }
    let per_target = good().replacen("refresh_before = \"40m\"", "refresh_before = \"1h\"", 1);
    assert!(
        issues(&per_target)
            .iter()
            .any(|i| i.key.as_deref() == Some("apps[0].targets[1].refresh_before")),
        "a target's own refresh_before is bounded too"
    );
    let fine = good().replacen("refresh_before = \"20m\"", "refresh_before = \"44m\"", 1);
    parse(Path::new("rotator.toml"), &fine).expect("44m is accepted");
}
