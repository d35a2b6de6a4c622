//! Certificate credentials: an app authenticates with a certificate stored in Key Vault (PEM
//! with the private key and the certificate, or PKCS#12 in base64 as Key Vault stores a
//! certificate's secret, `application/x-pkcs12`, empty password) by signing a client assertion.
//!
//! The assertion: header `alg` PS256 with `x5t#S256` (default) or RS256 with `x5t`; claims
//! `aud` = the token URL, `iss` = `sub` = client id, `jti` random, `nbf` = `iat` = now,
//! `exp` = now + 5 minutes. The private key lives only in [`ClientCertificate`], whose `Debug`
//! redacts it; the assertion itself is a [`SecretString`].

use std::fmt;

use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rustls_pki_types::pem::{self, PemObject as _, SectionKind};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use time::OffsetDateTime;

use crate::config::AssertionAlgorithm;
use crate::error::{ErrorClass, StepError};
use crate::timefmt::rfc3339;

/// Lifetime of an assertion (Entra accepts up to 10 minutes).
const ASSERTION_LIFETIME: i64 = 300;

/// A parsed certificate credential. No secret in `Debug`.
pub struct ClientCertificate {
    key: RsaKeyPair,
    cert_der: Vec<u8>,
    pub subject: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("subject", &self.subject)
            .field("not_after", &self.not_after)
            .field("x5t#S256", &self.thumbprint_sha256())
            .field("key", &"[REDACTED]")
            .finish()
    }
}

fn invalid(message: impl Into<String>) -> StepError {
    StepError::new(ErrorClass::InvalidClientSecretValue, message)
}

impl ClientCertificate {
    /// Parses PEM (`PRIVATE KEY` or `RSA PRIVATE KEY` + `CERTIFICATE`) or base64 PKCS#12.
    pub fn parse(value: &SecretString) -> Result<ClientCertificate, StepError> {
        let text = value.expose_secret().trim();
        let (key_der, certs) = if text.contains("-----BEGIN ") {
            parse_pem(text)?
        } else {
            parse_pkcs12(text)?
        };
        let key = match &key_der {
            KeyDer::Pkcs8(d) => RsaKeyPair::from_pkcs8(d.expose_secret()),
            KeyDer::Pkcs1(d) => RsaKeyPair::from_der(d.expose_secret()),
        }
        .map_err(|_| {
            invalid("the private key is not a usable RSA key (only RSA certificates are supported)")
        })?;
        // The certificate whose public key is the private key's: the leaf of any chain.
        let mut mismatched = None;
        for der in certs {
            let (_, cert) = x509_parser::parse_x509_certificate(&der)
                .map_err(|_| invalid("a certificate could not be parsed"))?;
            let spki_key = cert.public_key().subject_public_key.data.as_ref();
            if spki_key != key.public_key().as_ref() {
                // Named by thumbprint: no parsed text of the stored value goes into a message.
                mismatched = Some(
                    URL_SAFE_NO_PAD
                        .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der)),
                );
                continue;
            }
            let subject = cert.subject().to_string();
            let time = |t: &x509_parser::time::ASN1Time| {
                OffsetDateTime::from_unix_timestamp(t.timestamp())
                    .map_err(|_| invalid("the certificate's validity is out of range"))
            };
            let not_before = time(&cert.validity().not_before)?;
            let not_after = time(&cert.validity().not_after)?;
            return Ok(ClientCertificate {
                key,
                cert_der: der.clone(),
                subject,
                not_before,
                not_after,
            });
        }
        Err(invalid(match mismatched {
            Some(thumbprint) => format!(
                "the private key does not belong to the certificate (x5t#S256 {thumbprint}): store the key and certificate of the same credential"
            ),
            None => "no certificate found next to the private key".to_string(),
        }))
    }

    /// base64url SHA-256 of the DER certificate (`x5t#S256`).
    pub fn thumbprint_sha256(&self) -> String {
        URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            &self.cert_der,
        ))
    }

    /// base64url SHA-1 of the DER certificate (`x5t`).
    pub fn thumbprint_sha1(&self) -> String {
        URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            &self.cert_der,
        ))
    }

    /// Refuses a certificate outside its validity, with the dates.
    pub fn check_validity(&self, now: OffsetDateTime) -> Result<(), StepError> {
        if now > self.not_after {
            return Err(StepError::new(
                ErrorClass::ExpiredClientSecret,
                format!(
                    "the certificate {} expired on {}: create a new certificate, register it on the app registration and store it in Key Vault",
                    self.subject,
                    rfc3339(self.not_after)
                ),
            ));
        }
        if now < self.not_before {
            return Err(invalid(format!(
                "the certificate {} is not valid before {}",
                self.subject,
                rfc3339(self.not_before)
            )));
        }
        Ok(())
    }

    /// A signed client assertion for `token_url`.
    pub fn assertion(
        &self,
        client_id: &str,
        token_url: &str,
        algorithm: AssertionAlgorithm,
        now: OffsetDateTime,
    ) -> Result<SecretString, StepError> {
        let header = match algorithm {
            AssertionAlgorithm::Ps256 => serde_json::json!({
                "alg": "PS256", "typ": "JWT", "x5t#S256": self.thumbprint_sha256(),
            }),
            AssertionAlgorithm::Rs256 => serde_json::json!({
                "alg": "RS256", "typ": "JWT", "x5t": self.thumbprint_sha1(),
            }),
        };
        let iat = now.unix_timestamp();
        let claims = serde_json::json!({
            "aud": token_url,
            "iss": client_id,
            "sub": client_id,
            "jti": crate::azure::graph::random_guid(),
            "nbf": iat,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let encoding: &'static dyn signature::RsaEncoding = match algorithm {
            AssertionAlgorithm::Ps256 => &signature::RSA_PSS_SHA256,
            AssertionAlgorithm::Rs256 => &signature::RSA_PKCS1_SHA256,
        };
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                encoding,
                &aws_lc_rs::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| invalid("signing the client assertion failed"))?;
        Ok(SecretString::from(format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(sig)
        )))
    }
}

/// The decoded private key, zeroized on drop.
enum KeyDer {
    Pkcs8(SecretSlice<u8>),
    Pkcs1(SecretSlice<u8>),
}

/// The PEM block kinds an error message may name: a fixed list, so that no text of the stored
/// value (which holds a private key) ever reaches a message. Longest first: a label is matched
/// by prefix, as a malformed BEGIN line runs on into the key.
const KNOWN_LABELS: [&str; 8] = [
    "ENCRYPTED PRIVATE KEY",
    "CERTIFICATE REQUEST",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "PRIVATE KEY",
    "CERTIFICATE",
    "PUBLIC KEY",
    "X509 CRL",
];

/// The fixed name of a PEM label, never the label itself.
fn label_name(label: &[u8]) -> &'static str {
    KNOWN_LABELS
        .iter()
        .find(|k| label.starts_with(k.as_bytes()))
        .copied()
        .unwrap_or("of an unrecognised kind")
}

/// A PEM parsing error in fixed words: `rustls_pki_types`' errors carry the offending line or
/// label, which may be key material, so only their kind is kept.
fn pem_error(e: pem::Error) -> StepError {
    match e {
        pem::Error::IllegalSectionStart { line } => invalid(format!(
            "the BEGIN line of a PEM block {} is malformed (five dashes must close it, on a line of its own)",
            label_name(line.strip_prefix(b"-----BEGIN ").unwrap_or_default())
        )),
        pem::Error::MissingSectionEnd { end_marker } => invalid(format!(
            "PEM block {} has no END line",
            label_name(&end_marker)
        )),
        pem::Error::Base64Decode(_) => invalid("a PEM block is not valid base64"),
        pem::Error::SectionTooLarge => invalid("a PEM block is too large"),
        _ => invalid("the PEM could not be read"),
    }
}

/// PEM through `rustls_pki_types` (a maintained, fuzzed parser): the private key (PKCS#8 or
/// PKCS#1, RSA only) and every certificate. Text outside blocks is ignored; lines are trimmed.
fn parse_pem(text: &str) -> Result<(KeyDer, Vec<Vec<u8>>), StepError> {
    // Indented or CRLF PEM: one block line per line. The copy holds key material: a secret.
    let lines = SecretString::from(text.lines().map(str::trim).collect::<Vec<_>>().join("\n"));
    let mut key = None;
    let mut certs = Vec::new();
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(lines.expose_secret().as_bytes()) {
        let (kind, der) = section.map_err(pem_error)?;
        match kind {
            SectionKind::Certificate => certs.push(der),
            SectionKind::PrivateKey => key = Some(KeyDer::Pkcs8(der.into())),
            SectionKind::RsaPrivateKey => key = Some(KeyDer::Pkcs1(der.into())),
            SectionKind::EcPrivateKey => {
                return Err(invalid(
                    "the private key is an EC key: only RSA certificates are supported",
                ));
            }
            _ => {}
        }
    }
    let encrypted = lines
        .expose_secret()
        .lines()
        .any(|l| l == "-----BEGIN ENCRYPTED PRIVATE KEY-----");
    let key = match key {
        Some(k) => k,
        None if encrypted => {
            return Err(invalid(
                "the private key is encrypted: store it unencrypted in Key Vault (Key Vault protects it)",
            ));
        }
        None => {
            return Err(invalid(
                "the PEM holds no private key: store the key and the certificate together",
            ));
        }
    };
    if certs.is_empty() {
        return Err(invalid(
            "the PEM holds no certificate: store the key and the certificate together",
        ));
    }
    Ok((key, certs))
}

fn parse_pkcs12(text: &str) -> Result<(KeyDer, Vec<Vec<u8>>), StepError> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let der = STANDARD.decode(compact).map_err(|_| {
        invalid("the certificate is neither PEM nor base64 PKCS#12 (application/x-pkcs12)")
    })?;
    let store = p12_keystore::KeyStore::from_pkcs12(
        &der,
        "",
        p12_keystore::Pkcs12ImportPolicy::Relaxed,
    )
    .map_err(|_| {
        invalid("the PKCS#12 could not be opened with an empty password (as Key Vault stores certificates)")
    })?;
    let (_, chain) = store
        .private_key_chain()
        .ok_or_else(|| invalid("the PKCS#12 holds no private key"))?;
    let certs: Vec<Vec<u8>> = chain.certs().iter().map(|c| c.as_der().to_vec()).collect();
    if certs.is_empty() {
        return Err(invalid("the PKCS#12 holds no certificate for its key"));
    }
    Ok((KeyDer::Pkcs8(chain.key().as_der().to_vec().into()), certs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;

    fn pem() -> String {
        let key = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("key");
        let pkcs8 = key.as_der().expect("der");
        let rc = rcgen::KeyPair::try_from(pkcs8.as_ref()).expect("rcgen key");
        let cert = rcgen::CertificateParams::new(vec!["t".to_string()])
            .expect("params")
            .self_signed(&rc)
            .expect("cert");
        format!("{}{}", rc.serialize_pem(), cert.pem())
    }

    fn decode(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("b64")).expect("json")
    }

    #[test]
    fn assertions_carry_the_thumbprint_and_short_lifetime_and_debug_redacts() {
        let pem = SecretString::from(pem());
        let cert = ClientCertificate::parse(&pem).expect("parse");
        let debug = format!("{cert:?}");
        assert!(
            debug.contains("[REDACTED]") && !debug.contains("PRIVATE"),
            "{debug}"
        );
        let now = OffsetDateTime::now_utc();
        for (alg, header) in [
            (AssertionAlgorithm::Ps256, "x5t#S256"),
            (AssertionAlgorithm::Rs256, "x5t"),
        ] {
            let jwt = cert
                .assertion("c", "https://login/t/oauth2/v2.0/token", alg, now)
                .expect("sign");
            let parts: Vec<&str> = jwt.expose_secret().split('.').collect();
            assert_eq!(parts.len(), 3);
            let h = decode(parts[0]);
            assert!(h[header].is_string(), "{h}");
            let c = decode(parts[1]);
            assert_eq!(c["aud"], "https://login/t/oauth2/v2.0/token");
            assert_eq!(c["iss"], "c");
            assert_eq!(c["sub"], "c");
            let life = c["exp"].as_i64().unwrap_or(0) - c["iat"].as_i64().unwrap_or(0);
            assert!(life > 0 && life <= 600, "{life}");
        }
    }

    /// Every 8-character window of `secret` (on char boundaries).
    fn windows(secret: &str) -> Vec<String> {
        let chars: Vec<char> = secret.chars().collect();
        chars.windows(8).map(|w| w.iter().collect()).collect()
    }

    /// The message holds no 8+ character fragment of `secret`.
    fn assert_no_echo(secret: &str, message: &str) {
        for w in windows(secret) {
            assert!(
                !message.contains(&w),
                "the error echoes {w:?} of the stored value: {message}"
            );
        }
    }

    fn parse_text(text: &str) -> Result<ClientCertificate, StepError> {
        ClientCertificate::parse(&SecretString::from(text.to_string()))
    }

    /// The base64 body of the PEM's private key, without line breaks.
    fn key_body(pem: &str) -> String {
        pem.lines()
            .skip_while(|l| !l.starts_with("-----BEGIN PRIVATE KEY-----"))
            .skip(1)
            .take_while(|l| !l.starts_with("-----END"))
            .collect()
    }

    #[test]
    fn a_malformed_begin_line_never_echoes_the_private_key() {
        let good = pem();
        // Four dashes closing the BEGIN line: the old parser took the whole key as the label.
        let broken = good.replacen(
            "-----BEGIN PRIVATE KEY-----",
            "-----BEGIN PRIVATE KEY----",
            1,
        );
        let e = parse_text(&broken).expect_err("refused");
        assert_eq!(e.class, ErrorClass::InvalidClientSecretValue);
        for line in broken.lines().filter(|l| !l.starts_with("-----")) {
            assert_no_echo(line, &e.message);
        }
        assert_no_echo(&key_body(&good), &e.message);
    }

    #[test]
    fn an_end_line_inside_the_begin_line_is_refused_without_panicking() {
        let secret = "c2VjcmV0LWtleS1tYXRlcmlhbC0xMjM0NTY3ODkw";
        for text in [
            format!("-----BEGIN X-----END X-----\n{secret}\n"),
            format!("-----BEGIN PRIVATE KEY-----END PRIVATE KEY-----\n{secret}\n"),
            format!("-----BEGIN {secret}-----END {secret}-----"),
            "-----BEGIN -----".to_string(),
            "-----BEGIN ".to_string(),
            format!("-----BEGIN\n{secret}"),
        ] {
            let parsed = std::panic::catch_unwind(|| parse_text(&text));
            let Ok(result) = parsed else {
                panic!("the parser panicked on {text:?}");
            };
            let e = result.expect_err("refused");
            assert_no_echo(secret, &e.message);
        }
    }

    #[test]
    fn garbage_and_keyless_pem_are_refused_without_echoing() {
        let e = ClientCertificate::parse(&SecretString::from("not a cert!".to_string()))
            .expect_err("refused");
        assert!(!e.message.contains("not a cert"), "{}", e.message);
        let only_cert: String = pem()
            .split("-----BEGIN CERTIFICATE-----")
            .nth(1)
            .map(|c| format!("-----BEGIN CERTIFICATE-----{c}"))
            .unwrap_or_default();
        let e = ClientCertificate::parse(&SecretString::from(only_cert)).expect_err("no key");
        assert!(e.message.contains("no private key"), "{}", e.message);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// One real PEM (key + certificate) for all cases: generating RSA keys is slow.
        fn fixture() -> &'static str {
            static PEM: std::sync::OnceLock<String> = std::sync::OnceLock::new();
            PEM.get_or_init(pem)
        }

        /// (stored value, the parts of it that no error message may echo).
        fn stored_value() -> impl Strategy<Value = (String, Vec<String>)> {
            let len = fixture().len();
            prop_oneof![
                // Anything at all.
                ".{0,200}".prop_map(|s| (s.clone(), vec![s])),
                // PEM-framed: any label, BEGIN line closed by 0-6 dashes, any body.
                (
                    "[A-Z ]{0,24}",
                    "-{0,6}",
                    "[A-Za-z0-9+/=\n -]{0,300}",
                    "[A-Z ]{0,24}",
                )
                    .prop_map(|(label, dashes, body, end)| (
                        format!("-----BEGIN {label}{dashes}\n{body}\n-----END {end}-----\n"),
                        vec![label, body, end],
                    )),
                // base64 of any bytes: the PKCS#12 path.
                prop::collection::vec(any::<u8>(), 0..600).prop_map(|b| {
                    let text = STANDARD.encode(b);
                    (text.clone(), vec![text])
                }),
                // A real PEM, cut short, with text inserted, or with a span replaced.
                (0..len, 0..len, ".{0,16}").prop_map(|(a, b, insert)| {
                    let text = fixture();
                    let (lo, hi) = (a.min(b), a.max(b));
                    let lo = (0..=lo)
                        .rev()
                        .find(|i| text.is_char_boundary(*i))
                        .unwrap_or(0);
                    let hi = (hi..=text.len())
                        .find(|i| text.is_char_boundary(*i))
                        .unwrap_or(text.len());
                    let mutated = format!("{}{insert}{}", &text[..lo], &text[hi..]);
                    (mutated, vec![key_body(text), insert])
                }),
                (0..len).prop_map(|cut| {
                    let text = fixture();
                    let cut = (0..=cut)
                        .rev()
                        .find(|i| text.is_char_boundary(*i))
                        .unwrap_or(0);
                    (text[..cut].to_string(), vec![key_body(text)])
                }),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            #[test]
            fn the_certificate_parser_never_panics_and_never_echoes_its_input(
                (text, secrets) in stored_value()
            ) {
                if let Err(e) = parse_text(&text) {
                    for part in &secrets {
                        for w in windows(part) {
                            prop_assert!(
                                !e.message.contains(&w),
                                "the error echoes {:?}: {}", w, e.message
                            );
                        }
                    }
                }
            }
        }
    }
}
