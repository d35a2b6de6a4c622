//! Posting one alert to one webhook: a timeout per attempt, retries with jittered exponential
//! backoff for what may pass (timeouts, connection failures, 408, 429 with `Retry-After`, 5xx),
//! and a failure reason that names the sink, never the URL.
//!
//! The webhook URL is a credential (whoever has it can post into the channel): it stays in a
//! [`SecretString`] until the request is built, and every text that leaves this module (error
//! reasons, logs) is built without it and scrubbed of it. A receiver's answer is reduced to its
//! status line: error bodies echo request paths (`no route for POST /<path>`), and every segment
//! of a webhook path may be the credential, so no byte of a body reaches a report or a log.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

pub use crate::config::alerts::DeliveryOptions;

/// Why a delivery did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeliveryFailure {
    /// Human-readable, without the URL.
    pub reason: String,
    pub attempts: u32,
    /// The sink as a whole looks broken (down, URL revoked): skip its other alerts this run.
    pub sink_unavailable: bool,
}

/// A webhook URL taken out of its secret, only for building requests; no `Debug`.
pub(crate) struct WebhookUrl {
    url: Url,
    /// Raw texts to scrub from any message: the secret as stored, and its parsed forms.
    scrub: Vec<String>,
}

impl WebhookUrl {
    /// Parses the URL stored in the sink's Key Vault secret.
    pub fn parse(secret: &SecretString, opts: &DeliveryOptions) -> Result<WebhookUrl, String> {
        let raw = secret.expose_secret().trim();
        // url's parse errors describe the problem, never the input.
        let url =
            Url::parse(raw).map_err(|e| format!("the stored webhook URL is not a URL ({e})"))?;
        match url.scheme() {
            "https" => {}
            "http" if opts.allow_plain_http => {}
            _ => return Err("the stored webhook URL must use https://".to_string()),
        }
        if url.host_str().is_none() {
            return Err("the stored webhook URL has no host".to_string());
        }
        let mut scrub = vec![raw.to_string(), url.as_str().to_string()];
        let path_and_query = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        scrub.push(path_and_query);
        scrub.push(url.path().to_string());
        // Any one segment may be the secret part (Teams: ids and a signature in the path; Slack:
        // three path segments), and receivers echo them alone or decoded.
        for segment in url.path_segments().into_iter().flatten() {
            scrub.push(segment.to_string());
            scrub.push(percent_decoded(segment));
        }
        if let Some(q) = url.query() {
            scrub.push(q.to_string());
            for pair in q.split('&') {
                scrub.push(pair.to_string());
                if let Some((_, value)) = pair.split_once('=') {
                    scrub.push(value.to_string());
                    scrub.push(percent_decoded(value));
                }
            }
        }
        // Shorter parts (`v1`, `api`) carry no secret and replacing them would garble every
        // message; the body of an answer, where they would appear, is never copied anyway.
        scrub.retain(|s| s.len() >= 4);
        // Longest first, so a part never leaves a tail of the whole.
        scrub.sort_by_key(|s| std::cmp::Reverse(s.len()));
        scrub.dedup();
        Ok(WebhookUrl { url, scrub })
    }

    /// `text` with every form of the URL replaced.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.scrub {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "<webhook-url>");
            }
        }
        out
    }
}

/// Posts `body` with retries. `Ok(attempts)` once the receiver answered 2xx.
pub(crate) async fn post(
    http: &reqwest::Client,
    url: &WebhookUrl,
    sink: &str,
    body: Vec<u8>,
    content_type: &str,
    opts: &DeliveryOptions,
) -> Result<u32, DeliveryFailure> {
    let max_attempts = opts.max_attempts.max(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = attempt_once(http, url, body.clone(), content_type, opts).await;
        let (reason, retry, wait_hint, unavailable) = match outcome {
            Attempt::Accepted => return Ok(attempt),
            Attempt::Retry {
                reason,
                retry_after,
            } => (reason, true, retry_after, true),
            Attempt::Refused {
                reason,
                sink_unavailable,
            } => (reason, false, None, sink_unavailable),
        };
        if !retry || attempt >= max_attempts {
            let reason = if attempt > 1 {
                format!("{reason} (after {attempt} attempts)")
            } else {
                reason
            };
            return Err(DeliveryFailure {
                reason: url.scrub(&reason),
                attempts: attempt,
                sink_unavailable: unavailable,
            });
        }
        let wait = wait_hint
            .map(|w| w.min(opts.max_retry_after))
            .unwrap_or_else(|| backoff(opts.initial_backoff, attempt));
        tracing::debug!(
            event = "alert_retry",
            sink,
            attempt,
            wait_ms = wait.as_millis() as u64,
            reason = %url.scrub(&reason),
            "alert delivery will be retried"
        );
        tokio::time::sleep(wait).await;
    }
}

enum Attempt {
    Accepted,
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    Refused {
        reason: String,
        sink_unavailable: bool,
    },
}

async fn attempt_once(
    http: &reqwest::Client,
    url: &WebhookUrl,
    body: Vec<u8>,
    content_type: &str,
    opts: &DeliveryOptions,
) -> Attempt {
    let sent = http
        .post(url.url.clone())
        .header(CONTENT_TYPE, content_type)
        .timeout(opts.attempt_timeout)
        .body(body)
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => return from_send_error(e, opts),
    };
    let status = response.status();
    if status.is_success() {
        return Attempt::Accepted;
    }
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // The body is dropped unread: see the module comment.
    let reason = status_line(status);
    match status {
        StatusCode::TOO_MANY_REQUESTS => Attempt::Retry {
            reason,
            retry_after,
        },
        StatusCode::REQUEST_TIMEOUT => Attempt::Retry {
            reason,
            retry_after: None,
        },
        s if s.is_server_error() => Attempt::Retry {
            reason,
            retry_after: None,
        },
        s if s.is_redirection() => Attempt::Refused {
            reason: format!(
                "{reason} (a redirect: store the final webhook URL in the sink's Key Vault secret)"
            ),
            sink_unavailable: true,
        },
        StatusCode::UNAUTHORIZED
        | StatusCode::FORBIDDEN
        | StatusCode::NOT_FOUND
        | StatusCode::GONE => Attempt::Refused {
            reason: format!(
                "{reason} (the webhook URL looks revoked or wrong: check the sink's Key Vault secret)"
            ),
            sink_unavailable: true,
        },
        _ => Attempt::Refused {
            reason,
            sink_unavailable: false,
        },
    }
}

fn from_send_error(e: reqwest::Error, opts: &DeliveryOptions) -> Attempt {
    // reqwest puts the URL into its errors: drop it before the text is built.
    let e = e.without_url();
    if e.is_builder() {
        return Attempt::Refused {
            reason: format!(
                "the request could not be built: {}",
                crate::error::error_chain(&e)
            ),
            sink_unavailable: true,
        };
    }
    let reason = if e.is_timeout() {
        format!(
            "no answer within {} (timed out)",
            crate::timefmt::duration(opts.attempt_timeout)
        )
    } else if e.is_connect() {
        format!("cannot connect: {}", crate::error::error_chain(&e))
    } else {
        format!("request failed: {}", crate::error::error_chain(&e))
    };
    Attempt::Retry {
        reason,
        retry_after: None,
    }
}

/// `the receiver answered HTTP 404 Not Found`: the status code and its standard reason phrase,
/// never the receiver's own text.
fn status_line(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(phrase) => format!("the receiver answered HTTP {} {phrase}", status.as_u16()),
        None => format!("the receiver answered HTTP {}", status.as_u16()),
    }
}

/// `%2F`-style escapes decoded (lossy on invalid UTF-8): the form a receiver may echo.
fn percent_decoded(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// `initial · 2^(attempt-1)`, ±25 %.
fn backoff(initial: Duration, attempt: u32) -> Duration {
    let base = initial.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let jitter = 0.75 + 0.5 * (random_u32() as f64 / u32::MAX as f64);
    base.mul_f64(jitter)
}

fn random_u32() -> u32 {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut b = [0u8; 4];
    match SystemRandom::new().fill(&mut b) {
        Ok(()) => u32::from_le_bytes(b),
        Err(_) => u32::MAX / 2,
    }
}

/// A random CloudEvents `id` (128 bits, hex); the same for every attempt of one alert so
/// receivers can drop duplicates.
pub(crate) fn new_event_id() -> String {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut b = [0u8; 16];
    if SystemRandom::new().fill(&mut b).is_err() {
        // No system randomness: fall back to the clock, still unique per alert in practice.
        let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        b = nanos.to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A webhook URL as a sink with default delivery options reads it.
    fn webhook(url: &str) -> WebhookUrl {
        WebhookUrl::parse(&SecretString::from(url), &DeliveryOptions::default()).unwrap()
    }

    #[test]
    fn every_form_of_the_url_is_scrubbed() {
        let url = webhook(
            "https://example.webhook.office.com/webhookb2/abc/IncomingWebhook/def?sig=TOPSECRET",
        );
        let text = "error sending request for url (https://example.webhook.office.com/webhookb2/abc/IncomingWebhook/def?sig=TOPSECRET): \
                    path /webhookb2/abc/IncomingWebhook/def?sig=TOPSECRET and query sig=TOPSECRET";
        let clean = url.scrub(text);
        assert!(!clean.contains("TOPSECRET"), "{clean}");
        assert!(!clean.contains("IncomingWebhook"), "{clean}");
    }

    #[test]
    fn each_path_segment_and_query_value_is_scrubbed_alone_and_decoded() {
        let url = webhook(
            "https://hooks.example/services/T0AAAAAA/B0BBBBBB/XyZ%2Bsecret?sig=Q1w2e3r4&v=1",
        );
        let clean = url.scrub(
            "no route for POST /services/T0AAAAAA/B0BBBBBB; bad XyZ+secret; sig Q1w2e3r4; \
             segment XyZ%2Bsecret",
        );
        for part in [
            "T0AAAAAA",
            "B0BBBBBB",
            "XyZ+secret",
            "XyZ%2Bsecret",
            "Q1w2e3r4",
            "services",
        ] {
            assert!(!clean.contains(part), "{part} left in {clean}");
        }
    }

    #[test]
    fn a_status_line_is_code_and_standard_phrase_only() {
        assert_eq!(
            status_line(StatusCode::NOT_FOUND),
            "the receiver answered HTTP 404 Not Found"
        );
        assert_eq!(
            status_line(StatusCode::from_u16(599).unwrap()),
            "the receiver answered HTTP 599"
        );
    }

    #[test]
    fn plain_http_and_garbage_are_refused_without_echo() {
        let opts = DeliveryOptions::default();
        for raw in [
            "http://hooks.example/TOPSECRET",
            "not a url TOPSECRET",
            "ftp://x/TOPSECRET",
        ] {
            let e = WebhookUrl::parse(&SecretString::from(raw), &opts).err();
            assert!(
                e.as_ref().is_some_and(|e| !e.contains("TOPSECRET")),
                "{e:?}"
            );
        }
    }

    #[test]
    fn backoff_doubles_with_jitter() {
        let d = Duration::from_millis(500);
        for attempt in 1..=3u32 {
            let b = backoff(d, attempt);
            let nominal = d * (1 << (attempt - 1));
            assert!(
                b >= nominal.mul_f64(0.74) && b <= nominal.mul_f64(1.26),
                "{b:?}"
            );
        }
    }

    #[test]
    fn event_ids_are_random_hex() {
        let a = new_event_id();
        assert_eq!(a.len(), 32);
        assert_ne!(a, new_event_id());
    }
}
