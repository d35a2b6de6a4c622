//! Token validation: the only place that turns an [`AcquiredToken`] into a [`ValidatedToken`],
//! the only type the vault writer accepts.
//!
//! Checks: the JWT shape and `alg`; the RS256 signature against the tenant's keys found through
//! OpenID discovery (cached per tenant, refetched on an unknown `kid` at most once per 5 minutes);
//! issuer (v2: the `issuer` of the tenant's OpenID configuration; v1: the cloud's v1 STS, or
//! for a custom cloud the v1 configuration's `issuer`), audience (the target's `audience`, else
//! the resource, see [`expected_audiences`]), tenant, client id (`appid`/`azp`), `nbf`/`exp`
//! with a small skew, required roles, and a lifetime (`exp` − `nbf`) of at most
//! `max_token_lifetime`. Microsoft Graph tokens carry a `nonce` header and cannot be verified by
//! a third party: for the cloud's own Graph audience only, their claims are checked and the
//! report says the signature was not. Any other token with a `nonce` header, or whose signature
//! does not verify, is refused. Signing keys come only from the authority's exact origin
//! (scheme, host and port).
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
use crate::config::{Cloud, CloudName, is_guid};
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
    /// The `aud` the token must carry, when the target names it (`audience`); `None`: the
    /// resource, or the API's client id when the resource says it (see [`expected_audiences`]).
    pub audience: Option<&'a str>,
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

/// One tenant's signing keys and v2 issuer, both from its OpenID configuration.
struct TenantKeys {
    keys: HashMap<String, RsaKey>,
    fetched: Instant,
    /// The configuration's `issuer`, `{tenantid}` substituted.
    v2_issuer: String,
    /// A custom cloud's v1 issuer (the v1 configuration's `issuer`), fetched alongside; its
    /// error is kept for v1 tokens only, so a cloud without v1 documents still serves v2.
    v1_issuer: Option<Result<String, StepError>>,
}

#[derive(Clone)]
struct RsaKey {
    n: Vec<u8>,
    e: Vec<u8>,
}

#[derive(Deserialize)]
struct OpenIdConfiguration {
    jwks_uri: String,
    #[serde(default)]
    issuer: Option<String>,
}

#[derive(Deserialize)]
struct IssuerOnly {
    #[serde(default)]
    issuer: Option<String>,
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
    /// The cloud's Microsoft Graph resource: the only audience whose tokens may skip the
    /// signature check (they carry a `nonce` header).
    graph_resource: String,
    /// Longest accepted `exp` − `nbf`.
    max_lifetime: Duration,
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
            graph_resource: default_graph_resource(&cloud).to_string(),
            cloud,
            max_lifetime: crate::config::DEFAULT_MAX_TOKEN_LIFETIME,
            keys: Mutex::new(HashMap::new()),
            jwks_fetches: std::sync::atomic::AtomicU64::new(0),
            metrics,
            refetch_interval: REFETCH_INTERVAL,
        }
    }

    /// The cloud's Microsoft Graph resource (`ValidConfig::graph_resource`), for a custom
    /// cloud whose Graph is not `https://graph.microsoft.com`.
    pub fn with_graph_resource(mut self, resource: impl Into<String>) -> Self {
        self.graph_resource = resource.into();
        self
    }

    /// The longest token lifetime (`exp` − `nbf`) accepted (`max_token_lifetime`).
    pub fn with_max_token_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime = max;
        self
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

        let claims = check_claims(claims, expect, now)?;
        check_lifetime(&claims, self.max_lifetime)?;
        // Local checks first: only then may the tenant's documents be fetched.
        let unverified = if header.nonce.is_some() {
            // Only the cloud's own Graph issues unverifiable tokens; a nonce anywhere else would
            // let a forger choose to skip the signature check.
            if trim_slash(&claims.audience) != trim_slash(&self.graph_resource) {
                return Err(invalid(format!(
                    "token header carries a `nonce`, which only Microsoft Graph ({}) tokens may: a token for {} must have a verifiable signature",
                    self.graph_resource, expect.resource
                )));
            }
            None
        } else {
            let kid = header
                .kid
                .or(header.x5t)
                .ok_or_else(|| invalid("token header has no `kid`: cannot pick a signing key"))?;
            let sig = b64(s).ok_or_else(|| invalid("token signature is not base64url"))?;
            Some((kid, sig))
        };
        let issuer = self
            .expected_issuer(&claims.tenant_id, &claims.version)
            .await?;
        check_issuer(&claims, &issuer)?;

        let signature = match unverified {
            None => SignatureCheck::NotVerifiable {
                reason: "Microsoft Graph tokens carry a nonce and cannot be verified by third parties; claims were checked",
            },
            Some((kid, sig)) => {
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
            }
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
    async fn expected_issuer(&self, tenant_id: &str, version: &str) -> Result<String, StepError> {
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
    async fn fetch_v1_issuer(&self, tenant_id: &str) -> Result<String, StepError> {
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
    async fn fetch_keys(&self, tenant_id: &str) -> Result<TenantKeys, StepError> {
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
                keys.insert(kid, RsaKey { n, e });
            }
        }
        Ok(TenantKeys {
            keys,
            fetched: Instant::now(),
            v2_issuer,
            v1_issuer,
        })
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

/// Whether a JWKS URL from discovery is on the authority's exact origin: HTTPS, same host and
/// same port (a port left out means 443), so that no other service on the host can supply keys.
fn on_authority_origin(jwks_url: &url::Url, authority: &url::Url) -> bool {
    jwks_url.scheme() == "https"
        && authority.scheme() == "https"
        && jwks_url.host_str().map(str::to_ascii_lowercase)
            == authority.host_str().map(str::to_ascii_lowercase)
        && jwks_url.port_or_known_default() == authority.port_or_known_default()
}

/// The Microsoft Graph resource of a cloud (a custom cloud's is configured; the default is the
/// public one, as in the config).
fn default_graph_resource(cloud: &Cloud) -> &'static str {
    match cloud.name {
        crate::config::CloudName::UsGovernment => "https://graph.microsoft.us",
        crate::config::CloudName::China => "https://microsoftgraph.chinacloudapi.cn",
        crate::config::CloudName::Public | crate::config::CloudName::Custom => {
            "https://graph.microsoft.com"
        }
    }
}

/// Refuses a token that lives longer than `max` (`exp` − `nbf`): Entra ID issues at most a day.
fn check_lifetime(claims: &TokenClaims, max: Duration) -> Result<(), StepError> {
    let lifetime = claims.expires_at - claims.not_before;
    let max = time::Duration::try_from(max).unwrap_or(time::Duration::MAX);
    if lifetime > max {
        return Err(invalid(format!(
            "token lifetime (exp - nbf) of {} exceeds max_token_lifetime of {}: refused",
            humantime::format_duration(lifetime.unsigned_abs()),
            humantime::format_duration(max.unsigned_abs())
        )));
    }
    Ok(())
}

/// The v1 issuer of a known cloud (Learn "Access token claims reference", `iss`, and the clouds'
/// v1 OpenID configurations): the public and US Government clouds share
/// `https://sts.windows.net/{tid}/`; Azure China has `https://sts.chinacloudapi.cn/{tid}/`.
/// `None` for a custom cloud, whose v1 configuration says.
pub fn known_v1_issuer(cloud: CloudName, tenant_id: &str) -> Option<String> {
    let tid = tenant_id.to_ascii_lowercase();
    match cloud {
        CloudName::Public | CloudName::UsGovernment => {
            Some(format!("https://sts.windows.net/{tid}/"))
        }
        CloudName::China => Some(format!("https://sts.chinacloudapi.cn/{tid}/")),
        CloudName::Custom => None,
    }
}

/// The `issuer` of an OpenID configuration, with the `{tenantid}` placeholder of the
/// multi-tenant documents replaced by the tenant.
fn discovered_issuer(
    issuer: Option<String>,
    tenant_id: &str,
    which: &str,
) -> Result<String, StepError> {
    let issuer = issuer
        .filter(|i| !i.trim().is_empty() && i.len() <= 512)
        .ok_or_else(|| {
            StepError::new(
                ErrorClass::MalformedResponse,
                format!("the tenant's {which} OpenID configuration has no issuer"),
            )
        })?;
    Ok(issuer.replace("{tenantid}", &tenant_id.to_ascii_lowercase()))
}

/// The token's `iss` must be the tenant's issuer for its version, exactly (case aside).
fn check_issuer(claims: &TokenClaims, expected: &str) -> Result<(), StepError> {
    if claims.issuer.eq_ignore_ascii_case(expected) {
        return Ok(());
    }
    Err(invalid(format!(
        "token issuer {:?} is not the tenant's issuer (expected {expected} for a v{} token)",
        claims.issuer.chars().take(120).collect::<String>(),
        claims.version.trim_end_matches(".0")
    )))
}

/// The audiences a token may carry for `expect`.
///
/// Learn "Access token claims reference", `aud`: "In v2.0 tokens, this value is always the
/// client ID of the API. In v1.0 tokens, it can be the client ID or the resource URI used in
/// the request." So: the target's explicit `audience` when set (the documented way to name a
/// v2 API's client id); else the resource, plus the API's client id when the resource names it
/// in one of the two default App ID URI forms, `api://{appId}` and `api://{tenantId}/{appId}`
/// (Learn "Restrictions on identifier URIs": a GUID right after `api://` is the app id or the
/// tenant id, so the tenant's own id is never taken for the app's).
pub fn expected_audiences(expect: &Expectations<'_>) -> Vec<String> {
    if let Some(a) = expect.audience {
        return vec![trim_slash(a)];
    }
    let mut out = vec![trim_slash(expect.resource)];
    if let Some(rest) = expect
        .resource
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("api://"))
        .and_then(|_| expect.resource.get(6..))
    {
        let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        let app_id = match parts.as_slice() {
            [id] if !id.eq_ignore_ascii_case(expect.tenant_id) => Some(*id),
            [tenant, id] if tenant.eq_ignore_ascii_case(expect.tenant_id) => Some(*id),
            _ => None,
        };
        if let Some(id) = app_id.filter(|id| is_guid(id)) {
            out.push(id.to_ascii_lowercase());
        }
    }
    out
}

/// Every claim check that needs nothing fetched: all but the issuer ([`check_issuer`]).
fn check_claims(
    c: RawClaims,
    expect: &Expectations<'_>,
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
    let audiences = match c.aud {
        Some(Audience::One(a)) => vec![a],
        Some(Audience::Many(v)) => v,
        None => return Err(invalid("token has no `aud` claim")),
    };
    let wanted = expected_audiences(expect);
    let Some(aud) = audiences
        .iter()
        .find(|a| wanted.contains(&trim_slash(a)))
        .cloned()
    else {
        return Err(invalid(audience_mismatch(expect, &audiences, &version)));
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

/// Why the audience does not match, with the fix when the token is a v2 token for an API
/// whose client id the config does not name.
fn audience_mismatch(expect: &Expectations<'_>, audiences: &[String], version: &str) -> String {
    let want = expect.audience.unwrap_or(expect.resource);
    let what = if expect.audience.is_some() {
        "the target's audience"
    } else {
        "the target resource"
    };
    let guid = audiences
        .iter()
        .find(|a| is_guid(a))
        .filter(|_| version == "2.0" && expect.audience.is_none());
    match guid {
        Some(id) => format!(
            "token audience {id:?} is not {what} {want}: v2.0 tokens carry the API's application (client) id; \
             if {id} is that API's client id, set audience = \"{id}\" on this target"
        ),
        None => format!("token audience is not {what} {want}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TID: &str = "11111111-2222-3333-4444-555555555555";
    const CID: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
    const API: &str = "0a1b2c3d-1111-4222-8333-444455556666";
    const POWERBI: &str = "https://analysis.windows.net/powerbi/api";

    fn claims(json: serde_json::Value) -> RawClaims {
        serde_json::from_value(json).expect("claims")
    }

    fn base(now: i64) -> serde_json::Value {
        serde_json::json!({
            "aud": POWERBI,
            "iss": format!("https://sts.windows.net/{TID}/"),
            "tid": TID, "appid": CID, "ver": "1.0",
            "iat": now - 300, "nbf": now - 300, "exp": now + 3600,
            "roles": ["Tenant.Read.All"],
        })
    }

    fn expect<'a>(
        resource: &'a str,
        audience: Option<&'a str>,
        roles: &'a [String],
    ) -> Expectations<'a> {
        Expectations {
            tenant_id: TID,
            client_id: CID,
            resource,
            audience,
            required_roles: roles,
            probe: None,
        }
    }

    /// The claim checks plus the issuer check of the public cloud (v1) or the public cloud's
    /// discovery (v2).
    fn check_in(
        v: serde_json::Value,
        e: &Expectations<'_>,
        cloud: CloudName,
    ) -> Result<TokenClaims, StepError> {
        let c = check_claims(claims(v), e, OffsetDateTime::now_utc())?;
        let issuer = if c.version == "2.0" {
            format!("https://login.microsoftonline.com/{TID}/v2.0")
        } else {
            known_v1_issuer(cloud, TID).expect("known cloud")
        };
        check_issuer(&c, &issuer)?;
        check_lifetime(&c, crate::config::DEFAULT_MAX_TOKEN_LIFETIME)?;
        Ok(c)
    }

    fn check(v: serde_json::Value, roles: &[String]) -> Result<TokenClaims, StepError> {
        check_in(v, &expect(POWERBI, None, roles), CloudName::Public)
    }

    fn now() -> i64 {
        OffsetDateTime::now_utc().unix_timestamp()
    }

    fn v2(mut v: serde_json::Value, aud: &str) -> serde_json::Value {
        v["ver"] = serde_json::json!("2.0");
        v["azp"] = serde_json::json!(CID);
        v["appid"] = serde_json::Value::Null;
        v["aud"] = serde_json::json!(aud);
        v["iss"] = serde_json::json!(format!("https://login.microsoftonline.com/{TID}/v2.0"));
        v
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
    fn v2_tokens_use_azp_and_the_discovered_issuer() {
        check(v2(base(now()), POWERBI), &[]).expect("v2 valid");
        let mut v = v2(base(now()), POWERBI);
        v["iss"] = serde_json::json!(format!("https://sts.windows.net/{TID}/"));
        let e = check(v, &[]).expect_err("v1 issuer on a v2 token");
        assert!(e.message.contains("issuer"), "{}", e.message);
    }

    #[test]
    fn another_clouds_v1_issuer_is_refused() {
        let china = format!("https://sts.chinacloudapi.cn/{TID}/");
        let public = format!("https://sts.windows.net/{TID}/");
        let e = expect(POWERBI, None, &[]);
        for (cloud, foreign) in [
            (CloudName::Public, &china),
            (CloudName::UsGovernment, &china),
            (CloudName::China, &public),
        ] {
            let mut v = base(now());
            v["iss"] = serde_json::json!(foreign);
            let err = check_in(v, &e, cloud).expect_err("foreign issuer");
            assert!(err.message.contains("issuer"), "{cloud}: {}", err.message);
        }
        let mut v = base(now());
        v["iss"] = serde_json::json!(china);
        check_in(v, &e, CloudName::China).expect("China's own v1 issuer");
        assert_eq!(known_v1_issuer(CloudName::Custom, TID), None);
    }

    #[test]
    fn discovered_issuers_substitute_the_tenant_placeholder() {
        let got = discovered_issuer(
            Some("https://login.microsoftonline.com/{tenantid}/v2.0".into()),
            TID,
            "v2",
        )
        .expect("issuer");
        assert_eq!(got, format!("https://login.microsoftonline.com/{TID}/v2.0"));
        assert!(discovered_issuer(None, TID, "v2").is_err());
    }

    #[test]
    fn v1_audience_is_the_app_id_uri() {
        let mut v = base(now());
        v["aud"] = serde_json::json!("api://orders-api");
        check_in(v, &expect("api://orders-api", None, &[]), CloudName::Public).expect("v1");
    }

    #[test]
    fn v2_audience_is_the_api_client_id() {
        // Named explicitly.
        let e = expect("api://orders-api", Some(API), &[]);
        check_in(v2(base(now()), API), &e, CloudName::Public).expect("explicit audience");
        // The resource is the client id itself.
        let e = expect(API, None, &[]);
        check_in(v2(base(now()), API), &e, CloudName::Public).expect("guid scope");
        // The default App ID URI forms name it.
        let uri = format!("api://{API}");
        let e = expect(&uri, None, &[]);
        check_in(v2(base(now()), API), &e, CloudName::Public).expect("api://{appId}");
        let uri = format!("api://{TID}/{API}");
        let e = expect(&uri, None, &[]);
        check_in(v2(base(now()), API), &e, CloudName::Public).expect("api://{tid}/{appId}");
    }

    #[test]
    fn an_unnamed_v2_client_id_is_refused_with_the_fix() {
        let e = expect("api://orders-api", None, &[]);
        let err = check_in(v2(base(now()), API), &e, CloudName::Public).expect_err("unnamed");
        assert!(
            err.message.contains(&format!("audience = \"{API}\"")),
            "{}",
            err.message
        );
        // api://{tenantId} is the tenant, not the API: its GUID is never taken as the app id.
        let uri = format!("api://{TID}");
        let e = expect(&uri, None, &[]);
        let mut v = v2(base(now()), TID);
        v["aud"] = serde_json::json!(TID);
        check_in(v, &e, CloudName::Public).expect_err("tenant id is not an audience");
        // An explicit audience is the only one accepted.
        let e = expect(POWERBI, Some(API), &[]);
        check_in(base(now()), &e, CloudName::Public).expect_err("resource no longer enough");
    }

    fn b64url(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    /// A validator that never reaches the network: tokens must be decided on their own.
    fn offline() -> Validator {
        Validator::new(
            crate::net::http::build_client(None).expect("client"),
            Cloud::known(CloudName::Public).expect("public cloud"),
            std::sync::Arc::new(crate::telemetry::metrics::Metrics::new()),
        )
    }

    async fn validate_for(
        v: &Validator,
        resource: &str,
        header: serde_json::Value,
        claims: serde_json::Value,
    ) -> Result<ValidatedToken, StepError> {
        let token = format!(
            "{}.{}.Z2FyYmFnZS1zaWduYXR1cmU",
            b64url(&header),
            b64url(&claims)
        );
        let expect = expect(resource, None, &[]);
        v.validate(
            AcquiredToken {
                access_token: SecretString::from(token),
                expires_in: Some(3600),
            },
            &expect,
            OffsetDateTime::now_utc(),
        )
        .await
    }

    fn nonce_header() -> serde_json::Value {
        serde_json::json!({"typ": "JWT", "alg": "RS256", "kid": "k1", "nonce": "bm9uY2U"})
    }

    #[tokio::test]
    async fn a_nonce_header_skips_the_signature_only_for_microsoft_graph() {
        // The reproduced attack: Power BI audience, nonce header, garbage signature, extra
        // roles, 30 days of life. It must be refused, not written as "not_verifiable".
        let mut forged = base(now());
        forged["exp"] = serde_json::json!(now() + 30 * 86_400);
        forged["roles"] = serde_json::json!(["Tenant.Read.All", "Tenant.ReadWrite.All"]);
        let e = validate_for(
            &offline(),
            "https://analysis.windows.net/powerbi/api",
            nonce_header(),
            forged,
        )
        .await
        .err()
        .expect("a nonce token for Power BI is refused");
        assert_eq!(e.class, ErrorClass::InvalidToken);

        // A Power BI token of normal lifetime with a nonce: refused for the nonce alone.
        let e = validate_for(
            &offline(),
            "https://analysis.windows.net/powerbi/api",
            nonce_header(),
            base(now()),
        )
        .await
        .err()
        .expect("refused");
        assert!(e.message.contains("nonce"), "{}", e.message);

        // The cloud's own Microsoft Graph: claims checked, signature reported not verifiable.
        let mut graph = base(now());
        graph["aud"] = serde_json::json!("https://graph.microsoft.com");
        let ok = validate_for(
            &offline(),
            "https://graph.microsoft.com",
            nonce_header(),
            graph,
        )
        .await
        .expect("a Graph token with a nonce is accepted");
        assert!(matches!(
            ok.signature(),
            SignatureCheck::NotVerifiable { .. }
        ));
    }

    #[test]
    fn a_lifetime_over_the_cap_is_refused() {
        let mut v = base(now());
        v["exp"] = serde_json::json!(now() + 30 * 86_400);
        let e = check(v, &[]).expect_err("30 days of life is refused");
        assert_eq!(e.class, ErrorClass::InvalidToken);
        assert!(e.message.contains("lifetime"), "{}", e.message);
        // 24 hours exactly is the default limit.
        let mut v = base(now());
        v["exp"] = serde_json::json!(v["nbf"].as_i64().unwrap_or(0) + 24 * 3600);
        check(v, &[]).expect("24 h is accepted");
        // The limit is configurable.
        let c = check_claims(
            claims({
                let mut v = base(now());
                v["exp"] = serde_json::json!(now() + 2 * 86_400);
                v
            }),
            &expect(POWERBI, None, &[]),
            OffsetDateTime::now_utc(),
        )
        .expect("claims");
        check_lifetime(&c, Duration::from_secs(3 * 86_400)).expect("within 3 days");
        check_lifetime(&c, Duration::from_secs(86_400)).expect_err("over 1 day");
    }

    #[test]
    fn the_jwks_uri_must_be_on_the_authority_origin() {
        let authority = url::Url::parse("https://login.example:8443").expect("url");
        let on = |s: &str| on_authority_origin(&url::Url::parse(s).expect("url"), &authority);
        assert!(on("https://login.example:8443/t/discovery/v2.0/keys"));
        assert!(
            !on("https://login.example:9443/t/discovery/v2.0/keys"),
            "another port"
        );
        assert!(
            !on("https://login.example/t/discovery/v2.0/keys"),
            "the default port"
        );
        assert!(
            !on("http://login.example:8443/t/discovery/v2.0/keys"),
            "plain http"
        );
        assert!(!on("https://evil.example:8443/keys"), "another host");
        let default = url::Url::parse("https://login.microsoftonline.com").expect("url");
        let on = |s: &str| on_authority_origin(&url::Url::parse(s).expect("url"), &default);
        assert!(on(
            "https://login.microsoftonline.com/common/discovery/v2.0/keys"
        ));
        assert!(on(
            "https://login.microsoftonline.com:443/common/discovery/v2.0/keys"
        ));
        assert!(!on(
            "https://login.microsoftonline.com:444/common/discovery/v2.0/keys"
        ));
    }
}
