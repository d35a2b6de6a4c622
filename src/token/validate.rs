//! Token validation: the only place that turns an [`AcquiredToken`] into a [`ValidatedToken`],
//! the only type the vault writer accepts.
//!
//! Checks: the JWT shape and `alg`; the RS256 signature against the tenant's keys found through
//! OpenID discovery (cached per tenant, refetched on an unknown `kid` at most once per 5 minutes);
//! issuer (v1 and v2), audience, tenant, client id (`appid`/`azp`), `nbf`/`exp` with a small skew,
//! and required roles. Microsoft Graph tokens carry a `nonce` header and cannot be verified by a
//! third party: their claims are checked and the report says the signature was not.
//! Errors name the failed check, never the token.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::sync::Mutex;

use super::AcquiredToken;
use crate::config::Cloud;
use crate::error::{ErrorClass, StepError};
use crate::net::http::read_limited;

/// Clock skew tolerated on `nbf` and `exp`.
pub const CLOCK_SKEW: Duration = Duration::from_secs(300);
/// Tokens larger than this are refused before decoding (Entra tokens are a few KB).
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Minimum time between two key refetches for one tenant.
const REFETCH_INTERVAL: Duration = Duration::from_secs(300);

/// What a token must say to be accepted for one target.
#[derive(Debug, Clone)]
pub struct Expectations<'a> {
    pub tenant_id: &'a str,
    pub client_id: &'a str,
    /// The resource from the scope, e.g. `https://analysis.windows.net/powerbi/api`.
    pub resource: &'a str,
    pub required_roles: &'a [String],
    /// A GET with the token that must succeed (allowlisted at config validation).
    pub probe: Option<&'a url::Url>,
}

/// The claims the rotator relies on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub issuer: String,
    pub audience: String,
    pub tenant_id: String,
    pub client_id: String,
    pub version: String,
    pub issued_at: Option<OffsetDateTime>,
    pub not_before: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub roles: Vec<String>,
}

/// How the signature was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    Verified {
        kid: String,
    },
    /// The token type cannot be verified by third parties (Microsoft Graph's nonce tokens).
    NotVerifiable {
        reason: &'static str,
    },
}

/// A token that passed every check. Only [`Validator::validate`] constructs it; no `Debug`.
pub struct ValidatedToken {
    raw: SecretString,
    claims: TokenClaims,
    signature: SignatureCheck,
    probed: bool,
}

impl ValidatedToken {
    pub fn secret(&self) -> &SecretString {
        &self.raw
    }
    pub fn claims(&self) -> &TokenClaims {
        &self.claims
    }
    pub fn signature(&self) -> &SignatureCheck {
        &self.signature
    }
    /// Whether the target API accepted the token (a probe was configured and passed).
    pub fn probed(&self) -> bool {
        self.probed
    }
    pub fn expires_at(&self) -> OffsetDateTime {
        self.claims.expires_at
    }
    pub fn not_before(&self) -> OffsetDateTime {
        self.claims.not_before
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    x5t: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

#[derive(Deserialize)]
struct RawClaims {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    tid: Option<String>,
    #[serde(default)]
    appid: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    ver: Option<String>,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// One tenant's signing keys.
struct TenantKeys {
    keys: HashMap<String, RsaKey>,
    fetched: Instant,
}

#[derive(Clone)]
struct RsaKey {
    n: Vec<u8>,
    e: Vec<u8>,
}

#[derive(Deserialize)]
struct OpenIdConfiguration {
    jwks_uri: String,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    #[serde(default)]
    kty: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

/// Validates tokens; holds the per-tenant key cache for the life of the process.
pub struct Validator {
    http: reqwest::Client,
    cloud: Cloud,
    keys: Mutex<HashMap<String, TenantKeys>>,
    jwks_fetches: std::sync::atomic::AtomicU64,
    metrics: std::sync::Arc<crate::telemetry::metrics::Metrics>,
    refetch_interval: Duration,
}

fn invalid(reason: impl Into<String>) -> StepError {
    StepError::new(ErrorClass::InvalidToken, reason.into())
}

fn b64(part: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(part)
        .or_else(|_| URL_SAFE.decode(part))
        .ok()
}

fn unix(ts: i64, name: &str) -> Result<OffsetDateTime, StepError> {
    OffsetDateTime::from_unix_timestamp(ts)
        .map_err(|_| invalid(format!("claim `{name}` is out of range")))
}

fn trim_slash(s: &str) -> String {
    s.trim_end_matches('/').to_ascii_lowercase()
}

impl Validator {
    pub fn new(
        http: reqwest::Client,
        cloud: Cloud,
        metrics: std::sync::Arc<crate::telemetry::metrics::Metrics>,
    ) -> Self {
        Validator {
            http,
            cloud,
            keys: Mutex::new(HashMap::new()),
            jwks_fetches: std::sync::atomic::AtomicU64::new(0),
            metrics,
            refetch_interval: REFETCH_INTERVAL,
        }
    }

    /// Changes the minimum time between key refetches (tests use a short one).
    pub fn with_refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// How many times signing keys were fetched (for efficiency reports).
    pub fn jwks_fetches(&self) -> u64 {
        self.jwks_fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Checks a token; on success it becomes a [`ValidatedToken`].
    #[tracing::instrument(name = "validate", skip_all, fields(tenant_id = expect.tenant_id, client_id = expect.client_id))]
    pub async fn validate(
        &self,
        token: AcquiredToken,
        expect: &Expectations<'_>,
        now: OffsetDateTime,
    ) -> Result<ValidatedToken, StepError> {
        let raw = token.access_token;
        let text = raw.expose_secret();
        if text.len() > MAX_TOKEN_BYTES {
            return Err(invalid(format!(
                "token is {} bytes, more than the {MAX_TOKEN_BYTES} accepted",
                text.len()
            )));
        }
        let parts: Vec<&str> = text.split('.').collect();
        let [h, p, s] = parts.as_slice() else {
            return Err(invalid(format!(
                "token is not a JWS compact JWT (expected 3 dot-separated parts, found {})",
                parts.len()
            )));
        };
        let header: Header = b64(h)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| invalid("token header is not base64url-encoded JSON with `alg`"))?;
        let claims: RawClaims = b64(p)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| invalid("token payload is not base64url-encoded JSON claims"))?;
        if header.alg != "RS256" {
            return Err(invalid(format!(
                "token algorithm {:?} is not accepted (only RS256)",
                header.alg.chars().take(16).collect::<String>()
            )));
        }

        let claims = check_claims(claims, expect, &self.cloud, now)?;

        let signature = if header.nonce.is_some() {
            SignatureCheck::NotVerifiable {
                reason: "Microsoft Graph tokens carry a nonce and cannot be verified by third parties; claims were checked",
            }
        } else {
            let kid = header
                .kid
                .or(header.x5t)
                .ok_or_else(|| invalid("token header has no `kid`: cannot pick a signing key"))?;
            let sig = b64(s).ok_or_else(|| invalid("token signature is not base64url"))?;
            let key = self.key(&claims.tenant_id, &kid).await?;
            let message = format!("{h}.{p}");
            let public = aws_lc_rs::signature::RsaPublicKeyComponents {
                n: key.n.as_slice(),
                e: key.e.as_slice(),
            };
            public
                .verify(
                    &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                    message.as_bytes(),
                    &sig,
                )
                .map_err(|_| {
                    invalid(format!(
                        "token signature does not verify with the tenant's key {kid:?}"
                    ))
                })?;
            SignatureCheck::Verified { kid }
        };

        let probed = match expect.probe {
            Some(url) => {
                self.probe(url, &raw).await?;
                true
            }
            None => false,
        };

        Ok(ValidatedToken {
            raw,
            claims,
            signature,
            probed,
        })
    }

    /// A real GET to the target API with the token; only a 2xx answer passes.
    #[tracing::instrument(name = "probe", skip_all, fields(host = url.host_str().unwrap_or("")))]
    async fn probe(&self, url: &url::Url, token: &SecretString) -> Result<(), StepError> {
        let host = url.host_str().unwrap_or("").to_string();
        let sent = self
            .http
            .get(url.clone())
            .bearer_auth(token.expose_secret())
            .send()
            .await;
        self.metrics.record_request(
            "probe",
            "get",
            sent.as_ref().map(|r| r.status().as_u16()).unwrap_or(0),
        );
        let resp = sent.map_err(|e| {
            StepError::new(
                ErrorClass::Transient,
                format!(
                    "the probe of {host} failed: {}",
                    crate::net::http::describe_reqwest(&e)
                ),
            )
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let body = read_limited(resp).await.unwrap_or_default();
        let code = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                v["error"]["code"]
                    .as_str()
                    .map(|c| c.chars().take(80).collect::<String>())
            });
        let detail = code.map(|c| format!(" {c}")).unwrap_or_default();
        let class = if status.as_u16() == 401 || status.as_u16() == 403 {
            ErrorClass::InvalidToken
        } else if status.as_u16() == 429 || status.is_server_error() {
            ErrorClass::Transient
        } else {
            ErrorClass::MalformedResponse
        };
        Err(StepError::new(
            class,
            format!(
                "the target API at {host} answered the probe with HTTP {}{detail}: the token does not work there{}",
                status.as_u16(),
                if class == ErrorClass::InvalidToken {
                    " (for Power BI: is 'Allow service principals to use Power BI APIs' enabled for this app?)"
                } else {
                    ""
                }
            ),
        ))
    }

    /// Finds a signing key, fetching the tenant's keys when missing or on an unknown `kid`.
    async fn key(&self, tenant_id: &str, kid: &str) -> Result<RsaKey, StepError> {
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
        let keys = self.fetch_keys(tenant_id).await?;
        let found = keys.get(kid).cloned();
        cache.insert(
            tenant_id.to_string(),
            TenantKeys {
                keys,
                fetched: Instant::now(),
            },
        );
        found.ok_or_else(|| {
            invalid(format!(
                "token is signed with key {kid:?}, which is not among tenant {tenant_id}'s signing keys"
            ))
        })
    }

    async fn fetch_keys(&self, tenant_id: &str) -> Result<HashMap<String, RsaKey>, StepError> {
        self.jwks_fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let authority = self.cloud.tenant_authority(tenant_id);
        let discovery = format!("{authority}/v2.0/.well-known/openid-configuration");
        let config: OpenIdConfiguration = self
            .get_json(&discovery, "OpenID configuration", "openid_configuration")
            .await?;
        let jwks_url = url::Url::parse(&config.jwks_uri)
            .map_err(|_| invalid("the tenant's OpenID configuration has an invalid jwks_uri"))?;
        // Keys must come from the authority itself: anything else could substitute keys.
        if jwks_url.scheme() != "https"
            || jwks_url.host_str() != self.cloud.authority_host.host_str()
        {
            return Err(invalid(format!(
                "the tenant's jwks_uri host {:?} is not the authority host {:?}",
                jwks_url.host_str().unwrap_or(""),
                self.cloud.authority_host.host_str().unwrap_or("")
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
                keys.insert(kid, RsaKey { n, e });
            }
        }
        Ok(keys)
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        url: &str,
        what: &str,
        operation: &str,
    ) -> Result<T, StepError> {
        let sent = self.http.get(url).send().await;
        self.metrics.record_request(
            "entra",
            operation,
            sent.as_ref().map(|r| r.status().as_u16()).unwrap_or(0),
        );
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

fn check_claims(
    c: RawClaims,
    expect: &Expectations<'_>,
    cloud: &Cloud,
    now: OffsetDateTime,
) -> Result<TokenClaims, StepError> {
    let tid = c.tid.ok_or_else(|| invalid("token has no `tid` claim"))?;
    if !tid.eq_ignore_ascii_case(expect.tenant_id) {
        return Err(invalid(format!(
            "token tenant {tid:?} is not the app's tenant {}",
            expect.tenant_id
        )));
    }
    let version = c.ver.unwrap_or_else(|| "1.0".into());
    let client = match version.as_str() {
        "2.0" => c.azp,
        _ => c.appid.or(c.azp),
    }
    .ok_or_else(|| invalid("token has no `appid`/`azp` claim"))?;
    if !client.eq_ignore_ascii_case(expect.client_id) {
        return Err(invalid(format!(
            "token was issued to client {client:?}, not to the app {}",
            expect.client_id
        )));
    }
    let iss = c.iss.ok_or_else(|| invalid("token has no `iss` claim"))?;
    let authority = cloud.authority_host.as_str().trim_end_matches('/');
    let t = tid.to_ascii_lowercase();
    let allowed: Vec<String> = if version == "2.0" {
        vec![format!("{authority}/{t}/v2.0")]
    } else {
        vec![
            format!("https://sts.windows.net/{t}/"),
            format!("https://sts.chinacloudapi.cn/{t}/"),
            format!("{authority}/{t}/"),
        ]
    };
    if !allowed.iter().any(|a| a.eq_ignore_ascii_case(&iss)) {
        return Err(invalid(format!(
            "token issuer {iss:?} is not the tenant's issuer (expected {})",
            allowed[0]
        )));
    }
    let audiences = match c.aud {
        Some(Audience::One(a)) => vec![a],
        Some(Audience::Many(v)) => v,
        None => return Err(invalid("token has no `aud` claim")),
    };
    let want = trim_slash(expect.resource);
    let Some(aud) = audiences.into_iter().find(|a| trim_slash(a) == want) else {
        return Err(invalid(format!(
            "token audience is not the target resource {}",
            expect.resource
        )));
    };
    let exp = unix(
        c.exp.ok_or_else(|| invalid("token has no `exp` claim"))?,
        "exp",
    )?;
    let nbf = match c.nbf {
        Some(n) => unix(n, "nbf")?,
        None => return Err(invalid("token has no `nbf` claim")),
    };
    let skew = time::Duration::try_from(CLOCK_SKEW).unwrap_or(time::Duration::minutes(5));
    if exp <= now {
        return Err(invalid(format!("token expired at {exp}")));
    }
    if nbf > now + skew {
        return Err(invalid(format!("token is not valid before {nbf}")));
    }
    if exp <= nbf {
        return Err(invalid("token `exp` is not after `nbf`"));
    }
    let missing: Vec<&String> = expect
        .required_roles
        .iter()
        .filter(|r| !c.roles.iter().any(|have| have == *r))
        .collect();
    if !missing.is_empty() {
        return Err(invalid(format!(
            "token lacks required role(s) {missing:?}: grant these application permissions to app {} and give admin consent",
            expect.client_id
        )));
    }
    Ok(TokenClaims {
        issuer: iss,
        audience: aud,
        tenant_id: tid,
        client_id: client,
        version,
        issued_at: c
            .iat
            .and_then(|i| OffsetDateTime::from_unix_timestamp(i).ok()),
        not_before: nbf,
        expires_at: exp,
        roles: c.roles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CloudName;

    const TID: &str = "11111111-2222-3333-4444-555555555555";
    const CID: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

    fn cloud() -> Cloud {
        Cloud::known(CloudName::Public).expect("public cloud")
    }

    fn claims(json: serde_json::Value) -> RawClaims {
        serde_json::from_value(json).expect("claims")
    }

    fn base(now: i64) -> serde_json::Value {
        serde_json::json!({
            "aud": "https://analysis.windows.net/powerbi/api",
            "iss": format!("https://sts.windows.net/{TID}/"),
            "tid": TID, "appid": CID, "ver": "1.0",
            "iat": now - 300, "nbf": now - 300, "exp": now + 3600,
            "roles": ["Tenant.Read.All"],
        })
    }

    fn check(v: serde_json::Value, roles: &[String]) -> Result<TokenClaims, StepError> {
        let now = OffsetDateTime::now_utc();
        let expect = Expectations {
            tenant_id: TID,
            client_id: CID,
            resource: "https://analysis.windows.net/powerbi/api",
            required_roles: roles,
            probe: None,
        };
        check_claims(claims(v), &expect, &cloud(), now)
    }

    fn now() -> i64 {
        OffsetDateTime::now_utc().unix_timestamp()
    }

    #[test]
    fn good_claims_pass() {
        let c = check(base(now()), &["Tenant.Read.All".into()]).expect("valid");
        assert_eq!(c.client_id, CID);
    }

    #[test]
    fn each_bad_claim_is_named() {
        let cases: Vec<(&str, serde_json::Value, &str)> = vec![
            (
                "aud",
                serde_json::json!("https://graph.microsoft.com"),
                "audience",
            ),
            (
                "tid",
                serde_json::json!("99999999-2222-3333-4444-555555555555"),
                "tenant",
            ),
            (
                "appid",
                serde_json::json!("bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee"),
                "issued to client",
            ),
            ("iss", serde_json::json!("https://evil.example/"), "issuer"),
            ("exp", serde_json::json!(now() - 10), "expired"),
            ("nbf", serde_json::json!(now() + 3000), "not valid before"),
        ];
        for (claim, value, needle) in cases {
            let mut v = base(now());
            v[claim] = value;
            let e = check(v, &[]).expect_err(claim);
            assert_eq!(e.class, ErrorClass::InvalidToken);
            assert!(e.message.contains(needle), "{claim}: {}", e.message);
        }
    }

    #[test]
    fn missing_role_is_refused() {
        let e = check(base(now()), &["Dataset.ReadWrite.All".into()]).expect_err("role");
        assert!(e.message.contains("Dataset.ReadWrite.All"));
    }

    #[test]
    fn v2_tokens_use_azp_and_the_v2_issuer() {
        let mut v = base(now());
        v["ver"] = serde_json::json!("2.0");
        v["azp"] = serde_json::json!(CID);
        v["appid"] = serde_json::Value::Null;
        v["iss"] = serde_json::json!(format!("https://login.microsoftonline.com/{TID}/v2.0"));
        check(v, &[]).expect("v2 valid");
    }
}
