//! Client assertions: certificate credentials (RS256 + `x5t`, PS256 + `x5t#S256`) and
//! federated identity credentials (workload identity), with the AADSTS errors of each.

use std::collections::BTreeMap;

use crate::helpers::*;
use akv_emulator::{
    AppRegistrationSeed, AppSeed, CertificateSeed, EmulatorHandle, FederatedCredentialSeed, Seed,
    TenantSeed,
};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

const CERT_APP: &str = "eeeeeeee-0000-0000-0000-000000000001";
const FIC_APP: &str = "eeeeeeee-0000-0000-0000-000000000002";
const EXPIRED_CERT_APP: &str = "eeeeeeee-0000-0000-0000-000000000003";
const ISSUER: &str = "https://oidc.prod-aks.azure.com/00000000-aaaa-bbbb-cccc-000000000000/";
const SUBJECT: &str = "system:serviceaccount:akv-rotator:akv-rotator";

struct Keys {
    key: RsaKeyPair,
    cert_pem: String,
    cert_der: Vec<u8>,
}

fn keys() -> Keys {
    let key = RsaKeyPair::generate(KeySize::Rsa2048).expect("rsa");
    let pkcs8 = key.as_der().expect("der");
    let rc = rcgen::KeyPair::try_from(pkcs8.as_ref()).expect("rcgen key");
    let cert = rcgen::CertificateParams::new(vec!["akv-rotator".to_string()])
        .expect("params")
        .self_signed(&rc)
        .expect("cert");
    Keys {
        key,
        cert_pem: cert.pem(),
        cert_der: cert.der().to_vec(),
    }
}

fn b64(v: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(v)
}

fn sign(key: &RsaKeyPair, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(&serde_json::to_vec(header).expect("h")),
        b64(&serde_json::to_vec(claims).expect("c"))
    );
    let alg: &'static dyn signature::RsaEncoding = match header["alg"].as_str() {
        Some("PS256") => &signature::RSA_PSS_SHA256,
        _ => &signature::RSA_PKCS1_SHA256,
    };
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(
        alg,
        &aws_lc_rs::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("sign");
    format!("{input}.{}", b64(&sig))
}

fn jwks(key: &RsaKeyPair, kid: &str) -> Value {
    let c = signature::RsaPublicKeyComponents::<Vec<u8>>::from(key.public_key());
    json!({"keys": [{"kty": "RSA", "use": "sig", "kid": kid, "n": b64(&c.n), "e": b64(&c.e)}]})
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn claims(iss: &str, sub: &str, aud: &str) -> Value {
    let n = now();
    json!({"iss": iss, "sub": sub, "aud": aud, "jti": uuid::Uuid::new_v4().to_string(),
           "nbf": n - 10, "iat": n - 10, "exp": n + 300})
}

struct World {
    emu: EmulatorHandle,
    http: reqwest::Client,
    cert: Keys,
    issuer: RsaKeyPair,
}

async fn world() -> World {
    let cert = keys();
    let issuer = RsaKeyPair::generate(KeySize::Rsa2048).expect("rsa");
    let emu = emulator().await;
    let app = |id: &str| AppSeed {
        client_id: id.to_string(),
        roles: BTreeMap::new(),
        ..Default::default()
    };
    emu.apply_seed(Seed {
        tenants: vec![TenantSeed {
            id: TENANT.to_string(),
            apps: vec![app(CERT_APP), app(FIC_APP), app(EXPIRED_CERT_APP)],
        }],
        app_registrations: vec![
            AppRegistrationSeed {
                client_id: CERT_APP.to_string(),
                certificates: vec![CertificateSeed {
                    pem: cert.cert_pem.clone(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            AppRegistrationSeed {
                client_id: EXPIRED_CERT_APP.to_string(),
                certificates: vec![CertificateSeed {
                    pem: cert.cert_pem.clone(),
                    start: Some(time::macros::datetime!(2020-01-01 0:00 UTC)),
                    end: Some(time::macros::datetime!(2021-01-01 0:00 UTC)),
                }],
                ..Default::default()
            },
            AppRegistrationSeed {
                client_id: FIC_APP.to_string(),
                federated_credentials: vec![FederatedCredentialSeed {
                    issuer: ISSUER.to_string(),
                    subject: SUBJECT.to_string(),
                    audiences: vec!["api://AzureADTokenExchange".to_string()],
                    jwks: jwks(&issuer, "issuer-key-1"),
                }],
                ..Default::default()
            },
        ],
        ..Default::default()
    })
    .expect("seed");
    let http = http(&emu);
    World {
        emu,
        http,
        cert,
        issuer,
    }
}

async fn exchange(w: &World, client_id: &str, assertion: &str) -> (u16, Value) {
    token_response(
        &w.emu,
        &w.http,
        &format!("{TENANT}/oauth2/v2.0/token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
            ("scope", "https://vault.azure.net/.default"),
        ],
    )
    .await
}

fn assert_aadsts(status: u16, body: &Value, code: u64, text: &str) {
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client", "{body}");
    assert_eq!(body["error_codes"][0].as_u64(), Some(code), "{body}");
    let desc = body["error_description"].as_str().expect("desc");
    assert!(desc.contains(text), "{desc}");
}

fn token_url(w: &World) -> String {
    format!("{}/{TENANT}/oauth2/v2.0/token", w.emu.authority_host())
}

fn sha(alg: &'static aws_lc_rs::digest::Algorithm, der: &[u8]) -> String {
    b64(aws_lc_rs::digest::digest(alg, der).as_ref())
}

#[tokio::test]
async fn certificate_assertion_ps256_and_rs256() {
    let w = world().await;
    let s256 = sha(&aws_lc_rs::digest::SHA256, &w.cert.cert_der);
    let s1 = sha(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        &w.cert.cert_der,
    );
    for header in [
        json!({"alg": "PS256", "typ": "JWT", "x5t#S256": s256}),
        json!({"alg": "RS256", "typ": "JWT", "x5t": s1}),
    ] {
        let a = sign(
            &w.cert.key,
            &header,
            &claims(CERT_APP, CERT_APP, &token_url(&w)),
        );
        let (status, body) = exchange(&w, CERT_APP, &a).await;
        assert_eq!(status, 200, "{body}");
        let c = jwt_part(body["access_token"].as_str().expect("token"), 1);
        assert_eq!(c["appid"], CERT_APP);
        assert_eq!(c["appidacr"], "2");
        // The token works at the vault's verifier (no permissions there: 403, not 401).
        assert_eq!(
            vault_get_status(&w.emu, &w.http, body["access_token"].as_str().expect("t")).await,
            403
        );
    }
    // The v1 endpoint URL is an accepted audience too.
    let v1 = format!("{}/{TENANT}/oauth2/token", w.emu.authority_host());
    let a = sign(
        &w.cert.key,
        &json!({"alg": "PS256", "x5t#S256": s256}),
        &claims(CERT_APP, CERT_APP, &v1),
    );
    assert_eq!(exchange(&w, CERT_APP, &a).await.0, 200);
}

#[tokio::test]
async fn certificate_assertion_errors() {
    let w = world().await;
    let s256 = sha(&aws_lc_rs::digest::SHA256, &w.cert.cert_der);
    let header = json!({"alg": "PS256", "typ": "JWT", "x5t#S256": s256});
    // Unknown thumbprint.
    let other = keys();
    let a = sign(
        &other.key,
        &json!({"alg": "PS256", "x5t#S256": sha(&aws_lc_rs::digest::SHA256, &other.cert_der)}),
        &claims(CERT_APP, CERT_APP, &token_url(&w)),
    );
    let (status, body) = exchange(&w, CERT_APP, &a).await;
    assert_aadsts(status, &body, 700027, "The key was not found");
    // Right thumbprint, wrong key.
    let a = sign(
        &other.key,
        &header,
        &claims(CERT_APP, CERT_APP, &token_url(&w)),
    );
    let (status, body) = exchange(&w, CERT_APP, &a).await;
    assert_aadsts(status, &body, 700027, "signature validation");
    // Expired certificate.
    let a = sign(
        &w.cert.key,
        &header,
        &claims(EXPIRED_CERT_APP, EXPIRED_CERT_APP, &token_url(&w)),
    );
    let (status, body) = exchange(&w, EXPIRED_CERT_APP, &a).await;
    assert_aadsts(status, &body, 700027, "expired");
    // Expired assertion.
    let mut c = claims(CERT_APP, CERT_APP, &token_url(&w));
    c["exp"] = json!(now() - 60);
    let (status, body) = exchange(&w, CERT_APP, &sign(&w.cert.key, &header, &c)).await;
    assert_aadsts(status, &body, 700024, "not within its valid time range");
    // Wrong audience.
    let a = sign(
        &w.cert.key,
        &header,
        &claims(CERT_APP, CERT_APP, "https://example.com/token"),
    );
    let (status, body) = exchange(&w, CERT_APP, &a).await;
    assert_aadsts(status, &body, 700023, "audience");
    // Garbage.
    let (status, body) = exchange(&w, CERT_APP, "not.a.jwt").await;
    assert_aadsts(status, &body, 50027, "invalid");
}

#[tokio::test]
async fn federated_credential_exchange() {
    let w = world().await;
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "issuer-key-1"});
    let good = claims(ISSUER, SUBJECT, "api://AzureADTokenExchange");
    let (status, body) = exchange(&w, FIC_APP, &sign(&w.issuer, &header, &good)).await;
    assert_eq!(status, 200, "{body}");
    let c = jwt_part(body["access_token"].as_str().expect("token"), 1);
    assert_eq!(c["appid"], FIC_APP);
    assert_eq!(c["appidacr"], "2");

    // aud as an array works too.
    let mut arr = good.clone();
    arr["aud"] = json!(["api://AzureADTokenExchange"]);
    assert_eq!(
        exchange(&w, FIC_APP, &sign(&w.issuer, &header, &arr))
            .await
            .0,
        200
    );

    // (claim, a value no federated credential matches, AADSTS code, message)
    for (claim, value, code, message) in [
        (
            "sub",
            "system:serviceaccount:other:other",
            700213,
            "No matching federated identity record found for presented assertion subject 'system:serviceaccount:other:other'",
        ),
        (
            "aud",
            "api://something-else",
            700212,
            "No matching federated identity record found for presented assertion audience 'api://something-else'",
        ),
        (
            "iss",
            "https://token.actions.githubusercontent.com",
            700211,
            "presented assertion issuer",
        ),
    ] {
        let mut wrong = good.clone();
        wrong[claim] = json!(value);
        let (status, body) = exchange(&w, FIC_APP, &sign(&w.issuer, &header, &wrong)).await;
        assert_aadsts(status, &body, code, message);
    }

    let stranger = RsaKeyPair::generate(KeySize::Rsa2048).expect("rsa");
    let (status, body) = exchange(&w, FIC_APP, &sign(&stranger, &header, &good)).await;
    assert_aadsts(status, &body, 700027, "signature validation");

    let mut expired = good.clone();
    expired["exp"] = json!(now() - 60);
    let (status, body) = exchange(&w, FIC_APP, &sign(&w.issuer, &header, &expired)).await;
    assert_aadsts(status, &body, 700024, "not within its valid time range");
}
