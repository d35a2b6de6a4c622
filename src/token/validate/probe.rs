//! The optional probe: a real GET to the target API with the new token; only 2xx passes.

use super::*;

impl Validator {
    /// A real GET to the target API with the token; only a 2xx answer passes.
    #[tracing::instrument(name = "probe", skip_all, fields(host = url.host_str().unwrap_or("")))]
    pub(super) async fn probe(
        &self,
        url: &url::Url,
        token: &SecretString,
    ) -> Result<(), StepError> {
        let host = url.host_str().unwrap_or("").to_string();
        let sent = self
            .http
            .get(url.clone())
            .bearer_auth(token.expose_secret())
            .send()
            .await;
        self.metrics.record_sent("probe", "get", &sent);
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
}
