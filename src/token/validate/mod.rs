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

mod claims;
mod keys;
mod probe;

use claims::*;
pub use claims::{expected_audiences, known_v1_issuer};
use keys::*;

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
                let RsaKey::Usable(public) = key else {
                    return Err(invalid(format!(
                        "the tenant's key {kid:?} is not an RSA key of 2048 to 8192 bits: cannot verify the token's signature with it"
                    )));
                };
                public.verify_sig(message.as_bytes(), &sig).map_err(|_| {
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
