//! The reading contract of docs/consumers.md for one token secret: read it with the official
//! SDK, cache it until its `expires-on` minus a margin, read it again after that or when the API
//! answers 401. The token stays in a `SecretString`: it never reaches a log or a `Debug` output.

use azure_security_keyvault_secrets::SecretClient;
use secrecy::{ExposeSecret, SecretString};
use time::{Duration, OffsetDateTime};

/// How long before its end a cached token is read again (smaller than the rotator's guarantee).
pub const MARGIN: Duration = Duration::minutes(5);

/// The current token of one secret, read again only when it is within `margin` of its end.
pub struct TokenReader {
    client: SecretClient,
    name: String,
    margin: Duration,
    /// Key Vault reads so far.
    pub reads: u32,
    cached: Option<(SecretString, OffsetDateTime)>,
}

impl TokenReader {
    pub fn new(client: SecretClient, name: &str, margin: Duration) -> Self {
        TokenReader {
            client,
            name: name.to_string(),
            margin,
            reads: 0,
            cached: None,
        }
    }

    /// When the cached token expires, if one is cached.
    pub fn expires_on(&self) -> Option<OffsetDateTime> {
        self.cached.as_ref().map(|(_, exp)| *exp)
    }

    /// The token to send at `now`; reads the secret when none is cached or the margin is reached.
    pub async fn token(&mut self, now: OffsetDateTime) -> anyhow::Result<SecretString> {
        if let Some((token, exp)) = &self.cached
            && now < *exp - self.margin
        {
            return Ok(token.clone());
        }
        let secret = self
            .client
            .get_secret(&self.name, None)
            .await?
            .into_model()?;
        self.reads += 1;
        if secret.content_type.as_deref() != Some("application/jwt") {
            anyhow::bail!("{} is not a token secret", self.name);
        }
        // `expires-on` (tag) and the secret's `exp` attribute are the token's own expiry.
        let exp = secret
            .attributes
            .as_ref()
            .and_then(|a| a.expires)
            .or_else(|| {
                let tag = secret.tags.as_ref()?.get("expires-on")?;
                OffsetDateTime::parse(tag, &time::format_description::well_known::Rfc3339).ok()
            })
            .ok_or_else(|| anyhow::anyhow!("{} has no expiry", self.name))?;
        if exp <= now {
            anyhow::bail!(
                "{} expired at {exp}: the rotator is not refreshing it",
                self.name
            );
        }
        let value = secret
            .value
            .ok_or_else(|| anyhow::anyhow!("{} has no value", self.name))?;
        let token = SecretString::from(value);
        self.cached = Some((token.clone(), exp));
        Ok(token)
    }

    /// After a 401: the token was revoked or rotated early; read again on the next call.
    pub fn invalidate(&mut self) {
        self.cached = None;
    }
}

/// GETs `url` with the current token, reading it again and retrying once on 401; returns the
/// JSON answer.
pub async fn call(
    reader: &mut TokenReader,
    http: &reqwest::Client,
    url: &str,
) -> anyhow::Result<serde_json::Value> {
    for attempt in 1..=2 {
        let token = reader.token(OffsetDateTime::now_utc()).await?;
        let answer = http
            .get(url)
            .bearer_auth(token.expose_secret())
            .send()
            .await?;
        if answer.status() == reqwest::StatusCode::UNAUTHORIZED && attempt == 1 {
            reader.invalidate();
            continue;
        }
        let answer = answer.error_for_status()?;
        return Ok(answer.json().await?);
    }
    unreachable!("the loop returns or retries once")
}
