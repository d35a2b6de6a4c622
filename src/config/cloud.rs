//! The Azure clouds: public, US Government, China, or a custom one; their authority hosts,
//! Key Vault suffixes, Power BI and Microsoft Graph endpoints.

use super::*;

/// The Azure cloud the rotator talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cloud {
    pub name: CloudName,
    /// `https://login.microsoftonline.com` and friends; never ends with a slash.
    pub authority_host: Url,
    /// Vault hosts must end with `.{vault_suffix}` (None: custom cloud without a suffix rule).
    pub vault_suffix: Option<String>,
    /// Power BI REST API base for this cloud (the probe allowlist).
    pub powerbi_api: Option<Url>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudName {
    Public,
    UsGovernment,
    China,
    Custom,
}

impl Cloud {
    /// Where a token for `resource` may be probed (a live token goes only to these hosts) and
    /// the default probe URL, if the resource has one.
    pub fn probe_base(&self, resource: &str) -> Option<(Url, Option<&'static str>)> {
        let r = resource.trim_end_matches('/').to_ascii_lowercase();
        if r.ends_with("/powerbi/api") {
            return self
                .powerbi_api
                .clone()
                .map(|u| (u, Some("/v1.0/myorg/groups?$top=1")));
        }
        let fixed = |host: &str| Url::parse(host).ok();
        let base = match (self.name, r.as_str()) {
            (CloudName::Public, "https://graph.microsoft.com") => {
                fixed("https://graph.microsoft.com")
            }
            (CloudName::UsGovernment, "https://graph.microsoft.us") => {
                fixed("https://graph.microsoft.us")
            }
            (CloudName::China, "https://microsoftgraph.chinacloudapi.cn") => {
                fixed("https://microsoftgraph.chinacloudapi.cn")
            }
            (CloudName::Public, "https://management.azure.com") => {
                fixed("https://management.azure.com")
            }
            (CloudName::UsGovernment, "https://management.usgovcloudapi.net") => {
                fixed("https://management.usgovcloudapi.net")
            }
            (CloudName::China, "https://management.chinacloudapi.cn") => {
                fixed("https://management.chinacloudapi.cn")
            }
            _ => None,
        }?;
        let default = r
            .starts_with("https://management.")
            .then_some("/subscriptions?api-version=2022-12-01");
        Some((base, default))
    }

    /// The built-in clouds; `None` for [`CloudName::Custom`], which needs its own settings.
    pub fn known(name: CloudName) -> Option<Cloud> {
        let (host, suffix, powerbi) = match name {
            CloudName::Public => (
                "https://login.microsoftonline.com",
                "vault.azure.net",
                "https://api.powerbi.com",
            ),
            CloudName::UsGovernment => (
                "https://login.microsoftonline.us",
                "vault.usgovcloudapi.net",
                "https://api.powerbigov.us",
            ),
            CloudName::China => (
                "https://login.chinacloudapi.cn",
                "vault.azure.cn",
                "https://api.powerbi.cn",
            ),
            CloudName::Custom => return None,
        };
        Some(Cloud {
            name,
            authority_host: Url::parse(host).ok()?,
            vault_suffix: Some(suffix.to_string()),
            powerbi_api: Url::parse(powerbi).ok(),
        })
    }

    /// Known clouds keep the SDK's check that the Key Vault challenge names the vault's own
    /// resource; only an explicitly custom cloud (the emulator, Lowkey Vault) may relax it.
    pub fn verify_challenge_resource(&self) -> bool {
        self.name != CloudName::Custom
    }

    /// `{authority}/{tenant}` without a trailing slash.
    pub fn tenant_authority(&self, tenant_id: &str) -> String {
        format!(
            "{}/{}",
            self.authority_host.as_str().trim_end_matches('/'),
            tenant_id
        )
    }
}

impl fmt::Display for CloudName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CloudName::Public => "public",
            CloudName::UsGovernment => "us-government",
            CloudName::China => "china",
            CloudName::Custom => "custom",
        })
    }
}

/// `cloud` and `[custom_cloud]`. `None` when the cloud is unusable (the problem is recorded).
pub(super) fn check_cloud(
    c: &mut Checker<'_>,
    cloud: Option<&Spanned<String>>,
    custom_cloud: Option<&RawCustomCloud>,
) -> Option<Cloud> {
    let cloud_name = match cloud.map(|s| (s.get_ref().as_str(), s.span())) {
        None | Some(("public", _)) => Some(CloudName::Public),
        Some(("us-government", _)) => Some(CloudName::UsGovernment),
        Some(("china", _)) => Some(CloudName::China),
        Some(("custom", _)) => Some(CloudName::Custom),
        Some((other, span)) => {
            c.push(
                span,
                "cloud",
                format!(
                    "unknown cloud {other:?}{}; expected \"public\", \"us-government\", \"china\" or \"custom\"",
                    did_you_mean(other, &["public", "us-government", "china", "custom"])
                ),
            );
            None
        }
    };
    match (cloud_name, custom_cloud) {
        (Some(CloudName::Custom), Some(custom)) => {
            let host = c.https_url(&custom.authority_host, "custom_cloud.authority_host");
            let powerbi_api = custom
                .powerbi_api
                .as_ref()
                .and_then(|p| c.https_url(p, "custom_cloud.powerbi_api"));
            host.map(|authority_host| Cloud {
                name: CloudName::Custom,
                authority_host,
                vault_suffix: custom
                    .vault_suffix
                    .as_ref()
                    .map(|s| s.get_ref().trim_start_matches('.').to_string()),
                powerbi_api,
            })
        }
        (Some(CloudName::Custom), None) => {
            let span = cloud.map(|s| s.span()).unwrap_or(0..0);
            c.push(
                span,
                "cloud",
                "cloud = \"custom\" needs a [custom_cloud] table with authority_host",
            );
            None
        }
        (Some(name), Some(custom)) => {
            c.push(
                custom.authority_host.span(),
                "custom_cloud",
                format!("[custom_cloud] is only used with cloud = \"custom\" (cloud is {name:?})"),
            );
            None
        }
        (Some(name), None) => Cloud::known(name),
        (None, _) => None,
    }
}

/// The Microsoft Graph endpoint and token resource of the cloud.
pub(super) fn graph_endpoints(
    c: &mut Checker<'_>,
    cloud: &Cloud,
    custom_cloud: Option<&RawCustomCloud>,
) -> (Option<Url>, String) {
    let graph_endpoint = match (&cloud.name, custom_cloud) {
        (CloudName::Custom, Some(custom)) => custom
            .graph_endpoint
            .as_ref()
            .and_then(|g| c.https_url(g, "custom_cloud.graph_endpoint")),
        (name, _) => Url::parse(match name {
            CloudName::UsGovernment => "https://graph.microsoft.us",
            CloudName::China => "https://microsoftgraph.chinacloudapi.cn",
            _ => "https://graph.microsoft.com",
        })
        .ok(),
    };
    let graph_resource = match (&cloud.name, custom_cloud) {
        (CloudName::Custom, Some(custom)) => custom
            .graph_resource
            .as_ref()
            .and_then(|g| c.https_url(g, "custom_cloud.graph_resource"))
            .map(|u| u.as_str().trim_end_matches('/').to_string())
            .unwrap_or_else(|| "https://graph.microsoft.com".to_string()),
        _ => graph_endpoint
            .as_ref()
            .map(|u| u.as_str().trim_end_matches('/').to_string())
            .unwrap_or_default(),
    };
    (graph_endpoint, graph_resource)
}
