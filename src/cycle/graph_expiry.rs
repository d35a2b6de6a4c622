//! A client secret's end date in Microsoft Graph (`passwordCredentials[].endDateTime`), matched
//! to the Key Vault secret by its `key-id` tag, or else by its hint (the value's first three
//! characters). Optional (`expiry.graph`): Key Vault's `exp` is only what someone recorded.

use secrecy::ExposeSecret;
use time::OffsetDateTime;

use super::{Cycle, tags};
use crate::azure::graph::GraphClient;
use crate::azure::vault::{SecretMeta, SecretValue};
use crate::config::App;

/// What Microsoft Graph says about a client secret's end date.
pub(super) struct GraphExpiry {
    pub expires: Option<OffsetDateTime>,
    pub error: Option<String>,
}

impl GraphExpiry {
    fn error(message: impl Into<String>) -> Self {
        GraphExpiry {
            expires: None,
            error: Some(message.into()),
        }
    }
}

impl Cycle {
    /// A Graph client with the rotator's credential, when the cloud has a Graph endpoint.
    pub(crate) fn graph(&self) -> Option<GraphClient> {
        let base = self.config.graph_endpoint.clone()?;
        Some(GraphClient::new(
            self.http.clone(),
            base,
            self.config.graph_resource.clone(),
            self.vaults.credential().clone(),
            self.metrics.clone(),
        ))
    }

    /// The client secret's end date in Microsoft Graph.
    pub(super) async fn graph_expiry(
        &self,
        app: &App,
        meta: Option<&SecretMeta>,
        value: Option<&SecretValue>,
    ) -> GraphExpiry {
        let Some(graph) = self.graph() else {
            return GraphExpiry::error("no Microsoft Graph endpoint for this cloud");
        };
        let application = match graph.application(&app.client_id).await {
            Ok(a) => a,
            Err(e) => {
                return GraphExpiry::error(format!(
                    "cannot read the application from Microsoft Graph ({}): {} (the rotator needs Application.Read.All)",
                    e.class, e.message
                ));
            }
        };
        let key_id = meta
            .and_then(|m| m.tags.get(tags::KEY_ID))
            .map(|k| k.to_ascii_lowercase());
        let by_key = key_id.as_ref().and_then(|k| {
            application
                .password_credentials
                .iter()
                .find(|c| &c.key_id == k)
        });
        let matched = match (by_key, key_id.is_some()) {
            (Some(c), _) => Some(c),
            (None, true) => {
                return GraphExpiry::error(
                    "the secret's key-id tag names no credential of the application: it was removed or the tag is wrong",
                );
            }
            (None, false) => {
                let hint: Option<String> =
                    value.map(|v| v.value.expose_secret().chars().take(3).collect());
                let candidates: Vec<_> = application
                    .password_credentials
                    .iter()
                    .filter(|c| hint.is_some() && c.hint == hint)
                    .collect();
                match candidates.as_slice() {
                    [one] => Some(*one),
                    _ if hint.is_none() => {
                        return GraphExpiry::error(
                            "not matched: add a key-id tag to the secret (its value was not read this run)",
                        );
                    }
                    [] => {
                        return GraphExpiry::error(
                            "no credential of the application has this secret's hint: the secret may belong to another app",
                        );
                    }
                    _ => {
                        return GraphExpiry::error(
                            "several credentials share this secret's hint: add a key-id tag to the secret",
                        );
                    }
                }
            }
        };
        GraphExpiry {
            expires: matched.and_then(|c| c.end),
            error: None,
        }
    }
}
