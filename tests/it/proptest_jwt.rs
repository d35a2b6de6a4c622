//! Property: the JWT decoder behind `Validator::validate` never panics and never accepts
//! arbitrary or token-shaped junk (src/validate.rs exposes no parse function; it is exercised
//! through `validate` with an unreachable key endpoint, so nothing can verify).

use std::sync::Arc;

use akv_rotator::azure::entra::AcquiredToken;
use akv_rotator::config::{Cloud, CloudName};
use akv_rotator::token::{Expectations, Validator};
use base64::Engine;
use proptest::prelude::*;
use secrecy::SecretString;

const TENANT: &str = "11111111-2222-4333-8444-555555555555";
const CLIENT: &str = "00000000-aaaa-4bbb-8ccc-000000000001";
const POWERBI: &str = "https://analysis.windows.net/powerbi/api";

/// One runtime and one validator for all cases (building a TLS client per case is slow).
fn shared() -> &'static (tokio::runtime::Runtime, Validator) {
    static SHARED: std::sync::OnceLock<(tokio::runtime::Runtime, Validator)> =
        std::sync::OnceLock::new();
    SHARED.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        (rt, validator())
    })
}

fn validator() -> Validator {
    let cloud = Cloud {
        name: CloudName::Custom,
        authority_host: url::Url::parse("https://127.0.0.1:9").unwrap(),
        vault_suffix: None,
        powerbi_api: None,
    };
    Validator::new(
        akv_rotator::net::http::build_client(None).unwrap(),
        cloud,
        Arc::new(akv_rotator::telemetry::metrics::Metrics::new()),
    )
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn header() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(r#"{"typ":"JWT","alg":"RS256","kid":"k1","x5t":"k1"}"#.to_string()),
        Just(r#"{"alg":"none"}"#.to_string()),
        Just(r#"{"alg":"HS256","kid":"k1"}"#.to_string()),
        Just(r#"{"alg":"RS256"}"#.to_string()),
        ".{0,40}",
        "[a-z]{0,5000}".prop_map(|k| format!(r#"{{"alg":"RS256","kid":"{k}"}}"#)),
    ]
}

fn claims() -> impl Strategy<Value = String> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    prop_oneof![
        Just(format!(
            r#"{{"aud":"{POWERBI}","iss":"https://sts.windows.net/{TENANT}/","tid":"{TENANT}","appid":"{CLIENT}","nbf":{},"exp":{}}}"#,
            now - 60,
            now + 3600
        )),
        (any::<i64>(), any::<i64>()).prop_map(|(n, e)| format!(r#"{{"nbf":{n},"exp":{e}}}"#)),
        Just(r#"{"exp":"tomorrow","nbf":null}"#.to_string()),
        Just("{}".to_string()),
        Just("[]".to_string()),
        ".{0,60}",
    ]
}

fn token_like() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            header(),
            claims(),
            prop::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(h, c, s)| format!(
                "{}.{}.{}",
                b64(h.as_bytes()),
                b64(c.as_bytes()),
                b64(&s)
            )),
        (header(), claims()).prop_map(|(h, c)| format!(
            "{}.{}",
            b64(h.as_bytes()),
            b64(c.as_bytes())
        )),
        "[A-Za-z0-9_.=+/-]{0,200}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn validate_never_panics_and_never_accepts_junk(token in token_like()) {
        let (rt, v) = shared();
        let expect = Expectations {
            tenant_id: TENANT,
            client_id: CLIENT,
            resource: POWERBI,
            audience: None,
            required_roles: &[],
            probe: None,
        };
        let result = rt.block_on(v.validate(
            AcquiredToken { access_token: SecretString::from(token), expires_in: Some(3599) },
            &expect,
            time::OffsetDateTime::now_utc(),
        ));
        prop_assert!(result.is_err());
    }
}
