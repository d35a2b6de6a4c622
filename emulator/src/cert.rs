//! Certificate credentials as data: parsing a PEM certificate with an RSA key into its
//! thumbprints, public key and validity. Plain data below the seed and the state; it checks no
//! assertion (that is `entra::assertion`).

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;

/// A registered certificate credential.
#[derive(Clone, Debug)]
pub(crate) struct RegisteredCert {
    pub sha1: Vec<u8>,
    pub sha256: Vec<u8>,
    /// PKCS#1 `RSAPublicKey` DER.
    pub public_key: Vec<u8>,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
}

impl RegisteredCert {
    /// Parses `pem`; `start` / `end` override the certificate's own validity.
    pub fn parse(
        pem: &str,
        start: Option<OffsetDateTime>,
        end: Option<OffsetDateTime>,
    ) -> anyhow::Result<RegisteredCert> {
        let mut cert = parse_certificate(pem)?;
        if let Some(start) = start {
            cert.start = start;
        }
        if let Some(end) = end {
            cert.end = end;
        }
        Ok(cert)
    }
}

/// Parses a PEM certificate (the first `CERTIFICATE` block) with an RSA public key.
pub(crate) fn parse_certificate(pem: &str) -> anyhow::Result<RegisteredCert> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END CERTIFICATE-----"))
        .map(str::trim)
        .collect();
    if body.is_empty() {
        bail!("no PEM CERTIFICATE block found");
    }
    let der = STANDARD
        .decode(body.as_bytes())
        .context("certificate PEM is not valid base64")?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| anyhow!("certificate does not parse: {e}"))?;
    let spki = cert.public_key();
    if spki.algorithm.algorithm.to_id_string() != "1.2.840.113549.1.1.1" {
        bail!("only RSA certificates are supported");
    }
    let validity = cert.validity();
    let t = |ts: i64| {
        OffsetDateTime::from_unix_timestamp(ts).map_err(|_| anyhow!("certificate validity"))
    };
    Ok(RegisteredCert {
        sha1: aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der)
            .as_ref()
            .to_vec(),
        sha256: aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der)
            .as_ref()
            .to_vec(),
        public_key: spki.subject_public_key.data.to_vec(),
        start: t(validity.not_before.timestamp())?,
        end: t(validity.not_after.timestamp())?,
    })
}
