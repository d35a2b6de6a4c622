//! The tenant's OpenID configuration and signing keys: fetched from the authority's exact
//! origin, cached per tenant, refetched on an unknown `kid` at most once per interval.

use super::*;

/// One tenant's signing keys and v2 issuer, both from its OpenID configuration.
pub(super) struct TenantKeys {
    pub(super) keys: HashMap<String, RsaKey>,
    pub(super) fetched: Instant,
    /// The configuration's `issuer`, `{tenantid}` substituted.
    pub(super) v2_issuer: String,
    /// A custom cloud's v1 issuer (the v1 configuration's `issuer`), fetched alongside; its
    /// error is kept for v1 tokens only, so a cloud without v1 documents still serves v2.
    pub(super) v1_issuer: Option<Result<String, StepError>>,
}

/// A signing key as published, parsed once when the keys are fetched: building the key from
/// its modulus and exponent at every verification was a sixth of the signature check's cost.
#[derive(Clone)]
pub(super) enum RsaKey {
    Usable(std::sync::Arc<aws_lc_rs::signature::ParsedPublicKey>),
    /// The tenant publishes it, but not as an RSA key of 2048 to 8192 bits.
    Unusable,
}

impl RsaKey {
    /// The key from a JWK's decoded modulus and exponent, for RS256 (RSASSA-PKCS1-v1_5 with
    /// SHA-256, the only algorithm Entra ID signs access tokens with).
    pub(super) fn rs256(n: &[u8], e: &[u8]) -> Self {
        // Parsing takes any modulus; verifying refuses one outside 2048 to 8192 bits. Said
        // here, the error names the key rather than the signature.
        if !(2048..=8192).contains(&modulus_bits(n)) {
            return RsaKey::Unusable;
        }
        aws_lc_rs::signature::RsaPublicKeyComponents { n, e }
            .to_parsed_public_key(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256)
            .map_or(RsaKey::Unusable, |k| RsaKey::Usable(std::sync::Arc::new(k)))
    }
}

/// The bit length of a big-endian unsigned integer.
fn modulus_bits(n: &[u8]) -> usize {
    let n = &n[n.iter().take_while(|b| **b == 0).count()..];
    n.first()
        .map_or(0, |top| n.len() * 8 - top.leading_zeros() as usize)
}

#[derive(Deserialize)]
pub(super) struct OpenIdConfiguration {
    pub(super) jwks_uri: String,
    #[serde(default)]
    pub(super) issuer: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct IssuerOnly {
    #[serde(default)]
    pub(super) issuer: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Jwks {
    pub(super) keys: Vec<Jwk>,
}

#[derive(Deserialize)]
pub(super) struct Jwk {
    #[serde(default)]
    pub(super) kty: Option<String>,
    #[serde(default)]
    pub(super) kid: Option<String>,
    #[serde(default)]
    pub(super) n: Option<String>,
    #[serde(default)]
    pub(super) e: Option<String>,
}

impl Validator {
    /// Finds a signing key, fetching the tenant's keys when missing or on an unknown `kid`.
    pub(super) async fn key(&self, tenant_id: &str, kid: &str) -> Result<RsaKey, StepError> {
        let tenant_id = &tenant_id.to_ascii_lowercase();
        let mut cache = self.keys.lock().await;
        if let Some(entry) = cache.get(tenant_id) {
            if let Some(k) = entry.keys.get(kid) {
                return Ok(k.clone());
            }
            if entry.fetched.elapsed() < self.refetch_interval {
                return Err(invalid(format!(
                    "token is signed with key {kid:?}, which is not among tenant {tenant_id}'s signing keys \
                     (keys were refreshed less than 5 minutes ago)"
                )));
            }
        }
        let entry = self.fetch_keys(tenant_id).await?;
        let found = entry.keys.get(kid).cloned();
        cache.insert(tenant_id.to_string(), entry);
        found.ok_or_else(|| {
            invalid(format!(
                "token is signed with key {kid:?}, which is not among tenant {tenant_id}'s signing keys"
            ))
        })
    }

    /// The issuer a token of `version` from `tenant_id` must name.
    ///
    /// v2: the `issuer` of the tenant's v2 OpenID configuration ("OpenID Connect on the
    /// Microsoft identity platform": the configuration document's `issuer`, `{tenantid}`
    /// replaced by the tenant). v1: the cloud's own v1 STS (Learn "Access token claims
    /// reference", `iss`; `https://sts.windows.net/{tid}/` in the public and US Government
    /// clouds, `https://sts.chinacloudapi.cn/{tid}/` in Azure China), or for a custom cloud the
    /// `issuer` of its v1 configuration (`{authority}/{tenant}/.well-known/openid-configuration`).
    /// Never another cloud's.
    pub(super) async fn expected_issuer(
        &self,
        tenant_id: &str,
        version: &str,
    ) -> Result<String, StepError> {
        let tid = tenant_id.to_ascii_lowercase();
        if version != "2.0"
            && let Some(issuer) = known_v1_issuer(self.cloud.name, &tid)
        {
            return Ok(issuer);
        }
        // The tenant's documents, fetched once with its keys.
        let mut cache = self.keys.lock().await;
        if !cache.contains_key(&tid) {
            let entry = self.fetch_keys(&tid).await?;
            cache.insert(tid.clone(), entry);
        }
        let entry = &cache[&tid];
        if version == "2.0" {
            return Ok(entry.v2_issuer.clone());
        }
        match &entry.v1_issuer {
            Some(found) => found.clone(),
            None => Err(invalid("no v1 issuer is known for this cloud")),
        }
    }

    /// A custom cloud's v1 issuer: the `issuer` of `{authority}/{tenant}/.well-known/openid-configuration`.
    pub(super) async fn fetch_v1_issuer(&self, tenant_id: &str) -> Result<String, StepError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.cloud.tenant_authority(tenant_id)
        );
        let config: IssuerOnly = self
            .get_json(&url, "v1 OpenID configuration", "openid_configuration")
            .await?;
        discovered_issuer(config.issuer, tenant_id, "v1")
    }

    /// The tenant's v2 OpenID configuration (its issuer) and signing keys.
    pub(super) async fn fetch_keys(&self, tenant_id: &str) -> Result<TenantKeys, StepError> {
        self.jwks_fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let authority = self.cloud.tenant_authority(tenant_id);
        let discovery = format!("{authority}/v2.0/.well-known/openid-configuration");
        // A custom cloud's v1 document is read at the same time (no extra round trip).
        let v1 = async {
            match known_v1_issuer(self.cloud.name, tenant_id) {
                Some(_) => None,
                None => Some(self.fetch_v1_issuer(tenant_id).await),
            }
        };
        let (config, v1_issuer) = tokio::join!(
            self.get_json::<OpenIdConfiguration>(
                &discovery,
                "OpenID configuration",
                "openid_configuration"
            ),
            v1
        );
        let config = config?;
        let v2_issuer = discovered_issuer(config.issuer, tenant_id, "v2")?;
        let jwks_url = url::Url::parse(&config.jwks_uri)
            .map_err(|_| invalid("the tenant's OpenID configuration has an invalid jwks_uri"))?;
        // Keys must come from the authority itself: anything else could substitute keys.
        if !on_authority_origin(&jwks_url, &self.cloud.authority_host) {
            return Err(invalid(format!(
                "the tenant's jwks_uri origin {} is not the authority's origin {}",
                jwks_url.origin().ascii_serialization(),
                self.cloud.authority_host.origin().ascii_serialization()
            )));
        }
        let jwks: Jwks = self
            .get_json(jwks_url.as_str(), "signing keys", "jwks")
            .await?;
        let mut keys = HashMap::new();
        for k in jwks.keys {
            if k.kty.as_deref() != Some("RSA") {
                continue;
            }
            if let (Some(kid), Some(n), Some(e)) = (
                k.kid,
                k.n.as_deref().and_then(b64),
                k.e.as_deref().and_then(b64),
            ) {
                keys.insert(kid, RsaKey::rs256(&n, &e));
            }
        }
        Ok(TenantKeys {
            keys,
            fetched: Instant::now(),
            v2_issuer,
            v1_issuer,
        })
    }

    pub(super) async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        url: &str,
        what: &str,
        operation: &str,
    ) -> Result<T, StepError> {
        let sent = self.http.get(url).send().await;
        self.metrics.record_sent("entra", operation, &sent);
        let resp = sent.map_err(|e| {
            StepError::new(
                ErrorClass::Transient,
                format!(
                    "cannot fetch the tenant's {what}: {}",
                    crate::net::http::describe_reqwest(&e)
                ),
            )
        })?;
        let status = resp.status();
        let body = read_limited(resp).await?;
        if !status.is_success() {
            let class = if status.as_u16() == 429 || status.is_server_error() {
                ErrorClass::Transient
            } else {
                ErrorClass::InvalidToken
            };
            return Err(StepError::new(
                class,
                format!("fetching the tenant's {what} failed with HTTP {status}"),
            ));
        }
        serde_json::from_slice(&body).map_err(|_| {
            StepError::new(
                ErrorClass::MalformedResponse,
                format!("the tenant's {what} is not valid JSON"),
            )
        })
    }
}

/// Whether a JWKS URL from discovery is on the authority's exact origin: HTTPS, same host and
/// same port (a port left out means 443), so that no other service on the host can supply keys.
pub(super) fn on_authority_origin(jwks_url: &url::Url, authority: &url::Url) -> bool {
    jwks_url.scheme() == "https"
        && authority.scheme() == "https"
        && jwks_url.host_str().map(str::to_ascii_lowercase)
            == authority.host_str().map(str::to_ascii_lowercase)
        && jwks_url.port_or_known_default() == authority.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::RsaKey;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
    use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair};

    #[test]
    fn a_published_key_parsed_once_verifies_what_it_signed_and_nothing_else() {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("key");
        let components = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let key = RsaKey::rs256(&components.n, &components.e);
        let RsaKey::Usable(public) = key else {
            panic!("a 2048-bit RSA key must be usable");
        };
        let mut sig = vec![0; pair.public_modulus_len()];
        pair.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            b"header.payload",
            &mut sig,
        )
        .expect("sign");
        assert!(public.verify_sig(b"header.payload", &sig).is_ok());
        assert!(public.verify_sig(b"header.payloaD", &sig).is_err());
        sig[0] ^= 1;
        assert!(public.verify_sig(b"header.payload", &sig).is_err());
    }

    #[test]
    fn modulus_bits_count_from_the_first_set_bit() {
        assert_eq!(super::modulus_bits(&[]), 0);
        assert_eq!(super::modulus_bits(&[0, 0]), 0);
        assert_eq!(super::modulus_bits(&[0, 1]), 1);
        assert_eq!(super::modulus_bits(&[0x80; 256]), 2048);
        assert_eq!(super::modulus_bits(&[0x7f; 256]), 2047);
        assert_eq!(super::modulus_bits(&[0, 0x80, 0]), 16);
    }

    #[test]
    fn a_key_that_is_not_rsa_of_2048_bits_or_more_is_unusable() {
        assert!(matches!(
            RsaKey::rs256(&[0x01], &[1, 0, 1]),
            RsaKey::Unusable
        ));
        assert!(matches!(
            RsaKey::rs256(&[0xc3; 128], &[1, 0, 1]),
            RsaKey::Unusable
        ));
        assert!(matches!(RsaKey::rs256(&[], &[]), RsaKey::Unusable));
    }
}
