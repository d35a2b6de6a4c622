//! The emulator's own token signing: RSA keys with self-signed certificates (for `x5c`),
//! RS256 minting, signature and claim verification for the vault listeners, and the JWKS
//! document. Independent of the product's JWT code on purpose.

use std::sync::Arc;

use anyhow::{Context, anyhow};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};

/// One signing key and its certificate.
pub(crate) struct SigningKey {
    pub kid: String,
    key: RsaKeyPair,
    cert_der: Vec<u8>,
}

impl SigningKey {
    /// Generates an RSA-2048 key and a self-signed certificate for it.
    pub fn generate() -> anyhow::Result<Arc<SigningKey>> {
        let key = RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| anyhow!("RSA key generation failed"))?;
        let pkcs8 = key
            .as_der()
            .map_err(|_| anyhow!("RSA key serialization failed"))?;
        let rc_key =
            rcgen::KeyPair::try_from(pkcs8.as_ref()).context("loading RSA key into rcgen")?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            "accounts.accesscontrol.windows.net",
        );
        let cert = params
            .self_signed(&rc_key)
            .context("self-signing token certificate")?;
        let cert_der = cert.der().to_vec();
        let sha1 =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &cert_der);
        Ok(Arc::new(SigningKey {
            kid: URL_SAFE_NO_PAD.encode(sha1.as_ref()),
            key,
            cert_der,
        }))
    }

    /// Mints a compact RS256 JWT. `nonce` adds a Graph-style `nonce` header field (the
    /// signature stays a plain RS256 signature over the header and payload as sent).
    pub fn mint(&self, claims: &Value, nonce: Option<&str>) -> anyhow::Result<String> {
        self.mint_with(claims, nonce, false)
    }

    /// Like [`SigningKey::mint`]; `corrupt` flips one byte of the signature.
    pub fn mint_with(
        &self,
        claims: &Value,
        nonce: Option<&str>,
        corrupt: bool,
    ) -> anyhow::Result<String> {
        let mut header = json!({"typ": "JWT", "alg": "RS256"});
        if let Some(n) = nonce {
            header["nonce"] = json!(n);
        }
        header["x5t"] = json!(self.kid);
        header["kid"] = json!(self.kid);
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
        );
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| anyhow!("RS256 signing failed"))?;
        let middle = sig.len() / 2;
        if corrupt && let Some(b) = sig.get_mut(middle) {
            *b ^= 0x5a;
        }
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }

    /// The JWK of this key, optionally with the `issuer` member v2 JWKS carry.
    pub fn jwk(&self, issuer: Option<&str>) -> Value {
        let components = signature::RsaPublicKeyComponents::<Vec<u8>>::from(self.key.public_key());
        let mut jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": URL_SAFE_NO_PAD.encode(&components.n),
            "e": URL_SAFE_NO_PAD.encode(&components.e),
            "x5c": [STANDARD.encode(&self.cert_der)],
        });
        if let Some(iss) = issuer {
            jwk["issuer"] = json!(iss);
        }
        jwk
    }

    fn verify_signature(&self, signing_input: &[u8], sig: &[u8]) -> bool {
        let public = signature::UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            self.key.public_key().as_ref(),
        );
        public.verify(signing_input, sig).is_ok()
    }
}

/// An unsigned token (`alg` `none`, empty signature).
pub(crate) fn mint_unsigned(claims: &Value) -> anyhow::Result<String> {
    let header = json!({"typ": "JWT", "alg": "none"});
    Ok(format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
    ))
}

/// Current key plus keys rolled over (still published and accepted), plus a pending key
/// that is not published yet (used by the `UnknownKid` token fault; the next rollover makes
/// it current).
pub(crate) struct KeySet {
    pub current: Arc<SigningKey>,
    pub previous: Vec<Arc<SigningKey>>,
    pub pending: Option<Arc<SigningKey>>,
}

impl KeySet {
    /// All published keys, current first.
    pub fn all(&self) -> impl Iterator<Item = &Arc<SigningKey>> {
        std::iter::once(&self.current).chain(self.previous.iter())
    }

    /// Makes `next` current and keeps the old current one (only the last previous key is
    /// kept, like Entra's overlap window).
    pub fn rollover(&mut self, next: Arc<SigningKey>) {
        let next = self.pending.take().unwrap_or(next);
        let old = std::mem::replace(&mut self.current, next);
        self.previous = vec![old];
    }

    /// Checks the compact JWT's RS256 signature against the published keys and returns its
    /// claims. The error says why, for the 401 message.
    pub fn verify(&self, token: &str) -> Result<Map<String, Value>, String> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("The token is malformed: it must have three dot-separated parts.".into());
        };
        let header: Value = URL_SAFE_NO_PAD
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("The token header is not valid base64url JSON.")?;
        if header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err("The token algorithm must be RS256.".into());
        }
        let kid = header
            .get("kid")
            .or_else(|| header.get("x5t"))
            .and_then(Value::as_str)
            .ok_or("The token header has no kid.")?;
        let key = self
            .all()
            .find(|k| k.kid == kid)
            .ok_or_else(|| format!("The token signing key '{kid}' is not known."))?;
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| "The token signature is not valid base64url.".to_string())?;
        if !key.verify_signature(format!("{h}.{p}").as_bytes(), &sig) {
            return Err("The token signature is invalid.".into());
        }
        let claims: Map<String, Value> = URL_SAFE_NO_PAD
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("The token payload is not valid base64url JSON.")?;
        Ok(claims)
    }
}

/// Splits a compact JWS into (header JSON, payload JSON, signing input, signature).
pub(crate) fn split_jws(token: &str) -> Result<(Value, Value, String, Vec<u8>), String> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("The token is malformed: it must have three dot-separated parts.".into());
    };
    let decode = |seg: &str, what: &str| -> Result<Value, String> {
        URL_SAFE_NO_PAD
            .decode(seg)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .filter(Value::is_object)
            .ok_or_else(|| format!("The token {what} is not valid base64url JSON."))
    };
    let header = decode(h, "header")?;
    let payload = decode(p, "payload")?;
    let sig = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| "The token signature is not valid base64url.".to_string())?;
    Ok((header, payload, format!("{h}.{p}"), sig))
}

/// Verifies an RS256 or PS256 signature with an RSA key given as JWK components.
pub(crate) fn verify_rsa_components(
    alg: &str,
    n: &[u8],
    e: &[u8],
    signing_input: &[u8],
    sig: &[u8],
) -> bool {
    let params: &signature::RsaParameters = match alg {
        "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
        "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
        _ => return false,
    };
    signature::RsaPublicKeyComponents { n, e }
        .verify(params, signing_input, sig)
        .is_ok()
}

/// Verifies an RS256 or PS256 signature with a PKCS#1 `RSAPublicKey` DER.
pub(crate) fn verify_rsa_der(
    alg: &str,
    public_key: &[u8],
    signing_input: &[u8],
    sig: &[u8],
) -> bool {
    let params: &'static signature::RsaParameters = match alg {
        "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
        "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
        _ => return false,
    };
    signature::UnparsedPublicKey::new(params, public_key)
        .verify(signing_input, sig)
        .is_ok()
}

/// base64url of `n` random bytes.
pub(crate) fn random_b64(n: usize) -> String {
    let mut buf = vec![0u8; n];
    // The system RNG failing is not recoverable in a meaningful way; fall back to UUID bytes.
    if aws_lc_rs::rand::fill(&mut buf).is_err() {
        for chunk in buf.chunks_mut(16) {
            let u = uuid::Uuid::new_v4();
            let len = chunk.len();
            chunk.copy_from_slice(&u.as_bytes()[..len]);
        }
    }
    URL_SAFE_NO_PAD.encode(buf)
}

/// A uniformly random number in `lo..=hi`.
pub(crate) fn random_in(lo: u64, hi: u64) -> u64 {
    if hi <= lo {
        return lo;
    }
    let mut buf = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut buf).is_err() {
        buf.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..8]);
    }
    lo + u64::from_le_bytes(buf) % (hi - lo + 1)
}
