//! Properties of the token-response parser (`akv_rotator::azure::entra::parse_token_response`): it
//! never panics, accepts only a non-empty access token, and never repeats the client secret
//! (a hostile server may echo it anywhere in its answer).

use akv_rotator::azure::entra::parse_token_response;
use proptest::prelude::*;
use secrecy::{ExposeSecret, SecretString};

const SECRET: &str = "S3cr3t~VALUE-0123456789";

fn secret() -> SecretString {
    SecretString::from(SECRET.to_string())
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        ".{0,30}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::from(SECRET)),
        ".{0,10}".prop_map(|s| serde_json::Value::from(format!("{s}{SECRET}{s}"))),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "token_type",
                    "access_token",
                    "expires_in",
                    "error",
                    "error_description",
                    "error_codes",
                    "ext_expires_in",
                    "x"
                ]),
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(
                m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

fn check(status: u16, body: &[u8]) {
    match parse_token_response(
        status,
        body,
        "client",
        "tenant",
        "scope/.default",
        &secret(),
    ) {
        Ok(t) => {
            assert_eq!(status, 200);
            assert!(!t.access_token.expose_secret().trim().is_empty());
        }
        Err(e) => {
            assert!(!e.message.contains(SECRET), "secret echoed: {}", e.message);
            assert!(!e.to_string().contains(SECRET));
            assert!(e.message.chars().count() < 1200, "{}", e.message.len());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn arbitrary_bytes_never_panic(status in 100u16..600, body in prop::collection::vec(any::<u8>(), 0..512)) {
        check(status, &body);
    }

    #[test]
    fn json_shaped_answers_never_panic_or_echo_the_secret(
        status in prop::sample::select(vec![200u16, 400, 401, 403, 429, 500, 503]),
        value in json_value(),
    ) {
        check(status, &serde_json::to_vec(&value).unwrap());
    }
}
