//! Where tokens may be written: a target's (vault, name) must not be any secret the config
//! gives another role — an app's client secret or certificate, the alert state or the status
//! record (with their per-shard names), a sink's webhook URL — or one run would destroy what the next one needs.
//!
//! Only the config's own names are checked here; a hand-made secret that happens to sit where a
//! target writes is refused at run time (see `cycle::app`), where its tags are known.

use std::ops::Range;

use url::Url;

use super::Checker;
use super::alerts::AlertsConfig;

/// A secret the config names for something other than a token, and what it is for.
pub(super) struct Reserved {
    pub vault: Url,
    pub name: String,
    pub role: String,
}

/// A token target's secret, with where it is written in the file.
pub(super) struct TargetSite {
    pub vault: Url,
    pub name: String,
    pub span: Range<usize>,
    pub key: String,
    pub app: String,
}

/// Every secret the config names, as far as its values were valid.
#[derive(Default)]
pub(super) struct NamedSecrets {
    pub credentials: Vec<Reserved>,
    pub targets: Vec<TargetSite>,
}

/// Reports every target whose secret is a credential, the alert state, the status record or a
/// sink's URL.
pub(super) fn refuse_reserved_targets(
    c: &mut Checker<'_>,
    named: &NamedSecrets,
    alerts: Option<&AlertsConfig>,
    status_record_vault: Option<&Url>,
) {
    let alert_secrets = alerts.map(alert_secrets).unwrap_or_default();
    // By vault and lower-cased name (Key Vault names are case-insensitive): one lookup per
    // target, not a scan of every app's credential (50,000 apps took 14 s that way).
    let mut reserved: std::collections::HashMap<(&Url, String), &Reserved> =
        std::collections::HashMap::new();
    for r in named.credentials.iter().chain(alert_secrets.iter()) {
        reserved
            .entry((&r.vault, r.name.to_ascii_lowercase()))
            .or_insert(r);
    }
    // Secrets kept whole or per shard: (vault, base name, what it is).
    let mut sharded: Vec<(&Url, &str, String)> = Vec::new();
    if let Some((vault, name)) =
        alerts.and_then(|a| Some((a.state_vault.as_ref()?, a.state_secret.as_str())))
    {
        sharded.push((
            vault,
            name,
            format!("the alert state ([alerts] state_secret {name:?})"),
        ));
    }
    if let Some(vault) = status_record_vault {
        sharded.push((
            vault,
            super::STATUS_RECORD_SECRET,
            "the status record that `status` reads".into(),
        ));
    }
    for target in &named.targets {
        let what = reserved
            .get(&(&target.vault, target.name.to_ascii_lowercase()))
            .map(|r| r.role.clone())
            .or_else(|| {
                sharded.iter().find_map(|(vault, name, role)| {
                    let whole = target.name.eq_ignore_ascii_case(name);
                    (**vault == target.vault && (whole || is_shard_name(&target.name, name))).then(
                        || {
                            if whole {
                                role.clone()
                            } else {
                                format!("a per-shard copy of {role}")
                            }
                        },
                    )
                })
            });
        if let Some(what) = what {
            c.push(
                target.span.clone(),
                &target.key,
                format!(
                    "app {:?} would write its token into secret {:?} in {}, which is {what}: a target writes only its own token secret; choose another name or vault",
                    target.app, target.name, target.vault
                ),
            );
        }
    }
}

/// The alert state and every sink's URL secret.
fn alert_secrets(alerts: &AlertsConfig) -> Vec<Reserved> {
    let mut out = Vec::new();
    if let Some(vault) = &alerts.state_vault {
        out.push(Reserved {
            vault: vault.clone(),
            name: alerts.state_secret.clone(),
            role: "the alert state ([alerts] state_secret)".into(),
        });
    }
    for sink in &alerts.sinks {
        if let Some(vault) = &sink.url_vault {
            out.push(Reserved {
                vault: vault.clone(),
                name: sink.url_secret.clone(),
                role: format!("the webhook URL of alert sink {:?}", sink.name),
            });
        }
    }
    out
}

/// `<state>-shard-I-of-C`, the state of one shard (`alerts::run`), whatever the shard count:
/// the count may come from the command line.
fn is_shard_name(name: &str, state: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let Some(rest) = name.strip_prefix(&format!("{}-shard-", state.to_ascii_lowercase())) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    rest.split_once("-of-")
        .is_some_and(|(i, n)| digits(i) && digits(n))
}
