//! Hostile input, table-driven: broken configs, odd client-secret values in Key Vault, hostile
//! token responses and JWTs, malformed Key Vault responses. Every case ends in a clear error
//! class (or a config error naming the key), with no panic, nothing written, and the documented
//! exit code (1 for a failed target, 2 for configuration).

use std::sync::Arc;

use crate::common::*;
use akv_emulator::{FaultKind, FaultRule, TokenFault};
use akv_rotator::azure::entra::{AcquiredToken, parse_token_response};
use akv_rotator::config::{Cloud, CloudName};
use akv_rotator::error::ErrorClass;
use akv_rotator::token::{Expectations, Validator};
use base64::Engine;

/// `TestApp::new` can give two apps of one world the same client id (it keeps none of its
/// counter's changing digits), and the emulator then merges them: number them instead.
fn with_distinct_client_ids(mut apps: Vec<TestApp>) -> Vec<TestApp> {
    for (i, app) in apps.iter_mut().enumerate() {
        app.client_id = format!("{}-{:012x}", &app.client_id[..23], i + 1);
    }
    apps
}
use secrecy::SecretString;

fn no_panic(stderr: &str, case: &str) {
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{case}: {stderr}"
    );
}

fn class_of<'a>(report: &'a serde_json::Value, secret: &str) -> &'a str {
    target(report, secret)["error"]["class"]
        .as_str()
        .unwrap_or("<none>")
}

// ---- 1. Broken configs: exit 2, the message names the key. ----------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn broken_configs_exit_2_and_name_the_key() {
    let world = World::start(vec![TestApp::new("sales")]).await;
    let good = world.config_text();
    let replace = |from: &str, to: &str| {
        assert!(good.contains(from), "base config lacks {from:?}");
        good.replacen(from, to, 1)
    };
    // (case, config text, text the message must contain)
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "concurrency zero",
            format!("concurrency = 0\n{good}"),
            "concurrency",
        ),
        (
            "concurrency huge",
            format!("concurrency = 100000\n{good}"),
            "concurrency",
        ),
        (
            "concurrency a string",
            format!("concurrency = \"eight\"\n{good}"),
            "concurrency",
        ),
        (
            "unknown top-level key",
            format!("surprise = 1\n{good}"),
            "surprise",
        ),
        (
            "unknown cloud",
            replace("cloud = \"custom\"", "cloud = \"mars\""),
            "cloud",
        ),
        (
            "refresh_before garbage",
            replace("refresh_before = \"30m\"", "refresh_before = \"soon\""),
            "refresh_before",
        ),
        (
            "refresh_before zero",
            replace("refresh_before = \"30m\"", "refresh_before = \"0s\""),
            "refresh_before",
        ),
        (
            "plain-http vault",
            replace("vault = \"https://", "vault = \"http://"),
            "vault",
        ),
        (
            "tenant_id not a GUID",
            replace(
                &format!(
                    "tenant_id = \"{TENANT}\"\nclient_id = \"{}",
                    world.apps[0].client_id
                ),
                &format!(
                    "tenant_id = \"not-a-guid\"\nclient_id = \"{}",
                    world.apps[0].client_id
                ),
            ),
            "tenant_id",
        ),
        (
            "client_id not a GUID",
            replace(
                &format!("client_id = \"{}\"", world.apps[0].client_id),
                "client_id = \"x\"",
            ),
            "client_id",
        ),
        (
            "secret name with a dot",
            replace(
                "client_secret_name = \"sales-client-secret\"",
                "client_secret_name = \"sales.client.secret\"",
            ),
            "client_secret_name",
        ),
        (
            "target without scope",
            replace(&format!("scope = \"{POWERBI}/.default\"\n"), ""),
            "scope",
        ),
        (
            "unknown credential kind",
            replace("kind = \"client-secret\"", "kind = \"magic\""),
            "kind",
        ),
        (
            "no apps at all",
            good[..good.find("[[apps]]").unwrap()].to_string(),
            "apps",
        ),
        (
            "not TOML",
            format!("{good}\n[[apps\n"),
            "unclosed array table",
        ),
        (
            "NUL byte in a value",
            replace("refresh_before = \"30m\"", "refresh_before = \"30m\u{0}\""),
            "refresh_before",
        ),
        (
            "custom cloud without authority",
            replace(
                &format!("authority_host = \"{}\"", world.emulator.authority_host()),
                "",
            ),
            "authority_host",
        ),
    ];
    assert!(cases.len() >= 15);
    for (i, (case, text, key)) in cases.iter().enumerate() {
        let path = world.dir.path().join(format!("broken-{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let out = world.run(&["once", "--config", path.to_str().unwrap()], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{case}: {stderr}");
        assert!(
            stderr.contains(key),
            "{case}: message should name {key:?}: {stderr}"
        );
        no_panic(&stderr, case);
    }
    assert!(world.versions(OUTPUT, "sales-powerbi-token").is_empty());
}

// ---- 2. Odd client-secret values in Key Vault. -----------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn odd_client_secret_values_are_refused_before_entra_is_asked() {
    // (app name, stored value)
    let cases: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("spaces", "     ".into()),
        ("padded", " real-looking-secret~0123 ".into()),
        ("newline", "secret-with\nnewline".into()),
        ("nul", "nul\u{0}byte".into()),
        ("bell", "bell\u{7}char".into()),
        ("huge", "x".repeat(20 * 1024)),
    ];
    let apps: Vec<TestApp> = cases.iter().map(|(n, _)| TestApp::new(n)).collect();
    let world = World::start(with_distinct_client_ids(apps)).await;
    let secrets = cases
        .iter()
        .map(|(name, value)| secret_seed(&format!("{name}-client-secret"), value))
        .collect();
    world.seed_vaults(vec![vault_seed(
        INPUT,
        vec![perm(ROTATOR, true, false)],
        secrets,
    )]);
    world.emulator.reset_stats();
    let (code, report, stderr) = world.once(&[]);
    assert_eq!(code, 1, "{stderr}\n{report:#}");
    no_panic(&stderr, "odd values");
    for (name, _) in &cases {
        let secret = format!("{name}-powerbi-token");
        assert_eq!(
            class_of(&report, &secret),
            "invalid_client_secret_value",
            "{name}: {report:#}"
        );
        assert!(world.versions(OUTPUT, &secret).is_empty(), "{name}");
        // The message names the problem, never the value.
        let msg = target(&report, &secret)["error"]["message"]
            .as_str()
            .unwrap();
        assert!(!msg.contains("real-looking"), "{msg}");
    }
    assert_eq!(
        world.emulator.stats().count("login", "TokenV2"),
        1,
        "only the rotator's own token: no unusable secret was sent to Entra ID"
    );
}

// ---- 3. Hostile tokens from the emulator's token faults. -------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn every_token_fault_is_an_invalid_token_and_nothing_is_written() {
    let faults = [
        ("badsig", TokenFault::BadSignature),
        ("wrongaud", TokenFault::WrongAudience),
        ("noroles", TokenFault::MissingRoles),
        ("wrongiss", TokenFault::WrongIssuer),
        ("wrongapp", TokenFault::WrongClientId),
        ("expired", TokenFault::Expired),
        ("notyet", TokenFault::NotYetValid),
        ("unknownkid", TokenFault::UnknownKid),
        ("algnone", TokenFault::AlgNone),
    ];
    let mut apps: Vec<TestApp> = faults.iter().map(|(n, _)| TestApp::new(n)).collect();
    apps.push(TestApp::new("healthy"));
    let world = World::start(with_distinct_client_ids(apps)).await;
    for (i, (_, fault)) in faults.iter().enumerate() {
        world
            .emulator
            .set_token_fault(&world.apps[i].client_id, Some(*fault));
    }
    // Roles are only checked where the config requires them.
    let text = world.config_text().replace(
        "secret = \"noroles-powerbi-token\"\n",
        "secret = \"noroles-powerbi-token\"\nrequired_roles = [\"Tenant.Read.All\"]\n",
    );
    assert!(text.contains("required_roles"));
    std::fs::write(&world.config_path, text).unwrap();
    let (code, report, stderr) = world.once(&[]);
    assert_eq!(code, 1, "{stderr}\n{report:#}");
    no_panic(&stderr, "token faults");
    for (name, fault) in &faults {
        let secret = format!("{name}-powerbi-token");
        assert_eq!(
            class_of(&report, &secret),
            "invalid_token",
            "{fault:?}: {report:#}"
        );
        assert!(
            world.versions(OUTPUT, &secret).is_empty(),
            "{fault:?} written"
        );
    }
    assert_eq!(outcome(&report, "healthy-powerbi-token"), "written");
}

// ---- 4. Malformed Key Vault and Entra responses (fault rules). -------------------------------

/// A fault on every request of `operation` at `service`.
fn rule(service: &str, operation: &str, kind: FaultKind) -> FaultRule {
    fault_rule(service, operation, kind, None)
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_service_responses_have_a_clear_class() {
    let spare = FaultRule {
        count: Some(1),
        ..rule("login", "TokenV2", FaultKind::Latency { ms: 0 })
    };
    // (case, rules, expected class, exit code)
    let cases: Vec<(&str, Vec<FaultRule>, &str)> = vec![
        (
            "KV read: malformed JSON",
            vec![rule(INPUT, "SecretGet", FaultKind::MalformedJson)],
            "malformed_response",
        ),
        (
            "KV read: truncated JSON",
            vec![rule(INPUT, "SecretGet", FaultKind::TruncatedJson)],
            "malformed_response",
        ),
        (
            "KV read: 3 MiB body",
            vec![rule(
                INPUT,
                "SecretGet",
                FaultKind::OversizedBody { bytes: 3 << 20 },
            )],
            "malformed_response",
        ),
        (
            "KV read: 400 BadParameter",
            vec![rule(INPUT, "SecretGet", FaultKind::Status { code: 400 })],
            "malformed_response",
        ),
        (
            "KV read: 404",
            vec![rule(INPUT, "SecretGet", FaultKind::Status { code: 404 })],
            "not_found",
        ),
        (
            "KV read: 403",
            vec![rule(INPUT, "SecretGet", FaultKind::Status { code: 403 })],
            "permission_denied",
        ),
        (
            "KV read: 501 (not retried)",
            vec![rule(INPUT, "SecretGet", FaultKind::Status { code: 501 })],
            "transient",
        ),
        (
            "Entra: malformed JSON",
            vec![
                spare.clone(),
                rule("login", "TokenV2", FaultKind::MalformedJson),
            ],
            "malformed_response",
        ),
        (
            "Entra: truncated JSON",
            vec![
                spare.clone(),
                rule("login", "TokenV2", FaultKind::TruncatedJson),
            ],
            "malformed_response",
        ),
        (
            "Entra: 1 MiB body",
            vec![
                spare.clone(),
                rule(
                    "login",
                    "TokenV2",
                    FaultKind::OversizedBody { bytes: 1 << 20 },
                ),
            ],
            "malformed_response",
        ),
        (
            "Entra: 400 without AADSTS",
            vec![
                spare.clone(),
                rule("login", "TokenV2", FaultKind::Status { code: 400 }),
            ],
            "permission_denied",
        ),
    ];
    let world = World::start(vec![TestApp::new("sales")]).await;
    for (case, rules, class) in cases {
        world.emulator.set_faults(rules);
        let (code, report, stderr) = world.once(&[]);
        world.emulator.clear_faults();
        assert_eq!(code, 1, "{case}: {stderr}\n{report:#}");
        no_panic(&stderr, case);
        assert_eq!(
            class_of(&report, "sales-powerbi-token"),
            class,
            "{case}: {report:#}"
        );
        assert!(
            world.versions(OUTPUT, "sales-powerbi-token").is_empty(),
            "{case}"
        );
    }
}

// ---- 5. Token responses and JWTs the emulator cannot produce: the parsers directly. ----------

fn secret() -> SecretString {
    SecretString::from("s3cr3t-value-0123".to_string())
}

#[test]
fn hostile_token_responses_are_classified_without_panicking_or_echoing() {
    let big = format!(
        "{{\"token_type\":\"Bearer\",\"access_token\":\"a.b.c\",\"pad\":\"{}\"}}",
        "x".repeat(300_000)
    );
    // (case, status, body, expected class; None = accepted for validation)
    let cases: Vec<(&str, u16, Vec<u8>, Option<ErrorClass>)> = vec![
        ("non-JSON 200", 200, b"<html>hello</html>".to_vec(), Some(ErrorClass::MalformedResponse)),
        ("empty 200", 200, vec![], Some(ErrorClass::MalformedResponse)),
        ("JSON array", 200, b"[1,2,3]".to_vec(), Some(ErrorClass::MalformedResponse)),
        ("token_type MAC", 200, br#"{"token_type":"MAC","access_token":"a.b.c","expires_in":3599}"#.to_vec(), Some(ErrorClass::MalformedResponse)),
        ("token_type pop", 200, br#"{"token_type":"pop","access_token":"a.b.c"}"#.to_vec(), Some(ErrorClass::MalformedResponse)),
        ("no access_token", 200, br#"{"token_type":"Bearer","expires_in":3599}"#.to_vec(), Some(ErrorClass::MalformedResponse)),
        ("blank access_token", 200, br#"{"token_type":"Bearer","access_token":"  "}"#.to_vec(), Some(ErrorClass::MalformedResponse)),
        ("access_token a number", 200, br#"{"token_type":"Bearer","access_token":12}"#.to_vec(), Some(ErrorClass::MalformedResponse)),
        ("expires_in garbage", 200, br#"{"token_type":"Bearer","access_token":"a.b.c","expires_in":"soon"}"#.to_vec(), None),
        ("expires_in negative", 200, br#"{"token_type":"Bearer","access_token":"a.b.c","expires_in":-5}"#.to_vec(), None),
        ("expires_in object", 200, br#"{"token_type":"Bearer","access_token":"a.b.c","expires_in":{"x":1}}"#.to_vec(), None),
        ("huge but complete body", 200, big.into_bytes(), None),
        ("400 HTML", 400, b"<html>bad</html>".to_vec(), Some(ErrorClass::MalformedResponse)),
        ("503 HTML", 503, b"<html>busy</html>".to_vec(), Some(ErrorClass::Transient)),
        ("401 error echoing the secret", 401, br#"{"error":"invalid_client","error_description":"AADSTS7000215: s3cr3t-value-0123 is wrong","error_codes":[7000215]}"#.to_vec(), Some(ErrorClass::BadClientSecret)),
        ("error with absurd code list", 400, br#"{"error":"x","error_codes":[99999999999]}"#.to_vec(), Some(ErrorClass::PermissionDenied)),
    ];
    for (case, status, body, expected) in cases {
        let r = parse_token_response(status, &body, "c", "t", "s/.default", &secret());
        match (r, expected) {
            (Ok(_), None) => {}
            (Err(e), Some(class)) => {
                assert_eq!(e.class, class, "{case}: {e}");
                assert!(!e.message.contains("s3cr3t-value-0123"), "{case}: {e}");
                assert!(!e.message.contains("<html>"), "{case}: body echoed: {e}");
            }
            (Ok(_), Some(class)) => panic!("{case}: accepted, expected {class}"),
            (Err(e), None) => panic!("{case}: refused: {e}"),
        }
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

/// A validator whose authority is unreachable: hostile tokens must fail before keys matter.
pub fn offline_validator() -> Validator {
    let cloud = Cloud {
        name: CloudName::Custom,
        authority_host: url::Url::parse("https://127.0.0.1:9").unwrap(),
        vault_suffix: None,
        powerbi_api: None,
    };
    let http = akv_rotator::net::http::build_client(None).unwrap();
    Validator::new(
        http,
        cloud,
        Arc::new(akv_rotator::telemetry::metrics::Metrics::new()),
    )
}

pub async fn validate_text(
    v: &Validator,
    token: &str,
) -> Result<(), akv_rotator::error::StepError> {
    let expect = Expectations {
        tenant_id: TENANT,
        client_id: ROTATOR,
        resource: POWERBI,
        audience: None,
        required_roles: &[],
        probe: None,
    };
    v.validate(
        AcquiredToken {
            access_token: SecretString::from(token.to_string()),
            expires_in: Some(3599),
        },
        &expect,
        time::OffsetDateTime::now_utc(),
    )
    .await
    .map(|_| ())
}

#[tokio::test]
async fn hostile_jwts_are_invalid_tokens() {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = format!(
        r#"{{"aud":"{POWERBI}","iss":"https://sts.windows.net/{TENANT}/","tid":"{TENANT}","appid":"{ROTATOR}","nbf":{},"exp":{}}}"#,
        now - 60,
        now + 3600
    );
    let cases: Vec<(&str, String)> = vec![
        ("not a JWT", "hello".into()),
        (
            "two parts",
            format!("{}.{}", b64(r#"{"alg":"RS256"}"#), b64(&claims)),
        ),
        (
            "four parts",
            format!("{}.{}.c.d", b64(r#"{"alg":"RS256"}"#), b64(&claims)),
        ),
        (
            "alg none",
            format!("{}.{}.", b64(r#"{"typ":"JWT","alg":"none"}"#), b64(&claims)),
        ),
        (
            "alg HS256",
            format!(
                "{}.{}.{}",
                b64(r#"{"alg":"HS256","kid":"k"}"#),
                b64(&claims),
                b64("sig")
            ),
        ),
        (
            "header not base64",
            format!("!!!.{}.{}", b64(&claims), b64("sig")),
        ),
        (
            "header not JSON",
            format!("{}.{}.{}", b64("not json"), b64(&claims), b64("sig")),
        ),
        (
            "claims not JSON",
            format!(
                "{}.{}.{}",
                b64(r#"{"alg":"RS256","kid":"k"}"#),
                b64("[[["),
                b64("sig")
            ),
        ),
        (
            "missing claims",
            format!(
                "{}.{}.{}",
                b64(r#"{"alg":"RS256","kid":"k"}"#),
                b64("{}"),
                b64("sig")
            ),
        ),
        (
            "exp a string",
            format!(
                "{}.{}.{}",
                b64(r#"{"alg":"RS256","kid":"k"}"#),
                b64(&claims.replace(&format!("\"exp\":{}", now + 3600), "\"exp\":\"tomorrow\"")),
                b64("sig")
            ),
        ),
        (
            "gigantic header",
            format!(
                "{}.{}.{}",
                b64(&format!(
                    r#"{{"alg":"RS256","kid":"{}"}}"#,
                    "k".repeat(200_000)
                )),
                b64(&claims),
                b64("sig")
            ),
        ),
        (
            "NUL inside",
            format!(
                "{}.{}.\u{0}",
                b64(r#"{"alg":"RS256","kid":"k"}"#),
                b64(&claims)
            ),
        ),
        (
            "unknown kid, unreachable keys",
            format!(
                "{}.{}.{}",
                b64(r#"{"alg":"RS256","kid":"k"}"#),
                b64(&claims),
                b64("sig")
            ),
        ),
    ];
    let v = offline_validator();
    for (case, token) in cases {
        let r = validate_text(&v, &token).await;
        let Err(e) = r else {
            panic!("{case}: accepted")
        };
        assert!(
            matches!(e.class, ErrorClass::InvalidToken | ErrorClass::Transient),
            "{case}: {e}"
        );
        assert!(
            e.message.len() < 2000,
            "{case}: message echoes input ({} bytes)",
            e.message.len()
        );
    }
}
