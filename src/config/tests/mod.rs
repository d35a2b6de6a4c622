//! Unit tests of the config: a full config, each section's checks, and their messages.

use super::*;

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const CLIENT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

fn good() -> String {
    format!(
        r#"
vault = "https://kv-tokens.vault.azure.net"
refresh_before = "20m"

[credential]
kind = "workload-identity"

[[apps]]
name = "sales"
tenant_id = "{TENANT}"
client_id = "{CLIENT}"
client_secret_name = "sales-client-secret"
vault = "https://kv-input.vault.azure.net/"

[[apps.targets]]
scope = "https://analysis.windows.net/powerbi/api/.default"
secret = "sales-powerbi-token"

[[apps.targets]]
scope = "https://graph.microsoft.com/.default"
secret = "sales-graph-token"
refresh_before = "40m"
"#
    )
}

fn issues(text: &str) -> Vec<ConfigIssue> {
    match parse(Path::new("rotator.toml"), text) {
        Err(ConfigError::Invalid { issues, .. }) => issues,
        other => panic!("expected invalid config, got {other:?}"),
    }
}

/// The message of the first issue found in `text`, asserted to be about `key` (`case` names
/// the case in a failure).
fn first_issue_at(text: &str, key: &str, case: &str) -> String {
    let found = issues(text);
    assert_eq!(found[0].key.as_deref(), Some(key), "{case}");
    found[0].message.clone()
}

/// The issues of [`good`] with `from` replaced by `to`.
fn issues_replacing(from: &str, to: &str) -> Vec<ConfigIssue> {
    issues(&good().replace(from, to))
}

/// The one issue of [`good`] with `key = "<value>"` in place of its `refresh_before`, asserted to
/// be about `key`.
fn only_issue_setting(key: &str, value: &str) -> ConfigIssue {
    let text = good().replace("refresh_before = \"20m\"", &format!("{key} = \"{value}\""));
    let mut found = issues(&text);
    assert_eq!(found.len(), 1, "{value}: {found:?}");
    assert_eq!(found[0].key.as_deref(), Some(key));
    found.remove(0)
}

/// Asserts that one of `found` is about `key` and says `says`.
fn assert_issue(found: &[ConfigIssue], key: &str, says: &str) {
    assert!(
        found
            .iter()
            .any(|i| i.key.as_deref() == Some(key) && i.message.contains(says)),
        "{key}: {says}: {found:#?}"
    );
}

#[test]
fn a_full_config_validates() {
    let cfg = parse(Path::new("rotator.toml"), &good()).expect("valid");
    assert_eq!(cfg.cloud.name, CloudName::Public);
    assert_eq!(cfg.apps.len(), 1);
    let app = &cfg.apps[0];
    assert_eq!(
        app.client_secret_vault.as_str(),
        "https://kv-input.vault.azure.net/"
    );
    assert_eq!(
        app.targets[0].vault.as_str(),
        "https://kv-tokens.vault.azure.net/"
    );
    assert_eq!(
        &*app.targets[0].resource,
        "https://analysis.windows.net/powerbi/api"
    );
    assert_eq!(app.targets[0].refresh_before, Duration::from_secs(20 * 60));
    assert_eq!(app.targets[1].refresh_before, Duration::from_secs(40 * 60));
    assert_eq!(cfg.vaults().len(), 2);
}

#[test]
fn unknown_key_names_line_and_key() {
    let found = issues_replacing("refresh_before = \"20m\"", "refresh_befor = \"20m\"");
    assert_eq!(found[0].line, 3);
    assert!(found[0].message.contains("refresh_befor"), "{found:?}");
}

#[test]
fn bad_duration_names_line_and_key() {
    let found = issues_replacing("\"40m\"", "\"40 parsecs\"");
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].key.as_deref(),
        Some("apps[0].targets[1].refresh_before")
    );
    assert_eq!(found[0].line, 22);
}

/// The next `n` weekdays (Sunday = 0) of a schedule from Monday 2026-11-30 00:00 UTC.
fn weekdays(expr: &str, n: usize) -> Vec<u8> {
    use chrono::{Datelike, TimeZone};
    let monday = chrono::Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap();
    parse_cron(expr)
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
        .after(&monday)
        .take(n)
        .map(|t| t.weekday().num_days_from_sunday() as u8)
        .collect()
}

#[test]
fn cron_weekdays_mean_what_kubernetes_means() {
    assert_eq!(weekdays("0 3 * * 1-5", 6), [1, 2, 3, 4, 5, 1]);
    assert_eq!(weekdays("0 3 * * 0", 2), [0, 0]);
    assert_eq!(weekdays("0 3 * * 7", 2), [0, 0]);
    assert_eq!(weekdays("0 3 * * 5-7", 4), [5, 6, 0, 5]);
    assert_eq!(weekdays("0 3 * * 1/2", 4), [1, 3, 5, 1]);
    assert_eq!(weekdays("0 3 * * 0,6", 3), [6, 0, 6]);
    assert_eq!(weekdays("0 3 * * MON-FRI", 6), [1, 2, 3, 4, 5, 1]);
    assert_eq!(weekdays("0 3 * * */2", 4), [2, 4, 6, 0]);
    assert_eq!(
        weekdays("30 0 3 * * 1", 2),
        [1, 1],
        "6 fields, seconds first"
    );
    assert_eq!(weekdays("@weekly", 2), [0, 0]);
    assert_eq!(weekdays("@daily", 3), [2, 3, 4]);
    for (bad, says) in [("0 3 * * 8", "weekday 8"), ("@sometimes", "found 1 fields")] {
        let refused = parse_cron(bad).err().unwrap_or_default();
        assert!(refused.contains(says), "{bad}: {refused:?}");
    }
}

#[test]
fn max_token_lifetime_defaults_to_24h_and_is_bounded() {
    let path = Path::new("rotator.toml");
    let valid = |text: &str| parse(path, text).expect("valid");
    assert_eq!(
        valid(&good()).max_token_lifetime,
        Duration::from_secs(24 * 3600)
    );
    let text = good().replace("refresh_before = \"20m\"", "max_token_lifetime = \"2d\"");
    assert_eq!(
        valid(&text).max_token_lifetime,
        Duration::from_secs(2 * 86_400)
    );
    for (value, says) in [
        ("5m", "between 10m and 7d"),
        ("8d", "between 10m and 7d"),
        ("long", "invalid duration"),
    ] {
        let issue = only_issue_setting("max_token_lifetime", value);
        assert!(issue.message.contains(says), "{value}: {issue:?}");
    }
}

#[test]
fn cycle_deadline_defaults_to_15m_and_is_bounded() {
    let path = Path::new("rotator.toml");
    let valid = |text: &str| parse(path, text).expect("valid");
    assert_eq!(valid(&good()).cycle_deadline, DEFAULT_CYCLE_DEADLINE);
    let text = good().replace("refresh_before = \"20m\"", "cycle_deadline = \"2h\"");
    assert_eq!(valid(&text).cycle_deadline, Duration::from_secs(7200));
    for (value, says) in [
        ("5s", "between 10s and 24h"),
        ("2d", "between 10s and 24h"),
        ("soon", "invalid duration"),
    ] {
        let issue = only_issue_setting("cycle_deadline", value);
        assert_eq!(issue.line, 3);
        assert!(issue.message.contains(says), "{value}: {issue:?}");
    }
    assert_eq!(
        deadline_grace(Duration::from_secs(10)),
        Duration::from_secs(1)
    );
    assert_eq!(
        deadline_grace(DEFAULT_CYCLE_DEADLINE),
        Duration::from_secs(30)
    );
}

#[test]
fn plain_http_vault_and_wrong_cloud_are_refused() {
    let text = good()
        .replace(
            "https://kv-tokens.vault.azure.net",
            "http://kv-tokens.vault.azure.net",
        )
        .replace("kv-input.vault.azure.net", "kv-input.vault.azure.cn");
    let found = issues(&text);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].message.contains("https"));
    assert!(found[1].message.contains("not a Key Vault of this cloud"));
}

#[test]
fn scope_must_be_a_default_scope() {
    let found = issues_replacing(
        "https://graph.microsoft.com/.default",
        "https://graph.microsoft.com/User.Read",
    );
    assert_eq!(found[0].key.as_deref(), Some("apps[0].targets[1].scope"));
}

#[test]
fn custom_cloud_needs_its_table() {
    let text = format!("cloud = \"custom\"\n{}", good());
    let found = issues(&text);
    assert!(found[0].message.contains("[custom_cloud]"));
}

#[test]
fn client_secret_credential_needs_its_fields() {
    let found = issues_replacing(
        "kind = \"workload-identity\"",
        "kind = \"client-secret\"\ntenant_id = \"nope\"",
    );
    let keys: Vec<_> = found.iter().filter_map(|i| i.key.clone()).collect();
    for key in [
        "credential.tenant_id",
        "credential.client_id",
        "credential.client_secret_file",
    ] {
        assert!(keys.contains(&key.to_string()), "{keys:?}");
    }
}

#[test]
fn daemon_schedule_accepts_five_fields_and_rejects_garbage() {
    let text = format!(
        "{}\n[daemon]\nschedule = \"*/5 * * * *\"\njitter = \"10s\"\nlisten = \"127.0.0.1:9000\"\n",
        good()
    );
    let cfg = parse(Path::new("r.toml"), &text).expect("valid");
    assert_eq!(cfg.daemon.schedule_text, "*/5 * * * *");
    assert_eq!(cfg.daemon.jitter, Duration::from_secs(10));
    let bad = text.replace("*/5 * * * *", "every five minutes");
    let found = issues(&bad);
    assert_eq!(found[0].key.as_deref(), Some("daemon.schedule"));
}

/// The next `n` slots after `from` (RFC 3339) of `[daemon] schedule` read in `time_zone`.
fn slots_in(zone: &str, schedule: &str, from: &str, n: usize) -> Vec<String> {
    let text = format!(
        "{}\n[daemon]\nschedule = \"{schedule}\"\ntime_zone = \"{zone}\"\n",
        good()
    );
    let cfg = parse(Path::new("r.toml"), &text).expect("valid");
    let mut t = crate::timefmt::parse_rfc3339(from).expect("RFC 3339");
    (0..n)
        .map(|_| {
            t = cfg.daemon.next_slot(t).expect("a next slot");
            crate::timefmt::rfc3339(t)
        })
        .collect()
}

#[test]
fn the_next_slot_follows_the_time_zone_across_daylight_saving_changes() {
    // 03:00 in Berlin: 02:00 UTC in winter (CET), 01:00 UTC in summer (CEST). Summer time
    // starts on 2027-03-28 and ends on 2026-10-25.
    assert_eq!(
        slots_in("Europe/Berlin", "0 3 * * *", "2027-03-26T12:00:00Z", 3),
        [
            "2027-03-27T02:00:00Z",
            "2027-03-28T01:00:00Z",
            "2027-03-29T01:00:00Z"
        ]
    );
    assert_eq!(
        slots_in("Europe/Berlin", "0 3 * * *", "2026-10-23T12:00:00Z", 3),
        [
            "2026-10-24T01:00:00Z",
            "2026-10-25T02:00:00Z",
            "2026-10-26T02:00:00Z"
        ]
    );
    // New York, weekdays at 09:30: 14:30 UTC (EST) before 2027-03-14, 13:30 UTC (EDT) after.
    assert_eq!(
        slots_in(
            "America/New_York",
            "30 9 * * 1-5",
            "2027-03-12T00:00:00Z",
            2
        ),
        ["2027-03-12T14:30:00Z", "2027-03-15T13:30:00Z"]
    );
    // Without a zone the schedule is UTC, as before.
    let cfg = parse(
        Path::new("r.toml"),
        &format!("{}\n[daemon]\nschedule = \"0 3 * * *\"\n", good()),
    )
    .expect("valid");
    assert_eq!(cfg.daemon.schedule.zone(), chrono_tz::UTC);
    let summer = time::macros::datetime!(2027-06-01 12:00 UTC);
    assert_eq!(
        cfg.daemon.next_slot(summer),
        Some(time::macros::datetime!(2027-06-02 03:00 UTC))
    );
}

#[test]
fn an_unknown_time_zone_is_refused_with_a_suggestion() {
    let text = format!("{}\n[daemon]\ntime_zone = \"Europe/Berln\"\n", good());
    let found = issues(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].key.as_deref(), Some("daemon.time_zone"));
    assert!(
        found[0].message.contains("IANA")
            && found[0].message.contains("did you mean \"Europe/Berlin\"?"),
        "{}",
        found[0].message
    );
    let found = issues(&text.replace("Europe/Berln", "CEST"));
    assert_eq!(found[0].key.as_deref(), Some("daemon.time_zone"));
}

#[test]
fn probes_are_limited_to_the_resource_api_host() {
    let with = |probe: &str| {
        good().replacen(
            "secret = \"sales-powerbi-token\"",
            &format!("secret = \"sales-powerbi-token\"\nprobe = {probe}"),
            1,
        )
    };
    let cfg = parse(Path::new("r.toml"), &with("true")).expect("valid");
    assert_eq!(
        cfg.apps[0].targets[0].probe.as_deref().map(Url::as_str),
        Some("https://api.powerbi.com/v1.0/myorg/groups?$top=1")
    );
    let cfg = parse(
        Path::new("r.toml"),
        &with("\"https://api.powerbi.com/v1.0/myorg/reports\""),
    )
    .expect("valid");
    assert!(cfg.apps[0].targets[0].probe.is_some());
    for bad in [
        "\"https://evil.example/v1.0/myorg/groups\"",
        "\"http://api.powerbi.com/x\"",
        "\"https://api.powerbi.com:8443/x\"",
        "42",
    ] {
        first_issue_at(&with(bad), "apps[0].targets[0].probe", bad);
    }
}

#[test]
fn thresholds_are_global_with_per_app_overrides() {
    let text = format!("{}\n[expiry]\nwarning = \"45d\"\n", good()).replacen(
        "client_secret_name = \"sales-client-secret\"",
        "client_secret_name = \"sales-client-secret\"\nexpiry = { critical = \"14d\" }",
        1,
    );
    let cfg = parse(Path::new("r.toml"), &text).expect("valid");
    assert_eq!(cfg.thresholds.warning, Duration::from_secs(45 * 86_400));
    assert_eq!(
        cfg.apps[0].thresholds.warning,
        Duration::from_secs(45 * 86_400)
    );
    assert_eq!(
        cfg.apps[0].thresholds.critical,
        Duration::from_secs(14 * 86_400)
    );
    let bad = text.replace("\"14d\"", "\"60d\"");
    assert_eq!(
        issues(&bad)[0].key.as_deref(),
        Some("apps[0].expiry.critical")
    );
}

#[test]
fn rotate_and_certificate_settings_validate() {
    let text = good().replace(
            "client_secret_name = \"sales-client-secret\"\n",
            "client_secret_name = \"sales-client-secret\"\nrotate = { before_expiry = \"20d\", grace = \"2s\" }\n",
        );
    let cfg = parse(Path::new("r.toml"), &text).expect("valid");
    let rotate = cfg.apps[0].rotate.expect("rotate");
    assert_eq!(rotate.before_expiry, Duration::from_secs(20 * 86_400));
    assert_eq!(rotate.lifetime, Duration::from_secs(180 * 86_400));
    assert_eq!(rotate.grace, Duration::from_secs(2));
    assert_eq!(
        cfg.graph_endpoint.as_ref().map(Url::as_str),
        Some("https://graph.microsoft.com/")
    );
    assert_eq!(cfg.graph_resource, "https://graph.microsoft.com");

    let short = text.replace("grace = \"2s\"", "lifetime = \"10d\"");
    let found = issues(&short);
    assert_eq!(found[0].key.as_deref(), Some("apps[0].rotate.lifetime"));

    let cert = good().replace(
        "client_secret_name = \"sales-client-secret\"",
        "client_certificate_name = \"sales-cert\"\ncertificate_algorithm = \"RS256\"",
    );
    let cfg = parse(Path::new("r.toml"), &cert).expect("valid");
    assert_eq!(
        cfg.apps[0].credential_kind,
        AppCredentialKind::Certificate {
            algorithm: AssertionAlgorithm::Rs256
        }
    );
    assert_eq!(cfg.apps[0].client_secret_name, "sales-cert");

    let both = good().replace(
        "client_secret_name = \"sales-client-secret\"",
        "client_secret_name = \"sales-client-secret\"\nclient_certificate_name = \"c\"",
    );
    let found = issues(&both);
    assert_eq!(
        found[0].key.as_deref(),
        Some("apps[0].client_certificate_name")
    );
    assert!(found[0].message.contains("mutually exclusive"));

    let rotate_cert = cert.replace(
        "certificate_algorithm = \"RS256\"",
        "rotate = { lifetime = \"90d\" }",
    );
    let found = issues(&rotate_cert);
    assert_eq!(found[0].key.as_deref(), Some("apps[0].rotate"));
}

#[test]
fn sovereign_clouds_have_their_graph() {
    let text = format!("cloud = \"us-government\"\n{}", good())
        .replace("vault.azure.net", "vault.usgovcloudapi.net");
    let cfg = parse(Path::new("r.toml"), &text).expect("valid");
    assert_eq!(cfg.graph_resource, "https://graph.microsoft.us");
    let text = format!(
        "cloud = \"custom\"\n[custom_cloud]\nauthority_host = \"https://login.example\"\n{}",
        good().replace(
            "client_secret_name = \"sales-client-secret\"\n",
            "client_secret_name = \"sales-client-secret\"\nrotate = {}\n",
        )
    );
    // The [custom_cloud] table must come before the others; rebuild it in order.
    let text = text.replacen(
        "\n[custom_cloud]\nauthority_host = \"https://login.example\"\n",
        "\n",
        1,
    );
    let (head, rest) = text.split_once("[credential]").expect("credential");
    let text = format!(
        "{head}[custom_cloud]\nauthority_host = \"https://login.example\"\n\n[credential]{rest}"
    );
    let found = issues(&text);
    assert_issue(&found, "apps[0].rotate", "graph_endpoint");
}

#[test]
fn line_col_counts_from_one() {
    assert_eq!(line_col("ab\ncd", 0), (1, 1));
    assert_eq!(line_col("ab\ncd", 4), (2, 2));
}

/// The good config with its Graph target's scope (and extra target keys) replaced.
fn with_scope(scope: &str, extra: &str) -> String {
    good().replace(
        "scope = \"https://graph.microsoft.com/.default\"",
        &format!("scope = {scope:?}\n{extra}"),
    )
}

#[test]
fn every_scope_form_entra_accepts_for_client_credentials_validates() {
    for (scope, resource) in [
        (
            "https://analysis.windows.net/powerbi/api/.default",
            "https://analysis.windows.net/powerbi/api",
        ),
        (
            "https://api.contoso.com/.default",
            "https://api.contoso.com",
        ),
        (
            "https://contoso.com/productsapi/.default",
            "https://contoso.com/productsapi",
        ),
        (
            "https://management.azure.com//.default",
            "https://management.azure.com/",
        ),
        ("api://orders-api/.default", "api://orders-api"),
        (
            "api://0a1b2c3d-1111-4222-8333-444455556666/.default",
            "api://0a1b2c3d-1111-4222-8333-444455556666",
        ),
        (
            "api://11111111-2222-3333-4444-555555555555/0a1b2c3d-1111-4222-8333-444455556666/.default",
            "api://11111111-2222-3333-4444-555555555555/0a1b2c3d-1111-4222-8333-444455556666",
        ),
        (
            "api://contoso.com/productsapi/.default",
            "api://contoso.com/productsapi",
        ),
        (
            "0a1b2c3d-1111-4222-8333-444455556666/.default",
            "0a1b2c3d-1111-4222-8333-444455556666",
        ),
        ("urn:contoso:orders/.default", "urn:contoso:orders"),
    ] {
        let cfg = parse(Path::new("r.toml"), &with_scope(scope, ""))
            .unwrap_or_else(|e| panic!("{scope}: {e}"));
        let t = &cfg.apps[0].targets[1];
        assert_eq!(&*t.scope, scope);
        assert_eq!(&*t.resource, resource, "{scope}");
        assert_eq!(t.audience, None);
    }
}

#[test]
fn scopes_that_are_not_a_resource_and_default_are_refused_with_the_forms() {
    for (scope, hint) in [
        ("https://graph.microsoft.com/User.Read", ""),
        ("api://orders-api/read", ""),
        ("api://orders-api", ""),
        ("/.default", ""),
        ("orders-api/.default", ""),
        ("not-a-guid-0000/.default", ""),
        ("http://orders.contoso.com/.default", "not http"),
        ("ftp://orders.contoso.com/.default", "not ftp"),
        ("api:orders/.default", "names no resource"),
        ("https://*.contoso.com/.default", "wildcards"),
        (
            "api://orders-api/.default https://graph.microsoft.com/.default",
            "several scopes",
        ),
    ] {
        let m = &first_issue_at(&with_scope(scope, ""), "apps[0].targets[1].scope", scope);
        assert!(
            m.contains("is not a client-credentials scope"),
            "{scope}: {m}"
        );
        assert!(
            m.contains("api://orders-api/.default"),
            "{scope}: the forms are named: {m}"
        );
        assert!(m.contains(hint), "{scope}: {m}");
    }
}

#[test]
fn audience_names_the_expected_aud() {
    let guid = "0a1b2c3d-1111-4222-8333-444455556666";
    let cfg = parse(
        Path::new("r.toml"),
        &with_scope(
            "api://orders-api/.default",
            &format!("audience = \"{guid}\""),
        ),
    )
    .expect("valid");
    assert_eq!(cfg.apps[0].targets[1].audience.as_deref(), Some(guid));
    let cfg = parse(
        Path::new("r.toml"),
        &with_scope(
            &format!("{guid}/.default"),
            "audience = \"api://orders-api\"",
        ),
    )
    .expect("an App ID URI is an audience too");
    assert_eq!(
        cfg.apps[0].targets[1].audience.as_deref(),
        Some("api://orders-api")
    );
    for bad in ["orders", "", "http://orders", "ftp://x"] {
        let m = first_issue_at(
            &with_scope("api://orders-api/.default", &format!("audience = {bad:?}")),
            "apps[0].targets[1].audience",
            bad,
        );
        assert!(m.contains("client) id"), "{bad}: {m}");
    }
}

#[test]
fn probes_stay_limited_to_known_https_resources() {
    for scope in [
        "api://orders-api/.default",
        "0a1b2c3d-1111-4222-8333-444455556666/.default",
    ] {
        let m = first_issue_at(
            &with_scope(scope, "probe = true"),
            "apps[0].targets[1].probe",
            scope,
        );
        assert!(m.contains("no probe is known"), "{m}");
    }
}

mod alerts;
mod limits;
mod typos;
mod writes;
