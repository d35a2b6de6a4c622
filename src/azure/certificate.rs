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
        let (key_der, certs) = if text.starts_with("-----BEGIN") {
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
            let subject = cert.subject().to_string();
            if spki_key != key.public_key().as_ref() {
                mismatched = Some(subject);
                continue;
            }
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
            Some(subject) => format!(
                "the private key does not belong to the certificate ({subject}): store the key and certificate of the same credential"
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

fn parse_pem(text: &str) -> Result<(KeyDer, Vec<Vec<u8>>), StepError> {
    let mut key = None;
    let mut certs = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let label_end = after
            .find("-----")
            .ok_or_else(|| invalid("malformed PEM block"))?;
        let label = &after[..label_end];
        let end_marker = format!("-----END {label}-----");
        let body_start = label_end + 5;
        let body_end = after
            .find(&end_marker)
            .ok_or_else(|| invalid(format!("PEM block {label} has no end line")))?;
        let body = SecretString::from(
            after[body_start..body_end]
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>(),
        );
        let der = STANDARD
            .decode(body.expose_secret())
            .map_err(|_| invalid(format!("PEM block {label} is not valid base64")))?;
        match label {
            "CERTIFICATE" => certs.push(der),
            "PRIVATE KEY" => key = Some(KeyDer::Pkcs8(der.into())),
            "RSA PRIVATE KEY" => key = Some(KeyDer::Pkcs1(der.into())),
            "ENCRYPTED PRIVATE KEY" => {
                return Err(invalid(
                    "the private key is encrypted: store it unencrypted in Key Vault (Key Vault protects it)",
                ));
            }
            _ => {}
        }
        rest = &after[body_end + end_marker.len()..];
    }
    let key = key.ok_or_else(|| {
        invalid("the PEM holds no private key: store the key and the certificate together")
    })?;
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
}
