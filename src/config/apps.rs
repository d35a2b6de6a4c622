//! Checks of an app's own settings: its credential (client secret or certificate), its
//! rotation policy and the probes of its targets.

use super::*;

/// The schemes an App ID URI may use (Learn "Restrictions on identifier URIs": `api://` and
/// `https://` forms; "Validation differences by supported account types": `urn` schemes are
/// supported for organizational apps).
const APP_ID_URI_SCHEMES: &[&str] = &["https", "api", "urn"];

/// What a client-credentials scope looks like, for messages.
const SCOPE_FORMS: &str = "an App ID URI (https://host[/path], api://name-or-guid[/path] or urn:…) \
     or the API's application (client) id, followed by /.default, like \
     \"https://analysis.windows.net/powerbi/api/.default\", \"api://orders-api/.default\" or \
     \"00001111-aaaa-2222-bbbb-3333cccc4444/.default\"";

/// The resource of a client-credentials scope: `{resource}/.default`, where the resource is an
/// App ID URI or the API's application (client) id ("Microsoft identity platform and the OAuth
/// 2.0 client credentials flow": the scope is "the resource identifier (application ID URI)
/// of the resource you want, suffixed with .default"). A resource ending in `/` keeps it
/// (`https://management.azure.com//.default` asks for `https://management.azure.com/`).
pub(super) fn scope_resource(scope: &str) -> Result<String, String> {
    let not_a_scope = |why: &str| {
        format!("{scope:?} is not a client-credentials scope{why}: it must be {SCOPE_FORMS}")
    };
    if scope.split_whitespace().count() > 1 {
        return Err(not_a_scope(
            " (it holds several scopes; a target asks for one resource)",
        ));
    }
    let Some(resource) = scope.strip_suffix("/.default").filter(|r| !r.is_empty()) else {
        return Err(not_a_scope(""));
    };
    if is_guid(resource) {
        return Ok(resource.to_string());
    }
    if resource.contains('*') {
        return Err(not_a_scope(" (App ID URIs have no wildcards)"));
    }
    let url = Url::parse(resource).map_err(|_| not_a_scope(""))?;
    let scheme = url.scheme();
    if !APP_ID_URI_SCHEMES.contains(&scheme) {
        return Err(not_a_scope(&format!(
            " (an App ID URI uses api://, https:// or urn:, not {scheme}:)"
        )));
    }
    let named = match scheme {
        "urn" => !url.path().trim_matches('/').is_empty() || url.host_str().is_some(),
        _ => url.host_str().is_some_and(|h| !h.is_empty()),
    };
    if !named {
        return Err(not_a_scope(&format!(" ({scheme}: names no resource)")));
    }
    Ok(resource.to_string())
}

/// A target's `audience`: the API's application (client) id, or an App ID URI.
pub(super) fn check_audience(text: &str) -> Result<String, String> {
    let a = text.trim();
    let uri = || Url::parse(a).is_ok_and(|u| APP_ID_URI_SCHEMES.contains(&u.scheme()));
    if a.len() <= 256 && (is_guid(a) || uri()) {
        return Ok(a.to_string());
    }
    Err(format!(
        "{:?} is not an audience: give the API's application (client) id (a GUID; v2.0 tokens carry it in aud) \
         or its App ID URI",
        a.chars().take(80).collect::<String>()
    ))
}

/// `probe = true` (the resource's default) or `probe = "https://…"` on the resource's API host:
/// the probe carries a live token, so no other host is accepted.
pub(super) fn validate_probe(
    c: &mut Checker<'_>,
    value: &Spanned<toml::Value>,
    key: &str,
    cloud: &Cloud,
    resource: &str,
) -> Option<Url> {
    let allowed = cloud.probe_base(resource);
    match (value.get_ref(), allowed) {
        (toml::Value::Boolean(false), _) => None,
        (_, None) => {
            c.push(
                value.span(),
                key,
                format!(
                    "no probe is known for resource {resource} in the {} cloud (Power BI, Microsoft Graph and ARM are)",
                    cloud.name
                ),
            );
            None
        }
        (toml::Value::Boolean(true), Some((base, Some(path)))) => base.join(path).ok(),
        (toml::Value::Boolean(true), Some((base, None))) => {
            c.push(
                value.span(),
                key,
                format!("resource {resource} has no default probe: give a URL on {base}"),
            );
            None
        }
        (toml::Value::String(text), Some((base, _))) => match Url::parse(text) {
            Ok(u)
                if u.scheme() == "https"
                    && u.host_str() == base.host_str()
                    && u.port_or_known_default() == base.port_or_known_default() =>
            {
                Some(u)
            }
            Ok(_) => {
                c.push(
                    value.span(),
                    key,
                    format!(
                        "probe URL {text:?} is not on {base}: a probe carries a live token, so only the resource's own API host is allowed"
                    ),
                );
                None
            }
            Err(e) => {
                c.push(
                    value.span(),
                    key,
                    format!("invalid probe URL {text:?}: {e}"),
                );
                None
            }
        },
        _ => {
            c.push(
                value.span(),
                key,
                "probe must be true, false, or an https URL",
            );
            None
        }
    }
}

pub(super) const DEFAULT_ROTATE_BEFORE_EXPIRY: Duration = Duration::from_secs(30 * 86_400);
pub(super) const DEFAULT_ROTATE_LIFETIME: Duration = Duration::from_secs(180 * 86_400);
pub(super) const DEFAULT_ROTATE_GRACE: Duration = Duration::from_secs(7 * 86_400);
pub(super) const DEFAULT_ROTATE_PROPAGATION_WAIT: Duration = Duration::from_secs(180);

/// The app's credential: exactly one of `client_secret_name` and `client_certificate_name`,
/// the certificate's algorithm, and the `rotate` policy (client secrets only).
pub(super) fn validate_app_credential(
    c: &mut Checker<'_>,
    raw_app: &Spanned<RawApp>,
    key: &dyn Fn(&str) -> String,
    no_graph: bool,
) -> (Option<String>, AppCredentialKind, Option<RotatePolicy>) {
    let app = raw_app.get_ref();
    let mut kind = AppCredentialKind::ClientSecret;
    let name = match (&app.client_secret_name, &app.client_certificate_name) {
        (Some(s), None) => c.secret_name(s, &key("client_secret_name")),
        (None, Some(cert)) => {
            let algorithm = match app
                .certificate_algorithm
                .as_ref()
                .map(|a| (a.get_ref().as_str(), a.span()))
            {
                None | Some(("PS256", _)) => AssertionAlgorithm::Ps256,
                Some(("RS256", _)) => AssertionAlgorithm::Rs256,
                Some((other, span)) => {
                    c.push(
                        span,
                        &key("certificate_algorithm"),
                        format!(
                            "unknown algorithm {other:?}{}; expected \"PS256\" (x5t#S256) or \"RS256\" (x5t)",
                            did_you_mean(other, &["PS256", "RS256"])
                        ),
                    );
                    AssertionAlgorithm::Ps256
                }
            };
            kind = AppCredentialKind::Certificate { algorithm };
            c.secret_name(cert, &key("client_certificate_name"))
        }
        (Some(_), Some(cert)) => {
            c.push(
                cert.span(),
                &key("client_certificate_name"),
                "client_secret_name and client_certificate_name are mutually exclusive: an app authenticates with one credential",
            );
            None
        }
        (None, None) => {
            c.push(
                raw_app.span(),
                &key("client_secret_name"),
                "missing field `client_secret_name` (or `client_certificate_name` for a certificate credential)",
            );
            None
        }
    };
    if kind == AppCredentialKind::ClientSecret
        && let Some(a) = &app.certificate_algorithm
    {
        c.push(
            a.span(),
            &key("certificate_algorithm"),
            "only used with client_certificate_name",
        );
    }
    let rotate = app.rotate.as_ref().and_then(|r| {
        let raw = r.get_ref();
        if kind != AppCredentialKind::ClientSecret {
            c.push(
                r.span(),
                &key("rotate"),
                "rotation renews client secrets; this app uses a certificate",
            );
            return None;
        }
        if no_graph {
            c.push(
                r.span(),
                &key("rotate"),
                "rotation needs Microsoft Graph: set [custom_cloud] graph_endpoint",
            );
        }
        let mut get = |v: &Option<Spanned<String>>, k: &str, default: Duration| match v {
            Some(d) => c.duration(d, &key(&format!("rotate.{k}"))),
            None => Some(default),
        };
        let before_expiry = get(&raw.before_expiry, "before_expiry", DEFAULT_ROTATE_BEFORE_EXPIRY);
        let lifetime = get(&raw.lifetime, "lifetime", DEFAULT_ROTATE_LIFETIME);
        let grace = get(&raw.grace, "grace", DEFAULT_ROTATE_GRACE);
        let propagation_wait = get(
            &raw.propagation_wait,
            "propagation_wait",
            DEFAULT_ROTATE_PROPAGATION_WAIT,
        );
        let (before_expiry, lifetime, grace, propagation_wait) =
            (before_expiry?, lifetime?, grace?, propagation_wait?);
        if lifetime <= before_expiry {
            let span = raw.lifetime.as_ref().map(|s| s.span()).unwrap_or(r.span());
            c.push(
                span,
                &key("rotate.lifetime"),
                "the new secret's lifetime must be longer than before_expiry, or every run would rotate again",
            );
            return None;
        }
        Some(RotatePolicy {
            before_expiry,
            lifetime,
            grace,
            propagation_wait,
        })
    });
    (name, kind, rotate)
}

/// What apps and targets take from the top level when they do not set it.
pub(super) struct AppDefaults<'a> {
    pub cloud: &'a Cloud,
    pub vault: Option<&'a Url>,
    /// Whether a top-level `vault` is written (even if invalid), so that a missing vault is
    /// reported once.
    pub vault_is_set: bool,
    pub refresh_before: Duration,
    pub thresholds: Thresholds,
    /// A custom cloud without `graph_endpoint`: rotation cannot be configured.
    pub graph_missing: bool,
}

/// `[[apps]]` and their `[[apps.targets]]`. Only apps whose every value is valid are returned;
/// the others are reported. Also returns every credential and target secret named with a valid
/// vault and name, for the check of where tokens may be written.
/// Yields a vector's items in order, giving back its buffer as it empties (halved whenever
/// half of it is unused), where `into_iter` keeps the whole buffer to the end.
struct Draining<T>(Vec<T>);

impl<T> Draining<T> {
    fn new(mut items: Vec<T>) -> Self {
        items.reverse();
        Draining(items)
    }
}

impl<T> Iterator for Draining<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let item = self.0.pop()?;
        if self.0.len() < self.0.capacity() / 2 {
            self.0.shrink_to_fit();
        }
        Some(item)
    }
}

/// One shared copy of each value many apps name: a vault URL (`Interned<Url, Url>`), a tenant
/// id or a scope (`Interned<String, str>`).
struct Interned<K, V: ?Sized>(std::collections::HashMap<K, Arc<V>>);

impl<K, V: ?Sized> Default for Interned<K, V> {
    fn default() -> Self {
        Interned(std::collections::HashMap::new())
    }
}

impl<K: std::hash::Hash + Eq + Clone + Into<Arc<V>>, V: ?Sized> Interned<K, V> {
    fn intern(&mut self, key: K) -> Arc<V> {
        self.0
            .entry(key)
            .or_insert_with_key(|k| k.clone().into())
            .clone()
    }
}

pub(super) fn check_apps(
    c: &mut Checker<'_>,
    raw_apps: Vec<Spanned<RawApp>>,
    defaults: &AppDefaults<'_>,
) -> (Vec<App>, NamedSecrets) {
    let mut named = NamedSecrets::default();
    let mut apps = Vec::with_capacity(raw_apps.len());
    let mut app_names = BTreeSet::new();
    let mut outputs = BTreeSet::new();
    // Many apps name the same few vaults: each is held once, shared.
    let mut vaults: Interned<Url, Url> = Interned::default();
    // And the same few tenants and scopes.
    let mut strings: Interned<String, str> = Interned::default();
    if raw_apps.is_empty() {
        c.push(0..0, "apps", "no [[apps]] configured: nothing to rotate");
    }
    // Each raw app is dropped once checked, and the raw list's buffer shrinks as it empties:
    // with tens of thousands of apps, the raw model and the checked one are not held whole side
    // by side.
    for (i, raw_app) in Draining::new(raw_apps).enumerate() {
        let raw_app = &raw_app;
        let app = raw_app.get_ref();
        let key = |k: &str| format!("apps[{i}].{k}");
        let name = app.name.get_ref().trim().to_string();
        if name.is_empty() {
            c.push(app.name.span(), &key("name"), "must not be empty");
        } else if !app_names.insert(name.clone()) {
            c.push(
                app.name.span(),
                &key("name"),
                format!("duplicate app name {name:?}"),
            );
        }
        let app_thresholds = match &app.expiry {
            None => defaults.thresholds,
            Some(t) => c.thresholds(t, defaults.thresholds, &key("expiry")),
        };
        let tenant_id = c.guid(&app.tenant_id, &key("tenant_id"));
        let client_id = c.guid(&app.client_id, &key("client_id"));
        let (secret_name, credential_kind, rotate) =
            validate_app_credential(c, raw_app, &key, defaults.graph_missing);
        let app_vault = match &app.vault {
            Some(v) => c.vault(v, &key("vault"), defaults.cloud),
            None => defaults.vault.cloned(),
        };
        if let (Some(vault), Some(secret)) = (&app_vault, &secret_name) {
            let kind = match credential_kind {
                AppCredentialKind::ClientSecret => "client secret",
                AppCredentialKind::Certificate { .. } => "certificate",
            };
            named.credentials.push(Reserved {
                vault: vault.clone(),
                name: secret.clone(),
                role: format!("app {name:?}'s {kind}"),
            });
        }
        if app_vault.is_none() && app.vault.is_none() && !defaults.vault_is_set {
            c.push(
                raw_app.span(),
                &key("vault"),
                "no vault for this app's client secret: set `vault` at the top or in the app",
            );
        }
        if app.targets.is_empty() {
            c.push(
                raw_app.span(),
                &key("targets"),
                "no [[apps.targets]]: add at least one token target",
            );
        }
        let mut targets = Vec::with_capacity(app.targets.len());
        for (j, raw_target) in app.targets.iter().enumerate() {
            let t = raw_target.get_ref();
            let tkey = |k: &str| format!("apps[{i}].targets[{j}].{k}");
            let scope = t.scope.get_ref().trim().to_string();
            if scope.len() > 256 {
                c.push(
                    t.scope.span(),
                    &tkey("scope"),
                    "longer than 256 characters (it is stored as a Key Vault tag)",
                );
            }
            let resource = match scope_resource(&scope) {
                Ok(r) => Some(r),
                Err(why) => {
                    c.push(t.scope.span(), &tkey("scope"), why);
                    None
                }
            };
            // `Some(None)`: no audience named; `None`: an invalid one (reported).
            let audience = match &t.audience {
                None => Some(None),
                Some(a) => match check_audience(a.get_ref()) {
                    Ok(a) => Some(Some(a)),
                    Err(why) => {
                        c.push(a.span(), &tkey("audience"), why);
                        None
                    }
                },
            };
            let probe = match (&t.probe, &resource) {
                (None, _) | (_, None) => None,
                (Some(p), Some(res)) => validate_probe(c, p, &tkey("probe"), defaults.cloud, res),
            };
            let secret = c.secret_name(&t.secret, &tkey("secret"));
            let vault = match &t.vault {
                Some(v) => c.vault(v, &tkey("vault"), defaults.cloud),
                None => defaults.vault.cloned(),
            };
            if vault.is_none() && t.vault.is_none() && !defaults.vault_is_set {
                c.push(
                    raw_target.span(),
                    &tkey("vault"),
                    "no vault for this token: set `vault` at the top or in the target",
                );
            }
            let refresh_before = match &t.refresh_before {
                Some(d) => c.refresh_before(d, &tkey("refresh_before")),
                None => Some(defaults.refresh_before),
            };
            if let (Some(v), Some(s)) = (&vault, &secret)
                && !outputs.insert((v.clone(), s.to_ascii_lowercase()))
            {
                c.push(
                    t.secret.span(),
                    &tkey("secret"),
                    format!("two targets write the same secret {s:?} in {v}"),
                );
            }
            if let (Some(v), Some(s)) = (&vault, &secret) {
                named.targets.push(TargetSite {
                    vault: v.clone(),
                    name: s.clone(),
                    span: t.secret.span(),
                    key: tkey("secret"),
                    app: name.clone(),
                });
            }
            if let (
                Some(scope_resource),
                Some(audience),
                Some(secret),
                Some(vault),
                Some(refresh_before),
            ) = (resource, audience, secret, vault, refresh_before)
            {
                targets.push(TokenTarget {
                    scope: strings.intern(scope),
                    resource: strings.intern(scope_resource),
                    audience,
                    vault: vaults.intern(vault),
                    secret_name: secret,
                    refresh_before,
                    required_roles: t.required_roles.clone(),
                    probe: probe.map(Box::new),
                });
            }
        }
        if let (Some(tenant_id), Some(client_id), Some(secret_name), Some(vault)) =
            (tenant_id, client_id, secret_name, app_vault)
            && targets.len() == app.targets.len()
        {
            apps.push(App {
                name,
                tenant_id: strings.intern(tenant_id),
                client_id,
                client_secret_vault: vaults.intern(vault),
                client_secret_name: secret_name,
                owner: app
                    .owner
                    .as_ref()
                    .map(|o| o.get_ref().trim().to_string())
                    .filter(|o| !o.is_empty()),
                thresholds: app_thresholds,
                targets,
                credential_kind,
                rotate,
            });
        }
    }
    (apps, named)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use url::Url;

    use super::{Draining, Interned};

    #[test]
    fn equal_values_are_held_once() {
        let mut urls: Interned<Url, Url> = Interned::default();
        let url = |s: &str| Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        let a = urls.intern(url("https://kv-a.vault.azure.net/"));
        let b = urls.intern(url("https://kv-a.vault.azure.net/"));
        let c = urls.intern(url("https://kv-b.vault.azure.net/"));
        assert!(Arc::ptr_eq(&a, &b) && !Arc::ptr_eq(&a, &c));
        assert_eq!(c.as_str(), "https://kv-b.vault.azure.net/");

        let mut strings: Interned<String, str> = Interned::default();
        let scope = "https://analysis.windows.net/powerbi/api/.default";
        let (x, y) = (strings.intern(scope.into()), strings.intern(scope.into()));
        assert!(Arc::ptr_eq(&x, &y));
        assert_eq!(&*x, scope);
    }

    #[test]
    fn draining_yields_every_item_in_order_while_its_buffer_shrinks() {
        for n in [0usize, 1, 2, 3, 17, 1000] {
            let mut drain = Draining::new((0..n).collect::<Vec<_>>());
            let mut seen = Vec::new();
            while let Some(i) = drain.next() {
                seen.push(i);
                // Never more than twice what is left, give or take the one just taken.
                assert!(drain.0.capacity() <= 2 * drain.0.len() + 2, "{n}: {i}");
            }
            assert_eq!(seen, (0..n).collect::<Vec<_>>());
        }
    }
}
