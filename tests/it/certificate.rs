//! Certificate credentials: the real binary reads a certificate (PEM key + certificate, or
//! PKCS#12 base64 as Key Vault stores certificates) from Key Vault, signs a client assertion
//! (PS256 + `x5t#S256` or RS256 + `x5t`) and gets tokens from the emulator, which checks it
//! against the certificates registered on the app. Wrong, expired and unregistered
//! certificates are each refused with a clear reason.

use std::path::PathBuf;

use crate::common::*;
use akv_emulator::{AppRegistrationSeed, CertificateSeed, SecretSeed, Seed};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::RsaKeyPair;
use base64::Engine;
use time::OffsetDateTime;

const CERT_SECRET: &str = "sales-client-certificate";

struct Cert {
    key_pem: String,
    key_pkcs8: Vec<u8>,
    cert_pem: String,
    cert_der: Vec<u8>,
}

fn cert(not_before: OffsetDateTime, not_after: OffsetDateTime) -> Cert {
    let key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let pkcs8 = key.as_der().unwrap().as_ref().to_vec();
    let rc = rcgen::KeyPair::try_from(pkcs8.as_slice()).unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["sales.akv-rotator.test".to_string()]).unwrap();
    params.not_before = not_before;
    params.not_after = not_after;
    let c = params.self_signed(&rc).unwrap();
    Cert {
        key_pem: rc.serialize_pem(),
        key_pkcs8: pkcs8,
        cert_pem: c.pem(),
        cert_der: c.der().to_vec(),
    }
}

fn valid_cert(days_left: i64) -> Cert {
    let now = OffsetDateTime::now_utc();
    cert(now - days(1), now + days(days_left))
}

/// PKCS#12 in base64 with an empty password and 3DES, as Key Vault stores certificates.
fn pkcs12_base64(c: &Cert) -> String {
    use p12_keystore::{
        Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain,
    };
    let chain = PrivateKeyChain::new(
        b"1".as_slice(),
        PrivateKey::from_der(&c.key_pkcs8).unwrap(),
        [Certificate::from_der(&c.cert_der).unwrap()],
    );
    let mut store = KeyStore::new();
    store.add_entry("sales", KeyStoreEntry::PrivateKeyChain(chain));
    let der = store
        .writer("")
        .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
        .write()
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(der)
}

/// A world where app "sales" has `registered` certificates and Key Vault holds `stored`.
async fn world(registered: &[&Cert], stored: String, content_type: &str) -> World {
    let world = World::start(vec![TestApp::new("sales")]).await;
    world
        .emulator
        .apply_seed(Seed {
            app_registrations: vec![AppRegistrationSeed {
                client_id: world.apps[0].client_id.clone(),
                certificates: registered
                    .iter()
                    .map(|c| CertificateSeed {
                        pem: c.cert_pem.clone(),
                        start: None,
                        end: None,
                    })
                    .collect(),
                ..Default::default()
            }],
            vaults: vec![vault_seed(
                INPUT,
                vec![perm(ROTATOR, true, false)],
                vec![SecretSeed {
                    content_type: Some(content_type.into()),
                    ..secret_seed(CERT_SECRET, &stored)
                }],
            )],
            ..Default::default()
        })
        .unwrap();
    world
}

fn config(world: &World, algorithm: Option<&str>) -> PathBuf {
    let mut cert_line = format!("client_certificate_name = \"{CERT_SECRET}\"\n");
    if let Some(a) = algorithm {
        cert_line.push_str(&format!("certificate_algorithm = \"{a}\"\n"));
    }
    let text = world
        .config_text()
        .replace("client_secret_name = \"sales-client-secret\"\n", &cert_line);
    let path = world.dir.path().join("cert.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn pem(c: &Cert) -> String {
    format!("{}{}", c.key_pem, c.cert_pem)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pem_certificate_gets_a_token_with_ps256_and_its_expiry_is_reported() {
    let c = valid_cert(20);
    let world = world(&[&c], pem(&c), "application/x-pem-file").await;
    let (code, report, stderr) = world.once_at(&config(&world, None), &[]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    let t = target(&report, "sales-powerbi-token");
    assert_eq!(t["outcome"], "written", "{report:#}");
    let stored = world.versions(OUTPUT, "sales-powerbi-token");
    let claims = jwt_claims(&stored[0].value);
    assert_eq!(claims["appidacr"], "2", "authenticated with a certificate");
    assert_eq!(claims["appid"], world.apps[0].client_id.as_str());
    // The certificate's notAfter is the credential's expiry.
    let a = app(&report, "sales");
    assert_eq!(a["client_secret"]["severity"], "warning", "{a:#}");
    assert_eq!(a["client_secret"]["days_left"], 19);
    assert!(
        !stderr.contains("PRIVATE KEY"),
        "the key never reaches the logs"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pkcs12_certificate_as_key_vault_stores_it_gets_a_token_with_rs256() {
    let c = valid_cert(200);
    let world = world(&[&c], pkcs12_base64(&c), "application/x-pkcs12").await;
    let (code, report, stderr) = world.once_at(&config(&world, Some("RS256")), &[]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    assert_eq!(outcome(&report, "sales-powerbi-token"), "written");
    let stored = world.versions(OUTPUT, "sales-powerbi-token");
    assert_eq!(jwt_claims(&stored[0].value)["appidacr"], "2");
    assert_eq!(app(&report, "sales")["client_secret"]["severity"], "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_that_does_not_belong_to_the_certificate_is_refused() {
    let c = valid_cert(200);
    let other = valid_cert(200);
    let world = world(
        &[&c],
        format!("{}{}", other.key_pem, c.cert_pem),
        "application/x-pem-file",
    )
    .await;
    let (code, report, _) = world.once_at(&config(&world, None), &[]);
    assert_eq!(code, 1);
    let t = target(&report, "sales-powerbi-token");
    assert_eq!(t["outcome"], "failed");
    let msg = t["error"]["message"].as_str().unwrap();
    assert!(msg.contains("does not belong to the certificate"), "{msg}");
    assert!(msg.contains(CERT_SECRET), "{msg}");
    assert_eq!(
        world.emulator.stats().count("login", "TokenV2"),
        1,
        "only the rotator's own"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unregistered_certificate_is_refused_by_entra_with_a_clear_reason() {
    let registered = valid_cert(200);
    let stored = valid_cert(200);
    let world = world(&[&registered], pem(&stored), "application/x-pem-file").await;
    let (code, report, _) = world.once_at(&config(&world, None), &[]);
    assert_eq!(code, 1);
    let t = target(&report, "sales-powerbi-token");
    assert_eq!(t["outcome"], "failed");
    assert_eq!(t["error"]["code"], "AADSTS700027", "{t:#}");
    let msg = t["error"]["message"].as_str().unwrap();
    assert!(msg.contains("register this certificate"), "{msg}");
    assert!(msg.contains("x5t#S256"), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_certificate_is_refused_and_reported_expired() {
    let now = OffsetDateTime::now_utc();
    let c = cert(now - days(400), now - days(3));
    let world = world(&[&c], pem(&c), "application/x-pem-file").await;
    let (code, report, _) = world.once_at(&config(&world, None), &[]);
    assert_eq!(code, 1);
    let t = target(&report, "sales-powerbi-token");
    assert_eq!(t["error"]["class"], "expired_client_secret", "{t:#}");
    assert!(
        t["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired on"),
        "{t:#}"
    );
    assert_eq!(
        app(&report, "sales")["client_secret"]["severity"],
        "expired"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_expired_in_entra_is_refused_with_entras_reason() {
    // The certificate itself is valid, but its registration on the app has ended.
    let c = valid_cert(200);
    let world = world(&[&c], pem(&c), "application/x-pem-file").await;
    world
        .emulator
        .apply_seed(Seed {
            app_registrations: vec![AppRegistrationSeed {
                client_id: world.apps[0].client_id.clone(),
                certificates: vec![CertificateSeed {
                    pem: c.cert_pem.clone(),
                    start: Some(OffsetDateTime::now_utc() - days(30)),
                    end: Some(OffsetDateTime::now_utc() - days(1)),
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
        .unwrap();
    let (code, report, _) = world.once_at(&config(&world, None), &[]);
    assert_eq!(code, 1);
    let t = target(&report, "sales-powerbi-token");
    assert_eq!(t["error"]["code"], "AADSTS700027", "{t:#}");
    assert!(
        t["error"]["message"].as_str().unwrap().contains("expired"),
        "{t:#}"
    );
}
